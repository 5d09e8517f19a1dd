//! What can go wrong in the store, as the edge and the workers see it.

use super::model::OrderId;
use super::state::OrderState;

/// An error from a [`Store`](super::Store) call.
///
/// Errors are cloneable because one failed group commit answers every request of its batch.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The store cannot commit right now (disk full, I/O error, database locked by another
    /// process, writer gone). Nothing of the request was stored. The edge answers 503 so that
    /// StackOne retries later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The order does not exist.
    #[error("order {0} not found")]
    OrderNotFound(OrderId),
    /// The outbox row does not exist.
    #[error("outbox row {0} not found")]
    OutboxNotFound(i64),
    /// The requested change is not allowed from the order's current state.
    #[error("order {order}: cannot go from {from} to {to}")]
    InvalidTransition {
        /// The order.
        order: OrderId,
        /// Its current state.
        from: OrderState,
        /// The state the call asked for.
        to: OrderState,
    },
    /// The caller's claim on an order or outbox row is no longer the current one: its lease
    /// expired and someone else claimed the row, or the row moved on. The caller must drop
    /// its work on it.
    #[error("claim on {what} {id} (attempt {attempt}) is no longer held")]
    LeaseLost {
        /// `order` or `outbox row`.
        what: &'static str,
        /// The row.
        id: i64,
        /// The attempt number of the stale claim.
        attempt: u32,
    },
    /// The request conflicts with stored data, e.g. a vendor external id already used by
    /// another order of the same product. Retrying will not help.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database was written by a newer schema than this build knows, or holds a value
    /// this build cannot read.
    #[error("store schema: {0}")]
    Schema(String),
    /// Any other backend failure.
    #[error("store backend: {0}")]
    Backend(String),
}

impl StoreError {
    /// Whether the error means "the store could not do it now; try again later" (map to 503)
    /// rather than a problem with the request itself.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode as C;
        match e.sqlite_error_code() {
            Some(
                C::DiskFull
                | C::SystemIoFailure
                | C::CannotOpen
                | C::ReadOnly
                | C::DatabaseBusy
                | C::DatabaseLocked
                | C::OutOfMemory
                | C::PermissionDenied
                | C::FileLockingProtocolFailed
                | C::DatabaseCorrupt
                | C::NotADatabase,
            ) => StoreError::Unavailable(e.to_string()),
            Some(C::ConstraintViolation) => StoreError::Conflict(e.to_string()),
            _ => StoreError::Backend(e.to_string()),
        }
    }
}
