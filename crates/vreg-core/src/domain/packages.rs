//! Packages and their files, for both ecosystems: the one place rows of
//! `packages` and `package_files` are written. Callers store the blobs
//! first and call these inside their transaction, so a reader never finds a
//! file whose bytes are missing.

use crate::domain::model::PackageType;
use crate::error::Result;
use crate::storage::blobs::Digests;
use crate::storage::{Sql, StoreError, Value};

/// Who a package belongs to: a project (published to it) or a registry
/// (synced into it from upstreams).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Owner {
    Project(i64),
    Registry(i64),
}

impl Owner {
    fn columns(self) -> (Option<i64>, Option<i64>) {
        match self {
            Owner::Project(p) => (Some(p), None),
            Owner::Registry(r) => (None, Some(r)),
        }
    }
}

/// What names a package.
#[derive(Debug, Clone, Copy)]
pub struct PackageKey<'a> {
    pub owner: Owner,
    pub package_type: PackageType,
    pub name: &'a str,
    pub version: &'a str,
}

/// One file of a package: its name, digests and, for Go's zip and go.mod,
/// the `h1:` hash go.sum records.
pub struct NewFile {
    pub file_name: String,
    pub digests: Digests,
    pub h1: Option<String>,
}

/// The package's id, if it exists.
pub fn find_package(sql: &dyn Sql, key: &PackageKey) -> Result<Option<i64>> {
    let (project, registry) = key.owner.columns();
    Ok(sql
        .execute(
            "SELECT id FROM packages WHERE package_type = ? AND name = ? AND version = ?
             AND (project_id = ? OR registry_id = ?)",
            &[
                key.package_type.as_str().into(),
                key.name.into(),
                key.version.into(),
                project.unwrap_or(-1).into(),
                registry.unwrap_or(-1).into(),
            ],
        )?
        .scalar_i64())
}

/// Creates the package; returns its id.
pub fn create_package(sql: &dyn Sql, now: i64, key: &PackageKey) -> Result<i64> {
    let (project, registry) = key.owner.columns();
    Ok(sql
        .execute(
            "INSERT INTO packages (project_id, registry_id, package_type, name, version, status, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, 'default', ?, ?) RETURNING id",
            &[
                project.into(),
                registry.into(),
                key.package_type.as_str().into(),
                key.name.into(),
                key.version.into(),
                now.into(),
                now.into(),
            ],
        )?
        .scalar_i64()
        .ok_or_else(|| StoreError::Decode("INSERT returned no id".into()))?)
}

/// Marks the package changed now.
pub fn touch_package(sql: &dyn Sql, now: i64, package_id: i64) -> Result<()> {
    sql.execute(
        "UPDATE packages SET updated_at = ? WHERE id = ?",
        &[now.into(), package_id.into()],
    )?;
    Ok(())
}

/// `size, sha1, md5, sha256, sha512, blob_digest`: the blob is addressed by
/// its SHA-256.
fn contents(d: &Digests) -> [Value; 6] {
    [
        (d.size as i64).into(),
        d.sha1.as_str().into(),
        d.md5.as_str().into(),
        d.sha256.as_str().into(),
        d.sha512.as_str().into(),
        d.sha256.as_str().into(),
    ]
}

/// Adds a file to the package.
pub fn add_file(sql: &dyn Sql, now: i64, package_id: i64, file: &NewFile) -> Result<()> {
    let mut values = vec![package_id.into(), file.file_name.as_str().into()];
    values.extend(contents(&file.digests));
    values.extend([file.h1.clone().into(), now.into()]);
    sql.execute(
        "INSERT INTO package_files (package_id, file_name, size, sha1, md5, sha256, sha512, blob_digest, h1, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        &values,
    )?;
    Ok(())
}

/// Points an existing file at new contents (a replaced SNAPSHOT file).
pub fn replace_file(sql: &dyn Sql, now: i64, file_id: i64, d: &Digests) -> Result<()> {
    let mut values = contents(d).to_vec();
    values.extend([now.into(), file_id.into()]);
    sql.execute(
        "UPDATE package_files SET size = ?, sha1 = ?, md5 = ?, sha256 = ?, sha512 = ?, blob_digest = ?, created_at = ?
         WHERE id = ?",
        &values,
    )?;
    Ok(())
}
