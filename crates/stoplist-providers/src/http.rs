//! The HTTP side shared by the connectors: one pooled client per connector with bounded
//! timeouts, and the translation of transport failures and status codes that mean the same
//! at every provider (timeouts, refused connections, 429, 5xx) into [`SendError`].

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::SendError;
use crate::outbound::{self, Outbound};

/// Connecting (TCP and TLS) must finish within this; the whole request has its own bound.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Default bound on a whole request, answer included.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// Longest Retry-After we pass on: a provider asking for hours is treated as "later".
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3_600);

/// A pooled HTTP client whose connects take at most [`CONNECT_TIMEOUT`], whose requests
/// take at most `timeout` (a zero timeout is raised to one millisecond), which connects only
/// where `outbound` allows and follows no redirect ([`Outbound::client_builder`]).
pub(crate) fn client(timeout: Duration, outbound: &Outbound) -> reqwest::Client {
    let timeout = timeout.max(Duration::from_millis(1));
    #[allow(clippy::expect_used)]
    outbound
        .client_builder()
        .connect_timeout(CONNECT_TIMEOUT.min(timeout))
        .timeout(timeout)
        .user_agent(concat!("stoplist/", env!("CARGO_PKG_VERSION")))
        .build()
        // Building fails only if the TLS backend cannot initialise; ours is rustls with the
        // ring provider and compiled-in webpki roots, which reads no file and cannot fail.
        .expect("reqwest client with rustls/ring and bundled roots")
}

/// A transport failure (no HTTP answer) as an operator would want to read it. A host the
/// outbound policy refused is permanent: retrying reaches the same address.
pub(crate) fn transport_error(provider: &str, timeout: Duration, e: &reqwest::Error) -> SendError {
    if let Some(refused) = outbound::refusal(e) {
        return refused_error(provider, refused);
    }
    if e.is_builder() {
        return SendError::Permanent {
            code: Some("config".into()),
            message: format!("the {provider} request could not be built (check the base URL): {e}"),
        };
    }
    let (code, message) = if e.is_timeout() {
        (
            "timeout",
            format!(
                "no answer from {provider} within {} ms; the message may or may not have been accepted",
                timeout.as_millis()
            ),
        )
    } else if e.is_connect() {
        (
            "connect",
            format!("could not connect to {provider} (network down or wrong base URL): {e}"),
        )
    } else {
        (
            "transport",
            format!("the connection to {provider} failed before an answer: {e}"),
        )
    };
    SendError::Transient {
        code: Some(code.into()),
        message,
        retry_after: None,
    }
}

/// A base URL the outbound policy refuses, as a send error (nothing was sent).
pub(crate) fn refused_error(provider: &str, refused: &outbound::Refused) -> SendError {
    SendError::Permanent {
        code: Some("refused_address".into()),
        message: format!("the {provider} base URL is refused, nothing was sent: {refused}"),
    }
}

/// The Retry-After header: delta-seconds or an HTTP date (RFC 9110 section 10.2.3), capped.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let wait = match value.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            let at = httpdate::parse_http_date(value).ok()?;
            at.duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO)
        }
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// Errors that mean the same at every provider: 429 and 5xx are transient, with the
/// provider's code and words when it gave them.
pub(crate) fn status_is_transient(status: u16) -> bool {
    status == 429 || status == 408 || status >= 500
}

/// Cuts a provider's body to a length fit for a log line or an error message.
pub(crate) fn excerpt(body: &[u8]) -> String {
    const MAX: usize = 200;
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.chars().count() <= MAX {
        text.to_string()
    } else {
        let cut: String = text.chars().take(MAX).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_reads_seconds_and_caps_them() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("999999"));
        assert_eq!(retry_after(&h), Some(MAX_RETRY_AFTER));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }
}
