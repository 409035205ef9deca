//! The storage traits the core talks through. `vreg-spin` implements them with
//! spin-sdk; `vreg-native` with rusqlite and an in-process map.

use crate::error::{CoreError, Result};

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
    /// Sets `key` to `new` only if it still holds `expected` (absent when
    /// `None`), in one atomic step. Returns whether it did.
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError>;
}

/// Publishes sync triggers (Redis pub/sub in Spin).
pub trait Publisher {
    /// Returns how many subscribers received the message: 0 means no worker
    /// is listening right now, and the message is gone.
    fn publish(&self, channel: &str, payload: &[u8]) -> Result<u64, StoreError>;
}

/// Wall-clock time in milliseconds since the Unix epoch.
pub trait Clock {
    fn now_millis(&self) -> i64;
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
}

/// Reads a row's values left to right, checking each one's type.
pub struct RowReader<'a> {
    values: std::slice::Iter<'a, Value>,
}

impl<'a> RowReader<'a> {
    pub fn new(row: &'a [Value]) -> Self {
        RowReader { values: row.iter() }
    }

    fn next(&mut self) -> Result<&'a Value, StoreError> {
        self.values
            .next()
            .ok_or_else(|| StoreError::Decode("row has too few columns".into()))
    }

    pub fn i64(&mut self) -> Result<i64, StoreError> {
        match self.next()? {
            Value::Integer(v) => Ok(*v),
            other => Err(StoreError::Decode(format!(
                "expected integer, got {other:?}"
            ))),
        }
    }

    pub fn opt_i64(&mut self) -> Result<Option<i64>, StoreError> {
        match self.next()? {
            Value::Integer(v) => Ok(Some(*v)),
            Value::Null => Ok(None),
            other => Err(StoreError::Decode(format!(
                "expected integer, got {other:?}"
            ))),
        }
    }

    pub fn text(&mut self) -> Result<String, StoreError> {
        match self.next()? {
            Value::Text(v) => Ok(v.clone()),
            other => Err(StoreError::Decode(format!("expected text, got {other:?}"))),
        }
    }

    pub fn opt_text(&mut self) -> Result<Option<String>, StoreError> {
        match self.next()? {
            Value::Text(v) => Ok(Some(v.clone())),
            Value::Null => Ok(None),
            other => Err(StoreError::Decode(format!("expected text, got {other:?}"))),
        }
    }

    pub fn opt_blob(&mut self) -> Result<Option<Vec<u8>>, StoreError> {
        match self.next()? {
            Value::Blob(v) => Ok(Some(v.clone())),
            Value::Null => Ok(None),
            other => Err(StoreError::Decode(format!("expected blob, got {other:?}"))),
        }
    }
}

/// Maps every row of a query with `decode`.
pub fn query_rows<T>(
    sql: &dyn Sql,
    statement: &str,
    params: &[Value],
    decode: impl Fn(&mut RowReader) -> Result<T, StoreError>,
) -> Result<Vec<T>> {
    let rows = sql.execute(statement, params)?;
    rows.rows
        .iter()
        .map(|row| decode(&mut RowReader::new(row)).map_err(CoreError::from))
        .collect()
}

/// The first row of a query, if any.
pub fn query_one<T>(
    sql: &dyn Sql,
    statement: &str,
    params: &[Value],
    decode: impl Fn(&mut RowReader) -> Result<T, StoreError>,
) -> Result<Option<T>> {
    Ok(query_rows(sql, statement, params, decode)?
        .into_iter()
        .next())
}

/// How often and how long to wait for another writer before giving up.
const BUSY_RETRIES: u32 = 50;
const BUSY_WAIT: std::time::Duration = std::time::Duration::from_millis(20);

/// Runs `f` inside `BEGIN IMMEDIATE … COMMIT`, rolling back on any error so a
/// failed request leaves no partial write. IMMEDIATE takes the write lock up
/// front, so concurrent writers queue instead of failing half-way.
pub fn transaction<T>(sql: &dyn Sql, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let mut attempt = 0;
    loop {
        match sql.execute("BEGIN IMMEDIATE", &[]) {
            Ok(_) => break,
            Err(StoreError::Busy) if attempt < BUSY_RETRIES => {
                attempt += 1;
                std::thread::sleep(BUSY_WAIT);
            }
            Err(e) => return Err(e.into()),
        }
    }
    match f() {
        Ok(value) => match sql.execute("COMMIT", &[]) {
            Ok(_) => Ok(value),
            Err(e) => {
                let _ = sql.execute("ROLLBACK", &[]);
                Err(e.into())
            }
        },
        Err(e) => {
            let _ = sql.execute("ROLLBACK", &[]);
            Err(e)
        }
    }
}
