//! `/api/v1/replies` (the Incoming report as JSON and the review queue), and the account's
//! own keywords, notification endpoint and Vonage signed-webhook setting under
//! `/api/v1/settings`.

use super::{ApiAuth, PageOf, limit, path_id};
use crate::error::AppError;
use crate::replies::vonage_signature::{self, VonageSigning};
use crate::reports::incoming::{IncomingFilter, RawFilter};
use crate::rfc3339;
use crate::state::AppState;
use crate::web::errors::{ApiError, ApiJson};
use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use stoplist_domain::classify::{KeywordInput, KeywordListError, validate_keywords};
use stoplist_store::{NotificationRecord, Reply};
use utoipa::{IntoParams, ToSchema};

/// One reply as the Incoming report shows it.
#[derive(Serialize, ToSchema)]
pub struct ReplyOut {
    pub id: i64,
    pub received_at: String,
    pub from: String,
    pub to: String,
    pub text: String,
    /// opt_out, opt_in, help, other or unclear.
    pub classification: String,
    /// Which rule decided: keyword, keyword_with_courtesy, phrase, not_a_request, custom, fallback.
    pub tier: String,
    pub matched: Option<String>,
    pub matched_campaign_id: Option<i64>,
    pub actions: Vec<String>,
    /// pending, confirmed or dismissed (unclear replies).
    pub review: Option<String>,
    pub provider: String,
    pub provider_message_id: String,
}

impl From<Reply> for ReplyOut {
    fn from(r: Reply) -> Self {
        ReplyOut {
            id: r.id,
            received_at: rfc3339(r.received_at),
            from: r.from,
            to: r.to,
            text: r.body,
            classification: r.class,
            tier: r.tier,
            matched: r.matched,
            matched_campaign_id: r.matched_campaign_id,
            actions: r.actions,
            review: r.review,
            provider: r.provider,
            provider_message_id: r.provider_message_id,
        }
    }
}

/// Filters of the Incoming report (read by `reports::incoming::IncomingFilter`, as the
/// export's are).
#[derive(Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
pub struct ReplyQuery {
    /// Received at or after: YYYY-MM-DD (from midnight UTC) or an RFC 3339 time.
    pub from: Option<String>,
    /// Received up to: YYYY-MM-DD (the whole day, UTC) or an RFC 3339 time (before it).
    pub to: Option<String>,
    /// opt_out, opt_in, help, other or unclear.
    pub class: Option<String>,
    /// All or part of the sender's number, in any written form.
    pub number: Option<String>,
    /// Only replies awaiting review.
    #[serde(default)]
    pub pending: bool,
    /// The `next` of the previous page.
    pub before: Option<i64>,
    pub limit: Option<i64>,
}

impl ReplyQuery {
    /// The filters as typed.
    fn raw(&self) -> RawFilter<'_> {
        RawFilter {
            from: self.from.as_deref(),
            to: self.to.as_deref(),
            class: self.class.as_deref(),
            number: self.number.as_deref(),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/replies", tag = "replies", params(ReplyQuery),
    responses((status = 200, body = PageOf<ReplyOut>)))]
/// Every reply, newest first: time, from, to, text, classification, tier, matched campaign
/// and actions; filtered by date range, class and number (a bad filter is a 422 naming it);
/// `pending=true` is the review queue. `GET /api/v1/replies/export` gives the same as a file.
pub async fn list_replies(
    auth: ApiAuth,
    State(state): State<AppState>,
    Query(q): Query<ReplyQuery>,
) -> Result<Json<PageOf<ReplyOut>>, ApiError> {
    let mut filter = IncomingFilter::for_account(&state, auth.account(), &q.raw()).await?;
    filter.pending_review = q.pending;
    let page = state
        .store
        .list_replies(
            auth.account(),
            &filter.store_filter(),
            q.before,
            limit(q.limit),
        )
        .await
        .map_err(AppError::from)?;
    Ok(Json(PageOf {
        items: page.items.into_iter().map(ReplyOut::from).collect(),
        next: page.next,
    }))
}

/// A review decision.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewBody {
    /// `confirm` (it is an opt-out) or `dismiss` (it is not).
    pub verdict: String,
}

#[utoipa::path(post, path = "/api/v1/replies/{id}/review", tag = "replies", params(("id" = i64, Path)),
    request_body = ReviewBody, responses((status = 200, body = ReplyOut), (status = 409, body = crate::web::errors::ErrorBody)))]
