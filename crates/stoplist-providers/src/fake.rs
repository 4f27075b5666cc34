//! A fake SMS provider on loopback that speaks Twilio's Messages API and SMSGlobal's
//! `POST /v2/sms`, for tests and benchmarks (feature `fake`).
//!
//! It checks credentials the way the real providers do (Twilio: HTTP Basic with the account
//! SID and auth token; SMSGlobal: the MAC `Authorization` header), records every accepted
//! message, and answers with the providers' documented shapes (see [`crate::twilio`] and
//! [`crate::smsglobal`] for the sources). Faults are switched on while it runs, from any
//! thread: [`FakeProvider::fail_next`], [`FakeProvider::throttle_next`],
//! [`FakeProvider::reject_number`], [`FakeProvider::hang`], [`FakeProvider::garbage_next`],
//! [`FakeProvider::answer_after`]. Knobs apply to both APIs, in this order per request: hang,
//! credentials, fail, throttle, garbage, rejected number, accept (recorded with the time it
//! arrived, then answered after the `answer_after` delay).
//!
//! It is not a provider simulation: no delivery receipts are posted, SMSGlobal's `ts` and
//! nonce reuse are not checked, and the SMSGlobal opt-out refusal's wording is ours (SMSGlobal
//! documents none).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::{SmsGlobalConfig, TwilioConfig, civil, smsglobal};

/// Credentials the fake accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeCredentials {
    /// Twilio account SID (Basic auth user and path segment).
    pub twilio_sid: String,
    /// Twilio auth token (Basic auth password).
    pub twilio_token: String,
    /// SMSGlobal API key (MAC `id`).
    pub smsglobal_key: String,
    /// SMSGlobal API secret (MAC key).
    pub smsglobal_secret: String,
}

impl Default for FakeCredentials {
    fn default() -> Self {
        FakeCredentials {
            twilio_sid: "AC00000000000000000000000000000fake".to_string(),
            twilio_token: "fake-twilio-auth-token".to_string(),
            smsglobal_key: "fake-smsglobal-key".to_string(),
            smsglobal_secret: "fake-smsglobal-secret".to_string(),
        }
    }
}

/// A message the fake accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// Recipient as it came on the wire (Twilio `+61…`, SMSGlobal `61…`).
    pub to: String,
    /// Sender as it came on the wire.
    pub from: String,
    /// Message text.
    pub text: String,
    /// `twilio` or `smsglobal`.
    pub provider: &'static str,
    /// The id the fake answered with.
    pub provider_id: String,
    /// When the fake accepted it (before any [`FakeProvider::answer_after`] delay): the
    /// moment the message was handed over, for tests that order it against other events.
    pub received_at: SystemTime,
}

struct Shared {
    creds: FakeCredentials,
    sent: Mutex<Vec<Sent>>,
    rejected: Mutex<HashMap<String, u32>>,
    requests: AtomicU64,
    next_id: AtomicU64,
    fail_next: AtomicU64,
    fail_status: AtomicU16,
    throttle_next: AtomicU64,
    garbage_next: AtomicU64,
    hang: AtomicBool,
    unhang: Notify,
    /// Milliseconds to wait before answering an accepted message.
    answer_after_ms: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking test thread must not take the fake down for the others.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Takes one from a "next n requests" counter; false when it is at zero.
fn take_one(counter: &AtomicU64) -> bool {
    counter
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
        .is_ok()
}

/// A number compared without its `+` (SMSGlobal sends none).
fn bare(number: &str) -> &str {
    number.strip_prefix('+').unwrap_or(number)
}

/// What the fake decided for one request, before the provider's wording is applied.
enum Verdict {
    Fail(u16),
    Throttle,
    Garbage,
    Reject(u32),
    Accept(u64),
}

impl Shared {
    async fn wait_while_hung(&self) {
        loop {
            let unhang = self.unhang.notified();
            if !self.hang.load(Ordering::Acquire) {
                return;
            }
            unhang.await;
        }
    }

    /// The knobs after the credentials passed, in the documented order.
    fn verdict(&self, to: &str) -> Verdict {
        if take_one(&self.fail_next) {
            return Verdict::Fail(self.fail_status.load(Ordering::Acquire));
        }
        if take_one(&self.throttle_next) {
            return Verdict::Throttle;
        }
        if take_one(&self.garbage_next) {
            return Verdict::Garbage;
        }
        if let Some(code) = lock(&self.rejected).get(bare(to)) {
            return Verdict::Reject(*code);
        }
        Verdict::Accept(self.next_id.fetch_add(1, Ordering::Relaxed) + 1)
    }

