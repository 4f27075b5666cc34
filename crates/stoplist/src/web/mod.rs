//! The HTTP layer: the router (API, web UI, health and metrics), request logging with route
//! templates (never raw URIs: they carry phone numbers) and metrics, and error responses.

pub mod access;
pub mod api;
pub mod errors;
pub mod ops;
pub mod ui;
pub mod webhooks;

use crate::state::AppState;
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;

/// The whole application's router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(api::router(&state))
        .merge(ops::router())
        .merge(webhooks::router(&state))
        .merge(ui::router(&state))
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Logs and counts every request by its route template.
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    // MatchedPath holds an Arc<str>: cloning it does not allocate.
    let route = req.extensions().get::<MatchedPath>().cloned();
    let method = method_label(req.method());
    let mut resp = next.run(req).await;
    harden(resp.headers_mut(), state.config.is_https());
    let elapsed = start.elapsed().as_secs_f64();
    let status = resp.status().as_u16();
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    state.metrics.request(route, method, status, elapsed);
    if status >= 500 {
        tracing::warn!(%route, method, status, ms = elapsed * 1000.0, "request failed");
    } else {
        tracing::debug!(%route, method, status, ms = elapsed * 1000.0, "request");
    }
    resp
}

/// Headers every response carries: `nosniff`; `Cache-Control: no-store` unless the handler
/// chose a policy (static assets are cached for good, everything else may carry personal data:
/// numbers, replies, the opt-out list); and HSTS when the server is reached over HTTPS.
fn harden(h: &mut HeaderMap, https: bool) {
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    if https {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
}

fn method_label(m: &axum::http::Method) -> &'static str {
    match *m {
        axum::http::Method::GET => "GET",
        axum::http::Method::POST => "POST",
        axum::http::Method::PUT => "PUT",
        axum::http::Method::PATCH => "PATCH",
        axum::http::Method::DELETE => "DELETE",
        axum::http::Method::HEAD => "HEAD",
        _ => "OTHER",
    }
}
