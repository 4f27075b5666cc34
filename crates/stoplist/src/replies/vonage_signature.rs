//! Each account's setting for Vonage signed webhooks (SPEC 3.6; SPEC 4 "webhook signatures
//! verified"): the signature method and secret of the account's Vonage dashboard. With one
//! set, `/webhooks/vonage/{token}` refuses (403) a webhook without a valid `sig` or whose
//! `timestamp` is more than 5 minutes from now (`stoplist_providers::vonage::check_signed`).
//! Without one, Vonage webhooks are accepted unsigned, as before: Vonage signs inbound
//! messages only once its support has turned signing on for the Vonage account, so refusing
//! unsigned ones by default would drop every reply (and every STOP) of an account that never
//! asked.
//!
//! The secret is stored apart from the connector (Vonage only delivers replies here; it is not
//! a sending connector), is never shown back, and every change is recorded in the settings
//! history without it (field [`FIELD`]: `off` or the method, with ", new secret" when only the
//! secret changed).

use crate::error::{AppError, AppResult};
use crate::state::AppState;
use serde::{Deserialize, Serialize};
use stoplist_domain::settings::SettingChange;
use stoplist_domain::{AccountId, Actor};
use stoplist_providers::vonage::SignatureMethod;
use stoplist_store::VonageSignature;

/// The settings-history field of this setting.
pub const FIELD: &str = "vonage_signature";
/// The longest secret accepted (Vonage's are far shorter).
const MAX_SECRET_CHARS: usize = 500;

/// The setting as shown and edited (the secret is write-only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VonageSigning {
    /// The signature method chosen in the Vonage dashboard, as the Vonage SDKs name it:
    /// `md5hash` ("MD5 hash"), `md5` ("MD5 HMAC"), `sha1`, `sha256` or `sha512` (HMACs).
    /// Absent or empty: signatures are not checked and any stored secret is removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The signature secret of the Vonage dashboard: accepted, stored, never shown back.
    /// Absent or empty keeps the stored one.
    #[serde(default, skip_serializing)]
    pub secret: Option<String>,
    /// Whether a secret is stored, so that signatures are checked (read-only).
    #[serde(default)]
    pub has_secret: bool,
}

/// The account's setting as stored (no method, no secret when signatures are not checked).
pub async fn settings(state: &AppState, account: AccountId) -> AppResult<VonageSigning> {
    Ok(shown_setting(
        state.store.vonage_signature(account).await?.as_ref(),
    ))
}

/// A stored setting as shown: its method, and whether a secret is stored (never the secret).
fn shown_setting(stored: Option<&VonageSignature>) -> VonageSigning {
    VonageSigning {
        method: stored.map(|s| s.method.clone()),
        secret: None,
        has_secret: stored.is_some(),
    }
}

fn invalid(field: &'static str, message: String) -> AppError {
    AppError::invalid("invalid_field", field, message)
}

/// Validates and stores a new setting, recording the change. A missing secret keeps the
/// stored one (forms never show it back, so they cannot send it again); a missing method
/// turns the check off. Nothing changes if anything is invalid.
pub async fn update(
    state: &AppState,
    account: AccountId,
    new: VonageSigning,
    actor: &Actor,
) -> AppResult<VonageSigning> {
    // Trimmed, unlike the connector's secret: Vonage generates this one (letters and digits),
    // so white space around it can only be a copy-and-paste slip that would refuse every
    // webhook.
    let given_secret = new
        .secret
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let method = match new.method.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
        None if given_secret.is_some() => {
            return Err(invalid(
                "method",
                "method: choose the signature method of the Vonage dashboard to use this secret (or send no secret to stop checking signatures)".into(),
            ));
        }
        None => None,
        Some(m) => Some(SignatureMethod::parse(m).ok_or_else(|| {
            invalid(
                "method",
                format!(
                    "method: {m:?} is not a Vonage signature method; use md5hash, md5, sha1, sha256 or sha512, as chosen in the Vonage dashboard"
                ),
            )
        })?),
    };
    let stored = state.store.vonage_signature(account).await?;
    let next = match method {
        None => None,
        Some(method) => {
            let secret = match given_secret {
                Some(s) if s.chars().count() > MAX_SECRET_CHARS => {
                    return Err(invalid(
                        "secret",
                        format!("secret: at most {MAX_SECRET_CHARS} characters"),
                    ));
                }
                Some(s) => s.to_owned(),
                None => stored.as_ref().map(|s| s.secret.clone()).ok_or_else(|| {
                    invalid(
                        "secret",
                        "secret: the signature secret of the Vonage dashboard is required".into(),
                    )
                })?,
            };
            Some(VonageSignature {
                method: method.as_str().to_owned(),
                secret,
            })
        }
    };
    let changes = changes(stored.as_ref(), next.as_ref());
    if !changes.is_empty() {
        state
            .store
            .set_vonage_signature(account, next.as_ref(), &changes, actor, crate::now_ms())
            .await?;
        for c in &changes {
            tracing::info!(account = %account, field = c.field, old = %c.old, new = %c.new, actor = %actor, "setting changed");
        }
    }
    Ok(shown_setting(next.as_ref()))
}

/// How the settings history shows the setting: `off`, or the method.
fn shown(s: Option<&VonageSignature>) -> &str {
    s.map_or("off", |s| s.method.as_str())
}

/// The change from `old` to `new` as the settings history records it (never the secret):
/// none when nothing changed.
fn changes(old: Option<&VonageSignature>, new: Option<&VonageSignature>) -> Vec<SettingChange> {
    let new_secret = matches!((old, new), (Some(o), Some(n)) if o.secret != n.secret);
    let (from, to) = (shown(old), shown(new));
    if from == to && !new_secret {
        return Vec::new();
    }
    vec![SettingChange {
        field: FIELD,
        old: from.to_owned(),
        new: if new_secret {
            format!("{to}, new secret")
        } else {
            to.to_owned()
        },
    }]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn sig(method: &str, secret: &str) -> VonageSignature {
        VonageSignature {
            method: method.into(),
            secret: secret.into(),
        }
    }

    fn shown_change(old: Option<&VonageSignature>, new: Option<&VonageSignature>) -> Vec<String> {
        changes(old, new)
            .into_iter()
            .map(|c| format!("{}: {} -> {}", c.field, c.old, c.new))
            .collect()
    }

    #[test]
    fn the_history_names_the_method_and_a_new_secret_but_never_the_secret() {
        let (a, b) = (
            sig("md5hash", "first-secret"),
            sig("sha256", "second-secret"),
        );
        assert_eq!(
            shown_change(None, Some(&a)),
            ["vonage_signature: off -> md5hash"]
        );
        assert_eq!(
            shown_change(Some(&a), Some(&sig("sha256", "first-secret"))),
            ["vonage_signature: md5hash -> sha256"]
        );
        assert_eq!(
            shown_change(Some(&a), Some(&sig("md5hash", "other"))),
            ["vonage_signature: md5hash -> md5hash, new secret"]
        );
        assert_eq!(
            shown_change(Some(&a), Some(&b)),
            ["vonage_signature: md5hash -> sha256, new secret"]
        );
        assert_eq!(
            shown_change(Some(&b), None),
            ["vonage_signature: sha256 -> off"]
        );
        assert!(changes(Some(&a), Some(&a.clone())).is_empty());
        assert!(changes(None, None).is_empty());
    }
}
