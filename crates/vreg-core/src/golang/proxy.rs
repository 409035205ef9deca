//! The GOPROXY protocol over a registry (`/api/v4/virtual_registries/packages/go/:id/...`)
//! and over a project's published modules (`/api/v4/projects/:id/packages/go/...`).
//!
//! For `.info`, `.mod` and `.zip` of a registry: a stored copy is served
//! from the blob store; otherwise the file is served straight from the
//! origin (the first upstream that has it) and — once the origin has shown
//! it has the version, and only if the lease can be taken — a sync trigger
//! is recorded and published so the worker stores it for next time.

use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::json;

use super::module::{check_module_path, escape, latest, unescape, Version};
use super::store::{self, Scope};
use super::zipcheck;
use crate::context::Context;
use crate::domain::auth::{
    authenticate, authorize_project_read, authorize_project_write, Principal,
};
use crate::domain::model::{PackageType, UpstreamMode};
use crate::domain::packages::{NewFile, Owner};
use crate::domain::projects::{self, Project};
use crate::domain::registries;
use crate::domain::upstreams::{self, Upstream};
use crate::error::{CoreError, Result};
use crate::http::body::{read_to_end, BodyReader, ResponseSink};
use crate::http::fetch::FetchResponse;
use crate::storage::blobs::BlobStore;
use crate::storage::expiring;
use crate::storage::lease::take_lease;
use crate::storage::schema::ensure_schema;
use crate::storage::sync_jobs;
use crate::storage::Sql;
use crate::timefmt;

pub const SYNC_KIND: &str = "go_sync";

