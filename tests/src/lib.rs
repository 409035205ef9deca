//! The end-to-end harness: a real `redis-server`, and vreg's two apps (the
//! serving app `spin.toml` and the sync app `spin-worker.toml`) on one fresh
//! state directory, run by devhost or, with `VREG_E2E_HOST=spin`, by the real
//! `spin` CLI (`SPIN_BIN`, or `spin` on PATH), each on a free port of
//! 127.0.0.1 with the freshly built `.wasm` components. Everything is stopped
//! when dropped, so a test leaves no process behind.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub use serde_json::{json, Value as Json};

pub mod goproxy;
pub mod jvm;

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

/// The `--listen` address hosts under test get: any free port, which the
/// host names in its start-up line (see `Process::served_address`).
const ANY_PORT: &str = "127.0.0.1:0";

/// A port nothing listens on right now, for a server about to bind it.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A port on 127.0.0.1 that refuses connections for as long as the tests
/// run (for "Redis is down", "not allowed there"): it stays bound, so no
/// other test's server can take it, but is never listened on.
pub fn closed_port() -> u16 {
    // SAFETY: plain socket calls on a socket this function owns; the
    // address structs are the sizes passed.
    unsafe {
        let socket = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(socket >= 0, "socket: {}", std::io::Error::last_os_error());
        let mut address: libc::sockaddr_in = std::mem::zeroed();
        address.sin_family = libc::AF_INET as libc::sa_family_t;
        address.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
        let mut length = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let bound = libc::bind(
            socket,
            &address as *const libc::sockaddr_in as *const libc::sockaddr,
            length,
        );
        assert_eq!(bound, 0, "bind: {}", std::io::Error::last_os_error());
        let named = libc::getsockname(
            socket,
            &mut address as *mut libc::sockaddr_in as *mut libc::sockaddr,
            &mut length,
        );
        assert_eq!(named, 0, "getsockname: {}", std::io::Error::last_os_error());
        // The socket is left open on purpose: it holds the port.
        u16::from_be(address.sin_port)
    }
}

