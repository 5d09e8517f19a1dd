//! The on-disk cache of compiled plugins.
//!
//! Compiling a component with Cranelift takes a while; loading a precompiled artifact takes
//! milliseconds. Artifacts are keyed by the SHA-256 of the plugin's bytes and by the engine's
//! compatibility hash (wasmtime version, CPU features, settings), so a cache written by another
//! wasmtime or on another CPU is never used: its key differs, and wasmtime checks the header
//! again when loading. A file that fails to load is deleted and the plugin compiled afresh.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

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
        Self {
            dir,
            engine_key: engine_key(engine),
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
                    tracing::warn!(artifact = %path.display(), error = format_args!("{e:#}"), "cached plugin artifact unusable; compiling again");
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        let component = Component::new(engine, bytes)?;
        if let Err(e) = self.store(&path, &component) {
            tracing::warn!(artifact = %path.display(), error = format_args!("{e:#}"), "could not write the plugin artifact cache");
        }
        Ok((component, LoadSource::Compiled))
    }

    fn store(&self, path: &Path, component: &Component) -> wasmtime::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let bytes = component.serialize()?;
        // Unique per process and write: two loads of one plugin may store at once.
        static WRITES: AtomicU64 = AtomicU64::new(0);
        let temp = path.with_extension(format!(
            "tmp-{}-{}",
            std::process::id(),
            WRITES.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&temp, bytes)?;
        if let Err(e) = std::fs::rename(&temp, path) {
            let _ = std::fs::remove_file(&temp);
            return Err(e.into());
        }
        Ok(())
    }
}

/// The engine part of an artifact's name: SHA-256 of what wasmtime says decides whether an
/// artifact fits this engine (its version, the CPU features it compiles for, its settings),
/// shortened to 16 hex digits. SHA-256 rather than `DefaultHasher`, whose output may change
/// between Rust releases.
fn engine_key(engine: &Engine) -> String {
    struct ShaHasher(Sha256);
    impl Hasher for ShaHasher {
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
        fn finish(&self) -> u64 {
            // Never called: the digest is read below.
            0
        }
    }
    let mut h = ShaHasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut h);
    hex::encode(&h.0.finalize()[..8])
}

/// Loads a precompiled component.
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: `deserialize_file` trusts the file to be an artifact wasmtime produced. Only
    // files this cache wrote are read: they live in the host's own cache folder, are named by
    // the SHA-256 of the plugin's bytes and the engine's compatibility hash, and are written
    // through a temporary file and a rename, so a half-written file is never read. wasmtime
    // also checks the artifact's header against this engine and fails on a mismatch. Files
    // are replaced only by rename, never rewritten in place, so a mapped artifact cannot
    // change under a running plugin.
    unsafe { Component::deserialize_file(engine, path) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(epochs: bool) -> Engine {
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(epochs);
        Engine::new(&config).expect("engine")
    }

    #[test]
    fn artifacts_are_keyed_by_content_and_engine() {
        let dir = PathBuf::from("/cache");
        let a = ArtifactCache::new(dir.clone(), &engine(true));
        let same = ArtifactCache::new(dir.clone(), &engine(true));
        let other = ArtifactCache::new(dir, &engine(false));
        let h1 = [1u8; 32];
        let h2 = [2u8; 32];
        assert_eq!(
            a.path_for(&h1),
            same.path_for(&h1),
            "stable across engines alike"
        );
        assert_ne!(a.path_for(&h1), a.path_for(&h2), "content decides");
        assert_ne!(
            a.path_for(&h1),
            other.path_for(&h1),
            "engine settings decide"
        );
        let name = a.path_for(&h1);
        let name = name.file_name().and_then(|n| n.to_str()).expect("name");
        assert!(name.starts_with(&hex::encode(h1)), "{name}");
        assert!(name.ends_with(".cwasm"), "{name}");
    }
}
