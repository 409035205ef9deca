//! Projects: each belongs to a group; Maven and Go packages live in them.

use crate::domain::groups::{self, Group, SUBTREE_IDS};
use crate::domain::model::Visibility;
use crate::domain::validate::{check_path, Errors, DESCRIPTION_MAX, NAME_MAX};
use crate::error::{CoreError, Result};
use crate::storage::{
    query_one, query_rows, transaction, Filter, Listing, RowReader, Sql, StoreError,
};

#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    pub id: i64,
    pub name: String,
    pub path: String,
    pub description: String,
    pub group_id: i64,
    pub visibility: Visibility,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, name, path, description, group_id, visibility, created_at, updated_at";

fn decode(r: &mut RowReader) -> Result<Project, StoreError> {
    Ok(Project {
        id: r.i64()?,
        name: r.text()?,
        path: r.text()?,
        description: r.text()?,
        group_id: r.i64()?,
        visibility: Visibility::parse_stored(&r.text()?)
            .map_err(|e| StoreError::Decode(e.to_string()))?,
        created_at: r.i64()?,
        updated_at: r.i64()?,
    })
}

pub fn find(sql: &dyn Sql, id: i64) -> Result<Option<Project>> {
    query_one(
        sql,
        &format!("SELECT {COLUMNS} FROM projects WHERE id = ?"),
        &[id.into()],
        decode,
    )
}

pub fn get(sql: &dyn Sql, id: i64) -> Result<Project> {
    find(sql, id)?.ok_or(CoreError::NotFound("Project"))
}

/// A project named by id or by (percent-encoded) full path, as GitLab's
/// `:id` parameters are.
pub fn find_by_reference(sql: &dyn Sql, reference: &str) -> Result<Option<Project>> {
    let decoded = percent_encoding::percent_decode_str(reference).decode_utf8_lossy();
    match decoded.parse::<i64>() {
        Ok(id) if id > 0 => find(sql, id),
        Ok(_) => Ok(None),
        Err(_) => find_by_full_path(sql, &decoded),
    }
}

/// Every project under a group and its subgroups.
pub fn ids_in_group(sql: &dyn Sql, group_id: i64) -> Result<Vec<i64>> {
    query_rows(
        sql,
        &format!(
            "SELECT id FROM projects WHERE group_id IN ({}) ORDER BY id",
            groups::SUBTREE_IDS
        ),
        &[group_id.into()],
        |r| r.i64(),
    )
}

/// Looks a project up by `group/sub/project`.
pub fn find_by_full_path(sql: &dyn Sql, full_path: &str) -> Result<Option<Project>> {
    let Some((group_path, path)) = full_path.rsplit_once('/') else {
        return Ok(None);
    };
    let Some(group) = groups::find_by_full_path(sql, group_path)? else {
        return Ok(None);
    };
    query_one(
        sql,
        &format!("SELECT {COLUMNS} FROM projects WHERE group_id = ? AND path = ? COLLATE NOCASE"),
        &[group.id.into(), path.into()],
        decode,
    )
}

pub fn list(
    sql: &dyn Sql,
    within_group: Option<i64>,
    only_project: Option<i64>,
    search: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Project>, i64)> {
    let mut filter = Filter::default();
    if let Some(root) = within_group {
        filter.and(&format!("group_id IN ({SUBTREE_IDS})"), [root.into()]);
    }
    if let Some(id) = only_project {
        filter.and("id = ?", [id.into()]);
    }
    if let Some(term) = search {
        filter.contains(&["name", "path"], term);
    }
    let listing = Listing {
        table: "projects",
        columns: COLUMNS,
        order_by: "id",
    };
    listing.page(sql, &filter, (limit, offset), decode)
}

