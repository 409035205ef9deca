//! Streaming through wasi:http: request bodies in, response bodies out,
//! and upstream fetches through the outgoing handler.

use spin_sdk::http::{IncomingRequest, Method, ResponseOutparam};
use spin_sdk::wit::wasi::http0_2_0::outgoing_handler;
use spin_sdk::wit::wasi::http0_2_0::types as wasi_http;
use vreg_core::http::body::{BodyReader, BodyWriter, ResponseSink};
use vreg_core::http::fetch::{Fetch, FetchError, FetchRequest, FetchResponse};
use vreg_core::http::Response;
use vreg_core::CoreError;
use wasi::io::streams::{InputStream, OutputStream, StreamError};

/// Bytes per read from a WASI input stream.
const READ_CHUNK: u64 = 64 * 1024;

/// A WASI input stream, read with blocking calls. Holds the body the
/// stream belongs to, and the request or response the body belongs to, so
/// each outlives what it owns (fields drop in the order they are declared).
pub struct WasiBodyReader {
    stream: Option<InputStream>,
    /// Held for the stream; for a request, also whether it was opened.
    body: Option<wasi_http::IncomingBody>,
    _response: Option<wasi_http::IncomingResponse>,
    /// A request's body is opened when first read: most requests are GETs
    /// that never read it, and opening it costs host calls.
    request: Option<IncomingRequest>,
}

impl BodyReader for WasiBodyReader {
    fn next_chunk(&mut self) -> vreg_core::Result<Option<Vec<u8>>> {
        if let (Some(request), None) = (&self.request, &self.body) {
            let body = request
                .consume()
                .map_err(|_| CoreError::BadRequest("request body already consumed".into()))?;
            let stream = body
                .stream()
                .map_err(|_| CoreError::BadRequest("request body unavailable".into()))?;
            (self.stream, self.body) = (Some(stream), Some(body));
        }
        let Some(stream) = &self.stream else {
            return Ok(None);
        };
        loop {
            match stream.blocking_read(READ_CHUNK) {
                Ok(bytes) if bytes.is_empty() => continue,
                Ok(bytes) => return Ok(Some(bytes)),
                Err(StreamError::Closed) => {
                    self.stream = None;
                    return Ok(None);
                }
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(CoreError::BadRequest(format!(
                        "body could not be read: {}",
                        e.to_debug_string()
                    )))
                }
            }
        }
    }
}

fn headers_of(fields: &wasi_http::Fields) -> http::HeaderMap {
    headers_kept(fields, |_| true)
}

/// The headers of `fields` whose names `keep` takes.
fn headers_kept(fields: &wasi_http::Fields, keep: impl Fn(&str) -> bool) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    for (name, value) in fields.entries().into_iter().filter(|(n, _)| keep(n)) {
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_bytes(&value),
        ) {
            headers.append(n, v);
        }
    }
    headers
}

fn method_of(method: Method) -> Result<http::Method, CoreError> {
    Ok(match method {
        Method::Get => http::Method::GET,
        Method::Post => http::Method::POST,
        Method::Put => http::Method::PUT,
        Method::Delete => http::Method::DELETE,
        Method::Patch => http::Method::PATCH,
        Method::Head => http::Method::HEAD,
        Method::Options => http::Method::OPTIONS,
        Method::Connect => http::Method::CONNECT,
        Method::Trace => http::Method::TRACE,
        Method::Other(other) => http::Method::from_bytes(other.as_bytes())
            .map_err(|_| CoreError::BadRequest("invalid method".into()))?,
    })
}

/// Whether vreg reads a request header of this name. Spin adds eight or
/// so of its own (`spin-path-info`, `spin-client-addr`, ...) to every
/// request; of those vreg reads only the full URL, and parsing the rest
/// was a tenth of a cached read's own work (measured).
fn read_by_vreg(name: &str) -> bool {
    !name.starts_with("spin-") || name == "spin-full-url"
}

