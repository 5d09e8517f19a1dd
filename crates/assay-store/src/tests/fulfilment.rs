//! The order state machine: claims, leases, fulfilment outcomes, results.

use std::time::Duration;

use super::*;
use crate::{OrderClaim, ResultRecorded, ResultRejection};

async fn an_order_goes_from_received_to_result_delivered(b: Backend) {
    let store = b.open().await;
    let store = &*store;
    let id = accept(store, "o1").await;
    let now = Timestamp::now();
    let c = claim_one(store, now).await;
    assert_eq!(
        c.claim,
        OrderClaim {
            order: id,
            attempt: 1
        }
    );
    assert_eq!((c.order_id.as_str(), c.kind), ("o1", OrderKind::Assessment));
    assert_eq!(c.order_json, r#"{"id":"o1"}"#);
    assert_eq!(c.lease_until, now.plus(LEASE));
    assert_eq!(state_of(store, id).await, OrderState::Fulfilling);
    assert!(
        store
            .claim_orders_for_fulfilment(10, now, LEASE)
            .await
            .unwrap()
            .is_empty(),
        "a leased order is not handed out twice"
    );

    store
        .fulfilment_succeeded(c.claim, "ext-1".into(), Some("https://t/1".into()), None)
        .await
        .unwrap();
    assert_eq!(state_of(store, id).await, OrderState::AwaitingResult);
    let pending = store.pending_orders(PRODUCT, 100).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(
        (pending[0].order, pending[0].external_id.as_str()),
        (id, "ext-1")
    );
    assert!(store.pending_orders("other", 100).await.unwrap().is_empty());

    let answers = store
        .record_results(
            PRODUCT,
            vec![(OrderRef::ExternalId("ext-1".into()), result("completed"))],
        )
        .await
        .unwrap();
    assert!(matches!(answers[..], [Ok(ResultRecorded::Queued { order, .. })] if order == id));
    assert_eq!(state_of(store, id).await, OrderState::ResultReceived);
    assert!(
        store.pending_orders(PRODUCT, 100).await.unwrap().is_empty(),
        "no more polling"
    );

    let rows = store
        .claim_outbox(10, Timestamp::now(), LEASE)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].order_id.as_str(), rows[0].account_id.as_str()),
        ("o1", "acct-1")
    );
    assert_eq!(rows[0].result_value.as_deref(), Some("completed"));
    store.outbox_delivered(rows[0].claim, 200).await.unwrap();
    assert_eq!(state_of(store, id).await, OrderState::ResultDelivered);
}

async fn invalid_transitions_are_refused(b: Backend) {
    let store = b.open().await;
    let store = &*store;
    let id = accept(store, "o1").await;
    let never_claimed = OrderClaim {
        order: id,
        attempt: 0,
    };
    let err = store
        .fulfilment_succeeded(never_claimed, "ext".into(), None, None)
        .await
        .expect_err("an unclaimed order cannot succeed");
    assert!(
        matches!(
            err,
            StoreError::InvalidTransition {
                from: OrderState::Received,
                to: OrderState::AwaitingResult,
                ..
            }
        ),
        "{err}"
    );
    let err = store
        .fulfilment_failed(
            OrderClaim {
                order: id,
                attempt: 0,
            },
            "no".into(),
            None,
        )
        .await
        .expect_err("an unclaimed order cannot fail");
    assert!(matches!(err, StoreError::InvalidTransition { .. }), "{err}");
    assert_eq!(
        state_of(store, id).await,
        OrderState::Received,
        "nothing applied"
    );

    let c = claim_one(store, Timestamp::now()).await;
    store
        .fulfilment_failed(c.claim, "package retired".into(), None)
        .await
        .unwrap();
    let detail = store.get_order(id).await.unwrap().unwrap();
    assert_eq!(detail.summary.state, OrderState::Failed);
    assert_eq!(
        detail.summary.failure_reason.as_deref(),
        Some("package retired")
    );
    let later = Timestamp::now().plus(Duration::from_secs(3600));
    assert!(
        store
            .claim_orders_for_fulfilment(10, later, LEASE)
            .await
            .unwrap()
            .is_empty()
    );
    let err = store
        .fulfilment_retry(c.claim, later, "again".into())
        .await
        .expect_err("failed is terminal");
    assert!(
        matches!(
            err,
            StoreError::InvalidTransition {
                from: OrderState::Failed,
                ..
            }
        ),
        "{err}"
    );
    let err = store
        .fulfilment_succeeded(c.claim, "ext".into(), None, None)
        .await
        .expect_err("failed is terminal");
    assert!(matches!(err, StoreError::InvalidTransition { .. }), "{err}");
    let answers = store
        .record_results(
            PRODUCT,
            vec![(OrderRef::OrderId("o1".into()), result("passed"))],
        )
        .await
        .unwrap();
    assert_eq!(
        answers,
        vec![Err(ResultRejection::NotAwaitingResult {
            order: id,
            state: OrderState::Failed
        })]
    );
}

