//! Virtual registries: an ordered list of upstreams, owned by a top-level group.

use crate::domain::model::PackageType;
use crate::domain::validate::{
    normalize_upstream_url, Errors, DESCRIPTION_MAX, LOCAL_NETWORK_BLOCKED, NAME_MAX,
};
use crate::domain::{cache, filters, groups, protection, resolved, upstreams};
use crate::error::{CoreError, Result};
use crate::storage::{json_list, query_one, query_rows, transaction, RowReader, Sql, StoreError};

pub const MAX_PER_GROUP: i64 = 20;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Registry {
    pub id: i64,
    pub group_id: i64,
    pub package_type: PackageType,
    pub name: String,
    pub description: String,
    /// Whether what local upstreams hold is protected from remotes
    /// (see [`crate::domain::protection`]).
    pub namespace_protection: bool,
    /// Namespaces claimed explicitly, as set.
    pub protected_namespaces: Vec<String>,
    /// The checksum database a Go registry proxies (`golang::sumdb`).
    pub checksum_database_name: String,
    pub checksum_database_url: String,
    /// `allow|deny <pattern>` rules for remote upstreams (`domain::filters`).
    pub remote_filters: Vec<String>,
    /// Go modules the checksum database is not asked about.
    pub nosum_patterns: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What a registry is created with, or (absent fields kept) updated with.
#[derive(Debug, Default)]
pub struct RegistryChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub namespace_protection: Option<bool>,
    pub protected_namespaces: Option<Vec<String>>,
    pub checksum_database_name: Option<String>,
    pub checksum_database_url: Option<String>,
    pub remote_filters: Option<Vec<String>>,
    pub nosum_patterns: Option<Vec<String>>,
}

impl RegistryChanges {
    fn apply(self, registry: &mut Registry) {
        if let Some(v) = self.name {
            registry.name = v;
        }
        if let Some(v) = self.description {
            registry.description = v;
        }
        if let Some(v) = self.namespace_protection {
            registry.namespace_protection = v;
        }
        if let Some(v) = self.protected_namespaces {
            registry.protected_namespaces = v;
        }
        if let Some(v) = self.checksum_database_name {
            registry.checksum_database_name = v;
        }
        if let Some(v) = self.checksum_database_url {
            registry.checksum_database_url = v;
        }
        if let Some(v) = self.remote_filters {
            registry.remote_filters = v;
        }
        if let Some(v) = self.nosum_patterns {
            registry.nosum_patterns = v;
        }
    }
}

const COLUMNS: &str = "id, group_id, package_type, name, description, namespace_protection, \
     protected_namespaces, checksum_database_name, checksum_database_url, remote_filters, \
     nosum_patterns, created_at, updated_at";

/// The public checksum database, which Go registries proxy by default.
pub const DEFAULT_CHECKSUM_DATABASE: (&str, &str) = ("sum.golang.org", "https://sum.golang.org");

fn decode(r: &mut RowReader) -> Result<Registry, StoreError> {
    Ok(Registry {
        id: r.i64()?,
        group_id: r.i64()?,
        package_type: PackageType::parse_stored(&r.text()?)
            .map_err(|e| StoreError::Decode(e.to_string()))?,
        name: r.text()?,
        description: r.text()?,
        namespace_protection: r.i64()? != 0,
        protected_namespaces: json_list_column(&r.text()?)?,
        checksum_database_name: r.text()?,
        checksum_database_url: r.text()?,
        remote_filters: json_list_column(&r.text()?)?,
        nosum_patterns: json_list_column(&r.text()?)?,
        created_at: r.i64()?,
        updated_at: r.i64()?,
    })
}

/// A registry of the given type; one of another type counts as absent.
pub fn get(sql: &dyn Sql, package_type: PackageType, id: i64) -> Result<Registry> {
    query_one(
        sql,
        &format!("SELECT {COLUMNS} FROM registries WHERE id = ? AND package_type = ?"),
        &[id.into(), package_type.as_str().into()],
        decode,
    )?
    .ok_or(CoreError::NotFound("Registry"))
}

