//! The figures as Markdown tables, and the targets they are held to.

use std::fmt::Write as _;
use std::time::Duration;

use crate::postgres::PgIngest;
use crate::scenarios::{Ingest, PackageList, Pipeline, Reload, Start};
use crate::wrk::Load;

/// Everything one run measured; the load scenarios are `None` when wrk was missing (smoke run
/// only).
pub struct Figures {
    pub package_list: Option<PackageList>,
    pub ingest: Option<Ingest>,
    /// Item 2 on PostgreSQL; `None` where PostgreSQL (or wrk) is not installed (smoke run only).
    pub ingest_postgres: Option<PgIngest>,
    pub reload: Option<Reload>,
    pub starts: Vec<Start>,
    pub pipeline: Pipeline,
}

/// One target of the issue and whether this run met it.
pub struct Target {
    pub what: String,
    pub measured: String,
    pub met: bool,
}

const MIB: f64 = 1024.0 * 1024.0;

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

fn rate(r: f64) -> String {
    if r >= 100.0 {
        let whole = r.round() as u64;
        let (thousands, rest) = (whole / 1000, whole % 1000);
        if thousands > 0 {
            format!("{thousands},{rest:03}")
        } else {
            whole.to_string()
        }
    } else {
        format!("{r:.1}")
    }
}

pub fn median(values: &[Duration]) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

fn max(values: &[Duration]) -> Duration {
    values.iter().max().copied().unwrap_or_default()
}

pub fn targets(f: &Figures) -> Vec<Target> {
    let mut out = Vec::new();
    if let Some(pl) = &f.package_list
        && let Some(top) = pl.levels.last()
    {
        let worst = pl
            .levels
            .iter()
            .map(|l| (l.concurrency, l.assay.per_sec() / l.bare.per_sec()))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((0, 0.0));
        out.push(Target {
            what:
                "package list, plugin called every time: Assay ≥ 0.5× the bare server's throughput"
                    .into(),
            measured: format!("lowest {:.2}× (at concurrency {})", worst.1, worst.0),
            met: worst.1 >= 0.5,
        });
        let worst_cached = pl
            .levels
            .iter()
            .map(|l| (l.concurrency, l.cached.per_sec() / l.bare.per_sec()))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((0, 0.0));
        out.push(Target {
            what: "package list, warm cache: Assay ≥ 0.8× the bare server's throughput".into(),
            measured: format!(
                "lowest {:.2}× (at concurrency {})",
                worst_cached.1, worst_cached.0
            ),
            met: worst_cached.1 >= 0.8,
        });
        out.push(Target {
            what: format!(
                "package list, plugin called every time: p99 < 2 ms at concurrency {}",
                top.concurrency
            ),
            measured: ms(top.assay.p99),
            met: top.assay.p99 < Duration::from_millis(2),
        });
        out.push(Target {
            what: format!(
                "package list, warm cache: p99 < 2 ms at concurrency {}",
                top.concurrency
            ),
            measured: ms(top.cached.p99),
            met: top.cached.p99 < Duration::from_millis(2),
        });
    }
    if let Some(top) = f.ingest.as_ref().and_then(|i| i.levels.last()) {
        let c = top.concurrency;
        out.push(Target {
            what: format!("webhook ingest: ≥ 2,000 durable webhooks/s at concurrency {c}"),
            measured: format!("{}/s", rate(top.group.per_sec())),
            met: top.group.per_sec() >= 2000.0,
        });
        let ratio = top.group.per_sec() / top.per_event.per_sec();
        out.push(Target {
            what: format!("webhook ingest: ≥ 8× one-commit-per-event at concurrency {c}"),
            measured: format!("{ratio:.1}×"),
            met: ratio >= 8.0,
        });
        out.push(Target {
            what: format!("webhook ingest: p99 < 50 ms at concurrency {c}"),
            measured: ms(top.group.p99),
            met: top.group.p99 < Duration::from_millis(50),
        });
    }
    for run in f.ingest_postgres.iter().flat_map(|p| &p.runs) {
        let (hosts, c) = (run.hosts, run.concurrency);
        let on = format!(
            "webhook ingest on PostgreSQL, {hosts} host{}",
            plural(hosts)
        );
        out.push(Target {
            what: format!("{on}: ≥ 2,000 durable webhooks/s at concurrency {c}"),
            measured: format!("{}/s", rate(run.rate())),
            met: run.rate() >= 2000.0,
        });
        out.push(Target {
            what: format!("{on}: p99 < 50 ms at concurrency {c}"),
            measured: ms(run.p99()),
            met: run.p99() < Duration::from_millis(50),
        });
    }
    if let Some(r) = &f.reload {
        out.push(Target {
            what: format!(
                "reload under load: 0 failed requests over {} swaps",
                r.swaps.len()
            ),
            measured: format!("{} failed of {}", r.load.failed, r.load.requests),
            met: r.load.failed == 0 && r.swaps_under_load == r.swaps.len(),
        });
    }
    if let Some(ten) = f.starts.iter().find(|s| s.products == 10) {
        out.push(Target {
            what: "memory: < 64 MiB resident, idle, 10 products".into(),
            measured: format!("{:.1} MiB", ten.idle.resident as f64 / MIB),
            met: ten.idle.resident < 64 * 1024 * 1024,
        });
    }
    out
}

