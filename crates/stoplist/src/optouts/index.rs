//! The in-memory opt-out index: per account, the opted-out numbers (as
//! [`stoplist_domain::PhoneNumber::as_u64`] keys) with their "since" and source, so that "is
//! this number opted out?" and bulk checks are answered without a database round trip.
//!
//! It is owned by the opt-out authority ([`super::OptOuts`]), the only code that changes it.
//! What it promises, and how:
//!
//! - **It mirrors the ledger.** Every change to the opt-out list appends a ledger event with
//!   the account's next seq, under the account's lock, so events commit in seq order. The
//!   index applies events by seq: a change is applied to a key only when its seq is newer
//!   than the last change the index holds for that key. The follower reads the ledger after
//!   [`AccountIndex::applied_seq`] (changes by other instances and the CLI); this instance's
//!   own commits are applied at once, from the outcome the store returned (its event seq).
//!   A write that committed nothing (a redelivery, a second STOP, a refused or failed write)
//!   carries no event and changes nothing here: only a committed event can remove a key.
//! - **Never "not opted out" for an opt-out being committed.** Before the store is asked to
//!   add a number, the key is marked *pending*; after the store answered, it is unmarked. A
//!   write whose outcome is unknown (an error: the commit may or may not have happened) leaves
//!   the key *in doubt* until a follow that started after it has read the ledger. A bulk write
//!   (an upload, an import) puts the whole account in doubt from just before its commit until
//!   its events are followed. A pending or doubtful key, or any key of an account in doubt or
//!   still loading, is answered [`Answer::Unsure`]: the caller asks the database.
//! - **Small.** The opt-outs read at load time are a compact open-addressing table (8 + 8 + 1
//!   bytes a slot, at a load of 0.8); changes since then sit in a small overlay map, folded
//!   into the table when it grows. 1,000,000 opt-outs take about 21 MB (see
//!   [`AccountIndex::heap_bytes`]).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::RwLock;
use stoplist_domain::OptOutSource;
use stoplist_domain::ledger::EventKind;

/// Multiplicative hashing for u64 phone keys (they are not attacker-inserted in a way that
/// matters: overlay keys come from committed changes), several times faster than SipHash.
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

/// A map keyed by phone keys.
pub type KeyMap<V> = HashMap<u64, V, BuildHasherDefault<KeyHasher>>;

/// What the index knows of one opted-out number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Opted out since (ms).
    pub since: i64,
    pub source: OptOutSource,
}

/// The index's answer for one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Opted out (committed, and no later change seen).
    Listed(Entry),
    /// Not opted out: no opt-out of it was committed that this instance has not applied, and
    /// none is being committed by this instance.
    NotListed,
    /// The index cannot tell now (being loaded, a write of it in flight or of unknown
    /// outcome): ask the database.
    Unsure,
}

/// One opted-out number as loaded, for [`AccountIndex::load`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loaded {
    pub key: u64,
    pub since: i64,
    pub source: OptOutSource,
}

/// One ledger event as the index needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEvent {
    pub seq: i64,
    pub key: u64,
    pub kind: EventKind,
    pub source: OptOutSource,
    /// When the event happened (ms): the "since" of a number newly listed.
    pub at: i64,
}

/// The opt-outs read at load time (or the last fold), in a compact open-addressing table:
/// `keys[i]` (0: an empty slot; no phone key is 0) and, at the same position, its since and
/// source. Linear probing from a multiplicative hash, sized for a load of about 0.8: about 21
/// bytes an opt-out, one or two cache misses a lookup (a sorted array took 17 bytes but some
/// twenty dependent probes for a million keys). Every change it holds is at or before
/// [`Inner::base_seq`].
#[derive(Default)]
struct Base {
    keys: Vec<u64>,
    since: Vec<i64>,
    source: Vec<u8>,
    len: usize,
}

