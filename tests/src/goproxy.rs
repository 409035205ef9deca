//! Go modules for the tests: module zips, an origin directory in GOPROXY
//! layout that a static server serves as a remote upstream, and the go
//! command pointed at a proxy.

use std::io::Write;
use std::path::Path;

use serde_json::json;

/// A zip of `(name, contents)` entries.
pub fn zip(files: &[(String, &[u8])]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut writer = zip::ZipWriter::new(&mut out);
        for (name, contents) in files {
            writer
                .start_file(name.as_str(), zip::write::SimpleFileOptions::default())
                .unwrap();
            writer.write_all(contents).unwrap();
        }
        writer.finish().unwrap();
    }
    out.into_inner()
}

/// Writes `module@version` in GOPROXY layout; `go_mod` None for a pre-modules (+incompatible) version.
pub fn origin_module(root: &Path, module: &str, version: &str, go_mod: Option<&str>) {
    let escaped: String = module
        .chars()
        .map(|c| {
            if c.is_ascii_uppercase() {
                format!("!{}", c.to_ascii_lowercase())
            } else {
                c.to_string()
            }
        })
        .collect();
    let dir = root.join(escaped).join("@v");
    std::fs::create_dir_all(&dir).unwrap();
    let prefix = format!("{module}@{version}/");
    let mut files = vec![(format!("{prefix}lib.go"), b"package lib\n".as_slice())];
    if let Some(m) = go_mod {
        files.push((format!("{prefix}go.mod"), m.as_bytes()));
    }
    std::fs::write(dir.join(format!("{version}.zip")), zip(&files)).unwrap();
    std::fs::write(
        dir.join(format!("{version}.mod")),
        go_mod
            .map(str::to_owned)
            .unwrap_or(format!("module {module}\n")),
    )
    .unwrap();
    std::fs::write(
        dir.join(format!("{version}.info")),
        json!({"Version": version, "Time": "2026-01-01T00:00:00Z"}).to_string(),
    )
    .unwrap();
    let list = dir.join("list");
    let mut text = std::fs::read_to_string(&list).unwrap_or_default();
    text.push_str(&format!("{version}\n"));
    std::fs::write(list, text).unwrap();
}

/// A zip whose entries are stored, not compressed (for large test files).
pub fn stored_zip(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut writer = zip::ZipWriter::new(&mut out);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for (name, contents) in files {
            writer.start_file(name.as_str(), options).unwrap();
            writer.write_all(contents).unwrap();
        }
        writer.finish().unwrap();
    }
    out.into_inner()
}

/// `len` bytes that do not compress.
pub fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// The go command against a GOPROXY, with everything it keeps under `work`
/// and a main module `example.com/main` in `work/main`.
pub struct GoClient {
    pub proxy: String,
    pub work: std::path::PathBuf,
    /// `GOSUMDB`; checksum verification is off when `None`.
    pub sumdb: Option<String>,
}

impl GoClient {
    pub fn new(proxy: String, work: &Path) -> GoClient {
        std::fs::create_dir_all(work.join("main")).unwrap();
        std::fs::write(
            work.join("main/go.mod"),
            "module example.com/main\n\ngo 1.19\n",
        )
        .unwrap();
        GoClient {
            proxy,
            work: work.to_path_buf(),
            sumdb: None,
        }
    }

    /// Runs `go args` with the module cache `cache` (under `work`).
    pub fn try_run(&self, cache: &str, args: &[&str]) -> std::process::Output {
        self.command(cache, args)
            .output()
            .expect("run go (scripts/test installs Debian's golang-go)")
    }

    /// The command [`GoClient::try_run`] runs, to add to.
    pub fn command(&self, cache: &str, args: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new("timeout");
        command
            .arg("300")
            .arg("go")
            .args(args)
            .current_dir(self.work.join("main"))
            .env("GOPROXY", &self.proxy)
            .env("GOSUMDB", self.sumdb.as_deref().unwrap_or("off"))
            .env("GOFLAGS", "-mod=mod")
            .env("GO111MODULE", "on")
            .env("GOTOOLCHAIN", "local")
            .env("GONOPROXY", "")
            .env("GONOSUMDB", "")
            .env("GOPRIVATE", "")
            .env("GOMODCACHE", self.work.join(cache))
            .env("GOPATH", self.work.join("gopath"))
            .env("GOCACHE", self.work.join("gocache"))
            .env("HOME", &self.work);
        command
    }

    /// Like [`GoClient::try_run`]; the command must succeed. Its stdout.
    pub fn run(&self, cache: &str, args: &[&str]) -> String {
        let output = self.try_run(cache, args);
        assert!(
            output.status.success(),
            "go {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

/// A real checksum database (`tests/fixtures/sumdb-server`, built here
/// from Debian's golang.org/x/mod in GOPATH mode) signing the modules under
/// an origin directory as they are when it starts.
pub struct SumdbServer {
    pub url: String,
    /// The verifier key, for `GOSUMDB=<vkey>`.
    pub vkey: String,
    child: std::process::Child,
}

impl SumdbServer {
    pub fn start(root: &Path, name: &str) -> SumdbServer {
        use std::io::BufRead;
        let binary = build_sumdb_server();
        let mut child = std::process::Command::new(binary)
            .args(["-name", name, "-root"])
            .arg(root)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start the checksum database");
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let mut field = |prefix: &str| {
            let line = lines.next().expect("a line from sumdb-server").unwrap();
            line.strip_prefix(prefix)
                .unwrap_or_else(|| panic!("sumdb-server said {line:?}"))
                .to_owned()
        };
        let vkey = field("vkey ");
        let address = field("listening ");
        SumdbServer {
            url: format!("http://{address}"),
            vkey,
            child,
        }
    }
}

impl Drop for SumdbServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Builds the checksum database once per test process (GOPATH mode, no
/// network: Debian's golang-golang-x-mod-dev, which scripts/test installs).
fn build_sumdb_server() -> std::path::PathBuf {
    static BUILT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let root = crate::root();
            let out = root.join("target/sumdb-server");
            let status = std::process::Command::new("go")
                .args(["build", "-o"])
                .arg(&out)
                .arg(root.join("tests/fixtures/sumdb-server/main.go"))
                .env("GO111MODULE", "off")
                .env("GOPATH", "/usr/share/gocode")
                .env("GOCACHE", root.join("target/go-build-cache"))
                .env("GOFLAGS", "")
                .status()
                .expect("go build (scripts/test installs golang-go)");
            assert!(
                status.success(),
                "building sumdb-server failed: is golang-golang-x-mod-dev installed?"
            );
            out
        })
        .clone()
}

/// A public group `acme` with a Go registry (`registry`: its create body)
/// whose one upstream is the remote at `origin`; the registry's GOPROXY.
pub fn go_registry_over(
    host: &crate::Http,
    token: &str,
    registry: serde_json::Value,
    origin: &str,
) -> String {
    let group = host.public_group(token, "acme");
    let registry = host.registry(token, group, "go", registry);
    host.upstream(
        token,
        "go",
        registry,
        json!({"name": "origin", "url": origin}),
    );
    format!(
        "{}/api/v4/virtual_registries/packages/go/{registry}",
        host.base
    )
}
