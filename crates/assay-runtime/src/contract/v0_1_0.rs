//! `assay:plugin@0.1.0`, as released (`wit/deps/assay-plugin@0.1.0/plugin.wit`): its bindings,
//! its `host` imports, and the conversions between its types and the latest version's.
//!
//! 0.2.0 kept every 0.1.0 type it did not extend field for field, so those convert through
//! serde (`same`); the types 0.2.0 changed, and those carrying raw bytes (which serde would
//! blow up into a number per byte), convert by hand.

#![allow(missing_docs)]

use serde::Serialize;
use serde::de::DeserializeOwned;
use wasmtime::component::{HasSelf, Linker};

use super::latest::{host as new_host, types as new};
use crate::state::StoreState;
use types as old;

/// The contract version this module binds.
pub const VERSION: &str = "0.1.0";

/// The export every plugin of this version has.
pub const PRODUCT_EXPORT: &str = "assay:plugin/product@0.1.0";

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "assay:plugin/plugin@0.1.0",
    imports: { default: trappable },
    exports: { default: async },
    require_store_data_send: true,
    additional_derives: [serde::Serialize, serde::Deserialize],
    with: {
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
    },
});

// Both contract versions are in one WIT resolve, so bindgen names the package modules by
// version (`assay::plugin0_1_0`); these give them their plain names.
pub use assay::plugin0_1_0::{host, types};
pub use exports::assay::plugin0_1_0::product;

/// Links this version's `assay:plugin/host` imports.
pub(crate) fn add_to_linker(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    host::add_to_linker::<_, HasSelf<_>>(linker, |s| s)
}

impl host::Host for StoreState {
    fn log(
        &mut self,
        level: host::LogLevel,
        message: String,
        fields: Vec<(String, String)>,
    ) -> wasmtime::Result<()> {
        use host::LogLevel as L;
        let level = match level {
            L::Trace => new_host::LogLevel::Trace,
            L::Debug => new_host::LogLevel::Debug,
            L::Info => new_host::LogLevel::Info,
            L::Warn => new_host::LogLevel::Warn,
            L::Error => new_host::LogLevel::Error,
        };
        self.plugin_log(level, message, fields);
        Ok(())
    }

    fn setting(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.setting_value(&key))
    }

    fn setting_keys(&mut self) -> wasmtime::Result<Vec<String>> {
        Ok(self.setting_names())
    }
}

/// A value of one version as the identically shaped type of the other.
pub(crate) fn same<A: Serialize, B: DeserializeOwned>(value: &A) -> wasmtime::Result<B> {
    let json = serde_json::to_value(value)?;
    Ok(serde_json::from_value(json)?)
}

fn header(h: &new::Header) -> old::Header {
    old::Header {
        name: h.name.clone(),
        value: h.value.clone(),
    }
}

fn new_header(h: old::Header) -> new::Header {
    new::Header {
        name: h.name,
        value: h.value,
    }
}

pub(crate) fn callback_request(r: &new::CallbackRequest) -> old::CallbackRequest {
    old::CallbackRequest {
        method: r.method.clone(),
        path: r.path.clone(),
        query: r.query.clone(),
        headers: r.headers.iter().map(header).collect(),
        body: r.body.clone(),
    }
}

/// 0.1.0 had no way to decline a callback: every outcome is `handled`.
pub(crate) fn callback_outcome(o: old::CallbackOutcome) -> wasmtime::Result<new::CallbackOutcome> {
    Ok(new::CallbackOutcome::Handled(new::CallbackHandled {
        response: new::CallbackResponse {
            status: o.response.status,
            headers: o.response.headers.into_iter().map(new_header).collect(),
            body: o.response.body,
        },
        results: same(&o.results)?,
    }))
}

/// 0.1.0 declared no settings.
pub(crate) fn metadata(m: old::PluginMetadata) -> new::PluginMetadata {
    new::PluginMetadata {
        name: m.name,
        version: m.version,
        description: m.description,
        kinds: m
            .kinds
            .into_iter()
            .map(|k| match k {
                old::OrderKind::Assessment => new::OrderKind::Assessment,
                old::OrderKind::BackgroundCheck => new::OrderKind::BackgroundCheck,
            })
            .collect(),
        settings: vec![],
    }
}

