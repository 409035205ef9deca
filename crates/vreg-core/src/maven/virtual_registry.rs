//! `GET|HEAD /api/v4/virtual_registries/packages/maven/:id/*path`: resolve a
//! file through the registry's upstreams in position order, as GitLab does.
//!
//! 1. A cached copy from any upstream wins (the lowest position first); a
//!    fresh one is served as is, a stale one is revalidated (HEAD, by ETag)
//!    or refetched.
//! 2. Otherwise upstreams are asked in order: a local upstream answers from
//!    its project's or group's packages; a remote one is fetched with its
//!    credentials, the body streaming to the client while it is stored, and
//!    the cache entry committed once the blob is complete. 404s from remote
//!    upstreams are remembered for a while (negative cache).
//! 3. If remote upstreams fail, a stale copy is served; failing that, 502
//!    names the failing upstreams; nothing anywhere is a 404.

use std::time::Duration;

use base64::Engine;
use http::{HeaderMap, HeaderValue, Method, StatusCode};

use super::path::{content_type, MavenPath};
use super::respond::{send_digest, send_file, send_text};
use super::{find_local, projects_in_group, LocalHit};
use crate::api::Context;
use crate::auth::Principal;
use crate::blobs::{BlobStore, Digests};
use crate::crypto::{sha256_hex, PasswordSealer};
use crate::error::{CoreError, Result};
use crate::groups;
use crate::io::{Fetch, FetchRequest, ResponseSink};
use crate::model::{PackageType, UpstreamMode, Visibility};
use crate::registries;
use crate::store::{query_rows, RowReader, Sql, StoreError};
use crate::tokens::Scope;
use crate::upstreams::{self, Upstream};
use crate::validate::is_local_host;

const HOUR_MILLIS: i64 = 3600 * 1000;

#[derive(Debug, Clone)]
pub struct CacheEntry {
    pub upstream_id: i64,
    pub relative_path: String,
    pub content_type: String,
    pub digests: Digests,
    pub upstream_etag: Option<String>,
    pub upstream_checked_at: i64,
    pub created_at: i64,
}

fn decode_entry(r: &mut RowReader) -> Result<CacheEntry, StoreError> {
    Ok(CacheEntry {
        upstream_id: r.i64()?,
        relative_path: r.text()?,
        content_type: r.text()?,
        digests: Digests {
            size: r.i64()? as u64,
            sha1: r.opt_text()?.unwrap_or_default(),
            md5: r.opt_text()?.unwrap_or_default(),
            sha256: r.opt_text()?.unwrap_or_default(),
            sha512: r.opt_text()?.unwrap_or_default(),
        },
        upstream_etag: r.opt_text()?,
        upstream_checked_at: r.i64()?,
        created_at: r.i64()?,
    })
}

fn cache_entries(sql: &dyn Sql, upstream_ids: &[i64], path: &str) -> Result<Vec<CacheEntry>> {
    query_rows(
        sql,
        "SELECT upstream_id, relative_path, content_type, size, sha1, md5, sha256, sha512,
                upstream_etag, upstream_checked_at, created_at
         FROM cache_entries WHERE upstream_id IN (SELECT value FROM json_each(?)) AND relative_path = ?",
        &[serde_json::to_string(upstream_ids).unwrap_or_default().into(), path.into()],
        decode_entry,
    )
}

fn commit_entry(sql: &dyn Sql, now: i64, entry: &CacheEntry) -> Result<()> {
    let d = &entry.digests;
    sql.execute(
        "INSERT INTO cache_entries (upstream_id, relative_path, size, content_type, sha1, md5, sha256, sha512,
                blob_digest, upstream_etag, upstream_checked_at, created_at, updated_at, downloads_count)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?7, ?9, ?10, ?10, ?10, 1)
         ON CONFLICT (upstream_id, relative_path) DO UPDATE SET
            size = excluded.size, content_type = excluded.content_type, sha1 = excluded.sha1,
            md5 = excluded.md5, sha256 = excluded.sha256, sha512 = excluded.sha512,
            blob_digest = excluded.blob_digest, upstream_etag = excluded.upstream_etag,
            upstream_checked_at = excluded.upstream_checked_at, updated_at = excluded.updated_at,
            downloads_count = cache_entries.downloads_count + 1",
        &[
            entry.upstream_id.into(),
            entry.relative_path.as_str().into(),
            (d.size as i64).into(),
            entry.content_type.as_str().into(),
            d.sha1.as_str().into(),
            d.md5.as_str().into(),
            d.sha256.as_str().into(),
            d.sha512.as_str().into(),
            entry.upstream_etag.clone().into(),
            now.into(),
        ],
    )?;
    Ok(())
}

