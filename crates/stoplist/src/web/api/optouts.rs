//! `/api/v1/optouts`: the opt-out list — is a number opted out, add, remove with a reason,
//! list and search, a number's history, and the bulk check.

use super::{ApiAuth, PageOf, limit};
use crate::error::AppError;
use crate::optouts::{self, CheckResult};
use crate::rfc3339;
use crate::state::AppState;
use crate::web::errors::{ApiError, ApiJson, ApiJsonBody, OptionalApiJson, parse_json};
use axum::Json;
use axum::extract::{FromRequest, Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use stoplist_domain::PhoneNumber;
use stoplist_domain::rules::AddedBy;
use stoplist_store::{EventRecord, OptOut};
use utoipa::{IntoParams, ToSchema};

/// Who made a change.
#[derive(Serialize, ToSchema)]
pub struct ActorView {
    /// `user`, `api_key`, `inbound`, `cli` or `system`.
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    pub label: String,
}

impl From<&stoplist_domain::Actor> for ActorView {
    fn from(a: &stoplist_domain::Actor) -> Self {
        ActorView {
            kind: a.kind.as_str().into(),
            id: a.id,
            label: a.label.clone(),
        }
    }
}

/// A number's place on the opt-out list.
#[derive(Serialize, ToSchema)]
pub struct OptOutStatus {
    /// E.164.
    pub number: String,
    pub opted_out: bool,
    /// Opted out since (RFC 3339), when opted out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// `reply`, `manual`, `upload`, `api` or `carrier`, when opted out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<ActorView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
    /// True for an opt-out counted from an unclear reply until a person reviews it (it
    /// suppresses sending; a review confirms or dismisses it). Present where the entry was
    /// read from the list (adds, removals, the list), not in the quick lookup.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub provisional: bool,
}

impl OptOutStatus {
    fn of(number: &PhoneNumber, o: Option<&OptOut>) -> Self {
        OptOutStatus {
            number: number.as_str().to_owned(),
            opted_out: o.is_some(),
            since: o.map(|o| rfc3339(o.created_at)),
            source: o.map(|o| o.source.as_str().to_owned()),
            actor: o.map(|o| ActorView::from(&o.actor)),
            evidence: o.and_then(|o| o.evidence.clone()),
            provisional: o.is_some_and(|o| o.provisional),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/optouts/{number}", tag = "opt-outs",
    params(("number" = String, Path, description = "Any written form; read with the account's default region")),
    responses((status = 200, body = OptOutStatus), (status = 422, body = crate::web::errors::ErrorBody)))]
/// Is this number opted out? Since when, and why (its source). Answered from memory; who
/// and the evidence are in the number's events.
pub async fn get_optout(
    auth: ApiAuth,
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<OptOutStatus>, ApiError> {
    let number = state.optouts.parse_number(auth.account(), &raw).await?;
    let found = state.optouts.lookup(auth.account(), &number).await?;
    Ok(Json(OptOutStatus {
        number: number.as_str().to_owned(),
        opted_out: found.is_some(),
        since: found.map(|(since, _)| rfc3339(since)),
        source: found.map(|(_, source)| source.as_str().to_owned()),
        actor: None,
        evidence: None,
        provisional: false,
    }))
}

/// Add a number to the opt-out list.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddOptOut {
    pub number: String,
    /// `api` (default) or `manual`.
    #[serde(default)]
    pub source: Option<String>,
    /// Free text kept as evidence (where the request came from).
    #[serde(default)]
    pub evidence: Option<String>,
}

/// The answer to an add: the status and whether this request added it.
#[derive(Serialize, ToSchema)]
pub struct AddedOptOut {
    #[serde(flatten)]
    pub status: OptOutStatus,
    /// False when the number was already on the list.
    pub created: bool,
}

#[utoipa::path(post, path = "/api/v1/optouts", tag = "opt-outs", request_body = AddOptOut,
    responses((status = 201, body = AddedOptOut, description = "added"),
              (status = 200, body = AddedOptOut, description = "already opted out"),
              (status = 422, body = crate::web::errors::ErrorBody)))]
