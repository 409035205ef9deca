//! Answers to `<module>/@v/list` and `<module>/@latest`: a registry's
//! merged from the store and every remote upstream, a project's from what
//! it published. Each is recorded (see [`crate::domain::resolved`]) for
//! the caller's audience (a registry's for as long as its merged list is
//! cached), so the next ask of the same audience costs one batch get: no
//! SQL, no remote. `go get -u` and `go list -m` ask these of every module
//! in a build.

use super::module::escape;
use super::origin::{first_origin, get_small, merged_versions, RegistryView};
use super::records::{record_absence, Kept};
use super::request::{parse, Query, PROJECT_PATH, REGISTRY_PATH};
use super::respond::{send_bytes, sorted_release_list};
use super::store::{self, Scope};
use super::version::{latest, Version};
use crate::context::Context;
use crate::domain::resolved::{self, Audience, Place, RecordAs};
use crate::error::{CoreError, Result};
use crate::http::body::{read_to_end, ResponseSink};
use crate::storage::blobs::{digests_of, BlobStore};

const LIST_TYPE: &str = "text/plain; charset=utf-8";
const LATEST_TYPE: &str = "application/json";
/// The most of an origin's `.info` an `@latest` answer takes.
const MAX_INFO_BYTES: usize = 64 * 1024;

/// What a list or latest query is asked of: a registry, or a project as
/// its URL names it.
#[derive(Clone, Copy)]
pub(super) enum Asked<'a> {
    Registry(i64),
    Project(&'a str),
}

/// Answers a list or latest query from the record of an earlier answer
/// to the same audience. Whether it did.
pub(super) fn serve_recorded_query(
    ctx: &Context,
    path: &str,
    audience: &Audience,
    head: bool,
    sink: &mut dyn ResponseSink,
) -> Result<bool> {
    let Some((asked, module, query)) = recorded_query(path) else {
        return Ok(false);
    };
    let place = query_place(asked, &module, &query, audience);
    let Some(found) = resolved::lookup(ctx, std::slice::from_ref(&place))? else {
        return Ok(false);
    };
    if let Some(Kept::Absent) = found.meta {
        return Err(store::not_found("module"));
    }
    let Some(bytes) = found.bytes else {
        return Ok(false);
    };
    send_bytes(sink, content_type(&query), &bytes, head)?;
    Ok(true)
}

/// What a list or latest path asks, of what module.
fn recorded_query(path: &str) -> Option<(Asked<'_>, String, Query)> {
    // (Cheaply, before parsing: most reads are of files.)
    if !(path.ends_with("/@v/list") || path.ends_with("/@latest")) {
        return None;
    }
    let (asked, rest) = if let Some(rest) = path.strip_prefix(REGISTRY_PATH) {
        let (id, rest) = rest.split_once('/')?;
        (Asked::Registry(id.parse().ok()?), rest)
    } else {
        let (project, rest) = path
            .strip_prefix(PROJECT_PATH)?
            .split_once("/packages/go/")?;
        (Asked::Project(project), rest)
    };
    match parse(rest).ok()? {
        (module, query @ (Query::List | Query::Latest)) => Some((asked, module, query)),
        _ => None,
    }
}

fn content_type(query: &Query) -> &'static str {
    match query {
        Query::Latest => LATEST_TYPE,
        _ => LIST_TYPE,
    }
}

/// A slot (see [`Place::slot`]): any module path may be asked for, and a
/// project named in many spellings.
fn query_place(asked: Asked, module: &str, query: &Query, audience: &Audience) -> Place {
    let query = match query {
        Query::Latest => "@latest",
        _ => "@v/list",
    };
    let of = match asked {
        Asked::Registry(id) => format!("registry:{id}"),
        Asked::Project(project) => format!("project:{}:{project}", project.len()),
    };
    let name = format!("{}:{of}:{module}/{query}", audience.name());
    Place::slot("go:query", &name)
}

/// Sends `body`, the answer to `query`, and keeps its record as `record`
/// says, trusted until `fresh_until` at most.
fn send_and_remember(
    ctx: &Context,
    (asked, module, query): (Asked, &str, &Query),
    body: &[u8],
    (record, fresh_until): (Option<RecordAs>, i64),
    (head, sink): (bool, &mut dyn ResponseSink),
) -> Result<()> {
    send_bytes(sink, content_type(query), body, head)?;
    let Some(record) = record else {
        return Ok(());
    };
    let place = query_place(asked, module, query, &record.audience);
    let fresh_until = fresh_until.min(record.until);
    let kept = (&digests_of(body), None::<Kept>);
    resolved::remember_made(ctx, &place, record.generation, kept, body, fresh_until)
}

/// Records, as `record` says, that `module` has no version `asked` knows:
/// its `@latest` is a 404 (see `records::record_absence`).
fn record_no_latest(ctx: &Context, asked: Asked, module: &str, record: &RecordAs) {
    let place = query_place(asked, module, &Query::Latest, &record.audience);
    record_absence(ctx, &place, record, &format!("{module}/@latest"));
}