pub fn markdown(f: &Figures) -> String {
    let mut s = String::new();
    match &f.package_list {
        Some(pl) => package_list(&mut s, pl),
        None => not_run(&mut s, "1. Package list"),
    }
    match &f.ingest {
        Some(ing) => ingest(&mut s, ing),
        None => not_run(&mut s, "2. Durable webhook ingest"),
    }
    if let Some(pg) = &f.ingest_postgres {
        ingest_postgres(&mut s, pg, f.ingest.as_ref());
    }
    match &f.reload {
        Some(r) => reload(&mut s, r),
        None => not_run(&mut s, "3. Reload under load"),
    }
    let _ = writeln!(
        s,
        "\n### 4. Start to ready (`assay serve` spawned → `/readyz` 200)\n\n\
         Each product has its own plugin file (distinct bytes), so a cold start compiles \
         every one. Median of {} runs.\n\n\
         | products | artifact cache cold | artifact cache warm |\n|---:|---:|---:|",
        f.starts.first().map_or(0, |s| s.cold.len())
    );
    for st in &f.starts {
        let _ = writeln!(
            s,
            "| {} | {} | {} |",
            st.products,
            ms(median(&st.cold)),
            ms(median(&st.warm))
        );
    }

    let _ = writeln!(
        s,
        "\n### 5. Memory (resident set, from `/proc/<pid>/status`)\n\n\
         | process | resident |\n|---|---:|"
    );
    for st in &f.starts {
        let _ = writeln!(
            s,
            "| Assay, {} product(s), idle 1 s after ready | {:.1} MiB |",
            st.products,
            st.idle.resident as f64 / MIB
        );
    }
    if let Some(pl) = &f.package_list {
        let _ = writeln!(
            s,
            "| Assay, peak over the package-list runs (up to concurrency {}) | {:.1} MiB |\n\
             | bare server, peak over the same runs | {:.1} MiB |",
            pl.levels.last().map_or(0, |l| l.concurrency),
            pl.assay_memory.peak as f64 / MIB,
            pl.bare_memory.peak as f64 / MIB,
        );
    }

    let p = &f.pipeline;
    let _ = writeln!(
        s,
        "\n### 6. Pipeline, end to end\n\n\
         {} orders: signed webhook → store → plugin fulfils against the demo vendor → \
         \"initiated\" update to the emulator → candidate completes → vendor's signed callback \
         → plugin → final result delivered to the emulator (schema-checked: {} of {} updates \
         invalid).\n\n\
         | orders | webhooks acknowledged in | all final results delivered in | orders/s | host CPU per order |\n|---:|---:|---:|---:|---:|\n\
         | {} | {} | {} | {} | {} |",
        p.orders,
        p.invalid,
        p.deliveries,
        p.orders,
        ms(p.webhooks_sent),
        ms(p.elapsed),
        rate(p.orders as f64 / p.elapsed.as_secs_f64()),
        us(p.host_cpu / p.orders.max(1) as u32),
    );

    let _ = writeln!(
        s,
        "\n### Targets\n\n| target | this run | met |\n|---|---:|:---:|"
    );
    for t in targets(f) {
        let _ = writeln!(
            s,
            "| {} | {} | {} |",
            t.what,
            t.measured,
            if t.met { "yes" } else { "**no**" }
        );
    }
    s
}

