//! Logging and metrics set-up for the binary.
//!
//! Logs go through `tracing`, as human-friendly text or as JSON lines (for log shippers);
//! `RUST_LOG` filters them (default `info`). Metrics use the `metrics` facade with a Prometheus
//! recorder, rendered on `/metrics`.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

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
pub fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Pretty => builder.with_target(false).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Logging for tests: through the test runner's capture, so only failing tests show logs.
pub fn init_test_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// Installs the global Prometheus recorder and returns the handle that renders it; `None` if
/// a recorder is already installed.
pub fn init_metrics() -> Option<PrometheusHandle> {
    PrometheusBuilder::new().install_recorder().ok()
}
