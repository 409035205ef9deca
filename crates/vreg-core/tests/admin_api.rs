//! Every admin endpoint through the real handler over real SQLite.

mod common;

use common::{App, ADMIN};
use http::{Method, StatusCode};
use serde_json::{json, Value as Json};
use vreg_core::storage::Sql;

const GET: Method = Method::GET;
const POST: Method = Method::POST;
const PATCH: Method = Method::PATCH;
const PUT: Method = Method::PUT;
const DELETE: Method = Method::DELETE;

#[test]
fn version_is_public() {
    let app = App::new();
    let reply = app.call(GET, "/version", None, None);
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["name"], "vreg");
}

#[test]
fn groups_crud() {
    let app = App::new();
    let created = app.admin(POST, "/groups", Some(json!({"name": "GitLab Org", "path": "gitlab-org", "description": "top", "visibility": "public"})));
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.id();
    assert_eq!(created.body["full_path"], "gitlab-org");
    assert_eq!(created.body["visibility"], "public");
    assert_eq!(created.body["parent_id"], Json::Null);
    assert_eq!(created.body["created_at"], "2026-01-15T10:00:00.000Z");

    let sub = app.admin(
        POST,
        "/groups",
        Some(json!({"name": "Sub", "path": "sub", "parent_id": id})),
    );
    assert_eq!(sub.status, StatusCode::CREATED, "{}", sub.body);
    assert_eq!(sub.body["full_path"], "gitlab-org/sub");
    assert_eq!(sub.body["full_name"], "GitLab Org / Sub");
    assert_eq!(sub.body["visibility"], "private", "private by default");

    assert_eq!(
        app.ok(GET, &format!("/groups/{id}"), None)["name"],
        "GitLab Org"
    );
    // By full path, URL-encoded as GitLab allows.
    assert_eq!(
        app.ok(GET, "/groups/gitlab-org%2Fsub", None)["id"],
        sub.id()
    );

    let updated = app.ok(
        PATCH,
        &format!("/groups/{id}"),
        Some(json!({"description": "changed", "name": "Renamed"})),
    );
    assert_eq!(updated["description"], "changed");
    assert_eq!(updated["name"], "Renamed");
    assert_eq!(updated["path"], "gitlab-org");
    let put = app.ok(
        PUT,
        &format!("/groups/{id}"),
        Some(json!({"description": null})),
    );
    assert_eq!(put["description"], "");

    let list = app.admin(GET, "/groups", None);
    assert_eq!(list.body.as_array().unwrap().len(), 2);
    let search = app.admin(GET, "/groups?search=sub", None);
    assert_eq!(search.body.as_array().unwrap().len(), 1);

    // A group with a subgroup is not deleted (that would lose what it holds).
    let refused = app.admin(DELETE, &format!("/groups/{id}"), None);
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(
        refused.message().contains("1 subgroups"),
        "{}",
        refused.message()
    );
    assert_eq!(
        app.admin(DELETE, &format!("/groups/{}", sub.id()), None)
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.admin(DELETE, &format!("/groups/{id}"), None).status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.admin(GET, &format!("/groups/{id}"), None).status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.admin(GET, &format!("/groups/{id}"), None).message(),
        "404 Group Not Found"
    );
}

#[test]
fn group_validation() {
    let app = App::new();
    let top = app.group("top", None);
    let cases = [
        (json!({"name": "", "path": "x"}), "Validation failed: Name can't be blank"),
        (json!({"name": "x", "path": "-bad"}), "Validation failed: Path can contain only letters, digits, '_', '-' and '.'. Cannot start with '-', end in '.git' or end in '.atom'"),
        (json!({"name": "x", "path": ".."}), "Path can contain only"),
        (json!({"name": "x", "path": "top"}), "Validation failed: Path has already been taken"),
        (json!({"name": "x", "path": "TOP"}), "Path has already been taken"),
        (json!({"name": "a".repeat(256), "path": "long"}), "Name is too long (maximum is 255 characters)"),
        (json!({"name": "x", "path": "d", "description": "d".repeat(1025)}), "Description is too long (maximum is 1024 characters)"),
    ];
    for (body, expected) in cases {
        let reply = app.admin(POST, "/groups", Some(body.clone()));
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(
            reply.message().contains(expected),
            "{body}: {}",
            reply.message()
        );
    }
    // A subgroup may not be more public than its parent.
    let reply = app.admin(
        POST,
        "/groups",
        Some(json!({"name": "p", "path": "p", "parent_id": top, "visibility": "public"})),
    );
    assert_eq!(
        reply.message(),
        "Validation failed: Visibility level public is not allowed in a private group."
    );
    // ... and a parent may not become more private than its children.
    let public = app.ok(
        POST,
        "/groups",
        Some(json!({"name": "pub", "path": "pub", "visibility": "public"})),
    )["id"]
        .as_i64()
        .unwrap();
    app.ok(
        POST,
        "/groups",
        Some(json!({"name": "c", "path": "c", "parent_id": public, "visibility": "public"})),
    );
    let reply = app.admin(
        PATCH,
        &format!("/groups/{public}"),
        Some(json!({"visibility": "private"})),
    );
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Bad enum values and unknown fields are bad requests.
    assert_eq!(
        app.admin(
            POST,
            "/groups",
            Some(json!({"name": "x", "path": "y", "visibility": "secret"}))
        )
        .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.admin(
            POST,
            "/groups",
            Some(json!({"name": "x", "path": "y", "paren_id": 1}))
        )
        .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.admin(
            POST,
            "/groups",
            Some(json!({"name": "x", "path": "y", "parent_id": 999}))
        )
        .status,
        StatusCode::NOT_FOUND
    );
    // Path defaults from the name.
    assert_eq!(
        app.ok(POST, "/groups", Some(json!({"name": "My Team"})))["path"],
        "my-team"
    );
}

