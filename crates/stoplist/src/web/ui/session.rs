//! Web sessions, CSRF protection and the login and logout pages.
//!
//! **Sessions.** Logging in makes a random 32-byte token, sets it in the `stoplist_session`
//! cookie (HttpOnly, SameSite=Lax, Path=/, Secure when `public_url` is https or `secure_cookies` is set, lasting
//! `session_hours`) and stores only its SHA-256 with the user and a per-session CSRF token.
//! [`UiSession`] looks the cookie up on every request; without a live session a page
//! redirects to `/login` (an htmx request gets `HX-Redirect` instead, so a fragment never
//! swaps a login form into a table). Logging out deletes the session row.
//!
//! **CSRF.** Two independent checks on every POST:
//! 1. Origin: a POST whose `Origin` header is present and is not this server (the `Host`
//!    header, or the configured `public_url`), or whose `Sec-Fetch-Site` is `cross-site`,
//!    is refused with 403.
//! 2. Token: every form carries a hidden `csrf_token` (htmx requests may send it as the
//!    `X-CSRF-Token` header instead; the layout sets it with `hx-headers`), compared in
//!    constant time with the session's token by [`CsrfForm`]; missing or wrong is 403 and
//!    nothing runs.
//!
//! The login form has no session yet: it is protected by the same Origin check and by a
//! double-submit token: `GET /login` sets a random `stoplist_login_csrf` cookie (HttpOnly,
//! SameSite=Strict, Path=/login) and puts the same value in the form; `POST /login` refuses
//! (403) a form whose token does not match the cookie. A cross-site page can neither read
//! nor set that cookie, so it cannot log a victim in to the attacker's account.
//!
//! **Login attempts** are limited per (login, client IP) by `state.logins`; a blocked
//! attempt is answered 429 before any password is checked. An unknown login and a wrong
//! password get the same message and take about the same time (a dummy hash is verified).

