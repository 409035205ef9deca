//! Connections kept open for reuse: opening a SQLite connection (and
//! preparing its statements again) costs more than most calls made on it.
//! One is taken when there is one, and given back while fewer than the
//! bound are kept; a poisoned lock only stops the reuse.

use std::path::Path;
use std::sync::Mutex;

pub struct Idle<T> {
    kept: Mutex<Vec<T>>,
    max: usize,
}

impl<T> Idle<T> {
    pub const fn new(max: usize) -> Self {
        Idle {
            kept: Mutex::new(Vec::new()),
            max,
        }
    }

    pub fn take(&self) -> Option<T> {
        self.kept.lock().ok()?.pop()
    }

    /// Keeps `item` for a later [`Idle::take`], or drops it when enough are
    /// kept.
    pub fn give_back(&self, item: T) {
        if let Ok(mut kept) = self.kept.lock() {
            if kept.len() < self.max {
                kept.push(item);
            }
        }
    }
}

/// A connection to a SQLite file that waits up to 5 s for another writer
/// rather than fail at once.
pub fn connect_sqlite(path: &Path) -> rusqlite::Result<rusqlite::Connection> {
    let connection = rusqlite::Connection::open(path)?;
    connection.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(connection)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_what_is_given_back_up_to_its_bound() {
        let idle = Idle::new(2);
        assert_eq!(idle.take(), None::<u8>);
        for n in 1..=3 {
            idle.give_back(n);
        }
        assert_eq!(idle.take(), Some(2));
        assert_eq!(idle.take(), Some(1));
        assert_eq!(idle.take(), None, "the third was dropped");
    }
}
