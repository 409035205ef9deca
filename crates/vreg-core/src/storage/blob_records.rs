//! What SQL knows of the blobs in the key-value store, so that garbage can
//! be collected safely (see [`super::gc`]):
//!
//! - `blob_writes`: a write in progress (its chunks are `chunk:<writer>:<n>`,
//!   keys no other write uses), touched as it goes; a write that stops
//!   being touched was abandoned and its chunks are garbage.
//! - `blobs`: every blob by SHA-256, `live` or `doomed` (being deleted).
//!   A writer *claims* the blob it produced before it writes (or reuses) the
//!   manifest: the claim and the collector's doom are single SQL statements,
//!   so one of them comes first. A claim on a live blob holds off its
//!   collection for the grace period, by which time the row that references
//!   it is committed; a claim that finds the blob doomed waits until the
//!   collector has deleted it, then writes it anew.

use crate::error::{CoreError, Result};
use crate::storage::{Sql, StoreError};

/// How long a writer waits for the collector to finish deleting a doomed
/// blob it wants to write again.
const DOOMED_WAIT_MILLIS: u64 = 10_000;

/// Records the start of a write; its chunks will be `chunk:<writer>:<n>`.
pub fn begin_write(sql: &dyn Sql, writer: &str, now: i64) -> Result<()> {
    sql.execute(
        "INSERT INTO blob_writes (writer, started_at, touched_at, chunks) VALUES (?, ?, ?, 0)",
        &[writer.into(), now.into(), now.into()],
    )?;
    Ok(())
}

/// Records progress: `chunks` written so far, at `now`.
pub fn touch_write(sql: &dyn Sql, writer: &str, chunks: usize, now: i64) -> Result<()> {
    sql.execute(
        "UPDATE blob_writes SET touched_at = ?, chunks = ? WHERE writer = ?",
        &[now.into(), (chunks as i64).into(), writer.into()],
    )?;
    Ok(())
}

/// The write is over: its chunks are the blob's, or were deleted.
pub fn end_write(sql: &dyn Sql, writer: &str) -> Result<()> {
    sql.execute("DELETE FROM blob_writes WHERE writer = ?", &[writer.into()])?;
    Ok(())
}

/// Claims the blob `sha256` for the writer that produced it: a live blob
/// is kept for the grace period from `now` on. Waits while the collector
/// deletes a doomed blob of the same content (the caller then writes it
/// anew). Records on the write which blob it produced, so that a write
/// found abandoned after it wrote the manifest is recognised.
pub fn claim(sql: &dyn Sql, writer: &str, sha256: &str, size: u64, now: i64) -> Result<()> {
    let mut waited = 0;
    loop {
        let live = crate::storage::transaction(sql, || {
            // Touched too: the collector takes only writes untouched for
            // the grace period, so this one's chunks stay until it ends.
            let ours = sql
                .execute(
                    "UPDATE blob_writes SET sha256 = ?, touched_at = ? WHERE writer = ? RETURNING writer",
                    &[sha256.into(), now.into(), writer.into()],
                )?
                .rows
                .len();
            if ours == 0 {
                return Err(CoreError::Store(StoreError::Other(
                    "the write went untouched for the grace period and was collected".into(),
                )));
            }
            sql.execute(
                "INSERT INTO blobs (sha256, size, state, claimed_at) VALUES (?, ?, 'live', ?)
                 ON CONFLICT (sha256) DO UPDATE SET claimed_at = excluded.claimed_at,
                    orphaned_at = NULL
                 WHERE state = 'live'",
                &[sha256.into(), (size as i64).into(), now.into()],
            )?;
            Ok(sql
                .execute(
                    "SELECT COUNT(*) FROM blobs WHERE sha256 = ? AND state = 'live'",
                    &[sha256.into()],
                )?
                .scalar_i64()
                == Some(1))
        })?;
        match live {
            true => return Ok(()),
            _ if waited >= DOOMED_WAIT_MILLIS => {
                return Err(CoreError::Store(StoreError::Other(format!(
                    "blob {sha256} is still being collected; try again"
                ))))
            }
            _ => {
                std::thread::sleep(std::time::Duration::from_millis(100));
                waited += 100;
            }
        }
    }
}
