//! Integration tests of Assay, and the helpers they share.
//!
//! The tests run the real host on `127.0.0.1:0` with real compiled plugins, the StackOne
//! emulator and a fake vendor API, and they all live in one test binary so the host is linked
//! once and the tests share one process.
//!
//! # Layout
//!
//! - `build.rs`: builds the plugin workspaces `plugins/` (SDK and example plugins) and
//!   `tests/fixtures/` for wasm32-wasip2 before the tests compile, and tells them where the
//!   `.wasm` files are.
//! - `fixtures/`: a cargo workspace of small fixture plugins, hostile ones (`trap`, `spin`,
//!   `hog`, `offlist`, `loopback`, `huge`, `noexport`, `partial`) and a `wellbehaved` one; each
//!   crate's doc says what it does and what the host must do about it.
//! - [`cluster`]: several real hosts on one PostgreSQL, with gates in front of StackOne and
//!   the vendor that hold requests, to kill a host mid-fulfilment or mid-delivery.
//! - [`browser`]: headless Chromium over the DevTools protocol, for the status page test.
//! - [`fixtures`]: paths to the built fixture and example plugins, temporary plugin folders, and
//!   [`fixtures::contract`], the settings and answers the fixtures promise.
//! - [`langs`]: the TypeScript and Python toolchains (a test skips with one line without
//!   them, or fails under `ASSAY_REQUIRE_ALL=1`) and their example plugins' builds.
//! - [`harness`]: a whole deployment on loopback (host, StackOne emulator, demo vendor) with
//!   fresh secrets, restartable on the same store.
//! - [`process`]: the real `assay` binary in a child process, for metrics, logs and the
//!   command line, which one process has only once.
//! - `tests/main.rs`: the one integration-test binary, one module per subject.

pub mod browser;
pub mod cluster;
pub mod fixtures;
pub mod harness;
pub mod langs;
pub mod process;
