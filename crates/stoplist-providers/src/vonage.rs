//! Vonage (formerly Nexmo) inbound SMS webhook: GET query, POST form or POST JSON, all with the
//! same field names, and the signature (`sig`) Vonage adds to them when the account asks.
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
//! acknowledge them so that Vonage stops resending.
//!
//! # Signed webhooks
//!
//! Source: <https://developer.vonage.com/en/getting-started/concepts/signing-messages>
//! ("Validate the signature on incoming messages", "Manually generate a signature"). Vonage
//! signs an account's inbound webhooks once its support turns signing on; the signature
//! secret and the method are in the Vonage dashboard. The webhook then carries `sig` and a
//! `timestamp` (Unix seconds) among its parameters. The string signed is every parameter but
//! `sig`, sorted by name, each written `&name=value` with every `&` and `=` in the value
//! replaced by `_` (note the leading `&`). Methods ([`SignatureMethod`]): `md5hash`, the
//! default, is MD5 of that string with the secret appended; `md5`, `sha1`, `sha256` and
//! `sha512` are HMACs of the string keyed with the secret. The result is hex.
//!
//! The official server SDKs agree on that and settle what the page leaves open; they are
//! cited by repository and path:
//! - Hex case: the PHP, Ruby and .NET SDKs write `md5hash` in lower case and the HMACs in upper
//!   case (`Vonage/vonage-php-sdk-core` `src/Client/Signature.php`, `Vonage/vonage-ruby-sdk`
//!   `lib/vonage/signature.rb`, the .NET SDK's `SmsSignatureGenerator` reference at
//!   <https://vonage.github.io/vonage-dotnet-sdk/api/Vonage.Cryptography.SmsSignatureGenerator.html>),
//!   and every SDK's check ignores case (the Node SDK's `packages/sms/lib/sms.ts`
//!   `verifySignature`, the Java SDK's `RequestSigning`, the Python SDK's `check_signature` in
//!   `src/vonage/client.py`). [`signature`] writes the SDKs' case; [`verify_signature`] ignores
//!   case.
//! - Freshness: the Java SDK (`Vonage/vonage-java-sdk`
//!   `src/main/java/com/vonage/client/auth/RequestSigning.java`,
//!   `MAX_ALLOWABLE_TIME_DELTA = 5 * 60 * 1000`) refuses a request whose `timestamp` is missing
//!   or more than 5 minutes from its clock: [`check_signed`] does the same ([`MAX_SKEW_SECS`]).
//! - JSON bodies: the Java SDK verifies an `application/json` webhook by the same rule over the
//!   JSON object's fields; [`json_params`] gives those fields as the pairs the form would have.
//! - Blank values: the page, the Python, Ruby, PHP and Node SDKs sign every parameter; the Java
//!   SDK leaves out parameters whose value is blank. Which one Vonage's own signer does is not
//!   documented, so [`verify_signature`] accepts either when a value is blank (both need the
//!   secret, so neither lets a forger in), rather than refuse a real opt-out.

use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use serde_json::Value;
use sha1::Sha1;
use sha2::{Sha256, Sha512};
use subtle::ConstantTimeEq;

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
    parse_inbound_form(&json_params(body)?)
}

/// The fields of a JSON object body as the name/value pairs a form would carry: strings as
/// they are, numbers and booleans written out, `null`, arrays and objects left out. These are
/// the pairs [`parse_inbound_form`] reads and [`verify_signature`] checks.
pub fn json_params(body: &[u8]) -> Result<Vec<(String, String)>, InboundError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| InboundError::invalid("body", format!("not JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(InboundError::invalid("body", "not a JSON object"));
    };
    Ok(map
        .into_iter()
        .filter_map(|(k, v)| match v {
            Value::String(s) => Some((k, s)),
            Value::Number(n) => Some((k, n.to_string())),
            Value::Bool(b) => Some((k, b.to_string())),
            _ => None,
        })
        .collect())
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

/// How a Vonage account signs its webhooks, as chosen in the Vonage dashboard (the
/// documentation's "MD5 hash", the default, and "MD5 HMAC", "SHA1 HMAC", "SHA-256 HMAC",
/// "SHA-512 HMAC").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureMethod {
    /// MD5 of the string to sign followed by the secret (the dashboard's default, "MD5 hash").
    Md5Hash,
    /// HMAC-MD5 keyed with the secret.
    Md5Hmac,
    /// HMAC-SHA1 keyed with the secret.
    Sha1Hmac,
    /// HMAC-SHA256 keyed with the secret.
    Sha256Hmac,
    /// HMAC-SHA512 keyed with the secret.
    Sha512Hmac,
}

impl SignatureMethod {
    /// Every method, in the dashboard's order.
    pub const ALL: [SignatureMethod; 5] = [
        SignatureMethod::Md5Hash,
        SignatureMethod::Md5Hmac,
        SignatureMethod::Sha1Hmac,
        SignatureMethod::Sha256Hmac,
        SignatureMethod::Sha512Hmac,
    ];

    /// The name the Vonage SDKs give it (`md5hash`, `md5`, `sha1`, `sha256`, `sha512`; the
    /// last four are HMACs). This is how stoplist stores it and its API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureMethod::Md5Hash => "md5hash",
            SignatureMethod::Md5Hmac => "md5",
            SignatureMethod::Sha1Hmac => "sha1",
            SignatureMethod::Sha256Hmac => "sha256",
            SignatureMethod::Sha512Hmac => "sha512",
        }
    }

    /// The name the Vonage documentation gives it.
    pub fn label(self) -> &'static str {
        match self {
            SignatureMethod::Md5Hash => "MD5 hash",
            SignatureMethod::Md5Hmac => "MD5 HMAC",
            SignatureMethod::Sha1Hmac => "SHA1 HMAC",
            SignatureMethod::Sha256Hmac => "SHA-256 HMAC",
            SignatureMethod::Sha512Hmac => "SHA-512 HMAC",
        }
    }

    /// The method an SDK name means ([`SignatureMethod::as_str`]), ignoring case.
    pub fn parse(name: &str) -> Option<SignatureMethod> {
        let name = name.trim();
        Self::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(name))
    }
}