fn touch_entry(sql: &dyn Sql, entry: &CacheEntry, checked_at: Option<i64>) -> Result<()> {
    sql.execute(
        "UPDATE cache_entries SET downloads_count = downloads_count + 1,
                upstream_checked_at = COALESCE(?, upstream_checked_at)
         WHERE upstream_id = ? AND relative_path = ?",
        &[
            checked_at.into(),
            entry.upstream_id.into(),
            entry.relative_path.as_str().into(),
        ],
    )?;
    Ok(())
}

/// Fresh until `upstream_checked_at` plus the upstream's validity; a
/// validity of 0 (files only) means never stale.
fn is_fresh(upstream: &Upstream, entry: &CacheEntry, metadata: bool, now: i64) -> bool {
    let hours = if metadata {
        upstream.metadata_cache_validity_hours
    } else {
        upstream.cache_validity_hours
    };
    if hours == 0 {
        return true;
    }
    now < entry
        .upstream_checked_at
        .saturating_add(hours.saturating_mul(HOUR_MILLIS))
}

fn authorize(ctx: &Context, who: Option<&Principal>, group_id: i64) -> Result<()> {
    let group = groups::get(ctx.sql, group_id)?;
    if group.visibility == Visibility::Public {
        return Ok(());
    }
    let who = who.ok_or_else(|| CoreError::Unauthorized("401 Unauthorized".into()))?;
    if !(who.has(Scope::ReadRegistry) || who.has(Scope::WriteRegistry)) {
        return Err(CoreError::Forbidden);
    }
    if !who.reaches_group(ctx.sql, group_id)? {
        return Err(CoreError::NotFound("Registry"));
    }
    Ok(())
}

fn local_targets(sql: &dyn Sql, upstream: &Upstream) -> Result<Vec<i64>> {
    match (upstream.target_project_id, upstream.target_group_id) {
        (Some(project), _) => Ok(vec![project]),
        (None, Some(group)) => projects_in_group(sql, group),
        (None, None) => Ok(vec![]),
    }
}

/// Digests of the file a checksum asks about, when the registry knows it.
fn known_digests(ctx: &Context, links: &[Upstream], path: &MavenPath) -> Result<Option<Digests>> {
    let ids: Vec<i64> = links.iter().map(|u| u.id).collect();
    let entries = cache_entries(ctx.sql, &ids, &path.as_string())?;
    for upstream in links {
        if let Some(entry) = entries.iter().find(|e| e.upstream_id == upstream.id) {
            return Ok(Some(entry.digests.clone()));
        }
        if upstream.mode == UpstreamMode::Local {
            match find_local(ctx.sql, &local_targets(ctx.sql, upstream)?, path)? {
                Some(LocalHit::File(file)) => return Ok(Some(file.digests)),
                Some(LocalHit::Generated(bytes)) => {
                    return Ok(Some(crate::blobs::digests_of(&bytes)))
                }
                None => {}
            }
        }
    }
    Ok(None)
}

fn negative_key(upstream: &Upstream, path: &str) -> String {
    format!("maven:miss:{}:{}", upstream.id, sha256_hex(path.as_bytes()))
}

fn remembered_missing(ctx: &Context, upstream: &Upstream, path: &str) -> Result<bool> {
    let Some(until) = ctx.kv.get(&negative_key(upstream, path))? else {
        return Ok(false);
    };
    let until: i64 = String::from_utf8_lossy(&until).parse().unwrap_or(0);
    Ok(ctx.now() < until)
}

