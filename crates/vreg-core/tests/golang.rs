//! The Go module proxy and the sync worker, natively: the real handlers,
//! real SQLite, a GOPROXY-layout origin served on 127.0.0.1.

mod common;

use std::io::Write;
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::{go_in, App, ADMIN};
use http::Method;
use serde_json::json;
use vreg_core::crypto::sha256_hex;
use vreg_core::domain::resolved::{go_file_place, go_public_view_key, go_synced_key};
use vreg_core::golang::sync::{Outcome, SETTLE_MILLIS};
use vreg_core::storage::lease::take_lease;
use vreg_core::storage::{Clock, Kv};
use vreg_core::{Context, LazyConfig};
use vreg_testkit::{RecordingPublisher, StaticServer};

fn make_zip(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut writer = zip::ZipWriter::new(&mut out);
        for (name, contents) in files {
            writer
                .start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            writer.write_all(contents).unwrap();
        }
        writer.finish().unwrap();
    }
    out.into_inner()
}

/// Writes `module@version` in GOPROXY layout under `root`.
fn publish_origin(root: &Path, module: &str, version: &str, go_mod: &str) -> Vec<u8> {
    let dir = root
        .join(vreg_core::golang::module::escape(module))
        .join("@v");
    std::fs::create_dir_all(&dir).unwrap();
    let prefix = format!("{module}@{version}/");
    let zip = make_zip(&[
        (&format!("{prefix}go.mod"), go_mod.as_bytes()),
        (&format!("{prefix}lib.go"), b"package lib\n"),
    ]);
    std::fs::write(dir.join(format!("{version}.zip")), &zip).unwrap();
    std::fs::write(dir.join(format!("{version}.mod")), go_mod).unwrap();
    std::fs::write(
        dir.join(format!("{version}.info")),
        json!({"Version": version, "Time": "2026-01-01T00:00:00Z"}).to_string(),
    )
    .unwrap();
    let list = dir.join("list");
    let mut existing = std::fs::read_to_string(&list).unwrap_or_default();
    existing.push_str(&format!("{version}\n"));
    std::fs::write(list, existing).unwrap();
    zip
}

struct Proxy {
    app: App,
    origin: Option<StaticServer>,
    dir: tempfile::TempDir,
    registry: i64,
    project: i64,
    publisher: RecordingPublisher,
}

fn proxy() -> Proxy {
    let mut app = App::new();
    app.config.allow_local_upstreams = true;
    let dir = tempfile::tempdir().unwrap();
    let origin = StaticServer::start(dir.path());
    let group = app.public_group("acme");
    let project = app.public_project("mods", group);
    let registry = app.registry(group, "go", "go");
    let local = app
        .create_upstream(
            group,
            "go",
            json!({"name": "local", "mode": "local", "target_project_id": project}),
        )
        .id();
    let remote = app
        .create_upstream(group, "go", json!({"name": "origin", "url": origin.url()}))
        .id();
    assert_eq!(app.link("go", registry, local).status, 201);
    assert_eq!(app.link("go", registry, remote).status, 201);
    Proxy {
        app,
        origin: Some(origin),
        dir,
        registry,
        project,
        publisher: RecordingPublisher::default(),
    }
}

impl Proxy {
    /// Puts `module@version`, with a go.mod of its own path, on the origin;
    /// the zip.
    fn on_origin(&self, module: &str, version: &str) -> Vec<u8> {
        publish_origin(
            self.dir.path(),
            module,
            version,
            &format!("module {module}\n"),
        )
    }

    /// Puts `module@version` on the origin, reads its zip through the
    /// registry (from the origin) and runs the sync that read scheduled,
    /// which must store it; the zip.
    fn synced_from_origin(&self, module: &str, version: &str) -> Vec<u8> {
        let zip = self.on_origin(module, version);
        assert_eq!(self.get(&format!("{module}/@v/{version}.zip")).body, zip);
        let key = (self.publisher.messages.lock().unwrap().last().unwrap().0).clone();
        let outcome = self.app.announce(&key, &self.publisher).unwrap();
        assert_eq!(outcome, Outcome::Stored);
        zip
    }

    /// Publishes `module@version` (its go.mod and one file of Go) to
    /// `project`, which must take it; the zip.
    fn publish_local(&self, project: i64, module: &str, version: &str) -> Vec<u8> {
        let go_mod = format!("module {module}\n");
        let zip = make_zip(&[
            (&format!("{module}@{version}/go.mod"), go_mod.as_bytes()),
            (&format!("{module}@{version}/local.go"), b"package local\n"),
        ]);
        let path = format!("/projects/{project}/packages/go/{module}/@v/{version}.zip");
        let put = self
            .app
            .go(Method::PUT, &path, Some(ADMIN), &zip, &self.publisher);
        assert_eq!(put.status, 200, "{}", String::from_utf8_lossy(&put.body));
        zip
    }

    /// Makes the project, then the group, private.
    fn make_private(&self) {
        let group = self.app.sql_text("SELECT CAST(id AS TEXT) FROM groups");
        let private = || Some(json!({"visibility": "private"}));
        let project = format!("/projects/{}", self.project);
        self.app.ok(Method::PUT, &project, private());
        self.app
            .ok(Method::PATCH, &format!("/groups/{group}"), private());
    }

    /// The keys of sync leases, and of the counts that settled who
    /// created them, in the key-value store.
    fn sync_lease_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = (self.app.kv.keys().into_iter())
            .filter(|k| k.starts_with("lease") && k.contains(":sync_packages:"))
            .collect();
        keys.sort();
        keys
    }

    fn get(&self, path: &str) -> vreg_core::http::body::CollectedResponse {
        self.app.go(
            Method::GET,
            &format!("/virtual_registries/packages/go/{}/{path}", self.registry),
            None,
            &[],
            &self.publisher,
        )
    }
}

#[test]
fn a_miss_is_served_from_the_origin_and_synced_exactly_once() {
    let mut p = proxy();
    let zip = p.on_origin("example.com/Upper/lib", "v1.2.0");
    let first = p.get("example.com/!upper/lib/@v/v1.2.0.zip");
    assert_eq!(first.status, 200);
    assert_eq!(first.body, zip);
    for _ in 0..5 {
        assert_eq!(p.get("example.com/!upper/lib/@v/v1.2.0.zip").status, 200);
        assert_eq!(
            p.get("example.com/!upper/lib/@v/v1.2.0.mod").body,
            b"module example.com/Upper/lib\n"
        );
    }
    let messages = p.publisher.messages.lock().unwrap().clone();
    assert_eq!(
        messages.len(),
        1,
        "one trigger for the version, whatever the requests"
    );
    let key = &messages[0].0;
    assert!(key.starts_with("vreg-sync:"), "{key}");
    assert_eq!(p.app.count("sync_jobs"), 1);
    let lease_keys = p.sync_lease_keys();
    assert_eq!(
        lease_keys.len(),
        2,
        "the lease and its creation count: {lease_keys:?}"
    );

    // Announcements of other keys are not triggers.
    assert!(matches!(
        p.app.announce("unrelated", &p.publisher).unwrap(),
        Outcome::Ignored(_)
    ));
    // The worker takes the trigger off the queue and stores the version,
    // once the settle time since the request has passed (out of the way of
    // the requests of the same build); a second announcement finds it
    // taken, and a second run of the same payload (a resend: long past its
    // request) waits for nothing and stores nothing twice.
    let before = p.app.clock.now_millis();
    assert_eq!(p.app.announce(key, &p.publisher).unwrap(), Outcome::Stored);
    assert_eq!(p.app.clock.now_millis() - before, SETTLE_MILLIS);
    // Stored: its lease, and the count that settled who took it, are gone
    // (nothing will schedule it again; they would stay for good).
    assert_eq!(p.sync_lease_keys(), Vec::<String>::new());
    assert_eq!(
        p.app.announce(key, &p.publisher).unwrap(),
        Outcome::Ignored("taken by another worker".into())
    );
    let before = p.app.clock.now_millis();
    assert_eq!(
        p.app.sync(&messages[0].1, &p.publisher).unwrap(),
        Outcome::AlreadyStored
    );
    assert_eq!(p.app.clock.now_millis(), before, "no wait");
    assert_eq!(p.app.count("packages"), 1);
    assert_eq!(p.app.count("package_files"), 3);
    let state = p.app.sql_text("SELECT state FROM sync_jobs");
    assert_eq!(state, "done");
    let h1 = p
        .app
        .sql_text("SELECT h1 FROM package_files WHERE file_name = 'v1.2.0.zip'");
    assert_eq!(
        h1,
        vreg_core::golang::zipcheck::check_zip("example.com/Upper/lib", "v1.2.0", zip.as_slice())
            .unwrap()
            .h1
    );

    // With the origin gone, the store answers.
    p.origin = None;
    assert_eq!(p.get("example.com/!upper/lib/@v/v1.2.0.zip").body, zip);
    assert_eq!(p.get("example.com/!upper/lib/@v/v1.2.0.info").status, 200);
    assert_eq!(p.get("example.com/!upper/lib/@v/v1.9.9.zip").status, 502);
    // A version the path's major-version suffix rules out cannot exist.
    assert_eq!(p.get("example.com/!upper/lib/@v/v9.9.9.zip").status, 404);
}

