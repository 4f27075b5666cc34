//! The Account page (everyone: own password, own sessions, two-factor login), the Users page
//! (owners: add, role, disable, delete, passwords, sessions, the two-factor rule) and the
//! Audit log page (owners: view and export).

use super::session::SESSION_COOKIE;
use super::{CsrfForm, FieldErrors, Layout, UiSession, actor_text, cursor, flash};
use crate::auth::secret_hash;
use crate::error::AppError;
use crate::reports::{self, Format};
use crate::state::AppState;
use crate::users;
use crate::web::errors::PageError;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use stoplist_domain::{AuditEvent, Role, UserId};
use stoplist_store::{AuditEntry, SessionInfo, User};

#[derive(Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "account.html")]
struct AccountPage {
    layout: Layout,
    user: User,
    sessions: Vec<SessionInfo>,
    /// The session this page was opened in (its handle).
    current: String,
    /// A fresh secret and its enrolment URI, offered while not enrolled.
    enrol: Option<(String, String)>,
    codes_left: i64,
    /// Recovery codes just made: shown once.
    recovery: Vec<String>,
    errors: FieldErrors,
}

fn handle_of(headers: &HeaderMap) -> String {
    super::session::cookie(headers, SESSION_COOKIE)
        .map(|t| secret_hash(t)[..16].to_owned())
        .unwrap_or_default()
}

