//! Leases in the key-value store: `lease:<name>` is a short-lived key (see
//! [`super::expiring`]) whose value names its holder. Taking one is a
//! single compare-and-swap, so however many requests race for it, exactly
//! one wins while it is unexpired; only the holder can give it back early
//! (another compare-and-swap, against the holder's own value).

use super::expiring;
use crate::crypto::{hex, random_bytes};
use crate::error::Result;
use crate::storage::Kv;

fn key(name: &str) -> String {
    format!("lease:{name}")
}

/// Takes the lease for `ttl_millis` unless someone holds it. Returns the
/// holder's token when this caller got it.
pub fn take_lease(kv: &dyn Kv, name: &str, now: i64, ttl_millis: i64) -> Result<Option<String>> {
    let key = key(name);
    let current = kv.get(&key)?;
    if current
        .as_deref()
        .is_some_and(|v| !expiring::is_expired(v, now))
    {
        return Ok(None);
    }
    let holder = hex(&random_bytes::<16>());
    let taken = expiring::encode(now.saturating_add(ttl_millis), holder.as_bytes());
    Ok(kv
        .compare_and_swap(&key, current.as_deref(), &taken)?
        .then_some(holder))
}

/// Gives a lease back early (after a failed attempt, so a retry may take
/// it), if `holder` still holds it. Returns whether it did.
pub fn release_lease(kv: &dyn Kv, name: &str, holder: &str) -> Result<bool> {
    let key = key(name);
    let Some(current) = kv.get(&key)? else {
        return Ok(false);
    };
    if expiring::decode(&current).map(|(_, value)| value) != Some(holder.as_bytes()) {
        return Ok(false);
    }
    // Expired at once: the next taker finds it free.
    Ok(kv.compare_and_swap(&key, Some(&current), &expiring::encode(0, b""))?)
}
