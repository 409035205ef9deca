//! Where upstream requests may go, through a running vreg (devhost, or real
//! Spin with `VREG_E2E_HOST=spin`):
//! - with the shipped runtime config, an upstream on a host name that
//!   resolves inside the machine (its own host name) is accepted as a name
//!   (vreg cannot resolve names) but never reached: Maven, Go and the
//!   connection test all fail without a single request reaching it; the
//!   same upstream without `block_networks` is reached, so the block is
//!   what stops it;
//! - redirects are not followed: an upstream that redirects to another
//!   host does not make vreg fetch from that host.

use std::net::{IpAddr, ToSocketAddrs};
use std::path::Path;

use vreg_testkit::StaticServer;
use vreg_tests::goproxy::origin_module;
use vreg_tests::{json, Networks, Vreg};

const ADMIN: &str = "network-admin";

fn start(networks: Networks, allow_local: bool) -> Vreg {
    let allow = if allow_local { "true" } else { "false" };
    Vreg::start_with(
        &[
            ("SPIN_VARIABLE_ADMIN_TOKEN", ADMIN),
            ("SPIN_VARIABLE_SECRET_KEY", "network"),
            ("SPIN_VARIABLE_ALLOW_LOCAL_UPSTREAMS", allow),
        ],
        networks,
    )
}

/// An origin with one Maven pom and one Go module version.
fn origin_files(root: &Path) {
    let dir = root.join("org/acme/lib/1.0");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("lib-1.0.pom"), "<project>lib</project>").unwrap();
    origin_module(root, "example.com/inner", "v1.0.0", None);
}

/// This machine's host name and the address it resolves to, which is not
/// a public one (Debian maps it to 127.0.1.1, containers often to
/// 127.0.0.1 or a private address).
fn own_host_name() -> (String, IpAddr) {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("the machine's host name")
        .trim()
        .to_owned();
    let address = (name.as_str(), 80)
        .to_socket_addrs()
        .unwrap_or_else(|e| panic!("the host name {name:?} does not resolve: {e}"))
        .map(|a| a.ip())
        .next()
        .unwrap_or_else(|| panic!("the host name {name:?} has no address"));
    assert!(
        vreg_core::domain::network::is_non_public(address),
        "{name} resolves to the public address {address}"
    );
    (name, address)
}

struct Registries {
    maven: String,
    go: String,
    upstream_test: String,
}

/// A Maven and a Go registry whose one remote upstream is `url`.
fn registries(host: &Vreg, url: &str) -> Registries {
    // `create` asserts success: the URL is accepted.
    let post = |path: &str, body: serde_json::Value| host.create(ADMIN, path, body);
    let group = post("/groups", json!({"name": "net", "visibility": "public"}));
    let maven = post(
        &format!("/groups/{group}/-/virtual_registries/packages/maven/registries"),
        json!({"name": "maven"}),
    );
    let upstream = post(
        &format!("/virtual_registries/packages/maven/registries/{maven}/upstreams"),
        json!({"name": "origin", "url": url}),
    );
    let go = post(
        &format!("/groups/{group}/-/virtual_registries/packages/go/registries"),
        json!({"name": "go"}),
    );
    post(
        &format!("/virtual_registries/packages/go/registries/{go}/upstreams"),
        json!({"name": "origin", "url": url}),
    );
    Registries {
        maven: format!(
            "/api/v4/virtual_registries/packages/maven/{maven}/org/acme/lib/1.0/lib-1.0.pom"
        ),
        go: format!("/api/v4/virtual_registries/packages/go/{go}/example.com/inner/@v/v1.0.0.info"),
        upstream_test: format!(
            "/api/v4/virtual_registries/packages/maven/upstreams/{upstream}/test"
        ),
    }
}

#[test]
fn an_upstream_named_by_a_host_name_that_resolves_inside_is_never_reached() {
    let (name, address) = own_host_name();
    let dir = tempfile::tempdir().unwrap();
    origin_files(dir.path());
    let origin = StaticServer::start_on(dir.path(), address);
    let url = format!("http://{name}:{}/", origin.port);

    // As shipped: the name passes vreg's own checks, the host refuses it.
    let host = start(Networks::AsShipped, false);
    let paths = registries(&host, &url);
    let pom = host.get(&paths.maven);
    assert_ne!(pom.status, 200, "{}", pom.text());
    assert!(pom.status < 500 || pom.status == 502, "{}", pom.status);
    let info = host.get(&paths.go);
    assert_ne!(info.status, 200, "{}", info.text());
    let test = host.request(
        "GET",
        &paths.upstream_test,
        &[("private-token", ADMIN)],
        &[],
    );
    assert_eq!(test.status, 200, "{}", test.text());
    assert_eq!(test.json()["success"], false, "{}", test.text());
    assert!(
        test.text().contains("block_networks"),
        "the failure says why: {}",
        test.text()
    );
    assert_eq!(
        origin.requests(),
        0,
        "nothing reached the upstream at {address}"
    );
    drop(host);

    // Without block_networks the very same upstream is reached: the block
    // is what stopped it, not the name.
    let host = start(Networks::Open, false);
    let paths = registries(&host, &url);
    let pom = host.get(&paths.maven);
    assert_eq!(pom.status, 200, "{}", pom.text());
    assert_eq!(pom.body, b"<project>lib</project>");
    assert!(origin.requests() > 0);
}

#[test]
fn redirects_to_another_host_are_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    origin_files(dir.path());
    let elsewhere = StaticServer::start(dir.path());
    let redirector = StaticServer::start_redirecting(&elsewhere.url());

    let host = start(Networks::Open, true);
    let paths = registries(&host, &redirector.url());
    let pom = host.get(&paths.maven);
    assert_ne!(pom.status, 200, "{}", pom.text());
    let info = host.get(&paths.go);
    assert_ne!(info.status, 200, "{}", info.text());
    assert!(redirector.requests() >= 2, "the upstream itself was asked");
    assert_eq!(
        elsewhere.requests(),
        0,
        "the host it redirects to was never asked"
    );
}
