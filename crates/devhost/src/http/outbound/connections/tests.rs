//! Against a real HTTP/1.1 server on 127.0.0.1 that counts the connections
//! it accepts.

use std::sync::atomic::{AtomicUsize, Ordering};

use http_body_util::{BodyExt, Empty};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use super::*;
use crate::test_dir::TestDir;

/// Answers `/big` with 1 MiB, `/close` with `Connection: close`, `/once`
/// by closing the socket after the response without saying so, anything
/// else with its own path; over TLS when given an acceptor.
async fn serve(tls: Option<tokio_rustls::TlsAcceptor>) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            count.fetch_add(1, Ordering::SeqCst);
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    None => answer(stream).await,
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(stream).await {
                            answer(stream).await
                        }
                    }
                }
            });
        }
    });
    (address, accepted)
}

async fn server() -> (SocketAddr, Arc<AtomicUsize>) {
    serve(None).await
}

async fn answer(stream: impl AsyncRead + AsyncWrite + Unpin) {
    let (read, mut write) = tokio::io::split(stream);
    let mut lines = BufReader::new(read).lines();
    while let Ok(Some(request_line)) = lines.next_line().await {
        while let Ok(Some(header)) = lines.next_line().await {
            if header.is_empty() {
                break;
            }
        }
        let path = request_line.split(' ').nth(1).unwrap_or("/").to_owned();
        let (body, extra) = match path.as_str() {
            "/big" => (vec![b'x'; 1 << 20], ""),
            "/close" => (path.clone().into_bytes(), "connection: close\r\n"),
            _ => (path.clone().into_bytes(), ""),
        };
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n{extra}\r\n",
            body.len()
        );
        if write.write_all(head.as_bytes()).await.is_err()
            || write.write_all(&body).await.is_err()
            || write.flush().await.is_err()
            || path == "/close"
            || path == "/once"
        {
            return;
        }
    }
}

fn get(address: SocketAddr, path: &str) -> http::Request<WasiBody> {
    get_url(&format!("http://{address}{path}"))
}

fn get_url(url: &str) -> http::Request<WasiBody> {
    let uri: http::Uri = url.parse().unwrap();
    let host = uri.authority().unwrap().to_string();
    http::Request::get(uri)
        .header("host", host)
        .body(Empty::new().map_err(|never| match never {}).boxed_unsync())
        .unwrap()
}

async fn read(response: http::Response<WasiBody>) -> Vec<u8> {
    response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec()
}

/// A GET of `path` sent through `connections`, its body not read yet.
async fn send(
    connections: &Arc<Connections>,
    address: SocketAddr,
    path: &str,
) -> http::Response<WasiBody> {
    connections
        .send(get(address, path), None, None)
        .await
        .unwrap()
}

/// A GET of `path` sent through `connections`, its body read to the end.
async fn fetch(connections: &Arc<Connections>, address: SocketAddr, path: &str) -> Vec<u8> {
    read(send(connections, address, path).await).await
}

/// Lets the pool take back a connection whose body was just read.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(50)).await;
}

#[tokio::test]
async fn requests_in_turn_share_one_connection() {
    let (address, accepted) = server().await;
    let connections = Connections::new();
    for path in ["/a", "/b", "/c"] {
        assert_eq!(fetch(&connections, address, path).await, path.as_bytes());
        settle().await;
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn requests_at_once_each_get_a_connection_and_all_come_back() {
    let (address, accepted) = server().await;
    let connections = Connections::new();
    let first = send(&connections, address, "/1").await;
    let second = send(&connections, address, "/2").await;
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        2,
        "the first is still busy"
    );
    assert_eq!(read(first).await, b"/1");
    assert_eq!(read(second).await, b"/2");
    settle().await;
    let third = send(&connections, address, "/3").await;
    let fourth = send(&connections, address, "/4").await;
    assert_eq!(
        (read(third).await, read(fourth).await),
        (b"/3".to_vec(), b"/4".to_vec())
    );
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_body_dropped_half_read_takes_its_connection_with_it() {
    let (address, accepted) = server().await;
    let connections = Connections::new();
    let response = send(&connections, address, "/big").await;
    let mut body = response.into_body();
    assert!(body.frame().await.unwrap().unwrap().is_data());
    drop(body);
    settle().await;
    assert_eq!(fetch(&connections, address, "/next").await, b"/next");
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_connection_the_server_closes_is_not_used_again() {
    let (address, accepted) = server().await;
    let connections = Connections::new();
    for path in ["/close", "/once"] {
        assert_eq!(fetch(&connections, address, path).await, path.as_bytes());
        settle().await;
    }
    assert_eq!(fetch(&connections, address, "/after").await, b"/after");
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn origins_do_not_share_connections_and_checked_addresses_are_used() {
    let (first, first_accepted) = server().await;
    let (second, second_accepted) = server().await;
    let connections = Connections::new();
    for address in [first, second, first, second] {
        assert_eq!(fetch(&connections, address, "/x").await, b"/x");
        settle().await;
    }
    assert_eq!(first_accepted.load(Ordering::SeqCst), 1);
    assert_eq!(second_accepted.load(Ordering::SeqCst), 1);

    // A new connection goes to the checked address given, whatever host
    // the request names.
    let (third, third_accepted) = server().await;
    let fresh = Connections::new();
    let response = fresh
        .send(get(first, "/named"), None, Some(vec![third]))
        .await
        .unwrap();
    assert_eq!(read(response).await, b"/named");
    assert_eq!(third_accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn https_peers_are_verified_and_their_connections_kept() {
    let dir = TestDir::new();
    let (cert, key) = vreg_testkit::self_signed_certificate(&dir.0);
    let acceptor = crate::http::tls::acceptor(&cert, &key).unwrap();
    let (address, accepted) = serve(Some(acceptor)).await;
    let port = address.port();
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_file_iter(&cert).unwrap() {
        roots.add(certificate.unwrap()).unwrap();
    }
    let connections = Connections::with_roots(roots);

    // By name (the name checked against the certificate, the connection
    // made to the address given), twice over one connection.
    for path in ["/a", "/b"] {
        let request = get_url(&format!("https://localhost:{port}{path}"));
        let response = connections.send(request, None, Some(vec![address]));
        assert_eq!(read(response.await.unwrap()).await, path.as_bytes());
        settle().await;
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    // By address: another origin, so another connection.
    let request = get_url(&format!("https://127.0.0.1:{port}/c"));
    let response = connections.send(request, None, None).await.unwrap();
    assert_eq!(read(response).await, b"/c");
    assert_eq!(accepted.load(Ordering::SeqCst), 2);

    // Against the public roots the same certificate is refused.
    let request = get_url(&format!("https://127.0.0.1:{port}/d"));
    let refused = Connections::new().send(request, None, None).await;
    assert!(matches!(refused, Err(Error::Tls(_))), "{refused:?}");
}