/// Answers a list or latest query of a project (only what it published),
/// and records the answer as `record` says: it changes only by uploads and
/// admin writes, which move the generation on.
pub(super) fn answer_project_query(
    ctx: &Context,
    (project, scope): (&str, &Scope),
    (module, query): (&str, Query),
    record: Option<RecordAs>,
    head: bool,
    sink: &mut dyn ResponseSink,
) -> Result<()> {
    let versions = store::versions(ctx.sql, scope, module)?;
    let asked = (Asked::Project(project), module, &query);
    let body = match query {
        Query::Latest if versions.is_empty() => {
            if let Some(record) = &record {
                record_no_latest(ctx, asked.0, module, record);
            }
            return Err(store::not_found("module"));
        }
        Query::Latest => (highest_and_its_info(ctx, scope, module, &versions)?.1)
            .ok_or_else(|| store::not_found("version"))?,
        _ => sorted_release_list(versions).into_bytes(),
    };
    // An empty list is what any made-up module path gets: recorded as a
    // 404 is (see `resolved::record_this_miss`), so that asking made-up
    // paths once costs few writes, and asking one again no SQL.
    let record = record.filter(|_| !body.is_empty() || resolved::record_this_miss());
    send_and_remember(ctx, asked, &body, (record, i64::MAX), (head, sink))
}

/// Answers a list or latest query of a registry the full way, and records
/// the answer as `remember` says when every remote answered.
pub(super) fn answer_query(
    ctx: &Context,
    view: &RegistryView,
    (module, query): (&str, Query),
    remember: Option<RecordAs>,
    head: bool,
    sink: &mut dyn ResponseSink,
) -> Result<()> {
    let fresh_until = ctx
        .now()
        .saturating_add(ctx.config.list_cache_seconds.saturating_mul(1000));
    let asked = (Asked::Registry(view.id), module, &query);
    let (body, record) = match query {
        Query::Latest => match latest_info(ctx, view, module)? {
            (Some(info), complete) => (info, remember.filter(|_| complete)),
            (None, complete) => {
                // No remote nor the store knows a version: the 404 is
                // recorded (the remotes' `@latest` are asked anew on every
                // read otherwise).
                if let Some(record) = remember.filter(|_| complete) {
                    record_no_latest(ctx, asked.0, module, &record);
                }
                return Err(store::not_found("module"));
            }
        },
        _ => {
            let merged = merged_versions(ctx, view, &view.scope(), module)?;
            // An empty list is what any made-up module path gets: recorded
            // only once it is asked again (it came from the merged-list
            // cache), so that asking made-up paths once costs no more
            // writes than that cache's.
            let worth = !merged.versions.is_empty() || merged.cached;
            let record = remember.filter(|_| merged.complete && worth);
            (sorted_release_list(merged.versions).into_bytes(), record)
        }
    };
    send_and_remember(ctx, asked, &body, (record, fresh_until), (head, sink))
}

/// The `.info` of the highest version the store and the remotes know (a
/// remote's own `@latest` counts: a module with no tagged version has only
/// that), if they know any, and whether every remote answered.
fn latest_info(
    ctx: &Context,
    view: &RegistryView,
    module: &str,
) -> Result<(Option<Vec<u8>>, bool)> {
    let scope = view.scope();
    let merged = merged_versions(ctx, view, &scope, module)?;
    let (mut candidates, mut complete) = (merged.versions, merged.complete);
    for upstream in &view.remotes {
        match get_small(ctx, upstream, &format!("{}/@latest", escape(module))) {
            Ok(Some(body)) => candidates.extend(
                serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|j| j["Version"].as_str().map(str::to_owned)),
            ),
            Ok(None) => {}
            Err(_) => complete = false,
        }
    }
    if !candidates.iter().any(|v| Version::parse(v).is_some()) {
        return Ok((None, complete));
    }
    let (best, stored) = highest_and_its_info(ctx, &scope, module, &candidates)?;
    if let Some(info) = stored {
        return Ok((Some(info), complete));
    }
    let suffix = format!("{}/@v/{}.info", escape(module), escape(&best));
    let (_, mut response) = first_origin(ctx, &view.remotes, &suffix)?;
    let body = read_to_end(response.body.as_mut(), MAX_INFO_BYTES).map_err(|e| match e {
        CoreError::PayloadTooLarge(_) => CoreError::Upstream(format!(
            "Upstream .info of {best} over {MAX_INFO_BYTES} bytes"
        )),
        e => e,
    })?;
    Ok((Some(body), complete))
}

/// The highest of `versions` by Go's `@latest` rule, and its `.info` if
/// `scope` stores it.
fn highest_and_its_info(
    ctx: &Context,
    scope: &Scope,
    module: &str,
    versions: &[String],
) -> Result<(String, Option<Vec<u8>>)> {
    let parsed: Vec<Version> = versions.iter().filter_map(|v| Version::parse(v)).collect();
    let best = latest(&parsed)
        .ok_or_else(|| store::not_found("module"))?
        .text
        .clone();
    let info = format!("{best}.info");
    let stored = match store::find_file(ctx.sql, scope, module, &best, &info)? {
        Some(file) => Some(BlobStore::for_reading(ctx.kv).read_bytes(&file.digests.sha256)?),
        None => None,
    };
    Ok((best, stored))
}
