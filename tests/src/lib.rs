//! The end-to-end harness: a real `redis-server` and devhost, each on a free
//! port of 127.0.0.1 with a fresh state directory, running the freshly built
//! `.wasm` components; both are stopped when dropped, so a test leaves no
//! process behind.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub use serde_json::{json, Value as Json};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn cargo(args: &[&str]) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(args)
        .current_dir(root())
        .status()
        .expect("run cargo");
    assert!(status.success(), "cargo {} failed", args.join(" "));
}

/// Builds devhost (optimised) and the components the tests run, once per
/// test process; a no-op when `scripts/test` already built them.
pub fn build_once() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        cargo(&["build", "--quiet", "--profile", "devhost", "-p", "devhost"]);
        cargo(&[
            "build",
            "--quiet",
            "--target",
            "wasm32-wasip2",
            "--release",
            "-p",
            "upstream-admin",
            "-p",
            "maven-registry",
            "-p",
            "go-proxy",
            "-p",
            "sync-worker",
            "-p",
            "probe-http",
            "-p",
            "probe-redis",
        ]);
    });
}

pub fn devhost_binary() -> PathBuf {
    root().join("target/devhost/devhost")
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills and reaps a child process when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub struct RedisServer {
    pub port: u16,
    _process: Guard,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        let binary = which("redis-server").expect(
            "redis-server is not installed: run scripts/test (it installs Debian's redis-server), \
             or install it yourself",
        );
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new(&binary)
                .args([
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start redis-server");
            let guard = Guard(child);
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if redis_command(port, &["PING"]).is_ok_and(|r| r.starts_with("+PONG")) {
                    return RedisServer {
                        port,
                        _process: guard,
                    };
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("redis-server did not start");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Sends one command; returns the raw RESP reply.
    pub fn command(&self, args: &[&str]) -> String {
        redis_command(self.port, args).expect("redis command")
    }
}

fn redis_command(port: u16, args: &[&str]) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut request = format!("*{}\r\n", args.len());
    for arg in args {
        request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    stream.write_all(request.as_bytes())?;
    let mut reply = [0u8; 512];
    let n = stream.read(&mut reply)?;
    Ok(String::from_utf8_lossy(&reply[..n]).into_owned())
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/bin".into()])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A devhost serving a manifest on a free port with its own state directory.
pub struct DevHost {
    pub base: String,
    log: Arc<Mutex<String>>,
    process: Guard,
    _state: tempfile::TempDir,
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Json {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}), status {}: {}", self.status, self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl DevHost {
    /// Starts devhost for `manifest` (relative to the repository root) with
    /// extra environment variables, and waits until it serves.
    pub fn start(manifest: &str, env: &[(&str, &str)]) -> DevHost {
        Self::try_start(manifest, env).unwrap_or_else(|log| panic!("devhost did not start:\n{log}"))
    }

    /// Like [`DevHost::start`]; on failure returns what devhost printed.
    pub fn try_start(manifest: &str, env: &[(&str, &str)]) -> Result<DevHost, String> {
        build_once();
        let state = tempfile::tempdir().unwrap();
        let mut command = Command::new(devhost_binary());
        command
            .args(["up", "--from"])
            .arg(root().join(manifest))
            .args(["--listen", "127.0.0.1:0", "--state-dir"])
            .arg(state.path())
            .args(["--cache-dir"])
            .arg(root().join("target/devhost-cache"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("start devhost");
        let log = Arc::new(Mutex::new(String::new()));
        let (ready_tx, ready_rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let process = Guard(child);
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if let Some(address) = line.split(" on http://").nth(1) {
                        let _ = ready_tx.send(address.trim().to_owned());
                    }
                    log.lock().unwrap().push_str(&format!("{line}\n"));
                }
            });
        }
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    log.lock().unwrap().push_str(&format!("{line}\n"));
                }
            });
        }
        match ready_rx.recv_timeout(Duration::from_secs(120)) {
            Ok(address) => Ok(DevHost {
                base: format!("http://{address}"),
                log,
                process,
                _state: state,
            }),
            Err(_) => {
                drop(process);
                std::thread::sleep(Duration::from_millis(100));
                let text = log.lock().unwrap().clone();
                Err(text)
            }
        }
    }

    /// The state directory (SQLite files) of this devhost.
    pub fn state_dir(&self) -> &Path {
        self._state.path()
    }

    /// What devhost and its components printed so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.process.0.try_wait(), Ok(None))
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        let mut request =
            ureq::request(method, &format!("{}{path}", self.base)).timeout(Duration::from_secs(60));
        for (k, v) in headers {
            request = request.set(k, v);
        }
        let response = match request.send_bytes(body) {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}\n--- devhost log ---\n{}", self.log()),
        };
        let status = response.status();
        let headers = response
            .headers_names()
            .into_iter()
            .filter_map(|name| response.header(&name).map(|v| (name.clone(), v.to_owned())))
            .collect();
        let mut body = Vec::new();
        response.into_reader().read_to_end(&mut body).unwrap();
        Reply {
            status,
            headers,
            body,
        }
    }

    pub fn get(&self, path: &str) -> Reply {
        self.request("GET", path, &[], &[])
    }

    /// An admin API call under `/api/v4` with a JSON body that must succeed.
    pub fn admin(&self, token: &str, method: &str, path: &str, body: Json) -> Json {
        let reply = self.request(
            method,
            &format!("/api/v4{path}"),
            &[
                ("private-token", token),
                ("content-type", "application/json"),
            ],
            &serde_json::to_vec(&body).unwrap(),
        );
        assert!(
            (200..300).contains(&reply.status),
            "{method} {path}: {} {}",
            reply.status,
            reply.text()
        );
        reply.json()
    }
}
