//! The outbox: per-order ordering, leases, exactly-once from the store's side, dead letters.

use std::time::Duration;

use super::*;
use crate::{OutboxClaim, OutboxState};

async fn queue(store: &dyn Store, order_id: &str, values: &[&str]) {
    let items = values
        .iter()
        .map(|v| (OrderRef::OrderId(order_id.into()), result(v)))
        .collect();
    for answer in store.record_results(PRODUCT, items).await.unwrap() {
        answer.expect("queued");
    }
}

fn summary(rows: &[crate::OutboxDelivery]) -> Vec<(String, Option<String>)> {
    rows.iter()
        .map(|r| (r.order_id.clone(), r.result_value.clone()))
        .collect()
}

fn pair(order: &str, value: &str) -> (String, Option<String>) {
    (order.into(), Some(value.into()))
}

async fn results_of_one_order_go_out_one_at_a_time_in_order(b: Backend) {
    let store = b.open().await;
    let store = &*store;
    fulfilled(store, "a").await; // queues a: initiated
    queue(store, "a", &["in_progress", "completed"]).await;
    fulfilled(store, "b").await; // queues b: initiated
    let t0 = Timestamp::now();

    let first = store.claim_outbox(10, t0, LEASE).await.unwrap();
    assert_eq!(
        summary(&first),
        vec![pair("a", "initiated"), pair("b", "initiated")]
    );
    assert!(
        store.claim_outbox(10, t0, LEASE).await.unwrap().is_empty(),
        "nothing else is due while the heads are leased"
    );

    // a's head backs off: a's later results wait behind it, even past their own time.
    let later = t0.plus(Duration::from_secs(60));
    store
        .outbox_retry(first[0].claim, later, "503".into())
        .await
        .unwrap();
    store.outbox_delivered(first[1].claim, 200).await.unwrap();
    assert!(store.claim_outbox(10, t0, LEASE).await.unwrap().is_empty());

    let retried = store.claim_outbox(10, later, LEASE).await.unwrap();
    assert_eq!(summary(&retried), vec![pair("a", "initiated")]);
    assert_eq!(retried[0].claim.attempt, 2);
    store.outbox_delivered(retried[0].claim, 200).await.unwrap();

    let next = store.claim_outbox(10, later, LEASE).await.unwrap();
    assert_eq!(summary(&next), vec![pair("a", "in_progress")]);
    store.outbox_delivered(next[0].claim, 200).await.unwrap();
    let last = store.claim_outbox(10, later, LEASE).await.unwrap();
    assert_eq!(summary(&last), vec![pair("a", "completed")]);
    store.outbox_delivered(last[0].claim, 200).await.unwrap();

    // Delivered rows are never handed out again, however late it gets.
    let far = later.plus(Duration::from_secs(86_400 * 365));
    assert!(store.claim_outbox(10, far, LEASE).await.unwrap().is_empty());
    assert_eq!(store.outbox_backlog().await.unwrap().pending, 0);
}

async fn an_expired_outbox_lease_is_claimed_again(b: Backend) {
    let store = b.open().await;
    let store = &*store;
    let id = fulfilled(store, "a").await;
    let t0 = Timestamp::now();
    let first = store.claim_outbox(10, t0, LEASE).await.unwrap();
    assert_eq!(first.len(), 1);
    let backlog = store.outbox_backlog().await.unwrap();
    assert_eq!(backlog.pending, 1);
    assert_eq!(backlog.oldest_created_at, Some(first[0].created_at));
    let counts = store.counts().await.unwrap();
    assert_eq!(counts.outbox, backlog);
    assert_eq!(
        counts.orders,
        vec![(PRODUCT.to_owned(), OrderState::AwaitingResult, 1)]
    );
    assert!(counts.dead_letters.is_empty());
    let before = t0.plus(LEASE).minus(Duration::from_millis(1));
    assert!(
        store
            .claim_outbox(10, before, LEASE)
            .await
            .unwrap()
            .is_empty()
    );
    let second = store.claim_outbox(10, t0.plus(LEASE), LEASE).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(
        second[0].claim,
        OutboxClaim {
            id: first[0].claim.id,
            attempt: 2
        }
    );

    let err = store
        .outbox_dead_letter(first[0].claim, Some(400), "stale".into())
        .await
        .expect_err("the first claim is stale");
    assert!(matches!(err, StoreError::LeaseLost { .. }), "{err}");
    let err = store
        .outbox_retry(first[0].claim, t0, "stale".into())
        .await
        .expect_err("the first claim is stale");
    assert!(matches!(err, StoreError::LeaseLost { .. }), "{err}");

    // The first sender's success is true all the same; the second's is then a no-op.
    store.outbox_delivered(first[0].claim, 200).await.unwrap();
    store.outbox_delivered(second[0].claim, 200).await.unwrap();
    let detail = store.get_order(id).await.unwrap().unwrap();
    assert_eq!(detail.outbox[0].state, OutboxState::Delivered);
    assert_eq!(detail.outbox[0].http_status, Some(200));
    let err = store
        .outbox_retry(second[0].claim, t0, "late".into())
        .await
        .expect_err("a delivered row cannot be retried");
    assert!(matches!(err, StoreError::LeaseLost { .. }), "{err}");
    let far = t0.plus(Duration::from_secs(86_400));
    assert!(store.claim_outbox(10, far, LEASE).await.unwrap().is_empty());
}