/// The slot a key's probe starts at, among `slots` (multiply-shift: no division).
fn home(key: u64, slots: usize) -> usize {
    let h = (key ^ (key >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let h = h ^ (h >> 32);
    ((u128::from(h) * slots as u128) >> 64) as usize
}

impl Base {
    fn slot(&self, key: u64) -> Option<usize> {
        let n = self.keys.len();
        if n == 0 {
            return None;
        }
        let mut i = home(key, n);
        loop {
            match self.keys[i] {
                0 => return None,
                k if k == key => return Some(i),
                _ => i = if i + 1 == n { 0 } else { i + 1 },
            }
        }
    }

    fn get(&self, key: u64) -> Option<Entry> {
        self.slot(key).map(|i| Entry {
            since: self.since[i],
            source: source_from_code(self.source[i]),
        })
    }

    fn len(&self) -> usize {
        self.len
    }

    /// Every entry, in no particular order.
    fn iter(&self) -> impl Iterator<Item = (u64, Entry)> + '_ {
        self.keys
            .iter()
            .enumerate()
            .filter(|(_, k)| **k != 0)
            .map(|(i, k)| {
                (
                    *k,
                    Entry {
                        since: self.since[i],
                        source: source_from_code(self.source[i]),
                    },
                )
            })
    }

    /// A table of the entries (a repeated key keeps its last entry).
    fn build(items: impl ExactSizeIterator<Item = (u64, Entry)>) -> Base {
        let n = items.len();
        if n == 0 {
            return Base::default();
        }
        let slots = n + n / 4 + 1;
        let mut b = Base {
            keys: vec![0; slots],
            since: vec![0; slots],
            source: vec![0; slots],
            len: 0,
        };
        for (k, e) in items {
            if k == 0 {
                continue;
            }
            let mut i = home(k, slots);
            while b.keys[i] != 0 && b.keys[i] != k {
                i = if i + 1 == slots { 0 } else { i + 1 };
            }
            if b.keys[i] == 0 {
                b.len += 1;
            }
            b.keys[i] = k;
            b.since[i] = e.since;
            b.source[i] = source_code(e.source);
        }
        b
    }
}

/// The code of a source in [`Base::source`] (its position in [`OptOutSource::ALL`]).
fn source_code(s: OptOutSource) -> u8 {
    OptOutSource::ALL
        .iter()
        .position(|x| *x == s)
        .map_or(0, |p| p as u8)
}

fn source_from_code(c: u8) -> OptOutSource {
    OptOutSource::ALL
        .get(usize::from(c))
        .copied()
        .unwrap_or(OptOutSource::Manual)
}

/// A change applied after the base: the event's seq and the key's state after it (`None`:
/// lifted).
#[derive(Debug, Clone, Copy)]
struct Change {
    seq: i64,
    entry: Option<Entry>,
}

#[derive(Default)]
struct Inner {
    /// False until the load's snapshot is in.
    ready: bool,
    base: Base,
    /// Every change the base holds is at or before this seq.
    base_seq: i64,
    /// Changes newer than the base, by key: from this instance's commits and the follower.
    overlay: KeyMap<Change>,
    /// Every ledger event at or before this seq is reflected (the follower's position).
    applied_seq: i64,
    /// Adds being committed by this instance, by key (a count: several may overlap).
    pending: KeyMap<u32>,
    /// Keys whose write failed with an unknown outcome, with the follow generation that
    /// clears them (see [`AccountIndex::follow_started`]).
    doubt: KeyMap<u64>,
    /// Bulk writes of the account committing now.
    bulk: u32,
    /// A bulk write's outcome is unknown until the follow of this generation succeeds.
    bulk_doubt: Option<u64>,
    /// Follows started so far (the generation of the next one).
    follows: u64,
}

impl Inner {
    /// The key's committed state as far as this index knows, ignoring pending and doubt.
    fn settled(&self, key: u64) -> Option<Entry> {
        match self.overlay.get(&key) {
            Some(c) => c.entry,
            None => self.base.get(key),
        }
    }

    fn unsure(&self, key: u64) -> bool {
        !self.ready
            || self.bulk > 0
            || self.bulk_doubt.is_some()
            || self.pending.contains_key(&key)
            || self.doubt.contains_key(&key)
    }

    fn answer(&self, key: u64) -> Answer {
        if self.unsure(key) {
            return Answer::Unsure;
        }
        match self.settled(key) {
            Some(e) => Answer::Listed(e),
            None => Answer::NotListed,
        }
    }

    /// Applies one committed event (from a local commit or the follower) if it is newer than
    /// what the index holds for its key. `since` overrides the since of a newly listed key
    /// (a local commit knows the stored one).
    fn apply(&mut self, ev: &IndexEvent, since: Option<i64>) {
        if ev.seq <= self.applied_seq {
            // The follower applied it, and every change before and after it up to there.
            return;
        }
        if self.overlay.get(&ev.key).is_some_and(|c| c.seq >= ev.seq) {
            return;
        }
        let entry = match ev.kind {
            EventKind::OptedOut => Some(Entry {
                // A reply replacing a weaker source keeps the first "since".
                since: since
                    .or_else(|| self.settled(ev.key).map(|e| e.since))
                    .unwrap_or(ev.at),
                source: ev.source,
            }),
            EventKind::OptedIn => None,
        };
        self.overlay.insert(ev.key, Change { seq: ev.seq, entry });
    }

    fn len(&self) -> usize {
        let mut n = self.base.len();
        for (k, c) in &self.overlay {
            match (self.base.get(*k).is_some(), c.entry.is_some()) {
                (false, true) => n += 1,
                (true, false) => n -= 1,
                _ => {}
            }
        }
        n
    }

    /// Whether the overlay is worth folding into the base.
    fn wants_fold(&self) -> bool {
        self.overlay.len() > 4096.max(self.base.len() / 8)
    }

    /// Folds the overlay's changes at or before `applied_seq` into a new base.
    fn fold(&mut self) {
        let upto = self.applied_seq;
        let mut folded: KeyMap<Option<Entry>> = KeyMap::default();
        self.overlay.retain(|k, c| {
            if c.seq <= upto {
                folded.insert(*k, c.entry);
                false
            } else {
                true
            }
        });
        if folded.is_empty() {
            return;
        }
        let kept: Vec<(u64, Entry)> = self
            .base
            .iter()
            .filter(|(k, _)| !folded.contains_key(k))
            .chain(folded.iter().filter_map(|(k, e)| e.map(|e| (*k, e))))
            .collect();
        self.base = Base::build(kept.into_iter());
        self.base_seq = upto;
    }
}

/// One account's index.
#[derive(Default)]
pub struct AccountIndex {
    inner: RwLock<Inner>,
    /// Signalled when the whole account may have stopped being unsure (loaded, a bulk write
    /// followed).
    changed: tokio::sync::Notify,
}

impl AccountIndex {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The answer for one key (see [`Answer`]).
    pub fn answer(&self, key: u64) -> Answer {
        self.read().answer(key)
    }

    /// The answers for many keys under one lock (`None` in, `None` out).
    pub fn answer_many(&self, keys: impl Iterator<Item = Option<u64>>) -> Vec<Option<Answer>> {
        let inner = self.read();
        keys.map(|k| k.map(|k| inner.answer(k))).collect()
    }

    /// The committed state of a key as far as this index knows, ignoring pending writes and
    /// doubt: for callers that resolved those keys in the database first (see
    /// [`AccountIndex::unsure_keys`]).
    pub fn settled(&self, key: u64) -> Option<Entry> {
        self.read().settled(key)
    }

    /// The keys that are [`Answer::Unsure`] now, when only some are; `None` while the whole
    /// account is (loading, or a bulk write in doubt).
    pub fn unsure_keys(&self) -> Option<Vec<u64>> {
        let inner = self.read();
        if !inner.ready || inner.bulk > 0 || inner.bulk_doubt.is_some() {
            return None;
        }
        let mut keys: Vec<u64> = inner
            .pending
            .keys()
            .chain(inner.doubt.keys())
            .copied()
            .collect();
        keys.sort_unstable();
        keys.dedup();
        Some(keys)
    }

    /// [`AccountIndex::unsure_keys`], waiting until `deadline` for the account to stop being
    /// unsure as a whole; `None` if it did not.
    pub async fn wait_unsure_keys(&self, deadline: std::time::Instant) -> Option<Vec<u64>> {
        loop {
            let changed = self.changed.notified();
            if let Some(keys) = self.unsure_keys() {
                return Some(keys);
            }
            if tokio::time::timeout_at(deadline.into(), changed)
                .await
                .is_err()
            {
                return self.unsure_keys();
            }
        }
    }

    /// Whether the snapshot is loaded.
    pub fn is_ready(&self) -> bool {
        self.read().ready
    }

    /// Opted-out numbers held.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The follower's position: every ledger event up to it is reflected.
    pub fn applied_seq(&self) -> i64 {
        self.read().applied_seq
    }

    /// Bytes of heap the index holds (its arrays and maps, by capacity), for the memory
    /// benchmark and `/metrics`.
    pub fn heap_bytes(&self) -> usize {
        let inner = self.read();
        fn map_bytes<V>(m: &KeyMap<V>) -> usize {
            // hashbrown: one control byte per bucket (+ a group) beside each (key, value).
            m.capacity() * (std::mem::size_of::<(u64, V)>() + 1)
        }
        inner.base.keys.capacity() * 8
            + inner.base.since.capacity() * 8
            + inner.base.source.capacity()
            + map_bytes(&inner.overlay)
            + map_bytes(&inner.pending)
            + map_bytes(&inner.doubt)
    }

    /// Installs the load's snapshot: every opt-out as of ledger seq `seq`. Changes this
    /// instance applied meanwhile at or before `seq` are in the snapshot already.
    pub fn load(&self, items: Vec<Loaded>, seq: i64) {
        let base = Base::build(items.iter().map(|l| {
            (
                l.key,
                Entry {
                    since: l.since,
                    source: l.source,
                },
            )
        }));
        drop(items);
        let mut inner = self.write();
        inner.base = base;
        inner.base_seq = seq;
        inner.overlay.retain(|_, c| c.seq > seq);
        inner.applied_seq = inner.applied_seq.max(seq);
        inner.ready = true;
        drop(inner);
        self.changed.notify_waiters();
    }

    /// Before this instance asks the store to add `key`.
    pub fn begin_add(&self, key: u64) {
        *self.write().pending.entry(key).or_default() += 1;
    }

    /// After the store answered a write of `key`. `committed`: the event it appended, with
    /// the stored since for an opt-out; `None` when nothing was committed (no change, or a
    /// refusal). `was_pending`: [`AccountIndex::begin_add`] was called for it.
    pub fn settle(
        &self,
        key: u64,
        committed: Option<(IndexEvent, Option<i64>)>,
        was_pending: bool,
    ) {
        let mut inner = self.write();
        if let Some((ev, since)) = committed {
            inner.apply(&ev, since);
        }
        if was_pending {
            unpend(&mut inner, key);
        }
    }

    /// After the store failed a write of `key`: it may have committed, so the key is in
    /// doubt until the next follow has read the ledger.
    pub fn fail(&self, key: u64, was_pending: bool) {
        let mut inner = self.write();
        let generation = inner.follows;
        inner.doubt.insert(key, generation);
        if was_pending {
            unpend(&mut inner, key);
        }
    }

    /// The key may have changed through another instance (a redelivery this instance
    /// acknowledged as a duplicate of one another instance committed): it is answered from
    /// the database until the next follow has read the ledger.
    pub fn doubt(&self, key: u64) {
        let mut inner = self.write();
        let generation = inner.follows;
        inner.doubt.insert(key, generation);
    }

    /// Before a bulk write of the account commits.
    pub fn begin_bulk(&self) {
        self.write().bulk += 1;
    }

    /// After a bulk write: `followed` says whether its events were read back (a follow that
    /// started after its commit succeeded); if not, the account stays in doubt until one does.
    pub fn end_bulk(&self, followed: bool) {
        let mut inner = self.write();
        inner.bulk = inner.bulk.saturating_sub(1);
        if !followed {
            let generation = inner.follows;
            inner.bulk_doubt = Some(generation);
        }
        drop(inner);
        self.changed.notify_waiters();
    }

    /// A follow is starting: its generation, to pass to [`AccountIndex::follow_done`].
    pub fn follow_started(&self) -> u64 {
        let mut inner = self.write();
        let g = inner.follows;
        inner.follows += 1;
        g
    }

    /// Applies events read from the ledger, in seq order, all after `applied_seq`.
    pub fn apply_followed(&self, events: &[IndexEvent]) {
        let mut inner = self.write();
        for ev in events {
            if ev.seq <= inner.applied_seq {
                continue;
            }
            inner.apply(ev, None);
            inner.applied_seq = ev.seq;
        }
    }

    /// A follow of generation `generation` read the ledger to its end: doubts registered
    /// before it started are resolved. Answers whether the overlay should be folded.
    pub fn follow_done(&self, generation: u64) -> bool {
        let mut inner = self.write();
        inner.doubt.retain(|_, g| *g > generation);
        let cleared = inner.bulk_doubt.is_some_and(|g| g <= generation);
        if cleared {
            inner.bulk_doubt = None;
        }
        let fold = inner.wants_fold();
        drop(inner);
        if cleared {
            self.changed.notify_waiters();
        }
        fold
    }

    /// Folds the overlay into the base (see the module doc); CPU work proportional to the
    /// account's opt-outs.
    pub fn fold(&self) {
        self.write().fold();
    }

    /// Every listed key as of ledger seq `seq` with its entry, in `buckets` buckets (key
    /// modulo `buckets`), when the index reflects exactly that seq (the follower is there and
    /// no later change of this instance is applied); `None` otherwise. For the self-check.
    pub fn as_of(&self, seq: i64, mut each: impl FnMut(u64, Entry)) -> bool {
        let inner = self.read();
        if !inner.ready || inner.applied_seq != seq || inner.overlay.values().any(|c| c.seq > seq) {
            return false;
        }
        for (k, e) in inner.base.iter() {
            if !inner.overlay.contains_key(&k) {
                each(k, e);
            }
        }
        for (k, c) in &inner.overlay {
            if let Some(e) = c.entry {
                each(*k, e);
            }
        }
        true
    }

    /// Replaces a key's state with the store's (a repair by the self-check), as of ledger
    /// seq `seq`.
    pub fn repair(&self, key: u64, entry: Option<Entry>, seq: i64) {
        let mut inner = self.write();
        let seq = seq.max(inner.overlay.get(&key).map_or(0, |c| c.seq));
        inner.overlay.insert(key, Change { seq, entry });
    }
}

fn unpend(inner: &mut Inner, key: u64) {
    if let Some(n) = inner.pending.get_mut(&key) {
        *n -= 1;
        if *n == 0 {
            inner.pending.remove(&key);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use EventKind::{OptedIn, OptedOut};
    use OptOutSource::{Api, Reply, Upload};

    fn ev(seq: i64, key: u64, kind: EventKind, source: OptOutSource, at: i64) -> IndexEvent {
        IndexEvent {
            seq,
            key,
            kind,
            source,
            at,
        }
    }

    fn ready() -> AccountIndex {
        let i = AccountIndex::default();
        i.load(vec![], 0);
        i
    }

    fn listed(i: &AccountIndex, key: u64) -> bool {
        matches!(i.answer(key), Answer::Listed(_))
    }

    #[test]
    fn a_pending_add_is_unsure_until_it_settles() {
        let i = ready();
        i.begin_add(42);
        assert_eq!(i.answer(42), Answer::Unsure);
        i.settle(42, Some((ev(1, 42, OptedOut, Api, 5), Some(5))), true);
        assert_eq!(
            i.answer(42),
            Answer::Listed(Entry {
                since: 5,
                source: Api
            })
        );
    }

    #[test]
    fn a_write_that_changed_nothing_keeps_what_the_index_holds() {
        // The redelivery bug: a STOP redelivered (nothing committed) must not remove the key.
        let i = ready();
        i.begin_add(42);
        i.settle(42, Some((ev(1, 42, OptedOut, Reply, 5), Some(5))), true);
        i.begin_add(42);
        i.settle(42, None, true);
        assert!(listed(&i, 42));
    }

    #[test]
    fn a_failed_write_leaves_the_key_in_doubt_until_a_later_follow() {
        let i = ready();
        let early = i.follow_started();
        i.begin_add(42);
        i.fail(42, true);
        assert_eq!(i.answer(42), Answer::Unsure);
        // A follow that started before the failure does not resolve it.
        i.follow_done(early);
        assert_eq!(i.answer(42), Answer::Unsure);
        let g = i.follow_started();
        i.apply_followed(&[ev(1, 42, OptedOut, Api, 5)]);
        i.follow_done(g);
        assert!(listed(&i, 42));
    }

    #[test]
    fn an_older_lift_never_removes_a_newer_add() {
        let i = ready();
        i.settle(42, Some((ev(9, 42, OptedOut, Api, 5), Some(5))), false);
        // A lift at seq 5 arrives late (a local settle that lost a race).
        i.settle(42, Some((ev(5, 42, OptedIn, Api, 1), None)), false);
        assert!(listed(&i, 42));
        i.apply_followed(&[ev(10, 42, OptedIn, Api, 1)]);
        assert!(!listed(&i, 42));
    }

    #[test]
    fn an_older_add_never_revives_a_newer_lift() {
        let i = ready();
        i.settle(42, Some((ev(11, 42, OptedIn, Api, 1), None)), false);
        i.settle(42, Some((ev(10, 42, OptedOut, Api, 1), Some(1))), false);
        assert_eq!(i.answer(42), Answer::NotListed);
    }

    #[test]
    fn a_reply_replacing_a_weaker_source_keeps_since() {
        let i = ready();
        i.apply_followed(&[ev(1, 42, OptedOut, Upload, 100)]);
        i.apply_followed(&[ev(2, 42, OptedOut, Reply, 200)]);
        assert_eq!(
            i.answer(42),
            Answer::Listed(Entry {
                since: 100,
                source: Reply
            })
        );
    }

    #[test]
    fn loading_is_unsure_and_keeps_changes_made_meanwhile() {
        let i = AccountIndex::default();
        assert_eq!(i.answer(1), Answer::Unsure);
        // Committed by this instance while the snapshot was being read: seq 7, after it.
        i.settle(3, Some((ev(7, 3, OptedOut, Api, 1), Some(1))), false);
        // A change at seq 4 is in the snapshot already.
        i.settle(2, Some((ev(4, 2, OptedIn, Api, 1), None)), false);
        i.load(
            vec![Loaded {
                key: 1,
                since: 1,
                source: Api,
            }],
            5,
        );
        assert!(listed(&i, 1));
        assert_eq!(i.answer(2), Answer::NotListed);
        assert!(listed(&i, 3));
        assert_eq!(i.len(), 2);
    }

    #[test]
    fn a_bulk_write_puts_the_account_in_doubt_until_followed() {
        let i = ready();
        i.begin_bulk();
        assert_eq!(i.answer(1), Answer::Unsure);
        assert_eq!(i.unsure_keys(), None);
        i.end_bulk(false);
        assert_eq!(i.answer(1), Answer::Unsure);
        let g = i.follow_started();
        i.apply_followed(&[ev(1, 1, OptedOut, Upload, 1)]);
        i.follow_done(g);
        assert!(listed(&i, 1));
        assert_eq!(i.unsure_keys(), Some(vec![]));
    }

    #[test]
    fn folding_keeps_every_answer() {
        let i = AccountIndex::default();
        i.load(
            (0..100)
                .map(|k| Loaded {
                    key: k * 2,
                    since: k as i64,
                    source: Api,
                })
                .collect(),
            10,
        );
        let mut seq = 10;
        let mut events = vec![];
        for k in 0..60u64 {
            seq += 1;
            // Lift the even keys below 60, add the odd keys below 60.
            let kind = if k % 2 == 0 { OptedIn } else { OptedOut };
            events.push(ev(seq, k, kind, Reply, 1000 + k as i64));
        }
        i.apply_followed(&events);
        // One local change ahead of the follower stays in the overlay.
        i.settle(
            500,
            Some((ev(seq + 5, 500, OptedOut, Api, 9), Some(9))),
            false,
        );
        let before: Vec<Answer> = (0..600).map(|k| i.answer(k)).collect();
        i.fold();
        let after: Vec<Answer> = (0..600).map(|k| i.answer(k)).collect();
        assert_eq!(before, after);
        assert_eq!(i.len(), 100 - 30 + 30 + 1);
        let listed = (0..600).filter(|k| i.settled(*k).is_some()).count();
        assert_eq!(listed, i.len());
    }

    /// A model check: random local commits (applied out of order, as concurrent writers
    /// settle) and follows, against the ledger's truth, folding at random. After every
    /// follow that caught up, every key answers as the ledger says.
    #[test]
    fn random_interleavings_converge_on_the_ledger() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        for _round in 0..200 {
            let i = ready();
            let mut ledger: Vec<IndexEvent> = vec![];
            let mut truth: KeyMap<bool> = KeyMap::default();
            // Local commits waiting to be settled (out of order).
            let mut unsettled: Vec<IndexEvent> = vec![];
            for _ in 0..200 {
                match next(10) {
                    0..=5 => {
                        // Phone keys are never 0 (the table's empty slot).
                        let key = next(8) + 1;
                        let seq = ledger.len() as i64 + 1;
                        let on = next(2) == 0;
                        let e = ev(seq, key, if on { OptedOut } else { OptedIn }, Api, seq);
                        ledger.push(e);
                        truth.insert(key, on);
                        unsettled.push(e);
                    }
                    6 | 7 if !unsettled.is_empty() => {
                        let e = unsettled.swap_remove(next(unsettled.len() as u64) as usize);
                        let since = (e.kind == OptedOut).then_some(e.at);
                        i.settle(e.key, Some((e, since)), false);
                    }
                    8 => {
                        let g = i.follow_started();
                        let from = i.applied_seq();
                        let upto = ledger.len() as i64;
                        let evs: Vec<_> = ledger
                            .iter()
                            .filter(|e| e.seq > from && e.seq <= upto)
                            .copied()
                            .collect();
                        i.apply_followed(&evs);
                        i.follow_done(g);
                        for key in 1..=8 {
                            let want = truth.get(&key).copied().unwrap_or(false);
                            assert_eq!(listed(&i, key), want, "key {key} after a follow");
                        }
                    }
                    _ => i.fold(),
                }
            }
        }
    }

    #[test]
    fn a_million_opt_outs_take_under_twenty_two_bytes_each() {
        let i = AccountIndex::default();
        i.load(
            (0..1_000_000u64)
                .map(|k| Loaded {
                    key: 61_400_000_000 + k * 7,
                    since: 1,
                    source: Reply,
                })
                .collect(),
            1,
        );
        assert!(i.heap_bytes() <= 22 * 1_000_000, "{}", i.heap_bytes());
        assert_eq!(i.len(), 1_000_000);
        for k in [0u64, 1, 999_999] {
            assert!(i.settled(61_400_000_000 + k * 7).is_some());
            assert!(i.settled(61_400_000_001 + k * 7).is_none());
        }
    }
}