use super::{Layout, Nav, flash};
use crate::audit;
use crate::auth::{random_hex, secret_hash, verify_password};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::web::access::{Access, BEFORE_ENROLMENT, access};
use crate::web::errors::PageError;
use askama::Template;
use askama_web::WebTemplate;
use axum::body::{Body, Bytes};
use axum::extract::{
    ConnectInfo, FromRequest, FromRequestParts, MatchedPath, Query, Request, State,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::net::SocketAddr;
use stoplist_domain::{AccountId, Actor, AuditEvent, Role};
use stoplist_store::{Account, NewSession, User};
use subtle::ConstantTimeEq;

pub const SESSION_COOKIE: &str = "stoplist_session";
pub const LOGIN_CSRF_COOKIE: &str = "stoplist_login_csrf";
/// Where a signed-in user lands.
pub const HOME: &str = "/optouts";
/// Where a user enrolled in two-factor login gives their code after the password.
pub const SECOND_FACTOR: &str = "/login/second-factor";
/// How long a session that passed the password may wait for its second factor.
const SECOND_FACTOR_MS: i64 = 5 * 60 * 1000;

pub(super) const CSRF_REFUSED: &str =
    "this form has expired or did not come from this site; reload the page and try again";
const CROSS_SITE: &str = "cross-site form posts are refused";

/// The signed-in user of a page request, with their account and the session's CSRF token.
#[derive(Clone)]
pub struct UiSession {
    pub user: User,
    pub account: Account,
    pub csrf: String,
    /// The client's address (for the audit log).
    pub address: String,
}

impl UiSession {
    pub fn account_id(&self) -> AccountId {
        self.user.account_id
    }

    /// Who made a change, for the ledger and the settings history.
    pub fn actor(&self) -> Actor {
        Actor::user(self.user.id.0, &self.user.login)
    }

    pub fn role(&self) -> Role {
        self.user.role
    }

    /// This user as the one who asks, for the audit log.
    pub fn asker(&self) -> crate::users::Asker {
        crate::users::Asker {
            actor: self.actor(),
            address: self.address.clone(),
        }
    }

    /// The shared layout for a page of this session.
    pub fn layout(&self, title: &str, active: &'static str, flash: Option<&'static str>) -> Layout {
        Layout {
            nav: Some(Nav {
                account: self.account.name.clone(),
                login: self.user.login.clone(),
                csrf: self.csrf.clone(),
                role: self.user.role,
            }),
            active,
            ..Layout::public(title, flash)
        }
    }

    /// The full session of these headers, if its cookie names a live one.
    async fn load(headers: &HeaderMap, state: &AppState) -> AppResult<Option<UiSession>> {
        Ok(Self::find(headers, state)
            .await?
            .filter(|(_, awaiting)| !awaiting)
            .map(|(s, _)| s))
    }

    /// The session of these headers and whether it still awaits its second factor.
    async fn find(headers: &HeaderMap, state: &AppState) -> AppResult<Option<(UiSession, bool)>> {
        let Some(token) = cookie(headers, SESSION_COOKIE).filter(|t| is_token(t)) else {
            return Ok(None);
        };
        let Some(s) = state
            .store
            .session(&secret_hash(token), crate::now_ms())
            .await?
        else {
            return Ok(None);
        };
        let awaiting = s.awaiting_second_factor;
        let account = state
            .store
            .account(s.user.account_id)
            .await?
            .ok_or(AppError::NotFound("account"))?;
        Ok(Some((
            UiSession {
                user: s.user,
                account,
                csrf: s.csrf_token,
                address: String::new(),
            },
            awaiting,
        )))
    }
}

/// Lets a page request through only when `web::access` allows its route to the signed-in
/// user: anyone to a public page; otherwise a full session (not one awaiting its second
/// factor), enrolled in two-factor login when the account requires it, with a role that
/// suffices. The session then travels in the request's extensions to the handler.
pub async fn gate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let Some(route) = req.extensions().get::<MatchedPath>().cloned() else {
        return next.run(req).await;
    };
    let needed = match access(req.method(), route.as_str()) {
        Some(Access::Public) => return next.run(req).await,
        Some(Access::Role(r)) => r,
        None => return page(AppError::Forbidden("this page is not open to anyone")),
    };
    let mut session = match UiSession::find(req.headers(), &state).await {
        Ok(Some((_, true))) => return Redirect::to(SECOND_FACTOR).into_response(),
        Ok(Some((s, false))) => s,
        Ok(None) => return to_login(req.headers()),
        Err(e) => return page(e),
    };
    if !session.user.two_factor && !BEFORE_ENROLMENT.contains(&route.as_str()) {
        match state.store.requires_two_factor(session.account_id()).await {
            Ok(true) => return Redirect::to("/account?done=two_factor_required").into_response(),
            Ok(false) => {}
            Err(e) => return page(e.into()),
        }
    }
    if !session.user.role.allows(needed) {
        return page(AppError::NeedsRole {
            needed,
            have: session.user.role,
        });
    }
    session.address = peer_address(req.extensions());
    req.extensions_mut().insert(session);
    next.run(req).await
}

/// The client's address, as the listener saw it (empty when unknown).
pub fn peer_address(ext: &axum::http::Extensions) -> String {
    peer_ip(ext).map(|a| a.to_string()).unwrap_or_default()
}

/// The login forms' client address (0.0.0.0 when the listener gave none).
fn client_ip(peer: Option<Extension<ConnectInfo<SocketAddr>>>) -> std::net::IpAddr {
    peer.map(|Extension(ConnectInfo(a))| a.ip())
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
}

/// The client's IP address, as the listener saw it.
pub fn peer_ip(ext: &axum::http::Extensions) -> Option<std::net::IpAddr> {
    ext.get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip())
}

impl FromRequestParts<AppState> for UiSession {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // The gate's, on a guarded route; on a public one (logout), the cookie's.
        if let Some(s) = parts.extensions.remove::<UiSession>() {
            return Ok(s);
        }
        match UiSession::load(&parts.headers, state).await {
            Ok(Some(s)) => Ok(s),
            Ok(None) => Err(to_login(&parts.headers)),
            Err(e) => Err(PageError(e).into_response()),
        }
    }
}

