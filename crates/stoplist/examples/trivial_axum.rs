//! The benchmarks' baseline: a trivial axum handler answering a fixed JSON body on the same
//! route shape as `GET /api/v1/optouts/{number}`, measured the same way in the same run.
//!
//! `cargo run --release -p stoplist --example trivial_axum -- 127.0.0.1:18081`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::routing::get;
use axum::{Json, Router};

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18081".into());
    let app = Router::new().route(
        "/api/v1/optouts/{number}",
        get(|| async { Json(serde_json::json!({"number": "+61412345678", "opted_out": false})) }),
    );
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    axum::serve(listener, app).await.expect("serve");
}
