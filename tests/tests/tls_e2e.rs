//! A private Go registry over https, as `go` uses one: `go` sends
//! credentials (`.netrc`) only over https, so vreg serves with
//! `--tls-cert`/`--tls-key` (devhost, or real Spin with
//! `VREG_E2E_HOST=spin`) and a self-signed certificate that `go` trusts
//! through `SSL_CERT_FILE`. With the credentials the private module
//! downloads; without them it does not.

use std::path::Path;
use std::process::Command;

use vreg_testkit::self_signed_certificate;
use vreg_tests::goproxy::{zip, GoClient};
use vreg_tests::Vreg;

const ADMIN: &str = "tls-admin";

/// An admin API call over https with curl; (status, body).
fn curl(cert: &Path, method: &str, url: &str, body: &[u8], json: bool) -> (u16, String) {
    let mut command = Command::new("curl");
    command
        .args(["-sS", "--max-time", "60", "-o", "-", "-w", "\n%{http_code}"])
        .arg("--cacert")
        .arg(cert)
        .args(["-X", method, "-H", &format!("private-token: {ADMIN}")]);
    if json {
        command.args(["-H", "content-type: application/json"]);
    }
    let output = command
        .args(["--data-binary", "@-"])
        .arg(url)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(body)?;
            child.wait_with_output()
        })
        .expect("curl (scripts/test installs it)");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (status.trim().parse().unwrap_or(0), body.to_owned())
}

#[test]
fn a_private_registry_works_for_go_over_https_with_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed_certificate(dir.path());
    let host = Vreg::start_tls(
        &[
            ("SPIN_VARIABLE_ADMIN_TOKEN", ADMIN),
            ("SPIN_VARIABLE_SECRET_KEY", "tls"),
        ],
        &cert,
        &key,
    );
    let api = format!("{}/api/v4", host.base);
    let create = |path: &str, body: serde_json::Value| -> i64 {
        let (status, out) = curl(
            &cert,
            "POST",
            &format!("{api}{path}"),
            body.to_string().as_bytes(),
            true,
        );
        assert_eq!(status, 201, "{path}: {out}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let group = create(
        "/groups",
        serde_json::json!({"name": "corp", "visibility": "private"}),
    );
    let project = create(
        "/projects",
        serde_json::json!({"name": "mods", "namespace_id": group, "visibility": "private"}),
    );
    let registry = create(
        &format!("/groups/{group}/-/virtual_registries/packages/go/registries"),
        serde_json::json!({"name": "go"}),
    );
    create(
        &format!("/virtual_registries/packages/go/registries/{registry}/upstreams"),
        serde_json::json!({"name": "local", "mode": "local", "target_project_id": project}),
    );
    let module = zip(&[
        (
            "corp.example/secret@v1.0.0/go.mod".into(),
            b"module corp.example/secret\n".as_slice(),
        ),
        (
            "corp.example/secret@v1.0.0/secret.go".into(),
            b"package secret\n".as_slice(),
        ),
    ]);
    let (status, out) = curl(
        &cert,
        "PUT",
        &format!("{api}/projects/{project}/packages/go/corp.example/secret/@v/v1.0.0.zip"),
        &module,
        false,
    );
    assert_eq!(status, 200, "{out}");

    let work = tempfile::tempdir().unwrap();
    let go = GoClient::new(
        format!("{api}/virtual_registries/packages/go/{registry}"),
        work.path(),
    );
    let with_cert = |go_args: &[&str], cache: &str| {
        let mut command = go.command(cache, go_args);
        command.env("SSL_CERT_FILE", &cert);
        command.output().unwrap()
    };

    // Without credentials: the private registry does not answer.
    let refused = with_cert(
        &["mod", "download", "corp.example/secret@v1.0.0"],
        "cache-1",
    );
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("401") || said.contains("404") || said.contains("Unauthorized"),
        "{said}"
    );

    // With credentials in .netrc (go sends them over https only).
    std::fs::write(
        work.path().join(".netrc"),
        format!("machine 127.0.0.1 login go password {ADMIN}\n"),
    )
    .unwrap();
    // The module downloads into a fresh module cache, with its go.sum hash.
    let downloads = |cache: &str| {
        let fetched = with_cert(
            &["mod", "download", "-json", "corp.example/secret@v1.0.0"],
            cache,
        );
        let out = String::from_utf8_lossy(&fetched.stdout);
        assert!(
            fetched.status.success(),
            "{out}\n{}",
            String::from_utf8_lossy(&fetched.stderr)
        );
        assert!(out.contains("\"Sum\": \"h1:"), "{out}");
    };
    downloads("cache-2");

    // A stored token in .netrc: its second download (a fresh module cache)
    // is answered from the records of its first; revoked, it is refused.
    let (status, out) = curl(
        &cert,
        "POST",
        &format!("{api}/personal_access_tokens"),
        serde_json::json!({"name": "ci", "scopes": ["read_registry"]})
            .to_string()
            .as_bytes(),
        true,
    );
    assert_eq!(status, 201, "{out}");
    let token: serde_json::Value = serde_json::from_str(&out).unwrap();
    std::fs::write(
        work.path().join(".netrc"),
        format!(
            "machine 127.0.0.1 login go password {}\n",
            token["token"].as_str().unwrap()
        ),
    )
    .unwrap();
    downloads("cache-3");
    downloads("cache-4");
    let revoke = format!("{api}/personal_access_tokens/{}", token["id"]);
    let (status, out) = curl(&cert, "DELETE", &revoke, b"", false);
    assert_eq!(status, 204, "{out}");
    let refused = with_cert(
        &["mod", "download", "corp.example/secret@v1.0.0"],
        "cache-5",
    );
    assert!(
        !refused.status.success(),
        "a revoked token is refused at once"
    );
    let log = host.log();
    assert!(!log.contains(" 500 "), "no server errors:\n{log}");
}
