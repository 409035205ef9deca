//! Remote upstreams: fetching a file (streamed to the client while it is
//! stored), revalidating a stale copy by ETag, and remembering 404s for a
//! while (the negative cache).

use http::{HeaderMap, HeaderValue, Method, StatusCode};

use super::path::{content_type, MavenPath};
use crate::context::Context;
use crate::crypto::sha256_hex;
use crate::domain::cache::{commit_entry, CacheEntry};
use crate::domain::downloads;
use crate::domain::upstreams::{self, health, Upstream};
use crate::error::{CoreError, Result};
use crate::http::body::ResponseSink;
use crate::http::fetch::FetchResponse;
use crate::storage::blobs::BlobStore;
use crate::storage::expiring;

fn negative_key(upstream: &Upstream, path: &str) -> String {
    format!("maven:miss:{}:{}", upstream.id, sha256_hex(path.as_bytes()))
}

/// The negative cache: 404s of remote upstreams, folded (see
/// [`expiring::mark`]) so that made-up paths cannot grow the store.
const MISSING: &str = "maven:missing";

/// Until when the upstream's 404 for `path` is remembered, if it is.
pub(super) fn remembered_missing(
    ctx: &Context,
    upstream: &Upstream,
    path: &str,
) -> Result<Option<i64>> {
    expiring::marked_until(ctx.kv, MISSING, &negative_key(upstream, path), ctx.now())
}

/// Remembers the upstream's 404 for `path`; until when, if it does.
pub(super) fn remember_missing(
    ctx: &Context,
    upstream: &Upstream,
    path: &str,
) -> Result<Option<i64>> {
    if ctx.config.negative_cache_seconds <= 0 {
        return Ok(None);
    }
    let (now, ttl) = (ctx.now(), ctx.config.negative_cache_seconds * 1000);
    expiring::mark(ctx.kv, MISSING, &negative_key(upstream, path), now, ttl)?;
    Ok(Some(now.saturating_add(ttl)))
}

pub(super) enum Fetched {
    Served,
    Missing,
}

fn etag_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Whether a stale entry is still what the upstream has (same ETag).
pub(super) fn revalidate(
    ctx: &Context,
    upstream: &Upstream,
    path: &MavenPath,
    entry: &CacheEntry,
) -> std::result::Result<bool, String> {
    let Some(etag) = &entry.upstream_etag else {
        return Ok(false);
    };
    let request =
        upstreams::fetch_request(ctx.config, upstream, &path.to_url_path(), Method::HEAD)?;
    let response = ctx.fetch.fetch(&request).map_err(|e| e.to_string())?;
    match response.status {
        200 => Ok(etag_of(&response.headers).as_deref() == Some(etag.as_str())),
        404 | 410 => Ok(false),
        status => Err(format!("HTTP {status}")),
    }
}

/// Fetches a file from one remote upstream (refetching a stale entry).
pub(super) fn fetch_remote(
    ctx: &Context,
    blobs: &BlobStore,
    upstream: &Upstream,
    path: &MavenPath,
    head: bool,
    sink: &mut dyn ResponseSink,
) -> std::result::Result<Fetched, String> {
    let request = upstreams::fetch_request(ctx.config, upstream, &path.to_url_path(), Method::GET)?;
    let response = ctx.fetch.fetch(&request).map_err(|e| e.to_string())?;
    match response.status {
        200 => store_response(ctx, blobs, upstream, path, response, head, sink)
            .map(|()| Fetched::Served),
        404 | 410 => Ok(Fetched::Missing),
        status => Err(format!("HTTP {status}")),
    }
}

/// What a probe (HEAD) of one candidate said.
#[derive(Clone, Copy)]
enum Probe {
    /// 200: it has the file.
    Has,
    /// No usable answer to a HEAD (e.g. 405): only a GET can tell.
    Unknown,
    /// 404/410, a 5xx or no answer: not asked again this time.
    Out,
}

/// A remote upstream that may be asked, with its health as read when that
/// was decided (see [`health::may_ask`]).
pub(super) struct Candidate<'u> {
    pub(super) upstream: &'u Upstream,
    pub(super) health: health::Health,
}

