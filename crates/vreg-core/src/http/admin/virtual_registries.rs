//! Registries, upstreams and the links that order upstreams in a registry.

use http::StatusCode;
use serde_json::Value as Json;

use super::namespaces::visible_group;
use super::{views, Call};
use crate::domain::auth::require_api;
use crate::domain::model::{PackageType, UpstreamMode};
use crate::domain::registries::{self, Registry, RegistryChanges};
use crate::domain::upstreams::{self, Upstream, UpstreamInput};
use crate::error::{CoreError, Result};
use crate::http::params::Params;
use crate::http::{json_response, no_content, paged_response, query_params, Page, Response};

/// A registry the caller may see (or change, with `write`).
pub(crate) fn visible_registry(
    call: &Call,
    kind: PackageType,
    id: i64,
    write: bool,
) -> Result<Registry> {
    let who = require_api(call.who, write)?;
    let registry = registries::get(call.ctx.sql, kind, id)?;
    if !who.reaches_group(call.ctx.sql, registry.group_id)? {
        return Err(CoreError::NotFound("Registry"));
    }
    Ok(registry)
}

pub(crate) fn visible_upstream(
    call: &Call,
    kind: PackageType,
    id: i64,
    write: bool,
) -> Result<Upstream> {
    let who = require_api(call.who, write)?;
    let upstream = upstreams::get(call.ctx.sql, kind, id)?;
    if !who.reaches_group(call.ctx.sql, upstream.group_id)? {
        return Err(CoreError::NotFound("Upstream"));
    }
    Ok(upstream)
}

const REGISTRY_FIELDS: &[&str] = &[
    "name",
    "description",
    "namespace_protection",
    "protected_namespaces",
    "checksum_database_name",
    "checksum_database_url",
    "remote_filters",
    "nosum_patterns",
];

/// The registry fields a request sets; `null` clears to the default.
fn registry_changes(params: &Params) -> Result<RegistryChanges> {
    Ok(RegistryChanges {
        name: params.string("name")?.map(Option::unwrap_or_default),
        description: params.string("description")?.map(Option::unwrap_or_default),
        namespace_protection: params
            .boolean("namespace_protection")?
            .map(|v| v.unwrap_or(true)),
        protected_namespaces: params
            .string_list("protected_namespaces")?
            .map(Option::unwrap_or_default),
        checksum_database_name: params
            .string("checksum_database_name")?
            .map(|v| v.unwrap_or_else(|| registries::DEFAULT_CHECKSUM_DATABASE.0.into())),
        checksum_database_url: params
            .string("checksum_database_url")?
            .map(|v| v.unwrap_or_else(|| registries::DEFAULT_CHECKSUM_DATABASE.1.into())),
        remote_filters: params
            .string_list("remote_filters")?
            .map(Option::unwrap_or_default),
        nosum_patterns: params
            .string_list("nosum_patterns")?
            .map(Option::unwrap_or_default),
    })
}

pub fn list_registries(call: &Call, group: &str, kind: PackageType) -> Result<Response> {
    let group = visible_group(call, group, false)?;
    let page = Page::from_query(&query_params(call.request))?;
    let (items, total) =
        registries::list(call.ctx.sql, group.id, kind, page.per_page, page.offset())?;
    let items = items.iter().map(views::registry).collect();
    Ok(paged_response(call.request, page, total, items))
}

pub fn create_registry(call: &Call, group: &str, kind: PackageType) -> Result<Response> {
    let group = visible_group(call, group, true)?;
    let params = call.body(REGISTRY_FIELDS)?;
    let registry = registries::create(
        call.ctx.sql,
        call.now(),
        group.id,
        kind,
        registry_changes(&params)?,
        call.ctx.config.allow_local_upstreams,
    )?;
    Ok(json_response(
        StatusCode::CREATED,
        &views::registry(&registry),
    ))
}

