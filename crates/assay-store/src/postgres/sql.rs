//! Small helpers over statements and columns, so the SQL modules read like the SQLite ones.

use deadpool_postgres::Transaction;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::{OrderId, OrderKind, OrderState, OutboxState, StoreError, Timestamp};

/// Statement parameters.
pub type Params<'p> = [&'p (dyn ToSql + Sync)];

/// Every row of `sql`. Statements are prepared once per connection and cached.
pub async fn rows(
    tx: &Transaction<'_>,
    sql: &str,
    params: &Params<'_>,
) -> Result<Vec<Row>, StoreError> {
    let statement = tx.prepare_cached(sql).await?;
    Ok(tx.query(&statement, params).await?)
}

/// The row of `sql`, if there is one.
pub async fn opt_row(
    tx: &Transaction<'_>,
    sql: &str,
    params: &Params<'_>,
) -> Result<Option<Row>, StoreError> {
    let statement = tx.prepare_cached(sql).await?;
    Ok(tx.query_opt(&statement, params).await?)
}

/// The one row of `sql`.
pub async fn one_row(
    tx: &Transaction<'_>,
    sql: &str,
    params: &Params<'_>,
) -> Result<Row, StoreError> {
    let statement = tx.prepare_cached(sql).await?;
    Ok(tx.query_one(&statement, params).await?)
}

/// Runs `sql`, returning how many rows it changed.
pub async fn exec(tx: &Transaction<'_>, sql: &str, params: &Params<'_>) -> Result<u64, StoreError> {
    let statement = tx.prepare_cached(sql).await?;
    Ok(tx.execute(&statement, params).await?)
}

/// A `LIMIT` parameter (`BIGINT`).
pub fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Typed reads of columns, with errors that name the column.
pub trait Columns {
    /// Column `idx` as `T`.
    fn col<'a, T: tokio_postgres::types::FromSql<'a>>(
        &'a self,
        idx: usize,
    ) -> Result<T, StoreError>;
    /// A millisecond column.
    fn ts(&self, idx: usize) -> Result<Timestamp, StoreError> {
        self.col::<i64>(idx).map(Timestamp::from_millis)
    }
    /// A nullable millisecond column.
    fn opt_ts(&self, idx: usize) -> Result<Option<Timestamp>, StoreError> {
        Ok(self.col::<Option<i64>>(idx)?.map(Timestamp::from_millis))
    }
    /// An id column.
    fn order_id(&self, idx: usize) -> Result<OrderId, StoreError> {
        self.col::<i64>(idx).map(OrderId)
    }
    /// A non-negative `INTEGER` or `BIGINT` count.
    fn count(&self, idx: usize) -> Result<u32, StoreError>;
    /// An order state column.
    fn state(&self, idx: usize) -> Result<OrderState, StoreError> {
        parsed(self.col::<&str>(idx)?, OrderState::parse)
    }
    /// An outbox state column.
    fn outbox_state(&self, idx: usize) -> Result<OutboxState, StoreError> {
        parsed(self.col::<&str>(idx)?, OutboxState::parse)
    }
    /// An order kind column.
    fn kind(&self, idx: usize) -> Result<OrderKind, StoreError> {
        parsed(self.col::<&str>(idx)?, OrderKind::parse)
    }
}

impl Columns for Row {
    fn col<'a, T: tokio_postgres::types::FromSql<'a>>(
        &'a self,
        idx: usize,
    ) -> Result<T, StoreError> {
        self.try_get(idx).map_err(|e| {
            let name = self.columns().get(idx).map_or("?", |c| c.name());
            StoreError::Schema(format!("column {name}: {e}"))
        })
    }

    fn count(&self, idx: usize) -> Result<u32, StoreError> {
        let n: i64 = match self.columns().get(idx).map(|c| c.type_()) {
            Some(&tokio_postgres::types::Type::INT4) => i64::from(self.col::<i32>(idx)?),
            _ => self.col::<i64>(idx)?,
        };
        u32::try_from(n)
            .map_err(|_| StoreError::Schema(format!("column {idx}: {n} is not a count")))
    }
}

fn parsed<T>(text: &str, parse: impl FnOnce(&str) -> Option<T>) -> Result<T, StoreError> {
    parse(text).ok_or_else(|| StoreError::Schema(format!("unknown value {text:?}")))
}
