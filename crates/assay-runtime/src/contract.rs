//! The plugin contract, one module per WIT version: the only place where WIT becomes Rust,
//! and the only place that matches on versions. [`latest`] (`wit/plugin.wit`) is the version
//! new plugins target and the host's own types come from; older versions stay loadable
//! beside it (their WIT frozen under `wit/deps/assay-plugin@VERSION/`), their arguments and
//! answers converted to and from the latest types in their match arms below.
//!
//! A new version is a module (its bindings, its constants, its imports and its conversions)
//! and a variant of [`Version`], `Pre` and `Instance` with their arms here.

pub mod v0_1_0;
pub mod v0_2_0;

pub use v0_2_0 as latest;

use std::future::Future;

use wasmtime::component::{InstancePre, Linker};
use wasmtime::{Engine, Store};

use crate::answer_size::AnswerSize;
use crate::state::StoreState;
use crate::types::{
    CallbackOutcome, CallbackRequest, Fulfilment, Order, OrderResult, PackageList, PackageQuery,
    PendingOrder, PluginError, PluginMetadata,
};

/// The WIT package of the plugin contract.
pub const PACKAGE: &str = "assay:plugin";

/// Every contract version this host loads, newest first.
pub const SUPPORTED_VERSIONS: &[&str] = &[v0_2_0::VERSION, v0_1_0::VERSION];

/// A contract version this host loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `assay:plugin@0.2.0`.
    V0_2_0,
    /// `assay:plugin@0.1.0`.
    V0_1_0,
}

impl Version {
    /// Every version, newest first, as [`SUPPORTED_VERSIONS`] lists them.
    pub const ALL: &[Version] = &[Version::V0_2_0, Version::V0_1_0];

    /// The version [`latest`] binds: what a component naming no version is checked against.
    pub const LATEST: Version = Version::V0_2_0;

    /// The version called `version` (`0.1.0`), if this host loads it.
    pub fn parse(version: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.as_str() == version)
    }

    /// `0.1.0`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V0_2_0 => v0_2_0::VERSION,
            Self::V0_1_0 => v0_1_0::VERSION,
        }
    }

    /// The export every plugin of this version has (`assay:plugin/product@0.1.0`).
    pub fn product_export(self) -> &'static str {
        match self {
            Self::V0_2_0 => v0_2_0::PRODUCT_EXPORT,
            Self::V0_1_0 => v0_1_0::PRODUCT_EXPORT,
        }
    }

    /// The functions of [`Version::product_export`], as WIT names them.
    pub fn product_functions(self) -> &'static [&'static str] {
        // Both versions have the same five functions.
        match self {
            Self::V0_2_0 | Self::V0_1_0 => &[
                Metadata::NAME,
                ListPackages::NAME,
                FulfilOrder::NAME,
                HandleCallback::NAME,
                PollResults::NAME,
            ],
        }
    }
}

/// Links the `assay:plugin/host` imports of every version: their names differ by version, so
/// one linker serves plugins of all of them.
pub(crate) fn add_to_linker(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    v0_2_0::add_to_linker(linker)?;
    v0_1_0::add_to_linker(linker)
}

/// A component linked against the bindings of its contract version, ready to instantiate.
pub(crate) enum Pre {
    V0_2_0(v0_2_0::PluginPre<StoreState>),
    V0_1_0(v0_1_0::PluginPre<StoreState>),
}

impl Pre {
    /// Checks `pre` exports what `version`'s bindings call.
    pub(crate) fn new(version: Version, pre: InstancePre<StoreState>) -> wasmtime::Result<Self> {
        Ok(match version {
            Version::V0_2_0 => Self::V0_2_0(v0_2_0::PluginPre::new(pre)?),
            Version::V0_1_0 => Self::V0_1_0(v0_1_0::PluginPre::new(pre)?),
        })
    }

    pub(crate) fn version(&self) -> Version {
        match self {
            Self::V0_2_0(_) => Version::V0_2_0,
            Self::V0_1_0(_) => Version::V0_1_0,
        }
    }

    pub(crate) fn engine(&self) -> &Engine {
        match self {
            Self::V0_2_0(pre) => pre.engine(),
            Self::V0_1_0(pre) => pre.engine(),
        }
    }

    pub(crate) async fn instantiate(
        &self,
        store: &mut Store<StoreState>,
    ) -> wasmtime::Result<Instance> {
        Ok(match self {
            Self::V0_2_0(pre) => Instance::V0_2_0(pre.instantiate_async(store).await?),
            Self::V0_1_0(pre) => Instance::V0_1_0(pre.instantiate_async(store).await?),
        })
    }
}

/// An instance of a plugin, for one call.
pub(crate) enum Instance {
    V0_2_0(v0_2_0::Plugin),
    V0_1_0(v0_1_0::Plugin),
}

/// A function of the `product` export: its WIT name, its answer, and how each version calls
/// it. The plugin's one call path ([`crate::Plugin`]) is generic over it, so the deadline,
/// the limits, the metric and the span are written once.
pub(crate) trait Export: Send {
    /// The function's name in WIT, and the metric's `call` label.
    const NAME: &'static str;
    /// What the function answers, in the latest version's types.
    type Answer: AnswerSize + Send;

    fn call(
        self,
        instance: &Instance,
        store: &mut Store<StoreState>,
    ) -> impl Future<Output = wasmtime::Result<Result<Self::Answer, PluginError>>> + Send;
}

pub(crate) struct Metadata;

impl Export for Metadata {
    const NAME: &'static str = "metadata";
    type Answer = PluginMetadata;

