//! Go module paths by the rules of golang.org/x/mod/module: what a module
//! path, an import path and a file path inside a module zip may be, the
//! major-version suffix a path carries (`/v2`, gopkg.in's `.v2`) and the
//! versions it admits, pseudo-versions, and the `!x` case-encoding of paths
//! and versions in proxy URLs.

use super::semver;
use crate::error::{CoreError, Result};

/// What a path names; each kind allows other characters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PathKind {
    Module,
    Import,
    File,
}

/// Windows device names: no path element may be one, with any extension.
const WINDOWS_RESERVED: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

fn module_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
}

fn char_ok(c: char, kind: PathKind) -> bool {
    match kind {
        PathKind::Module => module_char(c),
        PathKind::Import => module_char(c) || c == '+',
        PathKind::File if c.is_ascii() => {
            c.is_ascii_alphanumeric() || "!#$%&()+,-.=@[]^_{}~ ".contains(c)
        }
        PathKind::File => c.is_alphabetic(),
    }
}

fn check_element(elem: &str, kind: PathKind) -> std::result::Result<(), String> {
    if elem.is_empty() {
        return Err("empty path element".into());
    }
    if elem.bytes().all(|b| b == b'.') {
        return Err(format!("invalid path element {elem:?}"));
    }
    if elem.starts_with('.') && kind == PathKind::Module {
        return Err("leading dot in path element".into());
    }
    if elem.ends_with('.') {
        return Err("trailing dot in path element".into());
    }
    if let Some(c) = elem.chars().find(|c| !char_ok(*c, kind)) {
        return Err(format!("invalid char {c:?}"));
    }
    let short = elem.split('.').next().unwrap_or(elem);
    if WINDOWS_RESERVED
        .iter()
        .any(|w| w.eq_ignore_ascii_case(short))
    {
        return Err(format!(
            "{short:?} disallowed as path element component on Windows"
        ));
    }
    if kind != PathKind::File {
        // `x~1` looks like a Windows short name.
        if let Some((_, digits)) = short.rsplit_once('~') {
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err("trailing tilde and digits in path element".into());
            }
        }
    }
    Ok(())
}

/// The checks every kind of path shares.
pub fn check_path_of(path: &str, kind: PathKind) -> std::result::Result<(), String> {
    if path.is_empty() {
        return Err("empty string".into());
    }
    if path.starts_with('-') && kind != PathKind::File {
        return Err("leading dash".into());
    }
    if path.contains("//") {
        return Err("double slash".into());
    }
    if path.ends_with('/') {
        return Err("trailing slash".into());
    }
    path.split('/')
        .try_for_each(|elem| check_element(elem, kind))
}

/// `module.CheckPath`: a module path, whose first element is a host name.
pub fn check_module_path(path: &str) -> Result<()> {
    let invalid =
        |why: String| CoreError::BadRequest(format!("malformed module path {path:?}: {why}"));
    check_path_of(path, PathKind::Module).map_err(invalid)?;
    let first = path.split('/').next().unwrap_or("");
    if first.is_empty() {
        return Err(invalid("leading slash".into()));
    }
    if !first.contains('.') {
        return Err(invalid("missing dot in first path element".into()));
    }
    if first.starts_with('-') {
        return Err(invalid("leading dash in first path element".into()));
    }
    if let Some(c) = first
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.')))
    {
        return Err(invalid(format!("invalid char {c:?} in first path element")));
    }
    if split_path_version(path).is_none() {
        return Err(invalid("invalid version".into()));
    }
    Ok(())
}

/// `module.SplitPathVersion`: the path and its major-version suffix
/// (`/v2`, or gopkg.in's `.v2`), or `None` when the suffix is malformed
/// (`/v0`, `/v1`, `/v2.0`, `/v02`).
pub fn split_path_version(path: &str) -> Option<(&str, &str)> {
    if path.starts_with("gopkg.in/") {
        return split_gopkg_in(path);
    }
    let tail = path
        .bytes()
        .rev()
        .take_while(|b| b.is_ascii_digit() || *b == b'.')
        .count();
    let i = path.len() - tail;
    let b = path.as_bytes();
    if i <= 1 || i == path.len() || b[i - 1] != b'v' || b[i - 2] != b'/' {
        return Some((path, ""));
    }
    let (prefix, major) = path.split_at(i - 2);
    let dotted = path[i..].contains('.');
    if dotted || major.len() <= 2 || major.as_bytes()[2] == b'0' || major == "/v1" {
        return None;
    }
    Some((prefix, major))
}

