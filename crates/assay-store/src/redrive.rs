//! The SQL of [`Store::redrive`](crate::Store::redrive), the same text for both backends
//! (`$1`, `$2`, `$3` are numbered parameters in PostgreSQL and named ones SQLite binds in
//! order of appearance; a parameter in a select list is cast, so PostgreSQL knows its
//! type). What a redrive does is decided in `decide::redrive`; each backend
//! runs these in one transaction after locking the order.

/// The newest outbox row of order `$1`: its id and state.
pub(crate) const NEWEST_RESULT: &str =
    "SELECT id, state FROM outbox WHERE order_id = $1 ORDER BY id DESC LIMIT 1";

/// Records the redrive of failed order `$1` at `$2`, keeping its failure reason and attempts.
pub(crate) const RECORD_ORDER: &str =
    "INSERT INTO redrives (order_id, kind, from_state, reason, outbox_id, attempts, created_at)
     SELECT id, 'order', state, failure_reason, NULL, attempts, CAST($2 AS BIGINT) FROM orders WHERE id = $1";

/// Puts failed order `$1` back to `received`, due at once, at `$2`.
pub(crate) const REQUEUE_ORDER: &str =
    "UPDATE orders SET state = 'received', next_attempt_at = NULL, lease_until = NULL,
         failure_reason = NULL, updated_at = $2
     WHERE id = $1";

/// Records the redrive of dead-lettered outbox row `$1` at `$2`, from order state `$3`,
/// keeping the dead letter's message and the row's delivery attempts.
pub(crate) const RECORD_RESULT: &str =
    "INSERT INTO redrives (order_id, kind, from_state, reason, outbox_id, attempts, created_at)
     SELECT x.order_id, 'result', CAST($3 AS TEXT), d.message, x.id, x.attempts,
         CAST($2 AS BIGINT)
     FROM outbox x LEFT JOIN dead_letters d ON d.outbox_id = x.id
     WHERE x.id = $1";

/// Queues the body of outbox row `$1` again as a new pending row created at `$2`; returns
/// the new row's id.
pub(crate) const REQUEUE_RESULT: &str =
    "INSERT INTO outbox (order_id, product, kind, account_id, stackone_order_id,
         result_value, is_final, body, state, created_at)
     SELECT order_id, product, kind, account_id, stackone_order_id,
         result_value, is_final, body, 'pending', CAST($2 AS BIGINT)
     FROM outbox WHERE id = $1
     RETURNING id";
