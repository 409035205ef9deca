//! Outbound HTTP/1.1 connections kept open between requests, as Spin keeps
//! them (its outbound HTTP pools connections unless told not to): a request
//! to an origin talked to recently reuses an idle connection instead of a
//! new TCP connect and TLS handshake. A connection goes back to the pool
//! only once its response body has been read to the end and hyper says it
//! can carry another request; one dropped half-read is closed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::SendRequest;
use tokio::net::TcpStream;
use tokio_rustls::rustls::{self, pki_types::ServerName};
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

/// Idle connections kept per origin; more are closed when they come back.
const MAX_IDLE_PER_ORIGIN: usize = 32;
/// An idle connection older than this is closed rather than reused.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// wasi:http's default for each timeout a request does not set.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Clone, PartialEq, Eq, Hash, Debug)]
struct Origin {
    tls: bool,
    /// `host:port`, the port always written out.
    authority: String,
}

struct Idle {
    sender: SendRequest<WasiBody>,
    since: Instant,
}

pub struct Connections {
    idle: Mutex<HashMap<Origin, Vec<Idle>>>,
    tls: Arc<rustls::ClientConfig>,
}

impl Connections {
    /// Connections whose https peers are verified against the Mozilla
    /// roots (`webpki-roots`), as wasmtime's own client does.
    pub fn new() -> Arc<Connections> {
        Connections::with_roots(rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.into(),
        })
    }

    fn with_roots(roots: rustls::RootCertStore) -> Arc<Connections> {
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        Arc::new(Connections {
            idle: Mutex::new(HashMap::new()),
            tls: Arc::new(tls),
        })
    }

    /// Sends `request` (its URI absolute) on an idle connection to its
    /// origin, or on a new one to `addresses` (the host's addresses already
    /// checked against `block_networks`) or, without them, to the host.
    pub async fn send(
        self: &Arc<Self>,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        addresses: Option<Vec<SocketAddr>>,
    ) -> Result<http::Response<WasiBody>, Error> {
        let origin = origin_of(request.uri())?;
        let timeout = |pick: fn(&RequestOptions) -> Option<Duration>| {
            options.as_ref().and_then(pick).unwrap_or(DEFAULT_TIMEOUT)
        };
        let connect_timeout = timeout(|o| o.connect_timeout);
        let first_byte_timeout = timeout(|o| o.first_byte_timeout);
        let between_bytes_timeout = timeout(|o| o.between_bytes_timeout).max(Duration::new(0, 1));
        // On the wire the request line carries only the path and query.
        let path = request
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        *request.uri_mut() = http::Uri::try_from(path).map_err(|_| Error::HttpRequestUriInvalid)?;

        if let Some(mut sender) = self.take_idle(&origin) {
            let sent = sender.try_send_request(request);
            match within(first_byte_timeout, Error::ConnectionReadTimeout, sent).await? {
                Ok(response) => {
                    return Ok(self.watch(response, origin, sender, between_bytes_timeout));
                }
                // The connection closed before the request went out: it is
                // safe to send again, on a new connection.
                Err(mut e) => match e.take_message() {
                    Some(unsent) => request = unsent,
                    None => return Err(e.into_error().into()),
                },
            }
        }
        let connected = self.connect(&origin, addresses);
        let mut sender = within(connect_timeout, Error::ConnectionTimeout, connected).await??;
        let sent = sender.send_request(request);
        let response = within(first_byte_timeout, Error::ConnectionReadTimeout, sent).await??;
        Ok(self.watch(response, origin, sender, between_bytes_timeout))
    }

    async fn connect(
        &self,
        origin: &Origin,
        addresses: Option<Vec<SocketAddr>>,
    ) -> Result<SendRequest<WasiBody>, Error> {
        let stream = match addresses {
            Some(addresses) => TcpStream::connect(&addresses[..]).await,
            None => TcpStream::connect(origin.authority.as_str()).await,
        }
        .map_err(Error::Connect)?;
        // The request head goes out in one write; waiting to coalesce it
        // only delays it.
        let _ = stream.set_nodelay(true);
        if origin.tls {
            let name = server_name(&origin.authority)?;
            let stream = tokio_rustls::TlsConnector::from(self.tls.clone())
                .connect(name, stream)
                .await
                .map_err(Error::Tls)?;
            handshake(stream).await
        } else {
            handshake(stream).await
        }
    }

    fn take_idle(&self, origin: &Origin) -> Option<SendRequest<WasiBody>> {
        let mut idle = self.idle.lock().unwrap();
        let kept = idle.get_mut(origin)?;
        while let Some(connection) = kept.pop() {
            if connection.since.elapsed() < IDLE_TIMEOUT && connection.sender.is_ready() {
                return Some(connection.sender);
            }
        }
        None
    }

    fn put_idle(&self, origin: Origin, sender: SendRequest<WasiBody>) {
        let mut idle = self.idle.lock().unwrap();
        // Closed and expired connections go whenever one comes back, so an
        // origin no longer used does not hold its sockets for ever.
        idle.retain(|_, kept| {
            kept.retain(|c| c.since.elapsed() < IDLE_TIMEOUT && !c.sender.is_closed());
            !kept.is_empty()
        });
        let kept = idle.entry(origin).or_default();
        if kept.len() < MAX_IDLE_PER_ORIGIN {
            kept.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }

    /// The response, its body timed between frames, and the connection
    /// given back to the pool once the body has been read to its end.
    fn watch(
        self: &Arc<Self>,
        response: http::Response<Incoming>,
        origin: Origin,
        sender: SendRequest<WasiBody>,
        between_bytes: Duration,
    ) -> http::Response<WasiBody> {
        let mut timer = tokio::time::interval(between_bytes);
        timer.reset();
        response.map(|incoming| {
            ResponseBody {
                incoming,
                timer,
                give_back: Some(GiveBack {
                    pool: self.clone(),
                    origin,
                    sender,
                }),
            }
            .boxed_unsync()
        })
    }
}

