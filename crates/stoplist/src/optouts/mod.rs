//! The opt-out authority: the one way anything changes the opt-out list or this instance's
//! in-memory index of it — the API, the web UI, the CLI, replies, review decisions, carrier
//! rejections, imports with reset and Opt Out Manager uploads all go through [`OptOuts`].
//! It parses numbers with the account's region, asks the store to apply the domain's decision
//! ([`stoplist_store::Store::apply_optout`], `record_replies`, `review_reply`, an import's
//! commit), keeps the index in step (see [`index`] for the rules it keeps), and turns
//! refusals into errors.
//!
//! The rule "never answer not-opted-out for an opt-out this instance committed" lives here
//! once, in [`OptOuts::begin`] / [`OptOuts::settle`] / [`OptOuts::commit_bulk`]: every write marks
//! what it may add before the store commits and settles from what the store says it
//! committed. A write that committed nothing never takes anything out of the index.
//!
//! Also here, because it is part of the same promise: the hand-over rule between a committed
//! opt-out and the dispatcher ([`OptOuts::handover`], [`HANDOVER_BOUND`]), the follower that
//! reads other instances' changes from the ledger, and the self-check ([`mod@check`]).

pub mod check;
pub mod index;

use crate::error::{AppError, AppResult};
use crate::lifecycle::Wakeups;
use crate::metrics::Metrics;
use crate::settings_cache::SettingsCache;
use index::{AccountIndex, Answer, Entry, IndexEvent, KeyMap, Loaded};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use stoplist_domain::ledger::EventKind;
use stoplist_domain::names::Reason;
use stoplist_domain::rules::{AddedBy, Decision, OptOutEvent};
use stoplist_domain::{AccountId, Actor, OptOutSource, PhoneError, PhoneNumber, Region};
use stoplist_store::{
    ImportCounts, OptOutCommand, OptOutOutcome, RecordedReply, Recording, ReplyEffects, Store,
    StoreError,
};

/// The longest a dispatcher may take from the start of its check before dispatch (SPEC 3.1)
/// to handing the message to the connector; past it, it checks again. With
/// [`HANDOVER_WAIT`] this orders every hand-over before the acknowledgement of an opt-out
/// that the check did not see (see [`OptOuts::handover`]).
pub const HANDOVER_BOUND: Duration = Duration::from_millis(20);

/// How long an opt-out's acknowledgement waits when a message to its number is being sent
/// at its commit: more than twice [`HANDOVER_BOUND`].
pub const HANDOVER_WAIT: Duration = Duration::from_millis(50);

/// Loads of account indexes running at once (each reads an account's whole list).
const LOADS_AT_ONCE: usize = 2;

/// Ledger changes read per query by the follower.
const FOLLOW_PAGE: i64 = 10_000;

/// The opt-out authority (see the module doc). Built once at start-up with what it needs.
pub struct OptOuts {
    store: Arc<dyn Store>,
    settings: Arc<SettingsCache>,
    metrics: Arc<Metrics>,
    wakeups: Arc<Wakeups>,
    accounts: RwLock<HashMap<AccountId, Arc<AccountIndex>>>,
    loads: Arc<tokio::sync::Semaphore>,
    /// One follow at a time (the periodic one, and those after a bulk write).
    follow_lock: tokio::sync::Mutex<()>,
    health: Mutex<Health>,
    repairs: AtomicU64,
    self_checks: AtomicU64,
}

#[derive(Default)]
struct Health {
    /// When a follow last read every loaded account's ledger to its end.
    last_follow: Option<Instant>,
    /// The accounts known at start-up, loaded eagerly ([`OptOuts::load_all`]).
    startup_accounts: Option<usize>,
}

/// What [`OptOuts::readiness`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    pub loaded: usize,
    pub loading: usize,
    /// Every account of the start-up list has been asked to load.
    pub startup_listed: bool,
    /// Milliseconds since the last complete follow, if any.
    pub since_follow_ms: Option<u64>,
}

