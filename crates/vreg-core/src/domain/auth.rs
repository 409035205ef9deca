//! Who is calling: credentials from `Authorization: Bearer`, `Private-Token`
//! or Basic (token as password), checked against the bootstrap admin token
//! and the stored tokens.

use base64::Engine;

use http::HeaderMap;

use crate::context::Context;
use crate::crypto::{constant_time_eq, sha256, sha256_hex};
use crate::domain::groups;
use crate::domain::projects::{self, Project};
use crate::domain::resolved::{Audience, RecordAs};
use crate::domain::tokens::{self, Reach, Scope};
use crate::error::{CoreError, Result};
use crate::storage::Sql;

#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    /// `None` for the bootstrap admin token.
    pub token_id: Option<i64>,
    pub scopes: Vec<Scope>,
    pub reach: Reach,
    /// When the credential expires (`None`: the bootstrap admin token).
    pub expires_at: Option<i64>,
}

impl Principal {
    pub fn admin() -> Self {
        Principal {
            token_id: None,
            scopes: Scope::ALL.to_vec(),
            reach: Reach::All,
            expires_at: None,
        }
    }

    /// Whether the principal holds `scope`; `api` holds every other scope, as in GitLab.
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope) || self.scopes.contains(&Scope::Api)
    }

    pub fn can_read_api(&self) -> bool {
        self.has(Scope::Api) || self.has(Scope::ReadApi)
    }

    pub fn can_write_api(&self) -> bool {
        self.has(Scope::Api)
    }

    /// Whether the group lies within this principal's reach.
    pub fn reaches_group(&self, sql: &dyn Sql, group_id: i64) -> Result<bool> {
        match self.reach {
            Reach::All => Ok(true),
            Reach::Group(root) => Ok(groups::lineage_ids(sql, group_id)?.contains(&root)),
            Reach::Project(_) => Ok(false),
        }
    }

    pub fn reaches_project(&self, sql: &dyn Sql, project: &Project) -> Result<bool> {
        match self.reach {
            Reach::Project(id) => Ok(id == project.id),
            _ => self.reaches_group(sql, project.group_id),
        }
    }

    /// Whether everything `other` can touch, this principal can too.
    pub fn covers(&self, sql: &dyn Sql, other: Reach) -> Result<bool> {
        match other {
            Reach::All => Ok(self.reach == Reach::All),
            Reach::Group(g) => self.reaches_group(sql, g),
            Reach::Project(p) => match crate::domain::projects::find(sql, p)? {
                Some(project) => self.reaches_project(sql, &project),
                None => Ok(false),
            },
        }
    }
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The secret a request carries, if any.
pub fn credential(headers: &HeaderMap) -> Option<String> {
    if let Some(token) = header(headers, "private-token") {
        return Some(token.trim().to_owned());
    }
    let authorization = header(headers, "authorization")?.trim();
    let (scheme, rest) = authorization.split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (_user, password) = decoded.split_once(':')?;
        return Some(password.to_owned());
    }
    None
}

/// Whether a request carries no credential and no `Authorization` header
/// at all: only such a request may be answered from what an anonymous read
/// kept, since [`authenticate`] refuses an `Authorization` it cannot read.
pub fn anonymous(headers: &HeaderMap) -> bool {
    credential(headers).is_none() && !headers.contains_key("authorization")
}

/// Whom a read may be answered for from a record (see
/// [`crate::domain::resolved`]): no credential at all, anonymous readers; a
/// credential, its holder (whether it is any good was checked by the full
/// read that made the record). `None`: a header no record answers.
pub fn audience(headers: &HeaderMap) -> Option<Audience> {
    if anonymous(headers) {
        return Some(Audience::Anonymous);
    }
    let secret = credential(headers).filter(|s| !s.is_empty())?;
    Some(Audience::Token(sha256_hex(secret.as_bytes())))
}

/// The record a read by `who`, whose request's [`audience`] is `audience`,
/// may leave under `generation` (none is made without one): for whom, and
/// until when at most. None for the bootstrap admin token: its value is a
/// setting, which can change without moving the generation on.
pub fn record_as(
    generation: Option<u64>,
    audience: Option<&Audience>,
    who: Option<&Principal>,
) -> Option<RecordAs> {
    let (audience, until) = match (audience?, who) {
        (Audience::Anonymous, None) => (Audience::Anonymous, i64::MAX),
        (token @ Audience::Token(_), Some(holder)) if holder.token_id.is_some() => {
            (token.clone(), holder.expires_at.unwrap_or(i64::MAX))
        }
        _ => return None,
    };
    Some(RecordAs {
        generation: generation?,
        audience,
        until,
    })
}

fn unauthorized(reason: &str) -> CoreError {
    CoreError::Unauthorized(format!("401 Unauthorized{reason}"))
}

