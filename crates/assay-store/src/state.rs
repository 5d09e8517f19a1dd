//! The order state machine and the states of outbox rows.
//!
//! ```text
//!             claim              success               final result        delivered
//! received ─────────▶ fulfilling ─────────▶ awaiting_result ─────────▶ result_received ─────────▶ result_delivered
//!    ▲                 │  │  ▲ (lease expired:                 ▲   │  ▲ (more results)      │
//!    └─── retry ───────┘  │  └─ claimed again)                 │   │  └─────────────────────┘ (a new final result)
//!                         │                                    │   └── final delivery dead-lettered ──▶ dead_lettered
//!                         └── permanent error ──▶ failed       └──────────── a new final result ────────────┘
//! ```
//!
//! `failed` is terminal for the workers. Only an operator's redrive
//! ([`Store::redrive`](crate::Store::redrive)) takes an order out of it (back to `received`),
//! or out of `dead_lettered` (back to `result_received`, its refused result queued again);
//! a redrive is recorded with the order, so its history stays. Every change goes through [`OrderState::check`], so a worker that
//! acts on a stale view gets an error instead of silently rewinding an order.

use std::fmt;

use super::error::StoreError;
use super::model::OrderId;

/// Where an order is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    /// Committed from a webhook; waiting for the order worker (possibly until
    /// `next_attempt_at`, after a retryable failure).
    Received,
    /// Claimed by an order worker under a lease; the plugin's `fulfil-order` is running.
    Fulfilling,
    /// The vendor accepted the order; waiting for a final result (progress results may be
    /// delivered meanwhile).
    AwaitingResult,
    /// A final result (completed, passed, failed, expired, cancelled) is stored and waits in
    /// the outbox for delivery to StackOne.
    ResultReceived,
    /// The final result has been delivered to StackOne.
    ResultDelivered,
    /// Fulfilment failed permanently; the reason is stored with the order.
    Failed,
    /// StackOne refused the final result for a reason retrying cannot fix; an operator must
    /// look at the dead letter.
    DeadLettered,
}

impl OrderState {
    /// Every state, in life order.
    pub const ALL: [OrderState; 7] = [
        OrderState::Received,
        OrderState::Fulfilling,
        OrderState::AwaitingResult,
        OrderState::ResultReceived,
        OrderState::ResultDelivered,
        OrderState::Failed,
        OrderState::DeadLettered,
    ];

    /// The name stored in the database and shown to operators.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderState::Received => "received",
            OrderState::Fulfilling => "fulfilling",
            OrderState::AwaitingResult => "awaiting_result",
            OrderState::ResultReceived => "result_received",
            OrderState::ResultDelivered => "result_delivered",
            OrderState::Failed => "failed",
            OrderState::DeadLettered => "dead_lettered",
        }
    }

    /// Parses [`OrderState::as_str`]'s output.
    pub fn parse(s: &str) -> Option<OrderState> {
        OrderState::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether the vendor knows the order, so results for it can be accepted.
    pub fn accepts_results(self) -> bool {
        matches!(
            self,
            OrderState::AwaitingResult
                | OrderState::ResultReceived
                | OrderState::ResultDelivered
                | OrderState::DeadLettered
        )
    }

    /// Whether a final result has already been recorded; a later progress result (arriving
    /// out of order) must not overwrite it at StackOne.
    pub fn has_final_result(self) -> bool {
        matches!(
            self,
            OrderState::ResultReceived | OrderState::ResultDelivered | OrderState::DeadLettered
        )
    }

    /// Whether `self → to` is an edge of the state machine.
    pub fn can_become(self, to: OrderState) -> bool {
        use OrderState::*;
        matches!(
            (self, to),
            (Received, Fulfilling)
                | (Fulfilling, Fulfilling)
                | (Fulfilling, Received)
                | (Fulfilling, AwaitingResult)
                | (Fulfilling, ResultReceived)
                | (Fulfilling, Failed)
                | (AwaitingResult, AwaitingResult)
                | (AwaitingResult, ResultReceived)
                | (ResultReceived, ResultReceived)
                | (ResultReceived, ResultDelivered)
                | (ResultReceived, DeadLettered)
                | (ResultDelivered, ResultReceived)
                | (DeadLettered, ResultReceived)
        )
    }

    /// `Ok` if `self → to` is allowed for `order`, else [`StoreError::InvalidTransition`].
    pub fn check(self, order: OrderId, to: OrderState) -> Result<(), StoreError> {
        if self.can_become(to) {
            Ok(())
        } else {
            Err(StoreError::InvalidTransition {
                order,
                from: self,
                to,
            })
        }
    }
}

impl fmt::Display for OrderState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where one result is on its way to StackOne.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    /// Not delivered yet (waiting, claimed by the relay, or backing off).
    Pending,
    /// StackOne accepted it. Never claimed again.
    Delivered,
    /// StackOne refused it for a reason retrying cannot fix; see the dead letter.
    DeadLettered,
}

impl OutboxState {
    /// The name stored in the database and shown to operators.
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Delivered => "delivered",
            OutboxState::DeadLettered => "dead_lettered",
        }
    }

    /// Parses [`OutboxState::as_str`]'s output.
    pub fn parse(s: &str) -> Option<OutboxState> {
        [
            OutboxState::Pending,
            OutboxState::Delivered,
            OutboxState::DeadLettered,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

impl fmt::Display for OutboxState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for st in OrderState::ALL {
            assert_eq!(OrderState::parse(st.as_str()), Some(st));
        }
        assert_eq!(OrderState::parse("done"), None);
        for st in [
            OutboxState::Pending,
            OutboxState::Delivered,
            OutboxState::DeadLettered,
        ] {
            assert_eq!(OutboxState::parse(st.as_str()), Some(st));
        }
    }

    #[test]
    fn failed_is_terminal_and_nothing_goes_back_to_received_except_a_retry() {
        for to in OrderState::ALL {
            assert!(!OrderState::Failed.can_become(to), "failed -> {to}");
        }
        let into_received: Vec<_> = OrderState::ALL
            .into_iter()
            .filter(|from| from.can_become(OrderState::Received))
            .collect();
        assert_eq!(into_received, vec![OrderState::Fulfilling]);
    }

    #[test]
    fn check_names_both_ends() {
        let err = OrderState::AwaitingResult
            .check(OrderId(7), OrderState::Fulfilling)
            .expect_err("awaiting_result -> fulfilling must be refused");
        assert_eq!(
            err.to_string(),
            "order 7: cannot go from awaiting_result to fulfilling"
        );
        assert!(
            OrderState::Received
                .check(OrderId(7), OrderState::Fulfilling)
                .is_ok()
        );
    }
}
