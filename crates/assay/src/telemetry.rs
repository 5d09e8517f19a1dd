//! Logging and metrics set-up for the binary.
//!
//! Logs go through `tracing`, as human-friendly text or as JSON lines (for log shippers);
//! `RUST_LOG` filters them (default `info`). Metrics use the `metrics` facade with a Prometheus
//! recorder, rendered on `/metrics`: the names, kinds and help texts are the table
//! [`assay_wire::metric::ALL`], documented in `docs/metrics.md`.
//!
//! - `batch_writer`: the log's writer thread, which writes lines in batches.
//! - `process`: the `process_*` gauges, read from `/proc` at each scrape.
//! - `json_lines`: the JSON log format, one object a line with unique keys.
//!
//! Colour (ANSI escapes) only when standard error is a terminal and `NO_COLOR` is unset, so
//! a log file or a journal holds plain text.

pub mod batch_writer;
mod json_lines;
mod process;

use std::io::IsTerminal as _;

use anyhow::Context as _;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::products::ProductTable;
use assay_store::{OrderState, StoreCounts, Timestamp};
use assay_wire::metric::{self, Kind};

/// The log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-friendly text.
    #[default]
    Pretty,
    /// One JSON object a line.
    Json,
}

/// Installs the global `tracing` subscriber. Safe to call more than once (later calls do
/// nothing), so tests and subcommands can share it.
///
/// Lines are handed to a writer thread of their own and written to standard error there: with
/// an access line per request, a `write` on the request path cost half the edge's throughput
/// (9.5k against 17.3k `/healthz` a second, dev build, 64 connections). That thread writes
/// them in batches ([`batch_writer`]), so a busy host does not wake it for every line. It
/// never drops a line (a full buffer makes logging wait instead); the returned guard writes
/// what is pending when it is dropped, so the caller keeps it until the process ends.
pub fn init_logging(format: LogFormat) -> anyhow::Result<batch_writer::BatchGuard> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = batch_writer::start(std::io::stderr(), "assay-log")
        .context("starting the log writer thread")?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = match format {
        LogFormat::Pretty => builder.with_target(false).with_ansi(colour).try_init(),
        LogFormat::Json => builder
            .with_ansi(false)
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .event_format(json_lines::JsonLines)
            .try_init(),
    };
    Ok(guard)
}

/// Logging for tests: through the test runner's capture, so only failing tests show logs.
pub fn init_test_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// The buckets of every `_seconds` histogram: 1 ms (a cached package list) to 60 s (a slow
/// vendor behind a plugin call, a reload compiling a large plugin).
pub const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// The buckets of [`metric::STORE_BATCH_SIZE`]: requests per group commit, up to the store's
/// largest batch.
pub const BATCH_SIZE_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// Installs the global Prometheus recorder, with histogram buckets and a `# HELP` for every
/// name, and returns the handle that renders it; `None` if a recorder is already installed.
pub fn init_metrics() -> Option<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets(SECONDS_BUCKETS)
        .and_then(|b| {
            b.set_buckets_for_metric(
                Matcher::Full(metric::STORE_BATCH_SIZE.to_owned()),
                BATCH_SIZE_BUCKETS,
            )
        })
        .ok()?
        .install_recorder()
        .ok()?;
    for m in metric::ALL {
        match m.kind {
            Kind::Counter => metrics::describe_counter!(m.name, m.help),
            Kind::Gauge => metrics::describe_gauge!(m.name, m.help),
            Kind::Histogram => metrics::describe_histogram!(m.name, m.help),
        }
    }
    metrics::gauge!(
        metric::BUILD_INFO,
        "version" => crate::build_info::VERSION,
        "commit" => crate::build_info::COMMIT,
        "contracts" => crate::build_info::contracts(),
        "wasmtime" => crate::build_info::WASMTIME,
    )
    .set(1.0);
    Some(handle)
}

/// Brings the scrape-time series up to date: the per-product counters at 0 for every
/// configured product (a no-op for one already counting), the plugin generations, the store's
/// gauges (when the store answered) and the process gauges.
pub fn record_scrape(table: &ProductTable, counts: Option<&StoreCounts>, now: Timestamp) {
    for (name, product) in &table.products {
        for (counter, other) in metric::PER_PRODUCT_COUNTERS {
            match other {
                None => metrics::counter!(*counter, "product" => name.clone()).increment(0),
                Some((label, values)) => {
                    for value in *values {
                        metrics::counter!(*counter, "product" => name.clone(), *label => *value)
                            .increment(0);
                    }
                }
            }
        }
        metrics::gauge!(metric::PLUGIN_GENERATION, "product" => name.clone())
            .set(product.generation as f64);
    }
    if let Some(counts) = counts {
        record_store(table, counts, now);
    }
    process::record();
}

fn record_store(table: &ProductTable, counts: &StoreCounts, now: Timestamp) {
    metrics::gauge!(metric::OUTBOX_PENDING).set(counts.outbox.pending as f64);
    let age = counts
        .outbox
        .oldest_created_at
        .map_or(0.0, |oldest| now.since(oldest).as_secs_f64());
    metrics::gauge!(metric::OUTBOX_OLDEST_PENDING_AGE_SECONDS).set(age);
    // Every state of every configured product, so a state that emptied shows 0 rather than
    // its last count.
    for name in table.products.keys() {
        for state in OrderState::ALL {
            metrics::gauge!(metric::ORDERS, "product" => name.clone(), "state" => state.as_str())
                .set(0.0);
        }
        metrics::gauge!(metric::DEAD_LETTERS, "product" => name.clone()).set(0.0);
    }
    for (product, state, n) in &counts.orders {
        metrics::gauge!(metric::ORDERS, "product" => product.clone(), "state" => state.as_str())
            .set(*n as f64);
    }
    for (product, n) in &counts.dead_letters {
        metrics::gauge!(metric::DEAD_LETTERS, "product" => product.clone()).set(*n as f64);
    }
}
