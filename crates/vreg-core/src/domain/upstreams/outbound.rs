//! Requests to a remote upstream.

use super::Upstream;
use crate::context::Config;
use crate::crypto::PasswordSealer;
use crate::http::fetch::FetchRequest;

/// The request for `suffix` under a remote upstream's URL, with its
/// credentials (Basic) — refused when it points at the local network and
/// `allow_local_upstreams` is off.
pub fn fetch_request(
    config: &Config,
    upstream: &Upstream,
    suffix: &str,
    method: http::Method,
) -> Result<FetchRequest, String> {
    use base64::Engine;
    let base = upstream.url.as_deref().ok_or("no URL")?;
    let mut request = outbound_request(config, join(base, suffix)?, method)?;
    if let (Some(user), Some(sealed)) = (&upstream.username, &upstream.password_encrypted) {
        let password = PasswordSealer::new(&config.secret_key)
            .open(sealed)
            .map_err(|e| e.to_string())?;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        request
            .headers
            .push(("authorization".to_owned(), format!("Basic {token}")));
    }
    Ok(request)
}

/// A request to `url` as vreg sends every outbound one (its user agent,
/// the upstream time limit), refused when it points at the local network
/// and `allow_local_upstreams` is off.
pub fn outbound_request(
    config: &Config,
    url: String,
    method: http::Method,
) -> Result<FetchRequest, String> {
    if !config.allow_local_upstreams && crate::domain::network::is_local_url(&url) {
        return Err("requests to the local network are not allowed".into());
    }
    Ok(FetchRequest {
        method,
        url,
        headers: vec![(
            "user-agent".to_owned(),
            format!("vreg/{}", env!("CARGO_PKG_VERSION")),
        )],
        timeout: std::time::Duration::from_secs(config.upstream_timeout_seconds),
    })
}

/// The upstream URL with `suffix` appended to its path; a query the URL
/// has stays after the path (`http://h/base?x=1` + `a/b` is
/// `http://h/base/a/b?x=1`).
fn join(base: &str, suffix: &str) -> Result<String, String> {
    let mut url = url::Url::parse(base).map_err(|e| format!("invalid upstream URL: {e}"))?;
    if !suffix.is_empty() {
        let path = format!("{}/{suffix}", url.path().trim_end_matches('/'));
        url.set_path(&path);
    }
    let text = url.to_string();
    // `url` writes an empty path as "/": keep the stored form when nothing is added.
    Ok(if suffix.is_empty() {
        base.to_owned()
    } else {
        text
    })
}

#[cfg(test)]
mod tests {
    use super::join;

    #[test]
    fn paths_go_before_the_query() {
        assert_eq!(
            join("http://h/base?x=1", "a/b.pom").unwrap(),
            "http://h/base/a/b.pom?x=1"
        );
        assert_eq!(join("http://h", "a/b.pom").unwrap(), "http://h/a/b.pom");
        assert_eq!(
            join("https://h:8443/m2", "g/a/1/a-1.jar").unwrap(),
            "https://h:8443/m2/g/a/1/a-1.jar"
        );
        assert_eq!(join("http://h/base", "").unwrap(), "http://h/base");
    }
}
