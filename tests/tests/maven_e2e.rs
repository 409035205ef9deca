//! The Maven side as Maven sees it: Debian's `mvn` deploys to a project
//! through devhost (or real Spin), then resolves through a virtual registry whose remote
//! upstream is Debian's `/usr/share/maven-repo` served on 127.0.0.1 — first
//! live, then with that server stopped, from vreg's cache.

use std::path::{Path, PathBuf};

use vreg_testkit::StaticServer;
use vreg_tests::jvm::{deploy_file, maven_settings, mvn, sha1_hex};
use vreg_tests::{json, Vreg};

const ADMIN: &str = "maven-e2e-admin";
const DEBIAN_REPO: &str = "/usr/share/maven-repo";

fn start() -> Vreg {
    Vreg::start(&[
        ("SPIN_VARIABLE_ADMIN_TOKEN", ADMIN),
        ("SPIN_VARIABLE_SECRET_KEY", "maven-e2e"),
        ("SPIN_VARIABLE_ALLOW_LOCAL_UPSTREAMS", "true"),
    ])
}

#[test]
fn mvn_deploys_and_resolves_through_vreg_then_works_from_the_cache() {
    assert!(
        Path::new(DEBIAN_REPO).join("junit/junit").is_dir(),
        "Debian's junit4 is needed (scripts/test installs it)"
    );
    let work = tempfile::tempdir().unwrap();
    let host = start();
    let debian = StaticServer::start(Path::new(DEBIAN_REPO));

    let group = host.admin(ADMIN, "POST", "/groups", json!({"name": "acme"}))["id"]
        .as_i64()
        .unwrap();
    let project = host.admin(
        ADMIN,
        "POST",
        "/projects",
        json!({"name": "libs", "namespace_id": group}),
    )["id"]
        .as_i64()
        .unwrap();
    let registry = host.admin(
        ADMIN,
        "POST",
        &format!("/groups/{group}/-/virtual_registries/packages/maven/registries"),
        json!({"name": "all"}),
    )["id"]
        .as_i64()
        .unwrap();
    let upstreams = format!("/virtual_registries/packages/maven/registries/{registry}/upstreams");
    host.admin(
        ADMIN,
        "POST",
        &upstreams,
        json!({"name": "libs", "mode": "local", "target_project_id": project}),
    );
    let remote = host.admin(
        ADMIN,
        "POST",
        &upstreams,
        json!({"name": "debian", "url": debian.url(), "cache_validity_hours": 0}),
    )["id"]
        .as_i64()
        .unwrap();
    let token = host.admin(
        ADMIN,
        "POST",
        "/personal_access_tokens",
        json!({"name": "mvn", "scopes": ["read_registry", "write_registry"], "group_id": group}),
    )["token"]
        .as_str()
        .unwrap()
        .to_owned();

    let settings = work.path().join("settings.xml");
    let registry_url = format!(
        "{}/api/v4/virtual_registries/packages/maven/{registry}",
        host.base
    );
    maven_settings(&settings, &registry_url, &token);

    // 1. mvn deploy:deploy-file publishes a jar and its pom to the project.
    let jar = work.path().join("demo-1.0.jar");
    let mut jar_bytes = b"PK\x03\x04".to_vec();
    jar_bytes.extend((0..50_000u32).map(|i| (i % 253) as u8));
    std::fs::write(&jar, &jar_bytes).unwrap();
    let pom = work.path().join("demo-1.0.pom");
    std::fs::write(
        &pom,
        r#"<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>org.acme</groupId><artifactId>demo</artifactId><version>1.0</version><packaging>jar</packaging></project>"#,
    )
    .unwrap();
    let project_url = format!("{}/api/v4/projects/{project}/packages/maven", host.base);
    let deploy_repo = work.path().join("deploy-repo");
    deploy_file(&settings, &deploy_repo, &project_url, &pom, &jar);

    // 2. With an empty local repository, everything Maven needs comes through vreg.
    let first: PathBuf = work.path().join("repo-live");
    let get = "org.apache.maven.plugins:maven-dependency-plugin:3.5.0:get";
    mvn(&settings, &first, &[get, "-Dartifact=org.acme:demo:1.0"]);
    mvn(&settings, &first, &[get, "-Dartifact=junit:junit:4.13.2"]);
    let fetched_through_debian = debian.requests();
    assert!(
        fetched_through_debian > 20,
        "the plugin and its dependencies came from the remote upstream"
    );

    // 3. Again with the static server stopped: from the cache.
    drop(debian);
    let second = work.path().join("repo-cached");
    mvn(&settings, &second, &[get, "-Dartifact=org.acme:demo:1.0"]);
    mvn(&settings, &second, &[get, "-Dartifact=junit:junit:4.13.2"]);

    // 4. What Maven downloaded is byte-identical; checksum files match.
    let junit = "junit/junit/4.13.2/junit-4.13.2.jar";
    for repo in [&first, &second] {
        assert_eq!(
            std::fs::read(repo.join("org/acme/demo/1.0/demo-1.0.jar")).unwrap(),
            jar_bytes
        );
        assert_eq!(
            std::fs::read(repo.join(junit)).unwrap(),
            std::fs::read(Path::new(DEBIAN_REPO).join(junit)).unwrap()
        );
        for file in [
            junit.to_owned(),
            "org/acme/demo/1.0/demo-1.0.jar".to_owned(),
        ] {
            let checksum = repo.join(format!("{file}.sha1"));
            if let Ok(text) = std::fs::read_to_string(&checksum) {
                assert_eq!(
                    text.trim(),
                    sha1_hex(&repo.join(&file)),
                    "{}",
                    checksum.display()
                );
            }
        }
    }
    let sha1 = host.request(
        "GET",
        &format!("/api/v4/virtual_registries/packages/maven/{registry}/{junit}.sha1"),
        &[("private-token", &token)],
        &[],
    );
    assert_eq!(sha1.text(), sha1_hex(&Path::new(DEBIAN_REPO).join(junit)));
    // Downloads are counted (here in the `counters` store's own file, as a
    // runtime config without Redis has it): the live fetch and the cached read.
    let entries = host.admin(
        ADMIN,
        "GET",
        &format!(
            "/virtual_registries/packages/maven/upstreams/{remote}/cache_entries?search=junit-4.13.2.jar"
        ),
        json!({}),
    );
    let jar = entries
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["relative_path"] == junit)
        .unwrap_or_else(|| panic!("{entries}"));
    assert_eq!(jar["downloads_count"], 2, "{jar}");
    let log = host.log();
    assert!(!log.contains(" 500 "), "no server errors:\n{log}");
}

