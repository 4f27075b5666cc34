//! Settings: the Opt Outs section of SPEC 3.3 with the seed's labels, the message texts,
//! the webhook token and URLs, the account's API keys (created and shown once, revoked) and
//! the recent settings history. Saving goes through `accounts::apply_settings_patch`, which
//! validates everything first and records each real change.
//!
//! The Connector section (SPEC 3.7) edits which provider sends the account's messages through
//! `campaigns::connectors::update`. Its secret is write-only: the page says whether one is
//! stored and never puts it in the HTML, and a blank secret keeps the stored one.
//!
//! The Webhooks section also sets the account's Vonage signed-webhook method and secret
//! through `replies::vonage_signature::update` (write-only secret, like the connector's).
//!
//! The Keywords section (SPEC 3.6) edits the account's own keywords as a list of rows (add a
//! row, remove a row, save replaces the list) with an error beside each row at fault; the
//! Notifications section (SPEC 3.9) sets the endpoint told of every opt-out and opt-in, with
//! a write-only secret like the connector's, and shows the last deliveries.

use super::{CsrfForm, FieldErrors, Layout, UiSession, actor_text, flash};
use crate::campaigns::connectors::{self, ConnectorSettings};
use crate::error::AppError;
use crate::replies::vonage_signature::{self, VonageSigning};
use crate::state::AppState;
use crate::web::errors::PageError;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::collections::BTreeMap;
use stoplist_domain::classify::{
    CustomKeyword, KeywordInput, KeywordListError, KeywordRuleError, MAX_KEYWORDS,
    validate_keywords,
};
use stoplist_domain::settings::{AccountSettings, SettingsPatch};
use stoplist_domain::{ApiKeyId, Role};
use stoplist_providers::vonage::SignatureMethod;

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
        vonage_signature::FIELD => "Vonage signed webhooks",
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
    role: Role,
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
    connector: ConnectorValues,
    connector_kinds: Vec<KindOption>,
    connector_errors: FieldErrors,
    keywords: KeywordsForm,
    keyword_kinds: &'static [(&'static str, &'static str)],
    languages: Vec<(String, String)>,
    notify: NotifyValues,
    notify_errors: FieldErrors,
    deliveries: Vec<DeliveryRow>,
    vonage: VonageValues,
    vonage_methods: Vec<MethodOption>,
    vonage_errors: FieldErrors,
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
    /// The connector form as typed (after an error).
    connector: Option<ConnectorValues>,
    connector_errors: FieldErrors,
    /// The keyword rows as typed (after an error, or "Add a row").
    keywords: Option<KeywordsForm>,
    /// The notification endpoint as typed (after an error; never the secret).
    notify: Option<NotifyValues>,
    notify_errors: FieldErrors,
    /// The Vonage signature method as chosen (after an error; never the secret).
    vonage: Option<VonageValues>,
    vonage_errors: FieldErrors,
}

