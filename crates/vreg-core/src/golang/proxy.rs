//! The GOPROXY protocol over a registry (`/api/v4/virtual_registries/packages/go/:id/...`)
//! and over a project's published modules (`/api/v4/projects/:id/packages/go/...`).
//!
//! For `.info`, `.mod` and `.zip` of a registry: a stored copy is served
//! from the blob store (for an anonymous read of a public registry, through
//! what earlier reads kept: see `records`); otherwise the file is served straight from the
//! origin (`relay`: the first upstream that has it) and — once the origin has shown
//! it has the version, and only if the lease can be taken — a sync trigger
//! is recorded and published so the worker stores it for next time.

use http::Method;

use super::module::check;
use super::origin::{registry_view, remotes_may_serve_module, RegistryView};
use super::public_view::{self, PublicView};
use super::publish::publish;
use super::queries::{answer_project_query, answer_query, serve_recorded_query};
use super::records::{
    remember_project_file, send_stored, serve_from_records, serve_recorded, KeptView, Missed,
    Records, SeenLeases, StoredRead,
};
use super::relay::{relay_and_sync, relay_or_stored, relay_version_query};
use super::request::{parse, Query, PROJECT_PATH, REGISTRY_PATH};
use super::respond::{send_blob, send_plain};
use super::schedule::retry_due;
use super::store::{self, Scope};
use super::version::Version;
use crate::context::Context;
use crate::domain::auth::{
    audience, authenticate, authorize_project_read, only_readable, record_as, Principal,
};
use crate::domain::projects;
use crate::domain::resolved::{Audience, RecordAs};
use crate::error::{CoreError, Result};
use crate::http::body::{BodyReader, ResponseSink};
use crate::http::{error_message, status_of};
use crate::storage::blobs::BlobStore;
use crate::storage::generation;
use crate::storage::lease::Seen;
use crate::storage::schema::ensure_schema;

/// One read served from its record in this many also looks for triggers
/// to resend (a full read always does).
const RESEND_SAMPLE: u8 = 8;
/// A public view keeps the module paths its local upstreams hold up to
/// this many (past that, reads through it ask SQL who owns a module).
const MAX_KEPT_MODULES: usize = 1000;

pub fn handle(
    ctx: &Context,
    request: &http::request::Parts,
    body: &mut dyn BodyReader,
    sink: &mut dyn ResponseSink,
) {
    if let Err(e) = route(ctx, request, body, sink) {
        send_plain(sink, status_of(&e), &error_message(&e));
    }
    // Once the client has its answer.
    crate::domain::cleanup::sweep_now_and_then(ctx);
}

