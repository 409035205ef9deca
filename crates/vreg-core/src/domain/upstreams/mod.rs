//! Upstreams: remote URLs or local projects/groups, owned by a top-level
//! group, linked to registries in order. This file holds the record and its
//! life cycle; `input` turns API fields into a valid upstream, `links` keeps
//! the ordered links, `outbound` builds the requests sent to a remote.

pub mod health;
mod input;
mod links;
mod outbound;

pub use input::{UpstreamInput, MUTUALLY_EXCLUSIVE};
pub use links::{
    get_link, link, links_of_registry, links_of_upstream, move_link, unlink, RegistryUpstream,
};
pub use outbound::{fetch_request, outbound_request};

use input::{apply, seal, upstream_params, validate};
use links::{check_local_overlap, link_in_tx, unlink_in_tx};

use crate::context::Context;
use crate::crypto::PasswordSealer;
use crate::domain::groups;
use crate::domain::model::{PackageType, UpstreamMode};
use crate::domain::registries::Registry;
use crate::domain::resolved::queue_go_project_records;
use crate::error::{CoreError, Result};
use crate::storage::{
    qualified, query_one, query_rows, transaction, Filter, Listing, RowReader, Sql, StoreError,
};

pub const MAX_PER_REGISTRY: i64 = 20;
pub const CREDENTIAL_MAX: usize = 510;
pub const DEFAULT_CACHE_VALIDITY_HOURS: i64 = 24;
pub const DEFAULT_METADATA_CACHE_VALIDITY_HOURS: i64 = 24;

/// (Serialized only into what the key-value store keeps for reads, e.g. a
/// Go registry's public view: the password stays sealed there too.)
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
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
    /// Cleanup policy: cached files not downloaded for this many days are
    /// removed (`None`: kept until deleted).
    pub keep_n_days_after_download: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, group_id, package_type, mode, name, description, url, username, \
     password_encrypted, target_project_id, target_group_id, cache_validity_hours, \
     metadata_cache_validity_hours, keep_n_days_after_download, created_at, updated_at";

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
        keep_n_days_after_download: r.opt_i64()?,
        created_at: r.i64()?,
        updated_at: r.i64()?,
    })
}

/// Every project a local upstream targets (its project, or every project
/// under its group), whoever asks; none for a remote upstream.
pub fn target_projects(sql: &dyn Sql, upstream: &Upstream) -> Result<Vec<i64>> {
    Ok(
        match (upstream.target_project_id, upstream.target_group_id) {
            (Some(project), _) => vec![project],
            (None, Some(group)) => crate::domain::projects::ids_in_group(sql, group)?,
            (None, None) => vec![],
        },
    )
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
    // One query, links and upstreams joined: this is on every registry read.
    let linked = query_rows(
        sql,
        &format!(
            "SELECT {}, {} FROM registry_upstreams l JOIN upstreams u ON u.id = l.upstream_id
             WHERE l.registry_id = ? ORDER BY l.position",
            qualified(links::LINK_COLUMNS, "l"),
            qualified(COLUMNS, "u")
        ),
        &[registry_id.into()],
        |r| Ok((links::decode_link(r)?, decode(r)?)),
    )?;
    let total = linked.len() as i64;
    let page = linked
        .into_iter()
        .skip(offset as usize)
        .take(limit as usize);
    Ok((page.collect(), total))
}

/// Creates an upstream in a top-level group; with `link_to`, also links it
/// last in that registry — both or neither.
pub fn create(
    ctx: &Context,
    group_id: i64,
    package_type: PackageType,
    input: UpstreamInput,
    link_to: Option<&Registry>,
) -> Result<(Upstream, Option<RegistryUpstream>)> {
    let (sql, now) = (ctx.sql, ctx.now());
    let sealer = PasswordSealer::new(&ctx.config.secret_key);
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
            keep_n_days_after_download: None,
            created_at: now,
            updated_at: now,
        };
        let mut draft = apply(base, input)?;
        validate(sql, &mut draft, ctx.config.allow_local_upstreams)?;
        let mut upstream = seal(draft, &sealer);
        let mut params = upstream_params(&upstream);
        params.extend([group_id.into(), package_type.as_str().into(), now.into()]);
        upstream.id = sql
            .execute(
                "INSERT INTO upstreams (mode, name, description, url, username, password_encrypted,
                    target_project_id, target_group_id, cache_validity_hours,
                    metadata_cache_validity_hours, keep_n_days_after_download, updated_at,
                    group_id, package_type, created_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
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
    ctx: &Context,
    package_type: PackageType,
    id: i64,
    input: UpstreamInput,
) -> Result<Upstream> {
    let (sql, now) = (ctx.sql, ctx.now());
    let sealer = PasswordSealer::new(&ctx.config.secret_key);
    transaction(sql, || {
        let mut existing = get(sql, package_type, id)?;
        existing.updated_at = now;
        let before = (package_type == PackageType::Golang).then(|| existing.clone());
        let mut draft = apply(existing, input)?;
        validate(sql, &mut draft, ctx.config.allow_local_upstreams)?;
        let upstream = seal(draft, &sealer);
        // A Go upstream pointed elsewhere leaves records of its old
        // projects' files in the registries it serves.
        let targets = |u: &Upstream| (u.target_project_id, u.target_group_id);
        let old_projects = match before.filter(|b| targets(b) != targets(&upstream)) {
            Some(before) => target_projects(sql, &before)?,
            None => Vec::new(),
        };
        // A changed target may now overlap another local upstream of a registry.
        for link in links_of_upstream(sql, id)? {
            check_local_overlap(sql, link.registry_id, &upstream)?;
            if !old_projects.is_empty() {
                queue_go_project_records(sql, link.registry_id, &old_projects)?;
            }
        }
        let mut params = upstream_params(&upstream);
        params.push(id.into());
        sql.execute(
            "UPDATE upstreams SET mode = ?, name = ?, description = ?, url = ?, username = ?,
                password_encrypted = ?, target_project_id = ?, target_group_id = ?,
                cache_validity_hours = ?, metadata_cache_validity_hours = ?,
                keep_n_days_after_download = ?, updated_at = ?
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
        crate::domain::cache::clear(sql, &[id])?;
        sql.execute("DELETE FROM upstreams WHERE id = ?", &[id.into()])?;
        Ok(())
    })
}
