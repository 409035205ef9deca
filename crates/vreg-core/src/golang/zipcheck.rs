//! Module zips, checked exactly as golang.org/x/mod/zip's `CheckZip` and
//! `Unzip` check them, entry by raw central-directory entry, and hashed the
//! way `go.sum` records them (dirhash `Hash1` over every entry).

use base64::Engine;
use sha2::{Digest, Sha256};

use super::module::{check, check_path_of, PathKind};
use super::ziparchive::{entries, read_entry, Entry, ZipSource};
use crate::crypto::hex;
use crate::error::{CoreError, Result};

pub const MAX_ZIP_BYTES: u64 = 500 << 20;
pub const MAX_UNCOMPRESSED_BYTES: u64 = 500 << 20;
pub const MAX_GO_MOD_BYTES: u64 = 16 << 20;
pub const MAX_LICENSE_BYTES: u64 = 16 << 20;

fn invalid(message: impl Into<String>) -> CoreError {
    CoreError::validation(format!("Invalid module zip: {}", message.into()))
}

/// What a checked zip holds.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedZip {
    /// `h1:` hash of the zip, as in `go.sum`.
    pub h1: String,
    /// The root `go.mod`, if the module has one.
    pub go_mod: Option<Vec<u8>>,
}

/// `CheckZip`'s verdict on each entry.
#[derive(Debug, Default, PartialEq)]
pub struct CheckedFiles {
    pub valid: Vec<String>,
    /// (entry name, why).
    pub invalid: Vec<(String, String)>,
    pub size_error: Option<String>,
}

impl CheckedFiles {
    /// Go's `CheckedFiles.Err`: every invalid file, else the size error.
    pub fn error(&self) -> Option<String> {
        if !self.invalid.is_empty() {
            let lines: Vec<String> = self
                .invalid
                .iter()
                .map(|(p, e)| format!("{p}: {e}"))
                .collect();
            return Some(lines.join("\n"));
        }
        self.size_error.clone()
    }
}

/// `h1:` of a list of (name, contents): SHA-256 over the sorted lines
/// `<sha256 hex>  <name>\n`, base64-encoded.
pub fn hash1(files: &mut [(String, [u8; 32])]) -> String {
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let mut summary = Sha256::new();
    for (name, digest) in files.iter() {
        summary.update(format!("{}  {name}\n", hex(digest)));
    }
    format!(
        "h1:{}",
        base64::engine::general_purpose::STANDARD.encode(summary.finalize())
    )
}

/// The `h1:` of a `go.mod`, as `go.sum`'s `/go.mod` lines record it.
pub fn go_mod_hash(go_mod: &[u8]) -> String {
    hash1(&mut [("go.mod".to_owned(), Sha256::digest(go_mod).into())])
}