pub fn get_registry(call: &Call, kind: PackageType, id: i64) -> Result<Response> {
    let registry = visible_registry(call, kind, id, false)?;
    Ok(json_response(StatusCode::OK, &views::registry(&registry)))
}

pub fn update_registry(call: &Call, kind: PackageType, id: i64) -> Result<Response> {
    visible_registry(call, kind, id, true)?;
    let params = call.body(REGISTRY_FIELDS)?;
    let registry = registries::update(
        call.ctx.sql,
        call.now(),
        kind,
        id,
        registry_changes(&params)?,
        call.ctx.config.allow_local_upstreams,
    )?;
    Ok(json_response(StatusCode::OK, &views::registry(&registry)))
}

pub fn delete_registry(call: &Call, kind: PackageType, id: i64) -> Result<Response> {
    visible_registry(call, kind, id, true)?;
    registries::delete(call.ctx.sql, kind, id)?;
    Ok(no_content())
}

pub(crate) const UPSTREAM_FIELDS: &[&str] = &[
    "name",
    "description",
    "mode",
    "url",
    "username",
    "password",
    "target_project_id",
    "target_group_id",
    "cache_validity_hours",
    "metadata_cache_validity_hours",
    "keep_n_days_after_download",
];

pub(crate) fn upstream_input(params: &Params) -> Result<UpstreamInput> {
    let mode = params
        .non_blank_string("mode")?
        .flatten()
        .map(|m| {
            UpstreamMode::parse(&m)
                .ok_or_else(|| CoreError::BadRequest("mode does not have a valid value".into()))
        })
        .transpose()?;
    Ok(UpstreamInput {
        mode,
        name: params.string("name")?,
        description: params.string("description")?,
        url: params.non_blank_string("url")?,
        username: params.non_blank_string("username")?,
        password: params.non_blank_string("password")?,
        target_project_id: params.integer("target_project_id")?,
        target_group_id: params.integer("target_group_id")?,
        cache_validity_hours: params.integer("cache_validity_hours")?,
        metadata_cache_validity_hours: params.integer("metadata_cache_validity_hours")?,
        keep_n_days_after_download: params.integer("keep_n_days_after_download")?,
    })
}

pub fn list_group_upstreams(call: &Call, group: &str, kind: PackageType) -> Result<Response> {
    let group = visible_group(call, group, false)?;
    let query = query_params(call.request);
    let page = Page::from_query(&query)?;
    let name = query.non_blank_string("upstream_name")?.flatten();
    let sql = call.ctx.sql;
    let (items, total) = upstreams::list_in_group(
        sql,
        group.id,
        kind,
        name.as_deref(),
        page.per_page,
        page.offset(),
    )?;
    let items = items
        .iter()
        .map(|u| views::upstream(sql, u))
        .collect::<Result<Vec<Json>>>()?;
    Ok(paged_response(call.request, page, total, items))
}

pub fn create_group_upstream(call: &Call, group: &str, kind: PackageType) -> Result<Response> {
    let group = visible_group(call, group, true)?;
    let input = upstream_input(&call.body(UPSTREAM_FIELDS)?)?;
    let sql = call.ctx.sql;
    let (upstream, _) = upstreams::create(call.ctx, group.id, kind, input, None)?;
    Ok(json_response(
        StatusCode::CREATED,
        &views::upstream(sql, &upstream)?,
    ))
}

pub fn list_registry_upstreams(call: &Call, kind: PackageType, id: i64) -> Result<Response> {
    let registry = visible_registry(call, kind, id, false)?;
    let page = Page::from_query(&query_params(call.request))?;
    let sql = call.ctx.sql;
    let (items, total) =
        upstreams::list_in_registry(sql, registry.id, page.per_page, page.offset())?;
    let items = items
        .iter()
        .map(|(_, u)| views::upstream(sql, u))
        .collect::<Result<Vec<Json>>>()?;
    Ok(paged_response(call.request, page, total, items))
}

