//! The six measurements. Each returns its figures; `report` turns them into tables.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use assay_emulator::{Delivery, send_order};
use assay_wire::secret::Secret;
use serde_json::Value;

use crate::Settings;
use crate::process::{Memory, Profile, Server};
use crate::setup::{self, Deployment, Layout, Peers};
use crate::wrk::{Load, Run, Wrk};

/// Item 1: one concurrency level, the bare server and Assay with a warm package-list cache
/// and without one (the plugin called on every request), on the same host.
pub struct ListLevel {
    pub concurrency: usize,
    pub bare: Load,
    pub cached: Load,
    pub assay: Load,
}

/// Item 1 and the peak memory half of item 5.
pub struct PackageList {
    pub levels: Vec<ListLevel>,
    pub answer_bytes: usize,
    /// Assay's memory after the whole run (its peak is the highest concurrency's).
    pub assay_memory: Memory,
    pub bare_memory: Memory,
}

pub async fn package_list(
    settings: &Settings,
    wrk: &Wrk,
    work: &Path,
    plugin: &[u8],
) -> anyhow::Result<PackageList> {
    // p0 lets the host cache its package list; p1 does not.
    let layout = Layout {
        cached: 1,
        ..Layout::offline(2)
    };
    let deployment = Deployment::create(work.join("package-list"), plugin, &layout)?;
    let (assay, _) = deployment.serve().await?;
    // The bare server answers exactly the bytes Assay answers.
    let request = setup::list_request();
    let mut answers = Vec::new();
    for (product, expected) in [("p0", "miss"), ("p0", "hit"), ("p1", "miss")] {
        let response = reqwest::Client::new()
            .post(format!("{}/v1/products/{product}/packages", assay.base_url))
            .header("authorization", &request.authorization)
            .header("x-stackone-signature", &request.signature)
            .header("content-type", "application/json")
            .body(request.body.clone())
            .send()
            .await?;
        ensure!(
            response.status().is_success(),
            "the package list of {product} answered {}",
            response.status()
        );
        let cache = response
            .headers()
            .get("x-assay-cache")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_owned();
        ensure!(
            cache == expected,
            "the package list of {product} was a {cache}, not a {expected}"
        );
        answers.push(response.bytes().await?);
    }
    ensure!(
        answers.iter().all(|a| *a == answers[0]),
        "the cached and uncached answers differ"
    );
    let answer = answers.swap_remove(0);
    let answer_file = deployment.dir.join("answer.json");
    std::fs::write(&answer_file, &answer)?;
    let bare = Server::bare(&answer_file, &deployment.dir.join("logs").join("bare.log")).await?;

    let cached_requests = deployment.dir.join("list-cached.requests");
    setup::write_list_requests(&cached_requests, "p0")?;
    let uncached_requests = deployment.dir.join("list.requests");
    setup::write_list_requests(&uncached_requests, "p1")?;
    let run = |server: &Server, name: &str, connections: usize, seconds: u64| {
        let requests = if name.ends_with("-cached") {
            &cached_requests
        } else {
            &uncached_requests
        };
        measured(server, name, connections, || {
            wrk.run(&Run {
                base_url: &server.base_url,
                requests,
                authorization: Some(&request.authorization),
                connections,
                seconds,
            })
        })
    };
    // Warm both (connection setup, first instances, page faults) before measuring.
    run(&bare, "warm-up", 16, 1)?;
    run(&assay, "warm-up", 16, 1)?;
    run(&assay, "warm-up-cached", 16, 1)?;
    let mut levels = Vec::new();
    for &c in &settings.concurrency {
        // Rotate which goes first so none always runs on a warmer machine.
        let mut order = ["list-bare", "list-assay-cached", "list-assay"];
        order.rotate_left(levels.len() % 3);
        let (mut bare_load, mut cached_load, mut assay_load) = (None, None, None);
        for name in order {
            match name {
                "list-bare" => bare_load = Some(run(&bare, name, c, settings.seconds)?),
                "list-assay-cached" => cached_load = Some(run(&assay, name, c, settings.seconds)?),
                _ => assay_load = Some(run(&assay, name, c, settings.seconds)?),
            }
        }
        let (Some(bare_run), Some(cached_run), Some(assay_run)) =
            (bare_load, cached_load, assay_load)
        else {
            bail!("a package list run is missing");
        };
        levels.push(ListLevel {
            concurrency: c,
            bare: bare_run,
            cached: cached_run,
            assay: assay_run,
        });
    }
    Ok(PackageList {
        levels,
        answer_bytes: answer.len(),
        assay_memory: assay.memory()?,
        bare_memory: bare.memory()?,
    })
}