/// Put a number on the opt-out list (source `api` or `manual`).
pub async fn add_optout(
    auth: ApiAuth,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<AddOptOut>,
) -> Result<(StatusCode, Json<AddedOptOut>), ApiError> {
    let by = match body.source.as_deref() {
        None | Some("api") => AddedBy::Api,
        Some("manual") => AddedBy::Manual,
        Some(other) => {
            return Err(ApiError(AppError::invalid(
                "invalid_field",
                "source",
                format!("source must be \"api\" or \"manual\", not {other:?}"),
            )));
        }
    };
    let evidence =
        stoplist_domain::names::optional_line(body.evidence.as_deref(), "evidence", 500)?;
    let number = state
        .optouts
        .parse_number(auth.account(), &body.number)
        .await?;
    let out = state
        .optouts
        .add(auth.account(), &number, by, auth.actor(), evidence)
        .await?;
    let created = out.event_seq.is_some();
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(AddedOptOut {
            status: OptOutStatus::of(&number, out.optout.as_ref()),
            created,
        }),
    ))
}

/// Why an opt-out is lifted.
#[derive(Deserialize, ToSchema, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RemoveOptOut {
    /// Required: kept in the evidence ledger.
    pub reason: Option<String>,
}

#[utoipa::path(delete, path = "/api/v1/optouts/{number}", tag = "opt-outs",
    params(("number" = String, Path), RemoveOptOut), request_body(content = RemoveOptOut, description = "or ?reason="),
    responses((status = 200, body = OptOutStatus),
              (status = 409, body = crate::web::errors::ErrorBody, description = "not opted out, or a reply opt-out under Enforce Global Optouts"),
              (status = 422, body = crate::web::errors::ErrorBody)))]
/// Lift a number's opt-out, with a reason. Refused for a reply opt-out while Enforce Global
/// Optouts is on (only the number itself can lift it, by replying START).
pub async fn remove_optout(
    auth: ApiAuth,
    State(state): State<AppState>,
    Path(raw): Path<String>,
    Query(q): Query<RemoveOptOut>,
    OptionalApiJson(body): OptionalApiJson<RemoveOptOut>,
) -> Result<Json<OptOutStatus>, ApiError> {
    let from_body = body.and_then(|b| b.reason);
    let reason = from_body.or(q.reason).unwrap_or_default();
    let number = state.optouts.parse_number(auth.account(), &raw).await?;
    let out = state
        .optouts
        .remove(auth.account(), &number, auth.actor(), &reason)
        .await?;
    Ok(Json(OptOutStatus::of(&number, out.optout.as_ref())))
}

/// Paging and search of the opt-out list.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Digits to find anywhere in the number.
    pub q: Option<String>,
    /// The `next` cursor of the previous page.
    pub before: Option<i64>,
    /// 1 to 1000, default 100.
    pub limit: Option<i64>,
}

/// One opt-out in a list.
#[derive(Serialize, ToSchema)]
pub struct OptOutItem {
    pub id: i64,
    pub number: String,
    pub since: String,
    pub source: String,
    pub actor: ActorView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
    /// True for an opt-out counted from an unclear reply until a person reviews it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub provisional: bool,
}

impl From<&OptOut> for OptOutItem {
    fn from(o: &OptOut) -> Self {
        OptOutItem {
            id: o.id,
            number: o.number.as_str().to_owned(),
            since: rfc3339(o.created_at),
            source: o.source.as_str().to_owned(),
            actor: ActorView::from(&o.actor),
            evidence: o.evidence.clone(),
            provisional: o.provisional,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/optouts", tag = "opt-outs", params(ListQuery),
    responses((status = 200, body = PageOf<OptOutItem>)))]
/// The opt-out list, newest first, with keyset pagination.
pub async fn list_optouts(
    auth: ApiAuth,
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<PageOf<OptOutItem>>, ApiError> {
    let page = state
        .store
        .list_optouts(auth.account(), q.q.as_deref(), q.before, limit(q.limit))
        .await
        .map_err(AppError::from)?;
    Ok(Json(PageOf {
        items: page.items.iter().map(OptOutItem::from).collect(),
        next: page.next,
    }))
}

/// One ledger event.
#[derive(Serialize, ToSchema)]
pub struct EventView {
    pub seq: i64,
    /// `opted_out` or `opted_in`.
    pub kind: String,
    /// `reply`, `manual`, `upload`, `api`, `carrier` or `import_reset`.
    pub source: String,
    pub actor: ActorView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
    pub at: String,
    pub prev_hash: String,
    pub hash: String,
}

impl From<&EventRecord> for EventView {
    fn from(e: &EventRecord) -> Self {
        let c = &e.event.content;
        EventView {
            seq: c.seq,
            kind: c.kind.as_str().into(),
            source: c.source.as_str().into(),
            actor: ActorView::from(&c.actor),
            reason: c.reason.clone(),
            evidence: c.evidence.clone(),
            at: rfc3339(c.at_ms),
            prev_hash: e.event.prev_hash.to_hex(),
            hash: e.event.hash.to_hex(),
        }
    }
}

/// A number's history.
#[derive(Serialize, ToSchema)]
pub struct NumberHistory {
    pub number: String,
    pub opted_out: bool,
    pub events: Vec<EventView>,
}

#[utoipa::path(get, path = "/api/v1/optouts/{number}/events", tag = "opt-outs",
    params(("number" = String, Path)), responses((status = 200, body = NumberHistory)))]
