//! Read-only connections, so operator views and polling never queue behind the writer.
//!
//! WAL lets readers see the last committed state while the writer works. Connections are
//! opened on demand and up to `max_idle` are kept for reuse; reads run on tokio's blocking
//! pool because SQLite calls block.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

use super::schema;
use crate::StoreError;

/// A small pool of read-only connections.
#[derive(Clone)]
pub struct ReadPool {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    max_idle: usize,
}

impl ReadPool {
    /// A pool for the database at `path`, keeping up to `max_idle` connections.
    pub fn new(path: PathBuf, max_idle: usize) -> ReadPool {
        ReadPool {
            inner: Arc::new(Inner {
                path,
                idle: Mutex::new(Vec::new()),
                max_idle,
            }),
        }
    }

    /// Runs `op` in one read transaction (a consistent snapshot) on a pooled connection.
    pub async fn read<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let conn = inner.take()?;
            let result = (|| {
                let tx = conn.unchecked_transaction()?;
                let v = op(&tx)?;
                tx.finish()?;
                Ok(v)
            })();
            inner.put(conn);
            result
        })
        .await
        .map_err(|e| StoreError::Backend(format!("store read task failed: {e}")))?
    }
}

impl Inner {
    fn take(&self) -> Result<Connection, StoreError> {
        let pooled = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        match pooled {
            Some(conn) => Ok(conn),
            None => schema::open_reader(&self.path),
        }
    }

    fn put(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < self.max_idle
        {
            idle.push(conn);
        }
    }
}
