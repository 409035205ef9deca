//! Namespace protection, natively (real handlers, real SQLite, real HTTP
//! upstreams on 127.0.0.1): a coordinate a local upstream holds, or a
//! namespace the registry claims, is never asked of a remote upstream (the
//! static server's request count proves it) and never served from a copy a
//! remote served before, even with the remote at the better position.

mod common;

use std::io::Write;

use common::{App, ADMIN};
use http::Method;
use serde_json::json;
use vreg_testkit::{RecordingPublisher, StaticServer};

/// A registry whose remote upstream (position 1) comes before its local
/// project upstream (position 2).
struct Setup {
    app: App,
    server: StaticServer,
    _dir: tempfile::TempDir,
    registry: i64,
    project: i64,
}

fn setup(kind: &str, files: &[(&str, &[u8])]) -> Setup {
    let mut app = App::new();
    app.config.allow_local_upstreams = true;
    let dir = tempfile::tempdir().unwrap();
    for (path, body) in files {
        let file = dir.path().join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, body).unwrap();
    }
    let server = StaticServer::start(dir.path());
    let group = app.group("acme", None);
    let project = app.project("libs", group);
    let registry = app.registry(group, kind, "all");
    let remote = app
        .create_upstream(group, kind, json!({"name": "remote", "url": server.url()}))
        .id();
    let local = app
        .create_upstream(
            group,
            kind,
            json!({"name": "local", "mode": "local", "target_project_id": project}),
        )
        .id();
    assert_eq!(app.link(kind, registry, remote).status, 201);
    assert_eq!(app.link(kind, registry, local).status, 201);
    Setup {
        app,
        server,
        _dir: dir,
        registry,
        project,
    }
}

impl Setup {
    fn settings(&self, kind: &str, body: serde_json::Value) -> common::Reply {
        self.app.admin(
            Method::PATCH,
            &format!(
                "/virtual_registries/packages/{kind}/registries/{}",
                self.registry
            ),
            Some(body),
        )
    }

    fn maven(&self, path: &str) -> vreg_core::http::body::CollectedResponse {
        self.app.maven(
            Method::GET,
            &format!(
                "/virtual_registries/packages/maven/{}/{path}",
                self.registry
            ),
            Some(ADMIN),
            &[],
        )
    }
}

const LIB_1: &str = "org/acme/lib/1.0/lib-1.0.jar";
const OTHER_1: &str = "org/acme/other/1.0/other-1.0.jar";

#[test]
fn a_maven_coordinate_held_locally_is_never_asked_of_a_remote() {
    let s = setup(
        "maven",
        &[(LIB_1, b"public lib 1.0"), (OTHER_1, b"public other 1.0")],
    );
    // Not held yet: the remote answers, and its copy is cached.
    assert_eq!(s.maven(LIB_1).body, b"public lib 1.0");
    assert_eq!(s.app.count("cache_entries"), 1);

    // Publishing org.acme:lib here makes the coordinate local-only: the
    // cached remote copy is not served and the remote is not asked again,
    // for files, checksums and metadata.
    let deployed = s.app.maven(
        Method::PUT,
        &format!(
            "/projects/{}/packages/maven/org/acme/lib/2.0/lib-2.0.jar",
            s.project
        ),
        Some(ADMIN),
        b"internal lib 2.0",
    );
    assert_eq!(deployed.status, 201);
    let asked = s.server.requests();
    assert_eq!(s.maven(LIB_1).status, 404);
    assert_eq!(s.maven(&format!("{LIB_1}.sha1")).status, 404);
    assert_eq!(
        s.maven("org/acme/lib/3.0/lib-3.0.pom").status,
        404,
        "a version nobody has"
    );
    let metadata = s.maven("org/acme/lib/maven-metadata.xml");
    assert_eq!(metadata.status, 200);
    let text = String::from_utf8_lossy(&metadata.body);
    assert!(
        text.contains("<version>2.0</version>") && !text.contains("<version>1.0</version>"),
        "{text}"
    );
    assert_eq!(
        s.maven("org/acme/lib/2.0/lib-2.0.jar").body,
        b"internal lib 2.0"
    );
    assert_eq!(s.server.requests(), asked, "the remote was not asked");

    // Another artifact of the group is not held: still from the remote.
    assert_eq!(s.maven(OTHER_1).body, b"public other 1.0");
    assert_eq!(s.server.requests(), asked + 1);

    // Claiming the whole groupId protects it too, held or not.
    let reply = s.settings("maven", json!({"protected_namespaces": ["org.acme"]}));
    assert_eq!(reply.status, 200, "{}", reply.message());
    assert_eq!(reply.body["protected_namespaces"], json!(["org.acme"]));
    assert_eq!(reply.body["namespace_protection"], true);
    assert_eq!(s.maven(OTHER_1).status, 404);
    assert_eq!(s.maven("org/acme/tools/x/1.0/x-1.0.jar").status, 404);
    assert_eq!(s.server.requests(), asked + 1);
    // Whole segments only: org.acmex is somebody else's.
    assert_eq!(s.maven("org/acmex/y/1.0/y-1.0.jar").status, 404);
    assert_eq!(s.server.requests(), asked + 2);

    // Turned off: remote copies are served again.
    let reply = s.settings(
        "maven",
        json!({"namespace_protection": false, "protected_namespaces": []}),
    );
    assert_eq!(reply.status, 200, "{}", reply.message());
    assert_eq!(s.maven(LIB_1).body, b"public lib 1.0");
}

