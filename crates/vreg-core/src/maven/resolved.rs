//! Maven's resolved reads (see [`crate::domain::resolved`]): what a read
//! of a registry, project or group resolved to — a registry's cache entry,
//! a package file, or metadata made from the versions present — kept so
//! that the next read of the path, or of a checksum of it, by the same
//! audience (anonymous readers of a public one, or one token's holder) is
//! answered with no SQL.

use serde::{Deserialize, Serialize};

use super::merged::Merged;
use super::path::MavenPath;
use super::respond::{send_bytes, send_digest, send_file, send_metadata};
use super::LocalHit;
use crate::context::Context;
use crate::domain::cache::{resolved_key, CacheEntry};
use crate::domain::downloads::record_download;
use crate::domain::resolved::{self, Audience, Place, RecordAs, Resolved};
use crate::error::{CoreError, Result};
use crate::http::body::ResponseSink;
use crate::storage::blobs::{BlobStore, Digests};

/// What a read went through, as its URL named it (a project or group by
/// id or by full path: each spelling has records of its own).
#[derive(Clone, Copy)]
pub enum Repository<'r> {
    Registry(i64),
    Project(&'r str),
    Group(&'r str),
}

/// What a read's record is made for (see [`RecordAs`]), and the repository
/// it read, as its URL named it.
pub struct RecordIn<'r> {
    pub repository: Repository<'r>,
    pub record: RecordAs,
}

/// Where the record of a read of `repository` at `path` is kept when it
/// resolved to a registry's cache entry: for anonymous readers, a key of
/// its own, deleted with the entry; for a token, as a hit's.
fn entry_place(repository: Repository, audience: &Audience, path: &str) -> Place {
    match (repository, audience) {
        (Repository::Registry(id), Audience::Anonymous) => Place::key(resolved_key(id, path), path),
        _ => hit_place(repository, audience, path),
    }
}

/// ...and when it resolved to a local package file or metadata (made from
/// a project's versions, or merged from a registry's upstreams): a slot
/// (see [`Place::slot`]), since package files are not deleted one by one
/// (nor unlinked from a registry one by one), a project or group may be
/// named in many spellings, and tokens come and go.
fn hit_place(repository: Repository, audience: &Audience, path: &str) -> Place {
    let (kind, reference) = match repository {
        Repository::Registry(id) => ("registry", id.to_string()),
        Repository::Project(reference) => ("project", reference.to_owned()),
        Repository::Group(reference) => ("group", reference.to_owned()),
    };
    // The length keeps `a/b` + `c` apart from `a` + `b/c`.
    let audience = audience.name();
    let name = format!("{audience}:{kind}:{}:{reference}/{path}", reference.len());
    Place::slot("maven:local", &name)
}

/// Where a read's record may be.
fn places(repository: Repository, audience: &Audience, path: &str) -> Vec<Place> {
    let entry = entry_place(repository, audience, path);
    let hit = hit_place(repository, audience, path);
    match entry.stored_at() == hit.stored_at() {
        true => vec![hit],
        false => vec![entry, hit],
    }
}

/// What a record keeps besides the file's digests.
#[derive(Serialize, Deserialize)]
enum Kept {
    /// A registry's cache entry.
    Cached {
        upstream_id: i64,
        content_type: String,
        upstream_etag: Option<String>,
        upstream_checked_at: i64,
        created_at: i64,
        downloaded_at: Option<i64>,
    },
    /// A package file, uploaded at `created_at` (its `Last-Modified`).
    File { created_at: i64 },
    /// Metadata made here (from the versions present, or merged from the
    /// upstreams' documents), kept whole.
    Made,
    /// Found nowhere: a project or group does not have it, or a registry's
    /// local upstreams do not and every remote's 404 is remembered.
    Absent,
}

/// What a read resolved to, found through its record.
enum Found<'a> {
    Cached {
        entry: CacheEntry,
        content: Content<'a>,
    },
    File {
        digests: Digests,
        created_at: i64,
        content: Content<'a>,
    },
    Made {
        digests: Digests,
        bytes: Vec<u8>,
    },
    Absent,
}

