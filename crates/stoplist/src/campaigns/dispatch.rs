//! The dispatcher: claims due messages from the durable queue, checks each against the
//! opt-out list immediately before it is sent (SPEC 3.1), sends it through the account's
//! connector at the account's rate, and records what happened.
//!
//! **Fair tenants.** Each account has its own lanes: one for its answers (confirmations and
//! HELP texts), one for its campaign messages. A lane takes one batch of that account's due
//! messages, sends them with its own concurrency and its connector's own timeout, and
//! records their outcomes; while it runs, the claim leaves that account's messages of that
//! lane to it. So a provider that hangs for one account holds only that account's lanes:
//! every other account's messages are claimed and sent by lanes of their own, and an
//! account's own confirmations never wait behind its own campaign.
//!
//! **The hand-over rule.** The check before dispatch must come within
//! [`HANDOVER_BOUND`] of the hand-over to the connector, or it is made again; with the
//! opt-out authority's wait ([`crate::optouts::OptOuts::handover`]) this puts every message
//! handed over without seeing an opt-out before that opt-out's acknowledgement.
//!
//! A pause or cancel takes effect before the next message, not after the claimed batch: the
//! same check reads the campaign's status, and a message whose campaign no longer sends is
//! released unsent (back to `held`, or `cancelled`).
//!
//! **Shutdown.** When the process drains, no new batch is claimed; the lanes finish the
//! messages they claimed. Whatever a deadline cuts short is settled by [`Dispatcher::release`]:
//! messages never handed to a connector go back to the queue, those handed over without an
//! answer are failed as `interrupted` (their fate is unknown, and sending twice is the worse
//! error). After a kill -9, a dead instance's claims are failed `interrupted` by any live one
//! once its heartbeat is older than the instance lease (`instance_lease_seconds`): at most
//! one batch per lane.
//!
//! Every instance runs one. Claims are exclusive (see the store's `campaigns` module), so with
//! several instances on one PostgreSQL each message is dispatched once. A transient provider
//! error is retried with exponential back-off (or the provider's Retry-After); a permanent one
//! is recorded with the provider's code; a "recipient opted out" rejection puts the number on
//! the opt-out list with source `carrier` and the code as evidence.

use super::connectors::Connectors;
use super::files::CampaignFiles;
use crate::lifecycle::{Lifecycle, Wakeups};
use crate::metrics::Metrics;
use crate::optouts::{HANDOVER_BOUND, OptOuts};
use futures_util::StreamExt;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use stoplist_domain::rules::{AddedBy, OptOutEvent};
use stoplist_domain::{AccountId, Actor, MessageId};
use stoplist_providers::{OutboundSms, SendError};
use stoplist_store::{Busy, ClaimedMessage, OptOutCommand, Outcome, Store};
use tokio::task::JoinSet;

/// Messages claimed at a time (over all accounts; each account's share is one lane's batch).
const BATCH: i64 = 100;
/// Provider calls in flight at once in one lane.
const LANE_CONCURRENCY: usize = 32;
/// Claims by a dispatcher that never had a heartbeat (an older version) are dead after this.
const LEASE: Duration = Duration::from_secs(300);
/// Transient failures are retried this many times in all.
pub const MAX_ATTEMPTS: i64 = 6;

/// Which lane of its account a message goes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Lane {
    /// Confirmations and HELP answers.
    Answers,
    /// Campaign messages.
    Campaign,
}

impl Lane {
    fn of(m: &ClaimedMessage) -> Lane {
        if m.kind.blocked_by_optout() {
            Lane::Campaign
        } else {
            Lane::Answers
        }
    }
}

/// What the dispatcher needs from the rest of the application.
pub struct Deps {
    pub store: Arc<dyn Store>,
    pub connectors: Arc<Connectors>,
    pub optouts: Arc<OptOuts>,
    pub metrics: Arc<Metrics>,
    pub wakeups: Arc<Wakeups>,
    pub lifecycle: Arc<Lifecycle>,
    /// Removes ended campaigns' recipients files, at each housekeeping.
    pub files: Arc<CampaignFiles>,
}

/// The dispatcher, built once with what it needs.
pub struct Dispatcher {
    store: Arc<dyn Store>,
    connectors: Arc<Connectors>,
    optouts: Arc<OptOuts>,
    metrics: Arc<Metrics>,
    wakeups: Arc<Wakeups>,
    lifecycle: Arc<Lifecycle>,
    files: Arc<CampaignFiles>,
    /// This instance's id: its claims carry it, its heartbeat keeps them alive.
    owner: String,
    /// How often an idle dispatcher looks for messages other instances queued.
    poll: Duration,
    /// An instance whose heartbeat is this old is dead (the heartbeat runs six times as often).
    lease: Duration,
    limits: RateLimits,
    /// Messages handed to a connector whose outcome is not recorded yet.
    handed: Mutex<HashSet<MessageId>>,
}

