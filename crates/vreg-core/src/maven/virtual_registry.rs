//! `GET|HEAD /api/v4/virtual_registries/packages/maven/:id/*path`: resolve a
//! file through the registry's upstreams in position order, as GitLab does.
//!
//! 1. A cached copy wins (the lowest position first), unless a local
//!    upstream at a better position has the file: a fresh copy is served as
//!    is, a stale one is revalidated (HEAD, by ETag) or refetched.
//! 2. Otherwise upstreams are asked in order: a local upstream answers from
//!    its project's or group's packages; a remote one is fetched with its
//!    credentials, the body streaming to the client while it is stored, and
//!    the cache entry committed once the blob is complete. 404s from remote
//!    upstreams are remembered for a while (negative cache).
//! 3. If remote upstreams fail, a stale copy is served; failing that, 502
//!    names the failing upstreams; nothing anywhere is a 404.

use super::merged::merged_metadata;
use super::path::{Checksum, Coordinates, MavenPath};
use super::remote::{
    fetch_first, fetch_remote, remembered_missing, revalidate, Candidate, Fetched,
};
use super::resolved::{self, RecordIn};
use super::respond::{send_digest, send_file, send_metadata};
use super::{find_local, LocalHit};
use crate::context::Context;
use crate::domain::auth::{only_readable, Principal};
use crate::domain::cache::{cache_entries, mark_checked, CacheEntry};
use crate::domain::downloads::record_download;
use crate::domain::model::{PackageType, UpstreamMode};
use crate::domain::protection::remotes_may_serve;
use crate::domain::registries::{self, Registry};
use crate::domain::resolved::Audience;
use crate::domain::upstreams::{self, health, Upstream};
use crate::error::{CoreError, Result};
use crate::http::body::{DiscardedResponse, ResponseSink};
use crate::storage::blobs::{digests_of, BlobStore, Digests};
use crate::storage::Sql;

const HOUR_MILLIS: i64 = 3600 * 1000;
/// How many remote upstreams are probed at once.
const PARALLEL_FETCHES: usize = 4;

/// Until when the entry may be served without asking its upstream:
/// `upstream_checked_at` plus the upstream's validity (0: never stale).
pub(super) fn fresh_until(upstream: &Upstream, entry: &CacheEntry, metadata: bool) -> i64 {
    let hours = if metadata {
        upstream.metadata_cache_validity_hours
    } else {
        upstream.cache_validity_hours
    };
    if hours == 0 {
        return i64::MAX;
    }
    entry
        .upstream_checked_at
        .saturating_add(hours.saturating_mul(HOUR_MILLIS))
}

/// The projects a local upstream serves to this caller: those of its
/// target that the caller may read (a public registry does not make a
/// private project's packages public).
pub(super) fn local_targets(
    sql: &dyn Sql,
    who: Option<&Principal>,
    upstream: &Upstream,
) -> Result<Vec<i64>> {
    only_readable(sql, who, upstreams::target_projects(sql, upstream)?)
}

/// The registry's upstreams for `path`: only the local ones when the path
/// is protected (see [`crate::domain::protection`]) or its coordinate is
/// filtered out for remotes (see [`crate::domain::filters`]), so remotes
/// are not asked and copies they served before are not served.
fn unprotected_links(
    sql: &dyn Sql,
    registry: &Registry,
    mut links: Vec<Upstream>,
    path: &MavenPath,
) -> Result<Vec<Upstream>> {
    let is_local = |u: &Upstream| u.mode == UpstreamMode::Local;
    if links.iter().all(is_local) {
        return Ok(links);
    }
    let coordinate = match path.coordinates() {
        Some(Coordinates::File(file)) => Some(format!("{}:{}", file.group_id, file.artifact_id)),
        Some(Coordinates::ArtifactMetadata {
            group_id,
            artifact_id,
        }) => Some(format!("{group_id}:{artifact_id}")),
        None => None,
    };
    let local_projects = || {
        let mut projects = Vec::new();
        for upstream in links.iter().filter(|u| is_local(u)) {
            projects.extend(upstreams::target_projects(sql, upstream)?);
        }
        Ok(projects)
    };
    if !remotes_may_serve(
        sql,
        registry,
        coordinate.as_deref(),
        path.segments(),
        local_projects,
    )? {
        links.retain(is_local);
    }
    Ok(links)
}

/// What a registry already has of the file a checksum asks about: its
/// cached copy (with the upstream it came from), or a local upstream's.
enum Known<'a> {
    Cached(&'a Upstream, CacheEntry),
    Local(LocalHit),
}

impl Known<'_> {
    fn digests(&self) -> Digests {
        match self {
            Known::Cached(_, entry) => entry.digests.clone(),
            Known::Local(hit) => hit.digests(),
        }
    }
}

