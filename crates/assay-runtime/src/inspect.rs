//! `assay plugin inspect`: what a plugin file is and what it says about itself.

use std::path::Path;

use super::loader::export_and_import_names;
use super::{LoadError, Runtime, types};

/// A plugin's description for `assay plugin inspect`.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// What the plugin says about itself.
    pub metadata: types::PluginMetadata,
    /// The `assay:plugin` contract version it was built against.
    pub contract_version: &'static str,
    /// The component's exports.
    pub exports: Vec<String>,
    /// The component's imports.
    pub imports: Vec<String>,
    /// SHA-256 of the file, hex.
    pub sha256: String,
}

impl Runtime {
    /// Loads `path` fully (as serving would, so whatever would stop it serving is the error)
    /// and describes it.
    pub async fn inspect(&self, path: &Path) -> Result<Inspection, LoadError> {
        let plugin = self.load(path).await?;
        let (exports, imports) = export_and_import_names(&plugin.component());
        Ok(Inspection {
            metadata: plugin.metadata().clone(),
            contract_version: plugin.contract_version(),
            exports,
            imports,
            sha256: hex::encode(plugin.content_hash()),
        })
    }
}
