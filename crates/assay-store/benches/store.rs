//! Acknowledged webhook ingests per second, and their latency, with group commit against a
//! baseline that commits each event on its own (same schema, same `synchronous=FULL`, same
//! code: a batch limit of 1).
//!
//! Run: `cargo bench -p assay --bench store` (add `--profile dev` to skip a release build;
//! the time goes to SQLite and fsync, which the dev profile optimises too).
//! `ASSAY_BENCH_SECS` sets the seconds per mode and concurrency (default 3), split into
//! rounds that alternate between the two modes so both see the same disk weather;
//! `ASSAY_BENCH_DIR` where the database files go (default: the system temp dir; it must be
//! a real disk, not tmpfs).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use assay_store::{
    IncomingEvent, IngestOutcome, NewOrder, OrderKind, SqliteOptions, SqliteStore, Store, Timestamp,
};
use bytes::Bytes;

const CONCURRENCY: [usize; 3] = [1, 16, 64];
const ROUNDS: u32 = 3;

/// What one mode did at one concurrency, summed over its rounds.
#[derive(Default)]
struct Tally {
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Tally {
    fn per_sec(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&mut self, p: f64) -> Duration {
        self.latencies.sort_unstable();
        let last = self.latencies.len().saturating_sub(1);
        self.latencies
            .get((last as f64 * p).round() as usize)
            .copied()
            .unwrap_or_default()
    }
}

/// A webhook of a realistic size (StackOne's order objects are 1–3 KB).
fn event(round: u32, task: usize, n: usize) -> IncomingEvent {
    let order_id = format!("order-{round}-{task}-{n}");
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

/// `concurrency` tasks ingest back to back for `secs`; each acknowledged ingest's latency
/// goes into `tally`.
async fn round(
    store: &Arc<dyn Store>,
    round: u32,
    concurrency: usize,
    secs: Duration,
    tally: &mut Tally,
) -> anyhow::Result<()> {
    let start = Instant::now();
    let deadline = start + secs;
    let tasks: Vec<_> = (0..concurrency)
        .map(|task| {
            let store = Arc::clone(store);
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut n = 0;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let outcome = store.record_event(event(round, task, n)).await?;
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
    for t in tasks {
        tally.latencies.extend(t.await??);
    }
    tally.elapsed += start.elapsed();
    Ok(())
}

/// The disk's fsync latency (median of 50 appends of 4 KiB, each followed by `fdatasync`):
/// the cost the per-event baseline pays per event and group commit pays per batch, so it
/// decides how far apart the two can be.
fn fsync_latency(dir: &Path) -> anyhow::Result<Duration> {
    use std::io::Write;
    let mut f = std::fs::File::create(dir.join("fsync-probe"))?;
    let mut samples: Vec<Duration> = (0..50)
        .map(|_| {
            let t = Instant::now();
            f.write_all(&[0u8; 4096])?;
            f.sync_data()?;
            Ok(t.elapsed())
        })
        .collect::<std::io::Result<_>>()?;
    samples.sort();
    Ok(samples[samples.len() / 2])
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
    let modes = [
        ("group", SqliteOptions::default()),
        (
            "per-event",
            SqliteOptions {
                max_batch: 1,
                ..SqliteOptions::default()
            },
        ),
    ];
    println!(
        "store ingest benchmark: {:.1} s per case in {ROUNDS} alternating rounds, files in {}, \
         disk fsync p50 {:.2} ms before the run",
        secs.as_secs_f64(),
        base.display(),
        fsync_latency(dir.path())?.as_secs_f64() * 1e3
    );
    println!(
        "{:<10} {:>5} {:>8} {:>9} {:>10} {:>11} {:>9} {:>9}",
        "mode", "conc", "events", "commits", "ev/commit", "ingests/s", "p50 ms", "p99 ms"
    );
    let mut ratios = Vec::new();
    for concurrency in CONCURRENCY {
        let stores = modes
            .iter()
            .map(|(mode, options)| {
                let path = dir.path().join(format!("{mode}-{concurrency}.db"));
                Ok(Arc::new(SqliteStore::open_with(path, *options)?))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut tallies: Vec<Tally> = modes.iter().map(|_| Tally::default()).collect();
        for r in 0..ROUNDS {
            for (store, tally) in stores.iter().zip(&mut tallies) {
                let store: Arc<dyn Store> = store.clone();
                runtime.block_on(round(&store, r, concurrency, secs / ROUNDS, tally))?;
            }
        }
        for (((mode, _), store), tally) in modes.iter().zip(&stores).zip(&mut tallies) {
            let commits = store.write_stats().commits;
            println!(
                "{:<10} {:>5} {:>8} {:>9} {:>10.1} {:>11.0} {:>9.2} {:>9.2}",
                mode,
                concurrency,
                tally.latencies.len(),
                commits,
                tally.latencies.len() as f64 / commits.max(1) as f64,
                tally.per_sec(),
                tally.percentile(0.50).as_secs_f64() * 1e3,
                tally.percentile(0.99).as_secs_f64() * 1e3,
            );
        }
        ratios.push((concurrency, tallies[0].per_sec() / tallies[1].per_sec()));
    }
    println!();
    for (concurrency, ratio) in ratios {
        println!(
            "concurrency {concurrency:>2}: group commit is {ratio:.1}x the per-event baseline"
        );
    }
    Ok(())
}
