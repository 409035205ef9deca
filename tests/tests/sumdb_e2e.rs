//! The checksum database through vreg, as `go` uses it: a real database
//! (built from the Go team's golang.org/x/mod, signing the origin's
//! modules), a real `go mod download` with `GOSUMDB=<name>+<key>` and vreg
//! as GOPROXY (so `go` verifies through `<GOPROXY>/sumdb/<name>/...`).
//! Runs on devhost, and on real Spin with `VREG_E2E_HOST=spin`.

use vreg_core::storage::Sql;
use vreg_testkit::{NativeSql, StaticServer};
use vreg_tests::goproxy::{go_registry_over, origin_module, zip, GoClient, SumdbServer};
use vreg_tests::{json, Vreg};

const ADMIN: &str = "sumdb-admin";
const NAME: &str = "sum.vreg.test";

#[test]
fn go_verifies_through_vreg_detects_tampering_and_works_offline() {
    let origin_dir = tempfile::tempdir().unwrap();
    for version in ["v1.0.0", "v1.1.0"] {
        origin_module(
            origin_dir.path(),
            "example.com/signed",
            version,
            Some("module example.com/signed\n"),
        );
    }
    let sumdb = SumdbServer::start(origin_dir.path(), NAME);
    // v1.1.0 is tampered with at the origin after the database signed it.
    let tampered = zip(&[
        (
            "example.com/signed@v1.1.0/go.mod".into(),
            b"module example.com/signed\n".as_slice(),
        ),
        (
            "example.com/signed@v1.1.0/evil.go".into(),
            b"package signed // not what was signed\n".as_slice(),
        ),
    ]);
    std::fs::write(
        origin_dir.path().join("example.com/signed/@v/v1.1.0.zip"),
        tampered,
    )
    .unwrap();
    let origin = StaticServer::start(origin_dir.path());

    let host = Vreg::start(&[
        ("SPIN_VARIABLE_ADMIN_TOKEN", ADMIN),
        ("SPIN_VARIABLE_SECRET_KEY", "sumdb"),
        ("SPIN_VARIABLE_ALLOW_LOCAL_UPSTREAMS", "true"),
    ]);
    let proxy = go_registry_over(
        &host,
        ADMIN,
        json!({"name": "go", "checksum_database_name": NAME, "checksum_database_url": sumdb.url}),
        &origin.url(),
    );
    let work = tempfile::tempdir().unwrap();
    let mut go = GoClient::new(proxy, work.path());
    go.sumdb = Some(sumdb.vkey.clone());

    // Verified through vreg.
    let out = go.run(
        "cache-1",
        &["mod", "download", "-json", "example.com/signed@v1.0.0"],
    );
    assert!(out.contains("\"Sum\": \"h1:"), "{out}");
    let db = NativeSql::open(&host.state_dir().join("sqlite_db.db")).unwrap();
    let cached = db
        .execute(
            "SELECT COUNT(*) FROM sumdb_entries WHERE path = 'lookup/example.com/signed@v1.0.0'",
            &[],
        )
        .unwrap()
        .scalar_i64();
    assert_eq!(cached, Some(1), "go verified through vreg");

    // The tampered zip fails verification.
    let failed = go.try_run(
        "cache-1",
        &["mod", "download", "-json", "example.com/signed@v1.1.0"],
    );
    let said = String::from_utf8_lossy(&failed.stdout).into_owned()
        + &String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success(), "{said}");
    assert!(
        said.contains("SECURITY ERROR") || said.contains("checksum mismatch"),
        "{said}"
    );

    // The database goes away; with a fresh module cache (so that go must
    // verify again), the warm proxy still answers what it served before.
    drop(sumdb);
    let out = go.run(
        "cache-2",
        &["mod", "download", "-json", "example.com/signed@v1.0.0"],
    );
    assert!(out.contains("\"Sum\": \"h1:"), "{out}");

    // The same with vreg named as the database's URL
    // (GOSUMDB="<name>+<key> <url>"), as a go that does not ask the proxy
    // would be set up.
    go.sumdb = Some(format!(
        "{} {}/sumdb/{NAME}",
        go.sumdb.clone().unwrap(),
        go.proxy
    ));
    let out = go.run(
        "cache-3",
        &["mod", "download", "-json", "example.com/signed@v1.0.0"],
    );
    assert!(out.contains("\"Sum\": \"h1:"), "{out}");
}
