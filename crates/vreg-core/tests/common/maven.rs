//! The Maven tests' shared set-up: deploying to and reading from a
//! repository, and a registry with a local project upstream and a remote
//! static server.

use http::Method;
use serde_json::json;
use vreg_testkit::StaticServer;

use super::{App, ADMIN};

pub const JAR: &str = "org/example/demo/1.0/demo-1.0.jar";

pub fn deploy(app: &App, project: i64, path: &str, body: &[u8]) -> u16 {
    app.maven(
        Method::PUT,
        &format!("/projects/{project}/packages/maven/{path}"),
        Some(ADMIN),
        body,
    )
    .status
}

pub fn get(
    app: &App,
    prefix: &str,
    path: &str,
    token: Option<&str>,
) -> vreg_core::http::body::CollectedResponse {
    app.maven(Method::GET, &format!("{prefix}/{path}"), token, &[])
}

pub fn header(r: &vreg_core::http::body::CollectedResponse, name: &str) -> String {
    r.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// The headers a Maven client reads, as one comparable value.
pub fn file_answer(r: &vreg_core::http::body::CollectedResponse) -> (u16, Vec<String>, Vec<u8>) {
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

pub struct Registry {
    pub app: App,
    pub server: Option<StaticServer>,
    pub _dir: tempfile_dir::Dir,
    pub id: i64,
    pub project: i64,
}

pub mod tempfile_dir {
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
pub fn registry(cache_hours: i64) -> Registry {
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
    pub fn group(&self) -> i64 {
        let registry = format!("/virtual_registries/packages/maven/registries/{}", self.id);
        self.app.ok(Method::GET, &registry, None)["group_id"]
            .as_i64()
            .unwrap()
    }
}

pub const REMOTE_JAR: &str = "org/remote/lib/1.0/lib-1.0.jar";

/// The id of the registry's remote upstream (position 2).
pub fn remote_upstream(r: &Registry) -> i64 {
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

pub fn digest_len(checksum: &str) -> usize {
    match checksum {
        "md5" => 32,
        "sha1" => 40,
        "sha256" => 64,
        _ => 128,
    }
}
