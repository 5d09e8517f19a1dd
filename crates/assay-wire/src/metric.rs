//! The names of the metrics every crate records, in one place, so a dashboard has one list to
//! read and a name cannot drift between the code that records it and the code that reads it.
//!
//! Each name's doc says what it measures and the labels it carries. Durations are in seconds.

/// Counter: HTTP requests the edge answered. Labels: `product` (`-` when the route names
/// none), `route`, `status`.
pub const HTTP_REQUESTS_TOTAL: &str = "assay_http_requests_total";

/// Histogram: time the edge took to answer one request. Labels: `route`.
pub const HTTP_REQUEST_SECONDS: &str = "assay_http_request_seconds";

/// Counter: StackOne webhooks recorded. Labels: `product`, `outcome` (`accepted`,
/// `duplicate`, `ignored`).
pub const WEBHOOKS_TOTAL: &str = "assay_webhooks_total";

/// Histogram: time one plugin call took, instantiation included. Labels: `product`
/// (`(loading)` for the `metadata` call made while loading), `call` (the export's WIT name,
/// e.g. `list-packages`), `outcome` (`ok`, `error`).
pub const PLUGIN_CALL_SECONDS: &str = "assay_plugin_call_seconds";

/// Histogram: the part of one plugin call spent getting its fresh instance (store, pooled
/// slots, and the component's own module initialisation, which for a dynamically linked
/// Python component fills thousands of function-table entries). Labels: `product`, as on
/// [`PLUGIN_CALL_SECONDS`].
pub const PLUGIN_INSTANTIATE_SECONDS: &str = "assay_plugin_instantiate_seconds";

/// Counter: outbound HTTP requests of a plugin refused by its `allowed_hosts`. Labels:
/// `product`.
pub const PLUGIN_HTTP_DENIED_TOTAL: &str = "assay_plugin_http_denied_total";

/// Counter: plugin files that failed to load. Labels: `product`.
pub const PLUGIN_LOAD_FAILURES_TOTAL: &str = "assay_plugin_load_failures_total";

/// Counter: plugin reloads. Labels: `product`, `outcome` (`ok`, `failed`, `missing`).
pub const RELOADS_TOTAL: &str = "assay_reloads_total";

/// Histogram: time a successful plugin reload took, from the change to serving. No labels.
pub const RELOAD_SECONDS: &str = "assay_reload_seconds";

/// Counter: configuration reloads. Labels: `outcome` (`ok`, `invalid`).
pub const CONFIG_RELOADS_TOTAL: &str = "assay_config_reloads_total";

/// Counter: attempts to deliver a result to StackOne. Labels: `product`, `outcome`
/// (`delivered`, `retry`, `paused`: not sent while StackOne asked to wait, `dead_letter`,
/// `lease_too_old`: not sent because the claim's lease might end before the PATCH did).
pub const DELIVERIES_TOTAL: &str = "assay_deliveries_total";

/// Histogram: time one delivery attempt took. Labels: `product`.
pub const DELIVERY_SECONDS: &str = "assay_delivery_seconds";

/// Histogram: time one group commit of the store took. No labels.
pub const STORE_COMMIT_SECONDS: &str = "assay_store_commit_seconds";

/// Histogram: requests committed together in one group commit. No labels.
pub const STORE_BATCH_SIZE: &str = "assay_store_batch_size";

/// Counter: package list requests by how they were answered. Labels: `product`, `outcome`
/// (`hit`: from the cache, `miss`: the plugin was called, `stale`: the plugin failed and the
/// stale list was served).
pub const PACKAGE_LIST_CACHE_TOTAL: &str = "assay_package_list_cache_total";

/// Counter: vendor callbacks answered 404 because they name nothing known. Labels: `product`,
/// `by` (`plugin`: the plugin declined it, `host`: every result named an unknown order).
pub const CALLBACKS_DECLINED_TOTAL: &str = "assay_callbacks_declined_total";

/// Counter: orders that failed for good and whose final result (`failed` or `cancelled`) was
/// queued for StackOne. Labels: `product`, `status`.
pub const ORDERS_FAILED_TOTAL: &str = "assay_orders_failed_total";

/// Counter: connections the host closed before their client did. Labels: `reason`
/// (`head_timeout`: no complete request head in time, `idle`: kept alive with nothing to do,
/// `evicted`: idle while every slot was taken, `per_client_cap`: the client address held too
/// many).
pub const CONNECTIONS_CLOSED_TOTAL: &str = "assay_connections_closed_total";

/// Gauge: results in the outbox waiting for delivery to StackOne. No labels. Read from the
/// store at each scrape.
pub const OUTBOX_PENDING: &str = "assay_outbox_pending";

