//! Streaming bodies. Components read requests and write responses chunk by
//! chunk (blocking WASI streams); tests use in-memory or socket readers. The
//! core only sees these two traits, so large files pass through with
//! bounded memory.

use crate::error::{CoreError, Result};

/// A body read a chunk at a time.
pub trait BodyReader {
    /// The next chunk, or `None` at the end of the body.
    fn next_chunk(&mut self) -> Result<Option<Vec<u8>>>;
}

/// A body written a chunk at a time.
pub trait BodyWriter {
    fn write(&mut self, bytes: &[u8]) -> Result<()>;
}

/// An in-memory body, handed out in chunks of at most `chunk` bytes.
pub struct BytesReader {
    bytes: Vec<u8>,
    position: usize,
    chunk: usize,
}

impl BytesReader {
    pub fn new(bytes: Vec<u8>) -> Self {
        BytesReader {
            bytes,
            position: 0,
            chunk: 64 * 1024,
        }
    }
}

impl BodyReader for BytesReader {
    fn next_chunk(&mut self) -> Result<Option<Vec<u8>>> {
        if self.position >= self.bytes.len() {
            return Ok(None);
        }
        let end = (self.position + self.chunk).min(self.bytes.len());
        let chunk = self.bytes[self.position..end].to_vec();
        self.position = end;
        Ok(Some(chunk))
    }
}

impl BodyWriter for Vec<u8> {
    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.extend_from_slice(bytes);
        Ok(())
    }
}

/// Reads a whole body, refusing one larger than `limit` bytes.
pub fn read_to_end(reader: &mut dyn BodyReader, limit: usize) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(chunk) = reader.next_chunk()? {
        if out.len() + chunk.len() > limit {
            return Err(CoreError::PayloadTooLarge(limit));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Where a streaming handler writes its response.
pub trait ResponseSink {
    /// Sends a complete (small) response.
    fn send(&mut self, response: super::Response) -> Result<()>;
    /// Sends the status and headers; the body follows through the writer.
    fn start(
        &mut self,
        status: http::StatusCode,
        headers: &http::HeaderMap,
    ) -> Result<Box<dyn BodyWriter + '_>>;
    /// Whether a client receives what is sent, so that a file sent is a
    /// download to count. A sink that drops it (a file fetched only so
    /// that its checksum can be answered) is not one.
    fn reaches_client(&self) -> bool {
        true
    }
}

/// Collects a streamed response in memory (tests, and small internal uses).
#[derive(Debug, Default)]
pub struct CollectedResponse {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl ResponseSink for CollectedResponse {
    fn send(&mut self, response: super::Response) -> Result<()> {
        let (parts, body) = response.into_parts();
        self.status = parts.status.as_u16();
        self.headers = parts.headers;
        self.body = body;
        Ok(())
    }

    fn start(
        &mut self,
        status: http::StatusCode,
        headers: &http::HeaderMap,
    ) -> Result<Box<dyn BodyWriter + '_>> {
        self.status = status.as_u16();
        self.headers = headers.clone();
        self.body.clear();
        Ok(Box::new(&mut self.body))
    }
}

/// A response nobody reads: its status is kept, its body dropped as it
/// streams (a file fetched only to be cached).
#[derive(Debug, Default)]
pub struct DiscardedResponse {
    pub status: u16,
}

struct Discard;

impl BodyWriter for Discard {
    fn write(&mut self, _bytes: &[u8]) -> Result<()> {
        Ok(())
    }
}

impl ResponseSink for DiscardedResponse {
    fn reaches_client(&self) -> bool {
        false
    }

    fn send(&mut self, response: super::Response) -> Result<()> {
        self.status = response.status().as_u16();
        Ok(())
    }

    fn start(
        &mut self,
        status: http::StatusCode,
        _headers: &http::HeaderMap,
    ) -> Result<Box<dyn BodyWriter + '_>> {
        self.status = status.as_u16();
        Ok(Box::new(Discard))
    }
}

impl BodyWriter for &mut Vec<u8> {
    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.extend_from_slice(bytes);
        Ok(())
    }
}
