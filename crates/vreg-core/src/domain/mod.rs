//! The records vreg keeps and the rules they follow, independent of HTTP
//! and of either ecosystem.

pub mod auth;
pub mod cache;
pub mod cleanup;
pub mod downloads;
pub mod filters;
pub mod groups;
pub mod model;
pub mod namespaces;
pub mod network;
pub mod packages;
pub mod projects;
pub mod protection;
pub mod registries;
pub mod resolved;
pub mod tokens;
pub mod upstreams;
pub mod usage;
pub mod validate;
