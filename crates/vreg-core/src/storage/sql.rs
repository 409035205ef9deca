//! Reading rows and running transactions over the [`Sql`] trait.

use super::{Sql, StoreError, Value};
use crate::error::{CoreError, Result};

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

/// Works through a queue table, oldest row first: up to `budget` rows of
/// `columns`, each handed to `handle` and deleted once handled (a row that
/// cannot be decoded is deleted too: it never will be). A failure to handle
/// one leaves it, and the rest, for the next run. Returns how many rows
/// were taken.
pub fn drain_queue(
    sql: &dyn Sql,
    table: &str,
    columns: &str,
    budget: i64,
    mut handle: impl FnMut(&mut RowReader) -> Result<()>,
) -> Result<i64> {
    let rows = sql
        .execute(
            &format!("SELECT rowid, {columns} FROM {table} ORDER BY rowid LIMIT ?"),
            &[budget.max(1).into()],
        )?
        .rows;
    for row in &rows {
        let mut reader = RowReader::new(row);
        let rowid = reader.i64()?;
        match handle(&mut reader) {
            Ok(()) | Err(CoreError::Store(StoreError::Decode(_))) => {}
            Err(e) => return Err(e),
        }
        sql.execute(
            &format!("DELETE FROM {table} WHERE rowid = ?"),
            &[rowid.into()],
        )?;
    }
    Ok(rows.len() as i64)
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

/// A JSON array as one parameter: a list for
/// `IN (SELECT value FROM json_each(?))`, or a list column's stored form.
pub fn json_list<T: serde::Serialize>(items: &[T]) -> Value {
    Value::Text(serde_json::to_string(items).unwrap_or_else(|_| "[]".into()))
}

/// `a, b, c` as `t.a, t.b, t.c`, for joins.
pub fn qualified(columns: &str, alias: &str) -> String {
    columns
        .split(',')
        .map(|c| format!("{alias}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A WHERE clause built from conditions joined with AND, with their
/// parameters in order.
#[derive(Debug, Default)]
pub struct Filter {
    conditions: Vec<String>,
    params: Vec<Value>,
}

impl Filter {
    /// Adds `condition`, whose `?`s take `params`.
    pub fn and(&mut self, condition: &str, params: impl IntoIterator<Item = Value>) -> &mut Self {
        self.conditions.push(condition.to_owned());
        self.params.extend(params);
        self
    }

    /// Adds a case-insensitive substring match of `term` on any of `columns`,
    /// with LIKE's wildcards in the term escaped.
    pub fn contains(&mut self, columns: &[&str], term: &str) -> &mut Self {
        let pattern = like_pattern(term);
        let any: Vec<String> = columns
            .iter()
            .map(|c| format!("{c} LIKE ? ESCAPE '\\'"))
            .collect();
        let params = columns.iter().map(|_| Value::from(pattern.as_str()));
        self.and(&format!("({})", any.join(" OR ")), params)
    }

    fn clause(&self) -> String {
        if self.conditions.is_empty() {
            "1 = 1".into()
        } else {
            self.conditions.join(" AND ")
        }
    }
}

/// `%term%` with LIKE's wildcards escaped.
pub fn like_pattern(term: &str) -> String {
    let escaped = term
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// One page of `SELECT columns FROM table WHERE filter ORDER BY order_by`,
/// with the total number of matching rows: every paged listing of the API.
pub struct Listing<'a> {
    pub table: &'a str,
    pub columns: &'a str,
    pub order_by: &'a str,
}

impl Listing<'_> {
    pub fn page<T>(
        &self,
        sql: &dyn Sql,
        filter: &Filter,
        (limit, offset): (i64, i64),
        decode: impl Fn(&mut RowReader) -> Result<T, StoreError>,
    ) -> Result<(Vec<T>, i64)> {
        let (table, clause) = (self.table, filter.clause());
        let total = sql
            .execute(
                &format!("SELECT COUNT(*) FROM {table} WHERE {clause}"),
                &filter.params,
            )?
            .scalar_i64()
            .unwrap_or(0);
        let mut params = filter.params.clone();
        params.extend([limit.into(), offset.into()]);
        let rows = query_rows(
            sql,
            &format!(
                "SELECT {} FROM {table} WHERE {clause} ORDER BY {} LIMIT ? OFFSET ?",
                self.columns, self.order_by
            ),
            &params,
            decode,
        )?;
        Ok((rows, total))
    }
}