async fn a_retry_waits_for_its_time_and_counts_the_attempt(b: Backend) {
    let store = b.open().await;
    let store = &*store;
    let id = accept(store, "o1").await;
    let t0 = Timestamp::now();
    let c = claim_one(store, t0).await;
    let not_before = t0.plus(Duration::from_secs(60));
    store
        .fulfilment_retry(c.claim, not_before, "vendor 503".into())
        .await
        .unwrap();
    let summary = store.get_order(id).await.unwrap().unwrap().summary;
    assert_eq!(summary.state, OrderState::Received);
    assert_eq!(summary.next_attempt_at, Some(not_before));
    assert_eq!(summary.last_error.as_deref(), Some("vendor 503"));
    assert!(
        store
            .claim_orders_for_fulfilment(10, t0.plus(Duration::from_secs(59)), LEASE)
            .await
            .unwrap()
            .is_empty()
    );
    let again = claim_one(store, not_before).await;
    assert_eq!(again.claim.attempt, 2);
    assert_eq!(again.last_error.as_deref(), Some("vendor 503"));
}

async fn an_expired_lease_is_claimed_again_and_fences_the_old_claim(b: Backend) {
    let store = b.open().await;
    let store = &*store;
    let id = accept(store, "o1").await;
    let t0 = Timestamp::now();
    let first = claim_one(store, t0).await;
    let before_expiry = t0.plus(LEASE).minus(Duration::from_millis(1));
    assert!(
        store
            .claim_orders_for_fulfilment(10, before_expiry, LEASE)
            .await
            .unwrap()
            .is_empty()
    );
    let second = claim_one(store, t0.plus(LEASE)).await;
    assert_eq!(
        second.claim,
        OrderClaim {
            order: id,
            attempt: 2
        }
    );

    let err = store
        .fulfilment_retry(first.claim, t0, "late".into())
        .await
        .expect_err("the first claim is stale");
    assert!(
        matches!(err, StoreError::LeaseLost { attempt: 1, .. }),
        "{err}"
    );
    let err = store
        .fulfilment_failed(first.claim, "late".into(), None)
        .await
        .expect_err("the first claim is stale");
    assert!(matches!(err, StoreError::LeaseLost { .. }), "{err}");

    // A success is a fact whoever reports it; the current holder's identical report is then
    // a no-op, and the first result is queued once.
    store
        .fulfilment_succeeded(first.claim, "ext-1".into(), None, Some(result("initiated")))
        .await
        .unwrap();
    store
        .fulfilment_succeeded(
            second.claim,
            "ext-1".into(),
            None,
            Some(result("initiated")),
        )
        .await
        .unwrap();
    let detail = store.get_order(id).await.unwrap().unwrap();
    assert_eq!(detail.summary.state, OrderState::AwaitingResult);
    assert_eq!(detail.outbox.len(), 1);
    let err = store
        .fulfilment_succeeded(second.claim, "ext-other".into(), None, None)
        .await
        .expect_err("a different external id is not the same success");
    assert!(matches!(err, StoreError::InvalidTransition { .. }), "{err}");
}

async fn an_external_id_names_one_order_per_product(b: Backend) {
    let store = b.open().await;
    let store = &*store;
    fulfilled(store, "a").await;
    accept(store, "b").await;
    let c = claim_one(store, Timestamp::now()).await;
    let err = store
        .fulfilment_succeeded(c.claim, "ext-a".into(), None, None)
        .await
        .expect_err("ext-a belongs to order a");
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    assert_eq!(state_of(store, c.claim.order).await, OrderState::Fulfilling);
}

