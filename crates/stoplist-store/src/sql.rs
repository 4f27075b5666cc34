//! The SQL of the store, written once for both backends.
//!
//! The two dialects agree on everything stoplist asks of them (`$n` parameters, `RETURNING`,
//! `ON CONFLICT`, `CAST`), so each query is written once and [`store_impl!`] instantiates
//! the `Store` implementation for each concrete pool type. A macro rather than generics:
//! sqlx code generic over `Database` needs higher-ranked executor bounds on every function
//! and loses `Send` inference in async traits; with the macro every instantiation is plain,
//! concrete code (`SqlitePool`, `PgPool`, as ECOSYSTEM trap 1 advises). What differs per
//! backend — opening, the write transaction, locking the ledger head — lives in
//! `sqlite.rs` and `postgres.rs`. Every query carries a one-line comment of intent.

use crate::model::*;
use crate::{Result, StoreError};
use stoplist_domain::ledger::{ChainedEvent, Digest32, EventContent, EventKind, EventSource};
use stoplist_domain::names::ContactFields;
use stoplist_domain::rules::ActorKind;
use stoplist_domain::{
    AccountId, Actor, ApiKeyId, ContactId, GroupId, OptOutSource, PhoneNumber, Role, UserId,
};

pub(crate) fn actor_from(kind: &str, id: Option<i64>, label: String) -> Result<Actor> {
    Ok(Actor {
        kind: ActorKind::parse(kind)
            .ok_or_else(|| StoreError::Corrupt(format!("actor kind {kind:?}")))?,
        id,
        label,
    })
}

pub(crate) fn number_from(raw: &str) -> Result<PhoneNumber> {
    PhoneNumber::from_trusted_e164(raw).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "stored number is not E.164: {:?}",
            stoplist_domain::phone::mask_raw(raw)
        ))
    })
}

/// Maps a unique-constraint violation to `Conflict`.
/// A `LIKE … ESCAPE '\'` pattern that finds `text` anywhere: a `%`, `_` or `\` typed in a
/// search matches itself, never any run of characters or any one character.
pub(crate) fn contains_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

pub(crate) fn conflict(e: sqlx::Error, what: &'static str, field: &'static str) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict { what, field }
        }
        _ => StoreError::Database(e),
    }
}

/// The reason a provisional opt-out's ledger event carries.
pub const PROVISIONAL_REASON: &str =
    "provisional: an unclear reply, counted as an opt-out until a person reviews it";

#[derive(sqlx::FromRow)]
pub(crate) struct AccountRow {
    id: i64,
    name: String,
    webhook_token: String,
    created_at: i64,
}

