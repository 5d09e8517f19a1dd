//! Assay against baselines, side by side, in one run: the figures of `BENCHMARKS.md`.
//!
//! ```sh
//! cargo bench -p assay --bench compare     # full run (~5 min + first build), rewrites BENCHMARKS.md
//! cargo test -p assay --bench compare      # the smoke run CI does: seconds, checks, no file
//! ```
//!
//! What runs, each server in a process of its own on loopback, loaded by `wrk`:
//!
//! 1. the Package's List Endpoint through `assay serve` against a bare hyper server answering
//!    the same bytes, at concurrency 1, 16 and 64: a product whose list is in the host's cache
//!    (warm), and one that runs the plugin on every request;
//! 2. durable webhook ingest with group commit against the same binary committing each write
//!    on its own (`store.max_batch = 1`), at the same concurrencies; then at the highest
//!    concurrency with the store on PostgreSQL (`fsync` and `synchronous_commit` on), one
//!    host and two hosts on one database (module `postgres`);
//! 3. 50 plugin swaps while the package list is under load: failed requests and the time from
//!    rename to the new generation;
//! 4. start to ready with 1 and 10 products, artifact cache cold and warm;
//! 5. resident memory idle and at peak;
//! 6. orders per second end to end: webhook, fulfilment against the demo vendor, the vendor's
//!    callback, result delivery to the StackOne emulator.
//!
//! The example plugin `codetest` is built from source first. `wrk` and PostgreSQL's server
//! binaries come from the machine and are never installed by the benchmark: without one the
//! full run stops and says what to install, and the smoke run skips what needs it (without
//! wrk items 1 to 3 and the peak memory of item 5; without PostgreSQL item 2's PostgreSQL
//! runs) with one line saying so, unless `ASSAY_REQUIRE_ALL=1`, which makes a missing tool a
//! failure (CI sets it).
//! Everything else is this repository's code. Environment: `ASSAY_BENCH_SECS` (seconds per
//! load run, default 5), `ASSAY_BENCH_EVENTS` (distinct webhooks prepared per ingest run),
//! `ASSAY_BENCH_DIR` (where the deployments go; a real disk, default `target/assay-bench`),
//! `ASSAY_WRK` (the wrk program, default `wrk` on the PATH).
//!
//! `ASSAY_BENCH_ONLY=ingest-postgres` runs item 2 at the highest concurrency only, SQLite
//! (group commit and per-event) then PostgreSQL with one and two hosts, and prints their
//! tables without touching BENCHMARKS.md: about a minute, for measuring a change to the
//! PostgreSQL store before and after in one session. It needs wrk and PostgreSQL.

mod postgres;
mod process;
mod report;
mod scenarios;
mod setup;
mod wrk;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;

/// How big a run is.
struct Settings {
    /// Seconds of each load run.
    seconds: u64,
    /// Requests in flight, for items 1 and 2; the last is item 3's.
    concurrency: Vec<usize>,
    /// Distinct webhooks prepared for each ingest run.
    events_per_run: u64,
    /// Plugin swaps of item 3.
    swaps: usize,
    /// Starts of item 4, per product count and cache state.
    starts: usize,
    /// Orders of item 6.
    pipeline_orders: usize,
}

impl Settings {
    fn from_env(smoke: bool) -> anyhow::Result<Settings> {
        let number = |name: &str, default: u64| -> anyhow::Result<u64> {
            match std::env::var(name) {
                Ok(v) => v
                    .parse()
                    .with_context(|| format!("{name}={v} is not a number")),
                Err(_) => Ok(default),
            }
        };
        let seconds = number("ASSAY_BENCH_SECS", if smoke { 1 } else { 5 })?.max(1);
        Ok(Settings {
            seconds,
            concurrency: vec![1, 16, 64],
            events_per_run: number("ASSAY_BENCH_EVENTS", seconds * 20_000)?,
            swaps: if smoke { 3 } else { 50 },
            starts: if smoke { 1 } else { 5 },
            pipeline_orders: if smoke { 20 } else { 1_000 },
        })
    }
}