/// An opt-out write in flight: what it may add, marked in the index before the store runs.
pub struct Marked {
    index: Arc<AccountIndex>,
    key: u64,
    adds: bool,
}

impl OptOuts {
    pub fn new(
        store: Arc<dyn Store>,
        settings: Arc<SettingsCache>,
        metrics: Arc<Metrics>,
        wakeups: Arc<Wakeups>,
    ) -> OptOuts {
        OptOuts {
            store,
            settings,
            metrics,
            wakeups,
            accounts: RwLock::new(HashMap::new()),
            loads: Arc::new(tokio::sync::Semaphore::new(LOADS_AT_ONCE)),
            follow_lock: tokio::sync::Mutex::new(()),
            health: Mutex::new(Health::default()),
            repairs: AtomicU64::new(0),
            self_checks: AtomicU64::new(0),
        }
    }

    // --- numbers ----------------------------------------------------------------------

    /// The account's default region.
    pub async fn region(&self, account: AccountId) -> AppResult<Region> {
        Ok(self.settings.get(account).await?.default_region)
    }

    /// Parses a number the way the account reads numbers.
    pub async fn parse_number(&self, account: AccountId, raw: &str) -> AppResult<PhoneNumber> {
        let region = self.region(account).await?;
        PhoneNumber::parse(raw, region).map_err(|e| AppError::phone("number", e))
    }

    // --- the index ----------------------------------------------------------------------

    /// The account's index; the first call starts loading it (answers are
    /// [`Answer::Unsure`], so taken from the database, until it is in).
    pub fn index(&self, account: AccountId) -> Arc<AccountIndex> {
        if let Some(i) = self.read_accounts().get(&account) {
            return i.clone();
        }
        let (index, created) = {
            let mut map = self.accounts.write().unwrap_or_else(|p| p.into_inner());
            match map.get(&account) {
                Some(i) => (i.clone(), false),
                None => {
                    let i = Arc::new(AccountIndex::default());
                    map.insert(account, i.clone());
                    (i, true)
                }
            }
        };
        if created {
            self.spawn_load(account, index.clone());
        }
        index
    }

