//! Vonage (formerly Nexmo) inbound SMS webhook: GET query, POST form or POST JSON, all with the
//! same field names.
//!
//! Source: <https://developer.vonage.com/en/messaging/sms/guides/inbound-sms> — fields
//! `type` (`text`, `unicode`, `binary`), `to` (our virtual number), `msisdn` (the sender),
//! `messageId`, `message-timestamp` (`YYYY-MM-DD HH:MM:SS`, UTC), `timestamp` (Unix seconds),
//! `nonce`, `text`, `keyword`, and for a message split in parts `concat` (`true`),
//! `concat-ref`, `concat-total`, `concat-part`. Vonage does not reassemble parts: each arrives
//! as its own webhook and [`InboundSms::part`] says which; the application joins them. The
//! webhook must be answered 200 or 204, or Vonage resends it for 24 hours.
//!
//! Binary messages (`type=binary`, `data` and `udh` instead of `text`) carry no text to
//! classify and are refused with an error on `type`; the application should still
//! acknowledge them so that Vonage stops resending. Signed webhooks (`sig`) are not checked
//! here.

use serde_json::Value;

use crate::params::{get, present, required};
use crate::{InboundError, InboundSms, Part, civil, plus_international};

/// Reads an inbound SMS sent as a GET query or a POST form.
pub fn parse_inbound_form(params: &[(String, String)]) -> Result<InboundSms, InboundError> {
    let msisdn = required(params, "msisdn")?;
    let to = required(params, "to")?;
    let message_id = required(params, "messageId")?;
    match get(params, "type").unwrap_or("text") {
        "text" | "unicode" => {}
        "binary" => {
            return Err(InboundError::invalid(
                "type",
                "binary messages carry no text and are not supported",
            ));
        }
        other => {
            return Err(InboundError::invalid(
                "type",
                format!("{other:?} is not text, unicode or binary"),
            ));
        }
    }
    let text = present(params, "text")?;
    let received_at = received_at(params)?;
    let part = part(params)?;
    Ok(InboundSms {
        provider: "vonage",
        provider_message_id: message_id.to_string(),
        from: plus_international(msisdn),
        to: plus_international(to),
        text: text.to_string(),
        received_at,
        part,
    })
}

/// Reads an inbound SMS sent as a POST with a JSON object body. Values may be strings,
/// numbers or booleans (`"concat": true` and `"concat": "true"` mean the same).
pub fn parse_inbound_json(body: &[u8]) -> Result<InboundSms, InboundError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| InboundError::invalid("body", format!("not JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(InboundError::invalid("body", "not a JSON object"));
    };
    let params: Vec<(String, String)> = map
        .into_iter()
        .filter_map(|(k, v)| match v {
            Value::String(s) => Some((k, s)),
            Value::Number(n) => Some((k, n.to_string())),
            Value::Bool(b) => Some((k, b.to_string())),
            _ => None,
        })
        .collect();
    parse_inbound_form(&params)
}

/// `message-timestamp` (UTC), else `timestamp` (Unix seconds), else none.
fn received_at(params: &[(String, String)]) -> Result<Option<i64>, InboundError> {
    if let Some(ts) = get(params, "message-timestamp").filter(|v| !v.is_empty()) {
        return civil::parse_sql_datetime(ts).map(Some).ok_or_else(|| {
            InboundError::invalid(
                "message-timestamp",
                format!("{ts:?} is not YYYY-MM-DD HH:MM:SS"),
            )
        });
    }
    if let Some(ts) = get(params, "timestamp").filter(|v| !v.is_empty()) {
        let secs: i64 = ts.parse().map_err(|_| {
            InboundError::invalid("timestamp", format!("{ts:?} is not Unix seconds"))
        })?;
        return secs
            .checked_mul(1_000)
            .map(Some)
            .ok_or_else(|| InboundError::invalid("timestamp", format!("{ts:?} is out of range")));
    }
    Ok(None)
}

fn number(params: &[(String, String)], field: &'static str) -> Result<u32, InboundError> {
    let raw = required(params, field)?;
    raw.parse()
        .map_err(|_| InboundError::invalid(field, format!("{raw:?} is not a whole number")))
}

/// The concatenation fields, when `concat` is `true` (or a `concat-ref` is given).
fn part(params: &[(String, String)]) -> Result<Option<Part>, InboundError> {
    let concat = get(params, "concat").is_some_and(|c| c.eq_ignore_ascii_case("true"));
    let has_ref = get(params, "concat-ref").is_some_and(|r| !r.is_empty());
    if !concat && !has_ref {
        return Ok(None);
    }
    let reference = required(params, "concat-ref")?.to_string();
    let total = number(params, "concat-total")?;
    let index = number(params, "concat-part")?;
    if total == 0 {
        return Err(InboundError::invalid("concat-total", "must be at least 1"));
    }
    if index == 0 || index > total {
        return Err(InboundError::invalid(
            "concat-part",
            format!("{index} is not between 1 and concat-total ({total})"),
        ));
    }
    Ok(Some(Part {
        reference,
        total,
        index,
    }))
}
