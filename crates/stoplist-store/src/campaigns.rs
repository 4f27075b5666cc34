//! Campaigns and the durable send queue (SPEC 3.7): campaigns, their excluded numbers, every
//! outbound message with its status, and each account's connector settings.
//!
//! The queue is the `messages` table. A dispatcher claims due `queued` messages in small
//! batches ([`CampaignStore::claim_messages`]: `FOR UPDATE SKIP LOCKED` on PostgreSQL, so two
//! instances never claim one message; SQLite has one writer), sends them, and records the
//! outcomes in one transaction per batch ([`CampaignStore::record_outcomes`]). A message
//! claimed by a process that died is never sent again: it is failed as `interrupted`
//! ([`CampaignStore::fail_interrupted`]), because whether the provider got it is unknown and
//! sending twice is the worse error. The opt-out list wins here too: messages are queued as
//! `suppressed` when the number is listed (SQL joins the list), and the dispatcher checks each
//! one again right before it sends.

use crate::Result;
use crate::model::Page;
use async_trait::async_trait;
use serde::Serialize;
use stoplist_domain::{AccountId, Actor, CampaignId, GroupId, MessageId, PhoneNumber};

/// Where a campaign is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    /// Being prepared: recipients and text may change, preview may run.
    Draft,
    /// Its messages are queued and being dispatched.
    Sending,
    /// Dispatch stopped until resumed (queued messages are held).
    Paused,
    /// Stopped for good: messages not yet sent were cancelled.
    Cancelled,
    /// Every message has a final status.
    Done,
}

impl CampaignStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignStatus::Draft => "draft",
            CampaignStatus::Sending => "sending",
            CampaignStatus::Paused => "paused",
            CampaignStatus::Cancelled => "cancelled",
            CampaignStatus::Done => "done",
        }
    }

    pub fn parse(code: &str) -> Option<CampaignStatus> {
        Some(match code {
            "draft" => CampaignStatus::Draft,
            "sending" => CampaignStatus::Sending,
            "paused" => CampaignStatus::Paused,
            "cancelled" => CampaignStatus::Cancelled,
            "done" => CampaignStatus::Done,
            _ => return None,
        })
    }
}

/// The status of one outbound message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// Waiting for the dispatcher (possibly for a retry time).
    Queued,
    /// Its campaign is paused.
    Held,
    /// Claimed by a dispatcher; the provider call is under way.
    Sending,
    /// The provider accepted it.
    Sent,
    /// A delivery receipt said it reached the handset.
    Delivered,
    /// Not sent, or the provider reported it undelivered; `error_code` says why.
    Failed,
    /// Not sent because the number is on the opt-out list.
    Suppressed,
    /// Not sent because its campaign was cancelled.
    Cancelled,
}

impl MessageStatus {
    pub const ALL: [MessageStatus; 8] = [
        MessageStatus::Queued,
        MessageStatus::Held,
        MessageStatus::Sending,
        MessageStatus::Sent,
        MessageStatus::Delivered,
        MessageStatus::Failed,
        MessageStatus::Suppressed,
        MessageStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Queued => "queued",
            MessageStatus::Held => "held",
            MessageStatus::Sending => "sending",
            MessageStatus::Sent => "sent",
            MessageStatus::Delivered => "delivered",
            MessageStatus::Failed => "failed",
            MessageStatus::Suppressed => "suppressed",
            MessageStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(code: &str) -> Option<MessageStatus> {
        MessageStatus::ALL.into_iter().find(|s| s.as_str() == code)
    }
}

/// Why a message is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// A campaign message: never sent to an opted-out number.
    Campaign,
    /// The one confirmation after an opt-out by reply: sent although the number is opted out.
    Confirmation,
    /// The answer to a help keyword: sent also to an opted-out number.
    Help,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Campaign => "campaign",
            MessageKind::Confirmation => "confirmation",
            MessageKind::Help => "help",
        }
    }

    pub fn parse(code: &str) -> Option<MessageKind> {
        Some(match code {
            "campaign" => MessageKind::Campaign,
            "confirmation" => MessageKind::Confirmation,
            "help" => MessageKind::Help,
            _ => return None,
        })
    }

    /// Whether the opt-out list stops this kind of message (SPEC 3.1, 3.6).
    pub fn blocked_by_optout(self) -> bool {
        self == MessageKind::Campaign
    }
}

/// An uploaded recipients file, kept on disk while the campaign may read it, removed once the
/// campaign has ended and its retention has passed (its name and column stay, for the record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CampaignFile {
    /// The name the user gave the file.
    pub name: String,
    /// Where it is stored; `None` once it was removed from disk (the campaign had ended).
    #[serde(skip)]
    pub path: Option<String>,
    /// The column of numbers (a header name or a 1-based index); guessed when `None`.
    pub column: Option<String>,
}

/// A new draft campaign, as validated by the application.
#[derive(Debug, Clone)]
pub struct NewCampaign<'a> {
    pub account: AccountId,
    pub name: &'a str,
    pub sender_id: &'a str,
    pub message: &'a str,
    pub groups: &'a [GroupId],
    /// Numbers typed or pasted, as written (validated at preview).
    pub numbers: &'a [String],
    pub actor: &'a Actor,
}

/// A campaign as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Campaign {
    pub id: CampaignId,
    #[serde(skip)]
    pub account: AccountId,
    pub name: String,
    pub sender_id: String,
    pub message: String,
    pub groups: Vec<GroupId>,
    pub numbers: Vec<String>,
    pub file: Option<CampaignFile>,
    pub status: CampaignStatus,
    /// The last preview's summary (JSON written by the application), if one ran.
    #[serde(skip)]
    pub preview_json: Option<String>,
    pub created_by: Actor,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

/// A number a preview excluded, with why (SPEC 3.2: opted-out numbers are invalid numbers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvalidRecipient {
    /// Order in the preview (the list's cursor).
    pub seq: i64,
    /// Where it came from: `typed 3`, `file row 12`, `group Customers`.
    pub origin: String,
    /// As written.
    pub raw: String,
    /// Stable code: `opted_out`, `not_a_number`, `too_short`, …
    pub reason: String,
    /// Words for people.
    pub detail: String,
    /// For `opted_out`: since when and from what source.
    pub optout_since: Option<i64>,
    pub optout_source: Option<String>,
}

/// Messages per statement when a campaign is queued (7 parameters each: far below both
/// backends' limits), and so how many of them are in memory at once.
pub(crate) const MESSAGES_PER_STATEMENT: usize = 500;

/// One message to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub number: PhoneNumber,
    /// The final text (personalised, footer appended).
    pub body: String,
}

/// What [`CampaignStore::start_campaign`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum StartOutcome {
    /// The campaign moved to `sending` with this many messages queued and suppressed.
    Started { queued: u64, suppressed: u64 },
    /// The same send key started it before: nothing was queued again.
    AlreadyStarted,
}

