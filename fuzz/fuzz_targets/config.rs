//! `config.toml`: parsing and validation (`assay_config::Config::from_str_with`), as `assay`
//! loads it.
//!
//! Properties, for any text:
//! - a bad file is an error, never a panic, and the error names `config.toml` (with a line and
//!   column inside the text when it has one) or the variable it came from;
//! - no error message and no `Debug` of a loaded configuration contains a secret value that
//!   the text does not itself contain (the secrets come from `env:` references,
//!   and every variable is set);
//! - a configuration that loads keeps the documented bounds: product names are URL-safe,
//!   every product has a webhook secret and the default order event, timeouts and sizes are in
//!   their ranges, the per-client connection cap is at most the global one;
//! - loading is deterministic: the same text loads to the same configuration.
#![no_main]

use std::path::Path;
use std::time::Duration;

use assay_config::{
    Config, ConfigError, MAX_CONNECTION_TIMEOUT, MAX_PLUGIN_TIMEOUT, MAX_REQUEST_TIMEOUT,
    ORDER_CREATED_EVENT, Overrides, is_valid_product_name,
};
use libfuzzer_sys::fuzz_target;

/// Every secret value starts with this, so a leak is recognisable whatever the name.
const SECRET_MARK: &str = "fz-secret:";

/// The environment: every variable is set, to a secret made from its name, except `EMPTY…`
/// (empty), `SAME…` (one shared value, for the check that secrets are distinct) and the
/// `ASSAY_*` overrides (unset: the file is what is fuzzed).
fn env(name: &str) -> Option<String> {
    if name.starts_with("ASSAY_") {
        return None;
    }
    Some(if name.starts_with("EMPTY") {
        String::new()
    } else if name.starts_with("SAME") {
        format!("{SECRET_MARK}same")
    } else {
        format!("{SECRET_MARK}{name}")
    })
}

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_str_with(text, Path::new("config.toml"), &Overrides::default(), env)
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        check(text);
    }
});

fn check(text: &str) {
    let result = load(text);
    let shown = match &result {
        Ok(config) => format!("{config:?}"),
        Err(e) => e.to_string(),
    };
    assert!(
        !shown.contains(SECRET_MARK) || text.contains(SECRET_MARK),
        "a secret value leaked: {shown}"
    );
    match result {
        Err(e) => error_names_its_place(text, &e),
        Ok(config) => {
            keeps_bounds(&config);
            assert_eq!(load(text).ok(), Some(config), "loading is deterministic");
        }
    }
}

fn error_names_its_place(text: &str, e: &ConfigError) {
    let at = match e {
        ConfigError::Read { .. } => panic!("nothing is read for a text: {e}"),
        ConfigError::Parse { at, .. }
        | ConfigError::Invalid { at, .. }
        | ConfigError::Secret { at, .. } => at,
    };
    assert!(
        at.origin == "config.toml" || at.origin.starts_with("ASSAY_"),
        "{e}"
    );
    if let Some((line, column)) = at.line_col {
        let lines: Vec<&str> = text.split('\n').collect();
        assert!(
            line >= 1 && line <= lines.len(),
            "{e}: line {line} of {}",
            lines.len()
        );
        let width = lines[line - 1].chars().count();
        assert!(
            column >= 1 && column <= width + 1,
            "{e}: column {column} of {width}"
        );
    }
}

fn keeps_bounds(config: &Config) {
    let server = &config.server;
    assert!(server.max_body_bytes >= 1);
    assert!(server.request_timeout >= Duration::from_millis(1));
    assert!(server.request_timeout <= MAX_REQUEST_TIMEOUT);
    let connections = &server.connections;
    assert!(connections.max_connections >= 1);
    assert!(connections.max_per_client >= 1);
    assert!(connections.max_per_client <= connections.max_connections);
    assert!(connections.request_head_timeout <= MAX_CONNECTION_TIMEOUT);
    assert!(connections.idle_timeout <= MAX_CONNECTION_TIMEOUT);
    assert!(config.store.max_batch >= 1);
    assert!(config.plugins.memory_budget_bytes > 0);
    for (name, product) in &config.products {
        assert!(is_valid_product_name(name), "{name:?}");
        assert_eq!(&product.name, name);
        assert!(!product.webhook_secrets.is_empty());
        let mut distinct: Vec<&str> = product.webhook_secrets.iter().map(|s| s.expose()).collect();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(
            distinct.len(),
            product.webhook_secrets.len(),
            "secrets are distinct"
        );
        assert!(
            product
                .webhook_secrets
                .iter()
                .all(|s| !s.expose().is_empty())
        );
        assert!(product.events.contains_key(ORDER_CREATED_EVENT));
        assert!(
            product
                .events
                .keys()
                .all(|e| !e.is_empty() && !e.contains(char::is_whitespace))
        );
        assert!(product.timeout >= Duration::from_millis(1));
        assert!(product.timeout <= MAX_PLUGIN_TIMEOUT);
        assert!(product.memory_limit_bytes >= 1 << 20);
        assert!(product.max_concurrent_calls >= 1);
        assert_eq!(
            product.plugin.extension().and_then(|e| e.to_str()),
            Some("wasm")
        );
        if let Some(poll) = product.poll_interval {
            assert!(poll >= Duration::from_secs(1));
        }
    }
}
