//! Maven packages in projects: a package per `groupId/artifactId` and
//! version, with its files. Files are recorded only after their blob is
//! stored, in one transaction with the package.

use crate::domain::model::PackageType;
use crate::domain::packages::{self, NewFile, Owner, PackageKey};
use crate::error::{CoreError, Result};
use crate::maven::path::FileCoordinates;
use crate::storage::blobs::Digests;
use crate::storage::{json_list, query_one, query_rows, transaction, RowReader, Sql, StoreError};

#[derive(Debug, Clone, PartialEq)]
pub struct StoredFile {
    pub project_id: i64,
    pub package_id: i64,
    pub version: String,
    pub file_name: String,
    pub digests: Digests,
    pub created_at: i64,
}

const FILE_COLUMNS: &str = "p.project_id, p.id, p.version, f.file_name, f.size, f.sha1, f.md5, f.sha256, f.sha512, f.created_at";

fn decode(r: &mut RowReader) -> Result<StoredFile, StoreError> {
    Ok(StoredFile {
        project_id: r.i64()?,
        package_id: r.i64()?,
        version: r.text()?,
        file_name: r.text()?,
        digests: Digests::decode(r)?,
        created_at: r.i64()?,
    })
}

/// The newest copy of a file among the given projects.
pub fn find_file(
    sql: &dyn Sql,
    project_ids: &[i64],
    coordinates: &FileCoordinates,
) -> Result<Option<StoredFile>> {
    query_one(
        sql,
        &format!(
            "SELECT {FILE_COLUMNS} FROM packages p JOIN package_files f ON f.package_id = p.id
             WHERE p.project_id IN (SELECT value FROM json_each(?)) AND p.package_type = 'maven'
               AND p.name = ? AND p.version = ? AND f.file_name = ?
             ORDER BY f.created_at DESC, f.id DESC LIMIT 1"
        ),
        &[
            json_list(project_ids),
            coordinates.package_name().into(),
            coordinates.version.as_str().into(),
            coordinates.file_name.as_str().into(),
        ],
        decode,
    )
}

/// Versions of a package across the given projects, oldest first.
pub fn versions(sql: &dyn Sql, project_ids: &[i64], name: &str) -> Result<Vec<(String, i64)>> {
    query_rows(
        sql,
        "SELECT version, MAX(updated_at) FROM packages
         WHERE project_id IN (SELECT value FROM json_each(?)) AND package_type = 'maven' AND name = ?
         GROUP BY version ORDER BY MIN(created_at), version",
        &[json_list(project_ids), name.into()],
        |r| Ok((r.text()?, r.i64()?)),
    )
}

#[derive(Debug, PartialEq)]
pub enum Recorded {
    Created,
    /// The same bytes were uploaded again.
    Unchanged,
    /// A SNAPSHOT file was replaced.
    Replaced,
}

/// Records a stored blob as a file of the package, creating the package if
/// needed. A release file may only be uploaded again byte for byte.
pub fn record_file(
    sql: &dyn Sql,
    now: i64,
    project_id: i64,
    coordinates: &FileCoordinates,
    digests: &Digests,
) -> Result<Recorded> {
    transaction(sql, || {
        let name = coordinates.package_name();
        let key = PackageKey {
            owner: Owner::Project(project_id),
            package_type: PackageType::Maven,
            name: &name,
            version: &coordinates.version,
        };
        let package_id = match packages::find_package(sql, &key)? {
            Some(id) => {
                packages::touch_package(sql, now, id)?;
                id
            }
            None => packages::create_package(sql, now, &key)?,
        };
        let existing = sql.execute(
            "SELECT id, sha256 FROM package_files WHERE package_id = ? AND file_name = ?",
            &[package_id.into(), coordinates.file_name.as_str().into()],
        )?;
        if let Some(row) = existing.rows.first() {
            let mut r = RowReader::new(row);
            let (file_id, sha256) = (r.i64()?, r.opt_text()?);
            if sha256.as_deref() == Some(digests.sha256.as_str()) {
                return Ok(Recorded::Unchanged);
            }
            let mutable =
                coordinates.is_snapshot() || coordinates.file_name == super::path::METADATA_FILE;
            if !mutable {
                return Err(CoreError::Conflict(format!(
                    "{} {} already has {}; release files cannot be replaced",
                    name, coordinates.version, coordinates.file_name
                )));
            }
            packages::replace_file(sql, now, file_id, digests)?;
            return Ok(Recorded::Replaced);
        }
        let file = NewFile {
            file_name: coordinates.file_name.clone(),
            digests: digests.clone(),
            h1: None,
        };
        packages::add_file(sql, now, package_id, &file)?;
        Ok(Recorded::Created)
    })
}
