//! Spin's runtime configuration file (`--runtime-config-file`): where the
//! key-value stores and SQLite databases live, and which networks outbound
//! connections may not reach. Of Spin's store types, `spin` (a local SQLite
//! file) and, for key-value, `redis` are implemented; defaults follow
//! `spin up`: the `default` store and database live in the state directory
//! (`.spin/`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::blocked_networks::BlockedNetworks;

#[derive(Debug, Default, Deserialize)]
struct RuntimeConfigFile {
    #[serde(default)]
    key_value_store: BTreeMap<String, StoreConfig>,
    #[serde(default)]
    sqlite_database: BTreeMap<String, StoreConfig>,
    #[serde(default)]
    outbound_networking: OutboundNetworking,
}

#[derive(Debug, Deserialize)]
struct StoreConfig {
    #[serde(rename = "type")]
    kind: String,
    path: Option<PathBuf>,
    url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct OutboundNetworking {
    #[serde(default)]
    block_networks: Vec<String>,
}

/// Where a key-value label's data lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KvLocation {
    /// Spin's `spin` type: a local SQLite file.
    File(PathBuf),
    /// Spin's `redis` type.
    Redis(String),
}

/// Resolved locations: label → store, and the networks outbound
/// connections may not reach.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    pub key_value_stores: BTreeMap<String, KvLocation>,
    pub sqlite_databases: BTreeMap<String, PathBuf>,
    pub blocked_networks: BlockedNetworks,
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
        let file_path = |section: &str, label: &str, config: StoreConfig| -> Result<PathBuf> {
            let path = config
                .path
                .with_context(|| format!("[{section}.{label}]: `path` is required"))?;
            Ok(base.join(path))
        };
        let mut key_value_stores = BTreeMap::new();
        for (label, config) in parsed.key_value_store {
            let location = match config.kind.as_str() {
                "spin" => KvLocation::File(file_path("key_value_store", &label, config)?),
                "redis" => KvLocation::Redis(config.url.with_context(|| {
                    format!("[key_value_store.{label}]: `url` is required for type \"redis\"")
                })?),
                other => bail!(
                    "[key_value_store.{label}]: type {other:?} is not supported by devhost (only \"spin\" and \"redis\")"
                ),
            };
            key_value_stores.insert(label, location);
        }
        let mut sqlite_databases = BTreeMap::new();
        for (label, config) in parsed.sqlite_database {
            if config.kind != "spin" {
                bail!(
                    "[sqlite_database.{label}]: type {:?} is not supported by devhost (only \"spin\", a local SQLite file)",
                    config.kind
                );
            }
            let path = file_path("sqlite_database", &label, config)?;
            sqlite_databases.insert(label, path);
        }
        key_value_stores
            .entry("default".into())
            .or_insert_with(|| KvLocation::File(state_dir.join(DEFAULT_KV_FILE)));
        sqlite_databases
            .entry("default".into())
            .or_insert_with(|| state_dir.join(DEFAULT_SQLITE_FILE));
        let blocked_networks = BlockedNetworks::parse(&parsed.outbound_networking.block_networks)
            .context("[outbound_networking] block_networks")?;
        Ok(RuntimeConfig {
            key_value_stores,
            sqlite_databases,
            blocked_networks,
        })
    }
}
