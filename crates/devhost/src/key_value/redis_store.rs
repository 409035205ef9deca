//! Spin's `redis` key-value type: every label mapped to one Redis holds
//! its keys in that Redis's keyspace as they are (the label is not a
//! prefix, as in Spin), and counters are Redis integers (`INCRBY`).
//!
//! Calls are async on one multiplexed connection: a guest waiting on Redis
//! leaves its worker to other requests, and the commands of concurrent
//! requests share the connection's writes and reads. (A pool of blocking
//! connections held the worker for each round trip, two thread switches
//! a call: the download count, one `INCRBY` per cached read, cost cached
//! reads ~20%.) A connection that failed is dropped, and the next call
//! makes a new one, so a Redis that is down fails calls, not the app.

use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncCommands, AsyncConnectionConfig, RedisResult};

use super::store::KvResult;

pub struct RedisKv {
    client: redis::Client,
    connection: Mutex<Option<MultiplexedConnection>>,
}

/// How long a call waits for Redis to accept a connection, and to answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

/// Compare-and-swap in one step: WATCH and MULTI are a connection's state,
/// which a multiplexed connection shares between callers. ARGV: whether a
/// value is expected ("1") or absence ("0"), the expected value, the new one.
static SWAP: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if current ~= ARGV[2] then return 0 end
elseif current then
  return 0
end
redis.call('SET', KEYS[1], ARGV[3])
return 1
",
    )
});

impl RedisKv {
    pub fn new(url: &str) -> anyhow::Result<RedisKv> {
        let client = redis::Client::open(url)
            .map_err(|e| anyhow::anyhow!("invalid Redis URL {url:?}: {e}"))?;
        Ok(RedisKv {
            client,
            connection: Mutex::new(None),
        })
    }

    async fn connection(&self) -> RedisResult<MultiplexedConnection> {
        if let Some(connection) = self.connection.lock().ok().and_then(|c| c.clone()) {
            return Ok(connection);
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(CONNECT_TIMEOUT)
            .set_response_timeout(RESPONSE_TIMEOUT);
        let connection = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        if let Ok(mut slot) = self.connection.lock() {
            *slot = Some(connection.clone());
        }
        Ok(connection)
    }

    /// Runs one call; a connection that broke is forgotten.
    async fn call<T, F>(&self, f: impl FnOnce(MultiplexedConnection) -> F) -> KvResult<T>
    where
        F: std::future::Future<Output = RedisResult<T>>,
    {
        let result = match self.connection().await {
            Ok(connection) => f(connection).await,
            Err(e) => Err(e),
        };
        result.map_err(|e| {
            if e.is_io_error() || e.is_unrecoverable_error() {
                if let Ok(mut slot) = self.connection.lock() {
                    *slot = None;
                }
            }
            e.to_string()
        })
    }

    pub async fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        self.call(|mut c| async move { c.get(key).await }).await
    }

    pub async fn set(&self, key: &str, value: &[u8]) -> KvResult<()> {
        self.call(|mut c| async move { c.set(key, value).await })
            .await
    }

    pub async fn delete(&self, key: &str) -> KvResult<()> {
        self.call(|mut c| async move { c.del(key).await }).await
    }

    pub async fn exists(&self, key: &str) -> KvResult<bool> {
        self.call(|mut c| async move { c.exists(key).await }).await
    }

    pub async fn keys(&self) -> KvResult<Vec<String>> {
        self.call(|mut c| async move { c.keys("*").await }).await
    }

    pub async fn get_many(&self, keys: &[String]) -> KvResult<Vec<(String, Option<Vec<u8>>)>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let values: Vec<Option<Vec<u8>>> = self
            .call(|mut c| async move { redis::cmd("MGET").arg(keys).query_async(&mut c).await })
            .await?;
        Ok(keys.iter().cloned().zip(values).collect())
    }

    pub async fn set_many(&self, entries: &[(String, Vec<u8>)]) -> KvResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        self.call(|mut c| async move { c.mset(entries).await })
            .await
    }

    pub async fn delete_many(&self, keys: &[String]) -> KvResult<()> {
        if keys.is_empty() {
            return Ok(());
        }
        self.call(|mut c| async move { c.del(keys).await }).await
    }

    pub async fn increment(&self, key: &str, delta: i64) -> KvResult<i64> {
        self.call(|mut c| async move { c.incr(key, delta).await })
            .await
    }

    pub async fn swap(&self, key: &str, expected: Option<&[u8]>, value: &[u8]) -> KvResult<bool> {
        let swapped: i64 = self
            .call(|mut c| async move {
                SWAP.key(key)
                    .arg(if expected.is_some() { "1" } else { "0" })
                    .arg(expected.unwrap_or_default())
                    .arg(value)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        Ok(swapped == 1)
    }
}