impl Dispatcher {
    /// `owner` is this instance's id (its claims carry it); `poll` how often an idle
    /// dispatcher looks for messages other instances queued; `lease` how old a heartbeat
    /// makes an instance dead.
    pub fn new(deps: Deps, owner: String, poll: Duration, lease: Duration) -> Dispatcher {
        let Deps {
            store,
            connectors,
            optouts,
            metrics,
            wakeups,
            lifecycle,
            files,
        } = deps;
        Dispatcher {
            store,
            connectors,
            optouts,
            metrics,
            wakeups,
            lifecycle,
            files,
            owner,
            poll,
            lease,
            limits: RateLimits::default(),
            handed: Mutex::new(HashSet::new()),
        }
    }

    /// This instance's id.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Runs until the process drains, then until its lanes have finished what they claimed.
    /// (The caller bounds the drain with the shutdown deadline, then calls
    /// [`Dispatcher::release`].)
    pub async fn run(self: Arc<Self>) {
        let mut lanes: JoinSet<(AccountId, Lane)> = JoinSet::new();
        let mut busy: HashSet<(AccountId, Lane)> = HashSet::new();
        let mut next_housekeeping = Instant::now();
        while !self.lifecycle.is_draining() {
            while let Some(done) = lanes.try_join_next() {
                if let Ok(lane) = done {
                    busy.remove(&lane);
                }
            }
            if Instant::now() >= next_housekeeping {
                next_housekeeping = Instant::now() + self.lease / 6;
                self.housekeeping().await;
            }
            let claimed = match self.claim(&busy).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming messages failed; will retry");
                    vec![]
                }
            };
            if !claimed.is_empty() {
                for (lane, batch) in group(claimed) {
                    busy.insert(lane);
                    let me = self.clone();
                    lanes.spawn(async move {
                        if let Err(e) = me.run_lane(batch).await {
                            tracing::warn!(account = %lane.0, error = %e, "a batch of messages failed to record; its claims are settled as interrupted later");
                        }
                        lane
                    });
                }
                continue;
            }
            tokio::select! {
                _ = self.wakeups.dispatch.notified() => {}
                Some(Ok(lane)) = lanes.join_next(), if !lanes.is_empty() => { busy.remove(&lane); }
                _ = tokio::time::sleep(self.poll) => {}
                _ = self.lifecycle.drained() => {}
            }
        }
        let left = lanes.len();
        if left > 0 {
            tracing::info!(
                lanes = left,
                "draining: finishing the messages already claimed"
            );
        }
        while lanes.join_next().await.is_some() {}
    }

    /// Claims one batch, leaving the lanes that are busy to themselves.
    async fn claim(
        &self,
        busy: &HashSet<(AccountId, Lane)>,
    ) -> anyhow::Result<Vec<ClaimedMessage>> {
        let exclude = Busy {
            answers: busy
                .iter()
                .filter(|(_, l)| *l == Lane::Answers)
                .map(|(a, _)| *a)
                .collect(),
            campaigns: busy
                .iter()
                .filter(|(_, l)| *l == Lane::Campaign)
                .map(|(a, _)| *a)
                .collect(),
        };
        Ok(self
            .store
            .claim_messages(&self.owner, crate::now_ms(), BATCH, &exclude)
            .await?)
    }

    /// Claims and sends one batch in every lane with due messages, and waits for them (the
    /// CLI's loop); answers how many messages were handled.
    pub async fn run_once(self: &Arc<Self>) -> anyhow::Result<usize> {
        self.housekeeping().await;
        let claimed = self.claim(&HashSet::new()).await?;
        let n = claimed.len();
        let mut lanes = JoinSet::new();
        for (_, batch) in group(claimed) {
            let me = self.clone();
            lanes.spawn(async move { me.run_lane(batch).await });
        }
        while let Some(r) = lanes.join_next().await {
            r.map_err(|e| anyhow::anyhow!("a dispatch lane stopped: {e}"))??;
        }
        if (n as i64) < BATCH {
            self.store.finish_campaigns(crate::now_ms()).await?;
        }
        Ok(n)
    }

    /// The heartbeat, dead instances' claims, finished campaigns and their files.
    async fn housekeeping(&self) {
        let now = crate::now_ms();
        if let Err(e) = self.store.heartbeat(&self.owner, now).await {
            tracing::warn!(error = %e, "recording this instance's heartbeat failed");
        }
        let dead_before = now - self.lease.as_millis() as i64;
        let lease_before = now - LEASE.as_millis() as i64;
        match self
            .store
            .fail_interrupted(dead_before, lease_before, now)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                messages = n,
                "messages were being sent when their instance stopped; marked failed (interrupted: fate unknown), not resent"
            ),
            Err(e) => tracing::warn!(error = %e, "checking for interrupted sends failed"),
        }
        if let Err(e) = self.store.finish_campaigns(now).await {
            tracing::warn!(error = %e, "closing finished campaigns failed");
        }
        if let Err(e) = self.files.remove_ended(now).await {
            tracing::warn!(error = %e, "removing ended campaigns' recipients files failed; will retry");
        }
    }

    /// Sends one lane's batch (one account's messages of one kind) and records the outcomes.
    async fn run_lane(&self, batch: Vec<ClaimedMessage>) -> anyhow::Result<()> {
        let outcomes: Vec<_> = futures_util::stream::iter(batch)
            .map(|m| async move {
                let outcome = self.dispatch_one(&m).await;
                (m, outcome)
            })
            .buffer_unordered(LANE_CONCURRENCY)
            .collect()
            .await;
        let now = crate::now_ms();
        let records: Vec<_> = outcomes.iter().map(|(m, o)| (m.id, o.clone())).collect();
        self.store.record_outcomes(&records, now).await?;
        {
            let mut handed = self.handed.lock().unwrap_or_else(|p| p.into_inner());
            for (m, _) in &outcomes {
                handed.remove(&m.id);
            }
        }
        for (m, o) in &outcomes {
            self.metrics.message_outcome(match o {
                Outcome::Sent { .. } => "sent",
                Outcome::Retry { .. } => "retry",
                Outcome::Failed { .. } => "failed",
                Outcome::Suppressed => "suppressed",
                Outcome::Released => "released",
            });
            if let Outcome::Failed { code, message } = o {
                tracing::info!(account = %m.account, message_id = %m.id, number = %m.number.masked(),
                    code = code.as_deref().unwrap_or(""), error = %message, "message failed");
            }
        }
        Ok(())
    }

    /// Sends one claimed message, or says why not.
    async fn dispatch_one(&self, m: &ClaimedMessage) -> Outcome {
        let connector = match self.connectors.for_account(m.account).await {
            Ok(c) => c,
            Err(e) => {
                return Outcome::Retry {
                    at: crate::now_ms() + backoff_ms(m.attempts, None),
                    code: Some("connector".into()),
                    message: format!("the account's connector could not be loaded: {e}"),
                };
            }
        };
        self.limits
            .wait((m.account, Lane::of(m)), connector.rate_per_second)
            .await;
        if let Some(not_sent) = self.check_before_dispatch(m).await {
            return not_sent;
        }
        self.handed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(m.id);
        let sms = OutboundSms {
            to: m.number.as_str().to_owned(),
            from: m.sender_id.clone(),
            text: m.body.clone(),
            reference: m.id.to_string(),
        };
        match connector.connector.send(&sms).await {
            Ok(accepted) => Outcome::Sent {
                provider: connector.connector.kind().to_owned(),
                provider_id: accepted.provider_id,
            },
            Err(SendError::Transient {
                code,
                message,
                retry_after,
            }) if m.attempts < MAX_ATTEMPTS => Outcome::Retry {
                at: crate::now_ms() + backoff_ms(m.attempts, retry_after),
                code,
                message,
            },
            Err(SendError::Transient { code, message, .. }) => Outcome::Failed {
                code,
                message: format!("gave up after {} attempts: {message}", m.attempts),
            },
            Err(SendError::Permanent { code, message }) => Outcome::Failed { code, message },
            Err(SendError::OptedOut { code, message }) => {
                self.carrier_optout(m, connector.connector.kind(), &code)
                    .await;
                Outcome::Failed {
                    code: Some(code),
                    message,
                }
            }
        }
    }

    /// The check immediately before dispatch (SPEC 3.1): the store is the truth, so an
    /// opt-out made by any instance a moment ago stops this message; so does a pause or
    /// cancel (the message is then released unsent). `None`: send it now. The check is made
    /// again when it took longer than [`HANDOVER_BOUND`] (see the module doc).
    async fn check_before_dispatch(&self, m: &ClaimedMessage) -> Option<Outcome> {
        if m.campaign.is_none() && !m.kind.blocked_by_optout() {
            return None;
        }
        loop {
            let started = Instant::now();
            match self.store.check_before_dispatch(m).await {
                Ok(check) if !check.campaign_sends() => return Some(Outcome::Released),
                Ok(check) if check.opted_out && m.kind.blocked_by_optout() => {
                    return Some(Outcome::Suppressed);
                }
                Ok(_) if started.elapsed() <= HANDOVER_BOUND => return None,
                Ok(_) => continue,
                Err(e) => {
                    return Some(Outcome::Retry {
                        at: crate::now_ms() + backoff_ms(m.attempts, None),
                        code: Some("store".into()),
                        message: format!("the check before dispatch failed: {e}"),
                    });
                }
            }
        }
    }

    /// A provider refused the number because it opted out at the carrier: it goes on the list.
    async fn carrier_optout(&self, m: &ClaimedMessage, provider: &str, code: &str) {
        let cmd = OptOutCommand {
            number: m.number.clone(),
            event: OptOutEvent::Added(AddedBy::Carrier),
            actor: Actor::system(&format!("{provider} connector")),
            reason: None,
            evidence: Some(format!("{provider} error {code} for message {}", m.id)),
            campaign_groups: vec![],
        };
        if let Err(e) = self.optouts.apply(m.account, &cmd).await {
            tracing::warn!(account = %m.account, number = %m.number.masked(), error = %e,
                "recording a carrier opt-out failed");
        }
    }

    /// After a shutdown's deadline cut the lanes short: this instance's claims never handed to
    /// a connector go back to the queue; those handed over without an answer are failed
    /// `interrupted` (fate unknown).
    pub async fn release(&self) -> anyhow::Result<(u64, u64)> {
        let handed: Vec<MessageId> = self
            .handed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .copied()
            .collect();
        Ok(self
            .store
            .release_claims(&self.owner, &handed, crate::now_ms())
            .await?)
    }
}

