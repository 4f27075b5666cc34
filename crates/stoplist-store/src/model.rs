//! What the store hands back: plain records built from rows, with domain types where the
//! domain has one. Nothing here talks to a database.

use serde::Serialize;
use stoplist_domain::ledger::ChainedEvent;
use stoplist_domain::names::{ContactFields, Reason};
use stoplist_domain::rules::{ContactCleanup, Decision, OptOutEvent};
use stoplist_domain::{
    AccountId, Actor, ApiKeyId, AuditEvent, ContactId, GroupId, OptOutSource, PhoneNumber, Role,
    UserId,
};

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    /// The secret part of the account's inbound webhook URLs.
    pub webhook_token: String,
    pub created_at: i64,
}

/// A person who logs in to the web UI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: UserId,
    pub account_id: AccountId,
    pub login: String,
    pub role: Role,
    /// When the user was disabled; a disabled user can neither log in nor use a session or
    /// a key of theirs.
    pub disabled_at: Option<i64>,
    /// Whether the user has enrolled in two-factor login.
    pub two_factor: bool,
    pub created_at: i64,
}

impl User {
    pub fn is_active(&self) -> bool {
        self.disabled_at.is_none()
    }
}

/// A logged-in web session, looked up by the hash of its cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: User,
    pub csrf_token: String,
    pub expires_at: i64,
    /// The password was right and a second factor is awaited: the session opens no page but
    /// the second-factor form.
    pub awaiting_second_factor: bool,
}

/// What a session is called in lists (never its token or the token's full hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionInfo {
    /// The first 16 hex characters of the SHA-256 of the session's token.
    pub handle: String,
    pub user_id: UserId,
    pub login: String,
    pub created_at: i64,
    pub expires_at: i64,
    /// The client address the session was opened from.
    pub address: String,
}

/// One security event of an account's audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    pub event: AuditEvent,
    pub actor: Actor,
    /// What the event was about: a user's login, a key's name, a setting's name.
    pub subject: String,
    /// More in words (a role change `viewer → manager`, a format, a reason).
    pub detail: String,
    /// The client address, when the event came over HTTP.
    pub address: String,
}

/// An API key as stored: never the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub account_id: AccountId,
    pub name: String,
    /// The first characters of the key, to recognise it in lists.
    pub prefix: String,
    /// What the key may do: its own role, and never more than its maker's present role.
    pub role: Role,
    /// The user who made it (`None`: made with the CLI).
    pub created_by: Option<UserId>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// An account's setting for Vonage signed webhooks: the signature method as the Vonage SDKs
/// name it (`md5hash`, `md5`, `sha1`, `sha256`, `sha512`; the application checks the name
/// before storing it) and the signature secret, which is never shown back nor printed.
#[derive(Clone, PartialEq, Eq)]
pub struct VonageSignature {
    pub method: String,
    pub secret: String,
}

impl std::fmt::Debug for VonageSignature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VonageSignature")
            .field("method", &self.method)
            .field("secret", &"<hidden>")
            .finish()
    }
}

/// A recorded settings change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettingsChangeRecord {
    pub at: i64,
    pub actor: Actor,
    pub field: String,
    pub old_value: String,
    pub new_value: String,
}

/// A named contact list with its number of contacts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    pub id: GroupId,
    pub account_id: AccountId,
    pub name: String,
    pub contact_count: i64,
    pub created_at: i64,
}

/// One instance of a number in one group, and whether the number is opted out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Contact {
    pub id: ContactId,
    pub group_id: GroupId,
    pub number: PhoneNumber,
    #[serde(flatten)]
    pub fields: ContactFields,
    pub opted_out: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A number on the opt-out list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OptOut {
    pub id: i64,
    pub number: PhoneNumber,
    pub source: OptOutSource,
    pub actor: Actor,
    pub evidence: Option<String>,
    /// Opted out since (ms). A later reply that replaces a weaker source keeps this time.
    pub created_at: i64,
    /// Counted from an unclear reply until a person reviews it (SPEC 3.6): it suppresses
    /// sending but has cleaned up no contact.
    pub provisional: bool,
}

impl OptOut {
    /// The entry as the rules read it.
    pub fn listed(&self) -> stoplist_domain::rules::Listed {
        stoplist_domain::rules::Listed {
            source: self.source,
            provisional: self.provisional,
        }
    }
}

/// One stored ledger event (with the database id the chain does not cover).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    pub id: i64,
    pub event: ChainedEvent,
}

/// A change to a number's place on the opt-out list, as the store is asked to make it.
#[derive(Debug, Clone)]
pub struct OptOutCommand {
    pub number: PhoneNumber,
    pub event: OptOutEvent,
    pub actor: Actor,
    /// Required for lifts by a user or an import reset (the caller checks that).
    pub reason: Option<Reason>,
    pub evidence: Option<String>,
    /// For a reply matched to a campaign: the campaign's groups (cleaned up per settings).
    pub campaign_groups: Vec<GroupId>,
}

