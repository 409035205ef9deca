//! Download counts through the tally store, folded into SQL: exact across
//! folds and minutes, nothing counted twice or lost, and the store keeps
//! only recent keys. Natively, over real SQLite and in-memory maps; the
//! end-to-end suite counts through Redis on both hosts (maven_e2e.rs).

mod common;

use common::App;
use serde_json::json;
use vreg_core::crypto::sha256_hex;
use vreg_core::domain::cache::{commit_entry, CacheEntry};
use vreg_core::domain::downloads::{count, fold, shown_count, Folded};
use vreg_core::storage::blobs::digests_of;
use vreg_core::storage::lease::take_lease;
use vreg_core::storage::{Kv, Tally};
use vreg_testkit::RecordingPublisher;

const MINUTE: i64 = 60 * 1000;

fn entry(upstream: i64, path: &str) -> CacheEntry {
    CacheEntry {
        upstream_id: upstream,
        relative_path: path.into(),
        content_type: "application/java-archive".into(),
        digests: digests_of(path.as_bytes()),
        upstream_etag: None,
        upstream_checked_at: 0,
        created_at: 0,
        downloaded_at: None,
    }
}

fn stored(app: &App, upstream: i64, path: &str) -> i64 {
    app.sql_text(&format!(
        "SELECT CAST(downloads_count AS TEXT) FROM cache_entries \
         WHERE upstream_id = {upstream} AND relative_path = '{path}'"
    ))
    .parse()
    .unwrap()
}

fn app_with_entries(paths: &[&str]) -> (App, i64) {
    let app = App::new();
    let group = app.group("acme", None);
    let upstream = app
        .create_upstream(
            group,
            "maven",
            json!({"name": "r", "url": "https://repo.example/m2"}),
        )
        .id();
    for path in paths {
        commit_entry(&app.sql, 0, &entry(upstream, path)).unwrap();
    }
    (app, upstream)
}

#[test]
fn counts_reach_sql_exactly_and_past_minutes_leave_the_store() {
    let (app, upstream) = app_with_entries(&["a/a.jar", "b/b:odd.pom"]);
    app.clock.advance(10 * MINUTE);
    let publisher = RecordingPublisher::default();
    let ctx = app.context(&publisher);
    for _ in 0..5 {
        count(&ctx, upstream, "a/a.jar");
    }
    count(&ctx, upstream, "b/b:odd.pom");
    // A count for an entry that is gone is dropped by the fold, not kept.
    count(&ctx, upstream, "gone.jar");
    assert_eq!(stored(&app, upstream, "a/a.jar"), 0, "no SQL on a count");
    assert_eq!(
        shown_count(&ctx, &entry(upstream, "a/a.jar"), 0).unwrap(),
        5
    );

    // Folded within the same minute: SQL has the counts, and the keys stay
    // (a count may still be on its way to them), emptied.
    let folded = fold(&ctx).unwrap().unwrap();
    assert_eq!(
        folded,
        Folded {
            downloads: 7,
            keys_deleted: 0
        }
    );
    assert_eq!(stored(&app, upstream, "a/a.jar"), 5);
    assert_eq!(stored(&app, upstream, "b/b:odd.pom"), 1);
    assert_eq!(
        shown_count(&ctx, &entry(upstream, "a/a.jar"), 5).unwrap(),
        5
    );

    // Counted after the fold: kept for the next one, never counted twice.
    count(&ctx, upstream, "a/a.jar");
    app.clock.advance(MINUTE);
    count(&ctx, upstream, "a/a.jar");
    let folded = fold(&ctx).unwrap().unwrap();
    assert_eq!(folded.downloads, 2);
    assert_eq!(stored(&app, upstream, "a/a.jar"), 7);

    // Once their minutes are long past, emptied keys are deleted.
    app.clock.advance(2 * MINUTE);
    let folded = fold(&ctx).unwrap().unwrap();
    assert_eq!(folded.downloads, 0);
    assert_eq!(folded.keys_deleted, 4);
    assert!(Tally::keys(&app.tally).unwrap().is_empty());
    assert_eq!(stored(&app, upstream, "a/a.jar"), 7);
}

/// What a listing shows is read, not written: no key is left in the
/// default store for an entry that has no count from before the tally
/// store, and one that has is still shown.
#[test]
fn showing_a_count_writes_nothing_to_the_default_store() {
    let (app, upstream) = app_with_entries(&["a.jar", "b.jar"]);
    let publisher = RecordingPublisher::default();
    let ctx = app.context(&publisher);
    count(&ctx, upstream, "a.jar");
    let before = app.kv.keys().len();
    assert_eq!(shown_count(&ctx, &entry(upstream, "a.jar"), 2).unwrap(), 3);
    assert_eq!(app.kv.keys().len(), before, "{:?}", app.kv.keys());
    // A count from before the tally store, kept as a counter.
    let legacy = format!("downloads:{upstream}:{}", sha256_hex(b"b.jar"));
    app.kv.increment(&legacy, 4).unwrap();
    assert_eq!(shown_count(&ctx, &entry(upstream, "b.jar"), 1).unwrap(), 5);
}

/// A tally store shared with many other keys (Spin's Redis store lists the
/// whole database) still has every counter folded.
#[test]
fn counters_are_folded_however_many_other_keys_share_the_store() {
    let paths = ["a.jar", "b.jar", "c.jar"];
    let (app, upstream) = app_with_entries(&paths);
    let publisher = RecordingPublisher::default();
    let ctx = app.context(&publisher);
    for n in 0..10_000 {
        app.tally.add(&format!("other:{n}"), 1).unwrap();
    }
    for path in paths {
        count(&ctx, upstream, path);
    }
    assert_eq!(fold(&ctx).unwrap().unwrap().downloads, 3);
    for path in paths {
        assert_eq!(stored(&app, upstream, path), 1, "{path}");
    }
}

#[test]
fn one_fold_at_a_time() {
    let (app, upstream) = app_with_entries(&["a.jar"]);
    let publisher = RecordingPublisher::default();
    let ctx = app.context(&publisher);
    count(&ctx, upstream, "a.jar");
    // Another instance is folding: this one leaves the counts alone rather
    // than add them a second time.
    take_lease(&app.kv, "downloads:fold", ctx.now(), 30_000)
        .unwrap()
        .unwrap();
    assert!(fold(&ctx).unwrap().is_none());
    assert_eq!(stored(&app, upstream, "a.jar"), 0);
    assert_eq!(shown_count(&ctx, &entry(upstream, "a.jar"), 0).unwrap(), 1);
    // Its lease lapses: the next fold takes them.
    app.clock.advance(31_000);
    assert_eq!(fold(&ctx).unwrap().unwrap().downloads, 1);
    assert_eq!(stored(&app, upstream, "a.jar"), 1);
}

#[test]
fn the_sweep_folds_counts() {
    let (app, upstream) = app_with_entries(&["a.jar"]);
    let publisher = RecordingPublisher::default();
    let ctx = app.context(&publisher);
    for _ in 0..3 {
        count(&ctx, upstream, "a.jar");
    }
    let report = vreg_core::domain::cleanup::collect(&ctx, 10, 10).unwrap();
    assert_eq!(report.folded_downloads.unwrap().downloads, 3);
    assert_eq!(stored(&app, upstream, "a.jar"), 3);
}
