//! A virtual registry over several upstreams, as the JVM build tools see
//! it, through devhost (or real Spin with `VREG_E2E_HOST=spin`):
//! - `mvn` deploys a SNAPSHOT twice (timestamped, build numbers 1 and 2) to
//!   a project, and a consumer resolves the newest through the registry;
//! - a version range whose versions are spread over two remote upstreams
//!   resolves to the highest, with `mvn` and with Debian's `gradle`, and
//!   Gradle resolves it (and a local project's artifact) again from a fresh
//!   home once the remotes are stopped;
//! - a dead upstream (one that refuses connections, one that accepts and
//!   never answers) costs one timeout, not one per request, while cached
//!   files keep being served.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use vreg_testkit::StaticServer;
use vreg_tests::jvm::{deploy_file, gradle, maven_settings, mvn};
use vreg_tests::{json, Vreg};

const ADMIN: &str = "maven-clients-admin";
const DEBIAN_REPO: &str = "/usr/share/maven-repo";

fn start(extra: &[(&str, &str)]) -> Vreg {
    let mut env = vec![
        ("SPIN_VARIABLE_ADMIN_TOKEN", ADMIN),
        ("SPIN_VARIABLE_SECRET_KEY", "maven-clients"),
        ("SPIN_VARIABLE_ALLOW_LOCAL_UPSTREAMS", "true"),
    ];
    env.extend_from_slice(extra);
    Vreg::start(&env)
}

/// The bytes of `org.range:lib:<version>` as the remote holding it has it.
fn range_jar(version: &str) -> Vec<u8> {
    let mut bytes = b"PK\x03\x04".to_vec();
    bytes.extend(
        format!("org.range:lib:{version}")
            .bytes()
            .cycle()
            .take(4000),
    );
    bytes
}

/// A remote Maven repository holding `org.range:lib` at `versions`, with
/// its own artifact-level metadata.
fn range_remote(versions: &[&str]) -> (tempfile::TempDir, StaticServer) {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("org/range/lib");
    for version in versions {
        let d = base.join(version);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join(format!("lib-{version}.pom")),
            format!(
                r#"<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>org.range</groupId><artifactId>lib</artifactId><version>{version}</version></project>"#
            ),
        )
        .unwrap();
        std::fs::write(d.join(format!("lib-{version}.jar")), range_jar(version)).unwrap();
    }
    let listed: String = versions
        .iter()
        .map(|v| format!("<version>{v}</version>"))
        .collect();
    let last = versions.last().unwrap();
    std::fs::write(
        base.join("maven-metadata.xml"),
        format!(
            "<metadata><groupId>org.range</groupId><artifactId>lib</artifactId><versioning>\
             <latest>{last}</latest><release>{last}</release><versions>{listed}</versions>\
             <lastUpdated>20260101000000</lastUpdated></versioning></metadata>"
        ),
    )
    .unwrap();
    let server = StaticServer::start(dir.path());
    (dir, server)
}

/// A public group and project, and a registry whose upstreams are the
/// project, Debian's Maven repository (for plugins) and `remotes`.
struct Registry {
    project: i64,
    url: String,
    token: String,
}

fn registry(host: &Vreg, remotes: &[&StaticServer], debian: &StaticServer) -> Registry {
    let group = host.public_group(ADMIN, "jvm");
    let project = host.create(
        ADMIN,
        "/projects",
        json!({"name": "libs", "namespace_id": group, "visibility": "public"}),
    );
    let id = host.registry(ADMIN, group, "maven", json!({"name": "all"}));
    let local = json!({"name": "libs", "mode": "local", "target_project_id": project});
    host.upstream(ADMIN, "maven", id, local);
    let debian = json!({"name": "debian", "url": debian.url()});
    host.upstream(ADMIN, "maven", id, debian);
    for (i, remote) in remotes.iter().enumerate() {
        let remote = json!({"name": format!("remote-{i}"), "url": remote.url()});
        host.upstream(ADMIN, "maven", id, remote);
    }
    let token = host.admin(
        ADMIN,
        "POST",
        "/personal_access_tokens",
        json!({"name": "jvm", "scopes": ["read_registry", "write_registry"], "group_id": group}),
    )["token"]
        .as_str()
        .unwrap()
        .to_owned();
    Registry {
        project,
        url: format!(
            "{}/api/v4/virtual_registries/packages/maven/{id}",
            host.base
        ),
        token,
    }
}

