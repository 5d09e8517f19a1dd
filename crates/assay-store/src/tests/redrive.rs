//! Redrive: an operator puts a dead-lettered result or a failed order back in the queue,
//! and what happened before stays visible.

use super::*;
use crate::{OutboxState, RedriveKind};

async fn a_dead_lettered_final_result_is_queued_again_and_its_history_kept(b: Backend) {
    let store = b.open().await;
    let store = &*store;
    let id = fulfilled(store, "a").await;
    let t0 = Timestamp::now();
    let initiated = store.claim_outbox(10, t0, LEASE).await.unwrap();
    store
        .outbox_delivered(initiated[0].claim, 200)
        .await
        .unwrap();
    let completed = vec![(OrderRef::OrderId("a".into()), result("completed"))];
    store.record_results(PRODUCT, completed).await.unwrap()[0]
        .clone()
        .expect("queued");
    let refused = store.claim_outbox(10, t0, LEASE).await.unwrap();
    store
        .outbox_dead_letter(refused[0].claim, Some(404), "Order not found".into())
        .await
        .unwrap();
    assert_eq!(state_of(store, id).await, OrderState::DeadLettered);
    let listed = store
        .list_orders(OrderFilter {
            state: Some(OrderState::DeadLettered),
            ..OrderFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.iter().map(|o| o.id).collect::<Vec<_>>(), vec![id]);

    let redriven = store.redrive(id, Timestamp::now()).await.unwrap();
    assert_eq!(redriven.kind, RedriveKind::Result);
    assert_eq!(
        (redriven.from, redriven.to),
        (OrderState::DeadLettered, OrderState::ResultReceived)
    );
    let queued = redriven.outbox_id.expect("a new outbox row");
    assert_ne!(queued, refused[0].claim.id);

    let detail = store.get_order(id).await.unwrap().unwrap();
    assert_eq!(detail.summary.state, OrderState::ResultReceived);
    let rows: Vec<_> = detail
        .outbox
        .iter()
        .map(|r| (r.result_value.as_deref(), r.state))
        .collect();
    assert_eq!(
        rows,
        vec![
            (Some("initiated"), OutboxState::Delivered),
            (Some("completed"), OutboxState::DeadLettered),
            (Some("completed"), OutboxState::Pending),
        ]
    );
    assert_eq!(
        detail.outbox[1].last_error.as_deref(),
        Some("Order not found")
    );
    assert_eq!(detail.dead_letters.len(), 1, "the dead letter stays");
    assert!(detail.dead_letters[0].redriven_at.is_some());
    assert_eq!(detail.redrives.len(), 1);
    let record = &detail.redrives[0];
    assert_eq!(record.kind, RedriveKind::Result);
    assert_eq!(record.from_state, OrderState::DeadLettered);
    assert_eq!(record.reason.as_deref(), Some("Order not found"));
    assert_eq!(record.outbox_id, Some(refused[0].claim.id));
    assert_eq!(record.attempts, 1);

    // The copy goes out like any result, with attempts of its own.
    let again = store
        .claim_outbox(10, Timestamp::now(), LEASE)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].claim.id, queued);
    assert_eq!(again[0].claim.attempt, 1);
    assert_eq!(again[0].body_json, result("completed").json);
    store.outbox_delivered(again[0].claim, 200).await.unwrap();
    assert_eq!(state_of(store, id).await, OrderState::ResultDelivered);

    let err = store
        .redrive(id, Timestamp::now())
        .await
        .expect_err("a delivered order has nothing to retry");
    assert!(
        matches!(
            err,
            StoreError::NotRedrivable {
                state: OrderState::ResultDelivered,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("result_delivered"), "{err}");
}

async fn a_dead_lettered_progress_result_is_queued_again(b: Backend) {
    let store = b.open().await;
    let store = &*store;
    let id = fulfilled(store, "a").await;
    let initiated = store
        .claim_outbox(10, Timestamp::now(), LEASE)
        .await
        .unwrap();
    store
        .outbox_dead_letter(initiated[0].claim, None, "gave up after 8 attempts".into())
        .await
        .unwrap();
    let redriven = store.redrive(id, Timestamp::now()).await.unwrap();
    assert_eq!(redriven.kind, RedriveKind::Result);
    assert_eq!(
        (redriven.from, redriven.to),
        (OrderState::AwaitingResult, OrderState::AwaitingResult)
    );
    assert!(store.next_delivery_due().await.unwrap().is_some());
    let again = store
        .claim_outbox(10, Timestamp::now(), LEASE)
        .await
        .unwrap();
    assert_eq!(again[0].result_value.as_deref(), Some("initiated"));
}

async fn a_failed_order_goes_back_to_received_with_its_history(b: Backend) {
    let store = b.open().await;
    let store = &*store;
    let id = accept(store, "a").await;
    let first = claim_one(store, Timestamp::now()).await;
    store
        .fulfilment_failed(first.claim, "vendor said: package retired".into(), None)
        .await
        .unwrap();

    let redriven = store.redrive(id, Timestamp::now()).await.unwrap();
    assert_eq!(redriven.kind, RedriveKind::Order);
    assert_eq!(
        (redriven.from, redriven.to),
        (OrderState::Failed, OrderState::Received)
    );
    assert_eq!(redriven.outbox_id, None);
    let detail = store.get_order(id).await.unwrap().unwrap();
    assert_eq!(detail.summary.state, OrderState::Received);
    assert_eq!(detail.summary.failure_reason, None);
    assert_eq!(detail.summary.attempts, 1, "attempts are kept");
    let record = &detail.redrives[0];
    assert_eq!(record.kind, RedriveKind::Order);
    assert_eq!(record.from_state, OrderState::Failed);
    assert_eq!(
        record.reason.as_deref(),
        Some("vendor said: package retired")
    );
    assert_eq!(record.attempts, 1);

    // Due at once; the next claim is attempt 2, so the first claim stays fenced off.
    assert!(store.next_fulfilment_due().await.unwrap().is_some());
    let second = claim_one(store, Timestamp::now()).await;
    assert_eq!(second.claim.attempt, 2);
    let err = store
        .fulfilment_failed(first.claim, "stale".into(), None)
        .await
        .expect_err("the first claim is stale");
    assert!(matches!(err, StoreError::LeaseLost { .. }), "{err}");
    store
        .fulfilment_succeeded(
            second.claim,
            "ext-a".into(),
            None,
            Some(result("initiated")),
        )
        .await
        .unwrap();
    assert_eq!(state_of(store, id).await, OrderState::AwaitingResult);
}

async fn only_a_failed_or_dead_lettered_order_can_be_redriven(b: Backend) {
    let store = b.open().await;
    let store = &*store;
    let err = store
        .redrive(OrderId(4242), Timestamp::now())
        .await
        .expect_err("unknown order");
    assert!(
        matches!(err, StoreError::OrderNotFound(OrderId(4242))),
        "{err}"
    );
    let id = accept(store, "a").await;
    let err = store
        .redrive(id, Timestamp::now())
        .await
        .expect_err("a received order is already queued");
    assert!(
        matches!(
            err,
            StoreError::NotRedrivable {
                state: OrderState::Received,
                ..
            }
        ),
        "{err}"
    );
    let detail = store.get_order(id).await.unwrap().unwrap();
    assert!(detail.redrives.is_empty(), "a refusal records nothing");
}

on_every_backend!(
    a_dead_lettered_final_result_is_queued_again_and_its_history_kept,
    a_dead_lettered_progress_result_is_queued_again,
    a_failed_order_goes_back_to_received_with_its_history,
    only_a_failed_or_dead_lettered_order_can_be_redriven,
);
