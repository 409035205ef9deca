//! The admin API as a client meets it: the built `upstream-admin.wasm` under
//! devhost or real Spin, over HTTP, with real SQLite files.

use base64::Engine;
use vreg_tests::{json, Json, Reply, Vreg};

const ADMIN: &str = "e2e-admin-token";

struct Api {
    host: Vreg,
}

impl Api {
    fn start() -> Api {
        Api {
            host: Vreg::start(&[
                ("SPIN_VARIABLE_ADMIN_TOKEN", ADMIN),
                ("SPIN_VARIABLE_SECRET_KEY", "e2e-secret"),
                ("SPIN_VARIABLE_ALLOW_LOCAL_UPSTREAMS", "true"),
            ]),
        }
    }

    fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Json>) -> Reply {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("content-type", "application/json")];
        if let Some(a) = &auth {
            headers.push(("authorization", a));
        }
        let body = body
            .map(|b| serde_json::to_vec(&b).unwrap())
            .unwrap_or_default();
        self.host
            .request(method, &format!("/api/v4{path}"), &headers, &body)
    }

    fn admin(&self, method: &str, path: &str, body: Option<Json>) -> Reply {
        self.call(method, path, Some(ADMIN), body)
    }

    fn ok(&self, method: &str, path: &str, body: Option<Json>) -> Json {
        let reply = self.admin(method, path, body);
        assert!(
            (200..300).contains(&reply.status),
            "{method} {path} -> {} {}",
            reply.status,
            reply.text()
        );
        if reply.body.is_empty() {
            Json::Null
        } else {
            reply.json()
        }
    }

    fn id(&self, method: &str, path: &str, body: Json) -> i64 {
        self.ok(method, path, Some(body))["id"].as_i64().unwrap()
    }
}

