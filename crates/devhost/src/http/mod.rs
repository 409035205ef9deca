//! The HTTP trigger: serves every `[[trigger.http]]` route, one fresh
//! component instance per request, with the headers Spin sets and streaming
//! bodies both ways.

mod drain;
pub mod outbound;
pub mod respond;
pub mod routes;
pub mod tls;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use tokio::net::TcpListener;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::WasiHttpView;

use crate::app::App;
use crate::manifest::RouteSpec;
use crate::state::InstanceState;
use routes::{RouteMatch, Router};

pub struct HttpTrigger {
    app: Arc<App>,
    router: Router,
    handlers: HashMap<String, ProxyPre<InstanceState>>,
}

impl HttpTrigger {
    pub fn new(app: Arc<App>) -> Result<Self> {
        let routes: Vec<(&str, &str)> = app
            .manifest
            .trigger
            .http
            .iter()
            .filter_map(|t| match &t.route {
                RouteSpec::Route(r) => Some((r.as_str(), t.component.as_str())),
                RouteSpec::Private { .. } => None,
            })
            .collect();
        let router = Router::build(routes)?;
        let mut handlers = HashMap::new();
        for trigger in &app.manifest.trigger.http {
            let loaded = &app.components[&trigger.component];
            let pre = ProxyPre::new(loaded.pre.clone())
                .map_err(anyhow::Error::from)
                .with_context(|| {
                    format!(
                        "component {:?} does not export wasi:http/incoming-handler",
                        trigger.component
                    )
                })?;
            handlers.insert(trigger.component.clone(), pre);
        }
        Ok(HttpTrigger {
            app,
            router,
            handlers,
        })
    }

    pub fn routes(&self) -> Vec<String> {
        self.app
            .manifest
            .trigger
            .http
            .iter()
            .filter_map(|t| match &t.route {
                RouteSpec::Route(r) => Some(format!("  {}: {}", t.component, r)),
                RouteSpec::Private { .. } => None,
            })
            .collect()
    }

    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> Result<()> {
        let local = listener.local_addr()?;
        loop {
            let (stream, client) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    eprintln!("devhost: accept failed: {e}");
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let trigger = self.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let trigger = trigger.clone();
                    async move {
                        Ok::<_, std::convert::Infallible>(
                            trigger.handle(request, local, client).await,
                        )
                    }
                });
                let served = match tls {
                    None => {
                        http1::Builder::new()
                            .keep_alive(true)
                            .serve_connection(TokioIo::new(stream), service)
                            .await
                    }
                    Some(acceptor) => match acceptor.accept(stream).await {
                        Ok(stream) => {
                            http1::Builder::new()
                                .keep_alive(true)
                                .serve_connection(TokioIo::new(stream), service)
                                .await
                        }
                        Err(e) => {
                            eprintln!("devhost: TLS handshake with {client} failed: {e}");
                            return;
                        }
                    },
                };
                if let Err(e) = served {
                    if !e.is_incomplete_message() {
                        eprintln!("devhost: connection from {client}: {e}");
                    }
                }
            });
        }
    }

    async fn handle(
        &self,
        request: hyper::Request<hyper::body::Incoming>,
        local: SocketAddr,
        client: SocketAddr,
    ) -> hyper::Response<HyperOutgoingBody> {
        let started = Instant::now();
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let peak = Arc::new(AtomicUsize::new(0));
        let (component, response) = match self.router.route(&path) {
            None => ("-".to_owned(), plain(404, "Not Found")),
            Some(matched) => {
                let response = match self
                    .invoke(request, &matched, local, client, peak.clone())
                    .await
                {
                    Ok(response) => response,
                    Err(e) => {
                        eprintln!("[{}] request failed: {e:#}", matched.component);
                        plain(500, "Internal Server Error")
                    }
                };
                (matched.component, response)
            }
        };
        // The line is written when the body has been sent, so the duration
        // and the instance's peak memory cover the whole exchange.
        let status = response.status().as_u16();
        response.map(|body| {
            LoggedBody {
                inner: body,
                on_end: Some(Box::new(move || {
                    println!(
                        "{method} {path} {component} {status} {:.1}ms mem={}KiB",
                        started.elapsed().as_secs_f64() * 1000.0,
                        peak.load(Ordering::Relaxed) / 1024
                    );
                })),
            }
            .boxed_unsync()
        })
    }

    async fn invoke(
        &self,
        mut request: hyper::Request<hyper::body::Incoming>,
        matched: &RouteMatch,
        local: SocketAddr,
        client: SocketAddr,
        peak: Arc<AtomicUsize>,
    ) -> Result<hyper::Response<HyperOutgoingBody>> {
        let loaded = &self.app.components[&matched.component];
        let pre = self.handlers[&matched.component].clone();
        set_spin_headers(&mut request, matched, local, client);
        let mut store = self.app.store(loaded);
        store.data_mut().peak_memory = peak;
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let request = request.map(drain::DrainedBody::new);
        let incoming = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request)?;
        let outparam = store.data_mut().http().new_response_outparam(sender)?;
        // The guest keeps running after it sets the response, to stream the body.
        let task = crate::guest::spawn(async move {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, incoming, outparam)
                .await
        });
        match receiver.await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(code)) => anyhow::bail!("component responded with error {code:?}"),
            Err(_) => match task.await {
                Ok(Ok(())) => anyhow::bail!("component did not set a response"),
                Ok(Err(e)) => Err(e.into()),
                Err(e) => Err(e.into()),
            },
        }
    }
}

fn set_spin_headers(
    request: &mut hyper::Request<hyper::body::Incoming>,
    matched: &RouteMatch,
    local: SocketAddr,
    client: SocketAddr,
) {
    let host = request
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| local.to_string());
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .to_owned();
    let mut values = vec![
        (
            "spin-full-url".to_owned(),
            format!("http://{host}{path_and_query}"),
        ),
        ("spin-path-info".to_owned(), matched.path_info.clone()),
        ("spin-matched-route".to_owned(), matched.raw_route.clone()),
        (
            "spin-raw-component-route".to_owned(),
            matched.raw_route.clone(),
        ),
        (
            "spin-component-route".to_owned(),
            matched.component_route.clone(),
        ),
        ("spin-base-path".to_owned(), "/".to_owned()),
        ("spin-client-addr".to_owned(), client.to_string()),
    ];
    for (name, value) in &matched.captures {
        values.push((format!("spin-path-match-{name}"), value.clone()));
    }
    let headers = request.headers_mut();
    if !headers.contains_key(http::header::HOST) {
        if let Ok(v) = http::HeaderValue::from_str(&host) {
            headers.insert(http::header::HOST, v);
        }
    }
    for (name, value) in values {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            headers.insert(name, value);
        }
    }
}

fn plain(status: u16, body: &'static str) -> hyper::Response<HyperOutgoingBody> {
    let mut response = hyper::Response::new(
        Full::new(Bytes::from_static(body.as_bytes()))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    response
}

/// A response body that runs a callback when it is finished (or dropped).
struct LoggedBody {
    inner: HyperOutgoingBody,
    on_end: Option<Box<dyn FnOnce() + Send>>,
}

impl hyper::body::Body for LoggedBody {
    type Data = Bytes;
    type Error = <HyperOutgoingBody as hyper::body::Body>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for LoggedBody {
    fn drop(&mut self) {
        if let Some(on_end) = self.on_end.take() {
            on_end();
        }
    }
}
