//! `/api/v1/settings`: the account's settings (SPEC 3.3), updated by partial patches whose
//! every real change is recorded (who, when, old, new), and the webhook token and URLs.

use super::ApiAuth;
use crate::error::AppError;
use crate::rfc3339;
use crate::state::AppState;
use crate::web::errors::{ApiError, ApiJson};
use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use stoplist_domain::settings::{AccountSettings, SettingsPatch};
use utoipa::{IntoParams, ToSchema};

/// The account's settings and its webhook endpoints.
#[derive(Serialize, ToSchema)]
pub struct SettingsView {
    /// "Automatically delete Opt Outs from Contacts"
    pub auto_delete_optouts: bool,
    /// "Recipient Opt Out removes user from all groups?" (no effect unless the first is on)
    pub remove_from_all_groups: bool,
    /// "Enforce Global Optouts"
    pub enforce_global_optouts: bool,
    pub default_region: String,
    pub confirmation_enabled: bool,
    pub confirmation_text: String,
    pub help_text: String,
    pub footer_enabled: bool,
    pub footer_text: String,
    pub unclear_counts_as_optout: bool,
    pub webhooks: WebhookView,
}

/// Where providers deliver replies for this account.
#[derive(Serialize, ToSchema)]
pub struct WebhookView {
    pub token: String,
    /// One URL per provider (relative when no public URL is configured).
    pub urls: std::collections::BTreeMap<String, String>,
}

async fn view(
    state: &AppState,
    auth: &ApiAuth,
    s: AccountSettings,
) -> Result<SettingsView, ApiError> {
    let account = state
        .store
        .account(auth.account())
        .await
        .map_err(AppError::from)?
        .ok_or(ApiError(AppError::NotFound("account")))?;
    Ok(SettingsView {
        auto_delete_optouts: s.auto_delete_optouts,
        remove_from_all_groups: s.remove_from_all_groups,
        enforce_global_optouts: s.enforce_global_optouts,
        default_region: s.default_region.to_string(),
        confirmation_enabled: s.confirmation_enabled,
        confirmation_text: s.confirmation_text,
        help_text: s.help_text,
        footer_enabled: s.footer_enabled,
        footer_text: s.footer_text,
        unclear_counts_as_optout: s.unclear_counts_as_optout,
        webhooks: WebhookView {
            urls: crate::accounts::webhook_urls(&state.config, &account.webhook_token)
                .into_iter()
                .map(|(p, u)| (p.to_owned(), u))
                .collect(),
            token: account.webhook_token,
        },
    })
}

#[utoipa::path(get, path = "/api/v1/settings", tag = "settings", responses((status = 200, body = SettingsView)))]
/// The account's settings.
pub async fn get_settings(
    auth: ApiAuth,
    State(state): State<AppState>,
) -> Result<Json<SettingsView>, ApiError> {
    let s = state
        .store
        .settings(auth.account())
        .await
        .map_err(AppError::from)?;
    Ok(Json(view(&state, &auth, s).await?))
}

/// Fields to change; those left out keep their values.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsUpdate {
    pub auto_delete_optouts: Option<bool>,
    pub remove_from_all_groups: Option<bool>,
    pub enforce_global_optouts: Option<bool>,
    pub default_region: Option<String>,
    pub confirmation_enabled: Option<bool>,
    pub confirmation_text: Option<String>,
    pub help_text: Option<String>,
    pub footer_enabled: Option<bool>,
    pub footer_text: Option<String>,
    pub unclear_counts_as_optout: Option<bool>,
}

impl From<SettingsUpdate> for SettingsPatch {
    fn from(u: SettingsUpdate) -> Self {
        SettingsPatch {
            auto_delete_optouts: u.auto_delete_optouts,
            remove_from_all_groups: u.remove_from_all_groups,
            enforce_global_optouts: u.enforce_global_optouts,
            default_region: u.default_region,
            confirmation_enabled: u.confirmation_enabled,
            confirmation_text: u.confirmation_text,
            help_text: u.help_text,
            footer_enabled: u.footer_enabled,
            footer_text: u.footer_text,
            unclear_counts_as_optout: u.unclear_counts_as_optout,
        }
    }
}

#[utoipa::path(patch, path = "/api/v1/settings", tag = "settings", request_body = SettingsUpdate,
    responses((status = 200, body = SettingsView), (status = 422, body = crate::web::errors::ErrorBody)))]
/// Changes some settings. Nothing changes if any field is invalid.
pub async fn update_settings(
    auth: ApiAuth,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<SettingsUpdate>,
) -> Result<Json<SettingsView>, ApiError> {
    let next =
        crate::accounts::apply_settings_patch(&state, auth.account(), body.into(), &auth.actor())
            .await?;
    Ok(Json(view(&state, &auth, next).await?))
}

/// How many changes to list.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    pub limit: Option<i64>,
}

/// One recorded settings change.
#[derive(Serialize, ToSchema)]
pub struct SettingsChangeView {
    pub at: String,
    pub actor: super::optouts::ActorView,
    pub field: String,
    pub old_value: String,
    pub new_value: String,
}

#[utoipa::path(get, path = "/api/v1/settings/history", tag = "settings", params(HistoryQuery),
    responses((status = 200, body = Vec<SettingsChangeView>)))]
/// The account's settings changes, newest first.
pub async fn settings_history(
    auth: ApiAuth,
    State(state): State<AppState>,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<Vec<SettingsChangeView>>, ApiError> {
    let h = state
        .store
        .settings_history(auth.account(), super::limit(q.limit))
        .await
        .map_err(AppError::from)?;
    Ok(Json(
        h.iter()
            .map(|c| SettingsChangeView {
                at: rfc3339(c.at),
                actor: (&c.actor).into(),
                field: c.field.clone(),
                old_value: c.old_value.clone(),
                new_value: c.new_value.clone(),
            })
            .collect(),
    ))
}
