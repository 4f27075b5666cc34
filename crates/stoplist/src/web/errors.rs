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
        AppError::Busy(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many_running", None),
        AppError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", None),
        AppError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", None),
    }
}

/// The `Retry-After` header an error's answer carries, when it says when to try again.
fn with_retry_after(e: &AppError, mut resp: Response) -> Response {
    if let AppError::Busy(busy) = e {
        resp.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from(busy.retry_after_secs),
        );
    }
    resp
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
        let mut resp = with_retry_after(&self.0, api_error(status, code, message, field));
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

/// The JSON body of an API route, the one way API handlers read JSON. Refused, each in the
/// API's error shape: a Content-Type other than JSON (`application/json`, or
/// `application/<something>+json`) or none, 415 before the body is read; a body over the
/// route's limit, 413; a JSON value of another shape than `T` (an array, a string or a number
/// where an object is expected), malformed JSON, unknown fields, wrong types and missing
/// fields, 422 naming the field at fault.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let ApiJsonBody(bytes) = ApiJsonBody::from_request(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// An optional JSON body: `None` when the body is empty (or only white space), otherwise
/// as [`ApiJson`] (its Content-Type must say JSON).
pub struct OptionalApiJson<T>(pub Option<T>);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for OptionalApiJson<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = is_json(req.headers());
        let ApiBody(bytes) = ApiBody::from_request(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalApiJson(None));
        }
        if !json {
            return Err(not_json());
        }
        parse_json(&bytes).map(|v| OptionalApiJson(Some(v)))
    }
}

/// The raw body of a JSON route whose handler parses it itself (with [`parse_json`]), its
/// Content-Type and size checked as for [`ApiJson`].
pub struct ApiJsonBody(pub axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for ApiJsonBody {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(not_json());
        }
        let ApiBody(bytes) = ApiBody::from_request(req, state).await?;
        Ok(ApiJsonBody(bytes))
    }
}

/// Whether the request says its body is JSON: `application/json` or
/// `application/<anything>+json`, parameters (`; charset=utf-8`) allowed.
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The 415 answer to a body that is not declared JSON.
fn not_json() -> Response {
    api_error(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "Content-Type: this endpoint takes a JSON body; send it with Content-Type: application/json"
            .to_owned(),
        Some("Content-Type".to_owned()),
    )
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
    // serde_json reads a struct from an array too (its fields in order): a body of the wrong
    // shape is refused before it can be read as something it is not.
    if let Some(wrong) = wrong_shape::<T>(bytes) {
        return Err(api_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_json",
            wrong,
            None,
        ));
    }
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

/// The JSON shape a `Deserialize` implementation asks for at its top level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Object,
    Array,
    /// Anything else (a scalar, an option, an untagged enum): not checked here.
    Other,
}

impl Shape {
    fn words(self) -> &'static str {
        match self {
            Shape::Object => "a JSON object",
            Shape::Array => "a JSON array",
            Shape::Other => "a JSON value",
        }
    }
}

/// A deserializer that answers nothing but notes what it was asked for: a derived struct
/// asks for a struct, a `Vec` for a sequence, a map for a map (serde's data model, through
/// the method each `Deserialize` calls first).
struct Probe<'c>(&'c std::cell::Cell<Shape>);

impl Probe<'_> {
    fn note<V>(self, shape: Shape) -> Result<V, serde::de::value::Error> {
        self.0.set(shape);
        Err(serde::de::Error::custom("probe"))
    }
}

impl<'de> serde::Deserializer<'de> for Probe<'_> {
    type Error = serde::de::value::Error;

    fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        self.note(Shape::Other)
    }

    fn deserialize_struct<V: serde::de::Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        self.note(Shape::Object)
    }

    fn deserialize_map<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        self.note(Shape::Object)
    }

    fn deserialize_seq<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        self.note(Shape::Array)
    }

    fn deserialize_tuple<V: serde::de::Visitor<'de>>(
        self,
        _: usize,
        _: V,
    ) -> Result<V::Value, Self::Error> {
        self.note(Shape::Array)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct tuple_struct enum identifier ignored_any
    }
}

/// What `T` expects at the top level of its JSON.
fn expected_shape<'de, T: serde::Deserialize<'de>>() -> Shape {
    let shape = std::cell::Cell::new(Shape::Other);
    let _ = T::deserialize(Probe(&shape));
    shape.get()
}

/// "request body: expected a JSON object, found an array" when the body's top-level value is
/// not of the shape `T` expects; `None` when it is, or when the body is not JSON at all (the
/// parser then says where).
fn wrong_shape<'de, T: serde::Deserialize<'de>>(bytes: &[u8]) -> Option<String> {
    let want = expected_shape::<T>();
    if want == Shape::Other {
        return None;
    }
    let first = bytes.iter().copied().find(|b| !b.is_ascii_whitespace())?;
    let found = match first {
        b'{' => Shape::Object,
        b'[' => Shape::Array,
        _ => Shape::Other,
    };
    let found_words = match first {
        b'{' => "an object",
        b'[' => "an array",
        b'"' => "a string",
        b'-' | b'0'..=b'9' => "a number",
        b't' | b'f' => "a boolean",
        b'n' => "null",
        _ => return None,
    };
    (found != want).then(|| {
        format!(
            "request body: expected {}, found {found_words}",
            want.words()
        )
    })
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
        with_retry_after(&self.0, (status, Html(body)).into_response())
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
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        count: u32,
    }

    #[test]
    fn a_body_of_another_shape_than_expected_is_named() {
        assert_eq!(super::expected_shape::<Body>(), super::Shape::Object);
        assert_eq!(super::expected_shape::<Vec<Body>>(), super::Shape::Array);
        assert_eq!(super::expected_shape::<u32>(), super::Shape::Other);
        assert_eq!(
            super::wrong_shape::<Body>(br#" ["x", 1]"#).as_deref(),
            Some("request body: expected a JSON object, found an array")
        );
        assert_eq!(
            super::wrong_shape::<Body>(br#""x""#).as_deref(),
            Some("request body: expected a JSON object, found a string")
        );
        assert_eq!(
            super::wrong_shape::<Body>(b"42").as_deref(),
            Some("request body: expected a JSON object, found a number")
        );
        assert_eq!(
            super::wrong_shape::<Vec<Body>>(br#"{"name": "x"}"#).as_deref(),
            Some("request body: expected a JSON array, found an object")
        );
        assert_eq!(super::wrong_shape::<Body>(br#"{"name": "x"}"#), None);
        assert_eq!(
            super::wrong_shape::<Body>(b"<xml/>"),
            None,
            "the parser says where"
        );
        // serde_json alone would take the array as the struct's fields in order.
        assert!(serde_json::from_slice::<Body>(br#"["x", 1]"#).is_ok());
        assert!(super::parse_json::<Body>(br#"["x", 1]"#).is_err());
    }

    #[test]
    fn unknown_fields_are_named() {
        assert_eq!(
            super::unknown_field("unknown field `nmber`, expected `number`").as_deref(),
            Some("nmber")
        );
    }
}
