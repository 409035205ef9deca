//! Groups and projects.

use http::StatusCode;
use serde_json::Value as Json;

use super::{views, Call};
use crate::domain::auth::require_api;
use crate::domain::groups::{self, Group};
use crate::domain::model::Visibility;
use crate::domain::namespaces::{NamespaceChanges, NamespaceFields};
use crate::domain::projects::{self, Project};
use crate::domain::tokens::Reach;
use crate::domain::validate::path_from_name;
use crate::error::{CoreError, Result};
use crate::http::params::{Field, Params};
use crate::http::{json_response, no_content, paged_response, query_params, Page, Response};

/// A group named by id or full path that the caller may see; anything else
/// is "not found", so existence does not leak.
pub(crate) fn visible_group(call: &Call, reference: &str, write: bool) -> Result<Group> {
    let who = require_api(call.who, write)?;
    let sql = call.ctx.sql;
    let group = match reference.parse::<i64>() {
        Ok(id) => groups::find(sql, id)?,
        Err(_) => groups::find_by_full_path(sql, reference)?,
    };
    match group {
        Some(g) if who.reaches_group(sql, g.id)? => Ok(g),
        _ => Err(CoreError::NotFound("Group")),
    }
}

pub(crate) fn visible_project(call: &Call, reference: &str, write: bool) -> Result<Project> {
    let who = require_api(call.who, write)?;
    let sql = call.ctx.sql;
    let project = match reference.parse::<i64>() {
        Ok(id) => projects::find(sql, id)?,
        Err(_) => projects::find_by_full_path(sql, reference)?,
    };
    match project {
        Some(p) if who.reaches_project(sql, &p)? => Ok(p),
        _ => Err(CoreError::NotFound("Project")),
    }
}

fn visibility(params: &Params) -> Result<Option<Visibility>> {
    params
        .non_blank_string("visibility")?
        .flatten()
        .map(|v| {
            Visibility::parse(&v).ok_or_else(|| {
                CoreError::BadRequest("visibility does not have a valid value".into())
            })
        })
        .transpose()
}

/// A text field of an update: absent keeps, null clears.
fn change(field: Field<String>) -> Option<String> {
    field.map(Option::unwrap_or_default)
}

/// The fields of a new group or project; the path defaults to one made
/// from the name, the visibility to private.
fn new_fields(params: &Params) -> Result<NamespaceFields> {
    let name = params.string("name")?.flatten().unwrap_or_default();
    let path = params
        .non_blank_string("path")?
        .flatten()
        .unwrap_or_else(|| path_from_name(&name));
    Ok(NamespaceFields {
        name,
        path,
        description: params.string("description")?.flatten().unwrap_or_default(),
        visibility: visibility(params)?.unwrap_or(Visibility::Private),
    })
}

fn changes(params: &Params) -> Result<NamespaceChanges> {
    Ok(NamespaceChanges {
        name: change(params.string("name")?),
        path: change(params.string("path")?),
        description: change(params.string("description")?),
        visibility: visibility(params)?,
    })
}

const GROUP_FIELDS: &[&str] = &["name", "path", "description", "parent_id", "visibility"];
const GROUP_UPDATE_FIELDS: &[&str] = &["name", "path", "description", "visibility"];

pub fn list_groups(call: &Call) -> Result<Response> {
    let who = require_api(call.who, false)?;
    let query = query_params(call.request);
    let page = Page::from_query(&query)?;
    let search = query.non_blank_string("search")?.flatten();
    let within = match who.reach {
        Reach::All => None,
        Reach::Group(g) => Some(g),
        Reach::Project(_) => return Ok(paged_response(call.request, page, 0, vec![])),
    };
    let sql = call.ctx.sql;
    let (items, total) =
        groups::list(sql, within, search.as_deref(), page.per_page, page.offset())?;
    let items = items
        .iter()
        .map(|g| views::group(sql, g))
        .collect::<Result<Vec<Json>>>()?;
    Ok(paged_response(call.request, page, total, items))
}