/// `Ok(None)` for an anonymous request; an error for bad credentials.
pub fn authenticate(ctx: &Context, headers: &HeaderMap) -> Result<Option<Principal>> {
    let Some(secret) = credential(headers) else {
        if headers.contains_key("authorization") {
            return Err(unauthorized(": unsupported Authorization header"));
        }
        return Ok(None);
    };
    if secret.is_empty() {
        return Err(unauthorized(""));
    }
    if let Some(admin) = &ctx.config.admin_token {
        // Compare digests so the time taken says nothing about the length.
        if constant_time_eq(&sha256(secret.as_bytes()), &sha256(admin.as_bytes())) {
            return Ok(Some(Principal::admin()));
        }
    }
    let Some(token) = tokens::find_by_secret(ctx.sql, &secret)? else {
        return Err(unauthorized(""));
    };
    let now = ctx.now();
    if token.revoked {
        return Err(unauthorized(": token has been revoked"));
    }
    if !token.is_active(now) {
        return Err(unauthorized(": token has expired"));
    }
    tokens::touch(ctx.sql, &token, now)?;
    Ok(Some(Principal {
        token_id: Some(token.id),
        scopes: token.scopes,
        reach: token.reach,
        expires_at: Some(token.expires_at),
    }))
}

/// Instance-wide operations (storage) need a principal whose reach is the
/// whole instance: the bootstrap admin token, or a token it issued without
/// a group or project.
pub fn require_instance_admin(principal: Option<&Principal>, write: bool) -> Result<&Principal> {
    let principal = require_api(principal, write)?;
    if principal.reach == Reach::All {
        Ok(principal)
    } else {
        Err(CoreError::Forbidden)
    }
}

/// The admin API needs credentials, and `api` to write or `read_api`/`api` to read.
pub fn require_api(principal: Option<&Principal>, write: bool) -> Result<&Principal> {
    let principal = principal.ok_or_else(|| unauthorized(""))?;
    let allowed = if write {
        principal.can_write_api()
    } else {
        principal.can_read_api()
    };
    if allowed {
        Ok(principal)
    } else {
        Err(CoreError::Forbidden)
    }
}

/// Reading through a virtual registry: open when its group is public,
/// otherwise a token with `read_registry` (or `write_registry`, or `api`)
/// that reaches the group.
/// Returns whether the registry is public (readable by anyone).
pub fn authorize_registry_read(
    sql: &dyn Sql,
    who: Option<&Principal>,
    group_id: i64,
) -> Result<bool> {
    let group = groups::get(sql, group_id)?;
    if group.visibility == crate::domain::model::Visibility::Public {
        return Ok(true);
    }
    let who = who.ok_or_else(|| unauthorized(""))?;
    if !(who.has(Scope::ReadRegistry) || who.has(Scope::WriteRegistry)) {
        return Err(CoreError::Forbidden);
    }
    if !who.reaches_group(sql, group_id)? {
        return Err(CoreError::NotFound("Registry"));
    }
    Ok(false)
}

/// Package reads need `read_registry` (or `write_registry`, or `api`) and
/// reach on private and internal projects; public ones are open.
pub fn authorize_project_read(
    sql: &dyn Sql,
    who: Option<&Principal>,
    project: &Project,
) -> Result<()> {
    if project.visibility == crate::domain::model::Visibility::Public {
        return Ok(());
    }
    let who = who.ok_or_else(|| unauthorized(""))?;
    if !(who.has(Scope::ReadRegistry) || who.has(Scope::WriteRegistry)) {
        return Err(CoreError::Forbidden);
    }
    if !who.reaches_project(sql, project)? {
        return Err(CoreError::NotFound("Project"));
    }
    Ok(())
}

/// Package writes need `write_registry` and reach on the project.
pub fn authorize_project_write(
    sql: &dyn Sql,
    who: Option<&Principal>,
    project: &Project,
) -> Result<()> {
    let who = who.ok_or_else(|| unauthorized(""))?;
    if !who.has(Scope::WriteRegistry) {
        return Err(CoreError::Forbidden);
    }
    if !who.reaches_project(sql, project)? {
        return Err(CoreError::NotFound("Project"));
    }
    Ok(())
}

/// The projects under a group (and its subgroups) the caller may read.
pub fn readable_projects(
    sql: &dyn Sql,
    who: Option<&Principal>,
    group_id: i64,
) -> Result<Vec<i64>> {
    only_readable(sql, who, projects::ids_in_group(sql, group_id)?)
}

/// The projects among `ids` the caller may read, in order (the projects in
/// one query: a group's or a local upstream's may be many).
pub fn only_readable(sql: &dyn Sql, who: Option<&Principal>, ids: Vec<i64>) -> Result<Vec<i64>> {
    let mut readable = Vec::with_capacity(ids.len());
    for project in projects::get_many(sql, &ids)? {
        if authorize_project_read(sql, who, &project).is_ok() {
            readable.push(project.id);
        }
    }
    Ok(readable)
}

#[cfg(test)]
mod tests {
    use super::anonymous;
    use http::HeaderMap;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn only_a_request_with_no_credential_and_no_authorization_is_anonymous() {
        assert!(anonymous(&headers(&[])));
        assert!(anonymous(&headers(&[("accept", "*/*")])));
        for not in [
            ("private-token", "t"),
            ("authorization", "Bearer t"),
            ("authorization", "Basic bTp0"),
            // Unreadable: refused by `authenticate`, never answered as anonymous.
            ("authorization", "Digest x"),
            ("authorization", "Basic !!!"),
        ] {
            assert!(!anonymous(&headers(&[not])), "{not:?}");
        }
    }
}