/// Everything a test here starts from: vreg, Debian's repository and two
/// remotes holding `org.range:lib` 1.0, 1.1 and 1.2, 2.0, a registry over
/// them, and Maven settings for it.
struct Fixture {
    work: tempfile::TempDir,
    host: Vreg,
    _debian: StaticServer,
    remotes: Option<(StaticServer, StaticServer)>,
    _remote_dirs: [tempfile::TempDir; 2],
    registry: Registry,
    settings: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let work = tempfile::tempdir().unwrap();
        let host = start(&[]);
        let debian = StaticServer::start(Path::new(DEBIAN_REPO));
        let (a_dir, a) = range_remote(&["1.0", "1.1"]);
        let (b_dir, b) = range_remote(&["1.2", "2.0"]);
        let registry = registry(&host, &[&a, &b], &debian);
        let settings = work.path().join("settings.xml");
        maven_settings(&settings, &registry.url, &registry.token);
        Fixture {
            work,
            host,
            _debian: debian,
            remotes: Some((a, b)),
            _remote_dirs: [a_dir, b_dir],
            registry,
            settings,
        }
    }

    /// Deploys `jar` with `pom` to the project with `mvn`.
    fn deploy(&self, pom: &Path, jar: &Path) {
        let url = format!(
            "{}/api/v4/projects/{}/packages/maven",
            self.host.base, self.registry.project
        );
        let local_repo = self.work.path().join("deploy-repo");
        deploy_file(&self.settings, &local_repo, &url, pom, jar);
    }
}

fn write(path: &Path, bytes: &[u8]) -> PathBuf {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
    path.to_path_buf()
}

#[test]
fn mvn_resolves_the_newest_snapshot_and_a_range_spread_over_two_remotes() {
    let f = Fixture::new();
    let (w, host, r, settings) = (f.work.path(), &f.host, &f.registry, &f.settings);

    // Two deploys of the same SNAPSHOT: timestamped files, build 1 and 2.
    let pom = write(
        &w.join("snap.pom"),
        br#"<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>org.acme</groupId><artifactId>snap</artifactId><version>1.0-SNAPSHOT</version><packaging>jar</packaging></project>"#,
    );
    let builds: Vec<Vec<u8>> = (1..=2)
        .map(|n| {
            let mut jar = b"PK\x03\x04".to_vec();
            jar.extend(format!("snapshot build {n} ").bytes().cycle().take(20_000));
            jar
        })
        .collect();
    for build in &builds {
        let jar = write(&w.join("snap.jar"), build);
        f.deploy(&pom, &jar);
    }
    let version_metadata = host.get(&format!(
        "/api/v4/projects/{}/packages/maven/org/acme/snap/1.0-SNAPSHOT/maven-metadata.xml",
        r.project
    ));
    let text = version_metadata.text();
    assert!(text.contains("<buildNumber>2</buildNumber>"), "{text}");

    // A consumer with an empty local repository gets build 2.
    let consumer = w.join("repo-snapshot");
    let get = "org.apache.maven.plugins:maven-dependency-plugin:3.5.0:get";
    mvn(
        settings,
        &consumer,
        &[get, "-Dartifact=org.acme:snap:1.0-SNAPSHOT"],
    );
    let resolved = consumer.join("org/acme/snap/1.0-SNAPSHOT/snap-1.0-SNAPSHOT.jar");
    assert!(
        std::fs::read(&resolved).unwrap() == builds[1],
        "the newest SNAPSHOT"
    );

    // A range over versions that two remotes hold between them: the
    // highest below 2.0 is 1.2, which only the second remote has.
    let project = write(
        &w.join("consumer/pom.xml"),
        br#"<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>org.acme</groupId><artifactId>consumer</artifactId><version>1</version><packaging>pom</packaging>
<dependencies><dependency><groupId>org.range</groupId><artifactId>lib</artifactId><version>[1.0,2.0)</version></dependency></dependencies>
</project>"#,
    );
    let out = w.join("consumer/out");
    mvn(
        settings,
        &w.join("repo-range"),
        &[
            "-f",
            project.to_str().unwrap(),
            "org.apache.maven.plugins:maven-dependency-plugin:3.5.0:copy-dependencies",
            &format!("-DoutputDirectory={}", out.display()),
        ],
    );
    let copied: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(copied, ["lib-1.2.jar"]);
    assert!(std::fs::read(out.join("lib-1.2.jar")).unwrap() == range_jar("1.2"));
    let log = host.log();
    assert!(!log.contains(" 500 "), "no server errors:\n{log}");
}

