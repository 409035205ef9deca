//! Resolved reads: what an anonymous read of a public registry resolved to
//! (a stored file, and what the registry needs to serve it), kept in the
//! key-value store so the next such read is served with no SQL at all.
//! Maven keeps the cache entry a path resolved to, Go the synced file a
//! module version's file resolved to; both go through here.
//!
//! A record is trusted only while the configuration generation it was made
//! under is current (every admin write and every upload moves it on), and
//! for at most [`MAX_AGE_MILLIS`], so even a change whose generation bump
//! failed is seen within that time. A file of up to [`INLINE_MAX_BYTES`]
//! (poms, checksums, `.info`, `.mod`: most of what a build asks for) is
//! kept in its record, so such a read is one batch get (the record and the
//! generation) and nothing else.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::context::Context;
use crate::error::Result;
use crate::storage::blobs::{BlobStore, Digests};
use crate::storage::{expiring, generation, StoreError};

/// The longest a record is kept, whatever the file's freshness.
pub const MAX_AGE_MILLIS: i64 = 60 * 1000;
/// Files up to this size are kept in their record.
pub const INLINE_MAX_BYTES: u64 = 8 * 1024;

#[derive(Serialize, Deserialize)]
struct Record<T> {
    generation: u64,
    digests: Digests,
    meta: T,
}

/// A resolved read: the file's digests, what the registry kept with them,
/// and the file itself when it is small.
pub struct Resolved<T> {
    pub digests: Digests,
    pub meta: T,
    pub bytes: Option<Vec<u8>>,
}

/// The record at `key`, if it is still to be trusted. Stored as
/// `<expiry>\n<record JSON>\n<file bytes, if kept>` (JSON text never holds
/// a raw newline).
pub fn lookup<T: DeserializeOwned>(ctx: &Context, key: &str) -> Result<Option<Resolved<T>>> {
    let [stored, current] = <[_; 2]>::try_from(ctx.kv.get_many(&[key, generation::KEY])?)
        .map_err(|_| StoreError::Other("get_many answered a different count".into()))?;
    Ok(decode(
        ctx,
        stored.as_deref(),
        generation::from_stored(current.as_deref()),
    ))
}

/// The record `stored` (fetched by the caller, with the generation, in a
/// batch of its own), if it is still to be trusted under `current`.
pub fn decode<T: DeserializeOwned>(
    ctx: &Context,
    stored: Option<&[u8]>,
    current: u64,
) -> Option<Resolved<T>> {
    let value = expiring::live(stored?, ctx.now())?;
    let (json, bytes) = match value.iter().position(|b| *b == b'\n') {
        Some(at) => (&value[..at], Some(&value[at + 1..])),
        None => (value, None),
    };
    let record = serde_json::from_slice::<Record<T>>(json).ok()?;
    let whole = bytes.is_none_or(|b| b.len() as u64 == record.digests.size);
    if record.generation != current || !whole {
        return None;
    }
    Some(Resolved {
        digests: record.digests,
        meta: record.meta,
        bytes: bytes.map(<[u8]>::to_vec),
    })
}

/// Keeps at `key` that a read resolved to the file `digests` (with `meta`),
/// under `generation` (read before resolving, so a change made meanwhile
/// makes the record stale at once), trusted until `fresh_until`.
pub fn remember<T: Serialize>(
    ctx: &Context,
    blobs: &BlobStore,
    key: &str,
    generation: u64,
    (digests, meta): (&Digests, T),
    fresh_until: i64,
) -> Result<()> {
    let ttl = fresh_until.saturating_sub(ctx.now()).min(MAX_AGE_MILLIS);
    if ttl <= 0 {
        return Ok(());
    }
    let record = Record {
        generation,
        digests: digests.clone(),
        meta,
    };
    let mut stored = serde_json::to_vec(&record).unwrap_or_default();
    if digests.size <= INLINE_MAX_BYTES {
        stored.push(b'\n');
        stored.extend(blobs.read_bytes(&digests.sha256)?);
    }
    expiring::set(ctx.kv, key, &stored, ctx.now(), ttl)
}
