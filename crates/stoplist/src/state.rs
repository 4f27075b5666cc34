//! The state every request shares: the store, the configuration and the services built
//! once by `app` (the opt-out authority, replies, connectors, account settings), the API key
//! cache, the login limiter, the limits on heavy work and metrics. Passed in, cloned cheaply (everything is behind
//! `Arc`). This module sits above the services: they never import it, so each is built with
//! only what it needs (see `app::services`).

use crate::auth::LoginLimiter;
use crate::campaigns::connectors::Connectors;
use crate::campaigns::files::CampaignFiles;
use crate::config::Config;
use crate::lifecycle::{Lifecycle, Wakeups};
use crate::limits::{LimitSettings, Limits};
use crate::metrics::Metrics;
use crate::optouts::OptOuts;
use crate::replies::Replies;
use crate::settings_cache::SettingsCache;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use stoplist_domain::AccountId;
use stoplist_domain::settings::AccountSettings;
use stoplist_store::{ApiKey, Store};

/// Shared by every handler: one `Arc`, so that the per-request clones axum makes cost one
/// atomic increment.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct Shared {
    pub store: Arc<dyn Store>,
    pub config: Arc<Config>,
    /// The opt-out authority: the only way to change the opt-out list or its index.
    pub optouts: Arc<OptOuts>,
    /// Replies: classification, group commit, review.
    pub replies: Arc<Replies>,
    /// Each account's connector, built from its stored settings.
    pub connectors: Arc<Connectors>,
    pub settings: Arc<SettingsCache>,
    pub keys: Arc<KeyCache>,
    pub logins: Arc<LoginLimiter>,
    pub metrics: Arc<Metrics>,
    /// Accounts of the webhook tokens seen.
    pub webhook_accounts: WebhookAccounts,
    pub imports: Arc<crate::import::ImportJobs>,
    /// Wakes the dispatcher and the notification deliverer.
    pub wakeups: Arc<Wakeups>,
    /// Whether a shutdown is draining the process.
    pub lifecycle: Arc<Lifecycle>,
    /// Where the server may send requests on a user's say-so (connectors, notifications),
    /// from `allow_private_urls`.
    pub outbound: stoplist_providers::Outbound,
    /// Removes ended campaigns' recipients files (swept by the dispatcher).
    pub campaign_files: Arc<CampaignFiles>,
    /// How many imports and bulk checks may run at once, per account and server-wide.
    pub limits: Limits,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, config: Config) -> AppState {
        let metrics = Arc::new(Metrics::default());
        let wakeups = Arc::new(Wakeups::default());
        let settings = Arc::new(SettingsCache::new(store.clone()));
        let optouts = Arc::new(OptOuts::new(
            store.clone(),
            settings.clone(),
            metrics.clone(),
            wakeups.clone(),
        ));
        let replies = Arc::new(Replies::new(
            store.clone(),
            optouts.clone(),
            settings.clone(),
            metrics.clone(),
            wakeups.clone(),
        ));
        let outbound = stoplist_providers::Outbound::new(config.allow_private_urls);
        let campaign_files = Arc::new(CampaignFiles::new(
            store.clone(),
            Duration::from_secs(config.campaign_file_retention_hours.saturating_mul(3600)),
        ));
        let connectors = Arc::new(Connectors::new(
            store.clone(),
            config.default_send_rate,
            outbound.clone(),
        ));
        let limits = Limits::new(LimitSettings::from(&config));
        AppState(Arc::new(Shared {
            keys: Arc::new(KeyCache::new(Duration::from_secs(
                config.api_key_cache_seconds,
            ))),
            logins: Arc::new(LoginLimiter::new(config.login_attempts)),
            config: Arc::new(config),
            store,
            optouts,
            replies,
            connectors,
            settings,
            metrics,
            webhook_accounts: WebhookAccounts::default(),
            imports: Arc::new(crate::import::ImportJobs::default()),
            wakeups,
            lifecycle: Arc::new(Lifecycle::default()),
            outbound,
            campaign_files,
            limits,
        }))
    }

    /// What a dispatcher needs.
    pub fn dispatch_deps(&self) -> crate::campaigns::dispatch::Deps {
        crate::campaigns::dispatch::Deps {
            store: self.store.clone(),
            connectors: self.connectors.clone(),
            optouts: self.optouts.clone(),
            metrics: self.metrics.clone(),
            wakeups: self.wakeups.clone(),
            lifecycle: self.lifecycle.clone(),
            files: self.campaign_files.clone(),
        }
    }

    /// The account's settings (see [`SettingsCache`]).
    pub async fn account_settings(
        &self,
        account: AccountId,
    ) -> Result<Arc<AccountSettings>, stoplist_store::StoreError> {
        self.settings.get(account).await
    }
}

/// Accounts by webhook token (see `web::webhooks::account`): a token never changes, so an
/// entry stays true; the map is emptied when it grows past 100,000 tokens.
#[derive(Default)]
pub struct WebhookAccounts {
    entries: RwLock<HashMap<String, AccountId>>,
}

impl WebhookAccounts {
    const MAX: usize = 100_000;

    pub fn get(&self, token: &str) -> Option<AccountId> {
        let map = self.entries.read().unwrap_or_else(|p| p.into_inner());
        map.get(token).copied()
    }

    pub fn put(&self, token: &str, account: AccountId) {
        let mut map = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= Self::MAX {
            map.clear();
        }
        map.insert(token.to_owned(), account);
    }
}

/// The SHA-256 of an API key.
type KeyDigest = [u8; 32];

/// Verified API keys by the hash of the key, trusted for a short time so that each API
/// request does not need a database round trip. Wrong keys are never cached.
pub struct KeyCache {
    ttl: Duration,
    entries: RwLock<HashMap<KeyDigest, (Arc<ApiKey>, Instant)>>,
}

impl KeyCache {
    pub fn new(ttl: Duration) -> Self {
        KeyCache {
            ttl,
            entries: RwLock::new(HashMap::new()),
        }
    }

    pub fn get(&self, key_hash: &[u8; 32]) -> Option<Arc<ApiKey>> {
        let map = self.entries.read().unwrap_or_else(|p| p.into_inner());
        map.get(key_hash)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(k, _)| k.clone())
    }

    pub fn put(&self, key_hash: [u8; 32], key: Arc<ApiKey>) {
        let mut map = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if map.len() > 10_000 {
            map.retain(|_, (_, at)| at.elapsed() < self.ttl);
        }
        map.insert(key_hash, (key, Instant::now()));
    }

    /// Forgets a key at once (revocation through this instance).
    pub fn forget(&self, id: stoplist_domain::ApiKeyId) {
        let mut map = self.entries.write().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, (k, _)| k.id != id);
    }

    /// Forgets every key a user made (their role changed, or they were disabled or deleted
    /// through this instance); other instances follow within the cache's time to live.
    pub fn forget_maker(&self, user: stoplist_domain::UserId) {
        let mut map = self.entries.write().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, (k, _)| k.created_by != Some(user));
    }
}