    fn read_accounts(
        &self,
    ) -> std::sync::RwLockReadGuard<'_, HashMap<AccountId, Arc<AccountIndex>>> {
        self.accounts.read().unwrap_or_else(|p| p.into_inner())
    }

    fn loaded(&self) -> Vec<(AccountId, Arc<AccountIndex>)> {
        self.read_accounts()
            .iter()
            .map(|(a, i)| (*a, i.clone()))
            .collect()
    }

    fn spawn_load(&self, account: AccountId, index: Arc<AccountIndex>) {
        let store = self.store.clone();
        let permits = self.loads.clone();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            let mut delay = Duration::from_millis(200);
            loop {
                let _permit = permits.acquire().await;
                let started = Instant::now();
                match store.optout_keys(account).await {
                    Ok((keys, seq)) => {
                        let n = keys.len();
                        let items: Vec<Loaded> = keys
                            .into_iter()
                            .map(|k| Loaded {
                                key: k.key,
                                since: k.since,
                                source: k.source,
                            })
                            .collect();
                        let target = index.clone();
                        let _ = tokio::task::spawn_blocking(move || target.load(items, seq)).await;
                        tracing::info!(account = %account, numbers = n,
                            ms = started.elapsed().as_millis() as u64, "loaded opt-out index");
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(account = %account, error = %e,
                            "loading the opt-out index failed; answering from the database meanwhile, will retry");
                    }
                }
                drop(_permit);
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        });
    }

    /// Starts loading every account's index (at start-up, so that `/readyz` can say when
    /// this instance answers from memory).
    pub async fn load_all(&self) -> AppResult<()> {
        let accounts = self.store.list_accounts().await?;
        let n = accounts.len();
        for a in accounts {
            self.index(a.id);
        }
        self.health().startup_accounts = Some(n);
        Ok(())
    }

    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How far this instance is from answering everything from memory.
    pub fn readiness(&self) -> Readiness {
        let (mut loaded, mut loading) = (0, 0);
        for (_, i) in self.loaded() {
            if i.is_ready() {
                loaded += 1;
            } else {
                loading += 1;
            }
        }
        let h = self.health();
        Readiness {
            loaded,
            loading,
            startup_listed: h.startup_accounts.is_some(),
            since_follow_ms: h.last_follow.map(|t| t.elapsed().as_millis() as u64),
        }
    }

    // --- reads ---------------------------------------------------------------------------

    /// Is the number opted out, since when, from what source: from memory, or from the
    /// database when the index cannot tell (see [`Answer::Unsure`]).
    pub async fn lookup(
        &self,
        account: AccountId,
        number: &PhoneNumber,
    ) -> AppResult<Option<(i64, OptOutSource)>> {
        match self.index(account).answer(number.as_u64()) {
            Answer::Listed(e) => Ok(Some((e.since, e.source))),
            Answer::NotListed => Ok(None),
            Answer::Unsure => Ok(self
                .store
                .optout(account, number)
                .await?
                .map(|o| (o.created_at, o.source))),
        }
    }

    /// A view of the account's list that answers every key truthfully from memory: the
    /// keys the index is unsure of are read from the database first. `None` while the whole
    /// account is in doubt (its index loading, a bulk write being followed) for longer than
    /// `wait`: the caller then asks the database ([`OptOuts::listed_among`]).
    pub async fn view(&self, account: AccountId, wait: Duration) -> AppResult<Option<IndexView>> {
        let index = self.index(account);
        let Some(unsure) = index.wait_unsure_keys(Instant::now() + wait).await else {
            return Ok(None);
        };
        let mut overrides: KeyMap<Option<Entry>> = KeyMap::default();
        if !unsure.is_empty() {
            let numbers: Vec<PhoneNumber> = unsure
                .iter()
                .filter_map(|k| PhoneNumber::from_u64(*k))
                .collect();
            for k in &unsure {
                overrides.insert(*k, None);
            }
            for o in self.store.optouts_among(account, &numbers).await? {
                overrides.insert(
                    o.key,
                    Some(Entry {
                        since: o.since,
                        source: o.source,
                    }),
                );
            }
        }
        Ok(Some(IndexView { index, overrides }))
    }

    /// The opt-outs among `numbers`, from the database (in chunks): what a bulk check asks
    /// when the index cannot answer (see [`OptOuts::view`]).
    pub async fn listed_among(
        &self,
        account: AccountId,
        numbers: &[PhoneNumber],
    ) -> AppResult<KeyMap<Entry>> {
        let mut out = KeyMap::default();
        for chunk in numbers.chunks(5_000) {
            for o in self.store.optouts_among(account, chunk).await? {
                out.insert(
                    o.key,
                    Entry {
                        since: o.since,
                        source: o.source,
                    },
                );
            }
        }
        Ok(out)
    }

    // --- writes --------------------------------------------------------------------------

    /// Puts a number on the list (or finds it there already).
    pub async fn add(
        &self,
        account: AccountId,
        number: &PhoneNumber,
        by: AddedBy,
        actor: Actor,
        evidence: Option<String>,
    ) -> AppResult<OptOutOutcome> {
        let cmd = OptOutCommand {
            number: number.clone(),
            event: OptOutEvent::Added(by),
            actor,
            reason: None,
            evidence,
            campaign_groups: vec![],
        };
        self.apply(account, &cmd).await
    }

    /// Lifts a number's opt-out at a user's request, with a reason; refused per SPEC 3.3.
    pub async fn remove(
        &self,
        account: AccountId,
        number: &PhoneNumber,
        actor: Actor,
        reason: &str,
    ) -> AppResult<OptOutOutcome> {
        let reason = Reason::parse(reason)?;
        let cmd = OptOutCommand {
            number: number.clone(),
            event: OptOutEvent::UserRemoval,
            actor,
            reason: Some(reason),
            evidence: None,
            campaign_groups: vec![],
        };
        let out = self.apply(account, &cmd).await?;
        match out.decision {
            Decision::Refuse(r) => Err(AppError::Refused(r)),
            _ => Ok(out),
        }
    }

    /// Applies any command through the store, keeping the index in step; an opt-out it
    /// records is acknowledged only after the hand-over rule ([`OptOuts::handover`]).
    pub async fn apply(&self, account: AccountId, cmd: &OptOutCommand) -> AppResult<OptOutOutcome> {
        let mark = self.begin(account, cmd);
        let now = crate::now_ms();
        let result = self.store.apply_optout(account, cmd, now).await;
        self.settle(&mark, result.as_ref().map(Some), now);
        let out = result?;
        if let Some(seq) = out.event_seq {
            tracing::info!(account = %account, number = %cmd.number.masked(), decision = ?out.decision,
                actor = %cmd.actor, seq, "opt-out list changed");
        }
        if Self::recorded_optout(&out) {
            self.handover(account, std::slice::from_ref(&cmd.number))
                .await;
            self.wakeups.notify.notify_one();
        } else if out.event_seq.is_some() {
            self.wakeups.notify.notify_one();
        }
        Ok(out)
    }

    /// Whether the outcome put the number on the list just now.
    fn recorded_optout(out: &OptOutOutcome) -> bool {
        out.event_seq.is_some() && out.optout.is_some()
    }

    /// Before the store runs `cmd`: marks its key pending when it may add the number.
    pub fn begin(&self, account: AccountId, cmd: &OptOutCommand) -> Marked {
        let index = self.index(account);
        let key = cmd.number.as_u64();
        let adds = matches!(
            cmd.event,
            OptOutEvent::Added(_) | OptOutEvent::ReplyOptOut { .. } | OptOutEvent::UnclearReply
        );
        if adds {
            index.begin_add(key);
        }
        Marked { index, key, adds }
    }

    /// After the store answered a write begun with [`OptOuts::begin`]: `Ok(Some(outcome))`
    /// when it committed (the outcome says what changed, maybe nothing), `Ok(None)` when it
    /// is known not to have run (a reply's own rollback, a duplicate), `Err` when the outcome
    /// is unknown. Only a committed event changes the index.
    pub fn settle(
        &self,
        mark: &Marked,
        result: Result<Option<&OptOutOutcome>, &StoreError>,
        now: i64,
    ) {
        match result {
            Ok(Some(out)) => {
                let committed = out.event_seq.map(|seq| {
                    let (kind, source, since) = match &out.optout {
                        Some(o) => (EventKind::OptedOut, o.source, Some(o.created_at)),
                        None => (EventKind::OptedIn, OptOutSource::Manual, None),
                    };
                    self.metrics.optout_change(match kind {
                        EventKind::OptedOut => "opted_out",
                        EventKind::OptedIn => "opted_in",
                    });
                    (
                        IndexEvent {
                            seq,
                            key: mark.key,
                            kind,
                            source,
                            at: now,
                        },
                        since,
                    )
                });
                mark.index.settle(mark.key, committed, mark.adds);
            }
            Ok(None) => mark.index.settle(mark.key, None, mark.adds),
            Err(_) => mark.index.fail(mark.key, mark.adds),
        }
    }

    /// The hand-over rule, after an opt-out of `numbers` committed and before it is
    /// acknowledged: if a message to one of them is being sent right now (claimed, its
    /// outcome not recorded), wait [`HANDOVER_WAIT`]. A dispatcher's check that did not see
    /// the opt-out started before the commit, and it hands its message over within
    /// [`HANDOVER_BOUND`] of starting the check or checks again; so every message handed over
    /// without seeing the opt-out is handed over before the acknowledgement. Errors only
    /// lengthen the wait (the safe side).
    pub async fn handover(&self, account: AccountId, numbers: &[PhoneNumber]) {
        match self.store.numbers_being_sent(account, numbers).await {
            Ok(sending) if sending.is_empty() => {}
            _ => tokio::time::sleep(HANDOVER_WAIT).await,
        }
    }

    /// Records a batch of replies with their effects (group commit), keeping the index in
    /// step for each (see [`stoplist_store::ReplyStore::record_replies`] for what a result
    /// means). The caller asks [`OptOuts::handovers`] which answers must wait.
    pub async fn record_replies(
        &self,
        batch: &[Recording<'_>],
        now: i64,
    ) -> Result<Vec<Result<RecordedReply, StoreError>>, StoreError> {
        let marks: Vec<Option<Marked>> = batch
            .iter()
            .map(|r| {
                r.effects
                    .optout
                    .as_ref()
                    .map(|c| self.begin(r.reply.account, c))
            })
            .collect();
        let result = self.store.record_replies(batch, now).await;
        match &result {
            Ok(results) => {
                for (mark, r) in marks.iter().zip(results) {
                    let Some(mark) = mark else { continue };
                    match r {
                        // A duplicate carries no outcome: nothing was done again. Its first
                        // delivery may have been committed by another instance a moment ago:
                        // until this one's follower has read it, the database answers.
                        Ok(rec) if rec.duplicate => {
                            self.settle(mark, Ok(None), now);
                            mark.index.doubt(mark.key);
                        }
                        Ok(rec) => self.settle(mark, Ok(rec.optout.as_ref()), now),
                        // This reply's savepoint rolled back; the batch committed without it.
                        Err(_) => self.settle(mark, Ok(None), now),
                    }
                }
            }
            Err(e) => {
                for mark in marks.iter().flatten() {
                    self.settle(mark, Err(e), now);
                }
            }
        }
        result
    }

    /// Which of a batch's recorded replies put their number on the list while a message to
    /// it was being sent, so that their acknowledgement waits [`HANDOVER_WAIT`] (the rule of
    /// [`OptOuts::handover`]); one query per account of the batch. An error answers "wait"
    /// (the safe side).
    pub async fn handovers(
        &self,
        batch: &[Recording<'_>],
        results: &[Result<RecordedReply, StoreError>],
    ) -> Vec<bool> {
        let mut asked: HashMap<AccountId, Vec<PhoneNumber>> = HashMap::new();
        for (r, result) in batch.iter().zip(results) {
            if let (Ok(rec), Some(cmd)) = (result, &r.effects.optout)
                && rec.optout.as_ref().is_some_and(Self::recorded_optout)
            {
                asked
                    .entry(r.reply.account)
                    .or_default()
                    .push(cmd.number.clone());
            }
        }
        let mut sending: HashMap<AccountId, Option<Vec<PhoneNumber>>> = HashMap::new();
        for (account, numbers) in asked {
            let found = self.store.numbers_being_sent(account, &numbers).await.ok();
            sending.insert(account, found);
        }
        batch
            .iter()
            .zip(results)
            .map(|(r, result)| {
                let (Ok(rec), Some(cmd)) = (result, &r.effects.optout) else {
                    return false;
                };
                if !rec.optout.as_ref().is_some_and(Self::recorded_optout) {
                    return false;
                }
                match sending.get(&r.reply.account) {
                    Some(Some(numbers)) => numbers.contains(&cmd.number),
                    _ => true,
                }
            })
            .collect()
    }

    /// Closes the review of an unclear reply through the store, keeping the index in step.
    pub async fn review_reply(
        &self,
        account: AccountId,
        id: i64,
        verdict: &str,
        reviewer: &str,
        effects: &ReplyEffects,
    ) -> AppResult<RecordedReply> {
        let mark = effects.optout.as_ref().map(|c| self.begin(account, c));
        let now = crate::now_ms();
        let result = self
            .store
            .review_reply(account, id, verdict, reviewer, effects, now)
            .await;
        if let Some(mark) = &mark {
            match &result {
                Ok(r) => self.settle(mark, Ok(r.optout.as_ref()), now),
                // A refusal (not pending, not found) changed nothing; anything else may have.
                Err(StoreError::Conflict { .. } | StoreError::NotFound(_)) => {
                    self.settle(mark, Ok(None), now)
                }
                Err(e) => self.settle(mark, Err(e), now),
            }
        }
        let r = result?;
        if let (Some(out), Some(cmd)) = (&r.optout, &effects.optout)
            && Self::recorded_optout(out)
        {
            self.handover(account, std::slice::from_ref(&cmd.number))
                .await;
        }
        self.wakeups.dispatch.notify_one();
        self.wakeups.notify.notify_one();
        Ok(r)
    }

    /// Runs `write`, a bulk write of an import or an upload batch that may change the opt-out
    /// list: the account's answers come from the database from just before the commit until
    /// its events are followed into the index, so no committed opt-out of it is ever answered
    /// "not opted out" and no lifted one is answered "opted out" for longer than the follow
    /// takes. Without `changes_list` it is just run.
    pub async fn commit_bulk(
        &self,
        account: AccountId,
        changes_list: bool,
        write: impl std::future::Future<Output = Result<ImportCounts, StoreError>>,
    ) -> Result<ImportCounts, StoreError> {
        if !changes_list {
            return write.await;
        }
        let index = self.index(account);
        index.begin_bulk();
        let result = write.await;
        let followed = match self.follow_one(account, &index).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(account = %account, error = %e,
                    "reading an import's changes into the opt-out index failed; the account is answered from the database until the next follow");
                false
            }
        };
        index.end_bulk(followed);
        if let Ok(c) = &result {
            if c.imported > 0 || c.lifted > 0 {
                self.wakeups.notify.notify_one();
            }
            match self.store.messages_being_sent(account).await {
                Ok(0) => {}
                _ => tokio::time::sleep(HANDOVER_WAIT).await,
            }
        }
        result
    }

    // --- following the ledger --------------------------------------------------------

    /// Reads the ledger of every loaded account that moved since its index last read it
    /// (changes made by other instances and the CLI), and resolves the doubts registered
    /// before this follow started.
    pub async fn follow(&self) -> Result<(), StoreError> {
        let _one = self.follow_lock.lock().await;
        let loaded = self.loaded();
        // Generations first, heads second: a doubt registered before a generation is
        // resolved by heads read after it (see `index`).
        let generations: Vec<u64> = loaded.iter().map(|(_, i)| i.follow_started()).collect();
        let heads: HashMap<AccountId, i64> = self.store.ledger_heads().await?.into_iter().collect();
        for ((account, index), generation) in loaded.iter().zip(generations) {
            if heads.get(account).is_some_and(|h| *h > index.applied_seq()) {
                self.read_changes(*account, index).await?;
            }
            if index.follow_done(generation) {
                let i = index.clone();
                let _ = tokio::task::spawn_blocking(move || i.fold()).await;
            }
        }
        self.health().last_follow = Some(Instant::now());
        Ok(())
    }

    /// Follows one account now (after a bulk write).
    async fn follow_one(
        &self,
        account: AccountId,
        index: &Arc<AccountIndex>,
    ) -> Result<(), StoreError> {
        let _one = self.follow_lock.lock().await;
        let generation = index.follow_started();
        self.read_changes(account, index).await?;
        if index.follow_done(generation) {
            let i = index.clone();
            let _ = tokio::task::spawn_blocking(move || i.fold()).await;
        }
        Ok(())
    }

    async fn read_changes(
        &self,
        account: AccountId,
        index: &AccountIndex,
    ) -> Result<(), StoreError> {
        loop {
            let changes = self
                .store
                .changes_after(account, index.applied_seq(), FOLLOW_PAGE)
                .await?;
            let events: Vec<IndexEvent> = changes
                .iter()
                .map(|c| IndexEvent {
                    seq: c.seq,
                    key: c.key,
                    kind: c.kind,
                    source: c.source,
                    at: c.at,
                })
                .collect();
            index.apply_followed(&events);
            if (changes.len() as i64) < FOLLOW_PAGE {
                return Ok(());
            }
        }
    }

    // --- metrics ---------------------------------------------------------------------------

    /// Repairs the self-check made so far (0 when the index kept every rule).
    pub fn repairs(&self) -> u64 {
        self.repairs.load(Ordering::Relaxed)
    }

    /// What the loaded indexes hold: (accounts loaded, opted-out numbers, heap bytes).
    pub fn index_memory(&self) -> (usize, usize, usize) {
        let (mut ready, mut numbers, mut bytes) = (0usize, 0usize, 0usize);
        for (_, i) in self.loaded() {
            if i.is_ready() {
                ready += 1;
                numbers += i.len();
                bytes += i.heap_bytes();
            }
        }
        (ready, numbers, bytes)
    }

    /// The index's figures in Prometheus text.
    pub fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write;
        let (ready, numbers, bytes) = self.index_memory();
        let r = self.readiness();
        let _ = write!(
            out,
            "# HELP stoplist_index_accounts Accounts whose opt-out index this instance holds, by state.\n\
             # TYPE stoplist_index_accounts gauge\n\
             stoplist_index_accounts{{state=\"loaded\"}} {ready}\n\
             stoplist_index_accounts{{state=\"loading\"}} {}\n\
             # HELP stoplist_index_numbers Opted-out numbers held in memory.\n\
             # TYPE stoplist_index_numbers gauge\n\
             stoplist_index_numbers {numbers}\n\
             # HELP stoplist_index_bytes Heap bytes the opt-out indexes hold.\n\
             # TYPE stoplist_index_bytes gauge\n\
             stoplist_index_bytes {bytes}\n\
             # HELP stoplist_index_follow_age_seconds Seconds since the ledger was last followed to its end.\n\
             # TYPE stoplist_index_follow_age_seconds gauge\n\
             stoplist_index_follow_age_seconds {}\n\
             # HELP stoplist_index_self_checks_total Accounts compared with the store by the self-check.\n\
             # TYPE stoplist_index_self_checks_total counter\n\
             stoplist_index_self_checks_total {}\n\
             # HELP stoplist_index_repairs_total Numbers the self-check found wrong in the index and repaired (0 unless a rule was broken).\n\
             # TYPE stoplist_index_repairs_total counter\n\
             stoplist_index_repairs_total {}\n",
            r.loading,
            r.since_follow_ms.map_or(-1.0, |ms| ms as f64 / 1000.0),
            self.self_checks.load(Ordering::Relaxed),
            self.repairs(),
        );
    }
}

