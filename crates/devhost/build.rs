//! Finds the WIT that spin-sdk ships (its `wit/` directory in Cargo's
//! registry) with `cargo metadata`, and generates the host bindings for the
//! project's own world (`wit/devhost.wit`) against it. No third-party WIT is
//! copied into the repository.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let project_wit = manifest_dir
        .join("../../wit")
        .canonicalize()
        .expect("wit/ directory");
    let spin_sdk_wit = spin_sdk_wit_dir(&manifest_dir);

    let bindings = format!(
        r#"wasmtime::component::bindgen!({{
    path: [{spin_sdk_wit:?}, {project_wit:?}],
    world: "vreg:devhost/redis-handler",
    // The key-value calls may wait on Redis: as async calls they leave the
    // worker to other requests meanwhile (see key_value/redis_store.rs).
    imports: {{
        "fermyon:spin/key-value@2.0.0": async | trappable,
        "wasi:keyvalue/store@0.2.0-draft2": async | trappable,
        "wasi:keyvalue/atomics@0.2.0-draft2": async | trappable,
        "wasi:keyvalue/batch@0.2.0-draft2": async | trappable,
        default: trappable,
    }},
    exports: {{ default: async }},
    with: {{
        "fermyon:spin/key-value@2.0.0.store": crate::key_value::Bucket,
        "wasi:keyvalue/store@0.2.0-draft2.bucket": crate::key_value::Bucket,
        "wasi:keyvalue/atomics@0.2.0-draft2.cas": crate::key_value::Cas,
        "fermyon:spin/sqlite@2.0.0.connection": crate::sqlite::Connection,
        "spin:sqlite/sqlite@3.0.0.connection": crate::sqlite::Connection,
        "fermyon:spin/redis@2.0.0.connection": crate::redis::Connection,
    }},
}});
"#,
    );
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("spin_bindings.rs");
    std::fs::write(&out, bindings).expect("write bindings");

    println!("cargo:rerun-if-changed={}", project_wit.display());
    println!("cargo:rerun-if-changed={}", spin_sdk_wit.display());
    println!("cargo:rerun-if-changed=../../Cargo.lock");
    println!(
        "cargo:rustc-env=DEVHOST_SPIN_SDK_WIT={}",
        spin_sdk_wit.display()
    );
}

/// The `wit/` directory of the spin-sdk 5.x package the workspace resolves.
fn spin_sdk_wit_dir(manifest_dir: &Path) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1"])
        .current_dir(manifest_dir)
        .output()
        .expect("run cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("metadata JSON");
    let package = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .find(|p| {
            p["name"] == "spin-sdk" && p["version"].as_str().is_some_and(|v| v.starts_with("5."))
        })
        .expect("spin-sdk 5.x is not in the workspace's dependency graph");
    let manifest_path = PathBuf::from(package["manifest_path"].as_str().unwrap());
    let wit = manifest_path.parent().unwrap().join("wit");
    assert!(
        wit.join("deps").is_dir(),
        "spin-sdk has no wit/deps at {}",
        wit.display()
    );
    wit
}
