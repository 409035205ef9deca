//! Spin's `redis` key-value type: every label mapped to one Redis holds
//! its keys in that Redis's keyspace as they are (the label is not a
//! prefix, as in Spin), and counters are Redis integers (`INCRBY`).
//! Connections are made on demand and kept in a small pool (many requests
//! count downloads at once; one shared connection made them queue), and
//! one that failed is dropped, so a Redis that is down fails operations,
//! not the app.

use std::sync::Mutex;

use redis::{Commands, Connection};

use super::store::{KvBackend, KvResult};

pub struct RedisKv {
    client: redis::Client,
    /// Idle connections; at most [`IDLE_CONNECTIONS`] are kept.
    idle: Mutex<Vec<Connection>>,
}

const IDLE_CONNECTIONS: usize = 16;

impl RedisKv {
    pub fn new(url: &str) -> anyhow::Result<RedisKv> {
        let client = redis::Client::open(url)
            .map_err(|e| anyhow::anyhow!("invalid Redis URL {url:?}: {e}"))?;
        Ok(RedisKv {
            client,
            idle: Mutex::new(Vec::new()),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> redis::RedisResult<T>) -> KvResult<T> {
        crate::guest::blocking(|| {
            let idle = self
                .idle
                .lock()
                .map_err(|_| "store poisoned".to_owned())?
                .pop();
            let mut connection = match idle {
                Some(connection) => connection,
                None => self
                    .client
                    .get_connection_with_timeout(std::time::Duration::from_secs(2))
                    .map_err(|e| e.to_string())?,
            };
            let result = f(&mut connection);
            // A connection that failed is dropped (Redis restarted, the
            // connection broke): the next operation makes a new one.
            if result.is_ok() {
                let mut idle = self.idle.lock().map_err(|_| "store poisoned".to_owned())?;
                if idle.len() < IDLE_CONNECTIONS {
                    idle.push(connection);
                }
            }
            result.map_err(|e| e.to_string())
        })
    }
}

impl KvBackend for RedisKv {
    fn get(&self, _store: &str, key: &str) -> KvResult<Option<Vec<u8>>> {
        self.with(|c| c.get(key))
    }

    fn set(&self, _store: &str, key: &str, value: &[u8]) -> KvResult<()> {
        self.with(|c| c.set(key, value))
    }

    fn delete(&self, _store: &str, key: &str) -> KvResult<()> {
        self.with(|c| c.del(key))
    }

    fn exists(&self, _store: &str, key: &str) -> KvResult<bool> {
        self.with(|c| c.exists(key))
    }

    fn keys(&self, _store: &str) -> KvResult<Vec<String>> {
        self.with(|c| c.keys("*"))
    }

    fn get_many(&self, _store: &str, keys: &[String]) -> KvResult<Vec<(String, Option<Vec<u8>>)>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let values: Vec<Option<Vec<u8>>> = self.with(|c| redis::cmd("MGET").arg(keys).query(c))?;
        Ok(keys.iter().cloned().zip(values).collect())
    }

    fn set_many(&self, _store: &str, entries: &[(String, Vec<u8>)]) -> KvResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        self.with(|c| c.mset(entries))
    }

    fn delete_many(&self, _store: &str, keys: &[String]) -> KvResult<()> {
        if keys.is_empty() {
            return Ok(());
        }
        self.with(|c| c.del(keys))
    }

    fn increment(&self, _store: &str, key: &str, delta: i64) -> KvResult<i64> {
        self.with(|c| c.incr(key, delta))
    }

    fn swap(
        &self,
        _store: &str,
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> KvResult<bool> {
        // WATCH, compare, then MULTI/EXEC: EXEC fails (nil) if the key
        // changed in between, which is a refused swap.
        self.with(|c| {
            redis::cmd("WATCH").arg(key).query::<()>(c)?;
            let current: Option<Vec<u8>> = c.get(key)?;
            if current.as_deref() != expected {
                redis::cmd("UNWATCH").query::<()>(c)?;
                return Ok(false);
            }
            let done: Option<()> = redis::pipe().atomic().set(key, value).ignore().query(c)?;
            Ok(done.is_some())
        })
    }
}
