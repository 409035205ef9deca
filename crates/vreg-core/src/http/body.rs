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

/// How much of a request body past its limit is read and dropped before the
/// request is refused. A client that writes its whole body before it reads
/// (most do) then gets the 413, not a connection closed under it (Spin
/// closes one whose request body was left unread, and the client's next
/// write fails). Past this much the connection is let go: no host reads on
/// for nothing.
pub const DRAINED_PAST_LIMIT: usize = 16 * 1024 * 1024;

/// Reads a whole request body, refusing one larger than `limit` bytes (see
/// [`refusing_past_limit`]).
pub fn read_request_body(reader: &mut dyn BodyReader, limit: usize) -> Result<Vec<u8>> {
    refusing_past_limit(reader, |reader| read_to_end(reader, limit))
}

/// Runs `read` over a request body; if it refuses the body as too large,
/// reads up to [`DRAINED_PAST_LIMIT`] more bytes of it before passing the
/// refusal on, so that the client gets to read its 413.
pub fn refusing_past_limit<T>(
    reader: &mut dyn BodyReader,
    read: impl FnOnce(&mut dyn BodyReader) -> Result<T>,
) -> Result<T> {
    let refused = match read(reader) {
        Err(refused @ CoreError::PayloadTooLarge(_)) => refused,
        read => return read,
    };
    let mut drained = 0;
    while drained < DRAINED_PAST_LIMIT {
        match reader.next_chunk() {
            Ok(Some(chunk)) => drained += chunk.len(),
            _ => break,
        }
    }
    Err(refused)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A body that never ends, counting what was read of it.
    struct Endless(usize);

    impl BodyReader for Endless {
        fn next_chunk(&mut self) -> Result<Option<Vec<u8>>> {
            self.0 += 65536;
            Ok(Some(vec![0; 65536]))
        }
    }

    #[test]
    fn a_refused_request_body_is_read_to_its_end_when_it_is_not_much_larger() {
        let mut body = BytesReader::new(vec![1; 1024 + 3 * 1024 * 1024]);
        assert!(matches!(
            read_request_body(&mut body, 1024),
            Err(CoreError::PayloadTooLarge(1024))
        ));
        assert!(body.next_chunk().unwrap().is_none(), "read to its end");
        let mut small = BytesReader::new(vec![2; 1024]);
        assert_eq!(read_request_body(&mut small, 1024).unwrap(), vec![2; 1024]);
    }

    #[test]
    fn a_refused_request_body_is_read_no_further_than_the_drain_limit() {
        let mut body = Endless(0);
        assert!(matches!(
            read_request_body(&mut body, 1024),
            Err(CoreError::PayloadTooLarge(1024))
        ));
        assert!(
            body.0 <= 1024 + DRAINED_PAST_LIMIT + 2 * 65536,
            "{}",
            body.0
        );
        assert!(body.0 >= DRAINED_PAST_LIMIT, "{}", body.0);
    }
}
