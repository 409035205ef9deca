//! Cache entries: what remote upstreams served, by upstream and relative
//! path, pointing at a blob. Used by the virtual registries and by the cache
//! admin endpoints.

use crate::error::Result;
use crate::storage::blobs::Digests;
use crate::storage::{query_rows, Filter, Listing, RowReader, Sql, StoreError};

#[derive(Debug, Clone)]
pub struct CacheEntry {
    pub upstream_id: i64,
    pub relative_path: String,
    pub content_type: String,
    pub digests: Digests,
    pub upstream_etag: Option<String>,
    pub upstream_checked_at: i64,
    pub created_at: i64,
}

pub fn decode_entry(r: &mut RowReader) -> Result<CacheEntry, StoreError> {
    Ok(CacheEntry {
        upstream_id: r.i64()?,
        relative_path: r.text()?,
        content_type: r.text()?,
        digests: Digests::decode(r)?,
        upstream_etag: r.opt_text()?,
        upstream_checked_at: r.i64()?,
        created_at: r.i64()?,
    })
}

pub fn cache_entries(sql: &dyn Sql, upstream_ids: &[i64], path: &str) -> Result<Vec<CacheEntry>> {
    query_rows(
        sql,
        "SELECT upstream_id, relative_path, content_type, size, sha1, md5, sha256, sha512,
                upstream_etag, upstream_checked_at, created_at
         FROM cache_entries WHERE upstream_id IN (SELECT value FROM json_each(?)) AND relative_path = ?",
        &[serde_json::to_string(upstream_ids).unwrap_or_default().into(), path.into()],
        decode_entry,
    )
}

pub fn commit_entry(sql: &dyn Sql, now: i64, entry: &CacheEntry) -> Result<()> {
    let d = &entry.digests;
    sql.execute(
        "INSERT INTO cache_entries (upstream_id, relative_path, size, content_type, sha1, md5, sha256, sha512,
                blob_digest, upstream_etag, upstream_checked_at, created_at, updated_at, downloads_count)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?7, ?9, ?10, ?10, ?10, 1)
         ON CONFLICT (upstream_id, relative_path) DO UPDATE SET
            size = excluded.size, content_type = excluded.content_type, sha1 = excluded.sha1,
            md5 = excluded.md5, sha256 = excluded.sha256, sha512 = excluded.sha512,
            blob_digest = excluded.blob_digest, upstream_etag = excluded.upstream_etag,
            upstream_checked_at = excluded.upstream_checked_at, updated_at = excluded.updated_at,
            downloads_count = cache_entries.downloads_count + 1",
        &[
            entry.upstream_id.into(),
            entry.relative_path.as_str().into(),
            (d.size as i64).into(),
            entry.content_type.as_str().into(),
            d.sha1.as_str().into(),
            d.md5.as_str().into(),
            d.sha256.as_str().into(),
            d.sha512.as_str().into(),
            entry.upstream_etag.clone().into(),
            now.into(),
        ],
    )?;
    Ok(())
}

pub fn touch_entry(sql: &dyn Sql, entry: &CacheEntry, checked_at: Option<i64>) -> Result<()> {
    sql.execute(
        "UPDATE cache_entries SET downloads_count = downloads_count + 1,
                upstream_checked_at = COALESCE(?, upstream_checked_at)
         WHERE upstream_id = ? AND relative_path = ?",
        &[
            checked_at.into(),
            entry.upstream_id.into(),
            entry.relative_path.as_str().into(),
        ],
    )?;
    Ok(())
}

const COLUMNS: &str = "upstream_id, relative_path, content_type, size, sha1, md5, sha256, sha512, \
     upstream_etag, upstream_checked_at, created_at";

/// A cache entry as the admin API lists it.
pub struct ListedEntry {
    pub entry: CacheEntry,
    pub downloads_count: i64,
    pub updated_at: i64,
}

/// An upstream's entries, paged, optionally filtered by a path substring.
pub fn list(
    sql: &dyn Sql,
    upstream_id: i64,
    search: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<ListedEntry>, i64)> {
    let mut filter = Filter::default();
    filter.and("upstream_id = ?", [upstream_id.into()]);
    if let Some(term) = search {
        filter.contains(&["relative_path"], term);
    }
    let columns = format!("{COLUMNS}, downloads_count, updated_at");
    let listing = Listing {
        table: "cache_entries",
        columns: &columns,
        order_by: "relative_path",
    };
    listing.page(sql, &filter, (limit, offset), |r| {
        Ok(ListedEntry {
            entry: decode_entry(r)?,
            downloads_count: r.i64()?,
            updated_at: r.i64()?,
        })
    })
}

/// Deletes one entry; whether it existed.
pub fn delete(sql: &dyn Sql, upstream_id: i64, relative_path: &str) -> Result<bool> {
    let key = [upstream_id.into(), relative_path.into()];
    let existed = sql
        .execute(
            "SELECT COUNT(*) FROM cache_entries WHERE upstream_id = ? AND relative_path = ?",
            &key,
        )?
        .scalar_i64()
        .unwrap_or(0)
        > 0;
    sql.execute(
        "DELETE FROM cache_entries WHERE upstream_id = ? AND relative_path = ?",
        &key,
    )?;
    Ok(existed)
}

/// Deletes every entry of the given upstreams.
pub fn clear(sql: &dyn Sql, upstream_ids: &[i64]) -> Result<()> {
    sql.execute(
        "DELETE FROM cache_entries WHERE upstream_id IN (SELECT value FROM json_each(?))",
        &[serde_json::to_string(upstream_ids)
            .unwrap_or_default()
            .into()],
    )?;
    Ok(())
}

/// The public id of an entry: URL-safe base64 of `<upstream id> <path>`,
/// as GitLab builds it.
pub fn entry_id(upstream_id: i64, relative_path: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE.encode(format!("{upstream_id} {relative_path}"))
}

pub fn parse_entry_id(id: &str) -> Option<(i64, String)> {
    use base64::Engine;
    let decoded = base64::engine::general_purpose::URL_SAFE
        .decode(id)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(id))
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (upstream, path) = text.split_once(' ')?;
    Some((upstream.parse().ok()?, path.to_owned()))
}