/// Where a found file's bytes are.
enum Content<'a> {
    /// In the record: the file is small.
    Kept(Vec<u8>),
    /// In the blob store.
    Stored(BlobStore<'a>),
}

impl Found<'_> {
    fn digests(&self) -> Option<&Digests> {
        match self {
            Found::Cached { entry, .. } => Some(&entry.digests),
            Found::File { digests, .. } | Found::Made { digests, .. } => Some(digests),
            Found::Absent => None,
        }
    }
}

/// What a read of `repository` at `path` by `audience` resolved to, if
/// that still holds.
fn lookup<'a>(
    ctx: &Context<'a>,
    (repository, audience): (Repository, &Audience),
    path: &str,
) -> Result<Option<Found<'a>>> {
    let places = places(repository, audience, path);
    let Some(mut found) = resolved::lookup::<Kept>(ctx, &places)? else {
        return Ok(None);
    };
    let content = match found.bytes.take() {
        Some(bytes) => Content::Kept(bytes),
        None => Content::Stored(found.blobs(ctx)),
    };
    let Resolved { digests, meta, .. } = found;
    Ok(match (meta, content) {
        (
            Kept::Cached {
                upstream_id,
                content_type,
                upstream_etag,
                upstream_checked_at,
                created_at,
                downloaded_at,
            },
            content,
        ) => Some(Found::Cached {
            entry: CacheEntry {
                upstream_id,
                relative_path: path.to_owned(),
                content_type,
                digests,
                upstream_etag,
                upstream_checked_at,
                created_at,
                downloaded_at,
            },
            content,
        }),
        (Kept::File { created_at }, content) => Some(Found::File {
            digests,
            created_at,
            content,
        }),
        (Kept::Made, Content::Kept(bytes)) => Some(Found::Made { digests, bytes }),
        // (Never made: metadata is kept only whole.)
        (Kept::Made, Content::Stored(_)) => None,
        (Kept::Absent, _) => Some(Found::Absent),
    })
}

/// Answers a read of `repository` at `path` (or at a checksum of it) by
/// `audience` through the record of an earlier one: no SQL. `None` when
/// there is no record to trust, and the read goes the full way.
pub fn serve(
    ctx: &Context,
    (repository, audience): (Repository, &Audience),
    path: &str,
    head: bool,
    sink: &mut dyn ResponseSink,
) -> Result<Option<()>> {
    let Ok(path) = MavenPath::parse(path) else {
        return Ok(None);
    };
    let (base, checksum) = path.base_and_checksum();
    let Some(found) = lookup(ctx, (repository, audience), &base.as_string())? else {
        return Ok(None);
    };
    if let Some(checksum) = checksum {
        // A file found nowhere: a registry's checksum goes the full way
        // (which asks the upstreams for the checksum itself: one may
        // publish it without the file); a project's or group's is answered
        // from the file, so it has none either.
        let Some(digests) = found.digests() else {
            return match repository {
                Repository::Registry(_) => Ok(None),
                _ => Err(CoreError::NotFound("File")),
            };
        };
        send_digest(sink, checksum, digests, head)?;
        return Ok(Some(()));
    }
    let name = path.file_name();
    match found {
        Found::Cached { mut entry, content } => {
            let file = (name, &entry.digests, entry.created_at);
            send_content(sink, file, content, head)?;
            if record_download(ctx, &mut entry)? {
                // The record holds the entry's download time. (Clearing
                // the slot may drop another record: it is a cache.)
                for place in places(repository, audience, &entry.relative_path) {
                    ctx.kv.delete(place.stored_at())?;
                }
            }
        }
        Found::File {
            digests,
            created_at,
            content,
        } => send_content(sink, (name, &digests, created_at), content, head)?,
        Found::Made { bytes, .. } => send_metadata(sink, &bytes, head)?,
        // The full way's answer, as it would give it.
        Found::Absent => return Err(CoreError::NotFound("File")),
    }
    Ok(Some(()))
}

