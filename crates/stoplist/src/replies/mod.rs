//! Replies (SPEC 3.3, 3.6): an inbound message from any provider is classified, matched to
//! the most recent message sent to that number, and stored with all its effects in one
//! transaction (the store's `record_replies`, several replies at once by group commit: see
//! [`ReplyWriter`]); the webhook is answered only after that commit.
//!
//! What each class does (decided here from the settings, applied by the store with the
//! opt-out rules of the domain):
//! - `opt_out`: a reply opt-out (the clean-up settings of SPEC 3.3 apply to the matched
//!   campaign's groups, or every group), queued campaign messages suppressed, one
//!   confirmation queued when the opt-out is new (a repeated STOP gets none: never twice).
//! - `unclear`: kept for review; counted as an opt-out meanwhile when the account says so
//!   (no confirmation until a person confirms it).
//! - `opt_in`: the opt-out lifted when the rules allow (a reply opt-out under Enforce Global
//!   Optouts only by the number's own opt-in, which this is), and confirmed.
//! - `help`: the help text, also to an opted-out number.
//! - `other`: stored only.

pub mod notify;
pub mod vonage_signature;
mod writer;

pub use writer::ReplyWriter;

use crate::error::{AppError, AppResult};
use crate::lifecycle::Wakeups;
use crate::metrics::Metrics;
use crate::optouts::OptOuts;
use crate::settings_cache::SettingsCache;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use stoplist_domain::classify::{
    Class, Classification, Classifier, CustomKeyword, Keyword, KeywordKind,
};
use stoplist_domain::rules::{ActorKind, OptOutEvent};
use stoplist_domain::sms::{SenderId, SenderIdError};
use stoplist_domain::{AccountId, Actor, PhoneNumber};
use stoplist_providers::InboundSms;
use stoplist_store::{
    Answer, NewReply, OptOutCommand, RecordedReply, ReplyEffects, ReplyPart, Store,
};

/// How far in the future a provider's timestamp may be (clock skew) before it is refused.
const MAX_FUTURE_MS: i64 = 5 * 60 * 1000;
/// Longest reply text kept (a concatenated SMS of 10 parts is about 1,530 characters).
pub const MAX_TEXT: usize = 5_000;
/// Longest text a concatenated reply is reassembled to: 10 parts of 153 characters (a GSM-7
/// SMS of 160 less the 7 its concatenation header takes), what carriers and providers
/// commonly allow a long message (Twilio, for one, refuses longer bodies). Parts beyond it are
/// cut, and the reply's actions say so: the reply is still recorded and classified (a text of
/// that length is no keyword; refusing it would have the provider redeliver it for nothing).
pub const MAX_CONCATENATED_TEXT: usize = 10 * 153;
/// How long the parts of a concatenated reply wait for the rest, by this server's clock:
/// older parts never combine with a new one and are deleted (when a part of the same
/// message arrives, and by a sweep every 15 seconds).
pub const PART_TTL_MS: i64 = 24 * 60 * 60 * 1000;
/// How long an account's classifier (its own keywords) is reused.
const CLASSIFIER_TTL: Duration = Duration::from_secs(5);

/// How long after a reply its opt-out may still be confirmed by text (the FCC's 2024 order
/// allows one confirmation within 5 minutes).
pub const CONFIRMATION_WINDOW_MS: i64 = 5 * 60 * 1000;

/// The text sent after an opt-in lifts an opt-out.
pub const OPT_IN_CONFIRMATION: &str = "{sender}: you are subscribed again. Reply STOP to opt out.";

/// The sender id answers to a reply (its confirmation, the help text) are sent from: the
/// matched outbound message's sender when there is one (checked when its campaign was saved),
/// otherwise the number the reply was sent to. That one comes from the provider's webhook,
/// so anyone who can post to it chooses it: it must parse as a [`SenderId`], or no answer is
/// sent (there is no account-wide sender to fall back to, and an answer from a sender the
/// provider would refuse or rewrite, or with forged text in `{sender}`, is worse than none).
fn answer_sender(matched: Option<&str>, to: &str) -> Result<SenderId, SenderIdError> {
    SenderId::parse(matched.unwrap_or(to))
}

