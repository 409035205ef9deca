"""vreg's benchmark, run by scripts/bench (which installs and builds what it
needs). Every server listens on 127.0.0.1 and is stopped at the end; every
load run is bounded in time."""

import json
import os
import random
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
THREADS = int(os.environ.get("BENCH_THREADS", "2"))
MODULES = int(os.environ.get("BENCH_MODULES", "40"))
# A ratio's two sides are measured in turn this many times (half as long
# each): this machine's load moves by ±20% from one minute to the next, and
# both sides then see the same moves.
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
ADMIN = "bench-admin"
POM = "org/bench/app/1.0/app-1.0.pom"
JAR_1M = "org/bench/app/1.0/app-1.0-small.jar"
JAR_50M = "org/bench/app/1.0/app-1.0.jar"
METADATA = "org/bench/app/maven-metadata.xml"


def say(text):
    print(f"==> {text}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(method, url, body=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=120) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_http(url, process=None, timeout=180):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process is not None and process.poll() is not None:
            raise SystemExit(f"the server for {url} exited: {' '.join(process.args)}")
        try:
            request("GET", url)
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


class Processes:
    """Child processes, each logging to a file, all stopped by stop()."""

    def __init__(self, work):
        self.work = work
        self.children = []

    def start(self, name, command, env=None):
        log = open(os.path.join(self.work, f"{name}.log"), "w")
        # Servers run as in production: a developer's RUST_BACKTRACE=1 makes
        # wasmtime capture a backtrace as it disposes of every instance
        # (measured: ~4% of devhost's CPU for the probe).
        inherited = {k: v for k, v in os.environ.items()
                     if k not in ("RUST_BACKTRACE", "RUST_LIB_BACKTRACE")}
        child = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env={**inherited, **(env or {})}, cwd=ROOT
        )
        self.children.append(child)
        return child

    def log(self, name):
        with open(os.path.join(self.work, f"{name}.log")) as f:
            return f.read()

    def stop(self):
        for child in self.children:
            child.terminate()
        for child in self.children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        self.children = []


def wrk(url, connections=CONNECTIONS, seconds=SECONDS, headers=()):
    """Requests per second and bytes per second of one wrk run."""
    return wrk_status(url, 200, connections, seconds, headers)


def wrk_status(url, status, connections=CONNECTIONS, seconds=SECONDS, headers=()):
    """As `wrk`, for a URL every answer to which must be `status` (wrk
    counts any other than 2xx/3xx as failed; a 404 is checked by count)."""
    sent = [arg for header in headers for arg in ("-H", header)]
    out = subprocess.run(
        ["wrk", f"-t{min(THREADS, connections)}", f"-c{connections}", f"-d{seconds}s", *sent, url],
        capture_output=True, text=True, timeout=seconds + 60,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    size, unit = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out).groups()
    scale = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(errors.group(1)) if errors else 0
    total = int(re.search(r"(\d+) requests in", out).group(1))
    if errors != (0 if status < 300 else total):
        raise SystemExit(f"{url}: {errors} of {total} answers not 2xx/3xx, expected {status}\n{out}")
    return rps, float(size) * scale


