//! `/api/v1/groups/{id}/imports`, `/api/v1/optouts/uploads` and `/api/v1/imports`: a file
//! posted as the request body becomes an import job (SPEC 3.4, 3.5) with status, progress,
//! a report and a CSV of the rows not imported.

use super::{ApiAuth, PageOf, path_id};
use crate::error::AppError;
use crate::import::upload::{self, Upload};
use crate::import::{self, ImportProgress, ImportRequest, MappingOverride, Target};
use crate::rfc3339;
use crate::state::AppState;
use crate::web::errors::ApiError;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use stoplist_domain::GroupId;
use stoplist_domain::names::Reason;
use stoplist_store::{ImportCounts, ImportRecord};
use utoipa::{IntoParams, ToSchema};

/// How to run an uploaded file.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    /// The file's name (its kind is detected from its content; the name is shown in reports).
    pub file_name: Option<String>,
    /// Report what the import would do without changing anything.
    #[serde(default)]
    pub dry_run: bool,
    /// "Reset contacts that have previously opted out?" (contact imports; needs `reason`).
    #[serde(default)]
    pub reset_optouts: bool,
    /// Why the reset is allowed (kept in the evidence ledger).
    pub reason: Option<String>,
    /// Column choices: `mobile=2,first_name=Given Name` (0-based index or header).
    pub mapping: Option<String>,
    /// The sheet of a workbook (default: the first).
    pub sheet: Option<String>,
    /// Answer when the import has finished (201 with the report) instead of at once (202).
    #[serde(default)]
    pub wait: bool,
}

/// An import job and its report.
#[derive(Serialize, ToSchema)]
pub struct ImportView {
    pub id: i64,
    /// `contacts` or `optouts`.
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<i64>,
    pub file_name: String,
    /// `running`, `done` or `failed` (a failed import changed nothing).
    pub status: String,
    pub dry_run: bool,
    pub reset_optouts: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Rows read so far (live while running).
    pub rows_read: i64,
    #[schema(value_type = Object)]
    pub counts: ImportCounts,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Where the rows not imported can be downloaded (CSV).
    pub rejects_url: String,
}

fn view(state: &AppState, r: &ImportRecord) -> ImportView {
    let live = state
        .imports
        .progress(r.id)
        .map(|p| p.rows_read.load(Ordering::Relaxed));
    ImportView {
        id: r.id,
        kind: r.kind.as_str().into(),
        group_id: r.group_id.map(|g| g.0),
        file_name: r.file_name.clone(),
        status: r.status.as_str().into(),
        dry_run: r.dry_run,
        reset_optouts: r.reset,
        reason: r.reason.clone(),
        rows_read: live.unwrap_or(r.counts.rows_read),
        counts: r.counts,
        error: r.error.clone(),
        created_at: rfc3339(r.created_at),
        finished_at: r.finished_at.map(rfc3339),
        rejects_url: format!("/api/v1/imports/{}/rejects", r.id),
    }
}

#[utoipa::path(post, path = "/api/v1/groups/{id}/imports", tag = "imports",
    params(("id" = i64, Path), ImportQuery), request_body(content = Vec<u8>, description = "the file (CSV, TSV, TXT, XLSX, XLS or ODS)", content_type = "application/octet-stream"),
    responses((status = 202, body = ImportView), (status = 201, body = ImportView, description = "finished (wait=true)"),
              (status = 413, body = crate::web::errors::ErrorBody), (status = 422, body = crate::web::errors::ErrorBody)))]
/// Imports a contact file into a group, all or nothing.
pub async fn import_contacts(
    auth: ApiAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<ImportQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let group = GroupId(path_id(&id, "group")?);
    state
        .store
        .group(auth.account(), group)
        .await
        .map_err(AppError::from)?
        .ok_or(ApiError(AppError::NotFound("group")))?;
    submit(&auth, &state, Target::Group(group), q, &headers, body).await
}

#[utoipa::path(post, path = "/api/v1/optouts/uploads", tag = "imports",
    params(ImportQuery), request_body(content = Vec<u8>, description = "a file of numbers", content_type = "application/octet-stream"),
    responses((status = 202, body = ImportView), (status = 201, body = ImportView, description = "finished (wait=true)"),
              (status = 413, body = crate::web::errors::ErrorBody), (status = 422, body = crate::web::errors::ErrorBody)))]
/// Uploads a file of numbers straight onto the opt-out list (source `upload`), all or nothing.
pub async fn upload_optouts(
    auth: ApiAuth,
    State(state): State<AppState>,
    Query(q): Query<ImportQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    submit(&auth, &state, Target::OptOutList, q, &headers, body).await
}

