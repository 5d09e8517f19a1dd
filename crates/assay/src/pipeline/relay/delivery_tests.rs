//! The relay against a real SQLite store and the StackOne emulator on loopback.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{Relay, Target};
use assay_emulator::{self as emulator, Emulator, OrderBuilder, ScriptTarget, ScriptedResponse};
use assay_store::{
    IncomingEvent, NewOrder, OrderKind, OutboxState, ResultBody, SqliteStore, Store, Timestamp,
};
use assay_wire::secret::Secret;

const WAIT: Duration = Duration::from_secs(20);

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    emulator: emulator::RunningEmulator,
    stop: tokio_util::sync::CancellationToken,
    /// Wakes the relay, as the worker does after storing a result.
    wake: Arc<tokio::sync::Notify>,
    relay: tokio::task::JoinHandle<()>,
    /// The running relay's twin, to deliver claims by hand.
    twin: Relay,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(dir.path().join("a.db")).expect("store"));
    let key = Secret::new("stackone-key");
    let emulator = Emulator::new(vec![key.clone()])
        .start()
        .await
        .expect("emulator");
    let base = emulator.base_url();
    let targets: super::Targets = Arc::new(move |product: &str| {
        (product == "codetest").then(|| Target {
            base_url: assay_wire::stackone::BaseUrl::parse(&base).expect("base"),
            api_key: key.clone(),
        })
    });
    let relay = Relay::new(Arc::clone(&store), targets).expect("relay");
    let wake = relay.waker();
    let twin = relay.clone();
    let stop = tokio_util::sync::CancellationToken::new();
    let relay = tokio::spawn(relay.run(stop.clone()));
    Fixture {
        _dir: dir,
        store,
        emulator,
        stop,
        relay,
        wake,
        twin,
    }
}

/// Stores an order (as the edge would), fulfils it with a first result (as the worker would)
/// and returns StackOne's order id.
async fn order_with_result(f: &Fixture, sequence: u64, result: serde_json::Value) -> String {
    let webhook = OrderBuilder::new(
        emulator::OrderKind::Assessment,
        emulator::Package::default(),
    )
    .sequence(sequence)
    .build();
    f.emulator.register_order(&webhook);
    let event = IncomingEvent {
        product: "codetest".into(),
        event_name: webhook.event.clone(),
        idempotency_key: format!("{}:{}", webhook.event, webhook.order_id),
        received_at: Timestamp::now(),
        envelope: webhook.body.clone(),
        order: Some(NewOrder {
            order_id: webhook.order_id.clone(),
            kind: OrderKind::Assessment,
            account_id: webhook.account_id.clone(),
            provider: None,
            package_id: None,
            candidate_label: None,
            order_json: webhook.order.to_string(),
        }),
    };
    f.store.record_event(event).await.expect("ingest");
    let claims = f
        .store
        .claim_orders_for_fulfilment(10, Timestamp::now(), Duration::from_secs(60))
        .await
        .expect("claim");
    let claim = claims
        .into_iter()
        .find(|c| c.order_id == webhook.order_id)
        .expect("claimed");
    f.store
        .fulfilment_succeeded(
            claim.claim,
            format!("ext-{sequence}"),
            None,
            Some(ResultBody::new(&result)),
        )
        .await
        .expect("fulfilled");
    f.wake.notify_one();
    webhook.order_id
}

async fn outbox_state(
    store: &Arc<dyn Store>,
    order_id: &str,
) -> Option<(OutboxState, Option<u16>, usize)> {
    let orders = store.list_orders(Default::default()).await.expect("list");
    let summary = orders.into_iter().find(|o| o.order_id == order_id)?;
    let detail = store.get_order(summary.id).await.expect("get")?;
    let row = detail.outbox.last()?;
    Some((row.state, row.http_status, detail.dead_letters.len()))
}