fn split_gopkg_in(path: &str) -> Option<(&str, &str)> {
    let end = path.strip_suffix("-unstable").map_or(path.len(), str::len);
    let digits = path[..end]
        .bytes()
        .rev()
        .take_while(u8::is_ascii_digit)
        .count();
    let i = end - digits;
    let b = path.as_bytes();
    if i <= 1 || b[i - 1] != b'v' || b[i - 2] != b'.' {
        return None;
    }
    let (prefix, major) = path.split_at(i - 2);
    if major.len() <= 2 || (major.as_bytes()[2] == b'0' && !major.starts_with(".v0")) {
        return None;
    }
    Some((prefix, major))
}

/// `module.CheckPathMajor`: whether version `v` belongs under a path with
/// the major-version suffix `path_major`.
pub fn check_path_major(v: &str, path_major: &str) -> std::result::Result<(), String> {
    let path_major = match path_major.strip_suffix("-unstable") {
        Some(p) if path_major.starts_with(".v") => p,
        _ => path_major,
    };
    if v.starts_with("v0.0.0-") && path_major == ".v1" {
        // gopkg.in's v1 took v0 pseudo-versions before modules.
        return Ok(());
    }
    let m = semver::major(v);
    let wanted = if path_major.is_empty() {
        if m == "v0" || m == "v1" || semver::build(v) == "+incompatible" {
            return Ok(());
        }
        "v0 or v1"
    } else {
        let suffix = &path_major[1..];
        if m == suffix {
            return Ok(());
        }
        suffix
    };
    Err(format!("should be {wanted}, not {m}"))
}

/// `module.Check`: a valid module path and a semantic version that fits
/// its major-version suffix.
pub fn check(path: &str, version: &str) -> Result<()> {
    check_module_path(path)?;
    let invalid =
        |why: &str| CoreError::BadRequest(format!("{path}@{version}: invalid version: {why}"));
    if !semver::is_valid(version) {
        return Err(invalid("not a semantic version"));
    }
    let (_, path_major) = split_path_version(path).unwrap_or((path, ""));
    check_path_major(version, path_major).map_err(|e| invalid(&e))
}

/// `module.IsPseudoVersion`: `vX.0.0-yyyymmddhhmmss-rev`,
/// `vX.Y.(Z+1)-0.yyyymmddhhmmss-rev` or `vX.Y.Z-pre.0.yyyymmddhhmmss-rev`
/// (and any of them `+build`).
pub fn is_pseudo_version(v: &str) -> bool {
    if v.matches('-').count() < 2 || !semver::is_valid(v) {
        return false;
    }
    let without_build = v.split('+').next().unwrap_or(v);
    let Some((head, rev)) = without_build.rsplit_once('-') else {
        return false;
    };
    if rev.is_empty() || !rev.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    // head: vX.0.0-STAMP, vX.Y.Z-0.STAMP or vX.Y.Z-PRE.0.STAMP
    let Some((base, stamp)) = head.rsplit_once(['-', '.']) else {
        return false;
    };
    if stamp.len() != 14 || !stamp.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    if let Some(major) = base
        .strip_suffix(".0.0")
        .filter(|_| head.as_bytes()[base.len()] == b'-')
    {
        return major.len() > 1 && major[1..].bytes().all(|b| b.is_ascii_digit());
    }
    // vX.Y.Z-0 or vX.Y.Z-PRE.0, then "." before the stamp.
    head.as_bytes()[base.len()] == b'.' && (base.ends_with("-0") || base.ends_with(".0")) && {
        let core = base.split('-').next().unwrap_or("");
        let parts: Vec<&str> = core.trim_start_matches('v').split('.').collect();
        parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    }
}

/// `module.CanonicalVersion`: the canonical form, keeping `+incompatible`.
pub fn canonical_version(v: &str) -> String {
    let mut canonical = semver::canonical(v);
    if semver::build(v) == "+incompatible" {
        canonical.push_str("+incompatible");
    }
    canonical
}

/// `module.UnescapePath`'s decoding: `!x` to `X`; an uppercase letter, a
/// non-ASCII character or a `!` not before a lowercase letter is invalid.
pub fn unescape(escaped: &str) -> Option<String> {
    let mut out = String::with_capacity(escaped.len());
    let mut bang = false;
    for c in escaped.chars() {
        if !c.is_ascii() {
            return None;
        }
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
}