/// The file a checksum asks about, when the registry has it.
fn known_file<'a>(
    ctx: &Context,
    who: Option<&Principal>,
    links: &'a [Upstream],
    path: &MavenPath,
) -> Result<Option<Known<'a>>> {
    let ids: Vec<i64> = links.iter().map(|u| u.id).collect();
    let mut entries = cache_entries(ctx.sql, &ids, &path.as_string())?;
    for upstream in links {
        if let Some(at) = entries.iter().position(|e| e.upstream_id == upstream.id) {
            return Ok(Some(Known::Cached(upstream, entries.swap_remove(at))));
        }
        if upstream.mode == UpstreamMode::Local {
            if let Some(hit) = find_local(ctx.sql, &local_targets(ctx.sql, who, upstream)?, path)? {
                return Ok(Some(Known::Local(hit)));
            }
        }
    }
    Ok(None)
}

/// Answers a checksum from the digests of its file (`base`), and leaves a
/// record of the file as a read of it would, so that the next checksum
/// (or the file) takes no SQL.
fn send_known_digest(
    ctx: &Context,
    (base, checksum, head): (&MavenPath, Checksum, bool),
    known: &Known,
    record: Option<&RecordIn>,
    sink: &mut dyn ResponseSink,
) -> Result<()> {
    send_digest(sink, checksum, &known.digests(), head)?;
    let Some(record) = record else {
        return Ok(());
    };
    // (The record reads the file: no chunk size, so no setting, is needed.)
    let blobs = BlobStore::for_reading(ctx.kv);
    match known {
        Known::Cached(upstream, entry) => {
            // (A stale copy is not recorded: its file's read revalidates.)
            let fresh_until = fresh_until(upstream, entry, base.is_metadata());
            resolved::remember_entry(ctx, &blobs, record, entry, fresh_until)
        }
        Known::Local(hit) => resolved::remember_hit(ctx, &blobs, record, &base.as_string(), hit),
    }
}

