//! Merged `maven-metadata.xml` through a virtual registry, natively: real
//! handler, real SQLite, two real HTTP upstreams on 127.0.0.1 and a local
//! project.

mod common;

use common::{App, ADMIN};
use http::Method;
use serde_json::json;
use vreg_core::storage::blobs::digests_of;
use vreg_testkit::StaticServer;

const METADATA: &str = "org/acme/lib/maven-metadata.xml";

fn document(versions: &[&str], updated: &str) -> String {
    let listed: String = versions
        .iter()
        .map(|v| format!("<version>{v}</version>"))
        .collect();
    format!(
        "<?xml version=\"1.0\"?><metadata><groupId>org.acme</groupId><artifactId>lib</artifactId>\
         <versioning><latest>x</latest><versions>{listed}</versions>\
         <lastUpdated>{updated}</lastUpdated></versioning></metadata>"
    )
}

fn remote(dir: &tempfile::TempDir, versions: &[&str], updated: &str) -> StaticServer {
    let file = dir.path().join(METADATA);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(file, document(versions, updated)).unwrap();
    StaticServer::start(dir.path())
}

/// A registry of `group` over a remote at `first`, a local upstream
/// serving `project`, and a remote at `last`, in that order, with
/// namespace protection off (or the local coordinate would keep the
/// remotes out).
fn remote_local_remote(app: &App, group: i64, project: i64, first: &str, last: &str) -> i64 {
    let registry = app.registry(group, "maven", "all");
    for body in [
        json!({"name": "first", "url": first}),
        json!({"name": "local", "mode": "local", "target_project_id": project}),
        json!({"name": "last", "url": last}),
    ] {
        let id = app.create_upstream(group, "maven", body).id();
        assert_eq!(app.link("maven", registry, id).status, 201);
    }
    let off = app.admin(
        Method::PATCH,
        &format!("/virtual_registries/packages/maven/registries/{registry}"),
        Some(json!({"namespace_protection": false})),
    );
    assert_eq!(off.status, 200);
    registry
}

fn versions_of(xml: &str) -> Vec<String> {
    xml.split("<version>")
        .skip(1)
        .map(|s| s.split("</version>").next().unwrap().to_owned())
        .collect()
}

#[test]
fn metadata_is_the_union_of_every_upstream_in_maven_order() {
    let mut app = App::new();
    app.config.allow_local_upstreams = true;
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = remote(&dir_a, &["1.0", "1.5"], "20260101000000");
    let b = remote(
        &dir_b,
        &["1.5", "2.0.1", "3.0-SNAPSHOT", "1.10"],
        "20260301120000",
    );
    let group = app.group("acme", None);
    let project = app.project("libs", group);
    let registry = remote_local_remote(&app, group, project, &a.url(), &b.url());
    // Published here: 2.0.
    let deployed = app.maven(
        Method::PUT,
        &format!("/projects/{project}/packages/maven/org/acme/lib/2.0/lib-2.0.jar"),
        Some(ADMIN),
        b"jar",
    );
    assert_eq!(deployed.status, 201);

    let get = |path: &str| {
        app.maven(
            Method::GET,
            &format!("/virtual_registries/packages/maven/{registry}/{path}"),
            Some(ADMIN),
            &[],
        )
    };
    let merged = get(METADATA);
    assert_eq!(merged.status, 200);
    let xml = String::from_utf8_lossy(&merged.body).into_owned();
    assert_eq!(
        versions_of(&xml),
        ["1.0", "1.5", "1.10", "2.0", "2.0.1", "3.0-SNAPSHOT"],
        "{xml}"
    );
    assert!(xml.contains("<latest>3.0-SNAPSHOT</latest>"), "{xml}");
    assert!(xml.contains("<release>2.0.1</release>"), "{xml}");
    assert!(
        xml.contains("<lastUpdated>20260301120000</lastUpdated>"),
        "{xml}"
    );
    // Its checksums are of these very bytes, and it is the same next time.
    let digests = digests_of(&merged.body);
    assert_eq!(
        get(&format!("{METADATA}.sha1")).body,
        digests.sha1.as_bytes()
    );
    assert_eq!(get(&format!("{METADATA}.md5")).body, digests.md5.as_bytes());
    assert_eq!(get(METADATA).body, merged.body);

    // An upstream that goes away still contributes its cached copy.
    drop(b);
    assert_eq!(get(METADATA).body, merged.body);
}

