//! The UI's static files, built into the binary: the stylesheet, the vendored htmx and the
//! small `app.js`. Pages link them with `?v=` and a hash of the content, so they can be
//! cached for a year and still change the moment the binary does.

use crate::state::AppState;
use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

const CSS: &str = include_str!("../../../static/app.css");
/// htmx 2.0.11 (npm `htmx.org`, Zero-Clause BSD), unmodified.
const HTMX: &str = include_str!("../../../static/htmx.min.js");
const APP_JS: &str = include_str!("../../../static/app.js");

const CACHE_FOREVER: &str = "public, max-age=31536000, immutable";

fn versioned(path: &str, content: &str) -> String {
    let hash = hex::encode(Sha256::digest(content.as_bytes()));
    format!("{path}?v={}", &hash[..12])
}

static CSS_HREF: LazyLock<String> = LazyLock::new(|| versioned("/static/app.css", CSS));
static HTMX_HREF: LazyLock<String> = LazyLock::new(|| versioned("/static/htmx.min.js", HTMX));
static APP_JS_HREF: LazyLock<String> = LazyLock::new(|| versioned("/static/app.js", APP_JS));

pub fn css_href() -> &'static str {
    CSS_HREF.as_str()
}

pub fn htmx_href() -> &'static str {
    HTMX_HREF.as_str()
}

pub fn app_js_href() -> &'static str {
    APP_JS_HREF.as_str()
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/static/app.css",
            get(|| async { asset("text/css; charset=utf-8", CSS) }),
        )
        .route(
            "/static/htmx.min.js",
            get(|| async { asset("text/javascript; charset=utf-8", HTMX) }),
        )
        .route(
            "/static/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
}

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, CACHE_FOREVER),
        ],
        body,
    )
}