/// An anonymous read of a public registry's stored file is served the
/// second time with no SQL at all (small files from the record itself,
/// the zip from its blob), until any change could alter the answer.
#[test]
fn stored_files_are_read_without_sql_until_the_configuration_changes() {
    let p = proxy();
    let zip = p.synced_from_origin("example.com/fast", "v1.0.0");
    for file in ["v1.0.0.info", "v1.0.0.mod", "v1.0.0.zip"] {
        assert_eq!(p.get(&format!("example.com/fast/@v/{file}")).status, 200);
    }
    // The sweep that 1 request in 16 may run after its answer: held
    // elsewhere for now, so it cannot add statements at random.
    take_lease(&p.app.kv, "storage:sweep", 0, i64::MAX / 2).unwrap();
    let statements = p.app.sql.statements();
    let zip_again = p.get("example.com/fast/@v/v1.0.0.zip");
    assert_eq!(zip_again.body, zip);
    assert_eq!(zip_again.headers["content-type"], "application/zip");
    let info = p.get("example.com/fast/@v/v1.0.0.info");
    assert_eq!(info.headers["content-type"], "application/json");
    assert_eq!(
        p.get("example.com/fast/@v/v1.0.0.mod").body,
        b"module example.com/fast\n"
    );
    assert_eq!(p.app.sql.statements(), statements, "no SQL statement");

    // The group made private: anonymous readers are turned away at once.
    p.make_private();
    assert_eq!(p.get("example.com/fast/@v/v1.0.0.zip").status, 401);
}

/// A stored token's reads of a private registry's stored files leave
/// records only that token's later reads are answered from (no SQL);
/// other callers go the full way, and a revoked token is refused at once.
#[test]
fn a_tokens_reads_of_stored_files_skip_sql_until_it_is_revoked() {
    let p = proxy();
    let synced = p.synced_from_origin("example.com/fast", "v1.0.0");
    let local = p.publish_local(p.project, "example.com/mine", "v0.1.0");
    p.make_private();
    take_lease(&p.app.kv, "storage:sweep", 0, i64::MAX / 2).unwrap();
    let token = p
        .app
        .token(json!({"name": "ci", "scopes": ["read_registry"]}));
    let other = p
        .app
        .token(json!({"name": "other", "scopes": ["read_registry"]}));
    let get = |path: &str, token: Option<&str>| {
        let path = format!("/virtual_registries/packages/go/{}/{path}", p.registry);
        p.app.go(Method::GET, &path, token, &[], &p.publisher)
    };
    let files = [
        ("example.com/fast/@v/v1.0.0.zip", synced.clone()),
        ("example.com/mine/@v/v0.1.0.zip", local.clone()),
        (
            "example.com/fast/@v/v1.0.0.mod",
            b"module example.com/fast\n".to_vec(),
        ),
    ];
    for (path, body) in &files {
        assert_eq!(get(path, Some(&token)).body, *body, "{path}");
        let statements = p.app.sql.statements();
        let again = get(path, Some(&token));
        assert_eq!(p.app.sql.statements(), statements, "no SQL: {path}");
        assert_eq!((again.status, &again.body), (200, body));
        assert_eq!(get(path, Some(&other)).body, *body);
        assert!(p.app.sql.statements() > statements, "another token: SQL");
        assert_eq!(get(path, None).status, 401);
        assert_eq!(get(path, Some("made-up")).status, 401);
    }
    let tokens = p.app.ok(Method::GET, "/personal_access_tokens", None);
    let id = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "ci")
        .unwrap()["id"]
        .clone();
    let revoked = p.app.admin(
        Method::DELETE,
        &format!("/personal_access_tokens/{id}"),
        None,
    );
    assert!(revoked.status.is_success(), "{}", revoked.body);
    for (path, _) in &files {
        assert_eq!(get(path, Some(&token)).status, 401, "{path}");
    }
}

/// Reads of a project's modules (GitLab's per-project GOPROXY) leave
/// records for the next read by the same audience: anonymous readers of a
/// public project, or one token's holder; the project made private turns
/// anonymous readers away at once.
#[test]
fn reads_of_a_projects_modules_skip_sql_for_the_same_audience() {
    let p = proxy();
    let zip = p.publish_local(p.project, "example.com/mine", "v0.1.0");
    take_lease(&p.app.kv, "storage:sweep", 0, i64::MAX / 2).unwrap();
    let token = p
        .app
        .token(json!({"name": "ci", "scopes": ["read_registry"]}));
    let get = |asked: &str, token: Option<&str>| {
        let path = format!(
            "/projects/{}/packages/go/example.com/mine/{asked}",
            p.project
        );
        p.app.go(Method::GET, &path, token, &[], &p.publisher)
    };
    let info = get("@v/v0.1.0.info", None).body;
    for who in [None, Some(token.as_str())] {
        for (asked, body) in [
            ("@v/v0.1.0.zip", &zip[..]),
            ("@v/v0.1.0.mod", b"module example.com/mine\n"),
            ("@v/list", b"v0.1.0\n"),
            ("@latest", &info[..]),
        ] {
            assert_eq!(get(asked, who).body, body, "{asked}");
            let statements = p.app.sql.statements();
            let again = get(asked, who);
            assert_eq!(
                p.app.sql.statements(),
                statements,
                "no SQL: {asked} {who:?}"
            );
            assert_eq!((again.status, again.body.as_slice()), (200, body));
        }
    }
    // A module the project does not hold (anyone may make paths up): its
    // empty list and its `@latest` 404 are recorded as a 404 is, on one
    // miss in a few at random (asked until they are: (3/4)^64 is ~1e-8),
    // then answered with no SQL; an upload is seen at once.
    let made_up = |asked: &str| {
        let path = format!(
            "/projects/{}/packages/go/example.com/made/up/{asked}",
            p.project
        );
        p.app.go(Method::GET, &path, None, &[], &p.publisher)
    };
    for (asked, status) in [("@v/list", 200), ("@latest", 404)] {
        let from_record = (0..64).any(|_| {
            let statements = p.app.sql.statements();
            let reply = made_up(asked);
            assert_eq!(reply.status, status, "{asked}");
            if status == 200 {
                assert!(reply.body.is_empty(), "{asked}");
            }
            p.app.sql.statements() == statements
        });
        assert!(from_record, "{asked}: never recorded");
    }
    p.publish_local(p.project, "example.com/made/up", "v0.1.0");
    assert_eq!(made_up("@v/list").body, b"v0.1.0\n");
    assert_eq!(made_up("@latest").status, 200);
    // A new version: listed, and the latest, at once.
    p.publish_local(p.project, "example.com/mine", "v0.2.0");
    assert_eq!(get("@v/list", None).body, b"v0.1.0\nv0.2.0\n");
    let latest: serde_json::Value = serde_json::from_slice(&get("@latest", None).body).unwrap();
    assert_eq!(latest["Version"], "v0.2.0");
    p.make_private();
    assert_eq!(get("@v/v0.1.0.zip", None).status, 401);
    assert_eq!(get("@v/list", None).status, 401);
    assert_eq!(get("@v/v0.1.0.zip", Some(&token)).body, zip);
    assert_eq!(get("@v/list", Some(&token)).body, b"v0.1.0\nv0.2.0\n");
}

