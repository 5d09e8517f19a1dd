//! Fair claims across products (see [`crate::fair`]): a product's backlog never holds every
//! slot, and a product at its bound gets nothing more.

use super::*;
use crate::ClaimSlots;

/// Records an order of `product` and returns its id.
async fn accept_for(store: &dyn Store, product: &str, order_id: &str) -> OrderId {
    let mut e = event(&format!("key-{product}-{order_id}"), Some(order_id));
    e.product = product.into();
    match store.record_event(e).await.expect("record") {
        IngestOutcome::Accepted { order } => order,
        other => panic!("expected Accepted, got {other:?}"),
    }
}

fn products_of(claimed: &[ClaimedOrder]) -> Vec<&str> {
    claimed.iter().map(|c| c.product.as_str()).collect()
}

async fn a_backlog_queued_first_does_not_hold_every_slot(b: Backend) {
    let store = b.open().await;
    let store = &*store;
    // 16 orders of a slow product arrive first, then 2 of a quick one.
    for i in 0..16 {
        accept_for(store, "slow", &format!("s{i}")).await;
    }
    let q0 = accept_for(store, "quick", "q0").await;
    let q1 = accept_for(store, "quick", "q1").await;
    let now = Timestamp::now();

    // Oldest first alone (every product unbounded) took 8 slow orders; now the products
    // take turns.
    let claimed = store
        .claim_due_orders(ClaimSlots::uniform(8), now, LEASE)
        .await
        .unwrap();
    assert_eq!(
        products_of(&claimed),
        [
            "slow", "quick", "slow", "quick", "slow", "slow", "slow", "slow"
        ]
    );
    let quick: Vec<OrderId> = claimed
        .iter()
        .filter(|c| c.product == "quick")
        .map(|c| c.claim.order)
        .collect();
    assert_eq!(quick, [q0, q1], "each product's oldest first");
}

async fn a_product_at_its_bound_gets_nothing_more(b: Backend) {
    let store = b.open().await;
    let store = &*store;
    for i in 0..6 {
        accept_for(store, "slow", &format!("s{i}")).await;
    }
    let now = Timestamp::now();
    let slots = |slow: usize| ClaimSlots {
        total: 8,
        per_product: [("slow".to_owned(), slow)].into(),
        others: 8,
    };
    let first = store.claim_due_orders(slots(4), now, LEASE).await.unwrap();
    assert_eq!(first.len(), 4, "the product's own bound, not the total");
    let none = store.claim_due_orders(slots(0), now, LEASE).await.unwrap();
    assert!(none.is_empty(), "at its bound: {none:?}");

    // Its due orders do not wake a worker that may not claim them...
    assert_eq!(
        store
            .next_fulfilment_due_except(vec!["slow".into()])
            .await
            .unwrap(),
        None
    );
    assert!(store.next_fulfilment_due().await.unwrap().is_some());
    // ...but another product's order does, and is claimed past the full product.
    let other = accept_for(store, "quick", "q0").await;
    assert!(
        store
            .next_fulfilment_due_except(vec!["slow".into()])
            .await
            .unwrap()
            .is_some()
    );
    let claimed = store.claim_due_orders(slots(0), now, LEASE).await.unwrap();
    assert_eq!(
        claimed.iter().map(|c| c.claim.order).collect::<Vec<_>>(),
        [other]
    );
    // The rest of the backlog is still there once the product has room again.
    let rest = store.claim_due_orders(slots(8), now, LEASE).await.unwrap();
    assert_eq!(products_of(&rest), ["slow", "slow"]);
}

on_every_backend!(
    a_backlog_queued_first_does_not_hold_every_slot,
    a_product_at_its_bound_gets_nothing_more,
);
