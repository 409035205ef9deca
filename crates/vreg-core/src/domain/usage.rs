//! How much storage what: per registry and upstream (cached files), per
//! project and registry (stored packages), and the blob store as a whole
//! (with the garbage waiting for collection), from SQL alone.

use serde::Serialize;

use crate::error::Result;
use crate::storage::{query_rows, RowReader, Sql, StoreError};

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct Amount {
    pub count: i64,
    pub bytes: i64,
}

fn amount(r: &mut RowReader) -> Result<Amount, StoreError> {
    Ok(Amount {
        count: r.i64()?,
        bytes: r.i64()?,
    })
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UpstreamUsage {
    pub id: i64,
    pub package_type: String,
    pub name: String,
    pub cached: Amount,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegistryUsage {
    pub id: i64,
    pub package_type: String,
    pub name: String,
    /// Cached files of the registry's upstreams (shared upstreams count
    /// in every registry they serve).
    pub cached: Amount,
    /// Files synced into the registry (Go).
    pub stored: Amount,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProjectUsage {
    pub id: i64,
    pub stored: Amount,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Usage {
    /// Distinct blobs known to the collector (files with equal content are
    /// stored once).
    pub blobs: Amount,
    pub registries: Vec<RegistryUsage>,
    pub upstreams: Vec<UpstreamUsage>,
    pub projects: Vec<ProjectUsage>,
}

pub fn usage(sql: &dyn Sql) -> Result<Usage> {
    let blobs = query_rows(
        sql,
        "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM blobs WHERE state = 'live'",
        &[],
        amount,
    )?
    .pop()
    .unwrap_or_default();
    let upstreams = query_rows(
        sql,
        "SELECT u.id, u.package_type, u.name, COUNT(c.upstream_id), COALESCE(SUM(c.size), 0)
         FROM upstreams u LEFT JOIN cache_entries c ON c.upstream_id = u.id
         WHERE u.mode = 'remote' GROUP BY u.id ORDER BY u.id",
        &[],
        |r| {
            Ok(UpstreamUsage {
                id: r.i64()?,
                package_type: r.text()?,
                name: r.text()?,
                cached: amount(r)?,
            })
        },
    )?;
    let registries = query_rows(
        sql,
        "SELECT r.id, r.package_type, r.name,
            (SELECT COUNT(*) FROM cache_entries c JOIN registry_upstreams l
               ON l.upstream_id = c.upstream_id WHERE l.registry_id = r.id),
            (SELECT COALESCE(SUM(c.size), 0) FROM cache_entries c JOIN registry_upstreams l
               ON l.upstream_id = c.upstream_id WHERE l.registry_id = r.id),
            (SELECT COUNT(*) FROM package_files f JOIN packages p ON p.id = f.package_id
               WHERE p.registry_id = r.id),
            (SELECT COALESCE(SUM(f.size), 0) FROM package_files f JOIN packages p
               ON p.id = f.package_id WHERE p.registry_id = r.id)
         FROM registries r ORDER BY r.id",
        &[],
        |r| {
            Ok(RegistryUsage {
                id: r.i64()?,
                package_type: r.text()?,
                name: r.text()?,
                cached: amount(r)?,
                stored: amount(r)?,
            })
        },
    )?;
    let projects = query_rows(
        sql,
        "SELECT p.project_id, COUNT(f.id), COALESCE(SUM(f.size), 0)
         FROM packages p JOIN package_files f ON f.package_id = p.id
         WHERE p.project_id IS NOT NULL GROUP BY p.project_id ORDER BY p.project_id",
        &[],
        |r| {
            Ok(ProjectUsage {
                id: r.i64()?,
                stored: amount(r)?,
            })
        },
    )?;
    Ok(Usage {
        blobs,
        registries,
        upstreams,
        projects,
    })
}
