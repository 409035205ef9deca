//! Blob garbage collection and cleanup policies, natively: real SQLite,
//! and the in-memory key-value map (the end-to-end suite runs the same on
//! the hosts' real stores, see tests/tests/storage_e2e.rs).

mod common;

use common::App;
use http::Method;
use serde_json::json;
use vreg_core::crypto::sha256_hex;
use vreg_core::domain::cache::{commit_entry, forget_queued, resolved_key, CacheEntry};
use vreg_core::domain::cleanup::apply_policies;
use vreg_core::storage::blob_records;
use vreg_core::storage::blobs::{BlobStore, Digests, WriteRecords};
use vreg_core::storage::gc::{collect, pending};
use vreg_core::storage::schema::ensure_schema;
use vreg_core::storage::{Kv, Sql};
use vreg_testkit::{MemoryKv, NativeSql};

const GRACE: i64 = 1000;
const DAY: i64 = 24 * 3600 * 1000;

fn bytes(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

fn put(sql: &dyn Sql, kv: &dyn Kv, now: i64, data: &[u8]) -> Digests {
    BlobStore::new(kv, 1024)
        .put_bytes(&WriteRecords { sql, now }, data)
        .unwrap()
}

fn chunk_keys(kv: &MemoryKv) -> usize {
    kv.keys().iter().filter(|k| k.starts_with("chunk:")).count()
}

fn db() -> NativeSql {
    let sql = NativeSql::open_in_memory().unwrap();
    ensure_schema(&sql, 1).unwrap();
    sql
}

/// An app with one upstream, whose cache entries reference blobs.
fn app_with_upstream() -> (App, i64) {
    let mut app = App::new();
    app.config.allow_local_upstreams = true;
    let group = app.group("acme", None);
    let body = json!({"name": "r", "url": "http://127.0.0.1:9/"});
    let upstream = app.create_upstream(group, "maven", body).id();
    (app, upstream)
}

fn reference(app: &App, upstream: i64, path: &str, digests: &Digests, downloaded_at: i64) {
    let entry = CacheEntry {
        upstream_id: upstream,
        relative_path: path.into(),
        content_type: "application/octet-stream".into(),
        digests: digests.clone(),
        upstream_etag: None,
        upstream_checked_at: downloaded_at,
        created_at: downloaded_at,
        downloaded_at: Some(downloaded_at),
    };
    commit_entry(&app.sql, downloaded_at, &entry).unwrap();
}

#[test]
fn garbage_goes_after_its_grace_period_and_referenced_blobs_stay() {
    let (app, upstream) = app_with_upstream();
    let kept = put(&app.sql, &app.kv, 0, &bytes(1, 5000));
    let garbage = put(&app.sql, &app.kv, 0, &bytes(2, 3000));
    reference(&app, upstream, "a/kept.jar", &kept, 0);
    assert_eq!(chunk_keys(&app.kv), 5 + 3);

    // First seen unreferenced now: it waits out the grace period.
    let first = collect(&app.sql, &app.kv, 10, GRACE, 100).unwrap();
    assert_eq!(first.examined_blobs, 2);
    assert_eq!(first.freed_blobs, 0);
    assert_eq!(first.remaining.waiting_blobs, 1);
    assert_eq!(first.remaining.waiting_bytes, 3000);

    let second = collect(&app.sql, &app.kv, 10 + GRACE, GRACE, 100).unwrap();
    assert_eq!(
        (second.freed_blobs, second.freed_chunks, second.freed_bytes),
        (1, 3, 3000)
    );
    assert!(!second.has_work());
    assert_eq!(chunk_keys(&app.kv), 5);
    assert!(app
        .kv
        .get(&format!("blob:{}", garbage.sha256))
        .unwrap()
        .is_none());
    let store = BlobStore::new(&app.kv, 1024);
    assert_eq!(store.read_bytes(&kept.sha256).unwrap(), bytes(1, 5000));
}

#[test]
fn a_blob_marked_before_its_reference_committed_is_unmarked_by_it() {
    // A slice can run between a writer's claim and the commit of the row
    // that references the blob (traffic runs slices). That mark must not
    // outlive the reference: once the file is removed, a download that
    // found the blob just before still has the whole grace period.
    let (app, upstream) = app_with_upstream();
    let digests = put(&app.sql, &app.kv, 0, &bytes(4, 2000));
    let early = collect(&app.sql, &app.kv, 10, GRACE, 100).unwrap();
    assert_eq!(early.remaining.waiting_blobs, 1, "not referenced yet");
    reference(&app, upstream, "a/late.jar", &digests, 20);
    // Seen at once, not when the collector's cursor comes back to it.
    let referenced = pending(&app.sql, 20, GRACE).unwrap();
    assert_eq!(referenced.waiting_blobs, 0, "{referenced:?}");

    let removed_at = 10 * GRACE;
    assert!(vreg_core::domain::cache::delete(&app.sql, upstream, "a/late.jar").unwrap());
    let first = collect(&app.sql, &app.kv, removed_at, GRACE, 100).unwrap();
    assert_eq!(
        first.freed_blobs, 0,
        "the grace period starts now: {first:?}"
    );
    assert_eq!(first.remaining.waiting_blobs, 1);
    let due = collect(&app.sql, &app.kv, removed_at + GRACE, GRACE, 100).unwrap();
    assert_eq!(due.freed_blobs, 1);
    assert_eq!(chunk_keys(&app.kv), 0);
}

#[test]
fn marks_left_standing_on_referenced_blobs_are_cleared_by_the_upgrade() {
    let (app, upstream) = app_with_upstream();
    let digests = put(&app.sql, &app.kv, 0, &bytes(5, 1500));
    reference(&app, upstream, "a/kept.jar", &digests, 0);
    let unreferenced = put(&app.sql, &app.kv, 0, &bytes(6, 1500));
    // A database from before schema version 10, where a mark outlived the
    // reference that came after it.
    for table in ["package_files", "cache_entries", "sumdb_entries"] {
        for trigger in ["unorphan", "unorphan_update"] {
            app.sql
                .execute(&format!("DROP TRIGGER {table}_{trigger}"), &[])
                .unwrap();
        }
    }
    app.sql
        .execute("DELETE FROM schema_migrations WHERE version = 10", &[])
        .unwrap();
    app.sql
        .execute("UPDATE blobs SET orphaned_at = 5", &[])
        .unwrap();

    ensure_schema(&app.sql, 100).unwrap();
    let marked =
        app.sql_text("SELECT group_concat(sha256) FROM blobs WHERE orphaned_at IS NOT NULL");
    assert_eq!(marked, unreferenced.sha256, "only the unreferenced one");
    let report = collect(&app.sql, &app.kv, 5 + GRACE, GRACE, 100).unwrap();
    assert_eq!(report.freed_blobs, 1);
    let store = BlobStore::new(&app.kv, 1024);
    assert_eq!(store.read_bytes(&digests.sha256).unwrap(), bytes(5, 1500));
}

#[test]
fn the_same_content_written_again_is_stored_once_and_claimed_anew() {
    let sql = db();
    let kv = MemoryKv::default();
    let first = put(&sql, &kv, 0, &bytes(3, 4000));
    collect(&sql, &kv, 10, GRACE, 100).unwrap(); // orphaned at 10
                                                 // Written again (e.g. re-cached) late in the grace period: the second
                                                 // write drops its own chunks and its claim holds the blob off.
    let again = put(&sql, &kv, 900, &bytes(3, 4000));
    assert_eq!(again, first);
    assert_eq!(chunk_keys(&kv), 4);
    // The claim also cleared the orphan mark: the blob is orphaned again
    // from the next check on, and waits a full grace period from there.
    let report = collect(&sql, &kv, 10 + GRACE, GRACE, 100).unwrap();
    assert_eq!(report.freed_blobs, 0, "claimed at 900: not yet");
    let report = collect(&sql, &kv, 10 + 2 * GRACE - 1, GRACE, 100).unwrap();
    assert_eq!(report.freed_blobs, 0);
    let report = collect(&sql, &kv, 10 + 2 * GRACE, GRACE, 100).unwrap();
    assert_eq!(report.freed_blobs, 1);
    assert_eq!(chunk_keys(&kv), 0);
}

#[test]
fn abandoned_writes_are_cleaned_up_unless_a_manifest_adopted_them() {
    let sql = db();
    let kv = MemoryKv::default();
    // A write that died half-way: two chunks, no manifest.
    blob_records::begin_write(&sql, "deadbeef", 0).unwrap();
    kv.set("chunk:deadbeef:0", b"x").unwrap();
    kv.set("chunk:deadbeef:1", b"y").unwrap();
    // A write that died after its manifest, before it said it was done.
    let store = BlobStore::new(&kv, 1024);
    let data = bytes(4, 700);
    let done = vreg_core::storage::blobs::digests_of(&data);
    blob_records::begin_write(&sql, "cafe", 0).unwrap();
    kv.set("chunk:cafe:0", &data).unwrap();
    blob_records::claim(&sql, "cafe", &done.sha256, done.size, 0).unwrap();
    kv.set(
        &format!("blob:{}", done.sha256),
        br#"{"size":700,"chunks":["chunk:cafe:0"],"chunk_bytes":1024}"#,
    )
    .unwrap();

    let early = collect(&sql, &kv, GRACE - 1, GRACE, 100).unwrap();
    assert_eq!(early.abandoned_writes, 0, "still within the grace period");
    assert_eq!(early.remaining.abandoned_writes, 0);
    let report = collect(&sql, &kv, GRACE, GRACE, 100).unwrap();
    assert_eq!(report.abandoned_writes, 1);
    assert!(kv.get("chunk:deadbeef:0").unwrap().is_none());
    assert!(kv.get("chunk:deadbeef:1").unwrap().is_none());
    assert_eq!(
        sql.execute("SELECT COUNT(*) FROM blob_writes", &[])
            .unwrap()
            .scalar_i64(),
        Some(0)
    );
    // The adopted write's blob is whole.
    assert_eq!(store.read_bytes(&done.sha256).unwrap(), data);
}

#[test]
fn a_write_left_untouched_past_the_grace_period_fails_instead_of_using_collected_chunks() {
    let sql = db();
    let kv = MemoryKv::default();
    blob_records::begin_write(&sql, "slow", 0).unwrap();
    collect(&sql, &kv, GRACE, GRACE, 100).unwrap();
    assert!(blob_records::claim(&sql, "slow", "ab", 1, GRACE + 1).is_err());
}

#[test]
fn blobs_from_before_tracking_keep_their_shared_chunks() {
    let sql = db();
    let kv = MemoryKv::default();
    // As an older build wrote it: a content-addressed chunk, and the row
    // the migration made for a blob that was referenced then.
    kv.set("chunk:0123abcd", b"old bytes").unwrap();
    kv.set("blob:feed", br#"{"size":9,"chunks":["chunk:0123abcd"]}"#)
        .unwrap();
    sql.execute(
        "INSERT INTO blobs (sha256, size, state, claimed_at) VALUES ('feed', 9, 'live', 0)",
        &[],
    )
    .unwrap();
    let report = collect(&sql, &kv, 0, 0, 100).unwrap();
    assert_eq!((report.freed_blobs, report.kept_shared_chunks), (1, 1));
    assert!(kv.get("blob:feed").unwrap().is_none());
    assert!(kv.get("chunk:0123abcd").unwrap().is_some());
}

#[test]
fn a_slice_is_bounded_and_the_next_one_resumes() {
    let sql = db();
    let kv = MemoryKv::default();
    for seed in 0..30 {
        put(&sql, &kv, 0, &bytes(seed, 1500));
    }
    let mut slices = 0;
    let mut freed = 0;
    loop {
        let report = collect(&sql, &kv, 0, 0, 10).unwrap();
        assert!(report.freed_blobs <= 10);
        freed += report.freed_blobs;
        slices += 1;
        if !report.has_work() {
            break;
        }
        assert!(slices < 20, "no progress");
    }
    assert_eq!(freed, 30);
    assert!(slices >= 3);
    assert_eq!(chunk_keys(&kv), 0);
}

#[test]
fn a_writer_waits_for_the_collector_to_finish_a_doomed_blob() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    let sql = NativeSql::open(&path).unwrap();
    ensure_schema(&sql, 1).unwrap();
    let kv = std::sync::Arc::new(MemoryKv::default());
    let data = bytes(9, 2000);
    let now = 5_000;
    let old = put(&sql, kv.as_ref(), now, &data);
    sql.execute(
        "UPDATE blobs SET state = 'doomed' WHERE sha256 = ?",
        &[old.sha256.as_str().into()],
    )
    .unwrap();
    // The collector, elsewhere, deletes it a little later.
    let collector = {
        let (path, kv) = (path.clone(), kv.clone());
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            let sql = NativeSql::open(&path).unwrap();
            collect(&sql, kv.as_ref(), now, GRACE, 100).unwrap()
        })
    };
    let started = std::time::Instant::now();
    let again = put(&sql, kv.as_ref(), now, &data);
    assert!(started.elapsed() >= std::time::Duration::from_millis(250));
    assert_eq!(collector.join().unwrap().freed_blobs, 1);
    assert_eq!(again, old);
    assert_eq!(
        BlobStore::new(kv.as_ref(), 1024)
            .read_bytes(&again.sha256)
            .unwrap(),
        data,
        "written anew, whole"
    );
}

