//! Twilio: sending through the Messages API, its status callbacks (delivery receipts), its
//! incoming-message webhook and the `X-Twilio-Signature` that authenticates both.
//!
//! Sources:
//! - Send: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, HTTP Basic auth with the
//!   account SID and auth token, form fields `To`, `From`, `Body`, `StatusCallback`; answer
//!   201 with the Message resource (`sid`, `status`, …).
//!   <https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource>
//! - Errors: JSON `{"code", "message", "more_info", "status"}`.
//!   <https://www.twilio.com/docs/usage/twilios-response#response-formats-exceptions>,
//!   codes at <https://www.twilio.com/docs/api/errors> (21610 "Attempt to send to
//!   unsubscribed recipient", 21211 invalid `To`, 21606/21212 invalid `From`, 20003
//!   authentication, 20429 too many requests).
//! - Status callbacks: form fields `MessageSid`, `MessageStatus`, `ErrorCode` (plus `SmsSid`,
//!   `SmsStatus` kept for old integrations).
//!   <https://www.twilio.com/docs/messaging/guides/track-outbound-message-status>
//! - Incoming messages: form fields `MessageSid`, `From`, `To`, `Body`, `NumSegments`, …;
//!   Twilio reassembles long messages before the webhook.
//!   <https://www.twilio.com/docs/messaging/guides/webhook-request>
//! - Signature: base64(HMAC-SHA1(auth token, full URL + each POST parameter's name and value
//!   sorted by name)). <https://www.twilio.com/docs/usage/security#validating-requests>

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha1::Sha1;
use subtle::ConstantTimeEq;

use crate::http::{self, DEFAULT_TIMEOUT};
use crate::outbound::Outbound;
use crate::params::{first_non_empty, present};
use crate::{
    Accepted, Connector, InboundError, InboundSms, OutboundSms, Receipt, ReceiptStatus, SendError,
};

/// Twilio's production API.
pub const DEFAULT_BASE_URL: &str = "https://api.twilio.com";

/// Twilio's error code for a recipient who opted out at the carrier ("Attempt to send to
/// unsubscribed recipient"). <https://www.twilio.com/docs/api/errors/21610>
pub const OPTED_OUT_CODE: &str = "21610";

/// How to reach one Twilio account. `Debug` never prints the auth token.
#[derive(Clone)]
pub struct TwilioConfig {
    /// API root without a trailing path (`https://api.twilio.com`, or a fake provider's URL).
    pub base_url: String,
    /// The account SID (`AC…`), also the Basic auth user.
    pub account_sid: String,
    /// The auth token: the Basic auth password and the webhook signing key.
    pub auth_token: String,
    /// Sent as `StatusCallback` so that Twilio posts delivery receipts there.
    pub status_callback: Option<String>,
    /// Bound on a whole send request (connecting takes at most 5 s of it).
    pub timeout: Duration,
    /// Where requests may go ([`Outbound`]: https to public addresses by default).
    pub outbound: Outbound,
}

impl TwilioConfig {
    /// A configuration for Twilio's production API with the default 15 s timeout and the
    /// strict outbound policy.
    pub fn new(account_sid: impl Into<String>, auth_token: impl Into<String>) -> Self {
        TwilioConfig {
            base_url: DEFAULT_BASE_URL.to_string(),
            account_sid: account_sid.into(),
            auth_token: auth_token.into(),
            status_callback: None,
            timeout: DEFAULT_TIMEOUT,
            outbound: Outbound::default(),
        }
    }
}

impl fmt::Debug for TwilioConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioConfig")
            .field("base_url", &self.base_url)
            .field("account_sid", &self.account_sid)
            .field("auth_token", &"[redacted]")
            .field("status_callback", &self.status_callback)
            .field("timeout", &self.timeout)
            .field("outbound", &self.outbound)
            .finish()
    }
}

/// Sends through Twilio's Messages API. Holds a pooled HTTP client; clone-free sharing via
/// `Arc` or `Box<dyn Connector>`.
#[derive(Debug)]
pub struct TwilioConnector {
    cfg: TwilioConfig,
    client: reqwest::Client,
    /// The Messages.json URL, or why the base URL could not make one (reported at send).
    messages_url: Result<reqwest::Url, SendError>,
}

