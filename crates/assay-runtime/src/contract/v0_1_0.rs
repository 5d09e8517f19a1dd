//! `assay:plugin@0.1.0`.

#![allow(missing_docs)]

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
