//! Storage: the traits the core talks through (`vreg-spin` implements them
//! with spin-sdk; the test kit with rusqlite, an in-process map and a real
//! Redis), and what is built on them: SQL helpers, the schema, blobs,
//! leases, short-lived keys and the sync-job outbox.

pub mod blob_records;
pub mod blobs;
pub mod expiring;
pub mod gc;
pub mod generation;
pub mod lease;
pub mod schema;
mod sql;
pub mod sync_jobs;

pub use sql::{
    drain_queue, json_list, like_pattern, qualified, query_one, query_rows, transaction, Filter,
    Listing, RowReader,
};

/// A SQLite value, mirroring Spin's `sqlite` interface.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
    Null,
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Integer(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Blob(v)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

impl Rows {
    /// The first column of the first row as an integer (COUNT, MAX, RETURNING id).
    pub fn scalar_i64(&self) -> Option<i64> {
        match self.rows.first()?.first()? {
            Value::Integer(v) => Some(*v),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    /// The database is locked by another writer; worth retrying.
    #[error("database is busy")]
    Busy,
    /// A UNIQUE/CHECK/FOREIGN KEY constraint refused the statement.
    #[error("constraint failed: {0}")]
    Constraint(String),
    /// The store or database is not granted to this component.
    #[error("access denied: {0}")]
    AccessDenied(String),
    #[error("{0}")]
    Other(String),
    /// A row did not have the shape the code expected.
    #[error("unexpected row shape: {0}")]
    Decode(String),
}

impl StoreError {
    /// Classifies a backend's error text (Spin reports SQLite errors as text).
    pub fn from_message(message: String) -> Self {
        let lower = message.to_ascii_lowercase();
        if lower.contains("database is locked") || lower.contains("busy") {
            StoreError::Busy
        } else if lower.contains("constraint failed") {
            StoreError::Constraint(message)
        } else {
            StoreError::Other(message)
        }
    }
}

/// One SQL statement at a time, on one connection for the life of a request,
/// so `BEGIN`/`COMMIT` issued through it bracket the statements between them.
pub trait Sql {
    fn execute(&self, statement: &str, params: &[Value]) -> Result<Rows, StoreError>;
}

/// A byte-valued key-value store.
pub trait Kv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError>;
    fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// The values of `keys`, in order, in one round trip where the backend
    /// has one.
    fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        keys.iter().map(|key| self.get(key)).collect()
    }
    /// Sets `key` to `new` only if it still holds `expected` (absent when
    /// `None`), in one atomic step. Returns whether it did.
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError>;
    /// Adds `delta` to the counter at `key` (absent counts as 0) in one
    /// atomic step and returns the new value; a delta of 0 reads it. The
    /// stored form is the backend's own: read counters only through here.
    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError>;
}

/// Counters many requests bump at once, read back only now and then (see
/// `domain::downloads`). In Spin: the `counters` key-value store, which the
/// shipped runtime config puts on Redis, where an increment costs no disk
/// sync (in the SQLite-backed default store each one is an fsync under the
/// store's one lock).
pub trait Tally {
    /// Adds `delta` to the counter at `key` (absent counts as 0) in one
    /// atomic step and returns the new value; a delta of 0 reads it.
    fn add(&self, key: &str, delta: i64) -> Result<i64, StoreError>;
    /// Every key in the store.
    fn keys(&self) -> Result<Vec<String>, StoreError>;
    fn delete(&self, key: &str) -> Result<(), StoreError>;
}

/// Where sync triggers wait for a worker. In Spin: keys in the `sync`
/// key-value store, which the runtime config puts on the Redis the worker
/// subscribes to; Redis announces each write (`__keyevent@0__:set`) and
/// the announcement is the worker's trigger. The serving app thus opens no
/// connection of its own to Redis, so `block_networks` can refuse every
/// private address to components.
pub trait Publisher {
    /// Queues `payload` under `key`; once this returns Ok, a worker will hear
    /// of it if one is listening (if none is, the job is resent later).
    fn publish(&self, key: &str, payload: &[u8]) -> Result<(), StoreError>;
    /// The worker's side: the payload queued under `key`, removed. `None`
    /// when it is gone (another worker took it).
    fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
}

/// Wall-clock time in milliseconds since the Unix epoch.
pub trait Clock {
    fn now_millis(&self) -> i64;
    /// Waits `millis` (a test clock just moves on).
    fn sleep(&self, millis: i64);
}

/// The system clock; `std::time` works the same natively and on wasip2.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }

    fn sleep(&self, millis: i64) {
        std::thread::sleep(std::time::Duration::from_millis(millis.max(0) as u64));
    }
}
