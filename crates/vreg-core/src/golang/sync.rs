//! The sync worker: on a trigger, downloads a version's `.info`, `.mod` and
//! `.zip` from the origin, checks the zip by the module zip rules and its
//! go.mod against `.mod`, hashes it as go.sum does, stores the blobs, then
//! creates the package and its files in one transaction. Running twice, or
//! twice at once, creates nothing twice.

use serde::Deserialize;

use super::module::{check, escape};
use super::schedule::{lease_name, retry_due, SYNC_KIND};
use super::store::{self, Scope};
use super::version::Version;
use super::zipcheck::{self, check_zip, go_mod_hash};
use crate::context::Context;
use crate::domain::model::{PackageType, UpstreamMode};
use crate::domain::packages::{NewFile, Owner};
use crate::domain::resolved::go_synced_key;
use crate::domain::{registries, upstreams};
use crate::error::{CoreError, Result};
use crate::http::body::read_to_end;
use crate::http::fetch::FetchResponse;
use crate::storage::blobs::{BlobStore, Digests};
use crate::storage::lease::{end_lease, forget_creation, release_lease, Seen};
use crate::storage::schema::ensure_schema;
use crate::storage::sync_jobs;

#[derive(Debug, Deserialize)]
pub struct SyncTrigger {
    pub kind: String,
    pub registry_id: i64,
    pub module: String,
    pub version: String,
    /// The token of the lease the scheduling request took.
    #[serde(default)]
    pub lease: Option<String>,
    /// When the request that scheduled it was served (ms since the epoch).
    #[serde(default)]
    pub requested_at_ms: Option<i64>,
}

/// How long after the request that scheduled it a sync starts. The
/// request was served straight from the origin; a build asking for many
/// modules at once thus has the machine to itself while it does, instead
/// of sharing it (and the stores' locks) with the worker downloading the
/// same modules again (measured: a cold `go mod download` of 40 modules
/// took 0.41 s with no worker running and 0.63–0.91 s with one syncing as
/// it went). A resent trigger is not delayed.
pub const SETTLE_MILLIS: i64 = 2000;

/// What happened to a trigger.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    Stored,
    AlreadyStored,
    Ignored(String),
}

/// Handles one announcement from the trigger queue: the name of a key that
/// was written. A trigger key's payload is taken off the queue and run;
/// other keys, and triggers another worker already took, are ignored.
pub fn handle_announcement(ctx: &Context, key: &[u8]) -> Result<Outcome> {
    let Some(key) = std::str::from_utf8(key)
        .ok()
        .filter(|k| k.starts_with(sync_jobs::TRIGGER_KEY_PREFIX))
    else {
        return Ok(Outcome::Ignored("not a sync trigger".into()));
    };
    match ctx.publisher.take(key)? {
        Some(payload) => handle_message(ctx, &payload),
        None => Ok(Outcome::Ignored("taken by another worker".into())),
    }
}

/// Handles one trigger payload. Errors are recorded on the job (and
/// returned); malformed payloads are ignored.
pub fn handle_message(ctx: &Context, payload: &[u8]) -> Result<Outcome> {
    ensure_schema(ctx.sql, ctx.now())?;
    let trigger: SyncTrigger = match serde_json::from_slice(payload) {
        Ok(t) => t,
        Err(e) => return Ok(Outcome::Ignored(format!("malformed trigger: {e}"))),
    };
    if trigger.kind != SYNC_KIND {
        return Ok(Outcome::Ignored(format!("unknown kind {:?}", trigger.kind)));
    }
    if check(&trigger.module, &trigger.version).is_err()
        || Version::parse(&trigger.version).is_none()
    {
        return Ok(Outcome::Ignored("invalid module or version".into()));
    }
    if let Some(at) = trigger.requested_at_ms {
        let wait = (at + SETTLE_MILLIS - ctx.now()).min(SETTLE_MILLIS);
        if wait > 0 {
            ctx.clock.sleep(wait);
        }
    }
    let key = lease_name(trigger.registry_id, &trigger.module, &trigger.version);
    if let Some(job) = sync_jobs::get(ctx.sql, SYNC_KIND, &key)? {
        if job.is_final_failure() {
            return Ok(Outcome::Ignored(format!("the job is {}", job.state)));
        }
    }
    let text = String::from_utf8_lossy(payload).into_owned();
    sync_jobs::start(ctx.sql, ctx.now(), SYNC_KIND, &key, &text)?;
    let outcome = sync(ctx, &trigger);
    match &outcome {
        Ok(_) => {
            sync_jobs::finish(ctx.sql, ctx.now(), SYNC_KIND, &key)?;
            // Reads through the public view now look in the store for it
            // (see `records`); without the mark they would ask the origin.
            let synced = go_synced_key(trigger.registry_id, &trigger.module, &trigger.version);
            if let Err(e) = ctx.kv.set(&synced, b"1") {
                eprintln!("vreg: {key} stored, not marked ({e}); reads go to the origin first");
            }
            // Stored: nothing will schedule it again, so its lease key
            // need not wait out its time in the store.
            if let Some(holder) = &trigger.lease {
                end_lease(ctx.kv, &key, holder)?;
            }
        }
        // What the upstream has can never be stored (a zip Go refuses):
        // no retry, and the lease stays taken for its time.
        Err(e @ CoreError::Validation(_)) => {
            sync_jobs::fail_permanently(ctx.sql, ctx.now(), SYNC_KIND, &key, &e.to_string())?
        }
        Err(e) => {
            sync_jobs::fail(ctx.sql, ctx.now(), SYNC_KIND, &key, &e.to_string())?;
            // Let a later request schedule it again straight away.
            if let Some(holder) = &trigger.lease {
                release_lease(ctx.kv, &key, holder)?;
            }
        }
    }
    // Whoever raced to schedule it counted long ago (the trigger waited
    // SETTLE_MILLIS, or is a resend): the count that settled it can go.
    if let (Some(_), Some(at)) = (&trigger.lease, trigger.requested_at_ms) {
        forget_creation(ctx.kv, &key, at)?;
    }
    retry_due(ctx, Seen::Unread);
    outcome
}

