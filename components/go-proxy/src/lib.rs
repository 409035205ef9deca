//! The Go proxy component: streams GOPROXY requests through
//! `vreg_core::golang::proxy`, publishing sync triggers on Spin's Redis.

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(request: IncomingRequest, response: ResponseOutparam) {
    vreg_spin::serve_streaming(request, response, |ctx, fetch, parts, body, sink| {
        let publisher = vreg_spin::SpinPublisher {
            address: ctx.config.redis_url.clone(),
        };
        vreg_core::golang::proxy::handle(ctx, fetch, &publisher, parts, body, sink)
    });
}
