//! Native implementations of vreg-core's storage traits: real SQLite through
//! rusqlite, an in-process key-value map, and a clock tests can move.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode};
use vreg_core::io::{BodyReader, Fetch, FetchError, FetchRequest, FetchResponse};
use vreg_core::store::{Clock, Kv, Rows, Sql, StoreError, Value};

/// A SQLite connection, as Spin gives a component one per request.
pub struct NativeSql {
    connection: Mutex<Connection>,
}

impl NativeSql {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let connection = Connection::open(path).map_err(store_error)?;
        Self::configure(connection)
    }

    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::configure(Connection::open_in_memory().map_err(store_error)?)
    }

    fn configure(connection: Connection) -> Result<Self, StoreError> {
        // Without a busy timeout a second writer fails at once instead of queueing.
        connection
            .busy_timeout(Duration::from_secs(5))
            .map_err(store_error)?;
        Ok(NativeSql {
            connection: Mutex::new(connection),
        })
    }
}

fn store_error(error: rusqlite::Error) -> StoreError {
    match error.sqlite_error_code() {
        Some(ErrorCode::ConstraintViolation) => StoreError::Constraint(error.to_string()),
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => StoreError::Busy,
        _ => StoreError::Other(error.to_string()),
    }
}

fn to_sql(value: &Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as V;
    match value {
        Value::Integer(v) => V::Integer(*v),
        Value::Real(v) => V::Real(*v),
        Value::Text(v) => V::Text(v.clone()),
        Value::Blob(v) => V::Blob(v.clone()),
        Value::Null => V::Null,
    }
}

fn from_sql(value: ValueRef) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(v) => Value::Integer(v),
        ValueRef::Real(v) => Value::Real(v),
        ValueRef::Text(v) => Value::Text(String::from_utf8_lossy(v).into_owned()),
        ValueRef::Blob(v) => Value::Blob(v.to_vec()),
    }
}

impl Sql for NativeSql {
    fn execute(&self, statement: &str, params: &[Value]) -> Result<Rows, StoreError> {
        let connection = self
            .connection
            .lock()
            .map_err(|_| StoreError::Other("connection poisoned".into()))?;
        let mut prepared = connection.prepare(statement).map_err(store_error)?;
        let columns: Vec<String> = prepared
            .column_names()
            .into_iter()
            .map(str::to_owned)
            .collect();
        let params: Vec<rusqlite::types::Value> = params.iter().map(to_sql).collect();
        let mut rows = prepared
            .query(rusqlite::params_from_iter(params))
            .map_err(store_error)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(store_error)? {
            out.push(
                (0..columns.len())
                    .map(|i| row.get_ref(i).map(from_sql).map_err(store_error))
                    .collect::<Result<Vec<_>, _>>()?,
            );
        }
        Ok(Rows { columns, rows: out })
    }
}

/// An in-process key-value store.
#[derive(Default)]
pub struct MemoryKv {
    entries: Mutex<HashMap<String, Vec<u8>>>,
}

impl Kv for MemoryKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.entries.lock().unwrap().get(key).cloned())
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.entries
            .lock()
            .unwrap()
            .insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.entries.lock().unwrap().remove(key);
        Ok(())
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let mut entries = self.entries.lock().unwrap();
        if entries.get(key).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        entries.insert(key.to_owned(), new.to_vec());
        Ok(true)
    }
}

/// Publishes to a real Redis (RESP over TCP), as Spin's outbound Redis does.
pub struct RedisPublisher {
    pub address: String,
}

impl vreg_core::store::Publisher for RedisPublisher {
    fn publish(&self, channel: &str, payload: &[u8]) -> Result<u64, StoreError> {
        use std::io::{Read, Write};
        let failed = |e: std::io::Error| StoreError::Other(format!("redis: {e}"));
        let mut stream = std::net::TcpStream::connect(&self.address).map_err(failed)?;
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(failed)?;
        let mut command = format!(
            "*3\r\n$7\r\nPUBLISH\r\n${}\r\n{channel}\r\n${}\r\n",
            channel.len(),
            payload.len()
        )
        .into_bytes();
        command.extend_from_slice(payload);
        command.extend_from_slice(b"\r\n");
        stream.write_all(&command).map_err(failed)?;
        let mut reply = [0u8; 64];
        let n = stream.read(&mut reply).map_err(failed)?;
        let reply = String::from_utf8_lossy(&reply[..n]);
        match reply
            .strip_prefix(':')
            .and_then(|r| r.trim_end().parse().ok())
        {
            Some(receivers) => Ok(receivers),
            None => Err(StoreError::Other(format!("redis: {reply}"))),
        }
    }
}

/// Records what was published, for tests that do not need Redis itself.
#[derive(Default)]
pub struct RecordingPublisher {
    pub messages: Mutex<Vec<(String, Vec<u8>)>>,
    pub fail: std::sync::atomic::AtomicBool,
}

impl vreg_core::store::Publisher for RecordingPublisher {
    /// One receiver: the test stands in for the worker.
    fn publish(&self, channel: &str, payload: &[u8]) -> Result<u64, StoreError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(StoreError::Other("redis is down".into()));
        }
        self.messages
            .lock()
            .unwrap()
            .push((channel.to_owned(), payload.to_vec()));
        Ok(1)
    }
}

/// A clock that stands still until a test moves it.
pub struct ManualClock {
    now: AtomicI64,
}

impl ManualClock {
    pub fn at(millis: i64) -> Self {
        ManualClock {
            now: AtomicI64::new(millis),
        }
    }

    pub fn advance(&self, millis: i64) {
        self.now.fetch_add(millis, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_millis(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }
}

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

/// A plain static file server on 127.0.0.1 for tests: GET and HEAD of files
/// under a directory, with `Content-Length` and a content `ETag`; it counts
/// the requests it answers and stops (closing its port) when dropped.
pub struct StaticServer {
    pub port: u16,
    requests: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StaticServer {
    pub fn start(root: &Path) -> StaticServer {
        use std::sync::atomic::AtomicBool;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = std::sync::Arc::new(AtomicUsize::new(0));
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let root = root.to_path_buf();
        let (count, halt) = (requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !halt.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let root = root.clone();
                        let count = count.clone();
                        std::thread::spawn(move || {
                            let _ = serve_one(stream, &root, &count);
                        });
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
                }
            }
        });
        StaticServer {
            port,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// How many requests it has answered.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
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
    count: &AtomicUsize,
) -> std::io::Result<()> {
    use std::io::{BufRead, BufReader, Write};
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header == "\r\n" || header == "\n" {
            break;
        }
    }
    count.fetch_add(1, Ordering::SeqCst);
    let mut words = line.split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or("/"));
    let path = target.split('?').next().unwrap_or("/");
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
                stream.write_all(&body)?;
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
