//! The Go proxy as `go` sees it: modules in GOPROXY layout on a static
//! server (the remote upstream) and one published to a project (the local
//! upstream), resolved by Debian's `go` through devhost (or real Spin),
//! synced by the sync app over a real redis-server, then served from the store with
//! the origin gone.

use std::time::{Duration, Instant};

use vreg_core::storage::{Sql, Value};
use vreg_testkit::{NativeSql, StaticServer};
use vreg_tests::goproxy::{go_registry_over, origin_module, zip, GoClient};
use vreg_tests::{json, Json, RedisServer, Vreg};

const ADMIN: &str = "go-e2e-admin";

fn text(db: &NativeSql, statement: &str, params: &[Value]) -> Vec<String> {
    db.execute(statement, params)
        .unwrap()
        .rows
        .into_iter()
        .map(|r| match &r[0] {
            Value::Text(t) => t.clone(),
            Value::Integer(i) => i.to_string(),
            other => format!("{other:?}"),
        })
        .collect()
}

#[test]
fn go_downloads_through_vreg_syncs_once_and_works_from_the_store() {
    let origin_dir = tempfile::tempdir().unwrap();
    let upper = "example.com/Upper/greet";
    origin_module(
        origin_dir.path(),
        upper,
        "v1.0.0",
        Some("module example.com/Upper/greet\n"),
    );
    origin_module(
        origin_dir.path(),
        upper,
        "v1.1.0-rc.1",
        Some("module example.com/Upper/greet\n"),
    );
    origin_module(
        origin_dir.path(),
        "example.com/old",
        "v2.0.0+incompatible",
        None,
    );
    let origin = StaticServer::start(origin_dir.path());
    let redis = RedisServer::start();
    let redis_url = redis.url();
    let mut host = Vreg::start(&[
        ("SPIN_VARIABLE_ADMIN_TOKEN", ADMIN),
        ("SPIN_VARIABLE_SECRET_KEY", "go-e2e"),
        ("SPIN_VARIABLE_ALLOW_LOCAL_UPSTREAMS", "true"),
        ("SPIN_VARIABLE_REDIS_URL", &redis_url),
    ]);
    host.start_worker(&redis);

    let group = host.admin(
        ADMIN,
        "POST",
        "/groups",
        json!({"name": "acme", "visibility": "public"}),
    )["id"]
        .as_i64()
        .unwrap();
    let project = host.admin(
        ADMIN,
        "POST",
        "/projects",
        json!({"name": "mods", "namespace_id": group, "visibility": "public"}),
    )["id"]
        .as_i64()
        .unwrap();
    let registry = host.admin(
        ADMIN,
        "POST",
        &format!("/groups/{group}/-/virtual_registries/packages/go/registries"),
        json!({"name": "go"}),
    )["id"]
        .as_i64()
        .unwrap();
    let upstreams = format!("/virtual_registries/packages/go/registries/{registry}/upstreams");
    host.admin(
        ADMIN,
        "POST",
        &upstreams,
        json!({"name": "local", "mode": "local", "target_project_id": project}),
    );
    host.admin(
        ADMIN,
        "POST",
        &upstreams,
        json!({"name": "origin", "url": origin.url()}),
    );

    // A module published to the project: the local upstream.
    let publish = |version: &str, go_mod: &[u8]| {
        let files = zip(&[
            (format!("example.com/local@{version}/go.mod"), go_mod),
            (
                format!("example.com/local@{version}/local.go"),
                b"package local\n".as_slice(),
            ),
        ]);
        let path =
            format!("/api/v4/projects/{project}/packages/go/example.com/local/@v/{version}.zip");
        host.request("PUT", &path, &[("private-token", ADMIN)], &files)
    };
    let put = publish("v0.1.0", b"module example.com/local\n");
    assert_eq!(put.status, 200, "{}", put.text());
    // A version whose go.mod names another module: `go` could never use
    // it, so it is refused (and `go list` below sees only v0.1.0).
    let refused = publish("v0.2.0", b"module example.com/other\n");
    assert_eq!(refused.status, 422, "{}", refused.text());
    let message = refused.text();
    assert!(
        message.contains("declares the module as example.com/other"),
        "{message}"
    );

    let work = tempfile::tempdir().unwrap();
    let go = GoClient::new(
        format!(
            "{}/api/v4/virtual_registries/packages/go/{registry}",
            host.base
        ),
        work.path(),
    );

    // 1. Downloads and version lists for both kinds of upstream.
    let mut sums = Vec::new();
    for target in [
        format!("{upper}@v1.0.0"),
        format!("{upper}@v1.1.0-rc.1"),
        "example.com/old@v2.0.0+incompatible".into(),
        "example.com/local@v0.1.0".into(),
    ] {
        let out: Json =
            serde_json::from_str(&go.run("cache-live", &["mod", "download", "-json", &target]))
                .unwrap();
        assert!(out.get("Error").is_none(), "{out}");
        sums.push(out);
    }
    assert_eq!(
        go.run("cache-live", &["list", "-m", "-versions", upper])
            .trim(),
        format!("{upper} v1.0.0 v1.1.0-rc.1")
    );
    assert_eq!(
        go.run(
            "cache-live",
            &["list", "-m", "-versions", "example.com/local"]
        )
        .trim(),
        "example.com/local v0.1.0"
    );
    // Asked again, the list is answered from its record; `@latest` is the
    // highest release, not the release candidate.
    for _ in 0..2 {
        assert_eq!(
            go.run("cache-live", &["list", "-m", "-versions", upper])
                .trim(),
            format!("{upper} v1.0.0 v1.1.0-rc.1")
        );
    }
    assert_eq!(
        go.run("cache-live", &["list", "-m", &format!("{upper}@latest")])
            .trim(),
        format!("{upper} v1.0.0")
    );

    // 2. Each remote version was a miss: exactly one sync job each, and the worker stored them.
    let db = NativeSql::open(&host.state_dir().join("sqlite_db.db")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let states = text(&db, "SELECT state FROM sync_jobs ORDER BY id", &[]);
        if states.len() == 3 && states.iter().all(|s| s == "done") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "jobs: {states:?}\n{}\n{}",
            host.log(),
            host.worker_log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Stored: each version's sync lease, and the count that settled who
    // took it, are deleted (by the worker, just after the job is done).
    // (Other leases stay: the file read is the host's store.)
    assert!(!host.kv_keys_like("lease:%").is_empty(), "no leases at all");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let leases = host.kv_keys_like("lease%:sync_packages:%");
        if leases.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "left behind: {leases:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let synced = text(&db, "SELECT name || '@' || version FROM packages WHERE registry_id IS NOT NULL ORDER BY name, version", &[]);
    assert_eq!(
        synced,
        [
            format!("{upper}@v1.0.0"),
            format!("{upper}@v1.1.0-rc.1"),
            "example.com/old@v2.0.0+incompatible".into()
        ]
    );
    assert_eq!(
        text(&db, "SELECT COUNT(*) FROM package_files", &[]),
        ["12"],
        "three files for each of four versions"
    );

    // 4. The h1: hashes go wrote are the ones vreg computed.
    for out in &sums {
        let (module, version) = (
            out["Path"].as_str().unwrap(),
            out["Version"].as_str().unwrap(),
        );
        let zip_h1 = text(&db, "SELECT f.h1 FROM packages p JOIN package_files f ON f.package_id = p.id WHERE p.name = ? AND p.version = ? AND f.file_name LIKE '%.zip'", &[module.into(), version.into()]);
        let mod_h1 = text(&db, "SELECT f.h1 FROM packages p JOIN package_files f ON f.package_id = p.id WHERE p.name = ? AND p.version = ? AND f.file_name LIKE '%.mod'", &[module.into(), version.into()]);
        assert_eq!(zip_h1, [out["Sum"].as_str().unwrap()], "{module}@{version}");
        assert_eq!(
            mod_h1,
            [out["GoModSum"].as_str().unwrap()],
            "{module}@{version}"
        );
    }

    // 3. With the origin stopped, a fresh module cache still gets the synced version.
    drop(origin);
    let again: Json = serde_json::from_str(&go.run(
        "cache-offline",
        &["mod", "download", "-json", &format!("{upper}@v1.0.0")],
    ))
    .unwrap();
    assert_eq!(again["Sum"], sums[0]["Sum"]);
    assert_eq!(
        text(&db, "SELECT COUNT(*) FROM sync_jobs", &[]),
        ["3"],
        "no new sync for stored versions"
    );
    // devhost prefixes a component's output with its id; Spin prints it as is.
    let stored = if host.host.is_devhost() {
        "[sync-worker] sync: Stored"
    } else {
        "sync: Stored"
    };
    let worker = host.worker_log();
    assert!(worker.contains(stored), "{worker}");
    assert!(!host.log().contains(" 500 "), "{}", host.log());
    drop(redis);
}

#[test]
fn a_hundred_concurrent_misses_take_the_lease_once() {
    let origin_dir = tempfile::tempdir().unwrap();
    origin_module(
        origin_dir.path(),
        "example.com/hot",
        "v1.0.0",
        Some("module example.com/hot\n"),
    );
    let origin = StaticServer::start(origin_dir.path());
    // No redis-server: triggers cannot be published, the requests must still succeed.
    let closed = format!("redis://127.0.0.1:{}", vreg_tests::closed_port());
    let host = Vreg::start(&[
        ("SPIN_VARIABLE_ADMIN_TOKEN", ADMIN),
        ("SPIN_VARIABLE_SECRET_KEY", "go-e2e"),
        ("SPIN_VARIABLE_ALLOW_LOCAL_UPSTREAMS", "true"),
        ("SPIN_VARIABLE_REDIS_URL", &closed),
    ]);
    let group = host.admin(
        ADMIN,
        "POST",
        "/groups",
        json!({"name": "acme", "visibility": "public"}),
    )["id"]
        .as_i64()
        .unwrap();
    let registry = host.admin(
        ADMIN,
        "POST",
        &format!("/groups/{group}/-/virtual_registries/packages/go/registries"),
        json!({"name": "go"}),
    )["id"]
        .as_i64()
        .unwrap();
    host.admin(
        ADMIN,
        "POST",
        &format!("/virtual_registries/packages/go/registries/{registry}/upstreams"),
        json!({"name": "origin", "url": origin.url()}),
    );
    let url = format!(
        "{}/api/v4/virtual_registries/packages/go/{registry}/example.com/hot/@v/v1.0.0.mod",
        host.base
    );
    let ok = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..100)
            .map(|_| {
                scope.spawn(|| {
                    ureq::get(&url)
                        .call()
                        .map(|r| r.into_string().unwrap())
                        .ok()
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().unwrap())
            .filter(|body| body == "module example.com/hot\n")
            .count()
    });
    assert_eq!(ok, 100, "every request is answered from the origin");
    let db = NativeSql::open(&host.state_dir().join("sqlite_db.db")).unwrap();
    assert_eq!(
        text(&db, "SELECT COUNT(*) FROM sync_jobs", &[]),
        ["1"],
        "exactly one request took the lease"
    );
    assert_eq!(
        text(&db, "SELECT state FROM sync_jobs", &[]),
        ["pending"],
        "kept for its retry while Redis is down"
    );
}

/// A module zip at Go's size limit (500 MiB) is published, checked and
/// stored with the component's memory far below the 128 MiB an edge
/// component gets: the zip streams into the blob store and is checked from
/// there a chunk at a time. devhost logs each request's peak memory (Spin
/// does not, so this runs on devhost only).
#[test]
fn a_500_mib_module_zip_is_checked_with_bounded_memory() {
    if !vreg_tests::HostKind::from_env().is_devhost() {
        return;
    }
    let host = Vreg::start(&[
        ("SPIN_VARIABLE_ADMIN_TOKEN", ADMIN),
        ("SPIN_VARIABLE_SECRET_KEY", "go-e2e"),
    ]);
    let project = host.new_project(ADMIN, "big", "mods");
    let zip = vreg_tests::goproxy::stored_zip(&[
        (
            "example.com/big@v1.0.0/go.mod".into(),
            b"module example.com/big\n".to_vec(),
        ),
        (
            "example.com/big@v1.0.0/blob.bin".into(),
            vreg_tests::goproxy::noise(499 << 20),
        ),
    ]);
    assert!(zip.len() as u64 <= 500 << 20, "{} bytes", zip.len());
    let path = format!("/api/v4/projects/{project}/packages/go/example.com/big/@v/v1.0.0.zip");
    let put = host.request("PUT", &path, &[("private-token", ADMIN)], &zip);
    assert_eq!(put.status, 200, "{}", put.text());
    let mod_path = format!("/api/v4/projects/{project}/packages/go/example.com/big/@v/v1.0.0.mod");
    let go_mod = host.request("GET", &mod_path, &[("private-token", ADMIN)], &[]);
    assert_eq!(go_mod.text(), "module example.com/big\n");
    assert!(host.log_shows("v1.0.0.zip go-proxy 200"), "{}", host.log());
    let peak_kib: usize = host
        .log()
        .lines()
        .find(|l| l.contains("PUT") && l.contains("v1.0.0.zip"))
        .and_then(|l| l.split("mem=").nth(1)?.trim_end_matches("KiB").parse().ok())
        .expect("devhost logs the request's peak memory");
    assert!(peak_kib < 64 * 1024, "peak memory {peak_kib} KiB");
    println!("500 MiB module zip: peak component memory {peak_kib} KiB");
}

/// `go mod download m@main`: the branch query goes through vreg to the
/// origin, and the pseudo-version it names is then fetched the usual way.
#[test]
fn go_resolves_a_branch_through_vreg() {
    const PSEUDO: &str = "v0.0.0-20261129120000-abcdefabcdef";
    let origin_dir = tempfile::tempdir().unwrap();
    origin_module(
        origin_dir.path(),
        "example.com/branchy",
        PSEUDO,
        Some("module example.com/branchy\n"),
    );
    let info = format!(r#"{{"Version":"{PSEUDO}","Time":"2026-11-29T12:00:00Z"}}"#);
    std::fs::write(
        origin_dir.path().join("example.com/branchy/@v/main.info"),
        info,
    )
    .unwrap();
    let origin = StaticServer::start(origin_dir.path());
    let host = Vreg::start(&[
        ("SPIN_VARIABLE_ADMIN_TOKEN", ADMIN),
        ("SPIN_VARIABLE_SECRET_KEY", "go-e2e"),
        ("SPIN_VARIABLE_ALLOW_LOCAL_UPSTREAMS", "true"),
    ]);
    let proxy = go_registry_over(&host, ADMIN, json!({"name": "go"}), &origin.url());
    let work = tempfile::tempdir().unwrap();
    let go = GoClient::new(proxy, work.path());
    let out: Json = serde_json::from_str(&go.run(
        "cache",
        &["mod", "download", "-json", "example.com/branchy@main"],
    ))
    .unwrap();
    assert!(out.get("Error").is_none(), "{out}");
    assert_eq!(out["Version"], PSEUDO, "{out}");
}