fn message(reply: &Reply) -> String {
    reply.json()["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn every_admin_endpoint_over_http() {
    let api = Api::start();
    assert_eq!(
        api.call("GET", "/version", None, None).json()["name"],
        "vreg"
    );

    // Groups and projects.
    let group = api.id(
        "POST",
        "/groups",
        json!({"name": "gitlab-org", "path": "gitlab-org"}),
    );
    let sub = api.id(
        "POST",
        "/groups",
        json!({"name": "sub", "path": "sub", "parent_id": group}),
    );
    assert_eq!(
        api.ok("GET", &format!("/groups/{sub}"), None)["full_path"],
        "gitlab-org/sub"
    );
    assert_eq!(
        api.ok(
            "PATCH",
            &format!("/groups/{sub}"),
            Some(json!({"description": "d"}))
        )["description"],
        "d"
    );
    assert_eq!(
        api.ok(
            "PUT",
            &format!("/groups/{sub}"),
            Some(json!({"name": "Sub"}))
        )["name"],
        "Sub"
    );
    assert_eq!(api.ok("GET", "/groups", None).as_array().unwrap().len(), 2);
    let project = api.id(
        "POST",
        "/projects",
        json!({"name": "lib", "namespace_id": sub}),
    );
    assert_eq!(
        api.ok("GET", &format!("/projects/{project}"), None)["path_with_namespace"],
        "gitlab-org/sub/lib"
    );
    assert_eq!(
        api.ok(
            "PATCH",
            &format!("/projects/{project}"),
            Some(json!({"visibility": "private"}))
        )["visibility"],
        "private"
    );
    assert_eq!(
        api.ok("GET", "/projects", None).as_array().unwrap().len(),
        1
    );

    for kind in ["maven", "go"] {
        // Registries.
        let registries = format!("/groups/{group}/-/virtual_registries/packages/{kind}/registries");
        let registry = api.id("POST", &registries, json!({"name": "main"}));
        assert_eq!(
            api.ok("GET", &registries, None).as_array().unwrap().len(),
            1
        );
        let registry_path = format!("/virtual_registries/packages/{kind}/registries/{registry}");
        assert_eq!(api.ok("GET", &registry_path, None)["group_id"], group);
        assert_eq!(
            api.ok("PATCH", &registry_path, Some(json!({"description": "all"})))["description"],
            "all"
        );

        // Upstreams: created and linked in one call, created alone, then linked.
        let remote = api.id(
            "POST",
            &format!("{registry_path}/upstreams"),
            json!({"name": "remote", "url": "http://127.0.0.1:9/repo/", "username": "u", "password": "p"}),
        );
        let group_upstreams =
            format!("/groups/{group}/-/virtual_registries/packages/{kind}/upstreams");
        let local = api.id(
            "POST",
            &group_upstreams,
            json!({"name": "local", "mode": "local", "target_project_id": project}),
        );
        let listed = api.admin("GET", &format!("{group_upstreams}?upstream_name=loc"), None);
        assert_eq!(listed.json().as_array().unwrap().len(), 1);
        assert_eq!(listed.header("x-total"), Some("1"));
        let upstream_path = format!("/virtual_registries/packages/{kind}/upstreams/{remote}");
        let fetched = api.ok("GET", &upstream_path, None);
        assert_eq!(fetched["url"], "http://127.0.0.1:9/repo");
        assert!(fetched.get("password").is_none());
        assert_eq!(
            api.ok(
                "PATCH",
                &upstream_path,
                Some(json!({"cache_validity_hours": 0}))
            )["cache_validity_hours"],
            0
        );

        let link = api.admin(
            "POST",
            &format!("/virtual_registries/packages/{kind}/registry_upstreams"),
            Some(json!({"registry_id": registry, "upstream_id": local})),
        );
        assert_eq!(link.status, 201, "{}", link.text());
        assert_eq!(link.json()["position"], 2);
        let link_path = format!(
            "/virtual_registries/packages/{kind}/registry_upstreams/{}",
            link.json()["id"]
        );
        assert_eq!(api.ok("GET", &link_path, None)["position"], 2);
        assert_eq!(
            api.ok("PATCH", &link_path, Some(json!({"position": 1})))["position"],
            1
        );
        let order: Vec<String> = api
            .ok("GET", &format!("{registry_path}/upstreams"), None)
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(order, ["local", "remote"]);
        assert_eq!(api.admin("DELETE", &link_path, None).status, 204);
        assert_eq!(api.admin("DELETE", &upstream_path, None).status, 204);
        assert_eq!(
            api.admin(
                "DELETE",
                &format!("/virtual_registries/packages/{kind}/upstreams/{local}"),
                None
            )
            .status,
            204
        );
        assert_eq!(api.admin("DELETE", &registry_path, None).status, 204);
        assert_eq!(api.admin("GET", &registry_path, None).status, 404);
    }

    // Tokens.
    let created = api.admin(
        "POST",
        "/personal_access_tokens",
        Some(json!({"name": "ci", "scopes": ["read_api"], "group_id": group})),
    );
    assert_eq!(created.status, 201);
    let secret = created.json()["token"].as_str().unwrap().to_owned();
    let token_id = created.json()["id"].as_i64().unwrap();
    assert_eq!(
        api.call("GET", "/personal_access_tokens/self", Some(&secret), None)
            .json()["id"],
        token_id
    );
    assert_eq!(
        api.ok("GET", &format!("/personal_access_tokens/{token_id}"), None)["name"],
        "ci"
    );
    assert_eq!(
        api.ok("GET", "/personal_access_tokens", None)
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(api.call("GET", "/groups", Some(&secret), None).status, 200);
    assert_eq!(
        api.admin(
            "DELETE",
            &format!("/personal_access_tokens/{token_id}"),
            None
        )
        .status,
        204
    );
    assert_eq!(api.call("GET", "/groups", Some(&secret), None).status, 401);

    // Deletions, innermost first.
    assert_eq!(
        api.admin("DELETE", &format!("/groups/{group}"), None)
            .status,
        409
    );
    assert_eq!(
        api.admin("DELETE", &format!("/projects/{project}"), None)
            .status,
        204
    );
    assert_eq!(
        api.admin("DELETE", &format!("/groups/{sub}"), None).status,
        204
    );
    assert_eq!(
        api.admin("DELETE", &format!("/groups/{group}"), None)
            .status,
        204
    );
    // devhost logs every request (Spin does not).
    let log = api.host.log();
    assert!(
        !api.host.host.is_devhost() || api.host.log_shows("DELETE /api/v4/groups/"),
        "requests are logged:\n{log}"
    );
}

#[test]
fn the_six_validation_scenarios_over_http() {
    let api = Api::start();
    let group = api.id(
        "POST",
        "/groups",
        json!({"name": "gitlab-org", "path": "gitlab-org"}),
    );
    let project = api.id(
        "POST",
        "/projects",
        json!({"name": "gitlab", "namespace_id": group}),
    );
    let registry = api.id(
        "POST",
        &format!("/groups/{group}/-/virtual_registries/packages/maven/registries"),
        json!({"name": "test local upstreams"}),
    );
    let upstreams = format!("/groups/{group}/-/virtual_registries/packages/maven/upstreams");
    let url = "https://repo.maven.apache.org/maven2";

    let one = api.admin(
        "POST",
        &upstreams,
        Some(json!({"name": "a", "url": url, "mode": "local"})),
    );
    assert_eq!(one.status, 422);
    assert_eq!(message(&one), "Validation failed: Target group can't be blank, Target project can't be blank, Url must be blank");
    let two = api.admin(
        "POST",
        &upstreams,
        Some(json!({"name": "remote", "url": url, "mode": "remote"})),
    );
    assert_eq!(two.status, 201);
    let three = api.admin(
        "POST",
        &upstreams,
        Some(json!({"name": "b", "mode": "local", "username": "u", "target_project_id": project})),
    );
    assert_eq!(message(&three), "Validation failed: Username must be blank");
    let four = api.admin(
        "POST",
        &upstreams,
        Some(json!({"name": "project", "mode": "local", "target_project_id": project})),
    );
    assert_eq!(four.status, 201);
    let five = api.admin("POST", &upstreams, Some(json!({"name": "c", "mode": "local", "target_project_id": project, "target_group_id": group})));
    assert_eq!(five.status, 400);
    assert_eq!(
        message(&five),
        "target_project_id and target_group_id are mutually exclusive. Set only one of these."
    );
    let six = api.admin(
        "POST",
        &upstreams,
        Some(json!({"name": "group", "mode": "local", "target_group_id": group})),
    );
    assert_eq!(six.status, 201);

    let link = |upstream: &Reply| {
        api.admin(
            "POST",
            "/virtual_registries/packages/maven/registry_upstreams",
            Some(json!({"registry_id": registry, "upstream_id": upstream.json()["id"]})),
        )
    };
    assert_eq!(link(&six).status, 201);
    assert_eq!(link(&two).status, 201);
    let refused = link(&four);
    assert_eq!(refused.status, 422, "{}", refused.text());
    assert!(message(&refused).contains("already covered"));
}

#[test]
fn authentication_and_scopes_over_http() {
    let api = Api::start();
    let anonymous = api.call("GET", "/groups", None, None);
    assert_eq!(anonymous.status, 401);
    assert_eq!(
        anonymous.header("www-authenticate"),
        Some("Basic realm=\"vreg\"")
    );
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("maven:{ADMIN}"))
    );
    assert_eq!(
        api.host
            .request("GET", "/api/v4/groups", &[("authorization", &basic)], &[])
            .status,
        200
    );
    assert_eq!(
        api.host
            .request("GET", "/api/v4/groups", &[("private-token", ADMIN)], &[])
            .status,
        200
    );
    assert_eq!(api.call("GET", "/groups", Some("wrong"), None).status, 401);
    let reader = api.ok(
        "POST",
        "/personal_access_tokens",
        Some(json!({"name": "r", "scopes": ["read_api"]})),
    )["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(api.call("GET", "/groups", Some(&reader), None).status, 200);
    assert_eq!(
        api.call("POST", "/groups", Some(&reader), Some(json!({"name": "x"})))
            .status,
        403
    );
}

#[test]
fn paging_headers_over_http() {
    let api = Api::start();
    for n in 0..25 {
        api.ok("POST", "/groups", Some(json!({"name": format!("g{n}")})));
    }
    let page = api.admin("GET", "/groups?per_page=10&page=2", None);
    assert_eq!(page.json().as_array().unwrap().len(), 10);
    assert_eq!(page.header("x-total"), Some("25"));
    assert_eq!(page.header("x-total-pages"), Some("3"));
    assert_eq!(page.header("x-next-page"), Some("3"));
    assert_eq!(page.header("x-prev-page"), Some("1"));
    let link = page.header("link").unwrap();
    assert!(
        link.contains(&format!(
            "<{}/api/v4/groups?page=3&per_page=10>; rel=\"next\"",
            api.host.base
        )),
        "{link}"
    );
}

/// A body far past the API's 1 MiB limit (12 MiB: more than the sockets
/// between client and host buffer) is refused with a 413 the client gets to
/// read. The component reads the rest of it and drops it; left unread, Spin
/// closed the connection while the client still wrote (a broken pipe, every
/// time, on real Spin 4.0.2).
#[test]
fn a_body_far_past_the_limit_is_refused_with_a_413_the_client_reads() {
    let api = Api::start();
    let auth = format!("Bearer {ADMIN}");
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let body = vec![b'x'; 12 * 1024 * 1024];
    for _ in 0..3 {
        let reply = api.host.request("POST", "/api/v4/groups", &headers, &body);
        assert_eq!(reply.status, 413);
        assert!(reply.json().get("message").is_some(), "{}", reply.text());
    }
}

#[test]
fn hostile_input_over_http_is_a_client_error_never_a_crash() {
    let api = Api::start();
    let group = api.id("POST", "/groups", json!({"name": "g"}));
    let auth = format!("Bearer {ADMIN}");
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let huge = vec![b'x'; 2 * 1024 * 1024];
    let bodies: [&[u8]; 7] = [
        b"{",
        b"[1,2]",
        b"{\"name\": 12}",
        b"{\"name\": \"a\\u0000b\"}",
        b"{\"parent_id\": \"../1\"}",
        &[0xff, 0xfe, 0xfd],
        &huge,
    ];
    for body in bodies {
        let reply = api.host.request("POST", "/api/v4/groups", &headers, body);
        assert!(
            (400..500).contains(&reply.status),
            "{} for {:?}",
            reply.status,
            String::from_utf8_lossy(&body[..body.len().min(20)])
        );
        assert!(reply.json().get("message").is_some());
    }
    assert_eq!(
        api.host
            .request("POST", "/api/v4/groups", &headers, &huge)
            .status,
        413
    );
    for path in [
        "/api/v4/groups/..%2f..%2fetc%2fpasswd",
        "/api/v4/groups/%2e%2e",
        "/api/v4/groups/a%00b",
        "/api/v4/groups/99999999999999999999",
        &format!("/api/v4/groups/{}", "a".repeat(4000)),
        "/api/v4/virtual_registries/packages/npm/registries/1",
        "/api/v4/personal_access_tokens/-1",
    ] {
        let reply = api.host.request("GET", path, &headers, &[]);
        assert!(
            (400..500).contains(&reply.status),
            "{path} -> {}",
            reply.status
        );
    }
    // Still healthy, and nothing half-written.
    assert_eq!(api.ok("GET", "/groups", None).as_array().unwrap().len(), 1);
    assert_eq!(
        api.ok("GET", &format!("/groups/{group}"), None)["name"],
        "g"
    );
}

/// A stopped host leaves nothing serving: `spin up` runs the app in a
/// `spin trigger` process of its own, which a SIGKILL of `spin up` alone
/// left listening on the port for good.
#[test]
fn a_stopped_host_leaves_nothing_serving() {
    let api = Api::start();
    assert_eq!(api.ok("GET", "/groups", None), json!([]));
    let address = api.host.base.trim_start_matches("http://").to_owned();
    drop(api);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(&address).is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "{address} still serves"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
