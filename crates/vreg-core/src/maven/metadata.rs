//! Artifact-level `maven-metadata.xml`, generated from the versions a
//! project (or every project of a group) holds, so it always lists exactly
//! what is there; `latest` and `release` are recomputed with Maven's
//! version order.

use super::path::MAX_SEGMENT_BYTES;
use super::version::compare_versions;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `yyyyMMddHHmmss` in UTC, as Maven writes `lastUpdated`.
fn last_updated(millis: i64) -> String {
    crate::timefmt::iso8601(millis)
        .chars()
        .filter(|c| c.is_ascii_digit())
        .take(14)
        .collect()
}

/// The metadata document for `versions` (with the time each was last
/// changed). `None` when there are no versions.
pub fn artifact_metadata(
    group_id: &str,
    artifact_id: &str,
    versions: &[(String, i64)],
) -> Option<String> {
    if versions.is_empty() {
        return None;
    }
    let mut sorted: Vec<&String> = versions.iter().map(|(v, _)| v).collect();
    sorted.sort_by(|a, b| compare_versions(a, b));
    sorted.dedup();
    let latest = sorted.last()?;
    let release = sorted.iter().rev().find(|v| !v.ends_with("-SNAPSHOT"));
    let updated = versions.iter().map(|(_, t)| *t).max().unwrap_or(0);
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata>\n");
    xml.push_str(&format!("  <groupId>{}</groupId>\n", escape(group_id)));
    xml.push_str(&format!(
        "  <artifactId>{}</artifactId>\n",
        escape(artifact_id)
    ));
    xml.push_str("  <versioning>\n");
    xml.push_str(&format!("    <latest>{}</latest>\n", escape(latest)));
    if let Some(release) = release {
        xml.push_str(&format!("    <release>{}</release>\n", escape(release)));
    }
    xml.push_str("    <versions>\n");
    for v in &sorted {
        xml.push_str(&format!("      <version>{}</version>\n", escape(v)));
    }
    xml.push_str("    </versions>\n");
    xml.push_str(&format!(
        "    <lastUpdated>{}</lastUpdated>\n",
        last_updated(updated)
    ));
    xml.push_str("  </versioning>\n</metadata>\n");
    Some(xml)
}

/// The versions an artifact-level `maven-metadata.xml` lists, each with
/// the document's `lastUpdated` (0 when absent): what a merge needs. A
/// version longer than a path segment is left out: no path could ask for
/// it, and Maven's order compares nested lists recursively, so a remote's
/// `1-1-1-…` of any length would otherwise run the stack out.
pub fn parse_versions(xml: &str) -> Vec<(String, i64)> {
    let updated = between(xml, "<lastUpdated>", "</lastUpdated>")
        .and_then(|t| crate::timefmt::parse_compact(t.trim()))
        .unwrap_or(0);
    let Some(mut rest) = between(xml, "<versions>", "</versions>") else {
        return Vec::new();
    };
    let mut versions = Vec::new();
    while let Some(start) = rest.find("<version>") {
        let after = &rest[start + "<version>".len()..];
        let Some(end) = after.find("</version>") else {
            break;
        };
        let version = after[..end].trim();
        if !version.is_empty() && version.len() <= MAX_SEGMENT_BYTES && !version.contains('<') {
            versions.push((unescape(version), updated));
        }
        rest = &after[end..];
    }
    versions
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    let end = text[start..].find(close)? + start;
    Some(&text[start..end])
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

    #[test]
    fn versions_sort_as_maven_sorts_them() {
        let mut v = vec![
            "1.10",
            "1.2",
            "1.0-SNAPSHOT",
            "1.0",
            "1.0-beta-2",
            "1.0-alpha",
            "1.0-rc1",
            "1.0.1",
            "2.0-sp1",
            "2.0",
        ];
        v.sort_by(|a, b| compare_versions(a, b));
        assert_eq!(
            v,
            [
                "1.0-alpha",
                "1.0-beta-2",
                "1.0-rc1",
                "1.0-SNAPSHOT",
                "1.0",
                "1.0.1",
                "1.2",
                "1.10",
                "2.0",
                "2.0-sp1"
            ]
        );
        assert_eq!(compare_versions("1.0", "1"), Ordering::Equal);
        assert_eq!(compare_versions("1.0.0", "1.0-final"), Ordering::Equal);
    }

    #[test]
    fn documents_parse_back_to_their_versions() {
        let xml = artifact_metadata(
            "org.a",
            "b",
            &[
                ("1.0".into(), 1_700_000_000_000),
                ("2.0-SNAPSHOT".into(), 0),
            ],
        )
        .unwrap();
        assert_eq!(
            parse_versions(&xml),
            [
                ("1.0".to_owned(), 1_700_000_000_000),
                ("2.0-SNAPSHOT".to_owned(), 1_700_000_000_000)
            ]
        );
        assert!(parse_versions("<metadata/>").is_empty());
        assert!(parse_versions("garbage <versions><version>1").is_empty());
    }

    #[test]
    fn a_hostile_remotes_endless_version_is_left_out_of_a_merge() {
        let endless = "1-".repeat(200_000);
        let longest = format!("{}1", "1-".repeat(127));
        let remote = format!(
            "<metadata><versioning><versions><version>{endless}</version>\
             <version>{longest}</version><version>2.0</version></versions></versioning></metadata>"
        );
        let versions = parse_versions(&remote);
        assert_eq!(versions.len(), 2);
        assert_eq!(versions[0].0, longest);
        let merged = artifact_metadata("g", "a", &versions).unwrap();
        assert!(merged.contains("<latest>2.0</latest>"));
        assert!(!merged.contains(&endless[..1000]));
    }

    #[test]
    fn metadata_lists_versions_with_latest_and_release() {
        let xml = artifact_metadata(
            "org.example",
            "lib",
            &[
                ("1.0".into(), 1_717_072_107_855),
                ("1.1-SNAPSHOT".into(), 1_717_072_200_000),
                ("1.0.1".into(), 5),
            ],
        )
        .unwrap();
        assert!(xml.contains("<latest>1.1-SNAPSHOT</latest>"));
        assert!(xml.contains("<release>1.0.1</release>"));
        assert!(xml.contains("<version>1.0</version>\n      <version>1.0.1</version>\n      <version>1.1-SNAPSHOT</version>"));
        assert!(xml.contains("<lastUpdated>20240530123000</lastUpdated>"));
        assert!(artifact_metadata("g", "a", &[]).is_none());
        assert!(artifact_metadata("g&", "a<", &[("1".into(), 0)])
            .unwrap()
            .contains("g&amp;"));
    }
}
