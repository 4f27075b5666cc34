//! The in-memory opt-out index: per account, the set of opted-out numbers (as
//! [`stoplist_domain::PhoneNumber::as_u64`] keys), so that "is this number opted out?" and bulk checks are
//! answered without a database round trip.
//!
//! Correctness before speed. The index is a *superset hint* checked by the caller:
//! - a key absent from the index means "not opted out" only if no opt-out committed by this
//!   instance is missing from it: [`AccountIndex::begin_add`] puts the key in *before* the
//!   store commits, so there is no window after a commit where the key is absent;
//! - a key present carries the opt-out's "since" and source, so a lookup answers without the
//!   database; a key whose opt-out is still being committed (pending) is confirmed against the
//!   store instead;
//! - removals are applied only in ledger order (each key remembers the seq of the event that
//!   added it; a lift removes it only if that event is older), so a lift and an add racing
//!   each other cannot leave the key out while the number is opted out.
//!
//! Changes made elsewhere (another instance on the same PostgreSQL, the CLI) arrive by
//! following the ledger every `index_follow_ms`; until then they are not seen here.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, RwLock};
use stoplist_domain::ledger::EventKind;
use stoplist_domain::{AccountId, OptOutSource};
use stoplist_store::{OptOut, Store, StoreError};
use tokio::sync::OnceCell;

/// The seq used for a key whose event is not committed yet.
const PENDING: i64 = i64::MAX;

/// Multiplicative hashing for u64 phone keys (they are not attacker-inserted: keys come from
/// committed opt-outs), several times faster than SipHash for this one job.
#[derive(Default)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (n ^ (n >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        self.0 ^= self.0 >> 32;
    }
}

/// What the index knows of one opted-out number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The ledger seq of the event that listed it; [`PENDING`] while being committed.
    seq: i64,
    /// Opted out since (ms).
    pub since: i64,
    pub source: OptOutSource,
}

impl Entry {
    /// Whether the opt-out is committed (not still pending).
    pub fn is_settled(&self) -> bool {
        self.seq != PENDING
    }
}

type KeyMap = HashMap<u64, Entry, BuildHasherDefault<KeyHasher>>;

/// One account's opted-out keys and the ledger seq they reflect.
#[derive(Default)]
pub struct AccountIndex {
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    keys: KeyMap,
    applied_seq: i64,
}

impl AccountIndex {
    /// What the index knows of the key: `None` means not opted out (see the module doc).
    pub fn get(&self, key: u64) -> Option<Entry> {
        self.read().keys.get(&key).copied()
    }

    /// Checks many keys under one lock.
    pub fn contains_many(&self, keys: impl Iterator<Item = Option<u64>>) -> Vec<Option<bool>> {
        let inner = self.read();
        keys.map(|k| k.map(|k| inner.keys.contains_key(&k)))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.read().keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Before an opt-out is committed: mark the key as (possibly) opted out.
    pub fn begin_add(&self, key: u64, source: OptOutSource, at: i64) {
        let mut inner = self.write();
        let e = inner.keys.entry(key).or_insert(Entry {
            seq: PENDING,
            since: at,
            source,
        });
        e.seq = PENDING;
    }

    /// After the store answered: the key's real state (`optout`) and the seq of the event
    /// that made it, if any.
    pub fn settle(&self, key: u64, optout: Option<&OptOut>, seq: Option<i64>) {
        let mut inner = self.write();
        let old = inner.keys.get(&key).copied();
        match (optout, old) {
            (Some(o), old) => {
                let keep = old.map_or(0, |e| if e.is_settled() { e.seq } else { 0 });
                let seq = keep.max(seq.unwrap_or(0));
                inner.keys.insert(
                    key,
                    Entry {
                        seq,
                        since: o.created_at,
                        source: o.source,
                    },
                );
            }
            (None, Some(old)) if !old.is_settled() || seq.is_some_and(|s| s > old.seq) => {
                inner.keys.remove(&key);
            }
            (None, _) => {}
        }
    }

    /// Applies ledger events in seq order (from the follower).
    fn apply(&self, events: &[(i64, u64, EventKind, OptOutSource, i64)]) {
        let mut inner = self.write();
        for &(seq, key, kind, source, at) in events {
            if seq <= inner.applied_seq {
                continue;
            }
            match kind {
                EventKind::OptedOut => {
                    let e = inner.keys.entry(key).or_insert(Entry {
                        seq,
                        since: at,
                        source,
                    });
                    if e.is_settled() {
                        e.seq = e.seq.max(seq);
                        e.source = source;
                    }
                }
                EventKind::OptedIn => {
                    if inner.keys.get(&key).is_some_and(|e| e.seq < seq) {
                        inner.keys.remove(&key);
                    }
                }
            }
            inner.applied_seq = seq;
        }
    }

    fn applied_seq(&self) -> i64 {
        self.read().applied_seq
    }
}

/// The indexes of every account this instance has served, loaded on first use.
#[derive(Default)]
pub struct OptOutIndex {
    accounts: RwLock<HashMap<AccountId, Arc<OnceCell<Arc<AccountIndex>>>>>,
}

impl OptOutIndex {
    /// The account's index, loading it from the store the first time.
    pub async fn account(
        &self,
        store: &dyn Store,
        account: AccountId,
    ) -> Result<Arc<AccountIndex>, StoreError> {
        let cell = {
            let map = self.accounts.read().unwrap_or_else(|p| p.into_inner());
            map.get(&account).cloned()
        };
        let cell = match cell {
            Some(c) => c,
            None => {
                let mut map = self.accounts.write().unwrap_or_else(|p| p.into_inner());
                map.entry(account).or_default().clone()
            }
        };
        cell.get_or_try_init(|| async {
            let (keys, seq) = store.optout_keys(account).await?;
            let mut map = KeyMap::with_capacity_and_hasher(keys.len(), Default::default());
            for k in keys {
                map.insert(
                    k.key,
                    Entry {
                        seq: 0,
                        since: k.since,
                        source: k.source,
                    },
                );
            }
            tracing::info!(account = %account, numbers = map.len(), "loaded opt-out index");
            Ok(Arc::new(AccountIndex {
                inner: RwLock::new(Inner {
                    keys: map,
                    applied_seq: seq,
                }),
            }))
        })
        .await
        .cloned()
    }