/// Gauge: age of the oldest result waiting for delivery (0 when none waits). No labels.
pub const OUTBOX_OLDEST_PENDING_AGE_SECONDS: &str = "assay_outbox_oldest_pending_age_seconds";

/// Gauge: orders in the store. Labels: `product`, `state` (every state of the order state
/// machine, 0 included, for each configured product).
pub const ORDERS: &str = "assay_orders";

/// Gauge: results StackOne refused for good, kept for an operator. Labels: `product`.
pub const DEAD_LETTERS: &str = "assay_dead_letters";

/// Gauge: the plugin generation serving a product (1 at start, one more per reload). Labels:
/// `product`.
pub const PLUGIN_GENERATION: &str = "assay_plugin_generation";

/// Gauge, always 1: what is running. Labels: `version`, `commit`, `contracts` (the plugin
/// contract versions this host loads, newest first), `wasmtime`.
pub const BUILD_INFO: &str = "assay_build_info";

/// Gauge: resident set size of the process, in bytes (Linux only). The standard name
/// Prometheus client libraries use, so existing dashboards work.
pub const PROCESS_RESIDENT_MEMORY_BYTES: &str = "process_resident_memory_bytes";

/// Gauge: user and system CPU time the process used, in seconds (Linux only). A gauge because
/// the `metrics` facade's counters are integers; `rate()` treats it as the counter it is.
pub const PROCESS_CPU_SECONDS_TOTAL: &str = "process_cpu_seconds_total";

/// Gauge: open file descriptors of the process (Linux only).
pub const PROCESS_OPEN_FDS: &str = "process_open_fds";

/// Gauge: when the process started, in seconds since the Unix epoch (Linux only).
pub const PROCESS_START_TIME_SECONDS: &str = "process_start_time_seconds";

/// How a series is exposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up.
    Counter,
    /// Goes up and down; set at each scrape.
    Gauge,
    /// Observations in buckets, with `_bucket`, `_sum` and `_count`.
    Histogram,
}

/// One name with its kind and the `# HELP` text Prometheus shows.
#[derive(Debug, Clone, Copy)]
pub struct Described {
    /// The metric name.
    pub name: &'static str,
    /// How it is exposed.
    pub kind: Kind,
    /// One line for `# HELP`.
    pub help: &'static str,
}

const fn counter(name: &'static str, help: &'static str) -> Described {
    Described {
        name,
        kind: Kind::Counter,
        help,
    }
}

const fn gauge(name: &'static str, help: &'static str) -> Described {
    Described {
        name,
        kind: Kind::Gauge,
        help,
    }
}

const fn histogram(name: &'static str, help: &'static str) -> Described {
    Described {
        name,
        kind: Kind::Histogram,
        help,
    }
}

/// Every name above with its kind and help, in the order `docs/metrics.md` lists them.
pub const ALL: &[Described] = &[
    counter(HTTP_REQUESTS_TOTAL, "HTTP requests the edge answered."),
    histogram(
        HTTP_REQUEST_SECONDS,
        "Time the edge took to answer one request.",
    ),
    counter(WEBHOOKS_TOTAL, "StackOne webhooks recorded, by outcome."),
    counter(
        PACKAGE_LIST_CACHE_TOTAL,
        "Package list requests by how they were answered.",
    ),
    counter(
        CALLBACKS_DECLINED_TOTAL,
        "Vendor callbacks answered 404 because they name nothing known.",
    ),
    histogram(
        PLUGIN_CALL_SECONDS,
        "Time one plugin call took, instantiation included.",
    ),
    histogram(
        PLUGIN_INSTANTIATE_SECONDS,
        "Time one plugin call spent getting its fresh instance.",
    ),
    counter(
        PLUGIN_HTTP_DENIED_TOTAL,
        "Outbound HTTP requests of a plugin refused by its allowed_hosts.",
    ),
    counter(
        PLUGIN_LOAD_FAILURES_TOTAL,
        "Plugin files that failed to load.",
    ),
    gauge(
        PLUGIN_GENERATION,
        "The plugin generation serving a product.",
    ),
    counter(RELOADS_TOTAL, "Plugin reloads, by outcome."),
    histogram(
        RELOAD_SECONDS,
        "Time a successful plugin reload took, from the change to serving.",
    ),
    counter(CONFIG_RELOADS_TOTAL, "Configuration reloads, by outcome."),
    counter(
        ORDERS_FAILED_TOTAL,
        "Orders that failed for good, with their final result queued for StackOne.",
    ),
    gauge(ORDERS, "Orders in the store, by state."),
    counter(
        CONNECTIONS_CLOSED_TOTAL,
        "Connections the host closed before their client did, by reason.",
    ),
    counter(
        DELIVERIES_TOTAL,
        "Attempts to deliver a result to StackOne, by outcome.",
    ),
    histogram(
        DELIVERY_SECONDS,
        "Time one delivery attempt to StackOne took.",
    ),
    gauge(OUTBOX_PENDING, "Results waiting for delivery to StackOne."),
    gauge(
        OUTBOX_OLDEST_PENDING_AGE_SECONDS,
        "Age of the oldest result waiting for delivery.",
    ),
    gauge(
        DEAD_LETTERS,
        "Results StackOne refused for good, kept for an operator.",
    ),
    histogram(
        STORE_COMMIT_SECONDS,
        "Time one group commit of the store took.",
    ),
    histogram(
        STORE_BATCH_SIZE,
        "Requests committed together in one group commit.",
    ),
    gauge(BUILD_INFO, "Always 1; the labels say what is running."),
    gauge(
        PROCESS_RESIDENT_MEMORY_BYTES,
        "Resident memory size in bytes.",
    ),
    gauge(
        PROCESS_CPU_SECONDS_TOTAL,
        "Total user and system CPU time spent in seconds.",
    ),
    gauge(PROCESS_OPEN_FDS, "Number of open file descriptors."),
    gauge(
        PROCESS_START_TIME_SECONDS,
        "Start time of the process since the Unix epoch in seconds.",
    ),
];