fn main() -> ExitCode {
    if let Some(answer) = std::env::var_os(process::BARE_ROLE) {
        let listen = std::env::var(process::BARE_LISTEN).unwrap_or_default();
        return match process::run_bare(Path::new(&answer), &listen) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("bare server: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    // `cargo bench` passes --bench; `cargo test` runs this binary without it: the smoke run.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(run(smoke)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("benchmark failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(smoke: bool) -> anyhow::Result<()> {
    let settings = Settings::from_env(smoke)?;
    let work = match std::env::var_os("ASSAY_BENCH_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => setup::repo_root().join("target").join("assay-bench"),
    };
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let wrk = wrk::Wrk::locate(&work)?;
    if wrk.is_none() {
        let install = wrk::INSTALL;
        anyhow::ensure!(
            smoke && !require_all(),
            "the load scenarios need wrk, which is not installed: `{install}` \
             (macOS: `brew install wrk`), or set {} to its path",
            wrk::PROGRAM_VAR
        );
        eprintln!("skipping the load scenarios 1-3: wrk is not installed (`{install}` runs them)");
    }
    let postgres = postgres::installed();
    if !postgres {
        let install = postgres::INSTALL;
        anyhow::ensure!(
            smoke && !require_all(),
            "webhook ingest on PostgreSQL needs PostgreSQL's server binaries, which are not \
             installed: `{install}`"
        );
        eprintln!(
            "skipping webhook ingest on PostgreSQL: PostgreSQL is not installed (`{install}` runs it)"
        );
    }
    eprintln!("building the example plugin codetest…");
    let plugin = setup::build_codetest()?;
    if let Some(only) = only()? {
        return run_only(only, settings, &work, wrk.as_ref(), postgres, &plugin).await;
    }
    let began = Instant::now();

    let step = |what: &str| eprintln!("[{:>5.1}s] {what}", began.elapsed().as_secs_f64());
    let (mut package_list, mut ingest, mut ingest_postgres, mut reload) = (None, None, None, None);
    if let Some(wrk) = &wrk {
        step("1. package list: bare hyper vs assay serve");
        package_list = Some(scenarios::package_list(&settings, wrk, &work, &plugin).await?);
        step("2. webhook ingest: per-event commits vs group commit");
        ingest = Some(scenarios::ingest(&settings, wrk, &work, &plugin).await?);
        if postgres {
            step("2. webhook ingest on PostgreSQL: one host, two hosts");
            ingest_postgres = Some(postgres::ingest(&settings, wrk, &work, &plugin).await?);
        }
        step("3. reload under load");
        reload = Some(scenarios::reload_under_load(&settings, wrk, &work, &plugin).await?);
    }
    step("4./5. start to ready, idle memory");
    let mut starts = Vec::new();
    for products in [1, 10] {
        starts.push(scenarios::start(&settings, &work, &plugin, products).await?);
    }
    step("6. pipeline end to end");
    let pipeline = scenarios::pipeline(&settings, &work, &plugin).await?;
    step("done");

    let figures = report::Figures {
        package_list,
        ingest,
        ingest_postgres,
        reload,
        starts,
        pipeline,
    };
    let tables = report::markdown(&figures);
    let machine = machine(&work, wrk.as_ref())?;
    println!("\n{machine}\n{tables}");
    if smoke {
        smoke_checks(&figures)
    } else {
        let file = setup::repo_root().join("BENCHMARKS.md");
        write_generated(&file, &format!("{machine}\n{tables}"))?;
        println!("written to {}", file.display());
        Ok(())
    }
}

/// A part of the run chosen by `ASSAY_BENCH_ONLY`.
#[derive(Clone, Copy)]
enum Only {
    /// Item 2 at the highest concurrency: SQLite, then PostgreSQL with one and two hosts.
    IngestPostgres,
}

/// `ASSAY_BENCH_ONLY`, if set.
fn only() -> anyhow::Result<Option<Only>> {
    match std::env::var("ASSAY_BENCH_ONLY") {
        Err(_) => Ok(None),
        Ok(v) if v == "ingest-postgres" => Ok(Some(Only::IngestPostgres)),
        Ok(v) => anyhow::bail!(
            "ASSAY_BENCH_ONLY={v} names no part of the run; the one known is `ingest-postgres`"
        ),
    }
}

/// Runs only the part `only` names and prints its tables; BENCHMARKS.md is left alone.
async fn run_only(
    only: Only,
    mut settings: Settings,
    work: &Path,
    wrk: Option<&wrk::Wrk>,
    postgres: bool,
    plugin: &[u8],
) -> anyhow::Result<()> {
    match only {
        Only::IngestPostgres => {
            let wrk = wrk.context("ASSAY_BENCH_ONLY=ingest-postgres needs wrk")?;
            anyhow::ensure!(
                postgres,
                "ASSAY_BENCH_ONLY=ingest-postgres needs PostgreSQL: `{}`",
                postgres::INSTALL
            );
            let top = *settings.concurrency.last().context("no concurrency")?;
            settings.concurrency = vec![top];
            eprintln!("2. webhook ingest at concurrency {top}: per-event commits vs group commit");
            let ingest = scenarios::ingest(&settings, wrk, work, plugin).await?;
            eprintln!("2. webhook ingest on PostgreSQL: one host, two hosts");
            let pg = postgres::ingest(&settings, wrk, work, plugin).await?;
            let machine = machine(work, Some(wrk))?;
            println!("\n{machine}\n{}", report::ingest_tables(&ingest, &pg));
            Ok(())
        }
    }
}

/// What the smoke run holds the figures to: every part ran, nothing failed, nothing was
/// lost. Speed targets are for the full run on a quiet machine, not for CI.
fn smoke_checks(f: &report::Figures) -> anyhow::Result<()> {
    for l in f.package_list.iter().flat_map(|p| &p.levels) {
        anyhow::ensure!(
            l.bare.requests > 0 && l.assay.requests > 0 && l.cached.requests > 0,
            "package list at {}: no requests completed",
            l.concurrency
        );
        anyhow::ensure!(
            l.assay.failed == 0 && l.cached.failed == 0 && l.bare.failed == 0,
            "package list at {}: {} Assay, {} cached Assay and {} bare requests failed",
            l.concurrency,
            l.assay.failed,
            l.cached.failed,
            l.bare.failed
        );
    }
    if let Some(ingest) = &f.ingest {
        for l in &ingest.levels {
            anyhow::ensure!(
                l.group.failed == 0 && l.per_event.failed == 0 && l.group.requests > 0,
                "ingest at {}: failed webhooks or none acknowledged",
                l.concurrency
            );
        }
        // More may be stored than acknowledged: wrk stops at its deadline without waiting for
        // the answers in flight, whose webhooks were committed all the same.
        anyhow::ensure!(
            ingest.stored >= ingest.acknowledged,
            "ingest: {} webhooks acknowledged but only {} orders stored",
            ingest.acknowledged,
            ingest.stored
        );
    }
    for run in f.ingest_postgres.iter().flat_map(|p| &p.runs) {
        anyhow::ensure!(
            run.failed() == 0 && run.acknowledged() > 0,
            "ingest on PostgreSQL with {} host(s): {} failed webhooks, {} acknowledged",
            run.hosts,
            run.failed(),
            run.acknowledged()
        );
        anyhow::ensure!(
            run.stored >= run.acknowledged(),
            "ingest on PostgreSQL with {} host(s): {} webhooks acknowledged but only {} orders \
             stored",
            run.hosts,
            run.acknowledged(),
            run.stored
        );
    }
    if let Some(reload) = &f.reload {
        anyhow::ensure!(
            reload.load.failed == 0 && reload.swaps_under_load == reload.swaps.len(),
            "reload: {} failed requests (connect, read, write, status, timeout: {:?}), {} of {} \
             swaps under load",
            reload.load.failed,
            reload.load.failures,
            reload.swaps_under_load,
            reload.swaps.len()
        );
    }
    anyhow::ensure!(
        f.pipeline.invalid == 0,
        "pipeline: {} result updates broke StackOne's schema",
        f.pipeline.invalid
    );
    let ran = match (&f.package_list, &f.ingest_postgres) {
        (Some(_), Some(_)) => "every scenario ran",
        (Some(_), None) => "every scenario ran but ingest on PostgreSQL (not installed)",
        (None, _) => "scenarios 4-6 ran (1-3 need wrk)",
    };
    println!("smoke run: {ran}; no request failed, no order lost");
    Ok(())
}

/// Whether a tool the run needs but cannot find is a failure rather than a skip: the
/// project's convention for tests that need more than rustup (`ASSAY_REQUIRE_ALL=1`, set by
/// CI).
fn require_all() -> bool {
    std::env::var_os("ASSAY_REQUIRE_ALL").is_some_and(|v| v == "1")
}

/// Replaces the part of `file` between the generated-section markers (the prose around it is
/// written by hand and kept).
fn write_generated(file: &Path, generated: &str) -> anyhow::Result<()> {
    const START: &str = "<!-- generated by `cargo bench -p assay --bench compare`: start -->";
    const END: &str = "<!-- generated: end -->";
    let old = std::fs::read_to_string(file).unwrap_or_default();
    let new = match (old.find(START), old.find(END)) {
        (Some(a), Some(b)) if a < b => {
            format!("{}{START}\n{generated}\n{}", &old[..a], &old[b..])
        }
        _ => format!("# Benchmarks\n\n{START}\n{generated}\n{END}\n{old}"),
    };
    std::fs::write(file, new).with_context(|| format!("writing {}", file.display()))
}

/// The machine and the run, for the report's header.
fn machine(work: &Path, wrk: Option<&wrk::Wrk>) -> anyhow::Result<String> {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let meminfo = read("/proc/meminfo");
    let mem_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = read("/proc/sys/kernel/osrelease");
    let commit = std::process::Command::new("git")
        .args([
            "-C",
            &setup::repo_root().display().to_string(),
            "describe",
            "--always",
            "--dirty",
        ])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let profile = if cfg!(debug_assertions) {
        "dev (unoptimised host crate)"
    } else {
        "bench (release)"
    };
    Ok(format!(
        "Run of `cargo bench -p assay --bench compare` on {date}, commit `{commit}`, profile \
         {profile}.\n\n\
         Machine: {cores} cores ({cpu}), {mem_gib:.0} GiB, Linux {kernel}; fsync (4 KiB \
         append + fdatasync) median {fsync} on the store's disk; load from {wrk} on the same \
         machine, so the load generator and the server under test share the cores.\n",
        date = httpdate::fmt_http_date(std::time::SystemTime::now()),
        kernel = kernel.trim(),
        fsync = format_args!("{:.2} ms", fsync_latency(work)?.as_secs_f64() * 1e3),
        wrk = wrk.map_or_else(|| "wrk (not installed)".to_owned(), wrk::Wrk::version),
    ))
}

/// The disk's fsync latency (median of 50 appends of 4 KiB, each followed by `fdatasync`):
/// what a per-event commit pays per event and group commit pays per batch.
fn fsync_latency(dir: &Path) -> anyhow::Result<Duration> {
    use std::io::Write as _;
    let path = dir.join("fsync-probe");
    let mut f = std::fs::File::create(&path)?;
    let mut samples = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        f.write_all(&[0u8; 4096])?;
        f.sync_data()?;
        samples.push(t.elapsed());
    }
    std::fs::remove_file(&path)?;
    Ok(report::median(&samples))
}
