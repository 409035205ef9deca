//! Short-lived keys in the key-value store. Spin's key-value interface has no
//! expiry, so the value carries its own: `<expires-at, ms>\n<value>`. Every
//! short-lived key (leases, retry markers, the Maven negative cache, the Go
//! version-list cache) is written and read through here, so all of them
//! expire the same way and a sweep can tell an expired key from a live one.

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
    decode(stored).is_none_or(|(expires_at, _)| expires_at <= now)
}

/// The value of `key`, unless it is absent or expired.
pub fn get(kv: &dyn Kv, key: &str, now: i64) -> Result<Option<Vec<u8>>> {
    Ok(kv.get(key)?.and_then(|stored| match decode(&stored) {
        Some((expires_at, value)) if expires_at > now => Some(value.to_vec()),
        _ => None,
    }))
}

/// Sets `key` to `value` for `ttl_millis` from `now`.
pub fn set(kv: &dyn Kv, key: &str, value: &[u8], now: i64, ttl_millis: i64) -> Result<()> {
    kv.set(key, &encode(now.saturating_add(ttl_millis), value))?;
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
