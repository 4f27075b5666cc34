//! The web UI (server-rendered). Placeholder router until the pages land.

use crate::state::AppState;
use axum::Router;

pub fn router(_state: &AppState) -> Router<AppState> {
    Router::new()
}
