//! Cache administration for virtual registries: list an upstream's cache
//! entries, delete one, clear an upstream's or a registry's cache, and test
//! an upstream's connection.

use http::{Method, StatusCode};
use serde_json::json;

use super::virtual_registries::{visible_registry, visible_upstream};
use super::{views, Call};
use crate::domain::cache::{self, entry_id, parse_entry_id};
use crate::domain::downloads;
use crate::domain::model::{PackageType, UpstreamMode};
use crate::domain::upstreams::{self, health};
use crate::error::{CoreError, Result};
use crate::http::{json_response, no_content, paged_response, query_params, Page, Response};
use crate::timefmt::iso8601;

pub fn list(call: &Call, kind: PackageType, upstream_id: i64) -> Result<Response> {
    let upstream = visible_upstream(call, kind, upstream_id, false)?;
    let query = query_params(call.request);
    let page = Page::from_query(&query)?;
    let search = query.non_blank_string("search")?.flatten();
    // Counts still in the tally store go into SQL first (best effort: a
    // fold under way elsewhere, or a store that is down, leaves them be).
    if let Err(e) = downloads::fold(call.ctx) {
        eprintln!("vreg: folding download counts: {e}");
    }
    let (entries, total) = cache::list(
        call.ctx.sql,
        upstream.id,
        search.as_deref(),
        page.per_page,
        page.offset(),
    )?;
    let items = entries
        .iter()
        .map(|listed| {
            let e = &listed.entry;
            Ok(json!({
                "id": entry_id(e.upstream_id, &e.relative_path),
                "group_id": upstream.group_id,
                "upstream_id": e.upstream_id,
                "relative_path": e.relative_path,
                "size": e.digests.size,
                "content_type": e.content_type,
                "file_sha1": e.digests.sha1,
                "file_md5": e.digests.md5,
                "upstream_etag": e.upstream_etag,
                "upstream_checked_at": iso8601(e.upstream_checked_at),
                "downloads_count": downloads::shown_count(call.ctx, e, listed.downloads_count)?,
                "downloaded_at": e.downloaded_at.map(iso8601),
                "created_at": iso8601(e.created_at),
                "updated_at": iso8601(listed.updated_at),
            }))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(paged_response(call.request, page, total, items))
}

pub fn delete_entry(call: &Call, kind: PackageType, id: &str) -> Result<Response> {
    let (upstream_id, path) = parse_entry_id(id).ok_or(CoreError::NotFound("Cache Entry"))?;
    visible_upstream(call, kind, upstream_id, true)
        .map_err(|_| CoreError::NotFound("Cache Entry"))?;
    if !cache::delete(call.ctx.sql, upstream_id, &path)? {
        return Err(CoreError::NotFound("Cache Entry"));
    }
    Ok(no_content())
}

pub fn clear_upstream(call: &Call, kind: PackageType, upstream_id: i64) -> Result<Response> {
    let upstream = visible_upstream(call, kind, upstream_id, true)?;
    cache::clear(call.ctx.sql, &[upstream.id])?;
    Ok(no_content())
}

pub fn clear_registry(call: &Call, kind: PackageType, registry_id: i64) -> Result<Response> {
    let registry = visible_registry(call, kind, registry_id, true)?;
    let links = upstreams::links_of_registry(call.ctx.sql, registry.id)?;
    let ids: Vec<i64> = links.iter().map(|l| l.upstream_id).collect();
    cache::clear(call.ctx.sql, &ids)?;
    Ok(no_content())
}

/// HEADs the upstream (its URL, or `?path=` under it) with its credentials
/// and reports `{"success": true}` or the error. 2xx and 404 mean the
/// upstream is reachable and accepts the credentials.
/// The test sends the upstream's stored credentials, so it needs the scope
/// that editing the upstream needs (`api`), whatever the method.
pub fn test_upstream(call: &Call, kind: PackageType, upstream_id: i64) -> Result<Response> {
    let upstream = visible_upstream(call, kind, upstream_id, true)?;
    if upstream.mode == UpstreamMode::Local {
        return Ok(json_response(StatusCode::OK, &json!({ "success": true })));
    }
    let query = query_params(call.request);
    let path = query
        .non_blank_string("path")?
        .flatten()
        .unwrap_or_default();
    let path = if path.is_empty() {
        String::new()
    } else {
        format!(
            "/{}",
            crate::maven::path::MavenPath::parse(&path)?.to_url_path()
        )
    };
    let request = match upstreams::fetch_request(
        call.ctx.config,
        &upstream,
        path.trim_start_matches('/'),
        Method::HEAD,
    ) {
        Ok(request) => request,
        Err(e) => {
            return Ok(json_response(
                StatusCode::OK,
                &failure(&format!("Error: {e}")),
            ))
        }
    };
    // The test is an explicit try: its outcome feeds the circuit breaker
    // (a success puts a set-aside upstream back), and the answer shows it.
    let outcome = call.ctx.fetch.fetch(&request);
    let answered = outcome
        .as_ref()
        .map(|r| r.status)
        .map_err(|e| e.to_string());
    health::record(call.ctx.kv, upstream.id, call.now(), None, answered);
    let mut body = match outcome {
        Ok(r) if (200..300).contains(&r.status) || r.status == 404 => json!({ "success": true }),
        Ok(r) => failure(&format!(
            "Error: {} - {}",
            r.status,
            StatusCode::from_u16(r.status)
                .map(|s| s.canonical_reason().unwrap_or(""))
                .unwrap_or("")
        )),
        Err(e) => failure(&format!("Error: {e}")),
    };
    body["health"] = views::health(&health::read(call.ctx.kv, upstream.id), call.now());
    Ok(json_response(StatusCode::OK, &body))
}

fn failure(message: &str) -> serde_json::Value {
    json!({ "success": false, "result": message })
}
