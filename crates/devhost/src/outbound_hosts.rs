//! `allowed_outbound_hosts`, enforced as Spin enforces them: each entry is
//! `scheme://host[:port]`, where the scheme, the host (or a `*.` prefix of
//! it) and the port may be `*`, a port may be a range `a..b`, and an omitted
//! port means the scheme's default. A request goes out only if an entry
//! matches its scheme, host and port.

use anyhow::{bail, Context, Result};

#[derive(Debug, Clone, PartialEq)]
enum HostPattern {
    Any,
    Exact(String),
    /// `*.example.com`: any subdomain of it.
    Subdomain(String),
}

#[derive(Debug, Clone, PartialEq)]
enum PortPattern {
    Any,
    Range(u16, u16),
}

#[derive(Debug, Clone, PartialEq)]
struct AllowedHost {
    scheme: Option<String>,
    host: HostPattern,
    port: PortPattern,
}

#[derive(Debug, Clone, Default)]
pub struct AllowedHosts {
    entries: Vec<AllowedHost>,
}

pub fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        "redis" => Some(6379),
        "rediss" => Some(6380),
        "postgres" => Some(5432),
        "mysql" => Some(3306),
        "mqtt" => Some(1883),
        _ => None,
    }
}

impl AllowedHosts {
    /// Parses the (already variable-expanded) entries of a component.
    pub fn parse(entries: &[String]) -> Result<Self> {
        let entries = entries
            .iter()
            .map(|e| {
                parse_entry(e)
                    .with_context(|| format!("invalid allowed_outbound_hosts entry {e:?}"))
            })
            .collect::<Result<_>>()?;
        Ok(AllowedHosts { entries })
    }

    /// Whether a request to `scheme://host:port` may go out.
    pub fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        let scheme = scheme.to_ascii_lowercase();
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let Some(port) = port.or_else(|| default_port(&scheme)) else {
            return false;
        };
        self.entries.iter().any(|e| {
            e.scheme.as_ref().is_none_or(|s| *s == scheme)
                && match &e.host {
                    HostPattern::Any => true,
                    HostPattern::Exact(h) => *h == host,
                    HostPattern::Subdomain(suffix) => host.ends_with(&format!(".{suffix}")),
                }
                && match e.port {
                    PortPattern::Any => true,
                    PortPattern::Range(lo, hi) => (lo..=hi).contains(&port),
                }
        })
    }

    /// Whether a URL (`http://h:p/...`, `redis://h:p`) may be reached.
    pub fn allows_url(&self, url: &str) -> bool {
        match url::Url::parse(url) {
            Ok(u) => u
                .host_str()
                .is_some_and(|h| self.allows(u.scheme(), h, u.port())),
            Err(_) => false,
        }
    }
}

fn parse_entry(entry: &str) -> Result<AllowedHost> {
    let Some((scheme, rest)) = entry.split_once("://") else {
        bail!("an entry needs a scheme, e.g. https://example.com");
    };
    let rest = rest.trim_end_matches('/');
    if rest.contains('/') {
        bail!("an entry may not contain a path");
    }
    let scheme = match scheme {
        "*" => None,
        s if !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-') =>
        {
            Some(s.to_ascii_lowercase())
        }
        _ => bail!("invalid scheme"),
    };
    // IPv6 literals are bracketed: [::1]:8080.
    let (host, port) = if let Some(stripped) = rest.strip_prefix('[') {
        let (host, after) = stripped.split_once(']').context("unclosed '['")?;
        (host.to_owned(), after.strip_prefix(':').map(str::to_owned))
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p.to_owned())),
            None => (rest.to_owned(), None),
        }
    };
    let host = match host.to_ascii_lowercase() {
        h if h == "*" => HostPattern::Any,
        h if h.starts_with("*.") => HostPattern::Subdomain(h[2..].to_owned()),
        h if h.is_empty() || h.contains('*') => bail!("invalid host"),
        h => HostPattern::Exact(h),
    };
    let port = match port.as_deref() {
        Some("*") => PortPattern::Any,
        Some(p) if p.contains("..") => {
            let (lo, hi) = p.split_once("..").unwrap();
            PortPattern::Range(lo.parse()?, hi.parse()?)
        }
        Some(p) => {
            let p: u16 = p.parse().context("invalid port")?;
            PortPattern::Range(p, p)
        }
        None => match scheme.as_deref().and_then(default_port) {
            Some(p) => PortPattern::Range(p, p),
            None => bail!("a port is required for this scheme"),
        },
    };
    Ok(AllowedHost { scheme, host, port })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(entries: &[&str]) -> AllowedHosts {
        AllowedHosts::parse(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn exact_entries_need_scheme_host_and_port_to_match() {
        let h = hosts(&["https://example.com", "http://127.0.0.1:8080"]);
        assert!(h.allows("https", "example.com", None));
        assert!(h.allows("https", "EXAMPLE.com", Some(443)));
        assert!(!h.allows("http", "example.com", None));
        assert!(!h.allows("https", "example.com", Some(8443)));
        assert!(!h.allows("https", "evil.example.com", None));
        assert!(h.allows_url("http://127.0.0.1:8080/x"));
        assert!(!h.allows_url("http://127.0.0.1:8081/x"));
        assert!(!h.allows_url("http://127.0.0.1/x"));
    }

    #[test]
    fn wildcards_and_ranges() {
        let h = hosts(&[
            "http://*:*",
            "https://*.example.com",
            "redis://127.0.0.1:6000..6500",
            "*://[::1]:99",
        ]);
        assert!(h.allows("http", "anything", Some(1)));
        assert!(h.allows("https", "a.example.com", None));
        assert!(!h.allows("https", "example.com", None));
        assert!(h.allows_url("redis://127.0.0.1:6379"));
        assert!(!h.allows_url("redis://127.0.0.1:7000"));
        assert!(h.allows("ftp", "::1", Some(99)));
        assert!(h.allows_url("https://[::1]:99/"));
    }

    #[test]
    fn empty_allows_nothing_and_bad_entries_are_refused() {
        assert!(!AllowedHosts::default().allows("https", "example.com", None));
        for bad in [
            "example.com",
            "https://example.com/path",
            "https://ex*ample.com",
            "https://h:notaport",
            "custom://h",
        ] {
            assert!(AllowedHosts::parse(&[bad.to_string()]).is_err(), "{bad}");
        }
    }
}
