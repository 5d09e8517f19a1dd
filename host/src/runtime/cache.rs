//! The on-disk cache of compiled plugins.
//!
//! Compiling a component with Cranelift takes a while; loading a precompiled artifact takes
//! milliseconds. Artifacts are keyed by the SHA-256 of the plugin's bytes and by the engine's
//! compatibility hash (wasmtime version, CPU features, settings), so a cache written by another
//! wasmtime or on another CPU is never used: its key differs, and wasmtime checks the header
//! again when loading. A file that fails to load is deleted and the plugin compiled afresh.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

/// Where a component came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadSource {
    /// Compiled from the `.wasm` just now.
    Compiled,
    /// Loaded from the artifact cache.
    Cache,
}

/// The cache folder of one engine.
#[derive(Debug, Clone)]
pub struct ArtifactCache {
    dir: PathBuf,
    engine_key: String,
}

impl ArtifactCache {
    /// A cache in `dir` for artifacts of `engine`.
    pub fn new(dir: PathBuf, engine: &Engine) -> Self {
        let mut h = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        Self {
            dir,
            engine_key: format!("{:016x}", h.finish()),
        }
    }

    /// The artifact's path for a plugin with this content hash.
    pub fn path_for(&self, content_hash: &[u8]) -> PathBuf {
        self.dir.join(format!(
            "{}-{}.cwasm",
            hex::encode(content_hash),
            self.engine_key
        ))
    }

    /// Loads the artifact for `content_hash`, or compiles `bytes` and stores the artifact.
    /// Blocking: call it from `spawn_blocking`.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        content_hash: &[u8],
        bytes: &[u8],
    ) -> wasmtime::Result<(Component, LoadSource)> {
        let path = self.path_for(content_hash);
        if path.is_file() {
            match deserialize(engine, &path) {
                Ok(c) => return Ok((c, LoadSource::Cache)),
                Err(e) => {
                    tracing::warn!(artifact = %path.display(), error = %e, "cached plugin artifact unusable; compiling again");
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        let component = Component::new(engine, bytes)?;
        if let Err(e) = self.store(&path, &component) {
            tracing::warn!(artifact = %path.display(), error = %e, "could not write the plugin artifact cache");
        }
        Ok((component, LoadSource::Compiled))
    }

    fn store(&self, path: &Path, component: &Component) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let bytes = component
            .serialize()
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        let temp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&temp, bytes)?;
        std::fs::rename(&temp, path)?;
        Ok(())
    }
}

/// Loads a precompiled component.
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: `deserialize_file` trusts the file to be an artifact wasmtime produced. Only
    // files this cache wrote are read: they live in the host's own cache folder, are named by
    // the SHA-256 of the plugin's bytes and the engine's compatibility hash, and are written
    // through a temporary file and a rename, so a half-written file is never read. wasmtime
    // also checks the artifact's header against this engine and fails on a mismatch.
    unsafe { Component::deserialize_file(engine, path) }
}
