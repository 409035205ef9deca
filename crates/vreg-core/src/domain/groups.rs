//! Groups: a tree through `parent_id`.

use crate::domain::model::Visibility;
use crate::domain::namespaces::{self, NamespaceChanges, NamespaceFields, Table};
use crate::domain::validate::Errors;
use crate::error::{CoreError, Result};
use crate::storage::{
    json_list, qualified, query_one, query_rows, transaction, Filter, Listing, RowReader, Sql,
    StoreError, Value,
};

/// GitLab allows 20 levels of nesting; so do we.
pub const MAX_DEPTH: usize = 20;

#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub id: i64,
    pub name: String,
    pub path: String,
    pub description: String,
    pub parent_id: Option<i64>,
    pub visibility: Visibility,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, name, path, description, parent_id, visibility, created_at, updated_at";

fn decode(r: &mut RowReader) -> Result<Group, StoreError> {
    Ok(Group {
        id: r.i64()?,
        name: r.text()?,
        path: r.text()?,
        description: r.text()?,
        parent_id: r.opt_i64()?,
        visibility: Visibility::parse_stored(&r.text()?)
            .map_err(|e| StoreError::Decode(e.to_string()))?,
        created_at: r.i64()?,
        updated_at: r.i64()?,
    })
}

pub fn find(sql: &dyn Sql, id: i64) -> Result<Option<Group>> {
    query_one(
        sql,
        &format!("SELECT {COLUMNS} FROM groups WHERE id = ?"),
        &[id.into()],
        decode,
    )
}

pub fn get(sql: &dyn Sql, id: i64) -> Result<Group> {
    find(sql, id)?.ok_or(CoreError::NotFound("Group"))
}

/// The group and its ancestors, root first.
pub fn lineage(sql: &dyn Sql, id: i64) -> Result<Vec<Group>> {
    let statement = format!(
        "WITH RECURSIVE chain(id, depth) AS (
            SELECT ?, 0
            UNION ALL
            SELECT g.parent_id, c.depth + 1 FROM groups g JOIN chain c ON g.id = c.id
            WHERE g.parent_id IS NOT NULL AND c.depth < 100
         )
         SELECT {} FROM groups g JOIN chain c ON g.id = c.id ORDER BY c.depth DESC",
        qualified(COLUMNS, "g")
    );
    query_rows(sql, &statement, &[id.into()], decode)
}

/// Ids of the group and its ancestors.
pub fn lineage_ids(sql: &dyn Sql, id: i64) -> Result<Vec<i64>> {
    Ok(lineage(sql, id)?.into_iter().map(|g| g.id).collect())
}

/// `gitlab-org/sub/team` for the lineage (root first).
pub fn full_path(lineage: &[Group]) -> String {
    lineage
        .iter()
        .map(|g| g.path.as_str())
        .collect::<Vec<_>>()
        .join("/")
}

pub fn full_name(lineage: &[Group]) -> String {
    lineage
        .iter()
        .map(|g| g.name.as_str())
        .collect::<Vec<_>>()
        .join(" / ")
}

/// The top-level group above (or equal to) `id`.
pub fn root_of(sql: &dyn Sql, id: i64) -> Result<Group> {
    lineage(sql, id)?
        .into_iter()
        .next()
        .ok_or(CoreError::NotFound("Group"))
}

/// Looks a group up by its full path (`a/b/c`), case-insensitively.
pub fn find_by_full_path(sql: &dyn Sql, full_path: &str) -> Result<Option<Group>> {
    let mut current: Option<Group> = None;
    for segment in full_path.split('/') {
        let parent = current.as_ref().map_or(0, |g| g.id);
        current = query_one(
            sql,
            &format!(
                "SELECT {COLUMNS} FROM groups WHERE COALESCE(parent_id, 0) = ? AND path = ? COLLATE NOCASE"
            ),
            &[parent.into(), segment.into()],
            decode,
        )?;
        if current.is_none() {
            return Ok(None);
        }
    }
    Ok(current)
}

/// SQL selecting the ids of a group's subtree (the group included); bind the
/// group id once.
pub const SUBTREE_IDS: &str = "WITH RECURSIVE subtree(id) AS (
        SELECT ? UNION SELECT g.id FROM groups g JOIN subtree s ON g.parent_id = s.id
    ) SELECT id FROM subtree";

/// Groups visible under an optional subtree root, paged, ordered by id.
pub fn list(
    sql: &dyn Sql,
    within: Option<i64>,
    search: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Group>, i64)> {
    let mut filter = Filter::default();
    if let Some(root) = within {
        filter.and(&format!("id IN ({SUBTREE_IDS})"), [root.into()]);
    }
    if let Some(term) = search {
        filter.contains(&["name", "path"], term);
    }
    let listing = Listing {
        table: "groups",
        columns: COLUMNS,
        order_by: "id",
    };
    listing.page(sql, &filter, (limit, offset), decode)
}

const TABLE: Table = Table {
    name: "groups",
    parent_column: "parent_id",
};

