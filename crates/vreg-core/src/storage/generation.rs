//! The configuration generation: a counter in the key-value store that
//! every change able to alter how a read resolves moves on (any admin
//! write, any package upload). Records derived from the configuration carry
//! the generation they were made under and are trusted only while it is
//! still current, so a read can skip SQL without ever outliving a change.

use crate::error::Result;
use crate::storage::Kv;

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

/// Moves the generation on, atomically: two concurrent changes never leave
/// it where either of them found it.
pub fn advance(kv: &dyn Kv) -> Result<()> {
    loop {
        let seen = kv.get(KEY)?;
        let value = seen
            .as_deref()
            .and_then(|v| String::from_utf8_lossy(v).parse::<u64>().ok())
            .unwrap_or(0);
        let next = (value + 1).to_string();
        if kv.compare_and_swap(KEY, seen.as_deref(), next.as_bytes())? {
            return Ok(());
        }
    }
}
