//! Report exports over the API (CSV, TSV, XLSX, PDF). Being written.

use crate::state::AppState;
use axum::Router;

/// The report routes, merged into `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
}

/// The report paths of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi()]
pub struct ReportsDoc;
