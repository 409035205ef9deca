//! The local backend: a SQLite file with one table of (store, key, value),
//! the same layout Spin's own `spin` key-value type uses, so a state
//! directory works under both hosts.

use std::path::Path;
use std::sync::Mutex;

use anyhow::{Context, Result};

use crate::idle::{connect_sqlite, Idle};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

pub struct KvFile {
    path: std::path::PathBuf,
    /// Writes, one at a time (SQLite allows one writer; waiting here beats
    /// its busy handler's sleeps).
    connection: Mutex<Connection>,
    /// Readers, each used by one call at a time: in WAL mode reads run
    /// beside each other and beside the writer, so a large read holds up
    /// no other request (one lock for all calls cost 50 MiB reads ~20%
    /// once guests and connections shared workers).
    readers: Idle<Connection>,
}

pub type KvResult<T> = std::result::Result<T, String>;

fn text(e: rusqlite::Error) -> String {
    e.to_string()
}

impl KvFile {
    pub fn open(path: &Path) -> Result<KvFile> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let connection = connect_sqlite(path)
            .with_context(|| format!("cannot open key-value file {}", path.display()))?;
        // Write-ahead logging: a commit is one append and one sync instead
        // of a rollback journal's several (an atomic increment: ~1.0 ms →
        // ~0.3 ms here). It is a property of the file, so Spin's own
        // key-value store gets it too when it opens the same file.
        connection.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
        connection.execute(
            "CREATE TABLE IF NOT EXISTS spin_key_value (
                store TEXT NOT NULL,
                key TEXT NOT NULL,
                value BLOB NOT NULL,
                PRIMARY KEY (store, key)
            )",
            [],
        )?;
        Ok(KvFile {
            path: path.to_path_buf(),
            connection: Mutex::new(connection),
            readers: Idle::new(16),
        })
    }

    /// Runs a write on the one writer.
    fn write<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> KvResult<T> {
        crate::guest::blocking(|| {
            let mut connection = self
                .connection
                .lock()
                .map_err(|_| "store poisoned".to_owned())?;
            f(&mut connection).map_err(text)
        })
    }

    /// Runs a read on a connection of its own.
    fn read<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> KvResult<T> {
        crate::guest::blocking(|| {
            let mut connection = match self.readers.take() {
                Some(connection) => connection,
                None => connect_sqlite(&self.path).map_err(text)?,
            };
            let result = f(&mut connection).map_err(text);
            self.readers.give_back(connection);
            result
        })
    }
}

/// The operations, each on the store (label) named: a namespace in the file.
impl KvFile {
    pub fn get(&self, store: &str, key: &str) -> KvResult<Option<Vec<u8>>> {
        self.read(|c| {
            c.prepare_cached("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .query_row(params![store, key], |row| row.get(0))
                .optional()
        })
    }

    pub fn set(&self, store: &str, key: &str, value: &[u8]) -> KvResult<()> {
        self.write(|c| {
            c.prepare_cached(
                "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![store, key, value])
            .map(drop)
        })
    }

    pub fn delete(&self, store: &str, key: &str) -> KvResult<()> {
        self.write(|c| {
            c.prepare_cached("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .execute(params![store, key])
                .map(drop)
        })
    }

    pub fn exists(&self, store: &str, key: &str) -> KvResult<bool> {
        self.read(|c| {
            c.prepare_cached("SELECT 1 FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .exists(params![store, key])
        })
    }

    pub fn keys(&self, store: &str) -> KvResult<Vec<String>> {
        self.read(|c| {
            c.prepare_cached("SELECT key FROM spin_key_value WHERE store = ?1 ORDER BY key")?
                .query_map(params![store], |row| row.get(0))?
                .collect()
        })
    }

    pub fn get_many(
        &self,
        store: &str,
        keys: &[String],
    ) -> KvResult<Vec<(String, Option<Vec<u8>>)>> {
        self.read(|c| {
            let mut statement =
                c.prepare_cached("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2")?;
            keys.iter()
                .map(|key| {
                    let value = statement
                        .query_row(params![store, key], |row| row.get(0))
                        .optional()?;
                    Ok((key.clone(), value))
                })
                .collect()
        })
    }

    pub fn set_many(&self, store: &str, entries: &[(String, Vec<u8>)]) -> KvResult<()> {
        self.write(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut statement = tx.prepare_cached(
                    "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
                )?;
                for (key, value) in entries {
                    statement.execute(params![store, key, value])?;
                }
            }
            tx.commit()
        })
    }

    pub fn delete_many(&self, store: &str, keys: &[String]) -> KvResult<()> {
        self.write(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut statement =
                    tx.prepare_cached("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2")?;
                for key in keys {
                    statement.execute(params![store, key])?;
                }
            }
            tx.commit()
        })
    }