fn remember_missing(ctx: &Context, upstream: &Upstream, path: &str) -> Result<()> {
    if ctx.config.negative_cache_seconds <= 0 {
        return Ok(());
    }
    let until = ctx.now() + ctx.config.negative_cache_seconds * 1000;
    ctx.kv
        .set(&negative_key(upstream, path), until.to_string().as_bytes())?;
    Ok(())
}

pub fn serve(
    ctx: &Context,
    fetch: &dyn Fetch,
    who: Option<&Principal>,
    registry_id: i64,
    path: &MavenPath,
    head: bool,
    sink: &mut dyn ResponseSink,
) -> Result<()> {
    let registry = registries::get(ctx.sql, PackageType::Maven, registry_id)?;
    authorize(ctx, who, registry.group_id)?;
    let (linked, _) =
        upstreams::list_in_registry(ctx.sql, registry.id, upstreams::MAX_PER_REGISTRY, 0)?;
    let links: Vec<Upstream> = linked.into_iter().map(|(_, u)| u).collect();
    if let Some((base, checksum)) = path.checksum() {
        if let Some(digests) = known_digests(ctx, &links, &base)? {
            return send_digest(sink, checksum, &digests, head);
        }
    }
    let relative = path.as_string();
    let now = ctx.now();
    let blobs = BlobStore::new(ctx.kv, ctx.config.blob_chunk_bytes);
    let ids: Vec<i64> = links.iter().map(|u| u.id).collect();
    let entries = cache_entries(ctx.sql, &ids, &relative)?;
    let cached = links.iter().find_map(|u| {
        entries
            .iter()
            .find(|e| e.upstream_id == u.id)
            .map(|e| (u, e))
    });

    if let Some((upstream, entry)) = cached {
        if is_fresh(upstream, entry, path.is_metadata(), now) {
            touch_entry(ctx.sql, entry, None)?;
            return serve_entry(&blobs, sink, path, entry, head);
        }
        // Stale: ask the upstream whether it changed.
        match revalidate(ctx, fetch, upstream, path, entry) {
            Ok(true) => {
                touch_entry(ctx.sql, entry, Some(now))?;
                return serve_entry(&blobs, sink, path, entry, head);
            }
            Ok(false) => match fetch_remote(ctx, fetch, &blobs, upstream, path, head, sink) {
                Ok(Fetched::Served) => return Ok(()),
                Ok(Fetched::Missing) | Err(_) => {}
            },
            // Upstream down: the stale copy is better than nothing.
            Err(_) => return serve_entry(&blobs, sink, path, entry, head),
        }
    }

    let mut failures = Vec::new();
    for upstream in &links {
        match upstream.mode {
            UpstreamMode::Local => {
                let targets = local_targets(ctx.sql, upstream)?;
                match find_local(ctx.sql, &targets, path)? {
                    Some(LocalHit::File(file)) => {
                        return send_file(
                            &blobs,
                            sink,
                            path.file_name(),
                            &file.digests,
                            file.created_at,
                            head,
                        )
                    }
                    Some(LocalHit::Generated(bytes)) => {
                        return send_text(sink, StatusCode::OK, "application/xml", &bytes, head)
                    }
                    None => {}
                }
            }
            UpstreamMode::Remote => {
                if remembered_missing(ctx, upstream, &relative)? {
                    continue;
                }
                match fetch_remote(ctx, fetch, &blobs, upstream, path, head, sink) {
                    Ok(Fetched::Served) => return Ok(()),
                    Ok(Fetched::Missing) => remember_missing(ctx, upstream, &relative)?,
                    Err(message) => failures.push(format!("{} ({message})", upstream.name)),
                }
            }
        }
    }
    if let Some((_, entry)) = cached {
        return serve_entry(&blobs, sink, path, entry, head);
    }
    if !failures.is_empty() {
        return Err(CoreError::Upstream(format!(
            "Upstream failure: {}",
            failures.join(", ")
        )));
    }
    Err(CoreError::NotFound("File"))
}

