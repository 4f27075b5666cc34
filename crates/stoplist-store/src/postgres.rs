//! The scale-out backend: PostgreSQL, shared by several stateless stoplist instances.

use crate::{Backend, Result};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};
use std::str::FromStr;
use std::time::Duration;

/// The store on PostgreSQL.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to and migrates the database at `url`.
    pub async fn open(url: &str) -> Result<PgStore> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        let store = PgStore { pool };
        // Several instances may start at once: serialise their migrations.
        let mut lock = store.pool.acquire().await?;
        sqlx::query("SELECT pg_advisory_lock(727001)")
            .execute(&mut *lock)
            .await?;
        let migrated = store.migrate(crate::migrate::POSTGRES).await;
        sqlx::query("SELECT pg_advisory_unlock(727001)")
            .execute(&mut *lock)
            .await?;
        migrated?;
        Ok(store)
    }

    /// The pool, for tests that must reach under the store.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    fn backend_kind(&self) -> Backend {
        Backend::Postgres
    }

    /// One bootstrap at a time across instances (released at the transaction's end).
    const BOOTSTRAP_LOCK: Option<&'static str> = Some("SELECT pg_advisory_xact_lock(727002)");

    /// -- an account's settings for an import batch, its ledger row share-locked: every
    /// -- opt-out locks that row for update first, so it waits for the batch's commit (tens of
    /// -- milliseconds) and then sees, and deletes, the batch's hidden rows of its number
    const SHARE_LEDGER: &'static str = "SELECT settings_json FROM accounts WHERE id = $1 FOR SHARE";

    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>> {
        Ok(self.pool.begin().await?)
    }

    /// Background work's write transaction: PostgreSQL queues lock waiters itself.
    async fn begin_background_write(&self) -> Result<Transaction<'static, Postgres>> {
        self.begin_write().await
    }
}

// -- the ledger head, locked so that concurrent instances append one after the other.
const LOCK_LEDGER: &str =
    "SELECT ledger_seq, ledger_head, settings_json FROM accounts WHERE id = $1 FOR UPDATE";

crate::sql::store_impl!(PgStore, Postgres, LOCK_LEDGER);
// One user change of an account at a time, so two owners demoting each other at once cannot
// leave the account without one.
crate::security::security_impl!(
    PgStore,
    Postgres,
    Some("SELECT pg_advisory_xact_lock(727003, CAST($1 % 2147483647 AS INTEGER))")
);

// -- claim due queued messages; rows another instance is claiming are skipped, never shared.
const CLAIM_ANSWERS: &str = crate::campaigns::claim_sql!(
    " FOR UPDATE SKIP LOCKED",
    "kind <> 'campaign'",
    "SELECT CAST(value AS BIGINT) FROM json_array_elements_text(CAST($4 AS JSON))"
);
const CLAIM_CAMPAIGNS: &str = crate::campaigns::claim_sql!(
    " FOR UPDATE SKIP LOCKED",
    "kind = 'campaign'",
    "SELECT CAST(value AS BIGINT) FROM json_array_elements_text(CAST($4 AS JSON))"
);

// -- a batch's sent messages, from [[id, provider, provider id], ...]
const RECORD_SENT: &str = "UPDATE messages SET status = 'sent', provider = j.value ->> 1,
        provider_id = j.value ->> 2, sent_at = $1, updated_at = $1, error_code = NULL, error_message = NULL
     FROM json_array_elements(CAST($2 AS JSON)) AS j(value)
     WHERE messages.id = CAST(j.value ->> 0 AS BIGINT) AND messages.status = 'sending'";
// -- a batch's suppressed messages, from [id, ...]
const RECORD_SUPPRESSED: &str = "UPDATE messages SET status = 'suppressed', updated_at = $1
     WHERE id IN (SELECT CAST(value AS BIGINT) FROM json_array_elements_text(CAST($2 AS JSON))) AND status = 'sending'";

crate::campaigns::campaign_impl!(
    PgStore,
    Postgres,
    CLAIM_ANSWERS,
    CLAIM_CAMPAIGNS,
    RECORD_SENT,
    RECORD_SUPPRESSED
);

// -- the actions of a batch of replies, from [[id, actions JSON], ...]
const SET_REPLY_ACTIONS: &str = "UPDATE replies SET actions_json = j.value ->> 1
     FROM json_array_elements(CAST($1 AS JSON)) AS j(value) WHERE replies.id = CAST(j.value ->> 0 AS BIGINT)";

// -- due notifications, pushed a minute ahead while being delivered (a crash retries them)
const CLAIM_NOTIFICATIONS: &str = crate::replies::claim_notifications_sql!(
    "SELECT CAST(value AS BIGINT) FROM json_array_elements_text(CAST($3 AS JSON))"
);

crate::replies::reply_impl!(PgStore, Postgres, SET_REPLY_ACTIONS, CLAIM_NOTIFICATIONS);

// -- the Incoming report's rows as one JSON array per chunk
crate::export::export_impl!(
    PgStore,
    Postgres,
    "CAST(json_agg(json_build_array(",
    ") ORDER BY id DESC) AS TEXT)"
);
