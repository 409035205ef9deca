//! [`Kv`] as an in-process map, with compare-and-swap.

use std::collections::HashMap;
use std::sync::Mutex;

use vreg_core::storage::{Kv, StoreError, Tally};

/// An in-process key-value store that counts the reads of each key.
#[derive(Default)]
pub struct MemoryKv {
    entries: Mutex<HashMap<String, Vec<u8>>>,
    reads: Mutex<HashMap<String, usize>>,
    /// The keys of each read call, in order (a batch get is one call).
    read_calls: Mutex<Vec<Vec<String>>>,
}

impl MemoryKv {
    /// Every key stored, in no particular order.
    pub fn keys(&self) -> Vec<String> {
        self.entries.lock().unwrap().keys().cloned().collect()
    }

    /// How many times `key` was read (alone or in a batch).
    pub fn reads_of(&self, key: &str) -> usize {
        self.reads.lock().unwrap().get(key).copied().unwrap_or(0)
    }

    /// The keys of every read call so far, one list a call (what a host
    /// pays a round trip for).
    pub fn read_calls(&self) -> Vec<Vec<String>> {
        self.read_calls.lock().unwrap().clone()
    }

    fn read(&self, key: &str) -> Option<Vec<u8>> {
        *self
            .reads
            .lock()
            .unwrap()
            .entry(key.to_owned())
            .or_default() += 1;
        self.entries.lock().unwrap().get(key).cloned()
    }
}

impl Kv for MemoryKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.read_calls.lock().unwrap().push(vec![key.to_owned()]);
        Ok(self.read(key))
    }

    fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let call = keys.iter().map(|k| (*k).to_owned()).collect();
        self.read_calls.lock().unwrap().push(call);
        Ok(keys.iter().map(|key| self.read(key)).collect())
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.entries
            .lock()
            .unwrap()
            .insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.entries.lock().unwrap().remove(key);
        Ok(())
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let mut entries = self.entries.lock().unwrap();
        if entries.get(key).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        entries.insert(key.to_owned(), new.to_vec());
        Ok(true)
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        let mut entries = self.entries.lock().unwrap();
        let current = entries
            .get(key)
            .map(|v| String::from_utf8_lossy(v).parse::<i64>())
            .transpose()
            .map_err(|e| StoreError::Other(format!("{key} is not a counter: {e}")))?
            .unwrap_or(0);
        let next = current + delta;
        entries.insert(key.to_owned(), next.to_string().into_bytes());
        Ok(next)
    }
}

/// The test tally: counters in a map of their own, as Spin's `counters`
/// store is a store of its own.
impl Tally for MemoryKv {
    fn add(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        self.increment(key, delta)
    }

    fn keys(&self) -> Result<Vec<String>, StoreError> {
        Ok(MemoryKv::keys(self))
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        Kv::delete(self, key)
    }
}