/// An anonymous read of a public registry's merged metadata leaves a
/// record: the next read of it, or of a checksum of it, is answered from
/// the record with no SQL, for as long as every upstream's part holds (a
/// remembered 404 as long as it is remembered), and an upload is seen at
/// once.
#[test]
fn merged_metadata_is_answered_from_its_record_while_every_part_holds() {
    let mut app = App::new();
    app.config.allow_local_upstreams = true;
    app.config.negative_cache_seconds = 10;
    let (dir_a, dir_c) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = remote(&dir_a, &["1.0"], "20260101000000");
    let c = StaticServer::start(dir_c.path());
    let group = app.public_group("acme");
    let project = app.public_project("libs", group);
    let registry = remote_local_remote(&app, group, project, &a.url(), &c.url());
    let deploy = |version: &str| {
        let path = format!("org/acme/lib/{version}/lib-{version}.jar");
        let put = app.maven(
            Method::PUT,
            &format!("/projects/{project}/packages/maven/{path}"),
            Some(ADMIN),
            b"jar",
        );
        assert_eq!(put.status, 201);
    };
    deploy("2.0");
    // (The sweep, 1 request in 16, held elsewhere: it adds no statements.)
    vreg_core::storage::lease::take_lease(&app.kv, "storage:sweep", 0, i64::MAX / 2).unwrap();
    let get = |path: &str| {
        app.maven(
            Method::GET,
            &format!("/virtual_registries/packages/maven/{registry}/{path}"),
            None,
            &[],
        )
    };
    let versions = || versions_of(&String::from_utf8_lossy(&get(METADATA).body));

    let first = get(METADATA);
    assert_eq!(first.status, 200);
    assert_eq!(
        versions_of(&String::from_utf8_lossy(&first.body)),
        ["1.0", "2.0"]
    );
    let statements = app.sql.statements();
    assert_eq!(get(METADATA).body, first.body);
    let sha1 = get(&format!("{METADATA}.sha1")).body;
    assert_eq!(sha1, digests_of(&first.body).sha1.as_bytes());
    assert_eq!(app.sql.statements(), statements, "no SQL");

    // c publishes it now, but its 404 is remembered for 10 s: until then
    // the full way would not ask c either, and neither does the record.
    std::fs::create_dir_all(dir_c.path().join("org/acme/lib")).unwrap();
    std::fs::write(
        dir_c.path().join(METADATA),
        document(&["1.5"], "20260102000000"),
    )
    .unwrap();
    app.clock.advance(9_000);
    assert_eq!(versions(), ["1.0", "2.0"]);
    assert_eq!(app.sql.statements(), statements, "no SQL");
    app.clock.advance(2_000);
    assert_eq!(versions(), ["1.0", "1.5", "2.0"]);
    assert!(app.sql.statements() > statements, "the full way");

    // An upload here is seen at once.
    deploy("3.0");
    assert_eq!(versions(), ["1.0", "1.5", "2.0", "3.0"]);
    let statements = app.sql.statements();
    let merged = get(METADATA).body;
    assert_eq!(app.sql.statements(), statements, "recorded again");
    let sha1 = get(&format!("{METADATA}.sha1")).body;
    assert_eq!(sha1, digests_of(&merged).sha1.as_bytes());
}

/// Metadata of an artifact with a thousand versions (~20 KiB merged, past
/// the 8 KiB a stored file is kept in its record up to) is kept whole in
/// its record too: made on the fly, it has no chunks to name.
#[test]
fn long_merged_metadata_is_recorded_whole() {
    let mut app = App::new();
    app.config.allow_local_upstreams = true;
    let (dir_a, dir_c) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let many: Vec<String> = (0..1_000).map(|i| format!("1.{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let a = remote(&dir_a, &many, "20260101000000");
    let c = StaticServer::start(dir_c.path());
    let group = app.public_group("acme");
    let project = app.public_project("libs", group);
    let registry = remote_local_remote(&app, group, project, &a.url(), &c.url());
    vreg_core::storage::lease::take_lease(&app.kv, "storage:sweep", 0, i64::MAX / 2).unwrap();
    let path = format!("/virtual_registries/packages/maven/{registry}/{METADATA}");
    let first = app.maven(Method::GET, &path, None, &[]);
    assert_eq!(first.status, 200);
    assert!(first.body.len() > 16 * 1024, "{} bytes", first.body.len());
    assert_eq!(
        versions_of(&String::from_utf8_lossy(&first.body)).len(),
        1_000
    );
    let statements = app.sql.statements();
    assert_eq!(app.maven(Method::GET, &path, None, &[]).body, first.body);
    assert_eq!(app.sql.statements(), statements, "no SQL");
}
