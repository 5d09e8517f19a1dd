//! The product's settings, from `[products.NAME.settings]` in the host's configuration.
//!
//! Values may be secrets (the host resolves `env:` and `file:` references before handing them
//! over, and never logs them).

use crate::PluginError;
use crate::bindings::assay::plugin::host;

/// The setting `key`, if set.
pub fn get(key: &str) -> Option<String> {
    host::setting(key)
}

/// The setting `key`; a missing one is an [`PluginError::InvalidInput`] naming it, so the
/// operator sees what to configure.
pub fn require(key: &str) -> Result<String, PluginError> {
    get(key).filter(|v| !v.is_empty()).ok_or_else(|| {
        PluginError::InvalidInput(format!(
            "the setting `{key}` is missing from [products.NAME.settings]"
        ))
    })
}

/// The names of every setting.
pub fn keys() -> Vec<String> {
    host::setting_keys()
}