#[test]
fn nesting_is_limited_to_twenty_levels() {
    let app = App::new();
    let mut parent = app.group("g1", None);
    for level in 2..=20 {
        parent = app.group(&format!("g{level}"), Some(parent));
    }
    let reply = app.admin(
        POST,
        "/groups",
        Some(json!({"name": "g21", "path": "g21", "parent_id": parent})),
    );
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(reply.message().contains("too deep"));
}

#[test]
fn projects_crud() {
    let app = App::new();
    let group = app.group("gitlab-org", None);
    let sub = app.group("sub", Some(group));
    let created = app.admin(
        POST,
        "/projects",
        Some(json!({"name": "My Lib", "namespace_id": sub})),
    );
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.id();
    assert_eq!(created.body["path"], "my-lib");
    assert_eq!(created.body["path_with_namespace"], "gitlab-org/sub/my-lib");
    assert_eq!(created.body["namespace"]["id"], sub);
    assert_eq!(created.body["namespace"]["full_path"], "gitlab-org/sub");
    assert_eq!(
        app.ok(GET, "/projects/gitlab-org%2Fsub%2Fmy-lib", None)["id"],
        id
    );
    assert_eq!(
        app.ok(
            PATCH,
            &format!("/projects/{id}"),
            Some(json!({"description": "d"}))
        )["description"],
        "d"
    );
    let dup = app.admin(
        POST,
        "/projects",
        Some(json!({"name": "x", "path": "my-lib", "namespace_id": sub})),
    );
    assert_eq!(
        dup.message(),
        "Validation failed: Path has already been taken"
    );
    assert_eq!(
        app.admin(POST, "/projects", Some(json!({"name": "x"})))
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.admin(
            POST,
            "/projects",
            Some(json!({"name": "x", "namespace_id": 999}))
        )
        .message(),
        "404 Namespace Not Found"
    );
    assert_eq!(
        app.admin(GET, "/projects", None)
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // A project a local upstream targets is kept.
    let upstream = app
        .create_upstream(
            group,
            "maven",
            json!({"name": "l", "mode": "local", "target_project_id": id}),
        )
        .id();
    assert_eq!(
        app.admin(DELETE, &format!("/projects/{id}"), None).status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        app.admin(
            DELETE,
            &format!("/virtual_registries/packages/maven/upstreams/{upstream}"),
            None
        )
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.admin(DELETE, &format!("/projects/{id}"), None).status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.admin(GET, &format!("/projects/{id}"), None).status,
        StatusCode::NOT_FOUND
    );
}

#[test]
fn registries_crud_and_rules() {
    let app = App::new();
    let group = app.group("gitlab-org", None);
    let sub = app.group("sub", Some(group));
    let base = format!("/groups/{group}/-/virtual_registries/packages/maven/registries");
    let created = app.admin(
        POST,
        &base,
        Some(json!({"name": "main", "description": "d"})),
    );
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.id();
    assert_eq!(created.body["group_id"], group);
    assert_eq!(
        app.ok(
            GET,
            &format!("/virtual_registries/packages/maven/registries/{id}"),
            None
        )["name"],
        "main"
    );
    // A maven registry is not a go registry.
    assert_eq!(
        app.admin(
            GET,
            &format!("/virtual_registries/packages/go/registries/{id}"),
            None
        )
        .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.admin(POST, &base, Some(json!({"name": "main"})))
            .message(),
        "Validation failed: Name has already been taken"
    );
    // The same name is fine for the other package type.
    app.registry(group, "go", "main");
    assert_eq!(
        app.admin(POST, &base, Some(json!({"name": ""}))).message(),
        "Validation failed: Name can't be blank"
    );
    assert_eq!(
        app.admin(
            POST,
            &format!("/groups/{sub}/-/virtual_registries/packages/maven/registries"),
            Some(json!({"name": "x"}))
        )
        .message(),
        "Validation failed: Group must be a top level Group"
    );
    for n in 2..=20 {
        app.registry(group, "maven", &format!("r{n}"));
    }
    let over = app.admin(POST, &base, Some(json!({"name": "r21"})));
    assert_eq!(over.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        over.message(),
        "Validation failed: 20 registries is the maximum allowed per top-level group."
    );
    let page = app.admin(GET, &format!("{base}?per_page=5&page=2"), None);
    assert_eq!(page.body.as_array().unwrap().len(), 5);
    assert_eq!(page.header("x-total"), "20");
    let updated = app.ok(
        PATCH,
        &format!("/virtual_registries/packages/maven/registries/{id}"),
        Some(json!({"name": "renamed"})),
    );
    assert_eq!(updated["name"], "renamed");
    assert_eq!(updated["description"], "d");
    assert_eq!(
        app.admin(
            PATCH,
            &format!("/virtual_registries/packages/maven/registries/{id}"),
            Some(json!({"name": "r2"}))
        )
        .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        app.admin(
            DELETE,
            &format!("/virtual_registries/packages/maven/registries/{id}"),
            None
        )
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.admin(
            GET,
            &format!("/virtual_registries/packages/maven/registries/{id}"),
            None
        )
        .message(),
        "404 Registry Not Found"
    );
}

#[test]
fn upstream_field_rules() {
    let app = App::new();
    let group = app.group("g", None);
    let create = |body: Json| app.create_upstream(group, "maven", body);
    let cases = [
        (
            json!({"name": "x"}),
            "Validation failed: Url can't be blank",
        ),
        (
            json!({"name": "x", "url": "ftp://h"}),
            "Validation failed: Url is blocked: Only allowed schemes are http, https",
        ),
        (
            json!({"name": "x", "url": "https://u:p@h"}),
            "Url must not contain credentials",
        ),
        (
            json!({"name": "x", "url": format!("https://h/{}", "a".repeat(260))}),
            "Url is too long (maximum is 255 characters)",
        ),
        (
            json!({"name": "x", "url": "https://h", "username": "u"}),
            "Validation failed: Password can't be blank",
        ),
        (
            json!({"name": "x", "url": "https://h", "password": "p"}),
            "Validation failed: Username can't be blank",
        ),
        (
            json!({"name": "x", "url": "https://h", "username": "u".repeat(511), "password": "p"}),
            "Username is too long (maximum is 510 characters)",
        ),
        (
            json!({"name": "x", "url": "https://h", "username": "u", "password": "p".repeat(511)}),
            "Password is too long (maximum is 510 characters)",
        ),
        (
            json!({"url": "https://h"}),
            "Validation failed: Name can't be blank",
        ),
        (
            json!({"name": "n".repeat(256), "url": "https://h"}),
            "Name is too long (maximum is 255 characters)",
        ),
        (
            json!({"name": "x", "url": "https://h", "description": "d".repeat(1025)}),
            "Description is too long (maximum is 1024 characters)",
        ),
        (
            json!({"name": "x", "url": "https://h", "cache_validity_hours": -1}),
            "Cache validity hours must be greater than or equal to 0",
        ),
        (
            json!({"name": "x", "url": "https://h", "metadata_cache_validity_hours": 0}),
            "Metadata cache validity hours must be greater than 0",
        ),
        (
            json!({"name": "x", "url": "https://h", "target_group_id": group}),
            "Validation failed: Target group must be blank",
        ),
        (
            json!({"name": "x", "mode": "local", "target_group_id": 999}),
            "Validation failed: Target group must exist",
        ),
        (
            json!({"name": "x", "mode": "local", "target_project_id": 999}),
            "Validation failed: Target project must exist",
        ),
        (
            json!({"name": "x", "mode": "local", "target_group_id": group, "password": "p"}),
            "Validation failed: Password must be blank",
        ),
    ];
    for (body, expected) in cases {
        let reply = create(body.clone());
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            reply.body
        );
        assert!(
            reply.message().contains(expected),
            "{body}: {}",
            reply.message()
        );
    }
    for body in [
        json!({"name": "x", "url": "https://h", "mode": "proxy"}),
        json!({"name": "x", "url": "https://h", "cache_validity_hours": "soon"}),
        json!({"name": "x", "url": 5}),
        json!({"name": ["x"], "url": "https://h"}),
        json!({"name": "x", "url": "https://h", "passwd": "p"}),
    ] {
        assert_eq!(
            create(body.clone()).status,
            StatusCode::BAD_REQUEST,
            "{body}"
        );
    }
    assert_eq!(app.count("upstreams"), 0, "no refused upstream was written");

    // Zero cache validity means "never stale" and is allowed; URLs are normalised.
    let ok = create(
        json!({"name": "x", "url": "HTTPS://Repo.Example.com:443/maven2/", "cache_validity_hours": 0}),
    );
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
    assert_eq!(ok.body["url"], "https://repo.example.com/maven2");
    assert_eq!(ok.body["cache_validity_hours"], 0);

    // A target outside the upstream's top-level group is refused.
    let other = app.group("other", None);
    let foreign = app.project("foreign", other);
    let reply = create(json!({"name": "x", "mode": "local", "target_project_id": foreign}));
    assert!(
        reply.message().contains("top-level group"),
        "{}",
        reply.message()
    );
}

