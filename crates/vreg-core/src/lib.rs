//! vreg's core: the domain model, validation, storage traits and request
//! handling, in plain Rust so that everything runs natively in tests.
//! Components call into it; nothing here knows about spin-sdk.

pub mod admin;
pub mod api;
pub mod auth;
pub mod blobs;
pub mod cache;
pub mod crypto;
pub mod error;
pub mod golang;
pub mod groups;
pub mod io;
pub mod lease;
pub mod maven;
pub mod model;
pub mod params;
pub mod projects;
pub mod registries;
pub mod schema;
pub mod store;
pub mod sync_jobs;
pub mod timefmt;
pub mod tokens;
pub mod upstreams;
pub mod validate;

pub use error::{CoreError, Result};
