//! The checksum database through the proxy: `<GOPROXY>/sumdb/<name>/...`
//! (the go command asks `.../supported` first, and when it is answered,
//! verifies go.sum lines through the proxy instead of reaching the database
//! itself). A Go registry proxies one database, by name and URL (default
//! sum.golang.org).
//!
//! What the database says of a module version (`lookup/<module>@<version>`)
//! and full tiles (`tile/<H>/<L>/<N>`) never change: they are stored in the
//! blob store and served from there for good, so a warm proxy verifies
//! offline. Partial tiles (`tile/.../<N>.p/<W>`) and the signed tree head
//! (`latest`) move on: they are asked again after a short validity, and the
//! last answer is served when the database cannot be reached. An answer
//! that never changes is also recorded for the caller's audience (see
//! [`crate::domain::resolved`]), so `go` verifying a new build's modules
//! asks again with no SQL.

use http::{Method, StatusCode};

use super::request::REGISTRY_PATH;
use super::respond::{send_bytes, send_plain};
use crate::context::Context;
use crate::domain::auth::{authorize_registry_read, Principal};
use crate::domain::filters;
use crate::domain::model::PackageType;
use crate::domain::registries::{self, Registry};
use crate::domain::resolved::{self, Audience, Place, RecordAs};
use crate::domain::upstreams::outbound_request;
use crate::error::{CoreError, Result};
use crate::http::body::{read_to_end, ResponseSink};
use crate::storage::blobs::{digests_of, BlobStore};
use crate::storage::query_one;

/// How long `latest` and partial tiles are served without asking again.
const MOVING_VALIDITY_MILLIS: i64 = 60 * 1000;
/// The largest answer accepted (data tiles are tens of KiB).
const MAX_ANSWER_BYTES: usize = 1 << 20;

struct Cached {
    content_type: String,
    sha256: String,
    fetched_at: i64,
}

/// Answers a request for what never changes (a lookup, a full tile) from
/// the record of an earlier answer to the same audience. Whether it did.
pub(super) fn serve_recorded(
    ctx: &Context,
    path: &str,
    audience: &Audience,
    head: bool,
    sink: &mut dyn ResponseSink,
) -> Result<bool> {
    let Some((id, rest)) = (path.strip_prefix(REGISTRY_PATH))
        .and_then(|p| p.split_once("/sumdb/"))
        .and_then(|(id, rest)| Some((id.parse().ok()?, rest)))
    else {
        return Ok(false);
    };
    let immutable = (rest.split_once('/')).is_some_and(|(_, path)| classify(path) == Some(true));
    if !immutable {
        return Ok(false);
    }
    let place = answer_place(id, rest, audience);
    let Some(found) = resolved::lookup::<String>(ctx, std::slice::from_ref(&place))? else {
        return Ok(false);
    };
    let Some(bytes) = found.bytes else {
        return Ok(false);
    };
    send_bytes(sink, &found.meta, &bytes, head)?;
    Ok(true)
}

/// Where the record of an answer is kept: a slot (see [`Place::slot`]),
/// since anyone can ask for any lookup.
fn answer_place(registry_id: i64, rest: &str, audience: &Audience) -> Place {
    let name = format!("{}:{registry_id}:{rest}", audience.name());
    Place::slot("go:sumdb", &name)
}

/// Sends an answer that never changes and keeps its record as `record`
/// says (the database and what it may be asked change only by admin
/// writes, which move the generation on).
fn send_and_remember(
    ctx: &Context,
    (registry_id, rest): (i64, &str),
    (content_type, body): (&str, &[u8]),
    record: Option<&RecordAs>,
    (head, sink): (bool, &mut dyn ResponseSink),
) -> Result<()> {
    send_bytes(sink, content_type, body, head)?;
    let Some(record) = record else {
        return Ok(());
    };
    let place = answer_place(registry_id, rest, &record.audience);
    let kept = (&digests_of(body), content_type.to_owned());
    resolved::remember_made(ctx, &place, record.generation, kept, body, record.until)
}

/// Serves `rest` (what follows `sumdb/`) for registry `registry_id`, and
/// keeps the record of an answer that never changes as `record` says.
pub(super) fn serve(
    ctx: &Context,
    (who, record): (Option<&Principal>, Option<&RecordAs>),
    registry_id: i64,
    rest: &str,
    head: bool,
    sink: &mut dyn ResponseSink,
) -> Result<()> {
    let registry = registries::get(ctx.sql, PackageType::Golang, registry_id)?;
    authorize_registry_read(ctx.sql, who, registry.group_id)?;
    let not_found = || CoreError::NotFound("checksum database");
    let (name, path) = rest.split_once('/').ok_or_else(not_found)?;
    if name != registry.checksum_database_name {
        return Err(not_found());
    }
    if path == "supported" {
        return send_bytes(sink, "text/plain; charset=utf-8", b"", head);
    }
    let immutable = classify(path).ok_or_else(not_found)?;
    if let Some(module) = looked_up_module(path) {
        let private = registry
            .nosum_patterns
            .iter()
            .any(|p| filters::matches(PackageType::Golang, p, &module));
        if private {
            let why = format!(
                "{module} is not verified through this proxy (nosum_patterns): add it to GONOSUMDB"
            );
            send_plain(sink, StatusCode::FORBIDDEN, &why);
            return Ok(());
        }
    }
    let blobs = BlobStore::new(ctx.kv, ctx.config.blob_chunk_bytes);
    let cached = cached(ctx, registry.id, path)?;
    let record = record.filter(|_| immutable);
    if let Some(entry) = &cached {
        if immutable || ctx.now() - entry.fetched_at < MOVING_VALIDITY_MILLIS {
            return send_cached(
                ctx,
                &blobs,
                (registry.id, rest),
                entry,
                record,
                (head, sink),
            );
        }
    }
    match ask(ctx, &registry, path) {
        Ok(Some((content_type, body))) => {
            let digests = blobs.put_bytes(&ctx.write_records(), &body)?;
            ctx.sql.execute(
                "INSERT INTO sumdb_entries (registry_id, path, content_type, size, blob_digest, fetched_at)
                 VALUES (?, ?, ?, ?, ?, ?)
                 ON CONFLICT (registry_id, path) DO UPDATE SET content_type = excluded.content_type,
                    size = excluded.size, blob_digest = excluded.blob_digest,
                    fetched_at = excluded.fetched_at",
                &[
                    registry.id.into(),
                    path.into(),
                    content_type.as_str().into(),
                    (digests.size as i64).into(),
                    digests.sha256.as_str().into(),
                    ctx.now().into(),
                ],
            )?;
            let answer = (content_type.as_str(), body.as_slice());
            send_and_remember(ctx, (registry.id, rest), answer, record, (head, sink))
        }
        Ok(None) => Err(not_found()),
        // The database is away: what it said before still holds.
        Err(e) => match &cached {
            Some(entry) => send_cached(ctx, &blobs, (registry.id, rest), entry, None, (head, sink)),
            None => Err(e),
        },
    }
}

