//! What one instance of a component holds: its grants, WASI and wasi:http
//! contexts, and the resource table shared by every host interface.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::app::{ComponentRuntime, Services};
use crate::http::outbound::OutboundHttp;
use crate::output::PrefixedOutput;

pub struct InstanceState {
    pub component: Arc<ComponentRuntime>,
    pub services: Arc<Services>,
    pub table: ResourceTable,
    /// The largest linear memory the instance grew to, in bytes.
    pub peak_memory: Arc<AtomicUsize>,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    outbound: OutboundHttp,
}

impl InstanceState {
    pub fn new(component: Arc<ComponentRuntime>, services: Arc<Services>) -> Self {
        let mut wasi = WasiCtx::builder();
        wasi.stdout(PrefixedOutput::stdout(&component.id))
            .stderr(PrefixedOutput::stderr(&component.id));
        for (key, value) in &component.environment {
            wasi.env(key, value);
        }
        let outbound = OutboundHttp {
            component: component.id.as_str().into(),
            allowed: component.allowed_outbound_hosts.clone(),
            blocked: services.blocked_networks.clone(),
            connections: services.outbound_connections.clone(),
        };
        InstanceState {
            component,
            services,
            table: ResourceTable::new(),
            peak_memory: Arc::new(AtomicUsize::new(0)),
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            outbound,
        }
    }
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for InstanceState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outbound,
        }
    }
}

/// Records each instance's peak linear memory (reported in the request log),
/// allowing any growth.
impl wasmtime::ResourceLimiter for InstanceState {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.peak_memory.fetch_max(desired, Ordering::Relaxed);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        _desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(true)
    }
}