/// Runs `load` and records the CPU time `server` used meanwhile. With `ASSAY_BENCH_PROFILE`
/// set to a folder, runs at concurrency 64 (and the pipeline) are also recorded by `perf`
/// into `<folder>/<name>.data`; read one with `perf report -i … --no-inline --children`.
fn measured(
    server: &Server,
    name: &str,
    connections: usize,
    load: impl FnOnce() -> anyhow::Result<Load>,
) -> anyhow::Result<Load> {
    let profile = if connections == 64 {
        profile_if_asked(server, name)?
    } else {
        None
    };
    let before = server.cpu()?;
    let mut result = load()?;
    result.server_cpu = server.cpu()?.saturating_sub(before);
    if let Some(perf) = profile {
        perf.stop()?;
    }
    Ok(result)
}

/// `perf record` on `server` into `$ASSAY_BENCH_PROFILE/<name>.data`, if that is set.
fn profile_if_asked(server: &Server, name: &str) -> anyhow::Result<Option<Profile>> {
    std::env::var_os("ASSAY_BENCH_PROFILE")
        .map(|dir| server.profile(Path::new(&dir), name))
        .transpose()
}

/// Item 2: one concurrency level, per-event commits and group commit.
pub struct IngestLevel {
    pub concurrency: usize,
    pub per_event: Load,
    pub group: Load,
}

pub struct Ingest {
    pub levels: Vec<IngestLevel>,
    pub body_bytes: usize,
    /// Orders found in the store after each group-commit run, summed: every acknowledged
    /// webhook must be there.
    pub stored: u64,
    pub acknowledged: u64,
}

pub async fn ingest(
    settings: &Settings,
    wrk: &Wrk,
    work: &Path,
    plugin: &[u8],
) -> anyhow::Result<Ingest> {
    let peers = Peers::start().await?;
    peers.emulator.set_reject_unknown_orders(false);
    let stackone = peers.emulator.base_url();
    let vendor = peers.vendor.base_url();
    let mut levels = Vec::new();
    let mut body_bytes = 0;
    let (mut stored, mut acknowledged) = (0, 0);
    for &c in &settings.concurrency {
        let mut loads = [Load::default(); 2];
        // Per-event first at even levels, group commit first at odd ones.
        let order = if levels.len() % 2 == 0 {
            [1, 0]
        } else {
            [0, 1]
        };
        for mode in order {
            let max_batch = (mode == 1).then_some(1);
            let name = format!(
                "ingest-c{c}-{}",
                if mode == 1 { "per-event" } else { "group" }
            );
            let deployment = Deployment::create(
                work.join(&name),
                plugin,
                &Layout {
                    products: 1,
                    cached: 0,
                    max_batch,
                    postgres: false,
                    stackone_url: &stackone,
                    vendor_url: &vendor,
                },
            )?;
            let requests = deployment.dir.join("webhooks.requests");
            let events = settings.events_per_run;
            body_bytes = setup::write_webhook_requests(&requests, "p0", &name, events)?;
            // A fresh process per run: no run inherits another's fulfilment backlog. The
            // worker fulfils orders while webhooks arrive, as in production.
            let (assay, _) = deployment.serve().await?;
            let load = measured(&assay, &name, c, || {
                wrk.run(&Run {
                    base_url: &assay.base_url,
                    requests: &requests,
                    authorization: None,
                    connections: c,
                    seconds: settings.seconds,
                })
            })?;
            ensure!(
                load.wrapped == 0,
                "{name}: wrk sent all {events} prepared webhooks and started over, so some \
                 were duplicates (raise ASSAY_BENCH_EVENTS)"
            );
            drop(assay);
            if mode == 0 {
                acknowledged += load.requests - load.failed;
                stored += count_orders(&deployment.dir.join("data").join("assay.db"))?;
            }
            std::fs::remove_file(&requests)?;
            loads[mode] = load;
        }
        levels.push(IngestLevel {
            concurrency: c,
            group: loads[0],
            per_event: loads[1],
        });
    }
    Ok(Ingest {
        levels,
        body_bytes,
        stored,
        acknowledged,
    })
}