/// A relayed read of a version whose sync is already scheduled costs two
/// key-value reads: the batch get (the file's record, the public view,
/// the generation, the sync mark and the two leases scheduling looks at)
/// and the upstream's breaker. Neither lease, seen held, is read again (on
/// Spin each read costs ~8% of a relayed file's throughput).
#[test]
fn a_relayed_read_reads_the_leases_it_may_take_in_its_first_batch() {
    let p = proxy();
    p.on_origin("example.com/m", "v1.0.0");
    take_lease(&p.app.kv, "storage:sweep", 0, i64::MAX / 2).unwrap();
    assert_eq!(p.get("example.com/m/@v/v1.0.0.info").status, 200);
    assert_eq!(p.publisher.messages.lock().unwrap().len(), 1, "scheduled");
    let before = p.app.kv.read_calls().len();
    let module = p.get("example.com/m/@v/v1.0.0.mod");
    assert_eq!(module.body, b"module example.com/m\n");
    let calls: Vec<Vec<String>> = (p.app.kv.read_calls().split_off(before).into_iter())
        .filter(|keys| keys != &["lease:storage:sweep"])
        .collect();
    let sync_lease = format!(
        "lease:go_proxy:sync_packages:{}:example.com/m@v1.0.0",
        p.registry
    );
    assert_eq!(calls.len(), 2, "{calls:#?}");
    assert!(calls[0].contains(&sync_lease), "{calls:#?}");
    assert!(calls[0].contains(&"lease:go_proxy:resend_due".to_owned()));
    assert!(calls[1][0].starts_with("upstream:health:"), "{calls:#?}");
    // Still scheduled once.
    assert_eq!(p.publisher.messages.lock().unwrap().len(), 1);
}

#[test]
fn a_first_read_of_a_stored_file_resolves_through_the_registrys_public_view() {
    let p = proxy();
    for version in ["v1.0.0", "v1.1.0"] {
        p.synced_from_origin("example.com/view", version);
    }
    // The origin takes credentials, which the view keeps sealed.
    let remote = p
        .app
        .sql_text("SELECT CAST(id AS TEXT) FROM upstreams WHERE name = 'origin'");
    let credentials = json!({"username": "deploy", "password": "s3cret-pass"});
    let upstream = format!("/virtual_registries/packages/go/upstreams/{remote}");
    p.app.ok(Method::PATCH, &upstream, Some(credentials));
    // One full read keeps the registry's public view.
    assert_eq!(p.get("example.com/view/@v/v1.0.0.info").status, 200);
    take_lease(&p.app.kv, "storage:sweep", 0, i64::MAX / 2).unwrap();
    let statements = p.app.sql.statements();
    // Another file's first read: the local upstream's ownership of the
    // module (this registry has one) and the file; no schema check, no
    // registry, upstream, group or project queries.
    assert_eq!(
        p.get("example.com/view/@v/v1.1.0.mod").body,
        b"module example.com/view\n"
    );
    assert_eq!(p.app.sql.statements() - statements, 2);
    // Its second read: its own record, no SQL.
    assert_eq!(p.get("example.com/view/@v/v1.1.0.mod").status, 200);
    assert_eq!(p.app.sql.statements() - statements, 2);
    // Not synced (no mark), of a module no local upstream holds: served
    // from the origin (the view knows it, with its credentials) with no
    // SQL, then scheduled: the job is recorded (and its row returned, for
    // its trigger).
    let zip = p.on_origin("example.com/view", "v1.2.0");
    let health = format!("upstream:health:{remote}");
    let health_reads = p.app.kv.reads_of(&health);
    let statements = p.app.sql.statements();
    assert_eq!(p.get("example.com/view/@v/v1.2.0.zip").body, zip);
    assert_eq!(p.app.sql.statements() - statements, 1);
    assert_eq!(p.publisher.messages.lock().unwrap().len(), 3);
    let origin = p.origin.as_ref().unwrap();
    let basic = format!("Basic {}", STANDARD.encode("deploy:s3cret-pass"));
    assert_eq!(origin.authorizations().last(), Some(&basic));
    // Its breaker is read once, before the request (a success of a
    // healthy upstream then needs nothing more).
    assert_eq!(p.app.kv.reads_of(&health), health_reads + 1);
    for key in p.app.kv.keys() {
        let value = p.app.kv.get(&key).unwrap().unwrap_or_default();
        let clear = value.windows(11).any(|w| w == b"s3cret-pass");
        assert!(!clear, "{key} holds the password in clear");
    }
    // Another file of that version, its sync already scheduled: none.
    let statements = p.app.sql.statements();
    assert_eq!(
        p.get("example.com/view/@v/v1.2.0.mod").body,
        b"module example.com/view\n"
    );
    assert_eq!(p.app.sql.statements() - statements, 0);
    assert_eq!(p.publisher.messages.lock().unwrap().len(), 3);
    assert_eq!(origin.authorizations().last(), Some(&basic));

    // The group made private: the kept view is stale at once.
    p.make_private();
    assert_eq!(p.get("example.com/view/@v/v1.0.0.zip").status, 401);
}

/// Through the public view, a version the registry has not marked synced,
/// of a module no local upstream holds, is asked of the origin with no SQL;
/// one stored whose mark is gone is still served when the origin cannot
/// serve it; and what protection withholds is never asked of the origin.
#[test]
fn an_unsynced_version_goes_to_the_origin_with_no_sql_and_protection_holds() {
    let mut p = proxy();
    let zip = p.synced_from_origin("example.com/u", "v1.0.0");
    let mark = go_synced_key(p.registry, "example.com/u", "v1.0.0");
    assert!(p.app.kv.get(&mark).unwrap().is_some(), "the sync marks it");
    let settings = json!({"protected_namespaces": ["example.com/corp"]});
    let registry = format!("/virtual_registries/packages/go/registries/{}", p.registry);
    p.app.ok(Method::PATCH, &registry, Some(settings));
    p.publish_local(p.project, "example.com/held", "v1.0.0");
    p.on_origin("example.com/corp/secret", "v1.0.0");
    p.on_origin("example.com/held/sub", "v1.0.0");
    p.on_origin("example.com/new", "v1.0.0");
    // A full read keeps the view.
    assert_eq!(p.get("example.com/u/@v/v1.0.0.info").status, 200);
    take_lease(&p.app.kv, "storage:sweep", 0, i64::MAX / 2).unwrap();

    let statements = p.app.sql.statements();
    let new = p.get("example.com/new/@v/v1.0.0.mod");
    assert_eq!(new.body, b"module example.com/new\n");
    assert_eq!(p.app.sql.statements() - statements, 1, "the job alone");
    let origin = p.origin.as_ref().unwrap();
    let asked = origin.requests();
    for protected in ["example.com/corp/secret", "example.com/held/sub"] {
        let read = p.get(&format!("{protected}/@v/v1.0.0.info"));
        assert_eq!(read.status, 404, "{protected}");
    }
    assert_eq!(origin.requests(), asked, "the origin was not asked");

    // Stored, its mark gone, and the origin down: from the store.
    p.app.kv.delete(&mark).unwrap();
    p.origin = None;
    let go_mod = p.get("example.com/u/@v/v1.0.0.mod");
    assert_eq!(go_mod.body, b"module example.com/u\n");
    assert_eq!(p.get("example.com/u/@v/v1.0.0.zip").body, zip);
    assert_eq!(p.get("example.com/u/@v/v1.9.9.zip").status, 502);
    // A sync that finds it stored marks it again.
    let message = p.publisher.messages.lock().unwrap()[0].1.clone();
    let again = p.app.sync(&message, &p.publisher).unwrap();
    assert_eq!(again, Outcome::AlreadyStored);
    assert!(p.app.kv.get(&mark).unwrap().is_some());
}

