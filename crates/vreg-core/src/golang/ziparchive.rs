//! Reading a zip archive the way Go's `archive/zip` does, from its raw
//! central directory: every entry as it is recorded (duplicates and all),
//! read entry by entry from any source that can read at an offset, so a
//! module zip in the chunked blob store is checked without being held
//! whole.

use std::io::Read;

use crate::error::{CoreError, Result};

/// Bytes a zip can be read from at any offset.
pub trait ZipSource {
    fn size(&self) -> u64;
    /// Up to `len` bytes from `offset` (fewer only at the end).
    fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>>;
}

impl ZipSource for [u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        let start = (offset as usize).min(self.len());
        let end = start.saturating_add(len).min(self.len());
        Ok(self[start..end].to_vec())
    }
}

impl ZipSource for crate::storage::blobs::BlobReader<'_> {
    fn size(&self) -> u64 {
        crate::storage::blobs::BlobReader::size(self)
    }

    fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        crate::storage::blobs::BlobReader::read_at(self, offset, len)
    }
}

/// One central-directory entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The name as stored (not necessarily UTF-8).
    pub name: Vec<u8>,
    pub method: u16,
    pub crc32: u32,
    pub compressed_size: u64,
    pub uncompressed_size: u64,
    pub local_header_offset: u64,
}

fn format_error(why: &str) -> CoreError {
    CoreError::validation(format!(
        "Invalid module zip: zip: not a valid zip file ({why})"
    ))
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

const END: u32 = 0x0605_4b50;
const END64: u32 = 0x0606_4b50;
const END64_LOCATOR: u32 = 0x0706_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const LOCAL: u32 = 0x0403_4b50;

/// Where the central directory is and how many entries it holds.
fn directory_location<S: ZipSource + ?Sized>(source: &S) -> Result<(u64, u64, u64)> {
    let size = source.size();
    if size < 22 {
        return Err(format_error("too short"));
    }
    // The end record is in the last 22 + 65,535 (comment) bytes.
    let tail_len = size.min(22 + 65_535);
    let tail = source.read_at(size - tail_len, tail_len as usize)?;
    let at = (0..=tail.len() - 22)
        .rev()
        .find(|&i| u32_at(&tail, i) == END && i + 22 + u16_at(&tail, i + 20) as usize <= tail.len())
        .ok_or_else(|| format_error("no end of central directory"))?;
    let end = &tail[at..];
    let (mut count, mut dir_size, mut dir_offset) = (
        u16_at(end, 10) as u64,
        u32_at(end, 12) as u64,
        u32_at(end, 16) as u64,
    );
    if count == 0xffff || dir_size == 0xffff_ffff || dir_offset == 0xffff_ffff {
        // ZIP64: a locator just before the end record points at the real one.
        let end_offset = size - tail_len + at as u64;
        let locator = source.read_at(end_offset.saturating_sub(20), 20)?;
        if locator.len() == 20 && u32_at(&locator, 0) == END64_LOCATOR {
            let record = source.read_at(u64_at(&locator, 8), 56)?;
            if record.len() < 56 || u32_at(&record, 0) != END64 {
                return Err(format_error("bad zip64 end record"));
            }
            (count, dir_size, dir_offset) = (
                u64_at(&record, 32),
                u64_at(&record, 40),
                u64_at(&record, 48),
            );
        }
    }
    if dir_offset.checked_add(dir_size).is_none_or(|e| e > size) {
        return Err(format_error("central directory out of bounds"));
    }
    Ok((count, dir_size, dir_offset))
}

/// Every entry of the central directory, in order.
pub fn entries<S: ZipSource + ?Sized>(source: &S) -> Result<Vec<Entry>> {
    let (count, dir_size, dir_offset) = directory_location(source)?;
    let dir = source.read_at(dir_offset, dir_size as usize)?;
    let mut entries = Vec::new();
    let mut at = 0;
    while at + 46 <= dir.len() && u32_at(&dir, at) == CENTRAL {
        let (name_len, extra_len, comment_len) = (
            u16_at(&dir, at + 28) as usize,
            u16_at(&dir, at + 30) as usize,
            u16_at(&dir, at + 32) as usize,
        );
        let end = at + 46 + name_len + extra_len + comment_len;
        if end > dir.len() {
            return Err(format_error("truncated central directory"));
        }
        let mut entry = Entry {
            name: dir[at + 46..at + 46 + name_len].to_vec(),
            method: u16_at(&dir, at + 10),
            crc32: u32_at(&dir, at + 16),
            compressed_size: u32_at(&dir, at + 20) as u64,
            uncompressed_size: u32_at(&dir, at + 24) as u64,
            local_header_offset: u32_at(&dir, at + 42) as u64,
        };
        zip64_extra(
            &mut entry,
            &dir[at + 46 + name_len..at + 46 + name_len + extra_len],
        );
        entries.push(entry);
        at = end;
    }
    if entries.len() as u64 != count {
        return Err(format_error(
            "entry count does not match the central directory",
        ));
    }
    Ok(entries)
}

/// Sizes and offsets too large for 32 bits are in the zip64 extra field.
fn zip64_extra(entry: &mut Entry, mut extra: &[u8]) {
    while extra.len() >= 4 {
        let (id, len) = (u16_at(extra, 0), u16_at(extra, 2) as usize);
        let Some(body) = extra.get(4..4 + len) else {
            return;
        };
        if id == 0x0001 {
            let mut fields = body.chunks_exact(8).map(|c| u64_at(c, 0));
            for value in [
                &mut entry.uncompressed_size,
                &mut entry.compressed_size,
                &mut entry.local_header_offset,
            ] {
                if *value == 0xffff_ffff {
                    match fields.next() {
                        Some(v) => *value = v,
                        None => return,
                    }
                }
            }
        }
        extra = &extra[4 + len..];
    }
}

/// Sequential reads of a range of the source, a block at a time.
struct RangeReader<'a, S: ?Sized> {
    source: &'a S,
    at: u64,
    end: u64,
    block: Vec<u8>,
    used: usize,
}