    /// Records an accepted message, stamped now.
    fn record(&self, to: String, from: String, text: String, provider: &'static str, id: String) {
        lock(&self.sent).push(Sent {
            to,
            from,
            text,
            provider,
            provider_id: id,
            received_at: SystemTime::now(),
        });
    }

    /// Holds an accepted message's answer for the `answer_after` delay (a slow provider).
    async fn slow_answer(&self, r: Response) -> Response {
        let ms = self.answer_after_ms.load(Ordering::Acquire);
        if ms > 0 {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        r
    }
}

/// A running fake provider. Dropping it stops the server.
pub struct FakeProvider {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for FakeProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeProvider")
            .field("addr", &self.addr)
            .finish()
    }
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeProvider {
    /// Starts on `127.0.0.1` with a free port and the default credentials.
    ///
    /// # Panics
    /// When no loopback port can be bound (a test machine without networking); use
    /// [`FakeProvider::start_on`] to handle that.
    pub async fn start() -> FakeProvider {
        match FakeProvider::start_on(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            FakeCredentials::default(),
        )
        .await
        {
            Ok(fake) => fake,
            Err(e) => panic!("the fake provider could not bind a loopback port: {e}"),
        }
    }

    /// Starts on `addr` (port 0 for a free one) accepting `creds`. The socket is bound before
    /// this returns, so requests can be sent at once.
    pub async fn start_on(
        addr: SocketAddr,
        creds: FakeCredentials,
    ) -> std::io::Result<FakeProvider> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            creds,
            sent: Mutex::new(Vec::new()),
            rejected: Mutex::new(HashMap::new()),
            requests: AtomicU64::new(0),
            next_id: AtomicU64::new(0),
            fail_next: AtomicU64::new(0),
            fail_status: AtomicU16::new(500),
            throttle_next: AtomicU64::new(0),
            garbage_next: AtomicU64::new(0),
            hang: AtomicBool::new(false),
            unhang: Notify::new(),
            answer_after_ms: AtomicU64::new(0),
        });
        let app = Router::new()
            .route(
                "/2010-04-01/Accounts/{sid}/Messages.json",
                post(twilio_send),
            )
            .route("/v2/sms", post(smsglobal_send))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "fake provider stopped");
            }
        });
        Ok(FakeProvider {
            addr,
            shared,
            server,
        })
    }

    /// `http://127.0.0.1:<port>`: the base URL for both connectors.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The credentials it accepts.
    pub fn credentials(&self) -> &FakeCredentials {
        &self.shared.creds
    }

    /// A Twilio configuration pointing here with the right credentials (allowing private
    /// addresses: the fake listens on loopback, over http).
    pub fn twilio_config(&self) -> TwilioConfig {
        let c = &self.shared.creds;
        TwilioConfig {
            base_url: self.base_url(),
            outbound: crate::Outbound::new(true),
            ..TwilioConfig::new(&c.twilio_sid, &c.twilio_token)
        }
    }

    /// An SMSGlobal configuration pointing here with the right credentials (allowing private
    /// addresses: the fake listens on loopback, over http).
    pub fn smsglobal_config(&self) -> SmsGlobalConfig {
        let c = &self.shared.creds;
        SmsGlobalConfig {
            base_url: self.base_url(),
            outbound: crate::Outbound::new(true),
            ..SmsGlobalConfig::new(&c.smsglobal_key, &c.smsglobal_secret)
        }
    }

    /// The next `n` requests (after the credential check) answer `status` with the provider's
    /// error body (Twilio code 20500 for a 500).
    pub fn fail_next(&self, n: u64, status: u16) {
        self.shared.fail_status.store(status, Ordering::Release);
        self.shared.fail_next.store(n, Ordering::Release);
    }

    /// The next `n` requests answer 429 with `Retry-After: 2` (Twilio code 20429).
    pub fn throttle_next(&self, n: u64) {
        self.shared.throttle_next.store(n, Ordering::Release);
    }

    /// The next `n` requests answer 200 with an HTML body instead of JSON.
    pub fn garbage_next(&self, n: u64) {
        self.shared.garbage_next.store(n, Ordering::Release);
    }

    /// Refuses every message to `number` (with or without `+`) with Twilio error `code`;
    /// SMSGlobal answers its own 400 for it: an opt-out refusal for 21610, an invalid
    /// destination for 21211 and 21614, an invalid origin for 21606 and 21212.
    pub fn reject_number(&self, number: &str, code: u32) {
        lock(&self.shared.rejected).insert(bare(number).to_string(), code);
    }

    /// While on, requests are held without an answer (as a provider that hangs). Turning it
    /// off releases them and they are answered normally, as a slow provider would: a client
    /// that gave up may find its message sent anyway.
    pub fn hang(&self, on: bool) {
        self.shared.hang.store(on, Ordering::Release);
        if !on {
            self.shared.unhang.notify_waiters();
        }
    }

    /// Accepted messages are recorded at once but answered only after `delay` (zero, the
    /// default, answers at once): a slow provider, which keeps the sender's messages in flight
    /// for that long.
    pub fn answer_after(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.shared.answer_after_ms.store(ms, Ordering::Release);
    }

    /// Every accepted message, in order.
    pub fn sent(&self) -> Vec<Sent> {
        lock(&self.shared.sent).clone()
    }

    /// The accepted messages from the `start`-th on (0-based), in order: what arrived since a
    /// caller last looked, without copying everything each time.
    pub fn sent_from(&self, start: usize) -> Vec<Sent> {
        let sent = lock(&self.shared.sent);
        sent.get(start..).map(<[Sent]>::to_vec).unwrap_or_default()
    }

    /// How many accepted messages went to `number` (with or without `+`).
    pub fn count_to(&self, number: &str) -> usize {
        let n = bare(number);
        lock(&self.shared.sent)
            .iter()
            .filter(|s| bare(&s.to) == n)
            .count()
    }

    /// How many requests arrived (answered or not), on both APIs.
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::Acquire)
    }
}

