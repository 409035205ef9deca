//! Maven's resolved reads (see [`crate::domain::resolved`]): what a public
//! registry's path resolved to is the cache entry that served it.

use serde::{Deserialize, Serialize};

use crate::context::Context;
use crate::domain::cache::{resolved_key as key, CacheEntry};
use crate::domain::resolved::{self, Resolved};
use crate::error::Result;
use crate::storage::blobs::BlobStore;

/// What a record keeps of the cache entry besides its digests.
#[derive(Serialize, Deserialize)]
struct Kept {
    upstream_id: i64,
    content_type: String,
    upstream_etag: Option<String>,
    upstream_checked_at: i64,
    created_at: i64,
    downloaded_at: Option<i64>,
}

/// A cache entry found through its record.
pub struct Found<'a> {
    pub entry: CacheEntry,
    pub content: Content<'a>,
}

/// Where a found file's bytes are.
pub enum Content<'a> {
    /// In the record: the file is small.
    Kept(Vec<u8>),
    /// In the blob store.
    Stored(BlobStore<'a>),
}

/// The cache entry a public registry's `path` resolved to, if that still
/// holds.
pub fn lookup<'a>(ctx: &Context<'a>, registry_id: i64, path: &str) -> Result<Option<Found<'a>>> {
    let Some(mut found) = resolved::lookup::<Kept>(ctx, &key(registry_id, path))? else {
        return Ok(None);
    };
    let content = match found.bytes.take() {
        Some(bytes) => Content::Kept(bytes),
        None => Content::Stored(found.blobs(ctx)),
    };
    let Resolved { digests, meta, .. } = found;
    let entry = CacheEntry {
        upstream_id: meta.upstream_id,
        relative_path: path.to_owned(),
        content_type: meta.content_type,
        digests,
        upstream_etag: meta.upstream_etag,
        upstream_checked_at: meta.upstream_checked_at,
        created_at: meta.created_at,
        downloaded_at: meta.downloaded_at,
    };
    Ok(Some(Found { entry, content }))
}

/// Remembers that a public registry's `path` resolved to `entry`, fresh
/// until `fresh_until`, under `generation`.
pub fn remember(
    ctx: &Context,
    blobs: &BlobStore,
    (registry_id, generation): (i64, u64),
    entry: &CacheEntry,
    fresh_until: i64,
) -> Result<()> {
    let kept = Kept {
        upstream_id: entry.upstream_id,
        content_type: entry.content_type.clone(),
        upstream_etag: entry.upstream_etag.clone(),
        upstream_checked_at: entry.upstream_checked_at,
        created_at: entry.created_at,
        downloaded_at: entry.downloaded_at,
    };
    let key = key(registry_id, &entry.relative_path);
    resolved::remember(
        ctx,
        blobs,
        &key,
        generation,
        (&entry.digests, kept),
        fresh_until,
    )
}

/// Drops the record (its entry changed in SQL).
pub fn forget(ctx: &Context, registry_id: i64, path: &str) -> Result<()> {
    ctx.kv.delete(&key(registry_id, path))?;
    Ok(())
}