/// The module a `lookup/<escaped module>@<version>` asks about.
fn looked_up_module(path: &str) -> Option<String> {
    let (escaped, _) = path.strip_prefix("lookup/")?.rsplit_once('@')?;
    super::module::unescape(escaped)
}

/// Whether `path` is a request of the protocol, and if so whether its
/// answer never changes. Anything else is refused (404).
fn classify(path: &str) -> Option<bool> {
    let safe = path.len() <= 1024
        && !path.contains("..")
        && !path.contains("//")
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._~!@/+-".contains(c));
    if !safe {
        return None;
    }
    if path == "latest" {
        return Some(false);
    }
    if let Some(lookup) = path.strip_prefix("lookup/") {
        return lookup.contains('@').then_some(true);
    }
    let tile = path.strip_prefix("tile/")?;
    let parts: Vec<&str> = tile.split('/').collect();
    let well_formed = parts.len() >= 3
        && parts[0].bytes().all(|b| b.is_ascii_digit())
        && (parts[1] == "data" || parts[1].bytes().all(|b| b.is_ascii_digit()));
    well_formed.then_some(!tile.contains(".p/"))
}

fn cached(ctx: &Context, registry_id: i64, path: &str) -> Result<Option<Cached>> {
    query_one(
        ctx.sql,
        "SELECT content_type, blob_digest, fetched_at FROM sumdb_entries WHERE registry_id = ? AND path = ?",
        &[registry_id.into(), path.into()],
        |r| {
            Ok(Cached {
                content_type: r.text()?,
                sha256: r.text()?,
                fetched_at: r.i64()?,
            })
        },
    )
}

/// Sends what the store kept of an answer, and keeps its record as
/// `record` says (see [`send_and_remember`]).
fn send_cached(
    ctx: &Context,
    blobs: &BlobStore,
    asked: (i64, &str),
    entry: &Cached,
    record: Option<&RecordAs>,
    (head, sink): (bool, &mut dyn ResponseSink),
) -> Result<()> {
    let body = blobs.read_bytes(&entry.sha256)?;
    let answer = (entry.content_type.as_str(), body.as_slice());
    send_and_remember(ctx, asked, answer, record, (head, sink))
}

/// Asks the database: its answer and content type, `None` when it has no
/// such thing (404/410), an error when it cannot be reached or fails.
fn ask(ctx: &Context, registry: &Registry, path: &str) -> Result<Option<(String, Vec<u8>)>> {
    let failed = |why: String| CoreError::Upstream(format!("Checksum database failure: {why}"));
    let url = format!(
        "{}/{path}",
        registry.checksum_database_url.trim_end_matches('/')
    );
    let request = outbound_request(ctx.config, url, Method::GET).map_err(failed)?;
    let mut response = ctx
        .fetch
        .fetch(&request)
        .map_err(|e| failed(e.to_string()))?;
    match StatusCode::from_u16(response.status).unwrap_or(StatusCode::BAD_GATEWAY) {
        StatusCode::OK => {
            let content_type = response
                .headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/octet-stream")
                .to_owned();
            let body = read_to_end(response.body.as_mut(), MAX_ANSWER_BYTES)
                .map_err(|e| failed(e.to_string()))?;
            Ok(Some((content_type, body)))
        }
        StatusCode::NOT_FOUND | StatusCode::GONE => Ok(None),
        status => Err(failed(format!("HTTP {}", status.as_u16()))),
    }
}

#[cfg(test)]
mod tests {
    use super::classify;

    #[test]
    fn protocol_paths_are_classified() {
        assert_eq!(classify("latest"), Some(false));
        assert_eq!(classify("lookup/example.com/m@v1.0.0"), Some(true));
        assert_eq!(classify("lookup/example.com/!upper@v1.0.0"), Some(true));
        assert_eq!(classify("tile/8/0/000"), Some(true));
        assert_eq!(classify("tile/8/1/x001/234"), Some(true));
        assert_eq!(classify("tile/8/data/000"), Some(true));
        assert_eq!(classify("tile/8/0/000.p/5"), Some(false));
        for bad in [
            "",
            "lookup/nover",
            "tile/8",
            "tile/a/0/000",
            "tile/8/0/../x",
            "other",
            "lookup/a@b c",
        ] {
            assert_eq!(classify(bad), None, "{bad}");
        }
    }
}
