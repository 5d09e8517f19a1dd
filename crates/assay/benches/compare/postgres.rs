//! Item 2 on PostgreSQL: durable webhook ingest with the store on PostgreSQL, one host and two
//! hosts on one database, at the highest concurrency, in the same run as SQLite's figure.
//!
//! The server is a throw-away PostgreSQL from the machine's binaries
//! (`assay_store::postgres::testing`), on the same machine and disk as the hosts, started with
//! `fsync = on`; the store commits with `synchronous_commit = on`, so a webhook is answered
//! 2xx only after its order's commit reached the disk. The scenario reads the settings back
//! from the server (`SHOW …`) for the report and refuses to measure a server that would not
//! be durable.
//!
//! Each host is a fresh `assay serve` with the default `store.max_batch`, its worker fulfilling
//! the orders against the demo vendor meanwhile, as in the SQLite runs. With two hosts, two
//! wrk processes run at the same time, each with half the connections to one host, each
//! replaying its own distinct webhooks: the acknowledged rate is their sum, p50 and p99 the
//! worse of the two.
//!
//! Where the time goes, per run: the hosts' CPU, PostgreSQL's CPU (the postmaster and every
//! backend alive at the end of the run, from `/proc`), the ingest commits and their mean batch
//! (the hosts' `assay_store_batch_size` histogram), and from the server's statistics every
//! commit of the database (ingest, claims, fulfilment, outbox) and the WAL flushes
//! (`pg_stat_wal.wal_sync`), and the orders the workers fulfilled meanwhile (past
//! `fulfilling` when the load ended): the workers compete with ingest for the same cores.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use assay_store::postgres::testing::{self, PgServer, PgServerOptions};

use crate::Settings;
use crate::process::{self, Server};
use crate::setup::{self, Deployment, Layout, Peers};
use crate::wrk::{Load, Run, Wrk};

/// What to install when PostgreSQL is missing.
pub const INSTALL: &str = "apt-get install postgresql";

/// Whether the machine has PostgreSQL's server binaries.
pub fn installed() -> bool {
    testing::find_binaries().is_some()
}

/// The server's own settings, as it reports them.
pub struct PgSettings {
    pub version: String,
    pub fsync: String,
    pub synchronous_commit: String,
    pub wal_sync_method: String,
    pub full_page_writes: String,
    pub commit_delay: String,
}

/// One run: `hosts` hosts on one database, `concurrency` webhooks in flight in all.
pub struct PgRun {
    pub hosts: usize,
    pub concurrency: usize,
    /// One wrk run per host.
    pub loads: Vec<Load>,
    /// The hosts' CPU time during the run, summed.
    pub host_cpu: Duration,
    /// PostgreSQL's CPU time during the run.
    pub postgres_cpu: Duration,
    /// Ingest commits and the events they committed, from the hosts' metrics.
    pub ingest_commits: u64,
    pub ingest_events: u64,
    /// Every commit in the database during the run, and the server's WAL flushes.
    pub commits: u64,
    pub wal_syncs: u64,
    /// Orders in the database afterwards.
    pub stored: u64,
    /// Orders the workers had fulfilled (past `fulfilling`) when the load ended.
    pub fulfilled: u64,
}

impl PgRun {
    /// Acknowledged webhooks per second, all hosts.
    pub fn rate(&self) -> f64 {
        self.loads
            .iter()
            .map(|l| (l.requests - l.failed) as f64 / l.duration.as_secs_f64().max(1e-9))
            .sum()
    }

    pub fn acknowledged(&self) -> u64 {
        self.loads.iter().map(|l| l.requests - l.failed).sum()
    }

    pub fn failed(&self) -> u64 {
        self.loads.iter().map(|l| l.failed).sum()
    }

    /// The worse host's median.
    pub fn p50(&self) -> Duration {
        self.loads.iter().map(|l| l.p50).max().unwrap_or_default()
    }

    /// The worse host's 99th percentile.
    pub fn p99(&self) -> Duration {
        self.loads.iter().map(|l| l.p99).max().unwrap_or_default()
    }

    /// The run's length (the longest wrk run).
    pub fn duration(&self) -> Duration {
        self.loads
            .iter()
            .map(|l| l.duration)
            .max()
            .unwrap_or_default()
    }
}

