//! Each account's settings, read from the store and kept for a few seconds (every request
//! parses numbers with the account's region). Updates through this instance replace the
//! cached copy at once; through another instance, within [`SETTINGS_TTL`].

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use stoplist_domain::AccountId;
use stoplist_domain::settings::AccountSettings;
use stoplist_store::{Store, StoreError};

/// How long settings read from the store are trusted.
pub const SETTINGS_TTL: Duration = Duration::from_secs(5);

/// Account settings recently read or written by this instance.
pub struct SettingsCache {
    store: Arc<dyn Store>,
    entries: RwLock<HashMap<AccountId, (Arc<AccountSettings>, Instant)>>,
}

impl SettingsCache {
    pub fn new(store: Arc<dyn Store>) -> SettingsCache {
        SettingsCache {
            store,
            entries: RwLock::new(HashMap::new()),
        }
    }

    /// The account's settings, from memory when read less than [`SETTINGS_TTL`] ago.
    pub async fn get(&self, account: AccountId) -> Result<Arc<AccountSettings>, StoreError> {
        if let Some(s) = self.cached(account) {
            return Ok(s);
        }
        let s = Arc::new(self.store.settings(account).await?);
        self.put(account, s.clone());
        Ok(s)
    }

    fn cached(&self, account: AccountId) -> Option<Arc<AccountSettings>> {
        let map = self.entries.read().unwrap_or_else(|p| p.into_inner());
        map.get(&account)
            .filter(|(_, at)| at.elapsed() < SETTINGS_TTL)
            .map(|(s, _)| s.clone())
    }

    /// Replaces the cached copy (this instance just stored `settings`).
    pub fn put(&self, account: AccountId, settings: Arc<AccountSettings>) {
        let mut map = self.entries.write().unwrap_or_else(|p| p.into_inner());
        map.insert(account, (settings, Instant::now()));
    }
}