/// A load scenario's heading, for a smoke run without wrk.
/// Item 2's tables alone: SQLite's ingest and PostgreSQL's (`ASSAY_BENCH_ONLY`).
pub fn ingest_tables(sqlite: &Ingest, pg: &PgIngest) -> String {
    let mut s = String::new();
    ingest(&mut s, sqlite);
    ingest_postgres(&mut s, pg, Some(sqlite));
    s
}

fn not_run(s: &mut String, heading: &str) {
    let _ = writeln!(s, "### {heading}\n\nNot run: wrk is not installed.\n");
}

fn package_list(s: &mut String, pl: &PackageList) {
    let _ = writeln!(
        s,
        "### 1. Package list (POST, Basic auth + signature, then the cache or a fresh plugin instance, JSON)\n\n\
         The bare server is hyper's HTTP/1 server answering the same {} JSON bytes without \
         auth, signature, plugin or store.\n",
        pl.answer_bytes
    );
    let _ = writeln!(
        s,
        "Assay answers two products of the same plugin on one host: one whose package list the \
         plugin lets the host cache (contract 0.2.0's freshness hint; warm: every request is a \
         hit), and one that sets `packages_max_age_s = \"0\"`, so every request runs the plugin \
         in a fresh instance. The three run in turn at each concurrency, in a rotating order.\n\n\
         Warm cache against the bare server:\n"
    );
    side_by_side(
        s,
        ["bare", "Assay, warm cache", "cached / bare"],
        pl.levels
            .iter()
            .map(|l| (l.concurrency, &l.bare, &l.cached)),
    );
    let _ = writeln!(
        s,
        "\nPlugin called on every request, against the bare server:\n"
    );
    side_by_side(
        s,
        ["bare", "Assay, uncached", "uncached / bare"],
        pl.levels.iter().map(|l| (l.concurrency, &l.bare, &l.assay)),
    );
}

