//! The limits `config.toml` is checked against that belong to other parts of the host: the
//! plugin runtime's deadline, memory and pool, the worker's fulfilment slots, the store's
//! group commit; and the choice of compiler for plugins (`plugins.compiler`).
//!
//! They are defined here, not where they are enforced, so that checking a configuration needs
//! neither wasmtime, nor SQLite, nor the host: `assay-runtime` re-exports the runtime's limits,
//! `assay-store` the store's and `assay::pipeline` the worker's.

use std::time::Duration;

/// The default deadline of one plugin call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Accepted memory limits of one call, in MiB; the pooling allocator reserves the largest.
pub const MEMORY_LIMIT_MB_RANGE: std::ops::RangeInclusive<u64> = 1..=4096;
/// The default memory limit of one plugin call.
pub const DEFAULT_MEMORY_LIMIT: u64 = 64 * 1024 * 1024;
/// Instances the pooling allocator keeps slots for (concurrent plugin calls). Plugin calls
/// mostly wait on vendor APIs, so a 2-core host runs far more at once than it has cores; past
/// this many, instantiation fails and the call is retried later.
pub const POOL_INSTANCES: u32 = 256;
/// The default bound of one product's concurrent calls: a quarter of the instance pool, so
/// that three products at their bound still leave the pool a quarter.
pub const DEFAULT_MAX_CONCURRENT_CALLS: usize = POOL_INSTANCES as usize / 4;
/// The memory budget used when the machine's memory cannot be read.
pub const FALLBACK_MEMORY_BUDGET: u64 = 2 << 30;

/// The default most requests the store commits in one transaction (`store.max_batch`).
pub const DEFAULT_MAX_BATCH: usize = 256;

/// How many orders are fulfilled at once, all products together.
pub const FULFIL_CONCURRENCY: usize = 16;
/// How many orders of one product are fulfilled at once unless its
/// `max_concurrent_fulfilments` says otherwise: half the slots, so a product whose plugin
/// runs to its deadline leaves the other half to the rest.
pub const DEFAULT_PRODUCT_FULFILMENTS: usize = FULFIL_CONCURRENCY / 2;

/// The default memory budget of all plugin calls together (`plugins.memory_budget_mb`): a
/// quarter of the machine's memory (`MemTotal` of `/proc/meminfo`), or
/// [`FALLBACK_MEMORY_BUDGET`] (2 GiB) where that cannot be read.
pub fn default_memory_budget() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024 / 4)
        })
        .unwrap_or(FALLBACK_MEMORY_BUDGET)
}

/// Which compiler plugins are compiled with (`[plugins] compiler`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CompilerChoice {
    /// Winch first for large components, Cranelift in the background (`assay_runtime::tiering`).
    #[default]
    Tiered,
    /// Cranelift only: a large plugin serves once its optimised code is compiled.
    Cranelift,
    /// Winch only: the fastest load and the slowest calls, never optimised.
    Winch,
}

impl CompilerChoice {
    /// The configuration's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tiered => "tiered",
            Self::Cranelift => "cranelift",
            Self::Winch => "winch",
        }
    }

    /// Parses the configuration's word.
    pub fn parse(word: &str) -> Option<Self> {
        match word {
            "tiered" => Some(Self::Tiered),
            "cranelift" => Some(Self::Cranelift),
            "winch" => Some(Self::Winch),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_choice_reads_back_its_own_words() {
        for choice in [
            CompilerChoice::Tiered,
            CompilerChoice::Cranelift,
            CompilerChoice::Winch,
        ] {
            assert_eq!(CompilerChoice::parse(choice.as_str()), Some(choice));
        }
        assert_eq!(CompilerChoice::parse("llvm"), None);
        assert_eq!(CompilerChoice::default(), CompilerChoice::Tiered);
    }
}