async fn results_for_unknown_orders_are_refused_one_by_one(b: Backend) {
    let store = b.open().await;
    let store = &*store;
    let a = fulfilled(store, "a").await;
    let b = fulfilled(store, "b").await;
    let unclaimed = accept(store, "c").await;
    let answers = store
        .record_results(
            PRODUCT,
            vec![
                (OrderRef::ExternalId("ext-a".into()), result("in_progress")),
                (OrderRef::ExternalId("ext-zzz".into()), result("completed")),
                (OrderRef::OrderId("zzz".into()), result("completed")),
                (OrderRef::OrderId("c".into()), result("completed")),
                (OrderRef::OrderId("b".into()), result("passed")),
            ],
        )
        .await
        .unwrap();
    assert_eq!(answers.len(), 5);
    assert!(matches!(answers[0], Ok(ResultRecorded::Queued { order, .. }) if order == a));
    assert_eq!(
        answers[1],
        Err(ResultRejection::UnknownOrder(OrderRef::ExternalId(
            "ext-zzz".into()
        )))
    );
    assert_eq!(
        answers[2],
        Err(ResultRejection::UnknownOrder(OrderRef::OrderId(
            "zzz".into()
        )))
    );
    assert_eq!(
        answers[3],
        Err(ResultRejection::NotAwaitingResult {
            order: unclaimed,
            state: OrderState::Received
        })
    );
    assert!(matches!(answers[4], Ok(ResultRecorded::Queued { order, .. }) if order == b));
    assert_eq!(state_of(store, a).await, OrderState::AwaitingResult);
    assert_eq!(state_of(store, b).await, OrderState::ResultReceived);
    // Another product's orders are not visible under this one.
    let answers = store
        .record_results(
            "other",
            vec![(OrderRef::ExternalId("ext-a".into()), result("passed"))],
        )
        .await
        .unwrap();
    assert!(matches!(answers[0], Err(ResultRejection::UnknownOrder(_))));
}

async fn a_progress_result_after_the_final_one_is_not_queued(b: Backend) {
    let store = b.open().await;
    let store = &*store;
    let id = fulfilled(store, "a").await;
    let r = OrderRef::OrderId("a".into());
    store
        .record_results(PRODUCT, vec![(r.clone(), result("completed"))])
        .await
        .unwrap();
    let answers = store
        .record_results(PRODUCT, vec![(r.clone(), result("in_progress"))])
        .await
        .unwrap();
    assert_eq!(answers, vec![Ok(ResultRecorded::Superseded { order: id })]);
    let detail = store.get_order(id).await.unwrap().unwrap();
    let values: Vec<_> = detail
        .outbox
        .iter()
        .map(|o| o.result_value.clone())
        .collect();
    assert_eq!(
        values,
        vec![Some("initiated".into()), Some("completed".into())]
    );
    // A corrected final result is still queued.
    let answers = store
        .record_results(PRODUCT, vec![(r, result("passed"))])
        .await
        .unwrap();
    assert!(matches!(answers[0], Ok(ResultRecorded::Queued { .. })));
}

async fn the_next_fulfilment_is_due_at_a_retry_or_a_lease_end(b: Backend) {
    let store = b.open().await;
    let store = &*store;
    assert_eq!(
        store.next_fulfilment_due().await.unwrap(),
        None,
        "no orders"
    );
    accept(store, "o1").await;
    let now = Timestamp::now();
    let due = store
        .next_fulfilment_due()
        .await
        .unwrap()
        .expect("an order waits");
    assert!(due <= now, "a fresh order is due at once");

    let c = claim_one(store, now).await;
    assert_eq!(
        store.next_fulfilment_due().await.unwrap(),
        Some(now.plus(LEASE)),
        "a claimed order is due again when its lease ends"
    );
    let retry_at = now.plus(Duration::from_secs(30));
    store
        .fulfilment_retry(c.claim, retry_at, "vendor down".into())
        .await
        .unwrap();
    assert_eq!(store.next_fulfilment_due().await.unwrap(), Some(retry_at));

    let c = claim_one(store, retry_at).await;
    store
        .fulfilment_succeeded(c.claim, "ext-1".into(), None, None)
        .await
        .unwrap();
    assert_eq!(
        store.next_fulfilment_due().await.unwrap(),
        None,
        "a fulfilled order is never due again"
    );
}

