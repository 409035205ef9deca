//! Maven repositories and the Maven virtual registry, natively: the real
//! handler, real SQLite, and real HTTP upstreams on 127.0.0.1.

mod common;

use common::maven::*;
use common::{App, ADMIN};
use http::Method;
use serde_json::json;
use vreg_core::storage::blobs::digests_of;
use vreg_testkit::StaticServer;

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
