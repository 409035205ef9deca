//! `response-outparam.set` as wasmtime-wasi-http implements it, followed by
//! one yield to the runtime.
//!
//! A guest runs as a task on a worker (see `crate::guest::spawn`), and keeps
//! running after it sets its response: it streams the body, then does its
//! post-response work (vreg counts the download, takes a sync lease). The
//! connection's task, woken by the response, waits on the same worker until
//! the guest next yields. Without the yield a response waited for all of
//! that work (measured: a cached pom at one connection ~2,550 -> ~2,000
//! requests/s). With it, the connection sends the response head first, and
//! an idle worker may take the rest of the guest's work.

use anyhow::Result;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, HostResponseOutparam as _};
use wasmtime_wasi_http::p2::types::{HostOutgoingResponse, HostResponseOutparam};
use wasmtime_wasi_http::WasiHttpView;

use crate::state::InstanceState;

/// The `wasi:http/types` version wasmtime-wasi-http defines (a guest's
/// import of an older 0.2 release resolves to it).
const TYPES: &str = "wasi:http/types@0.2.12";

type Outcome = Result<Resource<HostOutgoingResponse>, ErrorCode>;

/// Replaces the `set` that `add_only_http_to_linker_async` defined.
pub fn add_to_linker(linker: &mut Linker<InstanceState>) -> Result<()> {
    linker.allow_shadowing(true);
    linker.instance(TYPES)?.func_wrap_async(
        "[static]response-outparam.set",
        |mut store, (outparam, outcome): (Resource<HostResponseOutparam>, Outcome)| {
            Box::new(async move {
                store.data_mut().http().set(outparam, outcome)?;
                if crate::guest::workers_to_spare() {
                    tokio::task::yield_now().await;
                }
                Ok(())
            })
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}