/// Closes the review of an unclear reply: confirm it as an opt-out, or dismiss it (lifting
/// the provisional opt-out it caused).
pub async fn review(
    auth: ApiAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReviewBody>,
) -> Result<Json<ReplyOut>, ApiError> {
    let id = path_id(&id, "reply")?;
    let confirm = match body.verdict.as_str() {
        "confirm" => true,
        "dismiss" => false,
        other => {
            return Err(ApiError(AppError::invalid(
                "invalid_field",
                "verdict",
                format!("verdict: {other:?} is not confirm or dismiss"),
            )));
        }
    };
    state
        .replies
        .review(auth.account(), id, confirm, &auth.actor())
        .await?;
    let r = state
        .store
        .reply(auth.account(), id)
        .await
        .map_err(AppError::from)?
        .ok_or(AppError::NotFound("reply"))?;
    Ok(Json(ReplyOut::from(r)))
}

/// One of the account's own keywords.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeywordOut {
    pub keyword: String,
    /// opt_out, opt_in or help.
    pub kind: String,
    /// A language code, or `any`.
    #[serde(default = "any")]
    pub language: String,
}

fn any() -> String {
    "any".into()
}

#[utoipa::path(get, path = "/api/v1/settings/keywords", tag = "settings", responses((status = 200, body = Vec<KeywordOut>)))]
/// The account's own keywords (added to the built-in packs).
pub async fn get_keywords(
    auth: ApiAuth,
    State(state): State<AppState>,
) -> Result<Json<Vec<KeywordOut>>, ApiError> {
    let rows = state
        .store
        .custom_keywords(auth.account())
        .await
        .map_err(AppError::from)?;
    Ok(Json(
        rows.into_iter()
            .map(|(keyword, kind, language)| KeywordOut {
                keyword,
                kind,
                language,
            })
            .collect(),
    ))
}

#[utoipa::path(put, path = "/api/v1/settings/keywords", tag = "settings", request_body = Vec<KeywordOut>,
    responses((status = 200, body = Vec<KeywordOut>), (status = 422, body = crate::web::errors::ErrorBody)))]
/// Replaces the account's own keywords: at most 500, each 1 to 40 characters, `opt_out`,
/// `opt_in` or `help`, in `any` language or a two- or three-letter code, once each, and never
/// against the built-in lists (STOP cannot be an opt-in keyword). Any keyword refused (the
/// first is named) and nothing is stored.
pub async fn put_keywords(
    auth: ApiAuth,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Vec<KeywordOut>>,
) -> Result<Json<Vec<KeywordOut>>, ApiError> {
    let rows = body.iter().enumerate().map(|(i, k)| {
        (
            i,
            KeywordInput {
                keyword: &k.keyword,
                kind: &k.kind,
                language: &k.language,
            },
        )
    });
    let list = validate_keywords(rows).map_err(|e| match e {
        KeywordListError::Keywords(errors) if !errors.is_empty() => {
            let (i, e) = &errors[0];
            let field = format!("[{i}].{}", e.field());
            AppError::invalid("invalid_field", field.clone(), format!("{field}: {e}"))
        }
        other => AppError::invalid("invalid_field", "keywords", format!("keywords: {other}")),
    })?;
    state.replies.set_keywords(auth.account(), &list).await?;
    get_keywords(auth, State(state)).await
}

/// The notification endpoint (the secret is write-only).
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifyBody {
    /// Where opt-outs and opt-ins are POSTed; empty or absent removes it.
    pub url: Option<String>,
    /// The HMAC-SHA256 key for `X-Stoplist-Signature` (at least 16 characters).
    #[serde(default, skip_serializing)]
    pub secret: Option<String>,
    #[serde(default)]
    pub has_secret: bool,
}

#[utoipa::path(get, path = "/api/v1/settings/notifications", tag = "settings", responses((status = 200, body = NotifyBody)))]
/// The account's notification endpoint.
pub async fn get_notify(
    auth: ApiAuth,
    State(state): State<AppState>,
) -> Result<Json<NotifyBody>, ApiError> {
    let e = state
        .store
        .notify_endpoint(auth.account())
        .await
        .map_err(AppError::from)?;
    Ok(Json(NotifyBody {
        has_secret: e.is_some(),
        url: e.map(|(u, _)| u),
        secret: None,
    }))
}

