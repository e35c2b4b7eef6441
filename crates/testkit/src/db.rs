//! One PostgreSQL database per test, cloned from a template migrated once per schema version.
//!
//! The server comes from `J0_TEST_DATABASE_URL` or `DATABASE_URL` (a maintenance database URL,
//! e.g. `postgres://postgres@127.0.0.1:5432/postgres`), else the machine's server on
//! 127.0.0.1:5432, else a private cluster started under the system temp directory. The template
//! is named after a hash of the migrations' text, so a changed migration never reuses a stale
//! template, and it is built under an advisory lock, so parallel test processes build it once.

use std::{
    hash::{DefaultHasher, Hash, Hasher},
    path::Path,
    sync::OnceLock,
    time::Duration,
};

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use j0_pg_local::PrivateCluster;

const MIGRATIONS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations");
const TEMPLATE_LOCK: i64 = 0x6a30_7465_6d70;

static ADMIN_URL: OnceLock<String> = OnceLock::new();

/// The maintenance database URL tests create their databases through.
pub fn admin_url() -> String {
    ADMIN_URL
        .get_or_init(|| {
            let configured = std::env::var("J0_TEST_DATABASE_URL")
                .or_else(|_| std::env::var("DATABASE_URL"))
                .ok();
            if let Some(url) = configured {
                return url;
            }
            let machine = "postgres://postgres@127.0.0.1:5432/postgres".to_owned();
            if std::net::TcpStream::connect_timeout(
                &"127.0.0.1:5432".parse().expect("socket address"),
                Duration::from_secs(1),
            )
            .is_ok()
            {
                return machine;
            }
            let root = std::env::temp_dir().join("j0-test-pg");
            PrivateCluster::start_or_reuse(&root)
                .expect("no PostgreSQL on 127.0.0.1:5432 and the private cluster would not start")
                .url("postgres")
        })
        .clone()
}

/// `url` with its database name replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{database}", &base[..path_start]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

fn template_name() -> String {
    let mut dirs: Vec<_> = std::fs::read_dir(MIGRATIONS_DIR)
        .expect("migrations directory")
        .map(|entry| entry.expect("migration entry").path())
        .collect();
    dirs.sort();
    let mut hasher = DefaultHasher::new();
    for dir in dirs {
        dir.file_name().hash(&mut hasher);
        std::fs::read_to_string(Path::new(&dir).join("up.sql"))
            .expect("up.sql")
            .hash(&mut hasher);
    }
    format!("j0_template_{:016x}", hasher.finish())
}

async fn admin() -> AsyncPgConnection {
    AsyncPgConnection::establish(&admin_url())
        .await
        .expect("connect to the test PostgreSQL server")
}

/// Runs one administrative statement.
async fn execute(conn: &mut AsyncPgConnection, sql: &str) -> diesel::QueryResult<usize> {
    diesel::sql_query(sql).execute(conn).await
}

/// Drops database `name`, whoever is connected to it.
fn drop_statement(name: &str) -> String {
    format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")
}

#[derive(diesel::QueryableByName)]
struct Exists {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    exists: bool,
}

async fn ensure_template(conn: &mut AsyncPgConnection, template: &str) {
    let lock = |sql: &'static str| {
        diesel::sql_query(sql).bind::<diesel::sql_types::BigInt, _>(TEMPLATE_LOCK)
    };
    lock("SELECT pg_advisory_lock($1)")
        .execute(conn)
        .await
        .expect("template lock");
    let exists: Exists =
        diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
            .bind::<diesel::sql_types::Text, _>(template)
            .get_result(conn)
            .await
            .expect("look up template");
    if !exists.exists {
        let building = format!("{template}_building");
        execute(conn, &drop_statement(&building))
            .await
            .expect("drop half-built template");
        let create = format!("CREATE DATABASE {building}");
        execute(conn, &create).await.expect("create template");
        j0_adapters_postgres::run_migrations(&with_database(&admin_url(), &building))
            .await
            .expect("migrate template");
        let publish = format!("ALTER DATABASE {building} RENAME TO {template}");
        execute(conn, &publish).await.expect("publish template");
    }
    lock("SELECT pg_advisory_unlock($1)")
        .execute(conn)
        .await
        .expect("template unlock");
}

/// A migrated database of one test's own, dropped when the value is.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    url: String,
}

impl TestDatabase {
    /// A fresh migrated database.
    pub async fn new() -> Self {
        let template = template_name();
        let mut conn = admin().await;
        ensure_template(&mut conn, &template).await;
        let name = format!("j0_test_{}", uuid::Uuid::new_v4().simple());
        execute(
            &mut conn,
            &format!("CREATE DATABASE {name} TEMPLATE {template}"),
        )
        .await
        .expect("clone the template");
        let url = with_database(&admin_url(), &name);
        Self { name, url }
    }

    /// Its connection URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Drops it now, whoever is connected: the database is lost under a running server.
    pub async fn drop_now(&self) {
        let mut conn = admin().await;
        execute(&mut conn, &drop_statement(&self.name))
            .await
            .expect("drop test database");
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime for dropping the test database");
            runtime.block_on(async {
                let mut conn = admin().await;
                execute(&mut conn, &drop_statement(&name)).await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(_))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_in_both_url_forms() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database(
                "postgresql://postgres@/postgres?host=/tmp/x/run&port=5432",
                "t1"
            ),
            "postgresql://postgres@/t1?host=/tmp/x/run&port=5432"
        );
    }
}
