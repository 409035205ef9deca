//! Semantic versions as the go command reads them (golang.org/x/mod/semver):
//! `v` and a major version, with optional `.minor` and `.patch` (`v1` is
//! short for `v1.0.0`), an optional `-pre.release` and `+build` metadata.
//! Invalid strings order below every valid one and equal to each other.

use std::cmp::Ordering;

/// A version's parts, as they are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Semver<'a> {
    pub major: &'a str,
    pub minor: &'a str,
    pub patch: &'a str,
    /// `-pre.release` with its dash, or "".
    pub prerelease: &'a str,
    /// `+build` with its plus, or "".
    pub build: &'a str,
    /// What `v1` or `v1.2` leaves out: ".0.0", ".0" or "".
    short: &'static str,
}

/// Digits without a leading zero (but "0"); the rest of the text.
fn number(text: &str) -> Option<(&str, &str)> {
    let end = text.bytes().take_while(u8::is_ascii_digit).count();
    if end == 0 || (end > 1 && text.starts_with('0')) {
        return None;
    }
    Some(text.split_at(end))
}

fn ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}

/// A numeric identifier with a leading zero.
fn bad_number(ident: &str) -> bool {
    ident.len() > 1 && ident.starts_with('0') && ident.bytes().all(|b| b.is_ascii_digit())
}

/// `-a.b` or `+a.b` up to `stop`: dot-separated non-empty identifiers;
/// numeric ones without leading zeros when `numbers_checked`.
fn dotted(text: &str, stop: Option<u8>, numbers_checked: bool) -> Option<(&str, &str)> {
    let end = text[1..]
        .bytes()
        .position(|b| Some(b) == stop)
        .map_or(text.len(), |p| p + 1);
    let body = &text[1..end];
    let ok = body.split('.').all(|ident| {
        !ident.is_empty()
            && ident.bytes().all(ident_char)
            && !(numbers_checked && bad_number(ident))
    });
    ok.then(|| text.split_at(end))
}

pub fn parse(v: &str) -> Option<Semver<'_>> {
    let rest = v.strip_prefix('v')?;
    let (major, rest) = number(rest)?;
    let mut version = Semver {
        major,
        minor: "0",
        patch: "0",
        prerelease: "",
        build: "",
        short: "",
    };
    if rest.is_empty() {
        version.short = ".0.0";
        return Some(version);
    }
    let (minor, rest) = number(rest.strip_prefix('.')?)?;
    version.minor = minor;
    if rest.is_empty() {
        version.short = ".0";
        return Some(version);
    }
    let (patch, mut rest) = number(rest.strip_prefix('.')?)?;
    version.patch = patch;
    if rest.starts_with('-') {
        (version.prerelease, rest) = dotted(rest, Some(b'+'), true)?;
    }
    if rest.starts_with('+') {
        (version.build, rest) = dotted(rest, None, false)?;
    }
    rest.is_empty().then_some(version)
}

pub fn is_valid(v: &str) -> bool {
    parse(v).is_some()
}

/// `v1.2` as `v1.2.0`, without build metadata; "" when invalid.
pub fn canonical(v: &str) -> String {
    match parse(v) {
        None => String::new(),
        Some(p) if !p.build.is_empty() => v[..v.len() - p.build.len()].to_owned(),
        Some(p) => format!("{v}{}", p.short),
    }
}

/// `v2` for `v2.1.0`; "" when invalid.
pub fn major(v: &str) -> String {
    parse(v).map_or(String::new(), |p| format!("v{}", p.major))
}

/// The build suffix (`+incompatible`), or "".
pub fn build(v: &str) -> &str {
    parse(v).map_or("", |p| p.build)
}

/// Numbers written without leading zeros compare by length, then digits.
fn compare_numbers(x: &str, y: &str) -> Ordering {
    x.len().cmp(&y.len()).then_with(|| x.cmp(y))
}

fn compare_prerelease(x: &str, y: &str) -> Ordering {
    match (x.is_empty(), y.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        _ => {}
    }
    let (mut xs, mut ys) = (x[1..].split('.'), y[1..].split('.'));
    loop {
        match (xs.next(), ys.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(a), Some(b)) if a == b => {}
            (Some(a), Some(b)) => {
                let numeric = |s: &str| s.bytes().all(|c| c.is_ascii_digit());
                return match (numeric(a), numeric(b)) {
                    (true, false) => Ordering::Less,
                    (false, true) => Ordering::Greater,
                    (true, true) => compare_numbers(a, b),
                    (false, false) => a.cmp(b),
                };
            }
        }
    }
}

/// Semantic version precedence; build metadata does not count.
pub fn compare(v: &str, w: &str) -> Ordering {
    match (parse(v), parse(w)) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => compare_numbers(a.major, b.major)
            .then_with(|| compare_numbers(a.minor, b.minor))
            .then_with(|| compare_numbers(a.patch, b.patch))
            .then_with(|| compare_prerelease(a.prerelease, b.prerelease)),
    }
}
