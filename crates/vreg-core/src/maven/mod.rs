//! The Maven side (`maven-registry` component): project and group Maven
//! repositories (what `mvn deploy` publishes to), and virtual registries that
//! resolve files through ordered remote and local upstreams with a cache.

mod merged;
pub mod metadata;
pub mod packages;
pub mod path;
mod remote;
mod resolved;
mod respond;
pub mod version;
mod virtual_registry;

use http::{Method, StatusCode};

use crate::context::Context;
use crate::domain::auth::{
    audience, authenticate, authorize_project_read, authorize_project_write, readable_projects,
    record_as,
};
use crate::domain::groups;
use crate::domain::model::Visibility;
use crate::domain::projects::{self, Project};
use crate::error::{CoreError, Result};
use crate::http::body::{read_request_body, refusing_past_limit, BodyReader, ResponseSink};
use crate::http::error_response;
use crate::storage::blobs::BlobStore;
use crate::storage::generation;
use crate::storage::schema::ensure_schema;
use crate::storage::Sql;
use path::{Checksum, Coordinates, MavenPath};
use resolved::{RecordIn, Repository};
use respond::{send_digest, send_file, send_metadata, send_text};

/// The largest checksum file accepted.
const MAX_CHECKSUM_BYTES: usize = 1024;

/// Handles one Maven request. Errors become JSON responses; nothing panics.
pub fn handle(
    ctx: &Context,
    request: &http::request::Parts,
    body: &mut dyn BodyReader,
    sink: &mut dyn ResponseSink,
) {
    if let Err(e) = route(ctx, request, body, sink) {
        let _ = sink.send(error_response(&e));
    }
    // Once the client has its answer.
    crate::domain::cleanup::sweep_now_and_then(ctx);
}

fn route(
    ctx: &Context,
    request: &http::request::Parts,
    body: &mut dyn BodyReader,
    sink: &mut dyn ResponseSink,
) -> Result<()> {
    let raw = request.uri.path();
    let rest = raw
        .strip_prefix("/api/v4/")
        .ok_or(CoreError::NotFound(""))?;
    let parts: Vec<&str> = rest.splitn(6, '/').collect();
    let head = request.method == Method::HEAD;
    let read = request.method == Method::GET || head;
    let audience = read.then(|| audience(&request.headers)).flatten();
    if let (Some(audience), Some((repository, path))) = (&audience, repository_of(&parts)) {
        let path = path.join("/");
        if let Some(served) = resolved::serve(ctx, (repository, audience), &path, head, sink)? {
            return Ok(served);
        }
    }
    ensure_schema(ctx.sql, ctx.now())?;
    // A read leaves a record for the next by the same audience (see
    // `resolved`), under the generation read before anything it resolves
    // through, the caller's token included.
    let generation = match audience {
        Some(_) => Some(generation::current(ctx.kv)?),
        None => None,
    };
    let who = authenticate(ctx, &request.headers)?;
    let record = record_as(generation, audience.as_ref(), who.as_ref());
    let record_in = |repository| record.map(|record| RecordIn { repository, record });
    match parts.as_slice() {
        ["projects", id, "packages", "maven", path @ ..] if !path.is_empty() => {
            let path = MavenPath::parse(&path.join("/"))?;
            let record = record_in(Repository::Project(id));
            let project =
                projects::find_by_reference(ctx.sql, id)?.ok_or(CoreError::NotFound("Project"))?;
            if request.method == Method::PUT {
                authorize_project_write(ctx.sql, who.as_ref(), &project)?;
                upload(ctx, &project, &path, body, sink)
            } else if read {
                authorize_project_read(ctx.sql, who.as_ref(), &project)?;
                serve_local(ctx, &[project.id], &path, head, record, sink)
            } else {
                Err(CoreError::MethodNotAllowed)
            }
        }
        ["groups", id, "-", "packages", "maven", path @ ..] if !path.is_empty() => {
            if !read {
                return Err(CoreError::MethodNotAllowed);
            }
            let path = MavenPath::parse(&path.join("/"))?;
            let record = record_in(Repository::Group(id));
            let group = match id.parse::<i64>() {
                Ok(id) if id > 0 => groups::find(ctx.sql, id)?,
                _ => None,
            };
            let group = group.ok_or(CoreError::NotFound("Group"))?;
            let visible = readable_projects(ctx.sql, who.as_ref(), group.id)?;
            if visible.is_empty() && who.is_none() && group.visibility != Visibility::Public {
                return Err(CoreError::Unauthorized("401 Unauthorized".into()));
            }
            serve_local(ctx, &visible, &path, head, record, sink)
        }
        ["virtual_registries", "packages", "maven", id, path @ ..] if !path.is_empty() => {
            if !read {
                return Err(CoreError::MethodNotAllowed);
            }
            let path = MavenPath::parse(&path.join("/"))?;
            let id = id
                .parse::<i64>()
                .ok()
                .filter(|id| *id > 0)
                .ok_or(CoreError::NotFound("Registry"))?;
            let record = record_in(Repository::Registry(id));
            let read = (&path, head, record.as_ref());
            virtual_registry::serve(ctx, who.as_ref(), id, read, sink)
        }
        _ => Err(CoreError::NotFound("")),
    }
}

