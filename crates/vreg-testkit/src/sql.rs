//! [`Sql`] over real SQLite (rusqlite), the engine Spin uses locally.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode};
use vreg_core::storage::{Rows, Sql, StoreError, Value};

/// A SQLite connection, as Spin gives a component one per request.
pub struct NativeSql {
    connection: Mutex<Connection>,
    statements: std::sync::atomic::AtomicU64,
}

impl NativeSql {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let connection = Connection::open(path).map_err(store_error)?;
        Self::configure(connection)
    }

    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::configure(Connection::open_in_memory().map_err(store_error)?)
    }

    fn configure(connection: Connection) -> Result<Self, StoreError> {
        // Without a busy timeout a second writer fails at once instead of queueing.
        connection
            .busy_timeout(Duration::from_secs(5))
            .map_err(store_error)?;
        Ok(NativeSql {
            connection: Mutex::new(connection),
            statements: Default::default(),
        })
    }

    /// How many statements were executed through this connection.
    pub fn statements(&self) -> u64 {
        self.statements.load(std::sync::atomic::Ordering::SeqCst)
    }
}

fn store_error(error: rusqlite::Error) -> StoreError {
    match error.sqlite_error_code() {
        Some(ErrorCode::ConstraintViolation) => StoreError::Constraint(error.to_string()),
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => StoreError::Busy,
        _ => StoreError::Other(error.to_string()),
    }
}

fn to_sql(value: &Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as V;
    match value {
        Value::Integer(v) => V::Integer(*v),
        Value::Real(v) => V::Real(*v),
        Value::Text(v) => V::Text(v.clone()),
        Value::Blob(v) => V::Blob(v.clone()),
        Value::Null => V::Null,
    }
}

fn from_sql(value: ValueRef) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(v) => Value::Integer(v),
        ValueRef::Real(v) => Value::Real(v),
        ValueRef::Text(v) => Value::Text(String::from_utf8_lossy(v).into_owned()),
        ValueRef::Blob(v) => Value::Blob(v.to_vec()),
    }
}

impl Sql for NativeSql {
    fn execute(&self, statement: &str, params: &[Value]) -> Result<Rows, StoreError> {
        self.statements
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let connection = self
            .connection
            .lock()
            .map_err(|_| StoreError::Other("connection poisoned".into()))?;
        let mut prepared = connection.prepare(statement).map_err(store_error)?;
        let columns: Vec<String> = prepared
            .column_names()
            .into_iter()
            .map(str::to_owned)
            .collect();
        let params: Vec<rusqlite::types::Value> = params.iter().map(to_sql).collect();
        let mut rows = prepared
            .query(rusqlite::params_from_iter(params))
            .map_err(store_error)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(store_error)? {
            out.push(
                (0..columns.len())
                    .map(|i| row.get_ref(i).map(from_sql).map_err(store_error))
                    .collect::<Result<Vec<_>, _>>()?,
            );
        }
        Ok(Rows { columns, rows: out })
    }
}
