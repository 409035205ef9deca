//! Garbage collection of blobs, incremental and safe under concurrency.
//!
//! A blob is garbage once no package file, cache entry or cached checksum
//! database answer references it.
//! The collector works in bounded slices (a request's worth), resumable:
//! 1. blobs left `doomed` by an earlier slice are deleted first;
//! 2. a window of live blobs (a cursor moves through them) is checked, and
//!    those without references are marked orphaned (`orphaned_at`); a
//!    blob referenced again is unmarked, by the window and at once by the
//!    referencing row's commit (schema triggers, version 10), since a slice
//!    may mark a blob between its writer's claim and that commit;
//! 3. blobs orphaned and unclaimed for the grace period are doomed (one SQL
//!    statement, re-checking references) and deleted: chunks, then manifest,
//!    then the row. The grace period lets a download that found the blob
//!    before its reference went away finish, and a writer that claimed it
//!    commit its reference (see [`super::blob_records`]);
//! 4. writes not touched for the grace period were abandoned: their chunks
//!    are deleted, unless a manifest adopted them.
//!
//! Chunks of blobs written before blobs were tracked are content-addressed
//! and may be shared; for those only the manifest is deleted.

use serde::Serialize;

use super::blobs::{chunk_prefix, manifest_key, BlobStore, Manifest};
use super::{transaction, Kv, Sql, Value};
use crate::error::Result;

/// A blob's references, for `NOT EXISTS`/`EXISTS` on `b.sha256`.
const REFERENCED: &str = "(EXISTS (SELECT 1 FROM package_files f WHERE f.blob_digest = b.sha256) \
     OR EXISTS (SELECT 1 FROM cache_entries c WHERE c.blob_digest = b.sha256) \
     OR EXISTS (SELECT 1 FROM sumdb_entries s WHERE s.blob_digest = b.sha256))";

/// How many live blobs one slice checks for references, per blob it may delete.
const WINDOW_PER_BUDGET: i64 = 10;
const CURSOR_KEY: &str = "storage:gc:cursor";

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct GcReport {
    /// Live blobs checked for references in this slice.
    pub examined_blobs: i64,
    pub examined_bytes: i64,
    pub freed_blobs: i64,
    pub freed_chunks: i64,
    pub freed_bytes: i64,
    /// Abandoned writes whose chunks were deleted.
    pub abandoned_writes: i64,
    /// Chunks of blobs written before tracking, left in place (possibly shared).
    pub kept_shared_chunks: i64,
    pub remaining: Remaining,
}

/// Work left after a slice.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct Remaining {
    /// Orphaned blobs still within their grace period, and their bytes.
    pub waiting_blobs: i64,
    pub waiting_bytes: i64,
    /// Blobs that could be deleted now (the next slice will).
    pub collectable_blobs: i64,
    /// Abandoned writes due for cleanup.
    pub abandoned_writes: i64,
    /// Whether the reference check has gone through every live blob since
    /// the cursor last wrapped (false: call again to finish the round).
    pub round_complete: bool,
}

impl GcReport {
    /// Whether a further slice would have anything to do now.
    pub fn has_work(&self) -> bool {
        self.remaining.collectable_blobs > 0
            || self.remaining.abandoned_writes > 0
            || !self.remaining.round_complete
    }
}

