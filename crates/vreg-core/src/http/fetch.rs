//! Outbound HTTP to upstreams: the one trait the core fetches through
//! (wasi:http in components, a real HTTP client in native tests).

use super::body::BodyReader;

/// A request to an upstream.
#[derive(Debug, Clone)]
pub struct FetchRequest {
    pub method: http::Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub timeout: std::time::Duration,
}

pub struct FetchResponse {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Box<dyn BodyReader>,
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("not allowed: {0}")]
    Denied(String),
    #[error("timed out")]
    Timeout,
    #[error("{0}")]
    Failed(String),
}

/// Outbound HTTP to upstreams: wasi:http in components, a real HTTP client
/// in native tests.
pub trait Fetch {
    fn fetch(&self, request: &FetchRequest) -> std::result::Result<FetchResponse, FetchError>;

    /// Sends several requests at once; the results come back in order.
    /// Implementations overlap the waiting; this default does not.
    fn fetch_all(
        &self,
        requests: &[FetchRequest],
    ) -> Vec<std::result::Result<FetchResponse, FetchError>> {
        requests.iter().map(|r| self.fetch(r)).collect()
    }
}
