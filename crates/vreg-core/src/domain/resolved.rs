//! Resolved reads: what an anonymous read of a public registry or
//! repository resolved to (a stored file, and what is needed to serve it),
//! kept in the key-value store so the next such read is served with no SQL
//! at all. Maven keeps the cache entry a registry's path resolved to and
//! the package file (or generated metadata) a project's or group's path
//! resolved to, Go the synced file a module version's file resolved to;
//! all go through here.
//!
//! A record is trusted only while the configuration generation it was made
//! under is current (every admin write and every upload moves it on), and
//! for at most [`MAX_AGE_MILLIS`], so even a change whose generation bump
//! failed is seen within that time. A file of up to [`INLINE_MAX_BYTES`]
//! (poms, checksums, `.info`, `.mod`: most of what a build asks for) is
//! kept in its record (one made on the fly, up to [`MADE_MAX_BYTES`]), so
//! such a read is one batch get (the record and the generation) and
//! nothing else; a larger one's record names its chunks
//! (up to [`RECORD_MAX_CHUNKS`]), so reading it skips the blob's manifest.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::context::Context;
use crate::crypto::{name_hash, sha256_hex};
use crate::error::Result;
use crate::storage::blobs::{BlobStore, Digests};
use crate::storage::{drain_queue, expiring, generation, json_list, schema, Kv, Sql, StoreError};

/// The longest a record is kept, whatever the file's freshness.
pub const MAX_AGE_MILLIS: i64 = 60 * 1000;
/// Stored files up to this size are kept in their record.
pub const INLINE_MAX_BYTES: u64 = 8 * 1024;
/// Files made on the fly (a Go module's version list, Maven metadata merged
/// or made from versions) up to this size are kept in their record: they
/// have no chunks to name, so a larger one is made anew on every read. A
/// module or artifact with a few thousand versions fits (a list entry is
/// ~10 bytes, a Maven `<version>` ~30), and so does every key-value
/// backend's value (DynamoDB's are at most 400 KB).
pub const MADE_MAX_BYTES: u64 = 64 * 1024;
/// A file of up to this many chunks has their keys kept in its record
/// (4 MiB at the default chunk size; past that the manifest's read is
/// lost in the file's).
pub const RECORD_MAX_CHUNKS: usize = 16;

/// Whom a record may answer: anonymous readers, or the holder of one
/// stored token (by the digest of its secret). What a token may read
/// changes only by writes that move the generation on (its revocation, the
/// visibility of what it reads); its expiry bounds its records' life.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Audience {
    Anonymous,
    Token(String),
}

impl Audience {
    /// How the audience is named in a slotted record's name.
    pub fn name(&self) -> &str {
        match self {
            Audience::Anonymous => "anonymous",
            Audience::Token(digest) => digest,
        }
    }
}

/// What a read's record is made for: the generation read before the read
/// resolved (for a token, before it was checked), whom the record may
/// answer, and until when at most (a token's expiry).
#[derive(Clone, Debug)]
pub struct RecordAs {
    pub generation: u64,
    pub audience: Audience,
    pub until: i64,
}

impl RecordAs {
    pub fn anonymous(generation: u64) -> RecordAs {
        RecordAs {
            generation,
            audience: Audience::Anonymous,
            until: i64::MAX,
        }
    }
}

/// Slot keys in the space of slotted records (see [`Place::slot`]).
pub const SLOTS: u64 = 16_384;

/// Where a record is kept, and the full name of what it is of (checked
/// on reading: keys are made with [`name_hash`], which anyone can make
/// collide).
pub struct Place {
    key: String,
    of: String,
}

impl Place {
    /// A key of its own, deleted with what it records (see
    /// `cache::forget_queued`, [`forget_queued_go_records`]); `of` is what
    /// the key was made from.
    pub fn key(key: String, of: &str) -> Place {
        Place {
            key,
            of: of.to_owned(),
        }
    }

    /// One of [`SLOTS`] keys of `space`, picked by hashing `name`, for
    /// records of what is not deleted one by one or may be named in many
    /// spellings: their keys stay bounded however many there are. A record
    /// of another name that hashes to the slot displaces it.
    pub fn slot(space: &str, name: &str) -> Place {
        let index = name_hash(name.as_bytes()) % SLOTS;
        Place {
            key: format!("{space}:{index}"),
            of: name.to_owned(),
        }
    }

