//! The web UI: server-rendered pages (askama templates in `crates/stoplist/templates`), htmx
//! for partial updates (live search), a few lines of progressive-enhancement JavaScript and a
//! hand-written stylesheet (`crates/stoplist/static`), all served by this binary.
//!
//! It owns the pages, the session cookie and the CSRF checks of web forms (`session`). It
//! owns no rule: handlers parse form fields into domain types and call the same services
//! (`crate::optouts`, `crate::accounts`) and store methods as the API. Errors that are the
//! user's input are shown beside the field at fault; everything else becomes an error page
//! in `web::errors`.
//!
//! Every page works without JavaScript; htmx and `app.js` only make it nicer.

mod assets;
mod campaigns;
mod contacts;
mod imports;
mod optouts;
mod replies;
mod reports;
pub(crate) mod session;
mod settings;
mod upload_form;
mod users;

use crate::error::AppError;
use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::map_response;
use axum::response::Response;
use axum::routing::{get, post};
use stoplist_domain::{Actor, ActorKind};

pub use session::{CsrfForm, UiSession};

/// The UI's routes. Static assets, the login page and every page behind a session.
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(session::home))
        .route(
            "/login",
            get(session::login_page).post(session::login).layer(
                // A login form is a few hundred bytes; a bigger body is refused (413) before
                // it is read, so nothing of a flood of huge login names is ever kept.
                DefaultBodyLimit::max(LOGIN_BODY_LIMIT),
            ),
        )
        .route("/logout", post(session::logout))
        .route(
            session::SECOND_FACTOR,
            get(session::second_factor_page)
                .post(session::second_factor)
                .layer(DefaultBodyLimit::max(LOGIN_BODY_LIMIT)),
        )
        .route("/optouts", get(optouts::page).post(optouts::add))
        .route(
            "/optouts/upload",
            get(imports::optouts_form)
                .post(imports::optouts_upload)
                .layer(upload_limit()),
        )
        .route("/optouts/remove", post(optouts::remove))
        .route("/optouts/export", get(users::optouts_export))
        .route("/optouts/{number}", get(optouts::history))
        .route("/contacts", get(contacts::index))
        .route(
            "/contacts/import",
            get(imports::contacts_form)
                .post(imports::contacts_upload)
                .layer(upload_limit()),
        )
        .route("/imports/run", post(imports::run))
        .route("/imports/{id}", get(imports::report))
        .route("/imports/{id}/rejects.csv", get(imports::rejects))
        .route("/contacts/{id}/delete", post(contacts::delete_contact))
        .route("/groups", post(contacts::create_group))
        .route("/groups/{id}", get(contacts::group_page))
        .route("/groups/{id}/contacts", post(contacts::add_contact))
        .route("/groups/{id}/rename", post(contacts::rename_group))
        .route("/groups/{id}/delete", post(contacts::delete_group))
        .route("/campaigns", get(campaigns::list))
        .route(
            "/campaigns/new",
            get(campaigns::new_form)
                .post(campaigns::create)
                .layer(upload_limit()),
        )
        .route("/campaigns/counter", get(campaigns::counter_fragment))
        .route("/campaigns/{id}", get(campaigns::show))
        .route("/campaigns/{id}/preview", post(campaigns::repreview))
        .route("/campaigns/{id}/send", post(campaigns::send))
        .route("/campaigns/{id}/pause", post(campaigns::pause))
        .route("/campaigns/{id}/resume", post(campaigns::resume))
        .route("/campaigns/{id}/cancel", post(campaigns::cancel))
        .route("/replies", get(replies::list))
        .route("/replies/review", get(replies::queue))
        .route("/replies/{id}/review", post(replies::decide))
        .route(
            "/reports",
            get(|| async { axum::response::Redirect::to("/reports/incoming") }),
        )
        .route("/reports/incoming", get(reports::incoming))
        .route("/reports/incoming/export", get(reports::incoming_export))
        .route("/settings", get(settings::page).post(settings::update))
        .route("/settings/keywords", post(settings::update_keywords))
        .route("/settings/notifications", post(settings::update_notify))
        .route("/settings/connector", post(settings::update_connector))
        .route(
            "/settings/vonage-signature",
            post(settings::update_vonage_signature),
        )
        .route("/settings/api-keys", post(settings::create_key))
        .route("/settings/api-keys/{id}/revoke", post(settings::revoke_key))
        .route("/account", get(users::account))
        .route("/account/password", post(users::change_password))
        .route("/account/sessions/revoke", post(users::revoke_own_session))
        .route("/account/two-factor", post(users::enable_two_factor))
        .route(
            "/account/two-factor/disable",
            post(users::disable_two_factor),
        )
        .route("/users", get(users::list).post(users::add))
        .route("/users/two-factor", post(users::set_rule))
        .route("/users/{id}", post(users::act))
        .route("/audit", get(users::audit))
        .route("/audit/export", get(users::audit_export))
        .merge(assets::router())
        // Every route above passes the gate first (web::access decides who may).
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            session::gate,
        ))
        .layer(map_response(security_headers))
}

