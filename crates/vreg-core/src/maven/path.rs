//! Maven repository paths: validated as hostile input (no empty, `.` or `..`
//! segments, also when percent-encoded; no encoded slashes, NUL or control
//! characters; bounded length), then classified into coordinates.

use crate::error::{CoreError, Result};

pub const MAX_PATH_BYTES: usize = 1024;
/// The longest path segment (so also the longest version a path can name).
pub const MAX_SEGMENT_BYTES: usize = 255;
pub const METADATA_FILE: &str = "maven-metadata.xml";

/// A checksum file's algorithm, from its suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checksum {
    Sha1,
    Md5,
    Sha256,
    Sha512,
}

impl Checksum {
    pub const ALL: [Checksum; 4] = [
        Checksum::Sha1,
        Checksum::Md5,
        Checksum::Sha256,
        Checksum::Sha512,
    ];

    pub fn suffix(self) -> &'static str {
        match self {
            Checksum::Sha1 => ".sha1",
            Checksum::Md5 => ".md5",
            Checksum::Sha256 => ".sha256",
            Checksum::Sha512 => ".sha512",
        }
    }

    pub fn of(self, digests: &crate::storage::blobs::Digests) -> &str {
        match self {
            Checksum::Sha1 => &digests.sha1,
            Checksum::Md5 => &digests.md5,
            Checksum::Sha256 => &digests.sha256,
            Checksum::Sha512 => &digests.sha512,
        }
    }
}

/// A validated relative path inside a Maven repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MavenPath {
    segments: Vec<String>,
}

fn bad(reason: &str) -> CoreError {
    CoreError::BadRequest(format!("Invalid Maven path: {reason}"))
}

