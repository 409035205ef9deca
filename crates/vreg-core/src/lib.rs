//! vreg's core, in plain Rust so that everything runs natively in tests;
//! components call into it and nothing here knows about spin-sdk.
//!
//! - [`http`]: the HTTP surface (routing, parameters, responses, streaming
//!   bodies, outbound fetches, the admin routes, the one error mapping);
//! - [`domain`]: the records and their rules (groups, projects, registries,
//!   upstreams, packages, cache entries, tokens, authorization);
//! - [`storage`]: the storage traits and what is built on them (SQL helpers,
//!   schema, blobs, leases, short-lived keys, sync jobs);
//! - [`maven`] and [`golang`]: the two ecosystems, peers that never import
//!   each other.

pub mod context;
pub mod crypto;
pub mod domain;
pub mod error;
pub mod golang;
pub mod http;
pub mod maven;
pub mod storage;
pub mod timefmt;

pub use context::{Config, Context, LazyConfig};
pub use error::{CoreError, Result};
