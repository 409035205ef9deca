//! What a request (or a sync message) is handled with: the stores, the
//! clock, outbound HTTP, the sync-trigger publisher and the settings.

use crate::http::fetch::Fetch;
use crate::storage::{Clock, Kv, Publisher, Sql, Tally};

/// Settings from Spin variables.
#[derive(Debug, Clone)]
pub struct Config {
    /// The bootstrap admin token; no admin token is accepted when unset.
    pub admin_token: Option<String>,
    /// Key material for encrypting upstream passwords.
    pub secret_key: String,
    /// Size of the chunks blobs are split into in the key-value store.
    pub blob_chunk_bytes: usize,
    /// Whether upstream URLs may point at loopback or private networks.
    pub allow_local_upstreams: bool,
    /// How long a 404 from a remote upstream is remembered.
    pub negative_cache_seconds: i64,
    /// The largest file accepted or proxied.
    pub max_file_bytes: u64,
    /// How long one upstream request may take.
    pub upstream_timeout_seconds: u64,
    /// How long a sync lease is held.
    pub lease_seconds: i64,
    /// How long a merged Go version list is cached.
    pub list_cache_seconds: i64,
    /// How long garbage waits before it is collected: a download that found
    /// a file before it was deleted has this long to finish.
    pub gc_grace_seconds: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            admin_token: None,
            secret_key: String::new(),
            blob_chunk_bytes: crate::storage::blobs::DEFAULT_CHUNK_BYTES,
            allow_local_upstreams: false,
            negative_cache_seconds: 60,
            max_file_bytes: 1 << 30,
            upstream_timeout_seconds: 30,
            lease_seconds: 3600,
            list_cache_seconds: 60,
            gc_grace_seconds: 3600,
        }
    }
}

impl Config {
    /// Builds the configuration from a variable lookup (Spin variables in a
    /// component, a map in tests). Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let number = |name: &str| get(name).and_then(|v| v.trim().parse::<u64>().ok());
        let defaults = Config::default();
        Config {
            admin_token: get("admin_token"),
            secret_key: get("secret_key").unwrap_or_default(),
            blob_chunk_bytes: number("blob_chunk_bytes")
                .map_or(defaults.blob_chunk_bytes, |n| n as usize),
            allow_local_upstreams: get("allow_local_upstreams").is_some_and(|v| v.trim() == "true"),
            negative_cache_seconds: number("negative_cache_seconds")
                .map_or(defaults.negative_cache_seconds, |n| n as i64),
            max_file_bytes: number("max_file_bytes").unwrap_or(defaults.max_file_bytes),
            upstream_timeout_seconds: number("upstream_timeout_seconds")
                .unwrap_or(defaults.upstream_timeout_seconds),
            lease_seconds: number("lease_seconds").map_or(defaults.lease_seconds, |n| n as i64),
            list_cache_seconds: number("list_cache_seconds")
                .map_or(defaults.list_cache_seconds, |n| n as i64),
            gc_grace_seconds: number("gc_grace_seconds")
                .map_or(defaults.gc_grace_seconds, |n| n as i64),
        }
    }
}

/// The settings, read when first needed: each is a host call (a Spin
/// variable lookup), and a cached read needs none of them (reading all
/// eleven on every request held Spin 4's `GET /api/v4/version`, which needs
/// none either, to ~2,900 requests/s; ~4,100-5,300 now).
pub struct LazyConfig<'a> {
    config: std::cell::OnceCell<Config>,
    load: Box<dyn Fn() -> Config + 'a>,
}

impl<'a> LazyConfig<'a> {
    /// Settings `load` reads on first use.
    pub fn new(load: impl Fn() -> Config + 'a) -> Self {
        LazyConfig {
            config: std::cell::OnceCell::new(),
            load: Box::new(load),
        }
    }

    /// Settings known already (tests).
    pub fn ready(config: Config) -> Self {
        LazyConfig {
            config: std::cell::OnceCell::from(config),
            load: Box::new(Config::default),
        }
    }
}

impl std::ops::Deref for LazyConfig<'_> {
    type Target = Config;

    fn deref(&self) -> &Config {
        self.config.get_or_init(|| (self.load)())
    }
}

impl std::ops::DerefMut for LazyConfig<'_> {
    fn deref_mut(&mut self) -> &mut Config {
        let _ = std::ops::Deref::deref(self);
        self.config.get_mut().expect("loaded above")
    }
}

/// The stores, clock, outbound HTTP, publisher and settings a request is
/// handled with.
pub struct Context<'a> {
    pub sql: &'a dyn Sql,
    pub kv: &'a dyn Kv,
    /// Download counters (see `domain::downloads`).
    pub tally: &'a dyn Tally,
    pub clock: &'a dyn Clock,
    pub config: &'a LazyConfig<'a>,
    pub fetch: &'a dyn Fetch,
    pub publisher: &'a dyn Publisher,
}

impl Context<'_> {
    pub fn now(&self) -> i64 {
        self.clock.now_millis()
    }

    /// What a blob write records its progress in (see `storage::blob_records`).
    pub fn write_records(&self) -> crate::storage::blobs::WriteRecords<'_> {
        crate::storage::blobs::WriteRecords {
            sql: self.sql,
            now: self.now(),
        }
    }
}
