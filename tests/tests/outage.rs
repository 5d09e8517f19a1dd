//! A StackOne outage in phases while orders keep coming: StackOne answers 503, then 429 with
//! `Retry-After`, then holds requests past the host's PATCH timeout, then refuses connections
//! (its port closed), and comes back. Every order's result must reach StackOne once it is back,
//! nothing may go out inside a `Retry-After` window, and nothing is dead-lettered: each of
//! these is a failure to retry, not a refusal.
//!
//! `cargo test -p assay-tests --test integration outage -- --nocapture` prints the figures
//! RELIABILITY.md reports.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use assay_emulator::script::{ScriptTarget, ScriptedResponse};
use assay_emulator::{Delivery, OrderWebhook};
use assay_store::OrderFilter;
use assay_tests::harness::{Deployment, WAIT};

/// The results' lease; the host's PATCH timeout is a quarter of it (2 s), so a hang of
/// [`HANG`] outlasts it.
const DELIVERY_LEASE_MS: u64 = 8000;
/// How long StackOne holds each request in the hang phase.
const HANG: Duration = Duration::from_secs(4);
/// `Retry-After` of the 429 phase, in seconds.
const RETRY_AFTER_S: u64 = 2;
/// Orders sent in each phase.
const PER_PHASE: u64 = 3;
/// How long the whole outage may take to heal: the relay's backoff doubles from 1 s.
const HEAL: Duration = Duration::from_secs(90);

/// Sends `PER_PHASE` orders starting at `first`; returns them.
async fn send_orders(d: &Deployment, first: u64) -> Vec<OrderWebhook> {
    let mut sent = Vec::new();
    for sequence in first..first + PER_PHASE {
        let order = d.order("codetest", sequence).await;
        assert_eq!(d.send("codetest", &order).await, 200, "webhooks never wait");
        sent.push(order);
    }
    sent
}

/// Waits until StackOne has answered every scripted response.
async fn scripts_used(d: &Deployment, what: &str) {
    d.eventually(what, || (d.stackone.scripted_pending() == 0).then_some(()))
        .await;
}

