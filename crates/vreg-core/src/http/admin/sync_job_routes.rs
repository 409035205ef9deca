//! A Go registry's sync jobs: listed with their state and last error, and
//! retried by an operator (`dead` and `invalid` jobs wait for that).

use http::StatusCode;
use serde_json::{json, Value as Json};

use super::virtual_registries::visible_registry;
use super::Call;
use crate::domain::model::PackageType;
use crate::error::{CoreError, Result};
use crate::golang::schedule::registry_job_prefix;
use crate::http::{json_response, paged_response, query_params, Page, Response};
use crate::storage::sync_jobs::{self, Job};
use crate::timefmt::iso8601;

fn view(job: &Job) -> Json {
    let payload: Json = serde_json::from_str(&job.payload).unwrap_or(Json::Null);
    json!({
        "id": job.id,
        "module": payload["module"],
        "version": payload["version"],
        "state": job.state,
        "attempts": job.attempts,
        "last_error": job.last_error,
        "next_attempt_at": iso8601(job.next_attempt_at),
        "created_at": iso8601(job.created_at),
        "updated_at": iso8601(job.updated_at),
    })
}

pub fn list(call: &Call, registry_id: i64) -> Result<Response> {
    let registry = visible_registry(call, PackageType::Golang, registry_id, false)?;
    let page = Page::from_query(&query_params(call.request))?;
    let (jobs, total) = sync_jobs::list(
        call.ctx.sql,
        &registry_job_prefix(registry.id),
        (page.per_page, page.offset()),
    )?;
    Ok(paged_response(
        call.request,
        page,
        total,
        jobs.iter().map(view).collect(),
    ))
}

/// Makes the job due now; the registry's next request sends its trigger.
pub fn retry(call: &Call, registry_id: i64, job_id: i64) -> Result<Response> {
    let registry = visible_registry(call, PackageType::Golang, registry_id, true)?;
    let job = sync_jobs::find(call.ctx.sql, job_id)?
        .filter(|j| j.key.starts_with(&registry_job_prefix(registry.id)))
        .ok_or(CoreError::NotFound("Sync job"))?;
    if !sync_jobs::retry(call.ctx.sql, call.now(), job.id)? {
        return Err(CoreError::Conflict(format!("the job is {}", job.state)));
    }
    let job = sync_jobs::find(call.ctx.sql, job.id)?.ok_or(CoreError::NotFound("Sync job"))?;
    Ok(json_response(StatusCode::OK, &view(&job)))
}
