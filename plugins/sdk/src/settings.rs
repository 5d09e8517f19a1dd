//! The product's settings, from `[products.NAME.settings]` in the host's configuration.
//!
//! Values are strings. They may be secrets: the host resolves `env:NAME` and `file:/path`
//! references before handing them over and never logs them, so neither should a plugin, and
//! the errors below name the key, never the value. A change of settings reaches the plugin
//! without a restart (the host reloads), and every call reads them afresh.
//!
//! ```toml
//! [products.codetest.settings]
//! base_url = "https://api.codetest.example"
//! api_token = "env:CODETEST_API_TOKEN"     # a secret, resolved by the host
//! pass_threshold = "70"
//! ```

use std::str::FromStr;

use serde::de::DeserializeOwned;

use crate::PluginError;
use crate::bindings::assay::plugin::host;

/// The setting `key`, if set.
pub fn get(key: &str) -> Option<String> {
    host::setting(key)
}

/// The setting `key`; a missing or empty one is a [`PluginError::InvalidInput`] naming it, so
/// the operator sees what to configure.
pub fn require(key: &str) -> Result<String, PluginError> {
    get(key)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| missing(key))
}

/// The setting `key` parsed as a `T` (a number, a flag…), `None` if it is not set. A value that
/// does not parse is a [`PluginError::InvalidInput`] naming the key: a typo in the
/// configuration should stop the call rather than silently fall back to a default.
pub fn parse<T: FromStr>(key: &str) -> Result<Option<T>, PluginError> {
    match get(key) {
        None => Ok(None),
        Some(value) => value.trim().parse().map(Some).map_err(|_| {
            PluginError::InvalidInput(format!(
                "the setting `{key}` is not a valid {}",
                std::any::type_name::<T>()
            ))
        }),
    }
}

/// The setting `key` parsed as JSON into a `T`, `None` if it is not set. Invalid JSON is a
/// [`PluginError::InvalidInput`] naming the key and saying where the JSON is wrong.
pub fn json<T: DeserializeOwned>(key: &str) -> Result<Option<T>, PluginError> {
    match get(key) {
        None => Ok(None),
        Some(value) => serde_json::from_str(&value).map(Some).map_err(|e| {
            // serde_json's message names the line and column, not the value.
            PluginError::InvalidInput(format!("the setting `{key}` is not the expected JSON: {e}"))
        }),
    }
}

/// The names of every setting.
pub fn keys() -> Vec<String> {
    host::setting_keys()
}

fn missing(key: &str) -> PluginError {
    PluginError::InvalidInput(format!(
        "the setting `{key}` is missing from [products.NAME.settings]"
    ))
}
