//! Short-lived keys in the key-value store. Spin's key-value interface has no
//! expiry, so the value carries its own: `<expires-at, ms>\n<value>`. Every
//! short-lived key (leases, retry markers, the Go version-list cache,
//! resolved reads) is written and read through here, so all of them expire
//! the same way.
//!
//! What anyone can cause to be cached is folded into a fixed number of
//! keys per space, so however many distinct things are asked for, the keys
//! stay bounded: *marks* (a 404 remembered for a path an anonymous caller
//! made up; [`mark`], [`marked_until`]) share bucket keys that hold a bounded
//! number of marks and drop expired ones when written; *slots* (a module's
//! version list; [`get_slot`], [`set_slot`]) are a direct-mapped cache, one
//! value per key, a newer value of another name taking the slot over.

use crate::error::Result;
use crate::storage::Kv;

/// The stored form of `value` expiring at `expires_at` (ms since the epoch).
pub fn encode(expires_at: i64, value: &[u8]) -> Vec<u8> {
    let mut out = format!("{expires_at}\n").into_bytes();
    out.extend_from_slice(value);
    out
}

/// The expiry and value of a stored short-lived key; `None` when the bytes
/// are not of that form.
pub fn decode(stored: &[u8]) -> Option<(i64, &[u8])> {
    let newline = stored.iter().position(|b| *b == b'\n')?;
    let expires_at = std::str::from_utf8(&stored[..newline]).ok()?.parse().ok()?;
    Some((expires_at, &stored[newline + 1..]))
}

/// Whether stored bytes are a short-lived key that has expired by `now`
/// (or are not a short-lived key at all).
pub fn is_expired(stored: &[u8], now: i64) -> bool {
    live(stored, now).is_none()
}

/// The value that stored bytes hold, unless it has expired by `now` (or
/// they are not a short-lived key at all).
pub fn live(stored: &[u8], now: i64) -> Option<&[u8]> {
    decode(stored)
        .filter(|(expires_at, _)| *expires_at > now)
        .map(|(_, value)| value)
}

/// The value of `key`, unless it is absent or expired.
pub fn get(kv: &dyn Kv, key: &str, now: i64) -> Result<Option<Vec<u8>>> {
    Ok(kv
        .get(key)?
        .and_then(|stored| live(&stored, now).map(<[u8]>::to_vec)))
}

/// Sets `key` to `value` for `ttl_millis` from `now`.
pub fn set(kv: &dyn Kv, key: &str, value: &[u8], now: i64, ttl_millis: i64) -> Result<()> {
    kv.set(key, &encode(now.saturating_add(ttl_millis), value))?;
    Ok(())
}

/// Bucket keys per space of marks, and marks per bucket.
pub const MARK_BUCKETS: u64 = 1024;
const MARKS_PER_BUCKET: usize = 32;

/// The bucket key of `mark` in `space`, and the mark's own 16-hex id.
fn bucket(space: &str, mark: &str) -> (String, String) {
    let digest = crate::crypto::sha256(mark.as_bytes());
    let index = u64::from_be_bytes(digest[..8].try_into().unwrap_or_default()) % MARK_BUCKETS;
    (
        format!("{space}:{index}"),
        crate::crypto::hex(&digest[8..16]),
    )
}

/// The live marks of a bucket: `<id> <expires-at>` lines.
fn live_marks(stored: Option<Vec<u8>>, now: i64) -> Vec<(String, i64)> {
    let text = stored.map(|s| String::from_utf8_lossy(&s).into_owned());
    text.iter()
        .flat_map(|t| t.lines())
        .filter_map(|line| {
            let (id, at) = line.split_once(' ')?;
            Some((id.to_owned(), at.parse().ok()?))
        })
        .filter(|(_, at)| *at > now)
        .collect()
}

/// The value cached under `name` in `space`, unless absent, expired, or
/// displaced by another name sharing its slot.
pub fn get_slot(kv: &dyn Kv, space: &str, name: &str, now: i64) -> Result<Option<Vec<u8>>> {
    let (key, id) = bucket(space, name);
    Ok(get(kv, &key, now)?.and_then(|stored| {
        let rest = stored.strip_prefix(format!("{id}\n").as_bytes())?;
        Some(rest.to_vec())
    }))
}

/// Caches `value` under `name` in `space` for `ttl_millis`, in its slot.
pub fn set_slot(
    kv: &dyn Kv,
    space: &str,
    name: &str,
    value: &[u8],
    now: i64,
    ttl_millis: i64,
) -> Result<()> {
    let (key, id) = bucket(space, name);
    let mut stored = format!("{id}\n").into_bytes();
    stored.extend_from_slice(value);
    set(kv, &key, &stored, now, ttl_millis)
}

/// Until when `mark` is set in `space`, if it is set and unexpired.
pub fn marked_until(kv: &dyn Kv, space: &str, mark: &str, now: i64) -> Result<Option<i64>> {
    let (key, id) = bucket(space, mark);
    let marks = live_marks(kv.get(&key)?, now);
    Ok(marks.into_iter().find(|(m, _)| *m == id).map(|(_, at)| at))
}

/// Sets `mark` in `space` for `ttl_millis`. A full bucket drops the marks
/// nearest their expiry; concurrent writers may drop each other's marks
/// (they are a cache: a dropped mark costs one more upstream request).
pub fn mark(kv: &dyn Kv, space: &str, mark: &str, now: i64, ttl_millis: i64) -> Result<()> {
    let (key, id) = bucket(space, mark);
    let mut marks = live_marks(kv.get(&key)?, now);
    marks.retain(|(m, _)| *m != id);
    marks.sort_by_key(|(_, at)| std::cmp::Reverse(*at));
    marks.truncate(MARKS_PER_BUCKET - 1);
    marks.push((id, now.saturating_add(ttl_millis)));
    let text: String = marks.iter().map(|(m, at)| format!("{m} {at}\n")).collect();
    kv.set(&key, text.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_round_trips_with_its_expiry() {
        let stored = encode(1_000, b"a\nb");
        assert_eq!(decode(&stored), Some((1_000, b"a\nb".as_slice())));
        assert!(!is_expired(&stored, 999));
        assert!(is_expired(&stored, 1_000));
        assert!(is_expired(b"not a short-lived value", 0));
    }
}
