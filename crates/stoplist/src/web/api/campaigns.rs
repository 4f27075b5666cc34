//! `/api/v1/campaigns` and `/api/v1/settings/connector`: drafts, the recipients file, preview
//! with the Invalid Numbers list, send (with an `Idempotency-Key`), pause, resume, cancel,
//! status, and the messages with keyset pagination.

use super::imports::save_upload;
use super::{ApiAuth, PageOf, limit, path_id};
use crate::campaigns::connectors::ConnectorSettings;
use crate::campaigns::{self, CampaignInput, Preview};
use crate::error::AppError;
use crate::rfc3339;
use crate::state::AppState;
use crate::web::errors::{ApiError, ApiJson};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use stoplist_domain::CampaignId;
use stoplist_store::{
    Campaign, CampaignAction, InvalidRecipient, Message, MessageCounts, MessageFilter, StartOutcome,
};
use utoipa::{IntoParams, ToSchema};

/// A campaign, its message counts and its last preview.
#[derive(Serialize, ToSchema)]
pub struct CampaignOut {
    pub id: i64,
    pub name: String,
    pub sender_id: String,
    pub message: String,
    pub groups: Vec<i64>,
    pub numbers: Vec<String>,
    /// The recipients file's name and column of numbers, if one was uploaded.
    pub file: Option<FileOut>,
    /// draft, sending, paused, cancelled or done.
    pub status: String,
    pub created_by: String,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    #[schema(value_type = Object)]
    pub counts: MessageCounts,
    pub preview: Option<Preview>,
}

/// A recipients file.
#[derive(Serialize, ToSchema)]
pub struct FileOut {
    pub name: String,
    pub column: Option<String>,
    /// True once the file was removed from the server's disk (the campaign ended and the
    /// retention, `campaign_file_retention_hours`, passed).
    pub removed: bool,
}

fn out(c: &Campaign, counts: MessageCounts) -> CampaignOut {
    CampaignOut {
        id: c.id.0,
        name: c.name.clone(),
        sender_id: c.sender_id.clone(),
        message: c.message.clone(),
        groups: c.groups.iter().map(|g| g.0).collect(),
        numbers: c.numbers.clone(),
        file: c.file.as_ref().map(|f| FileOut {
            name: f.name.clone(),
            column: f.column.clone(),
            removed: f.path.is_none(),
        }),
        status: c.status.as_str().to_owned(),
        created_by: c.created_by.to_string(),
        created_at: rfc3339(c.created_at),
        started_at: c.started_at.map(rfc3339),
        finished_at: c.finished_at.map(rfc3339),
        counts,
        preview: c
            .preview_json
            .as_deref()
            .and_then(|j| serde_json::from_str(j).ok()),
    }
}

async fn load(state: &AppState, auth: &ApiAuth, raw: &str) -> Result<CampaignOut, ApiError> {
    let id = CampaignId(path_id(raw, "campaign")?);
    let v = campaigns::view(state, auth.account(), id).await?;
    Ok(out(&v.campaign, v.counts))
}

#[utoipa::path(post, path = "/api/v1/campaigns", tag = "campaigns", request_body = CampaignInput,
    responses((status = 201, body = CampaignOut), (status = 422, body = crate::web::errors::ErrorBody)))]
/// Creates a draft campaign: name, sender id, text, and recipients from groups and typed
/// numbers (a file can be added with `PUT /api/v1/campaigns/{id}/file`).
pub async fn create_campaign(
    auth: ApiAuth,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CampaignInput>,
) -> Result<(StatusCode, Json<CampaignOut>), ApiError> {
    let c = campaigns::create(&state, auth.account(), &auth.actor(), &body).await?;
    Ok((StatusCode::CREATED, Json(out(&c, MessageCounts::default()))))
}

/// A page cursor.
#[derive(Deserialize, IntoParams)]
pub struct PageQuery {
    /// The `next` of the previous page.
    pub after: Option<i64>,
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/campaigns", tag = "campaigns", params(PageQuery),
    responses((status = 200, body = PageOf<CampaignOut>)))]