/// The repository a Maven path reads, as its URL names it, and the path in
/// it.
fn repository_of<'p>(parts: &'p [&'p str]) -> Option<(Repository<'p>, &'p [&'p str])> {
    match parts {
        ["virtual_registries", "packages", "maven", id, path @ ..] => {
            let id = id.parse::<i64>().ok().filter(|id| *id > 0)?;
            Some((Repository::Registry(id), path))
        }
        ["projects", id, "packages", "maven", path @ ..] => Some((Repository::Project(id), path)),
        ["groups", id, "-", "packages", "maven", path @ ..] => Some((Repository::Group(id), path)),
        _ => None,
    }
}

/// What a set of projects holds at a path, if anything.
pub(crate) enum LocalHit {
    File(packages::StoredFile),
    Generated(Vec<u8>),
}

impl LocalHit {
    pub(crate) fn digests(&self) -> crate::storage::blobs::Digests {
        match self {
            LocalHit::File(file) => file.digests.clone(),
            LocalHit::Generated(bytes) => crate::storage::blobs::digests_of(bytes),
        }
    }

    pub(crate) fn send(
        &self,
        blobs: &BlobStore,
        sink: &mut dyn ResponseSink,
        path: &MavenPath,
        head: bool,
    ) -> Result<()> {
        match self {
            LocalHit::File(file) => send_file(
                blobs,
                sink,
                path.file_name(),
                &file.digests,
                file.created_at,
                head,
            ),
            LocalHit::Generated(bytes) => send_metadata(sink, bytes, head),
        }
    }
}

pub(crate) fn find_local(
    sql: &dyn Sql,
    project_ids: &[i64],
    path: &MavenPath,
) -> Result<Option<LocalHit>> {
    match path.coordinates() {
        Some(Coordinates::File(file)) => {
            Ok(packages::find_file(sql, project_ids, &file)?.map(LocalHit::File))
        }
        Some(Coordinates::ArtifactMetadata {
            group_id,
            artifact_id,
        }) => {
            let versions = packages::versions(
                sql,
                project_ids,
                &path::package_name(&group_id, &artifact_id),
            )?;
            Ok(
                metadata::artifact_metadata(&group_id, &artifact_id, &versions)
                    .map(|xml| LocalHit::Generated(xml.into_bytes())),
            )
        }
        None => Ok(None),
    }
}

