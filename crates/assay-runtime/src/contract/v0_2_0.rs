//! `assay:plugin@0.2.0`, the latest version: what 0.1.0 had, plus declared settings, package
//! list freshness, declinable callbacks, the `misconfigured` and `cancelled` errors, and
//! per-product state (`wasi:keyvalue/store` and `assay:plugin/state`).

#![allow(missing_docs)]

use std::time::Duration;

use wasmtime::component::{HasSelf, Linker, Resource};

use crate::keyvalue::{Bucket, MAX_KEY_BYTES};
use crate::state::StoreState;

/// The contract version this module binds.
pub const VERSION: &str = "0.2.0";

/// The export every plugin of this version has.
pub const PRODUCT_EXPORT: &str = "assay:plugin/product@0.2.0";

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "assay:plugin/plugin@0.2.0",
    imports: { default: trappable },
    exports: { default: async },
    require_store_data_send: true,
    additional_derives: [serde::Serialize, serde::Deserialize],
    with: {
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        "wasi:keyvalue/store.bucket": crate::keyvalue::Bucket,
    },
});

// Both contract versions are in one WIT resolve, so bindgen names the package modules by
// version (`assay::plugin0_2_0`); these give them their plain names.
pub use assay::plugin0_2_0::{host, state, types};
pub use exports::assay::plugin0_2_0::product;

use wasi::keyvalue::store::{Error as KvError, KeyResponse};

/// Links this version's imports: `assay:plugin/host`, `assay:plugin/state` and
/// `wasi:keyvalue/store`.
pub(crate) fn add_to_linker(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    host::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
    state::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
    wasi::keyvalue::store::add_to_linker::<_, HasSelf<_>>(linker, |s| s)
}

impl host::Host for StoreState {
    fn log(
        &mut self,
        level: host::LogLevel,
        message: String,
        fields: Vec<(String, String)>,
    ) -> wasmtime::Result<()> {
        self.plugin_log(level, message, fields);
        Ok(())
    }

    fn setting(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.setting_value(&key))
    }

    fn setting_keys(&mut self) -> wasmtime::Result<Vec<String>> {
        Ok(self.setting_names())
    }
}

impl wasi::keyvalue::store::Host for StoreState {
    fn open(&mut self, identifier: String) -> wasmtime::Result<Result<Resource<Bucket>, KvError>> {
        if identifier.len() > MAX_KEY_BYTES {
            return Ok(Err(KvError::Other(format!(
                "a bucket name is at most {MAX_KEY_BYTES} bytes long"
            ))));
        }
        let bucket = self.table().push(Bucket { name: identifier })?;
        Ok(Ok(bucket))
    }
}

impl StoreState {
    fn bucket_name(&self, bucket: &Resource<Bucket>) -> wasmtime::Result<String> {
        Ok(self.table_ref().get(bucket)?.name.clone())
    }

    fn kv_set(
        &mut self,
        bucket: &Resource<Bucket>,
        key: &str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> wasmtime::Result<Result<(), KvError>> {
        let name = self.bucket_name(bucket)?;
        Ok(self
            .product_state()
            .set(&name, key, value, ttl)
            .map_err(|e| KvError::Other(e.to_string())))
    }
}

impl wasi::keyvalue::store::HostBucket for StoreState {
    fn get(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, KvError>> {
        let name = self.bucket_name(&bucket)?;
        Ok(Ok(self.product_state().get(&name, &key)))
    }

    fn set(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), KvError>> {
        self.kv_set(&bucket, &key, value, None)
    }

    fn delete(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<(), KvError>> {
        let name = self.bucket_name(&bucket)?;
        self.product_state().delete(&name, &key);
        Ok(Ok(()))
    }

    fn exists(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<bool, KvError>> {
        let name = self.bucket_name(&bucket)?;
        Ok(Ok(self.product_state().exists(&name, &key)))
    }

    fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        cursor: Option<u64>,
    ) -> wasmtime::Result<Result<KeyResponse, KvError>> {
        let name = self.bucket_name(&bucket)?;
        let (keys, cursor) = self.product_state().list_keys(&name, cursor);
        Ok(Ok(KeyResponse { keys, cursor }))
    }

    fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table().delete(bucket)?;
        Ok(())
    }
}

impl state::Host for StoreState {
    fn set_with_expiry(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        value: Vec<u8>,
        ttl_ms: u64,
    ) -> wasmtime::Result<Result<(), KvError>> {
        self.kv_set(&bucket, &key, value, Some(Duration::from_millis(ttl_ms)))
    }
}