/// Splits claimed messages into lanes, keeping their order.
fn group(claimed: Vec<ClaimedMessage>) -> Vec<((AccountId, Lane), Vec<ClaimedMessage>)> {
    let mut lanes: Vec<((AccountId, Lane), Vec<ClaimedMessage>)> = Vec::new();
    let mut at: HashMap<(AccountId, Lane), usize> = HashMap::new();
    for m in claimed {
        let key = (m.account, Lane::of(&m));
        match at.get(&key) {
            Some(&i) => lanes[i].1.push(m),
            None => {
                at.insert(key, lanes.len());
                lanes.push((key, vec![m]));
            }
        }
    }
    lanes
}

/// Exponential back-off from 2 s, at most 10 minutes, or the provider's Retry-After.
fn backoff_ms(attempts: i64, retry_after: Option<Duration>) -> i64 {
    if let Some(d) = retry_after {
        return d.as_millis().min(600_000) as i64;
    }
    let exp = attempts.clamp(1, 10) as u32 - 1;
    (2_000i64 << exp).min(600_000)
}

/// Per-lane pacing: each account's messages are spaced to its rate (answers apart from
/// campaigns, so that a confirmation never waits behind a campaign's reserved slots).
#[derive(Default)]
struct RateLimits {
    next: Mutex<HashMap<(AccountId, Lane), Instant>>,
}

impl RateLimits {
    /// Waits for the lane's next slot; `0` means no limit.
    async fn wait(&self, lane: (AccountId, Lane), per_second: u32) {
        if per_second == 0 {
            return;
        }
        let gap = Duration::from_secs(1) / per_second;
        let at = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let slot = next.get(&lane).copied().unwrap_or(now).max(now);
            next.insert(lane, slot + gap);
            slot
        };
        tokio::time::sleep_until(at.into()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::backoff_ms;
    use std::time::Duration;

    #[test]
    fn backoff_doubles_from_two_seconds_and_caps_at_ten_minutes() {
        assert_eq!(backoff_ms(1, None), 2_000);
        assert_eq!(backoff_ms(2, None), 4_000);
        assert_eq!(backoff_ms(5, None), 32_000);
        assert_eq!(backoff_ms(10, None), 600_000);
    }

    #[test]
    fn backoff_follows_the_providers_retry_after() {
        assert_eq!(backoff_ms(1, Some(Duration::from_secs(7))), 7_000);
    }
}
