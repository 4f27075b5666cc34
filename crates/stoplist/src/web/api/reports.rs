//! Report exports over the API (SPEC 3.5, 3.8): the opt-out list, a number's event log and
//! its evidence bundle, a campaign's messages and the Incoming report (every reply), as CSV,
//! TSV, XLSX or PDF (the bundle as PDF or JSON). Each is written to a temporary file by `reports` and then streamed as an
//! attachment, so a failure half-way is an error response, never a cut-short download.

use super::{ApiAuth, path_id};
use crate::reports::evidence::EvidenceFormat;
use crate::reports::incoming::{IncomingFilter, RawFilter};
use crate::reports::{self, ExportFile, Format};
use crate::state::AppState;
use crate::web::errors::ApiError;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use stoplist_domain::CampaignId;
use utoipa::IntoParams;

/// The report routes, merged into `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/optouts/export", get(export_optouts))
        .route(
            "/api/v1/optouts/{number}/events/export",
            get(export_number_events),
        )
        .route("/api/v1/optouts/{number}/evidence", get(evidence))
        .route(
            "/api/v1/campaigns/{id}/messages/export",
            get(export_campaign_messages),
        )
        .route("/api/v1/replies/export", get(export_incoming))
}

/// The report paths of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    export_optouts,
    export_number_events,
    evidence,
    export_campaign_messages,
    export_incoming
))]
pub struct ReportsDoc;

/// A finished export as a download: its type, `Content-Disposition: attachment` with its
/// name, and its bytes streamed from the temporary file (removed once sent or abandoned).
pub fn attachment(file: ExportFile) -> Response {
    let headers = [
        (header::CONTENT_TYPE, file.content_type.to_owned()),
        (
            header::CONTENT_DISPOSITION,
            // The name is ASCII letters, digits, '-' and '.' only (see `ExportFile`).
            format!("attachment; filename=\"{}\"", file.file_name),
        ),
        (header::CACHE_CONTROL, "no-store".to_owned()),
    ];
    (headers, Body::from_stream(file.into_stream())).into_response()
}

/// The format of a table export.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FormatQuery {
    /// `csv` (default), `tsv`, `xlsx` or `pdf` (at most 100,000 rows).
    pub format: Option<String>,
}

/// The opt-out list export's format and search.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct OptOutsExportQuery {
    /// `csv` (default), `tsv`, `xlsx` or `pdf` (at most 100,000 rows).
    pub format: Option<String>,
    /// Digits to find anywhere in the number.
    pub search: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/optouts/export", tag = "reports", params(OptOutsExportQuery),
    responses(
        (status = 200, description = "the opt-out list, newest first: number, opted_out_since, source, actor, evidence",
         content((String = "text/csv"), (String = "text/tab-separated-values"),
            (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), (Vec<u8> = "application/pdf"))),
        (status = 422, body = crate::web::errors::ErrorBody, description = "unknown format, or too many rows for a PDF")))]
/// Exports the opt-out list (optionally searched by digits) as a file.
pub async fn export_optouts(
    auth: ApiAuth,
    State(state): State<AppState>,
    Query(q): Query<OptOutsExportQuery>,
) -> Result<Response, ApiError> {
    let format = reports::parse_format(q.format.as_deref(), Format::Csv)?;
    let file =
        reports::optouts::optout_list(&state, auth.account(), format, q.search.as_deref()).await?;
    let by = auth.asker();
    crate::audit::record(
        state.store.as_ref(),
        auth.account(),
        stoplist_domain::AuditEvent::OptOutListExported,
        &by.actor,
        "opt-out list",
        format.as_str(),
        &by.address,
    )
    .await;
    Ok(attachment(file))
}

#[utoipa::path(get, path = "/api/v1/optouts/{number}/events/export", tag = "reports",
    params(("number" = String, Path, description = "Any written form; read with the account's default region"), FormatQuery),
    responses(
        (status = 200, description = "the number's events, oldest first: time, kind, source, actor, reason, evidence, seq, hash",
         content((String = "text/csv"), (String = "text/tab-separated-values"),
            (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), (Vec<u8> = "application/pdf"))),
        (status = 422, body = crate::web::errors::ErrorBody)))]
/// Exports a number's event log (with each event's ledger seq and hash) as a file.
pub async fn export_number_events(
    auth: ApiAuth,
    State(state): State<AppState>,
    Path(raw): Path<String>,
    Query(q): Query<FormatQuery>,
) -> Result<Response, ApiError> {
    let format = reports::parse_format(q.format.as_deref(), Format::Csv)?;
    let number = state.optouts.parse_number(auth.account(), &raw).await?;
    let file = reports::optouts::number_events(&state, auth.account(), &number, format).await?;
    Ok(attachment(file))
}

