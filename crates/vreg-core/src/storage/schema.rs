//! The SQLite schema as numbered migrations, applied on first use.
//!
//! Safe when many instances start at once: `CREATE TABLE IF NOT EXISTS` for
//! the bookkeeping table, then each applier takes the write lock
//! (`BEGIN IMMEDIATE`) and applies only the versions still missing, so a second
//! applier finds nothing left to do.

use crate::error::Result;
use crate::storage::{transaction, Sql, Value};

struct Migration {
    version: i64,
    /// One statement per entry: Spin's `execute` runs a single statement.
    statements: &'static [&'static str],
}

const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    statements: &[
        "CREATE TABLE groups (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL,
            path TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            parent_id INTEGER REFERENCES groups(id),
            visibility TEXT NOT NULL CHECK (visibility IN ('private', 'internal', 'public')),
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        )",
        "CREATE UNIQUE INDEX groups_sibling_path ON groups (COALESCE(parent_id, 0), path COLLATE NOCASE)",
        "CREATE TABLE projects (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL,
            path TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            group_id INTEGER NOT NULL REFERENCES groups(id),
            visibility TEXT NOT NULL CHECK (visibility IN ('private', 'internal', 'public')),
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        )",
        "CREATE UNIQUE INDEX projects_group_path ON projects (group_id, path COLLATE NOCASE)",
        "CREATE TABLE packages (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            project_id INTEGER NOT NULL REFERENCES projects(id),
            package_type TEXT NOT NULL CHECK (package_type IN ('maven', 'golang')),
            name TEXT NOT NULL,
            version TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'default',
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        )",
        "CREATE UNIQUE INDEX packages_identity ON packages (project_id, package_type, name, version)",
        "CREATE TABLE package_files (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            package_id INTEGER NOT NULL REFERENCES packages(id),
            file_name TEXT NOT NULL,
            size INTEGER NOT NULL,
            sha1 TEXT,
            md5 TEXT,
            sha256 TEXT,
            sha512 TEXT,
            blob_digest TEXT NOT NULL,
            created_at INTEGER NOT NULL
        )",
        "CREATE UNIQUE INDEX package_files_name ON package_files (package_id, file_name)",
        "CREATE TABLE registries (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            group_id INTEGER NOT NULL REFERENCES groups(id),
            package_type TEXT NOT NULL CHECK (package_type IN ('maven', 'golang')),
            name TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        )",
        "CREATE UNIQUE INDEX registries_group_name ON registries (group_id, package_type, name)",
        "CREATE TABLE upstreams (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            group_id INTEGER NOT NULL REFERENCES groups(id),
            package_type TEXT NOT NULL CHECK (package_type IN ('maven', 'golang')),
            mode TEXT NOT NULL CHECK (mode IN ('remote', 'local')),
            name TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            url TEXT,
            username TEXT,
            password_encrypted BLOB,
            target_project_id INTEGER REFERENCES projects(id),
            target_group_id INTEGER REFERENCES groups(id),
            cache_validity_hours INTEGER NOT NULL DEFAULT 24,
            metadata_cache_validity_hours INTEGER NOT NULL DEFAULT 24,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        )",
        "CREATE INDEX upstreams_group ON upstreams (group_id, package_type)",
        "CREATE TABLE registry_upstreams (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            registry_id INTEGER NOT NULL REFERENCES registries(id),
            upstream_id INTEGER NOT NULL REFERENCES upstreams(id),
            position INTEGER NOT NULL,
            created_at INTEGER NOT NULL
        )",
        "CREATE UNIQUE INDEX registry_upstreams_link ON registry_upstreams (registry_id, upstream_id)",
        "CREATE UNIQUE INDEX registry_upstreams_position ON registry_upstreams (registry_id, position)",
        "CREATE INDEX registry_upstreams_upstream ON registry_upstreams (upstream_id)",
        "CREATE TABLE cache_entries (
            upstream_id INTEGER NOT NULL REFERENCES upstreams(id),
            relative_path TEXT NOT NULL,
            size INTEGER NOT NULL,
            content_type TEXT NOT NULL,
            sha1 TEXT,
            md5 TEXT,
            sha256 TEXT,
            sha512 TEXT,
            blob_digest TEXT NOT NULL,
            upstream_etag TEXT,
            upstream_checked_at INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            downloads_count INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (upstream_id, relative_path)
        )",
        "CREATE TABLE tokens (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL,
            token_sha256 BLOB NOT NULL UNIQUE,
            scopes TEXT NOT NULL,
            group_id INTEGER REFERENCES groups(id),
            project_id INTEGER REFERENCES projects(id),
            expires_at INTEGER NOT NULL,
            revoked INTEGER NOT NULL DEFAULT 0,
            created_at INTEGER NOT NULL,
            last_used_at INTEGER
        )",
        "CREATE TABLE sync_jobs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,
            key TEXT NOT NULL,
            payload TEXT NOT NULL DEFAULT '{}',
            state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            next_attempt_at INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        )",
        "CREATE UNIQUE INDEX sync_jobs_identity ON sync_jobs (kind, key)",
        "CREATE INDEX sync_jobs_due ON sync_jobs (state, next_attempt_at)",
    ],
},
Migration {
    version: 2,
    statements: &[
        // Packages synced from upstreams belong to a registry rather than a
        // project: exactly one of the two owns a package.
        "CREATE TABLE packages_v2 (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            project_id INTEGER REFERENCES projects(id),
            registry_id INTEGER REFERENCES registries(id),
            package_type TEXT NOT NULL CHECK (package_type IN ('maven', 'golang')),
            name TEXT NOT NULL,
            version TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'default',
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            CHECK ((project_id IS NULL) != (registry_id IS NULL))
        )",
        "INSERT INTO packages_v2 (id, project_id, registry_id, package_type, name, version, status, created_at, updated_at)
         SELECT id, project_id, NULL, package_type, name, version, status, created_at, updated_at FROM packages",
        "DROP TABLE packages",
        "ALTER TABLE packages_v2 RENAME TO packages",
        "CREATE UNIQUE INDEX packages_identity ON packages (project_id, package_type, name, version)",
        "CREATE UNIQUE INDEX packages_registry_identity ON packages (registry_id, package_type, name, version)",
        // The `h1:` hash go.sum records, for Go files.
        "ALTER TABLE package_files ADD COLUMN h1 TEXT",
    ],
},
Migration {
    version: 3,
    statements: &[
        // When a cache entry was last downloaded (at most an hour off: reads
        // count downloads in the key-value store and write this rarely).
        "ALTER TABLE cache_entries ADD COLUMN downloaded_at INTEGER",
        "UPDATE cache_entries SET downloaded_at = updated_at",
    ],
},
Migration {
    version: 4,
    statements: &[
        // Two end states for sync jobs: `invalid` (what the upstream has can
        // never be stored: no retry) and `dead` (retries used up).
        "CREATE TABLE sync_jobs_v2 (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,
            key TEXT NOT NULL,
            payload TEXT NOT NULL DEFAULT '{}',
            state TEXT NOT NULL
                CHECK (state IN ('pending', 'running', 'done', 'failed', 'invalid', 'dead')),
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            next_attempt_at INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        )",
        "INSERT INTO sync_jobs_v2 SELECT * FROM sync_jobs",
        "DROP TABLE sync_jobs",
        "ALTER TABLE sync_jobs_v2 RENAME TO sync_jobs",
        "CREATE UNIQUE INDEX sync_jobs_identity ON sync_jobs (kind, key)",
        "CREATE INDEX sync_jobs_due ON sync_jobs (state, next_attempt_at)",
    ],
},
Migration {
    version: 5,
    statements: &[
        // Namespace protection (domain::protection): on by default, and a
        // JSON list of explicitly claimed namespaces.
        "ALTER TABLE registries ADD COLUMN namespace_protection INTEGER NOT NULL DEFAULT 1",
        "ALTER TABLE registries ADD COLUMN protected_namespaces TEXT NOT NULL DEFAULT '[]'",
    ],
},
Migration {
    version: 6,
    statements: &[
        // What the garbage collector knows (storage::blob_records, gc).
        "CREATE TABLE blob_writes (
            writer TEXT PRIMARY KEY,
            started_at INTEGER NOT NULL,
            touched_at INTEGER NOT NULL,
            chunks INTEGER NOT NULL DEFAULT 0,
            sha256 TEXT
        )",
        "CREATE INDEX blob_writes_touched ON blob_writes (touched_at)",
        "CREATE TABLE blobs (
            sha256 TEXT PRIMARY KEY,
            size INTEGER NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('live', 'doomed')),
            claimed_at INTEGER NOT NULL,
            orphaned_at INTEGER
        )",
        "CREATE INDEX blobs_state ON blobs (state, orphaned_at)",
        "CREATE INDEX package_files_blob ON package_files (blob_digest)",
        "CREATE INDEX cache_entries_blob ON cache_entries (blob_digest)",
        // Keys removed cache entries leave in the key-value store, queued
        // for the sweep (domain::cache::forget_queued).
        "CREATE TABLE forgotten_cache_entries (
            upstream_id INTEGER NOT NULL,
            relative_path TEXT NOT NULL,
            registry_ids TEXT NOT NULL DEFAULT '[]'
        )",
        // Cleanup policies (domain::cleanup).
        "ALTER TABLE upstreams ADD COLUMN keep_n_days_after_download INTEGER",
        // Blobs written before: known from what references them. Their
        // chunks may be shared (content-addressed), so the collector deletes
        // only their manifests.
        "INSERT OR IGNORE INTO blobs (sha256, size, state, claimed_at)
            SELECT blob_digest, MAX(size), 'live', 0 FROM package_files GROUP BY blob_digest",
        "INSERT OR IGNORE INTO blobs (sha256, size, state, claimed_at)
            SELECT blob_digest, MAX(size), 'live', 0 FROM cache_entries GROUP BY blob_digest",
    ],
},
Migration {
    version: 7,
    statements: &[
        // The checksum database a Go registry proxies (golang::sumdb), and
        // what it cached of it.
        "ALTER TABLE registries ADD COLUMN checksum_database_name TEXT NOT NULL DEFAULT 'sum.golang.org'",
        "ALTER TABLE registries ADD COLUMN checksum_database_url TEXT NOT NULL DEFAULT 'https://sum.golang.org'",
        "CREATE TABLE sumdb_entries (
            registry_id INTEGER NOT NULL REFERENCES registries(id),
            path TEXT NOT NULL,
            content_type TEXT NOT NULL,
            size INTEGER NOT NULL,
            blob_digest TEXT NOT NULL,
            fetched_at INTEGER NOT NULL,
            PRIMARY KEY (registry_id, path)
        )",
        "CREATE INDEX sumdb_entries_blob ON sumdb_entries (blob_digest)",
    ],
},
Migration {
    version: 8,
    statements: &[
        // What a registry may ask remotes for, and (Go) which modules the
        // checksum database is not asked about (domain::filters).
        "ALTER TABLE registries ADD COLUMN remote_filters TEXT NOT NULL DEFAULT '[]'",
        "ALTER TABLE registries ADD COLUMN nosum_patterns TEXT NOT NULL DEFAULT '[]'",
    ],
},
Migration {
    version: 9,
    statements: &[
        // Records a deleted Go registry's reads left in the key-value store,
        // queued for the sweep (domain::resolved::forget_queued_go_records).
        "CREATE TABLE forgotten_go_records (
            registry_id INTEGER NOT NULL,
            module TEXT NOT NULL,
            file_name TEXT NOT NULL
        )",
    ],
},
Migration {
    version: 10,
    statements: &[
        // A row that comes to reference a blob unmarks it at once
        // (storage::gc): the collector may have marked it between its
        // writer's claim and this commit, and a mark left standing would
        // let the blob go without a grace period once the row is removed.
        "CREATE TRIGGER package_files_unorphan AFTER INSERT ON package_files BEGIN
            UPDATE blobs SET orphaned_at = NULL WHERE sha256 = NEW.blob_digest AND orphaned_at IS NOT NULL; END",
        "CREATE TRIGGER package_files_unorphan_update AFTER UPDATE OF blob_digest ON package_files BEGIN
            UPDATE blobs SET orphaned_at = NULL WHERE sha256 = NEW.blob_digest AND orphaned_at IS NOT NULL; END",
        "CREATE TRIGGER cache_entries_unorphan AFTER INSERT ON cache_entries BEGIN
            UPDATE blobs SET orphaned_at = NULL WHERE sha256 = NEW.blob_digest AND orphaned_at IS NOT NULL; END",
        "CREATE TRIGGER cache_entries_unorphan_update AFTER UPDATE OF blob_digest ON cache_entries BEGIN
            UPDATE blobs SET orphaned_at = NULL WHERE sha256 = NEW.blob_digest AND orphaned_at IS NOT NULL; END",
        "CREATE TRIGGER sumdb_entries_unorphan AFTER INSERT ON sumdb_entries BEGIN
            UPDATE blobs SET orphaned_at = NULL WHERE sha256 = NEW.blob_digest AND orphaned_at IS NOT NULL; END",
        "CREATE TRIGGER sumdb_entries_unorphan_update AFTER UPDATE OF blob_digest ON sumdb_entries BEGIN
            UPDATE blobs SET orphaned_at = NULL WHERE sha256 = NEW.blob_digest AND orphaned_at IS NOT NULL; END",
        // Marks left standing before this version.
        "UPDATE blobs SET orphaned_at = NULL WHERE orphaned_at IS NOT NULL AND (
            EXISTS (SELECT 1 FROM package_files f WHERE f.blob_digest = blobs.sha256)
            OR EXISTS (SELECT 1 FROM cache_entries c WHERE c.blob_digest = blobs.sha256)
            OR EXISTS (SELECT 1 FROM sumdb_entries s WHERE s.blob_digest = blobs.sha256))",
    ],
}];

