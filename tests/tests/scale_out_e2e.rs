//! What many instances share, on devhost or real Spin
//! (`VREG_E2E_HOST=spin`): vreg's leases, taken once however many
//! requests race for them, in the host's own key-value store and on Redis;
//! and vreg whole with its `default` key-value store (records, blobs,
//! leases, the configuration generation) on Redis, as a deployment that
//! runs many instances puts it.
//!
//! Real Spin's stores (4.0.2) break the compare-and-swap contract: its
//! SQLite store lets two requests that saw a key absent both swap, and its
//! Redis store reports every swap as failed after making it (and fails
//! every batch get). Before vreg saw through these, a new lease was now
//! and then taken twice, and the first admin write on Redis hung (the
//! generation's swap retried forever).

use std::time::{Duration, Instant};

use vreg_core::crypto::sha256_hex;
use vreg_core::storage::{Sql, Value};
use vreg_testkit::{NativeSql, StaticServer};
use vreg_tests::goproxy::{origin_module, GoClient};
use vreg_tests::{json, seeded_bytes, winners_of, write_file, ProbeApp, RedisServer, Vreg};

const ADMIN: &str = "scale-out-admin";

fn first_text(db: &NativeSql, statement: &str) -> String {
    match db
        .execute(statement, &[])
        .unwrap()
        .rows
        .first()
        .map(|r| &r[0])
    {
        Some(Value::Text(t)) => t.clone(),
        Some(Value::Integer(i)) => i.to_string(),
        other => format!("{other:?}"),
    }
}

/// For each of `leases` new leases, how many of `callers` concurrent
/// requests won it (through vreg's own `take_lease`, in the probe).
fn contest(probe: &ProbeApp, leases: usize, callers: usize) -> Vec<usize> {
    (0..leases)
        .map(|lease| {
            let url = format!("{}/probe/vreg-lease/contested-{lease}", probe.base);
            winners_of(&url, callers)
        })
        .collect()
}

/// 50 new leases, 40 requests racing for each (on real Spin's SQLite store
/// a plain swap from "absent" had two winners in about one race in ten).
#[test]
fn a_new_lease_is_taken_once_in_the_hosts_store_and_on_redis() {
    let redis = RedisServer::start();
    for (store, config) in [
        ("the host's own store", String::new()),
        (
            "Redis",
            format!(
                "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n",
                redis.url()
            ),
        ),
    ] {
        let probe = ProbeApp::start(&config);
        let winners = contest(&probe, 50, 40);
        assert!(
            winners.iter().all(|&n| n == 1),
            "{store}: winners of each lease: {winners:?}"
        );
    }
}

#[test]
fn with_the_default_store_on_redis_maven_and_go_work_and_counts_are_exact() {
    let maven_dir = tempfile::tempdir().unwrap();
    let pom_path = "org/scaled/lib/1.0/lib-1.0.pom";
    // Past one 256 KiB chunk: a blob of three chunks.
    let jar_path = "org/scaled/lib/1.0/lib-1.0.jar";
    let (pom, jar) = (seeded_bytes(1, 2048), seeded_bytes(2, 600 * 1024));
    for (path, body) in [(pom_path, &pom), (jar_path, &jar)] {
        write_file(maven_dir.path(), path, body);
    }
    let maven_origin = StaticServer::start(maven_dir.path());
    let go_dir = tempfile::tempdir().unwrap();
    let module = "example.com/scaled";
    origin_module(
        go_dir.path(),
        module,
        "v1.0.0",
        Some("module example.com/scaled\n"),
    );
    let go_origin = StaticServer::start(go_dir.path());

    let redis = RedisServer::start();
    let redis_url = redis.url();
    // A database of its own: Spin's Redis store does not prefix its keys,
    // and the `sync` store's announcements are database 0's.
    let default_store = format!("{redis_url}/1");
    let mut host = Vreg::start_with_default_store_on(
        &[
            ("SPIN_VARIABLE_ADMIN_TOKEN", ADMIN),
            ("SPIN_VARIABLE_SECRET_KEY", "scale-out"),
            ("SPIN_VARIABLE_ALLOW_LOCAL_UPSTREAMS", "true"),
            ("SPIN_VARIABLE_REDIS_URL", &redis_url),
        ],
        &default_store,
    );
    host.start_worker(&redis);

    // Admin writes: each moves the generation on (a compare-and-swap).
    let group = host.public_group(ADMIN, "scaled");
    let maven = host.registry_over(ADMIN, group, "maven", &maven_origin.url());
    let go = host.registry_over(ADMIN, group, "go", &go_origin.url());

    // Maven: the first read stores the file (a blob), the later ones are
    // served from the record the first left (a batch get) and the blob.
    for (path, body) in [(pom_path, &pom), (jar_path, &jar)] {
        let url = format!("/api/v4/virtual_registries/packages/maven/{maven}/{path}");
        for read in 0..3 {
            let reply = host.get(&url);
            assert_eq!(reply.status, 200, "{path} read {read}: {}", reply.text());
            assert!(reply.body == *body, "{path} read {read}: wrong bytes");
        }
        let sha256 = host.get(&format!("{url}.sha256"));
        assert_eq!(sha256.text(), sha256_hex(body), "{path}");
    }
    // Counted exactly: three reads of the pom, folded once.
    let listing = host.cache_entries_path(ADMIN, maven);
    let entries = host.admin(ADMIN, "GET", &listing, json!({}));
    let pom_entry = entries
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["relative_path"] == pom_path)
        .unwrap_or_else(|| panic!("{entries}"));
    assert_eq!(pom_entry["downloads_count"], 3, "{entries}");

    // Go: a miss is relayed and its sync scheduled once (a lease); the
    // worker stores it; with the origin gone, it is served from the store.
    let work = tempfile::tempdir().unwrap();
    let client = GoClient::new(
        format!("{}/api/v4/virtual_registries/packages/go/{go}", host.base),
        work.path(),
    );
    let target = format!("{module}@v1.0.0");
    let cold = client.run("cold", &["mod", "download", "-json", &target]);
    let db = NativeSql::open(&host.state_dir().join("sqlite_db.db")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while first_text(&db, "SELECT group_concat(state) FROM sync_jobs") != "done" {
        assert!(
            Instant::now() < deadline,
            "jobs: {}\n{}\n{}",
            first_text(&db, "SELECT group_concat(state) FROM sync_jobs"),
            host.log(),
            host.worker_log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(go_origin);
    let stored = client.run("stored", &["mod", "download", "-json", &target]);
    let sum = |out: &str| serde_json::from_str::<serde_json::Value>(out).unwrap()["Sum"].clone();
    assert_eq!(sum(&stored), sum(&cold));
    assert!(sum(&cold).as_str().is_some_and(|s| s.starts_with("h1:")));

    // It all lives on Redis: nothing in the host's key-value file.
    let keyspace = redis.command(&["INFO", "keyspace"]);
    assert!(keyspace.contains("db1:keys="), "{keyspace}");
    let kv_file = host.kv_file();
    if kv_file.exists() {
        let kv = NativeSql::open(&kv_file).unwrap();
        let rows = kv.execute("SELECT COUNT(*) FROM spin_key_value", &[]);
        if let Ok(rows) = rows {
            assert_eq!(rows.rows[0][0], Value::Integer(0));
        }
    }
    assert!(!host.log().contains(" 500 "), "{}", host.log());
}