impl MavenPath {
    /// Parses the percent-encoded path after the repository prefix.
    pub fn parse(raw: &str) -> Result<MavenPath> {
        let raw = raw.strip_prefix('/').unwrap_or(raw);
        if raw.is_empty() {
            return Err(bad("empty"));
        }
        if raw.len() > MAX_PATH_BYTES {
            return Err(bad("too long"));
        }
        let segments = raw
            .split('/')
            .map(|segment| {
                let decoded = percent_encoding::percent_decode_str(segment)
                    .decode_utf8()
                    .map_err(|_| bad("not UTF-8"))?;
                if decoded.is_empty() {
                    return Err(bad("empty segment"));
                }
                if decoded == "." || decoded == ".." {
                    return Err(bad("'.' and '..' segments are not allowed"));
                }
                if decoded.len() > MAX_SEGMENT_BYTES {
                    return Err(bad("segment too long"));
                }
                if decoded
                    .chars()
                    .any(|c| c.is_control() || matches!(c, '/' | '\\'))
                {
                    return Err(bad("forbidden character"));
                }
                Ok(decoded.into_owned())
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(MavenPath { segments })
    }

    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// The canonical relative path (`org/example/a/1.0/a-1.0.jar`).
    pub fn as_string(&self) -> String {
        self.segments.join("/")
    }

    /// The path percent-encoded for use in an upstream URL.
    pub fn to_url_path(&self) -> String {
        const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
            .remove(b'-')
            .remove(b'.')
            .remove(b'_')
            .remove(b'~')
            .remove(b'+');
        self.segments
            .iter()
            .map(|s| percent_encoding::utf8_percent_encode(s, SEGMENT).to_string())
            .collect::<Vec<_>>()
            .join("/")
    }

    pub fn file_name(&self) -> &str {
        self.segments.last().map(String::as_str).unwrap_or("")
    }

    /// Splits off a checksum suffix: `a.jar.sha1` → (`a.jar`, Sha1).
    pub fn checksum(&self) -> Option<(MavenPath, Checksum)> {
        let name = self.file_name();
        Checksum::ALL.into_iter().find_map(|c| {
            let base = name.strip_suffix(c.suffix())?;
            if base.is_empty() {
                return None;
            }
            let mut segments = self.segments.clone();
            *segments.last_mut()? = base.to_owned();
            Some((MavenPath { segments }, c))
        })
    }

    /// The file a read is answered from, and the checksum of it asked for
    /// (`None`: the file itself).
    pub fn base_and_checksum(&self) -> (MavenPath, Option<Checksum>) {
        match self.checksum() {
            Some((base, checksum)) => (base, Some(checksum)),
            None => (self.clone(), None),
        }
    }

    pub fn is_metadata(&self) -> bool {
        self.file_name() == METADATA_FILE
    }

    /// What the path names in Maven's layout, if anything.
    pub fn coordinates(&self) -> Option<Coordinates> {
        let s = &self.segments;
        if self.is_metadata() {
            // g/a/1.0-SNAPSHOT/maven-metadata.xml is per version; g/a/maven-metadata.xml per artifact.
            if s.len() >= 4 && s[s.len() - 2].ends_with("-SNAPSHOT") {
                return Some(Coordinates::File(self.file_coordinates()?));
            }
            if s.len() >= 3 {
                return Some(Coordinates::ArtifactMetadata {
                    group_id: s[..s.len() - 2].join("."),
                    artifact_id: s[s.len() - 2].clone(),
                });
            }
            return None;
        }
        self.file_coordinates().map(Coordinates::File)
    }

    fn file_coordinates(&self) -> Option<FileCoordinates> {
        let s = &self.segments;
        if s.len() < 4 {
            return None;
        }
        Some(FileCoordinates {
            group_id: s[..s.len() - 3].join("."),
            artifact_id: s[s.len() - 3].clone(),
            version: s[s.len() - 2].clone(),
            file_name: s[s.len() - 1].clone(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Coordinates {
    ArtifactMetadata {
        group_id: String,
        artifact_id: String,
    },
    File(FileCoordinates),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCoordinates {
    pub group_id: String,
    pub artifact_id: String,
    pub version: String,
    pub file_name: String,
}

impl FileCoordinates {
    /// The package name: `groupId/artifactId`.
    pub fn package_name(&self) -> String {
        package_name(&self.group_id, &self.artifact_id)
    }

    pub fn is_snapshot(&self) -> bool {
        self.version.ends_with("-SNAPSHOT")
    }
}

pub fn package_name(group_id: &str, artifact_id: &str) -> String {
    format!("{group_id}/{artifact_id}")
}

/// The `Content-Type` Maven repositories send for a file.
pub fn content_type(file_name: &str) -> &'static str {
    let extension = file_name.rsplit('.').next().unwrap_or("");
    match extension {
        "jar" | "war" | "ear" => "application/java-archive",
        "pom" | "xml" => "application/xml",
        "sha1" | "md5" | "sha256" | "sha512" | "asc" | "txt" => "text/plain",
        "zip" => "application/zip",
        "json" | "module" => "application/json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_paths_are_refused() {
        for bad in [
            "",
            "/",
            "a//b",
            "a/../b",
            "a/./b",
            "a/%2e%2e/b",
            "a/%2E%2e/b",
            "a/%2e/b",
            "a/b%2fc",
            "a/b%5cc",
            "a/%00/b",
            "a/%ff/b",
            "a/b\\c",
        ] {
            assert!(MavenPath::parse(bad).is_err(), "{bad:?}");
        }
        assert!(MavenPath::parse(&"a/".repeat(600)).is_err());
        assert!(MavenPath::parse(&"x".repeat(300)).is_err());
    }

    #[test]
    fn files_metadata_and_checksums_are_classified() {
        let p = MavenPath::parse("org/example/my-lib/1.0/my-lib-1.0.jar").unwrap();
        assert_eq!(
            p.coordinates(),
            Some(Coordinates::File(FileCoordinates {
                group_id: "org.example".into(),
                artifact_id: "my-lib".into(),
                version: "1.0".into(),
                file_name: "my-lib-1.0.jar".into(),
            }))
        );
        let (base, checksum) = MavenPath::parse("org/example/my-lib/1.0/my-lib-1.0.jar.sha1")
            .unwrap()
            .checksum()
            .unwrap();
        assert_eq!(
            (base.file_name(), checksum),
            ("my-lib-1.0.jar", Checksum::Sha1)
        );
        assert_eq!(
            MavenPath::parse("org/example/my-lib/maven-metadata.xml")
                .unwrap()
                .coordinates(),
            Some(Coordinates::ArtifactMetadata {
                group_id: "org.example".into(),
                artifact_id: "my-lib".into()
            })
        );
        assert!(matches!(
            MavenPath::parse("org/example/my-lib/1.0-SNAPSHOT/maven-metadata.xml").unwrap().coordinates(),
            Some(Coordinates::File(f)) if f.version == "1.0-SNAPSHOT"
        ));
        assert_eq!(MavenPath::parse("a/b.jar").unwrap().coordinates(), None);
        assert_eq!(
            MavenPath::parse("x/a b/1/f").unwrap().to_url_path(),
            "x/a%20b/1/f"
        );
    }
}