/// Orders in a store, read with the store's read-only view after its process is gone.
fn count_orders(db: &Path) -> anyhow::Result<u64> {
    let connection =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let n: i64 = connection.query_row("SELECT count(*) FROM orders", [], |r| r.get(0))?;
    Ok(n as u64)
}

/// Item 3.
pub struct Reload {
    pub load: Load,
    pub connections: usize,
    pub swaps: Vec<Duration>,
    pub swaps_under_load: usize,
}

/// The shortest load the reload scenario runs under.
const MIN_RELOAD_LOAD_SECS: u64 = 15;

pub async fn reload_under_load(
    settings: &Settings,
    wrk: &Wrk,
    work: &Path,
    plugin: &[u8],
) -> anyhow::Result<Reload> {
    let deployment = Deployment::create(work.join("reload"), plugin, &Layout::offline(1))?;
    let (assay, _) = deployment.serve().await?;
    let requests = deployment.dir.join("list.requests");
    setup::write_list_requests(&requests, "p0")?;
    let authorization = setup::list_request().authorization;
    let connections = *settings.concurrency.last().context("no concurrency")?;
    // Long enough for every swap to happen under load (about half a second each on one
    // development machine, 0.8 s on a slower one); the report counts any that did not. The
    // smoke run's few swaps get a floor: one compile on a busy 2-core machine took over 2 s.
    let seconds = (settings.swaps as u64 * 12 / 10 + 6).max(MIN_RELOAD_LOAD_SECS);
    let base_url = assay.base_url.clone();
    let load = {
        let (requests, wrk) = (requests.clone(), wrk.clone());
        std::thread::spawn(move || {
            wrk.run(&Run {
                base_url: &base_url,
                requests: &requests,
                authorization: Some(&authorization),
                connections,
                seconds,
            })
        })
    };
    let load_until = Instant::now() + Duration::from_secs(seconds);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let client = reqwest::Client::new();
    let plugins = deployment.plugins_dir();
    let mut swaps = Vec::new();
    let mut swaps_under_load = 0;
    for swap in 0..settings.swaps {
        let before = generation(&client, &assay.base_url).await?;
        let part = plugins.join(format!(".p0.{swap}.part"));
        std::fs::write(&part, setup::variant(plugin, 1_000 + swap as u64))?;
        let t = Instant::now();
        std::fs::rename(&part, plugins.join("p0.wasm"))?;
        loop {
            if generation(&client, &assay.base_url).await? > before {
                break;
            }
            if t.elapsed() > Duration::from_secs(30) {
                bail!("swap {swap}: no new generation within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        swaps.push(t.elapsed());
        if Instant::now() < load_until {
            swaps_under_load += 1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let load = load
        .join()
        .map_err(|_| anyhow::anyhow!("the load thread panicked"))??;
    Ok(Reload {
        load,
        connections,
        swaps,
        swaps_under_load,
    })
}

/// The generation `/readyz` reports for product `p0`.
async fn generation(client: &reqwest::Client, base_url: &str) -> anyhow::Result<u64> {
    let ready: Value = client
        .get(format!("{base_url}/readyz"))
        .send()
        .await?
        .json()
        .await?;
    ready["products"][0]["generation"]
        .as_u64()
        .with_context(|| format!("no generation in /readyz: {ready}"))
}

/// Item 4 for one product count, and item 5's idle memory.
pub struct Start {
    pub products: usize,
    pub cold: Vec<Duration>,
    pub warm: Vec<Duration>,
    /// Resident memory of the warm host, idle for a second after ready.
    pub idle: Memory,
}

pub async fn start(
    settings: &Settings,
    work: &Path,
    plugin: &[u8],
    products: usize,
) -> anyhow::Result<Start> {
    let mut result = Start {
        products,
        cold: Vec::new(),
        warm: Vec::new(),
        idle: Memory {
            resident: 0,
            peak: 0,
        },
    };
    for run in 0..settings.starts {
        let deployment = Deployment::create(
            work.join(format!("start-{products}-{run}")),
            plugin,
            &Layout::offline(products),
        )?;
        let (cold, took) = deployment.serve().await?;
        result.cold.push(took);
        drop(cold);
        let (warm, took) = deployment.serve().await?;
        result.warm.push(took);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let memory = warm.memory()?;
        result.idle.resident = result.idle.resident.max(memory.resident);
        result.idle.peak = result.idle.peak.max(memory.peak);
    }
    Ok(result)
}

/// Item 6.
pub struct Pipeline {
    pub orders: usize,
    pub elapsed: Duration,
    pub webhooks_sent: Duration,
    pub deliveries: usize,
    pub invalid: usize,
    /// CPU time the host process used from the first webhook to the last final result.
    pub host_cpu: Duration,
}

pub async fn pipeline(settings: &Settings, work: &Path, plugin: &[u8]) -> anyhow::Result<Pipeline> {
    let peers = Peers::start().await?;
    let deployment = Deployment::create(
        work.join("pipeline"),
        plugin,
        &Layout {
            products: 1,
            cached: 0,
            max_batch: None,
            postgres: false,
            stackone_url: &peers.emulator.base_url(),
            vendor_url: &peers.vendor.base_url(),
        },
    )?;
    let (assay, _) = deployment.serve().await?;
    let orders: Vec<_> = (0..settings.pipeline_orders as u64)
        .map(|n| setup::order("pipeline", n))
        .collect();
    for order in &orders {
        peers.emulator.register_order(order);
    }
    let secret = Secret::new(setup::WEBHOOK_SECRET);
    let profile = profile_if_asked(&assay, "pipeline")?;
    let cpu_before = assay.cpu()?;
    let started = Instant::now();
    // The candidates: each invitation the vendor receives is completed, which makes the vendor
    // call the host back with the score.
    let candidate = {
        let vendor = (*peers.vendor).clone();
        tokio::spawn(async move {
            let mut completed = std::collections::HashSet::new();
            loop {
                let fresh: Vec<String> = vendor
                    .invitations()
                    .into_iter()
                    .map(|i| i.id)
                    .filter(|id| !completed.contains(id))
                    .collect();
                let results = futures::future::join_all(
                    fresh
                        .iter()
                        .map(|id| vendor.complete_invitation(id, 42, 50)),
                )
                .await;
                for (id, result) in fresh.into_iter().zip(results) {
                    if result.is_ok_and(|s| s.is_success()) {
                        completed.insert(id);
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    // StackOne sends the orders, 16 at a time.
    let sent = futures::stream::iter(orders.iter())
        .map(|order| send_order(&assay.base_url, "p0", order, &secret, None))
        .buffer_unordered(16);
    let statuses: Vec<_> = futures::StreamExt::collect(sent).await;
    let webhooks_sent = started.elapsed();
    for status in statuses {
        let status = status?;
        ensure!(status.is_success(), "a webhook was answered {status}");
    }
    let want = orders.len();
    let deliveries = peers
        .emulator
        .wait_until(Duration::from_secs(300), |d| finals(d) >= want)
        .await
        .with_context(|| {
            format!(
                "not every order reached its final result; the host's log: {}",
                deployment.log_path().display()
            )
        })?;
    let elapsed = started.elapsed();
    let host_cpu = assay.cpu()?.saturating_sub(cpu_before);
    candidate.abort();
    if let Some(perf) = profile {
        perf.stop()?;
    }
    Ok(Pipeline {
        orders: want,
        elapsed,
        webhooks_sent,
        deliveries: deliveries.len(),
        invalid: deliveries
            .iter()
            .filter(|d| !d.violations.is_empty())
            .count(),
        host_cpu,
    })
}

/// Orders with an accepted result update that carries a final result value.
fn finals(deliveries: &[Delivery]) -> usize {
    deliveries
        .iter()
        .filter(|d| d.accepted())
        .filter(|d| {
            d.json
                .as_ref()
                .is_some_and(|j| j["result"]["value"].is_string())
        })
        .map(|d| d.order_id.as_str())
        .collect::<std::collections::HashSet<_>>()
        .len()
}

use futures::StreamExt as _;