    /// The key the record is stored at.
    pub fn stored_at(&self) -> &str {
        &self.key
    }
}

#[derive(Serialize, Deserialize)]
struct Record<T> {
    of: String,
    generation: u64,
    digests: Digests,
    meta: T,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    chunks: Vec<String>,
}

/// A resolved read: the file's digests, what the registry kept with them,
/// and the file itself when it is small.
pub struct Resolved<T> {
    pub digests: Digests,
    pub meta: T,
    pub bytes: Option<Vec<u8>>,
    /// The keys of its chunks, when kept (see [`Resolved::blobs`]).
    chunks: Vec<String>,
}

impl<T> Resolved<T> {
    /// The blob store to read the file from: one that knows its chunks
    /// when the record kept them.
    pub fn blobs<'a>(&self, ctx: &Context<'a>) -> BlobStore<'a> {
        BlobStore::for_reading(ctx.kv).knowing(
            &self.digests.sha256,
            self.digests.size,
            self.chunks.clone(),
        )
    }
}

/// The first record at `places` still to be trusted, if any (one batch
/// get, with the generation). Stored as `<expiry>\n<record JSON>\n<file
/// bytes, if kept>` (JSON text never holds a raw newline).
pub fn lookup<T: DeserializeOwned>(ctx: &Context, places: &[Place]) -> Result<Option<Resolved<T>>> {
    let mut keys: Vec<&str> = places.iter().map(|p| p.key.as_str()).collect();
    keys.push(generation::KEY);
    let mut stored = ctx.kv.get_many(&keys)?;
    if stored.len() != keys.len() {
        return Err(StoreError::Other("get_many answered a different count".into()).into());
    }
    let current = generation::from_stored(stored.pop().flatten().as_deref());
    Ok(places
        .iter()
        .zip(stored)
        .find_map(|(place, stored)| decode_of(ctx, stored.as_deref(), current, &place.of)))
}

/// The record `stored` at `place` (fetched by the caller, with the
/// generation, in a batch of its own), if it is still to be trusted under
/// `current`.
pub fn decode<T: DeserializeOwned>(
    ctx: &Context,
    place: &Place,
    stored: Option<&[u8]>,
    current: u64,
) -> Option<Resolved<T>> {
    decode_of(ctx, stored, current, &place.of)
}

fn decode_of<T: DeserializeOwned>(
    ctx: &Context,
    stored: Option<&[u8]>,
    current: u64,
    of: &str,
) -> Option<Resolved<T>> {
    let value = expiring::live(stored?, ctx.now())?;
    let (json, bytes) = match value.iter().position(|b| *b == b'\n') {
        Some(at) => (&value[..at], Some(&value[at + 1..])),
        None => (value, None),
    };
    let record = serde_json::from_slice::<Record<T>>(json).ok()?;
    let whole = bytes.is_none_or(|b| b.len() as u64 == record.digests.size);
    if record.of != of || record.generation != current || !whole {
        return None;
    }
    Some(Resolved {
        digests: record.digests,
        meta: record.meta,
        bytes: bytes.map(<[u8]>::to_vec),
        chunks: record.chunks,
    })
}

/// Keeps at `place` that a read resolved to the stored file `digests` (with
/// `meta`), under `generation` (read before resolving, so a change made
/// meanwhile makes the record stale at once), trusted until `fresh_until`.
pub fn remember<T: Serialize>(
    ctx: &Context,
    blobs: &BlobStore,
    place: &Place,
    generation: u64,
    (digests, meta): (&Digests, T),
    fresh_until: i64,
) -> Result<()> {
    let Some(ttl) = ttl(ctx, fresh_until) else {
        return Ok(());
    };
    let (chunks, bytes) = match digests.size <= INLINE_MAX_BYTES {
        true => (Vec::new(), Some(blobs.read_bytes(&digests.sha256)?)),
        false => {
            let chunks = (blobs.chunk_keys(&digests.sha256)?)
                .filter(|keys| keys.len() <= RECORD_MAX_CHUNKS)
                .unwrap_or_default();
            (chunks, None)
        }
    };
    let record = (generation, digests, meta, chunks);
    keep(ctx, place, record, bytes.as_deref(), ttl)
}