/// What a request asks for.
#[derive(Debug, Clone, PartialEq)]
enum Query {
    List,
    Latest,
    File { version: String, ext: &'static str },
}

fn parse(rest: &str) -> Result<(String, Query)> {
    let decoded = percent_encoding::percent_decode_str(rest)
        .decode_utf8()
        .map_err(|_| CoreError::BadRequest("invalid path".into()))?
        .into_owned();
    let (module, query) = if let Some(module) = decoded.strip_suffix("/@latest") {
        (module.to_owned(), Query::Latest)
    } else if let Some((module, tail)) = decoded.split_once("/@v/") {
        let query = if tail == "list" {
            Query::List
        } else {
            let (version, ext) = [".info", ".mod", ".zip"]
                .into_iter()
                .find_map(|ext| tail.strip_suffix(ext).map(|v| (v, ext)))
                .ok_or(CoreError::NotFound(""))?;
            let version = unescape(version).ok_or_else(|| {
                CoreError::BadRequest(format!("invalid escaped version {version:?}"))
            })?;
            Query::File { version, ext }
        };
        (module.to_owned(), query)
    } else {
        return Err(CoreError::NotFound(""));
    };
    let module = unescape(&module)
        .ok_or_else(|| CoreError::BadRequest(format!("invalid escaped module path {module:?}")))?;
    check_module_path(&module)?;
    Ok((module, query))
}

/// The go command reads errors as plain text.
fn send_plain(sink: &mut dyn ResponseSink, status: StatusCode, body: &str) {
    let mut headers = HeaderMap::new();
    headers.insert(
        "content-type",
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if status == StatusCode::UNAUTHORIZED {
        headers.insert(
            "www-authenticate",
            HeaderValue::from_static("Basic realm=\"vreg\""),
        );
    }
    if let Ok(mut writer) = sink.start(status, &headers) {
        let _ = writer.write(body.as_bytes());
    }
}

fn content_type(ext: &str) -> &'static str {
    match ext {
        ".info" => "application/json",
        ".zip" => "application/zip",
        _ => "text/plain; charset=utf-8",
    }
}

fn send_bytes(sink: &mut dyn ResponseSink, kind: &str, body: &[u8], head: bool) -> Result<()> {
    let mut headers = HeaderMap::new();
    headers.insert(
        "content-type",
        HeaderValue::from_str(kind).unwrap_or(HeaderValue::from_static("text/plain")),
    );
    headers.insert("content-length", HeaderValue::from(body.len()));
    let mut writer = sink.start(StatusCode::OK, &headers)?;
    if !head {
        writer.write(body)?;
    }
    Ok(())
}

pub fn handle(
    ctx: &Context,
    request: &http::request::Parts,
    body: &mut dyn BodyReader,
    sink: &mut dyn ResponseSink,
) {
    if let Err(e) = route(ctx, request, body, sink) {
        let status = crate::http::status_of(&e);
        let message = match &e {
            CoreError::Store(_) => "internal error".to_owned(),
            other => other.to_string(),
        };
        send_plain(sink, status, &message);
    }
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
    ensure_schema(ctx.sql, ctx.now())?;
    let who = authenticate(ctx, &request.headers)?;
    if let Some(rest) = path.strip_prefix("/api/v4/virtual_registries/packages/go/") {
        let (id, rest) = rest.split_once('/').ok_or(CoreError::NotFound(""))?;
        let id: i64 = id.parse().map_err(|_| CoreError::NotFound("Registry"))?;
        if !read {
            return Err(CoreError::MethodNotAllowed);
        }
        let (module, query) = parse(rest)?;
        return serve_registry(ctx, who.as_ref(), id, &module, query, head, sink);
    }
    if let Some(rest) = path.strip_prefix("/api/v4/projects/") {
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
        return serve_stored_only(ctx, &scope, &module, query, head, sink);
    }
    Err(CoreError::NotFound(""))
}

/// Project-level: only what the project published.
fn serve_stored_only(
    ctx: &Context,
    scope: &Scope,
    module: &str,
    query: Query,
    head: bool,
    sink: &mut dyn ResponseSink,
) -> Result<()> {
    let blobs = BlobStore::new(ctx.kv, ctx.config.blob_chunk_bytes);
    match query {
        Query::List => {
            let versions = sorted_release_list(store::versions(ctx.sql, scope, module)?);
            send_bytes(sink, "text/plain; charset=utf-8", versions.as_bytes(), head)
        }
        Query::Latest => {
            let versions: Vec<Version> = store::versions(ctx.sql, scope, module)?
                .iter()
                .filter_map(|v| Version::parse(v))
                .collect();
            let best = latest(&versions).ok_or_else(|| store::not_found("module"))?;
            let file = store::find_file(
                ctx.sql,
                scope,
                module,
                &best.text,
                &format!("{}.info", best.text),
            )?
            .ok_or_else(|| store::not_found("version"))?;
            send_bytes(
                sink,
                "application/json",
                &blobs.read_bytes(&file.digests.sha256)?,
                head,
            )
        }
        Query::File { version, ext } => {
            Version::parse(&version).ok_or_else(|| store::not_found("version"))?;
            let file =
                store::find_file(ctx.sql, scope, module, &version, &format!("{version}{ext}"))?
                    .ok_or_else(|| store::not_found("version"))?;
            send_blob(&blobs, sink, ext, &file.digests, head)
        }
    }
}

fn send_blob(
    blobs: &BlobStore,
    sink: &mut dyn ResponseSink,
    ext: &str,
    digests: &crate::storage::blobs::Digests,
    head: bool,
) -> Result<()> {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static(content_type(ext)));
    headers.insert("content-length", HeaderValue::from(digests.size));
    let mut writer = sink.start(StatusCode::OK, &headers)?;
    if !head {
        blobs.read(&digests.sha256, writer.as_mut())?;
    }
    Ok(())
}

/// One version per line, releases and pre-releases (no pseudo-versions), in order.
fn sorted_release_list(versions: Vec<String>) -> String {
    let mut parsed: Vec<Version> = versions
        .iter()
        .filter_map(|v| Version::parse(v))
        .filter(|v| !v.is_pseudo())
        .collect();
    parsed.sort_by(|a, b| a.compare(b));
    parsed.dedup_by(|a, b| a.text == b.text);
    parsed.iter().map(|v| format!("{}\n", v.text)).collect()
}

