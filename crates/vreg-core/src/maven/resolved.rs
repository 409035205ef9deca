//! Resolved reads: what an anonymous read of a public registry resolved to
//! (a fresh cache entry), kept in the key-value store so the next such read
//! is served with no SQL at all. A record is trusted only while the
//! configuration generation it was made under is current (every admin
//! write and every upload moves it on) and while the entry is fresh;
//! anything else goes the full way, which writes a new record. Records also
//! expire within [`MAX_AGE_MILLIS`], so even a change whose generation bump
//! failed is seen within that time.
//!
//! A small file (poms, checksums, metadata: most of what a build asks for)
//! is kept in its record, so such a read is one batch get of the record and
//! the generation, and nothing else.

use serde::{Deserialize, Serialize};

use crate::context::Context;
use crate::domain::cache::CacheEntry;
use crate::error::Result;
use crate::storage::blobs::{BlobStore, Digests};
use crate::storage::{expiring, generation};

/// The longest a record is kept, whatever the entry's freshness.
pub const MAX_AGE_MILLIS: i64 = 60 * 1000;
/// Files up to this size are kept in their record.
pub const INLINE_MAX_BYTES: u64 = 8 * 1024;

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

/// What a public registry's `path` resolved to, if that still holds: the
/// cache entry and, for a small file, its bytes.
pub struct Resolved {
    pub entry: CacheEntry,
    pub bytes: Option<Vec<u8>>,
}

/// A record is stored as `<expiry>\n<record JSON>\n<file bytes, if kept>`
/// (JSON text never holds a raw newline).
pub fn lookup(ctx: &Context, registry_id: i64, path: &str) -> Result<Option<Resolved>> {
    let key = key(registry_id, path);
    let [stored, current] = <[_; 2]>::try_from(ctx.kv.get_many(&[&key, generation::KEY])?)
        .map_err(|_| crate::storage::StoreError::Other("get_many: wrong count".into()))?;
    let Some(stored) = stored else {
        return Ok(None);
    };
    let Some((expires_at, value)) = expiring::decode(&stored) else {
        return Ok(None);
    };
    if expires_at <= ctx.now() {
        return Ok(None);
    }
    let (json, bytes) = match value.iter().position(|b| *b == b'\n') {
        Some(at) => (&value[..at], Some(&value[at + 1..])),
        None => (value, None),
    };
    let Ok(record) = serde_json::from_slice::<Record>(json) else {
        return Ok(None);
    };
    if record.generation != generation::from_stored(current.as_deref()) {
        return Ok(None);
    }
    let bytes = bytes.map(<[u8]>::to_vec);
    if bytes
        .as_ref()
        .is_some_and(|b| b.len() as u64 != record.digests.size)
    {
        return Ok(None);
    }
    Ok(Some(Resolved {
        entry: CacheEntry {
            upstream_id: record.upstream_id,
            relative_path: path.to_owned(),
            content_type: record.content_type,
            digests: record.digests,
            upstream_etag: record.upstream_etag,
            upstream_checked_at: record.upstream_checked_at,
            created_at: record.created_at,
            downloaded_at: record.downloaded_at,
        },
        bytes,
    }))
}

/// Remembers that a public registry's `path` resolved to `entry`, fresh
/// until `fresh_until`, under `generation` (read before resolving, so a
/// change made meanwhile makes the record stale at once).
pub fn remember(
    ctx: &Context,
    blobs: &BlobStore,
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
    let mut bytes = serde_json::to_vec(&record).unwrap_or_default();
    if entry.digests.size <= INLINE_MAX_BYTES {
        bytes.push(b'\n');
        bytes.extend(blobs.read_bytes(&entry.digests.sha256)?);
    }
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