impl From<AccountRow> for Account {
    fn from(r: AccountRow) -> Account {
        Account {
            id: AccountId(r.id),
            name: r.name,
            webhook_token: r.webhook_token,
            created_at: r.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: i64,
    account_id: i64,
    login: String,
    role: String,
    disabled_at: Option<i64>,
    two_factor: bool,
    created_at: i64,
}

pub(crate) fn role_from(code: &str) -> Result<Role> {
    Role::parse(code).ok_or_else(|| StoreError::Corrupt(format!("role {code:?}")))
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;
    fn try_from(r: UserRow) -> Result<User> {
        Ok(User {
            id: UserId(r.id),
            account_id: AccountId(r.account_id),
            login: r.login,
            role: role_from(&r.role)?,
            disabled_at: r.disabled_at,
            two_factor: r.two_factor,
            created_at: r.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ApiKeyRow {
    id: i64,
    account_id: i64,
    name: String,
    prefix: String,
    role: String,
    created_by: Option<i64>,
    maker_role: Option<String>,
    created_at: i64,
    revoked_at: Option<i64>,
}

impl TryFrom<ApiKeyRow> for ApiKey {
    type Error = StoreError;
    fn try_from(r: ApiKeyRow) -> Result<ApiKey> {
        let own = role_from(&r.role)?;
        let role = match r.maker_role.as_deref() {
            Some(maker) => own.min(role_from(maker)?),
            None => own,
        };
        Ok(ApiKey {
            id: ApiKeyId(r.id),
            account_id: AccountId(r.account_id),
            name: r.name,
            prefix: r.prefix,
            role,
            created_by: r.created_by.map(UserId),
            created_at: r.created_at,
            revoked_at: r.revoked_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct SettingsChangeRow {
    at: i64,
    actor_kind: String,
    actor_id: Option<i64>,
    actor_label: String,
    field: String,
    old_value: String,
    new_value: String,
}

impl TryFrom<SettingsChangeRow> for SettingsChangeRecord {
    type Error = StoreError;
    fn try_from(r: SettingsChangeRow) -> Result<Self> {
        Ok(SettingsChangeRecord {
            at: r.at,
            actor: actor_from(&r.actor_kind, r.actor_id, r.actor_label)?,
            field: r.field,
            old_value: r.old_value,
            new_value: r.new_value,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct GroupRow {
    id: i64,
    account_id: i64,
    name: String,
    contact_count: i64,
    created_at: i64,
}

impl From<GroupRow> for Group {
    fn from(r: GroupRow) -> Group {
        Group {
            id: GroupId(r.id),
            account_id: AccountId(r.account_id),
            name: r.name,
            contact_count: r.contact_count,
            created_at: r.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ContactRow {
    id: i64,
    group_id: i64,
    number: String,
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    opted_out: bool,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<ContactRow> for Contact {
    type Error = StoreError;
    fn try_from(r: ContactRow) -> Result<Self> {
        Ok(Contact {
            id: ContactId(r.id),
            group_id: GroupId(r.group_id),
            number: number_from(&r.number)?,
            fields: ContactFields {
                first_name: r.first_name,
                last_name: r.last_name,
                email: r.email,
            },
            opted_out: r.opted_out,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct OptOutRow {
    id: i64,
    number: String,
    source: String,
    actor_kind: String,
    actor_id: Option<i64>,
    actor_label: String,
    evidence: Option<String>,
    created_at: i64,
    /// Selected where a decision or a display needs it; false elsewhere (the exports).
    #[sqlx(default)]
    provisional: bool,
}

/// An opt-out list row by position (id, number, source, actor kind, actor id, actor label,
/// evidence, since), as the export's JSON chunks hold it.
pub(crate) type OptOutTuple = (
    i64,
    String,
    String,
    String,
    Option<i64>,
    String,
    Option<String>,
    i64,
);

/// An [`OptOutTuple`] as an [`OptOut`], checked like a row.
pub(crate) fn optout_from_tuple(t: OptOutTuple) -> Result<OptOut> {
    let (id, number, source, actor_kind, actor_id, actor_label, evidence, created_at) = t;
    OptOut::try_from(OptOutRow {
        id,
        number,
        source,
        actor_kind,
        actor_id,
        actor_label,
        evidence,
        created_at,
        provisional: false,
    })
}

impl TryFrom<OptOutRow> for OptOut {
    type Error = StoreError;
    fn try_from(r: OptOutRow) -> Result<Self> {
        Ok(OptOut {
            id: r.id,
            number: number_from(&r.number)?,
            source: OptOutSource::parse(&r.source)
                .ok_or_else(|| StoreError::Corrupt(format!("opt-out source {:?}", r.source)))?,
            actor: actor_from(&r.actor_kind, r.actor_id, r.actor_label)?,
            evidence: r.evidence,
            created_at: r.created_at,
            provisional: r.provisional,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct EventRow {
    id: i64,
    account_id: i64,
    seq: i64,
    number: String,
    kind: String,
    source: String,
    actor_kind: String,
    actor_id: Option<i64>,
    actor_label: String,
    reason: Option<String>,
    evidence: Option<String>,
    at: i64,
    prev_hash: String,
    hash: String,
}

impl TryFrom<EventRow> for EventRecord {
    type Error = StoreError;
    fn try_from(r: EventRow) -> Result<Self> {
        let corrupt = |what: &str| {
            StoreError::Corrupt(format!(
                "ledger event {} of account {}: {what}",
                r.seq, r.account_id
            ))
        };
        let content = EventContent {
            account_id: r.account_id,
            seq: r.seq,
            number: r.number.clone(),
            kind: EventKind::parse(&r.kind).ok_or_else(|| corrupt("kind"))?,
            source: EventSource::parse(&r.source).ok_or_else(|| corrupt("source"))?,
            actor: actor_from(&r.actor_kind, r.actor_id, r.actor_label.clone())?,
            reason: r.reason.clone(),
            evidence: r.evidence.clone(),
            at_ms: r.at,
        };
        Ok(EventRecord {
            id: r.id,
            event: ChainedEvent {
                content,
                prev_hash: Digest32::from_hex(&r.prev_hash).ok_or_else(|| corrupt("prev_hash"))?,
                hash: Digest32::from_hex(&r.hash).ok_or_else(|| corrupt("hash"))?,
            },
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ImportRow {
    id: i64,
    account_id: i64,
    group_id: Option<i64>,
    kind: String,
    file_name: String,
    status: String,
    dry_run: bool,
    reset: bool,
    reason: Option<String>,
    actor_kind: String,
    actor_id: Option<i64>,
    actor_label: String,
    rows_read: i64,
    imported: i64,
    updated: i64,
    duplicates: i64,
    invalid: i64,
    skipped_opted_out: i64,
    skipped_enforced: i64,
    opted_out_in_file: i64,
    lifted: i64,
    error: Option<String>,
    created_at: i64,
    finished_at: Option<i64>,
}

impl TryFrom<ImportRow> for ImportRecord {
    type Error = StoreError;
    fn try_from(r: ImportRow) -> Result<Self> {
        Ok(ImportRecord {
            id: r.id,
            account_id: AccountId(r.account_id),
            group_id: r.group_id.map(GroupId),
            kind: ImportKind::parse(&r.kind)
                .ok_or_else(|| StoreError::Corrupt(format!("import kind {:?}", r.kind)))?,
            file_name: r.file_name,
            status: ImportStatus::parse(&r.status)
                .ok_or_else(|| StoreError::Corrupt(format!("import status {:?}", r.status)))?,
            dry_run: r.dry_run,
            reset: r.reset,
            reason: r.reason,
            actor: actor_from(&r.actor_kind, r.actor_id, r.actor_label)?,
            counts: ImportCounts {
                rows_read: r.rows_read,
                imported: r.imported,
                updated: r.updated,
                duplicates: r.duplicates,
                invalid: r.invalid,
                skipped_opted_out: r.skipped_opted_out,
                skipped_enforced: r.skipped_enforced,
                opted_out_in_file: r.opted_out_in_file,
                lifted: r.lifted,
            },
            error: r.error,
            created_at: r.created_at,
            finished_at: r.finished_at,
        })
    }
}

// -- the columns of an import
pub(crate) const IMPORT_COLUMNS: &str = "SELECT id, account_id, group_id, kind, file_name, status, dry_run, reset, reason,
        actor_kind, actor_id, actor_label, rows_read, imported, updated, duplicates, invalid, skipped_opted_out,
        skipped_enforced, opted_out_in_file, lifted, error, created_at, finished_at FROM imports";

// -- the columns of a contact with its opted-out flag (joined to the opt-out list).
pub(crate) const CONTACT_COLUMNS: &str =
    "SELECT c.id, c.group_id, c.number, c.first_name, c.last_name, c.email,
        (o.id IS NOT NULL) AS opted_out, c.created_at, c.updated_at
   FROM contacts c LEFT JOIN opt_outs o ON o.account_id = c.account_id AND o.number = c.number";

// -- a contact row every reader may see: not a hidden row of an import still being staged
// -- (migration 15)
pub(crate) const VISIBLE_CONTACT: &str =
    "(c.import_id IS NULL OR c.import_id NOT IN (SELECT import_id FROM hidden_imports))";

// -- the contacts a group shows: all its rows less the hidden rows of imports into it (kept
// -- as a count in hidden_imports, so a group's count costs no more while an import runs)
pub(crate) const GROUP_CONTACT_COUNT: &str =
    "((SELECT COUNT(*) FROM contacts c WHERE c.group_id = g.id)
      - COALESCE((SELECT CAST(SUM(h.rows) AS BIGINT) FROM hidden_imports h WHERE h.group_id = g.id), 0))";

/// Rows per multi-row statement of an import (at most 13 parameters a row: well under
/// SQLite's 32,766 and PostgreSQL's 65,535 bound parameters).
pub(crate) const IMPORT_ROWS_PER_STATEMENT: usize = 500;

/// An account's ledger head and settings, read (and on PostgreSQL locked) once in a write
/// transaction. Events chain onto `head`; the head is saved once, at the end, if `moved`.
#[derive(Debug, Clone)]
pub(crate) struct Ledger {
    pub(crate) account: AccountId,
    pub(crate) head: (i64, stoplist_domain::ledger::Digest32),
    pub(crate) settings: stoplist_domain::settings::AccountSettings,
    pub(crate) moved: bool,
    /// Whether the account has a notification endpoint, once a reply asked.
    pub(crate) notify_endpoint: Option<bool>,
    /// With `defer_events`, events are chained at once but written together when the ledger
    /// is saved (a batch of replies): (event, previous hash, hash).
    pub(crate) defer_events: bool,
    pub(crate) unwritten: Vec<(EventContent, String, String)>,
    /// Opt-out list entries already known in this transaction, by number (read ahead for a
    /// batch of replies, and kept up to date as the batch changes them).
    pub(crate) known: std::collections::HashMap<String, Option<OptOut>>,
}

/// What rolling back to a savepoint must also undo of a [`Ledger`] (see [`Ledger::mark`]).
pub(crate) struct LedgerMark {
    head: (i64, Digest32),
    moved: bool,
    notify_endpoint: Option<bool>,
    unwritten: usize,
    /// A number's entry in `known` before, if the number was given.
    number: Option<(String, Option<Option<OptOut>>)>,
}

impl Ledger {
    /// Marks the ledger's state before a savepoint (`number`: the one the next change is about).
    pub(crate) fn mark(&self, number: Option<&str>) -> LedgerMark {
        LedgerMark {
            head: self.head,
            moved: self.moved,
            notify_endpoint: self.notify_endpoint,
            unwritten: self.unwritten.len(),
            number: number.map(|n| (n.to_owned(), self.known.get(n).cloned())),
        }
    }

    /// Back to `mark`, after a rollback to its savepoint.
    pub(crate) fn restore(&mut self, mark: LedgerMark) {
        (self.head, self.moved, self.notify_endpoint) =
            (mark.head, mark.moved, mark.notify_endpoint);
        self.unwritten.truncate(mark.unwritten);
        if let Some((n, before)) = mark.number {
            match before {
                Some(entry) => self.known.insert(n, entry),
                None => self.known.remove(&n),
            };
        }
    }
}

/// What an import does with one row, given whether its number is listed (`listed`: the
/// entry's source and when it was listed).
pub(crate) enum RowFate {
    /// Not listed: imported (or, for an upload, listed).
    Keep,
    /// Listed before the import started, and the import resets: imported, the opt-out lifted.
    Lift,
    /// An upload of a number already listed.
    Already,
    /// Left out, with the reason for its rejected row; `true` when Enforce Global Optouts
    /// keeps it out.
    Skip(&'static str, bool),
}

/// The opt-out rules of SPEC 3.4 for one import row. A reset lifts only opt-outs recorded
/// by `started_at` (the millisecond the import was recorded): one recorded since is the
/// person's later word, and wins.
pub(crate) fn row_fate(
    policy: &stoplist_domain::rules::Policy,
    event: stoplist_domain::rules::OptOutEvent,
    started_at: i64,
    listed: Option<&(String, i64)>,
) -> RowFate {
    use stoplist_domain::rules::{self, Decision, SkipReason};
    let Some((source, listed_at)) = listed else {
        return RowFate::Keep;
    };
    // Whether an entry is provisional changes nothing for an import row.
    let current = stoplist_domain::OptOutSource::parse(source).map(rules::Listed::settled);
    match rules::decide(policy, current, event) {
        Decision::Skip(SkipReason::EnforcedReplyOptOut) => RowFate::Skip(
            "opted out by reply; Enforce Global Optouts keeps it out",
            true,
        ),
        Decision::ImportAndLift if *listed_at <= started_at => RowFate::Lift,
        Decision::ImportAndLift => RowFate::Skip("opted out after the import started", false),
        Decision::AlreadyOptedOut { .. } => RowFate::Already,
        // Any other decision leaves an opted-out number out: the list wins.
        _ => RowFate::Skip("opted out", false),
    }
}

/// Instantiates `Store` for one backend. `$store` must have `pool`, `begin_write()`, `begin_background_write()`,
/// `backend_kind()`; `$lock_ledger` selects (and on PostgreSQL locks) the account's ledger
/// head and settings.
macro_rules! store_impl {
    ($store:ident, $db:ident, $lock_ledger:ident) => {
        /// The `Store` implementation for this backend, from the shared SQL of `sql.rs`.
        mod store_impl {
        use super::{$store, $lock_ledger};
        use sqlx::$db;
        use $crate::Result;
        use $crate::model::*;
        use $crate::sql::*;
        use $crate::{StoreError, Store};
        use stoplist_domain::ledger::{Digest32, EventContent, EventKind, EventSource};
        use stoplist_domain::names::{ContactFields, GroupName};
        use stoplist_domain::rules::{self, Decision, OptOutEvent, Policy, ContactCleanup};
        use stoplist_domain::settings::{AccountSettings, SettingChange};
        use stoplist_domain::{AccountId, Actor, ApiKeyId, ContactId, GroupId, PhoneNumber, Role};
        use sqlx::Row as _;

        fn settings_from_json(json: &str) -> Result<AccountSettings> {
            serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("account settings: {e}")))
        }

        impl $store {
            /// Applies the migrations not yet applied, each in its own transaction.
            pub(super) async fn migrate(&self, migrations: &[$crate::migrate::Migration]) -> Result<()> {
                sqlx::raw_sql($crate::migrate::CREATE_MIGRATIONS_TABLE).execute(&self.pool).await?;
                for m in migrations {
                    // -- was this version applied, and with what checksum?
                    let applied = |version: i64| {
                        sqlx::query_scalar::<_, String>("SELECT checksum FROM stoplist_migrations WHERE version = $1").bind(version)
                    };
                    match applied(m.version).fetch_optional(&self.pool).await? {
                        Some(sum) if sum == m.checksum() => continue,
                        Some(_) => {
                            return Err(StoreError::MigrationChanged { version: m.version, description: m.description.into() });
                        }
                        None => {}
                    }
                    // Checked again and applied in one write transaction: processes opening one
                    // new SQLite file at once apply each migration once (PostgreSQL instances
                    // also hold an advisory lock around the whole run).
                    let mut tx = self.begin_write().await?;
                    if applied(m.version).fetch_optional(&mut *tx).await?.is_some() {
                        tx.rollback().await?;
                        continue;
                    }
                    sqlx::raw_sql(sqlx::AssertSqlSafe(m.sql)).execute(&mut *tx).await?;
                    // -- record the migration as applied
                    sqlx::query("INSERT INTO stoplist_migrations (version, description, checksum, applied_at) VALUES ($1, $2, $3, $4)")
                        .bind(m.version)
                        .bind(m.description)
                        .bind(m.checksum())
                        .bind(now_ms())
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    tracing::info!(version = m.version, description = m.description, "applied migration");
                }
                Ok(())
            }

            /// Records each settings change (who changed what, from what, to what) inside `tx`.
            async fn record_setting_changes(
                tx: &mut sqlx::Transaction<'static, $db>,
                account: AccountId,
                changes: &[SettingChange],
                actor: &Actor,
                now: i64,
            ) -> Result<()> {
                for c in changes {
                    // -- record who changed what, from what, to what
                    sqlx::query(
                        "INSERT INTO settings_changes (account_id, at, actor_kind, actor_id, actor_label, field, old_value, new_value)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(account.0)
                    .bind(now)
                    .bind(actor.kind.as_str())
                    .bind(actor.id)
                    .bind(&actor.label)
                    .bind(c.field)
                    .bind(&c.old)
                    .bind(&c.new)
                    .execute(&mut **tx)
                    .await?;
                }
                Ok(())
            }

            /// Appends one chained event inside `tx` and moves the ledger head.
            async fn append_event(
                tx: &mut sqlx::Transaction<'static, $db>,
                ledger: &mut Ledger,
                mut content: EventContent,
            ) -> Result<i64> {
                if ledger.defer_events {
                    let seq = ledger.head.0 + 1;
                    let chained = Self::chain(ledger, std::iter::once(content));
                    ledger.unwritten.extend(chained);
                    return Ok(seq);
                }
                let head = &mut ledger.head;
                content.seq = head.0 + 1;
                let hash = content.hash(&head.1);
                // -- append an event to the ledger (never updated or deleted)
                sqlx::query(
                    "INSERT INTO optout_events (account_id, seq, number, kind, source, actor_kind, actor_id, actor_label,
                        reason, evidence, at, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )
                .bind(content.account_id)
                .bind(content.seq)
                .bind(&content.number)
                .bind(content.kind.as_str())
                .bind(content.source.as_str())
                .bind(content.actor.kind.as_str())
                .bind(content.actor.id)
                .bind(&content.actor.label)
                .bind(&content.reason)
                .bind(&content.evidence)
                .bind(content.at_ms)
                .bind(head.1.to_hex())
                .bind(hash.to_hex())
                .execute(&mut **tx)
                .await?;
                *head = (content.seq, hash);
                ledger.moved = true;
                Ok(content.seq)
            }

            /// [`Store::apply_optout`] inside a caller's write transaction: the ledger head is
            /// locked, the change applied, the head saved.
            pub(crate) async fn apply_optout_tx(
                tx: &mut sqlx::Transaction<'static, $db>,
                account: AccountId,
                cmd: &OptOutCommand,
                now: i64,
            ) -> Result<OptOutOutcome> {
                let mut ledger = Self::ledger(tx, account).await?;
                let out = Self::apply_optout_in(tx, &mut ledger, cmd, now).await?;
                Self::save_ledger(tx, &mut ledger).await?;
                Ok(out)
            }

            /// Applies one opt-out command inside `tx` on a ledger the caller locked (and
            /// saves later with [`Self::save_ledger`]: a batch of replies moves it once).
            pub(crate) async fn apply_optout_in(
                tx: &mut sqlx::Transaction<'static, $db>,
                ledger: &mut Ledger,
                cmd: &OptOutCommand,
                now: i64,
            ) -> Result<OptOutOutcome> {
                let account = ledger.account;
                let current = match ledger.known.get(cmd.number.as_str()) {
                    Some(known) => known.clone(),
                    None => Self::fetch_optout(tx, account, &cmd.number).await?,
                };
                let decision = rules::decide(&Policy::from(&ledger.settings), current.as_ref().map(OptOut::listed), cmd.event);
                let event = |kind: EventKind, source: EventSource| EventContent {
                    account_id: account.0,
                    seq: 0,
                    number: cmd.number.as_str().to_owned(),
                    kind,
                    source,
                    actor: cmd.actor.clone(),
                    reason: cmd.reason.as_ref().map(|r| r.as_str().to_owned()),
                    evidence: cmd.evidence.clone(),
                    at_ms: now,
                };
                let mut event_seq = None;
                // What the list says afterwards: unchanged unless recorded or lifted below.
                let mut optout = current;
                let cleanup = match decision {
                    Decision::Record { source, cleanup } => {
                        let optout_now = Self::list_number(tx, account, cmd, source, false, now).await?;
                        optout = Some(optout_now);
                        event_seq = Some(Self::append_event(tx, ledger, event(EventKind::OptedOut, source.into())).await?);
                        cleanup
                    }
                    Decision::RecordProvisional => {
                        let source = stoplist_domain::OptOutSource::Reply;
                        optout = Some(Self::list_number(tx, account, cmd, source, true, now).await?);
                        let provisional = EventContent {
                            reason: Some($crate::sql::PROVISIONAL_REASON.to_owned()),
                            ..event(EventKind::OptedOut, source.into())
                        };
                        event_seq = Some(Self::append_event(tx, ledger, provisional).await?);
                        ContactCleanup::Keep
                    }
                    Decision::AlreadyOptedOut { cleanup } => cleanup,
                    Decision::Lift | Decision::ImportAndLift => {
                        // -- take the number off the list (its events stay)
                        sqlx::query("DELETE FROM opt_outs WHERE account_id = $1 AND number = $2")
                            .bind(account.0)
                            .bind(cmd.number.as_str())
                            .execute(&mut **tx)
                            .await?;
                        optout = None;
                        let via = match cmd.event {
                            OptOutEvent::ReplyOptIn => EventSource::Reply,
                            OptOutEvent::ReviewDismissed => EventSource::Manual,
                            OptOutEvent::ImportRow { .. } => EventSource::ImportReset,
                            _ if cmd.actor.kind == stoplist_domain::ActorKind::ApiKey => EventSource::Api,
                            _ => EventSource::Manual,
                        };
                        event_seq = Some(Self::append_event(tx, ledger, event(EventKind::OptedIn, via)).await?);
                        ContactCleanup::Keep
                    }
                    Decision::NoChange | Decision::Import | Decision::Skip(_) | Decision::Refuse(_) => ContactCleanup::Keep,
                };
                if matches!(decision, Decision::Record { .. } | Decision::RecordProvisional | Decision::AlreadyOptedOut { .. }) {
                    Self::withdraw_from_imports(tx, account, &[cmd.number.as_str()]).await?;
                }
                let mut contacts_deleted = 0;
                match cleanup {
                    ContactCleanup::Keep => {}
                    ContactCleanup::AllGroups => {
                        // -- delete every instance of the number (the opt-out stays)
                        contacts_deleted = sqlx::query("DELETE FROM contacts WHERE account_id = $1 AND number = $2")
                            .bind(account.0)
                            .bind(cmd.number.as_str())
                            .execute(&mut **tx)
                            .await?
                            .rows_affected();
                    }
                    ContactCleanup::CampaignGroups => {
                        for g in &cmd.campaign_groups {
                            // -- delete the number's instance in one of the campaign's groups
                            contacts_deleted += sqlx::query("DELETE FROM contacts WHERE account_id = $1 AND number = $2 AND group_id = $3")
                                .bind(account.0)
                                .bind(cmd.number.as_str())
                                .bind(g.0)
                                .execute(&mut **tx)
                                .await?
                                .rows_affected();
                        }
                    }
                }
                ledger.known.insert(cmd.number.as_str().to_owned(), optout.clone());
                Ok(OptOutOutcome { decision, optout, event_seq, contacts_deleted })
            }

            /// Writes an import's final status and report inside `tx`.
            pub(crate) async fn write_import_report(
                tx: &mut sqlx::Transaction<'static, $db>,
                account: AccountId,
                import_id: i64,
                status: ImportStatus,
                counts: &ImportCounts,
                error: Option<&str>,
                now: i64,
            ) -> Result<()> {
                // -- the final status and report
                let done = sqlx::query(
                    "UPDATE imports SET status = $1, rows_read = $2, imported = $3, updated = $4, duplicates = $5, invalid = $6,
                        skipped_opted_out = $7, skipped_enforced = $8, lifted = $9, error = $10, finished_at = $11, heartbeat_at = $11,
                        opted_out_in_file = $14
                      WHERE id = $12 AND account_id = $13",
                )
                .bind(status.as_str())
                .bind(counts.rows_read)
                .bind(counts.imported)
                .bind(counts.updated)
                .bind(counts.duplicates)
                .bind(counts.invalid)
                .bind(counts.skipped_opted_out)
                .bind(counts.skipped_enforced)
                .bind(counts.lifted)
                .bind(error)
                .bind(now)
                .bind(import_id)
                .bind(account.0)
                .bind(counts.opted_out_in_file)
                .execute(&mut **tx)
                .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound("import"));
                }
                Ok(())
            }

            /// Puts the number on the list (or lets a reply or an explicit add replace a weaker or
            /// provisional entry, keeping "since"), and answers the entry.
            /// Import `import` has `delta` hidden rows more (staged) or fewer (withdrawn, taken
            /// over, deleted).
            pub(crate) async fn hidden_rows_by(tx: &mut sqlx::Transaction<'static, $db>, import: i64, delta: i64) -> Result<()> {
                // -- the import's count of hidden rows
                sqlx::query("UPDATE hidden_imports SET rows = rows + $2 WHERE import_id = $1")
                    .bind(import)
                    .bind(delta)
                    .execute(&mut **tx)
                    .await?;
                Ok(())
            }

            /// An opt-out of `numbers` recorded while imports run wins over them: their hidden
            /// rows of these numbers are deleted and their staged lifts of them dropped (see
            /// migration 15). Two probes a number; nothing when no import is running.
            pub(crate) async fn withdraw_from_imports(
                tx: &mut sqlx::Transaction<'static, $db>,
                account: AccountId,
                numbers: &[&str],
            ) -> Result<()> {
                // -- is any import being staged? (almost always not: the two deletes are skipped)
                let running: Option<i64> = sqlx::query_scalar("SELECT import_id FROM hidden_imports LIMIT 1")
                    .fetch_optional(&mut **tx)
                    .await?;
                if running.is_none() {
                    return Ok(());
                }
                for number in numbers {
                    // -- running imports' hidden rows of this number
                    let gone: Vec<i64> = sqlx::query_scalar(
                        "DELETE FROM contacts WHERE account_id = $1 AND number = $2
                            AND import_id IN (SELECT import_id FROM hidden_imports) RETURNING import_id",
                    )
                    .bind(account.0)
                    .bind(number)
                    .fetch_all(&mut **tx)
                    .await?;
                    for import in gone {
                        Self::hidden_rows_by(tx, import, -1).await?;
                    }
                    // -- and their staged lifts of it
                    sqlx::query("DELETE FROM import_lifts WHERE account_id = $1 AND number = $2")
                        .bind(account.0)
                        .bind(number)
                        .execute(&mut **tx)
                        .await?;
                }
                Ok(())
            }

            async fn list_number(
                tx: &mut sqlx::Transaction<'static, $db>,
                account: AccountId,
                cmd: &OptOutCommand,
                source: stoplist_domain::OptOutSource,
                provisional: bool,
                now: i64,
            ) -> Result<OptOut> {
                // -- put the number on the list, or replace a weaker or provisional entry (keeping "since")
                let (id, since): (i64, i64) = sqlx::query_as(
                    "INSERT INTO opt_outs (account_id, number, source, actor_kind, actor_id, actor_label, evidence, created_at, provisional)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                     ON CONFLICT (account_id, number) DO UPDATE SET source = excluded.source,
                        actor_kind = excluded.actor_kind, actor_id = excluded.actor_id,
                        actor_label = excluded.actor_label, evidence = excluded.evidence,
                        provisional = excluded.provisional
                     RETURNING id, created_at",
                )
                .bind(account.0)
                .bind(cmd.number.as_str())
                .bind(source.as_str())
                .bind(cmd.actor.kind.as_str())
                .bind(cmd.actor.id)
                .bind(&cmd.actor.label)
                .bind(&cmd.evidence)
                .bind(now)
                .bind(provisional)
                .fetch_one(&mut **tx)
                .await?;
                Ok(OptOut {
                    id,
                    number: cmd.number.clone(),
                    source,
                    actor: cmd.actor.clone(),
                    evidence: cmd.evidence.clone(),
                    created_at: since,
                    provisional,
                })
            }

            /// Appends chained events inside `tx`, many per statement, and moves the ledger head.
            async fn append_events(
                tx: &mut sqlx::Transaction<'static, $db>,
                ledger: &mut Ledger,
                contents: impl Iterator<Item = EventContent>,
            ) -> Result<()> {
                let chained = Self::chain(ledger, contents);
                Self::write_events(tx, &chained).await
            }

            /// Chains events onto the ledger's head (in memory): each with its seq, the previous
            /// hash and its own.
            fn chain(
                ledger: &mut Ledger,
                contents: impl Iterator<Item = EventContent>,
            ) -> Vec<(EventContent, String, String)> {
                let head = &mut ledger.head;
                let mut chained = Vec::new();
                for mut content in contents {
                    content.seq = head.0 + 1;
                    let hash = content.hash(&head.1);
                    chained.push((content, head.1.to_hex(), hash.to_hex()));
                    *head = (head.0 + 1, hash);
                }
                ledger.moved |= !chained.is_empty();
                chained
            }

            /// Writes chained events, many per statement.
            async fn write_events(
                tx: &mut sqlx::Transaction<'static, $db>,
                chained: &[(EventContent, String, String)],
            ) -> Result<()> {
                for chunk in chained.chunks(IMPORT_ROWS_PER_STATEMENT) {
                    // -- append events to the ledger (never updated or deleted)
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO optout_events (account_id, seq, number, kind, source, actor_kind, actor_id, actor_label,
                            reason, evidence, at, prev_hash, hash) ",
                    );
                    q.push_values(chunk, |mut b, (c, prev, hash)| {
                        b.push_bind(c.account_id)
                            .push_bind(c.seq)
                            .push_bind(c.number.clone())
                            .push_bind(c.kind.as_str())
                            .push_bind(c.source.as_str())
                            .push_bind(c.actor.kind.as_str())
                            .push_bind(c.actor.id)
                            .push_bind(c.actor.label.clone())
                            .push_bind(c.reason.clone())
                            .push_bind(c.evidence.clone())
                            .push_bind(c.at_ms)
                            .push_bind(prev.clone())
                            .push_bind(hash.clone());
                    });
                    // Not kept in the statement cache: its text varies with the row count.
                    q.build().persistent(false).execute(&mut **tx).await?;
                }
                Ok(())
            }

            /// Reads ahead the opt-out list's entries for `numbers` into `ledger.known`, one
            /// query for a whole batch.
            pub(crate) async fn read_ahead_optouts(
                tx: &mut sqlx::Transaction<'static, $db>,
                ledger: &mut Ledger,
                numbers: &[&str],
            ) -> Result<()> {
                for chunk in numbers.chunks(IMPORT_ROWS_PER_STATEMENT) {
                    // -- the list's entries for a batch of numbers
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "SELECT id, number, source, actor_kind, actor_id, actor_label, evidence, created_at, provisional
                           FROM opt_outs WHERE account_id = ",
                    );
                    q.push_bind(ledger.account.0).push(" AND number IN (");
                    let mut list = q.separated(", ");
                    for n in chunk {
                        list.push_bind(*n);
                    }
                    q.push(")");
                    let found = q.build_query_as::<OptOutRow>().persistent(false).fetch_all(&mut **tx).await?;
                    for n in chunk {
                        ledger.known.insert((*n).to_owned(), None);
                    }
                    for row in found {
                        let o = OptOut::try_from(row)?;
                        ledger.known.insert(o.number.as_str().to_owned(), Some(o));
                    }
                }
                Ok(())
            }

            /// Reads and locks the ledger head and the settings of `account`.
            pub(crate) async fn lock_ledger(
                tx: &mut sqlx::Transaction<'static, $db>,
                account: AccountId,
            ) -> Result<((i64, Digest32), AccountSettings)> {
                let row = sqlx::query($lock_ledger)
                    .bind(account.0)
                    .fetch_optional(&mut **tx)
                    .await?
                    .ok_or(StoreError::NotFound("account"))?;
                let seq: i64 = row.try_get(0)?;
                let head: String = row.try_get(1)?;
                let settings: String = row.try_get(2)?;
                let head = Digest32::from_hex(&head).ok_or_else(|| StoreError::Corrupt("ledger head".into()))?;
                Ok(((seq, head), settings_from_json(&settings)?))
            }

            /// Reads and locks the ledger of `account` (see [`Ledger`]).
            pub(crate) async fn ledger(
                tx: &mut sqlx::Transaction<'static, $db>,
                account: AccountId,
            ) -> Result<Ledger> {
                let (head, settings) = Self::lock_ledger(tx, account).await?;
                Ok(Ledger {
                    account,
                    head,
                    settings,
                    moved: false,
                    notify_endpoint: None,
                    defer_events: false,
                    unwritten: Vec::new(),
                    known: std::collections::HashMap::new(),
                })
            }

            /// Writes the events still unwritten and stores the ledger's head if events moved it.
            pub(crate) async fn save_ledger(
                tx: &mut sqlx::Transaction<'static, $db>,
                ledger: &mut Ledger,
            ) -> Result<()> {
                let unwritten = std::mem::take(&mut ledger.unwritten);
                Self::write_events(tx, &unwritten).await?;
                if ledger.moved {
                    Self::save_ledger_head(tx, ledger.account, ledger.head).await?;
                }
                Ok(())
            }

            /// Stores the moved ledger head.
            async fn save_ledger_head(
                tx: &mut sqlx::Transaction<'static, $db>,
                account: AccountId,
                head: (i64, Digest32),
            ) -> Result<()> {
                // -- move the account's ledger head to its newest event
                sqlx::query("UPDATE accounts SET ledger_seq = $1, ledger_head = $2 WHERE id = $3")
                    .bind(head.0)
                    .bind(head.1.to_hex())
                    .bind(account.0)
                    .execute(&mut **tx)
                    .await?;
                Ok(())
            }

            async fn fetch_optout(
                tx: &mut sqlx::Transaction<'static, $db>,
                account: AccountId,
                number: &PhoneNumber,
            ) -> Result<Option<OptOut>> {
                // -- the number's entry on the opt-out list
                sqlx::query_as::<_, OptOutRow>(
                    "SELECT id, number, source, actor_kind, actor_id, actor_label, evidence, created_at, provisional
                       FROM opt_outs WHERE account_id = $1 AND number = $2",
                )
                .bind(account.0)
                .bind(number.as_str())
                .fetch_optional(&mut **tx)
                .await?
                .map(OptOut::try_from)
                .transpose()
            }
        }

        impl $store {
            /// Notes an import's progress and a sign of life inside `tx`.
            async fn note_progress(
                tx: &mut sqlx::Transaction<'static, $db>,
                import_id: i64,
                rows_read: i64,
                invalid: i64,
                now: i64,
            ) -> Result<()> {
                // -- progress and a sign of life
                sqlx::query("UPDATE imports SET rows_read = $1, invalid = $2, heartbeat_at = $3 WHERE id = $4")
                    .bind(rows_read)
                    .bind(invalid)
                    .bind(now)
                    .bind(import_id)
                    .execute(&mut **tx)
                    .await?;
                Ok(())
            }
        }

        impl $store {
            /// Not found unless `group` is `account`'s, inside `tx`.
            async fn group_of(tx: &mut sqlx::Transaction<'static, $db>, account: AccountId, group: GroupId) -> Result<()> {
                // -- the group must be this account's
                let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM contact_groups WHERE id = $1 AND account_id = $2")
                    .bind(group.0)
                    .bind(account.0)
                    .fetch_optional(&mut **tx)
                    .await?;
                exists.map(|_| ()).ok_or(StoreError::NotFound("group"))
            }

            /// Import `import_id` of `account`, inside `tx`.
            async fn import_in(tx: &mut sqlx::Transaction<'static, $db>, account: AccountId, import_id: i64) -> Result<ImportRecord> {
                let sql = format!("{IMPORT_COLUMNS} WHERE id = $1 AND account_id = $2");
                sqlx::query_as::<_, ImportRow>(sqlx::AssertSqlSafe(sql))
                    .bind(import_id)
                    .bind(account.0)
                    .fetch_optional(&mut **tx)
                    .await?
                    .map(ImportRecord::try_from)
                    .transpose()?
                    .ok_or(StoreError::NotFound("import"))
            }
        }

        impl $store {
            /// Puts the numbers of `rows` (none listed yet) on the opt-out list with source
            /// `upload`, upload `imp`'s file and row as evidence, and one chained event each,
            /// many rows per statement, inside `tx`.
            async fn list_uploaded(
                tx: &mut sqlx::Transaction<'static, $db>,
                ledger: &mut Ledger,
                imp: &ImportRecord,
                rows: &[&StagedRow],
                now: i64,
            ) -> Result<()> {
                let account = ledger.account;
                let actor = &imp.actor;
                for chunk in rows.chunks(IMPORT_ROWS_PER_STATEMENT) {
                    let evidence: Vec<String> =
                        chunk.iter().map(|r| format!("upload {} \"{}\" row {}", imp.id, imp.file_name, r.row)).collect();
                    // -- uploaded numbers onto the list
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO opt_outs (account_id, number, source, actor_kind, actor_id, actor_label, evidence, created_at) ",
                    );
                    q.push_values(chunk.iter().zip(&evidence), |mut b, (r, ev)| {
                        b.push_bind(account.0)
                            .push_bind(r.number.as_str().to_owned())
                            .push_bind("upload")
                            .push_bind(actor.kind.as_str())
                            .push_bind(actor.id)
                            .push_bind(actor.label.clone())
                            .push_bind(ev.clone())
                            .push_bind(now);
                    });
                    q.build().execute(&mut **tx).await?;
                    let numbers: Vec<&str> = chunk.iter().map(|r| r.number.as_str()).collect();
                    Self::withdraw_from_imports(tx, account, &numbers).await?;
                    let events = chunk.iter().zip(evidence).map(|(r, ev)| EventContent {
                        account_id: account.0,
                        seq: 0,
                        number: r.number.as_str().to_owned(),
                        kind: EventKind::OptedOut,
                        source: EventSource::Upload,
                        actor: actor.clone(),
                        reason: None,
                        evidence: Some(ev),
                        at_ms: now,
                    });
                    Self::append_events(tx, ledger, events).await?;
                }
                Ok(())
            }
        }

        fn now_ms() -> i64 {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0)
        }

        #[async_trait::async_trait]
        impl Store for $store {
            fn backend(&self) -> $crate::Backend {
                self.backend_kind()
            }

            async fn ping(&self) -> Result<()> {
                // -- is the database answering?
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn create_account(&self, name: &str, webhook_token: &str, now: i64) -> Result<Account> {
                let settings = serde_json::to_string(&AccountSettings::default())
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                // -- a new account with default settings and an empty ledger
                sqlx::query_as::<_, AccountRow>(
                    "INSERT INTO accounts (name, webhook_token, settings_json, ledger_seq, ledger_head, created_at)
                     VALUES ($1, $2, $3, 0, $4, $5) RETURNING id, name, webhook_token, created_at",
                )
                .bind(name)
                .bind(webhook_token)
                .bind(settings)
                .bind(Digest32::GENESIS.to_hex())
                .bind(now)
                .fetch_one(&self.pool)
                .await
                .map(Account::from)
                .map_err(|e| conflict(e, "an account with this name", "name"))
            }

            async fn account(&self, id: AccountId) -> Result<Option<Account>> {
                // -- one account by id
                Ok(sqlx::query_as::<_, AccountRow>("SELECT id, name, webhook_token, created_at FROM accounts WHERE id = $1")
                    .bind(id.0)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(Account::from))
            }

            async fn account_by_name(&self, name: &str) -> Result<Option<Account>> {
                // -- one account by its unique name
                Ok(sqlx::query_as::<_, AccountRow>("SELECT id, name, webhook_token, created_at FROM accounts WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(Account::from))
            }

            async fn list_accounts(&self) -> Result<Vec<Account>> {
                // -- every account, oldest first
                Ok(sqlx::query_as::<_, AccountRow>("SELECT id, name, webhook_token, created_at FROM accounts ORDER BY id")
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(Account::from)
                    .collect())
            }

            async fn create_user(&self, account: AccountId, login: &str, password_hash: &str, role: Role, now: i64) -> Result<User> {
                // -- a new web user of an account (logins are unique across accounts)
                sqlx::query_as::<_, UserRow>(
                    "INSERT INTO users (account_id, login, password_hash, is_admin, role, created_at) VALUES ($1, $2, $3, $4, $5, $6)
                     RETURNING id, account_id, login, role, disabled_at, (totp_secret IS NOT NULL) AS two_factor, created_at",
                )
                .bind(account.0)
                .bind(login)
                .bind(password_hash)
                .bind(role == Role::Owner)
                .bind(role.as_str())
                .bind(now)
                .fetch_one(&self.pool)
                .await
                .map_err(|e| conflict(e, "a user with this login", "login"))?
                .try_into()
            }

            async fn bootstrap(&self, account_name: &str, webhook_token: &str, login: &str, password_hash: &str, now: i64) -> Result<Option<(Account, User)>> {
                let mut tx = self.begin_write().await?;
                if let Some(lock) = Self::BOOTSTRAP_LOCK {
                    sqlx::query(lock).execute(&mut *tx).await?;
                }
                // -- is there any user yet?
                let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&mut *tx).await?;
                if users > 0 {
                    tx.rollback().await?;
                    return Ok(None);
                }
                // -- the first account, if it exists already
                let existing = sqlx::query_as::<_, AccountRow>("SELECT id, name, webhook_token, created_at FROM accounts WHERE name = $1")
                    .bind(account_name)
                    .fetch_optional(&mut *tx)
                    .await?;
                let account = match existing {
                    Some(a) => a,
                    None => {
                        let settings = serde_json::to_string(&AccountSettings::default())
                            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                        // -- the first account, with default settings and an empty ledger
                        sqlx::query_as::<_, AccountRow>(
                            "INSERT INTO accounts (name, webhook_token, settings_json, ledger_seq, ledger_head, created_at)
                             VALUES ($1, $2, $3, 0, $4, $5) RETURNING id, name, webhook_token, created_at",
                        )
                        .bind(account_name)
                        .bind(webhook_token)
                        .bind(settings)
                        .bind(Digest32::GENESIS.to_hex())
                        .bind(now)
                        .fetch_one(&mut *tx)
                        .await?
                    }
                };
                let account = Account::from(account);
                // -- the first user, an owner
                let user = sqlx::query_as::<_, UserRow>(
                    "INSERT INTO users (account_id, login, password_hash, is_admin, role, created_at) VALUES ($1, $2, $3, $4, 'owner', $5)
                     RETURNING id, account_id, login, role, disabled_at, (totp_secret IS NOT NULL) AS two_factor, created_at",
                )
                .bind(account.id.0)
                .bind(login)
                .bind(password_hash)
                .bind(true)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(Some((account, User::try_from(user)?)))
            }

            async fn user_credentials(&self, login: &str) -> Result<Option<(User, String)>> {
                // -- a user and their password hash, by login
                let row = sqlx::query(concat!("SELECT ", user_columns!(), ", u.password_hash FROM users u WHERE u.login = $1"))
                    .bind(login)
                    .fetch_optional(&self.pool)
                    .await?;
                match row {
                    None => Ok(None),
                    Some(row) => {
                        let hash: String = row.try_get("password_hash")?;
                        let user = <UserRow as sqlx::FromRow<_>>::from_row(&row)?;
                        Ok(Some((user.try_into()?, hash)))
                    }
                }
            }

            async fn count_users(&self) -> Result<i64> {
                // -- how many users exist (zero on a fresh database)
                Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&self.pool).await?)
            }

            async fn create_session(&self, s: &$crate::NewSession<'_>) -> Result<()> {
                // -- a new web session (only the hash of its cookie is kept)
                sqlx::query("INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at, stage, address) VALUES ($1, $2, $3, $4, $5, $6, $7)")
                    .bind(s.token_hash)
                    .bind(s.user.0)
                    .bind(s.csrf_token)
                    .bind(s.now)
                    .bind(s.expires_at)
                    .bind(if s.awaiting_second_factor { "second_factor" } else { "full" })
                    .bind(s.address)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn session(&self, token_hash: &str, now: i64) -> Result<Option<Session>> {
                // -- a live session and its user, who is not disabled
                let row = sqlx::query(concat!(
                    "SELECT ", user_columns!(), ", s.csrf_token, s.expires_at, s.stage
                       FROM sessions s JOIN users u ON u.id = s.user_id
                      WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.disabled_at IS NULL",
                ))
                .bind(token_hash)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?;
                match row {
                    None => Ok(None),
                    Some(row) => Ok(Some(Session {
                        csrf_token: row.try_get("csrf_token")?,
                        expires_at: row.try_get("expires_at")?,
                        awaiting_second_factor: row.try_get::<String, _>("stage")? != "full",
                        user: <UserRow as sqlx::FromRow<_>>::from_row(&row)?.try_into()?,
                    })),
                }
            }

            async fn delete_session(&self, token_hash: &str) -> Result<()> {
                // -- log out
                sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(token_hash).execute(&self.pool).await?;
                Ok(())
            }

            async fn create_api_key(&self, account: AccountId, k: &$crate::NewApiKey<'_>, now: i64) -> Result<ApiKey> {
                // -- a new API key (only its hash is kept), with its maker's present role
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO api_keys (account_id, name, key_hash, prefix, role, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
                     RETURNING id",
                )
                .bind(account.0)
                .bind(k.name)
                .bind(k.key_hash)
                .bind(k.prefix)
                .bind(k.role.as_str())
                .bind(k.created_by.map(|u| u.0))
                .bind(now)
                .fetch_one(&self.pool)
                .await?;
                sqlx::query_as::<_, ApiKeyRow>(concat!(
                    "SELECT ", api_key_columns!(), " FROM api_keys k LEFT JOIN users u ON u.id = k.created_by WHERE k.id = $1"
                ))
                .bind(id)
                .fetch_one(&self.pool)
                .await?
                .try_into()
            }

            async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>> {
                // -- a live key by the hash of the presented key: not revoked, its maker (if
                // -- any) not disabled
                sqlx::query_as::<_, ApiKeyRow>(concat!(
                    "SELECT ", api_key_columns!(), " FROM api_keys k LEFT JOIN users u ON u.id = k.created_by
                      WHERE k.key_hash = $1 AND k.revoked_at IS NULL AND u.disabled_at IS NULL",
                ))
                .bind(key_hash)
                .fetch_optional(&self.pool)
                .await?
                .map(ApiKey::try_from)
                .transpose()
            }

            async fn list_api_keys(&self, account: AccountId) -> Result<Vec<ApiKey>> {
                // -- the account's keys, newest first
                sqlx::query_as::<_, ApiKeyRow>(concat!(
                    "SELECT ", api_key_columns!(), " FROM api_keys k LEFT JOIN users u ON u.id = k.created_by
                      WHERE k.account_id = $1 ORDER BY k.id DESC",
                ))
                .bind(account.0)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(ApiKey::try_from)
                .collect()
            }

            async fn revoke_api_key(&self, account: AccountId, id: ApiKeyId, now: i64) -> Result<()> {
                // -- revoke a key of this account (a revoked key stays listed)
                let done = sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND account_id = $3 AND revoked_at IS NULL")
                    .bind(now)
                    .bind(id.0)
                    .bind(account.0)
                    .execute(&self.pool)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound("API key"));
                }
                Ok(())
            }

            async fn settings(&self, account: AccountId) -> Result<AccountSettings> {
                // -- the account's settings
                let json: Option<String> = sqlx::query_scalar("SELECT settings_json FROM accounts WHERE id = $1")
                    .bind(account.0)
                    .fetch_optional(&self.pool)
                    .await?;
                settings_from_json(&json.ok_or(StoreError::NotFound("account"))?)
            }

            async fn update_settings(&self, account: AccountId, new: &AccountSettings, changes: &[SettingChange], actor: &Actor, now: i64) -> Result<()> {
                let json = serde_json::to_string(new).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let mut tx = self.begin_write().await?;
                // -- replace the settings
                let done = sqlx::query("UPDATE accounts SET settings_json = $1 WHERE id = $2")
                    .bind(json)
                    .bind(account.0)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound("account"));
                }
                Self::record_setting_changes(&mut tx, account, changes, actor, now).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn vonage_signature(&self, account: AccountId) -> Result<Option<VonageSignature>> {
                // -- the account's Vonage signed-webhook setting
                let row: Option<(String, String)> = sqlx::query_as(
                    "SELECT method, secret FROM vonage_signatures WHERE account_id = $1",
                )
                .bind(account.0)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|(method, secret)| VonageSignature { method, secret }))
            }

            async fn set_vonage_signature(&self, account: AccountId, signature: Option<&VonageSignature>, changes: &[SettingChange], actor: &Actor, now: i64) -> Result<()> {
                let mut tx = self.begin_write().await?;
                match signature {
                    Some(sig) => {
                        // -- set the account's Vonage signed-webhook setting, replacing any
                        sqlx::query(
                            "INSERT INTO vonage_signatures (account_id, method, secret, updated_at) VALUES ($1, $2, $3, $4)
                             ON CONFLICT (account_id) DO UPDATE SET method = excluded.method, secret = excluded.secret,
                                updated_at = excluded.updated_at",
                        )
                        .bind(account.0)
                        .bind(&sig.method)
                        .bind(&sig.secret)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    }
                    None => {
                        // -- remove it
                        sqlx::query("DELETE FROM vonage_signatures WHERE account_id = $1")
                            .bind(account.0)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                Self::record_setting_changes(&mut tx, account, changes, actor, now).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn settings_history(&self, account: AccountId, limit: i64) -> Result<Vec<SettingsChangeRecord>> {
                // -- the account's settings changes, newest first
                sqlx::query_as::<_, SettingsChangeRow>(
                    "SELECT at, actor_kind, actor_id, actor_label, field, old_value, new_value FROM settings_changes
                      WHERE account_id = $1 ORDER BY id DESC LIMIT $2",
                )
                .bind(account.0)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(SettingsChangeRecord::try_from)
                .collect()
            }

            async fn create_group(&self, account: AccountId, name: &GroupName, now: i64) -> Result<Group> {
                // -- a new, empty group (names unique per account, ignoring case)
                sqlx::query_as::<_, GroupRow>(
                    "INSERT INTO contact_groups (account_id, name, name_key, created_at) VALUES ($1, $2, $3, $4)
                     RETURNING id, account_id, name, CAST(0 AS BIGINT) AS contact_count, created_at",
                )
                .bind(account.0)
                .bind(name.as_str())
                .bind(name.as_str().to_lowercase())
                .bind(now)
                .fetch_one(&self.pool)
                .await
                .map(Group::from)
                .map_err(|e| conflict(e, "a group with this name", "name"))
            }

            async fn rename_group(&self, account: AccountId, id: GroupId, name: &GroupName) -> Result<Group> {
                // -- rename a group of this account
                let done = sqlx::query("UPDATE contact_groups SET name = $1, name_key = $2 WHERE id = $3 AND account_id = $4")
                    .bind(name.as_str())
                    .bind(name.as_str().to_lowercase())
                    .bind(id.0)
                    .bind(account.0)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| conflict(e, "a group with this name", "name"))?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound("group"));
                }
                self.group(account, id).await?.ok_or(StoreError::NotFound("group"))
            }

            async fn delete_group(&self, account: AccountId, id: GroupId) -> Result<()> {
                let mut tx = self.begin_write().await?;
                // -- the group's contacts go with it; the opt-out list is untouched
                sqlx::query("DELETE FROM contacts WHERE group_id = $1 AND account_id = $2")
                    .bind(id.0)
                    .bind(account.0)
                    .execute(&mut *tx)
                    .await?;
                // -- then the group itself
                let done = sqlx::query("DELETE FROM contact_groups WHERE id = $1 AND account_id = $2")
                    .bind(id.0)
                    .bind(account.0)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound("group"));
                }
                tx.commit().await?;
                Ok(())
            }

            async fn group(&self, account: AccountId, id: GroupId) -> Result<Option<Group>> {
                // -- one group with its contact count
                let sql = format!(
                    "SELECT g.id, g.account_id, g.name, {GROUP_CONTACT_COUNT} AS contact_count, g.created_at
                       FROM contact_groups g WHERE g.id = $1 AND g.account_id = $2"
                );
                Ok(sqlx::query_as::<_, GroupRow>(sqlx::AssertSqlSafe(sql))
                .bind(id.0)
                .bind(account.0)
                .fetch_optional(&self.pool)
                .await?
                .map(Group::from))
            }

            async fn list_groups(&self, account: AccountId) -> Result<Vec<Group>> {
                // -- the account's groups by name, with contact counts
                let sql = format!(
                    "SELECT g.id, g.account_id, g.name, {GROUP_CONTACT_COUNT} AS contact_count, g.created_at
                       FROM contact_groups g WHERE g.account_id = $1 ORDER BY g.name_key"
                );
                Ok(sqlx::query_as::<_, GroupRow>(sqlx::AssertSqlSafe(sql))
                .bind(account.0)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(Group::from)
                .collect())
            }

            async fn create_contact(&self, account: AccountId, group: GroupId, number: &PhoneNumber, fields: &ContactFields, now: i64) -> Result<Contact> {
                let mut tx = self.begin_write().await?;
                Self::group_of(&mut tx, account, group).await?;
                if Self::fetch_optout(&mut tx, account, number).await?.is_some() {
                    return Err(StoreError::OptedOut);
                }
                // -- a hidden row of a running import with this number? it becomes this contact
                // -- (the import then no longer owns it)
                let taken: Option<i64> = sqlx::query_scalar(
                    "SELECT import_id FROM contacts WHERE group_id = $1 AND number = $2
                        AND import_id IN (SELECT import_id FROM hidden_imports)",
                )
                .bind(group.0)
                .bind(number.as_str())
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(import) = taken {
                    Self::hidden_rows_by(&mut tx, import, -1).await?;
                }
                // -- a new contact instance, or the hidden row taken over
                let id: Option<i64> = sqlx::query_scalar(
                    "INSERT INTO contacts (account_id, group_id, number, first_name, last_name, email, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
                     ON CONFLICT (group_id, number) DO UPDATE SET import_id = NULL, first_name = excluded.first_name,
                        last_name = excluded.last_name, email = excluded.email, created_at = excluded.created_at,
                        updated_at = excluded.updated_at
                      WHERE contacts.import_id IN (SELECT import_id FROM hidden_imports)
                     RETURNING id",
                )
                .bind(account.0)
                .bind(group.0)
                .bind(number.as_str())
                .bind(&fields.first_name)
                .bind(&fields.last_name)
                .bind(&fields.email)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                let id = id.ok_or(StoreError::Conflict { what: "a contact with this number in this group", field: "number" })?;
                tx.commit().await?;
                self.contact(account, ContactId(id)).await?.ok_or(StoreError::NotFound("contact"))
            }

            async fn update_contact(&self, account: AccountId, id: ContactId, fields: &ContactFields, now: i64) -> Result<Contact> {
                // -- replace a contact's fields
                let done = sqlx::query(
                    "UPDATE contacts SET first_name = $1, last_name = $2, email = $3, updated_at = $4 WHERE id = $5 AND account_id = $6",
                )
                .bind(&fields.first_name)
                .bind(&fields.last_name)
                .bind(&fields.email)
                .bind(now)
                .bind(id.0)
                .bind(account.0)
                .execute(&self.pool)
                .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound("contact"));
                }
                self.contact(account, id).await?.ok_or(StoreError::NotFound("contact"))
            }

            async fn delete_contact(&self, account: AccountId, id: ContactId) -> Result<()> {
                // -- delete one contact instance (never an opt-out)
                let done = sqlx::query("DELETE FROM contacts WHERE id = $1 AND account_id = $2")
                    .bind(id.0)
                    .bind(account.0)
                    .execute(&self.pool)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound("contact"));
                }
                Ok(())
            }

            async fn contact(&self, account: AccountId, id: ContactId) -> Result<Option<Contact>> {
                // -- one contact with its opted-out flag
                let sql = format!("{CONTACT_COLUMNS} WHERE c.id = $1 AND c.account_id = $2 AND {VISIBLE_CONTACT}");
                sqlx::query_as::<_, ContactRow>(sqlx::AssertSqlSafe(sql))
                    .bind(id.0)
                    .bind(account.0)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(Contact::try_from)
                    .transpose()
            }

            async fn list_contacts(&self, account: AccountId, group: Option<GroupId>, search: Option<&str>, after: Option<i64>, limit: i64) -> Result<Page<Contact>> {
                let pattern = search.map(|s| contains_pattern(&s.trim().to_lowercase()));
                // -- a page of contacts by id, in one group or all, optionally matching a search
                // -- (the search text literally: `%` and `_` escaped)
                let sql = format!(
                    "{CONTACT_COLUMNS} WHERE c.account_id = $1 AND {VISIBLE_CONTACT}
                        AND (CAST($2 AS BIGINT) IS NULL OR c.group_id = $2)
                        AND c.id > $3
                        AND (CAST($4 AS TEXT) IS NULL OR c.number LIKE $4 ESCAPE '\\'
                             OR lower(c.first_name) LIKE $4 ESCAPE '\\'
                             OR lower(c.last_name) LIKE $4 ESCAPE '\\' OR lower(c.email) LIKE $4 ESCAPE '\\')
                      ORDER BY c.id LIMIT $5"
                );
                let rows = sqlx::query_as::<_, ContactRow>(sqlx::AssertSqlSafe(sql))
                    .bind(account.0)
                    .bind(group.map(|g| g.0))
                    .bind(after.unwrap_or(0))
                    .bind(pattern)
                    .bind(limit + 1)
                    .fetch_all(&self.pool)
                    .await?;
                let mut items = rows.into_iter().map(Contact::try_from).collect::<Result<Vec<_>>>()?;
                let next = if items.len() as i64 > limit {
                    items.truncate(limit as usize);
                    items.last().map(|c| c.id.0)
                } else {
                    None
                };
                Ok(Page { items, next })
            }

            async fn apply_optout(&self, account: AccountId, cmd: &OptOutCommand, now: i64) -> Result<OptOutOutcome> {
                let mut tx = self.begin_write().await?;
                let out = Self::apply_optout_tx(&mut tx, account, cmd, now).await?;
                tx.commit().await?;
                Ok(out)
            }

            async fn optout(&self, account: AccountId, number: &PhoneNumber) -> Result<Option<OptOut>> {
                // -- is this number on the list? since when, why
                sqlx::query_as::<_, OptOutRow>(
                    "SELECT id, number, source, actor_kind, actor_id, actor_label, evidence, created_at, provisional
                       FROM opt_outs WHERE account_id = $1 AND number = $2",
                )
                .bind(account.0)
                .bind(number.as_str())
                .fetch_optional(&self.pool)
                .await?
                .map(OptOut::try_from)
                .transpose()
            }

            async fn list_optouts(&self, account: AccountId, search: Option<&str>, before: Option<i64>, limit: i64) -> Result<Page<OptOut>> {
                let pattern = $crate::export::number_pattern(search);
                // -- a page of the opt-out list, newest first, optionally by digits of the number
                let rows = sqlx::query_as::<_, OptOutRow>(
                    "SELECT id, number, source, actor_kind, actor_id, actor_label, evidence, created_at, provisional FROM opt_outs
                      WHERE account_id = $1 AND id < $2 AND (CAST($3 AS TEXT) IS NULL OR number LIKE $3)
                      ORDER BY id DESC LIMIT $4",
                )
                .bind(account.0)
                .bind(before.unwrap_or(i64::MAX))
                .bind(pattern)
                .bind(limit + 1)
                .fetch_all(&self.pool)
                .await?;
                let mut items = rows.into_iter().map(OptOut::try_from).collect::<Result<Vec<_>>>()?;
                let next = if items.len() as i64 > limit {
                    items.truncate(limit as usize);
                    items.last().map(|o| o.id)
                } else {
                    None
                };
                Ok(Page { items, next })
            }

            async fn count_optouts(&self, account: AccountId) -> Result<i64> {
                // -- the size of the opt-out list
                Ok(sqlx::query_scalar("SELECT COUNT(*) FROM opt_outs WHERE account_id = $1")
                    .bind(account.0)
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn number_events(&self, account: AccountId, number: &PhoneNumber) -> Result<Vec<EventRecord>> {
                // -- a number's history, oldest first
                sqlx::query_as::<_, EventRow>(
                    "SELECT id, account_id, seq, number, kind, source, actor_kind, actor_id, actor_label, reason, evidence, at,
                            prev_hash, hash FROM optout_events WHERE account_id = $1 AND number = $2 ORDER BY seq",
                )
                .bind(account.0)
                .bind(number.as_str())
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(EventRecord::try_from)
                .collect()
            }

            async fn events_after(&self, account: AccountId, after_seq: i64, limit: i64) -> Result<Vec<EventRecord>> {
                // -- the ledger after a seq, oldest first (verification and cache refresh)
                sqlx::query_as::<_, EventRow>(
                    "SELECT id, account_id, seq, number, kind, source, actor_kind, actor_id, actor_label, reason, evidence, at,
                            prev_hash, hash FROM optout_events WHERE account_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                )
                .bind(account.0)
                .bind(after_seq)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(EventRecord::try_from)
                .collect()
            }

            async fn create_import(&self, new: &NewImport<'_>, now: i64) -> Result<i64> {
                // -- a new running import
                Ok(sqlx::query_scalar(
                    "INSERT INTO imports (account_id, group_id, kind, file_name, status, dry_run, reset, reason,
                        actor_kind, actor_id, actor_label, created_at, heartbeat_at)
                     VALUES ($1, $2, $3, $4, 'running', $5, $6, $7, $8, $9, $10, $11, $11) RETURNING id",
                )
                .bind(new.account.0)
                .bind(new.group.map(|g| g.0))
                .bind(new.kind.as_str())
                .bind(new.file_name)
                .bind(new.dry_run)
                .bind(new.reset.is_some())
                .bind(new.reset.map(|r| r.as_str().to_owned()))
                .bind(new.actor.kind.as_str())
                .bind(new.actor.id)
                .bind(&new.actor.label)
                .bind(now)
                .fetch_one(&self.pool)
                .await?)
            }

            async fn import(&self, account: AccountId, id: i64) -> Result<Option<ImportRecord>> {
                // -- one import of this account
                let sql = format!("{IMPORT_COLUMNS} WHERE id = $1 AND account_id = $2");
                sqlx::query_as::<_, ImportRow>(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .bind(account.0)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(ImportRecord::try_from)
                    .transpose()
            }

            async fn list_imports(&self, account: AccountId, limit: i64) -> Result<Vec<ImportRecord>> {
                // -- the account's imports, newest first
                let sql = format!("{IMPORT_COLUMNS} WHERE account_id = $1 ORDER BY id DESC LIMIT $2");
                sqlx::query_as::<_, ImportRow>(sqlx::AssertSqlSafe(sql))
                    .bind(account.0)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(ImportRecord::try_from)
                    .collect()
            }

            async fn note_import(&self, import_id: i64, rejects: &[Reject], rows_read: i64, invalid: i64, now: i64) -> Result<()> {
                let mut tx = self.begin_background_write().await?;
                <$db as $crate::imports::BulkImport>::insert_rejects(&mut tx, import_id, rejects).await?;
                Self::note_progress(&mut tx, import_id, rows_read, invalid, now).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn upload_batch(
                &self,
                account: AccountId,
                import_id: i64,
                rows: &[StagedRow],
                rejects: &[Reject],
                rows_read: i64,
                invalid: i64,
                now: i64,
            ) -> Result<ImportCounts> {
                let mut tx = self.begin_background_write().await?;
                let mut ledger = Self::ledger(&mut tx, account).await?;
                let imp = Self::import_in(&mut tx, account, import_id).await?;
                if imp.kind != ImportKind::OptOuts {
                    return Err(StoreError::Corrupt(format!("import {import_id} is not an upload: contact imports are staged")));
                }
                if imp.status != ImportStatus::Running {
                    return Err(StoreError::NotFound("running import"));
                }
                let policy = Policy::from(&ledger.settings);
                let listed = <$db as $crate::imports::BulkImport>::listed(&mut tx, account.0, rows).await?;
                let mut counts = ImportCounts::default();
                let mut keep = Vec::with_capacity(rows.len());
                for r in rows {
                    match row_fate(&policy, OptOutEvent::Added(rules::AddedBy::Upload), i64::MAX, listed.get(r.number.as_str())) {
                        RowFate::Keep | RowFate::Lift => keep.push(r),
                        // A number already listed: counted, not duplicated.
                        RowFate::Already => counts.updated += 1,
                        RowFate::Skip(..) => {}
                    }
                }
                counts.imported = keep.len() as i64;
                if !imp.dry_run {
                    Self::list_uploaded(&mut tx, &mut ledger, &imp, &keep, now).await?;
                    Self::save_ledger(&mut tx, &mut ledger).await?;
                }
                <$db as $crate::imports::BulkImport>::insert_rejects(&mut tx, import_id, rejects).await?;
                // -- the batch's counts and the progress with a sign of life: what an upload
                // -- stopped midway listed stays listed, and its report says how much
                sqlx::query(
                    "UPDATE imports SET imported = imported + $1, updated = updated + $2, rows_read = $3, invalid = $4,
                        heartbeat_at = $5 WHERE id = $6",
                )
                .bind(counts.imported)
                .bind(counts.updated)
                .bind(rows_read)
                .bind(invalid)
                .bind(now)
                .bind(import_id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(counts)
            }

            async fn open_import(&self, account: AccountId, import_id: i64) -> Result<()> {
                let mut tx = self.begin_write().await?;
                let imp = Self::import_in(&mut tx, account, import_id).await?;
                let group = imp.group_id.ok_or(StoreError::NotFound("group"))?;
                Self::group_of(&mut tx, account, group).await?;
                // -- another import of this group still staged (running, or failed and not yet
                // -- cleared away): its hidden rows hold numbers this one may bring
                let other: Option<i64> = sqlx::query_scalar("SELECT import_id FROM hidden_imports WHERE group_id = $1 LIMIT 1")
                    .bind(group.0)
                    .fetch_optional(&mut *tx)
                    .await?;
                if !imp.dry_run {
                    if other.is_some() {
                        return Err(StoreError::Conflict { what: "an import into this group that has not finished", field: "group" });
                    }
                    // -- from now on, rows of this import are hidden from every reader
                    // -- (one per group: of two at once on PostgreSQL, the second fails here)
                    sqlx::query("INSERT INTO hidden_imports (import_id, group_id) VALUES ($1, $2)")
                        .bind(import_id)
                        .bind(group.0)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| conflict(e, "an import into this group that has not finished", "group"))?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn stage_import(&self, account: AccountId, import_id: i64, rows: &[StagedRow], rows_read: i64, invalid: i64) -> Result<ImportCounts> {
                let mut tx = self.begin_background_write().await?;
                // -- the account's settings (on PostgreSQL, its ledger row share-locked: see SHARE_LEDGER)
                let settings: Option<String> = sqlx::query_scalar(Self::SHARE_LEDGER)
                    .bind(account.0)
                    .fetch_optional(&mut *tx)
                    .await?;
                let policy = Policy::from(&settings_from_json(&settings.ok_or(StoreError::NotFound("account"))?)?);
                let imp = Self::import_in(&mut tx, account, import_id).await?;
                if imp.status != ImportStatus::Running {
                    return Err(StoreError::NotFound("running import"));
                }
                let group = imp.group_id.ok_or(StoreError::NotFound("group"))?;
                if !imp.dry_run {
                    // -- still hidden? (deleting the group deletes this row too)
                    let open: Option<i64> = sqlx::query_scalar("SELECT group_id FROM hidden_imports WHERE import_id = $1")
                        .bind(import_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    if open.is_none() {
                        return Err(StoreError::NotFound("group"));
                    }
                }
                let listed = <$db as $crate::imports::BulkImport>::listed(&mut tx, account.0, rows).await?;
                let existing = <$db as $crate::imports::BulkImport>::existing(&mut tx, group.0, rows).await?;
                let event = OptOutEvent::ImportRow { reset: imp.reset };
                let mut counts = ImportCounts::default();
                let mut hidden = Vec::new();
                let mut skipped = Vec::new();
                let mut lifts = Vec::new();
                let mut updates = Vec::new();
                for r in rows {
                    match row_fate(&policy, event, imp.created_at, listed.get(r.number.as_str())) {
                        RowFate::Skip(reason, enforced) => {
                            if enforced { counts.skipped_enforced += 1 } else { counts.skipped_opted_out += 1 }
                            skipped.push(Reject { row: r.row, raw: r.number.as_str().to_owned(), reason: reason.into() });
                            continue;
                        }
                        RowFate::Lift => {
                            counts.lifted += 1;
                            lifts.push(r);
                        }
                        RowFate::Keep | RowFate::Already => {}
                    }
                    match existing.get(r.number.as_str()) {
                        None => {
                            counts.imported += 1;
                            hidden.push(r.clone());
                        }
                        Some(c) => {
                            counts.updated += 1;
                            // The file's non-empty fields replace the stored ones; a row that
                            // would change nothing is not staged (a re-import rewrites nothing).
                            let f = &r.fields;
                            let changes = |new: &Option<String>, old: &Option<String>| new.is_some() && new != old;
                            if changes(&f.first_name, &c.first_name) || changes(&f.last_name, &c.last_name) || changes(&f.email, &c.email) {
                                updates.push((c.id, r));
                            }
                        }
                    }
                }
                if !imp.dry_run {
                    <$db as $crate::imports::BulkImport>::insert_hidden(&mut tx, account.0, group.0, import_id, now_ms(), &hidden).await?;
                    Self::hidden_rows_by(&mut tx, import_id, hidden.len() as i64).await?;
                    for chunk in updates.chunks(IMPORT_ROWS_PER_STATEMENT) {
                        // -- fields the import changes on contacts already in the group, applied when it is published
                        let mut q = sqlx::QueryBuilder::<$db>::new("INSERT INTO import_updates (import_id, contact_id, first_name, last_name, email) ");
                        q.push_values(chunk, |mut b, (id, r)| {
                            b.push_bind(import_id)
                                .push_bind(*id)
                                .push_bind(r.fields.first_name.clone())
                                .push_bind(r.fields.last_name.clone())
                                .push_bind(r.fields.email.clone());
                        });
                        q.build().execute(&mut *tx).await?;
                    }
                    for chunk in lifts.chunks(IMPORT_ROWS_PER_STATEMENT) {
                        // -- opt-outs the import's reset lifts when it is published
                        let mut q = sqlx::QueryBuilder::<$db>::new("INSERT INTO import_lifts (import_id, account_id, number, row) ");
                        q.push_values(chunk, |mut b, r| {
                            b.push_bind(import_id).push_bind(account.0).push_bind(r.number.as_str().to_owned()).push_bind(r.row);
                        });
                        q.build().execute(&mut *tx).await?;
                    }
                }
                <$db as $crate::imports::BulkImport>::insert_rejects(&mut tx, import_id, &skipped).await?;
                Self::note_progress(&mut tx, import_id, rows_read, invalid, now_ms()).await?;
                tx.commit().await?;
                Ok(counts)
            }

            async fn publish_import(&self, account: AccountId, import_id: i64, staged: &ImportCounts, marked: &[StagedRow], now: i64) -> Result<ImportCounts> {
                let mut tx = self.begin_write().await?;
                let mut ledger = Self::ledger(&mut tx, account).await?;
                let imp = Self::import_in(&mut tx, account, import_id).await?;
                if imp.status != ImportStatus::Running {
                    return Err(StoreError::NotFound("running import"));
                }
                let mut counts = staged.clone();
                if !imp.dry_run {
                    // -- the group it goes into (deleting the group deletes this row too)
                    let group: Option<i64> = sqlx::query_scalar("SELECT group_id FROM hidden_imports WHERE import_id = $1")
                        .bind(import_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    let group = group.ok_or(StoreError::NotFound("group"))?;
                    // Rows the file marks as opted out go on the list first (withdrawing their
                    // numbers from this import, as any opt-out does).
                    for r in marked {
                        let cmd = OptOutCommand {
                            number: r.number.clone(),
                            event: OptOutEvent::Added(rules::AddedBy::Upload),
                            actor: imp.actor.clone(),
                            reason: None,
                            evidence: Some(format!("import {} \"{}\" row {}: opted out in the file", imp.id, imp.file_name, r.row)),
                            campaign_groups: Vec::new(),
                        };
                        Self::apply_optout_in(&mut tx, &mut ledger, &cmd, now).await?;
                    }
                    // -- the staged lifts still standing (an opt-out recorded since dropped its
                    // -- lift), of opt-outs listed before the import started
                    let lifts: Vec<(String, i64)> = sqlx::query_as(
                        "SELECT l.number, l.row FROM import_lifts l
                           JOIN opt_outs o ON o.account_id = l.account_id AND o.number = l.number
                          WHERE l.import_id = $1 AND o.created_at <= $2 ORDER BY l.number",
                    )
                    .bind(import_id)
                    .bind(imp.created_at)
                    .fetch_all(&mut *tx)
                    .await?;
                    for (number, row) in &lifts {
                        // -- lift the opt-out (an import reset); its events stay
                        sqlx::query("DELETE FROM opt_outs WHERE account_id = $1 AND number = $2")
                            .bind(account.0)
                            .bind(number)
                            .execute(&mut *tx)
                            .await?;
                        let content = EventContent {
                            account_id: account.0,
                            seq: 0,
                            number: number.clone(),
                            kind: EventKind::OptedIn,
                            source: EventSource::ImportReset,
                            actor: imp.actor.clone(),
                            reason: imp.reason.clone(),
                            evidence: Some(format!("import {} \"{}\" row {}", imp.id, imp.file_name, row)),
                            at_ms: now,
                        };
                        Self::append_event(&mut tx, &mut ledger, content).await?;
                    }
                    // -- hidden rows of numbers whose lift did not happen (still opted out), found
                    // -- from the lifts, never by scanning the import's rows (CROSS JOIN keeps the
                    // -- lifts the outer loop on SQLite: it had chosen the import's index, 100 ms
                    // -- a 1,000,000-row import)
                    let unlifted = sqlx::query(
                        "DELETE FROM contacts WHERE id IN (
                           SELECT c.id FROM import_lifts l CROSS JOIN contacts c
                            WHERE l.import_id = $1
                              AND c.group_id = $3 AND c.number = l.number AND c.import_id = $1
                              AND EXISTS (SELECT 1 FROM opt_outs o WHERE o.account_id = $2 AND o.number = l.number))",
                    )
                    .bind(import_id)
                    .bind(account.0)
                    .bind(group)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected() as i64;
                    Self::hidden_rows_by(&mut tx, import_id, -unlifted).await?;
                    // -- new fields for contacts already in the group (the file's non-empty ones)
                    sqlx::query(
                        "UPDATE contacts SET first_name = COALESCE(u.first_name, contacts.first_name),
                                last_name = COALESCE(u.last_name, contacts.last_name),
                                email = COALESCE(u.email, contacts.email), updated_at = $2
                           FROM import_updates u WHERE u.import_id = $1 AND contacts.id = u.contact_id",
                    )
                    .bind(import_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    // -- what lands: the import's hidden rows now (opt-outs withdrew some meanwhile)
                    let landed: i64 = sqlx::query_scalar("SELECT rows FROM hidden_imports WHERE import_id = $1")
                        .bind(import_id)
                        .fetch_one(&mut *tx)
                        .await?;
                    counts.skipped_opted_out += counts.imported - landed;
                    counts.imported = landed;
                    counts.lifted = lifts.len() as i64;
                    // -- the switch: from here on every reader sees the whole import
                    for table in ["DELETE FROM hidden_imports WHERE import_id = $1", "DELETE FROM import_updates WHERE import_id = $1", "DELETE FROM import_lifts WHERE import_id = $1"] {
                        sqlx::query(table).bind(import_id).execute(&mut *tx).await?;
                    }
                    Self::save_ledger(&mut tx, &mut ledger).await?;
                }
                Self::write_import_report(&mut tx, account, import_id, ImportStatus::Done, &counts, None, now).await?;
                tx.commit().await?;
                Ok(counts)
            }

            async fn discard_imports(&self) -> Result<u64> {
                // -- staged imports that will never be published (failed, interrupted)
                let gone: Vec<i64> = sqlx::query_scalar(
                    "SELECT h.import_id FROM hidden_imports h LEFT JOIN imports i ON i.id = h.import_id
                      WHERE i.id IS NULL OR i.status <> 'running'",
                )
                .fetch_all(&self.pool)
                .await?;
                for id in &gone {
                    loop {
                        // -- its hidden rows, a short transaction at a time (still hidden meanwhile)
                        let mut tx = self.begin_background_write().await?;
                        let n = sqlx::query(
                            "DELETE FROM contacts WHERE id IN (SELECT id FROM contacts WHERE import_id = $1 LIMIT 10000)
                               AND import_id IN (SELECT import_id FROM hidden_imports)",
                        )
                        .bind(id)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                        Self::hidden_rows_by(&mut tx, *id, -(n as i64)).await?;
                        tx.commit().await?;
                        if n == 0 {
                            break;
                        }
                    }
                    let mut tx = self.begin_write().await?;
                    for table in ["DELETE FROM import_updates WHERE import_id = $1", "DELETE FROM import_lifts WHERE import_id = $1", "DELETE FROM hidden_imports WHERE import_id = $1"] {
                        sqlx::query(table).bind(id).execute(&mut *tx).await?;
                    }
                    tx.commit().await?;
                }
                Ok(gone.len() as u64)
            }

            async fn finish_import(&self, account: AccountId, import_id: i64, status: ImportStatus, counts: &ImportCounts, error: Option<&str>, now: i64) -> Result<()> {
                let mut tx = self.begin_write().await?;
                Self::write_import_report(&mut tx, account, import_id, status, counts, error, now).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn import_rejects(&self, account: AccountId, import_id: i64, after_row: i64, limit: i64) -> Result<Vec<Reject>> {
                // -- an import's rejected rows by row number (only this account's imports)
                let rows: Vec<(i64, String, String)> = sqlx::query_as(
                    "SELECT j.row, j.raw, j.reason FROM import_rejects j JOIN imports i ON i.id = j.import_id
                      WHERE j.import_id = $1 AND i.account_id = $2 AND j.row > $3 ORDER BY j.row LIMIT $4",
                )
                .bind(import_id)
                .bind(account.0)
                .bind(after_row)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(|(row, raw, reason)| Reject { row, raw, reason }).collect())
            }

            async fn fail_stale_imports(&self, stale_before: i64, now: i64) -> Result<u64> {
                let mut tx = self.begin_write().await?;
                // -- imports whose process stopped: failed (nothing of a contact import landed; an
                // -- upload keeps the batches it counted)
                let n = sqlx::query(
                    "UPDATE imports SET status = 'failed', finished_at = $2,
                        error = CASE WHEN kind = 'optouts' AND NOT dry_run AND imported > 0
                            THEN 'interrupted: the server stopped before the upload finished; the numbers it counts as imported are listed, the rest are not: upload the file again to list them'
                            ELSE 'interrupted: the server stopped before the import finished; nothing of it was applied' END
                      WHERE status = 'running' AND heartbeat_at < $1",
                )
                .bind(stale_before)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                Ok(n)
            }

            async fn bulk_add_optouts(&self, account: AccountId, numbers: &[PhoneNumber], actor: &Actor, evidence: &str, now: i64) -> Result<u64> {
                let mut added = 0;
                for chunk in numbers.chunks(50_000) {
                    let mut tx = self.begin_write().await?;
                    let mut ledger = Self::ledger(&mut tx, account).await?;
                    for n in chunk {
                        // -- add one number unless it is listed already
                        let done = sqlx::query(
                            "INSERT INTO opt_outs (account_id, number, source, actor_kind, actor_id, actor_label, evidence, created_at)
                             VALUES ($1, $2, 'upload', $3, $4, $5, $6, $7) ON CONFLICT (account_id, number) DO NOTHING",
                        )
                        .bind(account.0)
                        .bind(n.as_str())
                        .bind(actor.kind.as_str())
                        .bind(actor.id)
                        .bind(&actor.label)
                        .bind(evidence)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                        if done.rows_affected() == 1 {
                            added += 1;
                            let content = EventContent {
                                account_id: account.0,
                                seq: 0,
                                number: n.as_str().to_owned(),
                                kind: EventKind::OptedOut,
                                source: EventSource::Upload,
                                actor: actor.clone(),
                                reason: None,
                                evidence: Some(evidence.to_owned()),
                                at_ms: now,
                            };
                            Self::append_event(&mut tx, &mut ledger, content).await?;
                        }
                    }
                    Self::save_ledger(&mut tx, &mut ledger).await?;
                    tx.commit().await?;
                }
                Ok(added)
            }
        }
        }
    };
}

pub(crate) use store_impl;