/// As [`remember`], for a file the caller holds whole: made on the fly
/// (not in the blob store), or a small answer fetched whole (the checksum
/// database's). Kept only when it is at most [`MADE_MAX_BYTES`].
pub fn remember_made<T: Serialize>(
    ctx: &Context,
    place: &Place,
    generation: u64,
    (digests, meta): (&Digests, T),
    bytes: &[u8],
    fresh_until: i64,
) -> Result<()> {
    let Some(ttl) = ttl(ctx, fresh_until) else {
        return Ok(());
    };
    if bytes.len() as u64 > MADE_MAX_BYTES {
        return Ok(());
    }
    let record = (generation, digests, meta, Vec::new());
    keep(ctx, place, record, Some(bytes), ttl)
}

/// Keeps at `place` that a read found nothing (`meta` saying so), under
/// `generation`, trusted until `fresh_until`: the record of an empty file.
pub fn remember_absence<T: Serialize>(
    ctx: &Context,
    place: &Place,
    generation: u64,
    meta: T,
    fresh_until: i64,
) -> Result<()> {
    let empty = crate::storage::blobs::digests_of(b"");
    remember_made(ctx, place, generation, (&empty, meta), b"", fresh_until)
}

/// One miss in this many is recorded (see [`record_this_miss`]).
pub const MISS_SAMPLE: u8 = 4;

/// Whether this miss (a 404 with nothing to tell a repeat ask from a
/// first one) is to be recorded: one in [`MISS_SAMPLE`], at random. A path
/// asked again and again (a repository declared before others, asked by
/// every build for what it lacks) is recorded within a few asks, while
/// made-up paths, asked once each, cost a write only now and then
/// (recording every miss cut their rate by a third to a half on devhost).
pub fn record_this_miss() -> bool {
    crate::crypto::one_in(MISS_SAMPLE)
}

/// How long a record trusted until `fresh_until` is kept, if at all.
fn ttl(ctx: &Context, fresh_until: i64) -> Option<i64> {
    Some(fresh_until.saturating_sub(ctx.now()).min(MAX_AGE_MILLIS)).filter(|ttl| *ttl > 0)
}

/// Stores the record of `digests` (with `meta` and the keys of its
/// `chunks`) at `place` under `generation`, with the file's `bytes` when
/// kept, for `ttl`.
fn keep<T: Serialize>(
    ctx: &Context,
    place: &Place,
    (generation, digests, meta, chunks): (u64, &Digests, T, Vec<String>),
    bytes: Option<&[u8]>,
    ttl: i64,
) -> Result<()> {
    let record = Record {
        of: place.of.clone(),
        generation,
        digests: digests.clone(),
        meta,
        chunks,
    };
    let mut stored = serde_json::to_vec(&record).unwrap_or_default();
    if let Some(bytes) = bytes {
        stored.push(b'\n');
        stored.extend_from_slice(bytes);
    }
    expiring::set(ctx.kv, &place.key, &stored, ctx.now(), ttl)
}

/// The key of a record or mark of `name`, one of `registry_id`'s in
/// `space`: the name hashed (a module path or Maven path may be longer
/// than a key may be), so what is kept there carries the name or is only
/// a hint.
pub fn hashed_key(space: &str, registry_id: i64, name: &str) -> String {
    format!("{space}:{registry_id}:{:016x}", name_hash(name.as_bytes()))
}

/// [`hashed_key`] as it was spelled before [`name_hash`] (SHA-256 in hex):
/// a store written by an earlier version may hold some, deleted with what
/// they record.
pub fn legacy_hashed_key(space: &str, registry_id: i64, name: &str) -> String {
    format!("{space}:{registry_id}:{}", sha256_hex(name.as_bytes()))
}

const GO_FILES: &str = "go:resolved";
const GO_SYNCED: &str = "go:synced";