    async fn call(
        self,
        instance: &Instance,
        store: &mut Store<StoreState>,
    ) -> wasmtime::Result<Result<PluginMetadata, PluginError>> {
        match instance {
            Instance::V0_2_0(i) => i
                .assay_plugin0_2_0_product()
                .call_metadata(store)
                .await
                .map(Ok),
            Instance::V0_1_0(i) => {
                let m = i.assay_plugin0_1_0_product().call_metadata(store).await?;
                Ok(Ok(v0_1_0::metadata(m)))
            }
        }
    }
}

pub(crate) struct ListPackages(pub PackageQuery);

impl Export for ListPackages {
    const NAME: &'static str = "list-packages";
    type Answer = PackageList;

    async fn call(
        self,
        instance: &Instance,
        store: &mut Store<StoreState>,
    ) -> wasmtime::Result<Result<PackageList, PluginError>> {
        match instance {
            Instance::V0_2_0(i) => {
                i.assay_plugin0_2_0_product()
                    .call_list_packages(store, &self.0)
                    .await
            }
            Instance::V0_1_0(i) => {
                let query = v0_1_0::same(&self.0)?;
                let called = i
                    .assay_plugin0_1_0_product()
                    .call_list_packages(store, &query)
                    .await;
                v0_1_0::answer(called, v0_1_0::package_list)
            }
        }
    }
}

pub(crate) struct FulfilOrder(pub Order);

impl Export for FulfilOrder {
    const NAME: &'static str = "fulfil-order";
    type Answer = Fulfilment;

    async fn call(
        self,
        instance: &Instance,
        store: &mut Store<StoreState>,
    ) -> wasmtime::Result<Result<Fulfilment, PluginError>> {
        match instance {
            Instance::V0_2_0(i) => {
                i.assay_plugin0_2_0_product()
                    .call_fulfil_order(store, &self.0)
                    .await
            }
            Instance::V0_1_0(i) => {
                let order = v0_1_0::same(&self.0)?;
                let called = i
                    .assay_plugin0_1_0_product()
                    .call_fulfil_order(store, &order)
                    .await;
                v0_1_0::answer(called, |f| v0_1_0::same(&f))
            }
        }
    }
}

pub(crate) struct HandleCallback(pub CallbackRequest);

impl Export for HandleCallback {
    const NAME: &'static str = "handle-callback";
    type Answer = CallbackOutcome;

    async fn call(
        self,
        instance: &Instance,
        store: &mut Store<StoreState>,
    ) -> wasmtime::Result<Result<CallbackOutcome, PluginError>> {
        match instance {
            Instance::V0_2_0(i) => {
                i.assay_plugin0_2_0_product()
                    .call_handle_callback(store, &self.0)
                    .await
            }
            Instance::V0_1_0(i) => {
                let request = v0_1_0::callback_request(&self.0);
                let called = i
                    .assay_plugin0_1_0_product()
                    .call_handle_callback(store, &request)
                    .await;
                v0_1_0::answer(called, v0_1_0::callback_outcome)
            }
        }
    }
}

pub(crate) struct PollResults(pub Vec<PendingOrder>);

impl Export for PollResults {
    const NAME: &'static str = "poll-results";
    type Answer = Vec<OrderResult>;

    async fn call(
        self,
        instance: &Instance,
        store: &mut Store<StoreState>,
    ) -> wasmtime::Result<Result<Vec<OrderResult>, PluginError>> {
        match instance {
            Instance::V0_2_0(i) => {
                i.assay_plugin0_2_0_product()
                    .call_poll_results(store, &self.0)
                    .await
            }
            Instance::V0_1_0(i) => {
                let pending: Vec<v0_1_0::types::PendingOrder> = v0_1_0::same(&self.0)?;
                let called = i
                    .assay_plugin0_1_0_product()
                    .call_poll_results(store, &pending)
                    .await;
                v0_1_0::answer(called, |r| v0_1_0::same(&r))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_supported_versions_are_the_variants_in_order() {
        let names: Vec<_> = Version::ALL.iter().map(|v| v.as_str()).collect();
        assert_eq!(names, SUPPORTED_VERSIONS);
        assert_eq!(Version::LATEST.as_str(), latest::VERSION);
        for v in Version::ALL {
            assert_eq!(Version::parse(v.as_str()), Some(*v));
            assert_eq!(
                v.product_export(),
                format!("{PACKAGE}/product@{}", v.as_str())
            );
        }
        assert_eq!(Version::parse("0.0.9"), None);
    }

    /// The functions the loader requires are those each version's WIT file declares in
    /// `product`, and each file declares the version its module binds.
    #[test]
    fn the_functions_are_those_of_the_wit_files() {
        for (version, wit) in [
            (Version::V0_2_0, include_str!("../../../wit/plugin.wit")),
            (
                Version::V0_1_0,
                include_str!("../../../wit/deps/assay-plugin@0.1.0/plugin.wit"),
            ),
        ] {
            assert_functions(version, wit);
        }
        assert_eq!(Version::LATEST, Version::V0_2_0);
    }

    fn assert_functions(version: Version, wit: &str) {
        assert!(
            wit.contains(&format!("package {PACKAGE}@{};", version.as_str())),
            "the WIT file of {} declares another package version",
            version.as_str()
        );
        let product = wit
            .split_once("interface product {")
            .and_then(|(_, rest)| rest.split_once("\n}"))
            .map(|(body, _)| body)
            .expect("wit/plugin.wit has an interface `product`");
        let declared: Vec<_> = product
            .lines()
            .filter_map(|l| l.trim().split_once(": func("))
            .map(|(name, _)| name)
            .collect();
        assert_eq!(declared, version.product_functions());
    }
}