struct RegistryView {
    id: i64,
    remotes: Vec<Upstream>,
    local_projects: Vec<i64>,
}

fn registry_view(sql: &dyn Sql, id: i64) -> Result<(RegistryView, i64)> {
    let registry = registries::get(sql, PackageType::Golang, id)?;
    let (links, _) = upstreams::list_in_registry(sql, registry.id, upstreams::MAX_PER_REGISTRY, 0)?;
    let mut remotes = Vec::new();
    let mut local_projects = Vec::new();
    for (_, upstream) in links {
        match upstream.mode {
            UpstreamMode::Remote => remotes.push(upstream),
            UpstreamMode::Local => match (upstream.target_project_id, upstream.target_group_id) {
                (Some(p), _) => local_projects.push(p),
                (None, Some(g)) => local_projects.extend(projects::ids_in_group(sql, g)?),
                _ => {}
            },
        }
    }
    Ok((
        RegistryView {
            id: registry.id,
            remotes,
            local_projects,
        },
        registry.group_id,
    ))
}

fn serve_registry(
    ctx: &Context,
    who: Option<&Principal>,
    id: i64,
    module: &str,
    query: Query,
    head: bool,
    sink: &mut dyn ResponseSink,
) -> Result<()> {
    let (view, group_id) = registry_view(ctx.sql, id)?;
    crate::domain::auth::authorize_registry_read(ctx.sql, who, group_id)?;
    // Every registry request also resends triggers that were lost or failed
    // and are due: the retry loop rides on traffic (Spin has no timers).
    retry_due(ctx);
    let scope = Scope {
        registry: Some(view.id),
        projects: &view.local_projects,
    };
    let blobs = BlobStore::new(ctx.kv, ctx.config.blob_chunk_bytes);
    match query {
        Query::File { version, ext } => {
            Version::parse(&version).ok_or(CoreError::NotFound("Version"))?;
            if let Some(file) = store::find_file(
                ctx.sql,
                &scope,
                module,
                &version,
                &format!("{version}{ext}"),
            )? {
                return send_blob(&blobs, sink, ext, &file.digests, head);
            }
            let suffix = format!("{}/@v/{}{ext}", escape(module), escape(&version));
            let (_, response) = first_origin(ctx, &view.remotes, &suffix)?;
            // The origin has this version: schedule the sync (once, through the lease).
            request_sync(ctx, view.id, module, &version);
            stream_through(sink, ext, response, head)
        }
        Query::List => {
            let versions = merged_versions(ctx, &view, &scope, module)?;
            send_bytes(
                sink,
                "text/plain; charset=utf-8",
                sorted_release_list(versions).as_bytes(),
                head,
            )
        }
        Query::Latest => {
            let mut candidates = merged_versions(ctx, &view, &scope, module)?;
            for upstream in &view.remotes {
                if let Ok(Some(body)) =
                    get_small(ctx, upstream, &format!("{}/@latest", escape(module)))
                {
                    if let Some(v) = serde_json::from_slice::<serde_json::Value>(&body)
                        .ok()
                        .and_then(|j| j["Version"].as_str().map(str::to_owned))
                    {
                        candidates.push(v);
                    }
                }
            }
            let parsed: Vec<Version> = candidates
                .iter()
                .filter_map(|v| Version::parse(v))
                .collect();
            let best = latest(&parsed)
                .ok_or_else(|| store::not_found("module"))?
                .text
                .clone();
            if let Some(file) =
                store::find_file(ctx.sql, &scope, module, &best, &format!("{best}.info"))?
            {
                return send_blob(&blobs, sink, ".info", &file.digests, head);
            }
            let suffix = format!("{}/@v/{}.info", escape(module), escape(&best));
            let (_, response) = first_origin(ctx, &view.remotes, &suffix)?;
            stream_through(sink, ".info", response, head)
        }
    }
}

