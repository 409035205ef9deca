//! Go modules for the tests: module zips, and an origin directory in
//! GOPROXY layout that a static server serves as a remote upstream.

use std::io::Write;
use std::path::Path;

use serde_json::json;

/// A zip of `(name, contents)` entries.
pub fn zip(files: &[(String, &[u8])]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut writer = zip::ZipWriter::new(&mut out);
        for (name, contents) in files {
            writer
                .start_file(name.as_str(), zip::write::SimpleFileOptions::default())
                .unwrap();
            writer.write_all(contents).unwrap();
        }
        writer.finish().unwrap();
    }
    out.into_inner()
}

/// Writes `module@version` in GOPROXY layout; `go_mod` None for a pre-modules (+incompatible) version.
pub fn origin_module(root: &Path, module: &str, version: &str, go_mod: Option<&str>) {
    let escaped: String = module
        .chars()
        .map(|c| {
            if c.is_ascii_uppercase() {
                format!("!{}", c.to_ascii_lowercase())
            } else {
                c.to_string()
            }
        })
        .collect();
    let dir = root.join(escaped).join("@v");
    std::fs::create_dir_all(&dir).unwrap();
    let prefix = format!("{module}@{version}/");
    let mut files = vec![(format!("{prefix}lib.go"), b"package lib\n".as_slice())];
    if let Some(m) = go_mod {
        files.push((format!("{prefix}go.mod"), m.as_bytes()));
    }
    std::fs::write(dir.join(format!("{version}.zip")), zip(&files)).unwrap();
    std::fs::write(
        dir.join(format!("{version}.mod")),
        go_mod
            .map(str::to_owned)
            .unwrap_or(format!("module {module}\n")),
    )
    .unwrap();
    std::fs::write(
        dir.join(format!("{version}.info")),
        json!({"Version": version, "Time": "2026-01-01T00:00:00Z"}).to_string(),
    )
    .unwrap();
    let list = dir.join("list");
    let mut text = std::fs::read_to_string(&list).unwrap_or_default();
    text.push_str(&format!("{version}\n"));
    std::fs::write(list, text).unwrap();
}

/// A zip whose entries are stored, not compressed (for large test files).
pub fn stored_zip(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut writer = zip::ZipWriter::new(&mut out);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for (name, contents) in files {
            writer.start_file(name.as_str(), options).unwrap();
            writer.write_all(contents).unwrap();
        }
        writer.finish().unwrap();
    }
    out.into_inner()
}

/// `len` bytes that do not compress.
pub fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}
