//! The Go module proxy (`go-proxy` component) and the sync worker's logic.

pub mod module;
pub mod proxy;
pub mod store;
pub mod sync;
pub mod zipcheck;
