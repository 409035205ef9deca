//! Namespace protection: what a registry's local upstreams own, remote
//! upstreams are never asked for (nor are copies they served before), so
//! a coordinate published here can never be shadowed by one an attacker
//! publishes on a public repository (dependency confusion).
//!
//! A registry protects, when `namespace_protection` is on (the default),
//! every coordinate one of its local upstreams holds: a Maven
//! `groupId:artifactId` (all its versions and metadata), a Go module path
//! (and everything below it, e.g. `/v2`). Its `protected_namespaces` add
//! wider claims whether or not anything is published yet: Maven `groupId`
//! prefixes (`com.acme`, which covers `com.acme.tools` too) or coordinates
//! (`com.acme:lib`), Go module path prefixes (`corp.example.com/internal`).
//! Both compare whole path segments: `com.acme` does not cover `com.acmex`.

use crate::domain::filters;
use crate::domain::model::PackageType;
use crate::domain::registries::Registry;
use crate::error::Result;
use crate::storage::{json_list, Sql};

/// How many explicit namespaces a registry may have, and how long each.
pub const MAX_NAMESPACES: usize = 100;
pub const MAX_NAMESPACE_LEN: usize = 255;

/// An explicit namespace as path segments, or why it is not one.
pub fn parse_namespace(package_type: PackageType, text: &str) -> Result<Vec<String>, String> {
    let bad = |why: &str| Err(format!("{text:?} {why}"));
    if text.is_empty() || text.len() > MAX_NAMESPACE_LEN {
        return bad("must be 1 to 255 characters");
    }
    let segment_ok = |s: &str, extra: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c) || extra.contains(c))
    };
    match package_type {
        PackageType::Maven => {
            let (group, artifact) = match text.split_once(':') {
                Some((g, a)) => (g, Some(a)),
                None => (text, None),
            };
            let mut segments: Vec<String> = group.split('.').map(str::to_owned).collect();
            if !segments.iter().all(|s| segment_ok(s, "")) {
                return bad("is not a Maven groupId or groupId:artifactId");
            }
            if let Some(artifact) = artifact {
                if !segment_ok(artifact, ".") {
                    return bad("is not a Maven groupId or groupId:artifactId");
                }
                segments.push(artifact.to_owned());
            }
            Ok(segments)
        }
        PackageType::Golang => {
            let segments: Vec<String> = text.split('/').map(str::to_owned).collect();
            if !segments.iter().all(|s| segment_ok(s, ".~")) {
                return bad("is not a Go module path prefix");
            }
            Ok(segments)
        }
    }
}

/// Whether a registry's remote upstreams may serve what lies at
/// `segments` (a Maven path, or a Go module path split at `/`), whose name
/// is `name` (Maven `groupId:artifactId` when the path names one, a Go
/// module path): its remote filters allow the name (see
/// [`crate::domain::filters`]), no explicit namespace claims it, and no
/// local upstream holds it. `local_projects` gives every project of the
/// registry's local upstreams, whoever asks (a private project's
/// coordinate is owned even for callers who cannot read it); it is asked
/// only when ownership must be checked.
pub fn remotes_may_serve(
    sql: &dyn Sql,
    registry: &Registry,
    name: Option<&str>,
    segments: &[String],
    local_projects: impl FnOnce() -> Result<Vec<i64>>,
) -> Result<bool> {
    let package_type = registry.package_type;
    remotes_may_serve_given(registry, name, segments, |names| {
        held_locally(sql, package_type, &local_projects()?, names)
    })
}

/// [`remotes_may_serve`], with `held` answering whether a local upstream
/// holds a package of any of the names given (those that would own
/// `segments`), e.g. from a list of what they hold kept elsewhere.
pub fn remotes_may_serve_given(
    registry: &Registry,
    name: Option<&str>,
    segments: &[String],
    held: impl FnOnce(&[String]) -> Result<bool>,
) -> Result<bool> {
    let package_type = registry.package_type;
    if name.is_some_and(|n| !filters::allows(&registry.remote_filters, package_type, n)) {
        return Ok(false);
    }
    let claimed = registry
        .protected_namespaces
        .iter()
        .filter_map(|n| parse_namespace(package_type, n).ok())
        .any(|prefix| covers(&prefix, segments, package_type));
    if claimed {
        return Ok(false);
    }
    if !registry.namespace_protection {
        return Ok(true);
    }
    let names = candidate_names(package_type, segments);
    Ok(names.is_empty() || !held(&names)?)
}

