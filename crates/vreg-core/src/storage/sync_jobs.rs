//! The outbox of sync triggers. Every trigger is recorded here before it is
//! published, so a lost message or a failed job is found again and retried
//! (with backoff, up to a cap) instead of leaving a version missing.
//!
//! States: `pending` → `running` → `done`; a transient failure makes it
//! `failed` (due again after a backoff) until [`MAX_ATTEMPTS`], then `dead`;
//! what can never be stored (an invalid zip) is `invalid` at once. `dead`
//! and `invalid` jobs wait for an operator's retry.

use crate::error::Result;
use crate::storage::{query_rows, Filter, Listing, Publisher, Sql};

/// First retry after this long; doubled per attempt, capped at an hour.
const BASE_BACKOFF_MILLIS: i64 = 30 * 1000;
const MAX_BACKOFF_MILLIS: i64 = 3600 * 1000;
/// Attempts before a failing job is given up (`dead`).
pub const MAX_ATTEMPTS: i64 = 8;
/// A job claimed as running but not finished within this time is due again.
const RUNNING_TIMEOUT_MILLIS: i64 = 15 * 60 * 1000;
/// A trigger no worker received (Redis down, or the worker app away) is due
/// again this soon, so the first request after the worker is back resends it.
pub const UNDELIVERED_RETRY_MILLIS: i64 = 5 * 1000;

#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub key: String,
    pub payload: String,
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub next_attempt_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str =
    "id, kind, key, payload, state, attempts, last_error, next_attempt_at, created_at, updated_at";

impl Job {
    /// Whether only an operator's retry runs it again.
    pub fn is_final_failure(&self) -> bool {
        matches!(self.state.as_str(), "invalid" | "dead")
    }
}

/// Records a pending job (once per kind and key; a failed one becomes
/// pending again, a done one stays done). Its trigger is published now; it
/// is due for a retry only if it has not finished by the first backoff.
/// Returns the job as it now stands (read back only when it was there
/// already and left as it was).
pub fn record(sql: &dyn Sql, now: i64, kind: &str, key: &str, payload: &str) -> Result<Job> {
    let recorded = query_rows(
        sql,
        &format!(
            "INSERT INTO sync_jobs (kind, key, payload, state, attempts, next_attempt_at, created_at, updated_at)
             VALUES (?1, ?2, ?3, 'pending', 0, ?5, ?4, ?4)
             ON CONFLICT (kind, key) DO UPDATE SET state = 'pending', payload = excluded.payload,
                next_attempt_at = excluded.next_attempt_at, updated_at = excluded.updated_at
             WHERE sync_jobs.state = 'failed'
             RETURNING {COLUMNS}"
        ),
        &[kind.into(), key.into(), payload.into(), now.into(), (now + BASE_BACKOFF_MILLIS).into()],
        decode,
    )?;
    match recorded.into_iter().next() {
        Some(job) => Ok(job),
        None => get(sql, kind, key)?.ok_or_else(|| {
            crate::storage::StoreError::Other(format!("sync job {key} vanished")).into()
        }),
    }
}

pub fn get(sql: &dyn Sql, kind: &str, key: &str) -> Result<Option<Job>> {
    Ok(query_rows(
        sql,
        &format!("SELECT {COLUMNS} FROM sync_jobs WHERE kind = ? AND key = ?"),
        &[kind.into(), key.into()],
        decode,
    )?
    .into_iter()
    .next())
}

fn decode(r: &mut crate::storage::RowReader) -> Result<Job, crate::storage::StoreError> {
    Ok(Job {
        id: r.i64()?,
        kind: r.text()?,
        key: r.text()?,
        payload: r.text()?,
        state: r.text()?,
        attempts: r.i64()?,
        last_error: r.opt_text()?,
        next_attempt_at: r.i64()?,
        created_at: r.i64()?,
        updated_at: r.i64()?,
    })
}

/// Marks a job running and counts the attempt (creating it if the trigger
/// came without a record).
pub fn start(sql: &dyn Sql, now: i64, kind: &str, key: &str, payload: &str) -> Result<()> {
    sql.execute(
        "INSERT INTO sync_jobs (kind, key, payload, state, attempts, next_attempt_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, 'running', 1, ?4, ?5, ?5)
         ON CONFLICT (kind, key) DO UPDATE SET state = 'running', attempts = sync_jobs.attempts + 1,
            next_attempt_at = ?4, updated_at = ?5",
        &[kind.into(), key.into(), payload.into(), (now + RUNNING_TIMEOUT_MILLIS).into(), now.into()],
    )?;
    Ok(())
}

pub fn finish(sql: &dyn Sql, now: i64, kind: &str, key: &str) -> Result<()> {
    sql.execute(
        "UPDATE sync_jobs SET state = 'done', last_error = NULL, updated_at = ? WHERE kind = ? AND key = ?",
        &[now.into(), kind.into(), key.into()],
    )?;
    Ok(())
}