/// The first remote upstream, in position order, that answers 200.
fn first_origin<'u>(
    ctx: &Context,
    remotes: &'u [Upstream],
    suffix: &str,
) -> Result<(&'u Upstream, FetchResponse)> {
    let mut failures = Vec::new();
    for upstream in remotes {
        let request = match upstreams::fetch_request(ctx.config, upstream, suffix, Method::GET) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{} ({e})", upstream.name));
                continue;
            }
        };
        match ctx.fetch.fetch(&request) {
            Ok(response) if response.status == 200 => return Ok((upstream, response)),
            Ok(response) if matches!(response.status, 404 | 410) => {}
            Ok(response) => failures.push(format!("{} (HTTP {})", upstream.name, response.status)),
            Err(e) => failures.push(format!("{} ({e})", upstream.name)),
        }
    }
    if failures.is_empty() {
        Err(CoreError::NotFound("Version"))
    } else {
        Err(CoreError::Upstream(format!(
            "Upstream failure: {}",
            failures.join(", ")
        )))
    }
}

/// A small upstream document (a list, an @latest answer); `None` on 404.
fn get_small(
    ctx: &Context,
    upstream: &Upstream,
    suffix: &str,
) -> std::result::Result<Option<Vec<u8>>, String> {
    let request = upstreams::fetch_request(ctx.config, upstream, suffix, Method::GET)?;
    let mut response = ctx.fetch.fetch(&request).map_err(|e| e.to_string())?;
    match response.status {
        200 => read_to_end(response.body.as_mut(), 4 << 20)
            .map(Some)
            .map_err(|e| e.to_string()),
        404 | 410 => Ok(None),
        status => Err(format!("HTTP {status}")),
    }
}

/// Versions the store and every remote upstream know, cached briefly.
fn merged_versions(
    ctx: &Context,
    view: &RegistryView,
    scope: &Scope,
    module: &str,
) -> Result<Vec<String>> {
    let key = format!(
        "go:list:{}:{}",
        view.id,
        crate::crypto::sha256_hex(module.as_bytes())
    );
    if let Some(cached) = expiring::get(ctx.kv, &key, ctx.now())? {
        return Ok(String::from_utf8_lossy(&cached)
            .lines()
            .map(str::to_owned)
            .collect());
    }
    let mut versions = store::versions(ctx.sql, scope, module)?;
    let mut failures = Vec::new();
    for upstream in &view.remotes {
        match get_small(ctx, upstream, &format!("{}/@v/list", escape(module))) {
            Ok(Some(body)) => versions.extend(
                String::from_utf8_lossy(&body)
                    .lines()
                    .map(|l| l.trim().to_owned())
                    .filter(|l| !l.is_empty()),
            ),
            Ok(None) => {}
            Err(e) => failures.push(format!("{} ({e})", upstream.name)),
        }
    }
    if versions.is_empty() && !failures.is_empty() {
        return Err(CoreError::Upstream(format!(
            "Upstream failure: {}",
            failures.join(", ")
        )));
    }
    versions.sort();
    versions.dedup();
    let ttl = ctx.config.list_cache_seconds * 1000;
    expiring::set(ctx.kv, &key, versions.join("\n").as_bytes(), ctx.now(), ttl)?;
    Ok(versions)
}

fn stream_through(
    sink: &mut dyn ResponseSink,
    ext: &str,
    mut response: FetchResponse,
    head: bool,
) -> Result<()> {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static(content_type(ext)));
    if let Some(length) = response.headers.get("content-length") {
        headers.insert("content-length", length.clone());
    }
    let mut writer = sink.start(StatusCode::OK, &headers)?;
    if head {
        return Ok(());
    }
    while let Some(chunk) = response.body.next_chunk()? {
        writer.write(&chunk)?;
    }
    Ok(())
}

pub fn lease_name(registry: i64, module: &str, version: &str) -> String {
    format!("go_proxy:sync_packages:{registry}:{module}@{version}")
}

