//! Moving up: a single host's SQLite store copied into PostgreSQL (`assay store copy`).
//!
//! Every order, event, outbox row, dead letter and redrive is copied with its id, in one PostgreSQL
//! transaction, so the copy is all or nothing and a row's references (an outbox row's order,
//! a dead letter's outbox row) stay right. Rows already there are skipped
//! (`ON CONFLICT DO NOTHING`), so running the copy again copies nothing new. Then every source
//! row is looked for in PostgreSQL by its id *and* its identity (an order's product and
//! StackOne id, an event's idempotency key, an outbox row's order and body, a dead letter's
//! outbox row and message): a database where hosts already wrote other rows under the same ids
//! is refused and the transaction rolled back, since merging two histories would mix up
//! references. Last, the id sequences continue after the highest copied id, and the hosts are
//! woken (`NOTIFY`) to pick up what is due.
//!
//! The source is opened as a store first, so it is migrated to this build's schema and its
//! process lock is held during the copy: no host can be serving from it meanwhile. Its rows are
//! read into memory: a single host's store, not an archive.

use std::path::Path;

use rusqlite::types::Value;
use tokio_postgres::types::ToSql;

use super::notify::{ORDERS_CHANNEL, OUTBOX_CHANNEL};
use crate::{SqliteStore, StoreError};

/// A column's type in PostgreSQL (SQLite's are looser).
#[derive(Clone, Copy)]
enum Ty {
    Text,
    Int8,
    Int4,
    Bool,
    Bytes,
}

/// A copied table: its name, its columns, and the columns (after `id`) that say a row in
/// PostgreSQL is the same row, not another under the same id.
struct Table {
    name: &'static str,
    columns: &'static [(&'static str, Ty)],
    identity: [&'static str; 2],
}

/// In the order references need them.
const TABLES: [Table; 5] = [
    Table {
        name: "orders",
        columns: &[
            ("id", Ty::Int8),
            ("product", Ty::Text),
            ("stackone_order_id", Ty::Text),
            ("kind", Ty::Text),
            ("account_id", Ty::Text),
            ("provider", Ty::Text),
            ("package_id", Ty::Text),
            ("candidate_label", Ty::Text),
            ("order_json", Ty::Text),
            ("state", Ty::Text),
            ("attempts", Ty::Int4),
            ("next_attempt_at", Ty::Int8),
            ("lease_until", Ty::Int8),
            ("last_error", Ty::Text),
            ("failure_reason", Ty::Text),
            ("external_id", Ty::Text),
            ("test_url", Ty::Text),
            ("created_at", Ty::Int8),
            ("updated_at", Ty::Int8),
        ],
        identity: ["product", "stackone_order_id"],
    },
    Table {
        name: "events",
        columns: &[
            ("id", Ty::Int8),
            ("product", Ty::Text),
            ("event_name", Ty::Text),
            ("idempotency_key", Ty::Text),
            ("received_at", Ty::Int8),
            ("envelope", Ty::Bytes),
            ("disposition", Ty::Text),
            ("order_id", Ty::Int8),
        ],
        identity: ["product", "idempotency_key"],
    },
    Table {
        name: "outbox",
        columns: &[
            ("id", Ty::Int8),
            ("order_id", Ty::Int8),
            ("product", Ty::Text),
            ("kind", Ty::Text),
            ("account_id", Ty::Text),
            ("stackone_order_id", Ty::Text),
            ("result_value", Ty::Text),
            ("is_final", Ty::Bool),
            ("body", Ty::Text),
            ("state", Ty::Text),
            ("attempts", Ty::Int4),
            ("next_attempt_at", Ty::Int8),
            ("lease_until", Ty::Int8),
            ("last_error", Ty::Text),
            ("http_status", Ty::Int4),
            ("created_at", Ty::Int8),
            ("finished_at", Ty::Int8),
        ],
        identity: ["order_id", "body"],
    },
    Table {
        name: "dead_letters",
        columns: &[
            ("id", Ty::Int8),
            ("outbox_id", Ty::Int8),
            ("order_id", Ty::Int8),
            ("http_status", Ty::Int4),
            ("message", Ty::Text),
            ("created_at", Ty::Int8),
        ],
        identity: ["outbox_id", "message"],
    },
    Table {
        name: "redrives",
        columns: &[
            ("id", Ty::Int8),
            ("order_id", Ty::Int8),
            ("kind", Ty::Text),
            ("from_state", Ty::Text),
            ("reason", Ty::Text),
            ("outbox_id", Ty::Int8),
            ("attempts", Ty::Int4),
            ("created_at", Ty::Int8),
        ],
        identity: ["order_id", "created_at"],
    },
];