async fn a_permanent_failure_queues_its_final_result_in_the_same_transaction(b: Backend) {
    let store = b.open().await;
    let store = &*store;
    let id = accept(store, "o-fail").await;
    let c = claim_one(store, Timestamp::now()).await;
    store
        .fulfilment_failed(
            c.claim,
            "the vendor refused: unknown questionnaire".into(),
            Some(result("failed")),
        )
        .await
        .unwrap();
    let detail = store.get_order(id).await.unwrap().unwrap();
    assert_eq!(detail.summary.state, OrderState::Failed);
    assert_eq!(detail.outbox.len(), 1);
    assert_eq!(detail.outbox[0].result_value.as_deref(), Some("failed"));
    let due = store
        .claim_outbox(10, Timestamp::now(), LEASE)
        .await
        .unwrap();
    assert_eq!(due.len(), 1, "the relay delivers it like any result");
    assert_eq!(due[0].order_id, "o-fail");
    store.outbox_delivered(due[0].claim, 200).await.unwrap();
    assert_eq!(
        state_of(store, id).await,
        OrderState::Failed,
        "delivering the failure result leaves the order failed"
    );
    // A failure that cannot be told (no result) queues nothing.
    let id2 = accept(store, "o-fail-2").await;
    let c2 = claim_one(store, Timestamp::now()).await;
    store
        .fulfilment_failed(c2.claim, "x".into(), None)
        .await
        .unwrap();
    assert!(
        store
            .get_order(id2)
            .await
            .unwrap()
            .unwrap()
            .outbox
            .is_empty()
    );
}

async fn a_result_identical_to_the_last_queued_one_is_not_queued_again(b: Backend) {
    let store = b.open().await;
    let store = &*store;
    let id = fulfilled(store, "a").await; // queues a: initiated
    let r = OrderRef::OrderId("a".into());
    let record = |value: &'static str| {
        let r = r.clone();
        let store = &store;
        async move {
            store
                .record_results(PRODUCT, vec![(r, result(value))])
                .await
                .unwrap()
        }
    };
    let first = record("in_progress").await;
    let [Ok(ResultRecorded::Queued { outbox_id, .. })] = first[..] else {
        panic!("expected Queued: {first:?}");
    };
    assert_eq!(
        record("in_progress").await,
        vec![Ok(ResultRecorded::AlreadyQueued {
            order: id,
            outbox_id
        })]
    );
    let outbox_len = || async { store.get_order(id).await.unwrap().unwrap().outbox.len() };
    assert_eq!(outbox_len().await, 2, "initiated, in_progress");

    // Delivered counts as well as queued; a different body is queued.
    let rows = store
        .claim_outbox(10, Timestamp::now(), LEASE)
        .await
        .unwrap();
    store.outbox_delivered(rows[0].claim, 200).await.unwrap();
    let rows = store
        .claim_outbox(10, Timestamp::now(), LEASE)
        .await
        .unwrap();
    store.outbox_delivered(rows[0].claim, 200).await.unwrap();
    assert!(matches!(
        record("in_progress").await[..],
        [Ok(ResultRecorded::AlreadyQueued { .. })]
    ));
    assert!(matches!(
        record("completed").await[..],
        [Ok(ResultRecorded::Queued { .. })]
    ));
    assert_eq!(outbox_len().await, 3);
    assert_eq!(state_of(store, id).await, OrderState::ResultReceived);
}

on_every_backend!(
    an_order_goes_from_received_to_result_delivered,
    invalid_transitions_are_refused,
    a_retry_waits_for_its_time_and_counts_the_attempt,
    an_expired_lease_is_claimed_again_and_fences_the_old_claim,
    an_external_id_names_one_order_per_product,
    results_for_unknown_orders_are_refused_one_by_one,
    a_progress_result_after_the_final_one_is_not_queued,
    the_next_fulfilment_is_due_at_a_retry_or_a_lease_end,
    a_permanent_failure_queues_its_final_result_in_the_same_transaction,
    a_result_identical_to_the_last_queued_one_is_not_queued_again,
);