/// One slice of collection: at most `budget` blobs and writes deleted.
pub fn collect(
    sql: &dyn Sql,
    kv: &dyn Kv,
    now: i64,
    grace_millis: i64,
    budget: i64,
) -> Result<GcReport> {
    let budget = budget.max(1);
    let cutoff = now.saturating_sub(grace_millis);
    let blobs = BlobStore::new(kv, 0);
    let mut report = GcReport::default();

    // 1. Resume what an earlier slice doomed.
    let doomed = sha_rows(
        sql,
        "SELECT sha256, size FROM blobs WHERE state = 'doomed' LIMIT ?",
        &[budget.into()],
    )?;
    for (sha256, size) in &doomed {
        delete_blob(sql, kv, &blobs, sha256, *size, &mut report)?;
    }

    // 2. Check a window of live blobs for references.
    let after = kv
        .get(CURSOR_KEY)?
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .unwrap_or_default();
    let window = budget * WINDOW_PER_BUDGET;
    let checked = sha_rows(
        sql,
        "SELECT sha256, size FROM blobs WHERE state = 'live' AND sha256 > ? ORDER BY sha256 LIMIT ?",
        &[after.as_str().into(), window.into()],
    )?;
    report.examined_blobs = checked.len() as i64;
    report.examined_bytes = checked.iter().map(|(_, s)| s).sum();
    let round_complete = (checked.len() as i64) < window;
    let next = if round_complete {
        String::new()
    } else {
        checked.last().map(|(s, _)| s.clone()).unwrap_or_default()
    };
    if let (Some((first, _)), Some((last, _))) = (checked.first(), checked.last()) {
        let range: [Value; 2] = [first.as_str().into(), last.as_str().into()];
        sql.execute(
            &format!(
                "UPDATE blobs SET orphaned_at = ? WHERE sha256 IN (
                    SELECT sha256 FROM blobs b WHERE state = 'live' AND orphaned_at IS NULL
                      AND sha256 >= ? AND sha256 <= ? AND NOT {REFERENCED})"
            ),
            &[now.into(), range[0].clone(), range[1].clone()],
        )?;
        sql.execute(
            &format!(
                "UPDATE blobs SET orphaned_at = NULL WHERE sha256 IN (
                    SELECT sha256 FROM blobs b WHERE state = 'live' AND orphaned_at IS NOT NULL
                      AND sha256 >= ? AND sha256 <= ? AND {REFERENCED})"
            ),
            &range,
        )?;
    }
    kv.set(CURSOR_KEY, next.as_bytes())?;

    // 3. Doom and delete what has been garbage for the grace period.
    let left = budget - doomed.len() as i64;
    if left > 0 {
        let newly_doomed = transaction(sql, || {
            let rows = sha_rows(
                sql,
                &format!(
                    "SELECT sha256, size FROM blobs b WHERE state = 'live'
                       AND orphaned_at IS NOT NULL AND orphaned_at <= ? AND claimed_at <= ?
                       AND NOT {REFERENCED} LIMIT ?"
                ),
                &[cutoff.into(), cutoff.into(), left.into()],
            )?;
            for (sha256, _) in &rows {
                sql.execute(
                    "UPDATE blobs SET state = 'doomed' WHERE sha256 = ?",
                    &[sha256.as_str().into()],
                )?;
            }
            Ok(rows)
        })?;
        for (sha256, size) in &newly_doomed {
            delete_blob(sql, kv, &blobs, sha256, *size, &mut report)?;
        }
    }

    // 4. Abandoned writes.
    let abandoned = sql
        .execute(
            "SELECT writer, chunks, sha256 FROM blob_writes WHERE touched_at <= ? LIMIT ?",
            &[cutoff.into(), budget.into()],
        )?
        .rows;
    for row in abandoned {
        let (Some(Value::Text(writer)), Some(Value::Integer(chunks))) = (row.first(), row.get(1))
        else {
            continue;
        };
        let produced = match row.get(2) {
            Some(Value::Text(sha256)) => Some(sha256.clone()),
            _ => None,
        };
        // Taken off the books first, and only if still untouched: a writer
        // that touches or claims it in between keeps it.
        let taken = sql
            .execute(
                "DELETE FROM blob_writes WHERE writer = ? AND touched_at <= ? RETURNING writer",
                &[writer.as_str().into(), cutoff.into()],
            )?
            .rows
            .len();
        if taken == 0 {
            continue;
        }
        let prefix = chunk_prefix(writer);
        let adopted = match &produced {
            Some(sha256) => blobs
                .manifest(sha256)?
                .is_some_and(|m| m.chunks.iter().any(|c| c.starts_with(&prefix))),
            None => false,
        };
        if !adopted {
            // Chunks past the last recorded count may exist (touches are
            // every few chunks); deleting an absent key is harmless.
            for index in 0..(*chunks + super::blobs::TOUCH_EVERY_CHUNKS as i64) {
                kv.delete(&format!("{prefix}{index}"))?;
            }
            report.abandoned_writes += 1;
        }
    }

    report.remaining = remaining(sql, cutoff, round_complete)?;
    Ok(report)
}

/// What waits for collection now, without collecting.
pub fn pending(sql: &dyn Sql, now: i64, grace_millis: i64) -> Result<Remaining> {
    remaining(sql, now.saturating_sub(grace_millis), true)
}

fn remaining(sql: &dyn Sql, cutoff: i64, round_complete: bool) -> Result<Remaining> {
    let row = sql
        .execute(
            &format!(
                "SELECT
                   (SELECT COUNT(*) FROM blobs WHERE state = 'live' AND orphaned_at > ?),
                   (SELECT COALESCE(SUM(size), 0) FROM blobs WHERE state = 'live' AND orphaned_at > ?),
                   (SELECT COUNT(*) FROM blobs b WHERE state = 'doomed' OR (state = 'live'
                      AND orphaned_at <= ? AND claimed_at <= ? AND NOT {REFERENCED})),
                   (SELECT COUNT(*) FROM blob_writes WHERE touched_at <= ?)"
            ),
            &[
                cutoff.into(),
                cutoff.into(),
                cutoff.into(),
                cutoff.into(),
                cutoff.into(),
            ],
        )?
        .rows;
    let int = |i: usize| match row.first().and_then(|r| r.get(i)) {
        Some(Value::Integer(v)) => *v,
        _ => 0,
    };
    Ok(Remaining {
        waiting_blobs: int(0),
        waiting_bytes: int(1),
        collectable_blobs: int(2),
        abandoned_writes: int(3),
        round_complete,
    })
}

fn sha_rows(sql: &dyn Sql, statement: &str, params: &[Value]) -> Result<Vec<(String, i64)>> {
    Ok(sql
        .execute(statement, params)?
        .rows
        .into_iter()
        .filter_map(|row| match (row.first(), row.get(1)) {
            (Some(Value::Text(sha)), Some(Value::Integer(size))) => Some((sha.clone(), *size)),
            _ => None,
        })
        .collect())
}

/// Deletes a doomed blob: its own chunks, its manifest, then its row.
fn delete_blob(
    sql: &dyn Sql,
    kv: &dyn Kv,
    blobs: &BlobStore,
    sha256: &str,
    size: i64,
    report: &mut GcReport,
) -> Result<()> {
    let manifest: Option<Manifest> = blobs.manifest(sha256)?;
    let mut freed_all = true;
    for key in manifest.iter().flat_map(|m| m.chunks.iter()) {
        if is_shared_chunk(key) {
            report.kept_shared_chunks += 1;
            freed_all = false;
            continue;
        }
        kv.delete(key)?;
        report.freed_chunks += 1;
    }
    kv.delete(&manifest_key(sha256))?;
    sql.execute(
        "DELETE FROM blobs WHERE sha256 = ? AND state = 'doomed'",
        &[sha256.into()],
    )?;
    report.freed_blobs += 1;
    if freed_all {
        report.freed_bytes += size;
    }
    Ok(())
}

/// A content-addressed chunk (`chunk:<sha256>`) from before writes had
/// their own chunk keys (`chunk:<writer>:<n>`).
fn is_shared_chunk(key: &str) -> bool {
    key.strip_prefix("chunk:")
        .is_some_and(|rest| !rest.contains(':'))
}
