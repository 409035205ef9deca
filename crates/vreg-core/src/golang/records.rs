//! Anonymous reads of a public Go registry's stored files served through
//! what earlier reads kept in the key-value store: the record of the file
//! itself (see [`crate::domain::resolved`]: no SQL), or the registry's
//! public view (see [`super::public_view`]: one query, the file). Both come
//! in one batch get, with the mark of the version's sync: a version the
//! registry has not synced, of a module no local upstream holds, goes to
//! the origin with no SQL at all. A stored token's reads are served from
//! the records of that token's earlier reads of the same files. A 404 (no
//! remote has the file, the store does not hold it) is recorded too, for
//! each audience, in a slot read in the same batch. A read none of them
//! serves goes the full way (`proxy`).

use serde::{Deserialize, Serialize};

use super::origin::{remotes_may_serve_module, remotes_may_serve_module_given};
use super::proxy::servable;
use super::public_view::{self, PublicView};
use super::request::{parse, Query, PROJECT_PATH, REGISTRY_PATH};
use super::respond::{content_type, send_blob, send_bytes};
use super::schedule::{lease_name, RESEND_LEASE};
use super::store::{self, Scope};
use crate::context::Context;
use crate::domain::resolved::{
    self, go_file_place, go_public_view_key, go_synced_key, Audience, Place, RecordAs, Resolved,
};
use crate::error::{CoreError, Result};
use crate::http::body::ResponseSink;
use crate::storage::blobs::{BlobStore, Digests};
use crate::storage::lease::{lease_key, Seen};
use crate::storage::{generation, StoreError};

/// What a Go record keeps beside a file: nothing (`None`, as records made
/// before there were others), or that there was nothing to find (a 404,
/// kept for a while: see [`remember_absent`]).
#[derive(Serialize, Deserialize)]
pub(super) enum Kept {
    Absent,
}

/// What the records of earlier anonymous reads did for this one.
pub(super) enum Records {
    /// The file was served from its record; the resend lease as seen.
    Served(Seen),
    /// Not served (not stored, or not a stored file's name), but the
    /// registry's public view is kept and current.
    ViewKept(KeptView),
    None,
}

/// A registry's public view found kept and current, and what a read
/// already learnt through it.
pub(super) struct KeptView {
    pub(super) view: Box<PublicView>,
    /// The generation it is current under.
    pub(super) generation: u64,
    /// Set when the file is known to be the origin's to serve: the full
    /// path then goes straight to it.
    pub(super) missed: Option<Missed>,
    /// The leases scheduling takes, as the batch get saw them.
    pub(super) leases: SeenLeases,
}

/// The leases a read of a version's file may take after it is served (its
/// sync's, and the one to resend due triggers), as the read's first batch
/// get saw them: one seen held costs no read of its own (on Spin each
/// key-value call costs ~8% of a relayed file's throughput, measured).
#[derive(Clone, Default)]
pub(super) struct SeenLeases {
    pub(super) sync: Seen,
    pub(super) resend: Seen,
}

/// Why a file read through a kept view goes to the origin.
#[derive(Clone, Copy)]
pub(super) enum Missed {
    /// It was looked for and is not stored; whether the registry's remotes
    /// may serve the module.
    NotStored { remotes_may_serve: bool },
    /// Not looked for: the registry has not marked the version synced, no
    /// local upstream holds the module, and its remotes may serve it. The
    /// store is asked only if the origin cannot serve it.
    Unsynced,
}

