//! How the store's types are written to and read from SQLite columns.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

use crate::{EventDisposition, OrderId, OrderKind, OrderState, OutboxState, Timestamp};

fn text_enum<T>(v: ValueRef<'_>, parse: impl FnOnce(&str) -> Option<T>) -> FromSqlResult<T> {
    let s = v.as_str()?;
    parse(s).ok_or_else(|| FromSqlError::Other(format!("unknown value {s:?}").into()))
}

macro_rules! text_column {
    ($t:ty) => {
        impl ToSql for $t {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }
        impl FromSql for $t {
            fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
                text_enum(v, <$t>::parse)
            }
        }
    };
}

text_column!(OrderState);
text_column!(OutboxState);
text_column!(EventDisposition);

/// Reads an [`OrderKind`] column. `OrderKind` belongs to `assay-wire`, so it cannot implement
/// rusqlite's traits here; it is bound with `as_str()` and read through this.
pub(super) fn order_kind(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<OrderKind> {
    let text: String = row.get(idx)?;
    OrderKind::parse(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            idx,
            rusqlite::types::Type::Text,
            format!("unknown order kind {text:?}").into(),
        )
    })
}

impl ToSql for Timestamp {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_millis()))
    }
}

impl FromSql for Timestamp {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        v.as_i64().map(Timestamp::from_millis)
    }
}

impl ToSql for OrderId {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.0))
    }
}

impl FromSql for OrderId {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        v.as_i64().map(OrderId)
    }
}