pub struct PgIngest {
    pub settings: PgSettings,
    pub runs: Vec<PgRun>,
}

pub async fn ingest(
    settings: &Settings,
    wrk: &Wrk,
    work: &Path,
    plugin: &[u8],
) -> anyhow::Result<PgIngest> {
    let server = PgServer::start(PgServerOptions { fsync: true })
        .map_err(|e| anyhow::anyhow!("starting PostgreSQL: {e}"))?;
    let pg_settings = {
        let client = connect(&server.url("postgres")).await?;
        let show = async |name: &str| -> anyhow::Result<String> {
            let row = client.query_one(&format!("SHOW {name}"), &[]).await?;
            Ok(row.get(0))
        };
        PgSettings {
            version: show("server_version").await?,
            fsync: show("fsync").await?,
            synchronous_commit: show("synchronous_commit").await?,
            wal_sync_method: show("wal_sync_method").await?,
            full_page_writes: show("full_page_writes").await?,
            commit_delay: show("commit_delay").await?,
        }
    };
    ensure!(
        pg_settings.fsync == "on" && pg_settings.synchronous_commit == "on",
        "the benchmark's PostgreSQL is not durable (fsync = {}, synchronous_commit = {}): its \
         figures would not count",
        pg_settings.fsync,
        pg_settings.synchronous_commit
    );
    let peers = Peers::start().await?;
    peers.emulator.set_reject_unknown_orders(false);
    let concurrency = *settings.concurrency.last().context("no concurrency")?;
    let mut runs = Vec::new();
    for hosts in [1, 2] {
        runs.push(
            run(
                settings,
                wrk,
                work,
                plugin,
                &server,
                &peers,
                hosts,
                concurrency,
            )
            .await?,
        );
    }
    Ok(PgIngest {
        settings: pg_settings,
        runs,
    })
}

#[allow(clippy::too_many_arguments)]
async fn run(
    settings: &Settings,
    wrk: &Wrk,
    work: &Path,
    plugin: &[u8],
    server: &PgServer,
    peers: &Peers,
    hosts: usize,
    concurrency: usize,
) -> anyhow::Result<PgRun> {
    let url = server
        .create_database()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (stackone, vendor) = (peers.emulator.base_url(), peers.vendor.base_url());
    let mut deployments = Vec::new();
    let mut servers: Vec<Server> = Vec::new();
    let mut requests = Vec::new();
    for h in 0..hosts {
        let name = format!("ingest-pg{hosts}-h{h}");
        let deployment = Deployment::create(
            work.join(&name),
            plugin,
            &Layout {
                products: 1,
                cached: 0,
                max_batch: None,
                postgres: true,
                stackone_url: &stackone,
                vendor_url: &vendor,
            },
        )?;
        let file = deployment.dir.join("webhooks.requests");
        setup::write_webhook_requests(&file, "p0", &name, settings.events_per_run / hosts as u64)?;
        // One after the other: the first applies the schema.
        let (assay, _) = deployment.serve_on(Some(&url)).await?;
        servers.push(assay);
        requests.push(file);
        deployments.push(deployment);
    }
    let stats = connect(&url).await?;
    let (commits_before, syncs_before) = server_counters(&stats).await?;
    let host_cpu_before = cpu_of(&servers)?;
    let pg_before = postgres_cpu(server.dir())?;
    let loads: Vec<_> = servers
        .iter()
        .zip(&requests)
        .map(|(assay, file)| {
            let (wrk, base_url, file) = (wrk.clone(), assay.base_url.clone(), file.clone());
            let (connections, seconds) = (concurrency / hosts, settings.seconds);
            std::thread::spawn(move || {
                wrk.run(&Run {
                    base_url: &base_url,
                    requests: &file,
                    authorization: None,
                    connections,
                    seconds,
                })
            })
        })
        .collect();
    let loads: Vec<Load> = loads
        .into_iter()
        .map(|t| {
            t.join()
                .map_err(|_| anyhow::anyhow!("a wrk thread panicked"))?
        })
        .collect::<anyhow::Result<_>>()?;
    let host_cpu = cpu_of(&servers)?.saturating_sub(host_cpu_before);
    let fulfilled: i64 = stats
        .query_one(
            "SELECT count(*) FROM orders WHERE state NOT IN ('received', 'fulfilling')",
            &[],
        )
        .await?
        .get(0);
    let postgres_cpu = postgres_cpu(server.dir())?.saturating_sub(pg_before);
    let (mut ingest_commits, mut ingest_events) = (0, 0);
    for assay in &servers {
        let (count, sum) = batch_sizes(&assay.base_url).await?;
        ingest_commits += count;
        ingest_events += sum;
    }
    for load in &loads {
        ensure!(
            load.wrapped == 0,
            "PostgreSQL ingest with {hosts} host(s): wrk sent all prepared webhooks and started \
             over, so some were duplicates (raise ASSAY_BENCH_EVENTS)"
        );
    }
    // The hosts' connections close with them; each backend reports its statistics as it
    // ends.
    drop(servers);
    let (commits, wal_syncs) = settled_counters(&stats).await?;
    let stored: i64 = stats
        .query_one("SELECT count(*) FROM orders", &[])
        .await?
        .get(0);
    for file in requests {
        std::fs::remove_file(file)?;
    }
    Ok(PgRun {
        hosts,
        concurrency,
        loads,
        host_cpu,
        postgres_cpu,
        ingest_commits,
        ingest_events,
        commits: commits.saturating_sub(commits_before),
        wal_syncs: wal_syncs.saturating_sub(syncs_before),
        stored: stored as u64,
        fulfilled: fulfilled as u64,
    })
}