impl<S: ZipSource + ?Sized> Read for RangeReader<'_, S> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.used == self.block.len() {
            let want = (self.end - self.at).min(64 * 1024) as usize;
            if want == 0 {
                return Ok(0);
            }
            self.block = self
                .source
                .read_at(self.at, want)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            if self.block.is_empty() {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.at += self.block.len() as u64;
            self.used = 0;
        }
        let n = out.len().min(self.block.len() - self.used);
        out[..n].copy_from_slice(&self.block[self.used..self.used + n]);
        self.used += n;
        Ok(n)
    }
}

/// Reads an entry's contents, as Go does: an error when the data is longer
/// or shorter than recorded, or its CRC-32 is not the recorded one.
pub fn read_entry<S: ZipSource + ?Sized>(
    source: &S,
    entry: &Entry,
    mut sink: impl FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let name = String::from_utf8_lossy(&entry.name);
    let local = source.read_at(entry.local_header_offset, 30)?;
    if local.len() < 30 || u32_at(&local, 0) != LOCAL {
        return Err(format_error(&format!("{name}: bad local header")));
    }
    let start =
        entry.local_header_offset + 30 + u16_at(&local, 26) as u64 + u16_at(&local, 28) as u64;
    let raw = RangeReader {
        source,
        at: start,
        end: start
            .saturating_add(entry.compressed_size)
            .min(source.size()),
        block: Vec::new(),
        used: 0,
    };
    let mut reader: Box<dyn Read + '_> = match entry.method {
        0 => Box::new(raw),
        8 => Box::new(flate2::read::DeflateDecoder::new(raw)),
        other => {
            return Err(format_error(&format!(
                "{name}: unsupported compression method {other}"
            )))
        }
    };
    let mut crc = flate2::Crc::new();
    let mut total = 0u64;
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = reader
            .read(&mut buffer)
            .map_err(|e| format_error(&format!("{name}: {e}")))?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if total > entry.uncompressed_size {
            return Err(CoreError::validation(format!(
                "Invalid module zip: uncompressed size of file {name} is larger than declared size ({} bytes)",
                entry.uncompressed_size
            )));
        }
        crc.update(&buffer[..n]);
        sink(&buffer[..n])?;
    }
    if total != entry.uncompressed_size || crc.sum() != entry.crc32 {
        return Err(format_error(&format!("{name}: checksum or size mismatch")));
    }
    Ok(())
}
