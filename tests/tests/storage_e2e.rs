//! Storage stays bounded, on the hosts' real key-value store (the SQLite
//! file behind Spin's `spin` store type, read directly), through a running
//! vreg (devhost, or real Spin with `VREG_E2E_HOST=spin`):
//! - caching 50 files, clearing the registry's cache and collecting garbage
//!   returns the store's chunks (count and bytes) to where they were;
//! - a download that is under way while its file is deleted and garbage is
//!   collected completes intact (the grace period), and the space is freed
//!   once the grace period is over;
//! - 10,000 anonymous requests for made-up Maven paths and 2,000 for
//!   made-up Go modules (lists, version files) leave a bounded number of
//!   keys;
//! - downloads are counted in the `counters` store on a real Redis, folded
//!   into SQL, and survive that Redis losing everything.

use std::io::Read;
use std::time::{Duration, Instant};

use vreg_core::storage::{Sql, Value};
use vreg_testkit::{NativeSql, StaticServer};
use vreg_tests::{json, seeded_bytes, write_file, RedisServer, Vreg};

const ADMIN: &str = "storage-admin";

fn start(grace_seconds: &str) -> Vreg {
    Vreg::start(&[
        ("SPIN_VARIABLE_ADMIN_TOKEN", ADMIN),
        ("SPIN_VARIABLE_SECRET_KEY", "storage"),
        ("SPIN_VARIABLE_ALLOW_LOCAL_UPSTREAMS", "true"),
        ("SPIN_VARIABLE_GC_GRACE_SECONDS", grace_seconds),
    ])
}

/// Count and bytes of the keys matching `like` in the host's key-value file.
fn kv_usage(host: &Vreg, like: &str) -> (i64, i64) {
    let kv = NativeSql::open(&host.kv_file()).unwrap();
    let rows = kv
        .execute(
            "SELECT COUNT(*), COALESCE(SUM(length(value)), 0) FROM spin_key_value WHERE key LIKE ?",
            &[like.into()],
        )
        .unwrap()
        .rows;
    match rows[0].as_slice() {
        [Value::Integer(count), Value::Integer(bytes)] => (*count, *bytes),
        other => panic!("{other:?}"),
    }
}

/// A public group with a Maven registry whose one upstream is `url`;
/// returns the group and registry ids.
fn maven_registry(host: &Vreg, url: &str) -> (i64, i64) {
    let group = host.public_group(ADMIN, "bulk");
    (group, host.registry_over(ADMIN, group, "maven", url))
}

fn file_bytes(seed: usize, len: usize) -> Vec<u8> {
    seeded_bytes(seed as u64, len)
}