/// A read of `path` through the registry `registry_id`, leaving a record
/// of what it resolved to as `record` says (see `resolved`).
pub fn serve(
    ctx: &Context,
    who: Option<&Principal>,
    registry_id: i64,
    (path, head, record): (&MavenPath, bool, Option<&RecordIn>),
    sink: &mut dyn ResponseSink,
) -> Result<()> {
    let registry = registries::get(ctx.sql, PackageType::Maven, registry_id)?;
    let public = crate::domain::auth::authorize_registry_read(ctx.sql, who, registry.group_id)?;
    // (Only a public registry is read anonymously.)
    let record = record.filter(|r| public || r.record.audience != Audience::Anonymous);
    let (linked, _) =
        upstreams::list_in_registry(ctx.sql, registry.id, upstreams::MAX_PER_REGISTRY, 0)?;
    let links: Vec<Upstream> = linked.into_iter().map(|(_, u)| u).collect();
    let links = unprotected_links(ctx.sql, &registry, links, path)?;
    // A checksum is answered for its file (`base`). Artifact-level
    // metadata (or its checksum), when more than one upstream could have
    // it, is merged (see `merged`).
    let (base, checksum) = path.base_and_checksum();
    if let (
        true,
        Some(Coordinates::ArtifactMetadata {
            group_id,
            artifact_id,
        }),
    ) = (links.len() > 1, base.coordinates())
    {
        let merged = merged_metadata(ctx, who, &links, &base, &group_id, &artifact_id)?
            .ok_or(CoreError::NotFound("File"))?;
        let digests = digests_of(&merged.bytes);
        match checksum {
            Some(checksum) => send_digest(sink, checksum, &digests, head)?,
            None => send_metadata(sink, &merged.bytes, head)?,
        }
        // The next read of it, or of a checksum of it, is answered from
        // its record for as long as every upstream's part holds.
        if let Some(record) = record {
            resolved::remember_merged(ctx, record, &base.as_string(), &merged, &digests)?;
        }
        return Ok(());
    }
    if let Some(checksum) = checksum {
        let answer = (&base, checksum, head);
        if let Some(known) = known_file(ctx, who, &links, &base)? {
            return send_known_digest(ctx, answer, &known, record, sink);
        }
        // Checksum first (a client that verifies before it downloads, or
        // a `.sha256` no upstream publishes): the file itself is fetched,
        // and cached on the way, so that the checksum is of the very bytes
        // served later.
        let mut fetched = DiscardedResponse::default();
        let read = (&base, false, None);
        if serve(ctx, who, registry_id, read, &mut fetched).is_ok() && fetched.status == 200 {
            if let Some(known) = known_file(ctx, who, &links, &base)? {
                return send_known_digest(ctx, answer, &known, record, sink);
            }
        }
    }
    let relative = path.as_string();
    let now = ctx.now();
    let blobs = BlobStore::new(ctx.kv, ctx.config.blob_chunk_bytes);
    let ids: Vec<i64> = links.iter().map(|u| u.id).collect();
    let entries = cache_entries(ctx.sql, &ids, &relative)?;
    let cached = links.iter().find_map(|u| {
        entries
            .iter()
            .find(|e| e.upstream_id == u.id)
            .map(|e| (u, e))
    });

    // A local upstream at a better position than the cached copy's always
    // wins, cached or not: an internal coordinate first fetched from a
    // public remote must not shadow the one published here.
    let cached_at = cached.map_or(links.len(), |(u, _)| {
        links
            .iter()
            .position(|l| l.id == u.id)
            .unwrap_or(links.len())
    });
    for upstream in links[..cached_at]
        .iter()
        .filter(|u| u.mode == UpstreamMode::Local)
    {
        let targets = local_targets(ctx.sql, who, upstream)?;
        if let Some(hit) = find_local(ctx.sql, &targets, path)? {
            return send_local(ctx, &blobs, sink, (path, head), &hit, record);
        }
    }

    if let Some((upstream, entry)) = cached {
        let fresh_until = fresh_until(upstream, entry, path.is_metadata());
        if now < fresh_until {
            serve_entry(&blobs, sink, path, entry, head)?;
            // Counted once the client has the file: off its latency.
            let mut entry = entry.clone();
            if sink.reaches_client() {
                record_download(ctx, &mut entry)?;
            }
            if let Some(record) = record {
                resolved::remember_entry(ctx, &blobs, record, &entry, fresh_until)?;
            }
            return Ok(());
        }
        // Stale: ask the upstream whether it changed (unless it is set
        // aside: then the stale copy is served at once).
        if health::may_ask(ctx.kv, upstream.id, now).is_err() {
            return serve_entry(&blobs, sink, path, entry, head);
        }
        match revalidate(ctx, upstream, path, entry) {
            Ok(true) => {
                mark_checked(ctx.sql, entry, now)?;
                serve_entry(&blobs, sink, path, entry, head)?;
                if sink.reaches_client() {
                    record_download(ctx, &mut entry.clone())?;
                }
                return Ok(());
            }
            Ok(false) => match fetch_remote(ctx, &blobs, upstream, path, head, sink) {
                Ok(Fetched::Served) => return Ok(()),
                Ok(Fetched::Missing) | Err(_) => {}
            },
            // Upstream down: the stale copy is better than nothing.
            Err(_) => return serve_entry(&blobs, sink, path, entry, head),
        }
    }

    // Ask upstreams in position order: a local one answers at once; runs of
    // remote ones are probed together, a few at a time, and the lowest
    // position that has the file wins (see `remote::fetch_first`).
    let mut failures = Vec::new();
    // Whether a remote was asked, and until when the 404s of those that
    // were not (each remembered) hold.
    let (mut asked, mut remembered_until) = (false, None::<i64>);
    let mut index = 0;
    while index < links.len() {
        let upstream = &links[index];
        if upstream.mode == UpstreamMode::Local {
            index += 1;
            let targets = local_targets(ctx.sql, who, upstream)?;
            match find_local(ctx.sql, &targets, path)? {
                Some(hit) => return send_local(ctx, &blobs, sink, (path, head), &hit, record),
                None => continue,
            }
        }
        let mut batch: Vec<Candidate> = Vec::new();
        while index < links.len()
            && links[index].mode == UpstreamMode::Remote
            && batch.len() < PARALLEL_FETCHES
        {
            let candidate = &links[index];
            index += 1;
            if let Some(until) = remembered_missing(ctx, candidate, &relative)? {
                remembered_until = Some(remembered_until.map_or(until, |u| u.min(until)));
                continue;
            }
            match health::may_ask(ctx.kv, candidate.id, now) {
                Ok(health) => batch.push(Candidate {
                    upstream: candidate,
                    health,
                }),
                Err(health) => failures.push(format!(
                    "{} ({})",
                    candidate.name,
                    health::set_aside(&health)
                )),
            }
        }
        asked |= !batch.is_empty();
        if fetch_first(ctx, &blobs, &batch, path, head, sink, &mut failures)? {
            return Ok(());
        }
    }
    if let Some((_, entry)) = cached {
        return serve_entry(&blobs, sink, path, entry, head);
    }
    if !failures.is_empty() {
        return Err(CoreError::Upstream(format!(
            "Upstream failure: {}",
            failures.join(", ")
        )));
    }
    // A 404 every remote gave before (each remembered, none asked now) is
    // recorded for the next read by the same audience, for as long as all
    // are remembered: a path asked again and again costs no SQL, and one
    // asked once (made up) no write. A local upstream's files change only
    // with an upload, which moves the generation on.
    if let (Some(record), None, false, Some(until)) = (record, checksum, asked, remembered_until) {
        resolved::remember_absent(ctx, record, &relative, until);
    }
    Err(CoreError::NotFound("File"))
}

/// Sends what a local upstream has, and leaves a record of it as `record`
/// says.
fn send_local(
    ctx: &Context,
    blobs: &BlobStore,
    sink: &mut dyn ResponseSink,
    (path, head): (&MavenPath, bool),
    hit: &LocalHit,
    record: Option<&RecordIn>,
) -> Result<()> {
    hit.send(blobs, sink, path, head)?;
    if let Some(record) = record {
        resolved::remember_hit(ctx, blobs, record, &path.as_string(), hit)?;
    }
    Ok(())
}

fn serve_entry(
    blobs: &BlobStore,
    sink: &mut dyn ResponseSink,
    path: &MavenPath,
    entry: &CacheEntry,
    head: bool,
) -> Result<()> {
    send_file(
        blobs,
        sink,
        path.file_name(),
        &entry.digests,
        entry.created_at,
        head,
    )
}
