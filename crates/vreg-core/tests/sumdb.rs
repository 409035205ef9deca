//! The checksum database through a Go registry, natively: real handler,
//! real SQLite, a real HTTP server on 127.0.0.1 playing the database (the
//! end-to-end suite uses a real one, see tests/tests/sumdb_e2e.rs).

mod common;

use common::{App, ADMIN};
use http::Method;
use serde_json::json;
use vreg_core::storage::lease::take_lease;
use vreg_testkit::{RecordingPublisher, StaticServer};

const LOOKUP: &str = "lookup/example.com/m@v1.0.0";

struct Setup {
    app: App,
    server: Option<StaticServer>,
    _dir: tempfile::TempDir,
    registry: i64,
}

fn setup() -> Setup {
    let mut app = App::new();
    app.config.allow_local_upstreams = true;
    let dir = tempfile::tempdir().unwrap();
    for (path, body) in [
        (LOOKUP, "17\nexample.com/m v1.0.0 h1:abc=\n\nsigned note\n"),
        ("latest", "tree 18\n"),
        ("tile/8/0/000", "full tile"),
        ("tile/8/0/000.p/18", "partial tile"),
    ] {
        let file = dir.path().join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, body).unwrap();
    }
    let server = StaticServer::start(dir.path());
    let group = app.group("acme", None);
    let registry = app.registry(group, "go", "go");
    let set = app.admin(
        Method::PATCH,
        &format!("/virtual_registries/packages/go/registries/{registry}"),
        Some(json!({"checksum_database_name": "sum.test", "checksum_database_url": server.url()})),
    );
    assert_eq!(set.status, 200, "{}", set.message());
    assert_eq!(set.body["checksum_database_name"], "sum.test");
    Setup {
        app,
        server: Some(server),
        _dir: dir,
        registry,
    }
}

impl Setup {
    fn get(&self, path: &str) -> vreg_core::http::body::CollectedResponse {
        self.app.go(
            Method::GET,
            &format!(
                "/virtual_registries/packages/go/{}/sumdb/{path}",
                self.registry
            ),
            Some(ADMIN),
            &[],
            &RecordingPublisher::default(),
        )
    }

    fn asked(&self) -> usize {
        self.server.as_ref().unwrap().requests()
    }
}

#[test]
fn the_checksum_database_is_proxied_and_a_warm_proxy_answers_offline() {
    let mut s = setup();
    assert_eq!(s.get("sum.test/supported").status, 200);
    assert_eq!(
        s.get("sum.golang.org/supported").status,
        404,
        "another database"
    );

    let lookup = s.get(&format!("sum.test/{LOOKUP}"));
    assert_eq!(lookup.status, 200);
    assert!(String::from_utf8_lossy(&lookup.body).contains("h1:abc="));
    assert_eq!(s.get("sum.test/tile/8/0/000").body, b"full tile");
    assert_eq!(s.get("sum.test/tile/8/0/000.p/18").body, b"partial tile");
    assert_eq!(s.get("sum.test/latest").body, b"tree 18\n");
    let asked = s.asked();

    // Lookups and full tiles are kept for good; the moving parts are kept
    // for a minute.
    s.get(&format!("sum.test/{LOOKUP}"));
    s.get("sum.test/tile/8/0/000");
    s.get("sum.test/latest");
    assert_eq!(s.asked(), asked, "all from the store");
    s.app.clock.advance(61_000);
    assert_eq!(s.get("sum.test/latest").body, b"tree 18\n");
    assert_eq!(s.asked(), asked + 1, "latest asked again");

    // The database goes away: everything it said before is still served.
    s.server = None;
    s.app.clock.advance(61_000);
    assert_eq!(s.get(&format!("sum.test/{LOOKUP}")).status, 200);
    assert_eq!(s.get("sum.test/tile/8/0/000").body, b"full tile");
    assert_eq!(s.get("sum.test/tile/8/0/000.p/18").body, b"partial tile");
    assert_eq!(s.get("sum.test/latest").body, b"tree 18\n");
    // What it was never asked cannot be answered.
    assert_eq!(
        s.get("sum.test/lookup/example.com/other@v1.0.0").status,
        502
    );
}

