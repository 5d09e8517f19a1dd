//! Opening connections and migrating the schema.
//!
//! The schema version lives in SQLite's `user_version`. Each entry of [`MIGRATIONS`] moves
//! the database one version up in its own transaction; a database newer than this build is
//! refused rather than guessed at.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::StoreError;

/// How long a connection waits for a lock held by another connection before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The schema, one migration per version. Never edit a shipped entry: add one.
///
/// Times are milliseconds since the Unix epoch. `next_attempt_at` NULL means "due now",
/// which keeps new rows due regardless of clock skew between hosts.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE orders (
    id                INTEGER PRIMARY KEY,
    product           TEXT    NOT NULL,
    stackone_order_id TEXT    NOT NULL,
    kind              TEXT    NOT NULL CHECK (kind IN ('assessment', 'background_check')),
    account_id        TEXT    NOT NULL,
    provider          TEXT,
    package_id        TEXT,
    candidate_label   TEXT,
    order_json        TEXT    NOT NULL,
    state             TEXT    NOT NULL CHECK (state IN ('received', 'fulfilling',
                          'awaiting_result', 'result_received', 'result_delivered', 'failed',
                          'dead_lettered')),
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   INTEGER,
    lease_until       INTEGER,
    last_error        TEXT,
    failure_reason    TEXT,
    external_id       TEXT,
    test_url          TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    UNIQUE (product, stackone_order_id)
);
CREATE UNIQUE INDEX orders_by_external_id ON orders (product, external_id)
    WHERE external_id IS NOT NULL;
CREATE INDEX orders_by_state ON orders (state, next_attempt_at);
CREATE INDEX orders_by_product ON orders (product, id);

CREATE TABLE events (
    id              INTEGER PRIMARY KEY,
    product         TEXT    NOT NULL,
    event_name      TEXT    NOT NULL,
    idempotency_key TEXT    NOT NULL,
    received_at     INTEGER NOT NULL,
    envelope        BLOB    NOT NULL,
    disposition     TEXT    NOT NULL CHECK (disposition IN ('order', 'duplicate_order',
                        'ignored')),
    order_id        INTEGER REFERENCES orders (id),
    UNIQUE (product, idempotency_key)
);
CREATE INDEX events_by_order ON events (order_id) WHERE order_id IS NOT NULL;

CREATE TABLE outbox (
    id                INTEGER PRIMARY KEY,
    order_id          INTEGER NOT NULL REFERENCES orders (id),
    product           TEXT    NOT NULL,
    kind              TEXT    NOT NULL,
    account_id        TEXT    NOT NULL,
    stackone_order_id TEXT    NOT NULL,
    result_value      TEXT,
    is_final          INTEGER NOT NULL,
    body              TEXT    NOT NULL,
    state             TEXT    NOT NULL CHECK (state IN ('pending', 'delivered',
                          'dead_lettered')),
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   INTEGER,
    lease_until       INTEGER,
    last_error        TEXT,
    http_status       INTEGER,
    created_at        INTEGER NOT NULL,
    finished_at       INTEGER
);
CREATE INDEX outbox_pending ON outbox (order_id, id) WHERE state = 'pending';
CREATE INDEX outbox_by_order ON outbox (order_id, id);

