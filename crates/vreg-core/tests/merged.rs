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
    let registry = app.registry(group, "maven", "all");
    for body in [
        json!({"name": "a", "url": a.url()}),
        json!({"name": "local", "mode": "local", "target_project_id": project}),
        json!({"name": "b", "url": b.url()}),
    ] {
        let id = app.create_upstream(group, "maven", body).id();
        assert_eq!(app.link("maven", registry, id).status, 201);
    }
    // Published here: 2.0 (namespace protection off, or the local
    // coordinate would keep the remotes out).
    let off = app.admin(
        Method::PATCH,
        &format!("/virtual_registries/packages/maven/registries/{registry}"),
        Some(json!({"namespace_protection": false})),
    );
    assert_eq!(off.status, 200);
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