/// The parts' texts joined, at most [`MAX_CONCATENATED_TEXT`] characters; and whether the
/// parts held more.
fn reassemble<'a>(parts: impl Iterator<Item = &'a str>) -> (String, bool) {
    let mut text = String::new();
    let mut room = MAX_CONCATENATED_TEXT;
    for part in parts {
        let chars = part.chars().count();
        if chars > room {
            text.extend(part.chars().take(room));
            return (text, true);
        }
        text.push_str(part);
        room -= chars;
    }
    (text, false)
}

/// Per-account classifiers (built-in packs plus the account's keywords).
#[derive(Default)]
struct ClassifierCache {
    map: Mutex<HashMap<AccountId, (Instant, Arc<Classifier>)>>,
}

/// The replies service: classifies, matches and records inbound messages (through the
/// opt-out authority, by group commit), and closes reviews. Built once with what it needs.
pub struct Replies {
    store: Arc<dyn Store>,
    optouts: Arc<OptOuts>,
    settings: Arc<SettingsCache>,
    metrics: Arc<Metrics>,
    wakeups: Arc<Wakeups>,
    classifiers: ClassifierCache,
    writer: ReplyWriter,
}

impl Replies {
    pub fn new(
        store: Arc<dyn Store>,
        optouts: Arc<OptOuts>,
        settings: Arc<SettingsCache>,
        metrics: Arc<Metrics>,
        wakeups: Arc<Wakeups>,
    ) -> Replies {
        Replies {
            store,
            optouts,
            settings,
            metrics,
            wakeups,
            classifiers: ClassifierCache::default(),
            writer: ReplyWriter::default(),
        }
    }

    /// Deletes the parts of concatenated replies that waited more than [`PART_TTL_MS`] for
    /// the rest (run every 15 seconds by the server).
    pub async fn expire_parts(&self) -> AppResult<u64> {
        Ok(self
            .store
            .expire_reply_parts(crate::now_ms() - PART_TTL_MS)
            .await?)
    }

    /// Replaces the account's own keywords with `keywords` (checked by
    /// `stoplist_domain::classify::validate_keywords`) and forgets its classifier.
    pub async fn set_keywords(
        &self,
        account: AccountId,
        keywords: &[CustomKeyword],
    ) -> AppResult<()> {
        let rows: Vec<(String, String, String)> = keywords
            .iter()
            .map(|k| {
                (
                    k.keyword.as_str().to_owned(),
                    k.kind.as_str().to_owned(),
                    k.language.clone(),
                )
            })
            .collect();
        self.store
            .set_custom_keywords(account, &rows, crate::now_ms())
            .await?;
        self.forget_classifier(account);
        Ok(())
    }

    /// Forgets an account's classifier (its keywords changed).
    pub fn forget_classifier(&self, account: AccountId) {
        self.classifiers
            .map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&account);
    }

    /// The account's classifier.
    pub async fn classifier(&self, account: AccountId) -> AppResult<Arc<Classifier>> {
        if let Some((at, c)) = self
            .classifiers
            .map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&account)
            && at.elapsed() < CLASSIFIER_TTL
        {
            return Ok(c.clone());
        }
        let rows = self.store.custom_keywords(account).await?;
        let custom: Vec<CustomKeyword> = rows
            .into_iter()
            .filter_map(|(k, kind, language)| {
                Some(CustomKeyword {
                    kind: KeywordKind::parse(&kind).ok()?,
                    language,
                    keyword: Keyword::parse(&k).ok()?,
                })
            })
            .collect();
        let c = Arc::new(if custom.is_empty() {
            Classifier::builtin()
        } else {
            Classifier::with_custom(&custom)
        });
        self.classifiers
            .map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(account, (Instant::now(), c.clone()));
        Ok(c)
    }
}
/// What a webhook answers: the classification, the tier and the actions.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReplyOutcome {
    /// The stored reply's id (absent while a concatenated message waits for parts).
    pub id: Option<i64>,
    pub classification: String,
    pub tier: String,
    pub matched: Option<String>,
    pub duplicate: bool,
    pub actions: Vec<String>,
}