    /// Adds `delta` to the little-endian i64 at `key` (absent counts as 0),
    /// in one transaction.
    pub fn increment(&self, store: &str, key: &str, delta: i64) -> KvResult<i64> {
        let result = self.write(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let current: Option<Vec<u8>> = tx
                .prepare_cached("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .query_row(params![store, key], |row| row.get(0))
                .optional()?;
            let current = match current {
                None => 0,
                Some(bytes) => match <[u8; 8]>::try_from(bytes.as_slice()) {
                    Ok(b) => i64::from_le_bytes(b),
                    Err(_) => return Ok(Err("value is not an 8-byte integer".to_owned())),
                },
            };
            let Some(next) = current.checked_add(delta) else {
                return Ok(Err("increment overflows i64".to_owned()));
            };
            tx.prepare_cached(
                "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![store, key, next.to_le_bytes().to_vec()])?;
            tx.commit()?;
            Ok(Ok(next))
        })?;
        result
    }

    /// Writes `value` only if the key still holds `expected` (absent when
    /// `None`). One statement, so it is atomic whatever the concurrency.
    /// Returns whether the swap happened.
    pub fn swap(
        &self,
        store: &str,
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> KvResult<bool> {
        self.write(|c| {
            let changed = match expected {
                Some(old) => c
                    .prepare_cached(
                        "UPDATE spin_key_value SET value = ?4 WHERE store = ?1 AND key = ?2 AND value = ?3",
                    )?
                    .execute(params![store, key, old, value])?,
                None => c
                    .prepare_cached(
                        "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                         ON CONFLICT (store, key) DO NOTHING",
                    )?
                    .execute(params![store, key, value])?,
            };
            Ok(changed == 1)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_dir::TestDir;

    fn file() -> (TestDir, KvFile) {
        let dir = TestDir::new();
        let file = KvFile::open(&dir.0.join("kv.db")).unwrap();
        (dir, file)
    }

    #[test]
    fn stores_are_separate_namespaces_in_one_file() {
        let (_dir, kv) = file();
        kv.set("a", "k", b"1").unwrap();
        kv.set("b", "k", b"2").unwrap();
        assert_eq!(kv.get("a", "k").unwrap(), Some(b"1".to_vec()));
        assert_eq!(kv.keys("b").unwrap(), ["k"]);
        kv.delete("a", "k").unwrap();
        assert!(!kv.exists("a", "k").unwrap());
        assert!(kv.exists("b", "k").unwrap());
        kv.set_many(
            "a",
            &[("x".into(), b"1".to_vec()), ("y".into(), b"2".to_vec())],
        )
        .unwrap();
        assert_eq!(
            kv.get_many("a", &["x".into(), "z".into()]).unwrap(),
            [
                ("x".to_owned(), Some(b"1".to_vec())),
                ("z".to_owned(), None)
            ]
        );
        kv.delete_many("a", &["x".into(), "y".into()]).unwrap();
        assert!(kv.keys("a").unwrap().is_empty());
    }

    #[test]
    fn increment_counts_in_little_endian_i64() {
        let (_dir, kv) = file();
        assert_eq!(kv.increment("s", "n", 5).unwrap(), 5);
        assert_eq!(kv.increment("s", "n", -7).unwrap(), -2);
        assert_eq!(
            kv.get("s", "n").unwrap(),
            Some((-2i64).to_le_bytes().to_vec())
        );
        kv.set("s", "text", b"abc").unwrap();
        assert!(kv.increment("s", "text", 1).is_err());
        kv.set("s", "max", &i64::MAX.to_le_bytes()).unwrap();
        assert!(kv.increment("s", "max", 1).is_err());
    }

    #[test]
    fn swap_succeeds_only_against_the_value_seen() {
        let (_dir, kv) = file();
        assert!(
            kv.swap("s", "lease", None, b"one").unwrap(),
            "absent: insert"
        );
        assert!(
            !kv.swap("s", "lease", None, b"two").unwrap(),
            "present now: refused"
        );
        assert!(!kv.swap("s", "lease", Some(b"stale"), b"two").unwrap());
        assert!(kv.swap("s", "lease", Some(b"one"), b"two").unwrap());
        assert_eq!(kv.get("s", "lease").unwrap(), Some(b"two".to_vec()));
    }
}