impl Group {
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

fn validate(sql: &dyn Sql, group: &Group, parent: Option<&Group>, depth: usize) -> Result<()> {
    let mut errors = Errors::default();
    let fields = group.fields();
    namespaces::check_fields(&fields, &mut errors);
    if depth > MAX_DEPTH {
        errors.add(format!(
            "Parent has too deep level of nested groups (maximum is {MAX_DEPTH})"
        ));
    }
    namespaces::check_placement(sql, &TABLE, (group.id, parent), &fields, &mut errors)?;
    // A group may not become more private than what it contains.
    if group.id != 0 {
        let more_public = sql
            .execute(
                "SELECT (SELECT COUNT(*) FROM groups WHERE parent_id = ?1 AND visibility IN (SELECT value FROM json_each(?2)))
                      + (SELECT COUNT(*) FROM projects WHERE group_id = ?1 AND visibility IN (SELECT value FROM json_each(?2)))",
                &[group.id.into(), more_public_than(group.visibility)],
            )?
            .scalar_i64()
            .unwrap_or(0);
        if more_public > 0 {
            errors.add(format!(
                "Visibility level {} is not allowed since there are sub-groups or projects with higher visibility.",
                group.visibility.as_str()
            ));
        }
    }
    errors.finish()
}

/// A JSON array of the visibility levels more public than `v`.
fn more_public_than(v: Visibility) -> Value {
    let levels: Vec<&str> = [
        Visibility::Private,
        Visibility::Internal,
        Visibility::Public,
    ]
    .into_iter()
    .filter(|l| *l > v)
    .map(Visibility::as_str)
    .collect();
    json_list(&levels)
}

pub fn create(
    sql: &dyn Sql,
    now: i64,
    parent_id: Option<i64>,
    fields: NamespaceFields,
) -> Result<Group> {
    transaction(sql, || {
        let (parent, depth) = match parent_id {
            Some(id) => {
                let lineage = lineage(sql, id)?;
                let parent = lineage
                    .last()
                    .cloned()
                    .ok_or(CoreError::NotFound("Parent Group"))?;
                (Some(parent), lineage.len() + 1)
            }
            None => (None, 1),
        };
        let mut group = Group {
            id: 0,
            name: String::new(),
            path: String::new(),
            description: String::new(),
            parent_id,
            visibility: fields.visibility,
            created_at: now,
            updated_at: now,
        };
        group.set_fields(fields);
        validate(sql, &group, parent.as_ref(), depth)?;
        group.id = namespaces::insert(sql, &TABLE, now, parent_id, &group.fields())?;
        Ok(group)
    })
}

pub fn update(sql: &dyn Sql, now: i64, id: i64, changes: NamespaceChanges) -> Result<Group> {
    transaction(sql, || {
        let lineage = lineage(sql, id)?;
        let mut group = lineage
            .last()
            .cloned()
            .ok_or(CoreError::NotFound("Group"))?;
        let parent = lineage.len().checked_sub(2).map(|i| lineage[i].clone());
        let mut fields = group.fields();
        changes.apply(&mut fields);
        group.set_fields(fields);
        group.updated_at = now;
        validate(sql, &group, parent.as_ref(), lineage.len())?;
        namespaces::save(sql, &TABLE, now, id, &group.fields())?;
        Ok(group)
    })
}

/// Deletes an empty group. A group that still holds subgroups, projects,
/// registries or upstreams, or that a local upstream targets, is kept and
/// the caller told why: deleting package data implicitly would lose it.
pub fn delete(sql: &dyn Sql, id: i64) -> Result<()> {
    transaction(sql, || {
        get(sql, id)?;
        let counts = sql.execute(
            "SELECT (SELECT COUNT(*) FROM groups WHERE parent_id = ?1),
                    (SELECT COUNT(*) FROM projects WHERE group_id = ?1),
                    (SELECT COUNT(*) FROM registries WHERE group_id = ?1),
                    (SELECT COUNT(*) FROM upstreams WHERE group_id = ?1),
                    (SELECT COUNT(*) FROM upstreams WHERE target_group_id = ?1)",
            &[id.into()],
        )?;
        let row = counts.rows.first().cloned().unwrap_or_default();
        let mut r = RowReader::new(&row);
        let labels = [
            "subgroups",
            "projects",
            "virtual registries",
            "upstreams",
            "local upstreams targeting it",
        ];
        let mut blocking = Vec::new();
        for label in labels {
            let n = r.i64()?;
            if n > 0 {
                blocking.push(format!("{n} {label}"));
            }
        }
        if !blocking.is_empty() {
            return Err(CoreError::Conflict(format!(
                "Group cannot be deleted while it has {}",
                blocking.join(", ")
            )));
        }
        sql.execute("DELETE FROM tokens WHERE group_id = ?", &[id.into()])?;
        sql.execute("DELETE FROM groups WHERE id = ?", &[id.into()])?;
        Ok(())
    })
}
