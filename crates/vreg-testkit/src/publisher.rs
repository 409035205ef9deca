//! A [`Publisher`] that records triggers, for tests of core logic that do
//! not need the worker app; end-to-end tests use the real queue (Redis,
//! through the `sync` key-value store).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Mutex;

use vreg_core::storage::{Publisher, StoreError};

/// Records what was queued, in order, and keeps it for `take`.
#[derive(Default)]
pub struct RecordingPublisher {
    pub messages: Mutex<Vec<(String, Vec<u8>)>>,
    pub fail: std::sync::atomic::AtomicBool,
    queued: Mutex<HashMap<String, Vec<u8>>>,
}

impl Publisher for RecordingPublisher {
    fn publish(&self, key: &str, payload: &[u8]) -> Result<(), StoreError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(StoreError::Other("redis is down".into()));
        }
        self.messages
            .lock()
            .unwrap()
            .push((key.to_owned(), payload.to_vec()));
        self.queued
            .lock()
            .unwrap()
            .insert(key.to_owned(), payload.to_vec());
        Ok(())
    }

    fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.queued.lock().unwrap().remove(key))
    }
}