#[utoipa::path(put, path = "/api/v1/settings/notifications", tag = "settings", request_body = NotifyBody,
    responses((status = 200, body = NotifyBody), (status = 422, body = crate::web::errors::ErrorBody)))]
/// Sets (or with no url, removes) the endpoint told of every opt-out and opt-in: JSON, signed
/// `X-Stoplist-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, retried with
/// back-off from a durable outbox.
pub async fn put_notify(
    auth: ApiAuth,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<NotifyBody>,
) -> Result<Json<NotifyBody>, ApiError> {
    let endpoint = match body.url.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
        None => None,
        Some(url) => {
            crate::replies::notify::check_endpoint(&state.outbound, "url", url).await?;
            let secret = body.secret.clone().unwrap_or_default();
            if secret.chars().count() < 16 {
                return Err(ApiError(AppError::invalid(
                    "invalid_field",
                    "secret",
                    "secret: at least 16 characters (it signs every notification)",
                )));
            }
            Some((url.to_owned(), secret))
        }
    };
    state
        .store
        .set_notify_endpoint(
            auth.account(),
            endpoint.as_ref().map(|(u, s)| (u.as_str(), s.as_str())),
            crate::now_ms(),
        )
        .await
        .map_err(AppError::from)?;
    get_notify(auth, State(state)).await
}

#[utoipa::path(get, path = "/api/v1/settings/vonage-signature", tag = "settings",
    responses((status = 200, body = VonageSigning)))]
/// The account's Vonage signed-webhook setting (the secret is never shown, only whether one
/// is stored and so signatures are checked).
pub async fn get_vonage_signature(
    auth: ApiAuth,
    State(state): State<AppState>,
) -> Result<Json<VonageSigning>, ApiError> {
    Ok(Json(
        vonage_signature::settings(&state, auth.account()).await?,
    ))
}

#[utoipa::path(put, path = "/api/v1/settings/vonage-signature", tag = "settings", request_body = VonageSigning,
    responses((status = 200, body = VonageSigning), (status = 422, body = crate::web::errors::ErrorBody)))]
/// Sets the signature method and secret of the account's Vonage dashboard, so that
/// `/webhooks/vonage/{token}` refuses (403) webhooks without a valid `sig` or with a
/// `timestamp` more than 5 minutes from now. The secret is kept when omitted; no method turns
/// the check off (unsigned Vonage webhooks are then accepted). Recorded in the settings history.
pub async fn put_vonage_signature(
    auth: ApiAuth,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<VonageSigning>,
) -> Result<Json<VonageSigning>, ApiError> {
    let secret_given = body.secret.as_deref().is_some_and(|s| !s.trim().is_empty());
    let saved = vonage_signature::update(&state, auth.account(), body, &auth.actor()).await?;
    let detail = saved.method.clone().unwrap_or_else(|| "off".into());
    let by = auth.asker();
    crate::audit::outbound_changed(
        &state,
        auth.account(),
        &by,
        "vonage signature",
        &detail,
        secret_given,
    )
    .await;
    Ok(Json(saved))
}

/// One notification and its delivery state.
#[derive(Serialize, ToSchema)]
pub struct NotificationOut {
    pub id: i64,
    pub event: String,
    pub payload: String,
    /// pending, delivered or failed.
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: String,
    pub delivered_at: Option<String>,
}

impl From<NotificationRecord> for NotificationOut {
    fn from(n: NotificationRecord) -> Self {
        NotificationOut {
            id: n.id,
            event: n.event,
            payload: n.payload,
            status: n.status,
            attempts: n.attempts,
            last_error: n.last_error,
            created_at: rfc3339(n.created_at),
            delivered_at: n.delivered_at.map(rfc3339),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/settings/notifications/log", tag = "settings",
    responses((status = 200, body = Vec<NotificationOut>)))]
/// The notification delivery log, newest first.
pub async fn notify_log(
    auth: ApiAuth,
    State(state): State<AppState>,
) -> Result<Json<Vec<NotificationOut>>, ApiError> {
    let rows = state
        .store
        .list_notifications(auth.account(), 200)
        .await
        .map_err(AppError::from)?;
    Ok(Json(rows.into_iter().map(NotificationOut::from).collect()))
}
