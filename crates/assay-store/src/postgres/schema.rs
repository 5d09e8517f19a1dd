//! Versioned migrations, applied by one host at a time.
//!
//! The version lives in `assay_schema_version` (one row). [`migrate`] runs in one transaction
//! that first takes a transaction-level advisory lock ([`MIGRATION_LOCK`]): hosts starting
//! together queue on it, the first applies what is missing, the others then find nothing to
//! do. PostgreSQL's DDL is transactional, so a migration that fails leaves nothing behind. A
//! database whose version is newer than this build's is refused rather than guessed at.

use deadpool_postgres::Client;

use crate::StoreError;

/// The advisory lock key of migrations ("assay" in ASCII, in the low bytes).
pub const MIGRATION_LOCK: i64 = 0x61_73_73_61_79;

/// The schema, one migration per version. Never edit a shipped entry: add one.
///
/// The same tables as SQLite's, in PostgreSQL's types: times are milliseconds since the Unix
/// epoch (`BIGINT`), and `next_attempt_at` NULL means "due now", which keeps new rows due
/// regardless of clock skew between hosts.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE orders (
    id                BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
    next_attempt_at   BIGINT,
    lease_until       BIGINT,
    last_error        TEXT,
    failure_reason    TEXT,
    external_id       TEXT,
    test_url          TEXT,
    created_at        BIGINT  NOT NULL,
    updated_at        BIGINT  NOT NULL,
    UNIQUE (product, stackone_order_id)
);
CREATE UNIQUE INDEX orders_by_external_id ON orders (product, external_id)
    WHERE external_id IS NOT NULL;
CREATE INDEX orders_by_state ON orders (state, next_attempt_at);
CREATE INDEX orders_by_product ON orders (product, id);
CREATE INDEX orders_by_stackone_order_id ON orders (stackone_order_id);

CREATE TABLE events (
    id              BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    product         TEXT    NOT NULL,
    event_name      TEXT    NOT NULL,
    idempotency_key TEXT    NOT NULL,
    received_at     BIGINT  NOT NULL,
    envelope        BYTEA   NOT NULL,
    disposition     TEXT    NOT NULL CHECK (disposition IN ('order', 'duplicate_order',
                        'ignored')),
    order_id        BIGINT  REFERENCES orders (id),
    UNIQUE (product, idempotency_key)
);
CREATE INDEX events_by_order ON events (order_id) WHERE order_id IS NOT NULL;

CREATE TABLE outbox (
    id                BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id          BIGINT  NOT NULL REFERENCES orders (id),
    product           TEXT    NOT NULL,
    kind              TEXT    NOT NULL,
    account_id        TEXT    NOT NULL,
    stackone_order_id TEXT    NOT NULL,
    result_value      TEXT,
    is_final          BOOLEAN NOT NULL,
    body              TEXT    NOT NULL,
    state             TEXT    NOT NULL CHECK (state IN ('pending', 'delivered',
                          'dead_lettered')),
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   BIGINT,
    lease_until       BIGINT,
    last_error        TEXT,
    http_status       INTEGER,
    created_at        BIGINT  NOT NULL,
    finished_at       BIGINT
);
CREATE INDEX outbox_pending ON outbox (order_id, id) WHERE state = 'pending';
CREATE INDEX outbox_by_order ON outbox (order_id, id);

CREATE TABLE dead_letters (
    id          BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    outbox_id   BIGINT  NOT NULL UNIQUE REFERENCES outbox (id),
    order_id    BIGINT  NOT NULL REFERENCES orders (id),
    http_status INTEGER,
    message     TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL
);
CREATE INDEX dead_letters_by_order ON dead_letters (order_id);
"#,
    // 2: operators' redrives of failed orders and dead-lettered results, kept with the order.
    r#"
CREATE TABLE redrives (
    id         BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id   BIGINT  NOT NULL REFERENCES orders (id),
    kind       TEXT    NOT NULL CHECK (kind IN ('order', 'result')),
    from_state TEXT    NOT NULL,
    reason     TEXT,
    outbox_id  BIGINT  REFERENCES outbox (id),
    attempts   INTEGER NOT NULL,
    created_at BIGINT  NOT NULL
);
CREATE INDEX redrives_by_order ON redrives (order_id);
CREATE INDEX redrives_by_outbox ON redrives (outbox_id) WHERE outbox_id IS NOT NULL;
"#,
    // 2: the orders a claim may take, by product and age. A claim used to find the products
    // with due orders by grouping every received order (thousands under a backlog), and to
    // walk each product's orders from its oldest, fulfilled ones included; this index holds
    // only received and fulfilling orders, so a claim reads a few entries per product.
    r#"
CREATE INDEX orders_claimable ON orders (product, id)
    WHERE state IN ('received', 'fulfilling');
"#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Brings the database to [`SCHEMA_VERSION`] and returns it; refuses a newer database.
pub async fn migrate(client: &mut Client) -> Result<u32, StoreError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS assay_schema_version (
             singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
             version   INTEGER NOT NULL
         )",
    )
    .await?;
    let current: i32 = tx
        .query_opt("SELECT version FROM assay_schema_version", &[])
        .await?
        .map(|r| r.get(0))
        .unwrap_or(0);
    let current = u32::try_from(current)
        .map_err(|_| StoreError::Schema(format!("schema version {current} is not valid")))?;
    if current > SCHEMA_VERSION {
        return Err(StoreError::Schema(format!(
            "database schema version {current} is newer than this build's {SCHEMA_VERSION}; \
             use the assay build that serves it"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = i + 1;
        tx.batch_execute(sql).await.map_err(|e| {
            StoreError::Schema(format!(
                "migration to version {version}: {}",
                StoreError::from(e)
            ))
        })?;
        tracing::info!(version, "store schema migrated");
    }
    if current < SCHEMA_VERSION {
        let version = SCHEMA_VERSION as i32;
        tx.execute(
            "INSERT INTO assay_schema_version (version) VALUES ($1)
             ON CONFLICT (singleton) DO UPDATE SET version = EXCLUDED.version",
            &[&version],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(SCHEMA_VERSION)
}