/// The product label of a request whose URL names no configured product. URLs are
/// unauthenticated: a label taken from them would let any client create series without bound.
pub const UNKNOWN_PRODUCT: &str = "unknown";

/// A label beside `product` and every value it takes.
pub type OtherLabel = (&'static str, &'static [&'static str]);

/// The counters whose every series exists from the start at 0 for each configured product
/// (so `rate()` and alerts see a product before its first event): the name, the label beside
/// `product`, and that label's values.
pub const PER_PRODUCT_COUNTERS: &[(&str, Option<OtherLabel>)] = &[
    (
        WEBHOOKS_TOTAL,
        Some(("outcome", &["accepted", "duplicate", "ignored"])),
    ),
    (
        PACKAGE_LIST_CACHE_TOTAL,
        Some(("outcome", &["hit", "miss", "stale"])),
    ),
    (CALLBACKS_DECLINED_TOTAL, Some(("by", &["plugin", "host"]))),
    (PLUGIN_HTTP_DENIED_TOTAL, None),
    (PLUGIN_LOAD_FAILURES_TOTAL, None),
    (
        RELOADS_TOTAL,
        Some(("outcome", &["ok", "failed", "missing"])),
    ),
    (
        ORDERS_FAILED_TOTAL,
        Some(("status", &["failed", "cancelled"])),
    ),
    (
        DELIVERIES_TOTAL,
        Some((
            "outcome",
            &[
                "delivered",
                "retry",
                "paused",
                "dead_letter",
                "lease_too_old",
            ],
        )),
    ),
];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn every_name_is_prefixed_and_distinct() {
        for m in ALL {
            // `process_*` are the names every Prometheus client library uses for them.
            assert!(
                m.name.starts_with("assay_") || m.name.starts_with("process_"),
                "{}",
                m.name
            );
            assert!(!m.help.is_empty() && !m.help.contains('\n'), "{}", m.name);
            if m.kind == Kind::Counter {
                assert!(m.name.ends_with("_total"), "{}", m.name);
            }
        }
        let distinct: BTreeSet<_> = ALL.iter().map(|m| m.name).collect();
        assert_eq!(distinct.len(), ALL.len(), "a name appears twice");
    }

    /// `ALL` is written by hand; a constant left out of it would escape the test above.
    #[test]
    fn every_constant_is_in_the_list() {
        let source = include_str!("metric.rs");
        let declared = source
            .lines()
            .filter(|l| l.starts_with("pub const ") && l.contains(": &str = \""))
            .filter(|l| l.contains("= \"assay_") || l.contains("= \"process_"))
            .count();
        assert_eq!(declared, ALL.len());
    }

    /// Operators read the names in `docs/metrics.md`; a name missing there is undocumented.
    #[test]
    fn every_name_is_in_the_documented_table() {
        let doc = include_str!("../../../docs/metrics.md");
        for m in ALL {
            assert!(
                doc.contains(&format!("| `{}` |", m.name)),
                "{} is not in docs/metrics.md",
                m.name
            );
        }
    }

    #[test]
    fn per_product_counters_are_counters() {
        for (name, _) in PER_PRODUCT_COUNTERS {
            let m = ALL.iter().find(|m| m.name == *name).expect("listed");
            assert_eq!(m.kind, Kind::Counter, "{name}");
        }
    }
}
