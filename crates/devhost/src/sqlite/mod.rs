//! SQLite databases: what the capability is and how a component is granted
//! it. A component may open only the labels in its `sqlite_databases`; each
//! open gives the instance its own connection to the database file, so
//! `BEGIN`/`COMMIT` issued through it bracket that instance's statements.

mod host;

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Result};
use rusqlite::types::{Value as SqlValue, ValueRef};

pub struct SqliteDatabases {
    by_label: BTreeMap<String, PathBuf>,
}

#[derive(Debug, PartialEq)]
pub enum OpenError {
    AccessDenied,
    NoSuchDatabase,
    Io(String),
}

impl SqliteDatabases {
    pub fn new(locations: &BTreeMap<String, PathBuf>) -> Result<Self> {
        for path in locations.values() {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
        }
        Ok(SqliteDatabases {
            by_label: locations.clone(),
        })
    }

    pub fn check_grants(&self, component: &str, labels: &[String]) -> Result<()> {
        for label in labels {
            if !self.by_label.contains_key(label) {
                bail!("component {component:?} uses SQLite database {label:?}, which is not defined in the runtime config");
            }
        }
        Ok(())
    }

    pub fn open(&self, granted: &[String], label: &str) -> Result<Connection, OpenError> {
        if !granted.iter().any(|g| g == label) {
            return Err(OpenError::AccessDenied);
        }
        let path = self.by_label.get(label).ok_or(OpenError::NoSuchDatabase)?;
        let connection = crate::blocking(|| rusqlite::Connection::open(path))
            .map_err(|e| OpenError::Io(e.to_string()))?;
        // Wait for other writers rather than fail at once.
        connection
            .busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| OpenError::Io(e.to_string()))?;
        Ok(Connection { connection })
    }
}

/// An open connection (`fermyon:spin/sqlite.connection`, `spin:sqlite/sqlite.connection`).
pub struct Connection {
    connection: rusqlite::Connection,
}

/// A value in either SQLite interface's shape.
pub enum Value {
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
    Null,
}

pub struct QueryOutput {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

impl Connection {
    pub fn execute(&self, statement: &str, parameters: Vec<Value>) -> Result<QueryOutput, String> {
        crate::blocking(|| {
            let mut prepared = self
                .connection
                .prepare_cached(statement)
                .map_err(|e| e.to_string())?;
            let columns: Vec<String> = prepared
                .column_names()
                .into_iter()
                .map(str::to_owned)
                .collect();
            let parameters: Vec<SqlValue> = parameters
                .into_iter()
                .map(|v| match v {
                    Value::Integer(i) => SqlValue::Integer(i),
                    Value::Real(r) => SqlValue::Real(r),
                    Value::Text(t) => SqlValue::Text(t),
                    Value::Blob(b) => SqlValue::Blob(b),
                    Value::Null => SqlValue::Null,
                })
                .collect();
            let mut rows = prepared
                .query(rusqlite::params_from_iter(parameters))
                .map_err(|e| e.to_string())?;
            let mut out = Vec::new();
            while let Some(row) = rows.next().map_err(|e| e.to_string())? {
                let values = (0..columns.len())
                    .map(|i| {
                        row.get_ref(i).map(|v| match v {
                            ValueRef::Null => Value::Null,
                            ValueRef::Integer(i) => Value::Integer(i),
                            ValueRef::Real(r) => Value::Real(r),
                            ValueRef::Text(t) => {
                                Value::Text(String::from_utf8_lossy(t).into_owned())
                            }
                            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                        })
                    })
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .map_err(|e| e.to_string())?;
                out.push(values);
            }
            Ok(QueryOutput { columns, rows: out })
        })
    }

    pub fn last_insert_rowid(&self) -> i64 {
        self.connection.last_insert_rowid()
    }

    pub fn changes(&self) -> u64 {
        self.connection.changes()
    }
}