CREATE TABLE dead_letters (
    id          INTEGER PRIMARY KEY,
    outbox_id   INTEGER NOT NULL UNIQUE REFERENCES outbox (id),
    order_id    INTEGER NOT NULL REFERENCES orders (id),
    http_status INTEGER,
    message     TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX dead_letters_by_order ON dead_letters (order_id);
"#,
    // 2: `assay orders show <StackOne order id>` looks orders up without knowing the
    // product; the (product, stackone_order_id) unique index cannot serve that.
    r#"
CREATE INDEX orders_by_stackone_order_id ON orders (stackone_order_id);
"#,
    // 3: operators' redrives of failed orders and dead-lettered results, kept with the order.
    r#"
CREATE TABLE redrives (
    id         INTEGER PRIMARY KEY,
    order_id   INTEGER NOT NULL REFERENCES orders (id),
    kind       TEXT    NOT NULL CHECK (kind IN ('order', 'result')),
    from_state TEXT    NOT NULL,
    reason     TEXT,
    outbox_id  INTEGER REFERENCES outbox (id),
    attempts   INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX redrives_by_order ON redrives (order_id);
CREATE INDEX redrives_by_outbox ON redrives (outbox_id) WHERE outbox_id IS NOT NULL;
"#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// The schema version of the store file at `path`, read without writing to it or taking its
/// lock (a host may be serving from it): what `assay check` reports before a host migrates.
pub fn version_of(path: &Path) -> Result<u32, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
}

/// Opens the write connection: WAL, `synchronous=FULL` (a commit returns only once the WAL
/// is fsynced), foreign keys on; then migrates.
pub fn open_writer(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Backend(format!(
            "cannot switch {} to WAL mode (got {mode})",
            path.display()
        )));
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Statement caching matters on the hot path: each ingest runs the same few statements.
    conn.set_prepared_statement_cache_capacity(64);
    migrate(&conn)?;
    Ok(conn)
}

/// Opens a read-only connection to a database the writer has already set up.
pub fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let current: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if current > SCHEMA_VERSION {
        return Err(StoreError::Schema(format!(
            "database schema version {current} is newer than this build's {SCHEMA_VERSION}"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = i + 1;
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)
            .map_err(|e| StoreError::Schema(format!("migration to version {version}: {e}")))?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
        tracing::info!(version, "store schema migrated");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_once_and_refuses_a_newer_database() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("assay.db");
        {
            let conn = open_writer(&path).expect("first open");
            let v: u32 = conn
                .pragma_query_value(None, "user_version", |r| r.get(0))
                .expect("user_version");
            assert_eq!(v, SCHEMA_VERSION);
            let sync: i64 = conn
                .pragma_query_value(None, "synchronous", |r| r.get(0))
                .expect("synchronous");
            assert_eq!(sync, 2, "synchronous=FULL");
            let fk: i64 = conn
                .pragma_query_value(None, "foreign_keys", |r| r.get(0))
                .expect("foreign_keys");
            assert_eq!(fk, 1);
        }
        // A second open finds the schema in place and changes nothing.
        drop(open_writer(&path).expect("second open"));
        {
            let conn = Connection::open(&path).expect("raw open");
            conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
                .expect("bump version");
        }
        let err = open_writer(&path).expect_err("newer schema must be refused");
        assert!(matches!(err, StoreError::Schema(_)), "{err}");
    }

    #[test]
    fn migrates_a_version_1_database_keeping_its_orders() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("assay.db");
        {
            let conn = Connection::open(&path).expect("raw open");
            conn.execute_batch(MIGRATIONS[0]).expect("version 1 schema");
            conn.pragma_update(None, "user_version", 1)
                .expect("version 1");
            conn.execute(
                "INSERT INTO orders (product, stackone_order_id, kind, account_id, order_json,
                     state, created_at, updated_at)
                 VALUES ('codetest', 'o1', 'assessment', 'acct', '{}', 'received', 1, 1)",
                [],
            )
            .expect("a version 1 order");
        }
        let conn = open_writer(&path).expect("migrating open");
        let v: u32 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("user_version");
        assert_eq!(v, SCHEMA_VERSION);
        let indexed: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master
                 WHERE type = 'index' AND name = 'orders_by_stackone_order_id'",
                [],
                |r| r.get(0),
            )
            .expect("index lookup");
        assert_eq!(indexed, 1);
        let id: String = conn
            .query_row(
                "SELECT stackone_order_id FROM orders WHERE stackone_order_id = 'o1'",
                [],
                |r| r.get(0),
            )
            .expect("the version 1 order survives");
        assert_eq!(id, "o1");
    }
}
