//! Upstreams (remote URLs or local projects/groups) and their ordered links
//! to registries.

use crate::crypto::PasswordSealer;
use crate::domain::groups;
use crate::domain::model::{PackageType, UpstreamMode};
use crate::domain::projects;
use crate::domain::registries::Registry;
use crate::domain::validate::{normalize_upstream_url, Errors, DESCRIPTION_MAX, NAME_MAX};
use crate::error::{CoreError, Result};
use crate::http::params::Field;
use crate::storage::{
    query_one, query_rows, transaction, Filter, Listing, RowReader, Sql, StoreError, Value,
};

pub const MAX_PER_REGISTRY: i64 = 20;
pub const CREDENTIAL_MAX: usize = 510;
pub const DEFAULT_CACHE_VALIDITY_HOURS: i64 = 24;
pub const DEFAULT_METADATA_CACHE_VALIDITY_HOURS: i64 = 24;

#[derive(Debug, Clone, PartialEq)]
pub struct Upstream {
    pub id: i64,
    pub group_id: i64,
    pub package_type: PackageType,
    pub mode: UpstreamMode,
    pub name: String,
    pub description: String,
    pub url: Option<String>,
    pub username: Option<String>,
    /// Sealed with [`PasswordSealer`]; never leaves the core in clear.
    pub password_encrypted: Option<Vec<u8>>,
    pub target_project_id: Option<i64>,
    pub target_group_id: Option<i64>,
    pub cache_validity_hours: i64,
    pub metadata_cache_validity_hours: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, group_id, package_type, mode, name, description, url, username, \
     password_encrypted, target_project_id, target_group_id, cache_validity_hours, \
     metadata_cache_validity_hours, created_at, updated_at";

fn decode(r: &mut RowReader) -> Result<Upstream, StoreError> {
    let bad = |e: CoreError| StoreError::Decode(e.to_string());
    Ok(Upstream {
        id: r.i64()?,
        group_id: r.i64()?,
        package_type: PackageType::parse_stored(&r.text()?).map_err(bad)?,
        mode: UpstreamMode::parse_stored(&r.text()?).map_err(bad)?,
        name: r.text()?,
        description: r.text()?,
        url: r.opt_text()?,
        username: r.opt_text()?,
        password_encrypted: r.opt_blob()?,
        target_project_id: r.opt_i64()?,
        target_group_id: r.opt_i64()?,
        cache_validity_hours: r.i64()?,
        metadata_cache_validity_hours: r.i64()?,
        created_at: r.i64()?,
        updated_at: r.i64()?,
    })
}

/// An upstream of the given type; one of another type counts as absent.
pub fn get(sql: &dyn Sql, package_type: PackageType, id: i64) -> Result<Upstream> {
    query_one(
        sql,
        &format!("SELECT {COLUMNS} FROM upstreams WHERE id = ? AND package_type = ?"),
        &[id.into(), package_type.as_str().into()],
        decode,
    )?
    .ok_or(CoreError::NotFound("Upstream"))
}

/// An upstream whatever its package type.
pub fn find(sql: &dyn Sql, id: i64) -> Result<Option<Upstream>> {
    query_one(
        sql,
        &format!("SELECT {COLUMNS} FROM upstreams WHERE id = ?"),
        &[id.into()],
        decode,
    )
}

pub fn list_in_group(
    sql: &dyn Sql,
    group_id: i64,
    package_type: PackageType,
    name_filter: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Upstream>, i64)> {
    let mut filter = Filter::default();
    filter.and(
        "group_id = ? AND package_type = ?",
        [group_id.into(), package_type.as_str().into()],
    );
    if let Some(name) = name_filter {
        filter.contains(&["name"], name);
    }
    let listing = Listing {
        table: "upstreams",
        columns: COLUMNS,
        order_by: "id",
    };
    listing.page(sql, &filter, (limit, offset), decode)
}

/// The registry's upstreams in position order, each with its link.
pub fn list_in_registry(
    sql: &dyn Sql,
    registry_id: i64,
    limit: i64,
    offset: i64,
) -> Result<(Vec<(RegistryUpstream, Upstream)>, i64)> {
    let links = links_of_registry(sql, registry_id)?;
    let total = links.len() as i64;
    let mut out = Vec::new();
    for link in links.into_iter().skip(offset as usize).take(limit as usize) {
        let upstream = query_one(
            sql,
            &format!("SELECT {COLUMNS} FROM upstreams WHERE id = ?"),
            &[link.upstream_id.into()],
            decode,
        )?
        .ok_or(CoreError::NotFound("Upstream"))?;
        out.push((link, upstream));
    }
    Ok((out, total))
}

/// The fields a create or update request may set. Blank strings arrive as
/// `Some(None)` (cleared), absent fields as `None` (kept or defaulted).
#[derive(Debug, Default)]
pub struct UpstreamInput {
    pub mode: Option<UpstreamMode>,
    pub name: Field<String>,
    pub description: Field<String>,
    pub url: Field<String>,
    pub username: Field<String>,
    pub password: Field<String>,
    pub target_project_id: Field<i64>,
    pub target_group_id: Field<i64>,
    pub cache_validity_hours: Field<i64>,
    pub metadata_cache_validity_hours: Field<i64>,
}

pub const MUTUALLY_EXCLUSIVE: &str =
    "target_project_id and target_group_id are mutually exclusive. Set only one of these.";

enum Password {
    None,
    Kept(Vec<u8>),
    New(String),
}

/// The upstream as it would be after the input is applied.
struct Draft {
    upstream: Upstream,
    password: Password,
}

fn apply(mut upstream: Upstream, input: UpstreamInput) -> Result<Draft> {
    if matches!(
        (&input.target_project_id, &input.target_group_id),
        (Some(Some(_)), Some(Some(_)))
    ) {
        return Err(CoreError::BadRequest(MUTUALLY_EXCLUSIVE.into()));
    }
    fn set<T>(slot: &mut Option<T>, field: Field<T>) {
        if let Some(value) = field {
            *slot = value;
        }
    }
    if let Some(mode) = input.mode {
        upstream.mode = mode;
    }
    if let Some(name) = input.name {
        upstream.name = name.unwrap_or_default();
    }
    if let Some(description) = input.description {
        upstream.description = description.unwrap_or_default();
    }
    // Choosing one kind of target replaces the other.
    if matches!(input.target_project_id, Some(Some(_))) && input.target_group_id.is_none() {
        upstream.target_group_id = None;
    }
    if matches!(input.target_group_id, Some(Some(_))) && input.target_project_id.is_none() {
        upstream.target_project_id = None;
    }
    set(&mut upstream.url, input.url);
    set(&mut upstream.username, input.username);
    set(&mut upstream.target_project_id, input.target_project_id);
    set(&mut upstream.target_group_id, input.target_group_id);
    if let Some(Some(hours)) = input.cache_validity_hours {
        upstream.cache_validity_hours = hours;
    }
    if let Some(Some(hours)) = input.metadata_cache_validity_hours {
        upstream.metadata_cache_validity_hours = hours;
    }
    let password = match input.password {
        Some(Some(p)) => Password::New(p),
        Some(None) => Password::None,
        None => match upstream.password_encrypted.take() {
            Some(sealed) => Password::Kept(sealed),
            None => Password::None,
        },
    };
    Ok(Draft { upstream, password })
}

/// Validates the draft in GitLab's wording and field order, normalising its URL.
fn validate(sql: &dyn Sql, draft: &mut Draft, allow_local: bool) -> Result<()> {
    let u = &mut draft.upstream;
    let has_password = !matches!(draft.password, Password::None);
    let mut errors = Errors::default();
    match u.mode {
        UpstreamMode::Local => {
            if u.target_group_id.is_none() && u.target_project_id.is_none() {
                errors.add("Target group can't be blank");
                errors.add("Target project can't be blank");
            }
            if let Some(id) = u.target_group_id {
                match groups::find(sql, id)? {
                    None => errors.add("Target group must exist"),
                    Some(_) if groups::root_of(sql, id)?.id != u.group_id => {
                        errors.add("Target group must be within the upstream's top-level group")
                    }
                    Some(_) => {}
                }
            }
            if let Some(id) = u.target_project_id {
                match projects::find(sql, id)? {
                    None => errors.add("Target project must exist"),
                    Some(p) if groups::root_of(sql, p.group_id)?.id != u.group_id => {
                        errors.add("Target project must be within the upstream's top-level group")
                    }
                    Some(_) => {}
                }
            }
            errors.must_be_blank("Url", u.url.is_some());
            errors.must_be_blank("Username", u.username.is_some());
            errors.must_be_blank("Password", has_password);
        }
        UpstreamMode::Remote => {
            errors.must_be_blank("Target group", u.target_group_id.is_some());
            errors.must_be_blank("Target project", u.target_project_id.is_some());
            match u.url.as_deref().map(normalize_upstream_url) {
                None => errors.add("Url can't be blank"),
                Some(Err(message)) => errors.add(message),
                Some(Ok(normalized)) => {
                    let host = url::Url::parse(&normalized)
                        .ok()
                        .and_then(|p| p.host_str().map(str::to_owned));
                    if !allow_local
                        && host
                            .as_deref()
                            .is_some_and(crate::domain::validate::is_local_host)
                    {
                        errors.add(crate::domain::validate::LOCAL_NETWORK_BLOCKED);
                    }
                    u.url = Some(normalized)
                }
            }
            if u.username.is_some() && !has_password {
                errors.add("Password can't be blank");
            }
            if u.username.is_none() && has_password {
                errors.add("Username can't be blank");
            }
            errors.max_len("Username", u.username.as_deref(), CREDENTIAL_MAX);
            if let Password::New(p) = &draft.password {
                errors.max_len("Password", Some(p), CREDENTIAL_MAX);
            }
        }
    }
    if errors.required("Name", Some(&u.name)) {
        errors.max_len("Name", Some(&u.name), NAME_MAX);
    }
    errors.max_len("Description", Some(&u.description), DESCRIPTION_MAX);
    if u.cache_validity_hours < 0 {
        errors.add("Cache validity hours must be greater than or equal to 0");
    }
    if u.metadata_cache_validity_hours <= 0 {
        errors.add("Metadata cache validity hours must be greater than 0");
    }
    errors.finish()
}

fn seal(draft: Draft, sealer: &PasswordSealer) -> Upstream {
    let mut upstream = draft.upstream;
    upstream.password_encrypted = match draft.password {
        Password::None => None,
        Password::Kept(sealed) => Some(sealed),
        Password::New(plain) => Some(sealer.seal(&plain)),
    };
    upstream
}

fn upstream_params(u: &Upstream) -> Vec<Value> {
    vec![
        u.mode.as_str().into(),
        u.name.as_str().into(),
        u.description.as_str().into(),
        u.url.clone().into(),
        u.username.clone().into(),
        u.password_encrypted.clone().into(),
        u.target_project_id.into(),
        u.target_group_id.into(),
        u.cache_validity_hours.into(),
        u.metadata_cache_validity_hours.into(),
        u.updated_at.into(),
    ]
}

/// Creates an upstream in a top-level group; with `link_to`, also links it
/// last in that registry — both or neither.
#[allow(clippy::too_many_arguments)]
pub fn create(
    sql: &dyn Sql,
    sealer: &PasswordSealer,
    allow_local: bool,
    now: i64,
    group_id: i64,
    package_type: PackageType,
    input: UpstreamInput,
    link_to: Option<&Registry>,
) -> Result<(Upstream, Option<RegistryUpstream>)> {
    transaction(sql, || {
        let group = groups::get(sql, group_id)?;
        if group.parent_id.is_some() {
            return Err(CoreError::validation("Group must be a top level Group"));
        }
        let base = Upstream {
            id: 0,
            group_id,
            package_type,
            mode: UpstreamMode::Remote,
            name: String::new(),
            description: String::new(),
            url: None,
            username: None,
            password_encrypted: None,
            target_project_id: None,
            target_group_id: None,
            cache_validity_hours: DEFAULT_CACHE_VALIDITY_HOURS,
            metadata_cache_validity_hours: DEFAULT_METADATA_CACHE_VALIDITY_HOURS,
            created_at: now,
            updated_at: now,
        };
        let mut draft = apply(base, input)?;
        validate(sql, &mut draft, allow_local)?;
        let mut upstream = seal(draft, sealer);
        let mut params = upstream_params(&upstream);
        params.extend([group_id.into(), package_type.as_str().into(), now.into()]);
        upstream.id = sql
            .execute(
                "INSERT INTO upstreams (mode, name, description, url, username, password_encrypted,
                    target_project_id, target_group_id, cache_validity_hours,
                    metadata_cache_validity_hours, updated_at, group_id, package_type, created_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                &params,
            )?
            .scalar_i64()
            .ok_or_else(|| StoreError::Decode("INSERT returned no id".into()))?;
        let link = match link_to {
            Some(registry) => Some(link_in_tx(sql, now, registry, &upstream)?),
            None => None,
        };
        Ok((upstream, link))
    })
}

pub fn update(
    sql: &dyn Sql,
    sealer: &PasswordSealer,
    allow_local: bool,
    now: i64,
    package_type: PackageType,
    id: i64,
    input: UpstreamInput,
) -> Result<Upstream> {
    transaction(sql, || {
        let mut existing = get(sql, package_type, id)?;
        existing.updated_at = now;
        let mut draft = apply(existing, input)?;
        validate(sql, &mut draft, allow_local)?;
        let upstream = seal(draft, sealer);
        // A changed target may now overlap another local upstream of a registry.
        for link in links_of_upstream(sql, id)? {
            check_local_overlap(sql, link.registry_id, &upstream)?;
        }
        let mut params = upstream_params(&upstream);
        params.push(id.into());
        sql.execute(
            "UPDATE upstreams SET mode = ?, name = ?, description = ?, url = ?, username = ?,
                password_encrypted = ?, target_project_id = ?, target_group_id = ?,
                cache_validity_hours = ?, metadata_cache_validity_hours = ?, updated_at = ?
             WHERE id = ?",
            &params,
        )?;
        Ok(upstream)
    })
}

/// Deletes the upstream, its links (closing the gaps they leave) and its
/// cache entries.
pub fn delete(sql: &dyn Sql, package_type: PackageType, id: i64) -> Result<()> {
    transaction(sql, || {
        get(sql, package_type, id)?;
        for link in links_of_upstream(sql, id)? {
            unlink_in_tx(sql, &link)?;
        }
        sql.execute(
            "DELETE FROM cache_entries WHERE upstream_id = ?",
            &[id.into()],
        )?;
        sql.execute("DELETE FROM upstreams WHERE id = ?", &[id.into()])?;
        Ok(())
    })
}

#[derive(Debug, Clone, PartialEq)]
pub struct RegistryUpstream {
    pub id: i64,
    pub registry_id: i64,
    pub upstream_id: i64,
    pub position: i64,
}

const LINK_COLUMNS: &str = "id, registry_id, upstream_id, position";

fn decode_link(r: &mut RowReader) -> Result<RegistryUpstream, StoreError> {
    Ok(RegistryUpstream {
        id: r.i64()?,
        registry_id: r.i64()?,
        upstream_id: r.i64()?,
        position: r.i64()?,
    })
}

pub fn links_of_registry(sql: &dyn Sql, registry_id: i64) -> Result<Vec<RegistryUpstream>> {
    query_rows(
        sql,
        &format!(
            "SELECT {LINK_COLUMNS} FROM registry_upstreams WHERE registry_id = ? ORDER BY position"
        ),
        &[registry_id.into()],
        decode_link,
    )
}

pub fn links_of_upstream(sql: &dyn Sql, upstream_id: i64) -> Result<Vec<RegistryUpstream>> {
    query_rows(
        sql,
        &format!("SELECT {LINK_COLUMNS} FROM registry_upstreams WHERE upstream_id = ? ORDER BY registry_id"),
        &[upstream_id.into()],
        decode_link,
    )
}

/// A link whose registry has the given package type.
pub fn get_link(sql: &dyn Sql, package_type: PackageType, id: i64) -> Result<RegistryUpstream> {
    query_one(
        sql,
        "SELECT ru.id, ru.registry_id, ru.upstream_id, ru.position
         FROM registry_upstreams ru JOIN registries r ON r.id = ru.registry_id
         WHERE ru.id = ? AND r.package_type = ?",
        &[id.into(), package_type.as_str().into()],
        decode_link,
    )?
    .ok_or(CoreError::NotFound("Registry Upstream"))
}

pub fn link(
    sql: &dyn Sql,
    now: i64,
    registry: &Registry,
    upstream: &Upstream,
) -> Result<RegistryUpstream> {
    transaction(sql, || link_in_tx(sql, now, registry, upstream))
}

/// Links the upstream last in the registry. Runs inside a transaction.
fn link_in_tx(
    sql: &dyn Sql,
    now: i64,
    registry: &Registry,
    upstream: &Upstream,
) -> Result<RegistryUpstream> {
    if registry.package_type != upstream.package_type {
        return Err(CoreError::validation(
            "Upstream must have the same package type as the registry",
        ));
    }
    if registry.group_id != upstream.group_id {
        return Err(CoreError::validation(
            "Upstream must belong to the same top-level group as the registry",
        ));
    }
    let links = links_of_registry(sql, registry.id)?;
    if links.iter().any(|l| l.upstream_id == upstream.id) {
        return Err(CoreError::Conflict(
            "Upstream has already been taken".into(),
        ));
    }
    if links.len() as i64 >= MAX_PER_REGISTRY {
        return Err(CoreError::validation(format!(
            "{MAX_PER_REGISTRY} upstreams is the maximum allowed per registry."
        )));
    }
    check_local_overlap(sql, registry.id, upstream)?;
    let position = links.last().map_or(1, |l| l.position + 1);
    let id = sql
        .execute(
            "INSERT INTO registry_upstreams (registry_id, upstream_id, position, created_at)
             VALUES (?, ?, ?, ?) RETURNING id",
            &[
                registry.id.into(),
                upstream.id.into(),
                position.into(),
                now.into(),
            ],
        )?
        .scalar_i64()
        .ok_or_else(|| StoreError::Decode("INSERT returned no id".into()))?;
    Ok(RegistryUpstream {
        id,
        registry_id: registry.id,
        upstream_id: upstream.id,
        position,
    })
}

/// What a local upstream serves: a project, or a group's whole subtree.
enum Target {
    Project { id: i64, group_lineage: Vec<i64> },
    Group { lineage: Vec<i64> },
}

fn target_of(sql: &dyn Sql, upstream: &Upstream) -> Result<Option<Target>> {
    if upstream.mode != UpstreamMode::Local {
        return Ok(None);
    }
    if let Some(id) = upstream.target_project_id {
        let project = projects::get(sql, id)?;
        return Ok(Some(Target::Project {
            id,
            group_lineage: groups::lineage_ids(sql, project.group_id)?,
        }));
    }
    match upstream.target_group_id {
        Some(id) => Ok(Some(Target::Group {
            lineage: groups::lineage_ids(sql, id)?,
        })),
        None => Ok(None),
    }
}

/// Whether two local targets serve overlapping packages: the same project,
/// or one lies inside the other's group subtree.
fn overlaps(a: &Target, b: &Target) -> bool {
    let own_group = |lineage: &[i64]| lineage.last().copied();
    match (a, b) {
        (Target::Project { id: x, .. }, Target::Project { id: y, .. }) => x == y,
        (Target::Project { group_lineage, .. }, Target::Group { lineage })
        | (Target::Group { lineage }, Target::Project { group_lineage, .. }) => {
            own_group(lineage).is_some_and(|g| group_lineage.contains(&g))
        }
        (Target::Group { lineage: x }, Target::Group { lineage: y }) => {
            own_group(x).is_some_and(|g| y.contains(&g))
                || own_group(y).is_some_and(|g| x.contains(&g))
        }
    }
}

/// Refuses a local upstream whose packages another local upstream of the
/// registry already serves (or that would serve theirs).
fn check_local_overlap(sql: &dyn Sql, registry_id: i64, upstream: &Upstream) -> Result<()> {
    let Some(target) = target_of(sql, upstream)? else {
        return Ok(());
    };
    for link in links_of_registry(sql, registry_id)? {
        if link.upstream_id == upstream.id {
            continue;
        }
        let other = query_one(
            sql,
            &format!("SELECT {COLUMNS} FROM upstreams WHERE id = ?"),
            &[link.upstream_id.into()],
            decode,
        )?;
        let Some(other) = other else { continue };
        if let Some(other_target) = target_of(sql, &other)? {
            if overlaps(&target, &other_target) {
                return Err(CoreError::validation(format!(
                    "Upstream overlaps local upstream '{}' already in this registry: \
                     its target group or project is already covered",
                    other.name
                )));
            }
        }
    }
    Ok(())
}

/// Moves a link to `position` (1..=20, clamped to the last), shifting the
/// links in between by one.
pub fn move_link(
    sql: &dyn Sql,
    package_type: PackageType,
    id: i64,
    position: i64,
) -> Result<RegistryUpstream> {
    if !(1..=MAX_PER_REGISTRY).contains(&position) {
        return Err(CoreError::validation(format!(
            "Position must be between 1 and {MAX_PER_REGISTRY}"
        )));
    }
    transaction(sql, || {
        let mut link = get_link(sql, package_type, id)?;
        let last = links_of_registry(sql, link.registry_id)?.len() as i64;
        let target = position.min(last);
        let from = link.position;
        if target == from {
            return Ok(link);
        }
        // Park the moved link at 0, shift the others through negative values
        // (the UNIQUE(registry, position) index is checked row by row), then
        // flip them back.
        sql.execute(
            "UPDATE registry_upstreams SET position = 0 WHERE id = ?",
            &[id.into()],
        )?;
        let (shift, lo, hi) = if target < from {
            (1, target, from - 1)
        } else {
            (-1, from + 1, target)
        };
        sql.execute(
            "UPDATE registry_upstreams SET position = -(position + ?) WHERE registry_id = ? AND position BETWEEN ? AND ?",
            &[shift.into(), link.registry_id.into(), lo.into(), hi.into()],
        )?;
        flip_negative_positions(sql, link.registry_id)?;
        sql.execute(
            "UPDATE registry_upstreams SET position = ? WHERE id = ?",
            &[target.into(), id.into()],
        )?;
        link.position = target;
        Ok(link)
    })
}

fn flip_negative_positions(sql: &dyn Sql, registry_id: i64) -> Result<()> {
    sql.execute(
        "UPDATE registry_upstreams SET position = -position WHERE registry_id = ? AND position < 0",
        &[registry_id.into()],
    )?;
    Ok(())
}

pub fn unlink(sql: &dyn Sql, package_type: PackageType, id: i64) -> Result<()> {
    transaction(sql, || {
        let link = get_link(sql, package_type, id)?;
        unlink_in_tx(sql, &link)
    })
}

/// Removes a link and closes the gap it leaves. Runs inside a transaction.
fn unlink_in_tx(sql: &dyn Sql, link: &RegistryUpstream) -> Result<()> {
    sql.execute(
        "DELETE FROM registry_upstreams WHERE id = ?",
        &[link.id.into()],
    )?;
    sql.execute(
        "UPDATE registry_upstreams SET position = -(position - 1) WHERE registry_id = ? AND position > ?",
        &[link.registry_id.into(), link.position.into()],
    )?;
    flip_negative_positions(sql, link.registry_id)
}

/// The request for `suffix` under a remote upstream's URL, with its
/// credentials (Basic) — refused when it points at the local network and
/// `allow_local_upstreams` is off.
pub fn fetch_request(
    config: &crate::context::Config,
    upstream: &Upstream,
    suffix: &str,
    method: http::Method,
) -> std::result::Result<crate::http::fetch::FetchRequest, String> {
    use base64::Engine;
    let base = upstream.url.as_deref().ok_or("no URL")?;
    let url = if suffix.is_empty() {
        base.to_owned()
    } else {
        format!("{base}/{suffix}")
    };
    let host = url::Url::parse(&url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    if !config.allow_local_upstreams && crate::domain::validate::is_local_host(&host) {
        return Err("requests to the local network are not allowed".into());
    }
    let mut headers = vec![(
        "user-agent".to_owned(),
        format!("vreg/{}", env!("CARGO_PKG_VERSION")),
    )];
    if let (Some(user), Some(sealed)) = (&upstream.username, &upstream.password_encrypted) {
        let password = PasswordSealer::new(&config.secret_key)
            .open(sealed)
            .map_err(|e| e.to_string())?;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        headers.push(("authorization".to_owned(), format!("Basic {token}")));
    }
    Ok(crate::http::fetch::FetchRequest {
        method,
        url,
        headers,
        timeout: std::time::Duration::from_secs(config.upstream_timeout_seconds),
    })
}
