//! Go's rules for module paths and versions against the Go team's own test
//! tables (`tests/data/go-module-rules.jsonl`, with its provenance).

use std::cmp::Ordering;

use serde_json::Value as Json;
use vreg_core::golang::module::{
    check, check_module_path, check_path_major, check_path_of, escape, is_pseudo_version,
    split_path_version, unescape, PathKind,
};
use vreg_core::golang::semver;

fn rows() -> Vec<Json> {
    include_str!("data/go-module-rules.jsonl")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Runs `check` on every row that has `key`; returns how many rows there were.
fn each(key: &str, mut check: impl FnMut(&Json, &mut Vec<String>)) -> usize {
    let mut failures = Vec::new();
    let rows: Vec<Json> = rows()
        .into_iter()
        .filter(|r| r.get(key).is_some())
        .collect();
    for row in &rows {
        check(row, &mut failures);
    }
    assert!(
        failures.is_empty(),
        "{} of {} {key} rows disagree:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
    assert!(!rows.is_empty(), "no {key} rows");
    rows.len()
}

#[test]
fn module_import_and_file_paths() {
    let n = each("path", |row, failures| {
        let path = &row["path"];
        let Some(text) = path["text"].as_str() else {
            // Not UTF-8: no kind of path may be it, and it cannot even reach
            // the checks (request paths are decoded as UTF-8 first).
            for kind in ["module", "import", "file"] {
                if row[kind].as_bool().unwrap() {
                    failures.push(format!("{path}: {kind} expected ok"));
                }
            }
            return;
        };
        let got = [
            ("module", check_module_path(text).is_ok()),
            ("import", check_path_of(text, PathKind::Import).is_ok()),
            ("file", check_path_of(text, PathKind::File).is_ok()),
        ];
        for (kind, ok) in got {
            if ok != row[kind].as_bool().unwrap() {
                failures.push(format!("{text:?}: {kind} ok={ok}"));
            }
        }
        // A split path adds back up to the path.
        if let Some((prefix, major)) = split_path_version(text) {
            if format!("{prefix}{major}") != text {
                failures.push(format!("{text:?} splits as {prefix:?} {major:?}"));
            }
        }
        // No invalid path survives unescaping.
        if !row["module"].as_bool().unwrap()
            && unescape(text).is_some_and(|p| check_module_path(&p).is_ok())
        {
            failures.push(format!("{text:?} unescapes to a valid path"));
        }
    });
    println!("{n} paths agree");
}

#[test]
fn paths_with_versions() {
    let n = each("check", |row, failures| {
        let (path, version) = (
            row["check"][0].as_str().unwrap(),
            row["check"][1].as_str().unwrap(),
        );
        let ok = check(path, version).is_ok();
        if ok != row["ok"].as_bool().unwrap() {
            failures.push(format!("{path}@{version}: ok={ok}"));
        }
    });
    println!("{n} path@version checks agree");
}

#[test]
fn major_version_suffixes_and_escaping() {
    each("split", |row, failures| {
        let (prefix, major) = (
            row["split"][0].as_str().unwrap(),
            row["split"][1].as_str().unwrap(),
        );
        let path = format!("{prefix}{major}");
        if split_path_version(&path) != Some((prefix, major)) {
            failures.push(format!("{path}: {:?}", split_path_version(&path)));
        }
    });
    each("escape", |row, failures| {
        let (path, escaped) = (
            row["escape"][0].as_str().unwrap(),
            row["escape"][1].as_str().unwrap(),
        );
        if escape(path) != escaped || unescape(escaped).as_deref() != Some(path) {
            failures.push(format!("{path} <-> {escaped}"));
        }
    });
    each("bad_unescape", |row, failures| {
        let bad = row["bad_unescape"].as_str().unwrap();
        if unescape(bad).is_some_and(|p| check_module_path(&p).is_ok()) {
            failures.push(format!("{bad:?} unescaped"));
        }
    });
}

#[test]
fn versions_under_major_version_suffixes() {
    let n = each("path_major", |row, failures| {
        let (v, major) = (
            row["path_major"][0].as_str().unwrap(),
            row["path_major"][1].as_str().unwrap(),
        );
        let ok = check_path_major(v, major).is_ok();
        if ok != row["ok"].as_bool().unwrap() {
            failures.push(format!("{v} under {major:?}: ok={ok}"));
        }
    });
    println!("{n} major-version suffix checks agree");
}

#[test]
fn pseudo_versions() {
    let n = each("pseudo", |row, failures| {
        let v = row["pseudo"].as_str().unwrap();
        if is_pseudo_version(v) != row["is"].as_bool().unwrap() {
            failures.push(format!("{v:?}: is_pseudo_version={}", is_pseudo_version(v)));
        }
    });
    println!("{n} pseudo-version checks agree");
}

#[test]
fn semantic_versions_validity_canonical_form_and_order() {
    let table: Vec<(String, String)> = rows()
        .into_iter()
        .filter(|r| r.get("semver").is_some())
        .map(|r| {
            (
                r["semver"].as_str().unwrap().to_owned(),
                r["canonical"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut failures = Vec::new();
    for (v, canonical) in &table {
        if semver::is_valid(v) == canonical.is_empty() || semver::canonical(v) != *canonical {
            failures.push(format!("{v}: canonical {:?}", semver::canonical(v)));
        }
    }
    // Major, pre-release and build, as TestMajor, TestPrerelease and
    // TestBuild read them off the same table.
    for (v, canonical) in table.iter().filter(|(_, c)| !c.is_empty()) {
        let major = canonical.split('.').next().unwrap();
        let prerelease = canonical.split_once('-').map_or("", |(_, p)| p);
        let build = v
            .split_once('+')
            .map_or(String::new(), |(_, b)| format!("+{b}"));
        let parsed = semver::parse(v).unwrap();
        if semver::major(v) != major
            || parsed.prerelease.trim_start_matches('-') != prerelease
            || semver::build(v) != build
        {
            failures.push(format!("{v}: major/prerelease/build"));
        }
    }
    // The table is in order: equal canonical forms compare equal.
    for (i, (a, ca)) in table.iter().enumerate() {
        for (j, (b, cb)) in table.iter().enumerate() {
            let want = if ca == cb { Ordering::Equal } else { i.cmp(&j) };
            if semver::compare(a, b) != want {
                failures.push(format!("compare({a}, {b}) = {:?}", semver::compare(a, b)));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    println!(
        "{} versions, {} comparisons agree",
        table.len(),
        table.len() * table.len()
    );
}