async fn dead_letters_are_visible_in_the_order(b: Backend) {
    let store = b.open().await;
    let store = &*store;
    let id = fulfilled(store, "a").await;
    let t0 = Timestamp::now();

    // A refused progress result is recorded, but the order keeps waiting for its result.
    let initiated = store.claim_outbox(10, t0, LEASE).await.unwrap();
    store
        .outbox_dead_letter(initiated[0].claim, Some(422), "invalid payload".into())
        .await
        .unwrap();
    let summary = store.get_order(id).await.unwrap().unwrap().summary;
    assert_eq!(summary.state, OrderState::AwaitingResult);
    assert_eq!(summary.dead_letters, 1);
    assert_eq!(store.pending_orders(PRODUCT, 10).await.unwrap().len(), 1);

    // A refused final result parks the order for an operator.
    queue(store, "a", &["completed"]).await;
    let completed = store.claim_outbox(10, t0, LEASE).await.unwrap();
    assert_eq!(summary_values(&completed), vec![Some("completed".into())]);
    store
        .outbox_dead_letter(completed[0].claim, Some(404), "Order not found".into())
        .await
        .unwrap();
    let detail = store.get_order(id).await.unwrap().unwrap();
    assert_eq!(detail.summary.state, OrderState::DeadLettered);
    assert_eq!(detail.summary.undelivered_results, 0);
    let counts = store.counts().await.unwrap();
    assert_eq!(
        counts.orders,
        vec![(PRODUCT.to_owned(), OrderState::DeadLettered, 1)]
    );
    assert_eq!(counts.dead_letters, vec![(PRODUCT.to_owned(), 2)]);
    assert_eq!(counts.outbox.pending, 0);
    let letters: Vec<_> = detail
        .dead_letters
        .iter()
        .map(|d| (d.outbox_id, d.http_status, d.message.as_str()))
        .collect();
    assert_eq!(
        letters,
        vec![
            (initiated[0].claim.id, Some(422), "invalid payload"),
            (completed[0].claim.id, Some(404), "Order not found"),
        ]
    );
    assert!(
        detail
            .outbox
            .iter()
            .all(|o| o.state == OutboxState::DeadLettered)
    );
    let far = t0.plus(Duration::from_secs(86_400));
    assert!(store.claim_outbox(10, far, LEASE).await.unwrap().is_empty());
    let err = store
        .outbox_delivered(completed[0].claim, 200)
        .await
        .expect_err("a dead letter cannot turn into a delivery");
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    let listed = store
        .list_orders(OrderFilter {
            state: Some(OrderState::DeadLettered),
            ..OrderFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.iter().map(|o| o.id).collect::<Vec<_>>(), vec![id]);
}

fn summary_values(rows: &[crate::OutboxDelivery]) -> Vec<Option<String>> {
    rows.iter().map(|r| r.result_value.clone()).collect()
}

async fn the_next_delivery_is_due_when_the_head_of_an_order_is(b: Backend) {
    let store = b.open().await;
    let store = &*store;
    assert_eq!(
        store.next_delivery_due().await.unwrap(),
        None,
        "empty outbox"
    );
    fulfilled(store, "a").await; // queues a: initiated
    queue(store, "a", &["completed"]).await;
    let t0 = Timestamp::now();
    let due = store
        .next_delivery_due()
        .await
        .unwrap()
        .expect("a row waits");
    assert!(due <= t0, "a fresh row is due at once: {due} > {t0}");

    let head = store.claim_outbox(10, t0, LEASE).await.unwrap();
    assert_eq!(summary(&head), vec![pair("a", "initiated")]);
    assert_eq!(
        store.next_delivery_due().await.unwrap(),
        Some(t0.plus(LEASE)),
        "a leased head is due when its lease ends; the row behind it does not count"
    );
    let later = t0.plus(Duration::from_secs(60));
    store
        .outbox_retry(head[0].claim, later, "503".into())
        .await
        .unwrap();
    assert_eq!(
        store.next_delivery_due().await.unwrap(),
        Some(later),
        "a head backing off is due at its retry time"
    );
    let retried = store.claim_outbox(10, later, LEASE).await.unwrap();
    store.outbox_delivered(retried[0].claim, 200).await.unwrap();
    let next = store.claim_outbox(10, later, LEASE).await.unwrap();
    store.outbox_delivered(next[0].claim, 200).await.unwrap();
    assert_eq!(
        store.next_delivery_due().await.unwrap(),
        None,
        "all delivered"
    );
}

on_every_backend!(
    results_of_one_order_go_out_one_at_a_time_in_order,
    an_expired_outbox_lease_is_claimed_again,
    dead_letters_are_visible_in_the_order,
    the_next_delivery_is_due_when_the_head_of_an_order_is,
);
