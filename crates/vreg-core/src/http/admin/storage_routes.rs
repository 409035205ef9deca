//! Instance storage, for operators: `GET /storage` (what uses how much, and
//! the garbage waiting) and `POST /storage/gc` (cleanup policies and one
//! bounded slice of garbage collection; call again while `has_work`).

use http::StatusCode;
use serde_json::json;

use super::Call;
use crate::domain::auth::require_instance_admin;
use crate::domain::{cleanup, usage};
use crate::error::{CoreError, Result};
use crate::http::{json_response, Response};
use crate::storage::gc;

/// The most one call may delete: a request's worth of work.
const MAX_BUDGET: i64 = 1000;
const DEFAULT_BUDGET: i64 = 100;

pub fn report(call: &Call) -> Result<Response> {
    require_instance_admin(call.who, false)?;
    let ctx = call.ctx;
    let usage = usage::usage(ctx.sql)?;
    // A slice with nothing to delete reports what waits, without deleting.
    let grace = ctx.config.gc_grace_seconds.saturating_mul(1000);
    let pending = gc::pending(ctx.sql, ctx.now(), grace)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "blobs": usage.blobs,
            "garbage": pending,
            "registries": usage.registries,
            "upstreams": usage.upstreams,
            "projects": usage.projects,
            "gc_grace_seconds": ctx.config.gc_grace_seconds,
        }),
    ))
}

pub fn collect(call: &Call) -> Result<Response> {
    require_instance_admin(call.who, true)?;
    let params = call.body(&["budget"])?;
    let budget = params
        .integer("budget")?
        .flatten()
        .unwrap_or(DEFAULT_BUDGET);
    if !(1..=MAX_BUDGET).contains(&budget) {
        return Err(CoreError::BadRequest(format!(
            "budget must be between 1 and {MAX_BUDGET}"
        )));
    }
    let report = cleanup::collect(call.ctx, budget, budget)?;
    let has_work = report.gc.has_work();
    let mut body = serde_json::to_value(&report).unwrap_or_default();
    body["has_work"] = json!(has_work);
    Ok(json_response(StatusCode::OK, &body))
}
