//! Maven repositories and the Maven virtual registry, natively: the real
//! handler, real SQLite, and real HTTP upstreams on 127.0.0.1.

mod common;

use common::{maven_in, App, ADMIN};
use http::Method;
use serde_json::json;
use vreg_core::storage::blobs::digests_of;
use vreg_core::{Context, LazyConfig};
use vreg_testkit::{RecordingPublisher, StaticServer};

const JAR: &str = "org/example/demo/1.0/demo-1.0.jar";

fn deploy(app: &App, project: i64, path: &str, body: &[u8]) -> u16 {
    app.maven(
        Method::PUT,
        &format!("/projects/{project}/packages/maven/{path}"),
        Some(ADMIN),
        body,
    )
    .status
}

fn get(
    app: &App,
    prefix: &str,
    path: &str,
    token: Option<&str>,
) -> vreg_core::http::body::CollectedResponse {
    app.maven(Method::GET, &format!("{prefix}/{path}"), token, &[])
}

fn header(r: &vreg_core::http::body::CollectedResponse, name: &str) -> String {
    r.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

#[test]
fn deploy_then_download_with_checksums_and_metadata() {
    let app = App::new();
    let group = app.group("acme", None);
    let project = app.project("libs", group);
    let jar: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let d = digests_of(&jar);
    assert_eq!(deploy(&app, project, JAR, &jar), 201);
    assert_eq!(
        deploy(&app, project, &format!("{JAR}.sha1"), d.sha1.as_bytes()),
        200
    );
    assert_eq!(
        deploy(
            &app,
            project,
            &format!("{JAR}.md5"),
            format!("{}  demo-1.0.jar\n", d.md5).as_bytes()
        ),
        200
    );
    let wrong = app.maven(
        Method::PUT,
        &format!("/projects/{project}/packages/maven/{JAR}.sha256"),
        Some(ADMIN),
        b"00ff",
    );
    assert_eq!(wrong.status, 422);
    assert!(String::from_utf8_lossy(&wrong.body).contains("Checksum mismatch"));
    assert_eq!(
        deploy(
            &app,
            project,
            "org/example/demo/1.0/demo-1.0.pom",
            b"<project/>"
        ),
        201
    );
    assert_eq!(
        deploy(
            &app,
            project,
            "org/example/demo/2.0/demo-2.0.pom",
            b"<project v2/>"
        ),
        201
    );
    assert_eq!(
        deploy(
            &app,
            project,
            "org/example/demo/maven-metadata.xml",
            b"<metadata/>"
        ),
        200
    );

    let prefix = format!("/projects/{project}/packages/maven");
    let got = get(&app, &prefix, JAR, Some(ADMIN));
    assert_eq!(got.status, 200);
    assert_eq!(got.body, jar);
    assert_eq!(header(&got, "x-checksum-sha1"), d.sha1);
    assert_eq!(header(&got, "x-checksum-md5"), d.md5);
    assert_eq!(header(&got, "content-length"), "300000");
    assert_eq!(header(&got, "content-type"), "application/java-archive");
    assert!(header(&got, "last-modified").ends_with("GMT"));
    assert!(!header(&got, "etag").is_empty());
    assert_eq!(
        get(&app, &prefix, &format!("{JAR}.sha1"), Some(ADMIN)).body,
        d.sha1.as_bytes()
    );
    assert_eq!(
        get(&app, &prefix, &format!("{JAR}.sha512"), Some(ADMIN)).body,
        d.sha512.as_bytes()
    );
    let head = app.maven(Method::HEAD, &format!("{prefix}/{JAR}"), Some(ADMIN), &[]);
    assert_eq!((head.status, head.body.len()), (200, 0));
    assert_eq!(header(&head, "content-length"), "300000");

    // Artifact-level metadata lists the versions present.
    let metadata = String::from_utf8(
        get(
            &app,
            &prefix,
            "org/example/demo/maven-metadata.xml",
            Some(ADMIN),
        )
        .body,
    )
    .unwrap();
    assert!(
        metadata.contains("<version>1.0</version>") && metadata.contains("<version>2.0</version>"),
        "{metadata}"
    );
    assert!(metadata.contains("<release>2.0</release>"));
    let metadata_sha1 = get(
        &app,
        &prefix,
        "org/example/demo/maven-metadata.xml.sha1",
        Some(ADMIN),
    );
    assert_eq!(
        metadata_sha1.body,
        digests_of(metadata.as_bytes()).sha1.as_bytes()
    );

    // The group repository sees the project's files.
    let via_group = get(
        &app,
        &format!("/groups/{group}/-/packages/maven"),
        JAR,
        Some(ADMIN),
    );
    assert_eq!(via_group.body, jar);
    assert_eq!(
        get(
            &app,
            &prefix,
            "org/example/demo/1.0/missing.jar",
            Some(ADMIN)
        )
        .status,
        404
    );
}

#[test]
fn release_files_are_immutable_but_snapshots_are_not() {
    let app = App::new();
    let project = app.project("libs", app.group("acme", None));
    assert_eq!(deploy(&app, project, JAR, b"one"), 201);
    assert_eq!(
        deploy(&app, project, JAR, b"one"),
        200,
        "byte-identical re-upload is fine"
    );
    let refused = app.maven(
        Method::PUT,
        &format!("/projects/{project}/packages/maven/{JAR}"),
        Some(ADMIN),
        b"two",
    );
    assert_eq!(refused.status, 409);
    let snapshot = "org/example/demo/1.1-SNAPSHOT/demo-1.1-20260101.000000-1.jar";
    assert_eq!(deploy(&app, project, snapshot, b"a"), 201);
    assert_eq!(deploy(&app, project, snapshot, b"b"), 200);
    assert_eq!(
        get(
            &app,
            &format!("/projects/{project}/packages/maven"),
            snapshot,
            Some(ADMIN)
        )
        .body,
        b"b"
    );
    assert_eq!(
        get(
            &app,
            &format!("/projects/{project}/packages/maven"),
            JAR,
            Some(ADMIN)
        )
        .body,
        b"one"
    );
}

#[test]
fn maven_auth_follows_scopes_and_visibility() {
    let app = App::new();
    let public_group = app.public_group("pub");
    let public = app.public_project("open", public_group);
    let private = app.project("closed", app.group("priv", None));
    for project in [public, private] {
        assert_eq!(deploy(&app, project, JAR, b"x"), 201);
    }
    let anonymous_put = app.maven(
        Method::PUT,
        &format!("/projects/{private}/packages/maven/{JAR}"),
        None,
        b"x",
    );
    assert_eq!(anonymous_put.status, 401);
    assert_eq!(
        header(&anonymous_put, "www-authenticate"),
        "Basic realm=\"vreg\""
    );
    assert_eq!(
        get(
            &app,
            &format!("/projects/{public}/packages/maven"),
            JAR,
            None
        )
        .status,
        200
    );
    assert_eq!(
        get(
            &app,
            &format!("/projects/{private}/packages/maven"),
            JAR,
            None
        )
        .status,
        401
    );
    let reader =
        app.token(json!({"name": "r", "scopes": ["read_registry"], "project_id": private}));
    assert_eq!(
        get(
            &app,
            &format!("/projects/{private}/packages/maven"),
            JAR,
            Some(&reader)
        )
        .status,
        200
    );
    let write = app.maven(
        Method::PUT,
        &format!("/projects/{private}/packages/maven/org/x/y/1/y-1.jar"),
        Some(&reader),
        b"x",
    );
    assert_eq!(write.status, 403);
    let writer =
        app.token(json!({"name": "w", "scopes": ["write_registry"], "project_id": private}));
    assert_eq!(
        app.maven(
            Method::PUT,
            &format!("/projects/{private}/packages/maven/org/x/y/1/y-1.jar"),
            Some(&writer),
            b"x"
        )
        .status,
        201
    );
    assert_eq!(
        app.maven(
            Method::PUT,
            &format!("/projects/{public}/packages/maven/org/x/y/1/y-1.jar"),
            Some(&writer),
            b"x"
        )
        .status,
        404
    );
}

#[test]
fn hostile_maven_paths_are_bad_requests() {
    let app = App::new();
    let project = app.project("libs", app.group("acme", None));
    for path in [
        "org/../../etc/passwd",
        "org/%2e%2e/x/1/x.jar",
        "org//x/1/x.jar",
        "org/x/1/x%00.jar",
        "a.jar",
        "org/x%2fy/1/x.jar",
    ] {
        let r = app.maven(
            Method::PUT,
            &format!("/projects/{project}/packages/maven/{path}"),
            Some(ADMIN),
            b"x",
        );
        assert_eq!(r.status, 400, "{path}");
    }
    let long = format!(
        "/projects/{project}/packages/maven/{}/x.jar",
        "a/".repeat(700)
    );
    assert_eq!(app.maven(Method::GET, &long, Some(ADMIN), &[]).status, 400);
    assert_eq!(app.count("package_files"), 0);
}

/// The headers a Maven client reads, as one comparable value.
fn file_answer(r: &vreg_core::http::body::CollectedResponse) -> (u16, Vec<String>, Vec<u8>) {
    let names = [
        "content-type",
        "content-length",
        "etag",
        "last-modified",
        "x-checksum-sha1",
        "x-checksum-md5",
        "x-checksum-sha256",
    ];
    let headers = names
        .iter()
        .map(|n| format!("{n}: {}", header(r, n)))
        .collect();
    (r.status, headers, r.body.clone())
}

/// An anonymous read of a public project's or group's repository that an
/// earlier one resolved is answered alike with no SQL at all; a read with
/// a token never makes a record, and any change that could alter the
/// answer (an upload, the project made private) is seen at once.
#[test]
fn anonymous_repository_reads_skip_sql_until_something_changes() {
    let app = App::new();
    let group = app.public_group("pub");
    let open = app.public_project("open", group);
    let closed = app.project("closed", group);
    let pom = "org/example/demo/1.0/demo-1.0.pom";
    let big: Vec<u8> = (0..40_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let snapshot = "org/example/demo/1.1-SNAPSHOT/demo-1.1-20260101.000000-1.jar";
    assert_eq!(deploy(&app, open, pom, b"<project/>"), 201);
    assert_eq!(deploy(&app, open, JAR, &big), 201);
    assert_eq!(deploy(&app, open, snapshot, b"first"), 201);
    let secret = "org/secret/lib/1.0/lib-1.0.jar";
    assert_eq!(deploy(&app, closed, secret, b"secret"), 201);
    // The sweep 1 request in 16 may run after its answer: held elsewhere,
    // so it cannot add statements at random.
    vreg_core::storage::lease::take_lease(&app.kv, "storage:sweep", 0, i64::MAX / 2).unwrap();

    let project = format!("/projects/{open}/packages/maven");
    let by_path = "/projects/pub%2Fopen/packages/maven".to_owned();
    let in_group = format!("/groups/{group}/-/packages/maven");
    let metadata = "org/example/demo/maven-metadata.xml";
    let reads = [
        (&project, pom.to_owned()),
        (&project, JAR.to_owned()),
        (&project, format!("{JAR}.sha1")),
        (&project, format!("{JAR}.sha512")),
        (&project, metadata.to_owned()),
        (&project, format!("{metadata}.md5")),
        (&by_path, pom.to_owned()),
        (&in_group, JAR.to_owned()),
        (&in_group, metadata.to_owned()),
    ];
    for (prefix, path) in &reads {
        let full = get(&app, prefix, path, None);
        assert_eq!(full.status, 200, "{prefix}/{path}");
        let statements = app.sql.statements();
        let recorded = get(&app, prefix, path, None);
        assert_eq!(app.sql.statements(), statements, "no SQL: {prefix}/{path}");
        assert_eq!(
            file_answer(&recorded),
            file_answer(&full),
            "{prefix}/{path}"
        );
        let head = app.maven(Method::HEAD, &format!("{prefix}/{path}"), None, &[]);
        assert_eq!(
            app.sql.statements(),
            statements,
            "no SQL: HEAD {prefix}/{path}"
        );
        assert_eq!((head.status, head.body.len()), (200, 0));
        assert_eq!(header(&head, "etag"), header(&full, "etag"));
    }
    assert!(get(&app, &project, JAR, None).body == big);
    let xml = String::from_utf8(get(&app, &project, metadata, None).body).unwrap();
    assert!(xml.contains("<version>1.0</version>"), "{xml}");

    // A token holder's read of the group sees the private project too: it
    // goes the full way, and leaves nothing an anonymous read could use.
    assert_eq!(get(&app, &in_group, secret, Some(ADMIN)).body, b"secret");
    assert_eq!(get(&app, &in_group, secret, None).status, 404);
    assert_eq!(get(&app, &in_group, secret, Some(ADMIN)).body, b"secret");
    assert_eq!(get(&app, &in_group, secret, None).status, 404);
    let closed_prefix = format!("/projects/{closed}/packages/maven");
    assert_eq!(get(&app, &closed_prefix, secret, Some(ADMIN)).status, 200);
    assert_eq!(get(&app, &closed_prefix, secret, None).status, 401);

    // A snapshot uploaded again, a new version: seen by the next read.
    assert_eq!(get(&app, &project, snapshot, None).body, b"first");
    assert_eq!(get(&app, &project, snapshot, None).body, b"first");
    assert_eq!(deploy(&app, open, snapshot, b"second"), 200);
    assert_eq!(get(&app, &project, snapshot, None).body, b"second");
    assert_eq!(
        deploy(&app, open, "org/example/demo/2.0/demo-2.0.pom", b"<p/>"),
        201
    );
    for prefix in [&project, &in_group] {
        let xml = String::from_utf8(get(&app, prefix, metadata, None).body).unwrap();
        assert!(xml.contains("<latest>2.0</latest>"), "{prefix}: {xml}");
    }

    // The project made private: anonymous readers are turned away at once.
    app.ok(
        Method::PUT,
        &format!("/projects/{open}"),
        Some(json!({"visibility": "private"})),
    );
    assert_eq!(get(&app, &project, pom, None).status, 401);
    assert_eq!(get(&app, &by_path, pom, None).status, 401);
    assert_eq!(get(&app, &in_group, JAR, None).status, 404);
}

struct Registry {
    app: App,
    server: Option<StaticServer>,
    _dir: tempfile_dir::Dir,
    id: i64,
    project: i64,
}

mod tempfile_dir {
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new() -> Self {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            let p = std::env::temp_dir().join(format!("vreg-maven-{}-{nanos}", std::process::id()));
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A registry with a local project upstream (position 1) and a remote static
/// server (position 2) holding `remote/lib/1.0/lib-1.0.jar`.
fn registry(cache_hours: i64) -> Registry {
    let mut app = App::new();
    app.config.allow_local_upstreams = true;
    let dir = tempfile_dir::Dir::new();
    let file = dir.0.join("org/remote/lib/1.0");
    std::fs::create_dir_all(&file).unwrap();
    std::fs::write(file.join("lib-1.0.jar"), b"remote jar bytes").unwrap();
    std::fs::write(
        dir.0.join("org/remote/lib/maven-metadata.xml"),
        b"<metadata>remote</metadata>",
    )
    .unwrap();
    let server = StaticServer::start(&dir.0);
    let group = app.group("acme", None);
    let project = app.project("libs", group);
    let id = app.registry(group, "maven", "all");
    let local = app
        .create_upstream(
            group,
            "maven",
            json!({"name": "local", "mode": "local", "target_project_id": project}),
        )
        .id();
    let remote = app
        .create_upstream(
            group,
            "maven",
            json!({"name": "static", "url": server.url(), "cache_validity_hours": cache_hours}),
        )
        .id();
    assert_eq!(app.link("maven", id, local).status, 201);
    assert_eq!(app.link("maven", id, remote).status, 201);
    Registry {
        app,
        server: Some(server),
        _dir: dir,
        id,
        project,
    }
}

impl Registry {
    /// The group the registry belongs to.
    fn group(&self) -> i64 {
        let registry = format!("/virtual_registries/packages/maven/registries/{}", self.id);
        self.app.ok(Method::GET, &registry, None)["group_id"]
            .as_i64()
            .unwrap()
    }
}

const REMOTE_JAR: &str = "org/remote/lib/1.0/lib-1.0.jar";

/// The id of the registry's remote upstream (position 2).
fn remote_upstream(r: &Registry) -> i64 {
    r.app.ok(
        Method::GET,
        &format!(
            "/virtual_registries/packages/maven/registries/{}/upstreams",
            r.id
        ),
        None,
    )[1]["id"]
        .as_i64()
        .unwrap()
}

#[test]
fn virtual_registry_resolves_local_first_then_remote_and_caches() {
    let mut r = registry(24);
    let prefix = format!("/virtual_registries/packages/maven/{}", r.id);
    assert_eq!(deploy(&r.app, r.project, JAR, b"local jar"), 201);
    assert_eq!(get(&r.app, &prefix, JAR, Some(ADMIN)).body, b"local jar");

    let first = get(&r.app, &prefix, REMOTE_JAR, Some(ADMIN));
    assert_eq!(
        (first.status, first.body.as_slice()),
        (200, &b"remote jar bytes"[..])
    );
    assert_eq!(r.app.count("cache_entries"), 1);
    let served_before = r.server.as_ref().unwrap().requests();
    let again = get(&r.app, &prefix, REMOTE_JAR, Some(ADMIN));
    assert_eq!(again.body, b"remote jar bytes");
    assert_eq!(
        header(&again, "x-checksum-sha1"),
        digests_of(b"remote jar bytes").sha1
    );
    assert_eq!(
        r.server.as_ref().unwrap().requests(),
        served_before,
        "a fresh cache entry is served without asking"
    );
    assert_eq!(
        get(&r.app, &prefix, &format!("{REMOTE_JAR}.sha1"), Some(ADMIN)).body,
        digests_of(b"remote jar bytes").sha1.as_bytes()
    );

    // A 404 upstream is remembered.
    assert_eq!(
        get(&r.app, &prefix, "org/remote/none/1/none-1.jar", Some(ADMIN)).status,
        404
    );
    let after_miss = r.server.as_ref().unwrap().requests();
    assert_eq!(
        get(&r.app, &prefix, "org/remote/none/1/none-1.jar", Some(ADMIN)).status,
        404
    );
    assert_eq!(
        r.server.as_ref().unwrap().requests(),
        after_miss,
        "negative cache"
    );

    // With the upstream gone, the cache still answers; unknown files fail with 502.
    r.server = None;
    assert_eq!(
        get(&r.app, &prefix, REMOTE_JAR, Some(ADMIN)).body,
        b"remote jar bytes"
    );
    let failed = get(
        &r.app,
        &prefix,
        "org/remote/other/1/other-1.jar",
        Some(ADMIN),
    );
    assert_eq!(failed.status, 502);
    assert!(
        String::from_utf8_lossy(&failed.body).contains("static"),
        "{}",
        String::from_utf8_lossy(&failed.body)
    );
    assert_eq!(
        get(&r.app, &prefix, "org/%2e%2e/x", Some(ADMIN)).status,
        400
    );
}

#[test]
fn stale_entries_are_revalidated_and_served_when_the_upstream_is_down() {
    let mut r = registry(1);
    let prefix = format!("/virtual_registries/packages/maven/{}", r.id);
    assert_eq!(get(&r.app, &prefix, REMOTE_JAR, Some(ADMIN)).status, 200);
    r.app.clock.advance(2 * 3600 * 1000);
    let before = r.server.as_ref().unwrap().requests();
    assert_eq!(
        get(&r.app, &prefix, REMOTE_JAR, Some(ADMIN)).body,
        b"remote jar bytes"
    );
    assert_eq!(
        r.server.as_ref().unwrap().requests(),
        before + 1,
        "one HEAD to revalidate"
    );
    r.app.clock.advance(2 * 3600 * 1000);
    r.server = None;
    let stale = get(&r.app, &prefix, REMOTE_JAR, Some(ADMIN));
    assert_eq!(
        (stale.status, stale.body.as_slice()),
        (200, &b"remote jar bytes"[..])
    );
}

#[test]
fn registry_access_needs_a_token_for_private_groups() {
    let r = registry(24);
    let prefix = format!("/virtual_registries/packages/maven/{}", r.id);
    let anonymous = get(&r.app, &prefix, REMOTE_JAR, None);
    assert_eq!(anonymous.status, 401);
    assert_eq!(
        header(&anonymous, "www-authenticate"),
        "Basic realm=\"vreg\""
    );
    let reader = r
        .app
        .token(json!({"name": "m", "scopes": ["read_registry"]}));
    assert_eq!(get(&r.app, &prefix, REMOTE_JAR, Some(&reader)).status, 200);
    assert_eq!(
        get(
            &r.app,
            "/virtual_registries/packages/maven/999",
            REMOTE_JAR,
            Some(ADMIN)
        )
        .status,
        404
    );
}

#[test]
fn a_group_upstream_merges_the_metadata_of_its_projects() {
    let mut app = App::new();
    app.config.allow_local_upstreams = true;
    let group = app.group("acme", None);
    let (a, b) = (app.project("a", group), app.project("b", group));
    assert_eq!(
        deploy(&app, a, "org/example/demo/1.0/demo-1.0.pom", b"<p/>"),
        201
    );
    assert_eq!(
        deploy(&app, b, "org/example/demo/1.1/demo-1.1.pom", b"<p/>"),
        201
    );
    let registry = app.registry(group, "maven", "all");
    let upstream = app
        .create_upstream(
            group,
            "maven",
            json!({"name": "group", "mode": "local", "target_group_id": group}),
        )
        .id();
    assert_eq!(app.link("maven", registry, upstream).status, 201);
    let xml = String::from_utf8(
        get(
            &app,
            &format!("/virtual_registries/packages/maven/{registry}"),
            "org/example/demo/maven-metadata.xml",
            Some(ADMIN),
        )
        .body,
    )
    .unwrap();
    assert!(
        xml.contains("<version>1.0</version>") && xml.contains("<version>1.1</version>"),
        "{xml}"
    );
    assert!(xml.contains("<latest>1.1</latest>"));
}

#[test]
fn loopback_upstreams_are_refused_unless_allowed() {
    let app = App::new();
    let group = app.group("acme", None);
    let refused = app.create_upstream(
        group,
        "maven",
        json!({"name": "lo", "url": "http://127.0.0.1:8081/repo"}),
    );
    assert_eq!(refused.status, http::StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        refused.message(),
        "Validation failed: Url is blocked: Requests to the local network are not allowed"
    );
    assert_eq!(
        app.create_upstream(
            group,
            "maven",
            json!({"name": "lo", "url": "http://localhost/repo"})
        )
        .status,
        http::StatusCode::UNPROCESSABLE_ENTITY
    );
    // The spellings that slipped through before: cloud metadata through
    // IPv4-mapped IPv6, carrier-grade NAT, NAT64, and numeric IPv4 forms.
    for url in [
        "http://[::ffff:169.254.169.254]/",
        "http://100.64.0.1/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://0/",
        "http://ip6-localhost/",
        "http://198.18.0.1/",
        "http://[2001:db8::1]/",
    ] {
        let refused = app.create_upstream(group, "maven", json!({"name": "x", "url": url}));
        assert_eq!(
            refused.status,
            http::StatusCode::UNPROCESSABLE_ENTITY,
            "{url}"
        );
    }
}

/// An upstream URL may carry a query: the file's path goes before it.
#[test]
fn a_query_in_an_upstream_url_stays_after_the_path() {
    let mut r = registry(24);
    let upstream = remote_upstream(&r);
    let url = format!("{}/?token=x", r.server.as_ref().unwrap().url());
    r.app.ok(
        Method::PATCH,
        &format!("/virtual_registries/packages/maven/upstreams/{upstream}"),
        Some(json!({"url": url})),
    );
    let prefix = format!("/virtual_registries/packages/maven/{}", r.id);
    let got = get(&r.app, &prefix, REMOTE_JAR, Some(ADMIN));
    assert_eq!(
        (got.status, got.body.as_slice()),
        (200, &b"remote jar bytes"[..])
    );
    r.server = None;
}

/// A cached read writes no SQL: downloads are counted in the tally store
/// (folded into SQL when the admin API lists entries), and `downloaded_at`
/// moves at most once an hour.
#[test]
fn cached_reads_write_no_sql_and_still_count_downloads() {
    let r = registry(24);
    // The sweep that 1 request in 16 may run after its answer (it folds
    // counts into SQL): held elsewhere, so it cannot write at random.
    vreg_core::storage::lease::take_lease(&r.app.kv, "storage:sweep", 0, i64::MAX / 2).unwrap();
    let prefix = format!("/virtual_registries/packages/maven/{}", r.id);
    assert_eq!(get(&r.app, &prefix, REMOTE_JAR, Some(ADMIN)).status, 200);
    let before = r.app.sql_changes();
    for _ in 0..3 {
        assert_eq!(get(&r.app, &prefix, REMOTE_JAR, Some(ADMIN)).status, 200);
    }
    assert_eq!(r.app.sql_changes(), before, "no SQL row changed");
    let upstream = remote_upstream(&r);
    let listing = format!("/virtual_registries/packages/maven/upstreams/{upstream}/cache_entries");
    let entry = &r.app.ok(Method::GET, &listing, None)[0];
    assert_eq!(entry["downloads_count"], 4, "the fetch and three hits");
    let first_download = entry["downloaded_at"].as_str().unwrap().to_owned();
    // The listing folded the counts into SQL.
    assert_eq!(
        r.app.sql_text(&format!(
            "SELECT CAST(downloads_count AS TEXT) FROM cache_entries WHERE upstream_id = {upstream}"
        )),
        "4"
    );
    let before = r.app.sql_changes();

    // An hour later, one read writes the new download time once.
    r.app.clock.advance(3_600_000);
    assert_eq!(get(&r.app, &prefix, REMOTE_JAR, Some(ADMIN)).status, 200);
    assert_eq!(r.app.sql_changes(), before + 1);
    assert_eq!(get(&r.app, &prefix, REMOTE_JAR, Some(ADMIN)).status, 200);
    assert_eq!(r.app.sql_changes(), before + 1);
    let entry = &r.app.ok(Method::GET, &listing, None)[0];
    assert_eq!(entry["downloads_count"], 6);
    assert_ne!(entry["downloaded_at"].as_str().unwrap(), first_download);
}

/// An anonymous read of a public registry that an earlier read resolved is
/// served with no SQL at all, and any change that could alter the answer
/// (here: the group made private, the cache entry deleted) is seen at once.
#[test]
fn resolved_reads_skip_sql_until_the_configuration_changes() {
    let r = registry(24);
    let prefix = format!("/virtual_registries/packages/maven/{}", r.id);
    let group = r.group();
    let public = json!({"visibility": "public"});
    r.app
        .ok(Method::PATCH, &format!("/groups/{group}"), Some(public));
    assert_eq!(get(&r.app, &prefix, REMOTE_JAR, None).status, 200);
    assert_eq!(get(&r.app, &prefix, REMOTE_JAR, None).status, 200);
    // The sweep that 1 request in 16 may run after its answer: held
    // elsewhere for now, so it cannot add statements at random.
    vreg_core::storage::lease::take_lease(&r.app.kv, "storage:sweep", 0, i64::MAX / 2).unwrap();
    let statements = r.app.sql.statements();
    let fetched = r.server.as_ref().unwrap().requests();
    let hit = get(&r.app, &prefix, REMOTE_JAR, None);
    assert_eq!(hit.body, b"remote jar bytes");
    assert_eq!(
        header(&hit, "x-checksum-sha1"),
        digests_of(b"remote jar bytes").sha1
    );
    assert_eq!(r.app.sql.statements(), statements, "no SQL statement");
    // Nor a setting (on Spin each is a host call); a token holder goes the
    // full way, its token checked against them.
    let loads = std::cell::Cell::new(0);
    let config = LazyConfig::new(|| {
        loads.set(loads.get() + 1);
        (*r.app.config).clone()
    });
    let publisher = RecordingPublisher::default();
    let ctx = Context {
        config: &config,
        ..r.app.context(&publisher)
    };
    let hit = maven_in(
        &ctx,
        Method::GET,
        &format!("{prefix}/{REMOTE_JAR}"),
        None,
        &[],
    );
    assert_eq!(hit.body, b"remote jar bytes");
    assert_eq!(loads.get(), 0, "no setting read");
    let hit = maven_in(
        &ctx,
        Method::GET,
        &format!("{prefix}/{REMOTE_JAR}"),
        Some(ADMIN),
        &[],
    );
    assert_eq!(hit.status, 200);
    assert_eq!(loads.get(), 1, "settings read once, when needed");
    assert!(r.app.sql.statements() > statements);

    // The entry deleted: the next read fetches again.
    let upstream = remote_upstream(&r);
    r.app.ok(
        Method::DELETE,
        &format!("/virtual_registries/packages/maven/upstreams/{upstream}/cache"),
        None,
    );
    assert_eq!(get(&r.app, &prefix, REMOTE_JAR, None).status, 200);
    assert_eq!(r.server.as_ref().unwrap().requests(), fetched + 1);

    // A file past what a record keeps in itself: the record names its
    // chunks, so a read through it skips the blob's manifest.
    let big: Vec<u8> = (0..40_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let jar = "org/remote/lib/1.0/lib-1.0-big.jar";
    std::fs::write(r._dir.0.join(jar), &big).unwrap();
    for _ in 0..2 {
        assert!(get(&r.app, &prefix, jar, None).body == big);
    }
    let manifest = format!("blob:{}", digests_of(&big).sha256);
    let manifest_reads = r.app.kv.reads_of(&manifest);
    assert!(get(&r.app, &prefix, jar, None).body == big);
    assert_eq!(r.app.kv.reads_of(&manifest), manifest_reads);

    // The group made private: anonymous readers are turned away at once.
    let private = json!({"visibility": "private"});
    r.app
        .ok(Method::PATCH, &format!("/groups/{group}"), Some(private));
    assert_eq!(get(&r.app, &prefix, REMOTE_JAR, None).status, 401);
}

/// A group's repository asks SQL for its projects at once: what a read
/// that goes the full way costs does not grow with the group.
#[test]
fn a_group_read_costs_the_same_however_many_projects_the_group_has() {
    let app = App::new();
    let group = app.public_group("many");
    let first = app.public_project("p0", group);
    assert_eq!(deploy(&app, first, JAR, b"jar"), 201);
    vreg_core::storage::lease::take_lease(&app.kv, "storage:sweep", 0, i64::MAX / 2).unwrap();
    let prefix = format!("/groups/{group}/-/packages/maven");
    // A path no project has: never recorded, so every read goes the full way.
    let missing = "org/none/x/1.0/x-1.0.jar";
    let cost = || {
        let statements = app.sql.statements();
        assert_eq!(get(&app, &prefix, missing, None).status, 404);
        assert_eq!(get(&app, &prefix, JAR, Some(ADMIN)).body, b"jar");
        app.sql.statements() - statements
    };
    let with_one = cost();
    for n in 1..12 {
        let project = app.public_project(&format!("p{n}"), group);
        if n % 2 == 0 {
            app.ok(
                Method::PUT,
                &format!("/projects/{project}"),
                Some(json!({"visibility": "private"})),
            );
        }
    }
    assert_eq!(cost(), with_one);
}

/// Records of local reads live in a fixed number of slot keys, however
/// many ways a project is spelled; a record displaced from its slot by
/// another is never mistaken for it.
#[test]
fn local_read_records_stay_in_their_slots() {
    use vreg_core::domain::resolved::{self, Place, SLOTS};
    let app = App::new();
    let group = app.public_group("open");
    let project = app.public_project("libs", group);
    assert_eq!(deploy(&app, project, JAR, b"jar"), 201);
    // The project by id and by full path, each spelled many ways.
    let mut spellings = vec![project.to_string(), format!("0{project}")];
    for i in 0..60 {
        let mut path = String::from("open%2Flibs");
        if i % 2 == 1 {
            path = path.replace("%2F", "%2f");
        }
        for (at, c) in "libs".chars().enumerate() {
            if i >> (1 + at) & 1 == 1 {
                path = path.replacen(c, &format!("%{:02X}", c as u32), 1);
            }
        }
        spellings.push(path);
    }
    spellings.sort();
    spellings.dedup();
    for spelling in &spellings {
        let prefix = format!("/projects/{spelling}/packages/maven");
        for _ in 0..2 {
            assert_eq!(get(&app, &prefix, JAR, None).body, b"jar", "{spelling}");
        }
    }
    let slots: Vec<String> = app
        .kv
        .keys()
        .into_iter()
        .filter(|k| k.starts_with("maven:local"))
        .collect();
    assert!(!slots.is_empty() && slots.len() <= spellings.len());
    for key in &slots {
        let index: u64 = key.strip_prefix("maven:local:").unwrap().parse().unwrap();
        assert!(index < SLOTS, "{key}");
    }

    // Two names that share a slot: the later record displaces the earlier.
    let publisher = RecordingPublisher::default();
    let ctx = app.context(&publisher);
    let first = Place::slot("test", "name-0");
    let other = (1..)
        .map(|i| Place::slot("test", &format!("name-{i}")))
        .find(|p| p.stored_at() == first.stored_at())
        .unwrap();
    let generation = vreg_core::storage::generation::current(&app.kv).unwrap();
    let remember = |place: &Place, bytes: &[u8]| {
        let kept = (&digests_of(bytes), ());
        resolved::remember_made(&ctx, place, generation, kept, bytes, i64::MAX).unwrap();
    };
    let found = |place: &Place| {
        resolved::lookup::<()>(&ctx, std::slice::from_ref(place))
            .unwrap()
            .and_then(|r| r.bytes)
    };
    remember(&first, b"first");
    assert_eq!(found(&first).as_deref(), Some(&b"first"[..]));
    assert_eq!(found(&other), None);
    remember(&other, b"other");
    assert_eq!(found(&other).as_deref(), Some(&b"other"[..]));
    assert_eq!(found(&first), None);
}

/// A token's reads of a private group's repositories and registry leave
/// records only that token's later reads are answered from (no SQL, not
/// even the token's lookup); revoking the token, or its expiry, turns it
/// away at the very next read.
#[test]
fn a_tokens_reads_skip_sql_until_it_is_revoked_or_expires() {
    let r = registry(24);
    let app = &r.app;
    assert_eq!(deploy(app, r.project, JAR, b"local jar"), 201);
    vreg_core::storage::lease::take_lease(&app.kv, "storage:sweep", 0, i64::MAX / 2).unwrap();
    let group = r.group();
    // The test clock stands at 2026-01-15 10:00 UTC; this token expires
    // at the end of the day.
    let token =
        app.token(json!({"name": "ci", "scopes": ["read_registry"], "expires_at": "2026-01-16"}));
    let other = app.token(json!({"name": "other", "scopes": ["read_registry"]}));
    let registry = format!("/virtual_registries/packages/maven/{}", r.id);
    let reads = [
        (format!("/projects/{}/packages/maven", r.project), JAR),
        (format!("/groups/{group}/-/packages/maven"), JAR),
        (registry.clone(), JAR),
        (registry.clone(), REMOTE_JAR),
    ];
    for (prefix, path) in &reads {
        for _ in 0..2 {
            assert_eq!(
                get(app, prefix, path, Some(&token)).status,
                200,
                "{prefix}/{path}"
            );
        }
        let full = get(app, prefix, path, Some(&token));
        let statements = app.sql.statements();
        for path in [path.to_string(), format!("{path}.sha1")] {
            let recorded = get(app, prefix, &path, Some(&token));
            assert_eq!(recorded.status, 200);
            assert_eq!(app.sql.statements(), statements, "no SQL: {prefix}/{path}");
        }
        assert_eq!(
            file_answer(&get(app, prefix, path, Some(&token))),
            file_answer(&full)
        );
        // Another token, a made-up one, no token: the full way.
        assert_eq!(get(app, prefix, path, Some(&other)).status, 200);
        assert!(app.sql.statements() > statements);
        assert_eq!(get(app, prefix, path, Some("made-up")).status, 401);
        assert_eq!(get(app, prefix, path, None).status, 401);
        // The bootstrap admin token is a setting, not a stored token: its
        // reads leave no records.
        for _ in 0..3 {
            let statements = app.sql.statements();
            assert_eq!(get(app, prefix, path, Some(ADMIN)).status, 200);
            assert!(app.sql.statements() > statements);
        }
    }

    // Revoked: turned away at once.
    let (prefix, path) = &reads[0];
    assert_eq!(get(app, prefix, path, Some(&other)).status, 200);
    let other_id = app
        .ok(Method::GET, "/personal_access_tokens", None)
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "other")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let revoked = app.admin(
        Method::DELETE,
        &format!("/personal_access_tokens/{other_id}"),
        None,
    );
    assert!(revoked.status.is_success(), "{}", revoked.body);
    assert_eq!(get(app, prefix, path, Some(&other)).status, 401);

    // Expired: 30 s before midnight a read leaves a record; 40 s later,
    // well within a record's minute, the token is refused.
    app.clock.advance((13 * 3600 + 59 * 60 + 30) * 1000);
    for _ in 0..2 {
        assert_eq!(get(app, prefix, path, Some(&token)).status, 200);
    }
    app.clock.advance(40_000);
    assert_eq!(get(app, prefix, path, Some(&token)).status, 401);
}

/// Through a public registry, an anonymous read of a checksum is answered
/// from the record of its file, and a file a local upstream serves leaves
/// a record as a cached one does: a build's every request skips SQL.
#[test]
fn checksums_and_local_files_of_a_public_registry_skip_sql_too() {
    let r = registry(24);
    let prefix = format!("/virtual_registries/packages/maven/{}", r.id);
    let group = r.group();
    let public = json!({"visibility": "public"});
    r.app.ok(
        Method::PATCH,
        &format!("/groups/{group}"),
        Some(public.clone()),
    );
    r.app.ok(
        Method::PUT,
        &format!("/projects/{}", r.project),
        Some(public),
    );
    let snapshot = "org/example/demo/1.1-SNAPSHOT/demo-1.1-20260101.000000-1.jar";
    assert_eq!(deploy(&r.app, r.project, JAR, b"local jar"), 201);
    assert_eq!(deploy(&r.app, r.project, snapshot, b"first"), 201);
    vreg_core::storage::lease::take_lease(&r.app.kv, "storage:sweep", 0, i64::MAX / 2).unwrap();
    let upstream = remote_upstream(&r);
    let listing = format!("/virtual_registries/packages/maven/upstreams/{upstream}/cache_entries");

    for path in [REMOTE_JAR, JAR, snapshot] {
        // (The remote file: fetched by the first read, streamed with the
        // upstream's headers; served from the cache and recorded by the next.)
        assert_eq!(get(&r.app, &prefix, path, None).status, 200, "{path}");
        let full = get(&r.app, &prefix, path, None);
        let statements = r.app.sql.statements();
        let recorded = get(&r.app, &prefix, path, None);
        assert_eq!(r.app.sql.statements(), statements, "no SQL: {path}");
        assert_eq!(file_answer(&recorded), file_answer(&full), "{path}");
        for checksum in ["sha1", "md5", "sha256", "sha512"] {
            let sum = get(&r.app, &prefix, &format!("{path}.{checksum}"), None);
            assert_eq!(
                r.app.sql.statements(),
                statements,
                "no SQL: {path}.{checksum}"
            );
            let body = String::from_utf8(sum.body).unwrap();
            assert_eq!(
                body.len(),
                digest_len(checksum),
                "{path}.{checksum}: {body}"
            );
        }
        let sha1 = get(&r.app, &prefix, &format!("{path}.sha1"), None).body;
        assert_eq!(
            String::from_utf8(sha1).unwrap(),
            header(&full, "x-checksum-sha1")
        );
    }
    // The remote file was read three times; its checksums are not
    // downloads of it.
    assert_eq!(
        r.app.ok(Method::GET, &listing, None)[0]["downloads_count"],
        3
    );

    // A snapshot of the local upstream uploaded again: the next read has it.
    assert_eq!(deploy(&r.app, r.project, snapshot, b"second"), 200);
    assert_eq!(get(&r.app, &prefix, snapshot, None).body, b"second");
    let sha1 = get(&r.app, &prefix, &format!("{snapshot}.sha1"), None).body;
    assert_eq!(String::from_utf8(sha1).unwrap(), digests_of(b"second").sha1);
    // The project made private: the registry no longer serves its files.
    let private = json!({"visibility": "private"});
    r.app.ok(
        Method::PUT,
        &format!("/projects/{}", r.project),
        Some(private),
    );
    assert_ne!(get(&r.app, &prefix, JAR, None).body, b"local jar");
    assert_ne!(
        get(&r.app, &prefix, &format!("{JAR}.sha1"), None).status,
        200
    );
}

fn digest_len(checksum: &str) -> usize {
    match checksum {
        "md5" => 32,
        "sha1" => 40,
        "sha256" => 64,
        _ => 128,
    }
}

#[test]
fn cache_entries_can_be_listed_deleted_and_cleared() {
    let r = registry(24);
    let prefix = format!("/virtual_registries/packages/maven/{}", r.id);
    assert_eq!(get(&r.app, &prefix, REMOTE_JAR, Some(ADMIN)).status, 200);
    assert_eq!(
        get(
            &r.app,
            &prefix,
            "org/remote/lib/maven-metadata.xml",
            Some(ADMIN)
        )
        .status,
        200
    );
    let upstream = remote_upstream(&r);
    let entries = r.app.ok(
        Method::GET,
        &format!("/virtual_registries/packages/maven/upstreams/{upstream}/cache_entries"),
        None,
    );
    let entries = entries.as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(
        entries[0]["relative_path"],
        "org/remote/lib/1.0/lib-1.0.jar"
    );
    assert_eq!(
        entries[0]["file_sha1"],
        digests_of(b"remote jar bytes").sha1
    );
    let found = r.app.ok(
        Method::GET,
        &format!(
            "/virtual_registries/packages/maven/upstreams/{upstream}/cache_entries?search=metadata"
        ),
        None,
    );
    assert_eq!(found.as_array().unwrap().len(), 1);

    let id = entries[0]["id"].as_str().unwrap();
    assert_eq!(
        r.app
            .admin(
                Method::DELETE,
                &format!("/virtual_registries/packages/maven/cache_entries/{id}"),
                None
            )
            .status,
        204
    );
    assert_eq!(
        r.app
            .admin(
                Method::DELETE,
                &format!("/virtual_registries/packages/maven/cache_entries/{id}"),
                None
            )
            .status,
        404
    );
    assert_eq!(
        r.app
            .admin(
                Method::DELETE,
                "/virtual_registries/packages/maven/cache_entries/not-base64!",
                None
            )
            .status,
        404
    );
    assert_eq!(r.app.count("cache_entries"), 1);
    assert_eq!(
        r.app
            .admin(
                Method::DELETE,
                &format!("/virtual_registries/packages/maven/upstreams/{upstream}/cache"),
                None
            )
            .status,
        204
    );
    assert_eq!(r.app.count("cache_entries"), 0);
    assert_eq!(get(&r.app, &prefix, REMOTE_JAR, Some(ADMIN)).status, 200);
    assert_eq!(
        r.app
            .admin(
                Method::DELETE,
                &format!(
                    "/virtual_registries/packages/maven/registries/{}/cache",
                    r.id
                ),
                None
            )
            .status,
        204
    );
    assert_eq!(r.app.count("cache_entries"), 0);
}

#[test]
fn upstream_connections_can_be_tested() {
    let mut r = registry(24);
    let upstream = remote_upstream(&r);
    let test = format!("/virtual_registries/packages/maven/upstreams/{upstream}/test");
    assert_eq!(r.app.ok(Method::GET, &test, None)["success"], true);
    // It sends the stored credentials: a read-only token may not run it.
    let reader = r.app.ok(
        Method::POST,
        "/personal_access_tokens",
        Some(json!({"name": "reader", "scopes": ["read_api"]})),
    )["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        r.app.call(Method::GET, &test, Some(&reader), None).status,
        http::StatusCode::FORBIDDEN
    );
    assert_eq!(
        r.app.ok(
            Method::POST,
            &format!("{test}?path=org/remote/lib/1.0/lib-1.0.jar"),
            None
        )["success"],
        true
    );
    r.server = None;
    let failed = r.app.ok(Method::GET, &test, None);
    assert_eq!(failed["success"], false);
    assert!(
        failed["result"].as_str().unwrap().starts_with("Error"),
        "{failed}"
    );
    r.app.config.allow_local_upstreams = false;
    let refused = r.app.ok(Method::GET, &test, None);
    assert!(
        refused["result"]
            .as_str()
            .unwrap()
            .contains("local network"),
        "{refused}"
    );
}

#[test]
fn among_remote_upstreams_asked_together_the_lowest_position_wins() {
    let mut app = App::new();
    app.config.allow_local_upstreams = true;
    let (dir_a, dir_b) = (tempfile_dir::Dir::new(), tempfile_dir::Dir::new());
    for (dir, body) in [(&dir_a, "from a"), (&dir_b, "from b")] {
        let d = dir.0.join("org/x/both/1");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("both-1.jar"), body).unwrap();
    }
    let only_b = dir_b.0.join("org/x/only-b/1");
    std::fs::create_dir_all(&only_b).unwrap();
    std::fs::write(only_b.join("only-b-1.jar"), "b alone").unwrap();
    let (a, b) = (StaticServer::start(&dir_a.0), StaticServer::start(&dir_b.0));
    let group = app.group("acme", None);
    let registry = app.registry(group, "maven", "all");
    for (name, server) in [("a", &a), ("b", &b)] {
        let id = app
            .create_upstream(group, "maven", json!({"name": name, "url": server.url()}))
            .id();
        assert_eq!(app.link("maven", registry, id).status, 201);
    }
    let prefix = format!("/virtual_registries/packages/maven/{registry}");
    assert_eq!(
        get(&app, &prefix, "org/x/both/1/both-1.jar", Some(ADMIN)).body,
        b"from a"
    );
    assert_eq!(
        get(&app, &prefix, "org/x/only-b/1/only-b-1.jar", Some(ADMIN)).body,
        b"b alone"
    );
    // Both were probed (HEAD) for each file; only the winner got a GET.
    assert_eq!((a.gets(), b.gets()), (1, 1));
    assert_eq!((a.requests(), b.requests()), (3, 3));
}

/// A public registry does not make a private project's packages public:
/// each caller is served only the projects it may read through a local
/// upstream (files, checksums and metadata alike).
#[test]
fn private_packages_do_not_leak_through_a_public_registry() {
    let app = App::new();
    let group = app.public_group("pub");
    let secret = app.project("secret", group);
    assert_eq!(deploy(&app, secret, JAR, b"secret jar"), 201);
    let registry = app.registry(group, "maven", "all");
    let local = app
        .create_upstream(
            group,
            "maven",
            json!({"name": "local", "mode": "local", "target_group_id": group}),
        )
        .id();
    assert_eq!(app.link("maven", registry, local).status, 201);
    let prefix = format!("/virtual_registries/packages/maven/{registry}");
    for path in [JAR.to_owned(), format!("{JAR}.sha1")] {
        let anonymous = get(&app, &prefix, &path, None);
        assert_eq!(anonymous.status, 404, "{path}: {:?}", anonymous.body);
    }
    let metadata = JAR.rsplitn(3, '/').nth(2).unwrap().to_owned() + "/maven-metadata.xml";
    assert_eq!(get(&app, &prefix, &metadata, None).status, 404);
    let outsider = app.token(json!({"name": "o", "scopes": ["read_registry"], "group_id":
        app.group("elsewhere", None)}));
    assert_eq!(get(&app, &prefix, JAR, Some(&outsider)).status, 404);
    assert_eq!(get(&app, &prefix, JAR, Some(ADMIN)).body, b"secret jar");
}

/// A local upstream at a better position beats a remote copy already
/// cached at a worse one (dependency confusion).
#[test]
fn a_cached_remote_copy_never_shadows_a_local_package() {
    let r = registry(24);
    let prefix = format!("/virtual_registries/packages/maven/{}", r.id);
    assert_eq!(
        get(&r.app, &prefix, REMOTE_JAR, Some(ADMIN)).body,
        b"remote jar bytes"
    );
    assert_eq!(r.app.count("cache_entries"), 1);
    assert_eq!(deploy(&r.app, r.project, REMOTE_JAR, b"internal jar"), 201);
    assert_eq!(
        get(&r.app, &prefix, REMOTE_JAR, Some(ADMIN)).body,
        b"internal jar"
    );
    assert_eq!(
        get(&r.app, &prefix, &format!("{REMOTE_JAR}.sha1"), Some(ADMIN)).body,
        digests_of(b"internal jar").sha1.as_bytes()
    );
}

#[test]
fn a_checksum_asked_first_fetches_and_caches_the_file() {
    let r = registry(24);
    let prefix = format!("/virtual_registries/packages/maven/{}", r.id);
    let expected = digests_of(b"remote jar bytes");
    // The upstream publishes no checksum files at all.
    for (ext, digest) in [("sha256", &expected.sha256), ("sha512", &expected.sha512)] {
        let reply = get(&r.app, &prefix, &format!("{REMOTE_JAR}.{ext}"), Some(ADMIN));
        assert_eq!(reply.status, 200, "{ext}");
        assert_eq!(reply.body, digest.as_bytes(), "{ext}");
    }
    assert_eq!(r.app.count("cache_entries"), 1, "the file was cached once");
    let asked = r.server.as_ref().unwrap().requests();
    assert_eq!(
        get(&r.app, &prefix, REMOTE_JAR, Some(ADMIN)).body,
        b"remote jar bytes"
    );
    assert_eq!(
        r.server.as_ref().unwrap().requests(),
        asked,
        "from the cache"
    );
    // Fetching the file for its checksum was no download: only the read
    // that sent the file counts.
    let upstream = remote_upstream(&r);
    let listing = format!("/virtual_registries/packages/maven/upstreams/{upstream}/cache_entries");
    assert_eq!(
        r.app.ok(Method::GET, &listing, None)[0]["downloads_count"],
        1
    );
    assert_eq!(
        get(
            &r.app,
            &prefix,
            "org/remote/none/1.0/none-1.0.jar.sha1",
            Some(ADMIN)
        )
        .status,
        404
    );
}

#[test]
fn an_upstream_that_keeps_failing_is_set_aside_then_tried_again() {
    let r = registry(0);
    let server = r.server.as_ref().unwrap();
    let prefix = format!("/virtual_registries/packages/maven/{}", r.id);
    let remote = remote_upstream(&r);
    // Cached while healthy.
    assert_eq!(get(&r.app, &prefix, REMOTE_JAR, Some(ADMIN)).status, 200);
    server.set_failing(true);
    for i in 0..5 {
        let reply = get(
            &r.app,
            &prefix,
            &format!("org/x/m{i}/1.0/m{i}-1.0.pom"),
            Some(ADMIN),
        );
        assert_eq!(reply.status, 502, "{i}");
    }
    let asked = server.requests();
    // Set aside: misses fail at once without asking it; cached copies are
    // still served (without revalidating).
    let reply = get(&r.app, &prefix, "org/x/m9/1.0/m9-1.0.pom", Some(ADMIN));
    assert_eq!(reply.status, 502);
    assert!(
        String::from_utf8_lossy(&reply.body).contains("set aside"),
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(
        get(&r.app, &prefix, REMOTE_JAR, Some(ADMIN)).body,
        b"remote jar bytes"
    );
    assert_eq!(server.requests(), asked, "not asked while set aside");
    let shown = r.app.ok(
        Method::GET,
        &format!("/virtual_registries/packages/maven/upstreams/{remote}"),
        None,
    );
    assert_eq!(shown["health"]["state"], "open", "{shown}");
    assert_eq!(shown["health"]["last_error"], "HTTP 503");

    // After the cool-down one request tries it again; it recovered.
    server.set_failing(false);
    r.app.clock.advance(31_000);
    assert_eq!(
        get(&r.app, &prefix, "org/x/m9/1.0/m9-1.0.pom", Some(ADMIN)).status,
        404,
        "asked again: it answers"
    );
    assert_eq!(server.requests(), asked + 1);
    let shown = r.app.ok(
        Method::GET,
        &format!("/virtual_registries/packages/maven/upstreams/{remote}"),
        None,
    );
    assert_eq!(shown["health"]["state"], "closed", "{shown}");
}

/// On a miss, remotes that may have the file are probed with HEAD at once
/// and only the best one that has it is sent a GET: a large file that
/// three remotes hold is downloaded once, from the lowest position.
#[test]
fn a_large_file_on_several_remotes_is_downloaded_once() {
    let mut app = App::new();
    app.config.allow_local_upstreams = true;
    let group = app.group("acme", None);
    let registry = app.registry(group, "maven", "all");
    let jar: Vec<u8> = (0..8_000_000u32).map(|i| (i * 31 % 251) as u8).collect();
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    // The first remote lacks the file; the second and third have it.
    for dir in &dirs[1..] {
        let file = dir.path().join(JAR);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, &jar).unwrap();
    }
    let servers: Vec<StaticServer> = dirs.iter().map(|d| StaticServer::start(d.path())).collect();
    for (i, server) in servers.iter().enumerate() {
        let upstream = app
            .create_upstream(
                group,
                "maven",
                json!({"name": format!("r{i}"), "url": server.url()}),
            )
            .id();
        assert_eq!(app.link("maven", registry, upstream).status, 201);
    }
    let prefix = format!("/virtual_registries/packages/maven/{registry}");
    let got = get(&app, &prefix, JAR, Some(ADMIN));
    assert_eq!(got.status, 200);
    assert!(got.body == jar, "the file, whole");
    let gets: Vec<usize> = servers.iter().map(StaticServer::gets).collect();
    let sent: Vec<usize> = servers.iter().map(StaticServer::body_bytes).collect();
    assert_eq!(gets, [0, 1, 0], "one GET, to the best remote that has it");
    assert_eq!(sent, [0, jar.len(), 0], "downloaded once");
    assert!(
        servers.iter().all(|s| s.requests() == 1 + s.gets()),
        "one HEAD each"
    );

    // A checksum of it is answered from the cache: no remote is asked.
    let sha1 = get(&app, &prefix, &format!("{JAR}.sha1"), Some(ADMIN));
    assert_eq!(sha1.body, digests_of(&jar).sha1.as_bytes());
    assert_eq!(servers.iter().map(StaticServer::requests).sum::<usize>(), 4);
}