    /// Reads the ledger after each loaded index's seq and applies it (changes made by other
    /// instances and the CLI).
    pub async fn follow(&self, store: &dyn Store) -> Result<(), StoreError> {
        let loaded: Vec<(AccountId, Arc<AccountIndex>)> = {
            let map = self.accounts.read().unwrap_or_else(|p| p.into_inner());
            map.iter()
                .filter_map(|(a, c)| c.get().map(|i| (*a, i.clone())))
                .collect()
        };
        for (account, index) in loaded {
            loop {
                let events = store
                    .events_after(account, index.applied_seq(), 10_000)
                    .await?;
                if events.is_empty() {
                    break;
                }
                let batch: Vec<(i64, u64, EventKind, OptOutSource, i64)> = events
                    .iter()
                    .filter_map(|e| {
                        let c = &e.event.content;
                        // An opted_out event's source is always an opt-out source.
                        let source =
                            OptOutSource::parse(c.source.as_str()).unwrap_or(OptOutSource::Manual);
                        stoplist_domain::PhoneNumber::from_trusted_e164(&c.number)
                            .map(|n| (c.seq, n.as_u64(), c.kind, source, c.at_ms))
                    })
                    .collect();
                index.apply(&batch);
                if events.len() < 10_000 {
                    break;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn listed(at: i64) -> OptOut {
        OptOut {
            id: 1,
            number: stoplist_domain::PhoneNumber::from_trusted_e164("+61412345678").unwrap(),
            source: OptOutSource::Api,
            actor: stoplist_domain::Actor::system("test"),
            evidence: None,
            created_at: at,
        }
    }

    #[test]
    fn a_pending_add_is_visible_before_it_settles() {
        let i = AccountIndex::default();
        i.begin_add(42, OptOutSource::Api, 5);
        assert!(i.get(42).is_some_and(|e| !e.is_settled()));
        i.settle(42, Some(&listed(5)), Some(7));
        assert_eq!(
            i.get(42).map(|e| (e.is_settled(), e.since)),
            Some((true, 5))
        );
    }

    #[test]
    fn an_older_lift_never_removes_a_newer_add() {
        let i = AccountIndex::default();
        i.begin_add(42, OptOutSource::Api, 5);
        i.settle(42, Some(&listed(5)), Some(9));
        // The follower replays a lift at seq 5 (older than the add at 9).
        i.apply(&[(5, 42, EventKind::OptedIn, OptOutSource::Api, 1)]);
        assert!(i.get(42).is_some());
        // A newer lift removes it.
        i.apply(&[(10, 42, EventKind::OptedIn, OptOutSource::Api, 1)]);
        assert!(i.get(42).is_none());
    }

    #[test]
    fn a_failed_add_is_withdrawn() {
        let i = AccountIndex::default();
        i.begin_add(42, OptOutSource::Api, 5);
        i.settle(42, None, None);
        assert!(i.get(42).is_none());
    }

    #[test]
    fn a_reply_replacing_a_weaker_source_keeps_since() {
        let i = AccountIndex::default();
        i.apply(&[(1, 42, EventKind::OptedOut, OptOutSource::Upload, 100)]);
        i.apply(&[(2, 42, EventKind::OptedOut, OptOutSource::Reply, 200)]);
        assert_eq!(
            i.get(42).map(|e| (e.since, e.source)),
            Some((100, OptOutSource::Reply))
        );
    }
}