async fn handshake<S>(stream: S) -> Result<SendRequest<WasiBody>, Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    // The connection's I/O runs on its own until every sender is gone.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

async fn within<T>(
    limit: Duration,
    late: Error,
    work: impl std::future::Future<Output = T>,
) -> Result<T, Error> {
    tokio::time::timeout(limit, work).await.map_err(|_| late)
}

fn origin_of(uri: &http::Uri) -> Result<Origin, Error> {
    let authority = uri.authority().ok_or(Error::HttpRequestUriInvalid)?;
    let tls = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
    let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
    Ok(Origin {
        tls,
        authority: format!("{}:{port}", authority.host()),
    })
}

fn server_name(authority: &str) -> Result<ServerName<'static>, Error> {
    let host = authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_owned()).map_err(Error::InvalidDnsNameError)
}

struct GiveBack {
    pool: Arc<Connections>,
    origin: Origin,
    sender: SendRequest<WasiBody>,
}

impl GiveBack {
    /// Pools the connection as soon as hyper has it ready for another
    /// request; one the server closes meanwhile is dropped.
    fn run(mut self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            if self.sender.ready().await.is_ok() {
                self.pool.put_idle(self.origin, self.sender);
            }
        });
    }
}

struct ResponseBody {
    incoming: Incoming,
    timer: tokio::time::Interval,
    give_back: Option<GiveBack>,
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        match Pin::new(&mut self.incoming).poll_frame(cx) {
            Poll::Ready(None) => {
                if let Some(give_back) = self.give_back.take() {
                    give_back.run();
                }
                Poll::Ready(None)
            }
            Poll::Ready(Some(Ok(frame))) => {
                self.timer.reset();
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                self.give_back = None;
                let e = if e.is_timeout() {
                    Error::HttpResponseTimeout
                } else {
                    Error::from(e)
                };
                Poll::Ready(Some(Err(e)))
            }
            Poll::Pending => {
                ready!(self.timer.poll_tick(cx));
                self.give_back = None;
                Poll::Ready(Some(Err(Error::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}

impl Drop for ResponseBody {
    /// A body with nothing in it (a 204, a HEAD) may never be polled to its
    /// end; its connection is as reusable as one read through.
    fn drop(&mut self) {
        if self.incoming.is_end_stream() {
            if let Some(give_back) = self.give_back.take() {
                give_back.run();
            }
        }
    }
}

#[cfg(test)]
mod tests;
