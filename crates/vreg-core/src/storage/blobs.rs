//! File contents in the key-value store, addressed by their SHA-256. A blob
//! is split into chunks written while the body is still streaming in, each
//! under a key of its write alone (`chunk:<writer>:<n>`, so that deleting
//! one blob's chunks can never take another's); the blob's manifest
//! (`blob:<sha256 of the whole>`, listing its chunks) is written last, and
//! only after it exists does a metadata row point at the blob. A reader
//! therefore never sees half a file. SQL keeps track of writes and blobs
//! (`blob_records`) so that garbage can be collected (`gc`). Manifests
//! written before that list content-addressed chunks (`chunk:<sha256>`),
//! which may be shared; they are read the same way.

use md5::Md5;
use serde::{Deserialize, Serialize};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

use crate::crypto::hex;
use crate::error::{CoreError, Result};
use crate::http::body::{BodyReader, BodyWriter};
use crate::storage::{blob_records, Kv, Sql, StoreError};

/// How many chunks a write goes between touches of its record.
pub(crate) const TOUCH_EVERY_CHUNKS: usize = 16;

/// Default chunk size: under DynamoDB's 400 KB item limit, the smallest of
/// Spin's key-value backends.
pub const DEFAULT_CHUNK_BYTES: usize = 256 * 1024;

/// How much of a blob one read takes from the store at once: on Spin each
/// key-value call is a trip through the host's blocking pool, so a 1 MiB
/// file's four chunks come in one batch get, not four gets.
pub const READ_BATCH_BYTES: usize = 1024 * 1024;

/// The digests of a file, lower-case hex, as Maven and Go clients expect them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digests {
    pub size: u64,
    pub sha1: String,
    pub md5: String,
    pub sha256: String,
    pub sha512: String,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub(crate) size: u64,
    pub(crate) chunks: Vec<String>,
    /// The size of every chunk but the last (absent in older manifests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    chunk_bytes: Option<u64>,
}

/// A blob's chunk keys, known without reading its manifest.
#[derive(Clone)]
struct KnownChunks {
    sha256: String,
    size: u64,
    chunks: Vec<String>,
}

impl KnownChunks {
    /// How many chunks one batch get takes: as many as make about
    /// [`READ_BATCH_BYTES`]. Every chunk but the last is full, so the
    /// average length at most halves a chunk's, and a batch holds at most
    /// twice that much.
    fn batch_len(&self) -> usize {
        let n = self.chunks.len() as u64;
        let average = self.size.div_ceil(n.max(1)).max(1);
        ((READ_BATCH_BYTES as u64 / average) as usize).clamp(1, self.chunks.len().max(1))
    }
}

pub struct BlobStore<'a> {
    kv: &'a dyn Kv,
    chunk_bytes: usize,
    /// The chunk keys of one blob, known without its manifest: the last
    /// one read through it, or what a resolved record kept (see
    /// [`BlobStore::knowing`]).
    known: std::cell::RefCell<Option<KnownChunks>>,
}

struct Hashers {
    sha1: Sha1,
    md5: Md5,
    sha256: Sha256,
    sha512: Sha512,
    size: u64,
}