fn serve_entry(
    blobs: &BlobStore,
    sink: &mut dyn ResponseSink,
    path: &MavenPath,
    entry: &CacheEntry,
    head: bool,
) -> Result<()> {
    send_file(
        blobs,
        sink,
        path.file_name(),
        &entry.digests,
        entry.created_at,
        head,
    )
}

enum Fetched {
    Served,
    Missing,
}

fn upstream_request(
    ctx: &Context,
    upstream: &Upstream,
    path: &MavenPath,
    method: Method,
) -> std::result::Result<FetchRequest, String> {
    let base = upstream.url.as_deref().ok_or("no URL")?;
    let url = format!("{base}/{}", path.to_url_path());
    let host = url::Url::parse(&url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    if !ctx.config.allow_local_upstreams && is_local_host(&host) {
        return Err("requests to the local network are not allowed".into());
    }
    let mut headers = vec![(
        "user-agent".to_owned(),
        format!("vreg/{}", env!("CARGO_PKG_VERSION")),
    )];
    if let (Some(user), Some(sealed)) = (&upstream.username, &upstream.password_encrypted) {
        let password = PasswordSealer::new(&ctx.config.secret_key)
            .open(sealed)
            .map_err(|e| e.to_string())?;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        headers.push(("authorization".to_owned(), format!("Basic {token}")));
    }
    Ok(FetchRequest {
        method,
        url,
        headers,
        timeout: Duration::from_secs(ctx.config.upstream_timeout_seconds),
    })
}

fn etag_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Whether a stale entry is still what the upstream has (same ETag).
fn revalidate(
    ctx: &Context,
    fetch: &dyn Fetch,
    upstream: &Upstream,
    path: &MavenPath,
    entry: &CacheEntry,
) -> std::result::Result<bool, String> {
    let Some(etag) = &entry.upstream_etag else {
        return Ok(false);
    };
    let request = upstream_request(ctx, upstream, path, Method::HEAD)?;
    let response = fetch.fetch(&request).map_err(|e| e.to_string())?;
    match response.status {
        200 => Ok(etag_of(&response.headers).as_deref() == Some(etag.as_str())),
        404 | 410 => Ok(false),
        status => Err(format!("HTTP {status}")),
    }
}

/// Fetches a file from a remote upstream, streaming it to the client while
/// storing it, then commits the cache entry.
fn fetch_remote(
    ctx: &Context,
    fetch: &dyn Fetch,
    blobs: &BlobStore,
    upstream: &Upstream,
    path: &MavenPath,
    head: bool,
    sink: &mut dyn ResponseSink,
) -> std::result::Result<Fetched, String> {
    let request = upstream_request(ctx, upstream, path, Method::GET)?;
    let mut response = fetch.fetch(&request).map_err(|e| e.to_string())?;
    match response.status {
        200 => {}
        404 | 410 => return Ok(Fetched::Missing),
        status => return Err(format!("HTTP {status}")),
    }
    let kind = response
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| content_type(path.file_name()))
        .to_owned();
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&kind) {
        headers.insert("content-type", v);
    }
    if let Some(length) = response.headers.get("content-length") {
        headers.insert("content-length", length.clone());
    }
    let etag = etag_of(&response.headers);
    // From here on the client has its status line: failures can only cut the body short.
    let digests = {
        let mut writer = sink
            .start(StatusCode::OK, &headers)
            .map_err(|e| e.to_string())?;
        let tee: Option<&mut dyn crate::io::BodyWriter> =
            if head { None } else { Some(writer.as_mut()) };
        blobs
            .put_stream(response.body.as_mut(), tee, ctx.config.max_file_bytes)
            .map_err(|e| e.to_string())?
    };
    let entry = CacheEntry {
        upstream_id: upstream.id,
        relative_path: path.as_string(),
        content_type: kind,
        digests,
        upstream_etag: etag,
        upstream_checked_at: ctx.now(),
        created_at: ctx.now(),
    };
    commit_entry(ctx.sql, ctx.now(), &entry).map_err(|e| e.to_string())?;
    Ok(Fetched::Served)
}
