//! `spin.toml` (the serving app) and `spin-worker.toml` (the sync app) must
//! be manifests the real `spin up` accepts: checked here field by field
//! against what Spin's manifest (version 2) requires.

use std::path::{Path, PathBuf};

use toml::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn load(name: &str) -> toml::Table {
    let text = std::fs::read_to_string(root().join(name)).unwrap();
    text.parse::<toml::Table>()
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn is_kebab_id(id: &str) -> bool {
    !id.is_empty()
        && id.split('-').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                && part.starts_with(|c: char| c.is_ascii_lowercase())
        })
}

/// Spin's rule: `_`-separated words, each starting with a lowercase letter.
fn is_variable_name(name: &str) -> bool {
    name.split('_').all(|word| {
        word.starts_with(|c: char| c.is_ascii_lowercase())
            && word
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    })
}

#[test]
fn variable_names_follow_spins_rule() {
    for good in ["admin_token", "upstream_hosts_a", "v2_name"] {
        assert!(is_variable_name(good), "{good}");
    }
    for bad in ["", "upstream_hosts_1", "Admin", "a__b", "_a", "a-b"] {
        assert!(!is_variable_name(bad), "{bad}");
    }
}

/// The runtime config users start with: every private network blocked for
/// components, the `sync` queue on Redis, and no component opening a Redis
/// connection itself (the policy would refuse the Redis on 127.0.0.1).
#[test]
fn the_shipped_runtime_config_blocks_private_networks_and_queues_on_redis() {
    let config: Value =
        toml::from_str(&std::fs::read_to_string(root().join("runtime-config.toml")).unwrap())
            .unwrap();
    let blocked = config["outbound_networking"]["block_networks"]
        .as_array()
        .unwrap();
    assert!(blocked.iter().any(|n| n.as_str() == Some("private")));
    assert_eq!(
        config["key_value_store"]["sync"]["type"].as_str(),
        Some("redis")
    );
    for name in MANIFESTS {
        let manifest = load(name);
        for (id, component) in manifest["component"].as_table().unwrap() {
            for host in component
                .get("allowed_outbound_hosts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                assert!(
                    !host.as_str().unwrap().starts_with("redis"),
                    "{name}: {id} opens Redis connections"
                );
            }
            for store in component["key_value_stores"].as_array().unwrap() {
                let store = store.as_str().unwrap();
                assert!(
                    store == "default" || config["key_value_store"].get(store).is_some(),
                    "{name}: {id} uses store {store}, which runtime-config.toml does not define"
                );
            }
        }
    }
}

/// The two apps: serving (HTTP only) and the sync worker (Redis only).
const MANIFESTS: [&str; 2] = ["spin.toml", "spin-worker.toml"];

#[test]
fn spin_manifests_have_what_spin_requires() {
    for name in MANIFESTS {
        check_manifest(name);
    }
    // Every component crate is in exactly one of the apps.
    for entry in std::fs::read_dir(root().join("components")).unwrap() {
        let id = entry.unwrap().file_name().into_string().unwrap();
        let apps: Vec<_> = MANIFESTS
            .iter()
            .filter(|m| load(m)["component"].as_table().unwrap().contains_key(&id))
            .collect();
        assert_eq!(apps.len(), 1, "components/{id} is in {apps:?}");
    }
}

/// Serving never depends on Redis: under `spin up`, a Redis trigger that
/// cannot connect or loses its connection ends its whole app, so the serving
/// app has no Redis trigger and the worker app has nothing but one.
#[test]
fn only_the_worker_app_has_a_redis_trigger() {
    let serving = load("spin.toml");
    assert!(serving["trigger"].get("redis").is_none());
    assert!(!serving["trigger"]["http"].as_array().unwrap().is_empty());
    let worker = load("spin-worker.toml");
    assert!(worker["trigger"].get("http").is_none());
    let redis = worker["trigger"]["redis"].as_array().unwrap();
    assert_eq!(redis.len(), 1);
    assert_eq!(redis[0]["component"].as_str(), Some("sync-worker"));
    // Both apps take secret_key, so a worker can decrypt upstream passwords.
    assert!(worker["variables"]["secret_key"]["required"]
        .as_bool()
        .unwrap());
}

