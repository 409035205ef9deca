//! vreg's test kit: the test implementation of each of vreg-core's storage
//! traits (real SQLite through rusqlite, an in-process key-value map, a
//! clock tests can move, a recording publisher, a real HTTP client), a RESP
//! client for a real Redis, and a static file server on 127.0.0.1 that
//! plays a remote upstream.

mod clock;
mod fetch;
mod kv;
mod publisher;
pub mod redis;
mod sql;
mod static_server;

pub use clock::ManualClock;
pub use fetch::HttpFetch;
pub use kv::MemoryKv;
pub use publisher::RecordingPublisher;
pub use sql::NativeSql;
pub use static_server::StaticServer;
