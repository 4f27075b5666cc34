//! Outbound notifications (SPEC 3.9): an account may register a URL that is told of every
//! opt-out and opt-in. Each change puts a notification in a durable outbox in the same
//! transaction as the change; this deliverer POSTs it as JSON, signed, and retries with
//! back-off until the endpoint answers 2xx (at most [`MAX_ATTEMPTS`] times).
//!
//! Signature: `X-Stoplist-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
//! "<t>.<body>")>` — the scheme Stripe made familiar: the receiver recomputes it over the
//! raw body and refuses a timestamp older than a few minutes (replays).
//!
//! The endpoint is a URL a user typed, so it passes the outbound policy
//! (`stoplist_providers::outbound`) when it is saved ([`check_endpoint`]) and again at every
//! delivery: an address literal before the request, a name after DNS at each connection.
//! Redirects are not followed: an endpoint that answers 3xx is not delivered to.

use crate::error::{AppError, AppResult};
use crate::lifecycle::{Lifecycle, Wakeups};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use stoplist_domain::AccountId;
use stoplist_providers::Outbound;
use stoplist_store::{PendingNotification, Store};
use tokio::task::JoinSet;

/// Attempts before a notification is marked failed.
pub const MAX_ATTEMPTS: i64 = 8;

/// Notifications claimed at a time (over all accounts).
const BATCH: i64 = 50;

/// The signature header value for `body` at `t` (Unix seconds).
pub fn signature(secret: &str, t: i64, body: &str) -> String {
    let mac = stoplist_providers::sign::hmac_sha256(
        secret.as_bytes(),
        &[t.to_string().as_bytes(), b".", body.as_bytes()],
    );
    format!("t={t},v1={}", hex::encode(mac))
}

/// Checks a notification endpoint's URL when it is saved (the API and the Settings page):
/// an `invalid_field` error on `field` saying what is wrong ("url: must be https").
pub async fn check_endpoint(outbound: &Outbound, field: &str, url: &str) -> AppResult<()> {
    outbound
        .check(url)
        .await
        .map(|_| ())
        .map_err(|refused| AppError::invalid("invalid_field", field, format!("{field}: {refused}")))
}

/// Back-off after `attempts` failures: 10 s doubling, at most an hour.
fn retry_delay_ms(attempts: i64) -> i64 {
    (10_000i64 << attempts.clamp(1, 12).saturating_sub(1)).min(3_600_000)
}

/// The deliverer. Each account's notifications are delivered by a lane of its own, in order,
/// with the endpoint's timeout: an endpoint that hangs holds up only its own account.
pub struct Notifier {
    store: Arc<dyn Store>,
    wakeups: Arc<Wakeups>,
    lifecycle: Arc<Lifecycle>,
    /// Where endpoints may be (checked again before each delivery).
    outbound: Outbound,
    client: reqwest::Client,
}