#[test]
fn protection_settings_are_validated() {
    let s = setup("maven", &[]);
    // Wrong types are bad requests; well-typed values that are not
    // namespaces fail validation, in GitLab's wording.
    for (bad, status) in [
        (json!({"protected_namespaces": [1]}), 400),
        (json!({"protected_namespaces": {"a": 1}}), 400),
        (json!({"namespace_protection": "yes"}), 400),
        (json!({"namespace_protection": 1}), 400),
        (json!({"protected_namespaces": ["org/acme"]}), 422),
        (json!({"protected_namespaces": ["org..acme"]}), 422),
        (json!({"protected_namespaces": ["org.acme:"]}), 422),
        (json!({"protected_namespaces": ["org.acme\u{0}x"]}), 400),
    ] {
        let reply = s.settings("maven", bad.clone());
        assert_eq!(reply.status, status, "{bad}: {}", reply.message());
    }
    let reply = s.settings("maven", json!({"protected_namespaces": ["org/acme"]}));
    assert!(
        reply.message().contains("Protected namespaces"),
        "{}",
        reply.message()
    );
    let too_many: Vec<String> = (0..101).map(|i| format!("org.n{i}")).collect();
    assert_eq!(
        s.settings("maven", json!({"protected_namespaces": too_many}))
            .status,
        422
    );
    let reply = s.settings(
        "maven",
        json!({"protected_namespaces": ["org.acme", "com.example:lib"], "namespace_protection": "false"}),
    );
    assert_eq!(reply.status, 200, "{}", reply.message());
    assert_eq!(reply.body["namespace_protection"], false);
    // Go namespaces are module path prefixes.
    let group = s.app.group("gophers", None);
    let go = s.app.registry(group, "go", "go");
    let path = format!("/virtual_registries/packages/go/registries/{go}");
    let ok = s.app.admin(
        Method::PATCH,
        &path,
        Some(json!({"protected_namespaces": ["corp.example.com/internal"]})),
    );
    assert_eq!(ok.status, 200, "{}", ok.message());
    let bad = s.app.admin(
        Method::PATCH,
        &path,
        Some(json!({"protected_namespaces": ["corp.example.com/"]})),
    );
    assert_eq!(bad.status, 422, "{}", bad.message());
}

fn zip(module: &str, version: &str) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut writer = zip::ZipWriter::new(&mut out);
    for (name, contents) in [
        ("go.mod", format!("module {module}\n")),
        ("lib.go", "package lib\n".to_owned()),
    ] {
        writer
            .start_file(
                format!("{module}@{version}/{name}"),
                zip::write::SimpleFileOptions::default(),
            )
            .unwrap();
        writer.write_all(contents.as_bytes()).unwrap();
    }
    writer.finish().unwrap();

    out.into_inner()
}

