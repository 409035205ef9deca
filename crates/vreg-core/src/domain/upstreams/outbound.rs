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
    let url = if suffix.is_empty() {
        base.to_owned()
    } else {
        format!("{base}/{suffix}")
    };
    let host = url::Url::parse(&url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    if !config.allow_local_upstreams && crate::domain::validate::is_local_host(&host) {
        return Err("requests to the local network are not allowed".into());
    }
    let mut headers = vec![(
        "user-agent".to_owned(),
        format!("vreg/{}", env!("CARGO_PKG_VERSION")),
    )];
    if let (Some(user), Some(sealed)) = (&upstream.username, &upstream.password_encrypted) {
        let password = PasswordSealer::new(&config.secret_key)
            .open(sealed)
            .map_err(|e| e.to_string())?;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        headers.push(("authorization".to_owned(), format!("Basic {token}")));
    }
    Ok(FetchRequest {
        method,
        url,
        headers,
        timeout: std::time::Duration::from_secs(config.upstream_timeout_seconds),
    })
}
