//! The crash harness: the real host binary killed with SIGKILL again and again while signed
//! webhooks (duplicates among them) and vendor callbacks keep arriving, then a client ledger
//! checked against the store, the vendor and StackOne's ledger (the emulator's).
//!
//! What it proves, and what RELIABILITY.md reports:
//!
//! - **No acknowledged order is lost**: every webhook answered 2xx is in the store, once.
//! - **Fulfilled once**: the vendor has one invitation per order, however often the host
//!   crashed around `fulfil-order` (the plugin's idempotency key and the vendor's dedupe).
//! - **Results at least once**: every order's `completed` result reaches StackOne; the
//!   duplicates (the same result accepted twice: a crash between StackOne's answer and the
//!   commit that records it) are counted and printed, not hidden.
//!
//! Timings vary with a seeded generator, so a failing run can be repeated.
//!
//! The senders behave as StackOne does: a webhook not answered 2xx (a refused connection
//! while the host is down, a 503) is sent again until it is, and one webhook in four is
//! sent a second time after its 2xx. The vendor resends a completion callback until it is
//! answered 2xx, as a real vendor's webhook retries do.
//!
//! CI runs the short form ([`DEFAULT_CYCLES`]). The long form:
//! `ASSAY_CRASH_CYCLES=100 cargo test -p assay-tests --test integration crash -- --nocapture`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use assay_emulator::vendor::DemoVendor;
use assay_emulator::{Emulator, OrderBuilder, OrderKind, Package, fetch_packages, order};
use assay_store::{OrderFilter, StoreReader};
use assay_tests::process::HostProcess;
use assay_wire::secret::Secret;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::ASSAY;

/// Kill cycles of the short form CI runs.
const DEFAULT_CYCLES: usize = 4;
/// Concurrent webhook senders.
const SENDERS: u64 = 8;
/// How long the host runs under load between two kills (varied within this range).
const UPTIME_MS: std::ops::Range<u64> = 300..1200;
/// How long settling may go without one more order reaching its final result.
const STALL: Duration = Duration::from_secs(30);

