//! Outbound Redis (`fermyon:spin/redis@2.0.0`): connections only to
//! addresses the component's `allowed_outbound_hosts` allows.

pub mod trigger;

use std::time::Duration;

use wasmtime::component::Resource;

use crate::bindings::fermyon::spin::redis_types;
use crate::bindings::fermyon::spin2_0_0::redis as v2;
use crate::state::InstanceState;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const IO_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Connection {
    connection: redis::Connection,
}

impl Connection {
    fn query<T: redis::FromRedisValue>(&mut self, command: &redis::Cmd) -> Result<T, v2::Error> {
        crate::guest::blocking(|| command.query(&mut self.connection)).map_err(other)
    }
}

fn other(e: redis::RedisError) -> v2::Error {
    if e.kind() == redis::ErrorKind::TypeError {
        v2::Error::TypeError
    } else {
        v2::Error::Other(e.to_string())
    }
}

impl redis_types::Host for InstanceState {}

impl v2::Host for InstanceState {}

fn result_of(value: redis::Value) -> v2::RedisResult {
    match value {
        redis::Value::Nil => v2::RedisResult::Nil,
        redis::Value::Int(i) => v2::RedisResult::Int64(i),
        redis::Value::BulkString(b) => v2::RedisResult::Binary(b),
        redis::Value::SimpleString(s) => v2::RedisResult::Status(s),
        redis::Value::Okay => v2::RedisResult::Status("OK".into()),
        redis::Value::Boolean(b) => v2::RedisResult::Int64(b as i64),
        redis::Value::Double(d) => v2::RedisResult::Binary(d.to_string().into_bytes()),
        other => v2::RedisResult::Binary(format!("{other:?}").into_bytes()),
    }
}

impl v2::HostConnection for InstanceState {
    fn open(
        &mut self,
        address: String,
    ) -> wasmtime::Result<Result<Resource<Connection>, v2::Error>> {
        if !self.component.allowed_outbound_hosts.allows_url(&address) {
            eprintln!(
                "[{}] outbound Redis to {address} is not allowed by allowed_outbound_hosts",
                self.component.id
            );
            return Ok(Err(v2::Error::InvalidAddress));
        }
        let client = match redis::Client::open(address.as_str()) {
            Ok(c) => c,
            Err(_) => return Ok(Err(v2::Error::InvalidAddress)),
        };
        if let Err(refused) = self.redis_destination_allowed(&client) {
            eprintln!(
                "[{}] outbound Redis to {address} refused: {refused}",
                self.component.id
            );
            return Ok(Err(v2::Error::Other(refused)));
        }
        let connection = crate::guest::blocking(|| {
            let c = client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
            c.set_read_timeout(Some(IO_TIMEOUT))?;
            c.set_write_timeout(Some(IO_TIMEOUT))?;
            Ok::<_, redis::RedisError>(c)
        });
        match connection {
            Ok(connection) => Ok(Ok(self.table.push(Connection { connection })?)),
            Err(e) => Ok(Err(v2::Error::Other(e.to_string()))),
        }
    }

    fn publish(
        &mut self,
        c: Resource<Connection>,
        channel: String,
        payload: Vec<u8>,
    ) -> wasmtime::Result<Result<(), v2::Error>> {
        let c = self.table.get_mut(&c)?;
        Ok(
            c.query::<i64>(redis::cmd("PUBLISH").arg(channel).arg(payload))
                .map(drop),
        )
    }

    fn get(
        &mut self,
        c: Resource<Connection>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, v2::Error>> {
        let c = self.table.get_mut(&c)?;
        Ok(c.query(redis::cmd("GET").arg(key)))
    }

    fn set(
        &mut self,
        c: Resource<Connection>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), v2::Error>> {
        let c = self.table.get_mut(&c)?;
        Ok(c.query::<()>(redis::cmd("SET").arg(key).arg(value)))
    }

    fn incr(
        &mut self,
        c: Resource<Connection>,
        key: String,
    ) -> wasmtime::Result<Result<i64, v2::Error>> {
        let c = self.table.get_mut(&c)?;
        Ok(c.query(redis::cmd("INCR").arg(key)))
    }

    fn del(
        &mut self,
        c: Resource<Connection>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<u32, v2::Error>> {
        let c = self.table.get_mut(&c)?;
        Ok(c.query(redis::cmd("DEL").arg(keys)))
    }

    fn sadd(
        &mut self,
        c: Resource<Connection>,
        key: String,
        values: Vec<String>,
    ) -> wasmtime::Result<Result<u32, v2::Error>> {
        let c = self.table.get_mut(&c)?;
        Ok(c.query(redis::cmd("SADD").arg(key).arg(values)))
    }

    fn smembers(
        &mut self,
        c: Resource<Connection>,
        key: String,
    ) -> wasmtime::Result<Result<Vec<String>, v2::Error>> {
        let c = self.table.get_mut(&c)?;
        Ok(c.query(redis::cmd("SMEMBERS").arg(key)))
    }

    fn srem(
        &mut self,
        c: Resource<Connection>,
        key: String,
        values: Vec<String>,
    ) -> wasmtime::Result<Result<u32, v2::Error>> {
        let c = self.table.get_mut(&c)?;
        Ok(c.query(redis::cmd("SREM").arg(key).arg(values)))
    }

    fn execute(
        &mut self,
        c: Resource<Connection>,
        command: String,
        arguments: Vec<v2::RedisParameter>,
    ) -> wasmtime::Result<Result<Vec<v2::RedisResult>, v2::Error>> {
        let c = self.table.get_mut(&c)?;
        let mut cmd = redis::cmd(&command);
        for argument in arguments {
            match argument {
                v2::RedisParameter::Int64(i) => cmd.arg(i),
                v2::RedisParameter::Binary(b) => cmd.arg(b),
            };
        }
        Ok(c.query::<redis::Value>(&cmd).map(|value| match value {
            redis::Value::Array(items) | redis::Value::Set(items) => {
                items.into_iter().map(result_of).collect()
            }
            single => vec![result_of(single)],
        }))
    }

    fn drop(&mut self, c: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(c)?;
        Ok(())
    }
}

impl InstanceState {
    /// `block_networks` applies to Redis connections too, as in Spin.
    fn redis_destination_allowed(&self, client: &redis::Client) -> Result<(), String> {
        let blocked = &self.services.blocked_networks;
        if blocked.is_empty() {
            return Ok(());
        }
        let (host, port) = match &client.get_connection_info().addr {
            redis::ConnectionAddr::Tcp(host, port) => (host.clone(), *port),
            redis::ConnectionAddr::TcpTls { host, port, .. } => (host.clone(), *port),
            _ => return Err("only TCP Redis addresses are supported".into()),
        };
        match blocked.resolve(&host, port) {
            Ok(_) => Ok(()),
            Err(crate::blocked_networks::Refused::Blocked(addresses)) => Err(format!(
                "every address ({addresses:?}) is in block_networks"
            )),
            Err(crate::blocked_networks::Refused::Unresolved(e)) => Err(e),
        }
    }
}
