//! The configuration generation: a counter in the key-value store that
//! every change able to alter how a read resolves moves on (any admin
//! write, any package upload). Records derived from the configuration carry
//! the generation they were made under and are trusted only while it is
//! still current, so a read can skip SQL without ever outliving a change.

use crate::error::Result;
use crate::storage::{Kv, StoreError};

/// Where the generation is kept (read it with [`current`], or with
/// [`from_stored`] when fetched together with other keys).
pub const KEY: &str = "config:generation";

/// The current generation (0 before the first change).
pub fn current(kv: &dyn Kv) -> Result<u64> {
    Ok(from_stored(kv.get(KEY)?.as_deref()))
}

/// The generation that the stored value of [`KEY`] says.
pub fn from_stored(stored: Option<&[u8]>) -> u64 {
    stored
        .and_then(|v| String::from_utf8_lossy(v).parse().ok())
        .unwrap_or(0)
}

/// Moves the generation on past the one current when this is called (after
/// the change it announces is written). Whoever moves it past that, this
/// caller or a concurrent one, makes every record made before the change
/// stale: a record carries the generation read before it was resolved.
/// So a lost compare-and-swap that finds the generation moved on is done,
/// and one that did not swap (a store that reports a swap it made as
/// failed, as Spin's Redis store does) is seen through.
pub fn advance(kv: &dyn Kv) -> Result<()> {
    let mut expected = kv.get(KEY)?;
    let seen = from_stored(expected.as_deref());
    for _ in 0..ADVANCE_ATTEMPTS {
        let next = (from_stored(expected.as_deref()) + 1).to_string();
        if kv.compare_and_swap(KEY, expected.as_deref(), next.as_bytes())? {
            return Ok(());
        }
        expected = kv.get(KEY)?;
        if from_stored(expected.as_deref()) > seen {
            return Ok(());
        }
    }
    Err(StoreError::Busy.into())
}

/// How often [`advance`] tries before giving up (each failure but the
/// last found the generation where it was: a store whose swaps never take).
const ADVANCE_ATTEMPTS: usize = 16;