fn cycles() -> usize {
    std::env::var("ASSAY_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CYCLES)
}

/// What the clients saw.
#[derive(Default)]
struct Ledger {
    /// StackOne order ids answered 2xx.
    acknowledged: BTreeSet<String>,
    /// Webhook requests sent, retries and duplicates included.
    requests: usize,
    /// Duplicates sent after a 2xx.
    duplicates: usize,
    /// Requests not answered 2xx, by status (0: no answer: refused, reset, cut).
    not_acknowledged: BTreeMap<u16, usize>,
}

/// Sends webhooks for new orders until `stop`, each until it is answered 2xx.
#[allow(clippy::too_many_arguments)]
async fn send_orders(
    sender: u64,
    url: String,
    stackone: Emulator,
    whsec: Secret,
    package: Package,
    stackone_url: String,
    ledger: Arc<Mutex<Ledger>>,
    stop: Arc<AtomicBool>,
) {
    let mut rng = StdRng::seed_from_u64(sender + 1);
    let mut sequence = sender * 1_000_000;
    while !stop.load(Ordering::Relaxed) {
        sequence += 1;
        let webhook = OrderBuilder::new(OrderKind::Assessment, package.clone())
            .sequence(sequence)
            .stackone_base_url(stackone_url.clone())
            .build();
        let copies = if rng.random_range(0..4) == 0 { 2 } else { 1 };
        for copy in 0..copies {
            // StackOne retries until it gets a 2xx, even after the harness stopped sending
            // new orders: an order half sent is finished.
            loop {
                let status = stackone
                    .send_order(&url, "codetest", &webhook, &whsec, None)
                    .await
                    .map(|s| s.as_u16())
                    .unwrap_or(0);
                let acknowledged = {
                    let mut l = ledger.lock().unwrap_or_else(|e| e.into_inner());
                    l.requests += 1;
                    let ok = (200..300).contains(&status);
                    if ok {
                        l.acknowledged.insert(webhook.order_id.clone());
                        if copy == 1 {
                            l.duplicates += 1;
                        }
                    } else {
                        *l.not_acknowledged.entry(status).or_default() += 1;
                    }
                    ok
                };
                if acknowledged {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(rng.random_range(20..100))).await;
            }
        }
    }
}

/// The candidates finish their tests: every invitation not yet completed gets its
/// completion callback, resent until the host answers 2xx.
async fn complete_tests(vendor: DemoVendor, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        for invitation in vendor.invitations().into_iter().filter(|i| !i.completed) {
            // An error or a non-2xx leaves it not completed: sent again next round.
            let _ = vendor.complete_invitation(&invitation.id, 42, 50).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_no_acknowledged_order_and_delivers_every_result() {
    let cycles = cycles();
    let mut host = HostProcess::start(std::path::Path::new(ASSAY)).await;
    let package = fetch_packages(
        &host.url(),
        "codetest",
        order::DEFAULT_ACCOUNT_ID,
        order::DEFAULT_PROVIDER,
        &host.secrets.package_key,
        &host.secrets.whsec,
    )
    .await
    .expect("packages")
    .data
    .remove(0);

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let stop_sending = Arc::new(AtomicBool::new(false));
    let stop_completing = Arc::new(AtomicBool::new(false));
    let mut senders = tokio::task::JoinSet::new();
    for sender in 0..SENDERS {
        senders.spawn(send_orders(
            sender,
            host.url(),
            (*host.stackone).clone(),
            host.secrets.whsec.clone(),
            package.clone(),
            host.stackone.base_url(),
            Arc::clone(&ledger),
            Arc::clone(&stop_sending),
        ));
    }
    let completer = tokio::spawn(complete_tests(
        (*host.vendor).clone(),
        Arc::clone(&stop_completing),
    ));

    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(7);
    for _ in 0..cycles {
        tokio::time::sleep(Duration::from_millis(rng.random_range(UPTIME_MS))).await;
        host.kill();
        host.restart().await;
    }
    stop_sending.store(true, Ordering::Relaxed);
    while senders.join_next().await.is_some() {}
    let load_time = started.elapsed();

    // Every acknowledged order settles: fulfilled, completed by the candidate, its result
    // at StackOne.
    let acknowledged = ledger
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .acknowledged
        .clone();
    // Settling takes longer the more orders a run acknowledged: the wait goes on while orders
    // keep reaching their final result, and ends when none has for STALL.
    let mut missing: BTreeSet<String> = acknowledged.clone();
    let mut progressed = Instant::now();
    let settle_started = Instant::now();
    let missing_result = loop {
        let finished: BTreeSet<String> = host
            .stackone
            .deliveries()
            .into_iter()
            .filter(|d| d.accepted())
            .filter(|d| {
                d.json
                    .as_ref()
                    .and_then(|j| j.pointer("/result/value"))
                    .and_then(|v| v.as_str())
                    .is_some_and(|v| assay_store::FINAL_RESULT_VALUES.contains(&v))
            })
            .map(|d| d.order_id)
            .collect();
        let before = missing.len();
        missing.retain(|id| !finished.contains(id));
        if missing.len() < before {
            progressed = Instant::now();
        }
        if missing.is_empty() || progressed.elapsed() > STALL {
            break missing.len();
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let settle_time = settle_started.elapsed();
    stop_completing.store(true, Ordering::Relaxed);
    completer.await.expect("completer");

    // The store: every acknowledged order, once.
    let reader = StoreReader::open(host.store_path()).expect("open the store");
    let mut stored: BTreeMap<String, usize> = BTreeMap::new();
    let mut before = None;
    loop {
        let page = reader
            .list_orders(OrderFilter {
                before,
                ..Default::default()
            })
            .await
            .expect("list orders");
        let Some(last) = page.last() else { break };
        before = Some(last.id);
        for o in &page {
            *stored.entry(o.order_id.clone()).or_default() += 1;
        }
    }
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !stored.contains_key(*id))
        .collect();
    let stored_twice = stored.values().filter(|n| **n > 1).count();

    // The vendor: one invitation per order.
    let mut invitations: BTreeMap<String, usize> = BTreeMap::new();
    for i in host.vendor.invitations() {
        *invitations.entry(i.reference).or_default() += 1;
    }
    let invited_twice = invitations.values().filter(|n| **n > 1).count();
    let not_invited = acknowledged
        .iter()
        .filter(|id| !invitations.contains_key(*id))
        .count();

    // StackOne: each result accepted at least once; the same body accepted again is a
    // duplicate delivery.
    let mut results = 0;
    let mut duplicate_deliveries = 0;
    for id in &acknowledged {
        let mut bodies: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
        for d in host
            .stackone
            .deliveries_for(id)
            .into_iter()
            .filter(|d| d.status.is_success())
        {
            *bodies.entry(d.body.to_vec()).or_default() += 1;
        }
        results += bodies.len();
        duplicate_deliveries += bodies.values().map(|n| n - 1).sum::<usize>();
    }

    let l = ledger.lock().unwrap_or_else(|e| e.into_inner());
    eprintln!(
        "crash harness: {cycles} kill -9 cycles in {:.1} s, settled in {:.1} s; {} webhook requests ({} duplicates \
         after a 2xx), not acknowledged: {:?} (0 = no answer); {} orders acknowledged, {} \
         stored, lost {}, stored twice {stored_twice}; vendor invitations {}, twice \
         {invited_twice}, missing {not_invited}; results accepted by StackOne {results}, \
         delivered twice {duplicate_deliveries} ({:.2}%), orders without their final \
         result {missing_result}",
        load_time.as_secs_f64(),
        settle_time.as_secs_f64(),
        l.requests,
        l.duplicates,
        l.not_acknowledged,
        acknowledged.len(),
        stored.len(),
        lost.len(),
        invitations.len(),
        if results == 0 {
            0.0
        } else {
            100.0 * duplicate_deliveries as f64 / results as f64
        },
    );
    assert!(
        acknowledged.len() >= SENDERS as usize,
        "the load was too light to prove anything"
    );
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
    assert_eq!(stored_twice, 0, "an order stored twice");
    assert_eq!(invited_twice, 0, "the vendor invited a candidate twice");
    assert_eq!(not_invited, 0, "acknowledged orders never fulfilled");
    assert_eq!(
        missing_result, 0,
        "orders whose final result never reached StackOne"
    );
}
