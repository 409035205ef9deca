//! Resolved reads: what an anonymous read of a public registry resolved to
//! (a fresh cache entry), kept in the key-value store so the next such read
//! is served with no SQL at all. A record is trusted only while the
//! configuration generation it was made under is current (every admin
//! write and every upload moves it on) and while the entry is fresh;
//! anything else goes the full way, which writes a new record. Records also
//! expire within [`MAX_AGE_MILLIS`], so even a change whose generation bump
//! failed is seen within that time.

use serde::{Deserialize, Serialize};

use crate::context::Context;
use crate::domain::cache::CacheEntry;
use crate::error::Result;
use crate::storage::blobs::Digests;
use crate::storage::{expiring, generation};

/// The longest a record is kept, whatever the entry's freshness.
pub const MAX_AGE_MILLIS: i64 = 60 * 1000;

#[derive(Serialize, Deserialize)]
struct Record {
    generation: u64,
    upstream_id: i64,
    content_type: String,
    digests: Digests,
    upstream_etag: Option<String>,
    upstream_checked_at: i64,
    created_at: i64,
    downloaded_at: Option<i64>,
}

use crate::domain::cache::resolved_key as key;

/// The cache entry a public registry's `path` resolved to, if that still
/// holds.
pub fn lookup(ctx: &Context, registry_id: i64, path: &str) -> Result<Option<CacheEntry>> {
    let Some(stored) = expiring::get(ctx.kv, &key(registry_id, path), ctx.now())? else {
        return Ok(None);
    };
    let Ok(record) = serde_json::from_slice::<Record>(&stored) else {
        return Ok(None);
    };
    if record.generation != generation::current(ctx.kv)? {
        return Ok(None);
    }
    Ok(Some(CacheEntry {
        upstream_id: record.upstream_id,
        relative_path: path.to_owned(),
        content_type: record.content_type,
        digests: record.digests,
        upstream_etag: record.upstream_etag,
        upstream_checked_at: record.upstream_checked_at,
        created_at: record.created_at,
        downloaded_at: record.downloaded_at,
    }))
}

/// Remembers that a public registry's `path` resolved to `entry`, fresh
/// until `fresh_until`, under `generation` (read before resolving, so a
/// change made meanwhile makes the record stale at once).
pub fn remember(
    ctx: &Context,
    (registry_id, generation): (i64, u64),
    entry: &CacheEntry,
    fresh_until: i64,
) -> Result<()> {
    let record = Record {
        generation,
        upstream_id: entry.upstream_id,
        content_type: entry.content_type.clone(),
        digests: entry.digests.clone(),
        upstream_etag: entry.upstream_etag.clone(),
        upstream_checked_at: entry.upstream_checked_at,
        created_at: entry.created_at,
        downloaded_at: entry.downloaded_at,
    };
    let ttl = fresh_until.saturating_sub(ctx.now()).min(MAX_AGE_MILLIS);
    if ttl <= 0 {
        return Ok(());
    }
    let bytes = serde_json::to_vec(&record).unwrap_or_default();
    expiring::set(
        ctx.kv,
        &key(registry_id, &entry.relative_path),
        &bytes,
        ctx.now(),
        ttl,
    )
}

/// Drops the record (its entry changed in SQL).
pub fn forget(ctx: &Context, registry_id: i64, path: &str) -> Result<()> {
    ctx.kv.delete(&key(registry_id, path))?;
    Ok(())
}