#[test]
fn a_cleanup_policy_removes_exactly_the_entries_past_their_age() {
    let mut app = App::new();
    app.config.allow_local_upstreams = true;
    let group = app.group("acme", None);
    let policy = app
        .create_upstream(
            group,
            "maven",
            json!({"name": "p", "url": "http://127.0.0.1:9/p", "keep_n_days_after_download": 10}),
        )
        .id();
    let keep_all = app
        .create_upstream(
            group,
            "maven",
            json!({"name": "k", "url": "http://127.0.0.1:9/k"}),
        )
        .id();
    let now = 100 * DAY;
    let digests = put(&app.sql, &app.kv, 0, b"some file");
    for (path, at) in [
        ("old", now - 11 * DAY),
        ("just-past", now - 10 * DAY - 1),
        ("just-within", now - 10 * DAY),
        ("recent", now - DAY),
    ] {
        reference(&app, policy, path, &digests, at);
        reference(&app, keep_all, path, &digests, at);
    }
    for path in ["old", "just-past", "just-within", "recent"] {
        // A download counter from before counts moved to the tally store.
        let legacy = format!("downloads:{policy}:{}", sha256_hex(path.as_bytes()));
        app.kv.increment(&legacy, 1).unwrap();
        app.kv
            .set(&resolved_key(77, path), b"a resolved read")
            .unwrap();
        // ...and a record at the key's spelling before name hashing.
        let legacy = format!("maven:resolved:77:{}", sha256_hex(path.as_bytes()));
        app.kv.set(&legacy, b"an older resolved read").unwrap();
    }
    assert_eq!(apply_policies(&app.sql, now, 100).unwrap(), 2);
    let left = |upstream: i64| {
        app.sql
            .execute(
                "SELECT COUNT(*) FROM cache_entries WHERE upstream_id = ?",
                &[upstream.into()],
            )
            .unwrap()
            .scalar_i64()
            .unwrap()
    };
    assert_eq!(left(policy), 2);
    assert_eq!(left(keep_all), 4, "no policy: nothing removed");
    let paths = app.sql_text(&format!(
        "SELECT group_concat(relative_path) FROM cache_entries WHERE upstream_id = {policy}"
    ));
    assert_eq!(paths, "just-within,recent");

    // What the removed entries left in the key-value store goes with the
    // next sweep; what the kept ones have stays.
    let counters = |kv: &MemoryKv| {
        kv.keys()
            .iter()
            .filter(|k| k.starts_with("downloads:"))
            .count()
    };
    assert_eq!(counters(&app.kv), 4);
    app.sql
        .execute(
            "UPDATE forgotten_cache_entries SET registry_ids = '[77]'",
            &[],
        )
        .unwrap();
    assert_eq!(forget_queued(&app.sql, &app.kv, 100).unwrap(), 2);
    assert_eq!(counters(&app.kv), 2);
    assert!(app.kv.get(&resolved_key(77, "old")).unwrap().is_none());
    assert!(app.kv.get(&resolved_key(77, "recent")).unwrap().is_some());
    let legacy_records = app
        .kv
        .keys()
        .into_iter()
        .filter(|k| k.starts_with("maven:resolved:77:") && k.len() > 40)
        .count();
    assert_eq!(
        legacy_records, 2,
        "the removed entries' old records went too"
    );
    assert_eq!(forget_queued(&app.sql, &app.kv, 100).unwrap(), 0, "done");

    // The policy is part of the upstream, validated.
    let path = format!("/virtual_registries/packages/maven/upstreams/{policy}");
    let shown = app.ok(Method::GET, &path, None);
    assert_eq!(shown["keep_n_days_after_download"], 10);
    for bad in [json!(0), json!(3651), json!("ten")] {
        let reply = app.admin(
            Method::PATCH,
            &path,
            Some(json!({"keep_n_days_after_download": bad})),
        );
        assert!(reply.status == 400 || reply.status == 422, "{bad}");
    }
    let cleared = app.ok(
        Method::PATCH,
        &path,
        Some(json!({"keep_n_days_after_download": null})),
    );
    assert_eq!(
        cleared["keep_n_days_after_download"],
        serde_json::Value::Null
    );
}