/// Marks a job failed; it is due again after a backoff that grows with
/// each attempt, or, its attempts used up, `dead`.
pub fn fail(sql: &dyn Sql, now: i64, kind: &str, key: &str, error: &str) -> Result<()> {
    let attempts = get(sql, kind, key)?.map_or(1, |j| j.attempts.max(1));
    let backoff = BASE_BACKOFF_MILLIS
        .saturating_mul(1i64 << (attempts - 1).clamp(0, 20))
        .min(MAX_BACKOFF_MILLIS);
    let state = if attempts >= MAX_ATTEMPTS {
        "dead"
    } else {
        "failed"
    };
    sql.execute(
        "UPDATE sync_jobs SET state = ?, last_error = ?, next_attempt_at = ?, updated_at = ? WHERE kind = ? AND key = ?",
        &[state.into(), error.into(), (now + backoff).into(), now.into(), kind.into(), key.into()],
    )?;
    Ok(())
}

/// Marks a job `invalid`: what its upstream has can never be stored, so it
/// is not retried.
pub fn fail_permanently(sql: &dyn Sql, now: i64, kind: &str, key: &str, error: &str) -> Result<()> {
    sql.execute(
        "UPDATE sync_jobs SET state = 'invalid', last_error = ?, updated_at = ? WHERE kind = ? AND key = ?",
        &[error.into(), now.into(), kind.into(), key.into()],
    )?;
    Ok(())
}

/// A page of the jobs whose key starts with `key_prefix`, newest first.
pub fn list(
    sql: &dyn Sql,
    key_prefix: &str,
    (limit, offset): (i64, i64),
) -> Result<(Vec<Job>, i64)> {
    let mut filter = Filter::default();
    filter.and("instr(key, ?) = 1", [key_prefix.into()]);
    let listing = Listing {
        table: "sync_jobs",
        columns: COLUMNS,
        order_by: "id DESC",
    };
    listing.page(sql, &filter, (limit, offset), decode)
}

pub fn find(sql: &dyn Sql, id: i64) -> Result<Option<Job>> {
    Ok(query_rows(
        sql,
        &format!("SELECT {COLUMNS} FROM sync_jobs WHERE id = ?"),
        &[id.into()],
        decode,
    )?
    .into_iter()
    .next())
}

/// Makes a job that is not running or done due now, with its attempts
/// counted afresh (an operator's retry).
pub fn retry(sql: &dyn Sql, now: i64, id: i64) -> Result<bool> {
    let changed = sql.execute(
        "UPDATE sync_jobs SET state = 'pending', attempts = 0, last_error = NULL, next_attempt_at = ?, updated_at = ?
         WHERE id = ? AND state IN ('pending', 'failed', 'invalid', 'dead') RETURNING id",
        &[now.into(), now.into(), id.into()],
    )?;
    Ok(!changed.rows.is_empty())
}

/// Jobs whose trigger should be sent (again): pending or failed ones that
/// are due, and running ones that never finished.
pub fn due(sql: &dyn Sql, now: i64, limit: i64) -> Result<Vec<Job>> {
    query_rows(
        sql,
        &format!(
            "SELECT {COLUMNS} FROM sync_jobs
             WHERE state IN ('pending', 'failed', 'running') AND next_attempt_at <= ?
             ORDER BY next_attempt_at LIMIT ?"
        ),
        &[now.into(), limit.into()],
        decode,
    )
}

/// Pushes a due job's next attempt out, so one retry is sent per interval.
pub fn postpone(sql: &dyn Sql, now: i64, id: i64) -> Result<()> {
    sql.execute(
        "UPDATE sync_jobs SET next_attempt_at = ? WHERE id = ?",
        &[(now + BASE_BACKOFF_MILLIS).into(), id.into()],
    )?;
    Ok(())
}

/// The prefix of the keys triggers are queued under; the worker ignores
/// announcements of other keys.
pub const TRIGGER_KEY_PREFIX: &str = "vreg-sync:";

/// Queues a job's trigger. When the queue is unreachable, the job is due
/// again shortly instead of after the full backoff. Never fails: the job
/// stays recorded.
pub fn send_trigger(sql: &dyn Sql, publisher: &dyn Publisher, now: i64, job: &Job) -> bool {
    let key = format!("{TRIGGER_KEY_PREFIX}{}", job.key);
    let delivered = match publisher.publish(&key, job.payload.as_bytes()) {
        Ok(()) => true,
        Err(e) => {
            eprintln!(
                "vreg: sync trigger for {} not published ({e}); it will be resent",
                job.key
            );
            false
        }
    };
    if !delivered {
        let _ = sql.execute(
            "UPDATE sync_jobs SET next_attempt_at = ? WHERE id = ? AND state IN ('pending', 'failed')",
            &[(now + UNDELIVERED_RETRY_MILLIS).into(), job.id.into()],
        );
    }
    delivered
}
