//! The WIT host implementations: `fermyon:spin/key-value@2.0.0` and
//! `wasi:keyvalue` (store, atomics, batch) over the same stores.

use wasmtime::component::Resource;

use super::{Bucket, Cas, OpenError};
use crate::bindings::fermyon::spin2_0_0::key_value as spin_kv;
use crate::bindings::wasi::keyvalue::{atomics, batch, store as wasi_kv};
use crate::state::InstanceState;

impl InstanceState {
    fn open_bucket(&self, label: &str) -> Result<Bucket, OpenError> {
        self.services
            .key_value
            .open(&self.component.key_value_stores, label)
    }

    fn bucket(&self, handle: &Resource<Bucket>) -> wasmtime::Result<Bucket> {
        Ok(self.table.get(handle)?.clone())
    }
}

fn spin_error(message: String) -> spin_kv::Error {
    spin_kv::Error::Other(message)
}

fn wasi_error(message: String) -> wasi_kv::Error {
    wasi_kv::Error::Other(message)
}

impl spin_kv::Host for InstanceState {}

impl spin_kv::HostStore for InstanceState {
    async fn open(
        &mut self,
        label: String,
    ) -> wasmtime::Result<Result<Resource<Bucket>, spin_kv::Error>> {
        match self.open_bucket(&label) {
            Ok(bucket) => Ok(Ok(self.table.push(bucket)?)),
            Err(OpenError::AccessDenied) => Ok(Err(spin_kv::Error::AccessDenied)),
            Err(OpenError::NoSuchStore) => Ok(Err(spin_kv::Error::NoSuchStore)),
        }
    }

    async fn get(
        &mut self,
        store: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, spin_kv::Error>> {
        let b = self.bucket(&store)?;
        Ok(b.get(&key).await.map_err(spin_error))
    }

    async fn set(
        &mut self,
        store: Resource<Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), spin_kv::Error>> {
        let b = self.bucket(&store)?;
        Ok(b.set(&key, &value).await.map_err(spin_error))
    }

    async fn delete(
        &mut self,
        store: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<(), spin_kv::Error>> {
        let b = self.bucket(&store)?;
        Ok(b.delete(&key).await.map_err(spin_error))
    }

    async fn exists(
        &mut self,
        store: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<bool, spin_kv::Error>> {
        let b = self.bucket(&store)?;
        Ok(b.exists(&key).await.map_err(spin_error))
    }

    async fn get_keys(
        &mut self,
        store: Resource<Bucket>,
    ) -> wasmtime::Result<Result<Vec<String>, spin_kv::Error>> {
        let b = self.bucket(&store)?;
        Ok(b.keys().await.map_err(spin_error))
    }

    async fn drop(&mut self, store: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}

impl wasi_kv::Host for InstanceState {
    async fn open(
        &mut self,
        identifier: String,
    ) -> wasmtime::Result<Result<Resource<Bucket>, wasi_kv::Error>> {
        match self.open_bucket(&identifier) {
            Ok(bucket) => Ok(Ok(self.table.push(bucket)?)),
            Err(OpenError::AccessDenied) => Ok(Err(wasi_kv::Error::AccessDenied)),
            Err(OpenError::NoSuchStore) => Ok(Err(wasi_kv::Error::NoSuchStore)),
        }
    }
}

impl wasi_kv::HostBucket for InstanceState {
    async fn get(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wasi_kv::Error>> {
        let b = self.bucket(&bucket)?;
        Ok(b.get(&key).await.map_err(wasi_error))
    }

    async fn set(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), wasi_kv::Error>> {
        let b = self.bucket(&bucket)?;
        Ok(b.set(&key, &value).await.map_err(wasi_error))
    }

    async fn delete(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<(), wasi_kv::Error>> {
        let b = self.bucket(&bucket)?;
        Ok(b.delete(&key).await.map_err(wasi_error))
    }

    async fn exists(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<bool, wasi_kv::Error>> {
        let b = self.bucket(&bucket)?;
        Ok(b.exists(&key).await.map_err(wasi_error))
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        _cursor: Option<String>,
    ) -> wasmtime::Result<Result<wasi_kv::KeyResponse, wasi_kv::Error>> {
        // All keys in one page: the cursor is never needed.
        let b = self.bucket(&bucket)?;
        Ok(b.keys()
            .await
            .map(|keys| wasi_kv::KeyResponse { keys, cursor: None })
            .map_err(wasi_error))
    }

    async fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for InstanceState {
    async fn increment(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        delta: i64,
    ) -> wasmtime::Result<Result<i64, wasi_kv::Error>> {
        let b = self.bucket(&bucket)?;
        Ok(b.increment(&key, delta).await.map_err(wasi_error))
    }

    async fn swap(
        &mut self,
        cas: Resource<Cas>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), atomics::CasError>> {
        let pending = self.table.delete(cas)?;
        let b = &pending.bucket;
        let swapped = b
            .swap(&pending.key, pending.observed.as_deref(), &value)
            .await;
        match swapped {
            Ok(true) => Ok(Ok(())),
            Ok(false) => {
                // As Spin does: the guest gets its CAS back, to call `current` and retry.
                let retry = self.table.push(pending)?;
                Ok(Err(atomics::CasError::CasFailed(retry)))
            }
            Err(e) => Ok(Err(atomics::CasError::StoreError(wasi_error(e)))),
        }
    }
}

impl atomics::HostCas for InstanceState {
    async fn new(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<Resource<Cas>, wasi_kv::Error>> {
        // Like Spin, nothing is read yet: a swap without `current` first
        // succeeds only if the key is still absent.
        let b = self.bucket(&bucket)?;
        Ok(Ok(self.table.push(Cas {
            bucket: b,
            key,
            observed: None,
        })?))
    }

    /// Reads the value and remembers it as the one `swap` expects.
    async fn current(
        &mut self,
        cas: Resource<Cas>,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wasi_kv::Error>> {
        let pending = self.table.get(&cas)?;
        let (bucket, key) = (pending.bucket.clone(), pending.key.clone());
        let value = match bucket.get(&key).await {
            Ok(v) => v,
            Err(e) => return Ok(Err(wasi_error(e))),
        };
        self.table.get_mut(&cas)?.observed = value.clone();
        Ok(Ok(value))
    }

    async fn drop(&mut self, cas: Resource<Cas>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}

impl batch::Host for InstanceState {
    async fn get_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<(String, Option<Vec<u8>>)>, wasi_kv::Error>> {
        let b = self.bucket(&bucket)?;
        Ok(b.get_many(&keys).await.map_err(wasi_error))
    }

    async fn set_many(
        &mut self,
        bucket: Resource<Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> wasmtime::Result<Result<(), wasi_kv::Error>> {
        let b = self.bucket(&bucket)?;
        Ok(b.set_many(&key_values).await.map_err(wasi_error))
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<(), wasi_kv::Error>> {
        let b = self.bucket(&bucket)?;
        Ok(b.delete_many(&keys).await.map_err(wasi_error))
    }
}
