//! Validation messages in GitLab's (Rails') wording, collected per field.

use crate::error::{CoreError, Result};

pub const NAME_MAX: usize = 255;
pub const DESCRIPTION_MAX: usize = 1024;

#[derive(Debug, Default)]
pub struct Errors(Vec<String>);

impl Errors {
    pub fn add(&mut self, message: impl Into<String>) {
        self.0.push(message.into());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Name can't be blank` when `value` is empty or white space.
    pub fn required(&mut self, label: &str, value: Option<&str>) -> bool {
        if value.is_none_or(|v| v.trim().is_empty()) {
            self.add(format!("{label} can't be blank"));
            return false;
        }
        true
    }

    pub fn max_len(&mut self, label: &str, value: Option<&str>, max: usize) {
        if value.is_some_and(|v| v.chars().count() > max) {
            self.add(format!("{label} is too long (maximum is {max} characters)"));
        }
    }

    pub fn must_be_blank(&mut self, label: &str, present: bool) {
        if present {
            self.add(format!("{label} must be blank"));
        }
    }

    pub fn finish(self) -> Result<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(CoreError::Validation(self.0))
        }
    }
}

/// GitLab's rule for group and project paths: letters, digits, `_`, `-`,
/// `.`; not starting with `-`, not ending in `.git`/`.atom`; and (our
/// addition, since paths end up in URLs) not made of dots only.
pub fn check_path(errors: &mut Errors, path: &str) {
    if path.is_empty() {
        errors.add("Path can't be blank");
        return;
    }
    errors.max_len("Path", Some(path), NAME_MAX);
    let allowed = path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !allowed
        || path.starts_with('-')
        || path.ends_with(".git")
        || path.ends_with(".atom")
        || path.chars().all(|c| c == '.')
    {
        errors.add(
            "Path can contain only letters, digits, '_', '-' and '.'. \
             Cannot start with '-', end in '.git' or end in '.atom'",
        );
    }
}

/// A path made from a name, as GitLab does when only a name is given.
pub fn path_from_name(name: &str) -> String {
    let mut path = String::new();
    for c in name.trim().chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '_' | '.') {
            path.push(c.to_ascii_lowercase());
        } else if !path.ends_with('-') {
            path.push('-');
        }
    }
    path.trim_matches('-').to_owned()
}

pub const URL_MAX: usize = 255;

/// Checks and normalises a remote upstream URL: http(s) only, no user-info,
/// lower-case host, no default port, no trailing `/`. Returns the message to
/// report when it is refused.
pub fn normalize_upstream_url(raw: &str) -> std::result::Result<String, String> {
    let parsed = url::Url::parse(raw.trim()).map_err(|_| "Url is invalid".to_owned())?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("Url is blocked: Only allowed schemes are http, https".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(
            "Url must not contain credentials: use the username and password fields".into(),
        );
    }
    let Some(host) = parsed.host_str().filter(|h| !h.is_empty()) else {
        return Err("Url is invalid".into());
    };
    if parsed.fragment().is_some() {
        return Err("Url must not contain a fragment".into());
    }
    // `url` already lower-cases the host and drops the scheme's default port.
    let mut normalized = format!("{}://{}", parsed.scheme(), host);
    if let Some(port) = parsed.port() {
        normalized.push_str(&format!(":{port}"));
    }
    normalized.push_str(parsed.path().trim_end_matches('/'));
    if let Some(query) = parsed.query() {
        normalized.push('?');
        normalized.push_str(query);
    }
    if normalized.chars().count() > URL_MAX {
        return Err(format!("Url is too long (maximum is {URL_MAX} characters)"));
    }
    Ok(normalized)
}

pub const LOCAL_NETWORK_BLOCKED: &str =
    "Url is blocked: Requests to the local network are not allowed";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_normalised() {
        let n = |u| normalize_upstream_url(u);
        assert_eq!(
            n("https://Repo.Example.COM:443/maven2/").unwrap(),
            "https://repo.example.com/maven2"
        );
        assert_eq!(n("http://example.com:80").unwrap(), "http://example.com");
        assert_eq!(
            n("http://example.com:8080/a//").unwrap(),
            "http://example.com:8080/a"
        );
        assert_eq!(n("http://[::1]:3000/x/").unwrap(), "http://[::1]:3000/x");
        assert_eq!(
            n("https://example.com/?q=1").unwrap(),
            "https://example.com?q=1"
        );
    }

    #[test]
    fn bad_urls_are_refused() {
        let n = |u| normalize_upstream_url(u);
        assert_eq!(
            n("ftp://example.com").unwrap_err(),
            "Url is blocked: Only allowed schemes are http, https"
        );
        assert!(n("https://user:pw@example.com")
            .unwrap_err()
            .contains("credentials"));
        assert!(n("https://user@example.com")
            .unwrap_err()
            .contains("credentials"));
        assert_eq!(n("not a url").unwrap_err(), "Url is invalid");
        assert_eq!(
            n("file:///etc/passwd").unwrap_err(),
            "Url is blocked: Only allowed schemes are http, https"
        );
        assert!(n("https://example.com/#frag").is_err());
        let long = format!("https://example.com/{}", "a".repeat(300));
        assert_eq!(
            n(&long).unwrap_err(),
            "Url is too long (maximum is 255 characters)"
        );
    }

    #[test]
    fn paths_follow_gitlab_rules() {
        for ok in ["gitlab-org", "a.b_c", "x1"] {
            let mut e = Errors::default();
            check_path(&mut e, ok);
            assert!(e.is_empty(), "{ok}");
        }
        for bad in [
            "-x", "a/b", "..", ".", "x.git", "x.atom", "a b", "a%2e", "é",
        ] {
            let mut e = Errors::default();
            check_path(&mut e, bad);
            assert!(!e.is_empty(), "{bad}");
        }
        assert_eq!(path_from_name("My Project!"), "my-project");
    }
}
