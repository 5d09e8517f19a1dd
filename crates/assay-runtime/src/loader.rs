//! Loading a plugin file: check it is a component of our contract, compile it off the async
//! threads (or take the cached artifact), link it once, and ask it for its metadata.

use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use wasmtime::component::Component;

use super::{
    CONTRACT_PACKAGE, CONTRACT_VERSION, LoadError, LoadSource, METADATA_TIMEOUT, PRODUCT_EXPORT,
    Plugin, ProductContext, Runtime, types,
};
use crate::contract::latest::PluginPre;

impl Runtime {
    /// Loads and validates the plugin at `path`.
    pub async fn load(&self, path: &Path) -> Result<Arc<Plugin>, LoadError> {
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|source| LoadError::Read {
                path: path.to_owned(),
                source,
            })?;
        self.load_bytes(path, bytes).await
    }

    /// Loads and validates a plugin from its bytes; `path` names it in errors.
    pub async fn load_bytes(&self, path: &Path, bytes: Vec<u8>) -> Result<Arc<Plugin>, LoadError> {
        let component = self.compile(path, bytes).await?;
        self.link(path, component).await
    }

    /// Checks the header, then compiles `bytes` or loads the cached artifact, on a blocking
    /// thread: Cranelift takes long enough to stall the async workers.
    pub(super) async fn compile(&self, path: &Path, bytes: Vec<u8>) -> Result<Compiled, LoadError> {
        check_header(path, &bytes)?;
        let content_hash: [u8; 32] = Sha256::digest(&bytes).into();
        let engine = self.engine.clone();
        let cache = self.cache.clone();
        let compiled = tokio::task::spawn_blocking(move || match cache {
            Some(cache) => cache.load_or_compile(&engine, &content_hash, &bytes),
            None => Component::new(&engine, &bytes).map(|c| (c, LoadSource::Compiled)),
        })
        .await
        .map_err(|e| LoadError::Compile {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        let (component, source) = compiled.map_err(|e| LoadError::Compile {
            path: path.to_owned(),
            reason: format!("{e:#}"),
        })?;
        Ok(Compiled {
            component,
            content_hash,
            source,
        })
    }

    async fn link(&self, path: &Path, compiled: Compiled) -> Result<Arc<Plugin>, LoadError> {
        let Compiled {
            component,
            content_hash,
            source,
        } = compiled;
        let (exports, imports) = self.export_and_import_names(&component);
        check_contract(path, &exports, &imports)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Imports {
                path: path.to_owned(),
                reason: format!("{e:#}"),
            })?;
        let pre = PluginPre::new(pre).map_err(|e| LoadError::Exports {
            path: path.to_owned(),
            reason: format!("{e:#}"),
        })?;
        let mut plugin = Plugin {
            pre,
            metadata: types::PluginMetadata {
                name: String::new(),
                version: String::new(),
                description: String::new(),
                kinds: vec![],
            },
            label: Arc::from("(loading)"),
            content_hash,
            path: path.to_owned(),
            source,
            component,
        };
        let metadata_error = |reason: String| LoadError::Metadata {
            path: path.to_owned(),
            reason,
        };
        let mut ctx = ProductContext::new("(loading)");
        ctx.timeout = METADATA_TIMEOUT;
        let metadata = plugin
            .metadata_call(&ctx)
            .await
            .map_err(|e| metadata_error(format!("`metadata` failed: {}", e.kind)))?;
        if metadata.name.trim().is_empty() {
            return Err(metadata_error("the name is empty".into()));
        }
        if metadata.kinds.is_empty() {
            return Err(metadata_error("the plugin serves no order kind".into()));
        }
        plugin.label = Arc::from(format!("{}@{}", metadata.name, metadata.version));
        plugin.metadata = metadata;
        Ok(Arc::new(plugin))
    }
}

/// A compiled component and where it came from.
pub(super) struct Compiled {
    pub component: Component,
    pub content_hash: [u8; 32],
    pub source: LoadSource,
}

impl Runtime {
    /// The names a component exports and imports (interfaces and functions), in its order.
    pub(super) fn export_and_import_names(
        &self,
        component: &Component,
    ) -> (Vec<String>, Vec<String>) {
        let ty = component.component_type();
        let exports = ty
            .exports(&self.engine)
            .map(|(n, _)| n.to_owned())
            .collect();
        let imports = ty
            .imports(&self.engine)
            .map(|(n, _)| n.to_owned())
            .collect();
        (exports, imports)
    }
}