/// Every change to a number's place on the list, oldest first, with the ledger's hashes.
pub async fn number_events(
    auth: ApiAuth,
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<NumberHistory>, ApiError> {
    let number = state.optouts.parse_number(auth.account(), &raw).await?;
    let events = state
        .store
        .number_events(auth.account(), &number)
        .await
        .map_err(AppError::from)?;
    let opted_out = state
        .store
        .optout(auth.account(), &number)
        .await
        .map_err(AppError::from)?
        .is_some();
    Ok(Json(NumberHistory {
        number: number.as_str().to_owned(),
        opted_out,
        events: events.iter().map(EventView::from).collect(),
    }))
}

/// Many numbers to check.
// Documents the request body in the OpenAPI document, and names the field at fault in a body
// that `parse_capped` refuses; the handler reads the numbers with `parse_capped`.
#[allow(dead_code)]
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// Any written forms, read with the account's default region; at most
    /// `max_check_numbers` (1,000,000 by default) in one request.
    pub numbers: Vec<String>,
}

/// One result per input, in order: `{input, number, opted_out}` or `{input, invalid, reason}`.
#[derive(Serialize, ToSchema)]
pub struct CheckResponse<'a> {
    #[schema(value_type = Vec<Object>)]
    pub results: Vec<CheckResult<'a>>,
}

/// One number of the request, borrowed from the body where it needs no unescaping.
#[derive(Deserialize)]
#[serde(transparent)]
struct Number<'a>(#[serde(borrow)] std::borrow::Cow<'a, str>);

impl AsRef<str> for Number<'_> {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Parses a bulk check's body, refusing it as soon as it holds more than `cap` numbers: a
/// 64 MB body of one-digit numbers would otherwise become some 16 million entries before it
/// could be counted. Any other fault is named as for every API body ([`parse_json`]).
// The error is the finished response, as `parse_json`'s is.
#[allow(clippy::result_large_err)]
fn parse_capped(body: &[u8], cap: usize) -> Result<Vec<Number<'_>>, axum::response::Response> {
    use serde::de::{DeserializeSeed, Deserializer as _, Error as _, MapAccess, SeqAccess};
    use std::cell::Cell;

    /// The body's `numbers`, counted as they are read; `over` notes a refusal for the cap.
    struct Numbers<'c> {
        cap: usize,
        over: &'c Cell<bool>,
    }

    impl<'de> serde::de::Visitor<'de> for Numbers<'_> {
        type Value = Vec<Number<'de>>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object with \"numbers\", an array of strings")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut numbers = None;
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if key != "numbers" {
                    return Err(A::Error::unknown_field(&key, &["numbers"]));
                }
                numbers = Some(map.next_value_seed(Capped {
                    cap: self.cap,
                    over: self.over,
                })?);
            }
            numbers.ok_or_else(|| A::Error::missing_field("numbers"))
        }
    }

    /// The `numbers` array, refused past `cap` elements.
    struct Capped<'c> {
        cap: usize,
        over: &'c Cell<bool>,
    }

    impl<'de> DeserializeSeed<'de> for Capped<'_> {
        type Value = Vec<Number<'de>>;

        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_seq(self)
        }
    }

    impl<'de> serde::de::Visitor<'de> for Capped<'_> {
        type Value = Vec<Number<'de>>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an array of strings")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut numbers = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(self.cap));
            while let Some(n) = seq.next_element::<Number<'de>>()? {
                if numbers.len() == self.cap {
                    self.over.set(true);
                    return Err(A::Error::custom("too many numbers"));
                }
                numbers.push(n);
            }
            Ok(numbers)
        }
    }

    let over = Cell::new(false);
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed = de
        .deserialize_struct("CheckRequest", &["numbers"], Numbers { cap, over: &over })
        .and_then(|numbers| de.end().map(|()| numbers));
    match parsed {
        Ok(numbers) => Ok(numbers),
        Err(_) if over.get() => Err(ApiError(AppError::TooLarge(format!(
            "numbers: a bulk check takes at most {cap} numbers; split the list into several \
             requests"
        )))
        .into_response()),
        // The derived parse names the field at fault (it fails where this one did: the
        // numbers it reads before that are within the cap).
        Err(e) => Err(match parse_json::<CheckRequest>(body) {
            Err(named) => named,
            Ok(_) => crate::web::errors::api_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_json",
                format!("request body: {e}"),
                None,
            ),
        }),
    }
}

