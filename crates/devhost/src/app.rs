//! Loading an app: the manifest, its variables and stores, and every
//! triggered component compiled once (`Component` + `InstancePre`), so that a
//! request or message only costs a fresh instantiation, as under Spin.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, InstancePre, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};

use crate::bindings::RedisHandler;
use crate::blocked_networks::BlockedNetworks;
use crate::http::outbound::Connections;
use crate::key_value::KeyValueStores;
use crate::manifest::Manifest;
use crate::outbound_hosts::AllowedHosts;
use crate::runtime_config::RuntimeConfig;
use crate::sqlite::SqliteDatabases;
use crate::state::InstanceState;
use crate::variables::{AppVariables, ComponentVariables};

/// Where things are and come from.
pub struct Options {
    pub manifest: PathBuf,
    pub runtime_config: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
    pub cache_dir: Option<PathBuf>,
}

/// A component's configuration, shared by all its instances.
pub struct ComponentRuntime {
    pub id: String,
    pub key_value_stores: Vec<String>,
    pub sqlite_databases: Vec<String>,
    pub variables: ComponentVariables,
    pub allowed_outbound_hosts: Arc<AllowedHosts>,
    pub environment: Vec<(String, String)>,
}

/// The host services every instance shares.
pub struct Services {
    pub key_value: KeyValueStores,
    pub sqlite: SqliteDatabases,
    /// `[outbound_networking] block_networks`, for outbound HTTP and Redis.
    pub blocked_networks: Arc<BlockedNetworks>,
    /// Outbound HTTP connections, kept for reuse across instances.
    pub outbound_connections: Arc<Connections>,
}

pub struct LoadedComponent {
    pub runtime: Arc<ComponentRuntime>,
    pub pre: InstancePre<InstanceState>,
}

pub struct App {
    pub manifest: Manifest,
    pub variables: AppVariables,
    pub engine: Engine,
    pub services: Arc<Services>,
    pub components: HashMap<String, LoadedComponent>,
}

impl App {
    pub fn load(options: &Options) -> Result<App> {
        let manifest = Manifest::load(&options.manifest)?;
        let app_dir = options
            .manifest
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let state_dir = options
            .state_dir
            .clone()
            .unwrap_or_else(|| app_dir.join(".spin"));
        let runtime_config = RuntimeConfig::load(options.runtime_config.as_deref(), &state_dir)?;
        let services = Arc::new(Services {
            key_value: KeyValueStores::new(&runtime_config.key_value_stores)?,
            sqlite: SqliteDatabases::new(&runtime_config.sqlite_databases)?,
            blocked_networks: Arc::new(runtime_config.blocked_networks.clone()),
            outbound_connections: Connections::new(),
        });
        let variables =
            AppVariables::resolve(&manifest.variables, |name| std::env::var(name).ok())?;

        let engine = new_engine()?;
        let mut linker = Linker::<InstanceState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        crate::http::respond::add_to_linker(&mut linker)?;
        RedisHandler::add_to_linker::<InstanceState, HasSelf<InstanceState>>(&mut linker, |s| s)?;

        let cache_dir = options
            .cache_dir
            .clone()
            .unwrap_or_else(|| app_dir.join("target").join("devhost-cache"));
        let triggered: std::collections::BTreeSet<&String> = manifest
            .trigger
            .http
            .iter()
            .map(|t| &t.component)
            .chain(manifest.trigger.redis.iter().map(|t| &t.component))
            .collect();
        let mut components = HashMap::new();
        for id in triggered {
            let spec = &manifest.component[id];
            services
                .key_value
                .check_grants(id, &spec.key_value_stores)?;
            services.sqlite.check_grants(id, &spec.sqlite_databases)?;
            let hosts = spec
                .allowed_outbound_hosts
                .iter()
                .map(|h| variables.expand(h))
                .collect::<Result<Vec<_>>>()?;
            let runtime = Arc::new(ComponentRuntime {
                id: id.clone(),
                key_value_stores: spec.key_value_stores.clone(),
                sqlite_databases: spec.sqlite_databases.clone(),
                variables: ComponentVariables::resolve(&spec.variables, &variables)
                    .with_context(|| format!("component {id:?}"))?,
                allowed_outbound_hosts: Arc::new(
                    AllowedHosts::parse(&hosts).with_context(|| format!("component {id:?}"))?,
                ),
                environment: spec.environment.clone().into_iter().collect(),
            });
            let source = app_dir.join(&spec.source);
            let component = compile(&engine, &source, &cache_dir)
                .with_context(|| format!("component {id:?} ({})", source.display()))?;
            let pre = linker
                .instantiate_pre(&component)
                .map_err(anyhow::Error::from)
                .with_context(|| {
                    format!("component {id:?} imports something devhost does not provide")
                })?;
            components.insert(id.clone(), LoadedComponent { runtime, pre });
        }
        Ok(App {
            manifest,
            variables,
            engine,
            services,
            components,
        })
    }

