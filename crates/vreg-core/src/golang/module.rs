//! Go module paths and versions, by the rules of the `go` command: the
//! `!x` case-encoding of paths and versions in proxy URLs, module path
//! checks, canonical semantic versions, pseudo-versions.

use std::cmp::Ordering;

use crate::error::{CoreError, Result};

const MAX_PATH: usize = 500;

fn bad(message: String) -> CoreError {
    CoreError::BadRequest(message)
}

/// Decodes `!x` to `X`; uppercase letters are not allowed in encoded form.
pub fn unescape(escaped: &str) -> Option<String> {
    let mut out = String::with_capacity(escaped.len());
    let mut bang = false;
    for c in escaped.chars() {
        if bang {
            if !c.is_ascii_lowercase() {
                return None;
            }
            out.push(c.to_ascii_uppercase());
            bang = false;
        } else if c == '!' {
            bang = true;
        } else if c.is_ascii_uppercase() {
            return None;
        } else {
            out.push(c);
        }
    }
    (!bang).then_some(out)
}

/// Encodes `X` as `!x`.
pub fn escape(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 4);
    for c in path.chars() {
        if c.is_ascii_uppercase() {
            out.push('!');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn path_char_ok(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
}

/// Checks a module path as `module.CheckPath` does.
pub fn check_module_path(path: &str) -> Result<()> {
    let invalid = |why: &str| bad(format!("malformed module path {path:?}: {why}"));
    if path.is_empty() || path.len() > MAX_PATH {
        return Err(invalid("empty or too long"));
    }
    let elements: Vec<&str> = path.split('/').collect();
    for element in &elements {
        if element.is_empty() {
            return Err(invalid("empty path element"));
        }
        if element.starts_with('.') || element.ends_with('.') || *element == "." || *element == ".."
        {
            return Err(invalid("leading or trailing dot in path element"));
        }
        if !element.chars().all(path_char_ok) {
            return Err(invalid("invalid char"));
        }
    }
    let first = elements[0];
    if !first.contains('.') {
        return Err(invalid("missing dot in first path element"));
    }
    if first.starts_with('-') {
        return Err(invalid("leading dash in first path element"));
    }
    if !first
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
    {
        return Err(invalid("invalid char in first path element"));
    }
    Ok(())
}

/// A parsed canonical semantic version (`v1.2.3`, `v1.2.3-pre.1`,
/// `v2.0.0+incompatible`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub text: String,
    major: u64,
    minor: u64,
    patch: u64,
    prerelease: Option<String>,
    pub incompatible: bool,
}

fn numeric(s: &str) -> Option<u64> {
    if s.is_empty() || (s.len() > 1 && s.starts_with('0')) || !s.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    s.parse().ok()
}

impl Version {
    /// Parses a canonical version; anything else (`v1`, `v1.2`, build
    /// metadata other than `+incompatible`, leading zeros) is refused.
    pub fn parse(text: &str) -> Option<Version> {
        let rest = text.strip_prefix('v')?;
        let (rest, incompatible) = match rest.strip_suffix("+incompatible") {
            Some(r) => (r, true),
            None => (rest, false),
        };
        if rest.contains('+') {
            return None;
        }
        let (core, prerelease) = match rest.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (rest, None),
        };
        let mut numbers = core.split('.');
        let major = numeric(numbers.next()?)?;
        let minor = numeric(numbers.next()?)?;
        let patch = numeric(numbers.next()?)?;
        if numbers.next().is_some() {
            return None;
        }
        if let Some(pre) = prerelease {
            let ok = !pre.is_empty()
                && pre.split('.').all(|id| {
                    !id.is_empty()
                        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                        && !(id.len() > 1
                            && id.starts_with('0')
                            && id.bytes().all(|b| b.is_ascii_digit()))
                });
            if !ok {
                return None;
            }
        }
        if incompatible && major < 2 {
            return None;
        }
        Some(Version {
            text: text.to_owned(),
            major,
            minor,
            patch,
            prerelease: prerelease.map(str::to_owned),
            incompatible,
        })
    }

    pub fn is_prerelease(&self) -> bool {
        self.prerelease.is_some()
    }

    /// `vX.Y.Z-[pre.]0.yyyymmddhhmmss-abcdef123456` and friends.
    pub fn is_pseudo(&self) -> bool {
        let Some(pre) = &self.prerelease else {
            return false;
        };
        let Some((head, rev)) = pre.rsplit_once('-') else {
            return false;
        };
        if rev.len() != 12
            || !rev
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return false;
        }
        let stamp = head.rsplit('.').next().unwrap_or(head);
        stamp.len() == 14 && stamp.bytes().all(|b| b.is_ascii_digit())
    }

    /// Semantic version precedence.
    pub fn compare(&self, other: &Version) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (&self.prerelease, &other.prerelease) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => compare_prerelease(a, b),
            })
    }
}