#[test]
fn a_200_mib_file_streams_in_and_out_with_bounded_component_memory() {
    let host = start();
    let project = host.new_project(ADMIN, "big", "files");
    let size = 200 * 1024 * 1024;
    let data: Vec<u8> = (0..size)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0])
        .collect();
    let path = format!("/api/v4/projects/{project}/packages/maven/org/big/blob/1.0/blob-1.0.bin");
    let put = host.request("PUT", &path, &[("private-token", ADMIN)], &data);
    assert_eq!(put.status, 201, "{}", put.text());
    let got = host.request("GET", &path, &[("private-token", ADMIN)], &[]);
    assert_eq!(got.status, 200);
    assert!(got.body == data, "the file comes back byte for byte");
    drop(got);
    // devhost logs each request's peak linear memory: it stays far below
    // 64 MiB. (Spin does not log it; the same .wasm runs there.)
    if !host.host.is_devhost() {
        return;
    }
    let log = host.log();
    let peaks: Vec<usize> = log
        .lines()
        .filter(|l| l.contains("blob-1.0.bin"))
        .filter_map(|l| l.split("mem=").nth(1)?.trim_end_matches("KiB").parse().ok())
        .collect();
    assert_eq!(peaks.len(), 2, "{log}");
    for kib in peaks {
        assert!(kib < 64 * 1024, "peak memory {kib} KiB");
    }
}