#[test]
fn a_go_module_held_locally_is_never_asked_of_a_remote() {
    let info = json!({"Version": "v1.0.0", "Time": "2026-01-01T00:00:00Z"}).to_string();
    let s = setup(
        "go",
        &[
            ("corp.example/lib/@v/v1.0.0.info", info.as_bytes()),
            ("corp.example/lib/@v/list", b"v1.0.0\n"),
            ("corp.example/lib/v2/@v/list", b"v2.0.0\n"),
            ("corp.example/tool/@v/list", b"v1.0.0\n"),
        ],
    );
    let publisher = RecordingPublisher::default();
    let go = |path: &str| {
        s.app.go(
            Method::GET,
            &format!("/virtual_registries/packages/go/{}/{path}", s.registry),
            Some(ADMIN),
            &[],
            &publisher,
        )
    };
    assert_eq!(go("corp.example/lib/@v/v1.0.0.info").status, 200);

    let put = s.app.go(
        Method::PUT,
        &format!(
            "/projects/{}/packages/go/corp.example/lib/@v/v0.9.0.zip",
            s.project
        ),
        Some(ADMIN),
        &zip("corp.example/lib", "v0.9.0"),
        &publisher,
    );
    assert_eq!(put.status, 200, "{}", String::from_utf8_lossy(&put.body));
    let asked = s.server.requests();
    assert_eq!(go("corp.example/lib/@v/v1.0.0.info").status, 404);
    assert_eq!(go("corp.example/lib/@v/list").body, b"v0.9.0\n");
    assert_eq!(go("corp.example/lib/v2/@v/list").body, b"", "below it too");
    assert_eq!(s.server.requests(), asked, "the remote was not asked");
    // A sibling module is not held.
    assert_eq!(go("corp.example/tool/@v/list").body, b"v1.0.0\n");
    assert_eq!(s.server.requests(), asked + 1);

    let reply = s.settings("go", json!({"protected_namespaces": ["corp.example"]}));
    assert_eq!(reply.status, 200, "{}", reply.message());
    assert_eq!(go("corp.example/tool/@v/list").body, b"");
    assert_eq!(s.server.requests(), asked + 1);
}

#[test]
fn filtered_coordinates_are_never_asked_of_a_remote() {
    let s = setup(
        "maven",
        &[(LIB_1, b"public lib 1.0"), (OTHER_1, b"public other 1.0")],
    );
    let reply = s.settings(
        "maven",
        json!({"remote_filters": ["allow org.acme:other", "deny org.acme*", "allow *"]}),
    );
    assert_eq!(reply.status, 200, "{}", reply.message());
    assert_eq!(
        reply.body["remote_filters"],
        json!(["allow org.acme:other", "deny org.acme*", "allow *"])
    );
    assert_eq!(s.maven(LIB_1).status, 404);
    assert_eq!(s.maven("org/acme/lib/maven-metadata.xml").status, 404);
    assert_eq!(s.server.requests(), 0, "denied: never asked");
    assert_eq!(
        s.maven(OTHER_1).body,
        b"public other 1.0",
        "the first rule allows it"
    );
    assert_eq!(s.server.requests(), 1);
    for bad in [json!(["maybe x"]), json!(["deny a:b:c"]), json!(["deny"])] {
        let reply = s.settings("maven", json!({ "remote_filters": bad }));
        assert_eq!(reply.status, 422, "{bad}");
    }
    let reply = s.settings("maven", json!({"nosum_patterns": ["x"]}));
    assert_eq!(reply.status, 422, "nosum patterns are for Go");
}

#[test]
fn filtered_go_modules_are_never_asked_of_a_remote() {
    let s = setup(
        "go",
        &[
            ("github.com/evil/x/@v/list", b"v1.0.0\n"),
            ("github.com/good/x/@v/list", b"v1.0.0\n"),
        ],
    );
    let reply = s.settings("go", json!({"remote_filters": ["deny github.com/evil/*"]}));
    assert_eq!(reply.status, 200, "{}", reply.message());
    let publisher = RecordingPublisher::default();
    let go = |path: &str| {
        s.app.go(
            Method::GET,
            &format!("/virtual_registries/packages/go/{}/{path}", s.registry),
            Some(ADMIN),
            &[],
            &publisher,
        )
    };
    assert_eq!(go("github.com/evil/x/@v/list").body, b"");
    assert_eq!(go("github.com/evil/x/v2/@v/v2.0.0.info").status, 404);
    assert_eq!(s.server.requests(), 0, "denied: never asked");
    assert_eq!(go("github.com/good/x/@v/list").body, b"v1.0.0\n");
    assert_eq!(s.server.requests(), 1);
}
