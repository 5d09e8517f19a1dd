//! The one integration-test binary of Assay. Each module is one subject; shared helpers live in
//! the `assay_tests` library (`tests/src/`).

mod contract;
mod example_plugins;
mod fixtures_built;
mod pipeline;
mod reload;
mod runtime;
mod sdk_docs;
mod supervision;
mod vendor_flows;