/// The account's campaigns, newest first (`after` is the `next` of the previous page).
pub async fn list_campaigns(
    auth: ApiAuth,
    State(state): State<AppState>,
    Query(q): Query<PageQuery>,
) -> Result<Json<PageOf<CampaignOut>>, ApiError> {
    let page = state
        .store
        .list_campaigns(auth.account(), q.after, limit(q.limit))
        .await
        .map_err(AppError::from)?;
    let mut items = Vec::with_capacity(page.items.len());
    for c in &page.items {
        let counts = state
            .store
            .message_counts(auth.account(), c.id)
            .await
            .map_err(AppError::from)?;
        items.push(out(c, counts));
    }
    Ok(Json(PageOf {
        items,
        next: page.next,
    }))
}

#[utoipa::path(get, path = "/api/v1/campaigns/{id}", tag = "campaigns", params(("id" = i64, Path)),
    responses((status = 200, body = CampaignOut), (status = 404, body = crate::web::errors::ErrorBody)))]
/// One campaign: status, message counts by status, last preview.
pub async fn get_campaign(
    auth: ApiAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<CampaignOut>, ApiError> {
    Ok(Json(load(&state, &auth, &id).await?))
}

/// The recipients file's name and column.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FileQuery {
    /// The file's name (its extension helps tell CSV from TSV or TXT).
    pub file_name: Option<String>,
    /// The column of numbers: a header or a 0-based index; guessed when absent.
    pub column: Option<String>,
}

#[utoipa::path(put, path = "/api/v1/campaigns/{id}/file", tag = "campaigns", params(("id" = i64, Path), FileQuery),
    request_body(content = Vec<u8>, description = "a file with a column of numbers (CSV, TSV, TXT, XLSX, XLS, ODS)", content_type = "application/octet-stream"),
    responses((status = 200, body = CampaignOut), (status = 413, body = crate::web::errors::ErrorBody),
              (status = 422, body = crate::web::errors::ErrorBody)))]
/// Sets a draft's recipients file (replacing any earlier one).
pub async fn put_file(
    auth: ApiAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<FileQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<CampaignOut>, ApiError> {
    let cid = CampaignId(path_id(&id, "campaign")?);
    campaigns::get(&state, auth.account(), cid).await?;
    let upload = save_upload(&state, &headers, body).await?;
    let name = q.file_name.unwrap_or_else(|| "recipients.csv".into());
    campaigns::attach_file(&state, auth.account(), cid, upload, &name, q.column).await?;
    Ok(Json(load(&state, &auth, &id).await?))
}

#[utoipa::path(post, path = "/api/v1/campaigns/{id}/preview", tag = "campaigns", params(("id" = i64, Path)),
    responses((status = 200, body = Preview), (status = 409, body = crate::web::errors::ErrorBody)))]