/// Sends a visitor without a session to the login page.
fn to_login(headers: &HeaderMap) -> Response {
    if headers
        .get("hx-request")
        .is_some_and(|v| v.as_bytes() == b"true")
    {
        return ([("hx-redirect", "/login")], "").into_response();
    }
    PageError(AppError::Unauthorized).into_response()
}

/// A POSTed form from a signed-in user whose origin and CSRF token were checked. Nothing
/// of the handler runs unless both pass.
pub struct CsrfForm<T> {
    pub session: UiSession,
    pub form: T,
}

#[derive(Deserialize)]
struct CsrfField {
    csrf_token: Option<String>,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        same_origin(&parts.headers, state.config.public_url.as_deref()).map_err(page)?;
        let session = UiSession::from_request_parts(&mut parts, state).await?;
        let header_token = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        let given = match header_token {
            Some(t) => Some(t),
            None => parse_form::<CsrfField>(&bytes)
                .await
                .ok()
                .and_then(|f| f.csrf_token),
        };
        if !tokens_match(given.as_deref(), &session.csrf) {
            return Err(page(AppError::Forbidden(CSRF_REFUSED)));
        }
        let form = parse_form::<T>(&bytes).await?;
        Ok(CsrfForm { session, form })
    }
}

fn page(e: AppError) -> Response {
    PageError(e).into_response()
}

/// Parses an `application/x-www-form-urlencoded` body (with axum's own form parser).
async fn parse_form<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, Response> {
    let mut req = Request::new(Body::from(bytes.clone()));
    *req.method_mut() = Method::POST;
    req.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    match Form::<T>::from_request(req, &()).await {
        Ok(Form(v)) => Ok(v),
        Err(rej) => Err(page(AppError::invalid(
            "invalid_form",
            "form",
            format!("the form could not be read: {}", rej.body_text()),
        ))),
    }
}

/// Constant-time comparison of a submitted token with the expected one.
pub(super) fn tokens_match(given: Option<&str>, expected: &str) -> bool {
    match given {
        Some(g) if !expected.is_empty() => g.as_bytes().ct_eq(expected.as_bytes()).into(),
        _ => false,
    }
}

