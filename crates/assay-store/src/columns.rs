//! Reading the store's types out of a result row of either backend, so a view is mapped from
//! its columns once: each backend implements the four primitive reads, the rest is shared.

use crate::{
    DeadLetterRecord, EventDisposition, EventRecord, OrderId, OrderKind, OrderState, OrderSummary,
    OutboxRecord, OutboxState, PendingOrder, RedriveKind, RedriveRecord, StoreError, Timestamp,
};

/// Typed reads of the columns of one row, with errors that name the column.
pub(crate) trait Columns {
    /// An integer column (any width).
    fn opt_int(&self, idx: usize) -> Result<Option<i64>, StoreError>;
    /// A text column.
    fn opt_text(&self, idx: usize) -> Result<Option<String>, StoreError>;
    /// A binary column.
    fn bytes(&self, idx: usize) -> Result<Vec<u8>, StoreError>;
    /// The error for a NULL or unreadable value in column `idx`.
    fn bad(&self, idx: usize, why: &str) -> StoreError;

    /// A non-null integer column.
    fn int(&self, idx: usize) -> Result<i64, StoreError> {
        self.opt_int(idx)?.ok_or_else(|| self.bad(idx, "is NULL"))
    }
    /// A non-null text column.
    fn text(&self, idx: usize) -> Result<String, StoreError> {
        self.opt_text(idx)?.ok_or_else(|| self.bad(idx, "is NULL"))
    }
    /// A millisecond column.
    fn ts(&self, idx: usize) -> Result<Timestamp, StoreError> {
        self.int(idx).map(Timestamp::from_millis)
    }
    /// A nullable millisecond column.
    fn opt_ts(&self, idx: usize) -> Result<Option<Timestamp>, StoreError> {
        Ok(self.opt_int(idx)?.map(Timestamp::from_millis))
    }
    /// An id column.
    fn order_id(&self, idx: usize) -> Result<OrderId, StoreError> {
        self.int(idx).map(OrderId)
    }
    /// A non-negative count.
    fn count(&self, idx: usize) -> Result<u32, StoreError> {
        let n = self.int(idx)?;
        u32::try_from(n).map_err(|_| self.bad(idx, &format!("{n} is not a count")))
    }
    /// An HTTP status, if any.
    fn http_status(&self, idx: usize) -> Result<Option<u16>, StoreError> {
        self.opt_int(idx)?
            .map(|s| {
                u16::try_from(s).map_err(|_| self.bad(idx, &format!("{s} is not an HTTP status")))
            })
            .transpose()
    }
    /// An order state column.
    fn state(&self, idx: usize) -> Result<OrderState, StoreError> {
        self.parsed(idx, OrderState::parse)
    }
    /// An outbox state column.
    fn outbox_state(&self, idx: usize) -> Result<OutboxState, StoreError> {
        self.parsed(idx, OutboxState::parse)
    }
    /// An order kind column.
    fn kind(&self, idx: usize) -> Result<OrderKind, StoreError> {
        self.parsed(idx, OrderKind::parse)
    }
    /// A text column read by `parse`.
    fn parsed<T>(&self, idx: usize, parse: fn(&str) -> Option<T>) -> Result<T, StoreError> {
        let text = self.text(idx)?;
        parse(&text).ok_or_else(|| self.bad(idx, &format!("has unknown value {text:?}")))
    }
}

/// The columns of an [`OrderSummary`], in plain SQL both backends run.
pub(crate) const SUMMARY: &str =
    "SELECT o.id, o.product, o.stackone_order_id, o.kind, o.account_id,
        o.provider, o.package_id, o.candidate_label, o.state, o.attempts, o.next_attempt_at,
        o.last_error, o.failure_reason, o.external_id, o.test_url, o.created_at, o.updated_at,
        (SELECT x.result_value FROM outbox x WHERE x.order_id = o.id ORDER BY x.id DESC LIMIT 1),
        (SELECT COUNT(*) FROM outbox x WHERE x.order_id = o.id AND x.state = 'pending'),
        (SELECT COUNT(*) FROM dead_letters d WHERE d.order_id = o.id)
    FROM orders o";

/// A row of [`SUMMARY`].
pub(crate) fn summary(r: &impl Columns) -> Result<OrderSummary, StoreError> {
    Ok(OrderSummary {
        id: r.order_id(0)?,
        product: r.text(1)?,
        order_id: r.text(2)?,
        kind: r.kind(3)?,
        account_id: r.text(4)?,
        provider: r.opt_text(5)?,
        package_id: r.opt_text(6)?,
        candidate_label: r.opt_text(7)?,
        state: r.state(8)?,
        attempts: r.count(9)?,
        next_attempt_at: r.opt_ts(10)?,
        last_error: r.opt_text(11)?,
        failure_reason: r.opt_text(12)?,
        external_id: r.opt_text(13)?,
        test_url: r.opt_text(14)?,
        created_at: r.ts(15)?,
        updated_at: r.ts(16)?,
        last_result: r.opt_text(17)?,
        undelivered_results: r.count(18)?,
        dead_letters: r.count(19)?,
    })
}