def write_files(www):
    """The Maven files, and MODULES Go modules in GOPROXY layout."""
    rng = random.Random(7)
    maven = os.path.join(www, "maven2")
    for path, size in [(POM, 2048), (JAR_1M, 1 << 20), (JAR_50M, 50 << 20)]:
        full = os.path.join(maven, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(rng.randbytes(size))
    # The artifact's metadata on two remotes (`maven2`, `maven2b`), each
    # listing versions the other lacks: a registry of both merges them.
    for root, versions in (("maven2", ["1.0", "1.1"]), ("maven2b", ["1.0", "2.0"])):
        full = os.path.join(www, root, METADATA)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        listed = "".join(f"<version>{v}</version>" for v in versions)
        with open(full, "w") as f:
            f.write(f'<?xml version="1.0"?><metadata><groupId>org.bench</groupId>'
                    f"<artifactId>app</artifactId><versioning><versions>{listed}</versions>"
                    f"<lastUpdated>20260101000000</lastUpdated></versioning></metadata>")
    modules = []
    for i in range(MODULES):
        module = f"example.com/bench/m{i:02d}"
        version = "v1.0.0"
        d = os.path.join(www, "goproxy", module, "@v")
        os.makedirs(d, exist_ok=True)
        go_mod = f"module {module}\n\ngo 1.19\n"
        with zipfile.ZipFile(os.path.join(d, f"{version}.zip"), "w", zipfile.ZIP_STORED) as z:
            z.writestr(f"{module}@{version}/go.mod", go_mod)
            z.writestr(f"{module}@{version}/data.go", "package data\n")
            z.writestr(f"{module}@{version}/blob.bin", rng.randbytes(200 << 10))
        with open(os.path.join(d, f"{version}.mod"), "w") as f:
            f.write(go_mod)
        with open(os.path.join(d, f"{version}.info"), "w") as f:
            json.dump({"Version": version, "Time": "2026-01-01T00:00:00Z"}, f)
        with open(os.path.join(d, "list"), "w") as f:
            f.write(f"{version}\n")
        modules.append(f"{module}@{version}")
    return modules


def start_nginx(work, www, processes):
    port = free_port()
    conf = os.path.join(work, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""worker_processes auto;
daemon off;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    server {{ listen 127.0.0.1:{port}; root {www}; }}
}}
""")
    nginx = processes.start("nginx", [os.environ["BENCH_NGINX"], "-c", conf, "-p", work])
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/maven2/{POM}", nginx)
    return base


def remove_tree(path):
    """Removes a directory go wrote to: its module cache is read-only."""
    def writable_then_retry(function, name, _):
        os.chmod(os.path.dirname(name), 0o755)
        os.chmod(name, 0o755) if os.path.isdir(name) else None
        function(name)
    shutil.rmtree(path, onerror=writable_then_retry)


def go_client_dir(work):
    """Where `go` keeps its module cache: in memory (/dev/shm) where there
    is one. Extracting 40 modules creates ~1,000 files, and on a disk that
    has seen many files come and go ext4's inode search can take most of a
    run (measured here: 0.37-0.41 s a download against 0.06-0.08 s in
    memory, with ext4's inode lookups ~70% of the client's samples), which
    hides the proxy's cost under the client's and moves from run to run."""
    memory = go_client_memory()
    return tempfile.mkdtemp(prefix="vreg-bench-go-", dir=memory) if memory else work


def go_client_memory():
    shm = os.environ.get("BENCH_GO_DIR", "/dev/shm")
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None


def go_download(proxy, modules, cache):
    """Seconds for one `go mod download` of every module into an empty
    cache under `cache` (see `go_client_dir`)."""
    work = tempfile.mkdtemp(prefix="go-", dir=cache)
    with open(os.path.join(work, "go.mod"), "w") as f:
        f.write("module example.com/bench/main\n\ngo 1.19\n")
    env = {
        **os.environ,
        "GOPROXY": proxy, "GOSUMDB": "off", "GOFLAGS": "-mod=mod", "GO111MODULE": "on",
        "GOTOOLCHAIN": "local", "GONOPROXY": "", "GOPRIVATE": "",
        "GOMODCACHE": os.path.join(work, "modcache"), "GOPATH": os.path.join(work, "gopath"),
        "GOCACHE": os.path.join(work, "gocache"), "HOME": work,
    }
    started = time.time()
    subprocess.run(["go", "mod", "download", *modules], cwd=work, env=env, check=True,
                   capture_output=True, timeout=600)
    elapsed = time.time() - started
    remove_tree(work)
    return elapsed


class Vreg:
    """The serving app, the sync app and the probe on one host."""

    def __init__(self, name, command, processes, work, redis_url, origin=None):
        self.name, self.processes = name, processes
        state = os.path.join(work, f"{name}-state")
        self.state = state
        os.makedirs(state, exist_ok=True)
        # The sync queue and the download counters on this run's Redis, as
        # shipped (the probe counts there too); no block_networks, since the
        # origins are on 127.0.0.1.
        counters = f'[key_value_store.counters]\ntype = "redis"\nurl = "{redis_url}"\n'
        probe_state = os.path.join(work, f"{name}-probe-state")
        for directory in (state, probe_state):
            os.makedirs(directory, exist_ok=True)
        with open(os.path.join(state, "runtime-config.toml"), "w") as f:
            f.write(f'[key_value_store.sync]\ntype = "redis"\nurl = "{redis_url}"\n\n{counters}')
        with open(os.path.join(probe_state, "runtime-config.toml"), "w") as f:
            f.write(counters)
        # As scripts/up does: the key-value file in WAL mode, for both hosts
        # (and the probe's).
        for directory in (state, probe_state):
            sqlite3.connect(os.path.join(directory, "sqlite_key_value.db")).execute(
                "PRAGMA journal_mode=WAL").fetchall()
        env = {
            "SPIN_VARIABLE_ADMIN_TOKEN": ADMIN, "SPIN_VARIABLE_SECRET_KEY": "bench",
            "SPIN_VARIABLE_ALLOW_LOCAL_UPSTREAMS": "true", "SPIN_VARIABLE_REDIS_URL": redis_url,
            "SPIN_VARIABLE_TOKEN": "bench",
            # The probe relays from the origin (nginx) on this port.
            "SPIN_VARIABLE_UPSTREAM_PORT": str(urllib.parse.urlparse(origin).port) if origin else "9",
        }
        port, probe_port = free_port(), free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.probe = f"http://127.0.0.1:{probe_port}"
        serving = processes.start(f"{name}-serving", command("spin.toml", state, f"127.0.0.1:{port}"), env)
        processes.start(f"{name}-worker", command("spin-worker.toml", state, None), env)
        probe = processes.start(
            f"{name}-probe",
            command("tests/fixtures/probe-bench.toml", probe_state,
                    f"127.0.0.1:{probe_port}"),
            env,
        )
        wait_http(f"{self.base}/api/v4/version", serving)
        wait_http(f"{self.probe}/probe/var/greeting", probe)

    def admin(self, method, path, body):
        status, out = request(method, f"{self.base}/api/v4{path}", json.dumps(body).encode(),
                              {"private-token": ADMIN, "content-type": "application/json"})
        if status >= 300:
            raise SystemExit(f"{method} {path}: {status} {out!r}")
        return json.loads(out)

    def set_up(self, origin):
        group = self.admin("POST", "/groups", {"name": "bench", "visibility": "public"})["id"]
        project = self.admin("POST", "/projects",
                             {"name": "lib", "namespace_id": group, "visibility": "public"})["id"]
        maven = self.admin("POST", f"/groups/{group}/-/virtual_registries/packages/maven/registries",
                           {"name": "maven"})["id"]
        self.admin("POST", f"/virtual_registries/packages/maven/registries/{maven}/upstreams",
                   {"name": "origin", "url": f"{origin}/maven2"})
        # A Go registry on the same origin for each round: each is
        # downloaded from cold once.
        self.goproxies = []
        for name in (f"go-{n}" for n in range(ROUNDS)):
            go = self.admin("POST", f"/groups/{group}/-/virtual_registries/packages/go/registries",
                            {"name": name})["id"]
            self.admin("POST", f"/virtual_registries/packages/go/registries/{go}/upstreams",
                       {"name": "origin", "url": f"{origin}/goproxy"})
            self.goproxies.append(f"{self.base}/api/v4/virtual_registries/packages/go/{go}")
        self.maven = f"{self.base}/api/v4/virtual_registries/packages/maven/{maven}"
        # A registry of two remotes, whose artifact metadata is merged.
        both = self.admin("POST", f"/groups/{group}/-/virtual_registries/packages/maven/registries",
                          {"name": "both"})["id"]
        for name, root in (("first", "maven2"), ("second", "maven2b")):
            self.admin("POST", f"/virtual_registries/packages/maven/registries/{both}/upstreams",
                       {"name": name, "url": f"{origin}/{root}"})
        self.merged_metadata = (f"{self.base}/api/v4/virtual_registries/packages/maven/{both}/"
                                f"{METADATA}")
        status, body = request("GET", self.merged_metadata)
        assert status == 200 and b"<version>2.0</version>" in body, (status, body)
        # A stored token, as a private registry's clients send one.
        self.token = self.admin("POST", "/personal_access_tokens",
                                {"name": "bench", "scopes": ["read_registry"]})["token"]
        self.project_pom = f"{self.base}/api/v4/projects/{project}/packages/maven/org/bench/local/1.0/local-1.0.pom"
        status, _ = request("PUT", self.project_pom, os.urandom(2048), {"private-token": ADMIN})
        assert status == 201, status
        for path in (POM, JAR_1M, JAR_50M):
            status, _ = request("GET", f"{self.maven}/{path}")
            assert status == 200, (path, status)
        status, _ = request("PUT", f"{self.probe}/probe/kv/default/pom", os.urandom(2048))
        assert status == 200, status
        # The counted read's ceiling: the pom and a generation in one batch
        # get, then one count.
        status, _ = request("PUT", f"{self.probe}/probe/kv/default/config:generation", b"7")
        assert status == 200, status
        self.probe_counted = f"{self.probe}/probe/kv/default/pom?counted=counters"
        # The 1 MiB ceiling: the probe answers four 256 KiB values (vreg's
        # chunks) as one body.
        # Whether that chunk size is right: the same 1 MiB as one value and
        # as sixteen 64 KiB values.
        self.probe_1m_parts = {}
        for parts in (1, 4, 16):
            for part in range(parts):
                status, _ = request("PUT", f"{self.probe}/probe/kv/default/jar{parts}.{part}",
                                    os.urandom((1 << 20) // parts))
                assert status == 200, status
            self.probe_1m_parts[parts] = f"{self.probe}/probe/kv/default/jar{parts}?parts={parts}"
        self.probe_1m = self.probe_1m_parts[4]

    def probe_go_files(self, www):
        """Stores the Go modules' files in the probe's key-value store; the
        GOPROXY URLs of the probe answering them from there (one get a file)
        and relaying them from the origin (one request a file)."""
        root = os.path.join(www, "goproxy")
        for directory, _, names in os.walk(root):
            for name in names:
                path = os.path.relpath(os.path.join(directory, name), root)
                with open(os.path.join(directory, name), "rb") as f:
                    status, _ = request("PUT", f"{self.probe}/probe/files/{path}", f.read())
                assert status == 200, (path, status)
        return f"{self.probe}/probe/files", f"{self.probe}/probe/relay/goproxy"

    def wait_for_syncs(self, count, timeout=300):
        db = os.path.join(self.state, "sqlite_db.db")
        deadline = time.time() + timeout
        while time.time() < deadline:
            with sqlite3.connect(db, timeout=30) as c:
                done = c.execute("SELECT COUNT(*) FROM sync_jobs WHERE state = 'done'").fetchone()[0]
            if done >= count:
                return
            time.sleep(0.5)
        raise SystemExit(f"{self.name}: only {done} of {count} syncs done")

    def peak_memory_kib(self, needle):
        peaks = [int(m) for m in re.findall(rf"{re.escape(needle)}.*mem=(\d+)KiB",
                                            self.processes.log(f"{self.name}-serving"))]
        return max(peaks) if peaks else None


def runtime_config(state):
    path = os.path.join(state, "runtime-config.toml")
    return ["--runtime-config-file", path] if os.path.exists(path) else []


def host_command(kind):
    if kind == "devhost":
        devhost, cache = os.environ["BENCH_DEVHOST"], os.path.join(ROOT, "target/devhost-cache")

        def command(manifest, state, listen):
            c = [devhost, "up", "--from", manifest, "--state-dir", state, "--cache-dir", cache]
            return c + runtime_config(state) + (["--listen", listen] if listen else [])
    else:
        spin = os.environ["BENCH_SPIN"]

        def command(manifest, state, listen):
            c = [spin, "up", "--from", manifest, "--state-dir", state]
            return c + runtime_config(state) + (["--listen", listen] if listen else [])
    return command


def in_turn(base_url, url, pick, connections=CONNECTIONS):
    """`base_url` and `url` measured alternately, ROUNDS times each: the
    medians of `pick(wrk(...))` for each, and the median of the rounds'
    ratios (url / base_url)."""
    seconds = max(2, SECONDS // 2)
    bases, values = [], []
    for _ in range(ROUNDS):
        bases.append(pick(wrk(base_url, connections, seconds)))
        values.append(pick(wrk(url, connections, seconds)))
    ratio = statistics.median(v / b for b, v in zip(bases, values))
    return statistics.median(bases), statistics.median(values), ratio


def requests_per_second(result):
    return result[0]


def bytes_per_second(result):
    return result[1]


def mb(bytes_per_second):
    return bytes_per_second / (1 << 20)


def go_rounds(vreg, origin, www, modules, work):
    """`go mod download` of every module, ROUNDS times in turn: straight
    from nginx, through vreg, and through the probe on the same host (the
    host's own floor: a trivial component relaying each file from nginx,
    or answering it with one key-value get). Cold rounds each use a
    registry of their own, and wait for the syncs they scheduled before the
    next round. The medians of each, and of the rounds' ratios."""
    stored, relayed = vreg.probe_go_files(www)
    direct = f"{origin}/goproxy"
    client = go_client_dir(work)
    runs = {name: [] for name in ("direct_cold", "cold", "relayed", "direct_warm", "warm", "stored")}
    for done, goproxy in enumerate(vreg.goproxies, start=1):
        for name, url in (("direct_cold", direct), ("cold", goproxy), ("relayed", relayed)):
            runs[name].append(go_download(url, modules, client))
        vreg.wait_for_syncs(done * len(modules))
    for _ in range(ROUNDS):
        for name, url in (("direct_warm", direct), ("warm", vreg.goproxies[0]), ("stored", stored)):
            runs[name].append(go_download(url, modules, client))

    if client != work:
        remove_tree(client)

    def ratio(a, b):
        return statistics.median(x / y for x, y in zip(runs[a], runs[b]))
    out = {f"go_{name}": statistics.median(times) for name, times in runs.items()}
    out.update(go_cold_ratio=ratio("cold", "direct_cold"), go_relayed_ratio=ratio("relayed", "direct_cold"),
               go_cold_to_relayed=ratio("cold", "relayed"), go_warm_ratio=ratio("warm", "direct_warm"),
               go_stored_ratio=ratio("stored", "direct_warm"), go_warm_to_stored=ratio("warm", "stored"))
    return out


