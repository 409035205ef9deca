//! The one place vreg talks to spin-sdk: the core's storage traits over
//! Spin's SQLite and key-value stores, configuration from Spin variables, and
//! the glue between Spin's HTTP types and the core's.

use std::cell::OnceCell;

use futures::StreamExt;
use spin_sdk::http::{IncomingRequest, Method};
use spin_sdk::{key_value, sqlite, variables};
use vreg_core::api::{error_response, Config, Context, Request, Response};
use vreg_core::store::{Kv, Rows, Sql, StoreError, SystemClock, Value};
use vreg_core::CoreError;

/// Spin's SQLite database `default`, one connection per request, opened on
/// first use so requests that never touch the database do not pay for it.
#[derive(Default)]
pub struct SpinSql(OnceCell<sqlite::Connection>);

impl SpinSql {
    fn connection(&self) -> Result<&sqlite::Connection, StoreError> {
        if let Some(connection) = self.0.get() {
            return Ok(connection);
        }
        let connection = sqlite::Connection::open_default().map_err(sqlite_error)?;
        Ok(self.0.get_or_init(|| connection))
    }
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

/// Spin's key-value store `default`, opened on first use.
#[derive(Default)]
pub struct SpinKv(OnceCell<key_value::Store>);

impl SpinKv {
    fn store(&self) -> Result<&key_value::Store, StoreError> {
        if let Some(store) = self.0.get() {
            return Ok(store);
        }
        let store = key_value::Store::open_default().map_err(kv_error)?;
        Ok(self.0.get_or_init(|| store))
    }
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
}

/// Configuration from the component's Spin variables.
pub fn config() -> Config {
    Config::from_lookup(|name| variables::get(name).ok())
}

/// Reads a Spin request into the core's shape, refusing bodies over `limit`
/// bytes without buffering them.
pub async fn read_request(incoming: IncomingRequest, limit: usize) -> Result<Request, CoreError> {
    let method = match incoming.method() {
        Method::Get => http::Method::GET,
        Method::Post => http::Method::POST,
        Method::Put => http::Method::PUT,
        Method::Delete => http::Method::DELETE,
        Method::Patch => http::Method::PATCH,
        Method::Head => http::Method::HEAD,
        Method::Options => http::Method::OPTIONS,
        Method::Connect => http::Method::CONNECT,
        Method::Trace => http::Method::TRACE,
        Method::Other(other) => http::Method::from_bytes(other.as_bytes())
            .map_err(|_| CoreError::BadRequest("invalid method".into()))?,
    };
    let uri = incoming.path_with_query().unwrap_or_else(|| "/".into());
    let mut builder = http::Request::builder().method(method).uri(uri.as_str());
    for (name, value) in incoming.headers().entries() {
        builder = builder.header(name, value);
    }
    let mut body = Vec::new();
    let mut stream = incoming.into_body_stream();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|_| CoreError::BadRequest("request body could not be read".into()))?;
        if body.len() + chunk.len() > limit {
            return Err(CoreError::PayloadTooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    builder
        .body(body)
        .map_err(|_| CoreError::BadRequest("malformed request".into()))
}

/// Runs a core handler for a Spin request with the default stores.
pub async fn serve(
    incoming: IncomingRequest,
    body_limit: usize,
    handler: impl FnOnce(&Context, &Request) -> Response,
) -> Response {
    let request = match read_request(incoming, body_limit).await {
        Ok(request) => request,
        Err(e) => return error_response(&e),
    };
    let (sql, kv) = (SpinSql::default(), SpinKv::default());
    let config = config();
    let ctx = Context {
        sql: &sql,
        kv: &kv,
        clock: &SystemClock,
        config: &config,
    };
    handler(&ctx, &request)
}
