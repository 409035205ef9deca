//! What an anonymous caller sees of a public Go registry: the registry, its
//! remote upstreams and the projects of its local upstreams (all of them,
//! since they own their modules whoever asks, and those anyone may read).
//! A full anonymous read keeps it in the key-value store under the
//! configuration generation, as a resolved file is kept (see
//! [`crate::domain::resolved`]), so that the first read of another stored
//! file resolves with one SQL query (the file) instead of six (schema,
//! registry, upstreams, group, projects, file), and a miss goes to the
//! origin without asking for the upstreams again.

use serde::{Deserialize, Serialize};

use crate::context::Context;
use crate::domain::registries::Registry;
use crate::domain::resolved::{go_public_view_key, MAX_AGE_MILLIS};
use crate::domain::upstreams::Upstream;
use crate::error::Result;
use crate::storage::expiring;

#[derive(Serialize, Deserialize)]
pub(super) struct PublicView {
    pub(super) registry: Registry,
    /// Its remote upstreams, in position order (their passwords sealed, as
    /// stored), whatever protection withholds from them for a module.
    pub(super) remotes: Vec<Upstream>,
    /// Every project of its local upstreams.
    pub(super) local_projects: Vec<i64>,
    /// The module paths they hold (`None`: too many to keep here).
    pub(super) local_modules: Option<Vec<String>>,
    /// Those of them an anonymous caller may read.
    pub(super) readable_projects: Vec<i64>,
}

#[derive(Serialize, Deserialize)]
struct Record<V> {
    generation: u64,
    view: V,
}

/// The view `stored` (fetched by the caller with the generation), if it is
/// still to be trusted under `current`.
pub(super) fn decode(ctx: &Context, stored: Option<&[u8]>, current: u64) -> Option<PublicView> {
    let value = expiring::live(stored?, ctx.now())?;
    let record: Record<PublicView> = serde_json::from_slice(value).ok()?;
    (record.generation == current).then_some(record.view)
}

/// Keeps `view` under `generation` (read before the view was, so that a
/// change made meanwhile makes it stale at once).
pub(super) fn remember(ctx: &Context, generation: u64, view: &PublicView) -> Result<()> {
    let record = Record { generation, view };
    let value = serde_json::to_vec(&record).unwrap_or_default();
    let key = go_public_view_key(view.registry.id);
    expiring::set(ctx.kv, &key, &value, ctx.now(), MAX_AGE_MILLIS)
}
