//! A circuit breaker per remote upstream, kept in the key-value store so
//! that every instance shares it: after a request that got no answer at
//! all (refused, reset, timed out: each such wait can cost the whole
//! upstream timeout, so a dead upstream costs one, not one per request), or
//! after [`THRESHOLD`] 5xx answers within [`WINDOW_MILLIS`], the upstream is
//! set aside for [`COOL_DOWN_MILLIS`] (misses skip it at once; cached
//! copies are still served), then one request (a lease) tries it again: a
//! success closes the breaker, a failure opens it for another cool-down.

use serde::{Deserialize, Serialize};

use crate::storage::lease::take_lease;
use crate::storage::Kv;

pub const THRESHOLD: u32 = 5;
pub const WINDOW_MILLIS: i64 = 60 * 1000;
pub const COOL_DOWN_MILLIS: i64 = 30 * 1000;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// Failures in the window that started at `window_start`.
    pub failures: u32,
    pub window_start: i64,
    /// 0: closed; otherwise set aside until then (and half-open after).
    pub open_until: i64,
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
}

impl Health {
    pub fn state(&self, now: i64) -> &'static str {
        match self.open_until {
            0 => "closed",
            until if now < until => "open",
            _ => "half_open",
        }
    }
}

fn key(upstream_id: i64) -> String {
    format!("upstream:health:{upstream_id}")
}

/// The upstream's health (closed when nothing is known or it is unreadable).
pub fn read(kv: &dyn Kv, upstream_id: i64) -> Health {
    kv.get(&key(upstream_id))
        .ok()
        .flatten()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Whether a request may go to the upstream now: its breaker is closed, or
/// it has cooled down and this caller is the one that tries it. Either way
/// the health as read: handed to [`record`], it spares a success a read.
pub fn may_ask(kv: &dyn Kv, upstream_id: i64, now: i64) -> Result<Health, Health> {
    let health = read(kv, upstream_id);
    match health.state(now) {
        "closed" => Ok(health),
        "half_open" => match take_lease(
            kv,
            &format!("upstream:trial:{upstream_id}"),
            now,
            COOL_DOWN_MILLIS,
        ) {
            Ok(Some(_)) => Ok(health),
            _ => Err(health),
        },
        _ => Err(health),
    }
}

/// Records a 5xx answer, or (`unanswered`) a request that got no answer.
pub fn record_failure(kv: &dyn Kv, upstream_id: i64, now: i64, error: &str, unanswered: bool) {
    let mut health = read(kv, upstream_id);
    if now - health.window_start > WINDOW_MILLIS {
        health.failures = 0;
        health.window_start = now;
    }
    health.failures += 1;
    health.last_error = Some(error.chars().take(300).collect());
    health.last_error_at = Some(now);
    // No answer, a failed trial, or too many failures: set aside.
    if unanswered || health.open_until != 0 || health.failures >= THRESHOLD {
        health.open_until = now + COOL_DOWN_MILLIS;
    }
    if let Ok(bytes) = serde_json::to_vec(&health) {
        let _ = kv.set(&key(upstream_id), &bytes);
    }
}

/// Records an answer (any status below 500): the breaker closes. With the
/// health read before the request (`known`), a healthy upstream's success
/// costs nothing (a failure another instance recorded meanwhile then stays
/// until the next success: the breaker is shared, not exact).
pub fn record_success(kv: &dyn Kv, upstream_id: i64, known: Option<&Health>) {
    let set = match known {
        Some(health) => *health != Health::default(),
        None => read(kv, upstream_id) != Health::default(),
    };
    if set {
        let _ = kv.delete(&key(upstream_id));
    }
}

/// Asks a remote upstream for `suffix`, unless its breaker has it set
/// aside, and records how it went.
pub fn ask(
    ctx: &crate::context::Context,
    upstream: &super::Upstream,
    suffix: &str,
    method: http::Method,
) -> Result<crate::http::fetch::FetchResponse, String> {
    let request = super::fetch_request(ctx.config, upstream, suffix, method)?;
    let known = may_ask(ctx.kv, upstream.id, ctx.now()).map_err(|h| set_aside(&h))?;
    let outcome = ctx.fetch.fetch(&request).map_err(|e| e.to_string());
    let answered = outcome.as_ref().map(|r| r.status).map_err(Clone::clone);
    record(ctx.kv, upstream.id, ctx.now(), Some(&known), answered);
    outcome
}

/// Why a request was not sent.
pub fn set_aside(health: &Health) -> String {
    format!(
        "set aside for now (no answer, or repeated 5xx), last: {}",
        health.last_error.as_deref().unwrap_or("unknown")
    )
}

/// Records a fetch's outcome: the status when the upstream answered.
/// `known`: the health [`may_ask`] read before the fetch, if it was asked.
pub fn record(
    kv: &dyn Kv,
    upstream_id: i64,
    now: i64,
    known: Option<&Health>,
    outcome: Result<u16, String>,
) {
    match outcome {
        Ok(status) if status < 500 => record_success(kv, upstream_id, known),
        Ok(status) => record_failure(kv, upstream_id, now, &format!("HTTP {status}"), false),
        Err(error) => record_failure(kv, upstream_id, now, &error, true),
    }
}
