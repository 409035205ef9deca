//! `/personal_access_tokens`: issue, list, inspect and revoke tokens.
//! A token can only be issued with scopes and a reach its creator has.

use http::StatusCode;

use super::{views, Call};
use crate::domain::auth::{require_api, Principal};
use crate::domain::tokens::{self, Reach, Scope, Token};
use crate::domain::validate::{Errors, NAME_MAX};
use crate::error::{CoreError, Result};
use crate::http::{json_response, no_content, paged_response, query_params, Page, Response};

const FIELDS: &[&str] = &["name", "scopes", "expires_at", "group_id", "project_id"];

pub fn create(call: &Call) -> Result<Response> {
    let who = require_api(call.who, true)?;
    let params = call.body(FIELDS)?;
    let sql = call.ctx.sql;
    let name = params.string("name")?.flatten().unwrap_or_default();
    let scopes = params
        .string_list("scopes")?
        .flatten()
        .unwrap_or_default()
        .iter()
        .map(|s| {
            Scope::parse(s)
                .ok_or_else(|| CoreError::BadRequest("scopes does not have a valid value".into()))
        })
        .collect::<Result<Vec<_>>>()?;
    let reach = match (
        params.integer("group_id")?.flatten(),
        params.integer("project_id")?.flatten(),
    ) {
        (Some(_), Some(_)) => {
            return Err(CoreError::BadRequest(
                "group_id and project_id are mutually exclusive. Set only one of these.".into(),
            ))
        }
        (Some(g), None) => Reach::Group(g),
        (None, Some(p)) => Reach::Project(p),
        (None, None) => who.reach,
    };
    let mut errors = Errors::default();
    if errors.required("Name", Some(&name)) {
        errors.max_len("Name", Some(&name), NAME_MAX);
    }
    if scopes.is_empty() {
        errors.add("Scopes can't be blank");
    }
    errors.finish()?;
    if !scopes.iter().all(|s| who.has(*s)) {
        return Err(CoreError::Forbidden);
    }
    if !who.covers(sql, reach)? {
        return Err(match reach {
            Reach::Group(_) => CoreError::NotFound("Group"),
            Reach::Project(_) => CoreError::NotFound("Project"),
            Reach::All => CoreError::Forbidden,
        });
    }
    let now = call.now();
    let asked = params.string("expires_at")?.flatten();
    let mut expires_at = tokens::expiry_from_date(now, asked.as_deref())?;
    // A token never outlives the token that creates it: a default expiry is
    // cut short to the creator's, an explicit later one refused.
    if let Some(limit) = who.expires_at.filter(|limit| expires_at > *limit) {
        if asked.is_some() {
            return Err(CoreError::validation(
                "Expires at cannot be later than the expiry of the token creating it",
            ));
        }
        expires_at = limit;
    }
    let (token, secret) = tokens::create(sql, now, &name, scopes, reach, expires_at)?;
    Ok(json_response(
        StatusCode::CREATED,
        &views::token(&token, now, Some(&secret)),
    ))
}

pub fn list(call: &Call) -> Result<Response> {
    let who = require_api(call.who, false)?;
    let page = Page::from_query(&query_params(call.request))?;
    let (items, total) = tokens::list(call.ctx.sql, who.reach, page.per_page, page.offset())?;
    let now = call.now();
    let items = items.iter().map(|t| views::token(t, now, None)).collect();
    Ok(paged_response(call.request, page, total, items))
}

fn visible(call: &Call, who: &Principal, id: i64) -> Result<Token> {
    let token = tokens::get(call.ctx.sql, id)?;
    if !who.covers(call.ctx.sql, token.reach)? {
        return Err(CoreError::NotFound("Token"));
    }
    Ok(token)
}

pub fn get(call: &Call, id: i64) -> Result<Response> {
    let who = require_api(call.who, false)?;
    let token = visible(call, who, id)?;
    Ok(json_response(
        StatusCode::OK,
        &views::token(&token, call.now(), None),
    ))
}

/// The calling token itself; any valid token may ask, whatever its scopes.
pub fn get_self(call: &Call) -> Result<Response> {
    let who = call
        .who
        .ok_or_else(|| CoreError::Unauthorized("401 Unauthorized".into()))?;
    let id = who.token_id.ok_or(CoreError::NotFound("Token"))?;
    let token = tokens::get(call.ctx.sql, id)?;
    Ok(json_response(
        StatusCode::OK,
        &views::token(&token, call.now(), None),
    ))
}

pub fn revoke(call: &Call, id: i64) -> Result<Response> {
    let who = require_api(call.who, true)?;
    visible(call, who, id)?;
    tokens::revoke(call.ctx.sql, id)?;
    Ok(no_content())
}
