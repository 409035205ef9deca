//! Go module versions as stored packages (type `golang`): published to a
//! project, or synced from upstreams into a registry. Each has three files,
//! `<version>.info`, `<version>.mod` and `<version>.zip`.

use crate::domain::model::PackageType;
use crate::domain::packages::{self, PackageKey};
use crate::domain::packages::{NewFile, Owner};
use crate::error::{CoreError, Result};
use crate::storage::blobs::Digests;
use crate::storage::{json_list, query_one, query_rows, transaction, Sql, Value};

/// Where to look: a registry's synced versions and some projects' published ones.
pub struct Scope<'a> {
    pub registry: Option<i64>,
    pub projects: &'a [i64],
}

impl Scope<'_> {
    fn params(&self) -> [Value; 2] {
        [self.registry.unwrap_or(-1).into(), json_list(self.projects)]
    }
}

const IN_SCOPE: &str = "(p.registry_id = ? OR p.project_id IN (SELECT value FROM json_each(?)))";

#[derive(Debug, Clone)]
pub struct StoredGoFile {
    pub digests: Digests,
    pub created_at: i64,
}

pub fn find_file(
    sql: &dyn Sql,
    scope: &Scope,
    module: &str,
    version: &str,
    file_name: &str,
) -> Result<Option<StoredGoFile>> {
    let [registry, projects] = scope.params();
    query_one(
        sql,
        &format!(
            "SELECT f.size, f.sha1, f.md5, f.sha256, f.sha512, f.created_at
             FROM packages p JOIN package_files f ON f.package_id = p.id
             WHERE {IN_SCOPE} AND p.package_type = 'golang' AND p.name = ? AND p.version = ? AND f.file_name = ?
             ORDER BY p.registry_id IS NULL DESC, f.id LIMIT 1"
        ),
        &[registry, projects, module.into(), version.into(), file_name.into()],
        |r| Ok(StoredGoFile { digests: Digests::decode(r)?, created_at: r.i64()? }),
    )
}

pub fn versions(sql: &dyn Sql, scope: &Scope, module: &str) -> Result<Vec<String>> {
    let [registry, projects] = scope.params();
    query_rows(
        sql,
        &format!(
            "SELECT DISTINCT p.version FROM packages p
             WHERE {IN_SCOPE} AND p.package_type = 'golang' AND p.name = ?"
        ),
        &[registry, projects, module.into()],
        |r| r.text(),
    )
}

/// The module paths `projects` hold, up to `limit` of them (`None` when
/// they hold more).
pub fn module_names(sql: &dyn Sql, projects: &[i64], limit: usize) -> Result<Option<Vec<String>>> {
    let names = query_rows(
        sql,
        "SELECT DISTINCT name FROM packages
         WHERE package_type = 'golang' AND project_id IN (SELECT value FROM json_each(?))
         LIMIT ?",
        &[json_list(projects), (limit as i64 + 1).into()],
        |r| r.text(),
    )?;
    Ok((names.len() <= limit).then_some(names))
}

/// Creates the package and its files in one transaction. Returns `false`
/// (creating nothing) when the version already exists.
pub fn store_version(
    sql: &dyn Sql,
    now: i64,
    owner: Owner,
    module: &str,
    version: &str,
    files: &[NewFile],
) -> Result<bool> {
    let key = PackageKey {
        owner,
        package_type: PackageType::Golang,
        name: module,
        version,
    };
    transaction(sql, || {
        if packages::find_package(sql, &key)?.is_some() {
            return Ok(false);
        }
        let package_id = packages::create_package(sql, now, &key)?;
        for file in files {
            packages::add_file(sql, now, package_id, file)?;
        }
        Ok(true)
    })
}

/// The `h1:` hashes recorded for a version's zip and go.mod.
pub fn hashes(
    sql: &dyn Sql,
    scope: &Scope,
    module: &str,
    version: &str,
) -> Result<(Option<String>, Option<String>)> {
    let [registry, projects] = scope.params();
    let rows = query_rows(
        sql,
        &format!(
            "SELECT f.file_name, f.h1 FROM packages p JOIN package_files f ON f.package_id = p.id
             WHERE {IN_SCOPE} AND p.package_type = 'golang' AND p.name = ? AND p.version = ?"
        ),
        &[registry, projects, module.into(), version.into()],
        |r| Ok((r.text()?, r.opt_text()?)),
    )?;
    let find = |suffix: &str| {
        rows.iter()
            .find(|(n, _)| n.ends_with(suffix))
            .and_then(|(_, h)| h.clone())
    };
    Ok((find(".zip"), find(".mod")))
}

pub fn not_found(what: &str) -> CoreError {
    CoreError::NotFound(match what {
        "version" => "Version",
        _ => "Module",
    })
}