/// The largest login form body read (login name, password, CSRF token, URL-encoded).
const LOGIN_BODY_LIMIT: usize = 8 * 1024;

/// File uploads are streamed to disk under their own limit (`max_upload_bytes`, checked by
/// `imports::CsrfUpload`), not the default 2 MB body limit.
fn upload_limit() -> DefaultBodyLimit {
    DefaultBodyLimit::disable()
}

/// Headers every UI response carries. The CSP allows scripts and styles from this server
/// only (no inline script: `app.js` is a file, so the policy can stay strict), and no
/// framing (clickjacking).
async fn security_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    let set = |h: &mut HeaderMap, name: &'static str, value: &'static str| {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    };
    set(
        h,
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
    );
    set(h, "x-frame-options", "DENY");
    set(h, "x-content-type-options", "nosniff");
    set(h, "referrer-policy", "same-origin");
    resp
}

/// What the shared layout (`base.html`) shows around every page.
pub struct Layout {
    /// The page's title (before " · stoplist").
    pub title: String,
    /// The signed-in user's header (nav, account, login, log-out form); `None` on the login page.
    pub nav: Option<Nav>,
    /// Which nav entry is the current page: "optouts", "contacts", "campaigns", "replies",
    /// "settings" or "".
    pub active: &'static str,
    /// A fixed message after a successful post (from `?done=CODE`; never echoed text).
    pub flash: Option<&'static str>,
    pub css: &'static str,
    pub htmx: &'static str,
    pub app_js: &'static str,
}

/// The signed-in part of the header.
pub struct Nav {
    pub account: String,
    pub login: String,
    /// For the log-out form and the htmx header (`hx-headers`).
    pub csrf: String,
    /// What the pages offer: a viewer sees no forms that change anything, only an owner
    /// sees Users and the audit log.
    pub role: stoplist_domain::Role,
}

impl Nav {
    pub fn can_manage(&self) -> bool {
        self.role.allows(stoplist_domain::Role::Manager)
    }

    pub fn is_owner(&self) -> bool {
        self.role == stoplist_domain::Role::Owner
    }
}

impl Layout {
    /// A layout without the signed-in header (the login page).
    /// Whether the signed-in user may change things (a manager or an owner): a viewer's
    /// pages leave out the forms the server would refuse them.
    pub fn can_manage(&self) -> bool {
        self.nav.as_ref().is_some_and(Nav::can_manage)
    }

    /// Whether the signed-in user is an owner (users, keys, the connector, secrets).
    pub fn is_owner(&self) -> bool {
        self.nav.as_ref().is_some_and(Nav::is_owner)
    }

    /// The session's CSRF token, for a form of a signed-in page.
    pub fn csrf(&self) -> &str {
        self.nav.as_ref().map_or("", |n| n.csrf.as_str())
    }

    pub fn public(title: &str, flash: Option<&'static str>) -> Layout {
        Layout {
            title: title.to_owned(),
            nav: None,
            active: "",
            flash,
            css: assets::css_href(),
            htmx: assets::htmx_href(),
            app_js: assets::app_js_href(),
        }
    }
}