fn json_response(status: u16, body: Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn garbage() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html")],
        "<html><body>Service temporarily unavailable</body></html>",
    )
        .into_response()
}

fn with_retry_after(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
    r
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// Twilio: https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource

fn twilio_error(status: u16, code: u32, message: &str) -> Response {
    json_response(
        status,
        json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status,
        }),
    )
}

fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(BASE64.decode(encoded.trim()).ok()?).ok()?;
    let (user, pass) = decoded.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}

async fn twilio_send(
    State(shared): State<Arc<Shared>>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.requests.fetch_add(1, Ordering::AcqRel);
    shared.wait_while_hung().await;
    let creds = &shared.creds;
    let authorised = basic_auth(&headers)
        .is_some_and(|(u, p)| u == creds.twilio_sid && p == creds.twilio_token && sid == u);
    if !authorised {
        let mut r = json_response(
            401,
            json!({
                "code": 20003,
                "detail": "Your AccountSid or AuthToken was incorrect.",
                "message": "Authentication Error - invalid username",
                "more_info": "https://www.twilio.com/docs/errors/20003",
                "status": 401,
            }),
        );
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Basic realm="Twilio API""#),
        );
        return r;
    }
    let form: Vec<(String, String)> = match serde_urlencoded::from_bytes(&body) {
        Ok(f) => f,
        Err(_) => return twilio_error(400, 20001, "The request body is not a form"),
    };
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let Some(to) = field("To") else {
        return twilio_error(400, 21604, "A 'To' phone number is required.");
    };
    let Some(from) = field("From") else {
        return twilio_error(400, 21603, "A 'From' phone number is required.");
    };
    let Some(text) = field("Body") else {
        return twilio_error(400, 21602, "Message body is required.");
    };
    match shared.verdict(&to) {
        Verdict::Fail(status) => {
            let code = if status == 500 {
                20500
            } else {
                u32::from(status)
            };
            twilio_error(status, code, "Internal Server Error")
        }
        Verdict::Throttle => with_retry_after(twilio_error(429, 20429, "Too Many Requests")),
        Verdict::Garbage => garbage(),
        Verdict::Reject(code) => {
            let message = match code {
                21610 => "Attempt to send to unsubscribed recipient".to_string(),
                21211 => format!("Invalid 'To' Phone Number: {to}"),
                21606 => format!(
                    "The 'From' phone number provided ({from}) is not a valid message-capable \
                     Twilio phone number for this destination."
                ),
                21212 => format!("Invalid From Number (caller ID): {from}"),
                _ => format!("Message refused by the fake provider (code {code})"),
            };
            twilio_error(400, code, &message)
        }
        Verdict::Accept(n) => {
            let message_sid = format!("SM{n:032x}");
            let now = httpdate::fmt_http_date(SystemTime::now()).replace(" GMT", " +0000");
            let answer = json!({
                "account_sid": sid,
                "api_version": "2010-04-01",
                "body": text,
                "date_created": now,
                "date_sent": null,
                "date_updated": now,
                "direction": "outbound-api",
                "error_code": null,
                "error_message": null,
                "from": from,
                "messaging_service_sid": null,
                "num_media": "0",
                "num_segments": "1",
                "price": null,
                "price_unit": "USD",
                "sid": message_sid,
                "status": "queued",
                "subresource_uris": {
                    "media": format!("/2010-04-01/Accounts/{sid}/Messages/{message_sid}/Media.json")
                },
                "to": to,
                "uri": format!("/2010-04-01/Accounts/{sid}/Messages/{message_sid}.json"),
            });
            shared.record(to, from, text, "twilio", message_sid);
            shared.slow_answer(json_response(201, answer)).await
        }
    }
}