/// The version of the `assay:plugin` package named by a component's imports or exports, e.g.
/// `0.1.0` for `assay:plugin/product@0.1.0`.
pub fn contract_version<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    names.into_iter().find_map(|n| {
        n.strip_prefix(CONTRACT_PACKAGE)?
            .strip_prefix('/')?
            .split_once('@')
            .map(|(_, v)| v)
    })
}

/// Refuses a component built against another contract version, or without the product
/// export, with a message the plugin's author can act on.
fn check_contract(path: &Path, exports: &[String], imports: &[String]) -> Result<(), LoadError> {
    if exports.iter().any(|n| n == PRODUCT_EXPORT) {
        return Ok(());
    }
    let names = exports.iter().chain(imports).map(String::as_str);
    if let Some(found) = contract_version(names)
        && found != CONTRACT_VERSION
    {
        return Err(LoadError::ContractVersion {
            path: path.to_owned(),
            found: found.to_owned(),
            supported: CONTRACT_VERSION,
        });
    }
    Err(LoadError::Exports {
        path: path.to_owned(),
        reason: format!(
            "it has no such export; is it built for the `assay:plugin/plugin` world? \
             (its exports: {})",
            list(exports)
        ),
    })
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

/// Refuses files that are not components before handing them to the compiler, with a message
/// a plugin author can act on.
fn check_header(path: &Path, bytes: &[u8]) -> Result<(), LoadError> {
    let not = |reason: &str| LoadError::NotAComponent {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(not("the file is not WebAssembly"));
    }
    match &bytes[4..8] {
        [0x0d, 0x00, 0x01, 0x00] => Ok(()),
        [0x01, 0x00, 0x00, 0x00] => Err(not(
            "it is a core WebAssembly module; build the plugin for the wasm32-wasip2 target",
        )),
        _ => Err(not("unknown WebAssembly version")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contract_constants_match_the_wit_package() {
        let wit = include_str!("../../../wit/plugin.wit");
        assert!(
            wit.contains(&format!("package {CONTRACT_PACKAGE}@{CONTRACT_VERSION};")),
            "wit/plugin.wit declares another package version"
        );
        assert_eq!(
            PRODUCT_EXPORT,
            format!("{CONTRACT_PACKAGE}/product@{CONTRACT_VERSION}")
        );
    }

    #[test]
    fn finds_the_contract_version_in_interface_names() {
        let names = [
            "wasi:cli/environment@0.2.6",
            "assay:plugin/types@0.2.0",
            "assay:plugin/product@0.2.0",
        ];
        assert_eq!(contract_version(names), Some("0.2.0"));
        assert_eq!(contract_version(["assay:pluginx/types@9.0.0"]), None);
        assert_eq!(contract_version(["wasi:http/types@0.2.12"]), None);
    }

    #[test]
    fn another_contract_version_is_named_in_the_error() {
        let path = Path::new("old.wasm");
        let exports = vec!["assay:plugin/product@0.2.0".to_owned()];
        let imports = vec!["assay:plugin/host@0.2.0".to_owned()];
        let err = check_contract(path, &exports, &imports).expect_err("refused");
        assert!(
            matches!(&err, LoadError::ContractVersion { found, .. } if found == "0.2.0"),
            "{err}"
        );
        assert!(err.to_string().contains("old.wasm"), "{err}");
        let err = check_contract(path, &[], &["wasi:cli/stdout@0.2.6".to_owned()])
            .expect_err("no export");
        assert!(matches!(err, LoadError::Exports { .. }), "{err}");
        let ours = vec![PRODUCT_EXPORT.to_owned()];
        assert!(check_contract(path, &ours, &[]).is_ok());
    }

    #[test]
    fn the_header_tells_components_from_modules_and_garbage() {
        let p = Path::new("x.wasm");
        assert!(check_header(p, b"\0asm\x0d\0\x01\0rest").is_ok());
        for (bytes, says) in [
            (&b"\0asm\x01\0\0\0"[..], "core WebAssembly module"),
            (&b"hello world"[..], "not WebAssembly"),
            (&b"\0asm"[..], "not WebAssembly"),
            (&b"\0asm\x0e\0\x01\0"[..], "unknown WebAssembly version"),
        ] {
            let err = check_header(p, bytes).expect_err("refused");
            assert!(err.to_string().contains(says), "{err}");
        }
    }
}