/// Every row of every table of [`TABLES`], in its order: table, row, column.
type Rows = Vec<Vec<Vec<Cell>>>;

/// One value, typed for PostgreSQL.
#[derive(Debug)]
enum Cell {
    Text(Option<String>),
    Int8(Option<i64>),
    Int4(Option<i32>),
    Bool(Option<bool>),
    Bytes(Option<Vec<u8>>),
}

impl Cell {
    fn from_sqlite(value: Value, ty: Ty, table: &str, column: &str) -> Result<Cell, StoreError> {
        let bad = || {
            StoreError::Schema(format!(
                "{table}.{column} in the SQLite store holds a value of an unexpected type"
            ))
        };
        Ok(match (ty, value) {
            (Ty::Text, Value::Null) => Cell::Text(None),
            (Ty::Int8, Value::Null) => Cell::Int8(None),
            (Ty::Int4, Value::Null) => Cell::Int4(None),
            (Ty::Bool, Value::Null) => Cell::Bool(None),
            (Ty::Bytes, Value::Null) => Cell::Bytes(None),
            (Ty::Text, Value::Text(s)) => Cell::Text(Some(s)),
            (Ty::Int8, Value::Integer(i)) => Cell::Int8(Some(i)),
            (Ty::Int4, Value::Integer(i)) => Cell::Int4(Some(i32::try_from(i).map_err(|_| bad())?)),
            (Ty::Bool, Value::Integer(i)) => Cell::Bool(Some(i != 0)),
            (Ty::Bytes, Value::Blob(b)) => Cell::Bytes(Some(b)),
            (Ty::Bytes, Value::Text(s)) => Cell::Bytes(Some(s.into_bytes())),
            _ => return Err(bad()),
        })
    }

    fn param(&self) -> &(dyn ToSql + Sync) {
        match self {
            Cell::Text(v) => v,
            Cell::Int8(v) => v,
            Cell::Int4(v) => v,
            Cell::Bool(v) => v,
            Cell::Bytes(v) => v,
        }
    }

    /// The value as PostgreSQL's `::text` spells it, for comparing identities.
    fn text(&self) -> Option<String> {
        match self {
            Cell::Text(v) => v.clone(),
            Cell::Int8(v) => v.map(|n| n.to_string()),
            Cell::Int4(v) => v.map(|n| n.to_string()),
            Cell::Bool(v) => v.map(|b| b.to_string()),
            Cell::Bytes(v) => v.as_ref().map(|b| String::from_utf8_lossy(b).into_owned()),
        }
    }
}

/// How one table was copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCopy {
    /// `orders`, `events`, `outbox`, `dead_letters` or `redrives`.
    pub table: &'static str,
    /// Rows in the SQLite store.
    pub source: u64,
    /// Rows inserted by this copy (0 when run again).
    pub copied: u64,
    /// Source rows found in PostgreSQL afterwards, by id and identity: equal to `source`, or
    /// the copy fails.
    pub verified: u64,
}

/// What [`copy_from_sqlite`] did, table by table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    /// Where it went, as `host:port/database`.
    pub target: String,
    /// Orders, events, outbox, dead letters, redrives.
    pub tables: Vec<TableCopy>,
}

/// Copies the SQLite store at `sqlite` into the PostgreSQL database at `url` (migrated
/// first); see the module docs of `postgres::copy`.
pub async fn copy_from_sqlite(sqlite: &Path, url: &str) -> Result<CopyReport, StoreError> {
    let path = sqlite.to_owned();
    let (source, rows) = tokio::task::spawn_blocking(move || read_sqlite(&path))
        .await
        .map_err(|e| StoreError::Backend(format!("reading the SQLite store failed: {e}")))??;
    let config = super::parse(url)?;
    let target = super::describe(&config);
    let naming = |e: StoreError| super::naming_target(e, &target);
    super::PostgresStore::migrate(url).await?;
    let (mut client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(|e| naming(e.into()))?;
    let driver = tokio::spawn(connection);
    let tables = write(&mut client, &rows).await.map_err(naming)?;
    drop(client);
    let _ = driver.await;
    // The lock on the source is held until PostgreSQL committed.
    drop(source);
    Ok(CopyReport { target, tables })
}

/// Opens the store at `path` (migrating it and holding its lock) and reads every row of
/// [`TABLES`].
fn read_sqlite(path: &Path) -> Result<(SqliteStore, Rows), StoreError> {
    if !path.is_file() {
        return Err(StoreError::Unavailable(format!(
            "there is no SQLite store at {}",
            path.display()
        )));
    }
    let store = SqliteStore::open(path)?;
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // One snapshot of all the tables.
    conn.execute_batch("BEGIN")?;
    let mut all = Vec::new();
    for table in &TABLES {
        let names: Vec<&str> = table.columns.iter().map(|(n, _)| *n).collect();
        let sql = format!(
            "SELECT {} FROM {} ORDER BY id",
            names.join(", "),
            table.name
        );
        let mut statement = conn.prepare(&sql)?;
        let mut rows = statement.query([])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut cells = Vec::with_capacity(table.columns.len());
            for (i, (name, ty)) in table.columns.iter().enumerate() {
                let value: Value = row.get(i)?;
                cells.push(Cell::from_sqlite(value, *ty, table.name, name)?);
            }
            out.push(cells);
        }
        all.push(out);
    }
    conn.execute_batch("COMMIT")?;
    Ok((store, all))
}

