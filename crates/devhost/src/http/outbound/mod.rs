//! Outbound HTTP (`wasi:http/outgoing-handler`): requests go out only to the
//! component's `allowed_outbound_hosts`; others fail with
//! `HTTP-request-denied`, as under Spin. A host whose every address is in
//! the runtime config's `block_networks` fails with
//! `destination-IP-prohibited`, as under Spin; a connection goes to one of
//! the addresses that passed that check, never to a second resolution.

mod connections;

use std::sync::Arc;

use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

pub use connections::Connections;

use crate::blocked_networks::{BlockedNetworks, Refused};
use crate::outbound_hosts::{default_port, AllowedHosts};

pub struct OutboundHttp {
    pub component: Arc<str>,
    pub allowed: Arc<AllowedHosts>,
    pub blocked: Arc<BlockedNetworks>,
    pub connections: Arc<Connections>,
}

type ResponseFuture = Box<
    dyn std::future::Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn std::future::Future<Output = Result<(), Error>> + Send>,
                ),
                Error,
            >,
        > + Send,
>;

impl WasiHttpHooks for OutboundHttp {
    /// Response body writes a guest may have queued before it waits for the
    /// connection to send them (wasmtime-wasi-http's default is 1). A guest
    /// and its connection share a worker (see `guest::spawn`), and with one
    /// they took turns write by write (measured, 50 MiB on 2 cores, this the
    /// only change: ~10% faster at 4; 8 no better). At most 4 writes of at
    /// most `p2_outgoing_body_chunk_size` (1 MiB) each wait per response.
    fn p2_outgoing_body_buffer_chunks(&mut self) -> usize {
        4
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn std::future::Future<Output = Result<(), Error>> + Send>,
    ) -> ResponseFuture {
        let uri = request.uri();
        let allowed = match (uri.scheme_str(), uri.host()) {
            (Some(scheme), Some(host)) => self.allowed.allows(scheme, host, uri.port_u16()),
            _ => false,
        };
        if !allowed {
            eprintln!(
                "[{}] outbound request to {uri} denied: not in allowed_outbound_hosts",
                self.component
            );
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        let blocked = self.blocked.clone();
        let component = self.component.clone();
        let connections = self.connections.clone();
        Box::new(async move {
            let mut addresses = None;
            if !blocked.is_empty() {
                let uri = request.uri();
                let host = uri.host().unwrap_or_default().to_owned();
                let port = uri
                    .port_u16()
                    .or_else(|| default_port(uri.scheme_str().unwrap_or_default()))
                    .unwrap_or(80);
                match blocked.resolve(&host, port) {
                    Ok(allowed) => addresses = Some(allowed),
                    Err(Refused::Blocked(addresses)) => {
                        eprintln!(
                            "[{component}] outbound request to {host} refused: every address ({addresses:?}) is in block_networks"
                        );
                        return Err(Error::DestinationIpProhibited);
                    }
                    Err(Refused::Unresolved(e)) => {
                        return Err(Error::DnsError {
                            rcode: Some(e),
                            info_code: None,
                        })
                    }
                }
            }
            let response = connections.send(request, options, addresses).await?;
            // The connection's I/O is driven by the pool, not by wasmtime.
            Ok((
                response,
                Box::new(async { Ok(()) })
                    as Box<dyn std::future::Future<Output = Result<(), Error>> + Send>,
            ))
        })
    }
}
