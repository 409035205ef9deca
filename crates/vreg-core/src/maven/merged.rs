//! Artifact-level `maven-metadata.xml` through a virtual registry, merged:
//! the union of the versions every upstream that answers lists (a local
//! upstream's generated document, a remote one's cached or fetched copy),
//! in Maven's order, with `latest`, `release` and `lastUpdated` recomputed
//! — so version ranges, `LATEST`/`RELEASE` and update reports see versions
//! that only a later upstream has. One answering upstream's document is
//! served as it is. The merge is recomputed from the upstreams' copies
//! (each cached for its metadata validity), so the same copies always give
//! the same bytes, and a checksum asked next is of those bytes. Each
//! document comes with the time until which it holds (see [`Merged`]), so
//! that the merge can be recorded for the next read for no longer.
//! Version-level (SNAPSHOT) metadata is not merged: see the README.

use super::path::MavenPath;
use super::remote::{fetch_remote, remember_missing, remembered_missing, Fetched};
use super::virtual_registry::{fresh_until, local_targets};
use super::{find_local, metadata, LocalHit};
use crate::context::Context;
use crate::domain::auth::Principal;
use crate::domain::cache::{cache_entries, CacheEntry};
use crate::domain::model::UpstreamMode;
use crate::domain::upstreams::{health, Upstream};
use crate::error::Result;
use crate::http::body::DiscardedResponse;
use crate::storage::blobs::BlobStore;

/// A merged document, and until when every upstream's part of it holds:
/// the earliest time a remote's copy goes stale or its remembered 404
/// ends (a local upstream's part changes only with an upload, which moves
/// the generation on). A part that could not be asked for (the upstream
/// failed, or is set aside) holds for no time.
pub(super) struct Merged {
    pub(super) bytes: Vec<u8>,
    pub(super) holds_until: i64,
}

/// The merged document for `path` (artifact-level metadata of
/// `group_id:artifact_id`), or `None` when no upstream has one.
pub(super) fn merged_metadata(
    ctx: &Context,
    who: Option<&Principal>,
    links: &[Upstream],
    path: &MavenPath,
    group_id: &str,
    artifact_id: &str,
) -> Result<Option<Merged>> {
    let blobs = BlobStore::new(ctx.kv, ctx.config.blob_chunk_bytes);
    let mut documents = Vec::new();
    let mut holds_until = i64::MAX;
    for upstream in links {
        let (document, until) = metadata_of(ctx, who, &blobs, upstream, path)?;
        holds_until = holds_until.min(until);
        documents.extend(document);
    }
    let bytes = if documents.len() <= 1 {
        documents.pop()
    } else {
        let versions: Vec<(String, i64)> = documents
            .iter()
            .flat_map(|d| metadata::parse_versions(&String::from_utf8_lossy(d)))
            .collect();
        metadata::artifact_metadata(group_id, artifact_id, &versions).map(String::into_bytes)
    };
    Ok(bytes.map(|bytes| Merged { bytes, holds_until }))
}

/// One upstream's document, and until when it holds: a local upstream's
/// generated one; a remote one's fresh cached copy, else fetched (and
/// cached), else the stale copy when it fails. An upstream that fails or
/// lacks it adds nothing.
fn metadata_of(
    ctx: &Context,
    who: Option<&Principal>,
    blobs: &BlobStore,
    upstream: &Upstream,
    path: &MavenPath,
) -> Result<(Option<Vec<u8>>, i64)> {
    if upstream.mode == UpstreamMode::Local {
        let targets = local_targets(ctx.sql, who, upstream)?;
        let document = match find_local(ctx.sql, &targets, path)? {
            Some(LocalHit::Generated(bytes)) => Some(bytes),
            _ => None,
        };
        return Ok((document, i64::MAX));
    }
    let now = ctx.now();
    let relative = path.as_string();
    let read = |entry: Option<CacheEntry>, until: i64| -> Result<(Option<Vec<u8>>, i64)> {
        let document = entry
            .map(|e| blobs.read_bytes(&e.digests.sha256))
            .transpose()?;
        Ok((document, until))
    };
    let entry = cache_entries(ctx.sql, &[upstream.id], &relative)?.pop();
    let stale_at = entry.as_ref().map(|e| fresh_until(upstream, e, true));
    if let Some(stale_at) = stale_at.filter(|at| now < *at) {
        return read(entry, stale_at);
    }
    if let Some(missing_until) = remembered_missing(ctx, upstream, &relative)? {
        return read(entry, missing_until);
    }
    if health::may_ask(ctx.kv, upstream.id, now).is_err() {
        return read(entry, now);
    }
    let mut fetched = DiscardedResponse::default();
    match fetch_remote(ctx, blobs, upstream, path, false, &mut fetched) {
        // Now in the cache.
        Ok(Fetched::Served) => {
            let entry = cache_entries(ctx.sql, &[upstream.id], &relative)?.pop();
            let until = entry
                .as_ref()
                .map_or(now, |e| fresh_until(upstream, e, true));
            read(entry, until)
        }
        Ok(Fetched::Missing) => {
            let until = remember_missing(ctx, upstream, &relative)?;
            Ok((None, until.unwrap_or(now)))
        }
        // The upstream failed: its stale copy, if any.
        Err(_) => read(entry, now),
    }
}