async fn write(
    client: &mut tokio_postgres::Client,
    rows: &Rows,
) -> Result<Vec<TableCopy>, StoreError> {
    let tx = client.transaction().await?;
    // Hosts starting meanwhile migrate under the same lock; a second copy waits for this one.
    tx.execute(
        "SELECT pg_advisory_xact_lock($1)",
        &[&super::schema::MIGRATION_LOCK],
    )
    .await?;
    let mut report = Vec::new();
    for (table, rows) in TABLES.iter().zip(rows) {
        let names: Vec<&str> = table.columns.iter().map(|(n, _)| *n).collect();
        let placeholders: Vec<String> = (1..=names.len()).map(|i| format!("${i}")).collect();
        let insert = tx
            .prepare(&format!(
                "INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE VALUES ({}) ON CONFLICT DO NOTHING",
                table.name,
                names.join(", "),
                placeholders.join(", ")
            ))
            .await?;
        let mut copied = 0;
        for row in rows {
            let params: Vec<&(dyn ToSql + Sync)> = row.iter().map(Cell::param).collect();
            copied += tx.execute(&insert, &params).await?;
        }
        let verified = verify(&tx, table, rows).await?;
        let source = rows.len() as u64;
        if verified != source {
            return Err(StoreError::Conflict(format!(
                "PostgreSQL already holds other {} under ids the SQLite store uses ({verified} \
                 of {source} rows match): copy into a database no host has written to; \
                 nothing was copied",
                table.name
            )));
        }
        report.push(TableCopy {
            table: table.name,
            source,
            copied,
            verified,
        });
    }
    for table in &TABLES {
        // The next id any host takes comes after every copied one.
        tx.execute(
            &format!(
                "SELECT setval(pg_get_serial_sequence('{0}', 'id'), \
                 (SELECT COALESCE(max(id), 0) + 1 FROM {0}), false)",
                table.name
            ),
            &[],
        )
        .await?;
    }
    tx.execute(
        "SELECT pg_notify($1, ''), pg_notify($2, '')",
        &[&ORDERS_CHANNEL, &OUTBOX_CHANNEL],
    )
    .await?;
    tx.commit().await?;
    Ok(report)
}