impl TwilioConnector {
    /// Builds the connector. Never fails: a base URL that is not a URL makes every send a
    /// [`SendError::Permanent`] with code `config` ([`crate::connector`] checks it earlier),
    /// and one the outbound policy refuses (an address literal is checked here, a name at
    /// each connection) with code `refused_address`.
    pub fn new(cfg: TwilioConfig) -> Self {
        let client = http::client(cfg.timeout, &cfg.outbound);
        let messages_url = match cfg.outbound.check_form(&cfg.base_url) {
            Err(refused) => Err(http::refused_error("Twilio", &refused)),
            Ok(_) => {
                messages_url(&cfg.base_url, &cfg.account_sid).map_err(|why| SendError::Permanent {
                    code: Some("config".into()),
                    message: format!("the Twilio base URL is not usable: {why}"),
                })
            }
        };
        TwilioConnector {
            cfg,
            client,
            messages_url,
        }
    }
}

/// `{base}/2010-04-01/Accounts/{sid}/Messages.json`, the SID percent-encoded as a segment.
pub(crate) fn messages_url(base: &str, account_sid: &str) -> Result<reqwest::Url, String> {
    let mut url = reqwest::Url::parse(base).map_err(|e| format!("{base:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{base:?}: not an http(s) URL"));
    }
    url.path_segments_mut()
        .map_err(|()| format!("{base:?}: cannot take a path"))?
        .pop_if_empty()
        .extend(["2010-04-01", "Accounts", account_sid, "Messages.json"]);
    Ok(url)
}

/// The part of Twilio's Message resource we read from a 201.
#[derive(Deserialize)]
struct MessageResource {
    sid: String,
    status: Option<String>,
}

/// Twilio's error body. <https://www.twilio.com/docs/usage/twilios-response>
#[derive(Deserialize)]
struct TwilioErrorBody {
    code: Option<serde_json::Value>,
    message: Option<String>,
}

#[async_trait::async_trait]
impl Connector for TwilioConnector {
    fn kind(&self) -> &'static str {
        "twilio"
    }

    /// One `POST …/Messages.json`. A 2xx whose body is not a Message resource with a `sid` is
    /// [`SendError::Permanent`] with code `bad_response`: Twilio answered 2xx, so it has most
    /// likely created the message, and a retry would send it twice; the operator checks
    /// Twilio's console instead.
    async fn send(&self, sms: &OutboundSms) -> Result<Accepted, SendError> {
        let url = self.messages_url.clone()?;
        let mut form: Vec<(&str, &str)> = vec![
            ("To", sms.to.as_str()),
            ("From", sms.from.as_str()),
            ("Body", sms.text.as_str()),
        ];
        if let Some(cb) = &self.cfg.status_callback {
            form.push(("StatusCallback", cb.as_str()));
        }
        let response = self
            .client
            .post(url)
            .basic_auth(&self.cfg.account_sid, Some(&self.cfg.auth_token))
            .form(&form)
            .send()
            .await
            .map_err(|e| http::transport_error("Twilio", self.cfg.timeout, &e))?;
        let status = response.status().as_u16();
        let retry_after = http::retry_after(response.headers());
        let body = response.bytes().await;
        if (200..300).contains(&status) {
            let body =
                body.map_err(|e| bad_response(&format!("its body could not be read: {e}")))?;
            return match serde_json::from_slice::<MessageResource>(&body) {
                Ok(m) if !m.sid.is_empty() => Ok(Accepted {
                    provider_id: m.sid,
                    status: m.status,
                }),
                _ => Err(bad_response(&format!(
                    "it is not a Message resource with a sid: {:?}",
                    http::excerpt(&body)
                ))),
            };
        }
        let body = body.unwrap_or_default();
        Err(error_from_answer(status, &body, retry_after))
    }
}

fn bad_response(why: &str) -> SendError {
    SendError::Permanent {
        code: Some("bad_response".into()),
        message: format!(
            "Twilio answered 2xx but {why}; the message was probably accepted, so it is not \
             retried: check Twilio's message log"
        ),
    }
}

