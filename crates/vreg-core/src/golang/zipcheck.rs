//! Module zips, checked exactly as golang.org/x/mod/zip's `CheckZip` and
//! `Unzip` check them, entry by raw central-directory entry, and hashed the
//! way `go.sum` records them (dirhash `Hash1` over every entry).

use std::collections::HashMap;
use std::hash::{BuildHasher, DefaultHasher, Hasher, RandomState};
use std::rc::Rc;

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

/// Go's `strToFold`, a character at a time: one spelling per
/// case-insensitive class, one character for one as Go's `SimpleFold`
/// orbits have it. So `ß` stays itself (its upper case, `SS`, is two
/// letters) and `ẞ` folds to it, and the dotless `ı`, which Unicode gives
/// no simple folding, stays apart from `i`. Checked against Go 1.19 over
/// every character: the classes differ only for letters newer than its
/// Unicode tables.
fn fold(c: char) -> char {
    fn single(mut chars: impl ExactSizeIterator<Item = char>) -> Option<char> {
        if chars.len() == 1 {
            chars.next()
        } else {
            None
        }
    }
    if c == '\u{131}' {
        return c;
    }
    match single(c.to_uppercase()) {
        Some(upper) => single(upper.to_lowercase()).unwrap_or(upper),
        None => single(c.to_lowercase()).unwrap_or(c),
    }
}

/// A 128-bit hash of a string read so far, under keys chosen per zip (a
/// zip cannot be made to collide).
#[derive(Clone)]
struct Spelling(DefaultHasher, DefaultHasher);

impl Spelling {
    fn push(&mut self, c: char) {
        self.0.write_u32(c.into());
        self.1.write_u32(c.into());
    }

    fn value(&self) -> u128 {
        (u128::from(self.0.finish()) << 64) | u128::from(self.1.finish())
    }
}

/// A name seen: the entry it was part of, and how much of it.
struct Seen {
    entry: Rc<str>,
    len: usize,
    spelling: u128,
    is_dir: bool,
}

/// Names seen so far (files and the directories above them), by their
/// folded spelling's hash. Go keys a map by each folded name itself, which
/// for an entry `n` directories deep costs `n` times its length (a 64 KiB
/// name would take gigabytes); hashes of prefixes cost its length once.
struct Collisions {
    seen: HashMap<u128, Seen>,
    keys: [RandomState; 2],
}

impl Collisions {
    fn new() -> Collisions {
        Collisions {
            seen: HashMap::new(),
            keys: [RandomState::new(), RandomState::new()],
        }
    }

    /// `(length, folded hash, hash)` of `path` and of each directory above
    /// it, shortest first.
    fn prefixes(&self, path: &str) -> Vec<(usize, u128, u128)> {
        let start = Spelling(self.keys[0].build_hasher(), self.keys[1].build_hasher());
        let (mut folded, mut spelled) = (start.clone(), start);
        let mut prefixes = Vec::new();
        for (at, c) in path.char_indices() {
            if c == '/' {
                prefixes.push((at, folded.value(), spelled.value()));
            }
            folded.push(fold(c));
            spelled.push(c);
        }
        prefixes.push((path.len(), folded.value(), spelled.value()));
        prefixes
    }

    /// Records `path`, then each directory above it, as Go's `check` does
    /// (recursively there; a loop here, as a name may be thousands of
    /// directories deep).
    fn check(&mut self, path: &str, is_dir: bool) -> std::result::Result<(), String> {
        let entry: Rc<str> = path.into();
        let mut is_dir = is_dir;
        for (len, folded, spelling) in self.prefixes(path).into_iter().rev() {
            let name = &path[..len];
            match self.seen.get(&folded) {
                Some(other) if other.spelling != spelling => {
                    let other = &other.entry[..other.len];
                    return Err(format!(
                        "case-insensitive file name collision: {other:?} and {name:?}"
                    ));
                }
                Some(other) if other.is_dir != is_dir => {
                    return Err(format!("entry {name:?} is both a file and a directory"))
                }
                Some(_) if !is_dir => return Err(format!("multiple entries for file {name:?}")),
                Some(_) => {}
                None => {
                    let seen = Seen {
                        entry: entry.clone(),
                        len,
                        spelling,
                        is_dir,
                    };
                    self.seen.insert(folded, seen);
                }
            }
            is_dir = true;
        }
        Ok(())
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
    let mut collisions = Collisions::new();
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
