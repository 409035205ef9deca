//! What a registry may ask its remote upstreams for: an ordered list of
//! rules, `allow <pattern>` or `deny <pattern>`, the first that matches
//! deciding (no match: allowed). Local upstreams are not filtered.
//!
//! Patterns are globs (`*` any run of characters, `?` one): for Maven
//! `groupId:artifactId` (`org.evil.*:*`; a pattern without `:` means any
//! artifact of the groups it matches), for Go a module path, which also
//! matches the modules below it (`github.com/evil/*` covers
//! `github.com/evil/x/v2`), as `GOPRIVATE` patterns do.
//!
//! Go registries also have `nosum_patterns` (module path globs, the same
//! way): the checksum database is not asked about those modules and the
//! proxy answers 403, so `go` fails clearly unless `GONOSUMDB` covers them.

use crate::domain::model::PackageType;

pub const MAX_RULES: usize = 100;
const MAX_PATTERN: usize = 255;

/// One rule, or why the text is not one.
pub fn parse_rule(package_type: PackageType, text: &str) -> Result<(bool, String), String> {
    let (action, pattern) = text
        .split_once(' ')
        .ok_or_else(|| format!("{text:?} is not \"allow <pattern>\" or \"deny <pattern>\""))?;
    let allow = match action {
        "allow" => true,
        "deny" => false,
        _ => return Err(format!("{text:?} must start with allow or deny")),
    };
    check_pattern(package_type, pattern.trim())?;
    Ok((allow, pattern.trim().to_owned()))
}

/// Checks a pattern's characters for its ecosystem.
pub fn check_pattern(package_type: PackageType, pattern: &str) -> Result<(), String> {
    let extra = match package_type {
        PackageType::Maven => ":.-_*?",
        PackageType::Golang => "/.-_~*?",
    };
    let ok = !pattern.is_empty()
        && pattern.len() <= MAX_PATTERN
        && pattern
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
        && (package_type == PackageType::Golang || pattern.matches(':').count() <= 1);
    if ok {
        Ok(())
    } else {
        Err(format!("{pattern:?} is not a valid pattern"))
    }
}

/// Whether `rules` let remotes be asked for `name` (Maven
/// `groupId:artifactId`, Go module path).
pub fn allows(rules: &[String], package_type: PackageType, name: &str) -> bool {
    for rule in rules {
        let Ok((allow, pattern)) = parse_rule(package_type, rule) else {
            continue;
        };
        if matches(package_type, &pattern, name) {
            return allow;
        }
    }
    true
}

/// Whether a pattern matches `name` as described above.
pub fn matches(package_type: PackageType, pattern: &str, name: &str) -> bool {
    match package_type {
        PackageType::Maven => {
            let (group, artifact) = name.split_once(':').unwrap_or((name, ""));
            let (group_glob, artifact_glob) = pattern.split_once(':').unwrap_or((pattern, "*"));
            glob(group_glob, group) && glob(artifact_glob, artifact)
        }
        PackageType::Golang => {
            // The path itself or any prefix of it at a `/`.
            let mut end = name.len();
            loop {
                if glob(pattern, &name[..end]) {
                    return true;
                }
                match name[..end].rfind('/') {
                    Some(slash) => end = slash,
                    None => return false,
                }
            }
        }
    }
}

/// `*` matches any run of characters, `?` exactly one.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("org.evil.*", "org.evil.sub"));
        assert!(!glob("org.evil.*", "org.evil"));
        assert!(glob("*", ""));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "ac"));
        assert!(glob("*lib*", "mylibrary"));
    }

    #[test]
    fn the_first_matching_rule_decides() {
        let rules: Vec<String> = ["allow org.evil:good", "deny org.evil*", "allow *"]
            .map(String::from)
            .to_vec();
        let maven = |name| allows(&rules, PackageType::Maven, name);
        assert!(maven("org.evil:good"));
        assert!(!maven("org.evil:bad"));
        assert!(!maven("org.evil.sub:x"));
        assert!(maven("com.acme:lib"));
        assert!(allows(&[], PackageType::Maven, "anything:at-all"));
    }

    #[test]
    fn go_patterns_cover_the_modules_below() {
        let rules = vec!["deny github.com/evil/*".to_owned()];
        let go = |name| allows(&rules, PackageType::Golang, name);
        assert!(!go("github.com/evil/x"));
        assert!(!go("github.com/evil/x/v2"));
        assert!(go("github.com/evilcorp/x"));
        assert!(go("github.com/evil"));
        assert!(matches(
            PackageType::Golang,
            "corp.example.com",
            "corp.example.com/a/b"
        ));
    }

    #[test]
    fn bad_rules_are_refused() {
        for bad in [
            "",
            "allow",
            "maybe x",
            "deny a b",
            "allow a:b:c",
            "deny ../x",
        ] {
            assert!(parse_rule(PackageType::Maven, bad).is_err(), "{bad}");
        }
        assert!(parse_rule(PackageType::Golang, "deny a b").is_err());
        assert!(parse_rule(PackageType::Golang, "deny github.com/x/*").is_ok());
    }
}
