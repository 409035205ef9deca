//! The one place vreg talks to spin-sdk: the core's storage traits over
//! Spin's stores (`stores`), streaming bodies and upstream fetches over
//! wasi:http (`streams`), configuration from Spin variables, and the
//! request context every component is handled with.

mod stores;
mod streams;

pub use stores::{SpinKv, SpinPublisher, SpinSql, SpinTally};
pub use streams::{split_request, SpinFetch, SpinResponseSink, WasiBodyReader};

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::variables;
use vreg_core::http::body::{BodyReader, ResponseSink};
use vreg_core::http::{error_response, Request, Response};
use vreg_core::storage::SystemClock;
use vreg_core::CoreError;
use vreg_core::{Config, Context, LazyConfig};

/// Configuration from the component's Spin variables.
pub fn config() -> Config {
    Config::from_lookup(|name| variables::get(name).ok())
}

/// Reads a Spin request into the core's shape, refusing bodies over `limit`
/// bytes without buffering them.
pub fn read_request(incoming: IncomingRequest, limit: usize) -> Result<Request, CoreError> {
    let (parts, mut body) = split_request(incoming)?;
    let bytes = vreg_core::http::body::read_request_body(&mut body, limit)?;
    Ok(http::Request::from_parts(parts, bytes))
}

/// Runs a core handler for a Spin request with the default stores.
pub async fn serve(
    incoming: IncomingRequest,
    body_limit: usize,
    handler: impl FnOnce(&Context, &Request) -> Response,
) -> Response {
    let request = match read_request(incoming, body_limit) {
        Ok(request) => request,
        Err(e) => return error_response(&e),
    };
    with_context(|ctx| handler(ctx, &request))
}

/// Runs `f` with the default stores (opened on first use), the system
/// clock, outbound HTTP, the sync-trigger queue and the component's
/// configuration: the one place a component's context is built.
pub fn with_context<T>(f: impl FnOnce(&Context) -> T) -> T {
    let (sql, kv) = (SpinSql::default(), SpinKv::default());
    let config = LazyConfig::new(config);
    let publisher = SpinPublisher::default();
    let tally = SpinTally::default();
    f(&Context {
        sql: &sql,
        kv: &kv,
        tally: &tally,
        clock: &SystemClock,
        config: &config,
        fetch: &SpinFetch,
        publisher: &publisher,
    })
}

/// Runs a streaming core handler for a Spin request with the default stores.
pub fn serve_streaming(
    incoming: IncomingRequest,
    outparam: ResponseOutparam,
    handler: impl FnOnce(&Context, &http::request::Parts, &mut dyn BodyReader, &mut dyn ResponseSink),
) {
    let mut sink = SpinResponseSink::new(outparam);
    let (parts, mut body) = match split_request(incoming) {
        Ok(split) => split,
        Err(e) => {
            let _ = sink.send(error_response(&e));
            return;
        }
    };
    with_context(|ctx| handler(ctx, &parts, &mut body, &mut sink));
}