/// A view of one account's list in which every key is answered truthfully from memory (see
/// [`OptOuts::view`]).
pub struct IndexView {
    index: Arc<AccountIndex>,
    /// The database's answer for the keys the index was unsure of.
    overrides: KeyMap<Option<Entry>>,
}

impl IndexView {
    /// Whether the key is opted out, since when and why.
    pub fn get(&self, key: u64) -> Option<Entry> {
        match self.overrides.get(&key) {
            Some(e) => *e,
            None => self.index.settled(key),
        }
    }

    /// Opted-out numbers in the account's list (for sizing sets).
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One result of a bulk check, borrowing the input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum CheckResult<'a> {
    Valid {
        input: &'a str,
        number: PhoneNumber,
        opted_out: bool,
    },
    Invalid {
        input: &'a str,
        invalid: &'static str,
        reason: String,
    },
}

/// Checks many numbers at once, in order, with `listed` telling whether a key is opted out
/// (CPU work: run large batches on a blocking thread).
pub fn check<'a, S: AsRef<str>>(
    listed: impl Fn(u64) -> bool,
    region: Region,
    inputs: &'a [S],
) -> Vec<CheckResult<'a>> {
    inputs
        .iter()
        .map(|raw| {
            let input = raw.as_ref();
            match PhoneNumber::parse(input, region) {
                Ok(number) => {
                    let opted_out = listed(number.as_u64());
                    CheckResult::Valid {
                        input,
                        number,
                        opted_out,
                    }
                }
                Err(e) => CheckResult::Invalid {
                    input,
                    invalid: e.code(),
                    reason: e.to_string(),
                },
            }
        })
        .collect()
}

