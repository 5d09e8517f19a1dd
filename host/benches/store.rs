//! Acknowledged webhook ingests per second, and their latency, with group commit against a
//! baseline that commits each event on its own (same schema, same `synchronous=FULL`, same
//! code: a batch limit of 1).
//!
//! Run: `cargo bench -p assay --bench store` (add `--profile dev` to skip a release build;
//! the time goes to SQLite and fsync, which the dev profile optimises too).
//! `ASSAY_BENCH_SECS` sets the seconds per case (default 3), `ASSAY_BENCH_DIR` where the
//! database files go (default: the system temp dir; it must be a real disk, not tmpfs).

use std::sync::Arc;
use std::time::{Duration, Instant};

use assay::store::{
    IncomingEvent, IngestOutcome, NewOrder, OrderKind, SqliteOptions, SqliteStore, Store, Timestamp,
};
use bytes::Bytes;

const CONCURRENCY: [usize; 3] = [1, 16, 64];

struct Case {
    mode: &'static str,
    concurrency: usize,
    events: usize,
    elapsed: Duration,
    commits: u64,
    p50: Duration,
    p99: Duration,
}

impl Case {
    fn per_sec(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }
}

/// A webhook of a realistic size (StackOne's order objects are 1–3 KB).
fn event(task: usize, n: usize) -> IncomingEvent {
    let order_id = format!("order-{task}-{n}");
    let order_json = format!(
        r#"{{"id":"{order_id}","package":{{"id":"pkg-1","name":"Rust senior"}},"candidate":{{"first_name":"Ada","last_name":"Lovelace","emails":[{{"type":"personal","value":"ada@example.com"}}]}},"job":{{"title":"Engineer","hiring_team":[]}},"padding":"{}"}}"#,
        "x".repeat(1200)
    );
    IncomingEvent {
        product: "bench".into(),
        event_name: "ats_assessments.created".into(),
        idempotency_key: format!("{order_id}:ats_assessments.created"),
        received_at: Timestamp::now(),
        envelope: Bytes::from(format!(
            r#"{{"event":"ats_assessments.created","data":{order_json}}}"#
        )),
        order: Some(NewOrder {
            order_id,
            kind: OrderKind::Assessment,
            account_id: "456551489512493414".into(),
            provider: Some("recruitee".into()),
            package_id: Some("pkg-1".into()),
            candidate_label: Some("Ada Lovelace <ada@example.com>".into()),
            order_json,
        }),
    }
}

async fn run_case(
    dir: &std::path::Path,
    mode: &'static str,
    options: SqliteOptions,
    concurrency: usize,
    secs: Duration,
) -> anyhow::Result<Case> {
    let path = dir.join(format!("{mode}-{concurrency}.db"));
    let sqlite = Arc::new(SqliteStore::open_with(&path, options)?);
    let store: Arc<dyn Store> = sqlite.clone();
    let start = Instant::now();
    let deadline = start + secs;
    let tasks: Vec<_> = (0..concurrency)
        .map(|task| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut n = 0;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let outcome = store.record_event(event(task, n)).await?;
                    latencies.push(t.elapsed());
                    anyhow::ensure!(
                        matches!(outcome, IngestOutcome::Accepted { .. }),
                        "unexpected {outcome:?}"
                    );
                    n += 1;
                }
                anyhow::Ok(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await??);
    }
    let elapsed = start.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p).round() as usize];
    Ok(Case {
        mode,
        concurrency,
        events: latencies.len(),
        elapsed,
        commits: sqlite.write_stats().commits,
        p50: pct(0.50),
        p99: pct(0.99),
    })
}

fn main() -> anyhow::Result<()> {
    let secs = std::env::var("ASSAY_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(Duration::from_secs(3), Duration::from_secs_f64);
    let base = std::env::var_os("ASSAY_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    let dir = tempfile::tempdir_in(&base)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let group = SqliteOptions::default();
    let baseline = SqliteOptions {
        max_batch: 1,
        ..SqliteOptions::default()
    };
    println!(
        "store ingest benchmark: {} s per case, files in {}",
        secs.as_secs_f64(),
        base.display()
    );
    println!(
        "{:<10} {:>5} {:>8} {:>9} {:>11} {:>9} {:>9}",
        "mode", "conc", "events", "commits", "ingests/s", "p50 ms", "p99 ms"
    );
    let mut results = Vec::new();
    for concurrency in CONCURRENCY {
        for (mode, options) in [("group", group), ("per-event", baseline)] {
            let case = runtime.block_on(run_case(dir.path(), mode, options, concurrency, secs))?;
            println!(
                "{:<10} {:>5} {:>8} {:>9} {:>11.0} {:>9.2} {:>9.2}",
                case.mode,
                case.concurrency,
                case.events,
                case.commits,
                case.per_sec(),
                case.p50.as_secs_f64() * 1e3,
                case.p99.as_secs_f64() * 1e3,
            );
            results.push(case);
        }
    }
    println!();
    for pair in results.chunks(2) {
        if let [g, b] = pair {
            println!(
                "concurrency {:>2}: group commit is {:.1}x the per-event baseline",
                g.concurrency,
                g.per_sec() / b.per_sec()
            );
        }
    }
    Ok(())
}
