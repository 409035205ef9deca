//! vreg's test kit: the test implementation of each of vreg-core's storage
//! traits (real SQLite through rusqlite, an in-process key-value map, a
//! clock tests can move, a recording publisher, a real HTTP client), a RESP
//! client for a real Redis, a static file server on 127.0.0.1 that plays
//! a remote upstream, and a self-signed certificate for https tests.

mod certificate;
mod clock;
mod fetch;
mod kv;
mod publisher;
pub mod redis;
mod sql;
mod static_server;

pub use certificate::self_signed_certificate;
pub use clock::ManualClock;
pub use fetch::HttpFetch;
pub use kv::MemoryKv;
pub use publisher::RecordingPublisher;
pub use sql::NativeSql;
pub use static_server::StaticServer;
