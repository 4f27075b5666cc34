//! A multipart form with a file, posted by a signed-in user, read the one safe way that every
//! upload page uses (Contacts → Import, the Opt Out Manager's upload, New campaign).
//!
//! Checked like [`super::CsrfForm`]: the Origin first, then the session's CSRF token, from the
//! `X-CSRF-Token` header or a `csrf_token` field that comes BEFORE the file (the forms put it
//! first; browsers send fields in page order). A file part met before a valid token is refused
//! (403) without a byte written, so nothing of the file is stored for a forged form. The file
//! is streamed to a new file under `max_upload_bytes` (a larger body is refused before it is
//! read when its length is declared); text fields are bounded in number and length.
//!
//! Owns no page: each form says where its file goes and how long its fields may be
//! ([`FormRules`]), and turns the fields into what it typed.

use super::session::{CSRF_REFUSED, same_origin, tokens_match};
use super::{UiSession, clean_file_name, size_text};
use crate::error::{AppError, AppResult};
use crate::import::upload::Upload;
use crate::state::AppState;
use crate::web::errors::PageError;
use axum::extract::multipart::MultipartError;
use axum::extract::{FromRequest, FromRequestParts, Multipart, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::path::PathBuf;
use stoplist_domain::AccountId;

/// What one upload form allows.
pub struct FormRules {
    /// Room for the text fields and the multipart framing, beyond the file's own limit.
    pub overhead: u64,
    /// How many text fields the form may carry (the CSRF token not counted).
    pub max_fields: usize,
    /// The longest a text field may be, in bytes, and what to say when it is longer.
    pub field_limit: fn(&str) -> (usize, String),
}

/// The form as posted: the signed-in session, the text fields in the order they came (a
/// name may repeat: one per checked box), and the file, if one was chosen, with its name as
/// the user knows it.
pub struct UploadForm {
    pub session: UiSession,
    pub fields: Vec<(String, String)>,
    pub file: Option<(Upload, String)>,
}

/// Why a form was not read.
pub enum UploadRejection {
    /// Refused outright (no session, a forged form…): the response says why.
    Refused(Response),
    /// The file is over the limit or the form did not arrive whole: the page shows it beside
    /// the file field.
    File {
        session: Box<UiSession>,
        status: StatusCode,
        message: String,
    },
}

impl IntoResponse for UploadRejection {
    fn into_response(self) -> Response {
        match self {
            UploadRejection::Refused(r) => r,
            UploadRejection::File {
                status, message, ..
            } => (
                status,
                PageError(AppError::invalid("invalid_upload", "file", message)),
            )
                .into_response(),
        }
    }
}

fn refused(e: AppError) -> UploadRejection {
    UploadRejection::Refused(PageError(e).into_response())
}

fn invalid_form(field: impl Into<String>, message: impl Into<String>) -> UploadRejection {
    refused(AppError::invalid("invalid_form", field, message))
}

impl UploadForm {
    /// Reads `req` under `rules`; a chosen file is written to the new file `destination`
    /// names for the session's account.
    pub async fn read(
        req: Request,
        state: &AppState,
        rules: &FormRules,
        destination: impl FnOnce(AccountId) -> AppResult<PathBuf>,
    ) -> Result<UploadForm, UploadRejection> {
        let (mut parts, body) = req.into_parts();
        same_origin(&parts.headers, state.config.public_url.as_deref()).map_err(refused)?;
        let session = UiSession::from_request_parts(&mut parts, state)
            .await
            .map_err(UploadRejection::Refused)?;
        let max = state.config.max_upload_bytes;
        let too_large = |session: UiSession| UploadRejection::File {
            session: Box::new(session),
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: format!(
                "The file is larger than this server accepts ({}). Split it into smaller files.",
                size_text(max)
            ),
        };
        let unreadable = |session: UiSession, e: MultipartError| UploadRejection::File {
            session: Box::new(session),
            status: StatusCode::BAD_REQUEST,
            message: format!(
                "The upload did not arrive whole ({}). Try again.",
                e.body_text()
            ),
        };
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > max.saturating_add(rules.overhead)) {
            return Err(too_large(session));
        }
        let mut verified = match parts.headers.get("x-csrf-token") {
            Some(v) if tokens_match(v.to_str().ok(), &session.csrf) => true,
            Some(_) => return Err(refused(AppError::Forbidden(CSRF_REFUSED))),
            None => false,
        };
        let mut multipart = Multipart::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|rej| {
                invalid_form(
                    "form",
                    format!("the form could not be read: {}", rej.body_text()),
                )
            })?;
        let mut destination = Some(destination);
        let mut fields = Vec::new();
        let mut file = None;
        loop {
            let mut field = match multipart.next_field().await {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => return Err(unreadable(session, e)),
            };
            let name = field.name().unwrap_or("").to_owned();
            if let Some(raw_name) = field.file_name().map(str::to_owned) {
                // A file before the token: refused before anything is written.
                if !verified {
                    return Err(refused(AppError::Forbidden(CSRF_REFUSED)));
                }
                let Some(destination) = destination.take().filter(|_| name == "file") else {
                    return Err(invalid_form("file", "the form holds an unexpected file"));
                };
                let mut upload = match destination(session.account_id()) {
                    Ok(path) => Upload::create(path, max).await.map_err(refused)?,
                    Err(e) => return Err(refused(e)),
                };
                loop {
                    match field.chunk().await {
                        Ok(Some(chunk)) => match upload.write(&chunk).await {
                            Ok(()) => {}
                            Err(AppError::TooLarge(_)) => return Err(too_large(session)),
                            Err(e) => return Err(refused(e)),
                        },
                        Ok(None) => break,
                        Err(e) => return Err(unreadable(session, e)),
                    }
                }
                upload.finish().await.map_err(refused)?;
                let file_name = clean_file_name(&raw_name);
                // No file chosen: browsers send an empty part with an empty name (the guard
                // removes what was created for it).
                if !(upload.is_empty() && file_name.is_empty()) {
                    let file_name = if file_name.is_empty() {
                        "upload".to_owned()
                    } else {
                        file_name
                    };
                    file = Some((upload, file_name));
                }
                continue;
            }
            let (limit, too_long) = (rules.field_limit)(&name);
            let mut text = Vec::new();
            loop {
                match field.chunk().await {
                    Ok(Some(chunk)) => {
                        if text.len() + chunk.len() > limit {
                            return Err(invalid_form(name, too_long));
                        }
                        text.extend_from_slice(&chunk);
                    }
                    Ok(None) => break,
                    Err(e) => return Err(unreadable(session, e)),
                }
            }
            let text = String::from_utf8_lossy(&text).into_owned();
            if name == "csrf_token" {
                if !tokens_match(Some(&text), &session.csrf) {
                    return Err(refused(AppError::Forbidden(CSRF_REFUSED)));
                }
                verified = true;
            } else if fields.len() < rules.max_fields {
                fields.push((name, text));
            } else {
                return Err(invalid_form("form", "the form has too many fields"));
            }
        }
        if !verified {
            return Err(refused(AppError::Forbidden(CSRF_REFUSED)));
        }
        Ok(UploadForm {
            session,
            fields,
            file,
        })
    }
}
