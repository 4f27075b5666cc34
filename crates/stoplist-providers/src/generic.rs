//! stoplist's generic inbound form (SPEC 3.6): `POST /webhooks/generic/{token}` with a JSON
//! object `{"id", "from", "to", "text", "received_at"}`, for gateways and scripts that are not
//! one of the named providers.
//!
//! The form is ours, so it is read strictly: `id`, `from`, `to` and `text` are required
//! strings (`text` may be empty), `received_at` is optional and, when given, an RFC 3339 time
//! with an offset. Unknown fields are refused, naming the field, so that a misspelt
//! `recieved_at` is caught at integration time instead of being silently dropped. `from` and
//! `to` are kept exactly as sent (a national number stays national: the application parses
//! it with the account's region). Whether `received_at` is in the future is the application's
//! call (it has the clock).

use serde::Deserialize;

use crate::{InboundError, InboundSms, civil};

/// The wire shape of the generic form.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GenericInbound {
    id: Option<String>,
    from: Option<String>,
    to: Option<String>,
    text: Option<String>,
    received_at: Option<String>,
}

/// Reads the generic JSON form.
pub fn parse_inbound(body: &[u8]) -> Result<InboundSms, InboundError> {
    // serde's words name an unknown field ("unknown field `recieved_at`, expected one of …")
    // or the position of a value of the wrong type; they are passed on as they are.
    let msg: GenericInbound =
        serde_json::from_slice(body).map_err(|e| InboundError::invalid("body", e.to_string()))?;
    let non_empty = |v: Option<String>, field: &'static str| {
        v.filter(|s| !s.trim().is_empty())
            .ok_or_else(|| InboundError::missing(field))
    };
    let id = non_empty(msg.id, "id")?;
    let from = non_empty(msg.from, "from")?;
    let to = non_empty(msg.to, "to")?;
    let text = msg.text.ok_or_else(|| InboundError::missing("text"))?;
    let received_at = match msg.received_at {
        None => None,
        Some(t) => Some(civil::parse_rfc3339(&t).ok_or_else(|| {
            InboundError::invalid(
                "received_at",
                format!("{t:?} is not RFC 3339 (for example 2024-05-01T09:30:00Z)"),
            )
        })?),
    };
    Ok(InboundSms {
        provider: "generic",
        provider_message_id: id,
        from,
        to,
        text,
        received_at,
        part: None,
    })
}