/// `id, stackone_order_id, external_id, kind, account_id` of an order.
pub(crate) fn pending_order(r: &impl Columns) -> Result<PendingOrder, StoreError> {
    Ok(PendingOrder {
        order: r.order_id(0)?,
        order_id: r.text(1)?,
        external_id: r.text(2)?,
        kind: r.kind(3)?,
        account_id: r.text(4)?,
    })
}

/// `id, event_name, idempotency_key, received_at, disposition, envelope` of an event.
pub(crate) fn event_record(r: &impl Columns) -> Result<EventRecord, StoreError> {
    Ok(EventRecord {
        id: r.int(0)?,
        event_name: r.text(1)?,
        idempotency_key: r.text(2)?,
        received_at: r.ts(3)?,
        disposition: r.parsed(4, EventDisposition::parse)?,
        envelope: String::from_utf8_lossy(&r.bytes(5)?).into_owned(),
    })
}

/// `id, result_value, body, state, attempts, next_attempt_at, last_error, http_status,
/// created_at, finished_at` of an outbox row.
pub(crate) fn outbox_record(r: &impl Columns) -> Result<OutboxRecord, StoreError> {
    Ok(OutboxRecord {
        id: r.int(0)?,
        result_value: r.opt_text(1)?,
        body_json: r.text(2)?,
        state: r.outbox_state(3)?,
        attempts: r.count(4)?,
        next_attempt_at: r.opt_ts(5)?,
        last_error: r.opt_text(6)?,
        http_status: r.http_status(7)?,
        created_at: r.ts(8)?,
        finished_at: r.opt_ts(9)?,
    })
}

/// The columns of an order's [`DeadLetterRecord`]s, oldest first, for the order `$1`/`?1`.
pub(crate) const DEAD_LETTERS: &str = "SELECT d.id, d.outbox_id, d.http_status, d.message,
        d.created_at,
        (SELECT MIN(r.created_at) FROM redrives r WHERE r.outbox_id = d.outbox_id)
    FROM dead_letters d WHERE d.order_id = $1 ORDER BY d.id";

/// A row of [`DEAD_LETTERS`].
pub(crate) fn dead_letter_record(r: &impl Columns) -> Result<DeadLetterRecord, StoreError> {
    Ok(DeadLetterRecord {
        id: r.int(0)?,
        outbox_id: r.int(1)?,
        http_status: r.http_status(2)?,
        message: r.text(3)?,
        created_at: r.ts(4)?,
        redriven_at: r.opt_ts(5)?,
    })
}

/// The columns of an order's [`RedriveRecord`]s, oldest first, for the order `$1`/`?1`.
pub(crate) const REDRIVES: &str =
    "SELECT id, kind, from_state, reason, outbox_id, attempts, created_at
    FROM redrives WHERE order_id = $1 ORDER BY id";

/// A row of [`REDRIVES`].
pub(crate) fn redrive_record(r: &impl Columns) -> Result<RedriveRecord, StoreError> {
    Ok(RedriveRecord {
        id: r.int(0)?,
        kind: r.parsed(1, RedriveKind::parse)?,
        from_state: r.state(2)?,
        reason: r.opt_text(3)?,
        outbox_id: r.opt_int(4)?,
        attempts: r.count(5)?,
        created_at: r.ts(6)?,
    })
}

impl Columns for rusqlite::Row<'_> {
    fn opt_int(&self, idx: usize) -> Result<Option<i64>, StoreError> {
        self.get(idx).map_err(|e| self.bad(idx, &e.to_string()))
    }
    fn opt_text(&self, idx: usize) -> Result<Option<String>, StoreError> {
        self.get(idx).map_err(|e| self.bad(idx, &e.to_string()))
    }
    fn bytes(&self, idx: usize) -> Result<Vec<u8>, StoreError> {
        self.get(idx).map_err(|e| self.bad(idx, &e.to_string()))
    }
    fn bad(&self, idx: usize, why: &str) -> StoreError {
        let name = self.as_ref().column_name(idx).unwrap_or("?");
        StoreError::Schema(format!("column {name}: {why}"))
    }
}

impl Columns for tokio_postgres::Row {
    fn opt_int(&self, idx: usize) -> Result<Option<i64>, StoreError> {
        use tokio_postgres::types::Type;
        let read = match self.columns().get(idx).map(|c| c.type_()) {
            Some(&Type::INT4) => self
                .try_get::<_, Option<i32>>(idx)
                .map(|v| v.map(i64::from)),
            _ => self.try_get::<_, Option<i64>>(idx),
        };
        read.map_err(|e| self.bad(idx, &e.to_string()))
    }
    fn opt_text(&self, idx: usize) -> Result<Option<String>, StoreError> {
        self.try_get(idx).map_err(|e| self.bad(idx, &e.to_string()))
    }
    fn bytes(&self, idx: usize) -> Result<Vec<u8>, StoreError> {
        self.try_get(idx).map_err(|e| self.bad(idx, &e.to_string()))
    }
    fn bad(&self, idx: usize, why: &str) -> StoreError {
        let name = self.columns().get(idx).map_or("?", |c| c.name());
        StoreError::Schema(format!("column {name}: {why}"))
    }
}