async fn connect(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .context("connecting to the benchmark's PostgreSQL")?;
    tokio::spawn(connection);
    Ok(client)
}

/// This database's commits and the server's WAL flushes so far.
async fn server_counters(client: &tokio_postgres::Client) -> anyhow::Result<(u64, u64)> {
    let row = client
        .query_one(
            "SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()),
                    (SELECT wal_sync FROM pg_stat_wal)",
            &[],
        )
        .await?;
    Ok((row.get::<_, i64>(0) as u64, row.get::<_, i64>(1) as u64))
}

/// [`server_counters`] once the ended backends' statistics have arrived: read until two
/// readings a tenth of a second apart agree (PostgreSQL's statistics are flushed by each
/// backend, at the latest when it exits), within five seconds.
async fn settled_counters(client: &tokio_postgres::Client) -> anyhow::Result<(u64, u64)> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut last = server_counters(client).await?;
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        // A statistics snapshot lasts a transaction; each query is its own.
        let now = server_counters(client).await?;
        // This connection's own reads commit too, one per reading.
        if now.0 <= last.0 + 1 && now.1 == last.1 || Instant::now() > deadline {
            return Ok(now);
        }
        last = now;
    }
}

fn cpu_of(servers: &[Server]) -> anyhow::Result<Duration> {
    servers.iter().map(Server::cpu).sum()
}

/// CPU time of the server: its postmaster (`postmaster.pid`) and every process it started
/// that is still running.
fn postgres_cpu(dir: &Path) -> anyhow::Result<Duration> {
    let pid_file = dir.join("data").join("postmaster.pid");
    let text = std::fs::read_to_string(&pid_file)
        .with_context(|| format!("reading {}", pid_file.display()))?;
    let postmaster: u32 = text
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .context("no pid in postmaster.pid")?;
    let mut total = process::proc_stat(postmaster)?.cpu;
    for entry in std::fs::read_dir("/proc")? {
        let Some(pid) = entry?.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        // A process may end between the listing and the read.
        if let Ok(stat) = process::proc_stat(pid)
            && stat.parent == postmaster
        {
            total += stat.cpu;
        }
    }
    Ok(total)
}

/// The host's ingest commits and the events they held (`assay_store_batch_size`'s count and
/// sum on `/metrics`).
async fn batch_sizes(base_url: &str) -> anyhow::Result<(u64, u64)> {
    let text = reqwest::get(format!("{base_url}/metrics"))
        .await?
        .error_for_status()?
        .text()
        .await?;
    let value = |name: &str| -> anyhow::Result<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .with_context(|| format!("no {name} on /metrics"))?
            .trim()
            .parse::<f64>()
            .map(|v| v as u64)
            .with_context(|| format!("{name} is not a number"))
    };
    Ok((
        value("assay_store_batch_size_count")?,
        value("assay_store_batch_size_sum")?,
    ))
}