/// Inputs below which a bulk check runs on one thread.
const PARALLEL_FROM: usize = 20_000;

/// Inputs per piece of a bulk check's answer (see [`check_json`]): about 4 MB of JSON at some
/// 60 bytes a result, so that an answer is held a piece at a time, never whole (a million
/// results were about 60 MB, held twice while the parts were joined).
pub const CHECK_PIECE: usize = 65_536;

/// [`check()`] written straight to JSON (`{"results":[…]}`), handed to `emit` in order in
/// pieces: the opening, the results of up to [`CHECK_PIECE`] inputs at a time, the closing.
/// Within a piece the inputs are split over the machine's cores: each part is parsed, looked
/// up and serialized on a thread of its own and the parts joined in order (on 2 cores a
/// million numbers took about half the time of one thread: docs/benchmarks.md, session 7).
/// Stops early, without error, as soon as `emit` returns false (its reader has gone).
pub fn check_json<S: AsRef<str> + Sync>(
    listed: &(impl Fn(u64) -> bool + Sync),
    region: Region,
    inputs: &[S],
    mut emit: impl FnMut(Vec<u8>) -> bool,
) -> Result<(), serde_json::Error> {
    let part = |inputs: &[S]| -> Result<Vec<u8>, serde_json::Error> {
        let mut out = Vec::with_capacity(inputs.len() * 64);
        for (i, r) in check(listed, region, inputs).iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            serde_json::to_writer(&mut out, r)?;
        }
        Ok(out)
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    if !emit(b"{\"results\":[".to_vec()) {
        return Ok(());
    }
    for (n, piece) in inputs.chunks(CHECK_PIECE).enumerate() {
        let parts: Vec<Vec<u8>> = if threads < 2 || piece.len() < PARALLEL_FROM {
            vec![part(piece)?]
        } else {
            let size = piece.len().div_ceil(threads);
            std::thread::scope(|scope| {
                let running: Vec<_> = piece
                    .chunks(size)
                    .map(|c| scope.spawn(move || part(c)))
                    .collect();
                running
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                    .collect::<Result<Vec<_>, _>>()
            })?
        };
        let mut json =
            Vec::with_capacity(1 + parts.iter().map(Vec::len).sum::<usize>() + parts.len());
        if n > 0 {
            json.push(b',');
        }
        for (i, p) in parts.iter().filter(|p| !p.is_empty()).enumerate() {
            if i > 0 {
                json.push(b',');
            }
            json.extend_from_slice(p);
        }
        if !emit(json) {
            return Ok(());
        }
    }
    emit(b"]}".to_vec());
    Ok(())
}

/// Parses many numbers (for a bulk check answered from the database).
pub fn parse_all<S: AsRef<str>>(
    region: Region,
    inputs: &[S],
) -> Vec<Result<PhoneNumber, PhoneError>> {
    inputs
        .iter()
        .map(|raw| PhoneNumber::parse(raw.as_ref(), region))
        .collect()
}

/// What a search box's text means for a list of numbers: a whole number (any written form)
/// becomes its E.164 digits; a partial one keeps its digits, less a leading national `0`
/// (so "0412 999" finds +61412999…). `None`: the text holds no digit at all.
pub fn number_digits(q: &str, region: Region) -> Option<String> {
    if let Ok(n) = PhoneNumber::parse(q, region) {
        return Some(n.as_str().trim_start_matches('+').to_owned());
    }
    let digits: String = q.chars().filter(char::is_ascii_digit).collect();
    let trimmed = if q.trim_start().starts_with('0') && digits.len() > 1 {
        &digits[1..]
    } else {
        &digits[..]
    };
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}
