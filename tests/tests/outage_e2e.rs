//! Redis goes away while vreg serves: the serving app keeps answering every
//! Maven and Go request (hits and misses), the sync app ends (as `spin up`
//! ends an app whose Redis trigger lost its connection), sync jobs wait in
//! `sync_jobs`, and once Redis and the sync app are back the jobs recorded
//! meanwhile are done. Runs on devhost, and on real Spin with
//! `VREG_E2E_HOST=spin`.

use std::path::Path;
use std::time::{Duration, Instant};

use vreg_core::storage::{Sql, Value};
use vreg_testkit::{NativeSql, StaticServer};
use vreg_tests::goproxy::origin_module;
use vreg_tests::{json, RedisServer, Vreg};

const ADMIN: &str = "outage-admin";

fn states(db: &NativeSql) -> Vec<(String, String)> {
    db.execute("SELECT key, state FROM sync_jobs ORDER BY key", &[])
        .unwrap()
        .rows
        .into_iter()
        .map(|row| match (&row[0], &row[1]) {
            (Value::Text(k), Value::Text(s)) => {
                (k.rsplit(':').next().unwrap().to_owned(), s.clone())
            }
            other => panic!("{other:?}"),
        })
        .collect()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn the_registry_serves_through_a_redis_outage_and_the_worker_catches_up() {
    // Origins: a Go proxy with three versions, and a Maven repository.
    let go_dir = tempfile::tempdir().unwrap();
    for version in ["v1.0.0", "v1.1.0", "v1.2.0"] {
        origin_module(
            go_dir.path(),
            "example.com/steady",
            version,
            Some("module example.com/steady\n"),
        );
    }
    let go_origin = StaticServer::start(go_dir.path());
    let maven_dir = tempfile::tempdir().unwrap();
    for (name, body) in [("a", "<project>a</project>"), ("b", "<project>b</project>")] {
        let dir = maven_dir.path().join(format!("org/acme/{name}/1.0"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}-1.0.pom")), body).unwrap();
    }
    let maven_origin = StaticServer::start(maven_dir.path());

    let mut redis = RedisServer::start();
    let redis_url = redis.url();
    let mut host = Vreg::start(&[
        ("SPIN_VARIABLE_ADMIN_TOKEN", ADMIN),
        ("SPIN_VARIABLE_SECRET_KEY", "outage"),
        ("SPIN_VARIABLE_ALLOW_LOCAL_UPSTREAMS", "true"),
        ("SPIN_VARIABLE_REDIS_URL", &redis_url),
    ]);
    host.start_worker(&redis);

    let group = host.public_group(ADMIN, "acme");
    let project = host.create(
        ADMIN,
        "/projects",
        json!({"name": "libs", "namespace_id": group, "visibility": "public"}),
    );
    let maven = host.registry(ADMIN, group, "maven", json!({"name": "maven"}));
    for body in [
        json!({"name": "local", "mode": "local", "target_project_id": project}),
        json!({"name": "origin", "url": maven_origin.url()}),
    ] {
        host.create(
            ADMIN,
            &format!("/virtual_registries/packages/maven/registries/{maven}/upstreams"),
            body,
        );
    }
    let go = host.registry_over(ADMIN, group, "go", &go_origin.url());
    let maven_path = |name: &str| {
        format!(
            "/api/v4/virtual_registries/packages/maven/{maven}/org/acme/{name}/1.0/{name}-1.0.pom"
        )
    };
    let go_path = |file: &str| {
        format!("/api/v4/virtual_registries/packages/go/{go}/example.com/steady/@v/{file}")
    };
    let local_pom =
        format!("/api/v4/projects/{project}/packages/maven/org/acme/local/1.0/local-1.0.pom");
    let put = host.request(
        "PUT",
        &local_pom,
        &[("private-token", ADMIN)],
        b"<project>local</project>",
    );
    assert_eq!(put.status, 201, "{}", put.text());

    // Before the outage: a cached Maven file and a stored Go version.
    assert_eq!(host.get(&maven_path("a")).text(), "<project>a</project>");
    assert_eq!(host.get(&go_path("v1.0.0.mod")).status, 200);
    let db = NativeSql::open(&host.state_dir().join("sqlite_db.db")).unwrap();
    wait_until("v1.0.0 stored", || {
        states(&db) == [("example.com/steady@v1.0.0".into(), "done".into())]
    });

    // The outage: the sync app ends, the serving app does not.
    redis.stop();
    wait_until("the sync app ends with its Redis trigger", || {
        !host.worker_running()
    });
    assert!(host.serving_running());

    // Every read and every miss still succeeds.
    assert_eq!(
        host.get(&maven_path("a")).text(),
        "<project>a</project>",
        "hit"
    );
    assert_eq!(
        host.get(&maven_path("b")).text(),
        "<project>b</project>",
        "miss"
    );
    assert_eq!(
        host.get(&maven_path("local")).text(),
        "<project>local</project>",
        "local upstream"
    );
    assert_eq!(host.get(&go_path("v1.0.0.zip")).status, 200, "stored");
    for file in ["v1.1.0.info", "v1.1.0.mod", "v1.1.0.zip", "v1.2.0.mod"] {
        let reply = host.get(&go_path(file));
        assert_eq!(reply.status, 200, "miss {file}: {}", reply.text());
    }
    assert_eq!(
        host.get(&go_path("v1.1.0.mod")).text(),
        "module example.com/steady\n"
    );
    assert_eq!(
        host.get(&go_path("list")).text(),
        "v1.0.0\nv1.1.0\nv1.2.0\n"
    );
    assert!(host.serving_running(), "{}", host.log());
    assert_eq!(
        states(&db),
        [
            ("example.com/steady@v1.0.0".into(), "done".into()),
            ("example.com/steady@v1.1.0".into(), "pending".into()),
            ("example.com/steady@v1.2.0".into(), "pending".into()),
        ],
        "one job per missing version, waiting"
    );

    // Redis is back, and so is the sync app (as a supervisor or SpinKube
    // restarts it). Registry traffic resends what no worker heard.
    redis.restart();
    host.start_worker(&redis);
    wait_until("the jobs recorded during the outage are done", || {
        assert_eq!(host.get(&go_path("v1.0.0.info")).status, 200);
        states(&db).iter().all(|(_, state)| state == "done")
    });

    // Stored for good: with the origin gone, the versions still download.
    drop(go_origin);
    for file in ["v1.1.0.zip", "v1.2.0.zip", "v1.2.0.info"] {
        assert_eq!(
            host.get(&go_path(file)).status,
            200,
            "{file} from the store"
        );
    }
    assert!(
        host.worker_log().contains("sync: Stored"),
        "{}",
        host.worker_log()
    );
    assert!(Path::new(&host.state_dir().join("sqlite_db.db")).exists());
}