/// The newest schema version this build knows.
pub fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// The version recorded in the database; 0 when nothing was applied yet.
pub fn current_version(sql: &dyn Sql) -> Result<i64> {
    Ok(sql
        .execute(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )?
        .scalar_i64()
        .unwrap_or(0))
}

/// Brings the schema up to date. Costs one read when it already is.
pub fn ensure_schema(sql: &dyn Sql, now_millis: i64) -> Result<()> {
    if matches!(current_version(sql), Ok(v) if v >= latest_version()) {
        return Ok(());
    }
    // Write-ahead logging: readers never wait for a writer (the sync worker,
    // an upload), and a commit appends to the log instead of rewriting pages
    // behind a rollback journal. The mode is kept in the database file, so
    // setting it whenever the schema moves is enough. Backends that do not
    // do WAL (a remote libSQL) refuse it; that is fine.
    let _ = sql.execute("PRAGMA journal_mode = WAL", &[]);
    sql.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY,
            applied_at INTEGER NOT NULL
        )",
        &[],
    )?;
    transaction(sql, || {
        let current = current_version(sql)?;
        for migration in MIGRATIONS.iter().filter(|m| m.version > current) {
            for statement in migration.statements {
                sql.execute(statement, &[])?;
            }
            sql.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                &[
                    Value::Integer(migration.version),
                    Value::Integer(now_millis),
                ],
            )?;
        }
        Ok(())
    })
}