fn validate(sql: &dyn Sql, project: &Project, group: &Group) -> Result<()> {
    let mut errors = Errors::default();
    if errors.required("Name", Some(&project.name)) {
        errors.max_len("Name", Some(&project.name), NAME_MAX);
    }
    check_path(&mut errors, &project.path);
    errors.max_len("Description", Some(&project.description), DESCRIPTION_MAX);
    if project.visibility > group.visibility {
        errors.add(format!(
            "Visibility level {} is not allowed in a {} group.",
            project.visibility.as_str(),
            group.visibility.as_str()
        ));
    }
    let taken = sql
        .execute(
            "SELECT COUNT(*) FROM projects WHERE group_id = ? AND path = ? COLLATE NOCASE AND id != ?",
            &[group.id.into(), project.path.as_str().into(), project.id.into()],
        )?
        .scalar_i64()
        .unwrap_or(0);
    if taken > 0 {
        errors.add("Path has already been taken");
    }
    errors.finish()
}

pub fn create(
    sql: &dyn Sql,
    now: i64,
    name: String,
    path: String,
    description: String,
    group_id: i64,
    visibility: Visibility,
) -> Result<Project> {
    transaction(sql, || {
        let group = groups::find(sql, group_id)?.ok_or(CoreError::NotFound("Namespace"))?;
        let mut project = Project {
            id: 0,
            name,
            path,
            description,
            group_id,
            visibility,
            created_at: now,
            updated_at: now,
        };
        validate(sql, &project, &group)?;
        project.id = sql
            .execute(
                "INSERT INTO projects (name, path, description, group_id, visibility, created_at, updated_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                &[
                    project.name.as_str().into(),
                    project.path.as_str().into(),
                    project.description.as_str().into(),
                    group_id.into(),
                    project.visibility.as_str().into(),
                    now.into(),
                    now.into(),
                ],
            )?
            .scalar_i64()
            .ok_or_else(|| StoreError::Decode("INSERT returned no id".into()))?;
        Ok(project)
    })
}

#[derive(Debug, Default)]
pub struct ProjectChanges {
    pub name: Option<String>,
    pub path: Option<String>,
    pub description: Option<String>,
    pub visibility: Option<Visibility>,
}

pub fn update(sql: &dyn Sql, now: i64, id: i64, changes: ProjectChanges) -> Result<Project> {
    transaction(sql, || {
        let mut project = get(sql, id)?;
        let group = groups::get(sql, project.group_id)?;
        if let Some(v) = changes.name {
            project.name = v;
        }
        if let Some(v) = changes.path {
            project.path = v;
        }
        if let Some(v) = changes.description {
            project.description = v;
        }
        if let Some(v) = changes.visibility {
            project.visibility = v;
        }
        project.updated_at = now;
        validate(sql, &project, &group)?;
        sql.execute(
            "UPDATE projects SET name = ?, path = ?, description = ?, visibility = ?, updated_at = ? WHERE id = ?",
            &[
                project.name.as_str().into(),
                project.path.as_str().into(),
                project.description.as_str().into(),
                project.visibility.as_str().into(),
                now.into(),
                id.into(),
            ],
        )?;
        Ok(project)
    })
}

/// Deletes a project that holds no packages and that no local upstream
/// targets; otherwise says what is in the way.
pub fn delete(sql: &dyn Sql, id: i64) -> Result<()> {
    transaction(sql, || {
        get(sql, id)?;
        let row = sql
            .execute(
                "SELECT (SELECT COUNT(*) FROM packages WHERE project_id = ?1),
                        (SELECT COUNT(*) FROM upstreams WHERE target_project_id = ?1)",
                &[id.into()],
            )?
            .rows
            .into_iter()
            .next()
            .unwrap_or_default();
        let mut r = RowReader::new(&row);
        let (packages, upstreams) = (r.i64()?, r.i64()?);
        if packages > 0 || upstreams > 0 {
            return Err(CoreError::Conflict(format!(
                "Project cannot be deleted while it has {packages} packages and {upstreams} local upstreams targeting it"
            )));
        }
        sql.execute("DELETE FROM tokens WHERE project_id = ?", &[id.into()])?;
        sql.execute("DELETE FROM projects WHERE id = ?", &[id.into()])?;
        Ok(())
    })
}
