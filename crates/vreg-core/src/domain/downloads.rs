//! Download counts of cached files, kept off the hot path's disk.
//!
//! A read bumps a counter in the tally store (`counters`; the shipped
//! runtime config puts it on Redis), which costs no disk sync: an atomic
//! increment in the SQLite-backed default store costs one fsync under the
//! store's single lock, and that alone held cached reads to a third of what
//! the host allows. Now and then (the sweep after traffic, and before the
//! admin API lists entries) the counters are *folded* into
//! `cache_entries.downloads_count` in one SQL statement. The store thus
//! holds only what was counted since the last fold, and losing it (a Redis
//! without persistence restarting) loses at most that.
//!
//! Counters are keyed by the minute they were counted in, so a fold can
//! delete the keys of past minutes (nothing adds to them any more) and the
//! store holds only recent keys, however many files there are.

use serde_json::json;

use crate::context::Context;
use crate::domain::cache::{CacheEntry, DOWNLOADED_AT_RESOLUTION};
use crate::error::Result;
use crate::storage::lease::{release_lease, take_lease};
use crate::storage::{Kv, Tally};

const PREFIX: &str = "downloads:";
/// The span one set of counter keys covers.
const MINUTE_MILLIS: i64 = 60 * 1000;
/// How long after its minute a key may still be added to (a count that
/// computed its key just before the minute turned): only then is a key
/// that a fold emptied deleted.
const SETTLE_MILLIS: i64 = 10 * 1000;
/// The most counters one fold takes.
const FOLD_BUDGET: usize = 2000;
/// How long one fold may hold its lease.
const FOLD_LEASE_MILLIS: i64 = 30 * 1000;

fn key(minute: i64, upstream_id: i64, path: &str) -> String {
    format!("{PREFIX}{minute}:{upstream_id}:{path}")
}

fn parse_key(key: &str) -> Option<(i64, i64, &str)> {
    let mut parts = key.strip_prefix(PREFIX)?.splitn(3, ':');
    let minute = parts.next()?.parse().ok()?;
    let upstream_id = parts.next()?.parse().ok()?;
    Some((minute, upstream_id, parts.next()?))
}

/// Counts one download of the entry at `upstream_id`/`path`. A store that
/// fails is logged, never the request's failure: the file was served.
pub fn count(ctx: &Context, upstream_id: i64, path: &str) {
    let minute = ctx.now().div_euclid(MINUTE_MILLIS);
    if let Err(e) = ctx.tally.add(&key(minute, upstream_id, path), 1) {
        eprintln!("vreg: download of {path} not counted: {e}");
    }
}

/// Counts a download of a cached entry; writes `downloaded_at` only when
/// the stored one is older than [`DOWNLOADED_AT_RESOLUTION`]. Returns
/// whether it did (the entry then carries the new time).
pub fn record_download(ctx: &Context, entry: &mut CacheEntry) -> Result<bool> {
    count(ctx, entry.upstream_id, &entry.relative_path);
    let now = ctx.now();
    if entry
        .downloaded_at
        .is_some_and(|at| now - at < DOWNLOADED_AT_RESOLUTION)
    {
        return Ok(false);
    }
    ctx.sql.execute(
        "UPDATE cache_entries SET downloaded_at = ? WHERE upstream_id = ? AND relative_path = ?",
        &[
            now.into(),
            entry.upstream_id.into(),
            entry.relative_path.as_str().into(),
        ],
    )?;
    entry.downloaded_at = Some(now);
    Ok(true)
}

/// What one fold did.
#[derive(Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Folded {
    /// Downloads taken from the tally store into SQL (those of entries
    /// removed since are dropped).
    pub downloads: i64,
    /// Counter keys deleted (emptied, and their minute long past).
    pub keys_deleted: i64,
}

