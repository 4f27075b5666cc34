//! Each account's connector (SPEC 3.7): which provider sends its messages, with what
//! credentials and at what rate. Settings are stored per account; the secret (Twilio auth
//! token, SMSGlobal API secret) is stored apart and never shown back. Built connectors are
//! cached per account and rebuilt when the settings change (through this instance at once;
//! through another, within [`CACHE_TTL`]).

use crate::error::{AppError, AppResult};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use stoplist_domain::AccountId;
use stoplist_providers::Outbound;
use stoplist_store::{ConnectorRecord, Store};

/// How long a built connector is used before its settings are read again.
pub const CACHE_TTL: Duration = Duration::from_secs(10);

/// The connector kinds.
pub const KINDS: [&str; 3] = ["log", "twilio", "smsglobal"];

/// An account's connector settings as shown and edited (the secret is write-only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectorSettings {
    /// `log` (nothing leaves the machine), `twilio` or `smsglobal`.
    pub kind: String,
    /// The provider's API base URL; its public default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Twilio Account SID, or SMSGlobal API key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Twilio auth token or SMSGlobal API secret: accepted, stored, never shown back.
    #[serde(default, skip_serializing)]
    pub secret: Option<String>,
    /// Whether a secret is stored (read-only).
    #[serde(default)]
    pub has_secret: bool,
    /// Where the provider should post delivery receipts (Twilio StatusCallback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_callback: Option<String>,
    /// Messages per second for this account (0: no limit; absent: the server default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_per_second: Option<u32>,
    /// Seconds to wait for the provider before a send counts as a transient failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
}

/// The connector of one account, with its pacing.
pub struct AccountConnector {
    pub connector: Box<dyn stoplist_providers::Connector>,
    pub rate_per_second: u32,
}

/// The type the connector cache hands out.
pub type SharedConnector = Arc<AccountConnector>;

/// Built connectors by account.
#[derive(Default)]
struct ConnectorCache {
    map: Mutex<HashMap<AccountId, (Instant, SharedConnector)>>,
}

impl ConnectorCache {
    fn get(&self, account: AccountId) -> Option<SharedConnector> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&account)
            .filter(|(at, _)| at.elapsed() < CACHE_TTL)
            .map(|(_, c)| c.clone())
    }

    fn put(&self, account: AccountId, c: SharedConnector) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(account, (Instant::now(), c));
    }

    fn forget(&self, account: AccountId) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&account);
    }
}

/// Stored settings as they were saved, with the stored kind (the secret is apart).
fn stored_settings(r: &ConnectorRecord) -> AppResult<ConnectorSettings> {
    let mut s: ConnectorSettings = serde_json::from_str(&r.config_json)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("stored connector settings: {e}")))?;
    s.kind = r.kind.clone();
    Ok(s)
}

/// The connectors service: each account's connector settings (stored, validated) and the
/// built connectors, cached per account.
pub struct Connectors {
    store: Arc<dyn Store>,
    /// Messages per second for an account whose connector does not say.
    default_rate: u32,
    /// Where a connector may send (checked when a base URL is saved, and by every request).
    outbound: Outbound,
    cache: ConnectorCache,
}

impl Connectors {
    pub fn new(store: Arc<dyn Store>, default_rate: u32, outbound: Outbound) -> Connectors {
        Connectors {
            store,
            default_rate,
            outbound,
            cache: ConnectorCache::default(),
        }
    }

    /// The account's settings as stored (the `log` connector when none are).
    pub async fn settings(&self, account: AccountId) -> AppResult<ConnectorSettings> {
        match self.store.connector(account).await? {
            None => Ok(ConnectorSettings {
                kind: "log".into(),
                ..ConnectorSettings::default()
            }),
            Some(r) => {
                let mut s = stored_settings(&r)?;
                s.has_secret = !r.secret.is_empty();
                s.secret = None;
                Ok(s)
            }
        }
    }

