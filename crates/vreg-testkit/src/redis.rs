//! A small RESP client for a real `redis-server`, for commands from tests.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

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