impl Notifier {
    pub fn new(
        store: Arc<dyn Store>,
        wakeups: Arc<Wakeups>,
        lifecycle: Arc<Lifecycle>,
        outbound: Outbound,
    ) -> anyhow::Result<Notifier> {
        let client = outbound
            .client_builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| anyhow::anyhow!("notifications: no HTTP client: {e}"))?;
        Ok(Notifier {
            store,
            wakeups,
            lifecycle,
            outbound,
            client,
        })
    }

    /// Runs until the process drains, then until the deliveries in flight are done.
    pub async fn run(self: Arc<Self>) {
        let mut lanes: JoinSet<AccountId> = JoinSet::new();
        let mut busy: HashSet<AccountId> = HashSet::new();
        while !self.lifecycle.is_draining() {
            while let Some(done) = lanes.try_join_next() {
                if let Ok(a) = done {
                    busy.remove(&a);
                }
            }
            let exclude: Vec<AccountId> = busy.iter().copied().collect();
            let due = match self
                .store
                .claim_notifications(crate::now_ms(), BATCH, &exclude)
                .await
            {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming notifications failed; will retry");
                    vec![]
                }
            };
            if !due.is_empty() {
                let mut by_account: Vec<(AccountId, Vec<PendingNotification>)> = Vec::new();
                for n in due {
                    match by_account.iter_mut().find(|(a, _)| *a == n.account) {
                        Some((_, list)) => list.push(n),
                        None => by_account.push((n.account, vec![n])),
                    }
                }
                for (account, list) in by_account {
                    busy.insert(account);
                    let me = self.clone();
                    lanes.spawn(async move {
                        for n in &list {
                            if let Err(e) = me.deliver(n).await {
                                tracing::warn!(account = %account, error = %e,
                                    "recording a notification attempt failed; it is retried after its claim lapses");
                            }
                        }
                        account
                    });
                }
                continue;
            }
            tokio::select! {
                _ = self.wakeups.notify.notified() => {}
                Some(Ok(a)) = lanes.join_next(), if !lanes.is_empty() => { busy.remove(&a); }
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = self.lifecycle.drained() => {}
            }
        }
        while lanes.join_next().await.is_some() {}
    }

    /// Delivers one notification and records the attempt. An endpoint the outbound policy
    /// refuses fails at once, without a retry: nothing is sent to it.
    async fn deliver(&self, n: &PendingNotification) -> anyhow::Result<()> {
        let outcome = match self.outbound.check_form(&n.url) {
            Err(refused) => Err((format!("the endpoint URL is refused: {refused}"), false)),
            Ok(url) => self.post(n, url).await,
        };
        let now = crate::now_ms();
        let (error, retry_at) = match outcome {
            Ok(()) => (None, None),
            Err((e, retry)) => {
                let at =
                    (retry && n.attempts < MAX_ATTEMPTS).then(|| now + retry_delay_ms(n.attempts));
                (Some(e), at)
            }
        };
        if let Some(e) = &error {
            tracing::warn!(account = %n.account, notification = n.id, attempts = n.attempts, error = %e,
                "notification not delivered");
        }
        self.store
            .notification_attempt(n.id, error.is_none(), error.as_deref(), retry_at, now)
            .await?;
        Ok(())
    }

    /// POSTs the signed notification: `Err` says why it was not delivered and whether a
    /// retry may help (not for an address the policy refused at connection time).
    async fn post(&self, n: &PendingNotification, url: reqwest::Url) -> Result<(), (String, bool)> {
        let t = crate::now_ms() / 1000;
        let sig = signature(&n.secret, t, &n.payload);
        let result = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("x-stoplist-signature", sig)
            .header("x-stoplist-event", &n.event)
            .body(n.payload.clone())
            .send()
            .await;
        match result {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) if r.status().is_redirection() => Err((
                format!(
                    "the endpoint answered {} (redirects are not followed: register the URL it points to)",
                    r.status()
                ),
                true,
            )),
            Ok(r) => Err((format!("the endpoint answered {}", r.status()), true)),
            Err(e) => match stoplist_providers::outbound::refusal(&e) {
                Some(refused) => Err((format!("the endpoint URL is refused: {refused}"), false)),
                None => Err((format!("could not reach the endpoint: {e}"), true)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_signature_is_hmac_sha256_over_time_dot_body() {
        // Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec
        assert_eq!(
            super::signature("whsec", 1_700_000_000, r#"{"a":1}"#),
            "t=1700000000,v1=8ad37ba156048ae0e0a5533c75cdf26fee88b07f93cb57ee4c80adb053012032"
        );
    }

    #[test]
    fn retries_back_off_from_ten_seconds_to_an_hour() {
        assert_eq!(super::retry_delay_ms(1), 10_000);
        assert_eq!(super::retry_delay_ms(2), 20_000);
        assert_eq!(super::retry_delay_ms(12), 3_600_000);
    }
}
