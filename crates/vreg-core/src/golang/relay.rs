//! Serving a version's file from the origin: straight through to the
//! client, with the version's sync scheduled after (the origin has the
//! version, and the client has it now), and `.info` queries of branches
//! and tags, which only a remote can answer. A 404 from every remote is
//! recorded for a while (see `records::remember_absent`).

use super::module::escape;
use super::origin::{first_origin, RegistryView};
use super::records::{remember_absent, send_stored, StoredRead};
use super::respond::stream_through;
use super::schedule::request_sync;
use super::store;
use crate::context::Context;
use crate::error::{CoreError, Result};
use crate::http::body::ResponseSink;
use crate::http::fetch::FetchResponse;
use crate::storage::lease::Seen;

/// A canonical version's file not stored: served from the origin, then
/// its sync scheduled (the origin has the version, and the client has it
/// now; once, through the lease); if no remote has it either, the 404 is
/// recorded as `file.remember` says.
/// Its sync's lease is taken as `seen` says (see `records::SeenLeases`).
pub(super) fn relay_and_sync(
    ctx: &Context,
    view: &RegistryView,
    (file, seen): (&StoredRead, Seen),
    head: bool,
    sink: &mut dyn ResponseSink,
) -> Result<()> {
    let response = ask_origin(ctx, view, file).inspect_err(|e| remember_if_absent(ctx, file, e))?;
    let relayed = (file.module, file.version, file.ext);
    send_relayed(ctx, view, relayed, (response, seen), head, sink)
}

/// A file not looked for in the store (see `records::Missed::Unsynced`):
/// from the origin, or, if it cannot serve it (down, or no longer has it),
/// from the store after all.
pub(super) fn relay_or_stored(
    ctx: &Context,
    view: &RegistryView,
    (file, seen): (&StoredRead, Seen),
    head: bool,
    sink: &mut dyn ResponseSink,
) -> Result<()> {
    match ask_origin(ctx, view, file) {
        Ok(response) => {
            let relayed = (file.module, file.version, file.ext);
            send_relayed(ctx, view, relayed, (response, seen), head, sink)
        }
        Err(failed) => match send_stored(ctx, &view.scope(), file, head, sink)? {
            true => Ok(()),
            false => {
                remember_if_absent(ctx, file, &failed);
                Err(failed)
            }
        },
    }
}

/// The first remote's answer for a version's file (or a query's `.info`).
fn ask_origin(ctx: &Context, view: &RegistryView, file: &StoredRead) -> Result<FetchResponse> {
    let suffix = format!(
        "{}/@v/{}{}",
        escape(file.module),
        escape(file.version),
        file.ext
    );
    Ok(first_origin(ctx, &view.remotes, &suffix)?.1)
}

/// Records the 404 of `file` (see `records::remember_absent`) when no
/// remote had it (`failed` is a not-found, not a remote's failure).
fn remember_if_absent(ctx: &Context, file: &StoredRead, failed: &CoreError) {
    if matches!(failed, CoreError::NotFound(_)) {
        remember_absent(ctx, file);
    }
}

/// Streams an origin's answer for a version's file, then schedules the
/// version's sync (its lease as `seen`).
fn send_relayed(
    ctx: &Context,
    view: &RegistryView,
    (module, version, ext): (&str, &str, &str),
    (response, seen): (FetchResponse, Seen),
    head: bool,
    sink: &mut dyn ResponseSink,
) -> Result<()> {
    stream_through(sink, ext, response, head)?;
    request_sync(ctx, (view.id, module, version), seen);
    Ok(())
}

/// `go get m@main` asks `.info` of a branch, tag or commit: a query only
/// a remote can resolve. It is forwarded to the remote upstreams in order
/// and the first answer relayed as it is, neither cached nor synced (the
/// answer moves with the branch; the canonical version it names is then
/// fetched, cached and synced the usual way); a 404 from every remote is
/// recorded as a version's is (anyone can make queries up). Local upstreams
/// and project-level proxies know only canonical versions: 404.
pub(super) fn relay_version_query(
    ctx: &Context,
    view: &RegistryView,
    asked: &StoredRead,
    head: bool,
    sink: &mut dyn ResponseSink,
) -> Result<()> {
    let (query, ext) = (asked.version, asked.ext);
    let plausible = query.len() <= 128
        && !query.starts_with('.')
        && query
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-+".contains(c));
    if ext != ".info" || !plausible || view.remotes.is_empty() {
        return Err(store::not_found("version"));
    }
    let response =
        ask_origin(ctx, view, asked).inspect_err(|e| remember_if_absent(ctx, asked, e))?;
    stream_through(sink, ext, response, head)
}