/// A bool setting's value as the history shows it.
fn shown_value(field: &str, v: &str) -> String {
    let is_flag = !matches!(
        field,
        "default_region"
            | "confirmation_text"
            | "help_text"
            | "footer_text"
            | vonage_signature::FIELD
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
            role: k.role,
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
    let connector = match extras.connector {
        Some(typed) => typed,
        None => ConnectorValues::from(&state.connectors.settings(account).await?),
    };
    let keywords = match extras.keywords {
        Some(typed) => typed,
        None => KeywordsForm::stored(state.store.custom_keywords(account).await?),
    };
    let stored_notify = state.store.notify_endpoint(account).await?;
    let notify = match extras.notify {
        Some(typed) => typed,
        None => NotifyValues {
            url: stored_notify
                .as_ref()
                .map(|(u, _)| u.clone())
                .unwrap_or_default(),
            has_secret: stored_notify.is_some(),
        },
    };
    let deliveries = state
        .store
        .list_notifications(account, DELIVERIES_SHOWN)
        .await?
        .into_iter()
        .map(DeliveryRow::from)
        .collect();
    let vonage = match extras.vonage {
        Some(typed) => typed,
        None => VonageValues::from(&vonage_signature::settings(state, account).await?),
    };
    let page = SettingsPage {
        vonage_methods: vonage_methods(&vonage.method),
        vonage,
        vonage_errors: extras.vonage_errors,
        languages: languages(&keywords.rows),
        keywords,
        keyword_kinds: KEYWORD_KINDS,
        notify,
        notify_errors: extras.notify_errors,
        deliveries,
        connector_kinds: kinds(&connector.kind),
        connector,
        connector_errors: extras.connector_errors,
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
    #[serde(default)]
    role: String,
}

/// `POST /settings/api-keys`: creates a key and shows it once. This answer is a page, not a
/// redirect: the key must not travel in a URL, and it is marked `no-store`.
pub async fn create_key(
    State(state): State<AppState>,
    CsrfForm { session, form }: CsrfForm<KeyForm>,
) -> Result<Response, PageError> {
    let role = Role::parse(&form.role).unwrap_or(Role::Manager);
    let made = crate::users::create_key(
        &state,
        session.account_id(),
        &form.name,
        role,
        Some(&session.user),
        &session.asker(),
    )
    .await;
    match made {
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
    crate::users::revoke_key(&state, session.account_id(), id, &session.asker()).await?;
    tracing::info!(account = %session.account_id(), key = %id, user = %session.user.id, "API key revoked");
    Ok(Redirect::to("/settings?done=key_revoked#api-keys").into_response())
}

// --- the Connector section ---------------------------------------------------------------

/// The connector form's values: as stored, or as typed. Never the secret.
pub struct ConnectorValues {
    kind: String,
    account: String,
    base_url: String,
    status_callback: String,
    rate_per_second: String,
    timeout_seconds: String,
    /// Whether a secret is stored for the stored kind.
    has_secret: bool,
}

impl From<&ConnectorSettings> for ConnectorValues {
    fn from(s: &ConnectorSettings) -> Self {
        ConnectorValues {
            kind: s.kind.clone(),
            account: s.account.clone().unwrap_or_default(),
            base_url: s.base_url.clone().unwrap_or_default(),
            status_callback: s.status_callback.clone().unwrap_or_default(),
            rate_per_second: s.rate_per_second.map(|r| r.to_string()).unwrap_or_default(),
            timeout_seconds: s.timeout_seconds.map(|t| t.to_string()).unwrap_or_default(),
            has_secret: s.has_secret,
        }
    }
}

/// A connector kind in the form's list.
pub struct KindOption {
    code: &'static str,
    label: &'static str,
    selected: bool,
}

fn kinds(current: &str) -> Vec<KindOption> {
    connectors::KINDS
        .iter()
        .map(|&code| KindOption {
            code,
            label: match code {
                "log" => "Log only (nothing leaves this server)",
                "twilio" => "Twilio",
                "smsglobal" => "SMSGlobal",
                other => other,
            },
            selected: code == current,
        })
        .collect()
}

/// The connector fields' labels, so that service messages read "Secret: …".
const CONNECTOR_LABELS: &[(&str, &str)] = &[
    ("kind", "Connector"),
    ("account", "Account id"),
    ("secret", "Secret"),
    ("base_url", "Base URL"),
    ("status_callback", "Status callback URL"),
    ("rate_per_second", "Messages per second"),
    ("timeout_seconds", "Timeout"),
];

/// The posted connector form. Blank fields mean "not set" (the secret: "keep the stored one").
#[derive(Deserialize)]
pub struct ConnectorForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    account: String,
    #[serde(default)]
    secret: String,
    #[serde(default)]
    base_url: String,
    #[serde(default)]
    status_callback: String,
    #[serde(default)]
    rate_per_second: String,
    #[serde(default)]
    timeout_seconds: String,
}

/// A blank form field as `None`, otherwise trimmed.
fn given(s: &str) -> Option<String> {
    Some(s.trim().to_owned()).filter(|s| !s.is_empty())
}

impl ConnectorForm {
    /// The settings the form means; `Err` names a number field that is not a number.
    fn settings(&self) -> Result<ConnectorSettings, FieldErrors> {
        let rate_per_second = match given(&self.rate_per_second) {
            None => None,
            Some(r) => Some(r.parse::<u32>().map_err(|_| {
                FieldErrors::one(
                    "rate_per_second",
                    "Messages per second must be a whole number (0 for no limit), or blank for the server's default.",
                )
            })?),
        };
        let timeout_seconds = match given(&self.timeout_seconds) {
            None => None,
            Some(t) => Some(t.parse::<u64>().ok().filter(|t| (1..=120).contains(t)).ok_or_else(
                || {
                    FieldErrors::one(
                        "timeout_seconds",
                        "Timeout must be a whole number of seconds from 1 to 120, or blank for 15.",
                    )
                },
            )?),
        };
        Ok(ConnectorSettings {
            kind: self.kind.trim().to_owned(),
            base_url: given(&self.base_url),
            account: given(&self.account),
            // Never trimmed: a secret is exactly what was typed.
            secret: Some(self.secret.clone()).filter(|s| !s.is_empty()),
            has_secret: false,
            status_callback: given(&self.status_callback),
            rate_per_second,
            timeout_seconds,
        })
    }

    /// What the user typed, to show again beside an error (never the secret).
    fn typed(self, has_secret: bool) -> ConnectorValues {
        ConnectorValues {
            kind: self.kind.trim().to_owned(),
            account: self.account,
            base_url: self.base_url,
            status_callback: self.status_callback,
            rate_per_second: self.rate_per_second,
            timeout_seconds: self.timeout_seconds,
            has_secret,
        }
    }
}

/// `POST /settings/connector`: "Save connector". Invalid input changes nothing and is shown
/// beside its field with everything typed except the secret.
pub async fn update_connector(
    State(state): State<AppState>,
    CsrfForm { session, form }: CsrfForm<ConnectorForm>,
) -> Result<Response, PageError> {
    let account = session.account_id();
    let result = match form.settings() {
        Ok(settings) => {
            let secret_given = settings.secret.as_deref().is_some_and(|s| !s.is_empty());
            match state.connectors.update(account, settings).await {
                Ok(saved) => {
                    let detail =
                        format!("{} {}", saved.kind, saved.base_url.as_deref().unwrap_or(""));
                    crate::audit::outbound_changed(
                        &state,
                        account,
                        &session.asker(),
                        "connector",
                        &detail,
                        secret_given,
                    )
                    .await;
                    Ok(())
                }
                Err(e @ AppError::Invalid { .. }) => {
                    Err(FieldErrors::from_app(e, CONNECTOR_LABELS)?)
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(errors) => Err(errors),
    };
    match result {
        Ok(()) => {
            tracing::info!(account = %account, user = %session.user.id, "connector settings changed");
            Ok(Redirect::to("/settings?done=connector_saved#connector").into_response())
        }
        Err(connector_errors) => {
            let stored = state.connectors.settings(account).await?;
            let has_secret = stored.has_secret && stored.kind == form.kind.trim();
            let extras = Extras {
                connector: Some(form.typed(has_secret)),
                connector_errors,
                ..Extras::default()
            };
            let resp = render(&state, session, extras).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, resp).into_response())
        }
    }
}

// --- Vonage signed webhooks (in the Webhooks section) ---------------------------------------

/// The Vonage signature form's values: as stored, or as chosen. Never the secret.
pub struct VonageValues {
    /// The method's SDK name; empty when signatures are not checked.
    method: String,
    /// Whether a secret is stored.
    has_secret: bool,
}

impl From<&VonageSigning> for VonageValues {
    fn from(s: &VonageSigning) -> Self {
        VonageValues {
            method: s.method.clone().unwrap_or_default(),
            has_secret: s.has_secret,
        }
    }
}

/// A choice of the signature method list ("Not checked" first).
pub struct MethodOption {
    code: &'static str,
    label: &'static str,
    selected: bool,
}

fn vonage_methods(current: &str) -> Vec<MethodOption> {
    let off = MethodOption {
        code: "",
        label: "Not checked",
        selected: current.is_empty(),
    };
    let methods = SignatureMethod::ALL.into_iter().map(|m| MethodOption {
        code: m.as_str(),
        label: m.label(),
        selected: m.as_str() == current,
    });
    std::iter::once(off).chain(methods).collect()
}

/// The Vonage fields' labels, so that service messages read "Signature secret: …".
const VONAGE_LABELS: &[(&str, &str)] = &[
    ("method", "Signature method"),
    ("secret", "Signature secret"),
];

/// The posted Vonage signature form. A blank method turns the check off; a blank secret keeps
/// the stored one.
#[derive(Deserialize)]
pub struct VonageForm {
    #[serde(default)]
    method: String,
    #[serde(default)]
    secret: String,
}

/// `POST /settings/vonage-signature`: "Save Vonage signature". Invalid input changes nothing
/// and is shown beside its field with the method as chosen (never the secret).
pub async fn update_vonage_signature(
    State(state): State<AppState>,
    CsrfForm { session, form }: CsrfForm<VonageForm>,
) -> Result<Response, PageError> {
    let account = session.account_id();
    let secret_given = !form.secret.trim().is_empty();
    let new = VonageSigning {
        method: Some(form.method.clone()),
        secret: Some(form.secret),
        has_secret: false,
    };
    match vonage_signature::update(&state, account, new, &session.actor()).await {
        Ok(saved) => {
            let detail = saved.method.clone().unwrap_or_else(|| "off".into());
            crate::audit::outbound_changed(
                &state,
                account,
                &session.asker(),
                "vonage signature",
                &detail,
                secret_given,
            )
            .await;
            let done = if saved.has_secret {
                "vonage_signature_saved"
            } else {
                "vonage_signature_off"
            };
            Ok(Redirect::to(&format!("/settings?done={done}#vonage-signature")).into_response())
        }
        Err(e @ AppError::Invalid { .. }) => {
            let vonage_errors = FieldErrors::from_app(e, VONAGE_LABELS)?;
            let stored = vonage_signature::settings(&state, account).await?;
            let extras = Extras {
                vonage: Some(VonageValues {
                    method: form.method.trim().to_owned(),
                    has_secret: stored.has_secret,
                }),
                vonage_errors,
                ..Extras::default()
            };
            let resp = render(&state, session, extras).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, resp).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

// --- the Keywords section ------------------------------------------------------------------

/// The kinds a keyword may have, with the form's names for them.
const KEYWORD_KINDS: &[(&str, &str)] = &[
    ("opt_out", "Opt-out (stop)"),
    ("opt_in", "Opt-in (start again)"),
    ("help", "Help"),
];

/// The languages of the built-in packs (a keyword's language is reported with its replies).
const LANGUAGES: &[(&str, &str)] = &[
    ("any", "Any language"),
    ("en", "English"),
    ("fr", "French"),
    ("es", "Spanish"),
    ("pt", "Portuguese"),
    ("it", "Italian"),
    ("de", "German"),
    ("nl", "Dutch"),
];

/// Rows the form may carry: every keyword an account may have and the blank row to add one
/// (a longer form is refused whole, before anything is read).
const MAX_KEYWORD_ROWS: usize = MAX_KEYWORDS + 1;

/// The language list, with any other code a row carries (set through the API) kept.
fn languages(rows: &[KeywordRow]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = LANGUAGES
        .iter()
        .map(|(c, l)| ((*c).to_owned(), (*l).to_owned()))
        .collect();
    for r in rows {
        if !out.iter().any(|(c, _)| *c == r.language) {
            out.push((r.language.clone(), r.language.clone()));
        }
    }
    out
}

/// One row of the Keywords form: as stored, or as typed.
pub struct KeywordRow {
    keyword: String,
    kind: String,
    language: String,
    remove: bool,
    /// The field at fault ("keyword", "kind" or "language") and the message.
    error: Option<(&'static str, String)>,
    /// This row's input takes the focus (the first error, or a row just added).
    focus: bool,
}

impl KeywordRow {
    fn blank() -> KeywordRow {
        KeywordRow {
            keyword: String::new(),
            kind: "opt_out".into(),
            language: "any".into(),
            remove: false,
            error: None,
            focus: false,
        }
    }

    /// Whether `field` of this row is at fault.
    fn has_error(&self, field: &str) -> bool {
        self.error.as_ref().is_some_and(|(f, _)| *f == field)
    }
}

/// The Keywords form.
pub struct KeywordsForm {
    rows: Vec<KeywordRow>,
    /// Why nothing was saved, when it is not one row's fault (shown above the rows).
    alert: Option<String>,
    /// The id of the first input at fault (the alert above the rows links to it).
    first_error: Option<String>,
}

impl KeywordsForm {
    /// The stored keywords, and one blank row to add another.
    fn stored(rows: Vec<(String, String, String)>) -> KeywordsForm {
        let mut rows: Vec<KeywordRow> = rows
            .into_iter()
            .map(|(keyword, kind, language)| KeywordRow {
                keyword,
                kind,
                language,
                ..KeywordRow::blank()
            })
            .collect();
        rows.push(KeywordRow::blank());
        KeywordsForm {
            rows,
            alert: None,
            first_error: None,
        }
    }

    /// Reads the posted rows (`keyword-N`, `kind-N`, `language-N`, `remove-N`) in the order
    /// of N, and whether "Add a row" was pressed.
    fn posted(pairs: &[(String, String)]) -> Result<(Vec<KeywordRow>, bool), String> {
        let mut rows: BTreeMap<usize, KeywordRow> = BTreeMap::new();
        let mut add = false;
        for (name, value) in pairs {
            if name == "action" {
                add = value == "add";
                continue;
            }
            let Some((field, n)) = name.rsplit_once('-') else {
                continue;
            };
            let Ok(n) = n.parse::<usize>() else {
                continue;
            };
            if n >= MAX_KEYWORD_ROWS {
                return Err(format!(
                    "The list is too long: at most {MAX_KEYWORDS} keywords. Nothing was saved."
                ));
            }
            let row = rows.entry(n).or_insert_with(|| KeywordRow {
                kind: String::new(),
                language: String::new(),
                ..KeywordRow::blank()
            });
            match field {
                // Kept whole (the request's size bounds it): a keyword too long is refused
                // with its length, never shortened into another one.
                "keyword" => row.keyword.clone_from(value),
                "kind" => row.kind = value.trim().to_owned(),
                "language" => row.language = value.trim().chars().take(20).collect(),
                "remove" => row.remove = true,
                _ => {}
            }
        }
        Ok((rows.into_values().collect(), add))
    }

    /// Checks every row with the domain's keyword rules (the API's too); the keywords to
    /// store, or `None` with each row's error set. Blank rows and rows marked Remove are
    /// left out.
    fn validate(&mut self) -> Option<Vec<CustomKeyword>> {
        let kept = self
            .rows
            .iter()
            .enumerate()
            .filter(|(_, r)| !r.remove && !r.keyword.trim().is_empty())
            .map(|(i, r)| {
                (
                    i,
                    KeywordInput {
                        keyword: &r.keyword,
                        kind: &r.kind,
                        language: &r.language,
                    },
                )
            });
        let out = match validate_keywords(kept) {
            Ok(list) => list,
            Err(KeywordListError::TooMany { max, .. }) => {
                self.alert = Some(format!(
                    "The list is too long: at most {max} keywords. Nothing was saved."
                ));
                return None;
            }
            Err(KeywordListError::Keywords(errors)) => {
                for (i, e) in errors {
                    let message = match &e {
                        KeywordRuleError::Kind(_) => "Choose opt-out, opt-in or help.".to_owned(),
                        KeywordRuleError::Language(_) => {
                            "Choose a language from the list.".to_owned()
                        }
                        KeywordRuleError::Repeated { keyword, first } => format!(
                            "“{keyword}” is already in row {}: a keyword has one kind.",
                            first + 1
                        ),
                        other => format!("{}.", super::capitalize(&other.to_string())),
                    };
                    self.rows[i].error = Some((e.field(), message));
                }
                Vec::new()
            }
        };
        let Some(first) = self.rows.iter().position(|r| r.error.is_some()) else {
            return Some(out);
        };
        // An error: mark where the focus goes, and say so above the rows.
        self.rows[first].focus = true;
        let field = self.rows[first]
            .error
            .as_ref()
            .map(|(f, _)| *f)
            .unwrap_or("keyword");
        self.first_error = Some(format!("kw-{first}-{field}"));
        None
    }
}

/// `POST /settings/keywords`: "Save keywords" replaces the account's own keywords with the
/// rows of the form; "Add a row" shows the form again with one more row, saving nothing.
pub async fn update_keywords(
    State(state): State<AppState>,
    CsrfForm { session, form }: CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let account = session.account_id();
    let (rows, add) = match KeywordsForm::posted(&form) {
        Ok(v) => v,
        Err(alert) => {
            let mut keywords = KeywordsForm::stored(state.store.custom_keywords(account).await?);
            keywords.alert = Some(alert);
            let extras = Extras {
                keywords: Some(keywords),
                ..Extras::default()
            };
            let resp = render(&state, session, extras).await?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, resp).into_response());
        }
    };
    let mut keywords = KeywordsForm {
        rows,
        alert: None,
        first_error: None,
    };
    if add {
        keywords.rows.push(KeywordRow {
            focus: true,
            ..KeywordRow::blank()
        });
        let extras = Extras {
            keywords: Some(keywords),
            ..Extras::default()
        };
        return render(&state, session, extras).await;
    }
    match keywords.validate() {
        Some(list) => {
            state.replies.set_keywords(account, &list).await?;
            tracing::info!(account = %account, user = %session.user.id, keywords = list.len(), "keywords changed");
            Ok(Redirect::to("/settings?done=keywords_saved#keywords").into_response())
        }
        None => {
            let extras = Extras {
                keywords: Some(keywords),
                ..Extras::default()
            };
            let resp = render(&state, session, extras).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, resp).into_response())
        }
    }
}

// --- the Notifications section -------------------------------------------------------------

/// Deliveries the section lists.
const DELIVERIES_SHOWN: i64 = 20;
/// The shortest secret accepted (the API's rule).
const MIN_SECRET_CHARS: usize = 16;
/// The notification fields' labels, so that service messages read "URL: …".
const NOTIFY_LABELS: &[(&str, &str)] = &[("url", "URL"), ("secret", "Secret")];

/// The notification form's values: as stored, or as typed. Never the secret.
pub struct NotifyValues {
    url: String,
    /// Whether an endpoint (and so a secret) is stored.
    has_secret: bool,
}

/// One notification of the delivery log.
pub struct DeliveryRow {
    event: String,
    status: &'static str,
    status_class: &'static str,
    attempts: i64,
    last_error: String,
    created: String,
    delivered: Option<String>,
}

impl From<stoplist_store::NotificationRecord> for DeliveryRow {
    fn from(n: stoplist_store::NotificationRecord) -> Self {
        let (status, status_class) = match n.status.as_str() {
            "delivered" => ("Delivered", "done"),
            "failed" => ("Failed", "failed"),
            _ if n.attempts > 0 => ("Retrying", "paused"),
            _ => ("Pending", "paused"),
        };
        DeliveryRow {
            event: super::capitalize(&n.event.replace('_', " ")),
            status,
            status_class,
            attempts: n.attempts,
            last_error: n.last_error.unwrap_or_default(),
            created: crate::rfc3339(n.created_at),
            delivered: n.delivered_at.map(crate::rfc3339),
        }
    }
}

#[derive(Deserialize)]
pub struct NotifyForm {
    #[serde(default)]
    url: String,
    #[serde(default)]
    secret: String,
}

/// The endpoint the form means (`None`: remove it), keeping the stored secret when the
/// secret field is blank.
fn notify_endpoint(
    form: &NotifyForm,
    stored: Option<&(String, String)>,
) -> Result<Option<(String, String)>, FieldErrors> {
    let url = form.url.trim();
    if url.is_empty() {
        return Ok(None);
    }
    let parsed = reqwest::Url::parse(url).ok().filter(|u| {
        matches!(u.scheme(), "https" | "http") && u.host_str().is_some_and(|h| !h.is_empty())
    });
    if parsed.is_none() {
        return Err(FieldErrors::one(
            "url",
            "URL must start with https:// and name a server, such as https://example.com/stoplist-events.",
        ));
    }
    // Never trimmed: a secret is exactly what was typed.
    let secret = match (form.secret.as_str(), stored) {
        ("", Some((_, s))) => s.clone(),
        ("", None) => {
            return Err(FieldErrors::one(
                "secret",
                format!(
                    "Give a secret of at least {MIN_SECRET_CHARS} characters: it signs every notification."
                ),
            ));
        }
        (s, _) if s.chars().count() < MIN_SECRET_CHARS => {
            return Err(FieldErrors::one(
                "secret",
                format!(
                    "Secret must be at least {MIN_SECRET_CHARS} characters: it signs every notification."
                ),
            ));
        }
        (s, _) => s.to_owned(),
    };
    Ok(Some((url.to_owned(), secret)))
}

/// `POST /settings/notifications`: "Save notifications". A blank URL removes the endpoint;
/// a blank secret keeps the stored one. Invalid input changes nothing and is shown beside
/// its field with the URL as typed (never the secret).
pub async fn update_notify(
    State(state): State<AppState>,
    CsrfForm { session, form }: CsrfForm<NotifyForm>,
) -> Result<Response, PageError> {
    let account = session.account_id();
    let stored = state.store.notify_endpoint(account).await?;
    let endpoint = match notify_endpoint(&form, stored.as_ref()) {
        Ok(Some((url, secret))) => {
            match crate::replies::notify::check_endpoint(&state.outbound, "url", &url).await {
                Ok(()) => Ok(Some((url, secret))),
                Err(e @ AppError::Invalid { .. }) => Err(FieldErrors::from_app(e, NOTIFY_LABELS)?),
                Err(e) => return Err(e.into()),
            }
        }
        other => other,
    };
    match endpoint {
        Ok(endpoint) => {
            state
                .store
                .set_notify_endpoint(
                    account,
                    endpoint.as_ref().map(|(u, s)| (u.as_str(), s.as_str())),
                    crate::now_ms(),
                )
                .await?;
            tracing::info!(account = %account, user = %session.user.id, set = endpoint.is_some(), "notification endpoint changed");
            let done = if endpoint.is_some() {
                "notify_saved"
            } else {
                "notify_removed"
            };
            Ok(Redirect::to(&format!("/settings?done={done}#notifications")).into_response())
        }
        Err(notify_errors) => {
            let extras = Extras {
                notify: Some(NotifyValues {
                    url: form.url,
                    has_secret: stored.is_some(),
                }),
                notify_errors,
                ..Extras::default()
            };
            let resp = render(&state, session, extras).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, resp).into_response())
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn keyword_rows_are_read_in_order_and_blank_or_removed_rows_are_left_out() {
        let (rows, add) = KeywordsForm::posted(&pairs(&[
            ("csrf_token", "x"),
            ("keyword-1", "Basta"),
            ("kind-1", "opt_out"),
            ("language-1", "it"),
            ("keyword-0", "halt"),
            ("kind-0", "opt_out"),
            ("language-0", "any"),
            ("keyword-2", "gone"),
            ("kind-2", "help"),
            ("language-2", "any"),
            ("remove-2", "on"),
            ("keyword-3", "  "),
            ("kind-3", "opt_out"),
            ("language-3", "any"),
        ]))
        .unwrap();
        assert!(!add);
        let mut form = KeywordsForm {
            rows,
            alert: None,
            first_error: None,
        };
        let list: Vec<(String, String, String)> = form
            .validate()
            .unwrap()
            .into_iter()
            .map(|k| {
                (
                    k.keyword.as_str().to_owned(),
                    k.kind.as_str().to_owned(),
                    k.language,
                )
            })
            .collect();
        assert_eq!(
            list,
            vec![
                ("halt".into(), "opt_out".into(), "any".into()),
                ("basta".into(), "opt_out".into(), "it".into()),
            ]
        );
    }

    #[test]
    fn a_bad_or_repeated_keyword_is_marked_on_its_row_and_nothing_is_kept() {
        let (rows, _) = KeywordsForm::posted(&pairs(&[
            ("keyword-0", "halt"),
            ("kind-0", "opt_out"),
            ("language-0", "any"),
            ("keyword-1", "HALT!"),
            ("kind-1", "help"),
            ("language-1", "any"),
            ("keyword-2", "ok"),
            ("kind-2", "stop_it"),
            ("language-2", "any"),
        ]))
        .unwrap();
        let mut form = KeywordsForm {
            rows,
            alert: None,
            first_error: None,
        };
        assert!(form.validate().is_none());
        assert!(form.rows[0].error.is_none());
        let (field, msg) = form.rows[1].error.clone().unwrap();
        assert_eq!(field, "keyword");
        assert!(msg.contains("already in row 1"), "{msg}");
        assert!(form.rows[2].has_error("kind"));
        assert!(form.rows[1].focus && !form.rows[2].focus);
        assert_eq!(form.first_error.as_deref(), Some("kw-1-keyword"));
    }

    #[test]
    fn a_blank_notification_secret_keeps_the_stored_one_and_is_required_otherwise() {
        let form = |url: &str, secret: &str| NotifyForm {
            url: url.into(),
            secret: secret.into(),
        };
        let stored = ("https://old.example/h".to_owned(), "s".repeat(20));
        assert_eq!(
            notify_endpoint(&form("https://new.example/h", ""), Some(&stored)).unwrap(),
            Some(("https://new.example/h".into(), "s".repeat(20)))
        );
        assert!(
            notify_endpoint(&form("https://new.example/h", ""), None)
                .unwrap_err()
                .has("secret")
        );
        assert!(
            notify_endpoint(&form("https://new.example/h", "short"), Some(&stored))
                .unwrap_err()
                .has("secret")
        );
        assert!(
            notify_endpoint(&form("ftp://x", &"k".repeat(16)), None)
                .unwrap_err()
                .has("url")
        );
        assert_eq!(
            notify_endpoint(&form(" ", ""), Some(&stored)).unwrap(),
            None
        );
    }
}
