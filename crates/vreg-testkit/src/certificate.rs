//! A self-signed certificate for tests that speak https on this machine.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Writes a self-signed certificate for `localhost` and 127.0.0.1, and its
/// key, into `dir` (made with openssl, which scripts/test installs):
/// (certificate, key). It is an end entity, not a CA (rustls refuses a CA
/// serving as a peer); clients trust it by naming it as their root.
pub fn self_signed_certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=vreg test"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl (scripts/test installs it)");
    assert!(made.status.success(), "{made:?}");
    (cert, key)
}
