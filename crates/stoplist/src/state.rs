//! The state every request shares: the store, the opt-out index, the API key cache, the
//! login limiter, metrics and the configuration. Built once by `app`, passed in, cloned
//! cheaply (everything is behind `Arc`).

use crate::auth::LoginLimiter;
use crate::config::Config;
use crate::index::OptOutIndex;
use crate::metrics::Metrics;
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
    pub index: Arc<OptOutIndex>,
    pub keys: Arc<KeyCache>,
    pub logins: Arc<LoginLimiter>,
    pub metrics: Arc<Metrics>,
    pub settings: Arc<SettingsCache>,
    /// Accounts of the webhook tokens seen.
    pub webhook_accounts: WebhookAccounts,
    pub imports: Arc<crate::import::ImportJobs>,
    /// Wakes the dispatcher when this instance queues messages (it also polls).
    pub dispatch_wakeup: Arc<tokio::sync::Notify>,
    /// Wakes the notification deliverer when a change is queued.
    pub notify_wakeup: Arc<tokio::sync::Notify>,
    /// Records replies by group commit (one transaction for every reply waiting).
    pub reply_writer: crate::replies::ReplyWriter,
    /// Each account's reply classifier (built-in packs and its own keywords).
    pub classifiers: Arc<crate::replies::ClassifierCache>,
    /// Each account's connector, built from its stored settings.
    pub connectors: Arc<crate::campaigns::connectors::ConnectorCache>,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, config: Config) -> AppState {
        AppState(Arc::new(Shared {
            store,
            keys: Arc::new(KeyCache::new(Duration::from_secs(
                config.api_key_cache_seconds,
            ))),
            logins: Arc::new(LoginLimiter::new(config.login_attempts)),
            config: Arc::new(config),
            index: Arc::new(OptOutIndex::default()),
            metrics: Arc::new(Metrics::default()),
            settings: Arc::new(SettingsCache::default()),
            webhook_accounts: WebhookAccounts::default(),
            imports: Arc::new(crate::import::ImportJobs::default()),
            dispatch_wakeup: Arc::new(tokio::sync::Notify::new()),
            notify_wakeup: Arc::new(tokio::sync::Notify::new()),
            reply_writer: crate::replies::ReplyWriter::default(),
            classifiers: Arc::new(crate::replies::ClassifierCache::default()),
            connectors: Arc::new(crate::campaigns::connectors::ConnectorCache::default()),
        }))
    }

    /// The account's settings, from memory when read less than [`SETTINGS_TTL`] ago (every
    /// request parses numbers with the account's region). Updates through this instance
    /// replace the cached copy at once; through another instance, within the TTL.
    pub async fn account_settings(
        &self,
        account: AccountId,
    ) -> Result<Arc<AccountSettings>, stoplist_store::StoreError> {
        if let Some(s) = self.settings.get(account) {
            return Ok(s);
        }
        let s = Arc::new(self.store.settings(account).await?);
        self.settings.put(account, s.clone());
        Ok(s)
    }
}

/// How long settings read from the store are trusted.
pub const SETTINGS_TTL: Duration = Duration::from_secs(5);

/// Account settings recently read or written by this instance.
#[derive(Default)]
pub struct SettingsCache {
    entries: RwLock<HashMap<AccountId, (Arc<AccountSettings>, Instant)>>,
}

impl SettingsCache {
    pub fn get(&self, account: AccountId) -> Option<Arc<AccountSettings>> {
        let map = self.entries.read().unwrap_or_else(|p| p.into_inner());
        map.get(&account)
            .filter(|(_, at)| at.elapsed() < SETTINGS_TTL)
            .map(|(s, _)| s.clone())
    }

    pub fn put(&self, account: AccountId, settings: Arc<AccountSettings>) {
        let mut map = self.entries.write().unwrap_or_else(|p| p.into_inner());
        map.insert(account, (settings, Instant::now()));
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
}