/// 0.1.0 gave no freshness hint: the list is never cached.
pub(crate) fn package_list(packages: Vec<old::Package>) -> wasmtime::Result<new::PackageList> {
    Ok(new::PackageList {
        packages: same(&packages)?,
        freshness: None,
    })
}

pub(crate) fn plugin_error(e: old::PluginError) -> new::PluginError {
    match e {
        old::PluginError::InvalidInput(m) => new::PluginError::InvalidInput(m),
        old::PluginError::Unauthorized(m) => new::PluginError::Unauthorized(m),
        old::PluginError::NotFound(m) => new::PluginError::NotFound(m),
        old::PluginError::UpstreamRetryable(r) => {
            new::PluginError::UpstreamRetryable(new::RetryableFailure {
                message: r.message,
                retry_after_ms: r.retry_after_ms,
            })
        }
        old::PluginError::Permanent(m) => new::PluginError::Permanent(m),
    }
}

/// A 0.1.0 call's answer in the latest types: the value converted with `ok`, the plugin's error
/// with [`plugin_error`].
pub(crate) fn answer<T, U>(
    called: wasmtime::Result<Result<T, old::PluginError>>,
    ok: impl FnOnce(T) -> wasmtime::Result<U>,
) -> wasmtime::Result<Result<U, new::PluginError>> {
    match called? {
        Ok(value) => ok(value).map(Ok),
        Err(e) => Ok(Err(plugin_error(e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The types 0.2.0 kept from 0.1.0 convert both ways without loss.
    #[test]
    fn the_shared_types_round_trip() {
        let order = new::Order {
            id: "o-1".into(),
            kind: new::OrderKind::BackgroundCheck,
            account_id: "acc".into(),
            provider: Some("recruitee".into()),
            remote_id: None,
            package: new::OrderPackage {
                id: None,
                remote_id: Some("pkg".into()),
                name: Some("Basic".into()),
                description: None,
                tests: vec![new::PackageTest {
                    id: "t".into(),
                    name: "Criminal".into(),
                    description: Some("d".into()),
                }],
            },
            candidate: new::Candidate {
                id: None,
                remote_id: None,
                first_name: Some("Ada".into()),
                last_name: None,
                emails: vec![new::Email {
                    value: "ada@example.com".into(),
                    email_type: None,
                }],
                profile_url: None,
            },
            application: None,
            job: Some(new::Job {
                id: None,
                remote_id: None,
                title: Some("Eng".into()),
                hiring_team: vec![],
            }),
            requester: None,
            raw_json: "{}".into(),
        };
        let as_old: old::Order = same(&order).expect("to 0.1.0");
        let back: new::Order = same(&as_old).expect("to 0.2.0");
        assert_eq!(format!("{back:?}"), format!("{order:?}"));

        let result = new::OrderResult {
            order: new::OrderRef::ExternalId("x".into()),
            result: new::AssessmentResult {
                score: None,
                status: Some(new::ResultStatus {
                    value: new::ResultValue::UnmappedValue("review".into()),
                    source_value: None,
                }),
                result_url: None,
                start_date: None,
                submission_date: None,
                summary: None,
                attachments: vec![new::Attachment {
                    url: "https://r".into(),
                    content_type: Some(new::ContentType::Pdf),
                }],
                candidate_profile_url: None,
            },
        };
        let as_old: old::OrderResult = same(&result).expect("to 0.1.0");
        let back: new::OrderResult = same(&as_old).expect("to 0.2.0");
        assert_eq!(format!("{back:?}"), format!("{result:?}"));
    }

    #[test]
    fn a_legacy_outcome_is_handled_and_its_bytes_kept() {
        let outcome = old::CallbackOutcome {
            response: old::CallbackResponse {
                status: 202,
                headers: vec![old::Header {
                    name: "x".into(),
                    value: vec![0xff, 0],
                }],
                body: vec![1, 2, 3],
            },
            results: vec![],
        };
        let new::CallbackOutcome::Handled(h) = callback_outcome(outcome).expect("converts") else {
            panic!("a 0.1.0 outcome is handled");
        };
        assert_eq!(h.response.status, 202);
        assert_eq!(h.response.headers[0].value, vec![0xff, 0]);
        assert_eq!(h.response.body, vec![1, 2, 3]);
    }
}
