//! A [`Clock`] tests can move.

use std::sync::atomic::{AtomicI64, Ordering};

use vreg_core::storage::Clock;

/// A clock that stands still until a test moves it.
pub struct ManualClock {
    now: AtomicI64,
}

impl ManualClock {
    pub fn at(millis: i64) -> Self {
        ManualClock {
            now: AtomicI64::new(millis),
        }
    }

    pub fn advance(&self, millis: i64) {
        self.now.fetch_add(millis, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_millis(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }

    fn sleep(&self, millis: i64) {
        self.advance(millis.max(0));
    }
}