#[test]
fn upstream_passwords_are_encrypted_and_never_returned() {
    let app = App::new();
    let group = app.group("g", None);
    let registry = app.registry(group, "maven", "r");
    let reply = app.admin(
        POST,
        &format!("/virtual_registries/packages/maven/registries/{registry}/upstreams"),
        Some(json!({"name": "private", "url": "https://repo.example.com", "username": "deploy", "password": "s3cret-pass"})),
    );
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["username"], "deploy");
    assert_eq!(reply.body["registry_upstreams"][0]["position"], 1);
    let id = reply.id();
    for path in [
        format!("/virtual_registries/packages/maven/upstreams/{id}"),
        format!("/groups/{group}/-/virtual_registries/packages/maven/upstreams"),
        format!("/virtual_registries/packages/maven/registries/{registry}/upstreams"),
    ] {
        let body = app.admin(GET, &path, None).raw;
        assert!(
            !String::from_utf8_lossy(&body).contains("s3cret-pass"),
            "{path}"
        );
        assert!(
            !String::from_utf8_lossy(&body).contains("password"),
            "{path}"
        );
    }
    let stored = app
        .sql
        .execute(
            "SELECT password_encrypted FROM upstreams WHERE id = ?",
            &[id.into()],
        )
        .unwrap();
    let vreg_core::storage::Value::Blob(sealed) = &stored.rows[0][0] else {
        panic!("not a blob")
    };
    assert!(!sealed.windows(11).any(|w| w == b"s3cret-pass"));
    assert_eq!(
        vreg_core::crypto::PasswordSealer::new("test-secret-key")
            .open(sealed)
            .unwrap(),
        "s3cret-pass"
    );

    // Updating other fields keeps the password; clearing both credentials works.
    app.ok(
        PATCH,
        &format!("/virtual_registries/packages/maven/upstreams/{id}"),
        Some(json!({"description": "d"})),
    );
    let kept = app
        .sql
        .execute(
            "SELECT password_encrypted FROM upstreams WHERE id = ?",
            &[id.into()],
        )
        .unwrap();
    assert_eq!(kept.rows[0][0], stored.rows[0][0]);
    let refused = app.admin(
        PATCH,
        &format!("/virtual_registries/packages/maven/upstreams/{id}"),
        Some(json!({"username": null})),
    );
    assert_eq!(
        refused.message(),
        "Validation failed: Username can't be blank"
    );
    let cleared = app.ok(
        PATCH,
        &format!("/virtual_registries/packages/maven/upstreams/{id}"),
        Some(json!({"username": null, "password": null})),
    );
    assert_eq!(cleared["username"], Json::Null);
}

