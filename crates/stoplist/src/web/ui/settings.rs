//! Settings: the Opt Outs section of SPEC 3.3 with the seed's labels, the message texts,
//! the webhook token and URLs, the account's API keys (created and shown once, revoked) and
//! the recent settings history. Saving goes through `accounts::apply_settings_patch`, which
//! validates everything first and records each real change.

use super::{CsrfForm, FieldErrors, Layout, UiSession, actor_text, flash};
use crate::error::AppError;
use crate::state::AppState;
use crate::web::errors::PageError;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use stoplist_domain::ApiKeyId;
use stoplist_domain::settings::{AccountSettings, SettingsPatch};

/// The values the form shows: the stored settings, or what the user typed.
pub struct FormValues {
    auto_delete_optouts: bool,
    remove_from_all_groups: bool,
    enforce_global_optouts: bool,
    default_region: String,
    confirmation_enabled: bool,
    confirmation_text: String,
    help_text: String,
    footer_enabled: bool,
    footer_text: String,
    unclear_counts_as_optout: bool,
}

impl From<&AccountSettings> for FormValues {
    fn from(s: &AccountSettings) -> Self {
        FormValues {
            auto_delete_optouts: s.auto_delete_optouts,
            remove_from_all_groups: s.remove_from_all_groups,
            enforce_global_optouts: s.enforce_global_optouts,
            default_region: s.default_region.to_string(),
            confirmation_enabled: s.confirmation_enabled,
            confirmation_text: s.confirmation_text.clone(),
            help_text: s.help_text.clone(),
            footer_enabled: s.footer_enabled,
            footer_text: s.footer_text.clone(),
            unclear_counts_as_optout: s.unclear_counts_as_optout,
        }
    }
}

/// The regions offered first (any region with numbering metadata is valid; the stored one is
/// always listed).
const REGIONS: &[(&str, &str)] = &[
    ("AU", "Australia"),
    ("NZ", "New Zealand"),
    ("US", "United States"),
    ("CA", "Canada"),
    ("GB", "United Kingdom"),
    ("IE", "Ireland"),
    ("IN", "India"),
    ("SG", "Singapore"),
    ("ZA", "South Africa"),
    ("MY", "Malaysia"),
    ("PH", "Philippines"),
    ("ID", "Indonesia"),
    ("TH", "Thailand"),
    ("VN", "Vietnam"),
    ("HK", "Hong Kong"),
    ("JP", "Japan"),
    ("KR", "South Korea"),
    ("CN", "China"),
    ("AE", "United Arab Emirates"),
    ("SA", "Saudi Arabia"),
    ("DE", "Germany"),
    ("FR", "France"),
    ("ES", "Spain"),
    ("IT", "Italy"),
    ("NL", "Netherlands"),
    ("BE", "Belgium"),
    ("SE", "Sweden"),
    ("NO", "Norway"),
    ("DK", "Denmark"),
    ("FI", "Finland"),
    ("PL", "Poland"),
    ("PT", "Portugal"),
    ("CH", "Switzerland"),
    ("AT", "Austria"),
    ("MX", "Mexico"),
    ("BR", "Brazil"),
    ("AR", "Argentina"),
    ("CL", "Chile"),
    ("NG", "Nigeria"),
    ("KE", "Kenya"),
    ("FJ", "Fiji"),
    ("PG", "Papua New Guinea"),
];

pub struct RegionOption {
    code: String,
    name: &'static str,
    selected: bool,
}

fn regions(current: &str) -> Vec<RegionOption> {
    let mut out: Vec<RegionOption> = REGIONS
        .iter()
        .map(|(code, name)| RegionOption {
            code: (*code).to_owned(),
            name,
            selected: *code == current,
        })
        .collect();
    if !out.iter().any(|r| r.selected) {
        out.insert(
            0,
            RegionOption {
                code: current.to_owned(),
                name: "Current setting",
                selected: true,
            },
        );
    }
    out
}

/// The UI's names for settings fields (the seed's labels where it names them).
fn label(field: &str) -> &str {
    match field {
        "auto_delete_optouts" => "Automatically delete Opt Outs from Contacts",
        "remove_from_all_groups" => "Recipient Opt Out removes user from all groups?",
        "enforce_global_optouts" => "Enforce Global Optouts",
        "unclear_counts_as_optout" => "Count unclear replies as opt-outs until reviewed",
        "default_region" => "Default region",
        "confirmation_enabled" => "Send an opt-out confirmation text",
        "confirmation_text" => "Opt-out confirmation text",
        "help_text" => "Help text",
        "footer_enabled" => "Add the opt-out footer",
        "footer_text" => "Opt-out footer",
        other => other,
    }
}

