//! A restart of the only host: the process lock proves the previous run is gone, so every
//! lease it held is released at once (PostgreSQL cannot do that: other hosts hold leases).

use std::time::Duration;

use super::*;
use crate::{OrderClaim, OutboxClaim};

#[tokio::test]
async fn a_restart_resumes_orders_that_were_being_fulfilled() {
    let dir = tempfile::tempdir().unwrap();
    let id;
    {
        let store = open(&dir);
        id = accept(&store, "o1").await;
        let c = store
            .claim_orders_for_fulfilment(10, Timestamp::now(), Duration::from_secs(3600))
            .await
            .unwrap();
        assert_eq!(c.len(), 1);
        // The process dies here, holding a lease an hour long.
    }
    let store = open(&dir);
    let c = claim_one(&store, Timestamp::now()).await;
    assert_eq!(
        c.claim,
        OrderClaim {
            order: id,
            attempt: 2
        }
    );
}

#[tokio::test]
async fn a_restart_resumes_undelivered_results() {
    let dir = tempfile::tempdir().unwrap();
    let claimed;
    {
        let store = open(&dir);
        fulfilled(&store, "a").await;
        let rows = store
            .claim_outbox(10, Timestamp::now(), Duration::from_secs(3600))
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        claimed = rows[0].claim;
    }
    let store = open(&dir);
    let rows = store
        .claim_outbox(10, Timestamp::now(), LEASE)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].claim,
        OutboxClaim {
            id: claimed.id,
            attempt: 2
        }
    );
}
