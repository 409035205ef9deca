//! `spin.toml` must be a manifest the real `spin up` accepts: checked here
//! field by field against what Spin's manifest (version 2) requires.

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

fn is_variable_name(name: &str) -> bool {
    !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[test]
fn spin_manifest_has_what_spin_requires() {
    let manifest = load("spin.toml");
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
    assert_eq!(variables["admin_token"]["secret"].as_bool(), Some(true));
    assert!(variables.contains_key("secret_key"));

    let components = manifest["component"].as_table().expect("[component]");
    let triggers = manifest["trigger"]["http"]
        .as_array()
        .expect("[[trigger.http]]");
    for trigger in triggers {
        let route = trigger["route"].as_str().unwrap();
        assert!(route.starts_with('/'), "{route}");
        let component = trigger["component"].as_str().unwrap();
        assert!(
            components.contains_key(component),
            "route {route} names unknown component {component}"
        );
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

    // Every component crate is in the manifest.
    for entry in std::fs::read_dir(root().join("components")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            components.contains_key(&name),
            "components/{name} is not in spin.toml"
        );
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
    let manifest = load("spin.toml");
    let required = std::env::var("VREG_REQUIRE_WASM").is_ok_and(|v| v == "1");
    for (id, component) in manifest["component"].as_table().unwrap() {
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