const LABELS: &[(&str, &str)] = &[
    ("default_region", "Default region"),
    ("confirmation_text", "Opt-out confirmation text"),
    ("help_text", "Help text"),
    ("footer_text", "Opt-out footer"),
];

pub struct WebhookRow {
    provider: &'static str,
    url: String,
}

pub struct KeyRow {
    id: i64,
    name: String,
    prefix: String,
    created: String,
    revoked: Option<String>,
}

pub struct HistoryRow {
    at: String,
    actor: String,
    setting: String,
    old_value: String,
    new_value: String,
}

/// A key just created, shown once.
pub struct NewKey {
    name: String,
    key: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "settings.html")]
struct SettingsPage {
    layout: Layout,
    csrf: String,
    form: FormValues,
    errors: FieldErrors,
    regions: Vec<RegionOption>,
    webhook_token: String,
    webhooks: Vec<WebhookRow>,
    public_url_set: bool,
    keys: Vec<KeyRow>,
    new_key: Option<NewKey>,
    key_name: String,
    key_errors: FieldErrors,
    history: Vec<HistoryRow>,
}

/// What a settings page shows besides the stored state.
#[derive(Default)]
struct Extras {
    form: Option<FormValues>,
    errors: FieldErrors,
    new_key: Option<NewKey>,
    key_name: String,
    key_errors: FieldErrors,
    flash: Option<&'static str>,
}

/// A bool setting's value as the history shows it.
fn shown_value(field: &str, v: &str) -> String {
    let is_flag = !matches!(
        field,
        "default_region" | "confirmation_text" | "help_text" | "footer_text"
    );
    match (is_flag, v) {
        (true, "true") => "on".into(),
        (true, "false") => "off".into(),
        _ => v.to_owned(),
    }
}

async fn render(
    state: &AppState,
    session: UiSession,
    extras: Extras,
) -> Result<Response, PageError> {
    let account = session.account_id();
    // From the store, not the cache: this page shows (and edits) the settings as saved.
    let stored = state.store.settings(account).await?;
    let form = extras.form.unwrap_or_else(|| FormValues::from(&stored));
    let webhooks = crate::accounts::webhook_urls(&state.config, &session.account.webhook_token)
        .into_iter()
        .map(|(provider, url)| WebhookRow { provider, url })
        .collect();
    let keys = state
        .store
        .list_api_keys(account)
        .await?
        .into_iter()
        .map(|k| KeyRow {
            id: k.id.0,
            name: k.name,
            prefix: k.prefix,
            created: crate::rfc3339(k.created_at),
            revoked: k.revoked_at.map(crate::rfc3339),
        })
        .collect();
    let history = state
        .store
        .settings_history(account, 20)
        .await?
        .into_iter()
        .map(|c| HistoryRow {
            at: crate::rfc3339(c.at),
            actor: actor_text(&c.actor),
            setting: label(&c.field).to_owned(),
            old_value: shown_value(&c.field, &c.old_value),
            new_value: shown_value(&c.field, &c.new_value),
        })
        .collect();
    let page = SettingsPage {
        layout: session.layout("Settings", "settings", extras.flash),
        csrf: session.csrf.clone(),
        regions: regions(&form.default_region),
        form,
        errors: extras.errors,
        webhook_token: session.account.webhook_token.clone(),
        webhooks,
        public_url_set: state.config.public_url.is_some(),
        keys,
        new_key: extras.new_key,
        key_name: extras.key_name,
        key_errors: extras.key_errors,
        history,
    };
    Ok(page.into_response())
}

#[derive(Deserialize)]
pub struct PageQuery {
    done: Option<String>,
}

/// `GET /settings`.
pub async fn page(
    session: UiSession,
    State(state): State<AppState>,
    Query(q): Query<PageQuery>,
) -> Result<Response, PageError> {
    render(
        &state,
        session,
        Extras {
            flash: flash(q.done.as_deref()),
            ..Extras::default()
        },
    )
    .await
}

/// The posted settings form. HTML sends a checkbox only when it is checked.
#[derive(Deserialize)]
pub struct SettingsForm {
    auto_delete_optouts: Option<String>,
    remove_from_all_groups: Option<String>,
    /// Sent (with the checkbox) only while "Recipient Opt Out removes user from all groups?"
    /// is enabled: while it is disabled the browser sends neither, and the stored value is
    /// kept rather than read as "off".
    remove_from_all_groups_shown: Option<String>,
    enforce_global_optouts: Option<String>,
    default_region: Option<String>,
    confirmation_enabled: Option<String>,
    confirmation_text: Option<String>,
    help_text: Option<String>,
    footer_enabled: Option<String>,
    footer_text: Option<String>,
    unclear_counts_as_optout: Option<String>,
}

