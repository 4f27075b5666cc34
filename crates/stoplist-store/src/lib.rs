//! The store: one [`Store`] trait and its SQLite and PostgreSQL implementations, their
//! migrations, and nothing else. This is the only crate with SQL in it.
//!
//! The store saves what the domain decides. The one place where both meet is
//! [`Store::apply_optout`]: inside one write transaction it reads the number's current
//! opt-out and the account's settings, asks [`stoplist_domain::rules::decide`], and writes
//! the opt-out, the chained ledger event and the contact clean-up together.

#[macro_use]
mod columns;
pub mod campaigns;
pub mod export;
mod imports;
pub mod index;
mod migrate;
pub mod model;
mod postgres;
pub mod replies;
mod security;
mod sql;
mod sqlite;
pub mod testing;

use async_trait::async_trait;
use std::sync::Arc;
use stoplist_domain::names::{ContactFields, GroupName};
use stoplist_domain::settings::{AccountSettings, SettingChange};
use stoplist_domain::{AccountId, Actor, ApiKeyId, ContactId, GroupId, PhoneNumber, Role};

pub use campaigns::{
    Busy, Campaign, CampaignAction, CampaignFile, CampaignStatus, CampaignStore, ClaimedMessage,
    ConnectorRecord, DispatchCheck, InvalidRecipient, Message, MessageCounts, MessageFilter,
    MessageKind, MessageStatus, NewCampaign, NewMessage, Outcome, ReceiptUpdate, StartOutcome,
};
pub use export::ExportStore;
pub use index::IndexStore;
pub use security::{NewApiKey, NewAuditEntry, NewSession, SecurityStore, UserChange};

pub use model::*;
pub use postgres::PgStore;
pub use replies::{
    Answer, NewReply, NotificationRecord, PendingNotification, RecordedReply, Recording, Reply,
    ReplyEffects, ReplyFilter, ReplyPart, ReplyStore,
};
pub use sqlite::SqliteStore;

