//! Replies (SPEC 3.6): each inbound message stored with its classification and everything it
//! causes — the opt-out or opt-in through the ledger, contact clean-up, suppressed queued
//! messages, the one confirmation or help text, the outbound notification — in ONE
//! transaction ([`ReplyStore::record_reply`]). A redelivered reply (same account, provider and
//! provider message id) changes nothing and answers the first delivery's actions.
//!
//! Also here: parts of concatenated messages until they are whole, accounts' own keywords,
//! the review queue of unclear replies, and the notification outbox.

use crate::model::{OptOutCommand, OptOutOutcome, Page};
use crate::{Result, StoreError};
use async_trait::async_trait;
use serde::Serialize;
use stoplist_domain::{AccountId, CampaignId, MessageId};

/// A reply to store, classified by the application.
#[derive(Debug, Clone)]
pub struct NewReply<'a> {
    pub account: AccountId,
    pub provider: &'a str,
    pub provider_message_id: &'a str,
    /// E.164 when the sender is a number; as sent otherwise.
    pub from: &'a str,
    pub to: &'a str,
    pub body: &'a str,
    pub class: &'a str,
    pub tier: &'a str,
    pub matched: Option<&'a str>,
    pub language: Option<&'a str>,
    pub matched_message: Option<MessageId>,
    pub matched_campaign: Option<CampaignId>,
    /// `pending` for an unclear reply awaiting review.
    pub review: Option<&'a str>,
    pub received_at: i64,
}

/// A text to queue in answer (the sender id and the final text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub sender_id: String,
    pub body: String,
}

/// What a reply does, decided by the application from its classification and the settings;
/// the store applies it and, where it depends on the opt-out decision, decides in the same
/// transaction.
#[derive(Debug, Clone, Default)]
pub struct ReplyEffects {
    /// The opt-out list change (a reply opt-out or opt-in).
    pub optout: Option<OptOutCommand>,
    /// Sent when the opt-out is newly recorded (never for a repeat).
    pub optout_confirmation: Option<Answer>,
    /// Sent when the opt-in lifts the opt-out.
    pub optin_confirmation: Option<Answer>,
    /// Sent whatever the number's state (a help keyword).
    pub help: Option<Answer>,
    /// Recorded as an action when the opt-out is newly recorded but no confirmation may be
    /// sent (a review confirming a reply after the 5-minute window): says why.
    pub confirmation_missed: Option<String>,
    /// Recorded as actions whatever the decision: what the application did to the reply
    /// before it was recorded (its text cut, an answer it could not send).
    pub notes: Vec<String>,
}

/// One reply and what it does, for [`ReplyStore::record_replies`].
#[derive(Debug, Clone, Copy)]
pub struct Recording<'a> {
    pub reply: &'a NewReply<'a>,
    pub effects: &'a ReplyEffects,
}

/// What [`ReplyStore::record_reply`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedReply {
    pub id: i64,
    /// The reply was delivered before: nothing was done again.
    pub duplicate: bool,
    /// What was done, in words (`opted_out`, `deleted 2 contacts`, `confirmation queued`…).
    pub actions: Vec<String>,
    /// The opt-out decision, when there was one (not for a duplicate).
    pub optout: Option<OptOutOutcome>,
}

/// A stored reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reply {
    pub id: i64,
    pub provider: String,
    pub provider_message_id: String,
    pub from: String,
    pub to: String,
    pub body: String,
    pub class: String,
    pub tier: String,
    pub matched: Option<String>,
    pub language: Option<String>,
    pub matched_message_id: Option<i64>,
    pub matched_campaign_id: Option<i64>,
    pub actions: Vec<String>,
    pub review: Option<String>,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<i64>,
    pub received_at: i64,
    pub created_at: i64,
}

/// Filters of the Incoming report.
#[derive(Debug, Clone, Default)]
pub struct ReplyFilter<'a> {
    /// Received at or after (ms).
    pub from_time: Option<i64>,
    /// Received before (ms).
    pub to_time: Option<i64>,
    pub class: Option<&'a str>,
    /// Digits the sender's number contains.
    pub number: Option<&'a str>,
    /// Only replies awaiting review.
    pub pending_review: bool,
}

/// One part of a concatenated inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyPart<'a> {
    pub account: AccountId,
    pub provider: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub reference: &'a str,
    pub total: i64,
    pub part: i64,
    pub provider_message_id: &'a str,
    pub body: &'a str,
    pub received_at: i64,
    /// When this server stores the part (its own clock, unlike `received_at`).
    pub stored_at: i64,
    /// Parts of the same message stored before this are expired: they are deleted, and
    /// never combined with this one.
    pub expired_before: i64,
}

/// A notification waiting to be delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingNotification {
    pub id: i64,
    pub account: AccountId,
    pub event: String,
    pub payload: String,
    pub attempts: i64,
    pub url: String,
    pub secret: String,
}

