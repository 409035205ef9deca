//! Projects: each belongs to a group; Maven and Go packages live in them.

use crate::domain::groups::{self, Group, SUBTREE_IDS};
use crate::domain::model::Visibility;
use crate::domain::namespaces::{self, NamespaceChanges, NamespaceFields, Table};
use crate::domain::validate::Errors;
use crate::error::{CoreError, Result};
use crate::storage::{
    json_list, query_one, query_rows, transaction, Filter, Listing, RowReader, Sql, StoreError,
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

/// The projects `ids` name, in that order, in one query.
pub fn get_many(sql: &dyn Sql, ids: &[i64]) -> Result<Vec<Project>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let statement =
        format!("SELECT {COLUMNS} FROM projects WHERE id IN (SELECT value FROM json_each(?))");
    let found: std::collections::HashMap<i64, Project> =
        query_rows(sql, &statement, &[json_list(ids)], decode)?
            .into_iter()
            .map(|p| (p.id, p))
            .collect();
    ids.iter()
        .map(|id| found.get(id).cloned().ok_or(CoreError::NotFound("Project")))
        .collect()
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

const TABLE: Table = Table {
    name: "projects",
    parent_column: "group_id",
};

impl Project {
    pub fn fields(&self) -> NamespaceFields {
        NamespaceFields {
            name: self.name.clone(),
            path: self.path.clone(),
            description: self.description.clone(),
            visibility: self.visibility,
        }
    }

    fn set_fields(&mut self, fields: NamespaceFields) {
        self.name = fields.name;
        self.path = fields.path;
        self.description = fields.description;
        self.visibility = fields.visibility;
    }
}

fn validate(sql: &dyn Sql, project: &Project, group: &Group) -> Result<()> {
    let mut errors = Errors::default();
    let fields = project.fields();
    namespaces::check_fields(&fields, &mut errors);
    namespaces::check_placement(sql, &TABLE, (project.id, Some(group)), &fields, &mut errors)?;
    errors.finish()
}

pub fn create(sql: &dyn Sql, now: i64, group_id: i64, fields: NamespaceFields) -> Result<Project> {
    transaction(sql, || {
        let group = groups::find(sql, group_id)?.ok_or(CoreError::NotFound("Namespace"))?;
        let mut project = Project {
            id: 0,
            name: String::new(),
            path: String::new(),
            description: String::new(),
            group_id,
            visibility: fields.visibility,
            created_at: now,
            updated_at: now,
        };
        project.set_fields(fields);
        validate(sql, &project, &group)?;
        project.id = namespaces::insert(sql, &TABLE, now, Some(group_id), &project.fields())?;
        Ok(project)
    })
}

pub fn update(sql: &dyn Sql, now: i64, id: i64, changes: NamespaceChanges) -> Result<Project> {
    transaction(sql, || {
        let mut project = get(sql, id)?;
        let group = groups::get(sql, project.group_id)?;
        let mut fields = project.fields();
        changes.apply(&mut fields);
        project.set_fields(fields);
        project.updated_at = now;
        validate(sql, &project, &group)?;
        namespaces::save(sql, &TABLE, now, id, &project.fields())?;
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