/// The name a Go record or mark is of: a module and one of its files
/// (`v1.0.0.zip`) or versions (`v1.0.0`). One spelling, for the keys and
/// for their deletion.
fn go_name(module: &str, file_or_version: &str) -> String {
    format!("{module}@{file_or_version}")
}

/// Where the record of an anonymous read of a Go registry's module
/// version file is kept.
pub fn go_file_place(registry_id: i64, module: &str, file_name: &str) -> Place {
    let file = go_name(module, file_name);
    Place::key(hashed_key(GO_FILES, registry_id, &file), &file)
}

/// The mark a Go registry's sync leaves once it has stored a module
/// version (`golang::sync`). A hint for anonymous reads through the public
/// view (`golang::records`): a version without one is asked of the origin
/// with no SQL at all, and the store only if the origin fails; a mark with
/// nothing behind it costs the usual query.
pub fn go_synced_key(registry_id: i64, module: &str, version: &str) -> String {
    hashed_key(GO_SYNCED, registry_id, &go_name(module, version))
}

/// Where a Go registry's public view is kept (`golang::public_view`). The
/// schema version is part of it: a read through the view skips the schema
/// check, which is sound only for a view made on the schema this code
/// expects.
pub fn go_public_view_key(registry_id: i64) -> String {
    format!("go:public-view:{}:{registry_id}", schema::latest_version())
}

/// Queues, for the sweep, the records reads through the Go registry being
/// deleted may have left: its public view, and one per file it could
/// serve (what was synced into it, and the files of `projects`, its local
/// upstreams' projects). Nothing else would ever delete them.
pub fn queue_go_registry_records(sql: &dyn Sql, registry_id: i64, projects: &[i64]) -> Result<()> {
    // The row with no file stands for the view.
    sql.execute(
        "INSERT INTO forgotten_go_records (registry_id, module, file_name) VALUES (?, '', '')",
        &[registry_id.into()],
    )?;
    queue_go_file_records(sql, registry_id, Some(registry_id), projects)
}

/// Queues, for the sweep, the records reads through the Go registry may
/// have left of the files of `projects` (a local upstream's, unlinked or
/// pointed elsewhere).
pub fn queue_go_project_records(sql: &dyn Sql, registry_id: i64, projects: &[i64]) -> Result<()> {
    queue_go_file_records(sql, registry_id, None, projects)
}

/// Queues the records of the Go files synced into `synced_into` and of
/// those of `projects`, as reads through `registry_id` kept them.
fn queue_go_file_records(
    sql: &dyn Sql,
    registry_id: i64,
    synced_into: Option<i64>,
    projects: &[i64],
) -> Result<()> {
    sql.execute(
        "INSERT INTO forgotten_go_records (registry_id, module, file_name)
         SELECT ?, p.name, f.file_name FROM packages p JOIN package_files f ON f.package_id = p.id
         WHERE p.package_type = 'golang'
           AND (p.registry_id = ? OR p.project_id IN (SELECT value FROM json_each(?)))",
        &[registry_id.into(), synced_into.into(), json_list(projects)],
    )?;
    Ok(())
}

/// Deletes up to `budget` queued records (see [`queue_go_registry_records`]),
/// and with a zip's record its version's synced mark. Returns how many it
/// deleted.
pub fn forget_queued_go_records(sql: &dyn Sql, kv: &dyn Kv, budget: i64) -> Result<i64> {
    let columns = "registry_id, module, file_name";
    drain_queue(sql, "forgotten_go_records", columns, budget, |row| {
        let (registry, module, file) = (row.i64()?, row.text()?, row.text()?);
        if module.is_empty() {
            kv.delete(&go_public_view_key(registry))?;
            return Ok(());
        }
        let mut names = vec![(GO_FILES, go_name(&module, &file))];
        // (A project's version of a module the registry also synced loses
        // its mark too, on an unlink: a hint, made again by the next sync.)
        if let Some(version) = file.strip_suffix(".zip") {
            names.push((GO_SYNCED, go_name(&module, version)));
        }
        for (space, name) in names {
            kv.delete(&hashed_key(space, registry, &name))?;
            kv.delete(&legacy_hashed_key(space, registry, &name))?;
        }
        Ok(())
    })
}
