//! The truth, read straight from the database the servers share: through the store's own
//! reads where it has them (`Store::list_optouts`, `events_after`), and with plain SQL for
//! what the checks count and the store does not expose (stored replies per provider message
//! id, the claim time of a message, contacts and fillers in a group, claims a stopped process
//! left behind). Read-only: the simulation never writes here after setting up.

use std::collections::HashMap;
use std::sync::Arc;
use stoplist_store::{PgStore, SqliteStore, Store};

/// A contact row readers see: not a hidden row of an import still being staged (the store's
/// `VISIBLE_CONTACT`, migration 15).
macro_rules! visible {
    () => {
        "(import_id IS NULL OR import_id NOT IN (SELECT import_id FROM hidden_imports))"
    };
}

/// A pool on either backend (the store keeps its pools concrete; so does this).
#[derive(Clone)]
pub enum Db {
    Sqlite(sqlx::SqlitePool),
    Pg(sqlx::PgPool),
}

/// Runs the same query text on whichever pool `db` is (both dialects take `$n`).
macro_rules! on_both {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            Db::Sqlite($pool) => $body,
            Db::Pg($pool) => $body,
        }
    };
}

pub type DbResult<T> = Result<T, sqlx::Error>;

impl Db {
    /// Opens (and migrates, if new) the database at `url`: the store for setting up and
    /// reading, and a pool for the checks' own queries.
    pub async fn open(url: &str) -> (Arc<dyn Store>, Db) {
        if url.starts_with("sqlite:") {
            let s = SqliteStore::open(url)
                .await
                .expect("open the SQLite database");
            let pool = s.pool().clone();
            (Arc::new(s), Db::Sqlite(pool))
        } else {
            let s = PgStore::open(url)
                .await
                .expect("open the PostgreSQL database");
            let pool = s.pool().clone();
            (Arc::new(s), Db::Pg(pool))
        }
    }

    /// How many times each generic reply id is stored for the account.
    pub async fn reply_counts(&self, account: i64) -> DbResult<HashMap<String, i64>> {
        let sql = "SELECT provider_message_id, COUNT(*) FROM replies
                   WHERE account_id = $1 AND provider = 'generic' GROUP BY provider_message_id";
        let rows: Vec<(String, i64)> = on_both!(self, p => {
            sqlx::query_as(sql).bind(account).fetch_all(p).await?
        });
        Ok(rows.into_iter().collect())
    }

    /// How many times one generic reply id is stored for the account.
    pub async fn reply_count(&self, account: i64, id: &str) -> DbResult<i64> {
        let sql = "SELECT COUNT(*) FROM replies
                   WHERE account_id = $1 AND provider = 'generic' AND provider_message_id = $2";
        on_both!(self, p => Ok(sqlx::query_scalar(sql).bind(account).bind(id).fetch_one(p).await?))
    }

    /// When the message of `campaign` to `number` was last claimed by a dispatcher (the claim
    /// that sent it: a claim is made before the check that precedes every send).
    pub async fn claimed_at(&self, campaign: i64, number: &str) -> DbResult<Option<i64>> {
        let sql = "SELECT claimed_at FROM messages WHERE campaign_id = $1 AND number = $2";
        let row: Option<(Option<i64>,)> = on_both!(self, p => {
            sqlx::query_as(sql).bind(campaign).bind(number).fetch_optional(p).await?
        });
        Ok(row.and_then(|(c,)| c))
    }

    /// Contacts in the group (as readers see it: not an unpublished import's hidden rows).
    pub async fn group_count(&self, group: i64) -> DbResult<i64> {
        let sql = concat!(
            "SELECT COUNT(*) FROM contacts WHERE group_id = $1 AND ",
            visible!()
        );
        on_both!(self, p => Ok(sqlx::query_scalar(sql).bind(group).fetch_one(p).await?))
    }

    /// Contacts in the group whose number is between `lo` and `hi` (same-length E.164).
    pub async fn count_between(&self, group: i64, lo: &str, hi: &str) -> DbResult<i64> {
        let sql = concat!(
            "SELECT COUNT(*) FROM contacts WHERE group_id = $1 AND number >= $2 AND number <= $3 AND ",
            visible!()
        );
        on_both!(self, p => Ok(sqlx::query_scalar(sql).bind(group).bind(lo).bind(hi).fetch_one(p).await?))
    }

    /// Each number's contacts (instances in all groups) in the account.
    pub async fn contacts_by_number(&self, account: i64) -> DbResult<HashMap<String, i64>> {
        let sql = concat!(
            "SELECT number, COUNT(*) FROM contacts WHERE account_id = $1 AND ",
            visible!(),
            " GROUP BY number"
        );
        let rows: Vec<(String, i64)> = on_both!(self, p => {
            sqlx::query_as(sql).bind(account).fetch_all(p).await?
        });
        Ok(rows.into_iter().collect())
    }

    /// Messages a process left claimed (status `sending`): a dispatcher's claims carry its
    /// instance id, `<host>:<pid>:<random>`.
    pub async fn claims_left_by(&self, pid: u32) -> DbResult<Vec<(i64, String, String)>> {
        let sql = "SELECT id, kind, number FROM messages WHERE status = 'sending' AND claimed_by LIKE $1 ORDER BY id";
        on_both!(self, p => {
            Ok(sqlx::query_as(sql).bind(format!("%:{pid}:%")).fetch_all(p).await?)
        })
    }

    /// Messages waiting for a dispatcher (queued; not those a killed process left claimed).
    pub async fn queued_messages(&self) -> DbResult<i64> {
        let sql = "SELECT COUNT(*) FROM messages WHERE status = 'queued'";
        on_both!(self, p => Ok(sqlx::query_scalar(sql).fetch_one(p).await?))
    }

    /// The status of the import of the file named `file_name` (`running`, `done`, `failed`).
    pub async fn import_status(&self, file_name: &str) -> DbResult<Option<String>> {
        let sql = "SELECT status FROM imports WHERE file_name = $1";
        on_both!(self, p => Ok(sqlx::query_scalar(sql).bind(file_name).fetch_optional(p).await?))
    }
}