/// The message of a `?done=CODE` flash. Unknown codes show nothing: the page never echoes
/// text from the URL.
pub fn flash(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "logged_out" => "You have logged out.",
        "added" => "Number added to the opt-out list.",
        "already" => "That number was already on the opt-out list; nothing changed.",
        "removed" => "Opt-out removed. The number's history keeps the record.",
        "settings_updated" => "Settings updated",
        "key_revoked" => "API key revoked. Requests with it are refused from now on.",
        "password_changed" => "Password changed. Your other sessions have ended.",
        "session_ended" => "Session ended.",
        "two_factor_off" => "Two-factor login is off for you.",
        "two_factor_required" => {
            "This account requires two-factor login: set it up below to open the other pages."
        }
        "user_added" => "User added.",
        "user_changed" => "User updated.",
        "user_deleted" => "User deleted; their API keys are revoked.",
        "security_saved" => "Two-factor rule saved.",
        "group_created" => "Group created.",
        "group_renamed" => "Group renamed.",
        "group_deleted" => "Group deleted (with its contacts; the opt-out list is unchanged).",
        "contact_added" => "Contact added.",
        "contact_deleted" => "Contact deleted (the opt-out list is unchanged).",
        "campaign_created" => "Draft saved. Check the preview below, then send it.",
        "previewed" => "Preview updated.",
        "campaign_sending" => {
            "Sending started: the messages are queued and go out at your connector's rate."
        }
        "campaign_already_sending" => {
            "This campaign was already sent (the Send button was pressed twice); nothing was queued again."
        }
        "campaign_not_draft" => {
            "This campaign is no longer a draft: it was sent or cancelled. Its status is below."
        }
        "campaign_paused" => "Campaign paused: its queued messages wait until you resume it.",
        "campaign_resumed" => "Campaign resumed.",
        "campaign_cancelled" => "Campaign cancelled: messages not yet sent will not be sent.",
        "campaign_control_refused" => {
            "That action does not apply to the campaign in its current status; nothing changed."
        }
        "connector_saved" => "Connector saved. New messages go out through it.",
        "reply_confirmed" => {
            "Opt-out confirmed: the number is on the opt-out list and is sent no more messages."
        }
        "reply_dismissed" => {
            "Reply dismissed: it is not an opt-out. The number's opt-out status is unchanged."
        }
        "reply_dismissed_lifted" => {
            "Reply dismissed: it is not an opt-out, and the provisional opt-out it caused was lifted."
        }
        "review_closed" => "That reply had already been reviewed; nothing changed.",
        "keywords_saved" => "Keywords saved. New replies are classified with them.",
        "notify_saved" => "Notification endpoint saved. Opt-outs and opt-ins are posted to it.",
        "notify_removed" => "Notification endpoint removed: no more notifications are sent.",
        "vonage_signature_saved" => {
            "Vonage signature saved: Vonage replies without a valid signature are refused from now on."
        }
        "vonage_signature_off" => {
            "Vonage signatures are not checked: Vonage replies are accepted unsigned."
        }
        _ => return None,
    })
}

/// An error to show beside the form field it names.
#[derive(Debug, Clone)]
pub struct FormError {
    pub field: String,
    pub message: String,
}

/// The errors of a form (at most one today: the services stop at the first bad field).
#[derive(Debug, Clone, Default)]
pub struct FieldErrors(Option<FormError>);

impl FieldErrors {
    pub fn none() -> FieldErrors {
        FieldErrors(None)
    }

    pub fn one(field: &str, message: impl Into<String>) -> FieldErrors {
        FieldErrors(Some(FormError {
            field: field.to_owned(),
            message: message.into(),
        }))
    }

