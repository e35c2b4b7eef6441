//! PostgreSQL storage for j0, on diesel + diesel-async with a deadpool connection pool.
//!
//! Every port method is one transaction (or one statement) here: the job row change, the ledger
//! transfer, the history rows and the outbox events commit together or not at all. Guards live
//! in the statements themselves (`status = 'posted' AND expires_at > $now`), so two instances
//! racing on one job are decided by the row lock, never by a read followed by a write.

use std::time::Duration;

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::{
    AsyncPgConnection,
    pooled_connection::{
        AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
        deadpool::{Object, Pool, PoolError},
    },
};
use j0_ports::StoreError;

mod auth;
mod checkouts;
mod deposits;
mod events;
pub mod guard;
mod jobs;
mod ledger;
mod migrate;
mod prepared;
mod rows;
mod schema;

pub use events::LISTENER_APPLICATION_NAME;
pub use migrate::{MigrationError, ensure_database, run_migrations};

/// How long a request waits for a free connection before answering 503.
const POOL_WAIT: Duration = Duration::from_secs(5);

/// Longest health check: connecting (when needed) and `SELECT 1` on the health connection.
const HEALTH_WAIT: Duration = Duration::from_secs(2);

/// The storage adapter: one pool, implementing every storage port.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool<AsyncPgConnection>,
    /// For the connections that cannot come from the pool (the event listener's, health's).
    url: String,
    /// The health check's own connection, outside the pool: a server whose pool is exhausted
    /// by slow requests is busy, not dead, and its health check must say so.
    health: std::sync::Arc<tokio::sync::Mutex<Option<AsyncPgConnection>>>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = self.pool.status();
        f.debug_struct("PgStore")
            .field("size", &status.size)
            .field("available", &status.available)
            .finish()
    }
}

/// A snapshot of the connection pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    /// Connections lent out to a request or a task.
    pub in_use: usize,
    /// Open connections waiting in the pool.
    pub idle: usize,
    /// Requests and tasks waiting for a connection.
    pub waiting: usize,
}

/// The pool could not be built from the configuration.
#[derive(Debug, thiserror::Error)]
#[error("invalid database pool configuration: {0}")]
pub struct PoolConfigError(String);

impl PgStore {
    /// A store over a pool of at most `max_connections` to `database_url`. Connections are
    /// opened lazily, so this succeeds while the database is down.
    pub fn connect(database_url: &str, max_connections: usize) -> Result<Self, PoolConfigError> {
        // A connection goes back into use without a test query (`Verified` would send
        // `SELECT 1` on every checkout: a round trip per request). One whose socket the
        // server closed, or whose transaction broke, is still dropped: `is_broken` checks both.
        let mut config = ManagerConfig::default();
        config.recycling_method = RecyclingMethod::Fast;
        let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(
            database_url,
            config,
        );
        let pool = Pool::builder(manager)
            .max_size(max_connections)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(POOL_WAIT))
            .recycle_timeout(Some(POOL_WAIT))
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .map_err(|e| PoolConfigError(e.to_string()))?;
        Ok(Self {
            pool,
            url: database_url.to_owned(),
            health: Default::default(),
        })
    }

    /// How the pool stands now.
    pub fn pool_status(&self) -> PoolStatus {
        let status = self.pool.status();
        PoolStatus {
            in_use: status.size.saturating_sub(status.available),
            idle: status.available,
            waiting: status.waiting,
        }
    }

    async fn conn(&self) -> Result<Object<AsyncPgConnection>, StoreError> {
        self.pool.get().await.map_err(pool_error)
    }
}

fn pool_error(e: PoolError) -> StoreError {
    StoreError::Unavailable(Box::new(e))
}

/// Sorts a database error into "the database is not there" (503) and everything else (500).
pub(crate) fn db_error(e: DieselError) -> StoreError {
    match &e {
        DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _,
        ) => StoreError::Unavailable(Box::new(e)),
        DieselError::DatabaseError(DatabaseErrorKind::Unknown, info)
            if info.message().starts_with("terminating connection")
                || info.message().contains("the database system is") =>
        {
            StoreError::Unavailable(Box::new(e))
        }
        _ => StoreError::Unknown(Box::new(e)),
    }
}

/// An error in a transaction body: either the database's, or an outcome the caller acts on
/// that must roll the transaction back.
#[derive(Debug)]
pub(crate) enum TxError<E> {
    Db(DieselError),
    Outcome(E),
}

impl<E> From<DieselError> for TxError<E> {
    fn from(e: DieselError) -> Self {
        TxError::Db(e)
    }
}

/// A stored value the domain does not recognise: the database and the code disagree.
#[derive(Debug, thiserror::Error)]
#[error("corrupt row: {0}")]
pub(crate) struct CorruptRow(pub String);

pub(crate) fn corrupt(what: impl Into<String>) -> StoreError {
    StoreError::Unknown(Box::new(CorruptRow(what.into())))
}

#[async_trait::async_trait]
impl j0_ports::HealthCheck for PgStore {
    /// `SELECT 1` on the health connection (opened on first use and after any failure), never
    /// on a pool connection, within [`HEALTH_WAIT`].
    async fn ping(&self) -> Result<(), StoreError> {
        use diesel_async::{AsyncConnection, RunQueryDsl};
        let check = async {
            let mut slot = self.health.lock().await;
            let mut conn = match slot.take() {
                Some(conn) => conn,
                None => AsyncPgConnection::establish(&self.url)
                    .await
                    .map_err(|e| StoreError::Unavailable(Box::new(e)))?,
            };
            diesel::sql_query("SELECT 1")
                .execute(&mut conn)
                .await
                .map_err(|e| StoreError::Unavailable(Box::new(e)))?;
            // Only a connection that just answered is kept; a broken one is replaced next time.
            *slot = Some(conn);
            Ok(())
        };
        match tokio::time::timeout(HEALTH_WAIT, check).await {
            Ok(result) => result,
            Err(elapsed) => Err(StoreError::Unavailable(Box::new(elapsed))),
        }
    }
}