/// Waits until the registry's cache holds `count` files: a proxied file
/// reaches the client while the last of it is still being stored.
fn wait_for_cached(host: &Vreg, count: i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let storage = host.admin(ADMIN, "GET", "/storage", json!({}));
        if storage["registries"][0]["cached"]["count"] == count {
            return;
        }
        assert!(Instant::now() < deadline, "{storage}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `POST /storage/gc` until it has nothing left to do.
fn collect_all(host: &Vreg) -> serde_json::Value {
    let mut freed = 0;
    for _ in 0..50 {
        let report = host.admin(ADMIN, "POST", "/storage/gc", json!({"budget": 20}));
        freed += report["freed_blobs"].as_i64().unwrap();
        if report["has_work"] == false {
            let mut report = report;
            report["freed_blobs_total"] = json!(freed);
            return report;
        }
    }
    panic!("garbage collection did not finish");
}

#[test]
fn caching_then_clearing_then_collecting_returns_the_store_to_its_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<String> = (0..50)
        .map(|i| format!("org/bulk/f{i}/1.0/f{i}-1.0.jar"))
        .collect();
    for (i, path) in paths.iter().enumerate() {
        write_file(dir.path(), path, &file_bytes(i, 300 * 1024));
    }
    let origin = StaticServer::start(dir.path());
    // A short grace period (0 would let the collector take writes still
    // under way as abandoned: traffic runs it too).
    let host = start("2");
    let (_, registry) = maven_registry(&host, &origin.url());
    let baseline = kv_usage(&host, "chunk:%");

    for (i, path) in paths.iter().enumerate() {
        let reply = host.get(&format!(
            "/api/v4/virtual_registries/packages/maven/{registry}/{path}"
        ));
        assert_eq!(reply.status, 200, "{path}");
        assert!(reply.body == file_bytes(i, 300 * 1024), "{path}");
    }
    wait_for_cached(&host, 50);
    let cached = kv_usage(&host, "chunk:%");
    assert_eq!(cached.0, baseline.0 + 100, "two 256 KiB chunks per file");
    assert_eq!(cached.1, baseline.1 + 50 * 300 * 1024);
    let storage = host.admin(ADMIN, "GET", "/storage", json!({}));
    assert_eq!(storage["registries"][0]["cached"]["count"], 50);
    assert_eq!(storage["registries"][0]["cached"]["bytes"], 50 * 300 * 1024);

    let cleared = host.request(
        "DELETE",
        &format!("/api/v4/virtual_registries/packages/maven/registries/{registry}/cache"),
        &[("private-token", ADMIN)],
        &[],
    );
    assert_eq!(cleared.status, 204, "{}", cleared.text());
    // The first pass finds them unreferenced; they go once that is older
    // than the grace period.
    let first = host.admin(ADMIN, "POST", "/storage/gc", json!({"budget": 100}));
    assert_eq!(first["freed_blobs"], 0, "{first}");
    assert_eq!(first["remaining"]["waiting_blobs"], 50, "{first}");
    std::thread::sleep(Duration::from_millis(2100));
    let report = collect_all(&host);
    assert_eq!(report["freed_blobs_total"], 50, "{report}");
    assert_eq!(kv_usage(&host, "chunk:%"), baseline, "{report}");
    assert_eq!(kv_usage(&host, "blob:%").0, 0, "manifests too");
    let storage = host.admin(ADMIN, "GET", "/storage", json!({}));
    assert_eq!(storage["blobs"]["count"], 0, "{storage}");

    // The store still works: a file is fetched and cached again.
    let again = host.get(&format!(
        "/api/v4/virtual_registries/packages/maven/{registry}/{}",
        paths[7]
    ));
    assert!(again.status == 200 && again.body == file_bytes(7, 300 * 1024));
}

#[test]
fn a_download_under_way_survives_deletion_and_collection() {
    const GRACE: u64 = 10;
    const SIZE: usize = 24 << 20;
    let dir = tempfile::tempdir().unwrap();
    let path = "org/big/blob/1.0/blob-1.0.jar";
    let bytes = file_bytes(99, SIZE);
    write_file(dir.path(), path, &bytes);
    let origin = StaticServer::start(dir.path());
    let host = start(&GRACE.to_string());
    let (_, registry) = maven_registry(&host, &origin.url());
    let url = format!(
        "{}/api/v4/virtual_registries/packages/maven/{registry}/{path}",
        host.base
    );
    assert_eq!(host.get(&url[host.base.len()..]).body.len(), SIZE);
    wait_for_cached(&host, 1);
    let baseline = kv_usage(&host, "chunk:%");

    // A slow client starts reading, then the file is deleted and garbage
    // is collected (again and again) while it reads.
    let response = ureq::get(&url).call().unwrap();
    let mut reader = response.into_reader();
    let mut received = vec![0u8; 1 << 20];
    reader.read_exact(&mut received).unwrap();
    let cleared = host.request(
        "DELETE",
        &format!("/api/v4/virtual_registries/packages/maven/registries/{registry}/cache"),
        &[("private-token", ADMIN)],
        &[],
    );
    assert_eq!(cleared.status, 204);
    let deleted_at = Instant::now();
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let n = reader.read(&mut buffer).unwrap();
        if n == 0 {
            break;
        }
        received.extend_from_slice(&buffer[..n]);
        // Slowly, so that the host is still streaming chunks out of the
        // store (24 MiB is well past the sockets' buffers) while garbage
        // is collected.
        std::thread::sleep(Duration::from_millis(2));
        if received.len() % (4 << 20) < n {
            let report = host.admin(ADMIN, "POST", "/storage/gc", json!({}));
            assert_eq!(
                report["freed_blobs"], 0,
                "within the grace period: {report}"
            );
        }
    }
    let report = host.admin(ADMIN, "GET", "/storage", json!({}));
    assert!(
        deleted_at.elapsed() < Duration::from_secs(GRACE),
        "the download outlasted the grace period; the test proves nothing"
    );
    assert_eq!(report["garbage"]["waiting_blobs"], 1, "{report}");
    assert_eq!(received.len(), SIZE);
    assert!(received == bytes, "intact");

    // Once the grace period is over, the space comes back.
    // (The grace period runs from the first pass that found it unreferenced,
    // just after the deletion.)
    let over = Duration::from_secs(GRACE) + Duration::from_millis(1500);
    std::thread::sleep(over.saturating_sub(deleted_at.elapsed()));
    let report = collect_all(&host);
    assert_eq!(report["freed_blobs_total"], 1, "{report}");
    assert_eq!(
        kv_usage(&host, "chunk:%").0,
        baseline.0 - (SIZE as i64 >> 18)
    );
}

