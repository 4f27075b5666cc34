//! Fresh databases for tests: a new SQLite file, or a new PostgreSQL database on the server
//! that `STOPLIST_TEST_PG_URL` names (for example `postgres://postgres@127.0.0.1:5432/postgres`).
//! Used by the conformance suite here and by the application's integration tests.

use crate::{Result, Store};
use sqlx::Connection;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Whether this process has dropped the left-over PostgreSQL test databases yet.
static SWEPT: AtomicBool = AtomicBool::new(false);

/// The start of every test database's name (and of every test SQLite file's).
const PREFIX: &str = "stoplist_test";

/// Test databases older than this are left over from earlier runs (a test run takes minutes).
const LEFT_OVER_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);

fn unix_now() -> std::time::Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

/// A new name: the prefix, the Unix second of its making (so that a later run can tell a
/// left-over database by its name), the process, a counter and the nanoseconds.
fn unique(prefix: &str) -> String {
    let now = unix_now();
    format!(
        "{prefix}_{}_{}_{}_{}",
        now.as_secs(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        now.subsec_nanos()
    )
}

/// Whether the test database `name` was made more than [`LEFT_OVER_AFTER`] ago. Names of
/// another shape are never counted; an older harness's names (the process id where the second
/// is now) read as made in 1970, and are left over too.
fn left_over(name: &str, now: std::time::Duration) -> bool {
    let Some(rest) = name.strip_prefix(PREFIX).and_then(|r| r.strip_prefix('_')) else {
        return false;
    };
    if !rest.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
        return false;
    }
    let made = rest.split('_').next().and_then(|s| s.parse::<u64>().ok());
    made.is_some_and(|secs| now.as_secs().saturating_sub(secs) > LEFT_OVER_AFTER.as_secs())
}

/// Removes the test SQLite files (with their `-wal` and `-shm`) that earlier runs left in the
/// temp directory more than an hour ago; once per process.
fn sweep_sqlite_files() {
    static SWEPT_FILES: AtomicBool = AtomicBool::new(false);
    if SWEPT_FILES.swap(true, Ordering::Relaxed) {
        return;
    }
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    let now = unix_now();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let stem = name
            .strip_suffix(".db")
            .or_else(|| name.strip_suffix(".db-wal"))
            .or_else(|| name.strip_suffix(".db-shm"));
        if stem.is_some_and(|s| left_over(s, now)) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// A database URL for a new, empty SQLite file under the system's temp directory.
///
/// The first call in a process also removes the files earlier runs left there more than an
/// hour ago.
pub fn sqlite_url() -> String {
    sweep_sqlite_files();
    let path = std::env::temp_dir().join(format!("{}.db", unique(PREFIX)));
    format!("sqlite://{}", path.display())
}

/// The PostgreSQL server to test against, if the environment names one.
pub fn pg_admin_url() -> Option<String> {
    std::env::var("STOPLIST_TEST_PG_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// Creates a new, empty database on the server of `admin_url` and returns its URL.
///
/// The first call in a process also drops the test databases that earlier runs left on that
/// server more than an hour ago (a database still in use is not dropped: the error is
/// ignored), so that runs by hand do not pile them up.
pub async fn pg_fresh_url(admin_url: &str) -> Result<String> {
    let name = unique(PREFIX);
    let mut conn = sqlx::PgConnection::connect(admin_url).await?;
    if !SWEPT.swap(true, Ordering::Relaxed) {
        let names: Vec<String> =
            sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE $1")
                .bind(format!("{PREFIX}\\_%"))
                .fetch_all(&mut conn)
                .await?;
        let now = unix_now();
        for old in names.iter().filter(|n| left_over(n, now)) {
            // The name came from the server and has the shape `unique` makes: digits and `_`.
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {old}"
            )))
            .execute(&mut conn)
            .await;
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn only_test_databases_made_over_an_hour_ago_are_left_over() {
        let now = Duration::from_secs(1_800_000_000);
        assert!(left_over("stoplist_test_1799990000_42_0_123", now));
        assert!(
            !left_over("stoplist_test_1799999000_42_0_123", now),
            "minutes old"
        );
        // An older harness's name began with the process id: read as a second of 1970.
        assert!(left_over("stoplist_test_4242_0_123", now));
        assert!(!left_over("stoplist_bench_import", now));
        assert!(
            !left_over("stoplist_test_1799990000_x; DROP", now),
            "not our shape"
        );
        assert!(!left_over("postgres", now));
    }

    #[test]
    fn new_names_carry_the_second_they_were_made() {
        let name = unique(PREFIX);
        assert!(!left_over(&name, unix_now()));
        assert!(left_over(
            &name,
            unix_now() + LEFT_OVER_AFTER + Duration::from_secs(2)
        ));
    }
}