/// Moves the counted downloads into SQL. One fold at a time (a lease): two
/// at once would both add what they read. A counter is emptied by
/// subtracting what was read, so counts added meanwhile are kept for the
/// next fold. `None` when another fold holds the lease.
pub fn fold(ctx: &Context) -> Result<Option<Folded>> {
    let Some(holder) = take_lease(ctx.kv, "downloads:fold", ctx.now(), FOLD_LEASE_MILLIS)? else {
        return Ok(None);
    };
    let folded = fold_counters(ctx.tally, ctx, ctx.now());
    release_lease(ctx.kv, "downloads:fold", &holder)?;
    folded.map(Some)
}

fn fold_counters(tally: &dyn Tally, ctx: &Context, now: i64) -> Result<Folded> {
    let settled = |minute: i64| (minute + 1) * MINUTE_MILLIS + SETTLE_MILLIS <= now;
    let mut counted = Vec::new();
    let mut folded = Folded::default();
    // Counters only, then the budget: a store shared with other keys
    // (Spin's Redis store lists the whole database) cannot crowd them out.
    let keys = tally.keys()?;
    let counters = keys
        .iter()
        .filter_map(|key| Some((key, parse_key(key)?)))
        .take(FOLD_BUDGET);
    for (key, (minute, upstream_id, path)) in counters {
        let value = tally.add(key, 0)?;
        if value == 0 {
            if settled(minute) {
                tally.delete(key)?;
                folded.keys_deleted += 1;
            }
            continue;
        }
        counted.push((key.clone(), value, json!([upstream_id, path, value])));
    }
    if counted.is_empty() {
        return Ok(folded);
    }
    let rows: Vec<_> = counted.iter().map(|(_, _, row)| row).collect();
    ctx.sql.execute(
        "UPDATE cache_entries SET downloads_count = downloads_count + d.n
         FROM (SELECT json_extract(value, '$[0]') AS upstream_id,
                      json_extract(value, '$[1]') AS path,
                      SUM(json_extract(value, '$[2]')) AS n
               FROM json_each(?) GROUP BY 1, 2) AS d
         WHERE cache_entries.upstream_id = d.upstream_id AND cache_entries.relative_path = d.path",
        &[serde_json::to_string(&rows).unwrap_or_default().into()],
    )?;
    // Counted in SQL now: take exactly that much off (a crash before this
    // counts it twice; never loses it).
    for (key, value, _) in &counted {
        let left = tally.add(key, -value)?;
        folded.downloads += value;
        if left == 0 && parse_key(key).is_some_and(|(minute, _, _)| settled(minute)) {
            tally.delete(key)?;
            folded.keys_deleted += 1;
        }
    }
    Ok(folded)
}

/// The download count the admin API shows (after a [`fold`]): what SQL
/// holds, plus what the current and previous minutes still hold, plus a counter from before
/// counts moved to the tally store (kept in the default store).
pub fn shown_count(ctx: &Context, entry: &CacheEntry, stored_count: i64) -> Result<i64> {
    let minute = ctx.now().div_euclid(MINUTE_MILLIS);
    // Read as a counter only where there is one: an increment of 0 writes
    // an absent key (a commit in Spin's SQLite store, a key for good on
    // Redis), once for every entry listed.
    let legacy = legacy_key(entry);
    let legacy = match ctx.kv.get(&legacy)? {
        Some(_) => ctx.kv.increment(&legacy, 0)?,
        None => 0,
    };
    let mut total = stored_count + legacy;
    for m in [minute - 1, minute] {
        // The tally store down costs the latest counts, not the listing.
        let key = key(m, entry.upstream_id, &entry.relative_path);
        total += ctx.tally.add(&key, 0).unwrap_or(0);
    }
    Ok(total)
}

fn legacy_key(entry: &CacheEntry) -> String {
    legacy_key_of(entry.upstream_id, &entry.relative_path)
}

fn legacy_key_of(upstream_id: i64, path: &str) -> String {
    use crate::crypto::sha256_hex;
    format!("downloads:{upstream_id}:{}", sha256_hex(path.as_bytes()))
}

/// Drops the pre-tally counter of a removed entry.
pub fn forget_legacy(kv: &dyn Kv, upstream_id: i64, path: &str) -> Result<()> {
    kv.delete(&legacy_key_of(upstream_id, path))?;
    Ok(())
}
