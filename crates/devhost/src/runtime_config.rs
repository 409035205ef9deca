//! Spin's runtime configuration file (`--runtime-config-file`): where the
//! key-value stores and SQLite databases live. Only Spin's local `spin` type
//! (a SQLite file) is implemented; defaults follow `spin up`: the `default`
//! store and database live in the state directory (`.spin/`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
struct RuntimeConfigFile {
    #[serde(default)]
    key_value_store: BTreeMap<String, StoreConfig>,
    #[serde(default)]
    sqlite_database: BTreeMap<String, StoreConfig>,
}

#[derive(Debug, Deserialize)]
struct StoreConfig {
    #[serde(rename = "type")]
    kind: String,
    path: Option<PathBuf>,
}

/// Resolved locations: label → SQLite file.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    pub key_value_stores: BTreeMap<String, PathBuf>,
    pub sqlite_databases: BTreeMap<String, PathBuf>,
}

/// Spin's file names for the default stores in the state directory.
const DEFAULT_KV_FILE: &str = "sqlite_key_value.db";
const DEFAULT_SQLITE_FILE: &str = "sqlite_db.db";

impl RuntimeConfig {
    /// Reads `file` (if any). Relative paths in it are relative to the file's
    /// directory, as in Spin; the defaults go in `state_dir`.
    pub fn load(file: Option<&Path>, state_dir: &Path) -> Result<RuntimeConfig> {
        let (parsed, base) = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read runtime config {}", path.display()))?;
                let parsed: RuntimeConfigFile = toml::from_str(&text)
                    .with_context(|| format!("invalid runtime config {}", path.display()))?;
                let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
                (parsed, base)
            }
            None => (RuntimeConfigFile::default(), PathBuf::new()),
        };
        let resolve = |section: &str,
                       entries: BTreeMap<String, StoreConfig>|
         -> Result<BTreeMap<String, PathBuf>> {
            entries
                .into_iter()
                .map(|(label, config)| {
                    if config.kind != "spin" {
                        bail!(
                            "[{section}.{label}]: type {:?} is not supported by devhost (only \"spin\", a local SQLite file)",
                            config.kind
                        );
                    }
                    let path = config
                        .path
                        .with_context(|| format!("[{section}.{label}]: `path` is required"))?;
                    Ok((label, base.join(path)))
                })
                .collect()
        };
        let mut key_value_stores = resolve("key_value_store", parsed.key_value_store)?;
        let mut sqlite_databases = resolve("sqlite_database", parsed.sqlite_database)?;
        key_value_stores
            .entry("default".into())
            .or_insert_with(|| state_dir.join(DEFAULT_KV_FILE));
        sqlite_databases
            .entry("default".into())
            .or_insert_with(|| state_dir.join(DEFAULT_SQLITE_FILE));
        Ok(RuntimeConfig {
            key_value_stores,
            sqlite_databases,
        })
    }
}
