//! `assay:plugin@0.1.0`.

#![allow(missing_docs)]

use wasmtime::component::{HasSelf, Linker};

use crate::state::StoreState;

/// The contract version this module binds.
pub const VERSION: &str = "0.1.0";

/// The export every plugin of this version has.
pub const PRODUCT_EXPORT: &str = "assay:plugin/product@0.1.0";

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "assay:plugin/plugin",
    imports: { default: trappable },
    exports: { default: async },
    require_store_data_send: true,
    with: {
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
    },
});

/// Links this version's `assay:plugin/host` imports.
pub(crate) fn add_to_linker(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    assay::plugin::host::add_to_linker::<_, HasSelf<_>>(linker, |s| s)
}

impl assay::plugin::host::Host for StoreState {
    fn log(
        &mut self,
        level: assay::plugin::host::LogLevel,
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