/// Refuses requests that a browser marks as coming from another site: an `Origin` that is
/// not this server, or `Sec-Fetch-Site: cross-site`. Requests without those headers (old
/// browsers, scripts) pass here and still need the CSRF token.
pub fn same_origin(headers: &HeaderMap, public_url: Option<&str>) -> AppResult<()> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if text("sec-fetch-site") == Some("cross-site") {
        return Err(AppError::Forbidden(CROSS_SITE));
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin
        .to_str()
        .map_err(|_| AppError::Forbidden(CROSS_SITE))?;
    let authority = |url: &str| {
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))?;
        Some(rest.split('/').next().unwrap_or(rest).to_ascii_lowercase())
    };
    let Some(from) = authority(origin) else {
        return Err(AppError::Forbidden(CROSS_SITE));
    };
    let host = text("host").map(str::to_ascii_lowercase);
    let public = public_url.and_then(authority);
    if host.as_deref() == Some(from.as_str()) || public.as_deref() == Some(from.as_str()) {
        Ok(())
    } else {
        Err(AppError::Forbidden(CROSS_SITE))
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Whether a cookie value has the shape of our tokens (64 lowercase hex characters), so
/// that garbage never reaches the store.
fn is_token(t: &str) -> bool {
    t.len() == 64
        && t.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A `Set-Cookie` value. `max_age` 0 deletes the cookie.
fn set_cookie(
    name: &str,
    value: &str,
    path: &str,
    same_site: &str,
    max_age: i64,
    secure: bool,
) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let v = format!(
        "{name}={value}; Path={path}; HttpOnly; SameSite={same_site}; Max-Age={max_age}{secure}"
    );
    // Names and values here are our constants and hex tokens: always valid header text.
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

// --- pages ------------------------------------------------------------------------------

/// `/`: the Opt Out Manager for a signed-in user, the login page for anyone else.
pub async fn home(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Redirect, PageError> {
    Ok(match UiSession::load(&headers, &state).await? {
        Some(_) => Redirect::to(HOME),
        None => Redirect::to("/login"),
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    csrf: String,
    login: String,
    error: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct LoginQuery {
    done: Option<String>,
}

/// Renders the login form with a double-submit token (the cookie's, or a new one).
fn login_form(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    login: String,
    error: Option<&'static str>,
    flash: Option<&'static str>,
) -> Response {
    let csrf = match cookie(headers, LOGIN_CSRF_COOKIE).filter(|t| is_token(t)) {
        Some(t) => t.to_owned(),
        None => random_hex(32),
    };
    let set = set_cookie(
        LOGIN_CSRF_COOKIE,
        &csrf,
        "/login",
        "Strict",
        3600,
        state.config.cookies_secure(),
    );
    let page = LoginPage {
        layout: Layout::public("Log in", flash),
        csrf,
        login,
        error,
    };
    let mut resp = (status, page).into_response();
    resp.headers_mut().append(header::SET_COOKIE, set);
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// `GET /login`.
pub async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Result<Response, PageError> {
    if UiSession::load(&headers, &state).await?.is_some() {
        return Ok(Redirect::to(HOME).into_response());
    }
    Ok(login_form(
        &state,
        &headers,
        StatusCode::OK,
        String::new(),
        None,
        flash(q.done.as_deref()),
    ))
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf_token: String,
}

const WRONG_CREDENTIALS: &str = "Wrong login or password.";
const TOO_MANY: &str = "Too many failed attempts. Wait a few minutes, then try again.";
const DISABLED: &str = "This user is disabled. Ask an owner of the account.";
const LOGIN_EXPIRED: &str = "The login form expired or came from another site. Please try again.";

/// A password hash to verify against when the login is unknown, so that an unknown login
/// takes as long as a wrong password.
static DUMMY_HASH: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();

/// `POST /login`.
pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    body: Bytes,
) -> Result<Response, PageError> {
    same_origin(&headers, state.config.public_url.as_deref())?;
    let form: LoginForm = match parse_form(&body).await {
        Ok(f) => f,
        Err(resp) => return Ok(resp),
    };
    let login = form.login.trim().to_owned();
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE)
        .filter(|t| is_token(t))
        .unwrap_or("");
    if !tokens_match(Some(&form.csrf_token), expected) {
        return Ok(login_form(
            &state,
            &headers,
            StatusCode::FORBIDDEN,
            login,
            Some(LOGIN_EXPIRED),
            None,
        ));
    }
    if login.len() > crate::auth::MAX_LOGIN_LEN {
        // Refused before any lookup, hash or count: nothing of it is kept.
        return Ok(login_form(
            &state,
            &headers,
            StatusCode::UNAUTHORIZED,
            String::new(),
            Some(WRONG_CREDENTIALS),
            None,
        ));
    }
    let ip = client_ip(peer);
    let Some(attempt) = state.logins.attempt(&login, ip) else {
        tracing::warn!(%ip, "login refused: too many failed attempts");
        return Ok(login_form(
            &state,
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            login,
            Some(TOO_MANY),
            None,
        ));
    };
    let found = state
        .store
        .user_credentials(&login)
        .await
        .map_err(AppError::from)?;
    let address = ip.to_string();
    let user = match found {
        Some((user, hash)) => {
            let ok = verify_password(form.password, hash).await;
            if !ok {
                let detail = "wrong password";
                audit::record_user(&state, &user, AuditEvent::LoginFailed, detail, &address).await;
            }
            ok.then_some(user)
        }
        None => {
            let dummy = DUMMY_HASH
                .get_or_try_init(|| crate::auth::hash_password(random_hex(16)))
                .await?;
            let _ = verify_password(form.password, dummy.clone()).await;
            None
        }
    };
    let Some(user) = user else {
        tracing::info!(%ip, "login failed");
        return Ok(login_form(
            &state,
            &headers,
            StatusCode::UNAUTHORIZED,
            login,
            Some(WRONG_CREDENTIALS),
            None,
        ));
    };
    if !user.is_active() {
        // Said only to someone who knows the password.
        audit::record_user(
            &state,
            &user,
            AuditEvent::LoginFailed,
            "user is disabled",
            &address,
        )
        .await;
        return Ok(login_form(
            &state,
            &headers,
            StatusCode::FORBIDDEN,
            login,
            Some(DISABLED),
            None,
        ));
    }
    state.logins.succeeded(attempt);
    let token = random_hex(32);
    let csrf = random_hex(32);
    let now = crate::now_ms();
    let hours = state.config.session_hours.max(1);
    let (expires, lands) = if user.two_factor {
        (now + SECOND_FACTOR_MS, SECOND_FACTOR)
    } else {
        (now + hours * 3_600_000, HOME)
    };
    state
        .store
        .create_session(&NewSession {
            token_hash: &secret_hash(&token),
            user: user.id,
            csrf_token: &csrf,
            now,
            expires_at: expires,
            awaiting_second_factor: user.two_factor,
            address: &address,
        })
        .await
        .map_err(AppError::from)?;
    if user.two_factor {
        tracing::info!(user = %user.id, "password accepted; awaiting the second factor");
    } else {
        tracing::info!(user = %user.id, "logged in");
        audit::record_user(
            &state,
            &user,
            AuditEvent::LoginSucceeded,
            "password",
            &address,
        )
        .await;
    }
    let secure = state.config.cookies_secure();
    let mut resp = Redirect::to(lands).into_response();
    let h = resp.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, &token, "/", "Lax", hours * 3600, secure),
    );
    h.append(
        header::SET_COOKIE,
        set_cookie(LOGIN_CSRF_COOKIE, "", "/login", "Strict", 0, secure),
    );
    Ok(resp)
}

#[derive(Template, WebTemplate)]
#[template(path = "second_factor.html")]
struct SecondFactorPage {
    layout: Layout,
    csrf: String,
    error: Option<&'static str>,
}

/// `GET /login/second-factor`: the code form, for a session that passed its password.
pub async fn second_factor_page(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    Ok(match UiSession::find(&headers, &state).await? {
        Some((s, true)) => second_factor_form(s.csrf, StatusCode::OK, None),
        Some((_, false)) => Redirect::to(HOME).into_response(),
        None => Redirect::to("/login").into_response(),
    })
}

fn second_factor_form(csrf: String, status: StatusCode, error: Option<&'static str>) -> Response {
    let page = SecondFactorPage {
        layout: Layout::public("Two-factor login", None),
        csrf,
        error,
    };
    let mut resp = (status, page).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[derive(Deserialize)]
pub struct SecondFactorForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    csrf_token: String,
}

const WRONG_CODE: &str =
    "That code is not right, or was used already. Try the next code, or a recovery code.";

/// `POST /login/second-factor`: a code from the authenticator app (each accepted once) or
/// an unused recovery code turns the half-open session into a full one, under a new token.
/// Wrong codes count against the same login limits as wrong passwords.
pub async fn second_factor(
    State(state): State<AppState>,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    body: Bytes,
) -> Result<Response, PageError> {
    same_origin(&headers, state.config.public_url.as_deref())?;
    let Some((session, true)) = UiSession::find(&headers, &state).await? else {
        return Ok(Redirect::to("/login").into_response());
    };
    let form: SecondFactorForm = match parse_form(&body).await {
        Ok(f) => f,
        Err(resp) => return Ok(resp),
    };
    if !tokens_match(Some(&form.csrf_token), &session.csrf) {
        return Err(PageError(AppError::Forbidden(CSRF_REFUSED)));
    }
    let ip = client_ip(peer);
    let address = ip.to_string();
    let user = &session.user;
    let Some(attempt) = state.logins.attempt(&user.login, ip) else {
        return Ok(second_factor_form(
            session.csrf,
            StatusCode::TOO_MANY_REQUESTS,
            Some(TOO_MANY),
        ));
    };
    let how = crate::users::check_second_factor(&state, user, &form.code).await?;
    let Some(how) = how else {
        audit::record_user(&state, user, AuditEvent::SecondFactorFailed, "", &address).await;
        return Ok(second_factor_form(
            session.csrf,
            StatusCode::UNAUTHORIZED,
            Some(WRONG_CODE),
        ));
    };
    state.logins.succeeded(attempt);
    let Some(old) = cookie(&headers, SESSION_COOKIE) else {
        return Ok(Redirect::to("/login").into_response());
    };
    let token = random_hex(32);
    let now = crate::now_ms();
    let hours = state.config.session_hours.max(1);
    let done = state
        .store
        .complete_second_factor(
            &secret_hash(old),
            &secret_hash(&token),
            &random_hex(32),
            now,
            now + hours * 3_600_000,
        )
        .await
        .map_err(AppError::from)?;
    if !done {
        return Ok(Redirect::to("/login").into_response());
    }
    audit::record_user(&state, user, AuditEvent::LoginSucceeded, how, &address).await;
    tracing::info!(user = %user.id, "logged in with a second factor");
    let mut resp = Redirect::to(HOME).into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            SESSION_COOKIE,
            &token,
            "/",
            "Lax",
            hours * 3600,
            state.config.cookies_secure(),
        ),
    );
    Ok(resp)
}

#[derive(Deserialize)]
pub struct Empty {}

/// `POST /logout`: ends the session (the CSRF check stops other sites logging users out).
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    CsrfForm { session, .. }: CsrfForm<Empty>,
) -> Result<Response, PageError> {
    let address = client_ip(peer).to_string();
    audit::record_user(&state, &session.user, AuditEvent::Logout, "", &address).await;
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        state
            .store
            .delete_session(&secret_hash(token))
            .await
            .map_err(AppError::from)?;
    }
    let mut resp = Redirect::to("/login?done=logged_out").into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            SESSION_COOKIE,
            "",
            "/",
            "Lax",
            0,
            state.config.cookies_secure(),
        ),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn a_post_from_another_origin_is_refused() {
        assert!(same_origin(&headers(&[("host", "a.test:8080")]), None).is_ok());
        assert!(
            same_origin(
                &headers(&[("host", "a.test:8080"), ("origin", "http://a.test:8080")]),
                None
            )
            .is_ok()
        );
        assert!(
            same_origin(
                &headers(&[("host", "a.test:8080"), ("origin", "http://evil.test")]),
                None
            )
            .is_err()
        );
        assert!(same_origin(&headers(&[("host", "a.test"), ("origin", "null")]), None).is_err());
        assert!(
            same_origin(
                &headers(&[("host", "a.test"), ("sec-fetch-site", "cross-site")]),
                None
            )
            .is_err()
        );
        let proxied = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "https://sms.example.com"),
        ]);
        assert!(same_origin(&proxied, Some("https://sms.example.com/")).is_ok());
    }

    #[test]
    fn cookies_are_found_among_others() {
        let h = headers(&[("cookie", "a=1; stoplist_session=abc; b=2")]);
        assert_eq!(cookie(&h, "stoplist_session"), Some("abc"));
        assert_eq!(cookie(&h, "stoplist"), None);
    }

    #[test]
    fn csrf_tokens_must_match_exactly() {
        assert!(tokens_match(Some("abc"), "abc"));
        assert!(!tokens_match(Some("abd"), "abc"));
        assert!(!tokens_match(Some(""), ""));
        assert!(!tokens_match(None, "abc"));
    }
}
