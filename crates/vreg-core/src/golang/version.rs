//! The versions a module proxy serves: canonical semantic versions
//! (`v1.2.3`, `v1.2.3-pre.1`, pseudo-versions), with `+incompatible` for a
//! major version 2 or above under a path without a suffix. This is what the
//! go command asks a proxy for (`module.CanonicalVersion(v) == v`).

use std::cmp::Ordering;

use super::module::{canonical_version, is_pseudo_version};
use super::semver;

/// A canonical module version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub text: String,
}

impl Version {
    /// Parses a canonical version; anything else (`v1`, `v1.2`, build
    /// metadata other than `+incompatible`, leading zeros) is refused, and so
    /// is `+incompatible` on v0 or v1, which the go command refuses too.
    pub fn parse(text: &str) -> Option<Version> {
        let parsed = semver::parse(text)?;
        let incompatible = match parsed.build {
            "" => false,
            "+incompatible" => true,
            _ => return None,
        };
        if incompatible && matches!(parsed.major, "0" | "1") {
            return None;
        }
        (canonical_version(text) == text).then(|| Version {
            text: text.to_owned(),
        })
    }

    pub fn is_prerelease(&self) -> bool {
        semver::parse(&self.text).is_some_and(|p| !p.prerelease.is_empty())
    }

    pub fn is_pseudo(&self) -> bool {
        is_pseudo_version(&self.text)
    }

    /// Semantic version precedence.
    pub fn compare(&self, other: &Version) -> Ordering {
        semver::compare(&self.text, &other.text)
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
