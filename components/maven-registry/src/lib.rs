//! The Maven component: streams the request to `vreg_core::maven` and the
//! response back, so files of any size pass with bounded memory.

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(request: IncomingRequest, response: ResponseOutparam) {
    vreg_spin::serve_streaming(request, response, vreg_core::maven::handle);
}