impl Hashers {
    fn new() -> Self {
        Hashers {
            sha1: Sha1::new(),
            md5: Md5::new(),
            sha256: Sha256::new(),
            sha512: Sha512::new(),
            size: 0,
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        self.sha1.update(bytes);
        self.md5.update(bytes);
        self.sha256.update(bytes);
        self.sha512.update(bytes);
        self.size += bytes.len() as u64;
    }

    fn finish(self) -> Digests {
        Digests {
            size: self.size,
            sha1: hex(&self.sha1.finalize()),
            md5: hex(&self.md5.finalize()),
            sha256: hex(&self.sha256.finalize()),
            sha512: hex(&self.sha512.finalize()),
        }
    }
}

impl Digests {
    /// Reads `size, sha1, md5, sha256, sha512` columns, in that order.
    pub fn decode(r: &mut crate::storage::RowReader) -> Result<Digests, StoreError> {
        Ok(Digests {
            size: r.i64()? as u64,
            sha1: r.opt_text()?.unwrap_or_default(),
            md5: r.opt_text()?.unwrap_or_default(),
            sha256: r.opt_text()?.unwrap_or_default(),
            sha512: r.opt_text()?.unwrap_or_default(),
        })
    }
}

/// Digests of bytes already in memory.
pub fn digests_of(bytes: &[u8]) -> Digests {
    let mut h = Hashers::new();
    h.update(bytes);
    h.finish()
}

pub(crate) fn manifest_key(sha256: &str) -> String {
    format!("blob:{sha256}")
}

/// The prefix of the chunks one write stores.
pub(crate) fn chunk_prefix(writer: &str) -> String {
    format!("chunk:{writer}:")
}

/// What a write needs besides the key-value store: SQL for its records,
/// and the time.
pub struct WriteRecords<'a> {
    pub sql: &'a dyn Sql,
    pub now: i64,
}

impl<'a> BlobStore<'a> {
    pub fn new(kv: &'a dyn Kv, chunk_bytes: usize) -> Self {
        BlobStore {
            kv,
            chunk_bytes: chunk_bytes.clamp(1024, 4 * 1024 * 1024),
            known: std::cell::RefCell::new(None),
        }
    }

    /// A store to read from: a blob's manifest says its chunk size, so the
    /// configured one (a setting, read from the host) is not needed.
    pub fn for_reading(kv: &'a dyn Kv) -> Self {
        Self::new(kv, DEFAULT_CHUNK_BYTES)
    }

    /// The same store, knowing that blob `sha256`, `size` bytes long, is
    /// in `chunks` (as a resolved record kept them): reading it skips its
    /// manifest.
    pub fn knowing(self, sha256: &str, size: u64, chunks: Vec<String>) -> Self {
        if !chunks.is_empty() {
            *self.known.borrow_mut() = Some(KnownChunks {
                sha256: sha256.to_owned(),
                size,
                chunks,
            });
        }
        self
    }

    /// The keys of a stored blob's chunks, in order (`None`: no such blob).
    pub fn chunk_keys(&self, sha256: &str) -> Result<Option<Vec<String>>> {
        if let Some(known) = self.known_chunks(sha256) {
            return Ok(Some(known.chunks));
        }
        Ok(self.manifest(sha256)?.map(|m| m.chunks))
    }

    /// The chunk keys known without the manifest of blob `sha256`, if any.
    fn known_chunks(&self, sha256: &str) -> Option<KnownChunks> {
        let known = self.known.borrow();
        known
            .as_ref()
            .filter(|k| k.sha256 == sha256 && !k.chunks.is_empty())
            .cloned()
    }

    /// Stores a body as it streams in, copying each piece to `tee` (the
    /// client, when proxying) as soon as it arrives. Refuses bodies over
    /// `max_bytes`. A write that fails deletes what it wrote (and if it
    /// cannot, the collector will).
    pub fn put_stream(
        &self,
        records: &WriteRecords,
        reader: &mut dyn BodyReader,
        tee: Option<&mut dyn BodyWriter>,
        max_bytes: u64,
    ) -> Result<Digests> {
        let writer = hex(&crate::crypto::random_bytes::<16>());
        blob_records::begin_write(records.sql, &writer, records.now)?;
        let mut chunks = Vec::new();
        let outcome = self.write_chunks(records, &writer, &mut chunks, reader, tee, max_bytes);
        let outcome = outcome.and_then(|digests| {
            blob_records::claim(
                records.sql,
                &writer,
                &digests.sha256,
                digests.size,
                records.now,
            )?;
            let manifest = Manifest {
                size: digests.size,
                chunks: chunks.clone(),
                chunk_bytes: Some(self.chunk_bytes as u64),
            };
            let bytes =
                serde_json::to_vec(&manifest).map_err(|e| StoreError::Other(e.to_string()))?;
            // The first complete copy stays; a later one of the same
            // content drops its own chunks.
            if !self
                .kv
                .compare_and_swap(&manifest_key(&digests.sha256), None, &bytes)?
            {
                self.delete_keys(&chunks);
            }
            Ok(digests)
        });
        if outcome.is_err() {
            self.delete_keys(&chunks);
        }
        blob_records::end_write(records.sql, &writer)?;
        outcome
    }

