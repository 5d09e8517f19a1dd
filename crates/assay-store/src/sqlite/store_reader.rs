//! [`StoreReader`]: the store as operator tools (`assay orders`) see it while a host serves.
//!
//! The `<file>.lock` that [`SqliteStore::open`](super::SqliteStore::open) holds says which
//! process *writes*; WAL lets any number of readers see committed transactions alongside that
//! writer. So a reader takes no lock: taking it would make `assay orders` fail while the host
//! serves, or make the host's restart wait for an operator's command. Its connections are
//! opened `SQLITE_OPEN_READ_ONLY` and opening never creates or migrates anything, so neither
//! a mistake in a view nor a CLI of another version can change the host's database.

use std::path::{Path, PathBuf};

use super::read_pool::ReadPool;
use super::schema::{self, SCHEMA_VERSION};
use super::views;
use crate::{OrderDetail, OrderFilter, OrderId, OrderSummary, OutboxBacklog, StoreError};

/// Read-only access to a database another process (a serving host) may own. Takes no lock,
/// cannot write; every call reads the latest committed state.
pub struct StoreReader {
    path: PathBuf,
    // `pub(super)` so the store's tests can prove a write through it is refused.
    pub(super) read_pool: ReadPool,
}

impl StoreReader {
    /// Opens the database at `path` read-only. A missing file, a file that is not an Assay
    /// store, or one whose schema version differs from [`SCHEMA_VERSION`] is an error naming
    /// the path. Blocks briefly (file I/O).
    pub fn open(path: impl AsRef<Path>) -> Result<StoreReader, StoreError> {
        let path = path.as_ref().to_path_buf();
        // Checked first because SQLite's own "unable to open database file" does not say
        // which file, and a read-only open must never create one.
        if !path.is_file() {
            return Err(StoreError::Unavailable(format!(
                "no database at {}",
                path.display()
            )));
        }
        let naming = |e: StoreError| naming_path(e, &path);
        let conn = schema::open_reader(&path).map_err(naming)?;
        let version: u32 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(|e| naming(e.into()))?;
        check_version(&path, version)?;
        Ok(StoreReader {
            read_pool: ReadPool::new(path.clone(), 1),
            path,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// As [`Store::list_orders`](crate::Store::list_orders), including the lookup by
    /// StackOne order id ([`OrderFilter::order_id`]).
    pub async fn list_orders(&self, filter: OrderFilter) -> Result<Vec<OrderSummary>, StoreError> {
        self.read_pool
            .read(move |c| views::list_orders(c, &filter))
            .await
    }

    /// As [`Store::get_order`](crate::Store::get_order).
    pub async fn get_order(&self, id: OrderId) -> Result<Option<OrderDetail>, StoreError> {
        self.read_pool.read(move |c| views::get_order(c, id)).await
    }

    /// As [`Store::outbox_backlog`](crate::Store::outbox_backlog).
    pub async fn outbox_backlog(&self) -> Result<OutboxBacklog, StoreError> {
        self.read_pool.read(views::outbox_backlog).await
    }
}

/// Refuses any schema but this build's: the views' SQL is written against exactly it, and a
/// reader must not migrate a database a host of another version may be serving from.
fn check_version(path: &Path, version: u32) -> Result<(), StoreError> {
    let path = path.display();
    let why = match version {
        v if v == SCHEMA_VERSION => return Ok(()),
        0 => format!("{path} is not an Assay store (schema version 0)"),
        v if v < SCHEMA_VERSION => format!(
            "{path} has schema version {v}, older than this build's {SCHEMA_VERSION}; \
             a host of this build migrates it when it opens it"
        ),
        v => format!(
            "{path} has schema version {v}, newer than this build's {SCHEMA_VERSION}; \
             use the assay build that serves it"
        ),
    };
    Err(StoreError::Schema(why))
}

/// SQLite's messages do not name the file; the operator needs to know which one.
fn naming_path(e: StoreError, path: &Path) -> StoreError {
    let p = path.display();
    match e {
        StoreError::Unavailable(m) => StoreError::Unavailable(format!("{p}: {m}")),
        StoreError::Schema(m) => StoreError::Schema(format!("{p}: {m}")),
        StoreError::Backend(m) => StoreError::Backend(format!("{p}: {m}")),
        other => other,
    }
}
