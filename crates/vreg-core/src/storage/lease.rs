//! Leases in the key-value store: `lease:<name>` is a short-lived key (see
//! [`super::expiring`]). Taking one is a single compare-and-swap, so however
//! many requests race for it, exactly one wins while it is unexpired.

use super::expiring;
use crate::error::Result;
use crate::storage::Kv;

/// Takes the lease for `ttl_millis` unless someone holds it. Returns whether
/// this caller got it.
pub fn take_lease(kv: &dyn Kv, name: &str, now: i64, ttl_millis: i64) -> Result<bool> {
    let key = format!("lease:{name}");
    let current = kv.get(&key)?;
    if current
        .as_deref()
        .is_some_and(|v| !expiring::is_expired(v, now))
    {
        return Ok(false);
    }
    let taken = expiring::encode(now.saturating_add(ttl_millis), b"");
    Ok(kv.compare_and_swap(&key, current.as_deref(), &taken)?)
}

/// Gives a lease back early (after a failed attempt, so a retry may take it).
pub fn release_lease(kv: &dyn Kv, name: &str) -> Result<()> {
    kv.delete(&format!("lease:{name}"))?;
    Ok(())
}
