//! [`Publisher`]s: one that records messages, for tests that need no
//! Redis; the real one is [`crate::redis::RedisPublisher`].

use std::sync::atomic::Ordering;
use std::sync::Mutex;

use vreg_core::storage::{Publisher, StoreError};

/// Records what was published, for tests that do not need Redis itself.
#[derive(Default)]
pub struct RecordingPublisher {
    pub messages: Mutex<Vec<(String, Vec<u8>)>>,
    pub fail: std::sync::atomic::AtomicBool,
}

impl Publisher for RecordingPublisher {
    /// One receiver: the test stands in for the worker.
    fn publish(&self, channel: &str, payload: &[u8]) -> Result<u64, StoreError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(StoreError::Other("redis is down".into()));
        }
        self.messages
            .lock()
            .unwrap()
            .push((channel.to_owned(), payload.to_vec()));
        Ok(1)
    }
}