async fn wait_for_outbox(
    store: &Arc<dyn Store>,
    order_id: &str,
    want: OutboxState,
) -> (Option<u16>, usize) {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some((state, status, dead)) = outbox_state(store, order_id).await
            && state == want
        {
            return (status, dead);
        }
        assert!(
            Instant::now() < deadline,
            "outbox row of {order_id} never reached {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn delivers_once_after_429_with_retry_after() {
    let f = fixture().await;
    let order_id = order_with_result(&f, 1, json!({"result": {"value": "initiated"}})).await;
    f.emulator.script(
        ScriptTarget::Order(order_id.clone()),
        ScriptedResponse::too_many_requests(1),
    );
    let accepted = f
        .emulator
        .wait_for_accepted(&order_id, WAIT)
        .await
        .expect("delivered");
    let deliveries = f.emulator.deliveries_for(&order_id);
    assert_eq!(deliveries.len(), 2, "one 429, then one delivery");
    assert_eq!(deliveries[0].status.as_u16(), 429);
    let waited = accepted
        .received_at
        .duration_since(deliveries[0].received_at)
        .expect("ordered");
    assert!(
        waited >= Duration::from_secs(1),
        "Retry-After honoured, waited {waited:?}"
    );
    assert!(accepted.violations.is_empty(), "{:?}", accepted.violations);
    assert_eq!(
        wait_for_outbox(&f.store, &order_id, OutboxState::Delivered).await,
        (Some(200), 0)
    );
    f.stop.cancel();
    f.relay.await.expect("relay stops");
    assert_eq!(
        f.emulator.deliveries_for(&order_id).len(),
        2,
        "never delivered again"
    );
}

#[tokio::test]
async fn dead_letters_a_422_with_stackone_message() {
    let f = fixture().await;
    let order_id = order_with_result(&f, 2, json!({"result": {"value": "completed"}})).await;
    f.emulator.script(
        ScriptTarget::Order(order_id.clone()),
        ScriptedResponse::unprocessable("score is required"),
    );
    let (status, dead) = wait_for_outbox(&f.store, &order_id, OutboxState::DeadLettered).await;
    assert_eq!((status, dead), (Some(422), 1));
    let orders = f.store.list_orders(Default::default()).await.expect("list");
    let id = orders
        .iter()
        .find(|o| o.order_id == order_id)
        .expect("order")
        .id;
    let detail = f.store.get_order(id).await.expect("get").expect("found");
    assert!(
        detail.dead_letters[0].message.contains("score is required"),
        "{}",
        detail.dead_letters[0].message
    );
    assert_eq!(
        f.emulator.deliveries_for(&order_id).len(),
        1,
        "a 422 is not retried"
    );
    f.stop.cancel();
    f.relay.await.expect("relay stops");
}

#[tokio::test]
async fn a_claim_older_than_the_send_window_is_not_sent() {
    let mut f = fixture().await;
    // Only the claims made here are delivered.
    f.stop.cancel();
    (&mut f.relay).await.expect("relay stops");
    let order_id = order_with_result(&f, 3, json!({"result": {"value": "initiated"}})).await;
    let row = f
        .store
        .claim_outbox(10, Timestamp::now(), super::DELIVERY_LEASE)
        .await
        .expect("claim")
        .into_iter()
        .find(|r| r.order_id == order_id)
        .expect("the row is claimed");
    let stale = Instant::now()
        .checked_sub(super::send_window(super::DELIVERY_LEASE) + Duration::from_secs(1))
        .expect("the machine has been up longer than the send window");
    f.twin.deliver(stale, row.clone()).await;
    assert!(
        f.emulator.deliveries_for(&order_id).is_empty(),
        "a claim past its send window sends nothing"
    );
    let state = outbox_state(&f.store, &order_id).await.expect("row");
    assert_eq!(state.0, OutboxState::Pending, "left for the next claim");
    // The same claim within its window is sent and recorded.
    f.twin.deliver(Instant::now(), row).await;
    assert_eq!(f.emulator.deliveries_for(&order_id).len(), 1);
    assert_eq!(
        wait_for_outbox(&f.store, &order_id, OutboxState::Delivered).await,
        (Some(200), 0)
    );
}
