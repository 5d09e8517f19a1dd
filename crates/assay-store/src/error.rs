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
    /// An operator asked to retry ([`Store::redrive`](super::Store::redrive)) an order that
    /// has nothing to retry: it is neither parked as `failed` nor is its newest result
    /// dead-lettered.
    #[error(
        "order {order} is {state}: only a failed order or one whose newest result is \
         dead-lettered can be retried"
    )]
    NotRedrivable {
        /// The order.
        order: OrderId,
        /// Its state.
        state: OrderState,
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

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        use tokio_postgres::error::SqlState as S;
        let Some(db) = e.as_db_error() else {
            // No SQLSTATE: the connection failed, closed or timed out (retry later), or a
            // value could not be converted (a bug: retrying will not help).
            let text = e.to_string();
            let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
            let connection = e.is_closed()
                || io
                || [
                    "error connecting",
                    "error communicating",
                    "timeout",
                    "connection closed",
                ]
                .iter()
                .any(|p| text.starts_with(p));
            return if connection {
                StoreError::Unavailable(format!("PostgreSQL: {text}"))
            } else {
                StoreError::Backend(format!("PostgreSQL: {text}"))
            };
        };
        let message = match db.detail() {
            Some(detail) => format!("PostgreSQL: {}: {detail}", db.message()),
            None => format!("PostgreSQL: {}", db.message()),
        };
        let code = db.code();
        let retry_later = code.code().starts_with("08") // connection exceptions
            || code.code().starts_with("53") // insufficient resources: disk, memory, connections
            || [
                S::ADMIN_SHUTDOWN,
                S::CRASH_SHUTDOWN,
                S::CANNOT_CONNECT_NOW,
                S::T_R_SERIALIZATION_FAILURE,
                S::T_R_DEADLOCK_DETECTED,
                S::READ_ONLY_SQL_TRANSACTION,
                S::QUERY_CANCELED,
            ]
            .contains(code);
        if retry_later {
            StoreError::Unavailable(message)
        } else if *code == S::UNIQUE_VIOLATION {
            StoreError::Conflict(message)
        } else {
            StoreError::Backend(message)
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        use deadpool_postgres::PoolError as P;
        match e {
            P::Backend(e) => StoreError::from(e),
            P::Timeout(_) | P::Closed => {
                StoreError::Unavailable(format!("no PostgreSQL connection: {e}"))
            }
            other => StoreError::Backend(format!("PostgreSQL connection pool: {other}")),
        }
    }
}
