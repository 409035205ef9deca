//! Maven file responses: the headers Maven clients read
//! (`Content-Type`, `Content-Length`, `ETag`, `Last-Modified`,
//! `x-checksum-sha1`, `x-checksum-md5`) and the body streamed from the blob
//! store.

use http::header::{HeaderName, CONTENT_LENGTH, CONTENT_TYPE, ETAG, LAST_MODIFIED};
use http::{HeaderMap, HeaderValue, StatusCode};

use super::path::{content_type, Checksum};
use crate::error::Result;
use crate::http::body::ResponseSink;
use crate::storage::blobs::{BlobStore, Digests};
use crate::timefmt::http_date;

const X_CHECKSUM_SHA1: HeaderName = HeaderName::from_static("x-checksum-sha1");
const X_CHECKSUM_MD5: HeaderName = HeaderName::from_static("x-checksum-md5");
const X_CHECKSUM_SHA256: HeaderName = HeaderName::from_static("x-checksum-sha256");

fn insert(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

pub fn file_headers(file_name: &str, digests: &Digests, modified: i64) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(8);
    insert(&mut headers, CONTENT_TYPE, content_type(file_name));
    insert(&mut headers, CONTENT_LENGTH, &digests.size.to_string());
    insert(&mut headers, ETAG, &format!("\"{}\"", digests.sha1));
    insert(&mut headers, LAST_MODIFIED, &http_date(modified));
    insert(&mut headers, X_CHECKSUM_SHA1, &digests.sha1);
    insert(&mut headers, X_CHECKSUM_MD5, &digests.md5);
    insert(&mut headers, X_CHECKSUM_SHA256, &digests.sha256);
    headers
}

pub fn send_file(
    blobs: &BlobStore,
    sink: &mut dyn ResponseSink,
    file_name: &str,
    digests: &Digests,
    modified: i64,
    head: bool,
) -> Result<()> {
    let headers = file_headers(file_name, digests, modified);
    let mut writer = sink.start(StatusCode::OK, &headers)?;
    if !head {
        blobs.read(&digests.sha256, writer.as_mut())?;
    }
    Ok(())
}

/// A stored file already in memory (see `resolved`), with the headers
/// [`send_file`] gives it.
pub fn send_bytes(
    sink: &mut dyn ResponseSink,
    file_name: &str,
    digests: &Digests,
    modified: i64,
    bytes: &[u8],
    head: bool,
) -> Result<()> {
    let headers = file_headers(file_name, digests, modified);
    let mut writer = sink.start(StatusCode::OK, &headers)?;
    if !head {
        writer.write(bytes)?;
    }
    Ok(())
}

pub fn send_text(
    sink: &mut dyn ResponseSink,
    status: StatusCode,
    content_type: &str,
    body: &[u8],
    head: bool,
) -> Result<()> {
    let mut headers = HeaderMap::new();
    insert(&mut headers, CONTENT_TYPE, content_type);
    insert(&mut headers, CONTENT_LENGTH, &body.len().to_string());
    let mut writer = sink.start(status, &headers)?;
    if !head && !body.is_empty() {
        writer.write(body)?;
    }
    Ok(())
}

/// Metadata made from the versions present.
pub fn send_metadata(sink: &mut dyn ResponseSink, xml: &[u8], head: bool) -> Result<()> {
    send_text(sink, StatusCode::OK, "application/xml", xml, head)
}

pub fn send_digest(
    sink: &mut dyn ResponseSink,
    checksum: Checksum,
    digests: &Digests,
    head: bool,
) -> Result<()> {
    send_text(
        sink,
        StatusCode::OK,
        "text/plain",
        checksum.of(digests).as_bytes(),
        head,
    )
}