/// Reads of a project's and group's repository are answered from records
/// after the first (no SQL), anonymous ones and a token's apart: on the
/// real host's stores, an upload, the project made private or the token
/// revoked is seen by the very next read.
/// An upload past `max_file_bytes` (here 1 MiB; 12 MiB sent, more than
/// the sockets between client and host buffer) is refused with a 413 the
/// client gets to read, and leaves no file. Left unread, the rest of the
/// body made real Spin close the connection under the client (a broken
/// pipe, not a status).
#[test]
fn an_upload_past_the_file_limit_is_refused_with_a_413_the_client_reads() {
    let host = Vreg::start(&[
        ("SPIN_VARIABLE_ADMIN_TOKEN", ADMIN),
        ("SPIN_VARIABLE_SECRET_KEY", "maven-e2e"),
        ("SPIN_VARIABLE_MAX_FILE_BYTES", "1048576"),
    ]);
    let project = host.new_project(ADMIN, "limits", "files");
    let path = format!("/api/v4/projects/{project}/packages/maven/org/big/blob/1.0/blob-1.0.bin");
    let auth = [("private-token", ADMIN)];
    for _ in 0..3 {
        let put = host.request("PUT", &path, &auth, &vec![7u8; 12 * 1024 * 1024]);
        assert_eq!(put.status, 413, "{}", put.text());
        assert!(put.text().contains("1048576"), "{}", put.text());
        assert_eq!(host.request("GET", &path, &auth, &[]).status, 404);
    }
    let small = vec![7u8; 1024 * 1024];
    assert_eq!(host.request("PUT", &path, &auth, &small).status, 201);
    assert!(host.request("GET", &path, &auth, &[]).body == small);
}

#[test]
fn recorded_reads_follow_changes_at_once() {
    let host = start();
    let group = host.public_group(ADMIN, "open");
    let project = host.create(
        ADMIN,
        "/projects",
        json!({"name": "libs", "namespace_id": group, "visibility": "public"}),
    );
    let file = "org/acme/snap/1.0-SNAPSHOT/snap-1.0-20260101.000000-1.jar";
    let in_project = format!("/api/v4/projects/{project}/packages/maven/{file}");
    let in_group = format!("/api/v4/groups/{group}/-/packages/maven/{file}");
    let deploy = |body: &[u8]| {
        let put = host.request("PUT", &in_project, &[("private-token", ADMIN)], body);
        assert!(put.status == 200 || put.status == 201, "{}", put.text());
    };
    let sha1 = |body: &[u8]| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, body).unwrap();
        sha1_hex(&path)
    };
    for build in [&b"first build"[..], b"second build"] {
        deploy(build);
        for url in [&in_project, &in_group] {
            for _ in 0..3 {
                let got = host.get(url);
                assert_eq!((got.status, got.body.as_slice()), (200, build), "{url}");
                assert_eq!(got.header("x-checksum-sha1"), Some(sha1(build).as_str()));
                assert_eq!(host.get(&format!("{url}.sha1")).text(), sha1(build));
            }
        }
    }
    let private = json!({"visibility": "private"});
    host.admin(ADMIN, "PUT", &format!("/projects/{project}"), private);
    assert_eq!(host.get(&in_project).status, 401);
    assert_eq!(host.get(&format!("{in_project}.sha1")).status, 401);
    assert_eq!(host.get(&in_group).status, 404);

    // A token's reads of the now private project, until it is revoked.
    let created = host.admin(
        ADMIN,
        "POST",
        "/personal_access_tokens",
        json!({"name": "ci", "scopes": ["read_registry"]}),
    );
    let token = created["token"].as_str().unwrap().to_owned();
    let with_token = [("private-token", token.as_str())];
    for url in [&in_project, &in_group] {
        for _ in 0..3 {
            let got = host.request("GET", url, &with_token, &[]);
            assert_eq!(got.body, b"second build", "{url}");
        }
    }
    let revoke = format!("/personal_access_tokens/{}", created["id"]);
    assert_eq!(
        host.request(
            "DELETE",
            &format!("/api/v4{revoke}"),
            &[("private-token", ADMIN)],
            &[]
        )
        .status,
        204
    );
    for url in [&in_project, &in_group] {
        assert_eq!(
            host.request("GET", url, &with_token, &[]).status,
            401,
            "{url}"
        );
    }
    let log = host.log();
    assert!(!log.contains(" 500 "), "no server errors:\n{log}");
}