/// The evidence bundle's format.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EvidenceQuery {
    /// `pdf` (default) or `json`.
    pub format: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/optouts/{number}/evidence", tag = "reports",
    params(("number" = String, Path, description = "Any written form; read with the account's default region"), EvidenceQuery),
    responses(
        (status = 200, description = "PDF: the events table and \"Hash chain verified: yes/no\". JSON: \
            {number, account, generated_at, opted_out, chain_verified, chain_detail, events: [{seq, at, kind, source, actor, reason, evidence, prev_hash, hash}]}",
         content((Vec<u8> = "application/pdf"), (Object = "application/json"))),
        (status = 422, body = crate::web::errors::ErrorBody)))]
/// A number's evidence bundle: its events with their hashes, and whether the account's whole
/// hash chain verifies now.
pub async fn evidence(
    auth: ApiAuth,
    State(state): State<AppState>,
    Path(raw): Path<String>,
    Query(q): Query<EvidenceQuery>,
) -> Result<Response, ApiError> {
    let format = EvidenceFormat::parse(q.format.as_deref())?;
    let number = state.optouts.parse_number(auth.account(), &raw).await?;
    let file = reports::evidence::bundle(&state, auth.account(), &number, format).await?;
    Ok(attachment(file))
}

/// The messages export's format and status filter.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct MessagesExportQuery {
    /// `csv` (default), `tsv`, `xlsx` or `pdf` (at most 100,000 rows).
    pub format: Option<String>,
    /// queued, held, sending, sent, delivered, failed, suppressed or cancelled; all when absent.
    pub status: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/campaigns/{id}/messages/export", tag = "reports",
    params(("id" = i64, Path), MessagesExportQuery),
    responses(
        (status = 200, description = "the campaign's messages by id: id, number, status, sender, text, provider_id, error_code, sent_at",
         content((String = "text/csv"), (String = "text/tab-separated-values"),
            (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), (Vec<u8> = "application/pdf"))),
        (status = 404, body = crate::web::errors::ErrorBody),
        (status = 422, body = crate::web::errors::ErrorBody)))]
/// Exports a campaign's messages (optionally of one status) as a file.
pub async fn export_campaign_messages(
    auth: ApiAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<MessagesExportQuery>,
) -> Result<Response, ApiError> {
    let id = CampaignId(path_id(&id, "campaign")?);
    let format = reports::parse_format(q.format.as_deref(), Format::Csv)?;
    let status = reports::campaigns::parse_status(q.status.as_deref())?;
    // Another account's campaign is "not found", as any id the account does not have.
    let file = reports::campaigns::messages(&state, auth.account(), id, format, status).await?;
    Ok(attachment(file))
}

/// The Incoming export's format and filters (the filters of `GET /api/v1/replies`).
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct IncomingExportQuery {
    /// `csv` (default), `tsv`, `xlsx` or `pdf` (at most 100,000 rows).
    pub format: Option<String>,
    /// Received at or after: YYYY-MM-DD (from midnight UTC) or an RFC 3339 time.
    pub from: Option<String>,
    /// Received up to: YYYY-MM-DD (the whole day, UTC) or an RFC 3339 time (before it).
    pub to: Option<String>,
    /// opt_out, opt_in, help, other or unclear.
    pub class: Option<String>,
    /// All or part of the sender's number, in any written form.
    pub number: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/replies/export", tag = "reports", params(IncomingExportQuery),
    responses(
        (status = 200, description = "the Incoming report, newest first: received_at (RFC 3339 UTC), from, to, text, \
            class, tier, matched_campaign, actions (joined with \"; \")",
         content((String = "text/csv"), (String = "text/tab-separated-values"),
            (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), (Vec<u8> = "application/pdf"))),
        (status = 422, body = crate::web::errors::ErrorBody,
         description = "a bad format, from, to, class or number (the field is named), or too many rows for a PDF")))]
/// Exports the Incoming report (every reply, filtered by date range, class and number) as a
/// file.
pub async fn export_incoming(
    auth: ApiAuth,
    State(state): State<AppState>,
    Query(q): Query<IncomingExportQuery>,
) -> Result<Response, ApiError> {
    let format = reports::parse_format(q.format.as_deref(), Format::Csv)?;
    let raw = RawFilter {
        from: q.from.as_deref(),
        to: q.to.as_deref(),
        class: q.class.as_deref(),
        number: q.number.as_deref(),
    };
    let filter = IncomingFilter::for_account(&state, auth.account(), &raw).await?;
    let file = reports::incoming::export(&state, auth.account(), &filter, format).await?;
    Ok(attachment(file))
}