/// Waits until each of `orders` has had a delivery attempt recorded as failed in the store.
async fn attempted(d: &Deployment, orders: &[OrderWebhook]) {
    let deadline = Instant::now() + WAIT;
    loop {
        let mut waiting = 0;
        for order in orders {
            let found = d
                .host
                .store
                .list_orders(OrderFilter {
                    order_id: Some(order.order_id.clone()),
                    ..OrderFilter::default()
                })
                .await
                .expect("list");
            let Some(summary) = found.first() else {
                waiting += 1;
                continue;
            };
            let detail = d
                .host
                .store
                .get_order(summary.id)
                .await
                .expect("read")
                .expect("the order");
            if !detail
                .outbox
                .iter()
                .any(|row| row.attempts >= 1 && row.last_error.is_some())
            {
                waiting += 1;
            }
        }
        if waiting == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{waiting} orders had no failed delivery while StackOne was down"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stackone_outage_in_phases_loses_no_result_and_keeps_every_retry_after() {
    let mut d = Deployment::start_with(|text| {
        *text = text.replacen(
            "[store]\n",
            &format!("[store]\ndelivery_lease_ms = {DELIVERY_LEASE_MS}\n"),
            1,
        );
    })
    .await;
    let mut phases: Vec<(&str, Vec<OrderWebhook>)> = Vec::new();

    // 1. 503: two for each of the phase's orders.
    for _ in 0..2 * PER_PHASE {
        d.stackone
            .script(ScriptTarget::Any, ScriptedResponse::unavailable());
    }
    phases.push(("503", send_orders(&d, 100).await));
    scripts_used(&d, "StackOne's 503s").await;

    // 2. 429 with Retry-After on the phase's first result; the others are sent after it.
    let first = d.order("codetest", 200).await;
    d.stackone.script(
        ScriptTarget::Order(first.order_id.clone()),
        ScriptedResponse::too_many_requests(RETRY_AFTER_S),
    );
    assert_eq!(d.send("codetest", &first).await, 200);
    let limited: Delivery = d
        .eventually("the 429", || {
            d.stackone.deliveries_for(&first.order_id).first().cloned()
        })
        .await;
    assert_eq!(limited.status.as_u16(), 429);
    let mut rate_limited = vec![first];
    rate_limited.extend(send_orders(&d, 201).await);
    phases.push(("429 + Retry-After", rate_limited));

    // 3. Hangs: StackOne holds each request longer than the host waits.
    for _ in 0..PER_PHASE {
        d.stackone
            .script(ScriptTarget::Any, ScriptedResponse::hang(HANG));
    }
    phases.push(("hang", send_orders(&d, 300).await));
    scripts_used(&d, "StackOne's hangs").await;

    // 4. Refused: StackOne's port closed. A stand-in on another port keeps the ledger while
    // the real address is down.
    let addr = d.stackone.addr();
    let emulator = (*d.stackone).clone();
    let stand_in = emulator.start().await.expect("a stand-in");
    let real = std::mem::replace(&mut d.stackone, stand_in);
    real.stop().await.expect("StackOne down");
    let refused = send_orders(&d, 400).await;
    attempted(&d, &refused).await;
    phases.push(("refused", refused));
    let listener = {
        let deadline = Instant::now() + WAIT;
        loop {
            match tokio::net::TcpListener::bind(addr).await {
                Ok(l) => break l,
                Err(e) => {
                    assert!(Instant::now() < deadline, "cannot bind {addr} again: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    };
    let back = emulator.start_on(listener).expect("StackOne back");
    let stand_in = std::mem::replace(&mut d.stackone, back);
    stand_in.stop().await.expect("the stand-in stops");

    // Healed: every order's first result accepted, none dead-lettered.
    let healed_from = Instant::now();
    for (_, orders) in &phases {
        for order in orders {
            d.stackone
                .wait_for_accepted(&order.order_id, HEAL)
                .await
                .unwrap_or_else(|e| panic!("{} never reached StackOne: {e:?}", order.order_id));
        }
    }
    let heal_time = healed_from.elapsed();
    let dead = d
        .host
        .store
        .list_orders(OrderFilter {
            state: Some(assay_store::OrderState::DeadLettered),
            ..OrderFilter::default()
        })
        .await
        .expect("list");
    assert!(dead.is_empty(), "nothing is dead-lettered: {dead:?}");

    // Nothing went out inside the Retry-After window.
    let window = Duration::from_secs(RETRY_AFTER_S);
    let all = d.stackone.deliveries();
    let inside: Vec<&Delivery> = all
        .iter()
        .filter(|x| x.sequence != limited.sequence)
        .filter(|x| {
            x.received_at
                .duration_since(limited.received_at)
                .is_ok_and(|after| after < window)
        })
        .collect();
    assert!(
        inside.is_empty(),
        "{} deliveries inside the {RETRY_AFTER_S} s window: {:?}",
        inside.len(),
        inside
            .iter()
            .map(|x| (
                &x.order_id,
                x.received_at.duration_since(limited.received_at)
            ))
            .collect::<Vec<_>>()
    );

    // The ledger, per phase: attempts StackOne saw, accepted results, doubles.
    let mut lines = Vec::new();
    for (phase, orders) in &phases {
        let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
        let mut doubles = 0;
        for order in orders {
            let deliveries = d.stackone.deliveries_for(&order.order_id);
            for x in &deliveries {
                *statuses.entry(x.status.as_u16()).or_default() += 1;
            }
            let accepted = deliveries.iter().filter(|x| x.accepted()).count();
            doubles += accepted.saturating_sub(1);
        }
        lines.push(format!(
            "{phase}: {} orders, StackOne answered {statuses:?}, every result accepted, {doubles} accepted twice",
            orders.len()
        ));
    }
    let elapsed = SystemTime::now()
        .duration_since(limited.received_at)
        .unwrap_or_default();
    println!(
        "outage: {}; healed {:.1} s after StackOne came back ({:.1} s since the 429); \
         0 deliveries inside the Retry-After window; 0 dead letters",
        lines.join("; "),
        heal_time.as_secs_f64(),
        elapsed.as_secs_f64()
    );
}
