//! Ingest, idempotency and the operator views.

use super::*;

async fn a_duplicate_event_changes_nothing(b: Backend) {
    let store = b.open().await;
    let store = &*store;
    let first = store.record_event(event("k1", Some("o1"))).await.unwrap();
    let IngestOutcome::Accepted { order } = first else {
        panic!("first delivery must be accepted: {first:?}");
    };
    let again = store.record_event(event("k1", Some("o1"))).await.unwrap();
    assert_eq!(again, IngestOutcome::Duplicate);
    let orders = store.list_orders(OrderFilter::default()).await.unwrap();
    assert_eq!(orders.len(), 1);
    let detail = store.get_order(order).await.unwrap().unwrap();
    assert_eq!(detail.events.len(), 1, "the duplicate must not be stored");
    assert_eq!(detail.summary.state, OrderState::Received);
    assert_eq!(detail.order_json, r#"{"id":"o1"}"#);
    assert!(detail.events[0].envelope.contains(r#""key":"k1""#));

    // A new key naming the same StackOne order is kept for the record but makes no order.
    let other_key = store.record_event(event("k2", Some("o1"))).await.unwrap();
    assert_eq!(other_key, IngestOutcome::Duplicate);
    let detail = store.get_order(order).await.unwrap().unwrap();
    let dispositions: Vec<_> = detail.events.iter().map(|e| e.disposition).collect();
    assert_eq!(
        dispositions,
        vec![EventDisposition::Order, EventDisposition::DuplicateOrder]
    );
    assert_eq!(
        store
            .list_orders(OrderFilter::default())
            .await
            .unwrap()
            .len(),
        1
    );

    // The same key on another product is another event.
    let mut elsewhere = event("k1", Some("o1"));
    elsewhere.product = "otherproduct".into();
    assert!(matches!(
        store.record_event(elsewhere).await.unwrap(),
        IngestOutcome::Accepted { .. }
    ));
}

async fn acknowledged_events_survive_a_reopen(b: Backend) {
    let mut ids = Vec::new();
    {
        let store = b.open().await;
        let store = &*store;
        for i in 0..20 {
            ids.push(accept(store, &format!("o{i}")).await);
        }
    }
    let store = b.open().await;
    let store = &*store;
    let listed = store.list_orders(OrderFilter::default()).await.unwrap();
    let mut listed_ids: Vec<_> = listed.iter().map(|o| o.id).collect();
    listed_ids.reverse();
    assert_eq!(listed_ids, ids, "newest first, all of them");
    assert_eq!(listed[0].order_id, "o19");
    assert_eq!(
        listed[0].candidate_label.as_deref(),
        Some("Ada <ada@example.com>")
    );
    assert_eq!(
        store
            .record_event(event("key-o3", Some("o3")))
            .await
            .unwrap(),
        IngestOutcome::Duplicate,
        "idempotency survives the reopen"
    );
}

async fn list_orders_filters_and_pages(b: Backend) {
    let store = b.open().await;
    let store = &*store;
    // `fulfilled` claims whatever is due, so the fulfilled order comes first.
    let b = fulfilled(store, "b").await;
    let a = accept(store, "a").await;
    let c = accept(store, "c").await;
    let received = OrderFilter {
        state: Some(OrderState::Received),
        ..OrderFilter::default()
    };
    let ids: Vec<_> = store
        .list_orders(received)
        .await
        .unwrap()
        .iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(ids, vec![c, a]);
    let page = |before| OrderFilter {
        before: Some(before),
        limit: 1,
        ..OrderFilter::default()
    };
    let ids: Vec<_> = store
        .list_orders(page(c))
        .await
        .unwrap()
        .iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(ids, vec![a]);
    let ids: Vec<_> = store
        .list_orders(page(a))
        .await
        .unwrap()
        .iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(ids, vec![b]);
    let other = OrderFilter {
        product: Some("nope".into()),
        ..OrderFilter::default()
    };
    assert!(store.list_orders(other).await.unwrap().is_empty());
    assert!(store.get_order(OrderId(999)).await.unwrap().is_none());
    let b_summary = &store.get_order(b).await.unwrap().unwrap().summary;
    assert_eq!(b_summary.external_id.as_deref(), Some("ext-b"));
    assert_eq!(b_summary.last_result.as_deref(), Some("initiated"));
    assert_eq!(b_summary.undelivered_results, 1);
}

async fn store_errors_say_whether_to_answer_503(b: Backend) {
    let store = b.open().await;
    let store = &*store;
    let err = store
        .fulfilment_failed(
            crate::OrderClaim {
                order: OrderId(42),
                attempt: 1,
            },
            "x".into(),
            None,
        )
        .await
        .expect_err("no such order");
    assert!(
        matches!(err, StoreError::OrderNotFound(OrderId(42))),
        "{err}"
    );
    assert!(!err.is_unavailable());
    let unknown = OrderRef::OrderId("nope".into());
    let answers = store
        .record_results(PRODUCT, vec![(unknown, result("completed"))])
        .await
        .unwrap();
    assert!(answers[0].is_err());
}

on_every_backend!(
    a_duplicate_event_changes_nothing,
    acknowledged_events_survive_a_reopen,
    list_orders_filters_and_pages,
    store_errors_say_whether_to_answer_503,
);