/// An anonymous read of a stored file with no SQL, through the record of
/// an earlier read of it (see [`crate::domain::resolved`]), or with one
/// query (the file), through the registry's public view (see
/// [`public_view`]); both come in one batch get. If neither serves it, the
/// read goes the full way.
pub(super) fn serve_from_records(
    ctx: &Context,
    path: &str,
    head: bool,
    sink: &mut dyn ResponseSink,
) -> Result<Records> {
    let Some((id, module, version, ext)) = registry_file(path) else {
        return Ok(Records::None);
    };
    let file_name = format!("{version}{ext}");
    let file_place = go_file_place(id, &module, &file_name);
    let absent_place = absent_place(id, &module, &file_name, &Audience::Anonymous);
    let view_key = go_public_view_key(id);
    let synced_key = go_synced_key(id, &module, &version);
    let sync_lease = lease_key(&lease_name(id, &module, &version));
    let resend_lease = lease_key(RESEND_LEASE);
    let keys = [
        file_place.stored_at(),
        absent_place.stored_at(),
        &view_key,
        generation::KEY,
        &synced_key,
        &sync_lease,
        &resend_lease,
    ];
    let [file, absent, view, current, synced, sync_lease, resend_lease] =
        <[_; 7]>::try_from(ctx.kv.get_many(&keys)?)
            .map_err(|_| StoreError::Other("get_many answered a different count".into()))?;
    let leases = SeenLeases {
        sync: Seen::Read(sync_lease),
        resend: Seen::Read(resend_lease),
    };
    let generation = generation::from_stored(current.as_deref());
    let recorded = [(&file_place, file), (&absent_place, absent)];
    let mut found = recorded
        .into_iter()
        .filter_map(|(place, stored)| resolved::decode(ctx, place, stored.as_deref(), generation));
    if let Some(found) = found.next() {
        send_found(ctx, &found, ext, head, sink)?;
        return Ok(Records::Served(leases.resend));
    }
    let Some(view) = public_view::decode(ctx, view.as_deref(), generation) else {
        return Ok(Records::None);
    };
    if servable(&module, &version).is_err() {
        return Ok(Records::ViewKept(KeptView {
            view: Box::new(view),
            generation,
            missed: None,
            leases,
        }));
    }
    if synced.is_none() && unsynced_goes_to_origin(&view, &module)? {
        return Ok(Records::ViewKept(KeptView {
            view: Box::new(view),
            generation,
            missed: Some(Missed::Unsynced),
            leases,
        }));
    }
    let serve_synced = view.remotes.is_empty()
        || remotes_may_serve_module(ctx.sql, &view.registry, &module, &view.local_projects)?;
    let scope = Scope {
        registry: serve_synced.then_some(id),
        projects: &view.readable_projects,
    };
    let stored = StoredRead {
        registry: id,
        module: &module,
        version: &version,
        ext,
        remember: Some(RecordAs::anonymous(generation)),
    };
    Ok(if send_stored(ctx, &scope, &stored, head, sink)? {
        Records::Served(leases.resend)
    } else {
        Records::ViewKept(KeptView {
            view: Box::new(view),
            generation,
            missed: Some(Missed::NotStored {
                remotes_may_serve: serve_synced,
            }),
            leases,
        })
    })
}

/// The registry, module, version and extension a path reads a version's
/// file of, if it does.
fn registry_file(path: &str) -> Option<(i64, String, String, &'static str)> {
    let (id, rest) = path.strip_prefix(REGISTRY_PATH)?.split_once('/')?;
    match (id.parse::<i64>(), parse(rest)) {
        (Ok(id), Ok((module, Query::File { version, ext }))) => Some((id, module, version, ext)),
        _ => None,
    }
}

/// A read of a module version's file served from the record of an earlier
/// read of it by the same audience (no SQL): a token's read through a
/// registry (an anonymous one goes through [`serve_from_records`]), or any
/// read of a project's modules. Whether it was.
pub(super) fn serve_recorded(
    ctx: &Context,
    path: &str,
    audience: &Audience,
    head: bool,
    sink: &mut dyn ResponseSink,
) -> Result<bool> {
    let (places, ext) = if let Some((project, module, version, ext)) = project_file(path) {
        let file_name = format!("{version}{ext}");
        let place = project_file_place(project, &module, &file_name, audience);
        (vec![place], ext)
    } else if let (Some((id, module, version, ext)), Audience::Token(_)) =
        (registry_file(path), audience)
    {
        let file_name = format!("{version}{ext}");
        let file = file_place(id, &module, &file_name, audience);
        (
            vec![file, absent_place(id, &module, &file_name, audience)],
            ext,
        )
    } else {
        return Ok(false);
    };
    let Some(found) = resolved::lookup(ctx, &places)? else {
        return Ok(false);
    };
    send_found(ctx, &found, ext, head, sink)?;
    Ok(true)
}

/// Sends a file found through its record: from the record when kept
/// there, else from the blob store; a recorded 404 as the full way
/// answers it.
fn send_found(
    ctx: &Context,
    found: &Resolved<Option<Kept>>,
    ext: &str,
    head: bool,
    sink: &mut dyn ResponseSink,
) -> Result<()> {
    if let Some(Kept::Absent) = found.meta {
        return Err(CoreError::NotFound("Version"));
    }
    match &found.bytes {
        Some(bytes) => send_bytes(sink, content_type(ext), bytes, head),
        None => send_blob(&found.blobs(ctx), sink, ext, &found.digests, head),
    }
}

/// The project (as the URL names it), module, version and extension a path
/// reads a version's file of, if it does.
fn project_file(path: &str) -> Option<(&str, String, String, &'static str)> {
    let (project, rest) = path
        .strip_prefix(PROJECT_PATH)?
        .split_once("/packages/go/")?;
    match parse(rest) {
        Ok((module, Query::File { version, ext })) => Some((project, module, version, ext)),
        _ => None,
    }
}

/// Where the record of a read of a project's module file is kept: a slot
/// (see [`Place::slot`]), since a project may be named in many spellings
/// and tokens come and go.
fn project_file_place(project: &str, module: &str, file_name: &str, audience: &Audience) -> Place {
    let audience = audience.name();
    let name = format!(
        "{audience}:{}:{project}/{module}@{file_name}",
        project.len()
    );
    Place::slot("go:project", &name)
}

