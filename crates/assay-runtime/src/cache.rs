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
use std::time::SystemTime;

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

/// How many compiled artifacts the cache keeps by default. Each distinct plugin build adds
/// one (under `assay dev`, every rebuild), so without a bound the folder only grows; the least
/// recently used go first.
pub const MAX_CACHED_ARTIFACTS: usize = 64;

/// The file extension of an artifact; the only files the cache counts and evicts.
const ARTIFACT_EXTENSION: &str = "cwasm";

/// The cache folder of one engine.
#[derive(Debug, Clone)]
pub struct ArtifactCache {
    dir: PathBuf,
    engine_key: String,
    /// Artifacts kept after a store; older ones are deleted. Counts every engine's artifacts:
    /// another wasmtime's can never be used here and ages out like any unused entry.
    max_artifacts: usize,
}

impl ArtifactCache {
    /// A cache in `dir` for artifacts of `engine`, keeping at most `max_artifacts`.
    pub fn new(dir: PathBuf, engine: &Engine, max_artifacts: usize) -> Self {
        Self {
            dir,
            engine_key: engine_key(engine),
            max_artifacts,
        }
    }

    /// The artifact's path for a plugin with this content hash.
    pub fn path_for(&self, content_hash: &[u8]) -> PathBuf {
        self.dir.join(format!(
            "{}-{}.{ARTIFACT_EXTENSION}",
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
                Ok(c) => {
                    // The modification time is the entry's last use: eviction goes by it.
                    if let Err(e) = touch(&path) {
                        tracing::warn!(artifact = %path.display(), error = %e, "could not mark the plugin artifact as used");
                    }
                    return Ok((c, LoadSource::Cache));
                }
                Err(e) => {
                    tracing::warn!(artifact = %path.display(), error = format_args!("{e:#}"), "cached plugin artifact unusable; compiling again");
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        let component = Component::new(engine, bytes)?;
        match self.store(&path, &component) {
            Ok(()) => self.evict(),
            Err(e) => {
                tracing::warn!(artifact = %path.display(), error = format_args!("{e:#}"), "could not write the plugin artifact cache");
            }
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

    /// Deletes the least recently used artifacts beyond the bound. A failure costs a compile
    /// later at most, so it is logged and loading goes on.
    fn evict(&self) {
        let entries = match artifacts(&self.dir) {
            Ok(entries) => entries,
            Err(e) => {
                tracing::warn!(dir = %self.dir.display(), error = %e, "could not list the plugin artifact cache");
                return;
            }
        };
        for path in least_recently_used(entries, self.max_artifacts) {
            match std::fs::remove_file(&path) {
                Ok(()) => tracing::debug!(artifact = %path.display(), "plugin artifact evicted"),
                // Another process evicting the same entry got there first.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(artifact = %path.display(), error = %e, "could not evict a plugin artifact");
                }
            }
        }
    }
}

/// The artifacts in `dir` and when each was last used.
fn artifacts(dir: &Path) -> std::io::Result<Vec<(SystemTime, PathBuf)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == ARTIFACT_EXTENSION) {
            // Gone meanwhile (evicted by another process): nothing to count.
            if let Ok(modified) = std::fs::metadata(&path).and_then(|m| m.modified()) {
                found.push((modified, path));
            }
        }
    }
    Ok(found)
}

/// The entries beyond the `keep` most recently used; ties go by name, so the choice is stable.
fn least_recently_used(mut entries: Vec<(SystemTime, PathBuf)>, keep: usize) -> Vec<PathBuf> {
    entries.sort_by(|a, b| b.cmp(a));
    entries.into_iter().skip(keep).map(|(_, p)| p).collect()
}

/// Marks an artifact as just used. Only its times change, never its bytes: it may be mapped
/// by a running plugin.
fn touch(path: &Path) -> std::io::Result<()> {
    std::fs::File::open(path)?.set_modified(SystemTime::now())
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
        let a = ArtifactCache::new(dir.clone(), &engine(true), MAX_CACHED_ARTIFACTS);
        let same = ArtifactCache::new(dir.clone(), &engine(true), MAX_CACHED_ARTIFACTS);
        let other = ArtifactCache::new(dir, &engine(false), MAX_CACHED_ARTIFACTS);
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

    #[test]
    fn eviction_keeps_the_most_recently_used() {
        let at = |secs: u64| SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs);
        let entries = vec![
            (at(30), PathBuf::from("c")),
            (at(10), PathBuf::from("a")),
            (at(40), PathBuf::from("d")),
            (at(20), PathBuf::from("b")),
        ];
        assert_eq!(
            least_recently_used(entries.clone(), 2),
            [PathBuf::from("b"), PathBuf::from("a")]
        );
        assert!(least_recently_used(entries.clone(), 4).is_empty());
        assert_eq!(least_recently_used(entries, 0).len(), 4);
    }

    #[test]
    fn a_touched_file_keeps_its_bytes_and_is_newer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.cwasm");
        std::fs::write(&path, b"artifact").expect("write");
        let old = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1);
        std::fs::File::open(&path)
            .and_then(|f| f.set_modified(old))
            .expect("age it");
        touch(&path).expect("touch");
        let modified = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .expect("mtime");
        assert!(modified > old);
        assert_eq!(std::fs::read(&path).expect("read"), b"artifact");
    }
}
