//! The one integration-test binary of Assay. Each module is one subject; shared helpers live in
//! the `assay_tests` library (`tests/src/`).

/// The `assay` binary (the host's `main.rs`, built by this package).
const ASSAY: &str = env!("CARGO_BIN_EXE_assay-under-test");

mod admin_pages;
mod browser;
mod check;
mod cli;
mod contract;
mod crash;
mod demo;
mod deploy;
mod example_plugins;
mod fixtures_built;
mod fulfilment_slots;
mod full_disk;
mod hostile_input;
mod languages;
mod operator;
mod outage;
mod pipeline;
mod plugin_new;
mod readiness;
mod redrive;
mod reload;
mod runtime;
mod scale_out;
mod sdk_docs;
mod sdk_standalone;
mod send;
mod supervision;
mod tiering;
mod vendor_flows;
