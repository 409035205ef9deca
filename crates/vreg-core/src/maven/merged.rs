//! Artifact-level `maven-metadata.xml` through a virtual registry, merged:
//! the union of the versions every upstream that answers lists (a local
//! upstream's generated document, a remote one's cached or fetched copy),
//! in Maven's order, with `latest`, `release` and `lastUpdated` recomputed
//! — so version ranges, `LATEST`/`RELEASE` and update reports see versions
//! that only a later upstream has. One answering upstream's document is
//! served as it is. The merge is recomputed from the upstreams' copies
//! (each cached for its metadata validity), so the same copies always give
//! the same bytes, and a checksum asked next is of those bytes.
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

/// The merged document for `path` (artifact-level metadata of
/// `group_id:artifact_id`), or `None` when no upstream has one.
pub(super) fn merged_metadata(
    ctx: &Context,
    who: Option<&Principal>,
    links: &[Upstream],
    path: &MavenPath,
    group_id: &str,
    artifact_id: &str,
) -> Result<Option<Vec<u8>>> {
    let blobs = BlobStore::new(ctx.kv, ctx.config.blob_chunk_bytes);
    let mut documents = Vec::new();
    for upstream in links {
        if let Some(document) = metadata_of(ctx, who, &blobs, upstream, path)? {
            documents.push(document);
        }
    }
    if documents.len() <= 1 {
        return Ok(documents.pop());
    }
    let versions: Vec<(String, i64)> = documents
        .iter()
        .flat_map(|d| metadata::parse_versions(&String::from_utf8_lossy(d)))
        .collect();
    Ok(metadata::artifact_metadata(group_id, artifact_id, &versions).map(String::into_bytes))
}

/// One upstream's document: a local upstream's generated one; a remote
/// one's fresh cached copy, else fetched (and cached), else the stale copy
/// when it fails. An upstream that fails or lacks it adds nothing.
fn metadata_of(
    ctx: &Context,
    who: Option<&Principal>,
    blobs: &BlobStore,
    upstream: &Upstream,
    path: &MavenPath,
) -> Result<Option<Vec<u8>>> {
    if upstream.mode == UpstreamMode::Local {
        let targets = local_targets(ctx.sql, who, upstream)?;
        return Ok(match find_local(ctx.sql, &targets, path)? {
            Some(LocalHit::Generated(bytes)) => Some(bytes),
            _ => None,
        });
    }
    let relative = path.as_string();
    let read = |entry: Option<CacheEntry>| -> Result<Option<Vec<u8>>> {
        entry
            .map(|e| blobs.read_bytes(&e.digests.sha256))
            .transpose()
    };
    let entry = cache_entries(ctx.sql, &[upstream.id], &relative)?.pop();
    let fresh = entry
        .as_ref()
        .is_some_and(|e| ctx.now() < fresh_until(upstream, e, true));
    if fresh
        || remembered_missing(ctx, upstream, &relative)?
        || health::may_ask(ctx.kv, upstream.id, ctx.now()).is_err()
    {
        return read(entry);
    }
    let mut fetched = DiscardedResponse::default();
    match fetch_remote(ctx, blobs, upstream, path, false, &mut fetched) {
        // Now in the cache.
        Ok(Fetched::Served) => read(cache_entries(ctx.sql, &[upstream.id], &relative)?.pop()),
        Ok(Fetched::Missing) => {
            remember_missing(ctx, upstream, &relative)?;
            Ok(None)
        }
        // The upstream failed: its stale copy, if any.
        Err(_) => read(entry),
    }
}