fn compare_prerelease(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a.split('.'), b.split('.'));
    loop {
        match (x.next(), y.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(p), Some(q)) => {
                let order = match (numeric(p), numeric(q)) {
                    (Some(m), Some(n)) => m.cmp(&n),
                    (Some(_), None) => Ordering::Less,
                    (None, Some(_)) => Ordering::Greater,
                    (None, None) => p.cmp(q),
                };
                if order != Ordering::Equal {
                    return order;
                }
            }
        }
    }
}

/// The version `@latest` names: the highest release, else the highest
/// pre-release, else the newest pseudo-version.
pub fn latest<'a>(versions: impl IntoIterator<Item = &'a Version>) -> Option<&'a Version> {
    let all: Vec<&Version> = versions.into_iter().collect();
    let best = |filter: &dyn Fn(&Version) -> bool| {
        all.iter()
            .copied()
            .filter(|v| filter(v))
            .max_by(|a, b| a.compare(b))
    };
    best(&|v| !v.is_prerelease())
        .or_else(|| best(&|v| v.is_prerelease() && !v.is_pseudo()))
        .or_else(|| best(&|v| v.is_pseudo()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_encoding_round_trips() {
        assert_eq!(escape("github.com/Azure/Go"), "github.com/!azure/!go");
        assert_eq!(
            unescape("github.com/!azure/!go").unwrap(),
            "github.com/Azure/Go"
        );
        assert_eq!(unescape("github.com/Azure"), None);
        assert_eq!(unescape("github.com/!"), None);
        assert_eq!(unescape("github.com/!1"), None);
    }

    #[test]
    fn module_paths_follow_go_rules() {
        for ok in [
            "example.com/m",
            "golang.org/x/mod",
            "example.com/Upper/v2",
            "gopkg.in/yaml.v3",
        ] {
            assert!(check_module_path(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "m",
            "example.com//m",
            "example.com/../m",
            "example.com/m/",
            "Example.com/m",
            "example.com/m@v1",
            "example.com/.m",
            "-x.com/m",
            "example.com/m%2f",
        ] {
            assert!(check_module_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn versions_are_canonical_semver() {
        for ok in [
            "v1.0.0",
            "v0.1.2-pre.1",
            "v2.0.0+incompatible",
            "v0.0.0-20240101120000-abcdef123456",
            "v1.2.4-0.20240101120000-abcdef123456",
        ] {
            assert!(Version::parse(ok).is_some(), "{ok}");
        }
        for bad in [
            "1.0.0",
            "v1",
            "v1.2",
            "v01.0.0",
            "v1.0.0+build",
            "v1.0.0+incompatible",
            "v1.0.0-",
            "v1.0.0-01",
            "latest",
        ] {
            assert!(Version::parse(bad).is_none(), "{bad}");
        }
        assert!(Version::parse("v0.0.0-20240101120000-abcdef123456")
            .unwrap()
            .is_pseudo());
        assert!(!Version::parse("v1.0.0-rc.1").unwrap().is_pseudo());
    }

    #[test]
    fn latest_prefers_releases_then_prereleases_then_pseudo() {
        let v = |s: &str| Version::parse(s).unwrap();
        let all = [
            v("v1.2.0"),
            v("v1.10.0"),
            v("v2.0.0-rc.1"),
            v("v0.0.0-20240101120000-abcdef123456"),
        ];
        assert_eq!(latest(&all).unwrap().text, "v1.10.0");
        let pre = [
            v("v2.0.0-rc.1"),
            v("v2.0.0-beta.2"),
            v("v0.0.0-20250101120000-abcdef123456"),
        ];
        assert_eq!(latest(&pre).unwrap().text, "v2.0.0-rc.1");
        let pseudo = [
            v("v0.0.0-20240101120000-abcdef123456"),
            v("v0.0.0-20250101120000-abcdef123456"),
        ];
        assert_eq!(
            latest(&pseudo).unwrap().text,
            "v0.0.0-20250101120000-abcdef123456"
        );
        assert!(v("v1.0.0-rc.2").compare(&v("v1.0.0-rc.10")).is_lt());
    }
}
