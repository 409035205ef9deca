//! The Go proxy component: streams GOPROXY requests through
//! `vreg_core::golang::proxy`; sync triggers go out through the context's
//! publisher (Spin's outbound Redis).

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(request: IncomingRequest, response: ResponseOutparam) {
    vreg_spin::serve_streaming(request, response, vreg_core::golang::proxy::handle);
}