/// Takes the lease and, if this request got it, records the job and
/// publishes the trigger. Never fails the request: with Redis down the job
/// waits in `sync_jobs` for its retry.
fn request_sync(ctx: &Context, registry: i64, module: &str, version: &str) {
    let name = lease_name(registry, module, version);
    let outcome = (|| -> Result<()> {
        if !take_lease(ctx.kv, &name, ctx.now(), ctx.config.lease_seconds * 1000)? {
            return Ok(());
        }
        let payload = json!({
            "kind": SYNC_KIND,
            "registry_id": registry,
            "module": module,
            "version": version,
            "requested_at": timefmt::iso8601(ctx.now()),
        })
        .to_string();
        sync_jobs::record(ctx.sql, ctx.now(), SYNC_KIND, &name, &payload)?;
        if let Some(job) = sync_jobs::get(ctx.sql, SYNC_KIND, &name)? {
            sync_jobs::send_trigger(
                ctx.sql,
                ctx.publisher,
                &ctx.config.sync_channel,
                ctx.now(),
                &job,
            );
        }
        Ok(())
    })();
    if let Err(e) = outcome {
        eprintln!("vreg: could not schedule the sync of {module}@{version}: {e}");
    }
    retry_due(ctx);
}

/// Republishes jobs whose trigger was lost or that failed, once per retry interval.
pub fn retry_due(ctx: &Context) {
    let Ok(jobs) = sync_jobs::due(ctx.sql, ctx.now(), 5) else {
        return;
    };
    for job in jobs {
        // One resend per job however many requests see it due at once.
        let lease = format!("retry:{}", job.id);
        let ttl = sync_jobs::UNDELIVERED_RETRY_MILLIS;
        if !take_lease(ctx.kv, &lease, ctx.now(), ttl).unwrap_or(false) {
            continue;
        }
        let _ = sync_jobs::postpone(ctx.sql, ctx.now(), job.id);
        sync_jobs::send_trigger(
            ctx.sql,
            ctx.publisher,
            &ctx.config.sync_channel,
            ctx.now(),
            &job,
        );
    }
}

/// `PUT /projects/:id/packages/go/<module>/@v/<version>.zip`: publishes a
/// version from its zip. `.mod` comes from the zip's go.mod, `.info` carries
/// the publish time; a published version is immutable.
fn publish(
    ctx: &Context,
    who: Option<&Principal>,
    project: &Project,
    module: &str,
    query: Query,
    body: &mut dyn BodyReader,
    sink: &mut dyn ResponseSink,
) -> Result<()> {
    authorize_project_write(ctx.sql, who, project)?;
    let Query::File {
        version,
        ext: ".zip",
    } = query
    else {
        return Err(CoreError::MethodNotAllowed);
    };
    let parsed = Version::parse(&version)
        .ok_or_else(|| CoreError::BadRequest(format!("invalid version {version:?}")))?;
    let zip = read_to_end(body, zipcheck::MAX_ZIP_BYTES as usize)?;
    let checked = zipcheck::check_zip(module, &parsed.text, &zip)?;
    let go_mod = checked
        .go_mod
        .clone()
        .unwrap_or_else(|| format!("module {module}\n").into_bytes());
    let info = json!({ "Version": version, "Time": timefmt::iso8601(ctx.now()) })
        .to_string()
        .into_bytes();
    let blobs = BlobStore::new(ctx.kv, ctx.config.blob_chunk_bytes);
    let files = [
        NewFile {
            file_name: format!("{version}.info"),
            digests: blobs.put_bytes(&info)?,
            h1: None,
        },
        NewFile {
            file_name: format!("{version}.mod"),
            digests: blobs.put_bytes(&go_mod)?,
            h1: Some(zipcheck::go_mod_hash(&go_mod)),
        },
        NewFile {
            file_name: format!("{version}.zip"),
            digests: blobs.put_bytes(&zip)?,
            h1: Some(checked.h1),
        },
    ];
    if !store::store_version(
        ctx.sql,
        ctx.now(),
        Owner::Project(project.id),
        module,
        &version,
        &files,
    )? {
        return Err(CoreError::Conflict(format!(
            "{module}@{version} is already published"
        )));
    }
    send_bytes(sink, "text/plain; charset=utf-8", b"", false)
}