/// Serves the file from the first of `candidates` (remote upstreams, in
/// position order) that has it. Two or more are probed at once with HEAD
/// and only the best one that has the file is sent a GET, so a large file
/// is downloaded once (GETs to all of them would cost a download each,
/// less whatever the losers' dropped bodies saved). One candidate is sent
/// its GET at once. Failures are added to `failures`; whether it served.
pub(super) fn fetch_first(
    ctx: &Context,
    blobs: &BlobStore,
    candidates: &[Candidate],
    path: &MavenPath,
    head: bool,
    sink: &mut dyn ResponseSink,
    failures: &mut Vec<String>,
) -> crate::error::Result<bool> {
    let probes = if candidates.len() > 1 {
        probe(ctx, candidates, path, failures)?
    } else {
        vec![Probe::Unknown; candidates.len()]
    };
    for (Candidate { upstream, health }, probed) in candidates.iter().zip(probes) {
        if matches!(probed, Probe::Out) {
            continue;
        }
        let candidate = *upstream;
        let outcome =
            upstreams::fetch_request(ctx.config, candidate, &path.to_url_path(), Method::GET)
                .and_then(|request| ctx.fetch.fetch(&request).map_err(|e| e.to_string()));
        let answered = outcome.as_ref().map(|r| r.status).map_err(Clone::clone);
        health::record(ctx.kv, candidate.id, ctx.now(), Some(health), answered);
        match outcome {
            Ok(response) if response.status == 200 => {
                store_response(ctx, blobs, candidate, path, response, head, sink).map_err(
                    |message| {
                        CoreError::Upstream(format!(
                            "Upstream failure: {} ({message})",
                            candidate.name
                        ))
                    },
                )?;
                return Ok(true);
            }
            Ok(response) if matches!(response.status, 404 | 410) => {
                remember_missing(ctx, candidate, &path.as_string())?;
            }
            Ok(response) => failures.push(format!("{} (HTTP {})", candidate.name, response.status)),
            Err(e) => failures.push(format!("{} ({e})", candidate.name)),
        }
    }
    Ok(false)
}

/// HEADs every candidate at once; what each said, in order.
fn probe(
    ctx: &Context,
    candidates: &[Candidate],
    path: &MavenPath,
    failures: &mut Vec<String>,
) -> crate::error::Result<Vec<Probe>> {
    let mut requests = Vec::new();
    let mut built = Vec::new();
    for Candidate {
        upstream: candidate,
        ..
    } in candidates
    {
        match upstreams::fetch_request(ctx.config, candidate, &path.to_url_path(), Method::HEAD) {
            Ok(request) => {
                requests.push(request);
                built.push(true);
            }
            Err(message) => {
                failures.push(format!("{} ({message})", candidate.name));
                built.push(false);
            }
        }
    }
    let mut answers = ctx.fetch.fetch_all(&requests).into_iter();
    let mut probes = Vec::new();
    for (Candidate { upstream, health }, built) in candidates.iter().zip(built) {
        let candidate = *upstream;
        let Some(outcome) = built.then(|| answers.next()).flatten() else {
            probes.push(Probe::Out);
            continue;
        };
        let answered = outcome
            .as_ref()
            .map(|r| r.status)
            .map_err(|e| e.to_string());
        health::record(ctx.kv, candidate.id, ctx.now(), Some(health), answered);
        probes.push(match outcome {
            Ok(response) if response.status == 200 => Probe::Has,
            Ok(response) if matches!(response.status, 404 | 410) => {
                remember_missing(ctx, candidate, &path.as_string())?;
                Probe::Out
            }
            Ok(response) if response.status >= 500 => {
                failures.push(format!("{} (HTTP {})", candidate.name, response.status));
                Probe::Out
            }
            Ok(_) => Probe::Unknown,
            Err(e) => {
                failures.push(format!("{} ({e})", candidate.name));
                Probe::Out
            }
        });
    }
    Ok(probes)
}

/// Streams an upstream's 200 response to the client while storing it, then
/// commits the cache entry.
pub(super) fn store_response(
    ctx: &Context,
    blobs: &BlobStore,
    upstream: &Upstream,
    path: &MavenPath,
    mut response: FetchResponse,
    head: bool,
    sink: &mut dyn ResponseSink,
) -> std::result::Result<(), String> {
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
        let tee: Option<&mut dyn crate::http::body::BodyWriter> =
            if head { None } else { Some(writer.as_mut()) };
        blobs
            .put_stream(
                &ctx.write_records(),
                response.body.as_mut(),
                tee,
                ctx.config.max_file_bytes,
            )
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
        downloaded_at: Some(ctx.now()),
    };
    commit_entry(ctx.sql, ctx.now(), &entry).map_err(|e| e.to_string())?;
    if sink.reaches_client() {
        downloads::count(ctx, upstream.id, &entry.relative_path);
    }
    Ok(())
}
