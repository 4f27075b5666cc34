//! Fresh databases for tests: a new SQLite file, or a new PostgreSQL database on the server
//! that `STOPLIST_TEST_PG_URL` names (for example `postgres://postgres@127.0.0.1:5432/postgres`).
//! Used by the conformance suite here and by the application's integration tests.

use crate::{Result, Store};
use sqlx::Connection;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A database URL for a new, empty SQLite file under the system's temp directory.
pub fn sqlite_url() -> String {
    let path = std::env::temp_dir().join(format!("{}.db", unique("stoplist_test")));
    format!("sqlite://{}", path.display())
}

/// The PostgreSQL server to test against, if the environment names one.
pub fn pg_admin_url() -> Option<String> {
    std::env::var("STOPLIST_TEST_PG_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// Creates a new, empty database on the server of `admin_url` and returns its URL.
pub async fn pg_fresh_url(admin_url: &str) -> Result<String> {
    let name = unique("stoplist_test");
    let mut conn = sqlx::PgConnection::connect(admin_url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    let base = admin_url
        .rsplit_once('/')
        .map(|(b, _)| b)
        .unwrap_or(admin_url);
    Ok(format!("{base}/{name}"))
}

/// One fresh database URL per backend under test: SQLite always, PostgreSQL when
/// `STOPLIST_TEST_PG_URL` is set.
pub async fn fresh_urls() -> Result<Vec<String>> {
    let mut urls = vec![sqlite_url()];
    if let Some(admin) = pg_admin_url() {
        urls.push(pg_fresh_url(&admin).await?);
    }
    Ok(urls)
}

/// One fresh, migrated store per backend under test.
pub async fn fresh_stores() -> Result<Vec<Arc<dyn Store>>> {
    let mut stores = Vec::new();
    for url in fresh_urls().await? {
        stores.push(crate::connect(&url).await?);
    }
    Ok(stores)
}
