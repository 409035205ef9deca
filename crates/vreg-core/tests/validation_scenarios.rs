//! The six upstream validation scenarios of the foundation issue, through the
//! admin API over real SQLite: group `gitlab-org` with a project, registry
//! `test local upstreams`.

mod common;

use common::App;
use http::{Method, StatusCode};
use serde_json::json;

struct Scene {
    app: App,
    group: i64,
    project: i64,
    registry: i64,
}

fn scene() -> Scene {
    let app = App::new();
    let group = app.group("gitlab-org", None);
    let project = app.project("gitlab", group);
    let registry = app.registry(group, "maven", "test local upstreams");
    Scene {
        app,
        group,
        project,
        registry,
    }
}

const REMOTE_URL: &str = "https://repo.maven.apache.org/maven2";

#[test]
fn scenario_1_remote_url_with_local_mode_is_refused() {
    let s = scene();
    let reply = s.app.create_upstream(
        s.group,
        "maven",
        json!({"name": "central", "url": REMOTE_URL, "mode": "local"}),
    );
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        reply.message(),
        "Validation failed: Target group can't be blank, Target project can't be blank, Url must be blank"
    );
    assert_eq!(s.app.count("upstreams"), 0, "nothing is written");
}

#[test]
fn scenario_2_remote_url_with_remote_mode_is_created() {
    let s = scene();
    let reply = s.app.create_upstream(
        s.group,
        "maven",
        json!({"name": "central", "url": REMOTE_URL, "mode": "remote"}),
    );
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["mode"], "remote");
    assert_eq!(reply.body["url"], REMOTE_URL);
    assert_eq!(reply.body["group_id"], s.group);
    assert_eq!(reply.body["cache_validity_hours"], 24);
    assert_eq!(reply.body["metadata_cache_validity_hours"], 24);
}

#[test]
fn scenario_3_local_with_username_is_refused() {
    let s = scene();
    let reply = s.app.create_upstream(
        s.group,
        "maven",
        json!({"name": "local", "mode": "local", "username": "user", "target_project_id": s.project}),
    );
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.message(), "Validation failed: Username must be blank");
    assert_eq!(s.app.count("upstreams"), 0);
}

#[test]
fn scenario_4_local_with_target_project_is_created() {
    let s = scene();
    let reply = s.app.create_upstream(
        s.group,
        "maven",
        json!({"name": "project", "mode": "local", "target_project_id": s.project}),
    );
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["mode"], "local");
    assert_eq!(reply.body["target_project_id"], s.project);
    assert_eq!(reply.body["target_group_id"], json!(null));
    assert_eq!(reply.body["url"], json!(null));
}

#[test]
fn scenario_5_local_with_both_targets_is_refused() {
    let s = scene();
    let reply = s.app.create_upstream(
        s.group,
        "maven",
        json!({"name": "both", "mode": "local", "target_project_id": s.project, "target_group_id": s.group}),
    );
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.message(),
        "target_project_id and target_group_id are mutually exclusive. Set only one of these."
    );
    assert_eq!(s.app.count("upstreams"), 0);
}

#[test]
fn scenario_6_group_upstream_covers_project_upstream() {
    let s = scene();
    let remote = s
        .app
        .create_upstream(
            s.group,
            "maven",
            json!({"name": "central", "url": REMOTE_URL, "mode": "remote"}),
        )
        .id();
    let project_upstream = s
        .app
        .create_upstream(
            s.group,
            "maven",
            json!({"name": "project", "mode": "local", "target_project_id": s.project}),
        )
        .id();
    let group_reply = s.app.create_upstream(
        s.group,
        "maven",
        json!({"name": "group", "mode": "local", "target_group_id": s.group}),
    );
    assert_eq!(
        group_reply.status,
        StatusCode::CREATED,
        "{}",
        group_reply.body
    );
    let group_upstream = group_reply.id();

    let first = s.app.link("maven", s.registry, group_upstream);
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(first.body["position"], 1);
    let second = s.app.link("maven", s.registry, remote);
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.body);
    assert_eq!(second.body["position"], 2);

    let refused = s.app.link("maven", s.registry, project_upstream);
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(
        refused.message().starts_with("Validation failed: "),
        "{}",
        refused.message()
    );
    assert!(
        refused.message().contains("already covered"),
        "{}",
        refused.message()
    );
    assert_eq!(s.app.count("registry_upstreams"), 2);

    let listed = s.app.ok(
        Method::GET,
        &format!(
            "/virtual_registries/packages/maven/registries/{}/upstreams",
            s.registry
        ),
        None,
    );
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["group", "central"]);
}

#[test]
fn a_group_upstream_is_refused_when_a_descendant_is_already_linked() {
    let s = scene();
    let sub = s.app.group("sub", Some(s.group));
    let sub_project = s.app.project("lib", sub);
    let project_upstream = s
        .app
        .create_upstream(
            s.group,
            "maven",
            json!({"name": "p", "mode": "local", "target_project_id": sub_project}),
        )
        .id();
    let subgroup_upstream = s
        .app
        .create_upstream(
            s.group,
            "maven",
            json!({"name": "s", "mode": "local", "target_group_id": sub}),
        )
        .id();
    let top_upstream = s
        .app
        .create_upstream(
            s.group,
            "maven",
            json!({"name": "t", "mode": "local", "target_group_id": s.group}),
        )
        .id();
    assert_eq!(
        s.app.link("maven", s.registry, project_upstream).status,
        StatusCode::CREATED
    );
    // The subgroup holds the linked project; the top group holds both.
    assert_eq!(
        s.app.link("maven", s.registry, subgroup_upstream).status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        s.app.link("maven", s.registry, top_upstream).status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // A sibling project does not overlap.
    let other = s.app.project("other", s.group);
    let other_upstream = s
        .app
        .create_upstream(
            s.group,
            "maven",
            json!({"name": "o", "mode": "local", "target_project_id": other}),
        )
        .id();
    assert_eq!(
        s.app.link("maven", s.registry, other_upstream).status,
        StatusCode::CREATED
    );
}