async fn account_page(
    state: &AppState,
    session: UiSession,
    headers: &HeaderMap,
    done: Option<&str>,
    recovery: Vec<String>,
    errors: FieldErrors,
    enrol_secret: Option<String>,
) -> Result<Response, PageError> {
    let user = session.user.clone();
    let sessions = state
        .store
        .list_sessions(user.account_id, Some(user.id), crate::now_ms())
        .await?;
    let enrol = (!user.two_factor).then(|| {
        let secret = enrol_secret.unwrap_or_else(crate::totp::new_secret);
        let uri = crate::totp::uri(&secret, &session.account.name, &user.login);
        (secret, uri)
    });
    let codes_left = if user.two_factor {
        state.store.recovery_codes_left(user.id).await?
    } else {
        0
    };
    let page = AccountPage {
        layout: session.layout("Your account", "account", flash(done)),
        user,
        sessions,
        current: handle_of(headers),
        enrol,
        codes_left,
        recovery,
        errors,
    };
    let status = if page.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let mut resp = (status, page).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// `GET /account`.
pub async fn account(
    State(state): State<AppState>,
    session: UiSession,
    headers: HeaderMap,
    Query(q): Query<DoneQuery>,
) -> Result<Response, PageError> {
    account_page(
        &state,
        session,
        &headers,
        q.done.as_deref(),
        Vec::new(),
        FieldErrors::none(),
        None,
    )
    .await
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

/// `POST /account/password`: a new password, given the current one; other sessions end.
pub async fn change_password(
    State(state): State<AppState>,
    headers: HeaderMap,
    CsrfForm { session, form }: CsrfForm<PasswordForm>,
) -> Result<Response, PageError> {
    let keep = super::session::cookie(&headers, SESSION_COOKIE).map(secret_hash);
    let done = users::change_own_password(
        &state,
        &session.user,
        &form.current_password,
        &form.new_password,
        keep.as_deref(),
        &session.address,
    )
    .await;
    match done {
        Ok(()) => Ok(Redirect::to("/account?done=password_changed").into_response()),
        Err(e @ AppError::Invalid { .. }) => {
            let labels = &[
                ("current_password", "Current password"),
                ("password", "New password"),
            ];
            let errors = FieldErrors::from_app(e, labels)?;
            account_page(&state, session, &headers, None, Vec::new(), errors, None).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct SessionForm {
    #[serde(default)]
    handle: String,
}

/// `POST /account/sessions/revoke`: ends one of the user's own sessions.
pub async fn revoke_own_session(
    State(state): State<AppState>,
    CsrfForm { session, form }: CsrfForm<SessionForm>,
) -> Result<Response, PageError> {
    let by = session.asker();
    let handle = Some(form.handle.as_str()).filter(|h| !h.is_empty());
    users::revoke_sessions(&state, session.account_id(), &session.user, handle, &by).await?;
    Ok(Redirect::to("/account?done=session_ended").into_response())
}

#[derive(Deserialize)]
pub struct EnrolForm {
    #[serde(default)]
    secret: String,
    #[serde(default)]
    code: String,
}

/// `POST /account/two-factor`: turns on two-factor login once a code from the app matches
/// the offered secret; the answer shows the recovery codes once.
pub async fn enable_two_factor(
    State(state): State<AppState>,
    headers: HeaderMap,
    CsrfForm { session, form }: CsrfForm<EnrolForm>,
) -> Result<Response, PageError> {
    let secret = form.secret.trim().to_ascii_uppercase();
    let decoded = crate::totp::base32_decode(&secret).filter(|b| b.len() >= 16);
    if session.user.two_factor || decoded.is_none() {
        return Ok(Redirect::to("/account").into_response());
    }
    match users::enable_two_factor(&state, &session.user, &secret, &form.code, &session.address)
        .await
    {
        Ok(codes) => {
            let mut session = session;
            session.user.two_factor = true;
            account_page(
                &state,
                session,
                &headers,
                None,
                codes,
                FieldErrors::none(),
                None,
            )
            .await
        }
        Err(e @ AppError::Invalid { .. }) => {
            let errors = FieldErrors::from_app(e, &[("code", "Code")])?;
            account_page(
                &state,
                session,
                &headers,
                None,
                Vec::new(),
                errors,
                Some(secret),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct DisableForm {
    #[serde(default)]
    password: String,
}

/// `POST /account/two-factor/disable`: turns the user's own second factor off (with the
/// password). Refused while the account requires two-factor login.
pub async fn disable_two_factor(
    State(state): State<AppState>,
    headers: HeaderMap,
    CsrfForm { session, form }: CsrfForm<DisableForm>,
) -> Result<Response, PageError> {
    let refusal = if state
        .store
        .requires_two_factor(session.account_id())
        .await?
    {
        Some(AppError::invalid(
            "two_factor_required",
            "password",
            "this account requires two-factor login; an owner can change that on the Users page",
        ))
    } else if !users::password_is_right(&state, &session.user, &form.password).await? {
        Some(AppError::invalid(
            "wrong_password",
            "password",
            "the password is not right",
        ))
    } else {
        None
    };
    if let Some(e) = refusal {
        let errors = FieldErrors::from_app(e, &[("password", "Password")])?;
        return account_page(&state, session, &headers, None, Vec::new(), errors, None).await;
    }
    let by = session.asker();
    users::disable_two_factor(&state, session.account_id(), &session.user, &by).await?;
    Ok(Redirect::to("/account?done=two_factor_off").into_response())
}

// --- the Users page (owners) -------------------------------------------------------------

#[derive(Template, WebTemplate)]
#[template(path = "users.html")]
struct UsersPage {
    layout: Layout,
    users: Vec<User>,
    sessions: Vec<SessionInfo>,
    me: UserId,
    require_two_factor: bool,
    roles: [Role; 3],
    errors: FieldErrors,
    login: String,
}

async fn users_page(
    state: &AppState,
    session: UiSession,
    done: Option<&str>,
    errors: FieldErrors,
    login: String,
) -> Result<Response, PageError> {
    let account = session.account_id();
    let page = UsersPage {
        users: state.store.list_users(account).await?,
        sessions: state
            .store
            .list_sessions(account, None, crate::now_ms())
            .await?,
        me: session.user.id,
        require_two_factor: state.store.requires_two_factor(account).await?,
        roles: Role::ALL,
        layout: session.layout("Users", "users", flash(done)),
        errors,
        login,
    };
    let status = if page.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((status, page).into_response())
}

/// `GET /users`.
pub async fn list(
    State(state): State<AppState>,
    session: UiSession,
    Query(q): Query<DoneQuery>,
) -> Result<Response, PageError> {
    users_page(
        &state,
        session,
        q.done.as_deref(),
        FieldErrors::none(),
        String::new(),
    )
    .await
}

#[derive(Deserialize)]
pub struct NewUserForm {
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    role: String,
}

const USER_LABELS: &[(&str, &str)] = &[
    ("login", "Login"),
    ("password", "Password"),
    ("role", "Role"),
];

/// `POST /users`: adds a user.
pub async fn add(
    State(state): State<AppState>,
    CsrfForm { session, form }: CsrfForm<NewUserForm>,
) -> Result<Response, PageError> {
    let role = Role::parse(&form.role).unwrap_or(Role::Manager);
    let by = session.asker();
    match users::add(
        &state,
        session.account_id(),
        &form.login,
        &form.password,
        role,
        &by,
    )
    .await
    {
        Ok(_) => Ok(Redirect::to("/users?done=user_added").into_response()),
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict { .. })) => {
            let errors = match e {
                AppError::Conflict { .. } => {
                    FieldErrors::one("login", "a user with this login exists already")
                }
                e => FieldErrors::from_app(e, USER_LABELS)?,
            };
            users_page(&state, session, None, errors, form.login).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct UserActionForm {
    #[serde(default)]
    action: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
}

/// `POST /users/{id}`: one change to a user — `role`, `disable`, `enable`, `delete`,
/// `password` (reset), `logout` (end every session), `reset_two_factor`.
pub async fn act(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, form }: CsrfForm<UserActionForm>,
) -> Result<Response, PageError> {
    let account = session.account_id();
    let id = id
        .parse::<i64>()
        .ok()
        .filter(|v| *v > 0)
        .map(UserId)
        .ok_or(PageError(AppError::NotFound("user")))?;
    let user = state
        .store
        .user(account, id)
        .await?
        .ok_or(PageError(AppError::NotFound("user")))?;
    let by = session.asker();
    let result = match form.action.as_str() {
        "role" => match Role::parse(&form.role) {
            Some(r) => users::change(&state, account, id, Some(r), None, &by)
                .await
                .map(drop),
            None => Err(AppError::invalid("invalid_field", "role", "choose a role")),
        },
        "disable" => users::change(&state, account, id, None, Some(true), &by)
            .await
            .map(drop),
        "enable" => users::change(&state, account, id, None, Some(false), &by)
            .await
            .map(drop),
        "delete" => users::delete(&state, account, id, &by).await,
        "password" => users::reset_password(&state, account, id, &form.password, &by).await,
        "logout" => users::revoke_sessions(&state, account, &user, None, &by)
            .await
            .map(drop),
        "reset_two_factor" => users::disable_two_factor(&state, account, &user, &by).await,
        _ => Err(AppError::invalid(
            "invalid_field",
            "action",
            "unknown action",
        )),
    };
    match result {
        Ok(()) if form.action == "delete" => {
            Ok(Redirect::to("/users?done=user_deleted").into_response())
        }
        Ok(()) => Ok(Redirect::to("/users?done=user_changed").into_response()),
        Err(e @ AppError::Invalid { .. }) => {
            let errors = FieldErrors::from_app(e, USER_LABELS)?;
            users_page(&state, session, None, errors, String::new()).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct RuleForm {
    #[serde(default)]
    require: Option<String>,
}

/// `POST /users/two-factor`: whether every user must log in with a second factor.
pub async fn set_rule(
    State(state): State<AppState>,
    CsrfForm { session, form }: CsrfForm<RuleForm>,
) -> Result<Response, PageError> {
    let on = form.require.is_some();
    users::require_two_factor(&state, session.account_id(), on, &session.asker()).await?;
    Ok(Redirect::to("/users?done=security_saved").into_response())
}

// --- the Audit log page (owners) -----------------------------------------------------------

#[derive(Template, WebTemplate)]
#[template(path = "audit.html")]
struct AuditPage {
    layout: Layout,
    entries: Vec<AuditEntry>,
    next: Option<i64>,
}

impl AuditPage {
    fn actor(&self, e: &AuditEntry) -> String {
        actor_text(&e.actor)
    }

    fn time(&self, e: &AuditEntry) -> String {
        crate::rfc3339(e.at)
    }
}

#[derive(Deserialize)]
pub struct AuditQuery {
    before: Option<String>,
}

const AUDIT_PAGE: i64 = 100;

/// `GET /audit`: the newest security events first, a hundred a page.
pub async fn audit(
    State(state): State<AppState>,
    session: UiSession,
    Query(q): Query<AuditQuery>,
) -> Result<Response, PageError> {
    let before = cursor(q.before.as_deref());
    let entries = state
        .store
        .audit_log(session.account_id(), before, AUDIT_PAGE)
        .await?;
    let next = (entries.len() as i64 == AUDIT_PAGE)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    let page = AuditPage {
        layout: session.layout("Audit log", "audit", None),
        entries,
        next,
    };
    Ok(page.into_response())
}

#[derive(Deserialize)]
pub struct ExportQuery {
    format: Option<String>,
}

/// `GET /audit/export?format=`: the whole audit log as CSV, TSV, XLSX or PDF.
pub async fn audit_export(
    State(state): State<AppState>,
    session: UiSession,
    Query(q): Query<ExportQuery>,
) -> Result<Response, PageError> {
    let format = reports::parse_format(q.format.as_deref(), Format::Csv)?;
    let file = reports::audit::audit_log(&state, session.account_id(), format).await?;
    let by = session.asker();
    let event = AuditEvent::AuditLogExported;
    let store = state.store.as_ref();
    let account = session.account_id();
    crate::audit::record(
        store,
        account,
        event,
        &by.actor,
        "audit log",
        format.as_str(),
        &by.address,
    )
    .await;
    Ok(crate::web::api::reports::attachment(file))
}

#[derive(Deserialize)]
pub struct OptOutsExportQuery {
    format: Option<String>,
    q: Option<String>,
}

/// `GET /optouts/export?format=&q=`: the opt-out list (as searched) as a file; each export
/// is recorded in the audit log.
pub async fn optouts_export(
    State(state): State<AppState>,
    session: UiSession,
    Query(q): Query<OptOutsExportQuery>,
) -> Result<Response, PageError> {
    let format = reports::parse_format(q.format.as_deref(), Format::Csv)?;
    let account = session.account_id();
    let file = reports::optouts::optout_list(&state, account, format, q.q.as_deref()).await?;
    let by = session.asker();
    let event = AuditEvent::OptOutListExported;
    let store = state.store.as_ref();
    crate::audit::record(
        store,
        account,
        event,
        &by.actor,
        "opt-out list",
        format.as_str(),
        &by.address,
    )
    .await;
    Ok(crate::web::api::reports::attachment(file))
}
