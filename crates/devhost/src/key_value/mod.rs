//! Key-value stores: what the capability is and how a component is granted
//! it. A component may open only the labels in its `key_value_stores`; a
//! granted label must also be defined (the `default` store always is).

mod host;
mod redis_store;
mod store;

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{bail, Result};

pub use store::KvFile;

use crate::runtime_config::KvLocation;
use redis_store::RedisKv;
use store::KvResult;

/// Every store the app may open, by label.
pub struct KeyValueStores {
    by_label: HashMap<String, Backend>,
}

/// Why a store could not be opened; each interface maps it to its own error.
#[derive(Debug, PartialEq)]
pub enum OpenError {
    AccessDenied,
    NoSuchStore,
}

impl KeyValueStores {
    /// Opens (creating) the SQLite file behind each label, or prepares its
    /// Redis client (connected on first use); labels that share a location
    /// share one connection.
    pub fn new(locations: &std::collections::BTreeMap<String, KvLocation>) -> Result<Self> {
        let mut opened: HashMap<KvLocation, Backend> = HashMap::new();
        let mut by_label = HashMap::new();
        for (label, location) in locations {
            let backend = match opened.get(location) {
                Some(backend) => backend.clone(),
                None => {
                    let backend = match location {
                        KvLocation::File(path) => Backend::File(Arc::new(KvFile::open(path)?)),
                        KvLocation::Redis(url) => Backend::Redis(Arc::new(RedisKv::new(url)?)),
                    };
                    opened.insert(location.clone(), backend.clone());
                    backend
                }
            };
            by_label.insert(label.clone(), backend);
        }
        Ok(KeyValueStores { by_label })
    }

    /// Checks at load time that every granted label is defined, as Spin does.
    pub fn check_grants(&self, component: &str, labels: &[String]) -> Result<()> {
        for label in labels {
            if !self.by_label.contains_key(label) {
                bail!("component {component:?} uses key-value store {label:?}, which is not defined in the runtime config");
            }
        }
        Ok(())
    }

    pub fn open(&self, granted: &[String], label: &str) -> Result<Bucket, OpenError> {
        if !granted.iter().any(|g| g == label) {
            return Err(OpenError::AccessDenied);
        }
        let backend = self.by_label.get(label).ok_or(OpenError::NoSuchStore)?;
        Ok(Bucket {
            label: label.to_owned(),
            backend: backend.clone(),
        })
    }
}

/// An open store (`fermyon:spin/key-value.store`, `wasi:keyvalue/store.bucket`).
#[derive(Clone)]
pub struct Bucket {
    label: String,
    backend: Backend,
}

/// Where a store's keys are. A file's calls are local reads and writes and
/// run in place; Redis's are round trips and are awaited (see
/// `redis_store.rs`). Redis ignores the label, as in Spin: each label
/// mapped to a Redis uses its keyspace as it is.
#[derive(Clone)]
enum Backend {
    File(Arc<KvFile>),
    Redis(Arc<RedisKv>),
}

impl Bucket {
    async fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        match &self.backend {
            Backend::File(f) => f.get(&self.label, key),
            Backend::Redis(r) => r.get(key).await,
        }
    }

    async fn set(&self, key: &str, value: &[u8]) -> KvResult<()> {
        match &self.backend {
            Backend::File(f) => f.set(&self.label, key, value),
            Backend::Redis(r) => r.set(key, value).await,
        }
    }

    async fn delete(&self, key: &str) -> KvResult<()> {
        match &self.backend {
            Backend::File(f) => f.delete(&self.label, key),
            Backend::Redis(r) => r.delete(key).await,
        }
    }

    async fn exists(&self, key: &str) -> KvResult<bool> {
        match &self.backend {
            Backend::File(f) => f.exists(&self.label, key),
            Backend::Redis(r) => r.exists(key).await,
        }
    }

    async fn keys(&self) -> KvResult<Vec<String>> {
        match &self.backend {
            Backend::File(f) => f.keys(&self.label),
            Backend::Redis(r) => r.keys().await,
        }
    }

    async fn get_many(&self, keys: &[String]) -> KvResult<Vec<(String, Option<Vec<u8>>)>> {
        match &self.backend {
            Backend::File(f) => f.get_many(&self.label, keys),
            Backend::Redis(r) => r.get_many(keys).await,
        }
    }

    async fn set_many(&self, entries: &[(String, Vec<u8>)]) -> KvResult<()> {
        match &self.backend {
            Backend::File(f) => f.set_many(&self.label, entries),
            Backend::Redis(r) => r.set_many(entries).await,
        }
    }

    async fn delete_many(&self, keys: &[String]) -> KvResult<()> {
        match &self.backend {
            Backend::File(f) => f.delete_many(&self.label, keys),
            Backend::Redis(r) => r.delete_many(keys).await,
        }
    }

    /// Adds `delta` (absent counts as 0) atomically; returns the new value.
    async fn increment(&self, key: &str, delta: i64) -> KvResult<i64> {
        match &self.backend {
            Backend::File(f) => f.increment(&self.label, key, delta),
            Backend::Redis(r) => r.increment(key, delta).await,
        }
    }

    /// Writes `value` only if the key still holds `expected` (absent when
    /// `None`); whether it did.
    async fn swap(&self, key: &str, expected: Option<&[u8]>, value: &[u8]) -> KvResult<bool> {
        match &self.backend {
            Backend::File(f) => f.swap(&self.label, key, expected, value),
            Backend::Redis(r) => r.swap(key, expected, value).await,
        }
    }
}

/// A compare-and-swap in progress (`wasi:keyvalue/atomics.cas`): the value
/// last read by `current` (absent if never read) is the one `swap` requires
/// to still be there.
pub struct Cas {
    bucket: Bucket,
    key: String,
    observed: Option<Vec<u8>>,
}
