//! The index's self-check: a background job compares each loaded index with the store and
//! repairs any difference. The index keeps its rules by construction (see [`super::index`]);
//! this is the alarm for a rule broken anyway — by a bug, or by a change written around the
//! authority (a hand-edited database). Every repair is logged and counted in `/metrics`
//! (`stoplist_index_repairs_total`); the fault simulation asserts the count stays 0.
//!
//! Cheap first: the store computes, per account, a count and a digest of the list in
//! [`BUCKETS`] buckets (one query, no rows sent); the index computes the same from memory at
//! the same ledger seq. Only a bucket that differs is read whole and compared key by key.
//! An account that changes between the two reads is skipped this round (its changes are
//! being followed anyway) and checked at the next.

use super::OptOuts;
use super::index::{AccountIndex, Entry};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use stoplist_domain::{AccountId, PhoneNumber};
use stoplist_store::StoreError;
use stoplist_store::index::digest_term;

/// Buckets of the digest.
pub const BUCKETS: u32 = 64;

/// What checking one account found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// The index matched the store.
    Same,
    /// The index differed; this many numbers were repaired.
    Repaired(u64),
    /// The account changed while it was being compared: checked again next time.
    Busy,
}

fn digest_of(index: &AccountIndex, seq: i64) -> Option<Vec<(i64, i64)>> {
    let mut buckets = vec![(0i64, 0i64); BUCKETS as usize];
    let same_seq = index.as_of(seq, |k, e| {
        let b = &mut buckets[(k % u64::from(BUCKETS)) as usize];
        b.0 += 1;
        b.1 += digest_term(k, e.since, e.source);
    });
    same_seq.then_some(buckets)
}

impl OptOuts {
    /// Compares every loaded index with the store, one account after another.
    pub async fn self_check(&self) -> Result<(), StoreError> {
        for (account, index) in self.loaded() {
            if !index.is_ready() {
                continue;
            }
            self.check_account(account, &index).await?;
        }
        Ok(())
    }

    /// Compares one account's index with the store and repairs what differs.
    pub async fn check_account(
        &self,
        account: AccountId,
        index: &Arc<AccountIndex>,
    ) -> Result<Checked, StoreError> {
        let stored = self.store.optout_digest(account, BUCKETS).await?;
        self.follow_one(account, index).await?;
        let i = index.clone();
        let seq = stored.seq;
        let Some(mine) = tokio::task::spawn_blocking(move || digest_of(&i, seq))
            .await
            .ok()
            .flatten()
        else {
            return Ok(Checked::Busy);
        };
        self.self_checks.fetch_add(1, Ordering::Relaxed);
        let differing: Vec<u32> = (0..BUCKETS)
            .filter(|b| stored.buckets[*b as usize] != mine[*b as usize])
            .collect();
        let mut repaired = 0;
        for b in differing {
            match self.repair_bucket(account, index, b).await? {
                Some(n) => repaired += n,
                None => return Ok(Checked::Busy),
            }
        }
        if repaired == 0 {
            return Ok(Checked::Same);
        }
        self.repairs.fetch_add(repaired, Ordering::Relaxed);
        Ok(Checked::Repaired(repaired))
    }

    /// Reads one bucket whole and makes the index say what the store says; `None` when the
    /// account moved meanwhile.
    async fn repair_bucket(
        &self,
        account: AccountId,
        index: &Arc<AccountIndex>,
        bucket: u32,
    ) -> Result<Option<u64>, StoreError> {
        let (rows, seq) = self
            .store
            .optouts_in_bucket(account, BUCKETS, bucket)
            .await?;
        self.follow_one(account, index).await?;
        let stored: BTreeMap<u64, Entry> = rows
            .into_iter()
            .map(|o| {
                (
                    o.key,
                    Entry {
                        since: o.since,
                        source: o.source,
                    },
                )
            })
            .collect();
        let mut mine = BTreeMap::new();
        let same_seq = index.as_of(seq, |k, e| {
            if k % u64::from(BUCKETS) == u64::from(bucket) {
                mine.insert(k, e);
            }
        });
        if !same_seq {
            return Ok(None);
        }
        let mut repaired = 0;
        let keys: std::collections::BTreeSet<u64> =
            stored.keys().chain(mine.keys()).copied().collect();
        for k in keys {
            let (want, have) = (stored.get(&k).copied(), mine.get(&k).copied());
            if want != have {
                let number = PhoneNumber::from_u64(k)
                    .map(|n| n.masked().to_string())
                    .unwrap_or_default();
                tracing::error!(account = %account, number = %number, store = ?want, index = ?have,
                    "the opt-out index differed from the store: repaired (please report this)");
                index.repair(k, want, seq);
                repaired += 1;
            }
        }
        Ok(Some(repaired))
    }
}