fn ingest(s: &mut String, ing: &Ingest) {
    let _ = writeln!(
        s,
        "\n### 2. Durable webhook ingest (`synchronous=FULL`, acknowledged after commit)\n\n\
         Distinct signed order webhooks of {} bytes. Baseline: the same binary with \
         `store.max_batch = 1`, which commits each write on its own. Each run is a fresh \
         `assay serve` whose worker fulfils the orders against the demo vendor while they \
         arrive. {} webhooks acknowledged in the group-commit runs, {} orders in their stores \
         afterwards (wrk stops at its deadline without reading the answers in flight, whose \
         webhooks are committed all the same).\n",
        ing.body_bytes, ing.acknowledged, ing.stored
    );
    side_by_side(
        s,
        ["per-event commits", "group commit", "group / per-event"],
        ing.levels
            .iter()
            .map(|l| (l.concurrency, &l.per_event, &l.group)),
    );
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn ingest_postgres(s: &mut String, pg: &PgIngest, sqlite: Option<&Ingest>) {
    let set = &pg.settings;
    let c = pg.runs.first().map_or(0, |r| r.concurrency);
    let _ = writeln!(
        s,
        "\nOn PostgreSQL, concurrency {c}, same run: PostgreSQL {}, a throw-away server on the \
         same machine and disk (`fsync = {}`, `synchronous_commit = {}`, `wal_sync_method = \
         {}`, `full_page_writes = {}`, `commit_delay = {}`, as the server reports them). Each \
         host is a fresh `assay serve` (default `store.max_batch`) whose worker fulfils the \
         orders meanwhile. Two hosts: two wrk runs at the same time, {} connections to each; \
         the rate is their sum, p50 and p99 the worse host's. CPU columns are per acknowledged \
         webhook; \"ingest commits\" are the hosts' group commits of webhooks (mean batch in \
         parentheses), \"all commits\" every transaction committed in the database (ingest, \
         claims, fulfilment, outbox), \"WAL flushes\" the server's (`pg_stat_wal.wal_sync`), \"fulfilled\" the orders the \
         workers had fulfilled when the load ended, per second of load. \
         {} webhooks acknowledged, {} orders in the databases afterwards.\n",
        set.version,
        set.fsync,
        set.synchronous_commit,
        set.wal_sync_method,
        set.full_page_writes,
        set.commit_delay,
        c / 2,
        pg.runs.iter().map(|r| r.acknowledged()).sum::<u64>(),
        pg.runs.iter().map(|r| r.stored).sum::<u64>(),
    );
    let _ = writeln!(
        s,
        "| store | hosts | acknowledged /s | p50 | p99 | host CPU | PostgreSQL CPU | ingest commits /s | all commits /s | WAL flushes /s | fulfilled /s | failed |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    if let Some(top) = sqlite.and_then(|i| i.levels.iter().find(|l| l.concurrency == c)) {
        let g = &top.group;
        let _ = writeln!(
            s,
            "| SQLite (group commit, above) | 1 | {} | {} | {} | {} | – | – | – | – | – | {} |",
            rate((g.requests - g.failed) as f64 / g.duration.as_secs_f64().max(1e-9)),
            ms(g.p50),
            ms(g.p99),
            us(g.cpu_per_request()),
            g.failed
        );
    }
    for run in &pg.runs {
        let secs = run.duration().as_secs_f64().max(1e-9);
        let per_webhook = |d: Duration| us(d / run.acknowledged().max(1) as u32);
        let _ = writeln!(
            s,
            "| PostgreSQL | {} | {} | {} | {} | {} | {} | {} ({:.1}) | {} | {} | {} | {} |",
            run.hosts,
            rate(run.rate()),
            ms(run.p50()),
            ms(run.p99()),
            per_webhook(run.host_cpu),
            per_webhook(run.postgres_cpu),
            rate(run.ingest_commits as f64 / secs),
            run.ingest_events as f64 / run.ingest_commits.max(1) as f64,
            rate(run.commits as f64 / secs),
            rate(run.wal_syncs as f64 / secs),
            rate(run.fulfilled as f64 / secs),
            run.failed(),
        );
    }
}

fn reload(s: &mut String, r: &Reload) {
    let _ = writeln!(
        s,
        "\n### 3. Reload under load\n\n\
         {} swaps of the plugin file (new bytes each time, so each includes a compile) while \
         the package list runs at concurrency {}; {} of them while the load ran.\n\n\
         | requests | failed | rename → new generation, median | p90 | max |\n|---:|---:|---:|---:|---:|\n\
         | {} | {} | {} | {} | {} |",
        r.swaps.len(),
        r.connections,
        r.swaps_under_load,
        r.load.requests,
        r.load.failed,
        ms(median(&r.swaps)),
        ms(percentile(&r.swaps, 0.9)),
        ms(max(&r.swaps)),
    );
}

/// A table of a baseline and Assay's figure, per concurrency level: `names` are the
/// baseline's, the measured one's, and their ratio's column titles.
fn side_by_side<'a>(
    s: &mut String,
    [baseline, measured, ratio]: [&str; 3],
    levels: impl Iterator<Item = (usize, &'a Load, &'a Load)>,
) {
    let _ = writeln!(
        s,
        "| concurrency | {baseline} /s | p50 | p99 | CPU/request | {measured} /s | p50 | p99 | CPU/request | {ratio} | failed |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for (concurrency, base, this) in levels {
        let _ = writeln!(
            s,
            "| {concurrency} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2}× | {} |",
            rate(base.per_sec()),
            ms(base.p50),
            ms(base.p99),
            us(base.cpu_per_request()),
            rate(this.per_sec()),
            ms(this.p50),
            ms(this.p99),
            us(this.cpu_per_request()),
            this.per_sec() / base.per_sec(),
            this.failed + base.failed,
        );
    }
}

fn percentile(values: &[Duration], p: f64) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}