impl Replies {
    /// Receives one inbound message for `account`: reassembles parts, classifies, matches and
    /// records it with its effects. Redelivery answers the first delivery's actions.
    pub async fn receive(
        &self,
        account: AccountId,
        inbound: InboundSms,
    ) -> AppResult<ReplyOutcome> {
        let now = crate::now_ms();
        let received_at = inbound.received_at.unwrap_or(now);
        if received_at > now + MAX_FUTURE_MS {
            return Err(AppError::invalid(
                "invalid_field",
                "received_at",
                format!(
                    "received_at: {} is in the future (this server's clock says {})",
                    crate::rfc3339(received_at),
                    crate::rfc3339(now)
                ),
            ));
        }
        if inbound.text.chars().count() > MAX_TEXT {
            return Err(AppError::invalid(
                "invalid_field",
                "text",
                format!("text: longer than {MAX_TEXT} characters"),
            ));
        }
        let mut inbound = inbound;
        let mut notes = Vec::new();
        if let Some(part) = inbound.part.clone() {
            let p = ReplyPart {
                account,
                provider: inbound.provider,
                from: &inbound.from,
                to: &inbound.to,
                reference: &part.reference,
                total: i64::from(part.total),
                part: i64::from(part.index),
                provider_message_id: &inbound.provider_message_id,
                body: &inbound.text,
                received_at,
                stored_at: now,
                expired_before: now - PART_TTL_MS,
            };
            match self.store.add_reply_part(&p).await? {
                None => {
                    return Ok(ReplyOutcome {
                        id: None,
                        classification: "pending".into(),
                        tier: "pending".into(),
                        matched: None,
                        duplicate: false,
                        actions: vec![format!("part {} of {} kept", part.index, part.total)],
                    });
                }
                Some(parts) => {
                    let (text, cut) = reassemble(parts.iter().map(|(_, t)| t.as_str()));
                    if cut {
                        notes.push(format!(
                            "text cut to {MAX_CONCATENATED_TEXT} characters: its {} parts held more",
                            parts.len()
                        ));
                    }
                    inbound.text = text;
                    // The whole message's idempotency key: the reference of its parts.
                    inbound.provider_message_id = format!("concat:{}", part.reference);
                }
            }
        }
        let settings = self.settings.get(account).await?;
        let number = PhoneNumber::parse(&inbound.from, settings.default_region).ok();
        let opted_out = match &number {
            Some(n) => self.optouts.lookup(account, n).await?.is_some(),
            None => false,
        };
        let classifier = self.classifier(account).await?;
        let c: Classification = classifier.classify(&inbound.text, opted_out);
        let matched = match &number {
            Some(n) => {
                let to = Some(inbound.to.as_str()).filter(|t| !t.is_empty());
                self.store.latest_message_to(account, n, to).await?
            }
            None => None,
        };
        let sender = answer_sender(matched.as_ref().map(|m| m.sender_id.as_str()), &inbound.to);
        let matched_campaign = matched.as_ref().and_then(|m| m.campaign_id);
        let campaign_groups = match matched_campaign {
            Some(c) => self.store.campaign_groups(c).await?,
            None => vec![],
        };
        let actor = Actor {
            kind: ActorKind::Inbound,
            id: None,
            label: format!("{} reply", inbound.provider),
        };
        let evidence = format!(
            "{} message {}: {:?}",
            inbound.provider, inbound.provider_message_id, inbound.text
        );
        // The answer this reply gets, or why it gets none (said in its actions and logged).
        let answer = |t: &str| match &sender {
            Ok(sender) => Ok(Answer {
                sender_id: sender.as_str().to_owned(),
                body: t.replace("{sender}", sender.as_str()),
            }),
            Err(e) => {
                // `?` escapes the value: a `to` holding a line break cannot forge a log entry.
                tracing::warn!(account = %account, provider = inbound.provider, to = ?inbound.to, error = %e,
                    "the number a reply was sent to is not a sender id: no answer is sent from it");
                Err(format!(
                    "the number it was sent to is not a sender id ({e}), so nothing can be sent from it"
                ))
            }
        };
        let mut effects = ReplyEffects {
            notes,
            ..ReplyEffects::default()
        };
        let mut review = None;
        if let Some(n) = &number {
            let opt_out = OptOutCommand {
                number: n.clone(),
                event: OptOutEvent::ReplyOptOut {
                    matched_campaign: matched_campaign.is_some(),
                },
                actor: actor.clone(),
                reason: None,
                evidence: Some(evidence.clone()),
                campaign_groups: campaign_groups.clone(),
            };
            match c.class {
                Class::OptOut => {
                    effects.optout = Some(opt_out);
                    if settings.confirmation_enabled {
                        match answer(&settings.confirmation_text) {
                            Ok(a) => effects.optout_confirmation = Some(a),
                            Err(why) => {
                                effects.confirmation_missed =
                                    Some(format!("confirmation not sent: {why}"));
                            }
                        }
                    }
                }
                Class::Unclear => {
                    review = Some("pending");
                    if settings.unclear_counts_as_optout {
                        // Provisional: suppresses at once, changes no contact, confirms nothing,
                        // until a person confirms or dismisses it.
                        effects.optout = Some(OptOutCommand {
                            event: OptOutEvent::UnclearReply,
                            ..opt_out
                        });
                    }
                }
                Class::OptIn => {
                    effects.optout = Some(OptOutCommand {
                        event: OptOutEvent::ReplyOptIn,
                        ..opt_out
                    });
                    match answer(OPT_IN_CONFIRMATION) {
                        Ok(a) => effects.optin_confirmation = Some(a),
                        Err(why) => effects.notes.push(format!("no confirmation: {why}")),
                    }
                }
                Class::Help => match answer(&settings.help_text) {
                    Ok(a) => effects.help = Some(a),
                    Err(why) => effects.notes.push(format!("help text not sent: {why}")),
                },
                Class::Other => {}
            }
        }
        let from = number
            .as_ref()
            .map(|n| n.as_str().to_owned())
            .unwrap_or_else(|| inbound.from.clone());
        let reply = NewReply {
            account,
            provider: inbound.provider,
            provider_message_id: &inbound.provider_message_id,
            from: &from,
            to: &inbound.to,
            body: &inbound.text,
            class: c.class.as_str(),
            tier: c.tier.as_str(),
            matched: c.matched.as_deref(),
            language: c.language,
            matched_message: matched.as_ref().map(|m| m.id),
            matched_campaign,
            review,
            received_at,
        };
        let recorded = self
            .record(account, &reply, &effects, number.as_ref())
            .await?;
        let mut actions = recorded.actions.clone();
        if number.is_none() {
            actions.push("not a phone number: nothing to opt out".into());
        }
        Ok(ReplyOutcome {
            id: Some(recorded.id),
            classification: c.class.as_str().to_owned(),
            tier: c.tier.as_str().to_owned(),
            matched: c.matched,
            duplicate: recorded.duplicate,
            actions,
        })
    }

