//! What goes over the wire between stoplist and SMS providers.
//!
//! This crate owns the providers' formats: how a campaign message is sent (Twilio's Messages
//! API, SMSGlobal's REST API, or the `log` connector that sends nothing), how a provider's
//! answer is read into [`Accepted`] or a [`SendError`] an operator can act on, and how the
//! providers' webhooks — delivery receipts and inbound replies (Twilio, SMSGlobal, Vonage and
//! stoplist's generic JSON form) — are parsed into [`Receipt`] and [`InboundSms`].
//!
//! It owns no queue, no database, no HTTP routes and no clock: the application decides when to
//! send and retry, stores what these functions return, and answers the webhooks. Every parser
//! here is a pure function of what the provider sent. With the `fake` feature, the `fake` module runs a
//! local provider that speaks Twilio's and SMSGlobal's send APIs for tests and benchmarks.
//!
//! Field names and shapes come from each provider's documentation; the URL is cited beside
//! each shape.

mod civil;
mod http;
mod params;

pub mod generic;
pub mod log;
pub mod outbound;
pub mod settings;
pub mod sign;
pub mod smsglobal;
pub mod twilio;
pub mod vonage;

#[cfg(feature = "fake")]
pub mod fake;

use std::time::Duration;

pub use log::LogConnector;
pub use outbound::Outbound;
pub use settings::{ConfigError, ConnectorSettings, connector};
pub use smsglobal::{SmsGlobalConfig, SmsGlobalConnector};
pub use twilio::{TwilioConfig, TwilioConnector};

/// One message to send. The connector sends it as given: the opt-out check, the sender id
/// policy and the segment count are the application's business.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundSms {
    /// Recipient in E.164 with a leading `+` (for example `+61412345678`).
    pub to: String,
    /// Sender id: a number in E.164 or an alphanumeric sender id.
    pub from: String,
    /// Message text.
    pub text: String,
    /// stoplist's own message id, logged with the send so that receipts can be matched.
    pub reference: String,
}

/// A provider took the message. `provider_id` is the id its delivery receipts will carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The provider's message id (Twilio `SM…` sid, SMSGlobal message id, `log-<reference>`).
    pub provider_id: String,
    /// The provider's status word at acceptance (`queued`, `sent`, …), as it sent it.
    pub status: Option<String>,
}

/// Why a send did not go through, in three kinds the dispatcher treats differently.
///
/// Every message is written for an operator: it says what happened and, where it helps, what
/// to check. `code` is the provider's own error code when it gave one (Twilio `21211`), or a
/// short word of ours (`timeout`, `connect`, `http_500`, `bad_response`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth retrying later: a timeout, a refused connection, a 5xx, a 429 or a provider's
    /// throttling code. `retry_after` is the provider's Retry-After when it gave one.
    ///
    /// A timeout after the request left may mean the provider accepted the message anyway;
    /// neither Twilio's nor SMSGlobal's send API offers an idempotency key, so a retry can in
    /// rare cases send twice. The dispatcher decides whether to retry.
    #[error("{message}")]
    Transient {
        /// Provider code or one of ours (`timeout`, `connect`, `http_503`).
        code: Option<String>,
        /// What happened, for an operator.
        message: String,
        /// How long the provider asked us to wait, when it said.
        retry_after: Option<Duration>,
    },
    /// Retrying the same message will not help: wrong credentials, an invalid number, a sender
    /// id the provider refuses, no credit, a base URL that is not a URL, or an answer we could
    /// not read (`bad_response`, see the connectors' docs for why that one is not retried).
    #[error("{message}")]
    Permanent {
        /// Provider code or one of ours (`auth`, `bad_response`, `http_404`).
        code: Option<String>,
        /// What happened, for an operator.
        message: String,
    },
    /// The provider refused because the recipient opted out at the carrier (Twilio 21610 and
    /// its equivalents): the application records a carrier opt-out for the number.
    #[error("{message}")]
    OptedOut {
        /// The provider's code (`21610` for Twilio).
        code: String,
        /// What happened, for an operator.
        message: String,
    },
}

impl SendError {
    /// The provider's (or our) error code, whatever the kind.
    pub fn code(&self) -> Option<&str> {
        match self {
            SendError::Transient { code, .. } | SendError::Permanent { code, .. } => {
                code.as_deref()
            }
            SendError::OptedOut { code, .. } => Some(code),
        }
    }

    /// True for [`SendError::Transient`]: the dispatcher may try again later.
    pub fn is_transient(&self) -> bool {
        matches!(self, SendError::Transient { .. })
    }
}

/// Sends messages through one provider account. Implementations are cheap to share across
/// tasks (`Send + Sync`) and keep their HTTP connections pooled; `send` may be called
/// concurrently.
#[async_trait::async_trait]
pub trait Connector: Send + Sync {
    /// The connector's kind as stored in settings: `log`, `twilio` or `smsglobal`.
    fn kind(&self) -> &'static str;
    /// Sends one message. Never retries by itself: one call is at most one request.
    async fn send(&self, sms: &OutboundSms) -> Result<Accepted, SendError>;
}