#[test]
fn a_files_record_names_its_chunks_so_reads_skip_the_manifest() {
    let mut p = proxy();
    p.app.config.blob_chunk_bytes = 4096;
    // A zip past what a record keeps in itself, in several chunks (hex
    // text deflates to about half).
    let mut source = String::from("package big\n");
    let mut seed = b"seed".to_vec();
    while source.len() < 48 * 1024 {
        seed = sha256_hex(&seed).into_bytes();
        source.push_str(&format!("// {}\n", String::from_utf8_lossy(&seed)));
    }
    let (module, version) = ("example.com/big", "v1.0.0");
    let zip = make_zip(&[
        (
            &format!("{module}@{version}/go.mod"),
            b"module example.com/big\n",
        ),
        (&format!("{module}@{version}/big.go"), source.as_bytes()),
    ]);
    assert!(zip.len() > 4 * 4096, "{}", zip.len());
    let put = format!(
        "/projects/{}/packages/go/{module}/@v/{version}.zip",
        p.project
    );
    let published = p.app.go(Method::PUT, &put, Some(ADMIN), &zip, &p.publisher);
    assert_eq!(published.status, 200);

    // The first anonymous read keeps the file's record; the next ones
    // read its chunks straight away.
    let path = format!("{module}/@v/{version}.zip");
    assert_eq!(p.get(&path).body, zip);
    let manifest = format!("blob:{}", sha256_hex(&zip));
    let manifest_reads = p.app.kv.reads_of(&manifest);
    for _ in 0..2 {
        assert_eq!(p.get(&path).body, zip);
    }
    assert_eq!(p.app.kv.reads_of(&manifest), manifest_reads);
    // Nor a setting (on Spin each is a host call): a reader takes the
    // chunk size from the blob. (The sweep that 1 request in 16 may run
    // after its answer reads them: held elsewhere here.)
    take_lease(&p.app.kv, "storage:sweep", 0, i64::MAX / 2).unwrap();
    let loads = std::cell::Cell::new(0);
    let config = LazyConfig::new(|| {
        loads.set(loads.get() + 1);
        (*p.app.config).clone()
    });
    let ctx = Context {
        config: &config,
        ..p.app.context(&p.publisher)
    };
    let full = format!("/virtual_registries/packages/go/{}/{path}", p.registry);
    assert_eq!(go_in(&ctx, Method::GET, &full, None, &[]).body, zip);
    assert_eq!(loads.get(), 0, "no setting read");

    // The blob written again under other chunks (it was collected and
    // stored anew): the record's chunks are gone, the manifest is read.
    let mut stored: serde_json::Value =
        serde_json::from_slice(&p.app.kv.get(&manifest).unwrap().unwrap()).unwrap();
    let old: Vec<String> = serde_json::from_value(stored["chunks"].clone()).unwrap();
    let mut new = Vec::new();
    for (n, key) in old.iter().enumerate() {
        let chunk = p.app.kv.get(key).unwrap().unwrap();
        new.push(format!("chunk:rewritten:{n}"));
        p.app.kv.set(&new[n], &chunk).unwrap();
        p.app.kv.delete(key).unwrap();
    }
    stored["chunks"] = json!(new);
    let stored = serde_json::to_vec(&stored).unwrap();
    p.app.kv.set(&manifest, &stored).unwrap();
    let manifest_reads = p.app.kv.reads_of(&manifest);
    assert_eq!(p.get(&path).body, zip);
    assert_eq!(p.app.kv.reads_of(&manifest), manifest_reads + 1);
}

#[test]
fn records_go_with_the_local_upstream_retargeted_or_unlinked_and_the_registry_deleted() {
    let p = proxy();
    p.synced_from_origin("example.com/synced", "v1.0.0");
    p.publish_local(p.project, "example.com/local", "v1.0.0");
    // Anonymous reads keep the view and a record of each file they read.
    let read = [
        ("example.com/synced", "v1.0.0.mod"),
        ("example.com/local", "v1.0.0.mod"),
        ("example.com/local", "v1.0.0.zip"),
    ];
    for (module, file) in read {
        assert_eq!(p.get(&format!("{module}/@v/{file}")).status, 200);
    }
    let view = go_public_view_key(p.registry);
    let file_key = |module: &str, file: &str| {
        go_file_place(p.registry, module, file)
            .stored_at()
            .to_owned()
    };
    let kept = || -> Vec<String> {
        let files = format!("go:resolved:{}:", p.registry);
        let mut keys = p.app.kv.keys();
        keys.retain(|k| k.starts_with(&files) || *k == view);
        keys.sort();
        keys
    };
    let mut expected: Vec<String> = read
        .iter()
        .map(|(module, file)| file_key(module, file))
        .chain([view.clone()])
        .collect();
    expected.sort();
    assert_eq!(kept(), expected);

    // The local upstream pointed at another project: the records of the
    // first one's files go (.info, .mod and .zip are queued; two were kept).
    let group = p.app.sql_text("SELECT CAST(id AS TEXT) FROM groups");
    let other = p.app.project("other", group.parse().unwrap());
    let local = p
        .app
        .sql_text("SELECT CAST(id AS TEXT) FROM upstreams WHERE name = 'local'");
    let retarget = json!({"target_project_id": other});
    let upstream = format!("/virtual_registries/packages/go/upstreams/{local}");
    p.app.ok(Method::PATCH, &upstream, Some(retarget));
    let report = p.app.ok(Method::POST, "/storage/gc", None);
    assert_eq!(report["forgotten_go_records"], 3, "{report}");
    let synced = file_key("example.com/synced", "v1.0.0.mod");
    let mut left = vec![synced, view.clone()];
    left.sort();
    assert_eq!(kept(), left);
    // Pointed back, read again, then unlinked: they go again.
    let back = json!({"target_project_id": p.project});
    p.app.ok(Method::PATCH, &upstream, Some(back));
    assert_eq!(p.get("example.com/local/@v/v1.0.0.mod").status, 200);
    assert!(kept().contains(&file_key("example.com/local", "v1.0.0.mod")));

    let link = p.app.sql_text(
        "SELECT CAST(l.id AS TEXT) FROM registry_upstreams l
         JOIN upstreams u ON u.id = l.upstream_id WHERE u.name = 'local'",
    );
    let unlink = format!("/virtual_registries/packages/go/registry_upstreams/{link}");
    p.app.ok(Method::DELETE, &unlink, None);
    let report = p.app.ok(Method::POST, "/storage/gc", None);
    assert_eq!(report["forgotten_go_records"], 3, "{report}");
    assert_eq!(kept(), left);

    // The registry deleted: its view, the records of what was synced into
    // it and the mark of its sync go (the view and three files queued).
    let mark = go_synced_key(p.registry, "example.com/synced", "v1.0.0");
    assert!(p.app.kv.get(&mark).unwrap().is_some());
    // (A record and a mark at their keys' spelling before name hashing,
    // as an earlier version left them, go too.)
    let sha = |name: &str| vreg_core::crypto::sha256_hex(name.as_bytes());
    let old_record = format!(
        "go:resolved:{}:{}",
        p.registry,
        sha("example.com/synced@v1.0.0.zip")
    );
    let old_mark = format!(
        "go:synced:{}:{}",
        p.registry,
        sha("example.com/synced@v1.0.0")
    );
    for key in [&old_record, &old_mark] {
        p.app.kv.set(key, b"left by an earlier version").unwrap();
    }
    let registry = format!("/virtual_registries/packages/go/registries/{}", p.registry);
    p.app.ok(Method::DELETE, &registry, None);
    let report = p.app.ok(Method::POST, "/storage/gc", None);
    assert_eq!(report["forgotten_go_records"], 4, "{report}");
    assert_eq!(kept(), Vec::<String>::new());
    assert!(p.app.kv.get(&mark).unwrap().is_none());
    assert!(p.app.kv.get(&old_mark).unwrap().is_none());

    // The project's module is still there, served from the project.
    let from_project = p.app.go(
        Method::GET,
        &format!(
            "/projects/{}/packages/go/example.com/local/@v/v1.0.0.mod",
            p.project
        ),
        None,
        &[],
        &p.publisher,
    );
    assert_eq!(from_project.body, b"module example.com/local\n");
}

