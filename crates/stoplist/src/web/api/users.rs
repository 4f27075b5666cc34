//! Owners' API: users (add, role, disable, delete, password, sessions), API keys with roles,
//! the account's two-factor rule and the audit log (viewable and exported in the four report
//! formats). Every route here needs an owner key (`web::access`).

use super::reports::{FormatQuery, attachment};
use super::{ApiAuth, PageOf, limit, path_id};
use crate::error::AppError;
use crate::reports::{self, Format};
use crate::rfc3339;
use crate::state::AppState;
use crate::users;
use crate::web::errors::{ApiError, ApiJson};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use stoplist_domain::{ApiKeyId, AuditEvent, Role, UserId};
use stoplist_store::{ApiKey, AuditEntry, SessionInfo, User};
use utoipa::{IntoParams, ToSchema};

/// A user as the API shows it (never a password or a second-factor secret).
#[derive(Serialize, ToSchema)]
pub struct UserView {
    pub id: i64,
    pub login: String,
    /// `viewer`, `manager` or `owner`.
    pub role: String,
    pub disabled: bool,
    pub two_factor: bool,
    pub created_at: String,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        UserView {
            id: u.id.0,
            login: u.login.clone(),
            role: u.role.as_str().to_owned(),
            disabled: !u.is_active(),
            two_factor: u.two_factor,
            created_at: rfc3339(u.created_at),
        }
    }
}

fn role_of(raw: &str) -> Result<Role, AppError> {
    Role::parse(raw).ok_or_else(|| {
        AppError::invalid(
            "invalid_field",
            "role",
            format!("role: {raw:?} is not a role (viewer, manager or owner)"),
        )
    })
}

async fn load_user(state: &AppState, auth: &ApiAuth, raw: &str) -> Result<User, ApiError> {
    let id = UserId(path_id(raw, "user")?);
    state
        .store
        .user(auth.account(), id)
        .await
        .map_err(AppError::from)?
        .ok_or(ApiError(AppError::NotFound("user")))
}

#[utoipa::path(get, path = "/api/v1/users", tag = "users", responses((status = 200, body = PageOf<UserView>)))]
/// The account's users, by login.
pub async fn list_users(
    auth: ApiAuth,
    State(state): State<AppState>,
) -> Result<Json<PageOf<UserView>>, ApiError> {
    let users = state
        .store
        .list_users(auth.account())
        .await
        .map_err(AppError::from)?;
    Ok(Json(PageOf {
        items: users.iter().map(UserView::from).collect(),
        next: None,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    pub login: String,
    /// At least 8 characters.
    pub password: String,
    /// `viewer`, `manager` (default) or `owner`.
    pub role: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUserBody,
    responses((status = 201, body = UserView), (status = 409, body = crate::web::errors::ErrorBody),
        (status = 422, body = crate::web::errors::ErrorBody)))]
/// Adds a user.
pub async fn create_user(
    auth: ApiAuth,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<NewUserBody>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    let role = body.role.as_deref().map(role_of).transpose()?;
    let u = users::add(
        &state,
        auth.account(),
        &body.login,
        &body.password,
        role.unwrap_or(Role::Manager),
        &auth.asker(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(UserView::from(&u))))
}

#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, body = UserView), (status = 404, body = crate::web::errors::ErrorBody)))]
/// One user.
pub async fn get_user(
    auth: ApiAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(UserView::from(&load_user(&state, &auth, &id).await?)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    /// `viewer`, `manager` or `owner`.
    pub role: Option<String>,
    /// `true` disables the user (their sessions end, their keys stop); `false` enables them.
    pub disabled: Option<bool>,
}

#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", params(("id" = i64, Path)), request_body = UserPatch,
    responses((status = 200, body = UserView), (status = 422, body = crate::web::errors::ErrorBody)))]
/// Changes a user's role or disables/enables them. The account's last active owner cannot be
/// demoted or disabled (422 `last_owner`).
pub async fn update_user(
    auth: ApiAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UserPatch>,
) -> Result<Json<UserView>, ApiError> {
    let user = load_user(&state, &auth, &id).await?;
    let role = body.role.as_deref().map(role_of).transpose()?;
    let u = users::change(
        &state,
        auth.account(),
        user.id,
        role,
        body.disabled,
        &auth.asker(),
    )
    .await?;
    Ok(Json(UserView::from(&u)))
}

#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users", params(("id" = i64, Path)),
    responses((status = 204), (status = 422, body = crate::web::errors::ErrorBody)))]