fn sync(ctx: &Context, t: &SyncTrigger) -> Result<Outcome> {
    let registry = registries::get(ctx.sql, PackageType::Golang, t.registry_id)?;
    let scope = Scope {
        registry: Some(registry.id),
        projects: &[],
    };
    if store::find_file(
        ctx.sql,
        &scope,
        &t.module,
        &t.version,
        &format!("{}.zip", t.version),
    )?
    .is_some()
    {
        return Ok(Outcome::AlreadyStored);
    }
    let (links, _) =
        upstreams::list_in_registry(ctx.sql, registry.id, upstreams::MAX_PER_REGISTRY, 0)?;
    let base = format!("{}/@v/{}", escape(&t.module), escape(&t.version));
    let mut failures = Vec::new();
    let blobs = BlobStore::new(ctx.kv, ctx.config.blob_chunk_bytes);
    for (_, upstream) in links.iter().filter(|(_, u)| u.mode == UpstreamMode::Remote) {
        let fetch = |ext: &str| -> std::result::Result<Option<FetchResponse>, String> {
            let request = upstreams::fetch_request(
                ctx.config,
                upstream,
                &format!("{base}{ext}"),
                http::Method::GET,
            )?;
            let response = ctx.fetch.fetch(&request).map_err(|e| e.to_string())?;
            match response.status {
                200 => Ok(Some(response)),
                404 | 410 => Ok(None),
                status => Err(format!("HTTP {status}")),
            }
        };
        let small = |ext: &str, limit: u64| -> std::result::Result<Option<Vec<u8>>, String> {
            match fetch(ext)? {
                Some(mut response) => read_to_end(response.body.as_mut(), limit as usize)
                    .map(Some)
                    .map_err(|e| e.to_string()),
                None => Ok(None),
            }
        };
        let info = match small(".info", 64 * 1024) {
            Ok(Some(info)) => info,
            Ok(None) => continue,
            Err(e) => {
                failures.push(format!("{}: {e}", upstream.name));
                continue;
            }
        };
        // The zip streams into the blob store; it is checked from there, a
        // chunk at a time, never held whole.
        let fetched = (|| -> std::result::Result<(Vec<u8>, Digests), String> {
            let go_mod = small(".mod", zipcheck::MAX_GO_MOD_BYTES)?.ok_or(".mod is missing")?;
            let mut zip = fetch(".zip")?.ok_or(".zip is missing")?;
            let digests = blobs
                .put_stream(
                    &ctx.write_records(),
                    zip.body.as_mut(),
                    None,
                    zipcheck::MAX_ZIP_BYTES,
                )
                .map_err(|e| e.to_string())?;
            Ok((go_mod, digests))
        })();
        let (go_mod, zip) = match fetched {
            Ok(files) => files,
            Err(e) => {
                failures.push(format!("{}: {e}", upstream.name));
                continue;
            }
        };
        return store_synced(ctx, registry.id, t, &info, &go_mod, zip);
    }
    Err(CoreError::Upstream(if failures.is_empty() {
        format!("no upstream has {}@{}", t.module, t.version)
    } else {
        format!("Upstream failure: {}", failures.join(", "))
    }))
}

fn store_synced(
    ctx: &Context,
    registry: i64,
    t: &SyncTrigger,
    info: &[u8],
    go_mod: &[u8],
    zip: Digests,
) -> Result<Outcome> {
    let stated = serde_json::from_slice::<serde_json::Value>(info)
        .ok()
        .and_then(|j| j["Version"].as_str().map(str::to_owned));
    if stated.as_deref() != Some(t.version.as_str()) {
        return Err(CoreError::validation(format!(
            "{}.info does not describe {}",
            t.version, t.version
        )));
    }
    let blobs = BlobStore::new(ctx.kv, ctx.config.blob_chunk_bytes);
    let checked = check_zip(&t.module, &t.version, &blobs.open(&zip.sha256)?)?;
    if let Some(inside) = &checked.go_mod {
        if inside.as_slice() != go_mod {
            return Err(CoreError::validation(
                "the zip's go.mod differs from the .mod file",
            ));
        }
    }
    let files = [
        NewFile {
            file_name: format!("{}.info", t.version),
            digests: blobs.put_bytes(&ctx.write_records(), info)?,
            h1: None,
        },
        NewFile {
            file_name: format!("{}.mod", t.version),
            digests: blobs.put_bytes(&ctx.write_records(), go_mod)?,
            h1: Some(go_mod_hash(go_mod)),
        },
        NewFile {
            file_name: format!("{}.zip", t.version),
            digests: zip,
            h1: Some(checked.h1),
        },
    ];
    if store::store_version(
        ctx.sql,
        ctx.now(),
        Owner::Registry(registry),
        &t.module,
        &t.version,
        &files,
    )? {
        Ok(Outcome::Stored)
    } else {
        Ok(Outcome::AlreadyStored)
    }
}