fn route(
    ctx: &Context,
    request: &http::request::Parts,
    body: &mut dyn BodyReader,
    sink: &mut dyn ResponseSink,
) -> Result<()> {
    let path = request.uri.path();
    let head = request.method == Method::HEAD;
    let read = request.method == Method::GET || head;
    let mut kept_view = None;
    let audience = read.then(|| audience(&request.headers)).flatten();
    if let Some(audience) = &audience {
        if serve_recorded(ctx, path, audience, head, sink)?
            || serve_recorded_query(ctx, path, audience, head, sink)?
            || super::sumdb::serve_recorded(ctx, path, audience, head, sink)?
        {
            // (A project's reads are not registry traffic.)
            if path.starts_with(REGISTRY_PATH) {
                resend_now_and_then(ctx, Seen::Unread);
            }
            return Ok(());
        }
    }
    if audience == Some(Audience::Anonymous) {
        match serve_from_records(ctx, path, head, sink)? {
            Records::Served(resend) => {
                resend_now_and_then(ctx, resend);
                return Ok(());
            }
            Records::ViewKept(kept) => kept_view = Some(kept),
            Records::None => {}
        }
    }
    if kept_view.is_none() {
        // (A kept view was made on this schema: see `go_public_view_key`.)
        ensure_schema(ctx.sql, ctx.now())?;
    }
    // A read leaves a record for the next by the same audience (see
    // `records`), under the generation read before anything it resolves
    // through, the caller's token included (or the kept view's).
    let generation = match (&audience, &kept_view) {
        (None, _) => None,
        (Some(_), Some(kept)) => Some(kept.generation),
        (Some(_), None) => Some(generation::current(ctx.kv)?),
    };
    let who = authenticate(ctx, &request.headers)?;
    let record = record_as(generation, audience.as_ref(), who.as_ref());
    if let Some(rest) = path.strip_prefix(REGISTRY_PATH) {
        let (id, rest) = rest.split_once('/').ok_or(CoreError::NotFound(""))?;
        let id: i64 = id.parse().map_err(|_| CoreError::NotFound("Registry"))?;
        if !read {
            return Err(CoreError::MethodNotAllowed);
        }
        if let Some(rest) = rest.strip_prefix("sumdb/") {
            let whom = (who.as_ref(), record.as_ref());
            return super::sumdb::serve(ctx, whom, id, rest, head, sink);
        }
        let (module, query) = parse(rest)?;
        let read = RegistryRead {
            id,
            module: &module,
            head,
            kept_view,
            record,
        };
        return serve_registry(ctx, who.as_ref(), read, query, sink);
    }
    if let Some(rest) = path.strip_prefix(PROJECT_PATH) {
        let (id, rest) = rest
            .split_once("/packages/go/")
            .ok_or(CoreError::NotFound(""))?;
        let project =
            projects::find_by_reference(ctx.sql, id)?.ok_or(CoreError::NotFound("Project"))?;
        let (module, query) = parse(rest)?;
        if request.method == Method::PUT {
            return publish(ctx, who.as_ref(), &project, &module, query, body, sink);
        }
        if !read {
            return Err(CoreError::MethodNotAllowed);
        }
        authorize_project_read(ctx.sql, who.as_ref(), &project)?;
        let projects = [project.id];
        let scope = Scope {
            registry: None,
            projects: &projects,
        };
        return serve_stored_only(ctx, (id, &scope), (&module, query, head), record, sink);
    }
    Err(CoreError::NotFound(""))
}

/// Triggers that were lost or failed are resent on registry traffic (Spin
/// has no timers); a read served from a record, this cheap, looks only now
/// and then (the resend lease as `seen`).
fn resend_now_and_then(ctx: &Context, seen: Seen) {
    if crate::crypto::one_in(RESEND_SAMPLE) {
        retry_due(ctx, seen);
    }
}

/// Project-level: only what the project (as its URL names it) published.
/// A read leaves a record as `record` says.
fn serve_stored_only(
    ctx: &Context,
    (project, scope): (&str, &Scope),
    (module, query, head): (&str, Query, bool),
    record: Option<RecordAs>,
    sink: &mut dyn ResponseSink,
) -> Result<()> {
    let blobs = BlobStore::new(ctx.kv, ctx.config.blob_chunk_bytes);
    match query {
        Query::File { version, ext } => {
            servable(module, &version)?;
            let file_name = format!("{version}{ext}");
            let file = store::find_file(ctx.sql, scope, module, &version, &file_name)?
                .ok_or_else(|| store::not_found("version"))?;
            send_blob(&blobs, sink, ext, &file.digests, head)?;
            if let Some(record) = record {
                let name = (project, module, file_name.as_str());
                remember_project_file(ctx, &blobs, name, &file.digests, &record)?;
            }
            Ok(())
        }
        query => answer_project_query(ctx, (project, scope), (module, query), record, head, sink),
    }
}

/// A read through a registry.
struct RegistryRead<'a> {
    id: i64,
    module: &'a str,
    head: bool,
    /// The registry's public view, when it is kept (the caller is anonymous).
    kept_view: Option<KeptView>,
    /// What to keep the read's record for, if anything.
    record: Option<RecordAs>,
}

