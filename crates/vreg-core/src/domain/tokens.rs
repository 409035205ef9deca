//! API tokens: shown once, stored as SHA-256, scoped and optionally limited
//! to a group's subtree or one project.

use crate::crypto::{new_token, sha256};
use crate::domain::groups::SUBTREE_IDS;
use crate::error::{CoreError, Result};
use crate::storage::{query_one, Filter, Listing, RowReader, Sql, StoreError, Value};
use crate::timefmt::DAY_MILLIS;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// Full read and write access to the API.
    Api,
    /// Read access to the admin API.
    ReadApi,
    /// Download packages.
    ReadRegistry,
    /// Publish packages.
    WriteRegistry,
}

impl Scope {
    pub const ALL: [Scope; 4] = [
        Scope::Api,
        Scope::ReadApi,
        Scope::ReadRegistry,
        Scope::WriteRegistry,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Api => "api",
            Scope::ReadApi => "read_api",
            Scope::ReadRegistry => "read_registry",
            Scope::WriteRegistry => "write_registry",
        }
    }

    pub fn parse(value: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == value)
    }
}

/// What a credential may touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    All,
    /// The group and everything under it.
    Group(i64),
    Project(i64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub id: i64,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub reach: Reach,
    /// The instant the token stops working (start of its expiry day, UTC).
    pub expires_at: i64,
    pub revoked: bool,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

impl Token {
    pub fn is_active(&self, now: i64) -> bool {
        !self.revoked && now < self.expires_at
    }
}

/// Default and longest lifetimes, in days.
pub const DEFAULT_LIFETIME_DAYS: i64 = 365;
pub const MAX_LIFETIME_DAYS: i64 = 400;
/// `last_used_at` is refreshed at most this often, to keep reads read-only.
const LAST_USED_RESOLUTION: i64 = 10 * 60 * 1000;

const COLUMNS: &str =
    "id, name, scopes, group_id, project_id, expires_at, revoked, created_at, last_used_at";

fn decode(r: &mut RowReader) -> Result<Token, StoreError> {
    let id = r.i64()?;
    let name = r.text()?;
    let scopes = r
        .text()?
        .split_whitespace()
        .map(|s| Scope::parse(s).ok_or_else(|| StoreError::Decode(format!("unknown scope {s:?}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let reach = match (r.opt_i64()?, r.opt_i64()?) {
        (Some(g), _) => Reach::Group(g),
        (None, Some(p)) => Reach::Project(p),
        (None, None) => Reach::All,
    };
    Ok(Token {
        id,
        name,
        scopes,
        reach,
        expires_at: r.i64()?,
        revoked: r.i64()? != 0,
        created_at: r.i64()?,
        last_used_at: r.opt_i64()?,
    })
}

/// Creates a token; returns it with its secret, which is not stored.
pub fn create(
    sql: &dyn Sql,
    now: i64,
    name: &str,
    mut scopes: Vec<Scope>,
    reach: Reach,
    expires_at: i64,
) -> Result<(Token, String)> {
    scopes.sort();
    scopes.dedup();
    let secret = new_token();
    let (group_id, project_id) = match reach {
        Reach::All => (None, None),
        Reach::Group(g) => (Some(g), None),
        Reach::Project(p) => (None, Some(p)),
    };
    let scope_text = scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let id = sql
        .execute(
            "INSERT INTO tokens (name, token_sha256, scopes, group_id, project_id, expires_at, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            &[
                name.into(),
                sha256(secret.as_bytes()).to_vec().into(),
                scope_text.into(),
                group_id.into(),
                project_id.into(),
                expires_at.into(),
                now.into(),
            ],
        )?
        .scalar_i64()
        .ok_or_else(|| StoreError::Decode("INSERT returned no id".into()))?;
    let token = Token {
        id,
        name: name.to_owned(),
        scopes,
        reach,
        expires_at,
        revoked: false,
        created_at: now,
        last_used_at: None,
    };
    Ok((token, secret))
}

/// The token whose secret this is. The lookup is by SHA-256, so timing
/// reveals nothing about stored secrets.
pub fn find_by_secret(sql: &dyn Sql, secret: &str) -> Result<Option<Token>> {
    query_one(
        sql,
        &format!("SELECT {COLUMNS} FROM tokens WHERE token_sha256 = ?"),
        &[sha256(secret.as_bytes()).to_vec().into()],
        decode,
    )
}

pub fn touch(sql: &dyn Sql, token: &Token, now: i64) -> Result<()> {
    if token
        .last_used_at
        .is_some_and(|t| now - t < LAST_USED_RESOLUTION)
    {
        return Ok(());
    }
    sql.execute(
        "UPDATE tokens SET last_used_at = ? WHERE id = ?",
        &[now.into(), token.id.into()],
    )?;
    Ok(())
}

pub fn get(sql: &dyn Sql, id: i64) -> Result<Token> {
    query_one(
        sql,
        &format!("SELECT {COLUMNS} FROM tokens WHERE id = ?"),
        &[id.into()],
        decode,
    )?
    .ok_or(CoreError::NotFound("Token"))
}

/// SQL condition (and its parameters) for tokens whose reach lies within `within`.
fn within_filter(within: Reach) -> (String, Vec<Value>) {
    match within {
        Reach::All => ("1 = 1".into(), vec![]),
        Reach::Group(g) => (
            format!(
                "(group_id IN ({SUBTREE_IDS}) OR project_id IN (SELECT id FROM projects WHERE group_id IN ({SUBTREE_IDS})))"
            ),
            vec![g.into(), g.into()],
        ),
        Reach::Project(p) => ("project_id = ?".into(), vec![p.into()]),
    }
}

pub fn list(sql: &dyn Sql, within: Reach, limit: i64, offset: i64) -> Result<(Vec<Token>, i64)> {
    let (condition, params) = within_filter(within);
    let mut filter = Filter::default();
    filter.and(&condition, params);
    let listing = Listing {
        table: "tokens",
        columns: COLUMNS,
        order_by: "id",
    };
    listing.page(sql, &filter, (limit, offset), decode)
}

pub fn revoke(sql: &dyn Sql, id: i64) -> Result<()> {
    sql.execute("UPDATE tokens SET revoked = 1 WHERE id = ?", &[id.into()])?;
    Ok(())
}

/// The expiry instant for an optional `YYYY-MM-DD`: the start of that day,
/// which must be after today and within [`MAX_LIFETIME_DAYS`].
pub fn expiry_from_date(now: i64, date: Option<&str>) -> Result<i64> {
    let today = now - now.rem_euclid(DAY_MILLIS);
    let Some(date) = date else {
        return Ok(today + DEFAULT_LIFETIME_DAYS * DAY_MILLIS);
    };
    let at = crate::timefmt::parse_date(date).ok_or_else(|| {
        CoreError::BadRequest("expires_at is invalid (expected YYYY-MM-DD)".into())
    })?;
    if at <= today {
        return Err(CoreError::validation("Expires at must be in the future"));
    }
    if at > today + MAX_LIFETIME_DAYS * DAY_MILLIS {
        return Err(CoreError::validation(format!(
            "Expires at must be at most {MAX_LIFETIME_DAYS} days from today"
        )));
    }
    Ok(at)
}
