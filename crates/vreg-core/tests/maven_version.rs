//! Maven's version order against Maven's own test vectors
//! (`tests/data/maven-comparable-version.txt`, with its provenance).

use std::cmp::Ordering;

use vreg_core::maven::version::{compare_versions, MavenVersion};

fn check(a: &str, b: &str, expected: Ordering, failures: &mut Vec<String>) {
    let (x, y) = (MavenVersion::parse(a), MavenVersion::parse(b));
    if x.cmp(&y) != expected || y.cmp(&x) != expected.reverse() {
        failures.push(format!(
            "{a} vs {b}: expected {expected:?}, got {:?}",
            x.cmp(&y)
        ));
    }
    if expected.is_eq() && x.canonical() != y.canonical() {
        failures.push(format!(
            "{a} and {b}: canonical {} != {}",
            x.canonical(),
            y.canonical()
        ));
    }
    // The canonical form reads back as itself.
    for v in [&x, &y] {
        let again = MavenVersion::parse(&v.canonical()).canonical();
        if again != v.canonical() {
            failures.push(format!("canonical {} reads back as {again}", v.canonical()));
        }
    }
}

#[test]
fn comparable_version_test_vectors_all_agree() {
    let data = include_str!("data/maven-comparable-version.txt");
    let mut failures = Vec::new();
    let mut checked = 0;
    for line in data
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let mut words = line.split_whitespace();
        let kind = words.next().unwrap();
        let versions: Vec<&str> = words.collect();
        match kind {
            "less" => {
                check(versions[0], versions[1], Ordering::Less, &mut failures);
                checked += 1;
            }
            "equal" => {
                check(versions[0], versions[1], Ordering::Equal, &mut failures);
                checked += 1;
            }
            "order" | "same" => {
                for i in 0..versions.len() {
                    for j in i + 1..versions.len() {
                        let expected = if kind == "order" {
                            Ordering::Less
                        } else {
                            Ordering::Equal
                        };
                        check(versions[i], versions[j], expected, &mut failures);
                        checked += 1;
                    }
                }
            }
            other => panic!("unknown line kind {other}"),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} disagree:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        checked >= 900,
        "only {checked} comparisons: is the data file whole?"
    );
    println!("{checked} comparisons agree with Maven's");
}

/// The cases the conformance issue named.
#[test]
fn the_named_cases_follow_maven() {
    // A lone a/b/m is a plain qualifier, not alpha/beta/milestone.
    assert_eq!(compare_versions("1-a", "1-alpha"), Ordering::Greater);
    assert_eq!(compare_versions("1a1", "1-alpha-1"), Ordering::Equal);
    // `-` and `.` are told apart.
    assert_eq!(compare_versions("2.0-1", "2.0.1"), Ordering::Less);
    // Transitive: 6.1.0rc3 < 6.1.0 < 6.1H.5-beta.
    assert_eq!(compare_versions("6.1.0rc3", "6.1.0"), Ordering::Less);
    assert_eq!(compare_versions("6.1.0", "6.1H.5-beta"), Ordering::Less);
    assert_eq!(compare_versions("6.1.0rc3", "6.1H.5-beta"), Ordering::Less);
}