/// Reads a non-2xx answer into the error an operator can act on.
fn error_from_answer(status: u16, body: &[u8], retry_after: Option<Duration>) -> SendError {
    let parsed: Option<TwilioErrorBody> = serde_json::from_slice(body).ok();
    let code = parsed.as_ref().and_then(|b| match &b.code {
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    });
    let twilio_says = parsed
        .as_ref()
        .and_then(|b| b.message.clone())
        .unwrap_or_else(|| http::excerpt(body));
    let code_or_status = code.clone().unwrap_or_else(|| format!("http_{status}"));

    if code.as_deref() == Some(OPTED_OUT_CODE) {
        return SendError::OptedOut {
            code: OPTED_OUT_CODE.to_string(),
            message: format!(
                "Twilio refused: the recipient has opted out of messages from this sender at \
                 the carrier (error 21610: {twilio_says})"
            ),
        };
    }
    // Twilio's throttling codes arrive as 429 (20429) or, for trial accounts, 400 (14107).
    let throttled = matches!(code.as_deref(), Some("20429" | "14107"));
    if throttled || http::status_is_transient(status) {
        let what = if status == 429 || throttled {
            "Twilio is throttling this account (too many requests)".to_string()
        } else {
            format!("Twilio answered HTTP {status}, a temporary failure on its side")
        };
        return SendError::Transient {
            code: Some(code_or_status),
            message: format!("{what}: {twilio_says}"),
            retry_after,
        };
    }
    let what = match (status, code.as_deref()) {
        (_, Some("21211")) => "Twilio refused the recipient number as invalid (error 21211)",
        (_, Some("21614")) => "Twilio says the recipient is not a mobile number (error 21614)",
        (_, Some("21606")) => {
            "Twilio refused the sender: 'From' is not a message-capable number of this account \
             (error 21606)"
        }
        (_, Some("21212")) => "Twilio refused the sender id as invalid (error 21212)",
        (_, Some("21408")) => {
            "this Twilio account may not send to the recipient's country (error 21408: check \
             its geographic permissions)"
        }
        (401 | 403, _) | (_, Some("20003")) => {
            "Twilio refused the credentials: check the account SID and auth token"
        }
        (404, _) => "Twilio does not know this account (HTTP 404): check the account SID",
        _ => "Twilio refused the message",
    };
    SendError::Permanent {
        code: Some(if matches!(status, 401 | 403) && code.is_none() {
            "auth".to_string()
        } else {
            code_or_status
        }),
        message: format!("{what}: {twilio_says}"),
    }
}

/// Reads a status callback (delivery receipt) posted by Twilio. `form` is the decoded POST
/// body; verify its signature first with [`verify_signature`].
pub fn parse_status_callback(form: &[(String, String)]) -> Result<Receipt, InboundError> {
    let provider_id = first_non_empty(form, &["MessageSid", "SmsSid"])
        .ok_or_else(|| InboundError::missing("MessageSid"))?
        .to_string();
    let word = first_non_empty(form, &["MessageStatus", "SmsStatus"])
        .ok_or_else(|| InboundError::missing("MessageStatus"))?;
    let status = match word {
        "accepted" | "scheduled" | "queued" | "sending" => ReceiptStatus::Queued,
        "sent" => ReceiptStatus::Sent,
        "delivered" | "read" => ReceiptStatus::Delivered,
        "undelivered" => ReceiptStatus::Undelivered,
        "failed" => ReceiptStatus::Failed,
        "canceled" => ReceiptStatus::Canceled,
        other => ReceiptStatus::Other(other.to_string()),
    };
    let error_code = first_non_empty(form, &["ErrorCode"])
        .filter(|c| *c != "0")
        .map(str::to_string);
    Ok(Receipt {
        provider_id,
        status,
        opted_out: error_code.as_deref() == Some(OPTED_OUT_CODE),
        error_code,
    })
}

