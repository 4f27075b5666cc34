//! Errors become responses here, and only here: JSON with a stable code, a message and the
//! field at fault for the API; an HTML page for the web UI. Logs get the whole cause chain;
//! callers never see internals.

use crate::error::AppError;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The JSON body of every API error: `{"error": {"code", "message", "field"}}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, for scripts: `invalid_number`, `invalid_json`, `not_found`, `conflict`, …
    pub code: String,
    /// For people.
    pub message: String,
    /// The field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// The status, code and field of an error.
pub fn classify(e: &AppError) -> (StatusCode, &'static str, Option<String>) {
    match e {
        AppError::Invalid { code, field, .. } => {
            (StatusCode::UNPROCESSABLE_ENTITY, code, Some(field.clone()))
        }
        AppError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", None),
        AppError::Conflict { field, .. } => {
            (StatusCode::CONFLICT, "conflict", Some((*field).to_owned()))
        }
        AppError::OptedOut(_) => (StatusCode::CONFLICT, "opted_out", Some("number".into())),
        AppError::Refused(r) => (
            StatusCode::CONFLICT,
            match r {
                stoplist_domain::rules::Refusal::NotOptedOut => "not_opted_out",
                stoplist_domain::rules::Refusal::EnforcedReplyOptOut => "enforced_reply_opt_out",
                stoplist_domain::rules::Refusal::PendingReview => "pending_review",
            },
            Some("number".into()),
        ),
        AppError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized", None),
        AppError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", None),
        AppError::NeedsRole { .. } => (StatusCode::FORBIDDEN, "forbidden_role", None),
        AppError::TooLarge(_) => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            Some("file".into()),
        ),
        AppError::TooManyRequests => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests", None),
        AppError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", None),
        AppError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", None),
    }
}

fn log_internal(e: &AppError) {
    if let AppError::Internal(inner) = e {
        tracing::error!(error = format!("{inner:#}"), "internal error");
    }
}

/// An API error response.
pub struct ApiError(pub AppError);

impl<E: Into<AppError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        log_internal(&self.0);
        let (status, code, field) = classify(&self.0);
        let message = match &self.0 {
            AppError::Internal(_) => "internal error; the server log has the details".to_owned(),
            other => other.to_string(),
        };
        let mut resp = api_error(status, code, message, field);
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"stoplist\""),
            );
        }
        resp
    }
}

/// A raw error with its own status and code (for rejections that are not `AppError`s).
pub fn api_error(
    status: StatusCode,
    code: &str,
    message: String,
    field: Option<String>,
) -> Response {
    (
        status,
        Json(ErrorBody {
            error: ErrorDetail {
                code: code.into(),
                message,
                field,
            },
        }),
    )
        .into_response()
}

/// `Json<T>` whose rejections are API errors naming the field at fault: malformed JSON,
/// unknown fields, wrong types, missing fields, a wrong content type, an oversized body.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let ApiBody(bytes) = ApiBody::from_request(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// The raw request body, with the body-limit rejection (413) in the API's error shape.
pub struct ApiBody(pub axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for ApiBody {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::body::Bytes::from_request(req, state).await {
            Ok(b) => Ok(ApiBody(b)),
            Err(rej) => {
                let status = rej.status();
                let (code, message) = if status == StatusCode::PAYLOAD_TOO_LARGE {
                    (
                        "payload_too_large",
                        "the request body is larger than this endpoint accepts".to_owned(),
                    )
                } else {
                    ("bad_request", rej.body_text())
                };
                Err(api_error(status, code, message, None))
            }
        }
    }
}

/// Parses a JSON body (possibly borrowing from it), naming the field at fault on error:
/// malformed JSON, unknown fields, wrong types, missing fields.
// The error is the finished response, as axum's own extractor rejections are.
#[allow(clippy::result_large_err)]
pub fn parse_json<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, Response> {
    // The fast parse first; only a body that fails is parsed again to name the field
    // (path tracking costs ~2x on large bulk requests).
    if let Ok(v) = serde_json::from_slice::<T>(bytes) {
        return Ok(v);
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = serde_path_to_error::deserialize::<_, T>(&mut de);
    let trailing = de.end();
    let (path, inner) = match (parsed, trailing) {
        (Ok(v), Ok(())) => return Ok(v),
        (Ok(_), Err(e)) => (String::new(), e),
        (Err(e), _) => (e.path().to_string(), e.into_inner()),
    };
    let field = if path == "." || path.is_empty() {
        unknown_field(&inner.to_string())
    } else {
        Some(path)
    };
    let code = if inner.is_syntax() || inner.is_eof() {
        "invalid_json"
    } else {
        "invalid_field"
    };
    let message = match &field {
        Some(f) => format!("{f}: {inner}"),
        None => format!("request body: {inner}"),
    };
    Err(api_error(
        StatusCode::UNPROCESSABLE_ENTITY,
        code,
        message,
        field,
    ))
}

/// serde names an unknown field only in its message: "unknown field `x`, expected …".
fn unknown_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split_once('`').map(|(f, _)| f.to_owned())
}

/// Turns axum's own JSON rejection into our error shape (used where `Json` is extracted).
pub fn json_rejection(rej: JsonRejection) -> Response {
    api_error(rej.status(), "invalid_json", rej.body_text(), None)
}

/// An HTML error page for the web UI.
pub struct PageError(pub AppError);

impl<E: Into<AppError>> From<E> for PageError {
    fn from(e: E) -> Self {
        PageError(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        log_internal(&self.0);
        let (status, _, _) = classify(&self.0);
        if status == StatusCode::UNAUTHORIZED {
            return axum::response::Redirect::to("/login").into_response();
        }
        let message = match &self.0 {
            AppError::Internal(_) => {
                "Something went wrong on our side. The server log has the details.".to_owned()
            }
            other => other.to_string(),
        };
        let body = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{code} · stoplist</title><link rel=\"stylesheet\" href=\"/static/app.css\"></head><body><main class=\"container\">\
             <h1>{code} {reason}</h1><p role=\"alert\">{msg}</p><p><a href=\"/\">Back to stoplist</a></p></main></body></html>",
            code = status.as_u16(),
            reason = status.canonical_reason().unwrap_or(""),
            msg = html_escape(&message),
        );
        (status, Html(body)).into_response()
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    #[test]
    fn unknown_fields_are_named() {
        assert_eq!(
            super::unknown_field("unknown field `nmber`, expected `number`").as_deref(),
            Some("nmber")
        );
    }
}