async fn submit(
    auth: &ApiAuth,
    state: &AppState,
    target: Target,
    q: ImportQuery,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let reset = match (q.reset_optouts, q.reason.as_deref()) {
        (false, _) => None,
        (true, None) => {
            return Err(ApiError(AppError::invalid(
                "invalid_field",
                "reason",
                "reason is required with reset_optouts",
            )));
        }
        (true, Some(r)) => Some(Reason::parse(r)?),
    };
    if reset.is_some() && target == Target::OptOutList {
        return Err(ApiError(AppError::invalid(
            "invalid_field",
            "reset_optouts",
            "an opt-out upload cannot reset opt-outs",
        )));
    }
    let mapping = match &q.mapping {
        Some(m) => MappingOverride::parse(m)?,
        None => MappingOverride::default(),
    };
    let upload = save_upload(state, headers, body).await?;
    let req = ImportRequest {
        account: auth.account(),
        target,
        path: upload.path().to_path_buf(),
        file_name: q.file_name.clone().unwrap_or_else(|| "upload".into()),
        reset,
        dry_run: q.dry_run,
        mapping,
        read: import::read::ReadOptions {
            sheet: q.sheet.clone(),
            ..Default::default()
        },
        actor: auth.actor(),
    };
    let prepared = import::prepare_async(&req).await?;
    let id = import::start(state, &req).await?;
    let progress = Arc::new(ImportProgress::default());
    let job = {
        let state = state.clone();
        tokio::spawn(async move {
            let _upload = upload; // removed when the job ends
            import::run_started(&state, &req, id, prepared, progress).await
        })
    };
    if q.wait {
        // The job's own failure is recorded on the import: answer with the record either way.
        let _ = job.await;
    }
    let record = state
        .store
        .import(auth.account(), id)
        .await
        .map_err(AppError::from)?
        .ok_or(ApiError(AppError::NotFound("import")))?;
    let status = if q.wait {
        StatusCode::CREATED
    } else {
        StatusCode::ACCEPTED
    };
    let location = format!("/api/v1/imports/{id}");
    Ok((
        status,
        [(header::LOCATION, location)],
        Json(view(state, &record)),
    )
        .into_response())
}

/// Streams the request body to a temporary file, refusing bodies over `max_upload_bytes`
/// (413) before or while they arrive; the file is never held in memory.
pub(crate) async fn save_upload(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Upload, ApiError> {
    let max = state.config.max_upload_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(ApiError(upload::too_large(max)));
    }
    let path =
        std::env::temp_dir().join(format!("stoplist-upload-{}", crate::auth::random_hex(12)));
    let mut upload = Upload::create(path, max).await?;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            AppError::invalid("bad_request", "file", format!("reading the upload: {e}"))
        })?;
        upload.write(&chunk).await?;
    }
    upload.finish().await?;
    Ok(upload)
}

#[utoipa::path(get, path = "/api/v1/imports/{id}", tag = "imports", params(("id" = i64, Path)),
    responses((status = 200, body = ImportView), (status = 404, body = crate::web::errors::ErrorBody)))]
/// One import: status, live progress, report.
pub async fn get_import(
    auth: ApiAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ImportView>, ApiError> {
    let id = path_id(&id, "import")?;
    let r = state
        .store
        .import(auth.account(), id)
        .await
        .map_err(AppError::from)?
        .ok_or(ApiError(AppError::NotFound("import")))?;
    Ok(Json(view(&state, &r)))
}

#[utoipa::path(get, path = "/api/v1/imports", tag = "imports", responses((status = 200, body = PageOf<ImportView>)))]
/// The account's latest 100 imports, newest first.
pub async fn list_imports(
    auth: ApiAuth,
    State(state): State<AppState>,
) -> Result<Json<PageOf<ImportView>>, ApiError> {
    let list = state
        .store
        .list_imports(auth.account(), 100)
        .await
        .map_err(AppError::from)?;
    Ok(Json(PageOf {
        items: list.iter().map(|r| view(&state, r)).collect(),
        next: None,
    }))
}

#[utoipa::path(get, path = "/api/v1/imports/{id}/rejects", tag = "imports", params(("id" = i64, Path)),
    responses((status = 200, content_type = "text/csv", description = "row,value,reason"), (status = 404, body = crate::web::errors::ErrorBody)))]
/// The rows an import did not import, as CSV (`row,value,reason`), streamed.
pub async fn rejects(
    auth: ApiAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = path_id(&id, "import")?;
    let account = auth.account();
    state
        .store
        .import(account, id)
        .await
        .map_err(AppError::from)?
        .ok_or(ApiError(AppError::NotFound("import")))?;
    let body = Body::from_stream(upload::rejects_csv(state.store.clone(), account, id));
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"import-{id}-rejects.csv\""),
            ),
        ],
        body,
    )
        .into_response())
}