/// Remembers that a read (as `record` says) of `project`'s module file
/// resolved to the stored file `digests`.
pub(super) fn remember_project_file(
    ctx: &Context,
    blobs: &BlobStore,
    (project, module, file_name): (&str, &str, &str),
    digests: &Digests,
    record: &RecordAs,
) -> Result<()> {
    let place = project_file_place(project, module, file_name, &record.audience);
    // A module version's files never change: the record lasts as long as
    // records may.
    let kept = (digests, None::<Kept>);
    resolved::remember(ctx, blobs, &place, record.generation, kept, record.until)
}

/// Where the record of a registry's read of a module version's file is
/// kept: an anonymous one's at a key of its own (deleted with what it
/// records: `forgotten_go_records`), a token's in a slot (tokens come and
/// go; see [`Place::slot`]).
fn file_place(registry: i64, module: &str, file_name: &str, audience: &Audience) -> Place {
    match audience {
        Audience::Anonymous => go_file_place(registry, module, file_name),
        Audience::Token(digest) => {
            let name = format!("{digest}:{registry}:{module}@{file_name}");
            Place::slot("go:resolved", &name)
        }
    }
}

/// Where the record of a registry's 404 for a module version's file is
/// kept: a slot (see [`Place::slot`]), since anyone can make names up.
fn absent_place(registry: i64, module: &str, file_name: &str, audience: &Audience) -> Place {
    let name = format!("{}:{registry}:{module}@{file_name}", audience.name());
    Place::slot("go:absent", &name)
}

/// Records, as `read.remember` says, that no remote has the file `read`
/// names (or knows the query it names) and the store does not hold it, for
/// as long as the negative cache keeps a 404 (on one miss in a few: Go
/// keeps no per-remote marks, as Maven does, that would tell a repeat from
/// a first ask; see `record_this_miss`). The file can be stored later only
/// by an upload, which moves the generation on, or by a sync, which
/// follows a remote having it. A record that cannot be written leaves the
/// 404 a 404.
pub(super) fn remember_absent(ctx: &Context, read: &StoredRead) {
    if let Some(record) = &read.remember {
        let file_name = format!("{}{}", read.version, read.ext);
        let place = absent_place(read.registry, read.module, &file_name, &record.audience);
        record_absence(ctx, &place, record, &format!("{}@{file_name}", read.module));
    }
}

/// Keeps at `place` a 404 (of `what`), as `record` says, for as long as
/// the negative cache keeps one (if it does), on one miss in a few (see
/// [`resolved::record_this_miss`]).
pub(super) fn record_absence(ctx: &Context, place: &Place, record: &RecordAs, what: &str) {
    let seconds = ctx.config.negative_cache_seconds;
    if seconds <= 0 || !resolved::record_this_miss() {
        return;
    }
    let until = (ctx.now().saturating_add(seconds.saturating_mul(1000))).min(record.until);
    let kept = Some(Kept::Absent);
    if let Err(e) = resolved::remember_absence(ctx, place, record.generation, kept, until) {
        eprintln!("vreg: the 404 of {what} not recorded: {e}");
    }
}

/// Whether a version the registry has not marked synced is the origin's to
/// serve, as far as the view tells: the registry has remotes, they may
/// serve the module, and no local upstream holds it (so no project's copy
/// comes first, whether or not protection is on).
fn unsynced_goes_to_origin(view: &PublicView, module: &str) -> Result<bool> {
    let Some(local) = &view.local_modules else {
        return Ok(false);
    };
    if view.remotes.is_empty() || local.iter().any(|m| m == module) {
        return Ok(false);
    }
    remotes_may_serve_module_given(&view.registry, module, local)
}

/// A read of a module version's file that may be stored.
pub(super) struct StoredRead<'a> {
    pub(super) registry: i64,
    pub(super) module: &'a str,
    pub(super) version: &'a str,
    pub(super) ext: &'a str,
    /// What to keep the read's record for, if anything.
    pub(super) remember: Option<RecordAs>,
}

/// Sends the stored file, if `scope` holds it, and keeps the record of an
/// anonymous read of it. Whether it was stored.
pub(super) fn send_stored(
    ctx: &Context,
    scope: &Scope,
    read: &StoredRead,
    head: bool,
    sink: &mut dyn ResponseSink,
) -> Result<bool> {
    let file_name = format!("{}{}", read.version, read.ext);
    let Some(file) = store::find_file(ctx.sql, scope, read.module, read.version, &file_name)?
    else {
        return Ok(false);
    };
    let blobs = BlobStore::new(ctx.kv, ctx.config.blob_chunk_bytes);
    send_blob(&blobs, sink, read.ext, &file.digests, head)?;
    if let Some(record) = &read.remember {
        // A module version's files never change: the record lasts as long
        // as records may.
        let place = file_place(read.registry, read.module, &file_name, &record.audience);
        let kept = (&file.digests, None::<Kept>);
        resolved::remember(ctx, &blobs, &place, record.generation, kept, record.until)?;
    }
    Ok(true)
}