    /// Best effort: what is left is found by the collector.
    fn delete_keys(&self, keys: &[String]) {
        for key in keys {
            let _ = self.kv.delete(key);
        }
    }

    fn write_chunks(
        &self,
        records: &WriteRecords,
        writer: &str,
        chunks: &mut Vec<String>,
        reader: &mut dyn BodyReader,
        mut tee: Option<&mut dyn BodyWriter>,
        max_bytes: u64,
    ) -> Result<Digests> {
        let prefix = chunk_prefix(writer);
        let put_chunk = |chunk: &[u8], chunks: &mut Vec<String>| -> Result<()> {
            let key = format!("{prefix}{}", chunks.len());
            self.kv.set(&key, chunk)?;
            chunks.push(key);
            if chunks.len().is_multiple_of(TOUCH_EVERY_CHUNKS) {
                blob_records::touch_write(records.sql, writer, chunks.len(), records.now)?;
            }
            Ok(())
        };
        let mut hashers = Hashers::new();
        let mut pending: Vec<u8> = Vec::with_capacity(self.chunk_bytes);
        while let Some(piece) = reader.next_chunk()? {
            if hashers.size + piece.len() as u64 > max_bytes {
                return Err(CoreError::PayloadTooLarge(
                    max_bytes.min(usize::MAX as u64) as usize
                ));
            }
            hashers.update(&piece);
            if let Some(tee) = tee.as_deref_mut() {
                tee.write(&piece)?;
            }
            let mut rest = piece.as_slice();
            while !rest.is_empty() {
                let take = (self.chunk_bytes - pending.len()).min(rest.len());
                pending.extend_from_slice(&rest[..take]);
                rest = &rest[take..];
                if pending.len() == self.chunk_bytes {
                    put_chunk(&pending, chunks)?;
                    pending.clear();
                }
            }
        }
        if !pending.is_empty() {
            put_chunk(&pending, chunks)?;
        }
        Ok(hashers.finish())
    }

    /// Stores bytes already in memory.
    pub fn put_bytes(&self, records: &WriteRecords, bytes: &[u8]) -> Result<Digests> {
        let mut reader = crate::http::body::BytesReader::new(bytes.to_vec());
        self.put_stream(records, &mut reader, None, u64::MAX)
    }

