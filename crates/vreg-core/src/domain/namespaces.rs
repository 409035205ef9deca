//! What groups and projects share: a name, a URL path unique among its
//! siblings, a description, and a visibility no wider than the parent
//! group's. Their rows differ only in the table and the parent column.

use crate::domain::groups::Group;
use crate::domain::model::Visibility;
use crate::domain::validate::{check_path, Errors, DESCRIPTION_MAX, NAME_MAX};
use crate::error::Result;
use crate::storage::{Sql, StoreError};

/// The fields a group or project is created with.
#[derive(Debug, Clone, PartialEq)]
pub struct NamespaceFields {
    pub name: String,
    pub path: String,
    pub description: String,
    pub visibility: Visibility,
}

/// An update: absent fields are kept.
#[derive(Debug, Default)]
pub struct NamespaceChanges {
    pub name: Option<String>,
    pub path: Option<String>,
    pub description: Option<String>,
    pub visibility: Option<Visibility>,
}

impl NamespaceChanges {
    pub fn apply(self, fields: &mut NamespaceFields) {
        if let Some(v) = self.name {
            fields.name = v;
        }
        if let Some(v) = self.path {
            fields.path = v;
        }
        if let Some(v) = self.description {
            fields.description = v;
        }
        if let Some(v) = self.visibility {
            fields.visibility = v;
        }
    }
}

/// Where a kind of namespace is stored.
pub(crate) struct Table {
    pub name: &'static str,
    /// The column naming the parent group (NULL for a top-level group).
    pub parent_column: &'static str,
}

/// The field rules both share, in GitLab's wording: a name, a valid path
/// and a short description.
pub(crate) fn check_fields(fields: &NamespaceFields, errors: &mut Errors) {
    if errors.required("Name", Some(&fields.name)) {
        errors.max_len("Name", Some(&fields.name), NAME_MAX);
    }
    check_path(errors, &fields.path);
    errors.max_len("Description", Some(&fields.description), DESCRIPTION_MAX);
}

/// The placement rules both share: a visibility within the parent's, and a
/// path not yet taken among the siblings. `id` is 0 for a new record.
pub(crate) fn check_placement(
    sql: &dyn Sql,
    table: &Table,
    (id, parent): (i64, Option<&Group>),
    fields: &NamespaceFields,
    errors: &mut Errors,
) -> Result<()> {
    if let Some(parent) = parent {
        if fields.visibility > parent.visibility {
            errors.add(format!(
                "Visibility level {} is not allowed in a {} group.",
                fields.visibility.as_str(),
                parent.visibility.as_str()
            ));
        }
    }
    let taken = sql
        .execute(
            &format!(
                "SELECT COUNT(*) FROM {} WHERE COALESCE({}, 0) = ? AND path = ? COLLATE NOCASE AND id != ?",
                table.name, table.parent_column
            ),
            &[
                parent.map_or(0, |p| p.id).into(),
                fields.path.as_str().into(),
                id.into(),
            ],
        )?
        .scalar_i64()
        .unwrap_or(0);
    if taken > 0 {
        errors.add("Path has already been taken");
    }
    Ok(())
}

/// Inserts a checked record; returns its id.
pub(crate) fn insert(
    sql: &dyn Sql,
    table: &Table,
    now: i64,
    parent_id: Option<i64>,
    fields: &NamespaceFields,
) -> Result<i64> {
    Ok(sql
        .execute(
            &format!(
                "INSERT INTO {} (name, path, description, {}, visibility, created_at, updated_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                table.name, table.parent_column
            ),
            &[
                fields.name.as_str().into(),
                fields.path.as_str().into(),
                fields.description.as_str().into(),
                parent_id.into(),
                fields.visibility.as_str().into(),
                now.into(),
                now.into(),
            ],
        )?
        .scalar_i64()
        .ok_or_else(|| StoreError::Decode("INSERT returned no id".into()))?)
}

/// Saves a checked record's fields.
pub(crate) fn save(
    sql: &dyn Sql,
    table: &Table,
    now: i64,
    id: i64,
    fields: &NamespaceFields,
) -> Result<()> {
    sql.execute(
        &format!(
            "UPDATE {} SET name = ?, path = ?, description = ?, visibility = ?, updated_at = ? WHERE id = ?",
            table.name
        ),
        &[
            fields.name.as_str().into(),
            fields.path.as_str().into(),
            fields.description.as_str().into(),
            fields.visibility.as_str().into(),
            now.into(),
            id.into(),
        ],
    )?;
    Ok(())
}
