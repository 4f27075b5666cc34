//! The embedded default: one SQLite file in WAL mode, created and migrated on first open.

use crate::{Backend, Result, StoreError};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The store on SQLite.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Writers of this process waiting for SQLite's write lock (see
    /// [`SqliteStore::begin_background_write`]).
    writers_waiting: Arc<AtomicUsize>,
}

/// Times an open is tried again when the new file is locked (see [`SqliteStore::open`]).
const OPEN_ATTEMPTS: u64 = 5;

/// How often the WAL is checkpointed in the background (see [`checkpoints`]).
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// Copies the WAL's committed pages into the database file every [`CHECKPOINT_EVERY`], until
/// the pool closes. PASSIVE: it never waits for a writer or a reader, and none waits for it; the
/// WAL starts over from its beginning once a checkpoint has copied all of it. (A process that
/// ends also checkpoints as its last connection closes, as SQLite always does.)
async fn checkpoints(pool: SqlitePool) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        // -- copy the WAL into the database file, without waiting for anyone
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            tracing::warn!(error = %e, "checkpointing the SQLite WAL failed; will retry");
        }
    }
}

/// The longest a background write (an import's batch) lets other writers go first.
const YIELD_AT_MOST: Duration = Duration::from_millis(250);

/// Counts a writer as waiting for the lock while it lives (also when its future is dropped).
struct Waiting(Arc<AtomicUsize>);

impl Waiting {
    fn new(count: &Arc<AtomicUsize>) -> Waiting {
        count.fetch_add(1, Ordering::SeqCst);
        Waiting(count.clone())
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl SqliteStore {
    /// Opens (creating if missing) and migrates the database at `url` (`sqlite://PATH`).
    pub async fn open(url: &str) -> Result<SqliteStore> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|_| StoreError::UnsupportedUrl(url.to_owned()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a 2xx or a finished report means the change is on disk (SPEC 4).
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            .pragma("cache_size", "-16384")
            // No connection checkpoints the WAL when it commits (the request that happened to
            // commit would wait for it: up to a second behind a large import); `checkpoints`
            // does, in the background.
            .pragma("wal_autocheckpoint", "0");
        // Processes opening one new file at once can find it locked while another turns it
        // into a WAL database (SQLite answers that without waiting): try again a few times.
        let mut attempt = 0;
        let store = loop {
            match Self::connect(options.clone()).await {
                Err(StoreError::Database(sqlx::Error::Database(e)))
                    if e.code().as_deref() == Some("5") && attempt < OPEN_ATTEMPTS =>
                {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
                }
                r => break r?,
            }
        };
        tokio::spawn(checkpoints(store.pool.clone()));
        Ok(store)
    }

    /// Connects with `options` and migrates.
    async fn connect(options: SqliteConnectOptions) -> Result<SqliteStore> {
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .min_connections(1)
            .connect_with(options)
            .await?;
        let store = SqliteStore {
            pool,
            writers_waiting: Arc::default(),
        };
        store.migrate(crate::migrate::SQLITE).await?;
        Ok(store)
    }

    /// The pool, for tests that must reach under the store (tampering with the ledger).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    fn backend_kind(&self) -> Backend {
        Backend::Sqlite
    }

    /// The IMMEDIATE write transaction already runs one bootstrap at a time.
    const BOOTSTRAP_LOCK: Option<&'static str> = None;

    /// -- an account's settings for an import batch; the IMMEDIATE transaction already
    /// -- orders the batch with every opt-out
    const SHARE_LEDGER: &'static str = "SELECT settings_json FROM accounts WHERE id = $1";

    /// A write transaction that takes SQLite's write lock at once, so that two writers never
    /// deadlock upgrading read locks (they queue on the busy timeout instead).
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>> {
        let _waiting = Waiting::new(&self.writers_waiting);
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// A write transaction of background work (an import's batch): every writer of this
    /// process already waiting for the lock goes first, for up to [`YIELD_AT_MOST`]. SQLite's
    /// busy handler has no queue — a waiting writer sleeps and tries again — so without this,
    /// batches that follow each other within microseconds could keep a STOP reply waiting for
    /// seconds.
    async fn begin_background_write(&self) -> Result<Transaction<'static, Sqlite>> {
        let until = std::time::Instant::now() + YIELD_AT_MOST;
        while self.writers_waiting.load(Ordering::SeqCst) > 0 && std::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

// -- the ledger head; the IMMEDIATE transaction already serialises writers.
const LOCK_LEDGER: &str =
    "SELECT ledger_seq, ledger_head, settings_json FROM accounts WHERE id = $1";

crate::sql::store_impl!(SqliteStore, Sqlite, LOCK_LEDGER);
// The write transaction (BEGIN IMMEDIATE) already runs one user change at a time.
crate::security::security_impl!(SqliteStore, Sqlite, None::<&str>);

// -- claim due queued messages; SQLite's one writer makes the claim exclusive.
const CLAIM_ANSWERS: &str =
    crate::campaigns::claim_sql!("", "kind <> 'campaign'", "SELECT value FROM json_each($4)");
const CLAIM_CAMPAIGNS: &str =
    crate::campaigns::claim_sql!("", "kind = 'campaign'", "SELECT value FROM json_each($4)");

// -- a batch's sent messages, from [[id, provider, provider id], ...]
const RECORD_SENT: &str = "UPDATE messages SET status = 'sent', provider = json_extract(j.value, '$[1]'),
        provider_id = json_extract(j.value, '$[2]'), sent_at = $1, updated_at = $1, error_code = NULL,
        error_message = NULL
     FROM json_each($2) AS j WHERE messages.id = json_extract(j.value, '$[0]') AND messages.status = 'sending'";
// -- a batch's suppressed messages, from [id, ...]
const RECORD_SUPPRESSED: &str = "UPDATE messages SET status = 'suppressed', updated_at = $1
     WHERE id IN (SELECT value FROM json_each($2)) AND status = 'sending'";

crate::campaigns::campaign_impl!(
    SqliteStore,
    Sqlite,
    CLAIM_ANSWERS,
    CLAIM_CAMPAIGNS,
    RECORD_SENT,
    RECORD_SUPPRESSED
);

// -- the actions of a batch of replies, from [[id, actions JSON], ...]
const SET_REPLY_ACTIONS: &str = "UPDATE replies SET actions_json = json_extract(j.value, '$[1]')
     FROM json_each($1) AS j WHERE replies.id = json_extract(j.value, '$[0]')";

// -- due notifications, pushed a minute ahead while being delivered (a crash retries them)
const CLAIM_NOTIFICATIONS: &str =
    crate::replies::claim_notifications_sql!("SELECT value FROM json_each($3)");

crate::replies::reply_impl!(SqliteStore, Sqlite, SET_REPLY_ACTIONS, CLAIM_NOTIFICATIONS);

// -- the Incoming report's rows as one JSON array per chunk
crate::export::export_impl!(SqliteStore, Sqlite, "json_group_array(json_array(", "))");
