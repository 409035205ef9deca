//! The schema and the storage helpers against real SQLite files.

use std::path::PathBuf;
use std::sync::{Arc, Barrier};

use vreg_core::http::body::BytesReader;
use vreg_core::storage::blobs::{digests_of, BlobStore, WriteRecords};
use vreg_core::storage::schema::{current_version, ensure_schema, latest_version};
use vreg_core::storage::{transaction, Kv, Sql, StoreError, Value};
use vreg_core::CoreError;
use vreg_testkit::{MemoryKv, NativeSql};

struct TempDb(PathBuf);

impl TempDb {
    fn new(name: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        TempDb(std::env::temp_dir().join(format!("vreg-{name}-{}-{nanos}.db", std::process::id())))
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

#[test]
fn migrations_apply_once_even_when_many_instances_start_together() {
    let db = TempDb::new("migrate");
    let appliers = 8;
    let barrier = Arc::new(Barrier::new(appliers));
    let handles: Vec<_> = (0..appliers)
        .map(|_| {
            let path = db.0.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let sql = NativeSql::open(&path).unwrap();
                barrier.wait();
                ensure_schema(&sql, 1).unwrap();
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("an applier failed");
    }
    let sql = NativeSql::open(&db.0).unwrap();
    let rows = sql
        .execute(
            "SELECT version FROM schema_migrations ORDER BY version",
            &[],
        )
        .unwrap();
    let versions: Vec<Value> = rows.rows.into_iter().map(|r| r[0].clone()).collect();
    let expected: Vec<Value> = (1..=latest_version()).map(Value::Integer).collect();
    assert_eq!(versions, expected, "each version recorded exactly once");
    for table in [
        "groups",
        "projects",
        "packages",
        "package_files",
        "registries",
        "upstreams",
        "registry_upstreams",
        "cache_entries",
        "tokens",
        "sync_jobs",
    ] {
        sql.execute(&format!("SELECT COUNT(*) FROM {table}"), &[])
            .unwrap_or_else(|e| panic!("{table}: {e}"));
    }
    // Applying again is a no-op.
    ensure_schema(&sql, 2).unwrap();
    assert_eq!(current_version(&sql).unwrap(), latest_version());
}

#[test]
fn a_failed_transaction_leaves_nothing_behind() {
    let sql = NativeSql::open_in_memory().unwrap();
    ensure_schema(&sql, 1).unwrap();
    let result: Result<(), CoreError> = transaction(&sql, || {
        sql.execute(
            "INSERT INTO groups (name, path, visibility, created_at, updated_at) VALUES ('a', 'a', 'private', 1, 1)",
            &[],
        )?;
        Err(CoreError::validation("refused late"))
    });
    assert!(matches!(result, Err(CoreError::Validation(_))));
    assert_eq!(
        sql.execute("SELECT COUNT(*) FROM groups", &[])
            .unwrap()
            .scalar_i64(),
        Some(0)
    );
}

#[test]
fn constraint_violations_are_classified() {
    let sql = NativeSql::open_in_memory().unwrap();
    ensure_schema(&sql, 1).unwrap();
    let insert = "INSERT INTO groups (name, path, visibility, created_at, updated_at) VALUES ('a', 'a', 'private', 1, 1)";
    sql.execute(insert, &[]).unwrap();
    assert!(matches!(
        sql.execute(insert, &[]),
        Err(StoreError::Constraint(_))
    ));
    assert!(matches!(
        sql.execute("INSERT INTO groups (name, path, visibility, created_at, updated_at) VALUES ('b', 'b', 'secret', 1, 1)", &[]),
        Err(StoreError::Constraint(_))
    ));
    assert!(matches!(
        StoreError::from_message("UNIQUE constraint failed: groups.path".into()),
        StoreError::Constraint(_)
    ));
    assert_eq!(
        StoreError::from_message("database is locked".into()),
        StoreError::Busy
    );
}

#[test]
fn concurrent_writers_queue_instead_of_failing() {
    let db = TempDb::new("writers");
    ensure_schema(&NativeSql::open(&db.0).unwrap(), 1).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let path = db.0.clone();
            std::thread::spawn(move || {
                let sql = NativeSql::open(&path).unwrap();
                for i in 0..25 {
                    transaction(&sql, || {
                        sql.execute(
                            "INSERT INTO groups (name, path, visibility, created_at, updated_at) VALUES (?, ?, 'private', 1, 1)",
                            &[format!("g{t}-{i}").into(), format!("g{t}-{i}").into()],
                        )?;
                        Ok(())
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    let sql = NativeSql::open(&db.0).unwrap();
    assert_eq!(
        sql.execute("SELECT COUNT(*) FROM groups", &[])
            .unwrap()
            .scalar_i64(),
        Some(100)
    );
}

#[test]
fn memory_kv_round_trips() {
    let kv = MemoryKv::default();
    assert_eq!(kv.get("k").unwrap(), None);
    kv.set("k", b"v").unwrap();
    assert_eq!(kv.get("k").unwrap(), Some(b"v".to_vec()));
    kv.delete("k").unwrap();
    assert_eq!(kv.get("k").unwrap(), None);
}

/// A database with the schema, for the records blob writes keep.
fn records_db() -> NativeSql {
    let sql = NativeSql::open_in_memory().unwrap();
    ensure_schema(&sql, 1).unwrap();
    sql
}

#[test]
fn blobs_round_trip_in_chunks_with_known_digests() {
    let kv = MemoryKv::default();
    let sql = records_db();
    let records = WriteRecords { sql: &sql, now: 1 };
    let store = BlobStore::new(&kv, 1024);
    let data: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let mut teed = Vec::new();
    let digests = store
        .put_stream(
            &records,
            &mut BytesReader::new(data.clone()),
            Some(&mut teed),
            u64::MAX,
        )
        .unwrap();
    assert_eq!(teed, data);
    assert_eq!(digests.size, 5000);
    assert_eq!(digests, digests_of(&data));
    assert_eq!(store.read_bytes(&digests.sha256).unwrap(), data);
    // 5 chunks of 1024 (the last shorter) plus the manifest.
    assert_eq!(kv.keys().len(), 6);
    assert_eq!(
        digests_of(b"abc").sha1,
        "a9993e364706816aba3e25717850c26c9cd0d89d"
    );
    assert_eq!(digests_of(b"abc").md5, "900150983cd24fb0d6963f7d28e17f72");
}

#[test]
fn oversized_blobs_are_refused_without_a_manifest_or_chunks() {
    let kv = MemoryKv::default();
    let sql = records_db();
    let records = WriteRecords { sql: &sql, now: 1 };
    let store = BlobStore::new(&kv, 1024);
    let result = store.put_stream(&records, &mut BytesReader::new(vec![1; 4096]), None, 2000);
    assert!(matches!(result, Err(CoreError::PayloadTooLarge(_))));
    assert!(kv.keys().is_empty(), "{:?}", kv.keys());
    assert_eq!(
        sql.execute("SELECT COUNT(*) FROM blob_writes", &[])
            .unwrap()
            .scalar_i64(),
        Some(0)
    );
    assert!(!store.exists(&digests_of(&[1; 4096]).sha256).unwrap());
}

#[test]
fn counters_count_atomically_from_zero() {
    let kv = MemoryKv::default();
    assert_eq!(kv.increment("n", 0).unwrap(), 0);
    assert_eq!(kv.increment("n", 2).unwrap(), 2);
    assert_eq!(kv.increment("n", 1).unwrap(), 3);
}

#[test]
fn blobs_are_read_at_any_offset_across_chunks() {
    let kv = MemoryKv::default();
    let sql = records_db();
    let store = BlobStore::new(&kv, 1024);
    let data: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let digests = store
        .put_bytes(&WriteRecords { sql: &sql, now: 1 }, &data)
        .unwrap();
    let blob = store.open(&digests.sha256).unwrap();
    assert_eq!(blob.size(), 5000);
    for (offset, len) in [
        (0, 10),
        (1000, 100),
        (1023, 2),
        (1024, 1024),
        (4990, 100),
        (5000, 5),
    ] {
        let end = (offset + len).min(5000);
        assert_eq!(
            blob.read_at(offset as u64, len).unwrap(),
            data[offset..end],
            "{offset}+{len}"
        );
    }
    assert_eq!(blob.read_at(0, 5000).unwrap(), data);
}

#[test]
fn marks_expire_and_stay_within_their_buckets() {
    use vreg_core::storage::expiring::{mark, marked_until, MARK_BUCKETS};
    let kv = MemoryKv::default();
    mark(&kv, "neg", "a", 0, 1000).unwrap();
    assert_eq!(marked_until(&kv, "neg", "a", 999).unwrap(), Some(1000));
    assert_eq!(
        marked_until(&kv, "neg", "a", 1000).unwrap(),
        None,
        "expired"
    );
    assert_eq!(marked_until(&kv, "neg", "b", 0).unwrap(), None);
    for i in 0..5000 {
        mark(&kv, "neg", &format!("path{i}"), 0, 1000).unwrap();
    }
    assert!(
        kv.keys().len() <= MARK_BUCKETS as usize,
        "{}",
        kv.keys().len()
    );
    // The newest mark of a bucket is kept.
    assert!(marked_until(&kv, "neg", "path4999", 10).unwrap().is_some());
}

#[test]
fn slots_hold_one_value_each_and_stay_within_their_buckets() {
    use vreg_core::storage::expiring::{get_slot, set_slot, MARK_BUCKETS};
    let kv = MemoryKv::default();
    set_slot(&kv, "lists", "a", b"v1.0.0", 0, 1000).unwrap();
    assert_eq!(
        get_slot(&kv, "lists", "a", 999).unwrap(),
        Some(b"v1.0.0".to_vec())
    );
    assert_eq!(get_slot(&kv, "lists", "a", 1000).unwrap(), None, "expired");
    assert_eq!(get_slot(&kv, "lists", "b", 0).unwrap(), None);
    for i in 0..5000 {
        set_slot(&kv, "lists", &format!("m{i}"), b"", 0, 1000).unwrap();
    }
    assert!(kv.keys().len() <= MARK_BUCKETS as usize);
    assert_eq!(
        get_slot(&kv, "lists", "m4999", 0).unwrap(),
        Some(Vec::new())
    );
}

/// The number of keys in each read call since `from`.
fn batch_sizes(kv: &MemoryKv, from: usize) -> Vec<usize> {
    kv.read_calls()[from..].iter().map(Vec::len).collect()
}

#[test]
fn blobs_are_read_in_batch_gets_of_about_a_mebibyte() {
    let sql = records_db();
    let records = WriteRecords { sql: &sql, now: 1 };
    for (chunk_bytes, size, batches) in [
        // Ten chunks of 256 KiB: the manifest, then four, four and two.
        (256 << 10, 10 << 18, vec![1, 4, 4, 2]),
        // A last chunk of one byte does not make a batch hold more.
        (256 << 10, (8 << 18) + 1, vec![1, 4, 4, 1]),
        // Small chunks: the whole blob in one batch.
        (1024, 5000, vec![1, 5]),
        // Chunks of 4 MiB: one a batch, so memory stays bounded.
        (4 << 20, 9 << 20, vec![1, 1, 1, 1]),
    ] {
        let kv = MemoryKv::default();
        let data: Vec<u8> = (0..size as u32).map(|i| (i % 251) as u8).collect();
        let digests = BlobStore::new(&kv, chunk_bytes)
            .put_bytes(&records, &data)
            .unwrap();
        let case = format!("{chunk_bytes}-byte chunks, {size} bytes");

        let before = kv.read_calls().len();
        let store = BlobStore::for_reading(&kv);
        let mut out = Vec::new();
        assert_eq!(store.read(&digests.sha256, &mut out).unwrap(), size as u64);
        assert!(out == data, "{case}");
        assert_eq!(batch_sizes(&kv, before), batches, "{case}");

        // Knowing the chunks (as a resolved record does) skips the manifest.
        let chunks = store.chunk_keys(&digests.sha256).unwrap().unwrap();
        let before = kv.read_calls().len();
        let mut out = Vec::new();
        BlobStore::for_reading(&kv)
            .knowing(&digests.sha256, digests.size, chunks)
            .read(&digests.sha256, &mut out)
            .unwrap();
        assert!(out == data, "{case}");
        assert_eq!(batch_sizes(&kv, before), batches[1..], "{case}");
    }
}
