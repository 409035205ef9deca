//! Module zips against the Go team's own test data for `CheckZip` and
//! `Unzip` (`tests/data/go-zip`, see its PROVENANCE): each txtar file names
//! a module, a version and the files of a zip, in order (duplicates too),
//! and what Go says of it.

use std::io::Write;
use std::path::Path;

use vreg_core::golang::ziparchive::entries;
use vreg_core::golang::zipcheck::{check_entries, check_zip, CheckedFiles};

/// A txtar archive: the comment's `key=value` lines and the files.
struct Txtar {
    params: Vec<(String, Vec<u8>)>,
    files: Vec<(Vec<u8>, Vec<u8>)>,
}

fn parse_txtar(data: &[u8]) -> Txtar {
    let mut params = Vec::new();
    let mut files: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for line in data.split_inclusive(|b| *b == b'\n') {
        let trimmed = line.strip_suffix(b"\n").unwrap_or(line);
        if let Some(name) = trimmed
            .strip_prefix(b"-- ")
            .and_then(|r| r.strip_suffix(b" --"))
        {
            files.push((name.to_vec(), Vec::new()));
        } else if let Some((_, contents)) = files.last_mut() {
            contents.extend_from_slice(line);
        } else {
            let text = trimmed.split(|b| *b == b'#').next().unwrap_or(b"");
            if let Some(eq) = text.iter().position(|b| *b == b'=') {
                let key = String::from_utf8_lossy(&text[..eq]).trim().to_owned();
                let value = text[eq + 1..].trim_ascii().to_vec();
                params.push((key, value));
            }
        }
    }
    Txtar { params, files }
}

impl Txtar {
    fn param(&self, key: &str) -> Option<&[u8]> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
    }
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(data);
    crc.sum()
}

/// A zip of the entries in order, deflated, duplicates kept (as Go's
/// `zip.Writer` writes them).
fn write_zip(files: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in files {
        let mut encoder =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).unwrap();
        let packed = encoder.finish().unwrap();
        let offset = out.len() as u32;
        let common = |buf: &mut Vec<u8>| {
            buf.extend_from_slice(&20u16.to_le_bytes()); // version needed
            buf.extend_from_slice(&0u16.to_le_bytes()); // flags
            buf.extend_from_slice(&8u16.to_le_bytes()); // deflate
            buf.extend_from_slice(&0u32.to_le_bytes()); // time, date
            buf.extend_from_slice(&crc32(data).to_le_bytes());
            buf.extend_from_slice(&(packed.len() as u32).to_le_bytes());
            buf.extend_from_slice(&(data.len() as u32).to_le_bytes());
            buf.extend_from_slice(&(name.len() as u16).to_le_bytes());
            buf.extend_from_slice(&0u16.to_le_bytes()); // extra
        };
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        common(&mut out);
        out.extend_from_slice(name);
        out.extend_from_slice(&packed);
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes()); // made by
        common(&mut central);
        central.extend_from_slice(&[0; 6]); // comment length, disk, internal attrs
        central.extend_from_slice(&0u32.to_le_bytes()); // external attrs
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name);
    }
    let central_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&central_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

fn cases(dir: &str) -> Vec<(String, Txtar)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/go-zip")
        .join(dir);
    let mut out: Vec<(String, Txtar)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, parse_txtar(&std::fs::read(&p).unwrap()))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn format_checked(checked: &CheckedFiles) -> String {
    let mut out = String::from("valid:\n");
    for name in &checked.valid {
        out.push_str(&format!("{name}\n"));
    }
    out.push_str("\nomitted:\n\ninvalid:\n");
    for (name, why) in &checked.invalid {
        out.push_str(&format!("{name}: {why}\n"));
    }
    out
}

#[test]
fn check_zip_test_data_agrees() {
    let all = cases("check_zip");
    assert!(!all.is_empty());
    for (name, mut test) in all {
        let want_at = test.files.iter().position(|(n, _)| n == b"want").unwrap();
        let want = String::from_utf8(test.files.remove(want_at).1).unwrap();
        let zip = write_zip(&test.files);
        let module = std::str::from_utf8(test.param("path").unwrap()).unwrap();
        let version = std::str::from_utf8(test.param("version").unwrap()).unwrap();
        let list = entries(zip.as_slice()).unwrap();
        let checked = check_entries(module, version, zip.len() as u64, &list).unwrap();
        assert_eq!(format_checked(&checked), want, "{name}");
    }
}

#[test]
fn unzip_test_data_agrees() {
    let all = cases("unzip");
    assert!(all.len() >= 15, "{} cases", all.len());
    for (name, test) in all {
        let zip = write_zip(&test.files);
        let want_err = test
            .param("wantErr")
            .map(|e| String::from_utf8_lossy(e).into_owned());
        let want_hash = test
            .param("hash")
            .map(|h| String::from_utf8_lossy(h).into_owned());
        let (Ok(module), Ok(version)) = (
            std::str::from_utf8(test.param("path").unwrap()),
            std::str::from_utf8(test.param("version").unwrap()),
        ) else {
            // A module path that is not UTF-8 never reaches the checks:
            // request paths are decoded as UTF-8 first.
            assert!(want_err.unwrap().contains("invalid UTF-8"), "{name}");
            continue;
        };
        match (
            check_zip(module, version, zip.as_slice()),
            want_err,
            want_hash,
        ) {
            (Err(e), Some(want), _) => {
                assert!(e.to_string().contains(&want), "{name}: {e} lacks {want:?}")
            }
            (Ok(checked), None, Some(hash)) => assert_eq!(checked.h1, hash, "{name}"),
            (got, want_err, want_hash) => {
                panic!("{name}: got {got:?}, want error {want_err:?} or hash {want_hash:?}")
            }
        }
    }
}

