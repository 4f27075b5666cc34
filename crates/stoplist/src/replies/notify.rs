//! Outbound notifications (SPEC 3.9): an account may register a URL that is told of every
//! opt-out and opt-in. Each change puts a notification in a durable outbox in the same
//! transaction as the change; this deliverer POSTs it as JSON, signed, and retries with
//! back-off until the endpoint answers 2xx (at most [`MAX_ATTEMPTS`] times).
//!
//! Signature: `X-Stoplist-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
//! "<t>.<body>")>` — the scheme Stripe made familiar: the receiver recomputes it over the
//! raw body and refuses a timestamp older than a few minutes (replays).

use crate::state::AppState;
use std::time::Duration;

/// Attempts before a notification is marked failed.
pub const MAX_ATTEMPTS: i64 = 8;

/// The signature header value for `body` at `t` (Unix seconds).
pub fn signature(secret: &str, t: i64, body: &str) -> String {
    let mac = stoplist_providers::sign::hmac_sha256(
        secret.as_bytes(),
        &[t.to_string().as_bytes(), b".", body.as_bytes()],
    );
    format!("t={t},v1={}", hex::encode(mac))
}

/// Back-off after `attempts` failures: 10 s doubling, at most an hour.
fn retry_delay_ms(attempts: i64) -> i64 {
    (10_000i64 << attempts.clamp(1, 12).saturating_sub(1)).min(3_600_000)
}

/// Starts the deliverer; it runs until aborted.
pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = match reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "notifications disabled: no HTTP client");
                return;
            }
        };
        loop {
            match deliver_due(&state, &client).await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "delivering notifications failed; will retry"),
            }
            let _ =
                tokio::time::timeout(Duration::from_secs(1), state.notify_wakeup.notified()).await;
        }
    })
}

/// Delivers the notifications that are due; answers how many were tried.
pub async fn deliver_due(state: &AppState, client: &reqwest::Client) -> anyhow::Result<usize> {
    let due = state.store.claim_notifications(crate::now_ms(), 50).await?;
    for n in &due {
        let t = crate::now_ms() / 1000;
        let sig = signature(&n.secret, t, &n.payload);
        let result = client
            .post(&n.url)
            .header("content-type", "application/json")
            .header("x-stoplist-signature", sig)
            .header("x-stoplist-event", &n.event)
            .body(n.payload.clone())
            .send()
            .await;
        let error = match result {
            Ok(r) if r.status().is_success() => None,
            Ok(r) => Some(format!("the endpoint answered {}", r.status())),
            Err(e) => Some(format!("could not reach the endpoint: {e}")),
        };
        let now = crate::now_ms();
        let retry_at = match &error {
            Some(_) if n.attempts < MAX_ATTEMPTS => Some(now + retry_delay_ms(n.attempts)),
            _ => None,
        };
        if let Some(e) = &error {
            tracing::warn!(account = %n.account, notification = n.id, attempts = n.attempts, error = %e,
                "notification not delivered");
        }
        state
            .store
            .notification_attempt(n.id, error.is_none(), error.as_deref(), retry_at, now)
            .await?;
    }
    Ok(due.len())
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
