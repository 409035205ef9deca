//! Leases in the key-value store: `lease:<name>` is a short-lived key (see
//! [`super::expiring`]) whose value names its holder. However many
//! requests race for a lease, exactly one wins while it is unexpired; only
//! the holder can give it back early.
//!
//! Taking a lease that is there (held once, now expired or given back) is a
//! compare-and-swap against the value seen. Taking one that is not there
//! yet is not: Spin's SQLite-backed store (4.0.2) makes a swap from
//! "absent" an unconditional write, so two requests that both saw it absent
//! both won (measured on real Spin: 5 of 50 contests of 40 requests had two
//! winners). Who creates a lease is settled by an increment instead, which
//! every backend does atomically: the first to count the lease's name wins.
//! The count is per minute, so a creator that fails between counting and
//! writing the lease holds nothing up for longer than that. The price: two
//! creators both win if one counts at the very end of a minute and a second,
//! which looked before the first wrote, counts in the next. Both steps take
//! microseconds, so that needs a race within microseconds of the minute's
//! turn (or within the instances' clock difference, where that is larger).

use super::expiring;
use crate::crypto::{hex, random_bytes};
use crate::error::Result;
use crate::storage::Kv;

/// The span one count of a lease's creators covers.
const CREATION_WINDOW_MILLIS: i64 = 60 * 1000;

/// Where the lease `name` is kept (for a request that reads it in a batch
/// with other keys: see [`take_lease_seen`]).
pub fn lease_key(name: &str) -> String {
    format!("lease:{name}")
}

/// A lease's stored value as a batch get earlier in the same request saw
/// it, or `Unread`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Seen {
    #[default]
    Unread,
    Read(Option<Vec<u8>>),
}

/// The counter that settles who creates the lease `name` in the window
/// `now` falls in.
fn creation_key(name: &str, now: i64) -> String {
    let window = now.div_euclid(CREATION_WINDOW_MILLIS);
    format!("lease-created:{window}:{name}")
}

/// Takes the lease for `ttl_millis` unless someone holds it. Returns the
/// holder's token when this caller got it.
pub fn take_lease(kv: &dyn Kv, name: &str, now: i64, ttl_millis: i64) -> Result<Option<String>> {
    take_lease_seen(kv, name, Seen::Unread, now, ttl_millis)
}

/// [`take_lease`], given the lease's value as read earlier in the request
/// (`seen`): a lease seen held costs no read of its own. Safe however long
/// ago it was seen: a lease seen free is taken only if it is still as seen
/// (by compare-and-swap, or, seen absent, by being the first to count).
pub fn take_lease_seen(
    kv: &dyn Kv,
    name: &str,
    seen: Seen,
    now: i64,
    ttl_millis: i64,
) -> Result<Option<String>> {
    let key = lease_key(name);
    let current = match seen {
        Seen::Unread => kv.get(&key)?,
        Seen::Read(value) => value,
    };
    if current
        .as_deref()
        .is_some_and(|v| !expiring::is_expired(v, now))
    {
        return Ok(None);
    }
    let holder = hex(&random_bytes::<16>());
    let taken = expiring::encode(now.saturating_add(ttl_millis), holder.as_bytes());
    let won = match current {
        Some(current) => kv.compare_and_swap(&key, Some(&current), &taken)?,
        None => {
            let first = kv.increment(&creation_key(name, now), 1)? == 1;
            if first {
                kv.set(&key, &taken)?;
            }
            first
        }
    };
    Ok(won.then_some(holder))
}

/// Ends a lease for good, if `holder` still holds it: what it guarded is
/// done and nothing will take it again, so its key goes rather than wait
/// in the store (a lease given back with [`release_lease`] stays there to
/// be taken by compare-and-swap). Returns whether it did.
pub fn end_lease(kv: &dyn Kv, name: &str, holder: &str) -> Result<bool> {
    let key = lease_key(name);
    if held_by(kv, &key, holder)?.is_none() {
        return Ok(false);
    }
    kv.delete(&key)?;
    Ok(true)
}

/// Deletes the count that settled who created the lease `name` when it was
/// taken at `taken_at`, once its creators have long counted (seconds
/// after: they count microseconds after looking). Without it, every lease
/// ever created would leave its count behind.
pub fn forget_creation(kv: &dyn Kv, name: &str, taken_at: i64) -> Result<()> {
    Ok(kv.delete(&creation_key(name, taken_at))?)
}

/// Gives a lease back early (after a failed attempt, so a retry may take
/// it), if `holder` still holds it. Returns whether it did.
pub fn release_lease(kv: &dyn Kv, name: &str, holder: &str) -> Result<bool> {
    let key = lease_key(name);
    let Some(current) = held_by(kv, &key, holder)? else {
        return Ok(false);
    };
    // Expired at once: the next taker finds it free (and there, so it
    // takes it by compare-and-swap).
    Ok(kv.compare_and_swap(&key, Some(&current), &expiring::encode(0, b""))?)
}

/// The lease's stored value, if `holder` holds it.
fn held_by(kv: &dyn Kv, key: &str, holder: &str) -> Result<Option<Vec<u8>>> {
    Ok(kv.get(key)?.filter(|current| {
        expiring::decode(current).map(|(_, value)| value) == Some(holder.as_bytes())
    }))
}