/// What went wrong in the store. `NotFound` and `Conflict` are the caller's business (they
/// map to 404 and 409); the rest are faults.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{what} already exists")]
    Conflict {
        what: &'static str,
        field: &'static str,
    },
    #[error("the number is opted out")]
    OptedOut,
    #[error("the account would be left without an active owner")]
    LastOwner,
    #[error(
        "unsupported database URL {0:?}: use sqlite://PATH (for example sqlite://stoplist.db) or postgres://USER@HOST/DB"
    )]
    UnsupportedUrl(String),
    #[error(
        "migration {version} ({description}) was changed after it was applied: migrations are append-only; restore it and add a new one"
    )]
    MigrationChanged { version: i64, description: String },
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Everything stoplist keeps. Every method is scoped by account where the data belongs to
/// one: an id of another account's row is "not found", never that row.
#[async_trait]
pub trait Store:
    CampaignStore + ReplyStore + ExportStore + IndexStore + SecurityStore + Send + Sync + 'static
{
    fn backend(&self) -> Backend;
    /// Checks that the database answers (for `/readyz`).
    async fn ping(&self) -> Result<()>;

    // --- accounts -------------------------------------------------------------------
    /// Creates an account with default settings and a fresh webhook token.
    async fn create_account(&self, name: &str, webhook_token: &str, now: i64) -> Result<Account>;
    async fn account(&self, id: AccountId) -> Result<Option<Account>>;
    async fn account_by_name(&self, name: &str) -> Result<Option<Account>>;
    async fn list_accounts(&self) -> Result<Vec<Account>>;

    // --- users and sessions ---------------------------------------------------------
    async fn create_user(
        &self,
        account: AccountId,
        login: &str,
        password_hash: &str,
        role: Role,
        now: i64,
    ) -> Result<User>;
    /// The user and their password hash, by login.
    async fn user_credentials(&self, login: &str) -> Result<Option<(User, String)>>;
    async fn count_users(&self) -> Result<i64>;
    /// On a database with no users, at once for every instance starting together: creates
    /// the account `account_name` (or takes the existing one) and its first user, an
    /// administrator, in one transaction that no other bootstrap runs beside. `None` when a
    /// user exists already (another instance got there first).
    async fn bootstrap(
        &self,
        account_name: &str,
        webhook_token: &str,
        login: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<Option<(Account, User)>>;
    async fn create_session(&self, session: &NewSession<'_>) -> Result<()>;
    /// A session that has not expired at `now`, of a user who is not disabled.
    async fn session(&self, token_hash: &str, now: i64) -> Result<Option<Session>>;
    async fn delete_session(&self, token_hash: &str) -> Result<()>;

    // --- API keys -------------------------------------------------------------------
    async fn create_api_key(
        &self,
        account: AccountId,
        key: &NewApiKey<'_>,
        now: i64,
    ) -> Result<ApiKey>;
    /// A key that is not revoked and whose maker is not disabled, by the hash of the key.
    async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>>;
    async fn list_api_keys(&self, account: AccountId) -> Result<Vec<ApiKey>>;
    async fn revoke_api_key(&self, account: AccountId, id: ApiKeyId, now: i64) -> Result<()>;

    // --- settings -------------------------------------------------------------------
    async fn settings(&self, account: AccountId) -> Result<AccountSettings>;
    /// Applies a validated patch in one transaction and records each real change.
    async fn update_settings(
        &self,
        account: AccountId,
        new: &AccountSettings,
        changes: &[SettingChange],
        actor: &Actor,
        now: i64,
    ) -> Result<()>;
    /// Newest first.
    async fn settings_history(
        &self,
        account: AccountId,
        limit: i64,
    ) -> Result<Vec<SettingsChangeRecord>>;
    /// The account's Vonage signed-webhook setting, if it has one.
    async fn vonage_signature(&self, account: AccountId) -> Result<Option<VonageSignature>>;
    /// Sets (or with `None`, removes) the account's Vonage signed-webhook setting and records
    /// `changes` in the settings history, in one transaction.
    async fn set_vonage_signature(
        &self,
        account: AccountId,
        signature: Option<&VonageSignature>,
        changes: &[SettingChange],
        actor: &Actor,
        now: i64,
    ) -> Result<()>;

    // --- groups ---------------------------------------------------------------------
    async fn create_group(&self, account: AccountId, name: &GroupName, now: i64) -> Result<Group>;
    async fn rename_group(
        &self,
        account: AccountId,
        id: GroupId,
        name: &GroupName,
    ) -> Result<Group>;
    /// Deletes the group and its contacts; the opt-out list is untouched.
    async fn delete_group(&self, account: AccountId, id: GroupId) -> Result<()>;
    async fn group(&self, account: AccountId, id: GroupId) -> Result<Option<Group>>;
    async fn list_groups(&self, account: AccountId) -> Result<Vec<Group>>;

    // --- contacts -------------------------------------------------------------------
    /// Refused with [`StoreError::OptedOut`] when the number is on the opt-out list (the
    /// list wins; an import with reset is the only way back in) and with `Conflict` when the
    /// number is already in the group.
    async fn create_contact(
        &self,
        account: AccountId,
        group: GroupId,
        number: &PhoneNumber,
        fields: &ContactFields,
        now: i64,
    ) -> Result<Contact>;
    async fn update_contact(
        &self,
        account: AccountId,
        id: ContactId,
        fields: &ContactFields,
        now: i64,
    ) -> Result<Contact>;
    /// Deletes one instance. Never touches the opt-out list.
    async fn delete_contact(&self, account: AccountId, id: ContactId) -> Result<()>;
    async fn contact(&self, account: AccountId, id: ContactId) -> Result<Option<Contact>>;
    /// Contacts by id, after the cursor; in one group or all, matching `search` (digits of
    /// the number, or part of a name or email) when given.
    async fn list_contacts(
        &self,
        account: AccountId,
        group: Option<GroupId>,
        search: Option<&str>,
        after: Option<i64>,
        limit: i64,
    ) -> Result<Page<Contact>>;

    // --- the opt-out list and its ledger ---------------------------------------------
    /// Decides and applies one opt-out change atomically (see the crate doc).
    async fn apply_optout(
        &self,
        account: AccountId,
        cmd: &OptOutCommand,
        now: i64,
    ) -> Result<OptOutOutcome>;
    async fn optout(&self, account: AccountId, number: &PhoneNumber) -> Result<Option<OptOut>>;
    /// Newest first, before the cursor (an opt-out id); `search` matches digits of the number.
    async fn list_optouts(
        &self,
        account: AccountId,
        search: Option<&str>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Page<OptOut>>;
    async fn count_optouts(&self, account: AccountId) -> Result<i64>;
    /// A number's events, oldest first.
    async fn number_events(
        &self,
        account: AccountId,
        number: &PhoneNumber,
    ) -> Result<Vec<EventRecord>>;
    /// The account's events with seq greater than `after_seq`, oldest first.
    async fn events_after(
        &self,
        account: AccountId,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<EventRecord>>;
    // --- imports (SPEC 3.4, 3.5) --------------------------------------------------------
    /// Records a new running import and returns its id.
    async fn create_import(&self, new: &NewImport<'_>, now: i64) -> Result<i64>;
    async fn import(&self, account: AccountId, id: i64) -> Result<Option<ImportRecord>>;
    /// The account's imports, newest first.
    async fn list_imports(&self, account: AccountId, limit: i64) -> Result<Vec<ImportRecord>>;
    /// Records a batch of rejected rows and the import's progress (`rows_read`, `invalid`
    /// so far) with a fresh heartbeat, in one short transaction of its own: a sign of life
    /// that others see at once.
    async fn note_import(
        &self,
        import_id: i64,
        rejects: &[Reject],
        rows_read: i64,
        invalid: i64,
        now: i64,
    ) -> Result<()>;
    /// Applies one batch of Opt Out Manager upload `import_id` of `account` in one short
    /// write transaction of its own (contact imports are staged instead:
    /// [`Store::open_import`]): `rows` are distinct numbers of the file, in number order.
    /// Numbers not yet listed are listed (source `upload`, the file and row as evidence, one
    /// chained event each); listed ones are counted as `updated`. Records `rejects`, the
    /// progress (`rows_read`, `invalid`) with a fresh heartbeat, and adds the batch's counts
    /// to the upload's, so that an upload stopped midway reports what it listed. A dry run
    /// only counts. Each batch lands whole: the list and the ledger always agree. Returns what
    /// the batch decided.
    #[allow(clippy::too_many_arguments)]
    async fn upload_batch(
        &self,
        account: AccountId,
        import_id: i64,
        rows: &[StagedRow],
        rejects: &[Reject],
        rows_read: i64,
        invalid: i64,
        now: i64,
    ) -> Result<ImportCounts>;
    /// Opens contact import `import_id` for staging ([`Store::stage_import`]): checks that its
    /// group is the account's and, unless it is a dry run, that no other import of the group
    /// is staged (a conflict), and from then on hides the import's rows from every reader.
    async fn open_import(&self, account: AccountId, import_id: i64) -> Result<()>;
    /// Stages one batch of a contact import in one short transaction of its own: `rows` are
    /// distinct numbers of the file, in number order. Rows whose number is opted out are
    /// rejected (SPEC 3.4; a reset lifts only opt-outs listed before the import started, and
    /// only when it is published); new numbers are written into the group as hidden rows;
    /// fields that change contacts already in the group are kept for the publish step.
    /// Records the progress (`rows_read`, `invalid`) with a fresh heartbeat. A dry run only
    /// counts. Returns what the batch decided (imported: new numbers; updated: numbers
    /// already in the group).
    async fn stage_import(
        &self,
        account: AccountId,
        import_id: i64,
        rows: &[StagedRow],
        rows_read: i64,
        invalid: i64,
    ) -> Result<ImportCounts>;
    /// Publishes a staged contact import in one short transaction: lifts its reset's opt-outs
    /// still standing (with their events), applies its staged field changes, shows its rows to
    /// every reader, and records the report (`staged`: the batches' counts with the reading
    /// totals; `imported` and `skipped_opted_out` are corrected for numbers an opt-out took
    /// out meanwhile). `marked`: rows the file itself marks as opted out, listed first (source
    /// `upload`, the file and row as evidence). The work is bounded by those, the lifts and
    /// the field changes, not by the rows.
    async fn publish_import(
        &self,
        account: AccountId,
        import_id: i64,
        staged: &ImportCounts,
        marked: &[StagedRow],
        now: i64,
    ) -> Result<ImportCounts>;
    /// Deletes the hidden rows of every staged import that will never be published (failed
    /// or interrupted), in short transactions, and forgets them. Returns how many.
    async fn discard_imports(&self) -> Result<u64>;
    /// Ends an import with its final status and counts.
    async fn finish_import(
        &self,
        account: AccountId,
        import_id: i64,
        status: ImportStatus,
        counts: &ImportCounts,
        error: Option<&str>,
        now: i64,
    ) -> Result<()>;
    /// Rows an import did not import, by row number, after the cursor.
    async fn import_rejects(
        &self,
        account: AccountId,
        import_id: i64,
        after_row: i64,
        limit: i64,
    ) -> Result<Vec<Reject>>;
    /// Marks imports still running whose last sign of life is older than `stale_before` as
    /// failed (the process that ran them stopped; its open transaction, if any, was rolled
    /// back by the database).
    async fn fail_stale_imports(&self, stale_before: i64, now: i64) -> Result<u64>;

    /// Bulk-loads opt-outs for tests and benchmarks: plain rows with source `upload`, one
    /// ledger event each, in large transactions. Numbers already listed are skipped.
    async fn bulk_add_optouts(
        &self,
        account: AccountId,
        numbers: &[PhoneNumber],
        actor: &Actor,
        evidence: &str,
        now: i64,
    ) -> Result<u64>;
}

/// Opens the store a database URL names, creating (SQLite) and migrating it.
/// `sqlite://PATH` (or `sqlite::memory:`) and `postgres://…`/`postgresql://…` are known.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::open(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl(url.to_owned()))
    }
}
