//! Module zips, checked by the rules of the module zip format and hashed
//! the way `go.sum` records them (dirhash `Hash1`).

use std::collections::HashSet;
use std::io::{Cursor, Read};

use base64::Engine;
use sha2::{Digest, Sha256};

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

/// Go's allowed file-name characters.
fn file_char_ok(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&()+,-.=@[]^_{}~ ".contains(c)
}

/// Checks a module zip for `module@version` and computes its hash.
pub fn check_zip(module: &str, version: &str, bytes: &[u8]) -> Result<CheckedZip> {
    if bytes.len() as u64 > MAX_ZIP_BYTES {
        return Err(invalid("larger than 500 MiB"));
    }
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| invalid(format!("not a zip file ({e})")))?;
    let prefix = format!("{module}@{version}/");
    let mut seen = HashSet::new();
    let mut hashed = Vec::new();
    let mut total = 0u64;
    let mut go_mod = None;
    for index in 0..archive.len() {
        let mut file = archive
            .by_index(index)
            .map_err(|e| invalid(format!("unreadable entry ({e})")))?;
        let name = std::str::from_utf8(file.name_raw())
            .map_err(|_| invalid("file name is not UTF-8"))?
            .to_owned();
        if file.is_dir() || name.ends_with('/') {
            return Err(invalid(format!(
                "{name}: directory entries are not allowed"
            )));
        }
        if file.unix_mode().is_some_and(|m| m & 0o170000 == 0o120000) {
            return Err(invalid(format!("{name}: symbolic links are not allowed")));
        }
        let relative = name
            .strip_prefix(&prefix)
            .ok_or_else(|| invalid(format!("{name}: not under {prefix}")))?;
        if relative.is_empty()
            || relative.starts_with('/')
            || relative.contains('\\')
            || relative
                .split('/')
                .any(|e| e.is_empty() || e == "." || e == "..")
        {
            return Err(invalid(format!("{name}: invalid path")));
        }
        if !relative.chars().all(|c| file_char_ok(c) || c == '/') {
            return Err(invalid(format!("{name}: invalid character in file name")));
        }
        if !seen.insert(relative.to_lowercase()) {
            return Err(invalid(format!(
                "{name}: case-insensitive duplicate file name"
            )));
        }
        if relative.starts_with("vendor/") || relative.contains("/vendor/") {
            return Err(invalid(format!(
                "{name}: vendor directories are not allowed"
            )));
        }
        if relative.ends_with("/go.mod") {
            return Err(invalid(format!("{name}: file of a nested module")));
        }
        let limit = match relative {
            "go.mod" => MAX_GO_MOD_BYTES,
            "LICENSE" => MAX_LICENSE_BYTES,
            _ => MAX_UNCOMPRESSED_BYTES,
        };
        // Read at most one byte past the limit: declared sizes can lie.
        let mut contents = Vec::new();
        (&mut file)
            .take(limit + 1)
            .read_to_end(&mut contents)
            .map_err(|e| invalid(format!("{name}: cannot be decompressed ({e})")))?;
        if contents.len() as u64 > limit {
            return Err(invalid(format!("{name}: larger than {} MiB", limit >> 20)));
        }
        total += contents.len() as u64;
        if total > MAX_UNCOMPRESSED_BYTES {
            return Err(invalid("uncompressed size larger than 500 MiB"));
        }
        if relative == "go.mod" {
            go_mod = Some(contents.clone());
        }
        hashed.push((name, Sha256::digest(&contents).into()));
    }
    Ok(CheckedZip {
        h1: hash1(&mut hashed),
        go_mod,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    pub fn make_zip(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        {
            let mut writer = zip::ZipWriter::new(&mut out);
            for (name, contents) in files {
                writer
                    .start_file(*name, zip::write::SimpleFileOptions::default())
                    .unwrap();
                writer.write_all(contents).unwrap();
            }
            writer.finish().unwrap();
        }
        out.into_inner()
    }

    #[test]
    fn hashes_match_go_sum() {
        // go.sum vector: a go.mod of "module example.com/m\n".
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
        let zip = make_zip(&[
            ("example.com/m@v1.0.0/go.mod", b"module example.com/m\n"),
            ("example.com/m@v1.0.0/m.go", b"package m\n"),
        ]);
        let checked = check_zip("example.com/m", "v1.0.0", &zip).unwrap();
        assert_eq!(
            checked.go_mod.as_deref(),
            Some(&b"module example.com/m\n"[..])
        );
        assert!(checked.h1.starts_with("h1:") && checked.h1.len() == 47);
    }

    #[test]
    fn zips_breaking_the_rules_are_refused() {
        let m = "example.com/m@v1.0.0/";
        let cases: Vec<Vec<(String, &[u8])>> = vec![
            vec![("other.com/x@v1.0.0/a.go".into(), b"x")],
            vec![(format!("{m}../escape.go"), b"x")],
            vec![(format!("{m}A.go"), b"x"), (format!("{m}a.go"), b"y")],
            vec![(format!("{m}vendor/x/x.go"), b"x")],
            vec![(format!("{m}sub/go.mod"), b"module example.com/m/sub\n")],
            vec![(format!("{m}bad:name.go"), b"x")],
        ];
        for files in cases {
            let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, c)| (n.as_str(), *c)).collect();
            let zip = make_zip(&refs);
            assert!(
                check_zip("example.com/m", "v1.0.0", &zip).is_err(),
                "{:?}",
                files[0].0
            );
        }
        assert!(check_zip("example.com/m", "v1.0.0", b"not a zip").is_err());
    }
}
