//! The core's storage traits over Spin's SQLite database and key-value
//! store (`default`), and sync triggers through Spin's outbound Redis.

use std::cell::OnceCell;

use spin_sdk::wit::wasi::keyvalue::{atomics, batch, store as wasi_kv};
use spin_sdk::{key_value, sqlite};
use vreg_core::storage::{Kv, Rows, Sql, StoreError, Value};

/// Spin's SQLite database `default`, one connection per request, opened on
/// first use so requests that never touch the database do not pay for it.
#[derive(Default)]
pub struct SpinSql(OnceCell<sqlite::Connection>);

impl SpinSql {
    fn connection(&self) -> Result<&sqlite::Connection, StoreError> {
        opened(&self.0, || {
            sqlite::Connection::open_default().map_err(sqlite_error)
        })
    }
}

/// What `cell` holds, opened by `open` on first use (a failed open is
/// tried again next time).
fn opened<T>(
    cell: &OnceCell<T>,
    open: impl FnOnce() -> Result<T, StoreError>,
) -> Result<&T, StoreError> {
    if let Some(value) = cell.get() {
        return Ok(value);
    }
    let value = open()?;
    Ok(cell.get_or_init(|| value))
}

fn sqlite_error(error: sqlite::Error) -> StoreError {
    match error {
        sqlite::Error::AccessDenied => StoreError::AccessDenied("sqlite database".into()),
        sqlite::Error::Io(message) => StoreError::from_message(message),
        other => StoreError::Other(format!("{other:?}")),
    }
}

impl Sql for SpinSql {
    fn execute(&self, statement: &str, params: &[Value]) -> Result<Rows, StoreError> {
        let params: Vec<sqlite::Value> = params
            .iter()
            .map(|v| match v {
                Value::Integer(i) => sqlite::Value::Integer(*i),
                Value::Real(r) => sqlite::Value::Real(*r),
                Value::Text(t) => sqlite::Value::Text(t.clone()),
                Value::Blob(b) => sqlite::Value::Blob(b.clone()),
                Value::Null => sqlite::Value::Null,
            })
            .collect();
        let result = self
            .connection()?
            .execute(statement, &params)
            .map_err(sqlite_error)?;
        Ok(Rows {
            columns: result.columns,
            rows: result
                .rows
                .into_iter()
                .map(|row| {
                    row.values
                        .into_iter()
                        .map(|v| match v {
                            sqlite::Value::Integer(i) => Value::Integer(i),
                            sqlite::Value::Real(r) => Value::Real(r),
                            sqlite::Value::Text(t) => Value::Text(t),
                            sqlite::Value::Blob(b) => Value::Blob(b),
                            sqlite::Value::Null => Value::Null,
                        })
                        .collect()
                })
                .collect(),
        })
    }
}

/// Spin's key-value store `default`, opened on first use: through Spin's
/// own interface for gets and sets, through wasi:keyvalue for what only it
/// has (batch gets, compare-and-swap, increments).
#[derive(Default)]
pub struct SpinKv {
    store: OnceCell<key_value::Store>,
    bucket: OnceCell<wasi_kv::Bucket>,
}

impl SpinKv {
    fn store(&self) -> Result<&key_value::Store, StoreError> {
        opened(&self.store, || {
            key_value::Store::open_default().map_err(kv_error)
        })
    }

    fn bucket(&self) -> Result<&wasi_kv::Bucket, StoreError> {
        opened(&self.bucket, || {
            wasi_kv::open("default").map_err(wasi_error)
        })
    }
}

fn wasi_error(error: wasi_kv::Error) -> StoreError {
    StoreError::Other(format!("{error:?}"))
}

fn kv_error(error: key_value::Error) -> StoreError {
    match error {
        key_value::Error::AccessDenied => StoreError::AccessDenied("key-value store".into()),
        key_value::Error::Other(message) => StoreError::from_message(message),
        other => StoreError::Other(format!("{other:?}")),
    }
}