def main():
    work = tempfile.mkdtemp(prefix="vreg-bench-")
    os.chmod(work, 0o755)
    processes = Processes(work)
    try:
        run(work, processes)
    except BaseException:
        # The servers' logs say what a failed run met: kept for reading
        # (the files served are not).
        processes.stop()
        shutil.rmtree(os.path.join(work, "www"), ignore_errors=True)
        print(f"the run failed; its servers' logs are kept in {work}", file=sys.stderr)
        raise
    processes.stop()
    shutil.rmtree(work, ignore_errors=True)


def run(work, processes):
    www = os.path.join(work, "www")
    say(f"writing the Maven files and {MODULES} Go modules")
    modules = write_files(www)
    subprocess.run(["chmod", "-R", "a+rX", work], check=True)
    origin = start_nginx(work, www, processes)
    rows = {}

    say("nginx: 2 KiB")
    nginx_2k, _ = wrk(f"{origin}/maven2/{POM}")

    say("maven-proxy (PyPI) in front of nginx")
    mp_port = free_port()
    os.makedirs(os.path.join(work, "maven-proxy"))
    mp = processes.start("maven-proxy", [
        os.environ["BENCH_MAVEN_PROXY"], "--port", str(mp_port),
        "--local-repo-dir", os.path.join(work, "maven-proxy"),
        "--remote-repos", json.dumps([{"url": f"{origin}/maven2/", "user": "", "passwd": ""}]),
        "--skip-auth", "true", "--skiplog-enable", "true",
    ])
    mp_url = f"http://127.0.0.1:{mp_port}/maven2/{POM}"
    wait_http(mp_url, mp)
    request("GET", mp_url)
    maven_proxy_2k, _ = wrk(mp_url)

    hosts = ["devhost"] + (["spin"] if os.environ.get("BENCH_SPIN") else [])
    for kind in hosts:
        say(f"{kind}: starting redis, the serving app, the sync app and the probe")
        redis_port = free_port()
        processes.start(f"{kind}-redis", ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
                                          "--save", "", "--appendonly", "no",
                                          "--notify-keyspace-events", "E$"])
        time.sleep(0.5)
        vreg = Vreg(kind, host_command(kind), processes, work, f"redis://127.0.0.1:{redis_port}",
                    origin)
        vreg.set_up(origin)
        say(f"{kind}: cached reads")
        r = {}
        r["probe"], r["pom"], r["pom_to_probe"] = in_turn(
            f"{vreg.probe}/probe/kv/default/pom", f"{vreg.maven}/{POM}", requests_per_second)
        r["nginx_2k"], _, r["probe_to_nginx"] = in_turn(
            f"{origin}/maven2/{POM}", f"{vreg.probe}/probe/kv/default/pom", requests_per_second)
        r["probe_counted"], _, r["pom_to_counted"] = in_turn(
            vreg.probe_counted, f"{vreg.maven}/{POM}", requests_per_second)
        r["version"], _ = wrk(f"{vreg.base}/api/v4/version")
        r["pom_1c"], _ = wrk(f"{vreg.maven}/{POM}", connections=1)
        # A read that does all a cached read does but count: its checksum.
        _, r["pom_sha1"], r["sha1_to_probe"] = in_turn(
            f"{vreg.probe}/probe/kv/default/pom", f"{vreg.maven}/{POM}.sha1", requests_per_second)
        r["pom_token"], _ = wrk(f"{vreg.maven}/{POM}", headers=[f"Private-Token: {vreg.token}"])
        r["project"], _ = wrk(vreg.project_pom)
        r["merged"], _ = wrk(vreg.merged_metadata)
        # A file no upstream has, asked again (as builds that declare
        # several repositories ask each in turn): a remembered 404.
        missing = f"{vreg.maven}/org/bench/none/1.0/none-1.0.pom"
        for _ in range(2):
            assert request("GET", missing)[0] == 404
        r["missing"], _ = wrk_status(missing, 404)
        r["nginx_1m"], r["jar_1m"], r["jar_1m_to_nginx"] = in_turn(
            f"{origin}/maven2/{JAR_1M}", f"{vreg.maven}/{JAR_1M}", bytes_per_second)
        r["probe_1m"], _, r["jar_1m_to_probe"] = in_turn(
            vreg.probe_1m, f"{vreg.maven}/{JAR_1M}", bytes_per_second)
        _, r["probe_1m_1"], r["chunks_1_to_4"] = in_turn(
            vreg.probe_1m, vreg.probe_1m_parts[1], bytes_per_second)
        _, r["probe_1m_16"], r["chunks_16_to_4"] = in_turn(
            vreg.probe_1m, vreg.probe_1m_parts[16], bytes_per_second)
        r["nginx_50m"], r["jar_50m"], r["jar_50m_to_nginx"] = in_turn(
            f"{origin}/maven2/{JAR_50M}", f"{vreg.maven}/{JAR_50M}", bytes_per_second)
        r["memory_kib"] = vreg.peak_memory_kib(os.path.basename(JAR_50M))
        say(f"{kind}: go mod download, cold then warm, in turn with nginx and the probe")
        r.update(go_rounds(vreg, origin, www, modules, work))
        # What `go get -u` and `go list -m -versions` ask of every module.
        module = modules[0].split("@")[0]
        for name, asked in (("go_list", "@v/list"), ("go_latest", "@latest")):
            url = f"{vreg.goproxies[0]}/{module}/{asked}"
            status, body = request("GET", url)
            if status != 200:
                raise SystemExit(f"{url}: HTTP {status} {body[:200]!r}")
            r[name], _ = wrk(url)
        # A version no upstream has, asked again: its recorded 404.
        missing = f"{vreg.goproxies[0]}/{module}/@v/v1.999.0.info"
        for _ in range(2):
            assert request("GET", missing)[0] == 404
        r["go_missing"], _ = wrk_status(missing, 404)
        rows[kind] = r

    print()
    print(f"vreg benchmark: wrk {THREADS} threads, {CONNECTIONS} connections, {SECONDS} s a run; "
          f"{MODULES} Go modules of ~200 KiB; everything on 127.0.0.1")
    print(f"A ratio is the median of {ROUNDS} rounds measuring its two sides in turn "
          f"({max(2, SECONDS // 2)} s each); the figures beside it are the medians of those runs.")
    print(f"nginx 2 KiB {nginx_2k:,.0f} req/s; maven-proxy (Flask) 2 KiB {maven_proxy_2k:,.0f} req/s;"
          f" Go: the medians of {ROUNDS} rounds, each from nginx, vreg and the probe in turn,"
          f" go's module cache {'in ' + go_client_memory() if go_client_memory() else 'on disk'}")
    print()
    header = f"{'':44}" + "".join(f"{k:>22}" for k in rows)
    print(header)

    def line(label, fmt):
        print(f"{label:44}" + "".join(f"{fmt(r):>22}" for r in rows.values()))

    line("probe: one KV get (req/s)", lambda r: f"{r['probe']:,.0f}")
    line("GET /api/v4/version (req/s)", lambda r: f"{r['version']:,.0f}")
    line("cached 2 KiB via registry (req/s)", lambda r: f"{r['pom']:,.0f}")
    line("  ratio to the probe (target >= 0.8)", lambda r: f"{r['pom_to_probe']:.2f}")
    line("  ratio to maven-proxy (target > 1)", lambda r: f"{r['pom'] / maven_proxy_2k:.2f}")
    line("  probe: batch get + count (req/s)", lambda r: f"{r['probe_counted']:,.0f}")
    line("  ratio to that probe", lambda r: f"{r['pom_to_counted']:.2f}")
    line("  at 1 connection (req/s)", lambda r: f"{r['pom_1c']:,.0f}")
    line("  its .sha1 via registry (req/s)", lambda r: f"{r['pom_sha1']:,.0f}")
    line("    ratio to the probe (not counted)", lambda r: f"{r['sha1_to_probe']:.2f}")
    line("  with a token (req/s)", lambda r: f"{r['pom_token']:,.0f}")
    line("project repository 2 KiB GET (req/s)", lambda r: f"{r['project']:,.0f}")
    line("merged maven-metadata.xml, 2 remotes (req/s)", lambda r: f"{r['merged']:,.0f}")
    line("a 404 asked again (req/s)", lambda r: f"{r['missing']:,.0f}")
    line("cached 1 MiB via registry (MB/s)", lambda r: f"{mb(r['jar_1m']):,.0f}")
    line("  nginx in the same rounds (MB/s)", lambda r: f"{mb(r['nginx_1m']):,.0f}")
    line("  ratio to nginx (target >= 0.3)", lambda r: f"{r['jar_1m_to_nginx']:.2f}")
    line("  probe, 4 KV gets as one body (MB/s)", lambda r: f"{mb(r['probe_1m']):,.0f}")
    line("  ratio to that probe", lambda r: f"{r['jar_1m_to_probe']:.2f}")
    line("  probe, 1 MiB as 1 KV get (MB/s)", lambda r: f"{mb(r['probe_1m_1']):,.0f}")
    line("    ratio to 4 gets of 256 KiB", lambda r: f"{r['chunks_1_to_4']:.2f}")
    line("  probe, 1 MiB as 16 KV gets (MB/s)", lambda r: f"{mb(r['probe_1m_16']):,.0f}")
    line("    ratio to 4 gets of 256 KiB", lambda r: f"{r['chunks_16_to_4']:.2f}")
    line("cached 50 MiB via registry (MB/s)", lambda r: f"{mb(r['jar_50m']):,.0f}")
    line("  nginx in the same rounds (MB/s)", lambda r: f"{mb(r['nginx_50m']):,.0f}")
    line("  ratio to nginx (target >= 0.35)", lambda r: f"{r['jar_50m_to_nginx']:.2f}")
    line("go mod download cold (s)", lambda r: f"{r['go_cold']:.2f}")
    line("  direct from nginx in its rounds (s)", lambda r: f"{r['go_direct_cold']:.2f}")
    line("  ratio to direct (target <= 1.5)", lambda r: f"{r['go_cold_ratio']:.2f}")
    line("  via the probe, relayed (s)", lambda r: f"{r['go_relayed']:.2f}")
    line("  probe to direct; vreg cold to probe", lambda r:
         f"{r['go_relayed_ratio']:.2f}; {r['go_cold_to_relayed']:.2f}")
    line("go mod download warm (s)", lambda r: f"{r['go_warm']:.2f}")
    line("  direct from nginx in its rounds (s)", lambda r: f"{r['go_direct_warm']:.2f}")
    line("  ratio to direct (target <= 1.3)", lambda r: f"{r['go_warm_ratio']:.2f}")
    line("  via the probe, one get (s)", lambda r: f"{r['go_stored']:.2f}")
    line("  probe to direct; vreg warm to probe", lambda r:
         f"{r['go_stored_ratio']:.2f}; {r['go_warm_to_stored']:.2f}")
    line("go <module>/@v/list (req/s)", lambda r: f"{r['go_list']:,.0f}")
    line("go <module>/@latest (req/s)", lambda r: f"{r['go_latest']:,.0f}")
    line("go: a 404 asked again (req/s)", lambda r: f"{r['go_missing']:,.0f}")
    line("nginx 2 KiB in the same rounds (req/s)", lambda r: f"{r['nginx_2k']:,.0f}")
    line("host cost: probe / nginx 2 KiB (>= 0.15)", lambda r: f"{r['probe_to_nginx']:.3f}")
    line("peak memory, 50 MiB GET (KiB)",
         lambda r: "n/a (not logged)" if r["memory_kib"] is None else f"{r['memory_kib']:,}")


if __name__ == "__main__":
    main()