/// One notification and its delivery state (the visible delivery log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotificationRecord {
    pub id: i64,
    pub event: String,
    pub payload: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
}

/// Replies and notifications; part of [`crate::Store`].
#[async_trait]
pub trait ReplyStore: Send + Sync {
    /// The account a webhook token belongs to.
    async fn account_by_webhook_token(&self, token: &str) -> Result<Option<AccountId>>;
    /// Stores the reply and applies its effects in one transaction (see the module doc): a
    /// batch of one.
    async fn record_reply(
        &self,
        reply: &NewReply<'_>,
        effects: &ReplyEffects,
        now: i64,
    ) -> Result<RecordedReply> {
        let mut results = self
            .record_replies(&[Recording { reply, effects }], now)
            .await?;
        results.pop().ok_or(StoreError::NotFound("reply"))?
    }
    /// Group commit: stores several replies with their effects in ONE transaction (one
    /// fsync), each inside its own savepoint, so that one reply's failure is its own error and
    /// leaves the others whole. The outer error is the transaction's (nothing was stored);
    /// otherwise one result per recording, in order, all durable.
    async fn record_replies(
        &self,
        batch: &[Recording<'_>],
        now: i64,
    ) -> Result<Vec<Result<RecordedReply>>>;
    /// A reply already stored for this provider message id, if any.
    async fn reply_by_provider_id(
        &self,
        account: AccountId,
        provider: &str,
        provider_message_id: &str,
    ) -> Result<Option<Reply>>;
    async fn reply(&self, account: AccountId, id: i64) -> Result<Option<Reply>>;
    /// Newest first, before the cursor.
    async fn list_replies(
        &self,
        account: AccountId,
        filter: &ReplyFilter<'_>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Page<Reply>>;
    /// Closes the review of an unclear reply (`confirmed` or `dismissed`), with its effects
    /// (the caller's opt-out command when confirmed, or the lift of the provisional opt-out
    /// when dismissed) in the same transaction. `Conflict` when it was not pending.
    async fn review_reply(
        &self,
        account: AccountId,
        id: i64,
        verdict: &str,
        reviewer: &str,
        effects: &ReplyEffects,
        now: i64,
    ) -> Result<RecordedReply>;
    /// Keeps one part of a concatenated message; answers every part once all have arrived
    /// (in order) and removes them, else `None`.
    async fn add_reply_part(&self, part: &ReplyPart<'_>) -> Result<Option<Vec<(String, String)>>>;
    /// Deletes the parts of every message stored before `before` (messages that never
    /// completed); answers how many parts.
    async fn expire_reply_parts(&self, before: i64) -> Result<u64>;
    /// The account's own keywords as (keyword, kind, language).
    async fn custom_keywords(&self, account: AccountId) -> Result<Vec<(String, String, String)>>;
    async fn set_custom_keywords(
        &self,
        account: AccountId,
        keywords: &[(String, String, String)],
        now: i64,
    ) -> Result<()>;
    /// The account's notification endpoint (url, secret).
    async fn notify_endpoint(&self, account: AccountId) -> Result<Option<(String, String)>>;
    async fn set_notify_endpoint(
        &self,
        account: AccountId,
        endpoint: Option<(&str, &str)>,
        now: i64,
    ) -> Result<()>;
    /// Claims due notifications (of accounts that still have an endpoint).
    /// Claims due notifications (pushed a minute ahead while being delivered, so a crash
    /// retries them), leaving out the accounts in `busy` (their deliverer lane is sending).
    async fn claim_notifications(
        &self,
        now: i64,
        limit: i64,
        busy: &[AccountId],
    ) -> Result<Vec<PendingNotification>>;
    /// Records a delivery attempt: delivered, or retry at `retry_at`, or failed for good.
    async fn notification_attempt(
        &self,
        id: i64,
        delivered: bool,
        error: Option<&str>,
        retry_at: Option<i64>,
        now: i64,
    ) -> Result<()>;
    /// The delivery log, newest first.
    async fn list_notifications(
        &self,
        account: AccountId,
        limit: i64,
    ) -> Result<Vec<NotificationRecord>>;
}

#[derive(sqlx::FromRow)]
pub(crate) struct ReplyRow {
    id: i64,
    provider: String,
    provider_message_id: String,
    from_number: String,
    to_number: String,
    body: String,
    class: String,
    tier: String,
    matched: Option<String>,
    language: Option<String>,
    matched_message_id: Option<i64>,
    matched_campaign_id: Option<i64>,
    actions_json: String,
    review: Option<String>,
    reviewed_by: Option<String>,
    reviewed_at: Option<i64>,
    received_at: i64,
    created_at: i64,
}

pub(crate) const REPLY_COLUMNS: &str = "SELECT id, provider, provider_message_id, from_number, to_number, body, class,
    tier, matched, language, matched_message_id, matched_campaign_id, actions_json, review, reviewed_by,
    reviewed_at, received_at, created_at FROM replies";

impl TryFrom<ReplyRow> for Reply {
    type Error = crate::StoreError;
    fn try_from(r: ReplyRow) -> Result<Reply> {
        Ok(Reply {
            id: r.id,
            provider: r.provider,
            provider_message_id: r.provider_message_id,
            from: r.from_number,
            to: r.to_number,
            body: r.body,
            class: r.class,
            tier: r.tier,
            matched: r.matched,
            language: r.language,
            matched_message_id: r.matched_message_id,
            matched_campaign_id: r.matched_campaign_id,
            actions: serde_json::from_str(&r.actions_json)
                .map_err(|e| crate::StoreError::Corrupt(format!("reply actions: {e}")))?,
            review: r.review,
            reviewed_by: r.reviewed_by,
            reviewed_at: r.reviewed_at,
            received_at: r.received_at,
            created_at: r.created_at,
        })
    }
}

/// An answer (confirmation, help text) a reply queues, written with the rest of its batch.
pub(crate) struct QueuedAnswer {
    pub(crate) account: AccountId,
    pub(crate) kind: &'static str,
    pub(crate) number: String,
    pub(crate) answer: Answer,
}

/// The actions an opt-out outcome stands for.
pub(crate) fn optout_actions(out: &OptOutOutcome, actions: &mut Vec<String>) {
    use stoplist_domain::Decision;
    actions.push(match &out.decision {
        Decision::Record { .. } => "opted_out".to_owned(),
        Decision::RecordProvisional => "opted_out (provisional, pending review)".to_owned(),
        Decision::AlreadyOptedOut { .. } => "already_opted_out".to_owned(),
        Decision::Lift => "opted_in".to_owned(),
        Decision::NoChange => "no_change".to_owned(),
        Decision::Refuse(r) => format!("refused: {r}"),
        other => format!("{other:?}"),
    });
    if out.contacts_deleted > 0 {
        actions.push(format!("deleted {} contacts", out.contacts_deleted));
    }
}

/// Instantiates [`ReplyStore`] for one backend (SQL shared here).
macro_rules! reply_impl {
    ($store:ident, $db:ident, $set_actions:ident, $claim_notifications:ident) => {
        /// The `ReplyStore` implementation for this backend (SQL shared in `replies.rs`).
        mod reply_impl {
            use super::{$claim_notifications, $store, $set_actions};
            use sqlx::$db;
            use $crate::model::Page;
            use $crate::replies::*;
            use $crate::sql::Ledger;
            use $crate::{Result, StoreError};
            use stoplist_domain::{AccountId, Decision};

            impl $store {
                /// Stores one reply and applies its effects inside `tx`; a redelivery answers the
                /// first delivery (read inside `tx`, which may be the batch that stored it).
                async fn record_in_tx(
                    tx: &mut sqlx::Transaction<'static, $db>,
                    ledger: Option<&mut Ledger>,
                    answers: &mut Vec<QueuedAnswer>,
                    r: &NewReply<'_>,
                    effects: &ReplyEffects,
                    now: i64,
                ) -> Result<RecordedReply> {
                    // -- the reply, once per provider message id
                    let id: Option<i64> = sqlx::query_scalar(
                        "INSERT INTO replies (account_id, provider, provider_message_id, from_number, to_number, body,
                            class, tier, matched, language, matched_message_id, matched_campaign_id, actions_json,
                            review, received_at, created_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, '[]', $13, $14, $15)
                         ON CONFLICT (account_id, provider, provider_message_id) DO NOTHING RETURNING id",
                    )
                    .bind(r.account.0)
                    .bind(r.provider)
                    .bind(r.provider_message_id)
                    .bind(r.from)
                    .bind(r.to)
                    .bind(r.body)
                    .bind(r.class)
                    .bind(r.tier)
                    .bind(r.matched)
                    .bind(r.language)
                    .bind(r.matched_message.map(|m| m.0))
                    .bind(r.matched_campaign.map(|c| c.0))
                    .bind(r.review)
                    .bind(r.received_at)
                    .bind(now)
                    .fetch_optional(&mut **tx)
                    .await?;
                    let Some(id) = id else {
                        // -- the first delivery of a redelivered reply
                        let sql = format!("{REPLY_COLUMNS} WHERE account_id = $1 AND provider = $2 AND provider_message_id = $3");
                        let first = sqlx::query_as::<_, ReplyRow>(sqlx::AssertSqlSafe(sql))
                            .bind(r.account.0)
                            .bind(r.provider)
                            .bind(r.provider_message_id)
                            .fetch_optional(&mut **tx)
                            .await?
                            .map(Reply::try_from)
                            .transpose()?
                            .ok_or(StoreError::NotFound("reply"))?;
                        return Ok(RecordedReply { id: first.id, duplicate: true, actions: first.actions, optout: None });
                    };
                    let (actions, optout) = match ledger {
                        Some(ledger) => Self::apply_effects(tx, ledger, answers, r.from, effects, now).await?,
                        None if effects.optout.is_none() && effects.help.is_none() => (Vec::new(), None),
                        None => return Err(StoreError::NotFound("account")),
                    };
                    // (its actions are stored by the caller, for a whole batch at once)
                    Ok(RecordedReply { id, duplicate: false, actions, optout })
                }

                /// Stores what each new reply of a batch did, for the Incoming report: one
                /// statement for the batch.
                async fn store_actions(
                    tx: &mut sqlx::Transaction<'static, $db>,
                    recorded: &[&RecordedReply],
                ) -> Result<()> {
                    if recorded.is_empty() {
                        return Ok(());
                    }
                    let rows: Vec<(i64, String)> = recorded
                        .iter()
                        .map(|r| (r.id, serde_json::to_string(&r.actions).unwrap_or_else(|_| "[]".into())))
                        .collect();
                    // -- what the replies did, for the Incoming report
                    sqlx::query($set_actions)
                        .bind(serde_json::to_string(&rows).unwrap_or_else(|_| "[]".into()))
                        .execute(&mut **tx)
                        .await?;
                    Ok(())
                }

                /// Records a batch in one transaction, the ledger heads of its accounts locked
                /// first, in account order: every writer that appends to a ledger takes its head
                /// before anything else, so that two instances' batches (whose replies may be the
                /// same redelivered ones) queue instead of deadlocking. Without `savepoints`, the
                /// first failing reply abandons the batch (`None`, nothing committed).
                async fn record_batch(
                    &self,
                    batch: &[Recording<'_>],
                    now: i64,
                    savepoints: bool,
                ) -> Result<Option<Vec<Result<RecordedReply>>>> {
                    let mut tx = self.begin_write().await?;
                    let mut accounts: Vec<AccountId> = batch.iter().map(|r| r.reply.account).collect();
                    accounts.sort_by_key(|a| a.0);
                    accounts.dedup();
                    let mut ledgers = std::collections::HashMap::with_capacity(accounts.len());
                    for account in accounts {
                        match Self::ledger(&mut tx, account).await {
                            Ok(ledger) => {
                                ledgers.insert(account, ledger);
                            }
                            Err(StoreError::NotFound(_)) => {}
                            Err(e) => return Err(e),
                        }
                    }
                    // The opt-out list's entries for the batch's numbers, one query an account;
                    // events are written together when the ledgers are saved.
                    for (account, ledger) in ledgers.iter_mut() {
                        ledger.defer_events = true;
                        let numbers: Vec<&str> = batch
                            .iter()
                            .filter(|r| r.reply.account == *account)
                            .filter_map(|r| r.effects.optout.as_ref().map(|c| c.number.as_str()))
                            .collect();
                        Self::read_ahead_optouts(&mut tx, ledger, &numbers).await?;
                    }
                    let mut answers = Vec::new();
                    let mut results = Vec::with_capacity(batch.len());
                    for rec in batch {
                        let ledger = ledgers.get_mut(&rec.reply.account);
                        if !savepoints {
                            match Self::record_in_tx(&mut tx, ledger, &mut answers, rec.reply, rec.effects, now).await {
                                Ok(r) => results.push(Ok(r)),
                                Err(_) => return Ok(None),
                            }
                            continue;
                        }
                        // -- each reply in its own savepoint: its failure undoes only its own writes
                        sqlx::query("SAVEPOINT reply").execute(&mut *tx).await?;
                        let number = rec.effects.optout.as_ref().map(|c| c.number.as_str());
                        let mark = ledger.as_ref().map(|l| l.mark(number));
                        let queued = answers.len();
                        match Self::record_in_tx(&mut tx, ledger, &mut answers, rec.reply, rec.effects, now).await {
                            Ok(r) => results.push(Ok(r)),
                            Err(e) => {
                                sqlx::query("ROLLBACK TO SAVEPOINT reply").execute(&mut *tx).await?;
                                if let (Some(l), Some(mark)) = (ledgers.get_mut(&rec.reply.account), mark) {
                                    l.restore(mark);
                                }
                                answers.truncate(queued);
                                results.push(Err(e));
                            }
                        }
                        sqlx::query("RELEASE SAVEPOINT reply").execute(&mut *tx).await?;
                    }
                    // A redelivery of a reply this batch stored read its actions before they were
                    // written: it answers those of the first delivery.
                    let stored: std::collections::HashMap<i64, Vec<String>> = results
                        .iter()
                        .flatten()
                        .filter(|r| !r.duplicate)
                        .map(|r| (r.id, r.actions.clone()))
                        .collect();
                    for r in results.iter_mut().flatten().filter(|r| r.duplicate) {
                        if let Some(actions) = stored.get(&r.id) {
                            r.actions = actions.clone();
                        }
                    }
                    let recorded: Vec<&RecordedReply> = results
                        .iter()
                        .flatten()
                        .filter(|r| !r.duplicate)
                        .collect();
                    Self::store_actions(&mut tx, &recorded).await?;
                    Self::write_answers(&mut tx, &answers, now).await?;
                    for ledger in ledgers.values_mut() {
                        Self::save_ledger(&mut tx, ledger).await?;
                    }
                    tx.commit().await?;
                    Ok(Some(results))
                }

                /// Writes the answers queued by a batch of replies (confirmations, help texts),
                /// many per statement.
                async fn write_answers(
                    tx: &mut sqlx::Transaction<'static, $db>,
                    answers: &[QueuedAnswer],
                    now: i64,
                ) -> Result<()> {
                    for chunk in answers.chunks(500) {
                        // -- confirmations and help texts, queued with their replies
                        let mut q = sqlx::QueryBuilder::<$db>::new(
                            "INSERT INTO messages (account_id, kind, number, sender_id, body, status, next_attempt_at, created_at, updated_at) ",
                        );
                        q.push_values(chunk, |mut b, a| {
                            b.push_bind(a.account.0)
                                .push_bind(a.kind)
                                .push_bind(a.number.as_str())
                                .push_bind(a.answer.sender_id.as_str())
                                .push_bind(a.answer.body.as_str())
                                .push_bind("queued")
                                .push_bind(now)
                                .push_bind(now)
                                .push_bind(now);
                        });
                        // Not kept in the statement cache: its text varies with the row count.
                        q.build().persistent(false).execute(&mut **tx).await?;
                    }
                    Ok(())
                }

                /// Applies effects inside a transaction; answers the actions and the opt-out outcome.
                async fn apply_effects(
                    tx: &mut sqlx::Transaction<'static, $db>,
                    ledger: &mut Ledger,
                    answers: &mut Vec<QueuedAnswer>,
                    number: &str,
                    effects: &ReplyEffects,
                    now: i64,
                ) -> Result<(Vec<String>, Option<$crate::model::OptOutOutcome>)> {
                    let account = ledger.account;
                    let mut actions = effects.notes.clone();
                    let mut outcome = None;
                    if let Some(cmd) = &effects.optout {
                        let out = Self::apply_optout_in(tx, ledger, cmd, now).await?;
                        optout_actions(&out, &mut actions);
                        if matches!(out.decision, Decision::Record { .. } | Decision::RecordProvisional | Decision::AlreadyOptedOut { .. }) {
                            // -- the number's waiting campaign messages are suppressed
                            let n = sqlx::query(
                                "UPDATE messages SET status = 'suppressed', updated_at = $1
                                 WHERE account_id = $2 AND number = $3 AND kind = 'campaign' AND status IN ('queued', 'held')",
                            )
                            .bind(now)
                            .bind(account.0)
                            .bind(number)
                            .execute(&mut **tx)
                            .await?
                            .rows_affected();
                            if n > 0 {
                                actions.push(format!("suppressed {n} queued messages"));
                            }
                        }
                        if matches!(out.decision, Decision::Record { .. }) {
                            if let Some(a) = &effects.optout_confirmation {
                                answers.push(QueuedAnswer { account, kind: "confirmation", number: number.to_owned(), answer: a.clone() });
                                actions.push("confirmation queued".into());
                            } else if let Some(why) = &effects.confirmation_missed {
                                actions.push(why.clone());
                            }
                        }
                        if matches!(out.decision, Decision::Lift)
                            && let Some(a) = &effects.optin_confirmation
                        {
                            answers.push(QueuedAnswer { account, kind: "confirmation", number: number.to_owned(), answer: a.clone() });
                            actions.push("confirmation queued".into());
                        }
                        if out.event_seq.is_some() {
                            let has_endpoint = match ledger.notify_endpoint {
                                Some(known) => known,
                                None => {
                                    // -- the notification endpoint, if the account has one
                                    let endpoint: Option<(String,)> =
                                        sqlx::query_as("SELECT url FROM notify_endpoints WHERE account_id = $1")
                                            .bind(account.0)
                                            .fetch_optional(&mut **tx)
                                            .await?;
                                    *ledger.notify_endpoint.insert(endpoint.is_some())
                                }
                            };
                            if has_endpoint {
                                let event = if out.optout.is_some() { "opted_out" } else { "opted_in" };
                                let payload = serde_json::json!({
                                    "event": event,
                                    "account_id": account.0,
                                    "number": cmd.number.as_str(),
                                    "source": out.optout.as_ref().map(|o| o.source.as_str()).unwrap_or("reply"),
                                    "provisional": out.optout.as_ref().is_some_and(|o| o.provisional),
                                    "seq": out.event_seq,
                                    "at_ms": now,
                                })
                                .to_string();
                                // -- the notification, delivered later from this outbox
                                sqlx::query(
                                    "INSERT INTO notifications (account_id, event, payload, status, next_attempt_at, created_at)
                                     VALUES ($1, $2, $3, 'pending', $4, $4)",
                                )
                                .bind(account.0)
                                .bind(event)
                                .bind(payload)
                                .bind(now)
                                .execute(&mut **tx)
                                .await?;
                                actions.push("notification queued".into());
                            }
                        }
                        outcome = Some(out);
                    }
                    if let Some(a) = &effects.help {
                        answers.push(QueuedAnswer { account, kind: "help", number: number.to_owned(), answer: a.clone() });
                        actions.push("help queued".into());
                    }
                    Ok((actions, outcome))
                }
            }

            #[async_trait::async_trait]
            impl ReplyStore for $store {
                async fn account_by_webhook_token(&self, token: &str) -> Result<Option<AccountId>> {
                    // -- the account of a webhook URL
                    let id: Option<i64> = sqlx::query_scalar("SELECT id FROM accounts WHERE webhook_token = $1")
                        .bind(token)
                        .fetch_optional(&self.pool)
                        .await?;
                    Ok(id.map(AccountId))
                }

                async fn record_replies(&self, batch: &[Recording<'_>], now: i64) -> Result<Vec<Result<RecordedReply>>> {
                    // First without savepoints (two statements fewer a reply); should any reply
                    // fail, that transaction is dropped and the batch runs again with a savepoint
                    // each, so that only the failing reply is undone.
                    match self.record_batch(batch, now, false).await? {
                        Some(results) => Ok(results),
                        None => Ok(self.record_batch(batch, now, true).await?.unwrap_or_default()),
                    }
                }

                async fn reply_by_provider_id(&self, account: AccountId, provider: &str, provider_message_id: &str) -> Result<Option<Reply>> {
                    // -- a reply by its provider's id
                    let sql = format!("{REPLY_COLUMNS} WHERE account_id = $1 AND provider = $2 AND provider_message_id = $3");
                    sqlx::query_as::<_, ReplyRow>(sqlx::AssertSqlSafe(sql))
                        .bind(account.0)
                        .bind(provider)
                        .bind(provider_message_id)
                        .fetch_optional(&self.pool)
                        .await?
                        .map(Reply::try_from)
                        .transpose()
                }

                async fn reply(&self, account: AccountId, id: i64) -> Result<Option<Reply>> {
                    // -- one reply of the account
                    let sql = format!("{REPLY_COLUMNS} WHERE account_id = $1 AND id = $2");
                    sqlx::query_as::<_, ReplyRow>(sqlx::AssertSqlSafe(sql))
                        .bind(account.0)
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await?
                        .map(Reply::try_from)
                        .transpose()
                }

                async fn list_replies(&self, account: AccountId, f: &ReplyFilter<'_>, before: Option<i64>, limit: i64) -> Result<Page<Reply>> {
                    let number = $crate::export::number_pattern(f.number);
                    // -- a page of the Incoming report, newest first, filtered
                    let sql = format!(
                        "{REPLY_COLUMNS} WHERE account_id = $1 AND id < $2
                           AND (CAST($3 AS BIGINT) IS NULL OR received_at >= $3)
                           AND (CAST($4 AS BIGINT) IS NULL OR received_at < $4)
                           AND (CAST($5 AS TEXT) IS NULL
                                OR CASE WHEN class = 'unclear' AND review = 'confirmed' THEN 'opt_out' ELSE class END = $5)
                           AND (CAST($6 AS TEXT) IS NULL OR from_number LIKE $6)
                           AND ($7 = 0 OR review = 'pending')
                         ORDER BY id DESC LIMIT $8"
                    );
                    let rows = sqlx::query_as::<_, ReplyRow>(sqlx::AssertSqlSafe(sql))
                        .bind(account.0)
                        .bind(before.unwrap_or(i64::MAX))
                        .bind(f.from_time)
                        .bind(f.to_time)
                        .bind(f.class)
                        .bind(number)
                        .bind(i64::from(f.pending_review))
                        .bind(limit + 1)
                        .fetch_all(&self.pool)
                        .await?;
                    let mut items = rows.into_iter().map(Reply::try_from).collect::<Result<Vec<_>>>()?;
                    let next = if items.len() as i64 > limit {
                        items.truncate(limit as usize);
                        items.last().map(|r| r.id)
                    } else {
                        None
                    };
                    Ok(Page { items, next })
                }

                async fn review_reply(&self, account: AccountId, id: i64, verdict: &str, reviewer: &str, effects: &ReplyEffects, now: i64) -> Result<RecordedReply> {
                    let mut tx = self.begin_write().await?;
                    let mut ledger = Self::ledger(&mut tx, account).await?;
                    // -- close a pending review
                    let row: Option<(String, String)> = sqlx::query_as(
                        "UPDATE replies SET review = $1, reviewed_by = $2, reviewed_at = $3
                         WHERE account_id = $4 AND id = $5 AND review = 'pending' RETURNING from_number, actions_json",
                    )
                    .bind(verdict)
                    .bind(reviewer)
                    .bind(now)
                    .bind(account.0)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some((number, actions_json)) = row else {
                        return Err(StoreError::Conflict { what: "a review of this reply", field: "review" });
                    };
                    let mut answers = Vec::new();
                    let (mut done, optout) = Self::apply_effects(&mut tx, &mut ledger, &mut answers, &number, effects, now).await?;
                    Self::write_answers(&mut tx, &answers, now).await?;
                    Self::save_ledger(&mut tx, &mut ledger).await?;
                    let mut actions: Vec<String> = serde_json::from_str(&actions_json).unwrap_or_default();
                    actions.push(format!("review: {verdict} by {reviewer}"));
                    actions.append(&mut done);
                    // -- the reply's actions, with the review's
                    sqlx::query("UPDATE replies SET actions_json = $1 WHERE id = $2")
                        .bind(serde_json::to_string(&actions).unwrap_or_else(|_| "[]".into()))
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(RecordedReply { id, duplicate: false, actions, optout })
                }

                async fn add_reply_part(&self, p: &ReplyPart<'_>) -> Result<Option<Vec<(String, String)>>> {
                    let mut tx = self.begin_write().await?;
                    // -- the message's expired parts go first: they never combine with a new one
                    sqlx::query(
                        "DELETE FROM reply_parts WHERE account_id = $1 AND provider = $2 AND from_number = $3
                            AND reference = $4 AND stored_at < $5",
                    )
                    .bind(p.account.0)
                    .bind(p.provider)
                    .bind(p.from)
                    .bind(p.reference)
                    .bind(p.expired_before)
                    .execute(&mut *tx)
                    .await?;
                    // -- one part, kept until the message is whole (a redelivered part is ignored)
                    sqlx::query(
                        "INSERT INTO reply_parts (account_id, provider, from_number, reference, total, part,
                            provider_message_id, to_number, body, received_at, stored_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
                    )
                    .bind(p.account.0)
                    .bind(p.provider)
                    .bind(p.from)
                    .bind(p.reference)
                    .bind(p.total)
                    .bind(p.part)
                    .bind(p.provider_message_id)
                    .bind(p.to)
                    .bind(p.body)
                    .bind(p.received_at)
                    .bind(p.stored_at)
                    .execute(&mut *tx)
                    .await?;
                    // -- the parts so far, in order
                    let parts: Vec<(i64, String, String)> = sqlx::query_as(
                        "SELECT part, provider_message_id, body FROM reply_parts
                         WHERE account_id = $1 AND provider = $2 AND from_number = $3 AND reference = $4 ORDER BY part",
                    )
                    .bind(p.account.0)
                    .bind(p.provider)
                    .bind(p.from)
                    .bind(p.reference)
                    .fetch_all(&mut *tx)
                    .await?;
                    if (parts.len() as i64) < p.total {
                        tx.commit().await?;
                        return Ok(None);
                    }
                    // -- a whole message: its parts are no longer needed
                    sqlx::query("DELETE FROM reply_parts WHERE account_id = $1 AND provider = $2 AND from_number = $3 AND reference = $4")
                        .bind(p.account.0)
                        .bind(p.provider)
                        .bind(p.from)
                        .bind(p.reference)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(Some(parts.into_iter().map(|(_, id, body)| (id, body)).collect()))
                }

                async fn expire_reply_parts(&self, before: i64) -> Result<u64> {
                    // -- parts of messages that never completed, stored before the cut-off
                    let done = sqlx::query("DELETE FROM reply_parts WHERE stored_at < $1")
                        .bind(before)
                        .execute(&self.pool)
                        .await?;
                    Ok(done.rows_affected())
                }

                async fn custom_keywords(&self, account: AccountId) -> Result<Vec<(String, String, String)>> {
                    // -- the account's own keywords
                    Ok(sqlx::query_as("SELECT keyword, kind, language FROM custom_keywords WHERE account_id = $1 ORDER BY keyword")
                        .bind(account.0)
                        .fetch_all(&self.pool)
                        .await?)
                }

                async fn set_custom_keywords(&self, account: AccountId, keywords: &[(String, String, String)], now: i64) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    // -- the keyword list is replaced whole
                    sqlx::query("DELETE FROM custom_keywords WHERE account_id = $1")
                        .bind(account.0)
                        .execute(&mut *tx)
                        .await?;
                    for (k, kind, lang) in keywords {
                        // -- one keyword
                        sqlx::query(
                            "INSERT INTO custom_keywords (account_id, keyword, kind, language, created_at)
                             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                        )
                        .bind(account.0)
                        .bind(k)
                        .bind(kind)
                        .bind(lang)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }

                async fn notify_endpoint(&self, account: AccountId) -> Result<Option<(String, String)>> {
                    // -- the account's notification endpoint
                    Ok(sqlx::query_as("SELECT url, secret FROM notify_endpoints WHERE account_id = $1")
                        .bind(account.0)
                        .fetch_optional(&self.pool)
                        .await?)
                }

                async fn set_notify_endpoint(&self, account: AccountId, endpoint: Option<(&str, &str)>, now: i64) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    match endpoint {
                        Some((url, secret)) => {
                            // -- set the endpoint
                            sqlx::query(
                                "INSERT INTO notify_endpoints (account_id, url, secret, updated_at) VALUES ($1, $2, $3, $4)
                                 ON CONFLICT (account_id) DO UPDATE SET url = excluded.url, secret = excluded.secret,
                                    updated_at = excluded.updated_at",
                            )
                            .bind(account.0)
                            .bind(url)
                            .bind(secret)
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                        }
                        None => {
                            // -- remove it
                            sqlx::query("DELETE FROM notify_endpoints WHERE account_id = $1")
                                .bind(account.0)
                                .execute(&mut *tx)
                                .await?;
                        }
                    }
                    tx.commit().await?;
                    Ok(())
                }

                async fn claim_notifications(&self, now: i64, limit: i64, busy: &[AccountId]) -> Result<Vec<PendingNotification>> {
                    let mut tx = self.begin_write().await?;
                    let busy: Vec<i64> = busy.iter().map(|a| a.0).collect();
                    let rows: Vec<(i64, i64, String, String, i64, String, String)> = sqlx::query_as($claim_notifications)
                    .bind(now)
                    .bind(limit)
                    .bind(serde_json::to_string(&busy).unwrap_or_else(|_| "[]".into()))
                    .fetch_all(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(rows
                        .into_iter()
                        .map(|(id, account, event, payload, attempts, url, secret)| PendingNotification {
                            id, account: AccountId(account), event, payload, attempts, url, secret,
                        })
                        .collect())
                }

                async fn notification_attempt(&self, id: i64, delivered: bool, error: Option<&str>, retry_at: Option<i64>, now: i64) -> Result<()> {
                    let status = if delivered { "delivered" } else if retry_at.is_some() { "pending" } else { "failed" };
                    let mut tx = self.begin_write().await?;
                    // -- the attempt's result
                    sqlx::query(
                        "UPDATE notifications SET status = $1, last_error = $2, next_attempt_at = COALESCE($3, next_attempt_at),
                            delivered_at = CASE WHEN $1 = 'delivered' THEN $4 ELSE delivered_at END
                         WHERE id = $5",
                    )
                    .bind(status)
                    .bind(error)
                    .bind(retry_at)
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn list_notifications(&self, account: AccountId, limit: i64) -> Result<Vec<NotificationRecord>> {
                    // -- the delivery log, newest first
                    let rows: Vec<(i64, String, String, String, i64, Option<String>, i64, Option<i64>)> = sqlx::query_as(
                        "SELECT id, event, payload, status, attempts, last_error, created_at, delivered_at
                           FROM notifications WHERE account_id = $1 ORDER BY id DESC LIMIT $2",
                    )
                    .bind(account.0)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                    Ok(rows
                        .into_iter()
                        .map(|(id, event, payload, status, attempts, last_error, created_at, delivered_at)| NotificationRecord {
                            id, event, payload, status, attempts, last_error, created_at, delivered_at,
                        })
                        .collect())
                }
            }
        }
    };
}
pub(crate) use reply_impl;

/// The claim of due notifications; `$busy` selects the accounts to leave out from the JSON
/// array bound as `$3`.
macro_rules! claim_notifications_sql {
    ($busy:literal) => {
        concat!(
            "UPDATE notifications SET next_attempt_at = $1 + 60000, claimed_at = $1, attempts = attempts + 1
             WHERE id IN (SELECT n.id FROM notifications n WHERE n.status = 'pending' AND n.next_attempt_at <= $1
                            AND EXISTS (SELECT 1 FROM notify_endpoints e WHERE e.account_id = n.account_id)
                            AND n.account_id NOT IN (",
            $busy,
            ")
                          ORDER BY n.next_attempt_at, n.id LIMIT $2)
             RETURNING id, account_id, event, payload, attempts,
                (SELECT url FROM notify_endpoints e WHERE e.account_id = notifications.account_id),
                (SELECT secret FROM notify_endpoints e WHERE e.account_id = notifications.account_id)"
        )
    };
}
pub(crate) use claim_notifications_sql;