#[test]
fn made_up_paths_from_anonymous_callers_leave_a_bounded_number_of_keys() {
    let dir = tempfile::tempdir().unwrap();
    let origin = StaticServer::start(dir.path());
    let host = start("3600");
    let (group, registry) = maven_registry(&host, &origin.url());
    let go = host.registry_over(ADMIN, group, "go", &origin.url());
    let before = kv_usage(&host, "%").0;
    let started = Instant::now();
    let http: &vreg_tests::Http = &host;
    std::thread::scope(|scope| {
        for worker in 0..8 {
            let host = http;
            scope.spawn(move || {
                let status_of = |path: String| {
                    let timeout = Duration::from_secs(30);
                    host.try_request("GET", &path, &[], &[], timeout).unwrap()
                };
                let maven = format!("/api/v4/virtual_registries/packages/maven/{registry}");
                let go = format!("/api/v4/virtual_registries/packages/go/{go}/example.com/made");
                for i in (worker..10_000).step_by(8) {
                    let pom = format!("{maven}/org/made/up{i}/1.0/up{i}-1.0.pom");
                    assert_eq!(status_of(pom), 404);
                    if i < 1000 {
                        assert_eq!(status_of(format!("{go}/up{i}/@v/list")), 200);
                        assert_eq!(status_of(format!("{go}/up{i}/@v/v1.0.0.info")), 404);
                    }
                }
            });
        }
    });
    let after = kv_usage(&host, "%").0;
    let buckets = vreg_core::storage::expiring::MARK_BUCKETS as i64;
    println!(
        "12,000 made-up requests in {:?}: {before} keys before, {after} after",
        started.elapsed()
    );
    // A space of marks for Maven misses (a fixed number of keys), a space
    // of slots each for empty Go lists and Go 404s (one key per module
    // here at most, a fixed number ever), plus a few fixed keys (leases,
    // the collector's cursor).
    let go_404s = kv_usage(&host, "go:absent:%").0;
    assert!(go_404s <= 1000, "{go_404s} keys of Go 404s");
    assert!(
        after - before <= buckets + 2 * 1000 + 16,
        "{before} keys before, {after} after"
    );
    // The misses are remembered: asking again does not reach the origin,
    // and a miss asked again is recorded (one key, in a fixed number of
    // slots), where one asked once was not.
    let asked = origin.requests();
    let slotted = || kv_usage(&host, "maven:local:%").0;
    assert_eq!(slotted(), 0, "a path asked once leaves no record");
    let again = host.get(&format!(
        "/api/v4/virtual_registries/packages/maven/{registry}/org/made/up9999/1.0/up9999-1.0.pom"
    ));
    assert_eq!(again.status, 404);
    assert_eq!(origin.requests(), asked);
    assert_eq!(slotted(), 1, "a path asked again is recorded");
    // A Go 404 is recorded (on one miss in a few, at random: asked until
    // it is): asked again, no origin request.
    let made_up = format!(
        "/api/v4/virtual_registries/packages/go/{go}/example.com/made/again/@v/v1.0.0.info"
    );
    let from_record = (0..64).any(|_| {
        let asked = origin.requests();
        assert_eq!(host.get(&made_up).status, 404);
        origin.requests() == asked
    });
    assert!(from_record, "a Go 404 never recorded");
    let asked = origin.requests();
    assert_eq!(host.get(&made_up).status, 404);
    assert_eq!(origin.requests(), asked, "a Go 404 asked again");
}

/// The shipped layout: the `counters` store on Redis. Cached reads (the
/// anonymous ones served from their resolved record included) count there,
/// not in SQL; listing the entries folds the counts into SQL, so a Redis
/// that then loses everything loses none of them.
#[test]
fn downloads_count_on_redis_and_are_folded_into_sql() {
    let dir = tempfile::tempdir().unwrap();
    let path = "org/counted/lib/1.0/lib-1.0.pom";
    write_file(dir.path(), path, &file_bytes(3, 2048));
    let origin = StaticServer::start(dir.path());
    let redis = RedisServer::start();
    let redis_url = redis.url();
    let host = Vreg::start(&[
        ("SPIN_VARIABLE_ADMIN_TOKEN", ADMIN),
        ("SPIN_VARIABLE_SECRET_KEY", "storage"),
        ("SPIN_VARIABLE_ALLOW_LOCAL_UPSTREAMS", "true"),
        ("SPIN_VARIABLE_REDIS_URL", &redis_url),
    ]);
    let (_, registry) = maven_registry(&host, &origin.url());
    let url = format!("/api/v4/virtual_registries/packages/maven/{registry}/{path}");
    for _ in 0..25 {
        let reply = host.get(&url);
        assert!(reply.status == 200 && reply.body == file_bytes(3, 2048));
    }
    // An Authorization header vreg cannot read is refused, as on the full
    // path, not served from the record the reads above left (nor counted).
    let unreadable = host.request("GET", &url, &[("authorization", "Digest x")], b"");
    assert_eq!(unreadable.status, 401);
    let counted = redis.command(&["KEYS", "downloads:*"]);
    assert!(counted.contains(path), "counted on Redis: {counted}");
    let db = NativeSql::open(&host.state_dir().join("sqlite_db.db")).unwrap();
    let stored = || {
        db.execute("SELECT downloads_count FROM cache_entries", &[])
            .unwrap()
            .rows[0][0]
            .clone()
    };
    let listing = host.cache_entries_path(ADMIN, registry);
    let entries = host.admin(ADMIN, "GET", &listing, json!({}));
    assert_eq!(entries[0]["downloads_count"], 25, "{entries}");
    assert_eq!(stored(), Value::Integer(25), "folded into SQL");

    redis.command(&["FLUSHALL"]);
    let entries = host.admin(ADMIN, "GET", &listing, json!({}));
    assert_eq!(entries[0]["downloads_count"], 25, "{entries}");
    assert_eq!(host.get(&url).status, 200);
    let entries = host.admin(ADMIN, "GET", &listing, json!({}));
    assert_eq!(entries[0]["downloads_count"], 26, "{entries}");
}