/// Pieces of the answer a bulk check may have written ahead of its client.
const PIECES_AHEAD: usize = 2;

#[utoipa::path(post, path = "/api/v1/optouts/check", tag = "opt-outs", request_body = CheckRequest,
    responses((status = 200, body = CheckResponse),
              (status = 413, body = crate::web::errors::ErrorBody, description = "a body over max_bulk_body_bytes, or more numbers than max_check_numbers"),
              (status = 429, body = crate::web::errors::ErrorBody, description = "the account or the server runs as many bulk checks as allowed; see Retry-After")))]
/// Checks many numbers in one request. The account and the server each run a limited number
/// at once (429 with `Retry-After` past it, before the body is read); the answer is written
/// out in pieces as it is made, never whole in memory.
pub async fn check(
    auth: ApiAuth,
    State(state): State<AppState>,
    request: axum::extract::Request,
) -> Result<axum::response::Response, ApiError> {
    let account = auth.account();
    // The place first: a refused check costs no more than its headers.
    let permit = state.limits.try_bulk_check(account)?;
    let body = match ApiJsonBody::from_request(request, &state).await {
        Ok(ApiJsonBody(body)) => body,
        Err(resp) => return Ok(resp),
    };
    let cap = state.config.max_check_numbers;
    let region = state.optouts.region(account).await?;
    // Every key answered truthfully from memory; while the account's whole index is in doubt
    // (still loading, an import being followed) past this wait, from the database.
    let view = state
        .optouts
        .view(account, std::time::Duration::from_secs(2))
        .await?;
    let listed = match view {
        Some(_) => None,
        None => {
            let numbers = match parse_capped(&body, cap) {
                Ok(n) => n,
                Err(resp) => return Ok(resp),
            };
            let numbers: Vec<PhoneNumber> = optouts::parse_all(region, &numbers)
                .into_iter()
                .filter_map(Result::ok)
                .collect();
            Some(state.optouts.listed_among(account, &numbers).await?)
        }
    };
    // Parse, check and serialize on a blocking thread (a million numbers is CPU work), which
    // says first whether the body is right, then hands the answer over in pieces.
    let (started_tx, started) =
        tokio::sync::oneshot::channel::<Result<(), axum::response::Response>>();
    let (pieces_tx, pieces) = tokio::sync::mpsc::channel::<Vec<u8>>(PIECES_AHEAD);
    let metrics = state.metrics.clone();
    tokio::task::spawn_blocking(move || {
        // Held until the last piece is handed over (or the client has gone): dropped before
        // the pieces' sender, so a client that has read the whole answer finds the place free.
        let permit = permit;
        let numbers = match parse_capped(&body, cap) {
            Ok(numbers) => numbers,
            Err(resp) => {
                drop(permit);
                let _ = started_tx.send(Err(resp));
                return;
            }
        };
        metrics.checks(numbers.len() as u64);
        if started_tx.send(Ok(())).is_err() {
            return;
        }
        let emit = |piece: Vec<u8>| pieces_tx.blocking_send(piece).is_ok();
        let written = match (&view, &listed) {
            (Some(view), _) => {
                optouts::check_json(&|k| view.get(k).is_some(), region, &numbers, emit)
            }
            (None, Some(listed)) => {
                optouts::check_json(&|k| listed.contains_key(&k), region, &numbers, emit)
            }
            (None, None) => optouts::check_json(&|_| false, region, &numbers[..0], emit),
        };
        // Results serialize without fail (plain strings and booleans); were one not to, the
        // answer is cut short, which its client sees as a broken body.
        if let Err(e) = written {
            tracing::error!(error = %e, "bulk check: serializing an answer");
        }
        drop(permit);
    });
    match started.await {
        Ok(Ok(())) => {
            let stream = futures_util::stream::unfold(pieces, |mut pieces| async move {
                let piece = pieces.recv().await?;
                Some((Ok::<_, std::io::Error>(piece), pieces))
            });
            Ok((
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                axum::body::Body::from_stream(stream),
            )
                .into_response())
        }
        Ok(Err(resp)) => Ok(resp),
        Err(_) => Err(ApiError(AppError::Internal(anyhow::anyhow!(
            "the bulk check task ended before it started its answer"
        )))),
    }
}