pub fn list(
    sql: &dyn Sql,
    group_id: i64,
    package_type: PackageType,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Registry>, i64)> {
    let params = [group_id.into(), package_type.as_str().into()];
    let total = sql
        .execute(
            "SELECT COUNT(*) FROM registries WHERE group_id = ? AND package_type = ?",
            &params,
        )?
        .scalar_i64()
        .unwrap_or(0);
    let registries = query_rows(
        sql,
        &format!(
            "SELECT {COLUMNS} FROM registries WHERE group_id = ? AND package_type = ? ORDER BY id LIMIT ? OFFSET ?"
        ),
        &[params[0].clone(), params[1].clone(), limit.into(), offset.into()],
        decode,
    )?;
    Ok((registries, total))
}

fn json_list_column(text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Decode(format!("registry list: {e}")))
}

fn validate(sql: &dyn Sql, registry: &mut Registry, allow_local: bool) -> Result<()> {
    let mut errors = Errors::default();
    if registry.remote_filters.len() > filters::MAX_RULES
        || registry.nosum_patterns.len() > filters::MAX_RULES
    {
        errors.add(format!(
            "Remote filters and nosum patterns are at most {} each",
            filters::MAX_RULES
        ));
    }
    for rule in &registry.remote_filters {
        if let Err(why) = filters::parse_rule(registry.package_type, rule) {
            errors.add(format!("Remote filters {why}"));
        }
    }
    for pattern in &registry.nosum_patterns {
        if registry.package_type != PackageType::Golang {
            errors.add("Nosum patterns are for Go registries");
            break;
        }
        if let Err(why) = filters::check_pattern(PackageType::Golang, pattern) {
            errors.add(format!("Nosum patterns {why}"));
        }
    }
    let name = &registry.checksum_database_name;
    if name.is_empty()
        || name.len() > 255
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c))
    {
        errors.add("Checksum database name must be a host name (e.g. sum.golang.org)");
    }
    match normalize_upstream_url(&registry.checksum_database_url) {
        Err(message) => errors.add(format!("Checksum database {message}")),
        Ok(url) if !allow_local && crate::domain::network::is_local_url(&url) => {
            errors.add(format!("Checksum database {LOCAL_NETWORK_BLOCKED}"))
        }
        Ok(url) => registry.checksum_database_url = url,
    }
    if errors.required("Name", Some(&registry.name)) {
        errors.max_len("Name", Some(&registry.name), NAME_MAX);
    }
    errors.max_len("Description", Some(&registry.description), DESCRIPTION_MAX);
    if registry.protected_namespaces.len() > protection::MAX_NAMESPACES {
        errors.add(format!(
            "Protected namespaces are at most {}",
            protection::MAX_NAMESPACES
        ));
    }
    for namespace in &registry.protected_namespaces {
        if let Err(why) = protection::parse_namespace(registry.package_type, namespace) {
            errors.add(format!("Protected namespaces {why}"));
        }
    }
    let taken = sql
        .execute(
            "SELECT COUNT(*) FROM registries WHERE group_id = ? AND package_type = ? AND name = ? AND id != ?",
            &[
                registry.group_id.into(),
                registry.package_type.as_str().into(),
                registry.name.as_str().into(),
                registry.id.into(),
            ],
        )?
        .scalar_i64()
        .unwrap_or(0);
    if taken > 0 {
        errors.add("Name has already been taken");
    }
    errors.finish()
}

