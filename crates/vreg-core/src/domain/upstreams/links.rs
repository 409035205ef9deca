//! The ordered links between registries and upstreams: positions 1..=20
//! with no gaps, and at most one local upstream per served project.

use super::{Upstream, MAX_PER_REGISTRY};
use crate::domain::model::{PackageType, UpstreamMode};
use crate::domain::registries::Registry;
use crate::domain::{groups, projects, resolved};
use crate::error::{CoreError, Result};
use crate::storage::{query_one, query_rows, transaction, RowReader, Sql, StoreError};

#[derive(Debug, Clone, PartialEq)]
pub struct RegistryUpstream {
    pub id: i64,
    pub registry_id: i64,
    pub upstream_id: i64,
    pub position: i64,
}

pub(super) const LINK_COLUMNS: &str = "id, registry_id, upstream_id, position";

pub(super) fn decode_link(r: &mut RowReader) -> Result<RegistryUpstream, StoreError> {
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
pub(super) fn link_in_tx(
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
pub(super) fn check_local_overlap(
    sql: &dyn Sql,
    registry_id: i64,
    upstream: &Upstream,
) -> Result<()> {
    let Some(target) = target_of(sql, upstream)? else {
        return Ok(());
    };
    for link in links_of_registry(sql, registry_id)? {
        if link.upstream_id == upstream.id {
            continue;
        }
        let Some(other) = super::find(sql, link.upstream_id)? else {
            continue;
        };
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
pub(super) fn unlink_in_tx(sql: &dyn Sql, link: &RegistryUpstream) -> Result<()> {
    if let Some(upstream) = super::find(sql, link.upstream_id)? {
        if upstream.package_type == PackageType::Golang {
            let projects = super::target_projects(sql, &upstream)?;
            resolved::queue_go_project_records(sql, link.registry_id, &projects)?;
        }
    }
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