/// Go's `path.Clean` for slash-separated relative paths.
fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            ".." if path.starts_with('/') => {}
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (path.starts_with('/'), joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Go's `strToFold`: one spelling per case-insensitive name.
fn fold(name: &str) -> String {
    name.chars()
        .flat_map(char::to_uppercase)
        .flat_map(char::to_lowercase)
        .collect()
}

/// Names seen so far, folded, with whether each is a directory.
#[derive(Default)]
struct Collisions(std::collections::HashMap<String, (String, bool)>);

impl Collisions {
    fn check(&mut self, path: &str, is_dir: bool) -> std::result::Result<(), String> {
        let folded = fold(path);
        match self.0.get(&folded) {
            Some((other, _)) if other != path => {
                return Err(format!(
                    "case-insensitive file name collision: {other:?} and {path:?}"
                ))
            }
            Some((_, other_dir)) if *other_dir != is_dir => {
                return Err(format!("entry {path:?} is both a file and a directory"))
            }
            Some(_) if !is_dir => return Err(format!("multiple entries for file {path:?}")),
            Some(_) => {}
            None => {
                self.0.insert(folded, (path.to_owned(), is_dir));
            }
        }
        match path.rsplit_once('/') {
            Some((parent, _)) => self.check(parent, true),
            None => Ok(()),
        }
    }
}

/// `CheckZip`: the module and version are checked first (an error), then
/// each entry (a verdict per entry).
pub fn check_entries(
    module: &str,
    version: &str,
    zip_size: u64,
    list: &[Entry],
) -> Result<CheckedFiles> {
    let canonical = super::module::canonical_version(version);
    if canonical != version {
        return Err(invalid(format!(
            "version {version:?} is not canonical (should be {canonical:?})"
        )));
    }
    check(module, version).map_err(|e| invalid(e.to_string()))?;
    let mut checked = CheckedFiles::default();
    if zip_size > MAX_ZIP_BYTES {
        checked.size_error = Some(format!(
            "module zip file is too large ({zip_size} bytes; limit is {MAX_ZIP_BYTES} bytes)"
        ));
        return Ok(checked);
    }
    let prefix = format!("{module}@{version}/");
    let mut collisions = Collisions::default();
    let mut total = 0u64;
    for entry in list {
        let shown = String::from_utf8_lossy(&entry.name).into_owned();
        let mut refuse = |why: String| checked.invalid.push((shown.clone(), why));
        let Some(rest) = entry.name.strip_prefix(prefix.as_bytes()) else {
            refuse(format!("path does not have prefix {prefix:?}"));
            continue;
        };
        let Ok(name) = std::str::from_utf8(rest) else {
            refuse("malformed file path: invalid UTF-8".into());
            continue;
        };
        if name.is_empty() {
            continue;
        }
        let (name, is_dir) = match name.strip_suffix('/') {
            Some(dir) => (dir, true),
            None => (name, false),
        };
        if clean(name) != name {
            refuse("file path is not clean".into());
            continue;
        }
        if let Err(e) = check_path_of(name, PathKind::File) {
            refuse(format!("malformed file path {name:?}: {e}"));
            continue;
        }
        if let Err(e) = collisions.check(name, is_dir) {
            refuse(e);
            continue;
        }
        if is_dir {
            continue;
        }
        let base = name.rsplit('/').next().unwrap_or(name);
        if base.eq_ignore_ascii_case("go.mod") {
            if base != name {
                refuse("go.mod file not in module root directory".into());
                continue;
            }
            if name != "go.mod" {
                refuse("go.mod files must have lowercase names".into());
                continue;
            }
        }
        let size = entry.uncompressed_size;
        if MAX_UNCOMPRESSED_BYTES - total >= size {
            total += size;
        } else if checked.size_error.is_none() {
            checked.size_error = Some(format!(
                "total uncompressed size of module contents too large (max size is {MAX_UNCOMPRESSED_BYTES} bytes)"
            ));
        }
        if name == "go.mod" && size > MAX_GO_MOD_BYTES {
            refuse(format!(
                "go.mod file too large (max size is {MAX_GO_MOD_BYTES} bytes)"
            ));
            continue;
        }
        if name == "LICENSE" && size > MAX_LICENSE_BYTES {
            refuse(format!(
                "LICENSE file too large (max size is {MAX_LICENSE_BYTES} bytes)"
            ));
            continue;
        }
        checked.valid.push(shown);
    }
    Ok(checked)
}

/// Checks a module zip for `module@version` as `Unzip` does (every entry
/// valid, every file's data as recorded) and computes its `h1:` hash.
pub fn check_zip<S: ZipSource + ?Sized>(
    module: &str,
    version: &str,
    source: &S,
) -> Result<CheckedZip> {
    if source.size() > MAX_ZIP_BYTES {
        return Err(invalid(format!(
            "module zip file is too large ({} bytes; limit is {MAX_ZIP_BYTES} bytes)",
            source.size()
        )));
    }
    let list = entries(source)?;
    let checked = check_entries(module, version, source.size(), &list)?;
    if let Some(error) = checked.error() {
        return Err(invalid(error));
    }
    let mut hashed = Vec::with_capacity(list.len());
    let mut go_mod = None;
    let root_go_mod = format!("{module}@{version}/go.mod");
    for entry in &list {
        let name = String::from_utf8_lossy(&entry.name).into_owned();
        if name.contains('\n') {
            return Err(invalid(
                "dirhash: filenames with newlines are not supported",
            ));
        }
        let keep = name == root_go_mod;
        let mut contents = Vec::new();
        let mut digest = Sha256::new();
        read_entry(source, entry, |bytes| {
            digest.update(bytes);
            if keep {
                contents.extend_from_slice(bytes);
            }
            Ok(())
        })?;
        if keep {
            go_mod = Some(contents);
        }
        hashed.push((name, digest.finalize().into()));
    }
    Ok(CheckedZip {
        h1: hash1(&mut hashed),
        go_mod,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_mod_hashes_match_go_sum() {
        // go.sum's `/go.mod` line: Hash1 over the one file "go.mod".
        assert_eq!(
            go_mod_hash(b"module example.com/m\n"),
            format!(
                "h1:{}",
                base64::engine::general_purpose::STANDARD.encode(Sha256::digest(format!(
                    "{}  go.mod\n",
                    hex(&Sha256::digest(b"module example.com/m\n"))
                )))
            )
        );
    }

    #[test]
    fn paths_are_cleaned_as_go_cleans_them() {
        for (path, cleaned) in [
            ("a/b", "a/b"),
            ("a//b", "a/b"),
            ("a/./b", "a/b"),
            ("a/../b", "b"),
            ("../a", "../a"),
            ("", "."),
            ("a/", "a"),
            ("/a/../..", "/"),
        ] {
            assert_eq!(clean(path), cleaned, "{path}");
        }
    }
}