#[test]
fn list_and_latest_merge_origin_and_store() {
    let p = proxy();
    for v in [
        "v1.0.0",
        "v1.1.0-rc.1",
        "v2.0.0+incompatible",
        "v0.0.0-20260101000000-abcdef123456",
    ] {
        p.on_origin("example.com/m", v);
    }
    let list = String::from_utf8(p.get("example.com/m/@v/list").body).unwrap();
    assert_eq!(
        list, "v1.0.0\nv1.1.0-rc.1\nv2.0.0+incompatible\n",
        "no pseudo-versions, in order"
    );
    let latest: serde_json::Value =
        serde_json::from_slice(&p.get("example.com/m/@latest").body).unwrap();
    assert_eq!(latest["Version"], "v2.0.0+incompatible");
    assert_eq!(p.get("example.com/none/@v/list").body, b"");
    assert_eq!(p.get("example.com/none/@latest").status, 404);
}

/// `@v/list` and `@latest` (what `go get -u` and `go list -m -versions`
/// ask of every module) leave a record of their answer: the next ask by
/// the same audience costs no SQL and no remote, for as long as the merged
/// list is cached. An upload is seen at once; a new tag at the origin once
/// the list's time is up; an answer a remote failed to give is not kept.
#[test]
fn list_and_latest_answers_are_recorded_while_the_list_is_cached() {
    let mut p = proxy();
    p.app.config.list_cache_seconds = 30;
    p.on_origin("example.com/m", "v1.0.0");
    take_lease(&p.app.kv, "storage:sweep", 0, i64::MAX / 2).unwrap();
    let origin = p.origin.as_ref().unwrap();
    let asks = ["example.com/m/@v/list", "example.com/m/@latest"];
    let first: Vec<_> = asks.iter().map(|path| p.get(path).body).collect();
    assert_eq!(first[0], b"v1.0.0\n");
    let (statements, requests) = (p.app.sql.statements(), origin.requests());
    for (path, body) in asks.iter().zip(&first) {
        let again = p.get(path);
        assert_eq!((again.status, &again.body), (200, body), "{path}");
        assert_eq!(p.app.sql.statements(), statements, "no SQL: {path}");
        assert_eq!(origin.requests(), requests, "no remote asked: {path}");
    }
    let head = p.app.go(
        Method::HEAD,
        &format!("/virtual_registries/packages/go/{}/{}", p.registry, asks[0]),
        None,
        &[],
        &p.publisher,
    );
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(p.app.sql.statements(), statements, "no SQL: HEAD");

    // A token holder's answer is its own: the anonymous record is not it.
    let with_token = p.app.go(
        Method::GET,
        &format!("/virtual_registries/packages/go/{}/{}", p.registry, asks[0]),
        Some(ADMIN),
        &[],
        &p.publisher,
    );
    assert_eq!(with_token.body, b"v1.0.0\n");
    assert!(
        p.app.sql.statements() > statements,
        "a token goes the full way first"
    );

    // A new tag at the origin: seen once the list's 30 s are up.
    p.on_origin("example.com/m", "v1.1.0");
    p.app.clock.advance(29_000);
    assert_eq!(p.get(asks[0]).body, b"v1.0.0\n");
    p.app.clock.advance(2_000);
    assert_eq!(p.get(asks[0]).body, b"v1.0.0\nv1.1.0\n");
    let latest: serde_json::Value = serde_json::from_slice(&p.get(asks[1]).body).unwrap();
    assert_eq!(latest["Version"], "v1.1.0");

    // An upload to the local upstream's project: seen at once (the module
    // is the project's now, its remotes' versions no longer listed).
    p.publish_local(p.project, "example.com/m", "v1.2.0");
    assert_eq!(p.get(asks[0]).body, b"v1.2.0\n");
    let latest: serde_json::Value = serde_json::from_slice(&p.get(asks[1]).body).unwrap();
    assert_eq!(latest["Version"], "v1.2.0");

    // The origin failing: the answer is what the others have, and it is
    // kept neither as the list nor as a record, so the origin is asked
    // again next time.
    p.synced_from_origin("example.com/n", "v0.1.0");
    p.on_origin("example.com/n", "v0.2.0");
    origin.set_failing(true);
    let list = "example.com/n/@v/list";
    assert_eq!(p.get(list).body, b"v0.1.0\n");
    origin.set_failing(false);
    assert_eq!(p.get(list).body, b"v0.1.0\nv0.2.0\n");

    // The empty list any made-up module path gets leaves no record: such
    // asks cannot fill the store.
    let records = || {
        let keys = p.app.kv.keys();
        keys.iter().filter(|k| k.starts_with("go:query:")).count()
    };
    let before = records();
    for i in 0..20 {
        assert_eq!(p.get(&format!("example.com/made/up{i}/@v/list")).body, b"");
    }
    assert_eq!(records(), before);
}