pub fn create_group(call: &Call) -> Result<Response> {
    let who = require_api(call.who, true)?;
    let params = call.body(GROUP_FIELDS)?;
    let sql = call.ctx.sql;
    let parent_id = params.integer("parent_id")?.flatten();
    match parent_id {
        None if who.reach != Reach::All => return Err(CoreError::Forbidden),
        Some(id) if !who.reaches_group(sql, id)? => {
            return Err(CoreError::NotFound("Parent Group"))
        }
        _ => {}
    }
    let group = groups::create(sql, call.now(), parent_id, new_fields(&params)?)?;
    Ok(json_response(
        StatusCode::CREATED,
        &views::group(sql, &group)?,
    ))
}

pub fn get_group(call: &Call, reference: &str) -> Result<Response> {
    let group = visible_group(call, reference, false)?;
    Ok(json_response(
        StatusCode::OK,
        &views::group(call.ctx.sql, &group)?,
    ))
}

pub fn update_group(call: &Call, reference: &str) -> Result<Response> {
    let group = visible_group(call, reference, true)?;
    let params = call.body(GROUP_UPDATE_FIELDS)?;
    let changes = changes(&params)?;
    let group = groups::update(call.ctx.sql, call.now(), group.id, changes)?;
    Ok(json_response(
        StatusCode::OK,
        &views::group(call.ctx.sql, &group)?,
    ))
}

pub fn delete_group(call: &Call, reference: &str) -> Result<Response> {
    let group = visible_group(call, reference, true)?;
    groups::delete(call.ctx.sql, group.id)?;
    Ok(no_content())
}

const PROJECT_FIELDS: &[&str] = &["name", "path", "description", "namespace_id", "visibility"];
const PROJECT_UPDATE_FIELDS: &[&str] = &["name", "path", "description", "visibility"];

pub fn list_projects(call: &Call) -> Result<Response> {
    let who = require_api(call.who, false)?;
    let query = query_params(call.request);
    let page = Page::from_query(&query)?;
    let search = query.non_blank_string("search")?.flatten();
    let (within, only) = match who.reach {
        Reach::All => (None, None),
        Reach::Group(g) => (Some(g), None),
        Reach::Project(p) => (None, Some(p)),
    };
    let sql = call.ctx.sql;
    let (items, total) = projects::list(
        sql,
        within,
        only,
        search.as_deref(),
        page.per_page,
        page.offset(),
    )?;
    let items = items
        .iter()
        .map(|p| views::project(sql, p))
        .collect::<Result<Vec<Json>>>()?;
    Ok(paged_response(call.request, page, total, items))
}

pub fn create_project(call: &Call) -> Result<Response> {
    let params = call.body(PROJECT_FIELDS)?;
    let namespace_id = params
        .integer("namespace_id")?
        .flatten()
        .ok_or_else(|| CoreError::BadRequest("namespace_id is missing".into()))?;
    let group = visible_group(call, &namespace_id.to_string(), true).map_err(|e| match e {
        CoreError::NotFound(_) => CoreError::NotFound("Namespace"),
        other => other,
    })?;
    let sql = call.ctx.sql;
    let project = projects::create(sql, call.now(), group.id, new_fields(&params)?)?;
    Ok(json_response(
        StatusCode::CREATED,
        &views::project(sql, &project)?,
    ))
}

pub fn get_project(call: &Call, reference: &str) -> Result<Response> {
    let project = visible_project(call, reference, false)?;
    Ok(json_response(
        StatusCode::OK,
        &views::project(call.ctx.sql, &project)?,
    ))
}

pub fn update_project(call: &Call, reference: &str) -> Result<Response> {
    let project = visible_project(call, reference, true)?;
    let params = call.body(PROJECT_UPDATE_FIELDS)?;
    let changes = changes(&params)?;
    let project = projects::update(call.ctx.sql, call.now(), project.id, changes)?;
    Ok(json_response(
        StatusCode::OK,
        &views::project(call.ctx.sql, &project)?,
    ))
}

pub fn delete_project(call: &Call, reference: &str) -> Result<Response> {
    let project = visible_project(call, reference, true)?;
    projects::delete(call.ctx.sql, project.id)?;
    Ok(no_content())
}