/// Previews a draft: numbers read, duplicates, invalid by reason, opted out, recipients, and
/// the message's encoding and segments. The excluded numbers are at `.../invalid`.
pub async fn preview(
    auth: ApiAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Preview>, ApiError> {
    let cid = CampaignId(path_id(&id, "campaign")?);
    Ok(Json(campaigns::preview(&state, auth.account(), cid).await?))
}

/// One excluded number.
#[derive(Serialize, ToSchema)]
pub struct InvalidOut {
    pub seq: i64,
    /// Where it came from: `typed 3`, `file row 12`, `group Customers`.
    pub origin: String,
    pub number: String,
    /// `opted_out`, `not_a_number`, `too_short`, …
    pub reason: String,
    pub detail: String,
    pub opted_out_since: Option<String>,
    pub opt_out_source: Option<String>,
}

impl From<InvalidRecipient> for InvalidOut {
    fn from(r: InvalidRecipient) -> Self {
        InvalidOut {
            seq: r.seq,
            origin: r.origin,
            number: r.raw,
            reason: r.reason,
            detail: r.detail,
            opted_out_since: r.optout_since.map(rfc3339),
            opt_out_source: r.optout_source,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/campaigns/{id}/invalid", tag = "campaigns", params(("id" = i64, Path), PageQuery),
    responses((status = 200, body = PageOf<InvalidOut>)))]
/// The Invalid Numbers list of the last preview: every excluded number with its reason
/// (opted-out numbers with the date and source of their opt-out).
pub async fn invalid(
    auth: ApiAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Json<PageOf<InvalidOut>>, ApiError> {
    let cid = CampaignId(path_id(&id, "campaign")?);
    campaigns::get(&state, auth.account(), cid).await?;
    let n = limit(q.limit);
    let rows = state
        .store
        .campaign_invalid(auth.account(), cid, q.after.unwrap_or(0), n + 1)
        .await
        .map_err(AppError::from)?;
    let more = rows.len() as i64 > n;
    let items: Vec<InvalidOut> = rows
        .into_iter()
        .take(n as usize)
        .map(InvalidOut::from)
        .collect();
    let next = if more {
        items.last().map(|r| r.seq)
    } else {
        None
    };
    Ok(Json(PageOf { items, next }))
}

#[utoipa::path(post, path = "/api/v1/campaigns/{id}/send", tag = "campaigns", params(("id" = i64, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "repeat a send safely: the same key answers the first send's result")),
    responses((status = 202, body = Object), (status = 409, body = crate::web::errors::ErrorBody),
              (status = 422, body = crate::web::errors::ErrorBody)))]
/// Sends a draft: one message per recipient is queued (opted-out numbers excluded) and
/// dispatched through the account's connector, each checked again right before it is sent.
pub async fn send(
    auth: ApiAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<StartOutcome>), ApiError> {
    let cid = CampaignId(path_id(&id, "campaign")?);
    let key = match headers.get("idempotency-key").map(|v| v.to_str()) {
        Some(Ok(k)) if !k.trim().is_empty() && k.len() <= 200 => k.trim().to_owned(),
        Some(_) => {
            return Err(ApiError(AppError::invalid(
                "invalid_field",
                "Idempotency-Key",
                "Idempotency-Key: 1 to 200 visible characters",
            )));
        }
        None => format!("api-{}", crate::auth::random_hex(12)),
    };
    let outcome = campaigns::send(&state, auth.account(), cid, &key).await?;
    Ok((StatusCode::ACCEPTED, Json(outcome)))
}

async fn act(
    auth: ApiAuth,
    state: AppState,
    id: String,
    action: CampaignAction,
) -> Result<Json<CampaignOut>, ApiError> {
    let cid = CampaignId(path_id(&id, "campaign")?);
    campaigns::control(&state, auth.account(), cid, action).await?;
    Ok(Json(load(&state, &auth, &id).await?))
}

#[utoipa::path(post, path = "/api/v1/campaigns/{id}/pause", tag = "campaigns", params(("id" = i64, Path)),
    responses((status = 200, body = CampaignOut), (status = 409, body = crate::web::errors::ErrorBody)))]
/// Pauses a sending campaign: its queued messages wait.
pub async fn pause(
    auth: ApiAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<CampaignOut>, ApiError> {
    act(auth, state, id, CampaignAction::Pause).await
}

#[utoipa::path(post, path = "/api/v1/campaigns/{id}/resume", tag = "campaigns", params(("id" = i64, Path)),
    responses((status = 200, body = CampaignOut), (status = 409, body = crate::web::errors::ErrorBody)))]
/// Resumes a paused campaign.
pub async fn resume(
    auth: ApiAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<CampaignOut>, ApiError> {
    act(auth, state, id, CampaignAction::Resume).await
}

#[utoipa::path(post, path = "/api/v1/campaigns/{id}/cancel", tag = "campaigns", params(("id" = i64, Path)),
    responses((status = 200, body = CampaignOut), (status = 409, body = crate::web::errors::ErrorBody)))]
