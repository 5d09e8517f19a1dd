//! Bulkheads in the order worker: a product whose plugin runs to its deadline, with a backlog
//! queued before another product's order, holds only its own fulfilment slots.
//!
//! The probe behind issue 13 queued 16 orders of such a product first: another product's
//! order then took 77 s to fulfil instead of 0.01 s, because every worker slot was busy with
//! the slow product and the claim took the oldest orders first whatever their product.

use std::time::{Duration, Instant};

use assay::pipeline::DEFAULT_PRODUCT_FULFILMENTS;
use assay_emulator::{OrderBuilder, OrderKind, fetch_packages, order};
use assay_store::{OrderFilter, OrderState};
use assay_tests::fixtures::fixture_path;
use assay_tests::harness::Deployment;

/// The slow product's deadline: no call of it ends before this.
const SPIN_DEADLINE: Duration = Duration::from_secs(6);
/// Orders of the slow product queued first: twice its slots.
const BACKLOG: u64 = 2 * DEFAULT_PRODUCT_FULFILMENTS as u64;

async fn count(d: &Deployment, product: &str, state: OrderState) -> usize {
    d.host
        .store
        .list_orders(OrderFilter {
            product: Some(product.into()),
            state: Some(state),
            ..Default::default()
        })
        .await
        .expect("list orders")
        .len()
}

#[tokio::test]
async fn a_slow_products_backlog_does_not_hold_up_another_products_orders() {
    let spin = fixture_path("spin");
    let d = Deployment::start_with(|c| {
        c.push_str(&format!(
            "\n[products.spinner]\nplugin = \"{}\"\nkind = \"assessment\"\n\
             webhook_secrets = [\"env:T_WHSEC\"]\ntimeout_ms = {}\n",
            spin.display(),
            SPIN_DEADLINE.as_millis()
        ));
    })
    .await;
    // The spinner's own package list never answers: its orders name codetest's package.
    let package = fetch_packages(
        &d.url(),
        "codetest",
        order::DEFAULT_ACCOUNT_ID,
        order::DEFAULT_PROVIDER,
        &d.secrets.package_key,
        &d.secrets.whsec,
    )
    .await
    .expect("packages")
    .data
    .remove(0);
    for i in 0..BACKLOG {
        let webhook = OrderBuilder::new(OrderKind::Assessment, package.clone())
            .sequence(1000 + i)
            .stackone_base_url(d.stackone.base_url())
            .build();
        assert_eq!(d.send("spinner", &webhook).await, 200);
    }
    // The slow product takes what it may: its own slots, each call running to the deadline.
    d.eventually_async("the spinner's orders to fill its slots", || async {
        (count(&d, "spinner", OrderState::Fulfilling).await == DEFAULT_PRODUCT_FULFILMENTS)
            .then_some(())
    })
    .await;

    let quick = d.order("codetest", 1).await;
    let sent = Instant::now();
    assert_eq!(d.send("codetest", &quick).await, 200);
    d.eventually("the codetest order to reach the vendor", || {
        (!d.vendor.invitations().is_empty()).then_some(())
    })
    .await;
    let waited = sent.elapsed();
    eprintln!(
        "codetest order fulfilled {:.3} s after its webhook, behind {BACKLOG} orders of a \
         product with a {} s deadline",
        waited.as_secs_f64(),
        SPIN_DEADLINE.as_secs()
    );
    assert!(
        waited < SPIN_DEADLINE,
        "the order waited for a slow call to end: {waited:?}"
    );
    // The slow product still holds exactly its slots, its backlog waiting behind them.
    assert_eq!(
        count(&d, "spinner", OrderState::Fulfilling).await,
        DEFAULT_PRODUCT_FULFILMENTS
    );
    assert_eq!(
        count(&d, "spinner", OrderState::Received).await,
        BACKLOG as usize - DEFAULT_PRODUCT_FULFILMENTS
    );
}