/// The request's head, and its body as a stream.
pub fn split_request(
    incoming: IncomingRequest,
) -> Result<(http::request::Parts, WasiBodyReader), CoreError> {
    let uri = incoming.path_with_query().unwrap_or_else(|| "/".into());
    let mut builder = http::Request::builder()
        .method(method_of(incoming.method())?)
        .uri(uri.as_str());
    if let Some(headers) = builder.headers_mut() {
        *headers = headers_kept(&incoming.headers(), read_by_vreg);
    }
    let (parts, ()) = builder
        .body(())
        .map_err(|_| CoreError::BadRequest("malformed request".into()))?
        .into_parts();
    Ok((
        parts,
        WasiBodyReader {
            stream: None,
            body: None,
            _response: None,
            request: Some(incoming),
        },
    ))
}

/// Writes a response through Spin's response-outparam: small responses at
/// once, large ones streamed chunk by chunk.
pub struct SpinResponseSink {
    outparam: Option<wasi_http::ResponseOutparam>,
}

impl SpinResponseSink {
    pub fn new(outparam: ResponseOutparam) -> Self {
        SpinResponseSink {
            outparam: Some(outparam.into_inner()),
        }
    }
}

/// The body of a response whose head is handed to the host only when the
/// body's buffer is full or the body ends. A small response thus reaches
/// the host whole, and goes out in one segment: with the head sent first,
/// Spin's listener (Nagle's algorithm on) holds the body back until the
/// client's delayed ACK, ~40 ms a response on a kept-alive connection.
struct SpinBodyWriter {
    stream: Option<OutputStream>,
    body: Option<wasi_http::OutgoingBody>,
    unsent: Option<(wasi_http::ResponseOutparam, wasi_http::OutgoingResponse)>,
}

impl SpinBodyWriter {
    fn send_head(&mut self) {
        if let Some((outparam, response)) = self.unsent.take() {
            wasi_http::ResponseOutparam::set(outparam, Ok(response));
        }
    }
}

impl BodyWriter for SpinBodyWriter {
    fn write(&mut self, mut bytes: &[u8]) -> vreg_core::Result<()> {
        let failed = |_| CoreError::BadRequest("client went away".into());
        while !bytes.is_empty() {
            let permitted = loop {
                let stream = self
                    .stream
                    .as_ref()
                    .ok_or_else(|| CoreError::BadRequest("response closed".into()))?;
                let n = stream.check_write().map_err(failed)?;
                if n > 0 {
                    break n;
                }
                // The buffer is full: only the host can drain it now.
                let ready = stream.subscribe();
                self.send_head();
                ready.block();
            };
            let stream = self.stream.as_ref().expect("checked above");
            let take = (permitted as usize).min(bytes.len());
            stream.write(&bytes[..take]).map_err(failed)?;
            bytes = &bytes[take..];
        }
        Ok(())
    }
}

impl Drop for SpinBodyWriter {
    fn drop(&mut self) {
        self.send_head();
        if let Some(stream) = self.stream.take() {
            let _ = stream.blocking_flush();
        }
        if let Some(body) = self.body.take() {
            let _ = wasi_http::OutgoingBody::finish(body, None);
        }
    }
}

impl ResponseSink for SpinResponseSink {
    fn send(&mut self, response: Response) -> vreg_core::Result<()> {
        let (parts, body) = response.into_parts();
        let mut writer = self.start(parts.status, &parts.headers)?;
        writer.write(&body)
    }

    fn start(
        &mut self,
        status: http::StatusCode,
        headers: &http::HeaderMap,
    ) -> vreg_core::Result<Box<dyn BodyWriter + '_>> {
        let outparam = self
            .outparam
            .take()
            .ok_or_else(|| CoreError::BadRequest("response already started".into()))?;
        let entries: Vec<(String, Vec<u8>)> = headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.as_bytes().to_vec()))
            .collect();
        let fields = wasi_http::Fields::from_list(&entries)
            .map_err(|e| CoreError::BadRequest(format!("invalid response header: {e:?}")))?;
        let response = wasi_http::OutgoingResponse::new(fields);
        let _ = response.set_status_code(status.as_u16());
        let body = response
            .body()
            .map_err(|_| CoreError::BadRequest("response body unavailable".into()))?;
        let stream = body
            .write()
            .map_err(|_| CoreError::BadRequest("response stream unavailable".into()))?;
        Ok(Box::new(SpinBodyWriter {
            stream: Some(stream),
            body: Some(body),
            unsent: Some((outparam, response)),
        }))
    }
}

