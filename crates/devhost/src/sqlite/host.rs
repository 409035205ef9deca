//! The WIT host implementations: `fermyon:spin/sqlite@2.0.0` and
//! `spin:sqlite/sqlite@3.0.0`, which differ only in their types and in v3's
//! `last-insert-rowid`/`changes`.

use wasmtime::component::Resource;

use super::{Connection, OpenError, QueryOutput, Value};
use crate::bindings::fermyon::spin2_0_0::sqlite as v2;
use crate::bindings::spin::sqlite::sqlite as v3;
use crate::state::InstanceState;

/// Conversions between the shared shapes and one interface's generated types.
macro_rules! sqlite_interface {
    ($m:ident) => {
        impl From<$m::Value> for Value {
            fn from(v: $m::Value) -> Self {
                match v {
                    $m::Value::Integer(i) => Value::Integer(i),
                    $m::Value::Real(r) => Value::Real(r),
                    $m::Value::Text(t) => Value::Text(t),
                    $m::Value::Blob(b) => Value::Blob(b),
                    $m::Value::Null => Value::Null,
                }
            }
        }

        impl From<Value> for $m::Value {
            fn from(v: Value) -> Self {
                match v {
                    Value::Integer(i) => $m::Value::Integer(i),
                    Value::Real(r) => $m::Value::Real(r),
                    Value::Text(t) => $m::Value::Text(t),
                    Value::Blob(b) => $m::Value::Blob(b),
                    Value::Null => $m::Value::Null,
                }
            }
        }

        impl From<QueryOutput> for $m::QueryResult {
            fn from(out: QueryOutput) -> Self {
                $m::QueryResult {
                    columns: out.columns,
                    rows: out
                        .rows
                        .into_iter()
                        .map(|values| $m::RowResult {
                            values: values.into_iter().map(Into::into).collect(),
                        })
                        .collect(),
                }
            }
        }

        impl From<OpenError> for $m::Error {
            fn from(e: OpenError) -> Self {
                match e {
                    OpenError::AccessDenied => $m::Error::AccessDenied,
                    OpenError::NoSuchDatabase => $m::Error::NoSuchDatabase,
                    OpenError::Io(m) => $m::Error::Io(m),
                }
            }
        }
    };
}

sqlite_interface!(v2);
sqlite_interface!(v3);

impl InstanceState {
    fn open_database(&self, label: &str) -> Result<Connection, OpenError> {
        self.services
            .sqlite
            .open(&self.component.sqlite_databases, label)
    }
}

impl v2::Host for InstanceState {}

impl v2::HostConnection for InstanceState {
    fn open(
        &mut self,
        database: String,
    ) -> wasmtime::Result<Result<Resource<Connection>, v2::Error>> {
        match self.open_database(&database) {
            Ok(c) => Ok(Ok(self.table.push(c)?)),
            Err(e) => Ok(Err(e.into())),
        }
    }

    fn execute(
        &mut self,
        connection: Resource<Connection>,
        statement: String,
        parameters: Vec<v2::Value>,
    ) -> wasmtime::Result<Result<v2::QueryResult, v2::Error>> {
        let connection = self.table.get(&connection)?;
        Ok(connection
            .execute(&statement, parameters.into_iter().map(Into::into).collect())
            .map(Into::into)
            .map_err(v2::Error::Io))
    }

    fn drop(&mut self, connection: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

impl v3::Host for InstanceState {}

impl v3::HostConnection for InstanceState {
    fn open(
        &mut self,
        database: String,
    ) -> wasmtime::Result<Result<Resource<Connection>, v3::Error>> {
        match self.open_database(&database) {
            Ok(c) => Ok(Ok(self.table.push(c)?)),
            Err(e) => Ok(Err(e.into())),
        }
    }

    fn execute(
        &mut self,
        connection: Resource<Connection>,
        statement: String,
        parameters: Vec<v3::Value>,
    ) -> wasmtime::Result<Result<v3::QueryResult, v3::Error>> {
        let connection = self.table.get(&connection)?;
        Ok(connection
            .execute(&statement, parameters.into_iter().map(Into::into).collect())
            .map(Into::into)
            .map_err(v3::Error::Io))
    }

    fn last_insert_rowid(&mut self, connection: Resource<Connection>) -> wasmtime::Result<i64> {
        Ok(self.table.get(&connection)?.last_insert_rowid())
    }

    fn changes(&mut self, connection: Resource<Connection>) -> wasmtime::Result<u64> {
        Ok(self.table.get(&connection)?.changes())
    }

    fn drop(&mut self, connection: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}