/// The cases the conformance issue named.
#[test]
fn the_named_zip_cases_follow_go() {
    let m = "example.com/m@v1.0.0/";
    let zip = |files: &[(&str, &str)]| {
        write_zip(
            &files
                .iter()
                .map(|(n, d)| (format!("{m}{n}").into_bytes(), d.as_bytes().to_vec()))
                .collect::<Vec<_>>(),
        )
    };
    let check =
        |files: &[(&str, &str)]| check_zip("example.com/m", "v1.0.0", zip(files).as_slice());
    // Vendored code is allowed in a module zip.
    assert!(check(&[
        ("vendor/modules.txt", "# x\n"),
        ("vendor/x/x.go", "package x\n")
    ])
    .is_ok());
    // Duplicate entries are seen, not folded into one.
    assert!(check(&[("a.go", "package a\n"), ("a.go", "package b\n")]).is_err());
    // GO.MOD at the root or below, and a file that is also a directory.
    assert!(check(&[("GO.MOD", "module example.com/m\n")]).is_err());
    assert!(check(&[("sub/GO.MOD", "module example.com/m/sub\n")]).is_err());
    assert!(check(&[("a.go", "package a\n"), ("a.go/b.go", "package b\n")]).is_err());
    // Letters beyond ASCII are allowed in file names.
    assert!(check(&[("испытание.go", "package m\n")]).is_ok());
    // Case folds one character to one, as Go's `strToFold` (verdicts
    // from Go 1.19's zip.CheckFiles): `ß` is not `ss` but is `ẞ`, the
    // sigmas are one letter, and the dotless `ı` is not `i`.
    let pair = |a: &str, b: &str| check(&[(a, "package m\n"), (b, "package m\n")]).is_ok();
    assert!(pair("ß.go", "ss.go"));
    assert!(!pair("ß.go", "ẞ.go"));
    assert!(!pair("σ.go", "ς.go"));
    assert!(pair("ı.go", "i.go"));
    assert!(pair("İ.go", "i.go"));
    assert!(!pair("K.go", "\u{212a}.go"));
    assert!(check_zip("example.com/m", "v1.0.0", b"not a zip".as_slice()).is_err());
}

/// A file many directories deep (a zip entry's name may be 64 KiB long) is
/// checked as Go checks it, each parent directory for collisions, without
/// running the component's stack out: the walk up is a loop.
#[test]
fn a_deeply_nested_file_is_checked_to_the_top() {
    let deep = format!("{}x.go", "d/".repeat(20_000));
    let zip = |names: &[&str]| {
        let files: Vec<_> = names
            .iter()
            .map(|n| {
                (
                    format!("example.com/m@v1.0.0/{n}").into_bytes(),
                    b"package x\n".to_vec(),
                )
            })
            .collect();
        write_zip(&files)
    };
    let check = |names: &[&str]| check_zip("example.com/m", "v1.0.0", zip(names).as_slice());
    assert!(check(&[&deep]).is_ok());
    // Its top directory still meets a differently cased one.
    let error = check(&[&deep, "D/y.go"]).unwrap_err().to_string();
    assert!(
        error.contains("case-insensitive file name collision"),
        "{error}"
    );
}

/// A zip in the blob store is checked from there, chunk by chunk, with the
/// same verdict and hash as the same bytes in memory.
#[test]
fn a_zip_is_checked_the_same_from_the_blob_store() {
    use vreg_core::storage::blobs::BlobStore;
    let files: Vec<(Vec<u8>, Vec<u8>)> = (0..40)
        .map(|i| {
            let name = format!("example.com/m@v1.0.0/f{i}.go").into_bytes();
            let data = format!("package m\n// {}\n", "x".repeat(i * 97)).into_bytes();
            (name, data)
        })
        .collect();
    let zip = write_zip(&files);
    let kv = vreg_testkit::MemoryKv::default();
    let store = BlobStore::new(&kv, 1024);
    let sql = vreg_testkit::NativeSql::open_in_memory().unwrap();
    vreg_core::storage::schema::ensure_schema(&sql, 1).unwrap();
    let records = vreg_core::storage::blobs::WriteRecords { sql: &sql, now: 1 };
    let digests = store.put_bytes(&records, &zip).unwrap();
    let from_blob = check_zip(
        "example.com/m",
        "v1.0.0",
        &store.open(&digests.sha256).unwrap(),
    );
    let from_bytes = check_zip("example.com/m", "v1.0.0", zip.as_slice());
    assert_eq!(from_blob.unwrap(), from_bytes.unwrap());
}