/// A delivery receipt (status callback) for a message we sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The id the provider gave at acceptance ([`Accepted::provider_id`]).
    pub provider_id: String,
    /// Where the message is now.
    pub status: ReceiptStatus,
    /// The provider's error code when the message failed (`None` for success codes).
    pub error_code: Option<String>,
    /// True when the failure means the recipient opted out at the carrier (Twilio 21610):
    /// the application records a carrier opt-out, as for [`SendError::OptedOut`].
    pub opted_out: bool,
}

/// The state a receipt reports, across providers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiptStatus {
    /// Accepted, queued, scheduled or being sent by the provider.
    Queued,
    /// Handed to the carrier; no handset confirmation yet.
    Sent,
    /// The carrier reports it reached the handset (Twilio `delivered`/`read`, SMSGlobal
    /// `DELIVRD`).
    Delivered,
    /// The carrier could not deliver it (Twilio `undelivered`, SMSGlobal `UNDELIV`).
    Undelivered,
    /// The carrier gave up after its validity period (SMSGlobal `EXPIRED`).
    Expired,
    /// The provider could not send it (Twilio `failed`, SMPP `REJECTD`).
    Failed,
    /// Canceled before sending (Twilio `canceled`).
    Canceled,
    /// A status word this crate does not know yet, kept as sent.
    Other(String),
}

impl ReceiptStatus {
    /// True once no further receipt is expected to change the outcome.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            ReceiptStatus::Delivered
                | ReceiptStatus::Undelivered
                | ReceiptStatus::Expired
                | ReceiptStatus::Failed
                | ReceiptStatus::Canceled
        )
    }
}

/// One inbound message (a reply) as a provider delivered it to our webhook.
///
/// Nothing here is validated beyond the format: `from` is not parsed as a phone number (the
/// application does that with the account's region), `received_at` may be in the future or
/// long past (the application compares with its clock), and `text` has no size limit here
/// (the application's request limit bounds it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundSms {
    /// `twilio`, `smsglobal`, `vonage` or `generic`.
    pub provider: &'static str,
    /// The provider's id for this message; with `provider` it is the idempotency key.
    pub provider_message_id: String,
    /// The sender as sent, except that an international number sent as bare digits
    /// (SMSGlobal, Vonage: `61412345678`) is given a `+`.
    pub from: String,
    /// Our number (or short code) it was sent to, normalised like `from`.
    pub to: String,
    /// The text (one part of it when `part` is set).
    pub text: String,
    /// When the provider received it, in Unix milliseconds, when the format carries a time.
    pub received_at: Option<i64>,
    /// Set for one part of a concatenated message that the provider did not reassemble
    /// (Vonage); the application collects all parts before classifying.
    pub part: Option<Part>,
}

/// One part of a concatenated inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The provider's reference shared by all parts of one message (with the sender, it
    /// identifies the message).
    pub reference: String,
    /// How many parts the message has (at least 1).
    pub total: u32,
    /// Which part this is, from 1 to `total`.
    pub index: u32,
}

/// An inbound webhook or receipt that cannot be read: names the field and the problem, so
/// that the webhook's 400 answer and the log say exactly what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct InboundError {
    /// The provider's field name as it appears on the wire (`From`, `msisdn`, `received_at`),
    /// or `body` for the request as a whole.
    pub field: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

impl InboundError {
    /// The field is absent (or empty where a value is required).
    pub(crate) fn missing(field: &'static str) -> Self {
        InboundError {
            field,
            problem: "missing".to_string(),
        }
    }

    pub(crate) fn invalid(field: &'static str, problem: impl Into<String>) -> Self {
        InboundError {
            field,
            problem: problem.into(),
        }
    }
}

/// Gives a `+` to an international number sent as bare digits (SMSGlobal and Vonage send
/// `61412345678`). Only 8 to 15 digits count as such a number: short codes (3 to 7 digits)
/// and anything with letters or punctuation are kept as sent.
pub(crate) fn plus_international(raw: &str) -> String {
    let digits = raw.len();
    if (8..=15).contains(&digits) && raw.bytes().all(|b| b.is_ascii_digit()) {
        format!("+{raw}")
    } else {
        raw.to_string()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn bare_international_digits_get_a_plus_but_short_codes_do_not() {
        assert_eq!(plus_international("61412345678"), "+61412345678");
        assert_eq!(plus_international("+61412345678"), "+61412345678");
        assert_eq!(plus_international("12345"), "12345");
        assert_eq!(plus_international("AcmeInc"), "AcmeInc");
    }

    #[test]
    fn only_delivery_outcomes_are_final() {
        assert!(ReceiptStatus::Delivered.is_final());
        assert!(ReceiptStatus::Failed.is_final());
        assert!(!ReceiptStatus::Sent.is_final());
        assert!(!ReceiptStatus::Queued.is_final());
    }
}
