//! Key-value stores: what the capability is and how a component is granted
//! it. A component may open only the labels in its `key_value_stores`; a
//! granted label must also be defined (the `default` store always is).

mod host;
mod redis_store;
mod store;

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{bail, Result};

pub use store::{KvBackend, KvFile};

use crate::runtime_config::KvLocation;
use redis_store::RedisKv;

/// Every store the app may open, by label.
pub struct KeyValueStores {
    by_label: HashMap<String, Arc<dyn KvBackend>>,
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
        let mut opened: HashMap<KvLocation, Arc<dyn KvBackend>> = HashMap::new();
        let mut by_label = HashMap::new();
        for (label, location) in locations {
            let backend = match opened.get(location) {
                Some(backend) => backend.clone(),
                None => {
                    let backend: Arc<dyn KvBackend> = match location {
                        KvLocation::File(path) => Arc::new(KvFile::open(path)?),
                        KvLocation::Redis(url) => Arc::new(RedisKv::new(url)?),
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
        let file = self.by_label.get(label).ok_or(OpenError::NoSuchStore)?;
        Ok(Bucket {
            label: label.to_owned(),
            file: file.clone(),
        })
    }
}

/// An open store (`fermyon:spin/key-value.store`, `wasi:keyvalue/store.bucket`).
#[derive(Clone)]
pub struct Bucket {
    label: String,
    file: Arc<dyn KvBackend>,
}

/// A compare-and-swap in progress (`wasi:keyvalue/atomics.cas`): the value
/// last read by `current` (absent if never read) is the one `swap` requires
/// to still be there.
pub struct Cas {
    bucket: Bucket,
    key: String,
    observed: Option<Vec<u8>>,
}