#[test]
fn gradle_resolves_a_range_and_a_local_artifact_then_works_with_the_remotes_stopped() {
    let mut f = Fixture::new();
    let (w, host, r) = (f.work.path(), &f.host, &f.registry);
    let pom = write(
        &w.join("demo.pom"),
        br#"<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>org.acme</groupId><artifactId>demo</artifactId><version>1.0</version><packaging>jar</packaging></project>"#,
    );
    let demo: Vec<u8> = b"PK\x03\x04local demo".to_vec();
    let jar = write(&w.join("demo.jar"), &demo);
    f.deploy(&pom, &jar);

    let build = w.join("build");
    write(
        &build.join("build.gradle"),
        format!(
            r#"apply plugin: 'base'
repositories {{ maven {{ url '{}' }} }}
configurations {{ deps }}
dependencies {{
    deps 'org.acme:demo:1.0'
    deps 'org.range:lib:[1.0,2.0)'
}}
task copyDeps(type: Copy) {{
    from configurations.deps
    into "$buildDir/deps"
}}
"#,
            r.url
        )
        .as_bytes(),
    );
    write(
        &build.join("settings.gradle"),
        b"rootProject.name = 'consumer'\n",
    );
    let copied = |home: &str| {
        let deps = build.join("build/deps");
        let _ = std::fs::remove_dir_all(&deps);
        gradle(&build, &w.join(home), &["copyDeps"]);
        let mut names: Vec<String> = std::fs::read_dir(&deps)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["demo-1.0.jar", "lib-1.2.jar"]);
        assert!(std::fs::read(deps.join("lib-1.2.jar")).unwrap() == range_jar("1.2"));
        assert!(std::fs::read(deps.join("demo-1.0.jar")).unwrap() == demo);
    };
    copied("gradle-home-live");
    let (_, b) = f.remotes.as_ref().unwrap();
    assert!(b.gets() > 0, "the second remote served 1.2");

    // The remotes stopped, a fresh Gradle home: vreg's cache answers.
    f.remotes = None;
    copied("gradle-home-cached");
    let log = host.log();
    assert!(!log.contains(" 500 "), "no server errors:\n{log}");
}

#[test]
fn a_dead_upstream_costs_one_timeout_while_cached_files_are_served() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..10 {
        write(
            &dir.path().join(format!("org/live/f{i}/1.0/f{i}-1.0.jar")),
            format!("file {i}").as_bytes(),
        );
    }
    let live = StaticServer::start(dir.path());
    // Accepts connections (the kernel completes them) and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    // Refuses them: a port nothing listens on.
    let refused_url = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let host = start(&[("SPIN_VARIABLE_UPSTREAM_TIMEOUT_SECONDS", "3")]);
    let group = host.public_group(ADMIN, "dead");
    let registry = host.registry(ADMIN, group, "maven", json!({"name": "all"}));
    let mut dead = Vec::new();
    for (name, url) in [("silent", &silent_url), ("refused", &refused_url)] {
        let upstream = json!({"name": name, "url": url});
        dead.push(host.upstream(ADMIN, "maven", registry, upstream));
    }
    let live_upstream = json!({"name": "live", "url": live.url()});
    host.upstream(ADMIN, "maven", registry, live_upstream);
    let path = |i: usize| {
        format!(
            "/api/v4/virtual_registries/packages/maven/{registry}/org/live/f{i}/1.0/f{i}-1.0.jar"
        )
    };

    // The first miss waits out the silent upstream's timeout once.
    let started = Instant::now();
    let first = host.get(&path(0));
    assert_eq!((first.status, first.text()), (200, "file 0".to_owned()));
    let first_took = started.elapsed();
    // Then both are set aside: nine more misses and the cached file come
    // without another wait.
    let started = Instant::now();
    for i in 1..10 {
        let reply = host.get(&path(i));
        assert_eq!((reply.status, reply.text()), (200, format!("file {i}")));
    }
    assert_eq!(host.get(&path(0)).text(), "file 0");
    let rest_took = started.elapsed();
    assert!(
        rest_took < Duration::from_secs(3),
        "ten more requests took {rest_took:?} (the first took {first_took:?}): \
         a timeout was paid again"
    );
    assert_eq!(live.gets(), 10, "each file fetched once");
    for id in dead {
        let shown = host.admin(
            ADMIN,
            "GET",
            &format!("/virtual_registries/packages/maven/upstreams/{id}"),
            json!({}),
        );
        assert_eq!(shown["health"]["state"], "open", "{shown}");
        assert!(shown["health"]["last_error"].is_string(), "{shown}");
    }
    drop(silent);
}