/// Whether one of `projects` holds a package named one of `names`.
fn held_locally(
    sql: &dyn Sql,
    package_type: PackageType,
    projects: &[i64],
    names: &[String],
) -> Result<bool> {
    if projects.is_empty() {
        return Ok(false);
    }
    let held = sql
        .execute(
            "SELECT COUNT(*) FROM packages
             WHERE project_id IN (SELECT value FROM json_each(?)) AND package_type = ?
               AND name IN (SELECT value FROM json_each(?))",
            &[
                json_list(projects),
                package_type.as_str().into(),
                json_list(names),
            ],
        )?
        .scalar_i64()
        .unwrap_or(0);
    Ok(held > 0)
}

/// Whether `prefix` covers `segments`: a Maven namespace covers paths below
/// it (a file is always below its coordinate); a Go one covers the module
/// path itself and those below it.
fn covers(prefix: &[String], segments: &[String], package_type: PackageType) -> bool {
    let below = match package_type {
        PackageType::Maven => segments.len() > prefix.len(),
        PackageType::Golang => segments.len() >= prefix.len(),
    };
    below && segments[..prefix.len()] == *prefix
}

/// The package names that, held by a local upstream, own `segments`: for
/// Maven every `groupId/artifactId` the path may be below (the artifact
/// directory followed by at least one more segment); for Go every module
/// path the requested one is or is below.
fn candidate_names(package_type: PackageType, segments: &[String]) -> Vec<String> {
    match package_type {
        PackageType::Maven => (1..segments.len().saturating_sub(1))
            .map(|k| format!("{}/{}", segments[..k].join("."), segments[k]))
            .collect(),
        PackageType::Golang => (1..=segments.len())
            .map(|k| segments[..k].join("/"))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segments(path: &str) -> Vec<String> {
        path.split('/').map(str::to_owned).collect()
    }

    #[test]
    fn namespaces_parse_by_ecosystem() {
        let maven = |t| parse_namespace(PackageType::Maven, t);
        assert_eq!(maven("com.acme").unwrap(), ["com", "acme"]);
        assert_eq!(maven("com.acme:lib").unwrap(), ["com", "acme", "lib"]);
        for bad in [
            "",
            "com..acme",
            "com/acme",
            "com.acme:",
            ":lib",
            "a b",
            "com.acme:x:y",
        ] {
            assert!(maven(bad).is_err(), "{bad}");
        }
        let go = |t| parse_namespace(PackageType::Golang, t);
        assert_eq!(
            go("corp.example.com/internal").unwrap(),
            ["corp.example.com", "internal"]
        );
        for bad in ["", "corp.example.com/", "/x", "a//b", "a/../b", "a b"] {
            assert!(go(bad).is_err(), "{bad}");
        }
        assert!(maven(&"a".repeat(256)).is_err());
    }

    #[test]
    fn namespaces_cover_whole_segments_only() {
        let maven = |ns: &str, path: &str| {
            covers(
                &parse_namespace(PackageType::Maven, ns).unwrap(),
                &segments(path),
                PackageType::Maven,
            )
        };
        assert!(maven("com.acme", "com/acme/lib/1.0/lib-1.0.jar"));
        assert!(maven("com.acme", "com/acme/tools/x/1.0/x-1.0.pom"));
        assert!(!maven("com.acme", "com/acmex/lib/1.0/lib-1.0.jar"));
        assert!(maven("com.acme:lib", "com/acme/lib/maven-metadata.xml"));
        assert!(!maven("com.acme:lib", "com/acme/other/maven-metadata.xml"));
        let go = |ns: &str, module: &str| {
            covers(
                &parse_namespace(PackageType::Golang, ns).unwrap(),
                &segments(module),
                PackageType::Golang,
            )
        };
        assert!(go("corp.example.com/internal", "corp.example.com/internal"));
        assert!(go(
            "corp.example.com/internal",
            "corp.example.com/internal/x/v2"
        ));
        assert!(!go(
            "corp.example.com/internal",
            "corp.example.com/internalx"
        ));
        assert!(!go("corp.example.com/internal", "corp.example.com"));
    }

    #[test]
    fn local_packages_own_their_coordinates() {
        assert_eq!(
            candidate_names(
                PackageType::Maven,
                &segments("com/acme/lib/1.0/lib-1.0.jar")
            ),
            ["com/acme", "com.acme/lib", "com.acme.lib/1.0"]
        );
        assert_eq!(
            candidate_names(
                PackageType::Maven,
                &segments("com/acme/lib/maven-metadata.xml")
            ),
            ["com/acme", "com.acme/lib"]
        );
        assert_eq!(
            candidate_names(PackageType::Golang, &segments("corp.example/m/v2")),
            ["corp.example", "corp.example/m", "corp.example/m/v2"]
        );
    }
}