// ---------------------------------------------------------------------------------------
// SMSGlobal: https://www.smsglobal.com/rest-api/

fn smsglobal_errors(status: u16, word: &str, field: &str, message: &str) -> Response {
    json_response(
        status,
        json!({ "status": word, "data": { "errors": { field: { "errors": [message] } } } }),
    )
}

/// Host and port the client addressed, from the `Host` header (port 80 when absent, as the
/// fake only speaks plain HTTP).
fn host_and_port(headers: &HeaderMap) -> Option<(String, u16)> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    match host.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
            Some((h.to_string(), p.parse().ok()?))
        }
        _ => Some((host.to_string(), 80)),
    }
}

async fn smsglobal_send(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.requests.fetch_add(1, Ordering::AcqRel);
    shared.wait_while_hung().await;
    let creds = &shared.creds;
    let mac = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(smsglobal::parse_authorization_header);
    let Some(mac) = mac.filter(|m| m.id == creds.smsglobal_key) else {
        return smsglobal_errors(
            401,
            "Unauthorized",
            "authorization",
            "Missing or unknown API key in the MAC Authorization header.",
        );
    };
    let request_uri = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_string(), |pq| pq.as_str().to_string());
    let signed = host_and_port(&headers).is_some_and(|(host, port)| {
        smsglobal::verify_mac(
            &mac,
            &creds.smsglobal_secret,
            "POST",
            &request_uri,
            &host,
            port,
        )
    });
    if !signed {
        return smsglobal_errors(
            403,
            "Forbidden",
            "authorization",
            "The MAC does not match the request.",
        );
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return smsglobal_errors(400, "Bad Request", "body", "The body is not JSON.");
    };
    let text_of = |name: &str| {
        v.get(name)
            .and_then(|x| match x {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .filter(|s| !s.is_empty())
    };
    let Some(to) = text_of("destination") else {
        return smsglobal_errors(
            400,
            "Bad Request",
            "destination",
            "Destination is required.",
        );
    };
    let Some(from) = text_of("origin") else {
        return smsglobal_errors(400, "Bad Request", "origin", "Origin is invalid.");
    };
    let Some(text) = text_of("message") else {
        return smsglobal_errors(400, "Bad Request", "message", "Message is required.");
    };
    match shared.verdict(&to) {
        Verdict::Fail(status) => {
            json_response(status, json!({ "status": "Internal Server Error" }))
        }
        Verdict::Throttle => {
            with_retry_after(json_response(429, json!({ "status": "Too Many Requests" })))
        }
        Verdict::Garbage => garbage(),
        Verdict::Reject(code) => {
            let (field, message) = match code {
                21610 => (
                    "destination",
                    "Destination has opted out of receiving messages.",
                ),
                21211 | 21614 => ("destination", "Destination is invalid."),
                21606 | 21212 => ("origin", "Origin is invalid."),
                _ => ("destination", "Message refused by the fake provider."),
            };
            smsglobal_errors(400, "Bad Request", field, message)
        }
        Verdict::Accept(n) => {
            // A 16-digit message id (what receipts carry as msgid) and a 10-digit outgoing id.
            let id = 6_000_000_000_000_000u64 + n;
            let outgoing_id = 5_000_000_000u64 + n;
            let answer = json!({
                "messages": [{
                    "id": id,
                    "outgoing_id": outgoing_id,
                    "origin": from,
                    "destination": to,
                    "message": text,
                    "status": "sent",
                    "dateTime": civil::format_sql_utc(unix_now()),
                }]
            });
            shared.record(to, from, text, "smsglobal", id.to_string());
            shared.slow_answer(json_response(200, answer)).await
        }
    }
}