/// Cancels a campaign: messages not yet sent are cancelled.
pub async fn cancel(
    auth: ApiAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<CampaignOut>, ApiError> {
    act(auth, state, id, CampaignAction::Cancel).await
}

/// Which messages.
#[derive(Deserialize, IntoParams)]
pub struct MessagesQuery {
    /// queued, held, sending, sent, delivered, failed, suppressed or cancelled.
    pub status: Option<String>,
    pub after: Option<i64>,
    pub limit: Option<i64>,
}

/// One outbound message.
#[derive(Serialize, ToSchema)]
pub struct MessageOut {
    pub id: i64,
    pub number: String,
    pub sender_id: String,
    pub text: String,
    pub status: String,
    pub attempts: i64,
    pub provider: Option<String>,
    pub provider_message_id: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub created_at: String,
    pub sent_at: Option<String>,
    pub updated_at: String,
}

impl From<Message> for MessageOut {
    fn from(m: Message) -> Self {
        MessageOut {
            id: m.id.0,
            number: m.number.as_str().to_owned(),
            sender_id: m.sender_id,
            text: m.body,
            status: m.status.as_str().to_owned(),
            attempts: m.attempts,
            provider: m.provider,
            provider_message_id: m.provider_id,
            error_code: m.error_code,
            error_message: m.error_message,
            created_at: rfc3339(m.created_at),
            sent_at: m.sent_at.map(rfc3339),
            updated_at: rfc3339(m.updated_at),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/campaigns/{id}/messages", tag = "campaigns", params(("id" = i64, Path), MessagesQuery),
    responses((status = 200, body = PageOf<MessageOut>)))]
/// A campaign's messages by id, optionally of one status, with keyset pagination.
pub async fn messages(
    auth: ApiAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<MessagesQuery>,
) -> Result<Json<PageOf<MessageOut>>, ApiError> {
    let cid = CampaignId(path_id(&id, "campaign")?);
    campaigns::get(&state, auth.account(), cid).await?;
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(MessageFilter::parse(s).ok_or_else(|| {
            AppError::invalid(
                "invalid_field",
                "status",
                format!("status: {s:?} is not a message status (queued, held, sending, sent, delivered, failed, suppressed, cancelled) nor interrupted (failed, fate unknown)"),
            )
        })?),
    };
    let page = state
        .store
        .list_messages(auth.account(), cid, status, q.after, limit(q.limit))
        .await
        .map_err(AppError::from)?;
    Ok(Json(PageOf {
        items: page.items.into_iter().map(MessageOut::from).collect(),
        next: page.next,
    }))
}

#[utoipa::path(get, path = "/api/v1/settings/connector", tag = "settings",
    responses((status = 200, body = ConnectorSettings)))]
/// The account's connector (the secret is never shown, only whether one is stored).
pub async fn get_connector(
    auth: ApiAuth,
    State(state): State<AppState>,
) -> Result<Json<ConnectorSettings>, ApiError> {
    Ok(Json(state.connectors.settings(auth.account()).await?))
}

#[utoipa::path(put, path = "/api/v1/settings/connector", tag = "settings", request_body = ConnectorSettings,
    responses((status = 200, body = ConnectorSettings), (status = 422, body = crate::web::errors::ErrorBody)))]
/// Sets the account's connector: `log`, `twilio` or `smsglobal`, its account id, secret
/// (kept when omitted), base URL, status callback, rate and timeout.
pub async fn put_connector(
    auth: ApiAuth,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ConnectorSettings>,
) -> Result<Json<ConnectorSettings>, ApiError> {
    let secret_given = body.secret.as_deref().is_some_and(|s| !s.is_empty());
    let saved = state.connectors.update(auth.account(), body).await?;
    let detail = format!("{} {}", saved.kind, saved.base_url.as_deref().unwrap_or(""));
    let by = auth.asker();
    crate::audit::outbound_changed(
        &state,
        auth.account(),
        &by,
        "connector",
        &detail,
        secret_given,
    )
    .await;
    Ok(Json(saved))
}
