//! Reads answered from records (see `vreg_core::domain::resolved`): which
//! reads leave them, for whom, what they cost (no SQL), and how every
//! change that could alter an answer is seen by the next read.

mod common;

use common::maven::*;
use common::{maven_in, App, ADMIN};
use http::Method;
use serde_json::json;
use vreg_core::storage::blobs::digests_of;
use vreg_core::{Context, LazyConfig};
use vreg_testkit::RecordingPublisher;

/// An anonymous read of a public project's or group's repository that an
/// earlier one resolved is answered alike with no SQL at all; a read with
/// a token never makes a record, and any change that could alter the
/// answer (an upload, the project made private) is seen at once.
#[test]
fn anonymous_repository_reads_skip_sql_until_something_changes() {
    let app = App::new();
    let group = app.public_group("pub");
    let open = app.public_project("open", group);
    let closed = app.project("closed", group);
    let pom = "org/example/demo/1.0/demo-1.0.pom";
    let big: Vec<u8> = (0..40_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let snapshot = "org/example/demo/1.1-SNAPSHOT/demo-1.1-20260101.000000-1.jar";
    assert_eq!(deploy(&app, open, pom, b"<project/>"), 201);
    assert_eq!(deploy(&app, open, JAR, &big), 201);
    assert_eq!(deploy(&app, open, snapshot, b"first"), 201);
    let secret = "org/secret/lib/1.0/lib-1.0.jar";
    assert_eq!(deploy(&app, closed, secret, b"secret"), 201);
    // The sweep 1 request in 16 may run after its answer: held elsewhere,
    // so it cannot add statements at random.
    vreg_core::storage::lease::take_lease(&app.kv, "storage:sweep", 0, i64::MAX / 2).unwrap();

    let project = format!("/projects/{open}/packages/maven");
    let by_path = "/projects/pub%2Fopen/packages/maven".to_owned();
    let in_group = format!("/groups/{group}/-/packages/maven");
    let metadata = "org/example/demo/maven-metadata.xml";
    let reads = [
        (&project, pom.to_owned()),
        (&project, JAR.to_owned()),
        (&project, format!("{JAR}.sha1")),
        (&project, format!("{JAR}.sha512")),
        (&project, metadata.to_owned()),
        (&project, format!("{metadata}.md5")),
        (&by_path, pom.to_owned()),
        (&in_group, JAR.to_owned()),
        (&in_group, metadata.to_owned()),
    ];
    for (prefix, path) in &reads {
        let full = get(&app, prefix, path, None);
        assert_eq!(full.status, 200, "{prefix}/{path}");
        let statements = app.sql.statements();
        let recorded = get(&app, prefix, path, None);
        assert_eq!(app.sql.statements(), statements, "no SQL: {prefix}/{path}");
        assert_eq!(
            file_answer(&recorded),
            file_answer(&full),
            "{prefix}/{path}"
        );
        let head = app.maven(Method::HEAD, &format!("{prefix}/{path}"), None, &[]);
        assert_eq!(
            app.sql.statements(),
            statements,
            "no SQL: HEAD {prefix}/{path}"
        );
        assert_eq!((head.status, head.body.len()), (200, 0));
        assert_eq!(header(&head, "etag"), header(&full, "etag"));
    }
    assert!(get(&app, &project, JAR, None).body == big);
    let xml = String::from_utf8(get(&app, &project, metadata, None).body).unwrap();
    assert!(xml.contains("<version>1.0</version>"), "{xml}");

    // A token holder's read of the group sees the private project too: it
    // goes the full way, and leaves nothing an anonymous read could use.
    assert_eq!(get(&app, &in_group, secret, Some(ADMIN)).body, b"secret");
    assert_eq!(get(&app, &in_group, secret, None).status, 404);
    assert_eq!(get(&app, &in_group, secret, Some(ADMIN)).body, b"secret");
    assert_eq!(get(&app, &in_group, secret, None).status, 404);
    let closed_prefix = format!("/projects/{closed}/packages/maven");
    assert_eq!(get(&app, &closed_prefix, secret, Some(ADMIN)).status, 200);
    assert_eq!(get(&app, &closed_prefix, secret, None).status, 401);

    // A snapshot uploaded again, a new version: seen by the next read.
    assert_eq!(get(&app, &project, snapshot, None).body, b"first");
    assert_eq!(get(&app, &project, snapshot, None).body, b"first");
    assert_eq!(deploy(&app, open, snapshot, b"second"), 200);
    assert_eq!(get(&app, &project, snapshot, None).body, b"second");
    assert_eq!(
        deploy(&app, open, "org/example/demo/2.0/demo-2.0.pom", b"<p/>"),
        201
    );
    for prefix in [&project, &in_group] {
        let xml = String::from_utf8(get(&app, prefix, metadata, None).body).unwrap();
        assert!(xml.contains("<latest>2.0</latest>"), "{prefix}: {xml}");
    }

    // The project made private: anonymous readers are turned away at once.
    app.ok(
        Method::PUT,
        &format!("/projects/{open}"),
        Some(json!({"visibility": "private"})),
    );
    assert_eq!(get(&app, &project, pom, None).status, 401);
    assert_eq!(get(&app, &by_path, pom, None).status, 401);
    assert_eq!(get(&app, &in_group, JAR, None).status, 404);
}

/// A project's or group's 404 is recorded (on one miss in a few, at
/// random), for each audience: asked again (or its checksum), it is then
/// answered with no SQL; an upload is seen at once.
#[test]
fn a_repositorys_404_is_answered_from_its_record() {
    let app = App::new();
    let group = app.public_group("pub");
    let open = app.public_project("open", group);
    assert_eq!(deploy(&app, open, JAR, b"jar"), 201);
    vreg_core::storage::lease::take_lease(&app.kv, "storage:sweep", 0, i64::MAX / 2).unwrap();
    let token = app.token(json!({"name": "ci", "scopes": ["read_api"]}));
    let project = format!("/projects/{open}/packages/maven");
    let in_group = format!("/groups/{group}/-/packages/maven");
    let pom = "org/example/demo/1.0/demo-1.0.pom";
    let costs = |prefix: &str, path: &str, token: Option<&str>| {
        let statements = app.sql.statements();
        let status = get(&app, prefix, path, token).status;
        (status, app.sql.statements() - statements)
    };
    for who in [None, Some(token.as_str())] {
        for prefix in [&project, &in_group] {
            let (status, sql) = costs(prefix, pom, who);
            assert_eq!(status, 404, "{prefix}");
            assert!(sql > 0, "{prefix}: the full way first");
            // (Recorded within a few asks: (3/4)^64 is ~1e-8.)
            let asks = (0..64).position(|_| costs(prefix, pom, who) == (404, 0));
            assert!(asks.is_some(), "{prefix}: never recorded");
            assert_eq!(
                costs(prefix, pom, who),
                (404, 0),
                "{prefix}: from the record"
            );
            let sha1 = format!("{pom}.sha1");
            assert_eq!(
                costs(prefix, &sha1, who),
                (404, 0),
                "{prefix}: its checksum"
            );
            let statements = app.sql.statements();
            let head = app.maven(Method::HEAD, &format!("{prefix}/{pom}"), who, &[]);
            assert_eq!((head.status, app.sql.statements()), (404, statements));
        }
    }
    assert_eq!(deploy(&app, open, pom, b"<project/>"), 201);
    for who in [None, Some(token.as_str())] {
        for prefix in [&project, &in_group] {
            assert_eq!(get(&app, prefix, pom, who).body, b"<project/>", "{prefix}");
        }
    }
}

/// A cached read writes no SQL: downloads are counted in the tally store
/// (folded into SQL when the admin API lists entries), and `downloaded_at`
/// moves at most once an hour.
#[test]
fn cached_reads_write_no_sql_and_still_count_downloads() {
    let r = registry(24);
    // The sweep that 1 request in 16 may run after its answer (it folds
    // counts into SQL): held elsewhere, so it cannot write at random.
    vreg_core::storage::lease::take_lease(&r.app.kv, "storage:sweep", 0, i64::MAX / 2).unwrap();
    let prefix = format!("/virtual_registries/packages/maven/{}", r.id);
    assert_eq!(get(&r.app, &prefix, REMOTE_JAR, Some(ADMIN)).status, 200);
    let before = r.app.sql_changes();
    for _ in 0..3 {
        assert_eq!(get(&r.app, &prefix, REMOTE_JAR, Some(ADMIN)).status, 200);
    }
    assert_eq!(r.app.sql_changes(), before, "no SQL row changed");
    let upstream = remote_upstream(&r);
    let listing = format!("/virtual_registries/packages/maven/upstreams/{upstream}/cache_entries");
    let entry = &r.app.ok(Method::GET, &listing, None)[0];
    assert_eq!(entry["downloads_count"], 4, "the fetch and three hits");
    let first_download = entry["downloaded_at"].as_str().unwrap().to_owned();
    // The listing folded the counts into SQL.
    assert_eq!(
        r.app.sql_text(&format!(
            "SELECT CAST(downloads_count AS TEXT) FROM cache_entries WHERE upstream_id = {upstream}"
        )),
        "4"
    );
    let before = r.app.sql_changes();

    // An hour later, one read writes the new download time once.
    r.app.clock.advance(3_600_000);
    assert_eq!(get(&r.app, &prefix, REMOTE_JAR, Some(ADMIN)).status, 200);
    assert_eq!(r.app.sql_changes(), before + 1);
    assert_eq!(get(&r.app, &prefix, REMOTE_JAR, Some(ADMIN)).status, 200);
    assert_eq!(r.app.sql_changes(), before + 1);
    let entry = &r.app.ok(Method::GET, &listing, None)[0];
    assert_eq!(entry["downloads_count"], 6);
    assert_ne!(entry["downloaded_at"].as_str().unwrap(), first_download);
}

/// An anonymous read of a public registry that an earlier read resolved is
/// served with no SQL at all, and any change that could alter the answer
/// (here: the group made private, the cache entry deleted) is seen at once.
#[test]
fn resolved_reads_skip_sql_until_the_configuration_changes() {
    let r = registry(24);
    let prefix = format!("/virtual_registries/packages/maven/{}", r.id);
    let group = r.group();
    let public = json!({"visibility": "public"});
    r.app
        .ok(Method::PATCH, &format!("/groups/{group}"), Some(public));
    assert_eq!(get(&r.app, &prefix, REMOTE_JAR, None).status, 200);
    assert_eq!(get(&r.app, &prefix, REMOTE_JAR, None).status, 200);
    // The sweep that 1 request in 16 may run after its answer: held
    // elsewhere for now, so it cannot add statements at random.
    vreg_core::storage::lease::take_lease(&r.app.kv, "storage:sweep", 0, i64::MAX / 2).unwrap();
    let statements = r.app.sql.statements();
    let fetched = r.server.as_ref().unwrap().requests();
    let hit = get(&r.app, &prefix, REMOTE_JAR, None);
    assert_eq!(hit.body, b"remote jar bytes");
    assert_eq!(
        header(&hit, "x-checksum-sha1"),
        digests_of(b"remote jar bytes").sha1
    );
    assert_eq!(r.app.sql.statements(), statements, "no SQL statement");
    // Nor a setting (on Spin each is a host call); a token holder goes the
    // full way, its token checked against them.
    let loads = std::cell::Cell::new(0);
    let config = LazyConfig::new(|| {
        loads.set(loads.get() + 1);
        (*r.app.config).clone()
    });
    let publisher = RecordingPublisher::default();
    let ctx = Context {
        config: &config,
        ..r.app.context(&publisher)
    };
    let hit = maven_in(
        &ctx,
        Method::GET,
        &format!("{prefix}/{REMOTE_JAR}"),
        None,
        &[],
    );
    assert_eq!(hit.body, b"remote jar bytes");
    assert_eq!(loads.get(), 0, "no setting read");
    let hit = maven_in(
        &ctx,
        Method::GET,
        &format!("{prefix}/{REMOTE_JAR}"),
        Some(ADMIN),
        &[],
    );
    assert_eq!(hit.status, 200);
    assert_eq!(loads.get(), 1, "settings read once, when needed");
    assert!(r.app.sql.statements() > statements);

    // The entry deleted: the next read fetches again.
    let upstream = remote_upstream(&r);
    r.app.ok(
        Method::DELETE,
        &format!("/virtual_registries/packages/maven/upstreams/{upstream}/cache"),
        None,
    );
    assert_eq!(get(&r.app, &prefix, REMOTE_JAR, None).status, 200);
    assert_eq!(r.server.as_ref().unwrap().requests(), fetched + 1);

    // A file past what a record keeps in itself: the record names its
    // chunks, so a read through it skips the blob's manifest.
    let big: Vec<u8> = (0..40_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let jar = "org/remote/lib/1.0/lib-1.0-big.jar";
    std::fs::write(r._dir.0.join(jar), &big).unwrap();
    for _ in 0..2 {
        assert!(get(&r.app, &prefix, jar, None).body == big);
    }
    let manifest = format!("blob:{}", digests_of(&big).sha256);
    let manifest_reads = r.app.kv.reads_of(&manifest);
    assert!(get(&r.app, &prefix, jar, None).body == big);
    assert_eq!(r.app.kv.reads_of(&manifest), manifest_reads);

    // The group made private: anonymous readers are turned away at once.
    let private = json!({"visibility": "private"});
    r.app
        .ok(Method::PATCH, &format!("/groups/{group}"), Some(private));
    assert_eq!(get(&r.app, &prefix, REMOTE_JAR, None).status, 401);
}

/// A group's repository asks SQL for its projects at once: what a read
/// that goes the full way costs does not grow with the group.
#[test]
fn a_group_read_costs_the_same_however_many_projects_the_group_has() {
    let app = App::new();
    let group = app.public_group("many");
    let first = app.public_project("p0", group);
    assert_eq!(deploy(&app, first, JAR, b"jar"), 201);
    vreg_core::storage::lease::take_lease(&app.kv, "storage:sweep", 0, i64::MAX / 2).unwrap();
    let prefix = format!("/groups/{group}/-/packages/maven");
    // A path no project has: never recorded, so every read goes the full way.
    let missing = "org/none/x/1.0/x-1.0.jar";
    let cost = || {
        let statements = app.sql.statements();
        assert_eq!(get(&app, &prefix, missing, None).status, 404);
        assert_eq!(get(&app, &prefix, JAR, Some(ADMIN)).body, b"jar");
        app.sql.statements() - statements
    };
    let with_one = cost();
    for n in 1..12 {
        let project = app.public_project(&format!("p{n}"), group);
        if n % 2 == 0 {
            app.ok(
                Method::PUT,
                &format!("/projects/{project}"),
                Some(json!({"visibility": "private"})),
            );
        }
    }
    assert_eq!(cost(), with_one);
}

/// Records of local reads live in a fixed number of slot keys, however
/// many ways a project is spelled; a record displaced from its slot by
/// another is never mistaken for it.
#[test]
fn local_read_records_stay_in_their_slots() {
    use vreg_core::domain::resolved::{self, Place, SLOTS};
    let app = App::new();
    let group = app.public_group("open");
    let project = app.public_project("libs", group);
    assert_eq!(deploy(&app, project, JAR, b"jar"), 201);
    // The project by id and by full path, each spelled many ways.
    let mut spellings = vec![project.to_string(), format!("0{project}")];
    for i in 0..60 {
        let mut path = String::from("open%2Flibs");
        if i % 2 == 1 {
            path = path.replace("%2F", "%2f");
        }
        for (at, c) in "libs".chars().enumerate() {
            if i >> (1 + at) & 1 == 1 {
                path = path.replacen(c, &format!("%{:02X}", c as u32), 1);
            }
        }
        spellings.push(path);
    }
    spellings.sort();
    spellings.dedup();
    for spelling in &spellings {
        let prefix = format!("/projects/{spelling}/packages/maven");
        for _ in 0..2 {
            assert_eq!(get(&app, &prefix, JAR, None).body, b"jar", "{spelling}");
        }
    }
    let slots: Vec<String> = app
        .kv
        .keys()
        .into_iter()
        .filter(|k| k.starts_with("maven:local"))
        .collect();
    assert!(!slots.is_empty() && slots.len() <= spellings.len());
    for key in &slots {
        let index: u64 = key.strip_prefix("maven:local:").unwrap().parse().unwrap();
        assert!(index < SLOTS, "{key}");
    }

    // Two names that share a slot: the later record displaces the earlier.
    let publisher = RecordingPublisher::default();
    let ctx = app.context(&publisher);
    let first = Place::slot("test", "name-0");
    let other = (1..)
        .map(|i| Place::slot("test", &format!("name-{i}")))
        .find(|p| p.stored_at() == first.stored_at())
        .unwrap();
    let generation = vreg_core::storage::generation::current(&app.kv).unwrap();
    let remember = |place: &Place, bytes: &[u8]| {
        let kept = (&digests_of(bytes), ());
        resolved::remember_made(&ctx, place, generation, kept, bytes, i64::MAX).unwrap();
    };
    let found = |place: &Place| {
        resolved::lookup::<()>(&ctx, std::slice::from_ref(place))
            .unwrap()
            .and_then(|r| r.bytes)
    };
    remember(&first, b"first");
    assert_eq!(found(&first).as_deref(), Some(&b"first"[..]));
    assert_eq!(found(&other), None);
    remember(&other, b"other");
    assert_eq!(found(&other).as_deref(), Some(&b"other"[..]));
    assert_eq!(found(&first), None);

    // Keys are made with a hash anyone can make collide: a record answers
    // only the name it was made for, at a key of its own as in a slot.
    let mine = Place::key("test:own".into(), "org/a/1/a-1.pom");
    let colliding = Place::key("test:own".into(), "org/b/1/b-1.pom");
    remember(&mine, b"mine");
    assert_eq!(found(&mine).as_deref(), Some(&b"mine"[..]));
    assert_eq!(found(&colliding), None);
}

/// A token's reads of a private group's repositories and registry leave
/// records only that token's later reads are answered from (no SQL, not
/// even the token's lookup); revoking the token, or its expiry, turns it
/// away at the very next read.
#[test]
fn a_tokens_reads_skip_sql_until_it_is_revoked_or_expires() {
    let r = registry(24);
    let app = &r.app;
    assert_eq!(deploy(app, r.project, JAR, b"local jar"), 201);
    vreg_core::storage::lease::take_lease(&app.kv, "storage:sweep", 0, i64::MAX / 2).unwrap();
    let group = r.group();
    // The test clock stands at 2026-01-15 10:00 UTC; this token expires
    // at the end of the day.
    let token =
        app.token(json!({"name": "ci", "scopes": ["read_registry"], "expires_at": "2026-01-16"}));
    let other = app.token(json!({"name": "other", "scopes": ["read_registry"]}));
    let registry = format!("/virtual_registries/packages/maven/{}", r.id);
    let reads = [
        (format!("/projects/{}/packages/maven", r.project), JAR),
        (format!("/groups/{group}/-/packages/maven"), JAR),
        (registry.clone(), JAR),
        (registry.clone(), REMOTE_JAR),
    ];
    for (prefix, path) in &reads {
        for _ in 0..2 {
            assert_eq!(
                get(app, prefix, path, Some(&token)).status,
                200,
                "{prefix}/{path}"
            );
        }
        let full = get(app, prefix, path, Some(&token));
        let statements = app.sql.statements();
        for path in [path.to_string(), format!("{path}.sha1")] {
            let recorded = get(app, prefix, &path, Some(&token));
            assert_eq!(recorded.status, 200);
            assert_eq!(app.sql.statements(), statements, "no SQL: {prefix}/{path}");
        }
        assert_eq!(
            file_answer(&get(app, prefix, path, Some(&token))),
            file_answer(&full)
        );
        // Another token, a made-up one, no token: the full way.
        assert_eq!(get(app, prefix, path, Some(&other)).status, 200);
        assert!(app.sql.statements() > statements);
        assert_eq!(get(app, prefix, path, Some("made-up")).status, 401);
        assert_eq!(get(app, prefix, path, None).status, 401);
        // The bootstrap admin token is a setting, not a stored token: its
        // reads leave no records.
        for _ in 0..3 {
            let statements = app.sql.statements();
            assert_eq!(get(app, prefix, path, Some(ADMIN)).status, 200);
            assert!(app.sql.statements() > statements);
        }
    }

    // Revoked: turned away at once.
    let (prefix, path) = &reads[0];
    assert_eq!(get(app, prefix, path, Some(&other)).status, 200);
    let other_id = app
        .ok(Method::GET, "/personal_access_tokens", None)
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "other")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let revoked = app.admin(
        Method::DELETE,
        &format!("/personal_access_tokens/{other_id}"),
        None,
    );
    assert!(revoked.status.is_success(), "{}", revoked.body);
    assert_eq!(get(app, prefix, path, Some(&other)).status, 401);

    // Expired: 30 s before midnight a read leaves a record; 40 s later,
    // well within a record's minute, the token is refused.
    app.clock.advance((13 * 3600 + 59 * 60 + 30) * 1000);
    for _ in 0..2 {
        assert_eq!(get(app, prefix, path, Some(&token)).status, 200);
    }
    app.clock.advance(40_000);
    assert_eq!(get(app, prefix, path, Some(&token)).status, 401);
}

/// Through a public registry, an anonymous read of a checksum is answered
/// from the record of its file, and a file a local upstream serves leaves
/// a record as a cached one does: a build's every request skips SQL.
#[test]
fn checksums_and_local_files_of_a_public_registry_skip_sql_too() {
    let r = registry(24);
    let prefix = format!("/virtual_registries/packages/maven/{}", r.id);
    let group = r.group();
    let public = json!({"visibility": "public"});
    r.app.ok(
        Method::PATCH,
        &format!("/groups/{group}"),
        Some(public.clone()),
    );
    r.app.ok(
        Method::PUT,
        &format!("/projects/{}", r.project),
        Some(public),
    );
    let snapshot = "org/example/demo/1.1-SNAPSHOT/demo-1.1-20260101.000000-1.jar";
    assert_eq!(deploy(&r.app, r.project, JAR, b"local jar"), 201);
    assert_eq!(deploy(&r.app, r.project, snapshot, b"first"), 201);
    vreg_core::storage::lease::take_lease(&r.app.kv, "storage:sweep", 0, i64::MAX / 2).unwrap();
    let upstream = remote_upstream(&r);
    let listing = format!("/virtual_registries/packages/maven/upstreams/{upstream}/cache_entries");

    for path in [REMOTE_JAR, JAR, snapshot] {
        // (The remote file: fetched by the first read, streamed with the
        // upstream's headers; served from the cache and recorded by the next.)
        assert_eq!(get(&r.app, &prefix, path, None).status, 200, "{path}");
        let full = get(&r.app, &prefix, path, None);
        let statements = r.app.sql.statements();
        let recorded = get(&r.app, &prefix, path, None);
        assert_eq!(r.app.sql.statements(), statements, "no SQL: {path}");
        assert_eq!(file_answer(&recorded), file_answer(&full), "{path}");
        for checksum in ["sha1", "md5", "sha256", "sha512"] {
            let sum = get(&r.app, &prefix, &format!("{path}.{checksum}"), None);
            assert_eq!(
                r.app.sql.statements(),
                statements,
                "no SQL: {path}.{checksum}"
            );
            let body = String::from_utf8(sum.body).unwrap();
            assert_eq!(
                body.len(),
                digest_len(checksum),
                "{path}.{checksum}: {body}"
            );
        }
        let sha1 = get(&r.app, &prefix, &format!("{path}.sha1"), None).body;
        assert_eq!(
            String::from_utf8(sha1).unwrap(),
            header(&full, "x-checksum-sha1")
        );
    }
    // The remote file was read three times; its checksums are not
    // downloads of it.
    assert_eq!(
        r.app.ok(Method::GET, &listing, None)[0]["downloads_count"],
        3
    );

    // A snapshot of the local upstream uploaded again: the next read has it.
    assert_eq!(deploy(&r.app, r.project, snapshot, b"second"), 200);
    assert_eq!(get(&r.app, &prefix, snapshot, None).body, b"second");
    let sha1 = get(&r.app, &prefix, &format!("{snapshot}.sha1"), None).body;
    assert_eq!(String::from_utf8(sha1).unwrap(), digests_of(b"second").sha1);
    // The project made private: the registry no longer serves its files.
    let private = json!({"visibility": "private"});
    r.app.ok(
        Method::PUT,
        &format!("/projects/{}", r.project),
        Some(private),
    );
    assert_ne!(get(&r.app, &prefix, JAR, None).body, b"local jar");
    assert_ne!(
        get(&r.app, &prefix, &format!("{JAR}.sha1"), None).status,
        200
    );
}

/// A checksum asked when its file's record is gone (the file read over a
/// minute ago, or never through this path) is answered the full way, and
/// leaves the file's record as a read of the file would: the checksums
/// after it skip SQL. A stale copy leaves none (its file's read
/// revalidates it first).
#[test]
fn a_checksum_answered_the_full_way_leaves_its_files_record() {
    let r = registry(1);
    let prefix = format!("/virtual_registries/packages/maven/{}", r.id);
    let group = r.group();
    let public = json!({"visibility": "public"});
    r.app
        .ok(Method::PATCH, &format!("/groups/{group}"), Some(public));
    vreg_core::storage::lease::take_lease(&r.app.kv, "storage:sweep", 0, i64::MAX / 2).unwrap();
    let sha1 = format!("{REMOTE_JAR}.sha1");
    assert_eq!(get(&r.app, &prefix, REMOTE_JAR, None).status, 200);
    // Every record gone; the cached copy still fresh (an hour).
    r.app.clock.advance(2 * 60 * 1000);
    let statements = r.app.sql.statements();
    let full = get(&r.app, &prefix, &sha1, None);
    assert!(r.app.sql.statements() > statements, "the full way");
    let expected = digests_of(b"remote jar bytes").sha1;
    assert_eq!(String::from_utf8(full.body).unwrap(), expected);
    let statements = r.app.sql.statements();
    for path in [&sha1, &format!("{REMOTE_JAR}.md5"), REMOTE_JAR] {
        assert_eq!(get(&r.app, &prefix, path, None).status, 200, "{path}");
        assert_eq!(r.app.sql.statements(), statements, "no SQL: {path}");
    }
    let recorded = get(&r.app, &prefix, &sha1, None).body;
    assert_eq!(String::from_utf8(recorded).unwrap(), expected);

    // The copy stale (past its hour): the checksum is still answered, and
    // no record is left, so the next one goes the full way again.
    r.app.clock.advance(2 * 3600 * 1000);
    assert_eq!(get(&r.app, &prefix, &sha1, None).status, 200);
    let statements = r.app.sql.statements();
    assert_eq!(get(&r.app, &prefix, &sha1, None).status, 200);
    assert!(
        r.app.sql.statements() > statements,
        "no record of a stale copy"
    );
}

/// A path no upstream has, asked again while every remote's 404 is
/// remembered, is recorded: then answered 404 from the record, with no SQL
/// and no upstream asked (a path asked once, as made-up ones are, leaves
/// no record). Its checksum still goes the full way (an upstream may
/// publish one on its own); the record ends with the remembered 404, and
/// an upload to the local upstream's project is seen at once.
#[test]
fn a_path_found_nowhere_is_answered_from_its_record() {
    let mut r = registry(24);
    r.app.config.negative_cache_seconds = 10;
    let prefix = format!("/virtual_registries/packages/maven/{}", r.id);
    let public = json!({"visibility": "public"});
    let group = r.group();
    r.app.ok(
        Method::PATCH,
        &format!("/groups/{group}"),
        Some(public.clone()),
    );
    let project = format!("/projects/{}", r.project);
    r.app.ok(Method::PUT, &project, Some(public));
    let token = r.app.ok(
        Method::POST,
        "/personal_access_tokens",
        Some(json!({"name": "reader", "scopes": ["read_registry"]})),
    )["token"]
        .as_str()
        .unwrap()
        .to_owned();
    vreg_core::storage::lease::take_lease(&r.app.kv, "storage:sweep", 0, i64::MAX / 2).unwrap();
    let server = r.server.as_ref().unwrap();
    let missing = "org/remote/none/1.0/none-1.0.pom";

    let first = get(&r.app, &prefix, missing, None);
    assert_eq!(first.status, 404);
    let records = || {
        r.app
            .kv
            .keys()
            .iter()
            .filter(|k| k.starts_with("maven:local:"))
            .count()
    };
    assert_eq!(records(), 0, "asked once: no record");
    let second = get(&r.app, &prefix, missing, None);
    assert_eq!((second.status, &second.body), (404, &first.body));
    assert_eq!(records(), 1);
    let (statements, asked) = (r.app.sql.statements(), server.requests());
    let again = get(&r.app, &prefix, missing, None);
    assert_eq!((again.status, &again.body), (404, &first.body));
    let head = r
        .app
        .maven(Method::HEAD, &format!("{prefix}/{missing}"), None, &[]);
    assert_eq!(head.status, 404);
    assert_eq!(r.app.sql.statements(), statements, "no SQL");
    assert_eq!(server.requests(), asked, "no upstream asked");
    let checksum = get(&r.app, &prefix, &format!("{missing}.sha1"), None);
    assert_eq!(checksum.status, 404);
    assert!(
        r.app.sql.statements() > statements,
        "a checksum: the full way"
    );

    // Published at the remote meanwhile: seen once its 404 is forgotten.
    let dir = r._dir.0.join("org/remote/none/1.0");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("none-1.0.pom"), b"<project>none</project>").unwrap();
    r.app.clock.advance(9_000);
    assert_eq!(get(&r.app, &prefix, missing, None).status, 404);
    r.app.clock.advance(2_000);
    let found = get(&r.app, &prefix, missing, None);
    assert_eq!(found.body, b"<project>none</project>");

    // Uploaded to the local upstream's project: seen at once.
    let local = "org/remote/other/1.0/other-1.0.pom";
    for _ in 0..3 {
        assert_eq!(get(&r.app, &prefix, local, None).status, 404);
    }
    assert_eq!(deploy(&r.app, r.project, local, b"<project/>"), 201);
    assert_eq!(get(&r.app, &prefix, local, None).body, b"<project/>");

    // A token holder's 404 is its own record; an anonymous read is not
    // answered by it.
    let token_only = "org/remote/third/1.0/third-1.0.pom";
    for _ in 0..2 {
        assert_eq!(get(&r.app, &prefix, token_only, Some(&token)).status, 404);
    }
    let statements = r.app.sql.statements();
    assert_eq!(get(&r.app, &prefix, token_only, Some(&token)).status, 404);
    assert_eq!(r.app.sql.statements(), statements, "the token's record");
    assert_eq!(get(&r.app, &prefix, token_only, None).status, 404);
    assert!(
        r.app.sql.statements() > statements,
        "anonymous: the full way"
    );
}
