//! A static file server on 127.0.0.1: the remote upstream of the tests.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A plain static file server on 127.0.0.1 for tests: GET and HEAD of files
/// under a directory, with `Content-Length` and a content `ETag`; it counts
/// the requests it answers, keeps the credentials they came with, and stops
/// (closing its port) when dropped.
pub struct StaticServer {
    pub port: u16,
    address: std::net::IpAddr,
    counts: std::sync::Arc<Counts>,
    failing: std::sync::Arc<std::sync::atomic::AtomicBool>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What a server has answered.
#[derive(Default)]
struct Counts {
    requests: AtomicUsize,
    gets: AtomicUsize,
    body_bytes: AtomicUsize,
    /// Each request's `Authorization` header ("" without one), in order.
    authorizations: std::sync::Mutex<Vec<String>>,
}

impl StaticServer {
    pub fn start(root: &Path) -> StaticServer {
        Self::start_serving(root, [127, 0, 0, 1].into(), None)
    }

    /// Like [`StaticServer::start`], listening on `address` (another
    /// loopback address, `::1`).
    pub fn start_on(root: &Path, address: std::net::IpAddr) -> StaticServer {
        Self::start_serving(root, address, None)
    }

    /// A server that answers every request with a `302` to the same path
    /// under `base` (another server): an upstream that redirects.
    pub fn start_redirecting(base: &str) -> StaticServer {
        Self::start_serving(Path::new(""), [127, 0, 0, 1].into(), Some(base.to_owned()))
    }

    fn start_serving(
        root: &Path,
        address: std::net::IpAddr,
        redirect: Option<String>,
    ) -> StaticServer {
        use std::sync::atomic::AtomicBool;
        let listener = std::net::TcpListener::bind((address, 0)).expect("bind");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let counts = std::sync::Arc::new(Counts::default());
        let failing = std::sync::Arc::new(AtomicBool::new(false));
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let root = root.to_path_buf();
        let (count, halt, broken) = (counts.clone(), stop.clone(), failing.clone());
        let thread = std::thread::spawn(move || {
            while !halt.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let root = root.clone();
                        let count = count.clone();
                        let redirect = redirect.clone();
                        let broken = broken.load(Ordering::SeqCst);
                        std::thread::spawn(move || {
                            let _ = serve_one(stream, &root, redirect.as_deref(), broken, &count);
                        });
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
                }
            }
        });
        StaticServer {
            port,
            address,
            counts,
            failing,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!(
            "http://{}",
            std::net::SocketAddr::new(self.address, self.port)
        )
    }

    /// While on, every request is answered 503 (an upstream in trouble).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// How many requests it has answered.
    pub fn requests(&self) -> usize {
        self.counts.requests.load(Ordering::SeqCst)
    }

    /// How many of them were GETs.
    pub fn gets(&self) -> usize {
        self.counts.gets.load(Ordering::SeqCst)
    }

    /// How many body bytes it has handed to the network (a client that
    /// hangs up stops the count where the server could no longer write).
    pub fn body_bytes(&self) -> usize {
        self.counts.body_bytes.load(Ordering::SeqCst)
    }

    /// The `Authorization` header of each request answered ("" for none).
    pub fn authorizations(&self) -> Vec<String> {
        self.counts.authorizations.lock().unwrap().clone()
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Answers one request. The request is counted before the answer is sent,
/// so a client that has its answer always sees it counted.
fn serve_one(
    mut stream: std::net::TcpStream,
    root: &Path,
    redirect: Option<&str>,
    failing: bool,
    count: &Counts,
) -> std::io::Result<()> {
    use std::io::{BufRead, BufReader, Write};
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut authorization = String::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header == "\r\n" || header == "\n" {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("authorization") {
                authorization = value.trim().to_owned();
            }
        }
    }
    count.authorizations.lock().unwrap().push(authorization);
    count.requests.fetch_add(1, Ordering::SeqCst);
    let mut words = line.split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or("/"));
    if method == "GET" {
        count.gets.fetch_add(1, Ordering::SeqCst);
    }
    let path = target.split('?').next().unwrap_or("/");
    if failing {
        write!(
            stream,
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )?;
        return stream.flush();
    }
    if let Some(base) = redirect {
        write!(
            stream,
            "HTTP/1.1 302 Found\r\nLocation: {base}{path}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )?;
        return stream.flush();
    }
    let decoded: String = url_decode(path);
    let safe = !decoded.split('/').any(|s| s == "..");
    let file = root.join(decoded.trim_start_matches('/'));
    let body = if safe && file.is_file() {
        std::fs::read(&file).ok()
    } else {
        None
    };
    match body {
        Some(body) => {
            let etag = format!("\"{:016x}\"", fnv(&body));
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nETag: {etag}\r\nConnection: close\r\n\r\n",
                body.len()
            )?;
            if method != "HEAD" {
                for piece in body.chunks(64 * 1024) {
                    stream.write_all(piece)?;
                    count.body_bytes.fetch_add(piece.len(), Ordering::SeqCst);
                }
            }
        }
        None => write!(
            stream,
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )?,
    }
    stream.flush()
}

fn url_decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&path[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A content hash for ETags (FNV-1a; identity, not security).
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x100000001b3)
    })
}
