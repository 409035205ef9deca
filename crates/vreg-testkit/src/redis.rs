//! A small RESP client for a real `redis-server` (commands from tests, and
//! the [`Publisher`] Spin's outbound Redis stands for).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use vreg_core::storage::{Publisher, StoreError};

/// Sends one command to the Redis on 127.0.0.1:`port`; returns its raw
/// RESP reply.
pub fn command(address: &str, args: &[&[u8]]) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut request = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        request.extend_from_slice(arg);
        request.extend_from_slice(b"\r\n");
    }
    stream.write_all(&request)?;
    let mut reply = vec![0u8; 4096];
    let n = stream.read(&mut reply)?;
    reply.truncate(n);
    Ok(reply)
}

/// Publishes to a real Redis, as Spin's outbound Redis does.
pub struct RedisPublisher {
    /// `host:port`.
    pub address: String,
}

impl Publisher for RedisPublisher {
    fn publish(&self, channel: &str, payload: &[u8]) -> Result<u64, StoreError> {
        let reply = command(&self.address, &[b"PUBLISH", channel.as_bytes(), payload])
            .map_err(|e| StoreError::Other(format!("redis: {e}")))?;
        let reply = String::from_utf8_lossy(&reply);
        match reply
            .strip_prefix(':')
            .and_then(|r| r.trim_end().parse().ok())
        {
            Some(receivers) => Ok(receivers),
            None => Err(StoreError::Other(format!("redis: {reply}"))),
        }
    }
}