fn serve_registry(
    ctx: &Context,
    who: Option<&Principal>,
    read: RegistryRead,
    query: Query,
    sink: &mut dyn ResponseSink,
) -> Result<()> {
    // An anonymous read may leave records for the next one, kept under the
    // generation read before anything they hold (so that a change made
    // meanwhile makes them stale at once).
    let remember = read.record;
    let kept = read.kept_view.is_some();
    let missed = read.kept_view.as_ref().and_then(|k| k.missed);
    let leases = (read.kept_view.as_ref()).map_or_else(SeenLeases::default, |k| k.leases.clone());
    let (mut view, registry, local_projects) = match read.kept_view {
        // The registry is public, its upstreams and projects known.
        Some(KeptView { view: public, .. }) => {
            let public = *public;
            let view = RegistryView {
                id: read.id,
                remotes: public.remotes,
                local_projects: public.readable_projects,
                serve_synced: true,
            };
            (view, public.registry, public.local_projects)
        }
        None => {
            let (view, registry) = registry_view(ctx.sql, read.id)?;
            crate::domain::auth::authorize_registry_read(ctx.sql, who, registry.group_id)?;
            let local_projects = view.local_projects.clone();
            (view, registry, local_projects)
        }
    };
    let remotes_may_serve = match missed {
        Some(Missed::NotStored { remotes_may_serve }) => remotes_may_serve,
        Some(Missed::Unsynced) => true,
        None => {
            view.remotes.is_empty()
                || remotes_may_serve_module(ctx.sql, &registry, read.module, &local_projects)?
        }
    };
    let file_read = matches!(query, Query::File { .. });
    if !kept {
        // Local upstreams serve only the projects this caller may read.
        view.local_projects = only_readable(ctx.sql, who, view.local_projects)?;
        let anonymous = remember
            .as_ref()
            .filter(|r| r.audience == Audience::Anonymous);
        if let (Some(record), true) = (anonymous, file_read) {
            let generation = record.generation;
            // An anonymous caller got this far: the registry is public.
            let public = PublicView {
                registry,
                remotes: view.remotes.clone(),
                local_modules: store::module_names(ctx.sql, &local_projects, MAX_KEPT_MODULES)?,
                local_projects,
                readable_projects: view.local_projects.clone(),
            };
            public_view::remember(ctx, generation, &public)?;
        }
    }
    if !remotes_may_serve {
        view.remotes.clear();
        view.serve_synced = false;
    }
    let served = match (query, missed) {
        (Query::File { version, ext }, Some(missed)) => {
            let file = StoredRead {
                registry: view.id,
                module: read.module,
                version: &version,
                ext,
                remember,
            };
            let file = (&file, leases.sync);
            match missed {
                // Looked for through the kept view, and not stored.
                Missed::NotStored { .. } => relay_and_sync(ctx, &view, file, read.head, sink),
                // Not looked for: the store is asked only if the origin fails.
                Missed::Unsynced => relay_or_stored(ctx, &view, file, read.head, sink),
            }
        }
        (query, _) => serve_query(ctx, &view, read.module, query, remember, read.head, sink),
    };
    // Once the client has its answer: registry traffic also resends
    // triggers that were lost or failed and are due (Spin has no timers).
    retry_due(ctx, leases.resend);
    served
}

fn serve_query(
    ctx: &Context,
    view: &RegistryView,
    module: &str,
    query: Query,
    remember: Option<RecordAs>,
    head: bool,
    sink: &mut dyn ResponseSink,
) -> Result<()> {
    let scope = view.scope();
    match query {
        Query::File { version, ext } => {
            let file = StoredRead {
                registry: view.id,
                module,
                version: &version,
                ext,
                remember,
            };
            if Version::parse(&version).is_none() {
                return relay_version_query(ctx, view, &file, head, sink);
            }
            servable(module, &version)?;
            if send_stored(ctx, &scope, &file, head, sink)? {
                return Ok(());
            }
            relay_and_sync(ctx, view, (&file, Seen::Unread), head, sink)
        }
        query => answer_query(ctx, view, (module, query), remember, head, sink),
    }
}

/// Only a canonical version that fits the module path's major-version
/// suffix names a file (`module.Check`); anything else is not found.
pub(super) fn servable(module: &str, version: &str) -> Result<()> {
    Version::parse(version).ok_or_else(|| store::not_found("version"))?;
    check(module, version).map_err(|_| store::not_found("version"))
}
