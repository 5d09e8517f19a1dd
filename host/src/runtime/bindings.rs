//! The one place where the plugin contract (`wit/plugin.wit`) becomes Rust.

#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "../wit",
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