    /// The message for `field`, if it is at fault.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .as_ref()
            .filter(|e| e.field == field)
            .map(|e| e.message.as_str())
    }

    pub fn has(&self, field: &str) -> bool {
        self.get(field).is_some()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// The field at fault, if any (its input's id on pages where ids are field names).
    pub fn field(&self) -> Option<&str> {
        self.0.as_ref().map(|e| e.field.as_str())
    }

    /// Turns a service error about the user's input into a field error; any other error
    /// (not found, internal…) is handed back to become an error page. `labels` maps field
    /// names to the labels the form shows, so messages read "Help text must not be empty".
    pub fn from_app(e: AppError, labels: &[(&str, &str)]) -> Result<FieldErrors, AppError> {
        let label = |field: &str| {
            labels
                .iter()
                .find(|(f, _)| *f == field)
                .map(|(_, l)| (*l).to_owned())
                .unwrap_or_else(|| field.to_owned())
        };
        let (field, message) = match e {
            AppError::Invalid { field, message, .. } => {
                // Service messages start with the field's code name ("help_text must not be
                // empty", "number: invalid number (too short)"); the form shows its label.
                let message = match message.strip_prefix(field.as_str()) {
                    Some(rest) if rest.starts_with(": ") => capitalize(&rest[2..]),
                    Some(rest) if rest.starts_with(' ') => format!("{}{rest}", label(&field)),
                    _ => capitalize(&message),
                };
                (field, message)
            }
            AppError::Conflict { what, field } => (
                field.to_owned(),
                format!("{} already exists.", capitalize(what)),
            ),
            AppError::OptedOut(number) => (
                "number".to_owned(),
                format!(
                    "{number} is on the opt-out list, so it cannot be added as a contact: the opt-out list always wins."
                ),
            ),
            other => return Err(other),
        };
        Ok(FieldErrors::one(&field, message))
    }
}

/// A reply's classification as people read it, on the Replies page and in Reports → Incoming.
fn class_label(code: &str) -> &'static str {
    match code {
        "opt_out" => "Opt-out",
        "opt_in" => "Opt-in",
        "help" => "Help",
        "other" => "Other",
        "unclear" => "Unclear",
        _ => "Unknown",
    }
}

/// The rule that classified a reply, as people read it (the small label beside the
/// classification), on the Replies page and in Reports → Incoming.
fn tier_label(code: &str) -> &'static str {
    match code {
        "keyword" => "keyword",
        "keyword_with_courtesy" => "keyword with courtesy",
        "phrase" => "phrase",
        "not_a_request" => "not a request",
        "custom" => "your keyword",
        "fallback" => "no rule matched",
        _ => "other rule",
    }
}

/// A code as people read it: `opted_out` → "Opted out" (a reply's actions, a message's reason).
fn code_words(code: &str) -> String {
    capitalize(&code.replace('_', " "))
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// A file name as the user knows it: the last path part, trimmed, one line, at most 200
/// characters (browsers send only the name; this also covers old ones that send a path).
pub fn clean_file_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or(raw).trim();
    base.chars().filter(|c| !c.is_control()).take(200).collect()
}

/// An upload limit in words: whole MB, else KB rounded up.
pub fn size_text(bytes: u64) -> String {
    const MB: u64 = 1024 * 1024;
    if bytes >= MB {
        format!("{} MB", bytes / MB)
    } else {
        format!("{} KB", bytes.div_ceil(1024))
    }
}

/// Thousands with separators: 1234567 → "1,234,567".
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// Whether an htmx request asks for a fragment (live search) rather than the whole page.
/// A history restore (htmx re-fetching a page it has no snapshot of) wants the whole page.
pub fn wants_fragment(headers: &HeaderMap) -> bool {
    let is = |name: &str| headers.get(name).is_some_and(|v| v.as_bytes() == b"true");
    is("hx-request") && !is("hx-history-restore-request") && !is("hx-boosted")
}

/// Marks a response that differs by the `HX-Request` header (a fragment or a page), so no
/// cache hands one out for the other.
pub fn vary_on_htmx(mut resp: Response) -> Response {
    resp.headers_mut()
        .append(header::VARY, HeaderValue::from_static("HX-Request"));
    resp
}

pub use crate::optouts::number_digits;

/// Whether a search looks like (part of) a phone number rather than a name or email.
pub fn looks_like_number(q: &str) -> bool {
    q.chars().any(|c| c.is_ascii_digit())
        && q.chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c))
}

