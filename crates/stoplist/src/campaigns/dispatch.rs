//! The dispatcher: claims due messages from the durable queue, checks each against the
//! opt-out list immediately before it is sent (SPEC 3.1), sends it through the account's
//! connector at the account's rate, and records what happened.
//!
//! A pause or cancel takes effect before the next message, not after the claimed batch: the
//! same check reads the campaign's status, and a message whose campaign no longer sends is
//! released unsent (back to `held`, or `cancelled`). Messages already handed to the provider
//! when the pause lands are sent; nothing else is.
//!
//! Every instance runs one. Claims are exclusive (see the store's `campaigns` module), so with
//! several instances on one PostgreSQL each message is dispatched once. Outcomes are written
//! one transaction per batch, so a batch costs two commits whatever its size. A transient
//! provider error is retried with exponential back-off (or the provider's Retry-After); a
//! permanent one is recorded with the provider's code; a "recipient opted out" rejection puts
//! the number on the opt-out list with source `carrier` and the code as evidence.

use crate::state::AppState;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use stoplist_domain::rules::{AddedBy, OptOutEvent};
use stoplist_domain::{AccountId, Actor};
use stoplist_providers::{OutboundSms, SendError};
use stoplist_store::{ClaimedMessage, OptOutCommand, Outcome};
use tokio::sync::Mutex;

/// Messages claimed at a time.
const BATCH: i64 = 100;
/// Provider calls in flight at once.
const CONCURRENCY: usize = 32;
/// A claim older than this whose outcome was never recorded belongs to a dispatcher that
/// stopped (a batch takes at most a few provider timeouts).
const LEASE: Duration = Duration::from_secs(300);
/// Transient failures are retried this many times in all.
pub const MAX_ATTEMPTS: i64 = 6;

/// Starts the dispatcher; it runs until the task is aborted.
pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let owner = format!("{}-{}", std::process::id(), crate::auth::random_hex(6));
        let limits = RateLimits::default();
        let mut next_housekeeping = Instant::now();
        loop {
            if Instant::now() >= next_housekeeping {
                next_housekeeping = Instant::now() + Duration::from_secs(5);
                housekeeping(&state).await;
            }
            match run_batch(&state, &owner, &limits).await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "dispatching failed; will retry"),
            }
            let idle = Duration::from_millis(state.config.dispatch_poll_ms.max(10));
            let _ = tokio::time::timeout(idle, state.dispatch_wakeup.notified()).await;
        }
    })
}

/// Fails claims of stopped dispatchers and closes finished campaigns.
async fn housekeeping(state: &AppState) {
    let now = crate::now_ms();
    match state
        .store
        .fail_interrupted(now - LEASE.as_millis() as i64, now)
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            messages = n,
            "messages were being sent when a dispatcher stopped; marked failed (interrupted), not resent"
        ),
        Err(e) => tracing::warn!(error = %e, "checking for interrupted sends failed"),
    }
    if let Err(e) = state.store.finish_campaigns(now).await {
        tracing::warn!(error = %e, "closing finished campaigns failed");
    }
}

