//! SQLite databases: what the capability is and how a component is granted
//! it. A component may open only the labels in its `sqlite_databases`; each
//! open gives the instance a connection of its own for as long as it holds
//! it, so `BEGIN`/`COMMIT` issued through it bracket that instance's
//! statements. Connections are kept for the next instance when they are
//! given back with no transaction open: opening one and preparing its
//! statements again cost every request about half a millisecond.

mod host;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Result};
use rusqlite::types::{Value as SqlValue, ValueRef};

use crate::idle::{connect_sqlite, Idle};

pub struct SqliteDatabases {
    by_label: BTreeMap<String, Arc<Database>>,
}

/// One database file and the connections to it that no instance holds
/// (up to 16 are kept).
struct Database {
    path: PathBuf,
    idle: Idle<rusqlite::Connection>,
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
        let by_label = locations
            .iter()
            .map(|(label, path)| {
                let database = Database {
                    path: path.clone(),
                    idle: Idle::new(16),
                };
                (label.clone(), Arc::new(database))
            })
            .collect();
        Ok(SqliteDatabases { by_label })
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
        let database = self.by_label.get(label).ok_or(OpenError::NoSuchDatabase)?;
        let connection = match database.idle.take() {
            Some(connection) => connection,
            None => crate::guest::blocking_long(|| connect_sqlite(&database.path))
                .map_err(|e| OpenError::Io(e.to_string()))?,
        };
        Ok(Connection {
            connection: Some(connection),
            home: database.clone(),
        })
    }
}

/// An open connection (`fermyon:spin/sqlite.connection`, `spin:sqlite/sqlite.connection`).
pub struct Connection {
    /// Always `Some` until dropped.
    connection: Option<rusqlite::Connection>,
    home: Arc<Database>,
}

impl Drop for Connection {
    /// A connection left inside a transaction is closed (which rolls it
    /// back), never handed to another instance.
    fn drop(&mut self) {
        let Some(connection) = self.connection.take() else {
            return;
        };
        if connection.is_autocommit() {
            self.home.idle.give_back(connection);
        }
    }
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
        crate::guest::blocking_long(|| {
            let mut prepared = self
                .raw()
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

    fn raw(&self) -> &rusqlite::Connection {
        self.connection.as_ref().expect("taken only when dropped")
    }

    pub fn last_insert_rowid(&self) -> i64 {
        self.raw().last_insert_rowid()
    }

    pub fn changes(&self) -> u64 {
        self.raw().changes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_dir::TestDir;

    /// A database with an empty table `t`.
    fn database(dir: &TestDir) -> SqliteDatabases {
        let locations = BTreeMap::from([("default".to_owned(), dir.0.join("db.sqlite"))]);
        let databases = SqliteDatabases::new(&locations).unwrap();
        let statement = "CREATE TABLE t (x INTEGER)";
        open(&databases).execute(statement, vec![]).unwrap();
        databases
    }

    fn open(databases: &SqliteDatabases) -> Connection {
        databases.open(&["default".to_owned()], "default").unwrap()
    }

    fn count(connection: &Connection) -> i64 {
        match connection
            .execute("SELECT COUNT(*) FROM t", vec![])
            .unwrap()
            .rows[0][0]
        {
            Value::Integer(n) => n,
            _ => panic!("not a count"),
        }
    }

    /// Marks a connection (a temporary table lives only in its connection).
    fn mark(connection: &Connection, name: &str) {
        let statement = format!("CREATE TEMP TABLE {name} (x INTEGER)");
        connection.execute(&statement, vec![]).unwrap();
    }

    fn marked(connection: &Connection, name: &str) -> bool {
        let found = connection
            .execute(
                "SELECT name FROM sqlite_temp_master WHERE name = ?",
                vec![Value::Text(name.to_owned())],
            )
            .unwrap();
        !found.rows.is_empty()
    }

    #[test]
    fn a_connection_is_reused_only_when_given_back_outside_a_transaction() {
        let dir = TestDir::new();
        let databases = database(&dir);
        let first = open(&databases);
        first.execute("INSERT INTO t VALUES (1)", vec![]).unwrap();
        mark(&first, "first");
        drop(first);
        // Given back clean: the next instance gets the same connection.
        let second = open(&databases);
        assert!(marked(&second, "first"));
        // Given back inside a transaction: closed, and its write undone.
        second.execute("BEGIN", vec![]).unwrap();
        second.execute("INSERT INTO t VALUES (2)", vec![]).unwrap();
        drop(second);
        let third = open(&databases);
        assert!(!marked(&third, "first"));
        assert!(third.raw().is_autocommit());
        assert_eq!(count(&third), 1);
    }

    #[test]
    fn instances_holding_connections_at_once_each_have_their_own() {
        let dir = TestDir::new();
        let databases = database(&dir);
        let (a, b) = (open(&databases), open(&databases));
        mark(&a, "a");
        assert!(!marked(&b, "a"));
        // A transaction in one is not seen by the other until it commits.
        a.execute("BEGIN", vec![]).unwrap();
        a.execute("INSERT INTO t VALUES (1)", vec![]).unwrap();
        assert_eq!(count(&b), 0);
        a.execute("COMMIT", vec![]).unwrap();
        assert_eq!(count(&b), 1);
    }
}