    /// A fresh store for one instance of the component.
    pub fn store(&self, component: &LoadedComponent) -> Store<InstanceState> {
        let mut store = Store::new(
            &self.engine,
            InstanceState::new(component.runtime.clone(), self.services.clone()),
        );
        store.limiter(|state| state);
        store
    }
}

fn new_engine() -> Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    // Pre-allocated instance slots make per-request instantiation cheap, as in Spin.
    let mut pooling = PoolingAllocationConfig::default();
    pooling
        .total_component_instances(1000)
        .total_core_instances(4000)
        .total_memories(1000)
        .total_tables(2000)
        .max_memory_size(512 << 20)
        // Resetting a slot by zeroing its first pages beats unmapping them and
        // faulting them back in on the next request (measured: ~6k -> ~9k
        // requests/s for a small component on 2 cores).
        .linear_memory_keep_resident(4 << 20)
        .table_keep_resident(64 << 10);
    // Where the kernel has PAGEMAP_SCAN (6.7+), reset only the pages an
    // instance touched (measured: a further ~15% for the admin component).
    pooling.pagemap_scan(wasmtime::Enabled::Auto);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    match Engine::new(&config) {
        Ok(engine) => Ok(engine),
        Err(e) => {
            eprintln!("devhost: pooling allocator unavailable ({e}); instantiating on demand");
            config.allocation_strategy(InstanceAllocationStrategy::OnDemand);
            Ok(Engine::new(&config)?)
        }
    }
}

/// Compiles a component, reusing the machine code of an earlier run when the
/// bytes and the engine are the same.
fn compile(engine: &Engine, source: &Path, cache_dir: &Path) -> Result<Component> {
    let bytes = std::fs::read(source).with_context(|| {
        format!(
            "cannot read {}: build the components first (scripts/build-components)",
            source.display()
        )
    })?;
    let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
    engine
        .precompile_compatibility_hash()
        .hash(&mut engine_hash);
    let key = format!("{:x}-{:016x}", Sha256::digest(&bytes), engine_hash.finish());
    let cached = cache_dir.join(format!("{key}.cwasm"));
    if cached.exists() {
        // SAFETY: the file was written by `Component::serialize` of an
        // engine with the same compatibility hash, in our own cache.
        if let Ok(component) = unsafe { Component::deserialize_file(engine, &cached) } {
            return Ok(component);
        }
    }
    let component = Component::new(engine, &bytes)?;
    if std::fs::create_dir_all(cache_dir).is_ok() {
        if let Ok(serialized) = component.serialize() {
            let partial = cache_dir.join(format!("{key}.{}.tmp", std::process::id()));
            if std::fs::write(&partial, serialized).is_ok() {
                let _ = std::fs::rename(&partial, &cached);
            }
        }
    }
    Ok(component)
}
