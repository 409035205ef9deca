//! Cache entries: what remote upstreams served, by upstream and relative
//! path, pointing at a blob. Used by the virtual registries and by the cache
//! admin endpoints.

use crate::domain::resolved::{hashed_key, legacy_hashed_key};
use crate::error::Result;
use crate::storage::blobs::Digests;
use crate::storage::{
    drain_queue, json_list, query_rows, Filter, Kv, Listing, RowReader, Sql, StoreError, Value,
};

/// A cached read writes no SQL: its download is counted in the tally store
/// (see `domain::downloads`), and `downloaded_at` is written only when it
/// is older than this.
pub const DOWNLOADED_AT_RESOLUTION: i64 = 3600 * 1000;

#[derive(Debug, Clone)]
pub struct CacheEntry {
    pub upstream_id: i64,
    pub relative_path: String,
    pub content_type: String,
    pub digests: Digests,
    pub upstream_etag: Option<String>,
    pub upstream_checked_at: i64,
    pub created_at: i64,
    pub downloaded_at: Option<i64>,
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
        downloaded_at: r.opt_i64()?,
    })
}

pub fn cache_entries(sql: &dyn Sql, upstream_ids: &[i64], path: &str) -> Result<Vec<CacheEntry>> {
    query_rows(
        sql,
        "SELECT upstream_id, relative_path, content_type, size, sha1, md5, sha256, sha512,
                upstream_etag, upstream_checked_at, created_at, downloaded_at
         FROM cache_entries WHERE upstream_id IN (SELECT value FROM json_each(?)) AND relative_path = ?",
        &[json_list(upstream_ids), path.into()],
        decode_entry,
    )
}

pub fn commit_entry(sql: &dyn Sql, now: i64, entry: &CacheEntry) -> Result<()> {
    let d = &entry.digests;
    sql.execute(
        "INSERT INTO cache_entries (upstream_id, relative_path, size, content_type, sha1, md5, sha256, sha512,
                blob_digest, upstream_etag, upstream_checked_at, created_at, updated_at, downloaded_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?7, ?9, ?10, ?10, ?10, ?10)
         ON CONFLICT (upstream_id, relative_path) DO UPDATE SET
            size = excluded.size, content_type = excluded.content_type, sha1 = excluded.sha1,
            md5 = excluded.md5, sha256 = excluded.sha256, sha512 = excluded.sha512,
            blob_digest = excluded.blob_digest, upstream_etag = excluded.upstream_etag,
            upstream_checked_at = excluded.upstream_checked_at, updated_at = excluded.updated_at,
            downloaded_at = excluded.downloaded_at",
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

/// The space of the records a registry keeps of how a path resolved (see
/// `maven::resolved`; each carries its path, checked on reading); here
/// because removing entries removes those too.
const MAVEN_RESOLVED: &str = "maven:resolved";

/// The key of the record a registry keeps of how `path` resolved.
pub fn resolved_key(registry_id: i64, path: &str) -> String {
    hashed_key(MAVEN_RESOLVED, registry_id, path)
}

/// Records that the upstream confirmed the entry is still current.
pub fn mark_checked(sql: &dyn Sql, entry: &CacheEntry, now: i64) -> Result<()> {
    sql.execute(
        "UPDATE cache_entries SET upstream_checked_at = ? WHERE upstream_id = ? AND relative_path = ?",
        &[now.into(), entry.upstream_id.into(), entry.relative_path.as_str().into()],
    )?;
    Ok(())
}

const COLUMNS: &str = "upstream_id, relative_path, content_type, size, sha1, md5, sha256, sha512, \
     upstream_etag, upstream_checked_at, created_at, downloaded_at";

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

/// Removes the entries `condition` selects (SQL over `cache_entries c`;
/// it must select the same rows twice: order any LIMIT), after queueing
/// what they leave in the key-value store (their download counters, and
/// the resolved reads of the registries their upstream serves) for
/// [`forget_queued`]. Their blobs become garbage. Queueing first needs no
/// transaction of its own: keys queued for an entry that stays are only a
/// cache's (a counter is kept while its entry exists). Returns how many
/// were removed.
pub fn remove_where(sql: &dyn Sql, condition: &str, params: &[Value]) -> Result<i64> {
    sql.execute(
        &format!(
            "INSERT INTO forgotten_cache_entries (upstream_id, relative_path, registry_ids)
             SELECT c.upstream_id, c.relative_path,
                (SELECT json_group_array(l.registry_id) FROM registry_upstreams l
                 WHERE l.upstream_id = c.upstream_id)
             FROM cache_entries c WHERE {condition}"
        ),
        params,
    )?;
    sql.execute(
        &format!(
            "DELETE FROM cache_entries WHERE rowid IN
               (SELECT c.rowid FROM cache_entries c WHERE {condition})"
        ),
        params,
    )?;
    Ok(sql
        .execute("SELECT changes()", &[])?
        .scalar_i64()
        .unwrap_or(0))
}

/// Queues the resolved reads `registry_id` keeps for the entries of
/// `upstream_ids` (the registry is going away; the entries may stay).
pub fn forget_resolved(sql: &dyn Sql, registry_id: i64, upstream_ids: &[i64]) -> Result<()> {
    sql.execute(
        "INSERT INTO forgotten_cache_entries (upstream_id, relative_path, registry_ids)
         SELECT upstream_id, relative_path, json_array(?) FROM cache_entries
         WHERE upstream_id IN (SELECT value FROM json_each(?))",
        &[registry_id.into(), json_list(upstream_ids)],
    )?;
    Ok(())
}

/// Deletes up to `budget` queued keys of removed entries (a counter is
/// kept while an entry of that upstream and path exists again). Returns
/// how many entries' keys were deleted.
pub fn forget_queued(sql: &dyn Sql, kv: &dyn Kv, budget: i64) -> Result<i64> {
    let columns = "upstream_id, relative_path, registry_ids";
    drain_queue(sql, "forgotten_cache_entries", columns, budget, |row| {
        let (upstream, path) = (row.i64()?, row.text()?);
        let registries: Vec<i64> = serde_json::from_str(&row.text()?).unwrap_or_default();
        for registry in registries {
            kv.delete(&resolved_key(registry, &path))?;
            kv.delete(&legacy_hashed_key(MAVEN_RESOLVED, registry, &path))?;
        }
        if cache_entries(sql, &[upstream], &path)?.is_empty() {
            crate::domain::downloads::forget_legacy(kv, upstream, &path)?;
        }
        Ok(())
    })
}

/// Deletes one entry (its blob becomes garbage); whether it existed.
pub fn delete(sql: &dyn Sql, upstream_id: i64, relative_path: &str) -> Result<bool> {
    let removed = remove_where(
        sql,
        "c.upstream_id = ? AND c.relative_path = ?",
        &[upstream_id.into(), relative_path.into()],
    )?;
    Ok(removed > 0)
}

/// Deletes every entry of the given upstreams.
pub fn clear(sql: &dyn Sql, upstream_ids: &[i64]) -> Result<()> {
    remove_where(
        sql,
        "c.upstream_id IN (SELECT value FROM json_each(?))",
        &[json_list(upstream_ids)],
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