/// Stops and reaps a child process when dropped: SIGTERM first, so that
/// `spin up` stops the `spin trigger` process it runs the app in (a
/// SIGKILL of `spin up` left that one running, listening, for good); then
/// SIGKILL if it has not exited within a few seconds.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Guard {
    /// Whether the child still runs (if it ended, it is reaped now).
    fn is_running(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(None))
    }

    fn stop(&mut self) {
        if !self.is_running() {
            return;
        }
        if let Ok(pid) = i32::try_from(self.0.id()) {
            // SAFETY: a signal to our own child, not yet reaped (so its
            // pid cannot have been reused).
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if !self.is_running() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub struct RedisServer {
    pub port: u16,
    process: Option<Guard>,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        for _ in 0..5 {
            let port = free_port();
            if let Some(process) = Self::spawn_on(port) {
                return RedisServer {
                    port,
                    process: Some(process),
                };
            }
        }
        panic!("redis-server did not start");
    }

    fn spawn_on(port: u16) -> Option<Guard> {
        let binary = which("redis-server").expect(
            "redis-server is not installed: run scripts/test (it installs Debian's redis-server), \
             or install it yourself",
        );
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
                // The sync worker hears of triggers through keyevent
                // announcements of string writes (see spin-worker.toml).
                "--notify-keyspace-events",
                "E$",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        // The server that answers must be this one: another test's Redis
        // may have taken the port first (this one then exits).
        let ours = format!("process_id:{}\r\n", child.id());
        let mut guard = Guard(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && guard.is_running() {
            if redis_command(port, &["INFO", "server"]).is_ok_and(|r| r.contains(&ours)) {
                return Some(guard);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Stops the server (an outage); [`RedisServer::restart`] brings it back
    /// on the same port, empty.
    pub fn stop(&mut self) {
        self.process = None;
    }

    pub fn restart(&mut self) {
        assert!(self.process.is_none(), "redis-server is running");
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.process.is_none() {
            self.process = Self::spawn_on(self.port);
            assert!(Instant::now() < deadline, "redis-server did not restart");
        }
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
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    let reply = vreg_testkit::redis::command(&format!("127.0.0.1:{port}"), &args)?;
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/bin".into()])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// The host that runs the apps under test.
#[derive(Debug, Clone, PartialEq)]
pub enum HostKind {
    DevHost,
    /// The real `spin` CLI at this path.
    Spin(PathBuf),
}

impl HostKind {
    /// `VREG_E2E_HOST=spin` picks the real `spin` CLI (`SPIN_BIN`, else
    /// `spin` on PATH); anything else, devhost.
    pub fn from_env() -> HostKind {
        if std::env::var("VREG_E2E_HOST").as_deref() != Ok("spin") {
            return HostKind::DevHost;
        }
        let binary = std::env::var_os("SPIN_BIN")
            .map(PathBuf::from)
            .or_else(|| which("spin"))
            .expect("VREG_E2E_HOST=spin needs SPIN_BIN or a `spin` on PATH");
        HostKind::Spin(binary)
    }

    pub fn is_devhost(&self) -> bool {
        *self == HostKind::DevHost
    }

    /// The command that runs `manifest` with the state in `state`, and the
    /// runtime config in it if there is one.
    fn command(&self, manifest: &str, state: &Path, listen: Option<&str>) -> Command {
        let mut command = match self {
            HostKind::DevHost => {
                let mut c = Command::new(devhost_binary());
                c.args(["up", "--from"]).arg(root().join(manifest));
                c.arg("--cache-dir")
                    .arg(root().join("target/devhost-cache"));
                c
            }
            HostKind::Spin(binary) => {
                let mut c = Command::new(binary);
                c.args(["up", "--from"]).arg(root().join(manifest));
                c.env("SPIN_DISABLE_TELEMETRY", "1");
                c
            }
        };
        command.arg("--state-dir").arg(state);
        let runtime_config = state.join(RUNTIME_CONFIG);
        if runtime_config.exists() {
            command.arg("--runtime-config-file").arg(runtime_config);
        }
        if let Some(listen) = listen {
            command.args(["--listen", listen]);
        }
        command
    }
}

/// The address a host's start-up line names, if `line` is that line.
fn served_in(line: &str) -> Option<&str> {
    let url = line.strip_prefix("Serving ")?.split_whitespace().last()?;
    Some(url.split_once("://")?.1)
}

/// A child process whose output is collected into a log.
struct Process {
    log: Arc<Mutex<String>>,
    guard: Guard,
    /// Lines of stdout, for start-up banners.
    lines: mpsc::Receiver<String>,
    /// The threads copying stdout and stderr into `log`.
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Process {
    fn spawn(mut command: Command, env: &[(&str, &str)]) -> Process {
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("start the host");
        let log = Arc::new(Mutex::new(String::new()));
        let (lines_tx, lines) = mpsc::channel();
        let mut readers = Vec::new();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        for (reader, tx) in [
            (Box::new(stdout) as Box<dyn Read + Send>, Some(lines_tx)),
            (Box::new(stderr), None),
        ] {
            let log = log.clone();
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(reader).lines().map_while(Result::ok) {
                    if let Some(tx) = &tx {
                        let _ = tx.send(line.clone());
                    }
                    log.lock().unwrap().push_str(&format!("{line}\n"));
                }
            }));
        }
        Process {
            log,
            guard: Guard(child),
            lines,
            readers,
        }
    }

    fn is_running(&mut self) -> bool {
        self.guard.is_running()
    }

    /// The address (`127.0.0.1:PORT`) in the host's start-up line
    /// (`Serving http://…` from spin, `Serving <app> on http://…` from
    /// devhost), waiting two minutes at most; `None` if the host ended or
    /// never said. Hosts listen on [`ANY_PORT`], so this is the port the
    /// host itself bound: a port picked beforehand could be bound by
    /// another test's host in between, and that host would answer.
    fn served_address(&self) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(120);
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            if let Some(address) = served_in(&line) {
                return Some(address.to_owned());
            }
        }
        None
    }

    fn text(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Everything the process printed, once it has ended (stopped if it
    /// still runs): stdout closing first does not mean stderr was read.
    fn ended_text(mut self) -> String {
        self.guard.stop();
        for reader in std::mem::take(&mut self.readers) {
            let _ = reader.join();
        }
        self.text()
    }
}

/// What the end-to-end tests talk to: a base URL, and the host's log.
pub struct Http {
    pub base: String,
    log: Arc<Mutex<String>>,
}

/// A devhost serving a manifest on a free port with its own state directory.
pub struct DevHost {
    http: Http,
    process: Process,
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

    /// Like [`DevHost::start`], with `runtime_config` (TOML) as the runtime
    /// config file.
    pub fn start_configured(manifest: &str, env: &[(&str, &str)], runtime_config: &str) -> DevHost {
        Self::try_start_in(manifest, env, Some(runtime_config))
            .unwrap_or_else(|log| panic!("devhost did not start:\n{log}"))
    }

    /// Like [`DevHost::start`]; on failure returns what devhost printed.
    pub fn try_start(manifest: &str, env: &[(&str, &str)]) -> Result<DevHost, String> {
        Self::try_start_in(manifest, env, None)
    }

    fn try_start_in(
        manifest: &str,
        env: &[(&str, &str)],
        runtime_config: Option<&str>,
    ) -> Result<DevHost, String> {
        build_once();
        let state = tempfile::tempdir().unwrap();
        if let Some(config) = runtime_config {
            std::fs::write(state.path().join(RUNTIME_CONFIG), config).unwrap();
        }
        let command = HostKind::DevHost.command(manifest, state.path(), Some(ANY_PORT));
        let process = Process::spawn(command, env);
        match process.served_address() {
            Some(address) => Ok(DevHost {
                http: Http {
                    base: format!("http://{address}"),
                    log: process.log.clone(),
                },
                process,
                _state: state,
            }),
            None => Err(process.ended_text()),
        }
    }

    /// The state directory (SQLite files) of this devhost.
    pub fn state_dir(&self) -> &Path {
        self._state.path()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.process.is_running()
    }
}

impl std::ops::Deref for DevHost {
    type Target = Http;
    fn deref(&self) -> &Http {
        &self.http
    }
}

/// `len` bytes that look random, the same for the same `seed` (xorshift).
pub fn seeded_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Writes `bytes` at `path` under `root`, making the folders on the way.
pub fn write_file(root: &Path, path: &str, bytes: &[u8]) {
    let file = root.join(path);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(file, bytes).unwrap();
}

/// How many of `callers` concurrent POSTs to `url` are answered "won"
/// (the rest must be refused with 409).
pub fn winners_of(url: &str, callers: usize) -> usize {
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..callers)
            .map(|_| {
                scope.spawn(move || match ureq::post(url).call() {
                    Ok(r) => r.into_string().unwrap() == "won",
                    Err(ureq::Error::Status(409, _)) => false,
                    Err(e) => panic!("{e}"),
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|won| *won)
            .count()
    })
}

/// Waits (two minutes at most) until `url` answers, as long as `process`
/// (run by `host`) runs.
fn wait_until_answered(url: &str, process: &mut Process, host: &HostKind) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while ureq::get(url)
        .timeout(Duration::from_secs(2))
        .call()
        .is_err()
    {
        assert!(
            Instant::now() < deadline && process.is_running(),
            "{host:?} did not serve {url}:\n{}",
            process.text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The probe app (`tests/fixtures/probe.toml`) on the host
/// [`HostKind::from_env`] picks, with `runtime_config` (TOML) as its runtime
/// config: a piece of vreg's own code (see the probe's `vreg-lease`) on a
/// host's stores, without the rest of vreg around it.
pub struct ProbeApp {
    http: Http,
    _process: Process,
    _state: tempfile::TempDir,
}

impl ProbeApp {
    pub fn start(runtime_config: &str) -> ProbeApp {
        build_once();
        let state = tempfile::tempdir().unwrap();
        std::fs::write(state.path().join(RUNTIME_CONFIG), runtime_config).unwrap();
        let host = HostKind::from_env();
        let command = host.command("tests/fixtures/probe.toml", state.path(), Some(ANY_PORT));
        let mut process = Process::spawn(command, &[("SPIN_VARIABLE_TOKEN", "t0ken")]);
        let Some(address) = process.served_address() else {
            panic!(
                "{host:?} did not serve the probe:\n{}",
                process.ended_text()
            )
        };
        let http = Http {
            base: format!("http://{address}"),
            log: process.log.clone(),
        };
        let url = format!("{}/probe/var/greeting", http.base);
        wait_until_answered(&url, &mut process, &host);
        ProbeApp {
            http,
            _process: process,
            _state: state,
        }
    }
}

impl std::ops::Deref for ProbeApp {
    type Target = Http;
    fn deref(&self) -> &Http {
        &self.http
    }
}

/// The `counters` store's file when a test runs without Redis.
pub const COUNTERS_FILE: &str = "counters.db";

/// The runtime config [`Vreg`] writes into its state directory.
const RUNTIME_CONFIG: &str = "runtime-config.toml";

/// Which outbound networks a [`Vreg`] may reach.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Networks {
    /// No `block_networks`: tests whose upstreams are on 127.0.0.1 opt out
    /// of the shipped policy this way.
    Open,
    /// The `[outbound_networking]` table of the shipped runtime-config.toml.
    AsShipped,
}

/// The runtime config a test runs with: the stores in the state directory
/// (the hosts' defaults) unless `default_store` names a Redis for the
/// `default` key-value store, the `sync` store on the test's Redis (from
/// `SPIN_VARIABLE_REDIS_URL`, else a closed port: Redis is down), the
/// `counters` store on that Redis as shipped (or, with no Redis, in a file
/// of its own), and the shipped network policy when asked for.
fn write_runtime_config(
    state: &Path,
    env: &[(&str, &str)],
    networks: Networks,
    default_store: Option<&str>,
) {
    let redis_url = env
        .iter()
        .find(|(k, _)| *k == "SPIN_VARIABLE_REDIS_URL")
        .map(|(_, v)| v.to_string());
    let counters = match &redis_url {
        Some(url) => format!("type = \"redis\"\nurl = \"{url}\""),
        None => format!("type = \"spin\"\npath = \"{COUNTERS_FILE}\""),
    };
    let redis_url = redis_url.unwrap_or_else(|| format!("redis://127.0.0.1:{}", closed_port()));
    let mut text = format!(
        "[key_value_store.sync]\ntype = \"redis\"\nurl = \"{redis_url}\"\n\n\
         [key_value_store.counters]\n{counters}\n"
    );
    if let Some(url) = default_store {
        text.push_str(&format!(
            "\n[key_value_store.default]\ntype = \"redis\"\nurl = \"{url}\"\n"
        ));
    }
    if networks == Networks::AsShipped {
        let shipped = std::fs::read_to_string(root().join("runtime-config.toml")).unwrap();
        let start = shipped
            .find("[outbound_networking]")
            .expect("runtime-config.toml has an [outbound_networking] table");
        let rest = &shipped[start..];
        let end = rest[1..].find("\n[").map_or(rest.len(), |i| i + 2);
        text.push('\n');
        text.push_str(&rest[..end]);
    }
    std::fs::write(state.join(RUNTIME_CONFIG), text).unwrap();
}

/// vreg as users run it: the serving app and the sync app, started by the
/// host `HostKind::from_env()` picks, sharing one state directory.
pub struct Vreg {
    pub host: HostKind,
    http: Http,
    serving: Process,
    worker: Option<Process>,
    env: Vec<(String, String)>,
    state: tempfile::TempDir,
}

impl Vreg {
    /// Starts the serving app and waits until it answers. The sync app is
    /// started by [`Vreg::start_worker`] (it needs Redis).
    pub fn start(env: &[(&str, &str)]) -> Vreg {
        Self::start_with(env, Networks::Open)
    }

    /// Like [`Vreg::start`], with the given outbound network policy.
    pub fn start_with(env: &[(&str, &str)], networks: Networks) -> Vreg {
        Self::launch(env, networks, None, None).wait_until_serving()
    }

    /// Like [`Vreg::start`], with the `default` key-value store (records,
    /// blobs, leases, the generation) on the Redis at `url`, as a
    /// deployment that scales out puts it.
    pub fn start_with_default_store_on(env: &[(&str, &str)], url: &str) -> Vreg {
        Self::launch(env, Networks::Open, None, Some(url)).wait_until_serving()
    }

    /// Serves https with the PEM certificate and key (`--tls-cert`,
    /// `--tls-key`, as `spin up` takes them). The harness's own client
    /// speaks only http: talk to it with `curl` or `go`.
    pub fn start_tls(env: &[(&str, &str)], cert: &Path, key: &Path) -> Vreg {
        let mut vreg = Self::launch(env, Networks::Open, Some((cert, key)), None);
        let address = vreg.base.trim_start_matches("https://").to_owned();
        let deadline = Instant::now() + Duration::from_secs(120);
        while std::net::TcpStream::connect(&address).is_err() {
            assert!(
                Instant::now() < deadline && vreg.serving.is_running(),
                "{:?} did not serve:\n{}",
                vreg.host,
                vreg.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        vreg
    }

    fn launch(
        env: &[(&str, &str)],
        networks: Networks,
        tls: Option<(&Path, &Path)>,
        default_store: Option<&str>,
    ) -> Vreg {
        build_once();
        let host = HostKind::from_env();
        let state = tempfile::tempdir().unwrap();
        write_runtime_config(state.path(), env, networks, default_store);
        let mut command = host.command("spin.toml", state.path(), Some(ANY_PORT));
        if let Some((cert, key)) = tls {
            command
                .arg("--tls-cert")
                .arg(cert)
                .arg("--tls-key")
                .arg(key);
        }
        let serving = Process::spawn(command, env);
        let Some(address) = serving.served_address() else {
            panic!("{host:?} did not serve:\n{}", serving.ended_text())
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        Vreg {
            host,
            http: Http {
                base: format!("{scheme}://{address}"),
                log: serving.log.clone(),
            },
            serving,
            worker: None,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            state,
        }
    }

    fn wait_until_serving(mut self) -> Vreg {
        let url = format!("{}/api/v4/version", self.base);
        wait_until_answered(&url, &mut self.serving, &self.host);
        self
    }

    /// Starts the sync app and waits until its trigger subscribed to the
    /// keyevent channel on `redis`.
    pub fn start_worker(&mut self, redis: &RedisServer) {
        let channel = "__keyevent@0__:set";
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let command = self
            .host
            .command("spin-worker.toml", self.state.path(), None);
        let mut worker = Process::spawn(command, &env);
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let reply = redis.command(&["PUBSUB", "NUMSUB", channel]);
            if !reply.trim_end().ends_with(":0") {
                break;
            }
            assert!(
                Instant::now() < deadline && worker.is_running(),
                "the sync app did not subscribe:\n{}",
                worker.text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self.worker = Some(worker);
    }

    /// Whether the sync app is still running.
    pub fn worker_running(&mut self) -> bool {
        self.worker.as_mut().is_some_and(Process::is_running)
    }

    /// What the sync app printed.
    pub fn worker_log(&self) -> String {
        self.worker.as_ref().map(Process::text).unwrap_or_default()
    }

    /// Whether the serving app is still running.
    pub fn serving_running(&mut self) -> bool {
        self.serving.is_running()
    }

    /// The state directory (SQLite files) both apps share.
    pub fn state_dir(&self) -> &Path {
        self.state.path()
    }

    /// The host's own key-value file: the SQLite file behind the `default`
    /// store (Spin's name for it in the state directory).
    pub fn kv_file(&self) -> PathBuf {
        self.state_dir().join("sqlite_key_value.db")
    }

    /// The keys matching `like` (SQL `LIKE`) in the host's key-value file
    /// ([`Vreg::kv_file`]), read directly.
    pub fn kv_keys_like(&self, like: &str) -> Vec<String> {
        use vreg_core::storage::{Sql, Value};
        let kv = vreg_testkit::NativeSql::open(&self.kv_file()).expect("the key-value file opens");
        let rows = kv
            .execute(
                "SELECT key FROM spin_key_value WHERE key LIKE ? ORDER BY key",
                &[like.into()],
            )
            .expect("the key-value file reads")
            .rows;
        rows.into_iter()
            .map(|row| match row.as_slice() {
                [Value::Text(key)] => key.clone(),
                other => panic!("{other:?}"),
            })
            .collect()
    }
}

impl std::ops::Deref for Vreg {
    type Target = Http;
    fn deref(&self) -> &Http {
        &self.http
    }
}

impl Http {
    /// What the host and its components printed so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Whether the log shows `needle` within a few seconds (output is read
    /// from the host's pipes on threads of their own, so it may lag).
    pub fn log_shows(&self, needle: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.log().contains(needle) {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        let request = self.prepare(method, path, headers, Duration::from_secs(60));
        let response = match request.send_bytes(body) {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}\n--- host log ---\n{}", self.log()),
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

    fn prepare(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        timeout: Duration,
    ) -> ureq::Request {
        let mut request = ureq::request(method, &format!("{}{path}", self.base)).timeout(timeout);
        for (k, v) in headers {
            request = request.set(k, v);
        }
        request
    }

    /// A request whose transport may fail (a hang past `timeout`, a reset):
    /// the status, or what went wrong.
    pub fn try_request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        timeout: Duration,
    ) -> Result<u16, String> {
        match self
            .prepare(method, path, headers, timeout)
            .send_bytes(body)
        {
            Ok(r) => Ok(r.status()),
            Err(ureq::Error::Status(status, _)) => Ok(status),
            Err(e) => Err(e.to_string()),
        }
    }

    pub fn get(&self, path: &str) -> Reply {
        self.request("GET", path, &[], &[])
    }

    /// A public group named `name`; its id.
    pub fn public_group(&self, token: &str, name: &str) -> i64 {
        let body = serde_json::json!({"name": name, "visibility": "public"});
        self.create(token, "/groups", body)
    }

    /// A virtual registry of `kind` (`maven`, `go`) in `group`, created
    /// with `body`; its id.
    pub fn registry(&self, token: &str, group: i64, kind: &str, body: Json) -> i64 {
        let path = format!("/groups/{group}/-/virtual_registries/packages/{kind}/registries");
        self.create(token, &path, body)
    }

    /// A `kind` registry in `group` whose one upstream, "origin", is the
    /// remote at `url`; the registry's id.
    pub fn registry_over(&self, token: &str, group: i64, kind: &str, url: &str) -> i64 {
        let registry = self.registry(token, group, kind, json!({"name": kind}));
        let origin = json!({"name": "origin", "url": url});
        self.upstream(token, kind, registry, origin);
        registry
    }

    /// The admin path that lists the cache entries of the first upstream
    /// of the Maven registry `registry`.
    pub fn cache_entries_path(&self, token: &str, registry: i64) -> String {
        let upstreams =
            format!("/virtual_registries/packages/maven/registries/{registry}/upstreams");
        let upstream = self.admin(token, "GET", &upstreams, json!({}))[0]["id"]
            .as_i64()
            .unwrap();
        format!("/virtual_registries/packages/maven/upstreams/{upstream}/cache_entries")
    }

    /// An upstream of a `kind` registry, created with `body`; its id.
    pub fn upstream(&self, token: &str, kind: &str, registry: i64, body: Json) -> i64 {
        let path = format!("/virtual_registries/packages/{kind}/registries/{registry}/upstreams");
        self.create(token, &path, body)
    }

    /// Creates something through the admin API (`POST /api/v4{path}`, which
    /// must succeed); its id.
    pub fn create(&self, token: &str, path: &str, body: Json) -> i64 {
        let created = self.admin(token, "POST", path, body);
        created["id"]
            .as_i64()
            .unwrap_or_else(|| panic!("POST {path}: no id in {created}"))
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

    /// A new private project `project` in a new group `group`: its id.
    pub fn new_project(&self, token: &str, group: &str, project: &str) -> i64 {
        let group = self.admin(token, "POST", "/groups", json!({ "name": group }))["id"]
            .as_i64()
            .unwrap();
        let body = json!({ "name": project, "namespace_id": group });
        self.admin(token, "POST", "/projects", body)["id"]
            .as_i64()
            .unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_is_read_from_either_hosts_start_up_line() {
        assert_eq!(
            served_in("Serving http://127.0.0.1:45501"),
            Some("127.0.0.1:45501")
        );
        assert_eq!(
            served_in("Serving vreg on https://127.0.0.1:40001"),
            Some("127.0.0.1:40001")
        );
        assert_eq!(served_in("  probe: http://127.0.0.1:45501/probe"), None);
        assert_eq!(served_in("Serving soon"), None);
    }

    #[test]
    fn a_closed_port_refuses_connections_and_no_server_can_take_it() {
        let port = closed_port();
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
        assert!(TcpListener::bind(("127.0.0.1", port)).is_err());
    }

    #[test]
    fn a_redis_server_whose_port_is_taken_does_not_pass_for_started() {
        let first = RedisServer::start();
        assert!(RedisServer::spawn_on(first.port).is_none());
        let second = RedisServer::start();
        assert_ne!(first.port, second.port);
        assert!(second.command(&["PING"]).starts_with("+PONG"));
    }
}