/// Claims, sends and records one batch; answers how many messages it handled.
pub async fn run_batch(
    state: &AppState,
    owner: &str,
    limits: &RateLimits,
) -> anyhow::Result<usize> {
    let claimed = state
        .store
        .claim_messages(owner, crate::now_ms(), BATCH)
        .await?;
    if claimed.is_empty() {
        return Ok(0);
    }
    let n = claimed.len();
    let outcomes: Vec<_> = futures_util::stream::iter(claimed)
        .map(|m| async move {
            let outcome = dispatch_one(state, limits, &m).await;
            (m, outcome)
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let now = crate::now_ms();
    let records: Vec<_> = outcomes.iter().map(|(m, o)| (m.id, o.clone())).collect();
    state.store.record_outcomes(&records, now).await?;
    if (n as i64) < BATCH {
        // The queue ran dry: close finished campaigns now rather than at the next check.
        state.store.finish_campaigns(now).await?;
    }
    for (m, o) in &outcomes {
        state.metrics.message_outcome(match o {
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
    Ok(n)
}

/// Sends one claimed message, or says why not.
async fn dispatch_one(state: &AppState, limits: &RateLimits, m: &ClaimedMessage) -> Outcome {
    let connector = match super::connectors::for_account(state, m.account).await {
        Ok(c) => c,
        Err(e) => {
            return Outcome::Retry {
                at: crate::now_ms() + backoff_ms(m.attempts, None),
                code: Some("connector".into()),
                message: format!("the account's connector could not be loaded: {e}"),
            };
        }
    };
    limits.wait(m.account, connector.rate_per_second).await;
    // The check immediately before dispatch (SPEC 3.1): the store is the truth, so an opt-out
    // made by any instance a moment ago stops this message; so does a pause or cancel, which
    // is what makes them take effect before every message rather than after the batch
    // claimed with this one (the unsent rest is released, see `Outcome::Released`). One query
    // answers both.
    if m.campaign.is_some() || m.kind.blocked_by_optout() {
        match state.store.check_before_dispatch(m).await {
            Ok(check) if !check.campaign_sends() => return Outcome::Released,
            Ok(check) if check.opted_out && m.kind.blocked_by_optout() => {
                return Outcome::Suppressed;
            }
            Ok(_) => {}
            Err(e) => {
                return Outcome::Retry {
                    at: crate::now_ms() + backoff_ms(m.attempts, None),
                    code: Some("store".into()),
                    message: format!("the check before dispatch failed: {e}"),
                };
            }
        }
    }
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
            carrier_optout(state, m, connector.connector.kind(), &code).await;
            Outcome::Failed {
                code: Some(code),
                message,
            }
        }
    }
}

/// A provider refused the number because it opted out at the carrier: it goes on the list.
async fn carrier_optout(state: &AppState, m: &ClaimedMessage, provider: &str, code: &str) {
    let cmd = OptOutCommand {
        number: m.number.clone(),
        event: OptOutEvent::Added(AddedBy::Carrier),
        actor: Actor::system(&format!("{provider} connector")),
        reason: None,
        evidence: Some(format!("{provider} error {code} for message {}", m.id)),
        campaign_groups: vec![],
    };
    if let Err(e) = crate::optouts::apply(state, m.account, &cmd).await {
        tracing::warn!(account = %m.account, number = %m.number.masked(), error = %e,
            "recording a carrier opt-out failed");
    }
}

/// Exponential back-off from 2 s, at most 10 minutes, or the provider's Retry-After.
fn backoff_ms(attempts: i64, retry_after: Option<Duration>) -> i64 {
    if let Some(d) = retry_after {
        return d.as_millis().min(600_000) as i64;
    }
    let exp = attempts.clamp(1, 10) as u32 - 1;
    (2_000i64 << exp).min(600_000)
}

/// Per-account pacing: each account's messages are spaced to its rate.
#[derive(Default)]
pub struct RateLimits {
    next: Mutex<HashMap<AccountId, Instant>>,
}

impl RateLimits {
    /// Waits for the account's next slot; `0` means no limit.
    pub async fn wait(&self, account: AccountId, per_second: u32) {
        if per_second == 0 {
            return;
        }
        let gap = Duration::from_secs(1) / per_second;
        let at = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let slot = next.get(&account).copied().unwrap_or(now).max(now);
            next.insert(account, slot + gap);
            slot
        };
        tokio::time::sleep_until(at.into()).await;
    }
}

/// Shared handle for the connector of one account, with its pacing.
pub struct AccountConnector {
    pub connector: Box<dyn stoplist_providers::Connector>,
    pub rate_per_second: u32,
}

/// The type the connector cache hands out.
pub type SharedConnector = Arc<AccountConnector>;

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
