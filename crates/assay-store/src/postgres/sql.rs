//! Small helpers over statements and columns, so the SQL modules read like the SQLite ones.

use deadpool_postgres::Transaction;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::StoreError;

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

/// The generic column read of PostgreSQL rows, beside the shared typed reads of
/// [`Columns`](crate::columns::Columns).
pub trait Col {
    /// Column `idx` as `T`.
    fn col<'a, T: tokio_postgres::types::FromSql<'a>>(
        &'a self,
        idx: usize,
    ) -> Result<T, StoreError>;
}

impl Col for Row {
    fn col<'a, T: tokio_postgres::types::FromSql<'a>>(
        &'a self,
        idx: usize,
    ) -> Result<T, StoreError> {
        use crate::columns::Columns;
        self.try_get(idx).map_err(|e| self.bad(idx, &e.to_string()))
    }
}