/// A version no remote has, and the store does not hold, is a 404 kept for
/// as long as the negative cache keeps one: asked again (through the full
/// way or through the registry's kept public view), it is answered from its
/// record with no SQL and no remote asked, for each audience its own. A
/// remote's failure is not kept; an upload is seen at once, a remote's new
/// tag once the 404's time is up. A made-up module's `@latest` is kept the
/// same way, and its empty list once it is asked again.
#[test]
fn a_version_found_nowhere_is_answered_from_its_record() {
    let mut p = proxy();
    p.app.config.negative_cache_seconds = 30;
    p.app.config.list_cache_seconds = 30;
    // (The sweep and the resending of due triggers, which read SQL now
    // and then, held off.)
    for held in ["storage:sweep", "go_proxy:resend_due"] {
        take_lease(&p.app.kv, held, 0, i64::MAX / 2).unwrap();
    }
    p.on_origin("example.com/m", "v1.0.0");
    let origin = p.origin.as_ref().unwrap();
    let token = p
        .app
        .token(json!({"name": "ci", "scopes": ["read_registry"]}));
    let ask = |method: Method, path: &str, token: Option<&str>| {
        let path = format!("/virtual_registries/packages/go/{}/{path}", p.registry);
        p.app.go(method, &path, token, &[], &p.publisher).status
    };
    let costs = |method: Method, path: &str, token: Option<&str>| {
        let (statements, requests) = (p.app.sql.statements(), origin.requests());
        let status = ask(method, path, token);
        let sql = p.app.sql.statements() - statements;
        (status, sql, origin.requests() - requests)
    };
    // A 404 is recorded on one miss in a few, at random: asked until it
    // is ((3/4)^64 is ~1e-8).
    let recorded = |path: &str, token: Option<&str>| {
        let from_record = (0..64).any(|_| costs(Method::GET, path, token) == (404, 0, 0));
        assert!(from_record, "{path}: never recorded");
    };
    // The first ask goes the full way (and keeps the public view); the
    // second file's first ask goes through that view, to the origin first.
    for path in [
        "example.com/m/@v/v1.5.0.info",
        "example.com/m/@v/v1.5.0.mod",
    ] {
        let (status, _, asked) = costs(Method::GET, path, None);
        assert_eq!((status, asked), (404, 1), "{path}");
        recorded(path, None);
        for method in [Method::GET, Method::HEAD] {
            let again = costs(method.clone(), path, None);
            assert_eq!(again, (404, 0, 0), "{method} {path}: from the record");
        }
    }
    // A token's 404 is its own record.
    let path = "example.com/m/@v/v1.5.0.info";
    let (status, sql, _) = costs(Method::GET, path, Some(&token));
    assert_eq!(status, 404);
    assert!(sql > 0, "a token goes the full way first");
    recorded(path, Some(&token));

    // A remote's failure is not kept: the next ask asks again.
    origin.set_failing(true);
    let failing = "example.com/m/@v/v1.6.0.info";
    assert_eq!(costs(Method::GET, failing, None).0, 502);
    origin.set_failing(false);
    let (status, _, asked) = costs(Method::GET, failing, None);
    assert_eq!((status, asked), (404, 1), "asked again after a failure");

    // A tag at the origin is seen once the 404's 30 s are up.
    p.on_origin("example.com/m", "v1.5.0");
    p.app.clock.advance(29_000);
    assert_eq!(costs(Method::GET, path, None), (404, 0, 0));
    p.app.clock.advance(2_000);
    assert_eq!(ask(Method::GET, path, None), 200);
    // An upload to the local upstream's project is seen at once.
    let mine = "example.com/mine/@v/v0.1.0.info";
    assert_eq!(ask(Method::GET, mine, None), 404);
    recorded(mine, None);
    p.publish_local(p.project, "example.com/mine", "v0.1.0");
    assert_eq!(ask(Method::GET, mine, None), 200);

    // A made-up module's `@latest`: kept as its files' 404s are.
    let latest = "example.com/made/up/@latest";
    assert_eq!(costs(Method::GET, latest, None).0, 404);
    recorded(latest, None);
    // Its empty list: not recorded when asked once (asking made-up paths
    // costs no more writes than the merged-list cache's), recorded when
    // asked again.
    let list = "example.com/made/other/@v/list";
    for _ in 0..2 {
        let (status, sql, _) = costs(Method::GET, list, None);
        assert_eq!(status, 200);
        assert!(sql > 0, "the full way");
    }
    assert_eq!(costs(Method::GET, list, None), (200, 0, 0));
}

/// A module with well over a thousand versions has a list past the 8 KiB a
/// stored file is kept in its record up to: a list is made on the fly and
/// has no chunks to name, so it is kept whole and read again with no SQL
/// and no remote asked. Past `MADE_MAX_BYTES` it is made anew each time.
#[test]
fn a_long_version_list_is_recorded_whole() {
    let mut p = proxy();
    p.app.config.list_cache_seconds = 30;
    take_lease(&p.app.kv, "storage:sweep", 0, i64::MAX / 2).unwrap();
    let origin = p.origin.as_ref().unwrap();
    let list_of = |module: &str, versions: usize| {
        let dir = p.dir.path().join(module).join("@v");
        std::fs::create_dir_all(&dir).unwrap();
        let list: String = (0..versions).map(|i| format!("v1.{i}.0\n")).collect();
        std::fs::write(dir.join("list"), &list).unwrap();
        list
    };
    for (module, versions, recorded) in [
        ("example.com/long", 1_500, true),
        ("example.com/longer", 9_000, false),
    ] {
        let list = list_of(module, versions);
        let path = format!("{module}/@v/list");
        let first = p.get(&path);
        assert_eq!(first.status, 200);
        assert_eq!(
            String::from_utf8(first.body).unwrap().lines().count(),
            versions
        );
        let (statements, requests) = (p.app.sql.statements(), origin.requests());
        let again = p.get(&path);
        assert_eq!(again.status, 200);
        assert_eq!(
            String::from_utf8(again.body).unwrap().lines().count(),
            versions
        );
        let from_record = (p.app.sql.statements(), origin.requests()) == (statements, requests);
        assert_eq!(from_record, recorded, "{module}: {} bytes", list.len());
    }
}

#[test]
fn bad_paths_and_versions_are_refused_as_go_expects() {
    let p = proxy();
    for (path, status) in [
        ("example.com/m/@v/v1.0.zip", 404),
        ("example.com/m/@v/latest.info", 404),
        ("example.com/Upper/@v/list", 400),
        ("nodot/@v/list", 400),
        ("example.com/../x/@v/list", 400),
        ("example.com/m/@v/v1.0.0.exe", 404),
        ("example.com/m", 404),
    ] {
        let r = p.get(path);
        assert_eq!(r.status, status, "{path}");
        assert!(
            r.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain"),
            "{path}"
        );
    }
}