/// A search box's text, trimmed; `None` when empty.
pub fn search_text(q: Option<&str>) -> Option<String> {
    q.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.chars().take(100).collect())
}

/// The reply filters of the Replies page and of Reports → Incoming, as typed (shown again in
/// the form): trimmed and cut to a sane length by [`search_text`].
#[derive(Default)]
pub struct ReplyFilters {
    pub from: String,
    pub to: String,
    pub class: String,
    pub number: String,
}

impl ReplyFilters {
    pub fn typed(
        from: Option<&str>,
        to: Option<&str>,
        class: Option<&str>,
        number: Option<&str>,
    ) -> ReplyFilters {
        let text = |v| search_text(v).unwrap_or_default();
        ReplyFilters {
            from: text(from),
            to: text(to),
            class: text(class),
            number: text(number),
        }
    }

    /// The filters that are set, as a query string ending in `&` ("" when none), for paging
    /// and export links.
    pub fn query(&self) -> String {
        let pairs: Vec<(&str, &str)> = [
            ("from", self.from.as_str()),
            ("to", self.to.as_str()),
            ("class", self.class.as_str()),
            ("number", self.number.as_str()),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect();
        match serde_urlencoded::to_string(&pairs) {
            Ok(s) if !s.is_empty() => format!("{s}&"),
            _ => String::new(),
        }
    }
}

/// A keyset cursor from the query string; anything but a positive integer is the first page.
pub fn cursor(raw: Option<&str>) -> Option<i64> {
    raw.and_then(|s| s.trim().parse::<i64>().ok())
        .filter(|v| *v > 0)
}

/// Who made a change, for people: "user admin", "API key billing", "inbound …", "CLI ops".
pub fn actor_text(a: &Actor) -> String {
    let kind = match a.kind {
        ActorKind::User => "user",
        ActorKind::ApiKey => "API key",
        ActorKind::Inbound => "inbound",
        ActorKind::Cli => "CLI",
        ActorKind::System => "system",
    };
    if a.label.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind} {}", a.label)
    }
}

/// An opt-out or event source code as the UI names it.
pub fn source_label(code: &str) -> &'static str {
    match code {
        "reply" => "reply",
        "manual" => "manual",
        "upload" => "upload",
        "api" => "API",
        "carrier" => "carrier",
        "import_reset" => "import reset",
        _ => "other",
    }
}

/// How many rows a page of a list shows.
pub const PAGE_SIZE: i64 = 50;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use stoplist_domain::Region;

    #[test]
    fn flash_messages_are_fixed_texts() {
        assert_eq!(flash(Some("settings_updated")), Some("Settings updated"));
        assert_eq!(flash(Some("<script>")), None);
        assert_eq!(flash(None), None);
    }

    #[test]
    fn searches_for_numbers_use_their_digits() {
        assert_eq!(
            number_digits("0412 999 888", Region::AU).as_deref(),
            Some("61412999888")
        );
        assert_eq!(
            number_digits("0412 999", Region::AU).as_deref(),
            Some("412999")
        );
        assert_eq!(number_digits("999", Region::AU).as_deref(), Some("999"));
        assert_eq!(number_digits("nobody", Region::AU), None);
        assert!(looks_like_number("+61 412"));
        assert!(!looks_like_number("olivia"));
    }

    #[test]
    fn field_errors_read_with_the_forms_labels() {
        let e = AppError::invalid("invalid_field", "help_text", "help_text must not be empty");
        let f = FieldErrors::from_app(e, &[("help_text", "Help text")]).unwrap();
        assert_eq!(f.get("help_text"), Some("Help text must not be empty"));
        let e = AppError::phone("number", stoplist_domain::PhoneError::TooShort);
        let f = FieldErrors::from_app(e, &[]).unwrap();
        assert!(
            f.get("number").unwrap().starts_with("Invalid number"),
            "{f:?}"
        );
        assert!(FieldErrors::from_app(AppError::NotFound("group"), &[]).is_err());
    }
}