/// Deletes a user; their keys are revoked. The audit log keeps what they did.
pub async fn delete_user(
    auth: ApiAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let user = load_user(&state, &auth, &id).await?;
    users::delete(&state, auth.account(), user.id, &auth.asker()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    pub password: String,
}

#[utoipa::path(post, path = "/api/v1/users/{id}/password", tag = "users", params(("id" = i64, Path)),
    request_body = PasswordBody, responses((status = 204), (status = 422, body = crate::web::errors::ErrorBody)))]
/// Sets another user's password (an owner's reset); every session of theirs ends.
pub async fn reset_password(
    auth: ApiAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PasswordBody>,
) -> Result<StatusCode, ApiError> {
    let user = load_user(&state, &auth, &id).await?;
    users::reset_password(
        &state,
        auth.account(),
        user.id,
        &body.password,
        &auth.asker(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct SessionView {
    /// Names the session for revoking it (not its token).
    pub handle: String,
    pub created_at: String,
    pub expires_at: String,
    pub address: String,
}

impl From<&SessionInfo> for SessionView {
    fn from(s: &SessionInfo) -> Self {
        SessionView {
            handle: s.handle.clone(),
            created_at: rfc3339(s.created_at),
            expires_at: rfc3339(s.expires_at),
            address: s.address.clone(),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/users/{id}/sessions", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, body = PageOf<SessionView>)))]
/// A user's live web sessions, newest first.
pub async fn list_sessions(
    auth: ApiAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<PageOf<SessionView>>, ApiError> {
    let user = load_user(&state, &auth, &id).await?;
    let sessions = state
        .store
        .list_sessions(auth.account(), Some(user.id), crate::now_ms())
        .await
        .map_err(AppError::from)?;
    Ok(Json(PageOf {
        items: sessions.iter().map(SessionView::from).collect(),
        next: None,
    }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SessionQuery {
    /// One session's handle; absent ends them all.
    pub handle: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Ended {
    pub ended: u64,
}

#[utoipa::path(delete, path = "/api/v1/users/{id}/sessions", tag = "users", params(("id" = i64, Path), SessionQuery),
    responses((status = 200, body = Ended)))]
/// Ends a user's sessions (one, or all).
pub async fn revoke_sessions(
    auth: ApiAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<SessionQuery>,
) -> Result<Json<Ended>, ApiError> {
    let user = load_user(&state, &auth, &id).await?;
    let ended = users::revoke_sessions(
        &state,
        auth.account(),
        &user,
        q.handle.as_deref(),
        &auth.asker(),
    )
    .await?;
    Ok(Json(Ended { ended }))
}

/// An API key as listed (never the key itself).
#[derive(Serialize, ToSchema)]
pub struct KeyView {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    pub role: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

impl From<&ApiKey> for KeyView {
    fn from(k: &ApiKey) -> Self {
        KeyView {
            id: k.id.0,
            name: k.name.clone(),
            prefix: k.prefix.clone(),
            role: k.role.as_str().to_owned(),
            created_at: rfc3339(k.created_at),
            revoked_at: k.revoked_at.map(rfc3339),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/api-keys", tag = "users", responses((status = 200, body = PageOf<KeyView>)))]
/// The account's API keys, newest first.
pub async fn list_keys(
    auth: ApiAuth,
    State(state): State<AppState>,
) -> Result<Json<PageOf<KeyView>>, ApiError> {
    let keys = state
        .store
        .list_api_keys(auth.account())
        .await
        .map_err(AppError::from)?;
    Ok(Json(PageOf {
        items: keys.iter().map(KeyView::from).collect(),
        next: None,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKeyBody {
    pub name: String,
    /// `viewer`, `manager` (default) or `owner`.
    pub role: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct NewKeyView {
    #[serde(flatten)]
    pub record: KeyView,
    /// The key itself, shown only in this answer.
    pub key: String,
}

#[utoipa::path(post, path = "/api/v1/api-keys", tag = "users", request_body = NewKeyBody,
    responses((status = 201, body = NewKeyView)))]
/// Makes a key; the key is in this answer only.
pub async fn create_key(
    auth: ApiAuth,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<NewKeyBody>,
) -> Result<(StatusCode, Json<NewKeyView>), ApiError> {
    let role = body.role.as_deref().map(role_of).transpose()?;
    // A key makes keys no stronger than itself.
    let role = role.unwrap_or(Role::Manager);
    if !auth.key.role.allows(role) {
        return Err(ApiError(AppError::NeedsRole {
            needed: role,
            have: auth.key.role,
        }));
    }
    let (record, key) = users::create_key(
        &state,
        auth.account(),
        &body.name,
        role,
        None,
        &auth.asker(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(NewKeyView {
            record: KeyView::from(&record),
            key,
        }),
    ))
}

#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = "users", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = crate::web::errors::ErrorBody)))]
/// Revokes a key at once.
pub async fn revoke_key(
    auth: ApiAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = ApiKeyId(path_id(&id, "API key")?);
    users::revoke_key(&state, auth.account(), id, &auth.asker()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecurityBody {
    /// Every user must log in with a second factor (TOTP); a user without one is sent to set
    /// it up before any other page.
    pub require_two_factor: bool,
}

#[utoipa::path(get, path = "/api/v1/settings/security", tag = "users", responses((status = 200, body = SecurityBody)))]
/// The account's security rules.
pub async fn get_security(
    auth: ApiAuth,
    State(state): State<AppState>,
) -> Result<Json<SecurityBody>, ApiError> {
    let on = state
        .store
        .requires_two_factor(auth.account())
        .await
        .map_err(AppError::from)?;
    Ok(Json(SecurityBody {
        require_two_factor: on,
    }))
}

#[utoipa::path(put, path = "/api/v1/settings/security", tag = "users", request_body = SecurityBody,
    responses((status = 200, body = SecurityBody)))]
/// Sets the account's security rules.
pub async fn put_security(
    auth: ApiAuth,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<SecurityBody>,
) -> Result<Json<SecurityBody>, ApiError> {
    users::require_two_factor(
        &state,
        auth.account(),
        body.require_two_factor,
        &auth.asker(),
    )
    .await?;
    Ok(Json(body))
}

/// An audit log entry.
#[derive(Serialize, ToSchema)]
pub struct AuditView {
    pub id: i64,
    pub at: String,
    pub event: String,
    pub actor: String,
    pub subject: String,
    pub detail: String,
    pub address: String,
}

impl From<&AuditEntry> for AuditView {
    fn from(e: &AuditEntry) -> Self {
        AuditView {
            id: e.id,
            at: rfc3339(e.at),
            event: e.event.as_str().to_owned(),
            actor: e.actor.to_string(),
            subject: e.subject.clone(),
            detail: e.detail.clone(),
            address: e.address.clone(),
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Entries older than this id (the `next` of the previous page).
    pub before: Option<i64>,
    /// 1 to 1000 (default 100).
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "users", params(AuditQuery),
    responses((status = 200, body = PageOf<AuditView>)))]
/// The account's security events, newest first.
pub async fn audit_log(
    auth: ApiAuth,
    State(state): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> Result<Json<PageOf<AuditView>>, ApiError> {
    let n = limit(q.limit);
    let entries = state
        .store
        .audit_log(auth.account(), q.before, n)
        .await
        .map_err(AppError::from)?;
    let next = (entries.len() as i64 == n)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    Ok(Json(PageOf {
        items: entries.iter().map(AuditView::from).collect(),
        next,
    }))
}

#[utoipa::path(get, path = "/api/v1/audit/export", tag = "users", params(FormatQuery),
    responses((status = 200, description = "the audit log: time, event, actor, subject, detail, address")))]
/// Exports the audit log as CSV, TSV, XLSX or PDF (the export itself is recorded).
pub async fn export_audit(
    auth: ApiAuth,
    State(state): State<AppState>,
    Query(q): Query<FormatQuery>,
) -> Result<Response, ApiError> {
    let format = reports::parse_format(q.format.as_deref(), Format::Csv)?;
    let file = reports::audit::audit_log(&state, auth.account(), format).await?;
    let by = auth.asker();
    crate::audit::record(
        state.store.as_ref(),
        auth.account(),
        AuditEvent::AuditLogExported,
        &by.actor,
        "audit log",
        format.as_str(),
        &by.address,
    )
    .await;
    Ok(attachment(file))
}
