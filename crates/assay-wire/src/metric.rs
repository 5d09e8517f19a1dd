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
/// (`delivered`, `retry`, `dead_letter`).
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

/// Every name above, for the test that keeps them prefixed and distinct.
pub const ALL: &[&str] = &[
    HTTP_REQUESTS_TOTAL,
    HTTP_REQUEST_SECONDS,
    WEBHOOKS_TOTAL,
    PLUGIN_CALL_SECONDS,
    PLUGIN_HTTP_DENIED_TOTAL,
    PLUGIN_LOAD_FAILURES_TOTAL,
    RELOADS_TOTAL,
    RELOAD_SECONDS,
    CONFIG_RELOADS_TOTAL,
    DELIVERIES_TOTAL,
    DELIVERY_SECONDS,
    STORE_COMMIT_SECONDS,
    STORE_BATCH_SIZE,
    PACKAGE_LIST_CACHE_TOTAL,
    CALLBACKS_DECLINED_TOTAL,
    ORDERS_FAILED_TOTAL,
    CONNECTIONS_CLOSED_TOTAL,
];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn every_name_is_prefixed_and_distinct() {
        for name in ALL {
            assert!(name.starts_with("assay_"), "{name}");
        }
        let distinct: BTreeSet<_> = ALL.iter().collect();
        assert_eq!(distinct.len(), ALL.len(), "a name appears twice");
    }

    /// `ALL` is written by hand; a constant left out of it would escape the test above.
    #[test]
    fn every_constant_is_in_the_list() {
        let source = include_str!("metric.rs");
        let declared = source
            .lines()
            .filter(|l| l.starts_with("pub const ") && l.contains(": &str = "))
            .count();
        assert_eq!(declared, ALL.len());
    }
}