    pub(crate) fn manifest(&self, sha256: &str) -> Result<Option<Manifest>> {
        match self.kv.get(&manifest_key(sha256))? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| StoreError::Decode(format!("blob manifest {sha256}: {e}")).into()),
        }
    }

    pub fn exists(&self, sha256: &str) -> Result<bool> {
        Ok(self.manifest(sha256)?.is_some())
    }

    /// Streams a blob to `writer`, [`READ_BATCH_BYTES`] in memory at a time.
    pub fn read(&self, sha256: &str, writer: &mut dyn BodyWriter) -> Result<u64> {
        if let Some(known) = self.known_chunks(sha256) {
            // Chunks a record named may have gone with a rewrite of the
            // blob since: then its manifest says where it is now.
            let (first, rest) = known.chunks.split_at(known.batch_len());
            let values = self.get_chunks(first)?;
            if values.iter().all(Option::is_some) {
                let written = send_batch(sha256, first, values, writer)?;
                return Ok(written + self.send_chunks(sha256, rest, first.len(), writer)?);
            }
        }
        let manifest = self
            .manifest(sha256)?
            .ok_or_else(|| StoreError::Other(format!("blob {sha256} is missing")))?;
        let known = KnownChunks {
            sha256: sha256.to_owned(),
            size: manifest.size,
            chunks: manifest.chunks,
        };
        let written = self.send_chunks(sha256, &known.chunks, known.batch_len(), writer)?;
        *self.known.borrow_mut() = Some(known);
        Ok(written)
    }

    fn get_chunks(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        Ok(self.kv.get_many(&keys)?)
    }

    fn send_chunks(
        &self,
        sha256: &str,
        chunks: &[String],
        batch_len: usize,
        writer: &mut dyn BodyWriter,
    ) -> Result<u64> {
        let mut written = 0u64;
        for batch in chunks.chunks(batch_len) {
            written += send_batch(sha256, batch, self.get_chunks(batch)?, writer)?;
        }
        Ok(written)
    }

    /// Random access to a stored blob.
    pub fn open(&self, sha256: &str) -> Result<BlobReader<'a>> {
        let manifest = self
            .manifest(sha256)?
            .ok_or_else(|| StoreError::Other(format!("blob {sha256} is missing")))?;
        let reader = BlobReader {
            kv: self.kv,
            chunk_bytes: manifest.chunk_bytes.unwrap_or(0),
            manifest,
            cached: std::cell::RefCell::new(None),
        };
        if reader.chunk_bytes == 0 && !reader.manifest.chunks.is_empty() {
            // An older manifest: every chunk but the last is as long as the first.
            let first = reader.chunk(0)?.len() as u64;
            return Ok(BlobReader {
                chunk_bytes: first.max(1),
                ..reader
            });
        }
        Ok(reader)
    }

    /// A small blob, whole.
    pub fn read_bytes(&self, sha256: &str) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.read(sha256, &mut out)?;
        Ok(out)
    }
}

/// Writes one batch of a blob's chunks (`values`, as got for `keys`).
fn send_batch(
    sha256: &str,
    keys: &[String],
    values: Vec<Option<Vec<u8>>>,
    writer: &mut dyn BodyWriter,
) -> Result<u64> {
    let mut written = 0u64;
    for (key, chunk) in keys.iter().zip(values) {
        let chunk = chunk
            .ok_or_else(|| StoreError::Other(format!("blob {sha256}: chunk {key} is missing")))?;
        written += chunk.len() as u64;
        writer.write(&chunk)?;
    }
    Ok(written)
}

/// A stored blob read at any offset, one chunk in memory at a time (the
/// last one read is kept, so sequential reads fetch each chunk once).
pub struct BlobReader<'a> {
    kv: &'a dyn Kv,
    manifest: Manifest,
    chunk_bytes: u64,
    cached: std::cell::RefCell<Option<(usize, std::rc::Rc<Vec<u8>>)>>,
}

impl BlobReader<'_> {
    pub fn size(&self) -> u64 {
        self.manifest.size
    }

    fn chunk(&self, index: usize) -> Result<std::rc::Rc<Vec<u8>>> {
        if let Some((cached, bytes)) = self.cached.borrow().as_ref() {
            if *cached == index {
                return Ok(bytes.clone());
            }
        }
        let key = &self.manifest.chunks[index];
        let bytes = std::rc::Rc::new(
            self.kv
                .get(key)?
                .ok_or_else(|| StoreError::Other(format!("chunk {key} is missing")))?,
        );
        *self.cached.borrow_mut() = Some((index, bytes.clone()));
        Ok(bytes)
    }

    /// Up to `len` bytes from `offset` (fewer only at the end).
    pub fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        let end = offset.saturating_add(len as u64).min(self.size());
        let mut out = Vec::with_capacity(end.saturating_sub(offset) as usize);
        let mut at = offset;
        while at < end {
            let index = (at / self.chunk_bytes) as usize;
            let chunk = self.chunk(index)?;
            let start = (at - index as u64 * self.chunk_bytes) as usize;
            let take = (chunk.len() - start).min((end - at) as usize);
            if take == 0 {
                return Err(StoreError::Other("blob shorter than its manifest".into()).into());
            }
            out.extend_from_slice(&chunk[start..start + take]);
            at += take as u64;
        }
        Ok(out)
    }
}
