//! Scheduling syncs: the lease that lets one request per version record a
//! job and publish its trigger, and the resending of due triggers, which
//! rides on traffic (Spin has no timers).

use serde_json::json;

use crate::context::Context;
use crate::error::Result;
use crate::storage::lease::{take_lease_seen, Seen};
use crate::storage::sync_jobs;
use crate::timefmt;

pub const SYNC_KIND: &str = "go_sync";
/// The lease one request takes to look for due triggers to resend.
pub(super) const RESEND_LEASE: &str = "go_proxy:resend_due";

pub fn lease_name(registry: i64, module: &str, version: &str) -> String {
    format!("{}{module}@{version}", registry_job_prefix(registry))
}

/// What the names of a registry's sync leases and jobs start with.
pub fn registry_job_prefix(registry: i64) -> String {
    format!("go_proxy:sync_packages:{registry}:")
}

/// Takes the lease (`seen` as the request's first batch get saw it, if it
/// did) and, if this request got it, records the job and publishes the
/// trigger. Never fails the request: with Redis down the job waits in
/// `sync_jobs` for its retry.
pub(super) fn request_sync(
    ctx: &Context,
    (registry, module, version): (i64, &str, &str),
    seen: Seen,
) {
    let name = lease_name(registry, module, version);
    let outcome = (|| -> Result<()> {
        let ttl = ctx.config.lease_seconds * 1000;
        // One time for the lease and the job: the worker finds what settled
        // the lease's creation by it (`lease::forget_creation`).
        let now = ctx.now();
        let Some(holder) = take_lease_seen(ctx.kv, &name, seen, now, ttl)? else {
            return Ok(());
        };
        let payload = json!({
            "kind": SYNC_KIND,
            "registry_id": registry,
            "module": module,
            "version": version,
            "requested_at": timefmt::iso8601(now),
            "requested_at_ms": now,
            // The worker gives the lease back with it after a failed attempt.
            "lease": holder,
        })
        .to_string();
        let job = sync_jobs::record(ctx.sql, now, SYNC_KIND, &name, &payload)?;
        send_trigger(ctx, &job);
        Ok(())
    })();
    if let Err(e) = outcome {
        eprintln!("vreg: could not schedule the sync of {module}@{version}: {e}");
    }
}

/// Republishes jobs whose trigger was lost or that failed, once per retry
/// interval. One caller at a time looks for them, at most every few
/// seconds, whatever the traffic: most requests pay one key-value read
/// here (none when their first batch get saw the lease held: `seen`), not
/// a query.
pub fn retry_due(ctx: &Context, seen: Seen) {
    let every = sync_jobs::UNDELIVERED_RETRY_MILLIS;
    let taken = take_lease_seen(ctx.kv, RESEND_LEASE, seen, ctx.now(), every);
    if !taken.is_ok_and(|h| h.is_some()) {
        return;
    }
    let Ok(jobs) = sync_jobs::due(ctx.sql, ctx.now(), 5) else {
        return;
    };
    for job in jobs {
        let _ = sync_jobs::postpone(ctx.sql, ctx.now(), job.id);
        send_trigger(ctx, &job);
    }
}

fn send_trigger(ctx: &Context, job: &sync_jobs::Job) {
    sync_jobs::send_trigger(ctx.sql, ctx.publisher, ctx.now(), job);
}