    /// Validates and stores new settings. A missing secret keeps the stored one (forms never
    /// show it back, so they cannot send it again), but only while the kind, base URL and
    /// account id stay the same: a change of any of them needs the secret again. A base URL
    /// must pass the outbound policy (https to a public address unless private addresses are
    /// allowed); on any error nothing stored changes.
    pub async fn update(
        &self,
        account: AccountId,
        mut new: ConnectorSettings,
    ) -> AppResult<ConnectorSettings> {
        new.kind = new.kind.trim().to_ascii_lowercase();
        if !KINDS.contains(&new.kind.as_str()) {
            return Err(AppError::invalid(
                "invalid_field",
                "kind",
                format!(
                    "kind: {:?} is not a connector; use log, twilio or smsglobal",
                    new.kind
                ),
            ));
        }
        if let Some(url) = &new.base_url
            && let Err(refused) = self.outbound.check(url).await
        {
            return Err(AppError::invalid(
                "invalid_field",
                "base_url",
                format!("base_url: {refused}"),
            ));
        }
        let stored = self.store.connector(account).await?;
        let secret = match new.secret.take().filter(|s| !s.is_empty()) {
            Some(s) => s,
            // A stored secret stays only with the provider, host and account it was given
            // for: otherwise anyone who may edit settings could send it to a host of theirs.
            None => match stored {
                Some(r) if r.kind == new.kind && !r.secret.is_empty() => {
                    let was = stored_settings(&r)?;
                    if was.base_url != new.base_url || was.account != new.account {
                        return Err(AppError::invalid(
                            "secret_required",
                            "secret",
                            "secret: a new base URL or account id needs the secret again \
                             (the stored one is kept only for the host and account it was given for)",
                        ));
                    }
                    r.secret
                }
                _ => String::new(),
            },
        };
        if new.kind != "log" {
            if new.account.as_deref().is_none_or(str::is_empty) {
                return Err(AppError::invalid(
                    "invalid_field",
                    "account",
                    format!(
                        "account: the {} account id (Twilio Account SID, SMSGlobal API key) is required",
                        new.kind
                    ),
                ));
            }
            if secret.is_empty() {
                return Err(AppError::invalid(
                    "invalid_field",
                    "secret",
                    format!(
                        "secret: the {} secret (Twilio auth token, SMSGlobal API secret) is required",
                        new.kind
                    ),
                ));
            }
        }
        new.has_secret = !secret.is_empty();
        // Build it once now so that a bad setting is refused here, not at the first send.
        self.build(&new, &secret)?;
        let record = ConnectorRecord {
            kind: new.kind.clone(),
            config_json: serde_json::to_string(&new)
                .map_err(|e| AppError::Internal(anyhow::anyhow!("connector settings: {e}")))?,
            secret,
            updated_at: crate::now_ms(),
        };
        self.store.set_connector(account, &record).await?;
        self.cache.forget(account);
        self.settings(account).await
    }

    /// The account's connector, from the cache or built from its settings.
    pub async fn for_account(&self, account: AccountId) -> AppResult<SharedConnector> {
        if let Some(c) = self.cache.get(account) {
            return Ok(c);
        }
        let (settings, secret) = match self.store.connector(account).await? {
            None => (
                ConnectorSettings {
                    kind: "log".into(),
                    ..ConnectorSettings::default()
                },
                String::new(),
            ),
            Some(r) => (stored_settings(&r)?, r.secret),
        };
        let c = Arc::new(self.build(&settings, &secret)?);
        self.cache.put(account, c.clone());
        Ok(c)
    }

    fn build(&self, s: &ConnectorSettings, secret: &str) -> AppResult<AccountConnector> {
        let timeout = Duration::from_secs(s.timeout_seconds.unwrap_or(15).clamp(1, 120));
        let base_url = |public: &str| s.base_url.clone().unwrap_or_else(|| public.into());
        let connector: Box<dyn stoplist_providers::Connector> = match s.kind.as_str() {
            "twilio" => Box::new(stoplist_providers::TwilioConnector::new(
                stoplist_providers::TwilioConfig {
                    base_url: base_url("https://api.twilio.com"),
                    account_sid: s.account.clone().unwrap_or_default(),
                    auth_token: secret.to_owned(),
                    status_callback: s.status_callback.clone(),
                    timeout,
                    outbound: self.outbound.clone(),
                },
            )),
            "smsglobal" => Box::new(stoplist_providers::SmsGlobalConnector::new(
                stoplist_providers::SmsGlobalConfig {
                    base_url: base_url("https://api.smsglobal.com"),
                    api_key: s.account.clone().unwrap_or_default(),
                    api_secret: secret.to_owned(),
                    notify_url: s.status_callback.clone(),
                    timeout,
                    outbound: self.outbound.clone(),
                },
            )),
            _ => Box::new(stoplist_providers::LogConnector),
        };
        Ok(AccountConnector {
            connector,
            rate_per_second: s.rate_per_second.unwrap_or(self.default_rate),
        })
    }
}