#[test]
fn upstream_crud_and_listing() {
    let app = App::new();
    let group = app.group("g", None);
    for name in ["central", "jboss", "central-mirror"] {
        app.create_upstream(
            group,
            "maven",
            json!({"name": name, "url": format!("https://{name}.example.com")}),
        );
    }
    app.create_upstream(
        group,
        "go",
        json!({"name": "proxy.golang", "url": "https://proxy.example.com"}),
    );
    let base = format!("/groups/{group}/-/virtual_registries/packages/maven/upstreams");
    assert_eq!(
        app.admin(GET, &base, None).body.as_array().unwrap().len(),
        3
    );
    let filtered = app.admin(GET, &format!("{base}?upstream_name=central"), None);
    assert_eq!(filtered.body.as_array().unwrap().len(), 2);
    assert_eq!(filtered.header("x-total"), "2");
    // LIKE wildcards in the filter are literal.
    assert_eq!(
        app.admin(GET, &format!("{base}?upstream_name=%25"), None)
            .body
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let go = app.admin(
        GET,
        &format!("/groups/{group}/-/virtual_registries/packages/go/upstreams"),
        None,
    );
    assert_eq!(go.body.as_array().unwrap().len(), 1);
    let id = go.body[0]["id"].as_i64().unwrap();
    assert_eq!(
        app.admin(
            GET,
            &format!("/virtual_registries/packages/maven/upstreams/{id}"),
            None
        )
        .status,
        StatusCode::NOT_FOUND
    );
    let updated = app.ok(
        PATCH,
        &format!("/virtual_registries/packages/go/upstreams/{id}"),
        Some(json!({"url": "http://Other.example.com:80/", "cache_validity_hours": "12"})),
    );
    assert_eq!(updated["url"], "http://other.example.com");
    assert_eq!(updated["cache_validity_hours"], 12);
    // Switching to local needs a target and no URL.
    let refused = app.admin(
        PATCH,
        &format!("/virtual_registries/packages/go/upstreams/{id}"),
        Some(json!({"mode": "local"})),
    );
    assert_eq!(refused.message(), "Validation failed: Target group can't be blank, Target project can't be blank, Url must be blank");
    let local = app.ok(
        PATCH,
        &format!("/virtual_registries/packages/go/upstreams/{id}"),
        Some(json!({"mode": "local", "url": null, "target_group_id": group})),
    );
    assert_eq!(local["mode"], "local");
    assert_eq!(
        app.admin(
            DELETE,
            &format!("/virtual_registries/packages/go/upstreams/{id}"),
            None
        )
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.admin(
            GET,
            &format!("/virtual_registries/packages/go/upstreams/{id}"),
            None
        )
        .message(),
        "404 Upstream Not Found"
    );
}

fn positions(app: &App, registry: i64) -> Vec<(String, i64)> {
    app.ok(
        GET,
        &format!("/virtual_registries/packages/maven/registries/{registry}/upstreams"),
        None,
    )
    .as_array()
    .unwrap()
    .iter()
    .map(|u| {
        let position = u["registry_upstreams"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["registry_id"] == registry)
            .unwrap()["position"]
            .as_i64()
            .unwrap();
        (u["name"].as_str().unwrap().to_owned(), position)
    })
    .collect()
}

#[test]
fn registry_upstream_positions() {
    let app = App::new();
    let group = app.group("g", None);
    let registry = app.registry(group, "maven", "r");
    let mut links = Vec::new();
    for name in ["a", "b", "c", "d"] {
        let upstream = app
            .create_upstream(
                group,
                "maven",
                json!({"name": name, "url": format!("https://{name}.example")}),
            )
            .id();
        let link = app.link("maven", registry, upstream);
        assert_eq!(link.status, StatusCode::CREATED);
        links.push((upstream, link.id()));
    }
    let names = |app: &App| {
        positions(app, registry)
            .into_iter()
            .map(|(n, _)| n)
            .collect::<String>()
    };
    assert_eq!(
        positions(&app, registry)
            .iter()
            .map(|(_, p)| *p)
            .collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    let linked_twice = app.link("maven", registry, links[0].0);
    assert_eq!(linked_twice.status, StatusCode::CONFLICT);
    assert_eq!(linked_twice.message(), "Upstream has already been taken");

    let moved = app.ok(
        PATCH,
        &format!(
            "/virtual_registries/packages/maven/registry_upstreams/{}",
            links[3].1
        ),
        Some(json!({"position": 1})),
    );
    assert_eq!(moved["position"], 1);
    assert_eq!(names(&app), "dabc");
    app.ok(
        PATCH,
        &format!(
            "/virtual_registries/packages/maven/registry_upstreams/{}",
            links[3].1
        ),
        Some(json!({"position": 20})),
    );
    assert_eq!(names(&app), "abcd", "a position past the end means last");
    app.ok(
        PATCH,
        &format!(
            "/virtual_registries/packages/maven/registry_upstreams/{}",
            links[0].1
        ),
        Some(json!({"position": 3})),
    );
    assert_eq!(names(&app), "bcad");
    for bad in [0, 21, -1] {
        let reply = app.admin(
            PATCH,
            &format!(
                "/virtual_registries/packages/maven/registry_upstreams/{}",
                links[0].1
            ),
            Some(json!({"position": bad})),
        );
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    assert_eq!(
        app.admin(
            PATCH,
            &format!(
                "/virtual_registries/packages/maven/registry_upstreams/{}",
                links[0].1
            ),
            Some(json!({"position": "first"}))
        )
        .status,
        StatusCode::BAD_REQUEST
    );

    // Deleting a link closes the gap.
    assert_eq!(
        app.admin(
            DELETE,
            &format!(
                "/virtual_registries/packages/maven/registry_upstreams/{}",
                links[2].1
            ),
            None
        )
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        positions(&app, registry),
        [("b".into(), 1), ("a".into(), 2), ("d".into(), 3)]
    );
    // Deleting an upstream removes its links and closes gaps too.
    app.ok(
        DELETE,
        &format!(
            "/virtual_registries/packages/maven/upstreams/{}",
            links[1].0
        ),
        None,
    );
    assert_eq!(
        positions(&app, registry),
        [("a".into(), 1), ("d".into(), 2)]
    );
    assert_eq!(
        app.ok(
            GET,
            &format!(
                "/virtual_registries/packages/maven/registry_upstreams/{}",
                links[3].1
            ),
            None
        )["position"],
        2
    );
}

#[test]
fn at_most_twenty_upstreams_per_registry_and_type_must_match() {
    let app = App::new();
    let group = app.group("g", None);
    let registry = app.registry(group, "maven", "r");
    for n in 1..=20 {
        let reply = app.admin(
            POST,
            &format!("/virtual_registries/packages/maven/registries/{registry}/upstreams"),
            Some(json!({"name": format!("u{n}"), "url": format!("https://u{n}.example")})),
        );
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    let over = app.admin(
        POST,
        &format!("/virtual_registries/packages/maven/registries/{registry}/upstreams"),
        Some(json!({"name": "u21", "url": "https://u21.example"})),
    );
    assert_eq!(
        over.message(),
        "Validation failed: 20 upstreams is the maximum allowed per registry."
    );
    assert_eq!(
        app.count("upstreams"),
        20,
        "the refused link did not leave an upstream behind"
    );

    let go_upstream = app
        .create_upstream(
            group,
            "go",
            json!({"name": "go", "url": "https://go.example"}),
        )
        .id();
    let other_registry = app.registry(group, "maven", "other");
    let mismatch = app.link("maven", other_registry, go_upstream);
    assert_eq!(
        mismatch.message(),
        "Validation failed: Upstream must have the same package type as the registry"
    );
    // Upstreams of another top-level group cannot be linked.
    let g2 = app.group("g2", None);
    let foreign = app
        .create_upstream(
            g2,
            "maven",
            json!({"name": "f", "url": "https://f.example"}),
        )
        .id();
    assert_eq!(
        app.link("maven", other_registry, foreign).status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        app.admin(
            POST,
            "/virtual_registries/packages/maven/registry_upstreams",
            Some(json!({"registry_id": other_registry}))
        )
        .message(),
        "upstream_id is missing"
    );
    assert_eq!(
        app.link("maven", 999, foreign).status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.link("maven", other_registry, 999).status,
        StatusCode::NOT_FOUND
    );
}

#[test]
fn paging_headers_follow_gitlab() {
    let app = App::new();
    for n in 0..45 {
        app.group(&format!("g{n:02}"), None);
    }
    let first = app.send(
        GET,
        "/api/v4/groups?per_page=20",
        &[
            ("authorization", &format!("Bearer {ADMIN}")),
            ("host", "vreg.test"),
        ],
        vec![],
    );
    assert_eq!(first.body.as_array().unwrap().len(), 20);
    assert_eq!(first.header("x-total"), "45");
    assert_eq!(first.header("x-total-pages"), "3");
    assert_eq!(first.header("x-page"), "1");
    assert_eq!(first.header("x-per-page"), "20");
    assert_eq!(first.header("x-next-page"), "2");
    assert_eq!(first.header("x-prev-page"), "");
    let link = first.header("link");
    assert!(
        link.contains("<http://vreg.test/api/v4/groups?page=2&per_page=20>; rel=\"next\""),
        "{link}"
    );
    assert!(link.contains("rel=\"last\""), "{link}");
    let last = app.admin(GET, "/groups?page=3", None);
    assert_eq!(last.body.as_array().unwrap().len(), 5);
    assert_eq!(last.header("x-next-page"), "");
    assert_eq!(last.header("x-prev-page"), "2");
    assert_eq!(
        app.admin(GET, "/groups?per_page=1000", None)
            .header("x-per-page"),
        "100"
    );
    assert_eq!(
        app.admin(GET, "/groups?page=99", None)
            .body
            .as_array()
            .unwrap()
            .len(),
        0
    );
    for bad in ["page=0", "page=x", "per_page=-5", "page=1.5"] {
        assert_eq!(
            app.admin(GET, &format!("/groups?{bad}"), None).status,
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
}

#[test]
fn credentials_in_every_accepted_form() {
    let app = App::new();
    let basic = format!("Basic {}", base64_encode(&format!("anyone:{ADMIN}")));
    for (name, value) in [
        ("authorization", format!("Bearer {ADMIN}")),
        ("private-token", ADMIN.to_owned()),
        ("authorization", basic),
    ] {
        let reply = app.send(GET, "/api/v4/groups", &[(name, value.as_str())], vec![]);
        assert_eq!(reply.status, StatusCode::OK, "{name}: {value}");
    }
    let anonymous = app.call(GET, "/groups", None, None);
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.header("www-authenticate"), "Basic realm=\"vreg\"");
    assert_eq!(anonymous.message(), "401 Unauthorized");
    for bad in ["Bearer wrong", "Basic !!!", "Digest abc", "Bearer "] {
        let reply = app.send(GET, "/api/v4/groups", &[("authorization", bad)], vec![]);
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{bad}");
    }
}

fn base64_encode(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[test]
fn tokens_are_scoped_hashed_and_revocable() {
    let app = App::new();
    let group = app.group("g", None);
    let sub = app.group("sub", Some(group));
    let other = app.group("other", None);
    let project = app.project("p", sub);

    let created = app.admin(
        POST,
        "/personal_access_tokens",
        Some(
            json!({"name": "ci", "scopes": ["api"], "group_id": group, "expires_at": "2026-06-01"}),
        ),
    );
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let group_token = created.body["token"].as_str().unwrap().to_owned();
    assert_eq!(created.body["expires_at"], "2026-06-01");
    assert_eq!(created.body["active"], true);
    // Stored hashed: the secret is nowhere in the database, nor in later reads.
    let stored = app
        .sql
        .execute("SELECT token_sha256 FROM tokens", &[])
        .unwrap();
    assert_eq!(
        stored.rows[0][0],
        vreg_core::storage::Value::Blob(vreg_core::crypto::sha256(group_token.as_bytes()).to_vec())
    );
    let listed = app.admin(GET, "/personal_access_tokens", None);
    assert!(!String::from_utf8_lossy(&listed.raw).contains(&group_token));
    assert_eq!(listed.body[0]["scopes"], json!(["api"]));

    // The group token reaches its subtree only.
    assert_eq!(
        app.call(GET, &format!("/groups/{sub}"), Some(&group_token), None)
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.call(GET, &format!("/groups/{other}"), Some(&group_token), None)
            .status,
        StatusCode::NOT_FOUND
    );
    let seen = app.call(GET, "/groups", Some(&group_token), None);
    assert_eq!(seen.body.as_array().unwrap().len(), 2);
    assert_eq!(
        app.call(
            GET,
            &format!("/projects/{project}"),
            Some(&group_token),
            None
        )
        .status,
        StatusCode::OK
    );
    assert_eq!(
        app.call(
            POST,
            "/groups",
            Some(&group_token),
            Some(json!({"name": "top2"}))
        )
        .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.call(
            POST,
            "/groups",
            Some(&group_token),
            Some(json!({"name": "deeper", "parent_id": sub}))
        )
        .status,
        StatusCode::CREATED
    );

    // Read-only tokens read but do not write; registry-only tokens get 403 here.
    let reader = app.token(json!({"name": "r", "scopes": ["read_api"]}));
    assert_eq!(
        app.call(GET, "/groups", Some(&reader), None).status,
        StatusCode::OK
    );
    assert_eq!(
        app.call(POST, "/groups", Some(&reader), Some(json!({"name": "x"})))
            .status,
        StatusCode::FORBIDDEN
    );
    let registry_only = app.token(
        json!({"name": "m", "scopes": ["read_registry", "write_registry"], "project_id": project}),
    );
    assert_eq!(
        app.call(GET, "/groups", Some(&registry_only), None).status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.call(
            GET,
            "/personal_access_tokens/self",
            Some(&registry_only),
            None
        )
        .body["project_id"],
        project
    );

    // A token cannot mint more than it has.
    assert_eq!(
        app.call(
            POST,
            "/personal_access_tokens",
            Some(&group_token),
            Some(json!({"name": "x", "scopes": ["api"]}))
        )
        .status,
        StatusCode::CREATED,
        "defaults to the creator's reach"
    );
    assert_eq!(
        app.call(
            POST,
            "/personal_access_tokens",
            Some(&group_token),
            Some(json!({"name": "x", "scopes": ["api"], "group_id": other}))
        )
        .status,
        StatusCode::NOT_FOUND
    );
    let narrow = app.call(
        POST,
        "/personal_access_tokens",
        Some(&group_token),
        Some(json!({"name": "x", "scopes": ["read_api"], "project_id": project})),
    );
    assert_eq!(narrow.status, StatusCode::CREATED);
    let reader_mint = app.call(
        POST,
        "/personal_access_tokens",
        Some(&reader),
        Some(json!({"name": "x", "scopes": ["read_api"]})),
    );
    assert_eq!(reader_mint.status, StatusCode::FORBIDDEN);

    // Validation and bad input.
    assert_eq!(
        app.admin(
            POST,
            "/personal_access_tokens",
            Some(json!({"name": "x", "scopes": []}))
        )
        .message(),
        "Validation failed: Scopes can't be blank"
    );
    assert_eq!(
        app.admin(
            POST,
            "/personal_access_tokens",
            Some(json!({"name": "x", "scopes": ["sudo"]}))
        )
        .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.admin(
            POST,
            "/personal_access_tokens",
            Some(json!({"name": "x", "scopes": ["api"], "expires_at": "2020-01-01"}))
        )
        .message(),
        "Validation failed: Expires at must be in the future"
    );
    assert_eq!(
        app.admin(
            POST,
            "/personal_access_tokens",
            Some(json!({"name": "x", "scopes": ["api"], "expires_at": "2030-01-01"}))
        )
        .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        app.admin(
            POST,
            "/personal_access_tokens",
            Some(json!({"name": "x", "scopes": ["api"], "expires_at": "June"}))
        )
        .status,
        StatusCode::BAD_REQUEST
    );

    // Revocation and expiry end a token.
    let id = created.id();
    assert_eq!(
        app.admin(GET, &format!("/personal_access_tokens/{id}"), None)
            .body["revoked"],
        false
    );
    assert_eq!(
        app.admin(DELETE, &format!("/personal_access_tokens/{id}"), None)
            .status,
        StatusCode::NO_CONTENT
    );
    let revoked = app.call(GET, "/groups", Some(&group_token), None);
    assert_eq!(revoked.status, StatusCode::UNAUTHORIZED);
    assert!(revoked.message().contains("revoked"));
    app.clock.advance(400 * 24 * 3600 * 1000);
    let expired = app.call(GET, "/groups", Some(&reader), None);
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert!(expired.message().contains("expired"));
}

#[test]
fn hostile_input_never_yields_a_server_error() {
    let app = App::new();
    let group = app.group("g", None);
    let registry = app.registry(group, "maven", "r");
    let auth = format!("Bearer {ADMIN}");
    let bodies: Vec<Vec<u8>> = vec![
        b"{".to_vec(),
        b"[]".to_vec(),
        b"null".to_vec(),
        b"\"str\"".to_vec(),
        b"{\"name\": {\"nested\": true}}".to_vec(),
        b"{\"name\": \"a\\u0000b\", \"url\": \"https://h\"}".to_vec(),
        vec![0xff, 0xfe, 0x00],
        b"{\"name\": 1e400}".to_vec(),
        b"{\"target_project_id\": 99999999999999999999}".to_vec(),
        b"{\"cache_validity_hours\": 9223372036854775807, \"name\": \"x\", \"url\": \"https://h\"}"
            .to_vec(),
        format!("{{\"name\": \"{}\"}}", "x".repeat(2_000_000)).into_bytes(),
    ];
    let paths = [
        "/api/v4/groups".to_owned(),
        format!("/api/v4/groups/{group}"),
        "/api/v4/projects".to_owned(),
        format!("/api/v4/groups/{group}/-/virtual_registries/packages/maven/registries"),
        format!("/api/v4/groups/{group}/-/virtual_registries/packages/maven/upstreams"),
        format!("/api/v4/virtual_registries/packages/maven/registries/{registry}/upstreams"),
        "/api/v4/virtual_registries/packages/maven/registry_upstreams".to_owned(),
        "/api/v4/personal_access_tokens".to_owned(),
    ];
    for path in &paths {
        for body in &bodies {
            for method in [POST, PATCH] {
                let reply = app.send(
                    method.clone(),
                    path,
                    &[
                        ("authorization", &auth),
                        ("content-type", "application/json"),
                    ],
                    body.clone(),
                );
                assert!(
                    reply.status.is_client_error() || reply.status.is_success(),
                    "{method} {path} {:?} -> {}",
                    String::from_utf8_lossy(&body[..body.len().min(60)]),
                    reply.status
                );
                assert!(
                    reply.status == StatusCode::METHOD_NOT_ALLOWED
                        || reply.body.get("message").is_some()
                        || reply.status.is_success(),
                    "{path}: {}",
                    reply.body
                );
            }
        }
    }
    for path in [
        "/api/v4/groups/..%2F..%2Fetc",
        "/api/v4/groups/%2e%2e",
        "/api/v4/groups/a%00b",
        "/api/v4/groups/%ff",
        "/api/v4/groups/-1",
        "/api/v4/groups/99999999999999999999999",
        "/api/v4/virtual_registries/packages/npm/registries/1",
        "/api/v4/virtual_registries/packages/maven/registries/abc",
        "/api/v4/virtual_registries/packages/maven/registries/0/upstreams",
        "/api/v4/nothing",
        "/api/v4/groups//",
        "/not-api",
    ] {
        let reply = app.send(GET, path, &[("authorization", &auth)], vec![]);
        assert!(reply.status.is_client_error(), "{path} -> {}", reply.status);
        assert!(reply.body.get("message").is_some(), "{path}");
    }
    let too_big = app.send(
        POST,
        "/api/v4/groups",
        &[("authorization", &auth)],
        vec![b' '; 1024 * 1024 + 1],
    );
    assert_eq!(too_big.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        app.send(
            Method::OPTIONS,
            "/api/v4/groups",
            &[("authorization", &auth)],
            vec![]
        )
        .status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    // Nothing half-written: still one group, one registry.
    assert_eq!(app.count("groups"), 1);
    assert_eq!(app.count("registries"), 1);
}

#[test]
fn form_encoded_bodies_work_like_json() {
    let app = App::new();
    let reply = app.send(
        POST,
        "/api/v4/groups",
        &[
            ("private-token", ADMIN),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        b"name=Form+Group&path=form-group&visibility=internal".to_vec(),
    );
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["visibility"], "internal");
    let group = reply.id();
    let token = app.send(
        POST,
        "/api/v4/personal_access_tokens",
        &[
            ("private-token", ADMIN),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        format!("name=t&scopes[]=read_api&scopes[]=read_registry&group_id={group}").into_bytes(),
    );
    assert_eq!(token.status, StatusCode::CREATED, "{}", token.body);
    assert_eq!(token.body["scopes"], json!(["read_api", "read_registry"]));
}

#[test]
fn head_requests_answer_like_get_without_a_body() {
    let app = App::new();
    app.group("g", None);
    let reply = app.send(
        Method::HEAD,
        "/api/v4/groups",
        &[("private-token", ADMIN)],
        vec![],
    );
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.raw.is_empty());
    assert_eq!(reply.header("x-total"), "1");
    // An error, too: its status and headers, no body.
    for (path, token, status) in [
        ("/api/v4/groups", None, StatusCode::UNAUTHORIZED),
        ("/api/v4/groups/999", Some(ADMIN), StatusCode::NOT_FOUND),
        ("/api/v4/nothing", Some(ADMIN), StatusCode::NOT_FOUND),
    ] {
        let headers: Vec<_> = token.map(|t| ("private-token", t)).into_iter().collect();
        let reply = app.send(Method::HEAD, path, &headers, vec![]);
        assert_eq!(reply.status, status, "{path}");
        assert!(reply.raw.is_empty(), "{path}: {:?}", reply.raw);
        assert_eq!(reply.header("content-type"), "application/json", "{path}");
    }
}

/// A token never outlives the token that creates it.
#[test]
fn a_token_cannot_outlive_its_creator() {
    let app = App::new();
    let created = app.admin(
        POST,
        "/personal_access_tokens",
        Some(json!({"name": "parent", "scopes": ["api"], "expires_at": "2026-06-01"})),
    );
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let parent = created.body["token"].as_str().unwrap().to_owned();
    let longer = app.call(
        POST,
        "/personal_access_tokens",
        Some(&parent),
        Some(json!({"name": "child", "scopes": ["read_api"], "expires_at": "2026-12-01"})),
    );
    assert_eq!(
        longer.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        longer.body
    );
    assert!(longer.message().contains("Expires at"), "{}", longer.body);
    let defaulted = app.call(
        POST,
        "/personal_access_tokens",
        Some(&parent),
        Some(json!({"name": "child", "scopes": ["read_api"]})),
    );
    assert_eq!(defaulted.status, StatusCode::CREATED, "{}", defaulted.body);
    assert_eq!(defaulted.body["expires_at"], "2026-06-01");
    let shorter = app.call(
        POST,
        "/personal_access_tokens",
        Some(&parent),
        Some(json!({"name": "child", "scopes": ["read_api"], "expires_at": "2026-05-01"})),
    );
    assert_eq!(shorter.body["expires_at"], "2026-05-01");
}
