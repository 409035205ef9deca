//! [`Fetch`] with a real HTTP client, for upstreams on 127.0.0.1.

use vreg_core::http::body::BodyReader;
use vreg_core::http::fetch::{Fetch, FetchError, FetchRequest, FetchResponse};

/// Outbound HTTP with a real client, for tests against servers on 127.0.0.1.
#[derive(Default)]
pub struct HttpFetch;

struct ReaderBody(Box<dyn std::io::Read + Send + Sync>);

impl BodyReader for ReaderBody {
    fn next_chunk(&mut self) -> vreg_core::Result<Option<Vec<u8>>> {
        let mut buffer = vec![0u8; 64 * 1024];
        let n = self
            .0
            .read(&mut buffer)
            .map_err(|e| vreg_core::CoreError::Upstream(format!("reading upstream body: {e}")))?;
        if n == 0 {
            return Ok(None);
        }
        buffer.truncate(n);
        Ok(Some(buffer))
    }
}

impl HttpFetch {
    fn call(request: &FetchRequest) -> Result<ureq::Response, FetchError> {
        let mut call =
            ureq::request(request.method.as_str(), &request.url).timeout(request.timeout);
        for (name, value) in &request.headers {
            call = call.set(name, value);
        }
        match call.call() {
            Ok(r) => Ok(r),
            Err(ureq::Error::Status(_, r)) => Ok(r),
            Err(ureq::Error::Transport(t)) => Err(FetchError::Failed(t.to_string())),
        }
    }

    fn convert(response: ureq::Response) -> FetchResponse {
        let status = response.status();
        let mut headers = http::HeaderMap::new();
        for name in response.headers_names() {
            if let (Ok(n), Some(v)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                response.header(&name),
            ) {
                if let Ok(v) = http::HeaderValue::from_str(v) {
                    headers.append(n, v);
                }
            }
        }
        FetchResponse {
            status,
            headers,
            body: Box::new(ReaderBody(Box::new(response.into_reader()))),
        }
    }
}

impl Fetch for HttpFetch {
    fn fetch(&self, request: &FetchRequest) -> Result<FetchResponse, FetchError> {
        Self::call(request).map(Self::convert)
    }

    /// One thread per request, so they wait together.
    fn fetch_all(&self, requests: &[FetchRequest]) -> Vec<Result<FetchResponse, FetchError>> {
        std::thread::scope(|scope| {
            let handles: Vec<_> = requests
                .iter()
                .map(|r| scope.spawn(move || Self::call(r)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(FetchError::Failed("fetch panicked".into())))
                        .map(Self::convert)
                })
                .collect()
        })
    }
}