/// Sends a found file (its name, digests and modification time) from the
/// record or the blob store, wherever its bytes are.
fn send_content(
    sink: &mut dyn ResponseSink,
    (name, digests, modified): (&str, &Digests, i64),
    content: Content,
    head: bool,
) -> Result<()> {
    match content {
        Content::Kept(bytes) => send_bytes(sink, name, digests, modified, &bytes, head),
        Content::Stored(blobs) => send_file(&blobs, sink, name, digests, modified, head),
    }
}

/// Remembers that a read of a registry (as `record` says) resolved to its
/// cache entry `entry`, fresh until `fresh_until`.
pub fn remember_entry(
    ctx: &Context,
    blobs: &BlobStore,
    RecordIn { repository, record }: &RecordIn,
    entry: &CacheEntry,
    fresh_until: i64,
) -> Result<()> {
    let kept = Kept::Cached {
        upstream_id: entry.upstream_id,
        content_type: entry.content_type.clone(),
        upstream_etag: entry.upstream_etag.clone(),
        upstream_checked_at: entry.upstream_checked_at,
        created_at: entry.created_at,
        downloaded_at: entry.downloaded_at,
    };
    let place = entry_place(*repository, &record.audience, &entry.relative_path);
    let fresh_until = fresh_until.min(record.until);
    let kept = (&entry.digests, kept);
    resolved::remember(ctx, blobs, &place, record.generation, kept, fresh_until)
}

/// Remembers that a read of a registry (as `record` says) at `path` was
/// answered with the upstreams' metadata merged, for as long as every
/// upstream's part of it holds.
pub(super) fn remember_merged(
    ctx: &Context,
    RecordIn { repository, record }: &RecordIn,
    path: &str,
    merged: &Merged,
    digests: &Digests,
) -> Result<()> {
    let place = hit_place(*repository, &record.audience, path);
    let fresh_until = merged.holds_until.min(record.until);
    let kept = (digests, Kept::Made);
    resolved::remember_made(
        ctx,
        &place,
        record.generation,
        kept,
        &merged.bytes,
        fresh_until,
    )
}

/// Remembers that a read (as `record` says) at `path` found it nowhere,
/// for as long as that holds (`until`: for a registry, while every remote's
/// 404 is remembered). Kept in a slot, as a hit's record: any path may be
/// asked for, so such records must not add keys. A record that cannot be
/// written leaves the 404 a 404 (the failure is logged).
pub(super) fn remember_absent(
    ctx: &Context,
    RecordIn { repository, record }: &RecordIn,
    path: &str,
    until: i64,
) {
    let place = hit_place(*repository, &record.audience, path);
    let until = until.min(record.until);
    let kept = Kept::Absent;
    if let Err(e) = resolved::remember_absence(ctx, &place, record.generation, kept, until) {
        eprintln!("vreg: the 404 of {path} not recorded: {e}");
    }
}

/// Remembers that a read (as `record` says) at `path` resolved to the
/// local package file or metadata `hit`.
pub fn remember_hit(
    ctx: &Context,
    blobs: &BlobStore,
    RecordIn { repository, record }: &RecordIn,
    path: &str,
    hit: &LocalHit,
) -> Result<()> {
    let place = hit_place(*repository, &record.audience, path);
    // Packages change only by uploads and admin writes, which move the
    // generation on: a record lasts as long as records may.
    let (generation, until) = (record.generation, record.until);
    match hit {
        LocalHit::File(file) => {
            let kept = Kept::File {
                created_at: file.created_at,
            };
            resolved::remember(ctx, blobs, &place, generation, (&file.digests, kept), until)
        }
        LocalHit::Generated(bytes) => {
            let digests = hit.digests();
            let kept = (&digests, Kept::Made);
            resolved::remember_made(ctx, &place, generation, kept, bytes, until)
        }
    }
}
