//! Publishing a module version to a project from its zip.

use serde_json::json;

use super::gomod;
use super::module::check;
use super::request::Query;
use super::respond::send_bytes;
use super::store;
use super::version::Version;
use super::zipcheck;
use crate::context::Context;
use crate::domain::auth::{authorize_project_write, Principal};
use crate::domain::packages::{NewFile, Owner};
use crate::domain::projects::Project;
use crate::error::{CoreError, Result};
use crate::http::body::{refusing_past_limit, BodyReader, ResponseSink};
use crate::storage::blobs::BlobStore;
use crate::storage::generation;
use crate::timefmt;

/// `PUT /projects/:id/packages/go/<module>/@v/<version>.zip`: publishes a
/// version from its zip. `.mod` comes from the zip's go.mod, `.info` carries
/// the publish time; a published version is immutable.
pub(super) fn publish(
    ctx: &Context,
    who: Option<&Principal>,
    project: &Project,
    module: &str,
    query: Query,
    body: &mut dyn BodyReader,
    sink: &mut dyn ResponseSink,
) -> Result<()> {
    authorize_project_write(ctx.sql, who, project)?;
    let Query::File {
        version,
        ext: ".zip",
    } = query
    else {
        return Err(CoreError::MethodNotAllowed);
    };
    let parsed = Version::parse(&version)
        .ok_or_else(|| CoreError::BadRequest(format!("invalid version {version:?}")))?;
    // The version must fit the path's major-version suffix (module.Check).
    check(module, &version)?;
    // Stored first, then checked from the blob store a chunk at a time: a
    // zip is never held whole.
    let blobs = BlobStore::new(ctx.kv, ctx.config.blob_chunk_bytes);
    let zip = refusing_past_limit(body, |body| {
        blobs.put_stream(&ctx.write_records(), body, None, zipcheck::MAX_ZIP_BYTES)
    })?;
    let checked = zipcheck::check_zip(module, &parsed.text, &blobs.open(&zip.sha256)?)?;
    if let Some(go_mod) = &checked.go_mod {
        gomod::check_declared(module, go_mod).map_err(CoreError::validation)?;
    }
    let go_mod = checked
        .go_mod
        .clone()
        .unwrap_or_else(|| format!("module {module}\n").into_bytes());
    let info = json!({ "Version": version, "Time": timefmt::iso8601(ctx.now()) })
        .to_string()
        .into_bytes();
    let files = [
        NewFile {
            file_name: format!("{version}.info"),
            digests: blobs.put_bytes(&ctx.write_records(), &info)?,
            h1: None,
        },
        NewFile {
            file_name: format!("{version}.mod"),
            digests: blobs.put_bytes(&ctx.write_records(), &go_mod)?,
            h1: Some(zipcheck::go_mod_hash(&go_mod)),
        },
        NewFile {
            file_name: format!("{version}.zip"),
            digests: zip,
            h1: Some(checked.h1),
        },
    ];
    if !store::store_version(
        ctx.sql,
        ctx.now(),
        Owner::Project(project.id),
        module,
        &version,
        &files,
    )? {
        return Err(CoreError::Conflict(format!(
            "{module}@{version} is already published"
        )));
    }
    // A local upstream now owns the module: records of what a registry
    // served for it before (a remote's copy) are stale.
    generation::advance(ctx.kv)?;
    send_bytes(sink, "text/plain; charset=utf-8", b"", false)
}
