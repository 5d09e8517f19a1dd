//! The product's settings, from `[products.NAME.settings]` in the host's configuration, and
//! the declaration of the settings a plugin reads.
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
//!
//! # Declaring them
//!
//! [`PluginMetadata::settings`](crate::PluginMetadata::settings) lists every key the plugin
//! reads, built with the [`SettingSpec`] constructors. The host checks the product's table
//! against it when it loads the configuration: a missing required key, or a secret written
//! literally instead of as an `env:`/`file:` reference, is refused then, naming the product,
//! the key and the line, instead of failing calls later.
//!
//! ```ignore
//! settings: vec![
//!     SettingSpec::required("base_url", "The vendor API, e.g. https://api.quiz.example"),
//!     SettingSpec::secret("api_token", "Bearer token for the vendor API"),
//!     SettingSpec::optional("pass_threshold", "Percent needed to pass; default 70"),
//! ],
//! ```
//!
//! A missing or unusable value found during a call is a [`PluginError::Misconfigured`] naming
//! the key: the host answers 503 naming the product, and retries orders, since the operator
//! can fix the setting and reload.

use std::collections::BTreeSet;
use std::str::FromStr;

use serde::de::DeserializeOwned;

use crate::bindings::assay::plugin0_2_0::host;
use crate::{PluginError, SettingSpec};

impl SettingSpec {
    /// A setting the product must set; the host refuses a configuration without it.
    ///
    /// ```ignore
    /// SettingSpec::required("base_url", "The vendor API, e.g. https://api.quiz.example")
    /// ```
    pub fn required(name: impl Into<String>, description: impl Into<String>) -> Self {
        Self::new(name, description, true, false)
    }

    /// A setting the product may leave out: the plugin has a default, or only some calls
    /// need it.
    ///
    /// ```ignore
    /// SettingSpec::optional("pass_threshold", "Percent needed to pass; default 70")
    /// ```
    pub fn optional(name: impl Into<String>, description: impl Into<String>) -> Self {
        Self::new(name, description, false, false)
    }

    /// A required credential: the host refuses a configuration without it, or with its value
    /// written literally rather than as an `env:NAME` or `file:/path` reference.
    ///
    /// ```ignore
    /// SettingSpec::secret("api_token", "Bearer token for the vendor API")
    /// ```
    pub fn secret(name: impl Into<String>, description: impl Into<String>) -> Self {
        Self::new(name, description, true, true)
    }

    /// A credential the product may leave out; when it is set, it must be a reference.
    ///
    /// ```ignore
    /// SettingSpec::optional_secret("webhook_secret", "Secret the vendor signs pushes with")
    /// ```
    pub fn optional_secret(name: impl Into<String>, description: impl Into<String>) -> Self {
        Self::new(name, description, false, true)
    }

    fn new(
        name: impl Into<String>,
        description: impl Into<String>,
        required: bool,
        secret: bool,
    ) -> Self {
        SettingSpec {
            name: name.into(),
            required,
            secret,
            description: description.into(),
        }
    }
}

/// The setting `key`, if set.
pub fn get(key: &str) -> Option<String> {
    host::setting(key)
}

/// The setting `key`; a missing or empty one is a [`PluginError::Misconfigured`] naming it, so
/// the operator sees what to configure.
pub fn require(key: &str) -> Result<String, PluginError> {
    present(key, get(key))
}

/// The setting `key` parsed as a `T` (a number, a flag…), `None` if it is not set. A value that
/// does not parse is a [`PluginError::Misconfigured`] naming the key: a typo in the
/// configuration should stop the call rather than silently fall back to a default.
pub fn parse<T: FromStr>(key: &str) -> Result<Option<T>, PluginError> {
    get(key).map(|value| parsed(key, &value)).transpose()
}

/// The setting `key` parsed as JSON into a `T`, `None` if it is not set. Invalid JSON is a
/// [`PluginError::Misconfigured`] naming the key and saying where the JSON is wrong.
pub fn json<T: DeserializeOwned>(key: &str) -> Result<Option<T>, PluginError> {
    get(key).map(|value| decoded(key, &value)).transpose()
}

/// The names of every setting.
pub fn keys() -> Vec<String> {
    host::setting_keys()
}

/// `value` of `key`, unless it is missing or empty.
fn present(key: &str, value: Option<String>) -> Result<String, PluginError> {
    value.filter(|v| !v.is_empty()).ok_or_else(|| {
        PluginError::Misconfigured(format!(
            "the setting `{key}` is missing from [products.NAME.settings]"
        ))
    })
}

fn parsed<T: FromStr>(key: &str, value: &str) -> Result<T, PluginError> {
    value.trim().parse().map_err(|_| {
        PluginError::Misconfigured(format!(
            "the setting `{key}` is not a valid {}",
            std::any::type_name::<T>()
        ))
    })
}