/// Reads Twilio's incoming-message webhook. Twilio sends no receive time (`received_at` is
/// `None`) and reassembles long messages (`part` is `None`).
pub fn parse_inbound(form: &[(String, String)]) -> Result<InboundSms, InboundError> {
    let provider_message_id = first_non_empty(form, &["MessageSid", "SmsMessageSid", "SmsSid"])
        .ok_or_else(|| InboundError::missing("MessageSid"))?
        .to_string();
    let from = first_non_empty(form, &["From"]).ok_or_else(|| InboundError::missing("From"))?;
    let to = first_non_empty(form, &["To"]).ok_or_else(|| InboundError::missing("To"))?;
    let text = present(form, "Body")?;
    Ok(InboundSms {
        provider: "twilio",
        provider_message_id,
        from: from.to_string(),
        to: to.to_string(),
        text: text.to_string(),
        received_at: None,
        part: None,
    })
}

/// The answer to Twilio's incoming-message webhook that sends no reply (stoplist sends its
/// confirmations through the dispatcher, once). Serve it as `text/xml`.
pub fn reply_twiml_empty() -> &'static str {
    r#"<?xml version="1.0" encoding="UTF-8"?><Response></Response>"#
}

/// The `X-Twilio-Signature` Twilio would send for `url` (the full public URL Twilio called,
/// query string included) and the POST parameters: base64 of HMAC-SHA1 keyed with the auth
/// token over the URL followed by each parameter's name and value, sorted by name (values of
/// a repeated name keep their order).
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    // HMAC accepts keys of any length.
    let mut mac = match <Hmac<Sha1> as KeyInit>::new_from_slice(auth_token.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    BASE64.encode(mac.finalize().into_bytes())
}

/// True when `signature` (the `X-Twilio-Signature` header) matches `url` and `params` under
/// `auth_token`, compared in constant time. `url` must be the URL exactly as Twilio called it
/// (behind a proxy: the public one, scheme and port included).
pub fn verify_signature(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    signature_header: &str,
) -> bool {
    let expected = signature(auth_token, url, params);
    let given = signature_header.trim().as_bytes();
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(given))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn p(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn messages_url_keeps_a_base_path_and_adds_the_account() {
        let url = messages_url("http://127.0.0.1:9/base/", "AC1").map(|u| u.to_string());
        assert_eq!(
            url.as_deref(),
            Ok("http://127.0.0.1:9/base/2010-04-01/Accounts/AC1/Messages.json")
        );
        assert!(messages_url("not a url", "AC1").is_err());
        assert!(messages_url("ftp://example.com", "AC1").is_err());
    }

    #[test]
    fn error_21610_is_an_opt_out_and_21211_is_permanent() {
        let body = br#"{"code":21610,"message":"Attempt to send to unsubscribed recipient","more_info":"https://www.twilio.com/docs/errors/21610","status":400}"#;
        assert!(
            matches!(error_from_answer(400, body, None), SendError::OptedOut { code, .. } if code == "21610")
        );
        let body = br#"{"code":21211,"message":"Invalid 'To' Phone Number","status":400}"#;
        let e = error_from_answer(400, body, None);
        assert_eq!(e.code(), Some("21211"));
        assert!(!e.is_transient());
    }

    #[test]
    fn throttling_and_server_errors_are_transient() {
        let e = error_from_answer(
            429,
            br#"{"code":20429,"message":"Too Many Requests","status":429}"#,
            Some(Duration::from_secs(3)),
        );
        assert_eq!(
            e,
            SendError::Transient {
                code: Some("20429".into()),
                message: "Twilio is throttling this account (too many requests): Too Many Requests"
                    .into(),
                retry_after: Some(Duration::from_secs(3)),
            }
        );
        assert!(error_from_answer(503, b"<html>down</html>", None).is_transient());
    }

    #[test]
    fn signature_ignores_parameter_order() {
        let a = [p("b", "2"), p("a", "1")];
        let b = [p("a", "1"), p("b", "2")];
        assert_eq!(
            signature("t", "https://x/y", &a),
            signature("t", "https://x/y", &b)
        );
    }

    #[test]
    fn twilio_config_debug_hides_the_token() {
        let cfg = TwilioConfig::new("AC123", "very-secret-token");
        let shown = format!("{cfg:?}");
        assert!(shown.contains("AC123"));
        assert!(!shown.contains("very-secret-token"));
    }
}
