//! The Go module proxy (`go-proxy` component) and the sync worker's logic.
//!
//! `module` holds Go's rules for module paths (`gomod` what a go.mod
//! declares), `semver` and `version` for
//! versions, `zipcheck` the module
//! zip rules and `h1:` hashes, `store` the stored versions; `proxy` routes
//! requests (`request` parses them, `respond` writes them), `origin` asks a
//! registry's upstreams, `relay` serves a version's file from them,
//! `schedule` records and sends sync triggers,
//! `public_view` keeps what anonymous callers see of a registry and
//! `records` serves anonymous reads through it, `queries` answers (and
//! records) version lists and `@latest`,
//! `publish` takes a version uploaded to a project, `sumdb` proxies the
//! checksum database, and `sync` is the worker's side.

mod gomod;
pub mod module;
mod origin;
pub mod proxy;
mod public_view;
mod publish;
mod queries;
mod records;
mod relay;
mod request;
mod respond;
pub mod schedule;
pub mod semver;
pub mod store;
mod sumdb;
pub mod sync;
pub mod version;
pub mod ziparchive;
pub mod zipcheck;