impl Kv for SpinKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.store()?.get(key).map_err(kv_error)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.store()?.set(key, value).map_err(kv_error)
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.store()?.delete(key).map_err(kv_error)
    }

    /// wasi:keyvalue's batch get: one host call (and, in Spin's SQLite
    /// store, one trip through its lock) for all of `keys`.
    fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        // Spin's Redis store (4.0.2) sends `KEYS` where `MGET` belongs: with
        // two keys or more Redis refuses it, and one get a key works there;
        // with one, Redis accepts it and no value comes back (a stored chunk
        // read in a batch of one was missing: a 500). One key is a get.
        if let [key] = keys {
            return Ok(vec![self.get(key)?]);
        }
        let wanted: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        let found = match batch::get_many(self.bucket()?, &wanted) {
            Ok(found) => found,
            Err(_) => return keys.iter().map(|key| self.get(key)).collect(),
        };
        let mut found: std::collections::HashMap<String, Option<Vec<u8>>> =
            found.into_iter().collect();
        Ok(wanted.iter().map(|k| found.remove(k).flatten()).collect())
    }

    /// wasi:keyvalue compare-and-swap: `current` records the value seen, and
    /// the host swaps only if the key still holds it.
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let cas = atomics::Cas::new(self.bucket()?, key).map_err(wasi_error)?;
        if cas.current().map_err(wasi_error)?.as_deref() != expected {
            return Ok(false);
        }
        match atomics::swap(cas, new) {
            Ok(()) => Ok(true),
            // Spin's Redis store (4.0.2) reports every swap as failed,
            // after making it (it ends the transaction with an `UNWATCH`
            // that Redis refuses). The key holding `new` now tells.
            Err(atomics::CasError::CasFailed(_)) => Ok(self.get(key)?.as_deref() == Some(new)),
            Err(atomics::CasError::StoreError(e)) => Err(wasi_error(e)),
        }
    }

    /// wasi:keyvalue's atomic increment.
    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        atomics::increment(self.bucket()?, key, delta).map_err(wasi_error)
    }
}

/// Spin's key-value store `counters` (see [`vreg_core::storage::Tally`]),
/// opened on first use.
#[derive(Default)]
pub struct SpinTally(OnceCell<key_value::Store>);

impl SpinTally {
    const LABEL: &'static str = "counters";

    fn store(&self) -> Result<&key_value::Store, StoreError> {
        opened(&self.0, || {
            key_value::Store::open(Self::LABEL)
                .map_err(|e| StoreError::Other(format!("{} store: {e}", Self::LABEL)))
        })
    }
}

impl vreg_core::storage::Tally for SpinTally {
    fn add(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        let bucket = wasi_kv::open(Self::LABEL).map_err(wasi_error)?;
        atomics::increment(&bucket, key, delta).map_err(wasi_error)
    }

    fn keys(&self) -> Result<Vec<String>, StoreError> {
        self.store()?.get_keys().map_err(kv_error)
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.store()?.delete(key).map_err(kv_error)
    }
}

/// Sync triggers as keys in the `sync` key-value store (see
/// [`vreg_core::storage::Publisher`]): the runtime config puts that store
/// on the worker's Redis, whose keyspace announcements trigger the worker.
#[derive(Default)]
pub struct SpinPublisher {
    store: OnceCell<key_value::Store>,
}

impl SpinPublisher {
    fn store(&self) -> Result<&key_value::Store, StoreError> {
        opened(&self.store, || {
            key_value::Store::open("sync")
                .map_err(|e| StoreError::Other(format!("sync store: {e}")))
        })
    }
}

impl vreg_core::storage::Publisher for SpinPublisher {
    fn publish(&self, key: &str, payload: &[u8]) -> Result<(), StoreError> {
        self.store()?.set(key, payload).map_err(kv_error)
    }

    fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let store = self.store()?;
        let payload = store.get(key).map_err(kv_error)?;
        if payload.is_some() {
            store.delete(key).map_err(kv_error)?;
        }
        Ok(payload)
    }
}