impl SettingsForm {
    /// The full patch the form means: every checkbox is on or off, every text as typed.
    fn patch(&self) -> SettingsPatch {
        SettingsPatch {
            auto_delete_optouts: Some(self.auto_delete_optouts.is_some()),
            remove_from_all_groups: self
                .remove_from_all_groups_shown
                .is_some()
                .then_some(self.remove_from_all_groups.is_some()),
            enforce_global_optouts: Some(self.enforce_global_optouts.is_some()),
            default_region: self.default_region.clone(),
            confirmation_enabled: Some(self.confirmation_enabled.is_some()),
            confirmation_text: self.confirmation_text.clone(),
            help_text: self.help_text.clone(),
            footer_enabled: Some(self.footer_enabled.is_some()),
            footer_text: self.footer_text.clone(),
            unclear_counts_as_optout: Some(self.unclear_counts_as_optout.is_some()),
        }
    }

    /// What the user typed, to show again beside an error (missing parts from `stored`).
    fn typed(self, stored: &AccountSettings) -> FormValues {
        FormValues {
            auto_delete_optouts: self.auto_delete_optouts.is_some(),
            remove_from_all_groups: match self.remove_from_all_groups_shown {
                Some(_) => self.remove_from_all_groups.is_some(),
                None => stored.remove_from_all_groups,
            },
            enforce_global_optouts: self.enforce_global_optouts.is_some(),
            default_region: self
                .default_region
                .unwrap_or_else(|| stored.default_region.to_string()),
            confirmation_enabled: self.confirmation_enabled.is_some(),
            confirmation_text: self
                .confirmation_text
                .unwrap_or_else(|| stored.confirmation_text.clone()),
            help_text: self.help_text.unwrap_or_else(|| stored.help_text.clone()),
            footer_enabled: self.footer_enabled.is_some(),
            footer_text: self
                .footer_text
                .unwrap_or_else(|| stored.footer_text.clone()),
            unclear_counts_as_optout: self.unclear_counts_as_optout.is_some(),
        }
    }
}

/// `POST /settings`: "Update Settings". Invalid input changes nothing and is shown beside
/// its field with everything the user typed.
pub async fn update(
    State(state): State<AppState>,
    CsrfForm { session, form }: CsrfForm<SettingsForm>,
) -> Result<Response, PageError> {
    let account = session.account_id();
    match crate::accounts::apply_settings_patch(&state, account, form.patch(), &session.actor())
        .await
    {
        Ok(_) => Ok(Redirect::to("/settings?done=settings_updated").into_response()),
        Err(e @ AppError::Invalid { .. }) => {
            let errors = FieldErrors::from_app(e, LABELS)?;
            let stored = state.store.settings(account).await?;
            let extras = Extras {
                form: Some(form.typed(&stored)),
                errors,
                ..Extras::default()
            };
            let resp = render(&state, session, extras).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, resp).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct KeyForm {
    #[serde(default)]
    name: String,
}

/// `POST /settings/api-keys`: creates a key and shows it once. This answer is a page, not a
/// redirect: the key must not travel in a URL, and it is marked `no-store`.
pub async fn create_key(
    State(state): State<AppState>,
    CsrfForm { session, form }: CsrfForm<KeyForm>,
) -> Result<Response, PageError> {
    match crate::accounts::create_api_key(state.store.as_ref(), session.account_id(), &form.name)
        .await
    {
        Ok((record, key)) => {
            tracing::info!(account = %session.account_id(), key = %record.id, user = %session.user.id, "API key created");
            let extras = Extras {
                new_key: Some(NewKey {
                    name: record.name,
                    key,
                }),
                ..Extras::default()
            };
            let mut resp = render(&state, session, extras).await?;
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            Ok(resp)
        }
        Err(e) => {
            let status = crate::web::errors::classify(&e).0;
            let key_errors = FieldErrors::from_app(e, &[("name", "Key name")])?;
            let extras = Extras {
                key_name: form.name,
                key_errors,
                ..Extras::default()
            };
            let resp = render(&state, session, extras).await?;
            Ok((status, resp).into_response())
        }
    }
}

/// `POST /settings/api-keys/{id}/revoke`: revokes a key at once (and forgets it here).
pub async fn revoke_key(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, .. }: CsrfForm<super::session::Empty>,
) -> Result<Response, PageError> {
    let id = id
        .parse::<i64>()
        .ok()
        .filter(|v| *v > 0)
        .map(ApiKeyId)
        .ok_or(PageError(AppError::NotFound("API key")))?;
    state
        .store
        .revoke_api_key(session.account_id(), id, crate::now_ms())
        .await?;
    state.keys.forget(id);
    tracing::info!(account = %session.account_id(), key = %id, user = %session.user.id, "API key revoked");
    Ok(Redirect::to("/settings?done=key_revoked#api-keys").into_response())
}