/// Upstream requests through `wasi:http/outgoing-handler`, with timeouts.
pub struct SpinFetch;

impl Fetch for SpinFetch {
    fn fetch(&self, request: &FetchRequest) -> Result<FetchResponse, FetchError> {
        receive(send(request)?)
    }

    /// Starts every request before waiting on any, so the host runs them
    /// concurrently.
    fn fetch_all(&self, requests: &[FetchRequest]) -> Vec<Result<FetchResponse, FetchError>> {
        let started: Vec<_> = requests.iter().map(send).collect();
        started.into_iter().map(|s| s.and_then(receive)).collect()
    }
}

/// Sends a request; the response is awaited by [`receive`].
fn send(request: &FetchRequest) -> Result<wasi_http::FutureIncomingResponse, FetchError> {
    {
        let url = url::Url::parse(&request.url)
            .map_err(|e| FetchError::Failed(format!("invalid URL: {e}")))?;
        let entries: Vec<(String, Vec<u8>)> = request
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
            .collect();
        let fields = wasi_http::Fields::from_list(&entries)
            .map_err(|e| FetchError::Failed(format!("{e:?}")))?;
        let outgoing = wasi_http::OutgoingRequest::new(fields);
        let method = match request.method.as_str() {
            "GET" => wasi_http::Method::Get,
            "HEAD" => wasi_http::Method::Head,
            other => wasi_http::Method::Other(other.to_owned()),
        };
        let scheme = if url.scheme() == "https" {
            wasi_http::Scheme::Https
        } else {
            wasi_http::Scheme::Http
        };
        let authority = match url.port() {
            Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_owned(),
        };
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        let invalid = |_| FetchError::Failed("invalid request".into());
        outgoing.set_method(&method).map_err(invalid)?;
        outgoing.set_scheme(Some(&scheme)).map_err(invalid)?;
        outgoing.set_authority(Some(&authority)).map_err(invalid)?;
        outgoing.set_path_with_query(Some(&path)).map_err(invalid)?;
        let body = outgoing.body().map_err(invalid)?;
        wasi_http::OutgoingBody::finish(body, None)
            .map_err(|e| FetchError::Failed(format!("{e:?}")))?;

        let nanos = request.timeout.as_nanos().min(u64::MAX as u128) as u64;
        let options = wasi_http::RequestOptions::new();
        let _ = options.set_connect_timeout(Some(nanos));
        let _ = options.set_first_byte_timeout(Some(nanos));
        let _ = options.set_between_bytes_timeout(Some(nanos));
        outgoing_handler::handle(outgoing, Some(options)).map_err(error_code)
    }
}

fn receive(future: wasi_http::FutureIncomingResponse) -> Result<FetchResponse, FetchError> {
    {
        future.subscribe().block();
        let response = match future.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(code))) => return Err(error_code(code)),
            _ => return Err(FetchError::Failed("no response".into())),
        };
        let status = response.status();
        let headers = headers_of(&response.headers());
        let body = response
            .consume()
            .map_err(|_| FetchError::Failed("no body".into()))?;
        let stream = body
            .stream()
            .map_err(|_| FetchError::Failed("no body stream".into()))?;
        Ok(FetchResponse {
            status,
            headers,
            body: Box::new(WasiBodyReader {
                stream: Some(stream),
                body: Some(body),
                _response: Some(response),
                request: None,
            }),
        })
    }
}

fn error_code(code: wasi_http::ErrorCode) -> FetchError {
    match code {
        wasi_http::ErrorCode::ConnectionTimeout | wasi_http::ErrorCode::ConnectionReadTimeout => {
            FetchError::Timeout
        }
        wasi_http::ErrorCode::HttpRequestDenied => {
            FetchError::Denied("not in allowed_outbound_hosts".into())
        }
        wasi_http::ErrorCode::DestinationIpProhibited => FetchError::Denied(
            "the host name resolves to an address in the runtime config's block_networks".into(),
        ),
        other => FetchError::Failed(format!("{other:?}")),
    }
}