fn decoded<T: DeserializeOwned>(key: &str, value: &str) -> Result<T, PluginError> {
    serde_json::from_str(value).map_err(|e| {
        PluginError::Misconfigured(format!(
            "the setting `{key}` is not the expected JSON: {}",
            without_quoted(&e.to_string())
        ))
    })
}

/// `message` with its double-quoted parts left out. serde_json's messages name the line and
/// column, but a type mismatch also quotes the string it met (`invalid type: string "…"`),
/// which may be part of a secret.
fn without_quoted(message: &str) -> String {
    message
        .split('"')
        .step_by(2)
        .collect::<Vec<_>>()
        .join("\"…\"")
}

/// The keys that `sources` (your crate's source files, as `include_str!` gives them) pass to
/// `settings::get`, `require`, `parse` or `json` as a string literal: for a unit test that
/// keeps [`PluginMetadata::settings`](crate::PluginMetadata::settings) in step with what the
/// plugin reads, so the host's check at load covers every key.
///
/// ```ignore
/// #[test]
/// fn every_key_the_plugin_reads_is_declared() {
///     let read = settings::keys_read_in(&[include_str!("lib.rs"), include_str!("api.rs")]);
///     let declared: BTreeSet<String> =
///         declared_settings().into_iter().map(|s| s.name).collect();
///     assert_eq!(declared, read);
/// }
/// ```
pub fn keys_read_in(sources: &[&str]) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for call in sources.iter().flat_map(|s| s.split("settings::").skip(1)) {
        let Some(open) = call.find("(\"") else {
            continue;
        };
        let function = &call[..open];
        if function
            .chars()
            .all(|c| c.is_alphanumeric() || "_:<>".contains(c))
        {
            let rest = &call[open + 2..];
            keys.extend(rest.find('"').map(|end| rest[..end].to_owned()));
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn misconfigured(result: Result<impl std::fmt::Debug, PluginError>) -> String {
        match result {
            Err(PluginError::Misconfigured(message)) => message,
            other => panic!("expected misconfigured, got {other:?}"),
        }
    }

    #[test]
    fn specs_say_what_the_host_checks() {
        let flags = |s: SettingSpec| (s.name, s.required, s.secret, s.description);
        assert_eq!(
            flags(SettingSpec::required("base_url", "API")),
            ("base_url".into(), true, false, "API".into())
        );
        assert_eq!(
            flags(SettingSpec::optional("packages", "catalogue")),
            ("packages".into(), false, false, "catalogue".into())
        );
        assert_eq!(
            flags(SettingSpec::secret("api_token", "token")),
            ("api_token".into(), true, true, "token".into())
        );
        assert_eq!(
            flags(SettingSpec::optional_secret("webhook_secret", "hmac")),
            ("webhook_secret".into(), false, true, "hmac".into())
        );
    }

    #[test]
    fn a_missing_or_empty_setting_is_a_configuration_problem_naming_the_key() {
        assert_eq!(present("k", Some("v".into())).ok().as_deref(), Some("v"));
        for value in [None, Some(String::new())] {
            let message = misconfigured(present("api_token", value));
            assert!(message.contains("`api_token`"), "{message}");
        }
    }

    #[test]
    fn values_that_do_not_parse_are_configuration_problems_naming_the_key_only() {
        assert_eq!(parsed::<u32>("n", " 42 ").ok(), Some(42));
        let message = misconfigured(parsed::<u32>("pass_threshold", "seventy"));
        assert!(message.contains("`pass_threshold`"), "{message}");
        assert!(!message.contains("seventy"), "{message}");

        let v: Result<Vec<u8>, _> = decoded("packages", "[1, 2]");
        assert_eq!(v.ok(), Some(vec![1, 2]));
        let message = misconfigured(decoded::<Vec<u8>>("packages", "[1, \"s3cret\"]"));
        assert!(message.contains("`packages`"), "{message}");
        assert!(message.contains("line 1"), "{message}");
        assert!(!message.contains("s3cret"), "{message}");
        let message = misconfigured(decoded::<Vec<String>>("packages", "[1"));
        assert!(message.contains("line 1 column 2"), "{message}");
    }

    #[test]
    fn keys_read_in_finds_literal_keys_of_every_reader() {
        let source = r#"
            let a = settings::require("base_url")?;
            let b = settings::parse::<u32>("limit")?;
            let c = settings::json::<Vec<String>>("packages")?;
            let d = settings::get(key); // not a literal: not counted
            let e = settings::get("token").unwrap_or_default();
        "#;
        let keys: Vec<String> = keys_read_in(&[source]).into_iter().collect();
        assert_eq!(keys, ["base_url", "limit", "packages", "token"]);
    }
}