/// Creates an upstream in the registry's group and links it last.
pub fn create_registry_upstream(call: &Call, kind: PackageType, id: i64) -> Result<Response> {
    let registry = visible_registry(call, kind, id, true)?;
    let input = upstream_input(&call.body(UPSTREAM_FIELDS)?)?;
    let sql = call.ctx.sql;
    let (upstream, _) =
        upstreams::create(call.ctx, registry.group_id, kind, input, Some(&registry))?;
    Ok(json_response(
        StatusCode::CREATED,
        &views::upstream(sql, &upstream)?,
    ))
}

pub fn get_upstream(call: &Call, kind: PackageType, id: i64) -> Result<Response> {
    let upstream = visible_upstream(call, kind, id, false)?;
    let mut view = views::upstream(call.ctx.sql, &upstream)?;
    if upstream.mode == UpstreamMode::Remote {
        view["health"] = views::health(
            &crate::domain::upstreams::health::read(call.ctx.kv, upstream.id),
            call.now(),
        );
    }
    Ok(json_response(StatusCode::OK, &view))
}

pub fn update_upstream(call: &Call, kind: PackageType, id: i64) -> Result<Response> {
    visible_upstream(call, kind, id, true)?;
    let input = upstream_input(&call.body(UPSTREAM_FIELDS)?)?;
    let sql = call.ctx.sql;
    let upstream = upstreams::update(call.ctx, kind, id, input)?;
    Ok(json_response(
        StatusCode::OK,
        &views::upstream(sql, &upstream)?,
    ))
}

pub fn delete_upstream(call: &Call, kind: PackageType, id: i64) -> Result<Response> {
    visible_upstream(call, kind, id, true)?;
    upstreams::delete(call.ctx.sql, kind, id)?;
    Ok(no_content())
}

fn required_id(params: &Params, name: &str) -> Result<i64> {
    params
        .integer(name)?
        .flatten()
        .ok_or_else(|| CoreError::BadRequest(format!("{name} is missing")))
}

pub fn create_link(call: &Call, kind: PackageType) -> Result<Response> {
    let params = call.body(&["registry_id", "upstream_id"])?;
    let registry = visible_registry(call, kind, required_id(&params, "registry_id")?, true)?;
    let upstream_id = required_id(&params, "upstream_id")?;
    let sql = call.ctx.sql;
    // Looked up whatever its type, so a mismatch is reported as such.
    let upstream = upstreams::find(sql, upstream_id)?
        .filter(|u| {
            call.who
                .is_some_and(|w| w.reaches_group(sql, u.group_id).unwrap_or(false))
        })
        .ok_or(CoreError::NotFound("Upstream"))?;
    let link = upstreams::link(sql, call.now(), &registry, &upstream)?;
    Ok(json_response(StatusCode::CREATED, &views::link(&link)))
}

fn visible_link(
    call: &Call,
    kind: PackageType,
    id: i64,
    write: bool,
) -> Result<upstreams::RegistryUpstream> {
    require_api(call.who, write)?;
    let link = upstreams::get_link(call.ctx.sql, kind, id)?;
    visible_registry(call, kind, link.registry_id, write)
        .map_err(|_| CoreError::NotFound("Registry Upstream"))?;
    Ok(link)
}

pub fn get_link(call: &Call, kind: PackageType, id: i64) -> Result<Response> {
    let link = visible_link(call, kind, id, false)?;
    Ok(json_response(StatusCode::OK, &views::link(&link)))
}

pub fn move_link(call: &Call, kind: PackageType, id: i64) -> Result<Response> {
    visible_link(call, kind, id, true)?;
    let params = call.body(&["position"])?;
    let position = required_id(&params, "position")?;
    let link = upstreams::move_link(call.ctx.sql, kind, id, position)?;
    Ok(json_response(StatusCode::OK, &views::link(&link)))
}

pub fn delete_link(call: &Call, kind: PackageType, id: i64) -> Result<Response> {
    visible_link(call, kind, id, true)?;
    upstreams::unlink(call.ctx.sql, kind, id)?;
    Ok(no_content())
}
