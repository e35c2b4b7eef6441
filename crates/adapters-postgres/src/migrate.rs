//! Schema migrations, embedded in the binary and applied by `j0 migrate` and at `j0 serve` start.
//!
//! diesel's migration harness is synchronous, so it runs on a blocking thread over an
//! `AsyncConnectionWrapper`. A session advisory lock serialises instances starting together.

use diesel::{Connection, RunQueryDsl};
use diesel_async::{AsyncPgConnection, async_connection_wrapper::AsyncConnectionWrapper};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

/// Arbitrary, fixed key of the advisory lock held while migrating.
const MIGRATION_LOCK: i64 = 0x6a30_6d69_6772;

/// Migrations could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    /// The database could not be reached.
    #[error("cannot connect to the database: {0}")]
    Connect(#[from] diesel::ConnectionError),
    /// A migration or the lock failed.
    #[error("migration failed: {0}")]
    Apply(String),
}

/// Applies every pending migration to `database_url`; returns the versions applied.
pub async fn run_migrations(database_url: &str) -> Result<Vec<String>, MigrationError> {
    let url = database_url.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)?;
        let lock = |sql: &str, conn: &mut AsyncConnectionWrapper<AsyncPgConnection>| {
            diesel::sql_query(sql)
                .bind::<diesel::sql_types::BigInt, _>(MIGRATION_LOCK)
                .execute(conn)
                .map_err(|e| MigrationError::Apply(e.to_string()))
        };
        lock("SELECT pg_advisory_lock($1)", &mut conn)?;
        let applied = conn
            .run_pending_migrations(MIGRATIONS)
            .map(|versions| versions.iter().map(ToString::to_string).collect())
            .map_err(|e| MigrationError::Apply(e.to_string()));
        lock("SELECT pg_advisory_unlock($1)", &mut conn)?;
        applied
    })
    .await
    .map_err(|e| MigrationError::Apply(e.to_string()))?
}

/// Creates database `name` through the maintenance connection `admin_url` unless it exists.
pub async fn ensure_database(admin_url: &str, name: &str) -> Result<(), MigrationError> {
    use diesel_async::AsyncConnection;
    let mut conn = AsyncPgConnection::establish(admin_url).await?;
    let quoted = format!("\"{}\"", name.replace('"', "\"\""));
    match diesel_async::RunQueryDsl::execute(
        diesel::sql_query(format!("CREATE DATABASE {quoted}")),
        &mut conn,
    )
    .await
    {
        Ok(_) => Ok(()),
        Err(diesel::result::Error::DatabaseError(_, info))
            if info.message().contains("already exists") =>
        {
            Ok(())
        }
        Err(e) => Err(MigrationError::Apply(e.to_string())),
    }
}