/// GET/HEAD on project or group repositories; the answer is remembered as
/// `record` says (see `resolved`).
fn serve_local(
    ctx: &Context,
    project_ids: &[i64],
    path: &MavenPath,
    head: bool,
    record: Option<RecordIn>,
    sink: &mut dyn ResponseSink,
) -> Result<()> {
    let blobs = BlobStore::new(ctx.kv, ctx.config.blob_chunk_bytes);
    // A checksum is answered from its file's digests.
    let (base, checksum) = path.base_and_checksum();
    let Some(hit) = find_local(ctx.sql, project_ids, &base)? else {
        // Only an upload (which moves the generation on) changes the
        // answer: the 404 is recorded (on one miss in a few, see
        // `record_this_miss`).
        let sampled = record
            .as_ref()
            .filter(|_| crate::domain::resolved::record_this_miss());
        if let Some(record) = sampled {
            resolved::remember_absent(ctx, record, &base.as_string(), i64::MAX);
        }
        return Err(CoreError::NotFound("File"));
    };
    match checksum {
        Some(checksum) => send_digest(sink, checksum, &hit.digests(), head)?,
        None => hit.send(&blobs, sink, path, head)?,
    }
    if let Some(record) = record {
        resolved::remember_hit(ctx, &blobs, &record, &base.as_string(), &hit)?;
    }
    Ok(())
}

/// PUT of a file or checksum into a project's repository.
fn upload(
    ctx: &Context,
    project: &Project,
    path: &MavenPath,
    body: &mut dyn BodyReader,
    sink: &mut dyn ResponseSink,
) -> Result<()> {
    if let Some((base, checksum)) = path.checksum() {
        let sent = read_request_body(body, MAX_CHECKSUM_BYTES)?;
        return verify_checksum(ctx, project, &base, checksum, &sent, sink);
    }
    let coordinates = match path.coordinates() {
        Some(Coordinates::File(file)) => file,
        // Artifact-level metadata is generated from the versions present;
        // the client's copy is not needed.
        Some(Coordinates::ArtifactMetadata { .. }) => {
            read_request_body(body, 10 * 1024 * 1024)?;
            return send_text(sink, StatusCode::OK, "text/plain", b"", false);
        }
        None => {
            return Err(CoreError::BadRequest(
                "Invalid Maven path: expected group/artifact/version/file".into(),
            ))
        }
    };
    let blobs = BlobStore::new(ctx.kv, ctx.config.blob_chunk_bytes);
    let digests = refusing_past_limit(body, |body| {
        blobs.put_stream(&ctx.write_records(), body, None, ctx.config.max_file_bytes)
    })?;
    let outcome = packages::record_file(ctx.sql, ctx.now(), project.id, &coordinates, &digests)?;
    // A local upstream may now win where a remote copy did.
    generation::advance(ctx.kv)?;
    let status = match outcome {
        packages::Recorded::Created => StatusCode::CREATED,
        _ => StatusCode::OK,
    };
    send_text(sink, status, "text/plain", b"", false)
}

/// An uploaded checksum must match the stored file's digest.
fn verify_checksum(
    ctx: &Context,
    project: &Project,
    base: &MavenPath,
    checksum: Checksum,
    sent: &[u8],
    sink: &mut dyn ResponseSink,
) -> Result<()> {
    let text = String::from_utf8_lossy(sent);
    // Checksum files may carry the file name after the digest.
    let value = text
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    match base.coordinates() {
        Some(Coordinates::ArtifactMetadata { .. }) => {
            send_text(sink, StatusCode::OK, "text/plain", b"", false)
        }
        Some(Coordinates::File(file)) => {
            let stored = packages::find_file(ctx.sql, &[project.id], &file)?.ok_or_else(|| {
                CoreError::validation(format!(
                    "Checksum uploaded before its file {}",
                    file.file_name
                ))
            })?;
            if checksum.of(&stored.digests) != value {
                return Err(CoreError::validation(format!(
                    "Checksum mismatch for {}: expected {}, got {}",
                    file.file_name,
                    checksum.of(&stored.digests),
                    if value.is_empty() { "nothing" } else { &value }
                )));
            }
            send_text(sink, StatusCode::OK, "text/plain", b"", false)
        }
        None => Err(CoreError::BadRequest("Invalid Maven path".into())),
    }
}
