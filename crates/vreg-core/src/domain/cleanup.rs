//! Reclaiming space (and folding download counts into SQL, which rides
//! along on the same slices): cleanup policies (an upstream's cached files not
//! downloaded for `keep_n_days_after_download` days are removed) and blob
//! garbage collection, run in small bounded slices on traffic (Spin has no
//! timers) and in full through the admin API.

use crate::context::Context;
use crate::domain::cache;
use crate::domain::downloads::{self, Folded};
use crate::domain::resolved;
use crate::error::Result;
use crate::storage::gc::{self, GcReport};
use crate::storage::lease::take_lease;
use crate::storage::Sql;

const DAY_MILLIS: i64 = 24 * 3600 * 1000;
/// How often traffic runs a slice, and how much one slice does.
const SWEEP_EVERY_MILLIS: i64 = 60 * 1000;
const SWEEP_ENTRIES: i64 = 100;
const SWEEP_BLOBS: i64 = 10;
const SWEEP_SAMPLE: u8 = 16;

/// Removes up to `budget` cache entries past their upstream's cleanup
/// policy (last downloaded, or cached if never downloaded, more than
/// `keep_n_days_after_download` days before `now`); their blobs become
/// garbage and their keys are queued for deletion. Returns how many were
/// removed.
pub fn apply_policies(sql: &dyn Sql, now: i64, budget: i64) -> Result<i64> {
    cache::remove_where(
        sql,
        "c.rowid IN (
            SELECT e.rowid FROM cache_entries e JOIN upstreams u ON u.id = e.upstream_id
            WHERE u.keep_n_days_after_download IS NOT NULL
              AND COALESCE(e.downloaded_at, e.created_at) < ? - u.keep_n_days_after_download * ?
            ORDER BY e.rowid LIMIT ?)",
        &[now.into(), DAY_MILLIS.into(), budget.max(1).into()],
    )
}

/// What one run of [`collect`] did.
#[derive(Debug, Default, serde::Serialize)]
pub struct CleanupReport {
    /// Download counts moved from the tally store into SQL (`None`: another
    /// fold was under way).
    pub folded_downloads: Option<Folded>,
    pub expired_cache_entries: i64,
    /// Removed entries whose keys (download counters, resolved reads) were
    /// deleted from the key-value store.
    pub forgotten_cache_entries: i64,
    /// Records of reads through deleted Go registries deleted from the
    /// key-value store.
    pub forgotten_go_records: i64,
    #[serde(flatten)]
    pub gc: GcReport,
}

/// Cleanup policies, then a slice of garbage collection.
pub fn collect(ctx: &Context, entries: i64, blobs: i64) -> Result<CleanupReport> {
    let folded_downloads = downloads::fold(ctx)?;
    let expired_cache_entries = apply_policies(ctx.sql, ctx.now(), entries)?;
    if expired_cache_entries > 0 {
        // Reads resolved before must not be trusted to find them.
        crate::storage::generation::advance(ctx.kv)?;
    }
    let forgotten_cache_entries = cache::forget_queued(ctx.sql, ctx.kv, entries)?;
    let forgotten_go_records = resolved::forget_queued_go_records(ctx.sql, ctx.kv, entries)?;
    let gc = gc::collect(
        ctx.sql,
        ctx.kv,
        ctx.now(),
        ctx.config.gc_grace_seconds.saturating_mul(1000),
        blobs,
    )?;
    Ok(CleanupReport {
        folded_downloads,
        expired_cache_entries,
        forgotten_cache_entries,
        forgotten_go_records,
        gc,
    })
}

/// A small slice, at most once a minute across all instances (a lease),
/// after a registry request has been answered. Only one request in
/// [`SWEEP_SAMPLE`] even looks at the lease, so the hot path pays no
/// key-value read for it. Failures are logged: a sweep never fails the
/// request.
pub fn sweep_now_and_then(ctx: &Context) {
    if !crate::crypto::one_in(SWEEP_SAMPLE) {
        return;
    }
    match take_lease(ctx.kv, "storage:sweep", ctx.now(), SWEEP_EVERY_MILLIS) {
        Ok(Some(_)) => {}
        _ => return,
    }
    if let Err(e) = collect(ctx, SWEEP_ENTRIES, SWEEP_BLOBS) {
        eprintln!("vreg: storage sweep failed: {e}");
    }
}