/// How many of `rows` PostgreSQL holds under the same id with the same identity.
async fn verify(
    tx: &tokio_postgres::Transaction<'_>,
    table: &Table,
    rows: &[Vec<Cell>],
) -> Result<u64, StoreError> {
    let column = |name: &str| {
        table
            .columns
            .iter()
            .position(|(n, _)| *n == name)
            .ok_or_else(|| StoreError::Backend(format!("{}.{name} is not copied", table.name)))
    };
    let (a, b) = (column(table.identity[0])?, column(table.identity[1])?);
    let ids: Vec<i64> = rows
        .iter()
        .map(|r| match r[0] {
            Cell::Int8(Some(id)) => Ok(id),
            _ => Err(StoreError::Schema(format!(
                "{} row without an id",
                table.name
            ))),
        })
        .collect::<Result<_, _>>()?;
    let firsts: Vec<Option<String>> = rows.iter().map(|r| r[a].text()).collect();
    let seconds: Vec<Option<String>> = rows.iter().map(|r| r[b].text()).collect();
    let sql = format!(
        "SELECT count(*) FROM {t} t
         JOIN unnest($1::bigint[], $2::text[], $3::text[]) AS s(id, a, b)
           ON t.id = s.id AND t.{ca}::text IS NOT DISTINCT FROM s.a
                          AND {cb} IS NOT DISTINCT FROM s.b",
        t = table.name,
        ca = table.identity[0],
        // Bytes compare as the text they were read from.
        cb = match table.columns[b].1 {
            Ty::Bytes => format!("convert_from(t.{}, 'UTF8')", table.identity[1]),
            _ => format!("t.{}::text", table.identity[1]),
        },
    );
    let row = tx.query_one(&sql, &[&ids, &firsts, &seconds]).await?;
    let n: i64 = row.get(0);
    Ok(u64::try_from(n).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::postgres::testing;
    use crate::{
        IncomingEvent, NewOrder, OrderFilter, OrderId, OrderKind, PostgresStore, ResultBody, Store,
        Timestamp,
    };

    fn event(n: u32) -> IncomingEvent {
        IncomingEvent {
            product: "codetest".into(),
            event_name: "ats_assessments.created".into(),
            idempotency_key: format!("created:o-{n}"),
            received_at: Timestamp::now(),
            envelope: format!("{{\"n\":{n}}}").into_bytes().into(),
            order: Some(NewOrder {
                order_id: format!("o-{n}"),
                kind: OrderKind::Assessment,
                account_id: "acct".into(),
                provider: None,
                package_id: Some("pkg".into()),
                candidate_label: Some("A. Candidate".into()),
                order_json: "{}".into(),
            }),
        }
    }

    #[tokio::test]
    async fn a_single_hosts_store_moves_up_once_and_again_changes_nothing() {
        let Some(server) = testing::shared() else {
            return;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("assay.db");
        {
            let sqlite = SqliteStore::open(&path).expect("sqlite");
            for n in 1..=3 {
                sqlite.record_event(event(n)).await.expect("ingest");
            }
            let claims = sqlite
                .claim_orders_for_fulfilment(1, Timestamp::now(), Duration::from_secs(60))
                .await
                .expect("claim");
            let body = ResultBody::new(&serde_json::json!({"result": {"value": "initiated"}}));
            sqlite
                .fulfilment_succeeded(claims[0].claim, "ext-1".into(), None, Some(body))
                .await
                .expect("fulfilled");
            // Its result dead-lettered, then redriven: a second outbox row, a dead letter and
            // a redrive that point at each other.
            let sent = sqlite
                .claim_outbox(1, Timestamp::now(), Duration::from_secs(60))
                .await
                .expect("claim outbox");
            sqlite
                .outbox_dead_letter(sent[0].claim, Some(404), "Order not found".into())
                .await
                .expect("dead letter");
            sqlite
                .redrive(claims[0].claim.order, Timestamp::now())
                .await
                .expect("redrive");
        }
        let url = server.create_database().await.expect("database");
        let first = copy_from_sqlite(&path, &url).await.expect("copy");
        let counts = |r: &CopyReport| -> Vec<(&str, u64, u64, u64)> {
            r.tables
                .iter()
                .map(|t| (t.table, t.source, t.copied, t.verified))
                .collect()
        };
        assert_eq!(
            counts(&first),
            [
                ("orders", 3, 3, 3),
                ("events", 3, 3, 3),
                ("outbox", 2, 2, 2),
                ("dead_letters", 1, 1, 1),
                ("redrives", 1, 1, 1)
            ]
        );
        let again = copy_from_sqlite(&path, &url).await.expect("copy again");
        assert_eq!(
            counts(&again),
            [
                ("orders", 3, 0, 3),
                ("events", 3, 0, 3),
                ("outbox", 2, 0, 2),
                ("dead_letters", 1, 0, 1),
                ("redrives", 1, 0, 1)
            ]
        );

        // The copied store serves: the orders read back, the outbox row is due, and a new
        // order takes an id after the copied ones.
        let pg = PostgresStore::connect(&url).await.expect("connect");
        let listed = pg.list_orders(OrderFilter::default()).await.expect("list");
        assert_eq!(listed.len(), 3);
        let due = pg
            .claim_outbox(10, Timestamp::now(), Duration::from_secs(60))
            .await
            .expect("claim outbox");
        assert_eq!(due.len(), 1);
        let redriven = pg
            .get_order(OrderId(1))
            .await
            .expect("read")
            .expect("order 1");
        assert_eq!(
            redriven.redrives.len(),
            1,
            "the redrive's record came along"
        );
        assert!(redriven.dead_letters[0].redriven_at.is_some());
        pg.record_event(event(4)).await.expect("a new order");
        let newest = pg.list_orders(OrderFilter::default()).await.expect("list");
        assert_eq!(newest.iter().map(|o| o.id.0).max(), Some(4));

        // A database hosts have written other orders to is refused, and nothing is copied.
        let other = server.create_database().await.expect("database");
        let busy = PostgresStore::connect(&other).await.expect("connect");
        busy.record_event(event(9))
            .await
            .expect("another host's order");
        let refused = copy_from_sqlite(&path, &other).await.expect_err("refused");
        assert!(
            refused.to_string().contains("already holds other orders"),
            "{refused}"
        );
        let kept = busy
            .list_orders(OrderFilter::default())
            .await
            .expect("list");
        assert_eq!(kept.len(), 1, "the refused copy left nothing behind");
    }
}
