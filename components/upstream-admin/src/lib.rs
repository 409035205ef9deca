//! The admin API component: reads the request, hands it to
//! `vreg_core::admin`, writes the response.

use spin_sdk::http::IncomingRequest;
use spin_sdk::http_component;
use vreg_core::http::MAX_API_BODY;

#[http_component]
async fn handle(request: IncomingRequest) -> http::Response<Vec<u8>> {
    vreg_spin::serve(request, MAX_API_BODY, vreg_core::http::admin::handle).await
}
