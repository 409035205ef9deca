//! Writing GOPROXY responses: files from the blob store or streamed from an
//! origin, small documents, and errors as the go command reads them (plain text).

use http::{HeaderMap, HeaderValue, StatusCode};

use super::version::Version;
use crate::error::Result;
use crate::http::body::ResponseSink;
use crate::http::fetch::FetchResponse;
use crate::storage::blobs::BlobStore;

/// The go command reads errors as plain text.
pub(super) fn send_plain(sink: &mut dyn ResponseSink, status: StatusCode, body: &str) {
    let mut headers = HeaderMap::new();
    headers.insert(
        "content-type",
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if status == StatusCode::UNAUTHORIZED {
        headers.insert(
            "www-authenticate",
            HeaderValue::from_static("Basic realm=\"vreg\""),
        );
    }
    if let Ok(mut writer) = sink.start(status, &headers) {
        let _ = writer.write(body.as_bytes());
    }
}

pub(super) fn content_type(ext: &str) -> &'static str {
    match ext {
        ".info" => "application/json",
        ".zip" => "application/zip",
        _ => "text/plain; charset=utf-8",
    }
}

pub(super) fn send_bytes(
    sink: &mut dyn ResponseSink,
    kind: &str,
    body: &[u8],
    head: bool,
) -> Result<()> {
    let mut headers = HeaderMap::new();
    headers.insert(
        "content-type",
        HeaderValue::from_str(kind).unwrap_or(HeaderValue::from_static("text/plain")),
    );
    headers.insert("content-length", HeaderValue::from(body.len()));
    let mut writer = sink.start(StatusCode::OK, &headers)?;
    if !head {
        writer.write(body)?;
    }
    Ok(())
}

pub(super) fn send_blob(
    blobs: &BlobStore,
    sink: &mut dyn ResponseSink,
    ext: &str,
    digests: &crate::storage::blobs::Digests,
    head: bool,
) -> Result<()> {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static(content_type(ext)));
    headers.insert("content-length", HeaderValue::from(digests.size));
    let mut writer = sink.start(StatusCode::OK, &headers)?;
    if !head {
        blobs.read(&digests.sha256, writer.as_mut())?;
    }
    Ok(())
}

/// One version per line, releases and pre-releases (no pseudo-versions), in order.
pub(super) fn sorted_release_list(versions: Vec<String>) -> String {
    let mut parsed: Vec<Version> = versions
        .iter()
        .filter_map(|v| Version::parse(v))
        .filter(|v| !v.is_pseudo())
        .collect();
    parsed.sort_by(|a, b| a.compare(b));
    parsed.dedup_by(|a, b| a.text == b.text);
    parsed.iter().map(|v| format!("{}\n", v.text)).collect()
}

pub(super) fn stream_through(
    sink: &mut dyn ResponseSink,
    ext: &str,
    mut response: FetchResponse,
    head: bool,
) -> Result<()> {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static(content_type(ext)));
    if let Some(length) = response.headers.get("content-length") {
        headers.insert("content-length", length.clone());
    }
    let mut writer = sink.start(StatusCode::OK, &headers)?;
    if head {
        return Ok(());
    }
    while let Some(chunk) = response.body.next_chunk()? {
        writer.write(&chunk)?;
    }
    Ok(())
}