/// What [`crate::Store::apply_optout`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptOutOutcome {
    pub decision: Decision,
    /// The number's opt-out after the command, if it is (still) opted out.
    pub optout: Option<OptOut>,
    /// The ledger event appended, if any.
    pub event_seq: Option<i64>,
    /// Contact instances deleted by the clean-up settings.
    pub contacts_deleted: u64,
}

impl OptOutOutcome {
    /// The clean-up that was applied, if the decision had one.
    pub fn cleanup(&self) -> ContactCleanup {
        match self.decision {
            Decision::Record { cleanup, .. } | Decision::AlreadyOptedOut { cleanup } => cleanup,
            _ => ContactCleanup::Keep,
        }
    }
}

/// One page of a keyset-paginated list: `next` is the cursor to pass for the next page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<i64>,
}

/// An opted-out number in its compact form, for in-memory indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptOutKey {
    /// [`PhoneNumber::as_u64`].
    pub key: u64,
    /// Opted out since (ms).
    pub since: i64,
    pub source: OptOutSource,
}

/// One change of the ledger as the in-memory index reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerChange {
    pub seq: i64,
    /// [`PhoneNumber::as_u64`] of the number.
    pub key: u64,
    pub kind: stoplist_domain::ledger::EventKind,
    /// The opt-out's source (meaningful for `opted_out` events).
    pub source: OptOutSource,
    /// When it happened (ms).
    pub at: i64,
}

/// An account's opt-out list in buckets, for the index's self-check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListDigest {
    /// The ledger seq the digest reflects.
    pub seq: i64,
    /// Per bucket (key modulo the bucket count): how many opt-outs, and the sum of their
    /// [`crate::index::digest_term`]s.
    pub buckets: Vec<(i64, i64)>,
}

/// What an import writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportKind {
    /// Contacts into a group (Contacts → Import).
    Contacts,
    /// Numbers onto the opt-out list (Opt Out Manager upload).
    OptOuts,
}

impl ImportKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ImportKind::Contacts => "contacts",
            ImportKind::OptOuts => "optouts",
        }
    }

    pub fn parse(code: &str) -> Option<ImportKind> {
        match code {
            "contacts" => Some(ImportKind::Contacts),
            "optouts" => Some(ImportKind::OptOuts),
            _ => None,
        }
    }
}

/// Where an import is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportStatus {
    Running,
    /// Finished: landed whole (or, for a dry run, evaluated and rolled back).
    Done,
    /// Failed or interrupted: nothing of it landed.
    Failed,
}

impl ImportStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ImportStatus::Running => "running",
            ImportStatus::Done => "done",
            ImportStatus::Failed => "failed",
        }
    }

    pub fn parse(code: &str) -> Option<ImportStatus> {
        match code {
            "running" => Some(ImportStatus::Running),
            "done" => Some(ImportStatus::Done),
            "failed" => Some(ImportStatus::Failed),
            _ => None,
        }
    }
}

/// An import's report counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ImportCounts {
    /// Data rows read (the header not counted).
    pub rows_read: i64,
    /// New contacts (or, for an upload, numbers newly opted out).
    pub imported: i64,
    /// Numbers already in the group (fields updated), or already opted out (upload).
    pub updated: i64,
    /// Rows whose number appeared earlier in the file.
    pub duplicates: i64,
    /// Rows without a valid number (or unreadable).
    pub invalid: i64,
    /// Rows skipped because the number is opted out.
    pub skipped_opted_out: i64,
    /// Rows skipped because the number opted out by reply and Enforce Global Optouts is on.
    pub skipped_enforced: i64,
    /// Rows the file itself marks as opted out (an "Opted out" column): listed, not imported.
    pub opted_out_in_file: i64,
    /// Opt-outs lifted by "Reset contacts that have previously opted out?".
    pub lifted: i64,
}

/// A stored import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportRecord {
    pub id: i64,
    pub account_id: AccountId,
    pub group_id: Option<GroupId>,
    pub kind: ImportKind,
    pub file_name: String,
    pub status: ImportStatus,
    pub dry_run: bool,
    pub reset: bool,
    pub reason: Option<String>,
    pub actor: Actor,
    pub counts: ImportCounts,
    pub error: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

/// A new import, before it reads anything.
#[derive(Debug, Clone)]
pub struct NewImport<'a> {
    pub account: AccountId,
    pub group: Option<GroupId>,
    pub kind: ImportKind,
    pub file_name: &'a str,
    pub dry_run: bool,
    /// "Reset contacts that have previously opted out?" with its required reason.
    pub reset: Option<&'a Reason>,
    pub actor: &'a Actor,
}

/// One valid row of an import, on its way to the group or the opt-out list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedRow {
    pub row: i64,
    pub number: PhoneNumber,
    pub fields: ContactFields,
}

/// A row not imported, with why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reject {
    pub row: i64,
    pub raw: String,
    pub reason: String,
}