pub fn create(
    sql: &dyn Sql,
    now: i64,
    group_id: i64,
    package_type: PackageType,
    fields: RegistryChanges,
    allow_local: bool,
) -> Result<Registry> {
    transaction(sql, || {
        let group = groups::get(sql, group_id)?;
        if group.parent_id.is_some() {
            return Err(CoreError::validation("Group must be a top level Group"));
        }
        let count = sql
            .execute(
                "SELECT COUNT(*) FROM registries WHERE group_id = ? AND package_type = ?",
                &[group_id.into(), package_type.as_str().into()],
            )?
            .scalar_i64()
            .unwrap_or(0);
        if count >= MAX_PER_GROUP {
            return Err(CoreError::validation(format!(
                "{MAX_PER_GROUP} registries is the maximum allowed per top-level group."
            )));
        }
        let mut registry = Registry {
            id: 0,
            group_id,
            package_type,
            name: String::new(),
            description: String::new(),
            namespace_protection: true,
            protected_namespaces: Vec::new(),
            checksum_database_name: DEFAULT_CHECKSUM_DATABASE.0.into(),
            checksum_database_url: DEFAULT_CHECKSUM_DATABASE.1.into(),
            remote_filters: Vec::new(),
            nosum_patterns: Vec::new(),
            created_at: now,
            updated_at: now,
        };
        fields.apply(&mut registry);
        validate(sql, &mut registry, allow_local)?;
        registry.id = sql
            .execute(
                "INSERT INTO registries (group_id, package_type, name, description,
                        namespace_protection, protected_namespaces, checksum_database_name,
                        checksum_database_url, remote_filters, nosum_patterns, created_at,
                        updated_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                &[
                    group_id.into(),
                    package_type.as_str().into(),
                    registry.name.as_str().into(),
                    registry.description.as_str().into(),
                    (registry.namespace_protection as i64).into(),
                    json_list(&registry.protected_namespaces),
                    registry.checksum_database_name.as_str().into(),
                    registry.checksum_database_url.as_str().into(),
                    json_list(&registry.remote_filters),
                    json_list(&registry.nosum_patterns),
                    now.into(),
                    now.into(),
                ],
            )?
            .scalar_i64()
            .ok_or_else(|| StoreError::Decode("INSERT returned no id".into()))?;
        Ok(registry)
    })
}

pub fn update(
    sql: &dyn Sql,
    now: i64,
    package_type: PackageType,
    id: i64,
    changes: RegistryChanges,
    allow_local: bool,
) -> Result<Registry> {
    transaction(sql, || {
        let mut registry = get(sql, package_type, id)?;
        changes.apply(&mut registry);
        registry.updated_at = now;
        validate(sql, &mut registry, allow_local)?;
        sql.execute(
            "UPDATE registries SET name = ?, description = ?, namespace_protection = ?,
                    protected_namespaces = ?, checksum_database_name = ?,
                    checksum_database_url = ?, remote_filters = ?, nosum_patterns = ?,
                    updated_at = ? WHERE id = ?",
            &[
                registry.name.as_str().into(),
                registry.description.as_str().into(),
                (registry.namespace_protection as i64).into(),
                json_list(&registry.protected_namespaces),
                registry.checksum_database_name.as_str().into(),
                registry.checksum_database_url.as_str().into(),
                json_list(&registry.remote_filters),
                json_list(&registry.nosum_patterns),
                now.into(),
                id.into(),
            ],
        )?;
        Ok(registry)
    })
}

/// Deletes the registry and its links; the upstreams stay with their group.
/// What upstreams left in no registry had cached goes (nothing can read it
/// any more; its blobs become garbage), as does what was synced into the
/// registry.
pub fn delete(sql: &dyn Sql, package_type: PackageType, id: i64) -> Result<()> {
    transaction(sql, || {
        get(sql, package_type, id)?;
        let linked: Vec<i64> = query_rows(
            sql,
            "SELECT upstream_id FROM registry_upstreams WHERE registry_id = ?",
            &[id.into()],
            |r| r.i64(),
        )?;
        cache::forget_resolved(sql, id, &linked)?;
        if package_type == PackageType::Golang {
            let mut projects = Vec::new();
            for upstream in &linked {
                if let Some(upstream) = upstreams::find(sql, *upstream)? {
                    projects.extend(upstreams::target_projects(sql, &upstream)?);
                }
            }
            resolved::queue_go_registry_records(sql, id, &projects)?;
        }
        sql.execute(
            "DELETE FROM registry_upstreams WHERE registry_id = ?",
            &[id.into()],
        )?;
        cache::remove_where(
            sql,
            "c.upstream_id IN (SELECT value FROM json_each(?))
               AND c.upstream_id NOT IN (SELECT upstream_id FROM registry_upstreams)",
            &[json_list(&linked)],
        )?;
        sql.execute(
            "DELETE FROM package_files WHERE package_id IN (SELECT id FROM packages WHERE registry_id = ?)",
            &[id.into()],
        )?;
        sql.execute("DELETE FROM packages WHERE registry_id = ?", &[id.into()])?;
        sql.execute(
            "DELETE FROM sumdb_entries WHERE registry_id = ?",
            &[id.into()],
        )?;
        sql.execute("DELETE FROM registries WHERE id = ?", &[id.into()])?;
        Ok(())
    })
}
