//! A registry's upstreams as the proxy sees them: the remotes to ask (in
//! position order) and the projects its local upstreams serve; origin
//! fetches, and the merged, briefly cached version list.

use http::Method;

use super::module::escape;
use super::store::{self, Scope};
use crate::context::Context;
use crate::domain::model::{PackageType, UpstreamMode};
use crate::domain::protection;
use crate::domain::registries::{self, Registry};
use crate::domain::upstreams::{self, health, Upstream};
use crate::error::{CoreError, Result};
use crate::http::body::read_to_end;
use crate::http::fetch::FetchResponse;
use crate::storage::expiring;
use crate::storage::Sql;

pub(super) struct RegistryView {
    pub(super) id: i64,
    pub(super) remotes: Vec<Upstream>,
    pub(super) local_projects: Vec<i64>,
    /// Whether copies synced from remotes may be served: not for a module
    /// the registry protects (see `crate::domain::protection`).
    pub(super) serve_synced: bool,
}

impl RegistryView {
    /// Where its stored files are looked for: what was synced into it (if
    /// it may be served) and its local upstreams' projects.
    pub(super) fn scope(&self) -> Scope<'_> {
        Scope {
            registry: self.serve_synced.then_some(self.id),
            projects: &self.local_projects,
        }
    }
}

pub(super) fn registry_view(sql: &dyn Sql, id: i64) -> Result<(RegistryView, Registry)> {
    let registry = registries::get(sql, PackageType::Golang, id)?;
    let (links, _) = upstreams::list_in_registry(sql, registry.id, upstreams::MAX_PER_REGISTRY, 0)?;
    let mut remotes = Vec::new();
    let mut local_projects = Vec::new();
    for (_, upstream) in links {
        match upstream.mode {
            UpstreamMode::Remote => remotes.push(upstream),
            UpstreamMode::Local => {
                local_projects.extend(upstreams::target_projects(sql, &upstream)?)
            }
        }
    }
    Ok((
        RegistryView {
            id: registry.id,
            remotes,
            local_projects,
            serve_synced: true,
        },
        registry,
    ))
}

/// Whether a registry's remotes may serve `module` (or copies they served
/// before be served), judged before any caller's filter: `local_projects`
/// are every project of its local upstreams, since a private project owns
/// its module for everyone (see [`crate::domain::protection`]).
pub(super) fn remotes_may_serve_module(
    sql: &dyn Sql,
    registry: &Registry,
    module: &str,
    local_projects: &[i64],
) -> Result<bool> {
    let projects = || Ok(local_projects.to_vec());
    protection::remotes_may_serve(sql, registry, Some(module), &segments(module), projects)
}

/// [`remotes_may_serve_module`] with no SQL, judged from `local_modules`:
/// every module path the registry's local upstreams hold.
pub(super) fn remotes_may_serve_module_given(
    registry: &Registry,
    module: &str,
    local_modules: &[String],
) -> Result<bool> {
    let held = |names: &[String]| Ok(names.iter().any(|n| local_modules.contains(n)));
    protection::remotes_may_serve_given(registry, Some(module), &segments(module), held)
}

fn segments(module: &str) -> Vec<String> {
    module.split('/').map(str::to_owned).collect()
}

/// The first remote upstream, in position order, that answers 200.
pub(super) fn first_origin<'u>(
    ctx: &Context,
    remotes: &'u [Upstream],
    suffix: &str,
) -> Result<(&'u Upstream, FetchResponse)> {
    let mut failures = Vec::new();
    for upstream in remotes {
        match health::ask(ctx, upstream, suffix, Method::GET) {
            Ok(response) if response.status == 200 => return Ok((upstream, response)),
            Ok(response) if matches!(response.status, 404 | 410) => {}
            Ok(response) => failures.push(format!("{} (HTTP {})", upstream.name, response.status)),
            Err(e) => failures.push(format!("{} ({e})", upstream.name)),
        }
    }
    if failures.is_empty() {
        Err(CoreError::NotFound("Version"))
    } else {
        Err(CoreError::Upstream(format!(
            "Upstream failure: {}",
            failures.join(", ")
        )))
    }
}

/// A small upstream document (a list, an @latest answer); `None` on 404.
pub(super) fn get_small(
    ctx: &Context,
    upstream: &Upstream,
    suffix: &str,
) -> std::result::Result<Option<Vec<u8>>, String> {
    let mut response = health::ask(ctx, upstream, suffix, Method::GET)?;
    match response.status {
        200 => read_to_end(response.body.as_mut(), 4 << 20)
            .map(Some)
            .map_err(|e| e.to_string()),
        404 | 410 => Ok(None),
        status => Err(format!("HTTP {status}")),
    }
}

/// Merged version lists, in slots (see [`expiring::get_slot`]): any module
/// path can be asked for, so the cache must not grow with them.
const LISTS: &str = "go:list";

/// The versions the store and a registry's remotes know.
pub(super) struct MergedVersions {
    pub(super) versions: Vec<String>,
    /// Whether every remote answered (a list missing a failed remote's
    /// versions is served, but neither cached nor recorded).
    pub(super) complete: bool,
    /// Whether it came from the cache (it was asked before).
    pub(super) cached: bool,
}

/// Versions the store and every remote upstream know, cached briefly.
pub(super) fn merged_versions(
    ctx: &Context,
    view: &RegistryView,
    scope: &Scope,
    module: &str,
) -> Result<MergedVersions> {
    // Callers who may read different local projects see different lists,
    // and a protected module is listed without remotes: what was merged
    // is part of the key.
    let projects: Vec<String> = view.local_projects.iter().map(i64::to_string).collect();
    let remotes: Vec<String> = view.remotes.iter().map(|u| u.id.to_string()).collect();
    let merged = format!(
        "{module}\n{}\n{}\n{}",
        projects.join(","),
        remotes.join(","),
        view.serve_synced
    );
    let key = format!(
        "{}:{}",
        view.id,
        crate::crypto::sha256_hex(merged.as_bytes())
    );
    if let Some(cached) = expiring::get_slot(ctx.kv, LISTS, &key, ctx.now())? {
        let versions = String::from_utf8_lossy(&cached)
            .lines()
            .map(str::to_owned)
            .collect();
        return Ok(MergedVersions {
            versions,
            complete: true,
            cached: true,
        });
    }
    let mut versions = store::versions(ctx.sql, scope, module)?;
    let mut failures = Vec::new();
    for upstream in &view.remotes {
        match get_small(ctx, upstream, &format!("{}/@v/list", escape(module))) {
            Ok(Some(body)) => versions.extend(
                String::from_utf8_lossy(&body)
                    .lines()
                    .map(|l| l.trim().to_owned())
                    .filter(|l| !l.is_empty()),
            ),
            Ok(None) => {}
            Err(e) => failures.push(format!("{} ({e})", upstream.name)),
        }
    }
    if versions.is_empty() && !failures.is_empty() {
        return Err(CoreError::Upstream(format!(
            "Upstream failure: {}",
            failures.join(", ")
        )));
    }
    versions.sort();
    versions.dedup();
    let complete = failures.is_empty();
    if complete {
        let ttl = ctx.config.list_cache_seconds * 1000;
        let list = versions.join("\n");
        expiring::set_slot(ctx.kv, LISTS, &key, list.as_bytes(), ctx.now(), ttl)?;
    }
    Ok(MergedVersions {
        versions,
        complete,
        cached: false,
    })
}