#[test]
fn with_redis_down_requests_succeed_and_the_job_is_retried() {
    let p = proxy();
    p.on_origin("example.com/m", "v1.0.0");
    p.publisher
        .fail
        .store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(p.get("example.com/m/@v/v1.0.0.zip").status, 200);
    assert_eq!(p.app.sql_text("SELECT state FROM sync_jobs"), "pending");
    p.publisher
        .fail
        .store(false, std::sync::atomic::Ordering::SeqCst);
    // Before the retry interval nothing is resent; after it, any request
    // that goes the full way does (one served from a record, only now and
    // then): here, asks for versions the origin does not have (each a
    // different one: a 404 asked again is served from its record).
    let asked = std::cell::Cell::new(0);
    let full_way = || {
        asked.set(asked.get() + 1);
        let path = format!("example.com/m/@v/v0.0.{}.info", asked.get());
        assert_eq!(p.get(&path).status, 404);
    };
    full_way();
    assert!(p.publisher.messages.lock().unwrap().is_empty());
    p.app.clock.advance(31_000);
    full_way();
    let keys: Vec<String> = p
        .publisher
        .messages
        .lock()
        .unwrap()
        .iter()
        .map(|(_, m)| {
            serde_json::from_slice::<serde_json::Value>(m).unwrap()["module"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(keys, ["example.com/m"], "resent once per interval");
    full_way();
    assert_eq!(p.publisher.messages.lock().unwrap().len(), 1);
}

/// The lease gone and the version still not stored (its trigger lost, say):
/// the next miss sends the recorded job's trigger again, and records no
/// second job.
#[test]
fn a_miss_after_the_lease_expired_resends_the_recorded_job() {
    let p = proxy();
    p.on_origin("example.com/m", "v1.0.0");
    assert_eq!(p.get("example.com/m/@v/v1.0.0.info").status, 200);
    let first = p.publisher.messages.lock().unwrap()[0].clone();
    p.app.clock.advance(p.app.config.lease_seconds * 1000 + 1);
    // (Due jobs are resent by another path, held off here.)
    let now = p.app.clock.now_millis();
    let held = take_lease(&p.app.kv, "go_proxy:resend_due", now, i64::MAX / 2);
    assert!(held.unwrap().is_some());
    assert_eq!(p.get("example.com/m/@v/v1.0.0.mod").status, 200);
    let messages = p.publisher.messages.lock().unwrap().clone();
    assert_eq!(messages, vec![first.clone(), first]);
    assert_eq!(p.app.count("sync_jobs"), 1);
}

/// A trigger nobody heard (Redis down, or no worker subscribed) is resent
/// by the first request after a few seconds, not after the full backoff.
#[test]
fn an_undelivered_trigger_is_resent_soon() {
    let p = proxy();
    p.on_origin("example.com/m", "v1.0.0");
    // (Each a version not asked before: a 404 asked again is served from
    // its record.)
    let asked = std::cell::Cell::new(0);
    let full_way = || {
        asked.set(asked.get() + 1);
        let path = format!("example.com/m/@v/v0.0.{}.info", asked.get());
        assert_eq!(p.get(&path).status, 404);
    };
    let failing = |on: bool| {
        p.publisher
            .fail
            .store(on, std::sync::atomic::Ordering::SeqCst)
    };
    failing(true);
    assert_eq!(p.get("example.com/m/@v/v1.0.0.mod").status, 200);
    failing(false);
    p.app.clock.advance(4_000);
    full_way();
    assert!(p.publisher.messages.lock().unwrap().is_empty(), "not yet");
    p.app.clock.advance(2_000);
    full_way();
    assert_eq!(p.publisher.messages.lock().unwrap().len(), 1);
    // Delivered now: the next resend waits for the full retry interval.
    p.app.clock.advance(6_000);
    full_way();
    assert_eq!(p.publisher.messages.lock().unwrap().len(), 1);
}

#[test]
fn a_zip_whose_go_mod_differs_is_refused_for_good() {
    let p = proxy();
    p.on_origin("example.com/m", "v1.0.0");
    std::fs::write(
        p.dir.path().join("example.com/m/@v/v1.0.0.mod"),
        "module example.com/other\n",
    )
    .unwrap();
    assert_eq!(p.get("example.com/m/@v/v1.0.0.info").status, 200);
    let message = p.publisher.messages.lock().unwrap()[0].1.clone();
    assert!(p.app.sync(&message, &p.publisher).is_err());
    // A permanent failure: `invalid`, with a clear error, never resent.
    assert_eq!(p.app.sql_text("SELECT state FROM sync_jobs"), "invalid");
    assert!(p
        .app
        .sql_text("SELECT last_error FROM sync_jobs")
        .contains("go.mod differs"));
    assert_eq!(p.app.count("packages"), 0, "nothing half-written");
    let lease_keys = p.sync_lease_keys();
    assert_eq!(
        lease_keys.len(),
        1,
        "the lease, not its count: {lease_keys:?}"
    );
    assert!(lease_keys[0].starts_with("lease:"), "{lease_keys:?}");
    // The lease stays taken: more requests schedule nothing, and a stray
    // trigger does not run it again (to within a second of its hour: the
    // worker waited SETTLE_MILLIS of it before it ran).
    p.app
        .clock
        .advance(3_600_000 - vreg_core::golang::sync::SETTLE_MILLIS - 1_000);
    assert_eq!(p.get("example.com/m/@v/v1.0.0.mod").status, 200);
    assert_eq!(p.publisher.messages.lock().unwrap().len(), 1);
    assert!(matches!(
        p.app.sync(&message, &p.publisher).unwrap(),
        Outcome::Ignored(_)
    ));
    assert!(matches!(
        p.app.sync(b"not json", &p.publisher).unwrap(),
        Outcome::Ignored(_)
    ));

    // An operator sees it and retries it: due again, and the next request sends it.
    let jobs = p.app.ok(
        Method::GET,
        &format!(
            "/virtual_registries/packages/go/registries/{}/sync_jobs",
            p.registry
        ),
        None,
    );
    assert_eq!(jobs[0]["state"], "invalid");
    assert_eq!(jobs[0]["module"], "example.com/m");
    assert!(jobs[0]["last_error"]
        .as_str()
        .unwrap()
        .contains("go.mod differs"));
    let id = jobs[0]["id"].as_i64().unwrap();
    let retried = p.app.ok(
        Method::POST,
        &format!(
            "/virtual_registries/packages/go/registries/{}/sync_jobs/{id}/retry",
            p.registry
        ),
        None,
    );
    assert_eq!(retried["state"], "pending");
    p.app.clock.advance(10_000);
    assert_eq!(p.get("example.com/m/@v/list").status, 200);
    assert_eq!(p.publisher.messages.lock().unwrap().len(), 2);
}

/// A transient failure is retried with backoff, up to a cap; then the job
/// is dead.
#[test]
fn a_failing_job_is_retried_up_to_a_cap_then_dead() {
    let p = proxy();
    p.on_origin("example.com/m", "v1.0.0");
    assert_eq!(p.get("example.com/m/@v/v1.0.0.info").status, 200);
    let message = p.publisher.messages.lock().unwrap()[0].1.clone();
    // The origin loses the zip: every attempt fails, and not for good.
    std::fs::remove_file(p.dir.path().join("example.com/m/@v/v1.0.0.zip")).unwrap();
    for attempt in 1..=vreg_core::storage::sync_jobs::MAX_ATTEMPTS {
        assert!(p.app.sync(&message, &p.publisher).is_err());
        let state = p.app.sql_text("SELECT state FROM sync_jobs");
        let want = if attempt < vreg_core::storage::sync_jobs::MAX_ATTEMPTS {
            "failed"
        } else {
            "dead"
        };
        assert_eq!(state, want, "after attempt {attempt}");
    }
    assert!(matches!(
        p.app.sync(&message, &p.publisher).unwrap(),
        Outcome::Ignored(_)
    ));
    p.app.clock.advance(100 * 3_600_000);
    let sent = p.publisher.messages.lock().unwrap().len();
    assert_eq!(p.get("example.com/m/@v/list").status, 200);
    assert_eq!(
        p.publisher.messages.lock().unwrap().len(),
        sent,
        "a dead job is not resent"
    );
}

#[test]
fn modules_published_to_a_project_are_served_and_immutable() {
    let p = proxy();
    let zip = make_zip(&[
        (
            "example.com/local@v0.1.0/go.mod",
            b"module example.com/local\n",
        ),
        ("example.com/local@v0.1.0/a.go", b"package local\n"),
    ]);
    let put = |body: &[u8], token: Option<&str>| {
        p.app.go(
            Method::PUT,
            &format!(
                "/projects/{}/packages/go/example.com/local/@v/v0.1.0.zip",
                p.project
            ),
            token,
            body,
            &p.publisher,
        )
    };
    assert_eq!(put(&zip, None).status, 401);
    assert_eq!(put(b"not a zip", Some(ADMIN)).status, 422);
    // A go.mod that declares another path, or none: `go` could never use
    // the version, so it is refused, and nothing of it is kept.
    for (go_mod, why) in [
        (
            &b"module example.com/other\n"[..],
            "declares the module as example.com/other",
        ),
        (
            b"module example.com/Local\n",
            "declares the module as example.com/Local",
        ),
        (b"go 1.21\n", "no module directive"),
    ] {
        let wrong = make_zip(&[
            ("example.com/local@v0.1.0/go.mod", go_mod),
            ("example.com/local@v0.1.0/a.go", b"package local\n"),
        ]);
        let refused = put(&wrong, Some(ADMIN));
        let message = String::from_utf8_lossy(&refused.body).into_owned();
        assert_eq!(refused.status, 422, "{message}");
        assert!(message.contains(why), "{message}");
    }
    assert_eq!(
        p.app
            .sql_text("SELECT CAST(COUNT(*) AS TEXT) FROM packages"),
        "0",
        "nothing of a refused version is kept"
    );
    assert_eq!(put(&zip, Some(ADMIN)).status, 200);
    assert_eq!(put(&zip, Some(ADMIN)).status, 409);
    let project = format!("/projects/{}/packages/go/example.com/local", p.project);
    assert_eq!(
        p.app
            .go(
                Method::GET,
                &format!("{project}/@v/list"),
                None,
                &[],
                &p.publisher
            )
            .body,
        b"v0.1.0\n"
    );
    assert_eq!(
        p.app
            .go(
                Method::GET,
                &format!("{project}/@v/v0.1.0.mod"),
                None,
                &[],
                &p.publisher
            )
            .body,
        b"module example.com/local\n"
    );
    // Through the registry, from the local upstream, without any sync.
    assert_eq!(p.get("example.com/local/@v/v0.1.0.zip").body, zip);
    assert_eq!(p.get("example.com/local/@v/list").body, b"v0.1.0\n");
    assert!(p.publisher.messages.lock().unwrap().is_empty());
}

#[test]
fn a_module_published_locally_takes_over_at_once_from_a_copy_served_before() {
    let p = proxy();
    let remote_zip = p.synced_from_origin("example.com/taken", "v1.0.0");
    // Read twice: the second read is served from the record of the first.
    for _ in 0..2 {
        assert_eq!(p.get("example.com/taken/@v/v1.0.0.zip").body, remote_zip);
    }
    let local_zip = p.publish_local(p.project, "example.com/taken", "v1.0.0");
    // The local upstream owns the module now: the remote's copy is not
    // served again, not even through the record an earlier read left.
    assert_eq!(p.get("example.com/taken/@v/v1.0.0.zip").body, local_zip);
    // Nor is a version only the remote has, looked for through the public
    // view that read kept.
    p.on_origin("example.com/taken", "v1.1.0");
    assert_eq!(p.get("example.com/taken/@v/v1.1.0.zip").status, 404);
}

/// Go's path and version rules over HTTP: publishing refuses what
/// `module.Check` refuses, and paths `module.CheckPath` refuses are bad
/// requests.
#[test]
fn go_rules_hold_over_http() {
    let p = proxy();
    for (module, version) in [
        ("example.com/m", "v2.0.0"),
        ("github.com/go-yaml/yaml/v2", "v1.0.0"),
        ("gopkg.in/yaml.v1", "v0.8.0"),
        ("rsc.io/quote", "v17.0.0"),
    ] {
        let zip = make_zip(&[(
            &format!("{module}@{version}/go.mod"),
            format!("module {module}\n").as_bytes(),
        )]);
        let put = p.app.go(
            Method::PUT,
            &format!(
                "/projects/{}/packages/go/{module}/@v/{version}.zip",
                p.project
            ),
            Some(ADMIN),
            &zip,
            &p.publisher,
        );
        assert_eq!(put.status, 400, "{module}@{version}");
    }
    for path in [
        "x.y/z/v0",
        "x.y/z/v1",
        "x.y/z/v2.0",
        "x.y/aux.foo",
        "x.y/prn",
        "x.y/com1",
        "x.y/com1.txt",
        "x./z",
        "x.y/z~0",
    ] {
        let status = p.get(&format!("{path}/@v/list")).status;
        assert_eq!(status, 400, "{path}");
    }
    assert_eq!(p.get("x.y/z/v2/@v/list").status, 200);
}

/// Every module path of the Go team's table, asked of the proxy over HTTP:
/// the ones `module.CheckPath` accepts are served (an empty list here), the
/// others refused.
#[test]
fn every_module_path_vector_holds_over_http() {
    let p = proxy();
    let rows = include_str!("data/go-module-rules.jsonl")
        .lines()
        .filter(|l| l.starts_with("{\"path\""))
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap());
    let mut checked = 0;
    for row in rows {
        let Some(path) = row["path"]["text"].as_str() else {
            continue; // not UTF-8: no request path can carry it
        };
        let encoded: String = vreg_core::golang::module::escape(path)
            .bytes()
            .map(|b| match b {
                b'a'..=b'z'
                | b'A'..=b'Z'
                | b'0'..=b'9'
                | b'-'
                | b'.'
                | b'_'
                | b'~'
                | b'/'
                | b'!' => (b as char).to_string(),
                other => format!("%{other:02X}"),
            })
            .collect();
        let status = p.get(&format!("{encoded}/@v/list")).status;
        let served = row["module"].as_bool().unwrap();
        assert_eq!(status == 200, served, "{path:?}: {status}");
        checked += 1;
    }
    assert!(checked >= 100, "{checked}");
}

/// A module published to a private project is not served through a public
/// registry to callers who cannot read the project.
#[test]
fn private_modules_do_not_leak_through_a_public_registry() {
    let p = proxy();
    let group = p.app.ok(
        Method::GET,
        &format!("/virtual_registries/packages/go/registries/{}", p.registry),
        None,
    )["group_id"]
        .as_i64()
        .unwrap();
    let secret = p.app.project("secret", group);
    let zip = p.publish_local(secret, "example.com/secret", "v0.1.0");
    let registry = p.app.registry(group, "go", "whole-group");
    let local = p
        .app
        .create_upstream(
            group,
            "go",
            json!({"name": "group", "mode": "local", "target_group_id": group}),
        )
        .id();
    assert_eq!(p.app.link("go", registry, local).status, 201);
    let get = |path: &str, token: Option<&str>| {
        p.app.go(
            Method::GET,
            &format!("/virtual_registries/packages/go/{registry}/example.com/secret/{path}"),
            token,
            &[],
            &p.publisher,
        )
    };
    assert_eq!(get("@v/v0.1.0.zip", None).status, 404);
    assert_eq!(get("@v/list", None).body, b"");
    assert_eq!(get("@v/v0.1.0.zip", Some(ADMIN)).body, zip);
    assert_eq!(get("@v/list", Some(ADMIN)).body, b"v0.1.0\n");
}

/// `go get m@main`: a branch (tag, commit) query is relayed from the
/// remote, not cached and not synced; locally it is unknown.
#[test]
fn version_queries_are_relayed_from_remotes_uncached() {
    let p = proxy();
    let dir = p.dir.path().join("example.com/lib/@v");
    std::fs::create_dir_all(&dir).unwrap();
    let answer =
        r#"{"Version":"v0.0.0-20261129120000-abcdefabcdef","Time":"2026-11-29T12:00:00Z"}"#;
    std::fs::write(dir.join("main.info"), answer).unwrap();
    std::fs::write(dir.join("!feature.info"), answer).unwrap();

    let relayed = p.get("example.com/lib/@v/main.info");
    assert_eq!(relayed.status, 200);
    assert_eq!(relayed.body, answer.as_bytes());
    assert_eq!(
        p.get("example.com/lib/@v/!feature.info").status,
        200,
        "case-escaped"
    );
    let asked = p.origin.as_ref().unwrap().requests();
    assert_eq!(p.get("example.com/lib/@v/main.info").status, 200);
    assert_eq!(
        p.origin.as_ref().unwrap().requests(),
        asked + 1,
        "asked again: a branch moves"
    );
    assert_eq!(p.app.count("sync_jobs"), 0, "nothing synced");
    assert_eq!(p.app.count("package_files"), 0);
    assert!(p.publisher.messages.lock().unwrap().is_empty());

    // Only .info, only plausible queries, only remotes.
    assert_eq!(p.get("example.com/lib/@v/main.zip").status, 404);
    assert_eq!(p.get("example.com/lib/@v/nope.info").status, 404);
    assert_eq!(p.get("example.com/lib/@v/.hidden.info").status, 404);
    // A query no remote knows is a 404 kept as a version's is (anyone can
    // make queries up): asked again, no remote is asked, until it ends.
    // (On one miss in a few, at random: asked until it is.)
    let from_record = (0..64).any(|_| {
        let asked = p.origin.as_ref().unwrap().requests();
        assert_eq!(p.get("example.com/lib/@v/nope.info").status, 404);
        p.origin.as_ref().unwrap().requests() == asked
    });
    assert!(from_record, "never recorded");
    let asked = p.origin.as_ref().unwrap().requests();
    assert_eq!(p.get("example.com/lib/@v/nope.info").status, 404);
    assert_eq!(p.origin.as_ref().unwrap().requests(), asked);
    std::fs::write(dir.join("nope.info"), answer).unwrap();
    p.app
        .clock
        .advance(p.app.config.negative_cache_seconds * 1000 + 1);
    assert_eq!(p.get("example.com/lib/@v/nope.info").status, 200);
    let project = p.app.go(
        Method::GET,
        &format!(
            "/projects/{}/packages/go/example.com/lib/@v/main.info",
            p.project
        ),
        None,
        &[],
        &p.publisher,
    );
    assert_eq!(project.status, 404);
}
