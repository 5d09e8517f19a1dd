//! The configuration file exactly as written: serde types that mirror `config.toml`.
//!
//! Every table refuses unknown keys, and values that later checks may refuse keep their place
//! in the file ([`Spanned`]) so that every error points at a line. Defaults, paths and secrets
//! are left alone here; `validate` turns this into a [`super::Config`].

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::secret_ref::{SecretRef, SecretRefList, SettingValue};
use super::{ConfigError, Location, OrderKind};

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub store: RawStore,
    #[serde(default)]
    pub stackone: RawStackOne,
    #[serde(default)]
    pub plugins: RawPlugins,
    #[serde(default)]
    pub products: BTreeMap<Spanned<String>, RawProduct>,
}

/// `[server]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServer {
    pub listen: Option<Spanned<String>>,
    pub admin_listen: Option<Spanned<String>>,
    pub max_body_bytes: Option<Spanned<u64>>,
    pub request_timeout_ms: Option<Spanned<u64>>,
    pub admin_token: Option<Spanned<SecretRef>>,
    pub max_connections: Option<Spanned<u64>>,
    pub max_connections_per_client: Option<Spanned<u64>>,
    pub request_head_timeout_ms: Option<Spanned<u64>>,
    pub idle_timeout_ms: Option<Spanned<u64>>,
}

/// `[store]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStore {
    pub path: Option<Spanned<String>>,
    pub url: Option<Spanned<SecretRef>>,
    pub fulfil_lease_ms: Option<Spanned<u64>>,
    pub delivery_lease_ms: Option<Spanned<u64>>,
    pub max_batch: Option<Spanned<u64>>,
}

/// `[stackone]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStackOne {
    pub base_url: Option<Spanned<String>>,
    pub api_key: Option<Spanned<SecretRef>>,
}

/// `[plugins]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPlugins {
    pub dir: Option<Spanned<String>>,
    pub cache_dir: Option<Spanned<String>>,
    pub memory_budget_mb: Option<Spanned<u64>>,
    pub compiler: Option<Spanned<String>>,
}

/// `[products.NAME]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProduct {
    pub plugin: Spanned<String>,
    pub kind: OrderKind,
    pub webhook_secrets: Spanned<SecretRefList>,
    #[serde(default)]
    pub package_list_keys: SecretRefList,
    pub webhook_token: Option<Spanned<SecretRef>>,
    #[serde(default)]
    pub cors_origins: Vec<Spanned<String>>,
    #[serde(default)]
    pub allowed_hosts: Vec<Spanned<String>>,
    pub timeout_ms: Option<Spanned<u64>>,
    pub memory_limit_mb: Option<Spanned<u64>>,
    pub max_concurrent_calls: Option<Spanned<u64>>,
    pub max_concurrent_fulfilments: Option<Spanned<u64>>,
    #[serde(default)]
    pub events: BTreeMap<Spanned<String>, OrderKind>,
    pub stackone_api_key: Option<Spanned<SecretRef>>,
    pub poll_interval_s: Option<Spanned<u64>>,
    pub source: Option<Spanned<String>>,
    #[serde(default)]
    pub settings: BTreeMap<Spanned<String>, Spanned<SettingValue>>,
}

impl RawConfig {
    /// Parses `text`; errors carry `origin` (the file name users see) and the line and column.
    ///
    /// Only the error's message and position are used, never toml's own `Display`, which quotes
    /// the offending line: that line may hold a secret pasted by mistake.
    pub fn parse(text: &str, origin: &str) -> Result<RawConfig, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            at: Location::in_text(origin, text, e.span().map(|s| s.start)),
            message: e.message().trim_end().to_owned(),
        })
    }
}