/// How far a signed webhook's `timestamp` may be from the receiver's clock, either way
/// (the Java SDK's `MAX_ALLOWABLE_TIME_DELTA`).
pub const MAX_SKEW_SECS: u64 = 5 * 60;

/// Why a signed webhook is refused ([`check_signed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureProblem {
    /// No `sig`, or an empty one: Vonage was not asked to sign, or someone else sent it.
    #[error("no sig parameter")]
    MissingSig,
    /// `sig` is not what the secret and method give: another secret or method, or a change.
    #[error("sig does not match")]
    Mismatch,
    /// Correctly signed, but without a `timestamp` in Unix seconds to date it by.
    #[error("no timestamp parameter in Unix seconds")]
    MissingTimestamp,
    /// Correctly signed more than [`MAX_SKEW_SECS`] from now: a replay, or a wrong clock.
    #[error("timestamp is more than 5 minutes from now")]
    StaleTimestamp,
}

/// True for a value Java's `trim().isEmpty()` calls empty (only characters up to U+0020).
fn is_blank(value: &str) -> bool {
    value.chars().all(|c| c <= ' ')
}

/// The string Vonage signs: every parameter but `sig`, sorted by name (values of a repeated
/// name keep their order), as `&name=value` with `&` and `=` in values replaced by `_`.
/// `skip_blank` leaves out parameters with a blank value, as the Java SDK does.
fn string_to_sign(params: &[(String, String)], skip_blank: bool) -> String {
    let mut sorted: Vec<&(String, String)> = params
        .iter()
        .filter(|(k, v)| k != "sig" && !(skip_blank && is_blank(v)))
        .collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = String::new();
    for (k, v) in sorted {
        out.push('&');
        out.push_str(k);
        out.push('=');
        out.push_str(&v.replace(['&', '='], "_"));
    }
    out
}

/// Upper-case hex HMAC of `data` keyed with `key`.
fn hmac_hex<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match <M as KeyInit>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(data);
    hex::encode_upper(mac.finalize().into_bytes())
}

fn sign(method: SignatureMethod, secret: &str, data: &str) -> String {
    let (key, data) = (secret.as_bytes(), data.as_bytes());
    match method {
        SignatureMethod::Md5Hash => hex::encode(Md5::digest([data, key].concat())),
        SignatureMethod::Md5Hmac => hmac_hex::<Hmac<Md5>>(key, data),
        SignatureMethod::Sha1Hmac => hmac_hex::<Hmac<Sha1>>(key, data),
        SignatureMethod::Sha256Hmac => hmac_hex::<Hmac<Sha256>>(key, data),
        SignatureMethod::Sha512Hmac => hmac_hex::<Hmac<Sha512>>(key, data),
    }
}

/// The `sig` Vonage would send with `params` (any `sig` among them is left out): hex, lower
/// case for `md5hash` and upper case for the HMACs, as the SDKs write it. `params` must
/// include the `timestamp` that is sent with it.
pub fn signature(method: SignatureMethod, secret: &str, params: &[(String, String)]) -> String {
    sign(method, secret, &string_to_sign(params, false))
}

/// True when the `sig` among `params` is what `secret` and `method` give for the other
/// parameters, compared in constant time and ignoring the case of the hex. False without a
/// `sig` or with an empty secret. When a value is blank, the signature without the blank
/// parameters is accepted too (see the module doc). This checks no timestamp: see
/// [`check_signed`].
pub fn verify_signature(
    method: SignatureMethod,
    secret: &str,
    params: &[(String, String)],
) -> bool {
    let Some(given) = get(params, "sig").map(str::trim).filter(|s| !s.is_empty()) else {
        return false;
    };
    if secret.is_empty() {
        return false;
    }
    let given = given.to_ascii_lowercase();
    let matches = |skip_blank: bool| {
        let expected = sign(method, secret, &string_to_sign(params, skip_blank));
        bool::from(
            expected
                .to_ascii_lowercase()
                .as_bytes()
                .ct_eq(given.as_bytes()),
        )
    };
    let has_blank = params.iter().any(|(k, v)| k != "sig" && is_blank(v));
    // Both are computed when a value is blank, so that the time taken says nothing about
    // which one matched.
    let all = matches(false);
    let without_blank = has_blank && matches(true);
    all | without_blank
}

/// Checks a signed webhook: a `sig` that [`verify_signature`] accepts and a `timestamp`
/// (Unix seconds) within [`MAX_SKEW_SECS`] of `now_secs`, so that a webhook recorded by
/// someone else cannot be replayed later.
pub fn check_signed(
    method: SignatureMethod,
    secret: &str,
    params: &[(String, String)],
    now_secs: i64,
) -> Result<(), SignatureProblem> {
    if get(params, "sig").is_none_or(|s| s.trim().is_empty()) {
        return Err(SignatureProblem::MissingSig);
    }
    if !verify_signature(method, secret, params) {
        return Err(SignatureProblem::Mismatch);
    }
    let timestamp: i64 = get(params, "timestamp")
        .and_then(|t| t.trim().parse().ok())
        .ok_or(SignatureProblem::MissingTimestamp)?;
    if now_secs.abs_diff(timestamp) > MAX_SKEW_SECS {
        return Err(SignatureProblem::StaleTimestamp);
    }
    Ok(())
}