fn check_manifest(name: &str) {
    let manifest = load(name);
    assert_eq!(manifest["spin_manifest_version"].as_integer(), Some(2));
    let application = manifest["application"].as_table().expect("[application]");
    assert!(is_kebab_id(application["name"].as_str().unwrap()));

    let variables = manifest["variables"].as_table().expect("[variables]");
    for (name, spec) in variables {
        assert!(is_variable_name(name), "variable name {name}");
        let spec = spec.as_table().unwrap();
        let required = spec
            .get("required")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        assert!(
            !(required && spec.contains_key("default")),
            "{name}: required variables have no default"
        );
        for key in spec.keys() {
            assert!(
                ["required", "default", "secret"].contains(&key.as_str()),
                "{name}: unknown key {key}"
            );
        }
    }
    assert_eq!(variables["secret_key"]["secret"].as_bool(), Some(true));
    if let Some(admin) = variables.get("admin_token") {
        assert_eq!(admin["secret"].as_bool(), Some(true));
    }

    let components = manifest["component"].as_table().expect("[component]");
    let http = manifest["trigger"].get("http").and_then(Value::as_array);
    for trigger in http.into_iter().flatten() {
        let route = trigger["route"].as_str().unwrap();
        assert!(route.starts_with('/'), "{route}");
        let component = trigger["component"].as_str().unwrap();
        assert!(
            components.contains_key(component),
            "{name}: route {route} names unknown component {component}"
        );
    }
    let redis = manifest["trigger"].get("redis").and_then(Value::as_array);
    for trigger in redis.into_iter().flatten() {
        let component = trigger["component"].as_str().unwrap();
        assert!(components.contains_key(component), "{name}: {component}");
    }

    let known_component_keys = [
        "description",
        "source",
        "files",
        "exclude_files",
        "allowed_outbound_hosts",
        "key_value_stores",
        "sqlite_databases",
        "environment",
        "build",
        "variables",
        "ai_models",
        "dependencies",
        "dependencies_inherit_configuration",
    ];
    for (id, component) in components {
        assert!(is_kebab_id(id), "component id {id}");
        let component = component.as_table().unwrap();
        for key in component.keys() {
            assert!(
                known_component_keys.contains(&key.as_str()),
                "{id}: unknown key {key}"
            );
        }
        let source = component["source"].as_str().unwrap();
        assert!(
            source.starts_with("target/wasm32-wasip2/release/") && source.ends_with(".wasm"),
            "{source}"
        );
        // The source is the build output of components/<id>.
        let crate_dir = root().join("components").join(id);
        assert!(
            crate_dir.join("Cargo.toml").exists(),
            "no crate for component {id}"
        );
        assert_eq!(
            source,
            format!("target/wasm32-wasip2/release/{}.wasm", id.replace('-', "_"))
        );
        for store in ["key_value_stores", "sqlite_databases"] {
            let stores = component[store].as_array().unwrap();
            assert!(
                stores.iter().any(|s| s.as_str() == Some("default")),
                "{id}: {store}"
            );
        }
        if let Some(hosts) = component.get("allowed_outbound_hosts") {
            for host in hosts.as_array().unwrap() {
                let host = host.as_str().unwrap();
                assert!(
                    host.contains("://") || host.starts_with("{{"),
                    "{id}: outbound host {host} needs a scheme"
                );
            }
        }
        for (name, value) in component
            .get("variables")
            .and_then(Value::as_table)
            .into_iter()
            .flatten()
        {
            assert!(is_variable_name(name), "{id}: variable {name}");
            let template = value.as_str().unwrap();
            let mut rest = template;
            while let Some(start) = rest.find("{{") {
                let end = rest[start..].find("}}").expect("unclosed template") + start;
                let referenced = rest[start + 2..end].trim();
                assert!(
                    variables.contains_key(referenced),
                    "{id}: {name} uses undeclared {referenced}"
                );
                rest = &rest[end + 2..];
            }
        }
        let build = component["build"].as_table().expect("build");
        assert!(build["command"]
            .as_str()
            .unwrap()
            .contains(&format!("-p {id}")));
    }
}

#[test]
fn runtime_config_uses_spin_store_types() {
    let config = load("runtime-config.toml");
    let kv = &config["key_value_store"]["default"];
    assert_eq!(kv["type"].as_str(), Some("spin"));
    assert!(kv["path"].as_str().unwrap().starts_with(".spin/"));
    let db = &config["sqlite_database"]["default"];
    assert_eq!(db["type"].as_str(), Some("spin"));
    assert!(db["path"].as_str().unwrap().starts_with(".spin/"));
}

/// After `scripts/build-components`, every component is a WebAssembly
/// component (not a core module). `scripts/test` sets VREG_REQUIRE_WASM=1.
#[test]
fn built_components_are_wasm_components() {
    let required = std::env::var("VREG_REQUIRE_WASM").is_ok_and(|v| v == "1");
    let manifests: Vec<_> = MANIFESTS.iter().map(|m| load(m)).collect();
    let components = manifests
        .iter()
        .flat_map(|m| m["component"].as_table().unwrap());
    for (id, component) in components {
        let path = root().join(component["source"].as_str().unwrap());
        let Ok(bytes) = std::fs::read(&path) else {
            assert!(!required, "{id}: {} was not built", path.display());
            continue;
        };
        assert_eq!(&bytes[..4], b"\0asm", "{id}: not wasm");
        // Layer 1 with version 0x0d marks a component; modules are version 1, layer 0.
        assert_eq!(
            &bytes[4..8],
            &[0x0d, 0x00, 0x01, 0x00],
            "{id}: a core module, not a component"
        );
    }
}
