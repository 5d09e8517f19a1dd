//! Loading a plugin file: check it is a component of our contract, compile it off the async
//! threads (or take the cached artifact), link it once, and ask it for its metadata.

use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Linker};

use super::{
    CONTRACT_PACKAGE, CompilerChoice, LoadError, LoadSource, METADATA_TIMEOUT, Plugin,
    ProductContext, Runtime, types,
};
use crate::cache::ArtifactCache;
use crate::contract::{Pre, SUPPORTED_VERSIONS, Version};
use crate::engine::Compiler;
use crate::plugin::{Caller, Tier};
use crate::state::StoreState;
use crate::tiering::{self, Toolchain};

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

    /// Loads and validates a plugin from its bytes; `path` names it in errors. A large
    /// component may start on the baseline compiler's code and be optimised later
    /// ([`crate::tiering`]).
    pub async fn load_bytes(&self, path: &Path, bytes: Vec<u8>) -> Result<Arc<Plugin>, LoadError> {
        check_header(path, &bytes)?;
        let content_hash: [u8; 32] = Sha256::digest(&bytes).into();
        let bytes = Arc::new(bytes);
        if let Some(baseline) = self.baseline_for(&content_hash, bytes.len()) {
            match compile(
                &baseline.engine,
                baseline.cache.clone(),
                content_hash,
                &bytes,
            )
            .await
            {
                Ok((component, source)) => {
                    let tier = (component, Compiler::Winch, source);
                    let plugin = self
                        .link(path, content_hash, tier, &baseline.linker)
                        .await?;
                    if let Some(optimiser) = &self.optimiser {
                        optimiser.queue(&plugin, bytes);
                    }
                    return Ok(plugin);
                }
                Err(e) if self.compiler == CompilerChoice::Winch => {
                    return Err(LoadError::Compile {
                        path: path.to_owned(),
                        source: e,
                    });
                }
                Err(e) => tiering::refused(path, &e),
            }
        }
        let (component, source) = compile(&self.engine, self.cache.clone(), content_hash, &bytes)
            .await
            .map_err(|source| LoadError::Compile {
                path: path.to_owned(),
                source,
            })?;
        let tier = (component, Compiler::Cranelift, source);
        self.link(path, content_hash, tier, &self.linker).await
    }

    /// The baseline engine, when a component of this hash and size should start on it.
    fn baseline_for(&self, hash: &[u8], size: usize) -> Option<&Toolchain> {
        let baseline = self.baseline.as_ref()?;
        match self.compiler {
            CompilerChoice::Winch => Some(baseline),
            CompilerChoice::Tiered
                if size >= self.tiered_min_bytes
                    && !tiering::optimised_cached(self.cache.as_ref(), hash) =>
            {
                Some(baseline)
            }
            _ => None,
        }
    }

    async fn link(
        &self,
        path: &Path,
        content_hash: [u8; 32],
        (component, compiler, source): (Component, Compiler, LoadSource),
        linker: &Linker<StoreState>,
    ) -> Result<Arc<Plugin>, LoadError> {
        let (exports, imports) = export_and_import_names(&component);
        let version = check_contract(path, &exports, &imports)?;
        check_functions(path, version, &product_functions(&component, version))?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(|source| LoadError::Imports {
                path: path.to_owned(),
                source,
            })?;
        let pre = Pre::new(version, pre).map_err(|source| LoadError::Bindings {
            path: path.to_owned(),
            export: version.product_export(),
            source,
        })?;
        let mut plugin = Plugin {
            caller: Caller {
                tier: Arc::new(ArcSwap::from_pointee(Tier {
                    pre,
                    component,
                    compiler,
                    source,
                })),
                label: Arc::from("(loading)"),
                ticker: self.ticker.handle(),
                budget: Arc::clone(&self.budget),
                pool: Arc::clone(&self.pool),
                keep_resident: self.keep_resident,
            },
            metadata: types::PluginMetadata {
                name: String::new(),
                version: String::new(),
                description: String::new(),
                kinds: vec![],
                settings: vec![],
            },
            content_hash,
            path: path.to_owned(),
        };
        let mut ctx = ProductContext::new("(loading)");
        ctx.timeout = METADATA_TIMEOUT;
        let metadata = plugin
            .metadata_call(&ctx)
            .await
            .map_err(|e| LoadError::MetadataCall {
                path: path.to_owned(),
                source: e.kind,
            })?;
        let invalid = |reason: &str| LoadError::Metadata {
            path: path.to_owned(),
            reason: reason.to_owned(),
        };
        if metadata.name.trim().is_empty() {
            return Err(invalid("the name is empty"));
        }
        if metadata.kinds.is_empty() {
            return Err(invalid("the plugin serves no order kind"));
        }
        plugin.caller.label = Arc::from(format!("{}@{}", metadata.name, metadata.version));
        plugin.metadata = metadata;
        Ok(Arc::new(plugin))
    }
}

/// Compiles `bytes` with `engine`, or loads the cached artifact, on a blocking thread: a
/// compiler takes long enough to stall the async workers.
async fn compile(
    engine: &Engine,
    cache: Option<ArtifactCache>,
    content_hash: [u8; 32],
    bytes: &Arc<Vec<u8>>,
) -> wasmtime::Result<(Component, LoadSource)> {
    let (engine, bytes) = (engine.clone(), Arc::clone(bytes));
    tokio::task::spawn_blocking(move || compile_now(&engine, cache.as_ref(), &content_hash, &bytes))
        .await
        // A panic while compiling: the component is refused like one that does not compile.
        .unwrap_or_else(|panicked| Err(wasmtime::Error::new(panicked)))
}