/// A message claimed for dispatch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedMessage {
    pub id: MessageId,
    pub account: AccountId,
    pub campaign: Option<CampaignId>,
    pub kind: MessageKind,
    pub number: PhoneNumber,
    pub sender_id: String,
    pub body: String,
    /// Attempts including this one.
    pub attempts: i64,
}

/// Accounts whose dispatch lane of one kind is busy: the claim leaves their messages of that
/// kind to the lane.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Busy {
    /// Accounts whose answers (confirmations, HELP texts) are being sent.
    pub answers: Vec<AccountId>,
    /// Accounts whose campaign messages are being sent.
    pub campaigns: Vec<AccountId>,
}

impl Busy {
    fn json(accounts: &[AccountId]) -> String {
        let ids: Vec<i64> = accounts.iter().map(|a| a.0).collect();
        serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into())
    }

    /// The answers' accounts as a JSON array (the claim binds it).
    pub fn answers_json(&self) -> String {
        Self::json(&self.answers)
    }

    /// The campaigns' accounts as a JSON array (the claim binds it).
    pub fn campaigns_json(&self) -> String {
        Self::json(&self.campaigns)
    }
}

/// The result of one dispatch attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The provider accepted it.
    Sent {
        provider: String,
        provider_id: String,
    },
    /// A transient failure: queue it again for `at`.
    Retry {
        at: i64,
        code: Option<String>,
        message: String,
    },
    /// A permanent failure, with the provider's code when it gave one.
    Failed {
        code: Option<String>,
        message: String,
    },
    /// The number is on the opt-out list.
    Suppressed,
    /// Not sent: its campaign was paused or cancelled after the message was claimed. The
    /// claim is undone (the attempt is not counted) and the message goes back to the waiting
    /// status its campaign has when the outcome is recorded: `held` if paused, `cancelled` if
    /// cancelled, `queued` if resumed meanwhile.
    Released,
}

/// What the check immediately before a message is sent found
/// ([`CampaignStore::check_before_dispatch`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DispatchCheck {
    /// The number is on the account's opt-out list.
    pub opted_out: bool,
    /// The status of the message's campaign; `None` for a message outside a campaign.
    pub campaign: Option<CampaignStatus>,
}

impl DispatchCheck {
    /// Whether the message's campaign still sends (a message outside a campaign always does).
    pub fn campaign_sends(&self) -> bool {
        self.campaign
            .is_none_or(|status| status == CampaignStatus::Sending)
    }
}

/// One stored outbound message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    pub id: MessageId,
    pub campaign_id: Option<CampaignId>,
    pub kind: MessageKind,
    pub number: PhoneNumber,
    pub sender_id: String,
    pub body: String,
    pub status: MessageStatus,
    pub attempts: i64,
    pub provider: Option<String>,
    pub provider_id: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
    pub updated_at: i64,
}

/// How many messages of a campaign are in each status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MessageCounts {
    pub total: i64,
    pub queued: i64,
    pub held: i64,
    pub sending: i64,
    pub sent: i64,
    pub delivered: i64,
    pub failed: i64,
    pub suppressed: i64,
    pub cancelled: i64,
    /// Of the failed ones: claimed by an instance that stopped (kill -9, a shutdown's deadline)
    /// before the provider answered. Their fate is unknown; they are not resent.
    pub interrupted: i64,
}

/// Which of a campaign's messages to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageFilter {
    Status(MessageStatus),
    /// Failed as `interrupted`: the provider may or may not have them.
    FateUnknown,
}

impl MessageFilter {
    /// A status code, or `interrupted`.
    pub fn parse(code: &str) -> Option<MessageFilter> {
        match code {
            "interrupted" => Some(MessageFilter::FateUnknown),
            other => MessageStatus::parse(other).map(MessageFilter::Status),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MessageFilter::Status(s) => s.as_str(),
            MessageFilter::FateUnknown => "interrupted",
        }
    }
}

impl MessageCounts {
    fn add(&mut self, status: MessageStatus, n: i64) {
        self.total += n;
        let slot = match status {
            MessageStatus::Queued => &mut self.queued,
            MessageStatus::Held => &mut self.held,
            MessageStatus::Sending => &mut self.sending,
            MessageStatus::Sent => &mut self.sent,
            MessageStatus::Delivered => &mut self.delivered,
            MessageStatus::Failed => &mut self.failed,
            MessageStatus::Suppressed => &mut self.suppressed,
            MessageStatus::Cancelled => &mut self.cancelled,
        };
        *slot += n;
    }
}

/// A campaign control action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CampaignAction {
    Pause,
    Resume,
    Cancel,
}

/// A delivery receipt's effect on a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptUpdate<'a> {
    pub provider: &'a str,
    pub provider_id: &'a str,
    /// `Sent`, `Delivered` or `Failed`.
    pub status: MessageStatus,
    pub error_code: Option<&'a str>,
}

/// An account's connector: the kind, its non-secret settings (JSON) and its secret, which is
/// never shown back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorRecord {
    pub kind: String,
    pub config_json: String,
    pub secret: String,
    pub updated_at: i64,
}

