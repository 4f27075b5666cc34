//! `/healthz` (the process is up), `/readyz` (the database answers, every account's opt-out
//! index is loaded and has followed the ledger lately, and no shutdown is draining) and
//! `/metrics` (Prometheus text). No authentication: put them behind the network's own
//! controls.

use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.lifecycle.is_draining() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "draining: this instance is shutting down\n".to_owned(),
        );
    }
    match state.store.ping().await {
        Ok(()) => index_readiness(&state),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("database unavailable: {e}\n"),
            )
        }
    }
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut text = state.metrics.render();
    state.optouts.render_metrics(&mut text);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        text,
    )
}

/// Whether every opt-out index answers from memory: loaded, and following the ledger. (While
/// one is not, its checks are answered from the database: correct, slower.)
fn index_readiness(state: &AppState) -> (StatusCode, String) {
    let r = state.optouts.readiness();
    let follow_bound = (3 * state.config.index_follow_ms).max(5_000);
    if !r.startup_listed || r.loading > 0 {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "opt-out index loading: {} of {} accounts loaded (checks are answered from the database meanwhile)\n",
                r.loaded,
                r.loaded + r.loading
            ),
        );
    }
    match r.since_follow_ms {
        Some(ms) if ms <= follow_bound => (StatusCode::OK, "ready\n".to_owned()),
        Some(ms) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "opt-out index behind: the ledger was last followed {:.1} s ago (see the log for why)\n",
                ms as f64 / 1000.0
            ),
        ),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "opt-out index: the ledger has not been followed yet\n".to_owned(),
        ),
    }
}