/// Loads the cached artifact of `content_hash`, or compiles `bytes` with `engine` (and caches
/// the artifact), on the calling thread.
pub(crate) fn compile_now(
    engine: &Engine,
    cache: Option<&ArtifactCache>,
    content_hash: &[u8],
    bytes: &[u8],
) -> wasmtime::Result<(Component, LoadSource)> {
    match cache {
        Some(cache) => cache.load_or_compile(engine, content_hash, bytes),
        None => Component::new(engine, bytes).map(|c| (c, LoadSource::Compiled)),
    }
}

/// The names a component exports and imports (interfaces and functions), in its order.
pub(super) fn export_and_import_names(component: &Component) -> (Vec<String>, Vec<String>) {
    let engine = component.engine();
    let ty = component.component_type();
    let exports = ty.exports(engine).map(|(n, _)| n.to_owned()).collect();
    let imports = ty.imports(engine).map(|(n, _)| n.to_owned()).collect();
    (exports, imports)
}

/// The functions the component's product export of `version` has.
fn product_functions(component: &Component, version: Version) -> Vec<String> {
    let engine = component.engine();
    let ty = component.component_type();
    let Some(export) = ty.get_export(engine, version.product_export()) else {
        return vec![];
    };
    let ComponentItem::ComponentInstance(instance) = export.ty else {
        return vec![];
    };
    instance
        .exports(engine)
        .filter(|(_, item)| matches!(item.ty, ComponentItem::ComponentFunc(_)))
        .map(|(name, _)| name.to_owned())
        .collect()
}

/// The version of the `assay:plugin` package named by a component's imports or exports, e.g.
/// `0.1.0` for `assay:plugin/product@0.1.0`.
fn contract_version<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    names.into_iter().find_map(|n| {
        n.strip_prefix(CONTRACT_PACKAGE)?
            .strip_prefix('/')?
            .split_once('@')
            .map(|(_, v)| v)
    })
}

/// The contract version the component exports, if this host loads it and the component has
/// that version's product export; otherwise an error the plugin's author can act on. A
/// component that exports nothing of the contract is judged by the version it imports, or
/// else against the latest.
fn check_contract(
    path: &Path,
    exports: &[String],
    imports: &[String],
) -> Result<Version, LoadError> {
    let found = contract_version(exports.iter().map(String::as_str))
        .or_else(|| contract_version(imports.iter().map(String::as_str)));
    let version = match found {
        None => Version::LATEST,
        Some(found) => Version::parse(found).ok_or_else(|| LoadError::ContractVersion {
            path: path.to_owned(),
            found: found.to_owned(),
            supported: SUPPORTED_VERSIONS,
        })?,
    };
    if exports.iter().any(|n| n == version.product_export()) {
        return Ok(version);
    }
    Err(LoadError::Exports {
        path: path.to_owned(),
        export: version.product_export(),
        reason: format!(
            "it has no such export; is it built for the `assay:plugin/plugin` world? \
             (its exports: {})",
            list(exports)
        ),
    })
}

/// Refuses a product export that lacks functions of its version, naming them.
fn check_functions(path: &Path, version: Version, functions: &[String]) -> Result<(), LoadError> {
    let missing: Vec<String> = version
        .product_functions()
        .iter()
        .filter(|f| !functions.iter().any(|g| g == *f))
        .map(|f| format!("`{f}`"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(LoadError::Exports {
        path: path.to_owned(),
        export: version.product_export(),
        reason: format!("it lacks {}", missing.join(", ")),
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
    fn another_contract_version_is_refused_naming_the_supported_ones() {
        let path = Path::new("old.wasm");
        let exports = vec!["assay:plugin/product@0.0.9".to_owned()];
        let imports = vec!["assay:plugin/host@0.0.9".to_owned()];
        let err = check_contract(path, &exports, &imports).expect_err("refused");
        assert!(
            matches!(&err, LoadError::ContractVersion { found, .. } if found == "0.0.9"),
            "{err}"
        );
        let message = err.to_string();
        assert!(message.contains("old.wasm"), "{message}");
        for supported in SUPPORTED_VERSIONS {
            assert!(
                message.contains(&format!("{CONTRACT_PACKAGE}@{supported}")),
                "{message}"
            );
        }
        // Importing an unknown version is named the same way, exports or not.
        let err = check_contract(path, &[], &imports).expect_err("refused");
        assert!(matches!(err, LoadError::ContractVersion { .. }), "{err}");
    }

    #[test]
    fn the_exported_version_picks_the_bindings() {
        let path = Path::new("p.wasm");
        for version in Version::ALL {
            let exports = vec![
                format!("{CONTRACT_PACKAGE}/types@{}", version.as_str()),
                version.product_export().to_owned(),
            ];
            let picked = check_contract(path, &exports, &[]).expect("supported");
            assert_eq!(picked, *version);
        }
        let err = check_contract(path, &[], &["wasi:cli/stdout@0.2.6".to_owned()])
            .expect_err("no export");
        assert!(
            matches!(&err, LoadError::Exports { export, .. } if *export == Version::LATEST.product_export()),
            "{err}"
        );
    }

    #[test]
    fn missing_functions_are_named() {
        let path = Path::new("p.wasm");
        let version = Version::LATEST;
        let all: Vec<String> = version
            .product_functions()
            .iter()
            .map(|f| (*f).to_owned())
            .collect();
        assert!(check_functions(path, version, &all).is_ok());
        let (gone, rest) = all.split_last().expect("functions");
        let err = check_functions(path, version, rest).expect_err("incomplete");
        assert!(err.to_string().contains(&format!("`{gone}`")), "{err}");
        assert!(
            !err.to_string().contains(&format!("`{}`", rest[0])),
            "{err}"
        );
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