/// Campaigns and the send queue; part of [`crate::Store`].
#[async_trait]
pub trait CampaignStore: Send + Sync {
    /// Creates a draft.
    async fn create_campaign(&self, new: &NewCampaign<'_>, now: i64) -> Result<Campaign>;
    async fn campaign(&self, account: AccountId, id: CampaignId) -> Result<Option<Campaign>>;
    /// Newest first, before the cursor (a campaign id).
    async fn list_campaigns(
        &self,
        account: AccountId,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Page<Campaign>>;
    /// Sets or clears the recipients file of a draft (`Conflict` once it is not a draft).
    async fn set_campaign_file(
        &self,
        account: AccountId,
        id: CampaignId,
        file: Option<&CampaignFile>,
    ) -> Result<()>;
    /// Keeps a draft's preview: its summary and the full list of excluded numbers.
    async fn save_preview(
        &self,
        account: AccountId,
        id: CampaignId,
        preview_json: &str,
        invalid: &[InvalidRecipient],
    ) -> Result<()>;
    /// The excluded numbers of the last preview, after the cursor.
    async fn campaign_invalid(
        &self,
        account: AccountId,
        id: CampaignId,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<InvalidRecipient>>;
    /// Moves a draft to `sending` and queues its messages, in one transaction; a number on
    /// the opt-out list is queued as `suppressed`. Started again with the same `send_key`,
    /// it changes nothing and answers [`StartOutcome::AlreadyStarted`]; a campaign that is
    /// not a draft otherwise is a `Conflict`.
    ///
    /// `messages` is drawn a chunk at a time as the chunks are written, so that a campaign to
    /// millions of numbers is never held in memory whole; it is not drawn at all when the
    /// campaign is not a draft.
    async fn start_campaign(
        &self,
        account: AccountId,
        id: CampaignId,
        send_key: &str,
        messages: &mut (dyn Iterator<Item = NewMessage> + Send),
        now: i64,
    ) -> Result<StartOutcome>;
    /// Pause (queued → held), resume (held → queued) or cancel (queued and held →
    /// cancelled). `Conflict` when the campaign is not in a state the action applies to.
    async fn control_campaign(
        &self,
        account: AccountId,
        id: CampaignId,
        action: CampaignAction,
        now: i64,
    ) -> Result<Campaign>;
    /// Marks `sending` campaigns whose messages all have a final status as done.
    async fn finish_campaigns(&self, now: i64) -> Result<u64>;
    /// The recipients files still on disk of campaigns that ended (done or cancelled) at or
    /// before `before`, as (campaign, path), the longest ended first, at most `limit`.
    async fn ended_campaign_files(
        &self,
        before: i64,
        limit: i64,
    ) -> Result<Vec<(CampaignId, String)>>;
    /// Records that the campaign's recipients file at `path` is gone from disk (its name and
    /// column stay).
    async fn forget_campaign_file(&self, id: CampaignId, path: &str) -> Result<()>;
    async fn message_counts(&self, account: AccountId, id: CampaignId) -> Result<MessageCounts>;
    /// A campaign's messages by id after the cursor, optionally of one status (or those whose
    /// fate is unknown).
    async fn list_messages(
        &self,
        account: AccountId,
        id: CampaignId,
        filter: Option<MessageFilter>,
        after: Option<i64>,
        limit: i64,
    ) -> Result<Page<Message>>;
    /// Queues one message outside a campaign (a confirmation or a help answer).
    async fn enqueue_message(
        &self,
        account: AccountId,
        kind: MessageKind,
        number: &PhoneNumber,
        sender_id: &str,
        body: &str,
        now: i64,
    ) -> Result<MessageId>;
    /// Claims up to `limit` due queued messages for this dispatcher: answers first, then
    /// campaign messages, leaving out the accounts whose lane of that kind is `busy`.
    async fn claim_messages(
        &self,
        owner: &str,
        now: i64,
        limit: i64,
        busy: &Busy,
    ) -> Result<Vec<ClaimedMessage>>;
    /// The check immediately before a claimed message is sent (SPEC 3.1), in one query: is
    /// its number on the account's opt-out list, and does its campaign still send (a pause or
    /// cancel made by any instance a moment ago is seen). Reads committed state only.
    async fn check_before_dispatch(&self, message: &ClaimedMessage) -> Result<DispatchCheck>;
    /// Records the outcomes of claimed messages, in one transaction.
    async fn record_outcomes(&self, outcomes: &[(MessageId, Outcome)], now: i64) -> Result<()>;
    /// Records that the dispatcher `owner` is alive at `now`.
    async fn heartbeat(&self, owner: &str, now: i64) -> Result<()>;
    /// Fails the claims of dispatchers that stopped (their heartbeat is older than
    /// `dead_before`, or they never had one and claimed before `lease_before`): `interrupted`,
    /// never sent again, because whether the provider got them is unknown.
    async fn fail_interrupted(&self, dead_before: i64, lease_before: i64, now: i64) -> Result<u64>;
    /// A dispatcher stopping at a shutdown's deadline gives its claims back: those in
    /// `handed` (given to a connector, no answer) are failed `interrupted`; the others go
    /// back to the queue as if never claimed. Answers (requeued, interrupted).
    async fn release_claims(
        &self,
        owner: &str,
        handed: &[MessageId],
        now: i64,
    ) -> Result<(u64, u64)>;
    /// Suppresses the number's queued and held campaign messages (it just opted out).
    async fn suppress_queued(
        &self,
        account: AccountId,
        number: &PhoneNumber,
        now: i64,
    ) -> Result<u64>;
    /// Applies a delivery receipt; answers the message it matched, if any.
    async fn apply_receipt(&self, receipt: &ReceiptUpdate<'_>, now: i64)
    -> Result<Option<Message>>;
    /// The account of a message, by the provider's id for it.
    async fn message_account(
        &self,
        provider: &str,
        provider_id: &str,
    ) -> Result<Option<(AccountId, Message)>>;
    /// The most recent message sent to the number: with `sender_id`, the most recent from that
    /// sender if there is one, else from any sender (a reply may name a number we do not send
    /// from). One query either way.
    async fn latest_message_to(
        &self,
        account: AccountId,
        number: &PhoneNumber,
        sender_id: Option<&str>,
    ) -> Result<Option<Message>>;
    /// The groups a campaign was sent to.
    async fn campaign_groups(&self, id: CampaignId) -> Result<Vec<GroupId>>;
    async fn set_connector(&self, account: AccountId, record: &ConnectorRecord) -> Result<()>;
    async fn connector(&self, account: AccountId) -> Result<Option<ConnectorRecord>>;
}

#[derive(sqlx::FromRow)]
pub(crate) struct CampaignRow {
    pub(crate) id: i64,
    account_id: i64,
    name: String,
    sender_id: String,
    message: String,
    numbers_json: String,
    file_name: Option<String>,
    file_path: Option<String>,
    file_column: Option<String>,
    status: String,
    preview_json: Option<String>,
    actor_kind: String,
    actor_id: Option<i64>,
    actor_label: String,
    created_at: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
}

pub(crate) const CAMPAIGN_COLUMNS: &str = "SELECT id, account_id, name, sender_id, message, numbers_json, file_name,
    file_path, file_column, status, preview_json, actor_kind, actor_id, actor_label, created_at, started_at,
    finished_at FROM campaigns";

impl CampaignRow {
    pub(crate) fn into_campaign(self, groups: Vec<GroupId>) -> Result<Campaign> {
        let corrupt = |what: String| crate::StoreError::Corrupt(what);
        Ok(Campaign {
            id: CampaignId(self.id),
            account: AccountId(self.account_id),
            name: self.name,
            sender_id: self.sender_id,
            message: self.message,
            groups,
            numbers: serde_json::from_str(&self.numbers_json)
                .map_err(|e| corrupt(format!("campaign numbers: {e}")))?,
            file: self.file_name.map(|name| CampaignFile {
                name,
                path: self.file_path,
                column: self.file_column,
            }),
            status: CampaignStatus::parse(&self.status)
                .ok_or_else(|| corrupt(format!("campaign status {:?}", self.status)))?,
            preview_json: self.preview_json,
            created_by: crate::sql::actor_from(&self.actor_kind, self.actor_id, self.actor_label)?,
            created_at: self.created_at,
            started_at: self.started_at,
            finished_at: self.finished_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct MessageRow {
    pub(crate) id: i64,
    campaign_id: Option<i64>,
    kind: String,
    number: String,
    sender_id: String,
    body: String,
    status: String,
    attempts: i64,
    provider: Option<String>,
    provider_id: Option<String>,
    error_code: Option<String>,
    error_message: Option<String>,
    created_at: i64,
    sent_at: Option<i64>,
    updated_at: i64,
}

pub(crate) const MESSAGE_COLUMNS: &str = "SELECT id, campaign_id, kind, number, sender_id, body, status, attempts,
    provider, provider_id, error_code, error_message, created_at, sent_at, updated_at FROM messages";

impl TryFrom<MessageRow> for Message {
    type Error = crate::StoreError;
    fn try_from(r: MessageRow) -> Result<Message> {
        Ok(Message {
            id: MessageId(r.id),
            campaign_id: r.campaign_id.map(CampaignId),
            kind: parse_kind(&r.kind)?,
            number: crate::sql::number_from(&r.number)?,
            sender_id: r.sender_id,
            body: r.body,
            status: MessageStatus::parse(&r.status).ok_or_else(|| {
                crate::StoreError::Corrupt(format!("message status {:?}", r.status))
            })?,
            attempts: r.attempts,
            provider: r.provider,
            provider_id: r.provider_id,
            error_code: r.error_code,
            error_message: r.error_message,
            created_at: r.created_at,
            sent_at: r.sent_at,
            updated_at: r.updated_at,
        })
    }
}

pub(crate) fn parse_kind(code: &str) -> Result<MessageKind> {
    MessageKind::parse(code)
        .ok_or_else(|| crate::StoreError::Corrupt(format!("message kind {code:?}")))
}

pub(crate) fn counts_from(rows: Vec<(String, i64)>) -> Result<MessageCounts> {
    let mut counts = MessageCounts::default();
    for (status, n) in rows {
        let status = MessageStatus::parse(&status)
            .ok_or_else(|| crate::StoreError::Corrupt(format!("message status {status:?}")))?;
        counts.add(status, n);
    }
    Ok(counts)
}

/// Instantiates [`CampaignStore`] for one backend. `$claim_answers` and `$claim_campaigns` are
/// the claim queries of `claim_sql!` (PostgreSQL adds `FOR UPDATE SKIP LOCKED`).
macro_rules! campaign_impl {
    ($store:ident, $db:ident, $claim_answers:ident, $claim_campaigns:ident, $record_sent:ident, $record_suppressed:ident) => {
        /// The `CampaignStore` implementation for this backend (SQL shared in `campaigns.rs`).
        mod campaign_impl {
            use super::{$claim_answers, $claim_campaigns, $record_sent, $record_suppressed, $store};
            use sqlx::$db;
            use $crate::campaigns::*;
            use $crate::model::Page;
            use $crate::{Result, StoreError};
            use stoplist_domain::{AccountId, CampaignId, GroupId, MessageId, PhoneNumber};

            impl $store {
                async fn load_campaign(
                    &self,
                    row: CampaignRow,
                    id: i64,
                ) -> Result<Campaign> {
                    // -- the groups a campaign sends to
                    let groups: Vec<i64> = sqlx::query_scalar(
                        "SELECT group_id FROM campaign_groups WHERE campaign_id = $1 ORDER BY group_id",
                    )
                    .bind(id)
                    .fetch_all(&self.pool)
                    .await?;
                    row.into_campaign(groups.into_iter().map(GroupId).collect())
                }

                async fn draft_guard(
                    tx: &mut sqlx::Transaction<'static, $db>,
                    account: AccountId,
                    id: CampaignId,
                ) -> Result<()> {
                    // -- the campaign's status, to refuse changes once it is sent
                    let status: Option<String> = sqlx::query_scalar(
                        "SELECT status FROM campaigns WHERE id = $1 AND account_id = $2",
                    )
                    .bind(id.0)
                    .bind(account.0)
                    .fetch_optional(&mut **tx)
                    .await?;
                    match status.as_deref() {
                        None => Err(StoreError::NotFound("campaign")),
                        Some("draft") => Ok(()),
                        Some(_) => Err(StoreError::Conflict { what: "a sent campaign", field: "status" }),
                    }
                }
            }

            #[async_trait::async_trait]
            impl CampaignStore for $store {
                async fn create_campaign(&self, new: &NewCampaign<'_>, now: i64) -> Result<Campaign> {
                    let numbers = serde_json::to_string(new.numbers)
                        .map_err(|e| StoreError::Corrupt(format!("campaign numbers: {e}")))?;
                    let mut tx = self.begin_write().await?;
                    // -- a new draft
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO campaigns (account_id, name, sender_id, message, numbers_json, status,
                            actor_kind, actor_id, actor_label, created_at)
                         VALUES ($1, $2, $3, $4, $5, 'draft', $6, $7, $8, $9) RETURNING id",
                    )
                    .bind(new.account.0)
                    .bind(new.name)
                    .bind(new.sender_id)
                    .bind(new.message)
                    .bind(numbers)
                    .bind(new.actor.kind.as_str())
                    .bind(new.actor.id)
                    .bind(&new.actor.label)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                    let mut groups = new.groups.to_vec();
                    groups.sort();
                    groups.dedup();
                    for g in &groups {
                        // -- one of its groups, which must be the account's
                        let done = sqlx::query(
                            "INSERT INTO campaign_groups (campaign_id, group_id)
                             SELECT $1, id FROM contact_groups WHERE id = $2 AND account_id = $3
                             ON CONFLICT DO NOTHING",
                        )
                        .bind(id)
                        .bind(g.0)
                        .bind(new.account.0)
                        .execute(&mut *tx)
                        .await?;
                        if done.rows_affected() == 0 {
                            return Err(StoreError::NotFound("group"));
                        }
                    }
                    tx.commit().await?;
                    self.campaign(new.account, CampaignId(id))
                        .await?
                        .ok_or(StoreError::NotFound("campaign"))
                }

                async fn campaign(&self, account: AccountId, id: CampaignId) -> Result<Option<Campaign>> {
                    // -- one campaign of the account
                    let sql = format!("{CAMPAIGN_COLUMNS} WHERE id = $1 AND account_id = $2");
                    let row = sqlx::query_as::<_, CampaignRow>(sqlx::AssertSqlSafe(sql))
                        .bind(id.0)
                        .bind(account.0)
                        .fetch_optional(&self.pool)
                        .await?;
                    match row {
                        Some(r) => Ok(Some(self.load_campaign(r, id.0).await?)),
                        None => Ok(None),
                    }
                }

                async fn list_campaigns(&self, account: AccountId, before: Option<i64>, limit: i64) -> Result<Page<Campaign>> {
                    // -- the account's campaigns, newest first, before the cursor
                    let sql = format!("{CAMPAIGN_COLUMNS} WHERE account_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3");
                    let rows = sqlx::query_as::<_, CampaignRow>(sqlx::AssertSqlSafe(sql))
                        .bind(account.0)
                        .bind(before.unwrap_or(i64::MAX))
                        .bind(limit + 1)
                        .fetch_all(&self.pool)
                        .await?;
                    let mut items = Vec::with_capacity(rows.len());
                    for r in rows {
                        let id = r.id;
                        items.push(self.load_campaign(r, id).await?);
                    }
                    let next = if items.len() as i64 > limit {
                        items.truncate(limit as usize);
                        items.last().map(|c| c.id.0)
                    } else {
                        None
                    };
                    Ok(Page { items, next })
                }

                async fn set_campaign_file(&self, account: AccountId, id: CampaignId, file: Option<&CampaignFile>) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    Self::draft_guard(&mut tx, account, id).await?;
                    // -- the draft's recipients file (its preview is stale now)
                    sqlx::query(
                        "UPDATE campaigns SET file_name = $1, file_path = $2, file_column = $3, preview_json = NULL
                         WHERE id = $4 AND account_id = $5",
                    )
                    .bind(file.map(|f| f.name.as_str()))
                    .bind(file.and_then(|f| f.path.as_deref()))
                    .bind(file.and_then(|f| f.column.as_deref()))
                    .bind(id.0)
                    .bind(account.0)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn save_preview(&self, account: AccountId, id: CampaignId, preview_json: &str, invalid: &[InvalidRecipient]) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    Self::draft_guard(&mut tx, account, id).await?;
                    // -- the preview's summary
                    sqlx::query("UPDATE campaigns SET preview_json = $1 WHERE id = $2")
                        .bind(preview_json)
                        .bind(id.0)
                        .execute(&mut *tx)
                        .await?;
                    // -- the previous preview's excluded numbers are replaced
                    sqlx::query("DELETE FROM campaign_invalid WHERE campaign_id = $1")
                        .bind(id.0)
                        .execute(&mut *tx)
                        .await?;
                    for chunk in invalid.chunks(500) {
                        let mut q = sqlx::QueryBuilder::<$db>::new(
                            "INSERT INTO campaign_invalid (campaign_id, seq, origin, raw, reason, detail, optout_since, optout_source) ",
                        );
                        // -- a batch of excluded numbers
                        q.push_values(chunk, |mut b, r| {
                            b.push_bind(id.0)
                                .push_bind(r.seq)
                                .push_bind(&r.origin)
                                .push_bind(&r.raw)
                                .push_bind(&r.reason)
                                .push_bind(&r.detail)
                                .push_bind(r.optout_since)
                                .push_bind(&r.optout_source);
                        });
                        q.build().execute(&mut *tx).await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }

                async fn campaign_invalid(&self, account: AccountId, id: CampaignId, after_seq: i64, limit: i64) -> Result<Vec<InvalidRecipient>> {
                    // -- a page of a campaign's excluded numbers
                    let rows: Vec<(i64, String, String, String, String, Option<i64>, Option<String>)> = sqlx::query_as(
                        "SELECT i.seq, i.origin, i.raw, i.reason, i.detail, i.optout_since, i.optout_source
                           FROM campaign_invalid i JOIN campaigns c ON c.id = i.campaign_id
                          WHERE i.campaign_id = $1 AND c.account_id = $2 AND i.seq > $3
                          ORDER BY i.seq LIMIT $4",
                    )
                    .bind(id.0)
                    .bind(account.0)
                    .bind(after_seq)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                    Ok(rows
                        .into_iter()
                        .map(|(seq, origin, raw, reason, detail, optout_since, optout_source)| InvalidRecipient {
                            seq, origin, raw, reason, detail, optout_since, optout_source,
                        })
                        .collect())
                }

                async fn start_campaign(&self, account: AccountId, id: CampaignId, send_key: &str, messages: &mut (dyn Iterator<Item = NewMessage> + Send), now: i64) -> Result<StartOutcome> {
                    let mut tx = self.begin_write().await?;
                    // -- a draft starts sending; the key remembers who started it
                    let started = sqlx::query(
                        "UPDATE campaigns SET status = 'sending', send_key = $1, started_at = $2
                         WHERE id = $3 AND account_id = $4 AND status = 'draft'",
                    )
                    .bind(send_key)
                    .bind(now)
                    .bind(id.0)
                    .bind(account.0)
                    .execute(&mut *tx)
                    .await?;
                    if started.rows_affected() == 0 {
                        // -- who started it, if it is not a draft
                        let key: Option<(Option<String>,)> = sqlx::query_as(
                            "SELECT send_key FROM campaigns WHERE id = $1 AND account_id = $2",
                        )
                        .bind(id.0)
                        .bind(account.0)
                        .fetch_optional(&mut *tx)
                        .await?;
                        return match key {
                            None => Err(StoreError::NotFound("campaign")),
                            Some((Some(k),)) if k == send_key => Ok(StartOutcome::AlreadyStarted),
                            Some(_) => Err(StoreError::Conflict { what: "a sent campaign", field: "status" }),
                        };
                    }
                    let (sender,): (String,) = sqlx::query_as("SELECT sender_id FROM campaigns WHERE id = $1")
                        .bind(id.0)
                        .fetch_one(&mut *tx)
                        .await?;
                    let (mut total, mut suppressed) = (0u64, 0u64);
                    loop {
                        let chunk: Vec<NewMessage> = (&mut *messages).take($crate::campaigns::MESSAGES_PER_STATEMENT).collect();
                        if chunk.is_empty() {
                            break;
                        }
                        total += chunk.len() as u64;
                        let mut q = sqlx::QueryBuilder::<$db>::new(
                            "INSERT INTO messages (account_id, campaign_id, kind, number, sender_id, body, status,
                                next_attempt_at, created_at, updated_at)
                             SELECT v.a, v.c, 'campaign', v.n, v.s, v.b,
                                    CASE WHEN EXISTS (SELECT 1 FROM opt_outs o WHERE o.account_id = v.a AND o.number = v.n)
                                         THEN 'suppressed' ELSE 'queued' END,
                                    v.t, v.t, v.t
                               FROM (",
                        );
                        // -- a batch of messages; the opt-out list wins (SQL joins it)
                        let mut first = true;
                        for m in &chunk {
                            if !first {
                                q.push(" UNION ALL ");
                            }
                            first = false;
                            q.push("SELECT CAST(")
                                .push_bind(account.0)
                                .push(" AS BIGINT) AS a, CAST(")
                                .push_bind(id.0)
                                .push(" AS BIGINT) AS c, CAST(")
                                .push_bind(m.number.as_str())
                                .push(" AS TEXT) AS n, CAST(")
                                .push_bind(&sender)
                                .push(" AS TEXT) AS s, CAST(")
                                .push_bind(&m.body)
                                .push(" AS TEXT) AS b, CAST(")
                                .push_bind(now)
                                .push(" AS BIGINT) AS t");
                        }
                        q.push(") v");
                        q.build().execute(&mut *tx).await?;
                    }
                    // -- how many were suppressed at queueing
                    let n: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM messages WHERE campaign_id = $1 AND status = 'suppressed'",
                    )
                    .bind(id.0)
                    .fetch_one(&mut *tx)
                    .await?;
                    suppressed += n as u64;
                    tx.commit().await?;
                    Ok(StartOutcome::Started { queued: total - suppressed, suppressed })
                }

                async fn control_campaign(&self, account: AccountId, id: CampaignId, action: CampaignAction, now: i64) -> Result<Campaign> {
                    let (from, to, msg_from, msg_to): (&[&str], &str, &[&str], &str) = match action {
                        CampaignAction::Pause => (&["sending"], "paused", &["queued"], "held"),
                        CampaignAction::Resume => (&["paused"], "sending", &["held"], "queued"),
                        CampaignAction::Cancel => (&["draft", "sending", "paused"], "cancelled", &["queued", "held"], "cancelled"),
                    };
                    let mut tx = self.begin_write().await?;
                    // -- the campaign's status, locked for the change
                    let status: Option<String> = sqlx::query_scalar(
                        "SELECT status FROM campaigns WHERE id = $1 AND account_id = $2",
                    )
                    .bind(id.0)
                    .bind(account.0)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(status) = status else { return Err(StoreError::NotFound("campaign")) };
                    if !from.contains(&status.as_str()) {
                        return Err(StoreError::Conflict { what: "a campaign in that state", field: "status" });
                    }
                    // -- the new campaign status
                    sqlx::query(
                        "UPDATE campaigns SET status = $1,
                            finished_at = CASE WHEN $1 = 'cancelled' THEN $2 ELSE finished_at END
                         WHERE id = $3",
                    )
                    .bind(to)
                    .bind(now)
                    .bind(id.0)
                    .execute(&mut *tx)
                    .await?;
                    for from_status in msg_from {
                        // -- its waiting messages follow
                        sqlx::query("UPDATE messages SET status = $1, updated_at = $2 WHERE campaign_id = $3 AND status = $4")
                            .bind(msg_to)
                            .bind(now)
                            .bind(id.0)
                            .bind(*from_status)
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                    self.campaign(account, id).await?.ok_or(StoreError::NotFound("campaign"))
                }

                async fn finish_campaigns(&self, now: i64) -> Result<u64> {
                    let mut tx = self.begin_write().await?;
                    // -- sending campaigns with nothing left to send are done
                    let done = sqlx::query(
                        "UPDATE campaigns SET status = 'done', finished_at = $1
                         WHERE status = 'sending' AND NOT EXISTS (
                             SELECT 1 FROM messages m WHERE m.campaign_id = campaigns.id
                                AND m.status IN ('queued', 'held', 'sending'))",
                    )
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(done.rows_affected())
                }

                async fn ended_campaign_files(&self, before: i64, limit: i64) -> Result<Vec<(CampaignId, String)>> {
                    // -- recipients files still on disk of campaigns that ended before the cut-off
                    let rows: Vec<(i64, String)> = sqlx::query_as(
                        "SELECT id, file_path FROM campaigns
                          WHERE file_path IS NOT NULL AND status IN ('done', 'cancelled') AND finished_at <= $1
                          ORDER BY finished_at LIMIT $2",
                    )
                    .bind(before)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                    Ok(rows.into_iter().map(|(id, path)| (CampaignId(id), path)).collect())
                }

                async fn forget_campaign_file(&self, id: CampaignId, path: &str) -> Result<()> {
                    // -- the recipients file is gone from disk; its name and column stay
                    sqlx::query("UPDATE campaigns SET file_path = NULL WHERE id = $1 AND file_path = $2")
                        .bind(id.0)
                        .bind(path)
                        .execute(&self.pool)
                        .await?;
                    Ok(())
                }

                async fn message_counts(&self, account: AccountId, id: CampaignId) -> Result<MessageCounts> {
                    // -- a campaign's messages by status
                    let rows: Vec<(String, i64)> = sqlx::query_as(
                        "SELECT status, COUNT(*) FROM messages WHERE campaign_id = $1 AND account_id = $2 GROUP BY status",
                    )
                    .bind(id.0)
                    .bind(account.0)
                    .fetch_all(&self.pool)
                    .await?;
                    let mut counts = counts_from(rows)?;
                    // -- of the failed ones, those whose fate is unknown
                    counts.interrupted = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM messages WHERE campaign_id = $1 AND account_id = $2
                           AND status = 'failed' AND error_code = 'interrupted'",
                    )
                    .bind(id.0)
                    .bind(account.0)
                    .fetch_one(&self.pool)
                    .await?;
                    Ok(counts)
                }

                async fn list_messages(&self, account: AccountId, id: CampaignId, filter: Option<MessageFilter>, after: Option<i64>, limit: i64) -> Result<Page<Message>> {
                    let (status, interrupted) = match filter {
                        None => (None, false),
                        Some(MessageFilter::Status(s)) => (Some(s), false),
                        Some(MessageFilter::FateUnknown) => (Some(MessageStatus::Failed), true),
                    };
                    // -- a page of a campaign's messages by id
                    let sql = format!(
                        "{MESSAGE_COLUMNS} WHERE campaign_id = $1 AND account_id = $2 AND id > $3
                           AND (CAST($4 AS TEXT) IS NULL OR status = $4)
                           AND ($6 = 0 OR error_code = 'interrupted') ORDER BY id LIMIT $5"
                    );
                    let rows = sqlx::query_as::<_, MessageRow>(sqlx::AssertSqlSafe(sql))
                        .bind(id.0)
                        .bind(account.0)
                        .bind(after.unwrap_or(0))
                        .bind(status.map(|s| s.as_str()))
                        .bind(limit + 1)
                        .bind(i64::from(interrupted))
                        .fetch_all(&self.pool)
                        .await?;
                    let mut items = rows.into_iter().map(Message::try_from).collect::<Result<Vec<_>>>()?;
                    let next = if items.len() as i64 > limit {
                        items.truncate(limit as usize);
                        items.last().map(|m| m.id.0)
                    } else {
                        None
                    };
                    Ok(Page { items, next })
                }

                async fn enqueue_message(&self, account: AccountId, kind: MessageKind, number: &PhoneNumber, sender_id: &str, body: &str, now: i64) -> Result<MessageId> {
                    let mut tx = self.begin_write().await?;
                    // -- one message outside a campaign
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO messages (account_id, kind, number, sender_id, body, status, next_attempt_at, created_at, updated_at)
                         VALUES ($1, $2, $3, $4, $5, 'queued', $6, $6, $6) RETURNING id",
                    )
                    .bind(account.0)
                    .bind(kind.as_str())
                    .bind(number.as_str())
                    .bind(sender_id)
                    .bind(body)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(MessageId(id))
                }

                async fn claim_messages(&self, owner: &str, now: i64, limit: i64, busy: &Busy) -> Result<Vec<ClaimedMessage>> {
                    let mut tx = self.begin_write().await?;
                    // Answers first (a confirmation must not wait behind a campaign), then
                    // campaign messages up to the limit.
                    let mut rows: Vec<(i64, i64, Option<i64>, String, String, String, String, i64)> =
                        sqlx::query_as($claim_answers)
                            .bind(owner)
                            .bind(now)
                            .bind(limit)
                            .bind(busy.answers_json())
                            .fetch_all(&mut *tx)
                            .await?;
                    let rest = limit - rows.len() as i64;
                    if rest > 0 {
                        rows.extend(
                            sqlx::query_as::<_, (i64, i64, Option<i64>, String, String, String, String, i64)>($claim_campaigns)
                                .bind(owner)
                                .bind(now)
                                .bind(rest)
                                .bind(busy.campaigns_json())
                                .fetch_all(&mut *tx)
                                .await?,
                        );
                    }
                    tx.commit().await?;
                    let mut claimed = rows
                        .into_iter()
                        .map(|(id, account, campaign, kind, number, sender_id, body, attempts)| {
                            Ok(ClaimedMessage {
                                id: MessageId(id),
                                account: AccountId(account),
                                campaign: campaign.map(CampaignId),
                                kind: parse_kind(&kind)?,
                                number: $crate::sql::number_from(&number)?,
                                sender_id,
                                body,
                                attempts,
                            })
                        })
                        .collect::<Result<Vec<_>>>()?;
                    claimed.sort_by_key(|m| m.id);
                    Ok(claimed)
                }

                async fn check_before_dispatch(&self, message: &ClaimedMessage) -> Result<DispatchCheck> {
                    // -- right before sending: is the number opted out, is its campaign still sending
                    let (campaign, opted_out): (Option<String>, i64) = sqlx::query_as(
                        "SELECT (SELECT status FROM campaigns WHERE id = $1),
                                CAST(CASE WHEN EXISTS (SELECT 1 FROM opt_outs WHERE account_id = $2 AND number = $3)
                                          THEN 1 ELSE 0 END AS BIGINT)",
                    )
                    .bind(message.campaign.map(|c| c.0))
                    .bind(message.account.0)
                    .bind(message.number.as_str())
                    .fetch_one(&self.pool)
                    .await?;
                    let campaign = campaign
                        .map(|s| CampaignStatus::parse(&s).ok_or_else(|| StoreError::Corrupt(format!("campaign status {s:?}"))))
                        .transpose()?;
                    Ok(DispatchCheck { opted_out: opted_out != 0, campaign })
                }

                async fn record_outcomes(&self, outcomes: &[(MessageId, Outcome)], now: i64) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    // The common outcomes in one statement each for the whole batch (one round
                    // trip instead of one per message), the rare ones one by one.
                    let sent: Vec<(i64, &str, &str)> = outcomes
                        .iter()
                        .filter_map(|(id, o)| match o {
                            Outcome::Sent { provider, provider_id } => Some((id.0, provider.as_str(), provider_id.as_str())),
                            _ => None,
                        })
                        .collect();
                    if !sent.is_empty() {
                        // -- the provider took them: [[id, provider, provider id], ...]
                        sqlx::query($record_sent)
                            .bind(now)
                            .bind(serde_json::to_string(&sent).unwrap_or_else(|_| "[]".into()))
                            .execute(&mut *tx)
                            .await?;
                    }
                    let suppressed: Vec<i64> = outcomes
                        .iter()
                        .filter(|(_, o)| matches!(o, Outcome::Suppressed))
                        .map(|(id, _)| id.0)
                        .collect();
                    if !suppressed.is_empty() {
                        // -- not sent: their numbers opted out ([id, ...])
                        sqlx::query($record_suppressed)
                            .bind(now)
                            .bind(serde_json::to_string(&suppressed).unwrap_or_else(|_| "[]".into()))
                            .execute(&mut *tx)
                            .await?;
                    }
                    for (id, outcome) in outcomes {
                        match outcome {
                            Outcome::Sent { .. } | Outcome::Suppressed => {}
                            Outcome::Retry { at, code, message } => {
                                // -- back in the queue for later, or held / cancelled if its campaign is now paused / cancelled
                                sqlx::query(
                                    concat!("UPDATE messages SET status = ", waiting_status!(), ", next_attempt_at = $1, error_code = $2,
                                        error_message = $3, updated_at = $4, claimed_by = NULL
                                     WHERE id = $5 AND status = 'sending'"),
                                )
                                .bind(at)
                                .bind(code)
                                .bind(message)
                                .bind(now)
                                .bind(id.0)
                                .execute(&mut *tx)
                                .await?;
                            }
                            Outcome::Failed { code, message } => {
                                // -- given up, with the provider's reason
                                sqlx::query(
                                    "UPDATE messages SET status = 'failed', error_code = $1, error_message = $2, updated_at = $3
                                     WHERE id = $4 AND status = 'sending'",
                                )
                                .bind(code)
                                .bind(message)
                                .bind(now)
                                .bind(id.0)
                                .execute(&mut *tx)
                                .await?;
                            }
                            Outcome::Released => {
                                // -- not sent (its campaign was paused or cancelled): the claim is undone
                                sqlx::query(
                                    concat!("UPDATE messages SET status = ", waiting_status!(), ", attempts = attempts - 1,
                                        updated_at = $1, claimed_by = NULL
                                     WHERE id = $2 AND status = 'sending'"),
                                )
                                .bind(now)
                                .bind(id.0)
                                .execute(&mut *tx)
                                .await?;
                            }
                        }
                    }
                    tx.commit().await?;
                    Ok(())
                }

                async fn heartbeat(&self, owner: &str, now: i64) -> Result<()> {
                    // -- this dispatcher is alive
                    sqlx::query(
                        "INSERT INTO instances (id, started_at, seen_at) VALUES ($1, $2, $2)
                         ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at",
                    )
                    .bind(owner)
                    .bind(now)
                    .execute(&self.pool)
                    .await?;
                    Ok(())
                }

                async fn fail_interrupted(&self, dead_before: i64, lease_before: i64, now: i64) -> Result<u64> {
                    let mut tx = self.begin_write().await?;
                    // -- claims whose dispatcher stopped: the outcome is unknown, never resend
                    let done = sqlx::query(
                        "UPDATE messages SET status = 'failed', error_code = 'interrupted',
                            error_message = 'the instance sending it stopped: whether the provider got it is unknown, so it is not resent',
                            updated_at = $1
                         WHERE status = 'sending'
                           AND CASE WHEN EXISTS (SELECT 1 FROM instances i WHERE i.id = messages.claimed_by)
                                    THEN NOT EXISTS (SELECT 1 FROM instances i WHERE i.id = messages.claimed_by AND i.seen_at >= $2)
                                    ELSE claimed_at < $3 END",
                    )
                    .bind(now)
                    .bind(dead_before)
                    .bind(lease_before)
                    .execute(&mut *tx)
                    .await?;
                    // -- forget instances dead for a day
                    sqlx::query("DELETE FROM instances WHERE seen_at < $1")
                        .bind(dead_before - 86_400_000)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(done.rows_affected())
                }

                async fn release_claims(&self, owner: &str, handed: &[MessageId], now: i64) -> Result<(u64, u64)> {
                    let mut tx = self.begin_write().await?;
                    let mut interrupted = 0;
                    for id in handed {
                        // -- handed to a connector, no answer before the shutdown's deadline: fate unknown
                        interrupted += sqlx::query(
                            "UPDATE messages SET status = 'failed', error_code = 'interrupted',
                                error_message = 'the server shut down while the provider had not answered: whether it got it is unknown, so it is not resent',
                                updated_at = $1
                             WHERE id = $2 AND status = 'sending' AND claimed_by = $3",
                        )
                        .bind(now)
                        .bind(id.0)
                        .bind(owner)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    }
                    // -- claimed but never handed over: back to waiting, as if never claimed
                    let requeued = sqlx::query(
                        concat!("UPDATE messages SET status = ", waiting_status!(), ", attempts = attempts - 1,
                            updated_at = $1, claimed_by = NULL
                         WHERE status = 'sending' AND claimed_by = $2"),
                    )
                    .bind(now)
                    .bind(owner)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    tx.commit().await?;
                    Ok((requeued, interrupted))
                }

                async fn suppress_queued(&self, account: AccountId, number: &PhoneNumber, now: i64) -> Result<u64> {
                    let mut tx = self.begin_write().await?;
                    // -- the number's waiting campaign messages are suppressed
                    let done = sqlx::query(
                        "UPDATE messages SET status = 'suppressed', updated_at = $1
                         WHERE account_id = $2 AND number = $3 AND kind = 'campaign' AND status IN ('queued', 'held')",
                    )
                    .bind(now)
                    .bind(account.0)
                    .bind(number.as_str())
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(done.rows_affected())
                }

                async fn apply_receipt(&self, receipt: &ReceiptUpdate<'_>, now: i64) -> Result<Option<Message>> {
                    let mut tx = self.begin_write().await?;
                    // -- a receipt moves a sent message on (never back from delivered)
                    sqlx::query(
                        "UPDATE messages SET status = $1, error_code = COALESCE($2, error_code), updated_at = $3
                         WHERE provider = $4 AND provider_id = $5 AND status IN ('sent', 'delivered', 'failed')
                           AND NOT (status = 'delivered' AND $1 = 'sent')",
                    )
                    .bind(receipt.status.as_str())
                    .bind(receipt.error_code)
                    .bind(now)
                    .bind(receipt.provider)
                    .bind(receipt.provider_id)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(self.message_account(receipt.provider, receipt.provider_id).await?.map(|(_, m)| m))
                }

                async fn message_account(&self, provider: &str, provider_id: &str) -> Result<Option<(AccountId, Message)>> {
                    // -- a message by the provider's id for it
                    let sql = format!("{MESSAGE_COLUMNS} WHERE provider = $1 AND provider_id = $2");
                    let row = sqlx::query_as::<_, MessageRow>(sqlx::AssertSqlSafe(sql))
                        .bind(provider)
                        .bind(provider_id)
                        .fetch_optional(&self.pool)
                        .await?;
                    let Some(row) = row else { return Ok(None) };
                    let id = row.id;
                    let message = Message::try_from(row)?;
                    // -- its account
                    let account: i64 = sqlx::query_scalar("SELECT account_id FROM messages WHERE id = $1")
                        .bind(id)
                        .fetch_one(&self.pool)
                        .await?;
                    Ok(Some((AccountId(account), message)))
                }

                async fn latest_message_to(&self, account: AccountId, number: &PhoneNumber, sender_id: Option<&str>) -> Result<Option<Message>> {
                    // -- the newest message sent to a number, the newest from `sender_id` first
                    let sql = format!(
                        "{MESSAGE_COLUMNS} WHERE account_id = $1 AND number = $2
                           AND status IN ('sent', 'delivered', 'sending')
                         ORDER BY CASE WHEN sender_id = $3 THEN 0 ELSE 1 END, id DESC LIMIT 1"
                    );
                    sqlx::query_as::<_, MessageRow>(sqlx::AssertSqlSafe(sql))
                        .bind(account.0)
                        .bind(number.as_str())
                        .bind(sender_id)
                        .fetch_optional(&self.pool)
                        .await?
                        .map(Message::try_from)
                        .transpose()
                }

                async fn campaign_groups(&self, id: CampaignId) -> Result<Vec<GroupId>> {
                    // -- the groups a campaign was sent to
                    let groups: Vec<i64> = sqlx::query_scalar(
                        "SELECT group_id FROM campaign_groups WHERE campaign_id = $1 ORDER BY group_id",
                    )
                    .bind(id.0)
                    .fetch_all(&self.pool)
                    .await?;
                    Ok(groups.into_iter().map(GroupId).collect())
                }

                async fn set_connector(&self, account: AccountId, record: &ConnectorRecord) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    // -- the account's connector, replaced whole
                    sqlx::query(
                        "INSERT INTO connectors (account_id, kind, config_json, secret, updated_at)
                         VALUES ($1, $2, $3, $4, $5)
                         ON CONFLICT (account_id) DO UPDATE SET kind = excluded.kind,
                            config_json = excluded.config_json, secret = excluded.secret, updated_at = excluded.updated_at",
                    )
                    .bind(account.0)
                    .bind(&record.kind)
                    .bind(&record.config_json)
                    .bind(&record.secret)
                    .bind(record.updated_at)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn connector(&self, account: AccountId) -> Result<Option<ConnectorRecord>> {
                    // -- the account's connector
                    let row: Option<(String, String, String, i64)> = sqlx::query_as(
                        "SELECT kind, config_json, secret, updated_at FROM connectors WHERE account_id = $1",
                    )
                    .bind(account.0)
                    .fetch_optional(&self.pool)
                    .await?;
                    Ok(row.map(|(kind, config_json, secret, updated_at)| ConnectorRecord { kind, config_json, secret, updated_at }))
                }
            }
        }
    };
}
pub(crate) use campaign_impl;

/// The status a claimed message waits in when it goes back (a retry, or a release after a
/// pause or cancel), decided in SQL from its campaign's status at that moment, so that a
/// resume or cancel racing the dispatcher cannot leave it in the wrong one: `held` while the
/// campaign is paused, `cancelled` once it is cancelled, otherwise `queued`.
macro_rules! waiting_status {
    () => {
        "CASE (SELECT c.status FROM campaigns c WHERE c.id = messages.campaign_id)
              WHEN 'paused' THEN 'held' WHEN 'cancelled' THEN 'cancelled' ELSE 'queued' END"
    };
}
pub(crate) use waiting_status;

/// The claim queries, as both backends share them up to the row lock: `$kinds` is
/// `kind <> 'campaign'` (answers, claimed first, from their own index) or `kind = 'campaign'`.
macro_rules! claim_sql {
    ($lock:literal, $kinds:literal, $busy:literal) => {
        concat!(
            "UPDATE messages SET status = 'sending', claimed_by = $1, claimed_at = $2,
                attempts = attempts + 1, updated_at = $2
             WHERE id IN (SELECT id FROM messages WHERE status = 'queued' AND ",
            $kinds,
            " AND next_attempt_at <= $2 AND account_id NOT IN (",
            $busy,
            ")
                          ORDER BY next_attempt_at, id LIMIT $3",
            $lock,
            ")
             RETURNING id, account_id, campaign_id, kind, number, sender_id, body, attempts"
        )
    };
}
pub(crate) use claim_sql;