/// What never changes (a lookup, a full tile) is recorded for the
/// caller's audience: asked again, it is answered with no SQL and no
/// database request. What moves (`latest`, a partial tile) is not; a
/// `nosum_patterns` change is seen at once.
#[test]
fn answers_that_never_change_are_read_again_with_no_sql() {
    let s = setup();
    let group = s.app.sql_text("SELECT CAST(id AS TEXT) FROM groups");
    s.app.ok(
        Method::PATCH,
        &format!("/groups/{group}"),
        Some(json!({"visibility": "public"})),
    );
    let token = s
        .app
        .token(json!({"name": "ci", "scopes": ["read_registry"]}));
    // (The sweep and the resending of due triggers, which read SQL now
    // and then, held off.)
    for held in ["storage:sweep", "go_proxy:resend_due"] {
        take_lease(&s.app.kv, held, 0, i64::MAX / 2).unwrap();
    }
    let get = |method: Method, path: &str, token: Option<&str>| {
        let path = format!(
            "/virtual_registries/packages/go/{}/sumdb/sum.test/{path}",
            s.registry
        );
        let publisher = RecordingPublisher::default();
        s.app.go(method, &path, token, &[], &publisher)
    };
    let costs = |method: Method, path: &str, token: Option<&str>| {
        let (statements, asked) = (s.app.sql.statements(), s.asked());
        let reply = get(method, path, token);
        let sql = s.app.sql.statements() - statements;
        (reply, sql, s.asked() - asked)
    };
    for who in [None, Some(token.as_str())] {
        for path in [LOOKUP, "tile/8/0/000"] {
            let (first, sql, _) = costs(Method::GET, path, who);
            assert_eq!(first.status, 200, "{path}");
            assert!(sql > 0, "{path}: the first ask goes the full way");
            let (again, sql, asked) = costs(Method::GET, path, who);
            assert_eq!((again.status, &again.body), (200, &first.body), "{path}");
            assert_eq!(again.headers["content-type"], first.headers["content-type"]);
            assert_eq!((sql, asked), (0, 0), "{path}: from the record");
            let (head, sql, _) = costs(Method::HEAD, path, who);
            assert_eq!((head.status, head.body.len(), sql), (200, 0, 0), "{path}");
        }
        for path in ["latest", "tile/8/0/000.p/18"] {
            get(Method::GET, path, who);
            let (again, sql, _) = costs(Method::GET, path, who);
            assert_eq!(again.status, 200, "{path}");
            assert!(sql > 0, "{path} moves: not recorded");
        }
    }
    // The module made private to the database: refused at once.
    let set = s.app.admin(
        Method::PATCH,
        &format!("/virtual_registries/packages/go/registries/{}", s.registry),
        Some(json!({"nosum_patterns": ["example.com/m"]})),
    );
    assert_eq!(set.status, 200, "{}", set.message());
    assert_eq!(get(Method::GET, LOOKUP, None).status, 403);
    assert_eq!(get(Method::GET, LOOKUP, Some(&token)).status, 403);
}

#[test]
fn only_protocol_paths_reach_the_database() {
    let s = setup();
    for bad in [
        "sum.test/other",
        "sum.test/lookup/../../etc/passwd@v1",
        "sum.test/tile/8/0/..%2f..%2fx",
        "sum.test/tile/x/0/000",
        "sum.test",
    ] {
        let reply = s.get(bad);
        assert_eq!(reply.status, 404, "{bad}");
    }
    assert_eq!(
        s.get("sum.test/lookup/example.com/absent@v1.0.0").status,
        404
    );
    assert_eq!(s.asked(), 1, "only the last one was asked");
}

#[test]
fn the_checksum_database_setting_is_validated() {
    let mut app = App::new();
    app.config.allow_local_upstreams = false;
    let group = app.group("acme", None);
    let registry = app.registry(group, "go", "go");
    let path = format!("/virtual_registries/packages/go/registries/{registry}");
    let shown = app.ok(Method::GET, &path, None);
    assert_eq!(shown["checksum_database_name"], "sum.golang.org");
    assert_eq!(shown["checksum_database_url"], "https://sum.golang.org");
    for bad in [
        json!({"checksum_database_url": "http://127.0.0.1:1/"}),
        json!({"checksum_database_url": "ftp://sum.example.com"}),
        json!({"checksum_database_name": "sum golang"}),
        json!({"checksum_database_name": ""}),
    ] {
        let reply = app.admin(Method::PATCH, &path, Some(bad.clone()));
        assert_eq!(reply.status, 422, "{bad}: {}", reply.message());
    }
    let reply = app.admin(
        Method::PATCH,
        &path,
        Some(json!({"checksum_database_url": 5})),
    );
    assert_eq!(reply.status, 400);
}

#[test]
fn nosum_modules_are_refused_on_the_checksum_database_routes() {
    let s = setup();
    let set = s.app.admin(
        Method::PATCH,
        &format!("/virtual_registries/packages/go/registries/{}", s.registry),
        Some(json!({"nosum_patterns": ["example.com/*"]})),
    );
    assert_eq!(set.status, 200, "{}", set.message());
    let refused = s.get(&format!("sum.test/{LOOKUP}"));
    assert_eq!(refused.status, 403);
    assert!(String::from_utf8_lossy(&refused.body).contains("GONOSUMDB"));
    assert_eq!(s.asked(), 0, "the database was not asked");
    assert_eq!(
        s.get("sum.test/tile/8/0/000").status,
        200,
        "tiles name no module"
    );
}