    /// Records the reply through the writer (group commit, through the opt-out authority),
    /// applies the hand-over rule to a new opt-out, and wakes the dispatcher for any answer
    /// queued.
    async fn record(
        &self,
        account: AccountId,
        reply: &NewReply<'_>,
        effects: &ReplyEffects,
        number: Option<&PhoneNumber>,
    ) -> AppResult<RecordedReply> {
        let (r, wait) = self
            .writer
            .record(&self.optouts, &self.metrics, reply, effects)
            .await?;
        if wait {
            // A message to this number was being sent at the commit (the hand-over rule).
            tokio::time::sleep(crate::optouts::HANDOVER_WAIT).await;
        }
        if !r.duplicate {
            tracing::info!(account = %account, reply = r.id, number = %number.map(|n| n.masked().to_string()).unwrap_or_default(),
                class = reply.class, tier = reply.tier, actions = ?r.actions, "reply recorded");
            self.wakeups.dispatch.notify_one();
            self.wakeups.notify.notify_one();
        }
        Ok(r)
    }

    /// Closes the review of an unclear reply: `confirm` makes it an opt-out (with its
    /// confirmation), `dismiss` lifts the provisional opt-out it caused, if any.
    pub async fn review(
        &self,
        account: AccountId,
        id: i64,
        confirm: bool,
        reviewer: &Actor,
    ) -> AppResult<RecordedReply> {
        let reply = self
            .store
            .reply(account, id)
            .await?
            .ok_or(AppError::NotFound("reply"))?;
        let settings = self.settings.get(account).await?;
        let number = PhoneNumber::from_trusted_e164(&reply.from).ok_or_else(|| {
            AppError::invalid(
                "invalid_field",
                "from",
                "this reply's sender is not a phone number: nothing to review",
            )
        })?;
        let mut effects = ReplyEffects::default();
        let evidence = format!(
            "{} message {} reviewed by {}: {:?}",
            reply.provider, reply.provider_message_id, reviewer, reply.body
        );
        if confirm {
            let groups = match reply.matched_campaign_id {
                Some(c) => {
                    self.store
                        .campaign_groups(stoplist_domain::CampaignId(c))
                        .await?
                }
                None => vec![],
            };
            effects.optout = Some(OptOutCommand {
                number: number.clone(),
                event: OptOutEvent::ReplyOptOut {
                    matched_campaign: reply.matched_campaign_id.is_some(),
                },
                actor: reviewer.clone(),
                reason: None,
                evidence: Some(evidence),
                campaign_groups: groups,
            });
            // One confirmation, and only within 5 minutes of the reply (the FCC's window).
            let window_closes = reply.received_at + CONFIRMATION_WINDOW_MS;
            if settings.confirmation_enabled {
                match (
                    crate::now_ms() <= window_closes,
                    answer_sender(None, &reply.to),
                ) {
                    (false, _) => {
                        effects.confirmation_missed = Some(format!(
                            "confirmation not sent: the 5-minute window after the reply closed at {}",
                            crate::rfc3339(window_closes)
                        ));
                    }
                    (true, Err(e)) => {
                        tracing::warn!(account = %account, reply = id, to = ?reply.to, error = %e,
                            "the number a reviewed reply was sent to is not a sender id: no confirmation is sent");
                        effects.confirmation_missed = Some(format!(
                            "confirmation not sent: the number it was sent to is not a sender id ({e})"
                        ));
                    }
                    (true, Ok(sender)) => {
                        effects.optout_confirmation = Some(Answer {
                            sender_id: sender.as_str().to_owned(),
                            body: settings
                                .confirmation_text
                                .replace("{sender}", sender.as_str()),
                        });
                    }
                }
            }
        } else {
            // Lifts the opt-out only while it is still the provisional one this reply made (a
            // clear STOP or an explicit add since then settled it, and the rules leave it).
            effects.optout = Some(OptOutCommand {
                number: number.clone(),
                event: OptOutEvent::ReviewDismissed,
                actor: reviewer.clone(),
                reason: None,
                evidence: Some(evidence),
                campaign_groups: vec![],
            });
        }
        let verdict = if confirm { "confirmed" } else { "dismissed" };
        self.optouts
            .review_reply(account, id, verdict, &reviewer.label, &effects)
            .await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_joined_up_to_the_cap_and_a_longer_message_is_cut_there() {
        assert_eq!(
            reassemble(["please stop ", "texting me"].into_iter()),
            ("please stop texting me".to_owned(), false)
        );
        let part = "é".repeat(153);
        let eleven: Vec<&str> = std::iter::repeat_n(part.as_str(), 11).collect();
        let (text, cut) = reassemble(eleven.into_iter());
        assert!(cut);
        assert_eq!(text.chars().count(), MAX_CONCATENATED_TEXT);
        let ten: Vec<&str> = std::iter::repeat_n(part.as_str(), 10).collect();
        assert!(!reassemble(ten.into_iter()).1, "ten full parts fit");
    }

    #[test]
    fn an_answer_goes_from_the_matched_sender_or_a_to_that_is_a_sender_id() {
        assert_eq!(
            answer_sender(Some("ACME"), "+61400000000")
                .unwrap()
                .as_str(),
            "ACME"
        );
        assert_eq!(
            answer_sender(None, "+61400000000").unwrap().as_str(),
            "+61400000000"
        );
        assert!(answer_sender(None, "ACME\nINFO forged").is_err());
        assert!(answer_sender(None, "").is_err());
        assert!(answer_sender(None, "A much too long sender").is_err());
    }
}
