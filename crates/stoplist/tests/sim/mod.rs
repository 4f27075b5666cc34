//! The fault simulation's engine: set-up, the seeded plan of each step, running a step's
//! operations at once, the bookkeeping of what was acknowledged when, and the report of the
//! first failed check. The checks themselves are in `checks.rs`.
//!
//! A step is 1 to 4 operations started together (so that they interleave on the same few
//! numbers), then every check. The plan is drawn from one seeded RNG and depends on nothing
//! the servers answer except through the database state read before the step (the settings)
//! and the bookkeeping of earlier answers (which replies exist to redeliver, which unclear
//! replies wait for review): a seed replays the same choices as long as the servers answer
//! the same way; the timing of each run is the machine's.
//!
//! Plan rules that keep the checks exact rather than approximate:
//! - at most one restart or kill per step, and at most one import per group per step;
//! - no settings change in a step with an import, and, while "Automatically delete Opt Outs
//!   from Contacts" is on, no operation that may delete contacts (a STOP or unclear reply of
//!   account A, a confirmed review) in a step with an import: the import's reader must see
//!   the group change only by the import, so that any third count is a half-import.

pub mod checks;
pub mod db;
pub mod fleet;
pub mod ops;
pub mod rng;

use db::Db;
use fleet::{Launch, Slot};
use ops::{Ctx, Done, GroupRole, Kind, Op, POOL, Setting, Text, pool_number};
use rng::Rng;
use serde_json::json;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};
use stoplist_domain::AccountId;
use stoplist_domain::ledger::Digest32;
use stoplist_domain::settings::AccountSettings;
use stoplist_providers::fake::FakeProvider;
use stoplist_store::Store;

/// The seed CI runs (so that CI makes the same choices every time).
pub const DEFAULT_SEED: u64 = 0x5EED_2026_0001;
/// Steps per backend by default: measured to keep SQLite and PostgreSQL together well under
/// three minutes in a debug build on the two-core CI machine (see `docs/benchmarks.md`).
pub const DEFAULT_STEPS: u64 = 1200;
/// The servers' `index_follow_ms` in the simulation.
pub const FOLLOW_MS: u64 = 100;
/// What "within `index_follow_ms`" allows on top, for a tick delayed on a loaded machine (the
/// longest wait seen was 138 ms after a step, on PostgreSQL, with a release build running).
pub const FOLLOW_MARGIN_MS: u64 = 400;
/// Imports into one bulk group before the next goes into a fresh one.
pub const BULK_IMPORTS_A_GROUP: usize = 100;
/// How long after a lost request (no answer) its effect may still land, for the bookkeeping
/// of lifts: the process that took it is dead or answering others by then.
const LOST_SLACK_MS: i64 = 1000;

/// Which database the servers share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// One instance on an SQLite file (restarted and killed in place).
    Sqlite,
    /// Two instances on one PostgreSQL database.
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    fn instances(self) -> usize {
        match self {
            Backend::Sqlite => 1,
            Backend::Postgres => 2,
        }
    }
}

/// What a run does, from the environment.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub backend: Backend,
    pub seed: u64,
    pub steps: u64,
    /// Operation kinds left out (`STOPLIST_SIM_WITHOUT=redelivery,kill`), to look past a
    /// known failure.
    pub without: Vec<String>,
    pub test_name: &'static str,
}

impl RunConfig {
    /// `STOPLIST_SIM_SEED` (decimal or 0x-hex; `random` for a fresh one),
    /// `STOPLIST_SIM_STEPS`, `STOPLIST_SIM_WITHOUT`.
    pub fn from_env(backend: Backend, test_name: &'static str) -> RunConfig {
        let seed = match std::env::var("STOPLIST_SIM_SEED").ok().as_deref() {
            None | Some("") => DEFAULT_SEED,
            Some("random") => Rng::fresh_seed(),
            Some(s) => {
                parse_u64(s).unwrap_or_else(|| panic!("STOPLIST_SIM_SEED={s:?} is not a number"))
            }
        };
        let steps = match std::env::var("STOPLIST_SIM_STEPS").ok().as_deref() {
            None | Some("") => DEFAULT_STEPS,
            Some(s) => {
                parse_u64(s).unwrap_or_else(|| panic!("STOPLIST_SIM_STEPS={s:?} is not a number"))
            }
        };
        let without = std::env::var("STOPLIST_SIM_WITHOUT")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        RunConfig {
            backend,
            seed,
            steps,
            without,
            test_name,
        }
    }
}

fn parse_u64(s: &str) -> Option<u64> {
    let s = s.trim().replace('_', "");
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// A failed check: which, about what, and what was seen.
#[derive(Debug)]
pub struct Failure {
    pub check: &'static str,
    /// The account (0: A, 1: B) and pool numbers the failure is about, for the trace.
    pub acct: usize,
    pub numbers: Vec<usize>,
    pub message: String,
}

impl Failure {
    pub fn new(check: &'static str, message: String) -> Failure {
        Failure {
            check,
            acct: 0,
            numbers: vec![],
            message,
        }
    }

    pub fn about(mut self, acct: usize, numbers: impl IntoIterator<Item = usize>) -> Failure {
        self.acct = acct;
        self.numbers = numbers.into_iter().collect();
        self
    }
}

/// An acknowledged opt-out of a pool number of account A: when the acknowledging request
/// started and when its 2xx arrived (the opt-out was committed in between; a lift that ended
/// after `start` may have come after it).
#[derive(Debug, Clone)]
pub struct Ack {
    pub start: i64,
    pub at: i64,
    pub seq: u64,
}

/// An operation that may have lifted a pool number's opt-out, from its request to its answer
/// (`i64::MAX` when nobody can say when it ended).
#[derive(Debug, Clone)]
pub struct Lift {
    pub start: i64,
    pub end: i64,
}

/// A reply the simulation sent (its first delivery).
#[derive(Debug, Clone)]
pub struct SentReply {
    pub acct: usize,
    pub id: String,
    pub number: usize,
    pub text: Text,
}

/// An import into the bulk group and its fillers, checked again at the end.
#[derive(Debug, Clone)]
pub struct BulkImport {
    pub group: i64,
    pub seq: u64,
    pub first: u64,
    pub count: u64,
    /// `Some(true)`: acknowledged done; `Some(false)`: acknowledged failed; `None`: lost.
    pub done: Option<bool>,
}

/// Counters for the summary.
#[derive(Debug, Default)]
pub struct Stats {
    pub ops: HashMap<&'static str, u64>,
    pub acked: u64,
    pub lost: u64,
    pub answers_checked: u64,
    pub polls_waited: u64,
    /// The first few answers that were wrong for a while and then right within the bound.
    pub waited_for: Vec<String>,
    /// The longest such wait, from the step's end (ms).
    pub longest_wait_ms: i64,
    pub campaign_messages_checked: u64,
    /// Campaign messages whose number's opt-out was acknowledged after their claim but before
    /// they arrived (not counted against the server: they raced its check).
    pub campaign_messages_raced: u64,
    pub reader_counts: u64,
    /// Imports into the bulk group whose answer a fault took (their fillers checked all or none).
    pub imports_without_answer: u64,
    pub repairs_metric_seen: bool,
}

/// One run of the simulation against one backend.
pub struct Sim {
    pub cfg: RunConfig,
    rng: Rng,
    /// Choices the checks make (which extra numbers to ask about), apart from the plan's.
    check_rng: Rng,
    pub ctx: Arc<Ctx>,
    pub store: Arc<dyn Store>,
    pub db: Db,
    pub fake: FakeProvider,
    pub accounts: Vec<AccountId>,
    pub log_dir: std::path::PathBuf,
    started: Instant,
    t0: i64,
    step: u64,
    next_seq: u64,
    next_reply: u64,
    next_campaign: u64,
    next_filler: u64,
    /// Every reply id sent (first delivery), for redeliveries.
    pub replies: Vec<SentReply>,
    /// Reply ids (account, id) that got a 2xx at least once.
    pub acked_replies: HashSet<(usize, String)>,
    /// Account A's acknowledged opt-outs, per pool number.
    pub acks: Vec<Vec<Ack>>,
    /// Account A's reply ids whose answer said the number is opted out, and where their
    /// acknowledgement is in `acks` (a reply id's is its earliest 2xx: a redelivery answers
    /// what the first delivery did, which may since have been undone).
    pub reply_acks: HashMap<String, (usize, usize)>,
    /// When the first delivery of each reply id started (answered or not): a redelivery's
    /// answer tells what that delivery did, which may have committed from then on.
    pub reply_first_start: HashMap<String, i64>,
    /// Account A's possible lifts, per pool number.
    pub lifts: Vec<Vec<Lift>>,
    /// Unclear replies waiting for review: (server id, pool number).
    pub pending_reviews: Vec<(i64, usize)>,
    reviewed: HashSet<i64>,
    /// Campaign marker `k` → campaign id.
    pub campaigns: HashMap<u64, i64>,
    pub bulk_imports: Vec<BulkImport>,
    /// The bulk group imports go into now, and how many it has had.
    bulk_group: (i64, usize),
    /// How many of the fake provider's messages have been checked.
    pub fake_seen: usize,
    /// Per account: the ledger verified so far (seq, head).
    pub ledger: Vec<(i64, Digest32)>,
    /// Per account and pool number: one line per operation that touched it.
    trace: Vec<Vec<Vec<String>>>,
    /// Every operation, one line each, for failures about no number in particular.
    log: Vec<String>,
    pub stats: Stats,
}

/// Runs the simulation for `backend`; panics with a reproduction on the first failed check.
pub async fn run(backend: Backend, test_name: &'static str) {
    let cfg = RunConfig::from_env(backend, test_name);
    let url = match backend {
        Backend::Sqlite => stoplist_store::testing::sqlite_url(),
        Backend::Postgres => {
            let Some(admin) = stoplist_store::testing::pg_admin_url() else {
                eprintln!(
                    "{test_name}: STOPLIST_TEST_PG_URL is not set, so there is no PostgreSQL to run two instances on; nothing was checked"
                );
                return;
            };
            stoplist_store::testing::pg_fresh_url(&admin)
                .await
                .expect("a fresh PostgreSQL database")
        }
    };
    eprintln!(
        "simulation {}: seed {:#x}, {} steps (STOPLIST_SIM_SEED / STOPLIST_SIM_STEPS){}",
        backend.name(),
        cfg.seed,
        cfg.steps,
        if cfg.without.is_empty() {
            String::new()
        } else {
            format!(", without {}", cfg.without.join(","))
        }
    );
    let mut sim = Sim::setup(cfg, &url).await;
    let tenth = sim.cfg.steps / 10;
    for step in 0..sim.cfg.steps {
        sim.step = step;
        if sim.cfg.steps >= 10_000 && step > 0 && step % tenth == 0 {
            eprintln!(
                "simulation {}: step {step} of {}, {:.0} s",
                backend.name(),
                sim.cfg.steps,
                sim.started.elapsed().as_secs_f64()
            );
        }
        if let Err(f) = sim.run_step(step).await {
            panic!("{}", sim.report(&f));
        }
    }
    if let Err(f) = sim.finish().await {
        panic!("{}", sim.report(&f));
    }
    eprintln!("{}", sim.summary());
    // The servers' logs are kept only for a failure.
    drop(sim.ctx);
    let _ = std::fs::remove_dir_all(&sim.log_dir);
}

impl Sim {
    async fn setup(cfg: RunConfig, url: &str) -> Sim {
        let (store, db) = Db::open(url).await;
        let mut accounts = Vec::new();
        let mut keys = Vec::new();
        let mut tokens = Vec::new();
        for name in ["sim-a", "sim-b"] {
            let a = stoplist::accounts::create_account(store.as_ref(), name)
                .await
                .expect("create an account");
            let (_, key) = stoplist::accounts::create_api_key(
                store.as_ref(),
                a.id,
                "sim",
                stoplist_domain::Role::Owner,
                None,
            )
            .await
            .expect("create an API key");
            accounts.push(a.id);
            keys.push(key);
            tokens.push(a.webhook_token);
        }
        let log_dir = std::env::temp_dir().join(format!(
            "stoplist-sim-{}-{}-{:x}",
            cfg.backend.name(),
            std::process::id(),
            cfg.seed
        ));
        std::fs::create_dir_all(&log_dir).expect("a directory for the logs");
        let config_file = log_dir.join("stoplist.toml");
        std::fs::write(
            &config_file,
            format!(
                "# The simulation's servers: the index follows the ledger every {FOLLOW_MS} ms and\n\
                 # is compared with the store every second (its repair count must stay 0),\n\
                 # dispatchers poll often and send without pacing, a killed instance's claims\n\
                 # are settled within 3 seconds; the fake provider listens on http://127.0.0.1.\n\
                 allow_private_urls = true\n\
                 index_follow_ms = {FOLLOW_MS}\nindex_check_seconds = 1\ndispatch_poll_ms = 20\n\
                 default_send_rate = 0\nimport_stale_seconds = 30\ninstance_lease_seconds = 3\n"
            ),
        )
        .expect("write the config file");
        let launch = Launch {
            database_url: url.to_owned(),
            config_file,
            log_dir: log_dir.clone(),
            pid_file: std::env::var_os("STOPLIST_SIM_PID_FILE").map(Into::into),
        };
        let mut slots = Vec::new();
        for i in 0..cfg.backend.instances() {
            let slot = Arc::new(Slot::new(i, launch.clone()).expect("a free port"));
            // One at a time: the first start of a fresh database creates its administrator.
            let s = slot.clone();
            tokio::task::spawn_blocking(move || s.start())
                .await
                .expect("start")
                .unwrap_or_else(|e| panic!("{e}"));
            slots.push(slot);
        }
        let fake = FakeProvider::start().await;
        // A slow provider keeps claimed messages in flight long enough for a SIGTERM to land
        // among them.
        fake.answer_after(Duration::from_millis(20));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            // A fresh connection per request: a pooled one may belong to a process that was
            // killed, and its error would be charged to the operation.
            .pool_max_idle_per_host(0)
            .build()
            .expect("an HTTP client");
        let base = slots[0].base();
        let c = fake.credentials();
        let (s, b) = send_json(
            http.put(format!("{base}/api/v1/settings/connector"))
                .bearer_auth(&keys[0])
                .json(
                    &json!({"kind": "twilio", "account": c.twilio_sid, "secret": c.twilio_token,
                    "base_url": fake.base_url(), "timeout_seconds": 5}),
                ),
        )
        .await;
        assert_eq!(s, 200, "connector: {b}");
        let mut groups = Vec::new();
        for name in ["sim campaign", "sim bulk"] {
            let (s, b) = send_json(
                http.post(format!("{base}/api/v1/groups"))
                    .bearer_auth(&keys[0])
                    .json(&json!({ "name": name })),
            )
            .await;
            assert_eq!(s, 201, "group: {b}");
            groups.push(b["id"].as_i64().expect("group id"));
        }
        let ctx = Arc::new(Ctx {
            http,
            slots,
            keys,
            tokens,
            campaign_group: groups[0],
            db: db.clone(),
        });
        let seed = cfg.seed;
        Sim {
            cfg,
            rng: Rng::new(seed),
            check_rng: Rng::new(seed ^ 0xC4EC_C4EC_C4EC_C4EC),
            ctx,
            store,
            db,
            fake,
            ledger: vec![(0, Digest32::GENESIS); accounts.len()],
            trace: vec![vec![Vec::new(); POOL]; accounts.len()],
            accounts,
            log_dir,
            started: Instant::now(),
            t0: stoplist::now_ms(),
            step: 0,
            next_seq: 0,
            next_reply: 0,
            next_campaign: 0,
            next_filler: 0,
            replies: Vec::new(),
            acked_replies: HashSet::new(),
            reply_acks: HashMap::new(),
            reply_first_start: HashMap::new(),
            acks: vec![Vec::new(); POOL],
            lifts: vec![Vec::new(); POOL],
            pending_reviews: Vec::new(),
            reviewed: HashSet::new(),
            campaigns: HashMap::new(),
            bulk_imports: Vec::new(),
            bulk_group: (groups[1], 0),
            fake_seen: 0,
            log: Vec::new(),
            stats: Stats::default(),
        }
    }

    /// Whether `STOPLIST_SIM_WITHOUT` leaves `k` in: neither its kind nor, for a reply,
    /// its text (`stop`, `start`, `help`, `unclear`, `other`) is named there.
    fn allowed(&self, k: &Kind) -> bool {
        let text = match k {
            Kind::Reply { text, .. } => Some(text.name()),
            _ => None,
        };
        !self
            .cfg
            .without
            .iter()
            .any(|w| w == k.name() || Some(w.as_str()) == text)
    }

    /// Draws one step's operations.
    fn plan(&mut self, step: u64, settings: &AccountSettings) -> Vec<Op> {
        const TEMPLATES: [(&str, u64); 13] = [
            ("reply", 30),
            ("redelivery", 10),
            ("pair", 5),
            ("reply-b", 3),
            ("add", 8),
            ("remove", 7),
            ("upload", 4),
            ("import", 8),
            ("review", 5),
            ("campaign", 5),
            ("settings", 3),
            ("restart", 1),
            ("kill", 1),
        ];
        let wanted = [1, 2, 3, 4][self.rng.weighted(&[35, 30, 20, 15])];
        let weights: Vec<u64> = TEMPLATES.iter().map(|t| t.1).collect();
        let slots = self.ctx.slots.len();
        let mut kinds: Vec<(usize, Kind)> = Vec::new();
        let mut hot: Vec<usize> = Vec::new();
        let mut tries = 0;
        while kinds.len() < wanted && tries < wanted * 6 {
            tries += 1;
            let template = TEMPLATES[self.rng.weighted(&weights)].0;
            let slot = self.rng.index(slots);
            let drawn: Vec<(usize, Kind)> = match template {
                "reply" => {
                    let text = [
                        Text::Stop,
                        Text::Start,
                        Text::Help,
                        Text::Unclear,
                        Text::Other,
                    ][self.rng.weighted(&[35, 20, 8, 22, 15])];
                    let n = pick(&mut self.rng, &mut hot);
                    vec![(slot, self.new_reply(0, n, text))]
                }
                "pair" => {
                    // A redelivery that arrives before the first delivery commits.
                    let text =
                        [Text::Stop, Text::Start, Text::Unclear][self.rng.weighted(&[60, 20, 20])];
                    let n = pick(&mut self.rng, &mut hot);
                    let first = self.new_reply(0, n, text);
                    let mut again = first.clone();
                    if let Kind::Reply { redelivery, .. } = &mut again {
                        *redelivery = true;
                    }
                    vec![(slot, first), (self.rng.index(slots), again)]
                }
                "reply-b" => {
                    let text = [Text::Stop, Text::Start][self.rng.index(2)];
                    let n = pick(&mut self.rng, &mut hot);
                    vec![(slot, self.new_reply(1, n, text))]
                }
                "redelivery" if !self.replies.is_empty() => {
                    let len = self.replies.len();
                    let i = if self.rng.chance(70) {
                        len - 1 - self.rng.index(len.min(20))
                    } else {
                        self.rng.index(len)
                    };
                    let r = self.replies[i].clone();
                    vec![(
                        slot,
                        Kind::Reply {
                            acct: r.acct,
                            id: r.id,
                            number: r.number,
                            text: r.text,
                            redelivery: true,
                        },
                    )]
                }
                "add" => vec![(
                    slot,
                    Kind::Add {
                        number: pick(&mut self.rng, &mut hot),
                        manual: self.rng.chance(30),
                    },
                )],
                "remove" => vec![(
                    slot,
                    Kind::Remove {
                        number: pick(&mut self.rng, &mut hot),
                    },
                )],
                "upload" => {
                    let k = self.rng.between(1, 4);
                    let numbers = distinct(&mut self.rng, k as usize, &mut hot);
                    vec![(slot, Kind::Upload { numbers })]
                }
                "import" => {
                    let group = if self.rng.chance(50) {
                        GroupRole::Campaign
                    } else {
                        GroupRole::Bulk
                    };
                    let k = self.rng.between(1, 8);
                    let numbers = distinct(&mut self.rng, k as usize, &mut hot);
                    let fillers = match group {
                        GroupRole::Campaign => 0,
                        GroupRole::Bulk if self.rng.chance(5) => 1000,
                        GroupRole::Bulk => self.rng.between(1, 150),
                    };
                    let reset = self.rng.chance(30);
                    let gid = match group {
                        GroupRole::Campaign => self.ctx.campaign_group,
                        GroupRole::Bulk => self.bulk_group.0,
                    };
                    vec![(
                        slot,
                        Kind::Import {
                            group,
                            gid,
                            numbers,
                            first_filler: self.next_filler,
                            fillers,
                            reset,
                        },
                    )]
                }
                "review" if !self.pending_reviews.is_empty() => {
                    let (reply, n) =
                        self.pending_reviews[self.rng.index(self.pending_reviews.len())];
                    hot.push(n);
                    vec![(
                        slot,
                        Kind::Review {
                            reply,
                            number: n,
                            confirm: self.rng.chance(50),
                        },
                    )]
                }
                "campaign" => vec![(
                    slot,
                    Kind::Campaign {
                        k: self.next_campaign,
                    },
                )],
                "settings" => {
                    let setting = [
                        Setting::EnforceGlobal,
                        Setting::AutoDelete,
                        Setting::UnclearCounts,
                    ][self.rng.index(3)];
                    let now = match setting {
                        Setting::EnforceGlobal => settings.enforce_global_optouts,
                        Setting::AutoDelete => settings.auto_delete_optouts,
                        Setting::UnclearCounts => settings.unclear_counts_as_optout,
                    };
                    vec![(slot, Kind::Toggle { setting, on: !now })]
                }
                "restart" => vec![(
                    slot,
                    Kind::Restart {
                        after_ms: self.rng.below(40),
                    },
                )],
                "kill" => vec![(
                    slot,
                    Kind::Kill {
                        after_ms: self.rng.below(40),
                    },
                )],
                _ => vec![],
            };
            if drawn.is_empty()
                || !drawn
                    .iter()
                    .all(|(_, k)| self.allowed(k) && fits(k, &kinds, settings))
            {
                continue;
            }
            for (_, k) in &drawn {
                match k {
                    Kind::Reply {
                        acct,
                        id,
                        number,
                        text,
                        redelivery: false,
                    } => {
                        self.next_reply += 1;
                        self.replies.push(SentReply {
                            acct: *acct,
                            id: id.clone(),
                            number: *number,
                            text: *text,
                        });
                    }
                    Kind::Import { fillers, group, .. } => {
                        self.next_filler += fillers;
                        if *group == GroupRole::Bulk {
                            self.bulk_group.1 += 1;
                        }
                    }
                    Kind::Campaign { .. } => self.next_campaign += 1,
                    _ => {}
                }
            }
            kinds.extend(drawn);
        }
        kinds
            .into_iter()
            .map(|(slot, kind)| {
                self.next_seq += 1;
                Op {
                    seq: self.next_seq,
                    step,
                    slot,
                    kind,
                }
            })
            .collect()
    }

    fn new_reply(&self, acct: usize, number: usize, text: Text) -> Kind {
        Kind::Reply {
            acct,
            id: format!("sim-{}", self.next_reply),
            number,
            text,
            redelivery: false,
        }
    }

    /// One step: plan, snapshot what the checks compare against, run, record, check.
    async fn run_step(&mut self, step: u64) -> Result<(), Failure> {
        let settings = self
            .store
            .settings(self.accounts[0])
            .await
            .expect("read the settings");
        self.rotate_bulk_group().await;
        let plan = self.plan(step, &settings);
        let mut before_counts = HashMap::new();
        for op in &plan {
            if let Kind::Import { gid, .. } = op.kind {
                before_counts.insert(op.seq, self.db.group_count(gid).await.expect("count"));
            }
        }
        let unclear_in_step = plan.iter().any(|op| {
            matches!(
                op.kind,
                Kind::Reply {
                    acct: 0,
                    text: Text::Unclear,
                    ..
                }
            )
        });
        let contacts_before = if unclear_in_step {
            Some(
                self.db
                    .contacts_by_number(self.accounts[0].0)
                    .await
                    .expect("contacts"),
            )
        } else {
            None
        };
        let tasks: Vec<_> = plan
            .into_iter()
            .map(|op| {
                let ctx = self.ctx.clone();
                tokio::spawn(async move { ops::run(&ctx, op).await })
            })
            .collect();
        let mut dones = Vec::new();
        for t in tasks {
            match t.await {
                Ok(d) => dones.push(d),
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            }
        }
        let step_end = stoplist::now_ms();
        dones.sort_by_key(|d| d.op.seq);
        for d in &dones {
            self.record(d);
        }
        self.check_stops(&dones)?;
        let faulted = dones
            .iter()
            .any(|d| matches!(d.op.kind, Kind::Restart { .. } | Kind::Kill { .. }));
        self.check_replies_stored(&dones, faulted || step % 100 == 99)
            .await?;
        self.check_ledger(step % 100 == 99).await?;
        self.check_imports(&dones, &before_counts).await?;
        if let Some(before) = contacts_before {
            self.check_provisional(&dones, &before).await?;
        }
        self.check_campaign_messages().await?;
        self.check_answers(&dones, step_end).await?;
        if step % 100 == 99 {
            self.check_repairs_metric().await?;
        }
        Ok(())
    }

    /// A fresh bulk group once the current one has had its share of imports.
    async fn rotate_bulk_group(&mut self) {
        if self.bulk_group.1 < BULK_IMPORTS_A_GROUP {
            return;
        }
        let base = self.ctx.slots[0].base();
        let (s, b) = send_json(
            self.ctx
                .http
                .post(format!("{base}/api/v1/groups"))
                .bearer_auth(&self.ctx.keys[0])
                .json(&json!({ "name": format!("sim bulk {}", self.step) })),
        )
        .await;
        assert_eq!(s, 201, "a new bulk group: {b}");
        self.bulk_group = (b["id"].as_i64().expect("group id"), 0);
    }

    /// Keeps what an answer tells about acknowledged opt-outs and possible lifts, and the trace.
    fn record(&mut self, d: &Done) {
        let o = &d.outcome;
        *self.stats.ops.entry(d.op.kind.name()).or_default() += 1;
        if o.ok() {
            self.stats.acked += 1;
        } else if !o.refused() {
            self.stats.lost += 1;
        }
        // A lift's interval: to its answer, or a while past the error that replaced it.
        let lift_end = match o {
            ops::Outcome::Answered { .. } => d.end,
            ops::Outcome::Lost { error } if error == "timed out" => i64::MAX,
            ops::Outcome::Lost { .. } => d.end + LOST_SLACK_MS,
        };
        let lift = Lift {
            start: d.start,
            end: lift_end,
        };
        let ack = Ack {
            start: d.start,
            at: d.end,
            seq: d.op.seq,
        };
        let body = o.body();
        let mut touched: Vec<(usize, usize)> = Vec::new();
        match &d.op.kind {
            Kind::Reply {
                acct,
                id,
                number,
                text,
                ..
            } => {
                touched.push((*acct, *number));
                let first_start = *self
                    .reply_first_start
                    .entry(id.clone())
                    .and_modify(|t| *t = (*t).min(d.start))
                    .or_insert(d.start);
                if o.ok() {
                    self.acked_replies.insert((*acct, id.clone()));
                    // A redelivery is answered with the stored reply's actions, a review's
                    // decision included; what the review did was acknowledged by the review
                    // (its own operation), not again by this answer.
                    let says_opted_out = body["actions"].as_array().is_some_and(|a| {
                        a.iter()
                            .take_while(|x| !x.as_str().is_some_and(|x| x.starts_with("review:")))
                            .any(|x| x == "opted_out" || x == "already_opted_out")
                    });
                    if *acct == 0 && says_opted_out {
                        match self.reply_acks.get(id) {
                            Some(&(n, i)) => {
                                let a = &mut self.acks[n][i];
                                a.start = a.start.min(ack.start);
                                if ack.at < a.at {
                                    a.at = ack.at;
                                    a.seq = ack.seq;
                                }
                            }
                            None => {
                                // A redelivery whose first delivery got no answer: the opt-out
                                // it reports may have committed since that delivery started,
                                // so any lift from then on may have come after it.
                                let ack = Ack {
                                    start: ack.start.min(first_start),
                                    ..ack.clone()
                                };
                                self.acks[*number].push(ack);
                                self.reply_acks
                                    .insert(id.clone(), (*number, self.acks[*number].len() - 1));
                            }
                        }
                    }
                    if *acct == 0
                        && body["classification"] == "unclear"
                        && let Some(rid) = body["id"].as_i64()
                        && !self.reviewed.contains(&rid)
                        && !self.pending_reviews.iter().any(|(r, _)| *r == rid)
                    {
                        self.pending_reviews.push((rid, *number));
                    }
                }
                if *acct == 0 && *text == Text::Start && !o.refused() {
                    self.lifts[*number].push(lift.clone());
                }
            }
            Kind::Add { number, .. } => {
                touched.push((0, *number));
                if o.ok() && body["opted_out"] == true {
                    self.acks[*number].push(ack.clone());
                }
            }
            Kind::Remove { number } => {
                touched.push((0, *number));
                if !o.refused() {
                    self.lifts[*number].push(lift.clone());
                }
            }
            Kind::Upload { numbers } => {
                for &n in numbers {
                    touched.push((0, n));
                    if o.ok() && body["status"] == "done" {
                        self.acks[n].push(ack.clone());
                    }
                }
            }
            Kind::Import {
                group,
                gid,
                numbers,
                first_filler,
                fillers,
                reset,
            } => {
                let failed = o.refused() || (o.ok() && body["status"] != "done");
                for &n in numbers {
                    touched.push((0, n));
                    if *reset && !failed {
                        self.lifts[n].push(lift.clone());
                    }
                }
                if *group == GroupRole::Bulk {
                    self.bulk_imports.push(BulkImport {
                        group: *gid,
                        seq: d.op.seq,
                        first: *first_filler,
                        count: *fillers,
                        done: checks::answered_done(o),
                    });
                }
            }
            Kind::Review {
                reply,
                number,
                confirm,
            } => {
                touched.push((0, *number));
                if let ops::Outcome::Answered { status, .. } = o
                    && (*status < 300 || *status == 409)
                {
                    self.reviewed.insert(*reply);
                    self.pending_reviews.retain(|(r, _)| r != reply);
                }
                if *confirm && o.ok() {
                    self.acks[*number].push(ack.clone());
                }
                if !*confirm && !o.refused() {
                    self.lifts[*number].push(lift.clone());
                }
            }
            Kind::Campaign { k } => {
                if let Some(id) = d.id {
                    self.campaigns.insert(*k, id);
                }
            }
            Kind::Toggle { .. } | Kind::Restart { .. } | Kind::Kill { .. } => {}
        }
        let line = format!(
            "step {} op {} [instance {}] {} → {} (at {}..{} ms)",
            d.op.step,
            d.op.seq,
            d.op.slot,
            describe(&d.op.kind),
            d.outcome.short(),
            d.start - self.t0,
            d.end - self.t0
        );
        for (acct, n) in touched {
            self.trace[acct][n].push(line.clone());
        }
        self.log.push(line);
    }

    /// The failure report: what failed, where, the operations that touched the number, and
    /// the command that replays the seed.
    pub fn report(&self, f: &Failure) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "\n=== SIMULATION FAILED: check {} ===", f.check);
        let _ = writeln!(
            out,
            "seed {:#x}, step {} (of {}), backend {} ({} instance{}), {:.1} s in",
            self.cfg.seed,
            self.step,
            self.cfg.steps,
            self.cfg.backend.name(),
            self.ctx.slots.len(),
            if self.ctx.slots.len() == 1 { "" } else { "s" },
            self.started.elapsed().as_secs_f64()
        );
        let _ = writeln!(out, "{}", f.message);
        if f.numbers.is_empty() {
            let _ = writeln!(out, "\nthe last operations:");
            for l in &self.log[self.log.len().saturating_sub(25)..] {
                let _ = writeln!(out, "  {l}");
            }
        }
        for &n in &f.numbers {
            let lines = &self.trace[f.acct][n];
            let _ = writeln!(
                out,
                "\noperations on {} (account {}), {} in all{}:",
                pool_number(n),
                ["A", "B"][f.acct],
                lines.len(),
                if lines.len() > 30 {
                    ", the last 30"
                } else {
                    ""
                }
            );
            for l in &lines[lines.len().saturating_sub(30)..] {
                let _ = writeln!(out, "  {l}");
            }
        }
        let _ = writeln!(out, "\nserver logs: {}", self.log_dir.display());
        let pg = if self.cfg.backend == Backend::Postgres {
            "STOPLIST_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/postgres "
        } else {
            ""
        };
        let without = if self.cfg.without.is_empty() {
            String::new()
        } else {
            format!("STOPLIST_SIM_WITHOUT={} ", self.cfg.without.join(","))
        };
        let _ = writeln!(
            out,
            "reproduce: {pg}{without}STOPLIST_SIM_SEED={:#x} STOPLIST_SIM_STEPS={} cargo nextest run -p stoplist --test simulation {}",
            self.cfg.seed,
            self.step + 1,
            self.cfg.test_name
        );
        out
    }

    fn summary(&self) -> String {
        let secs = self.started.elapsed().as_secs_f64();
        let mut kinds: Vec<_> = self.stats.ops.iter().collect();
        kinds.sort();
        let ops: u64 = self.stats.ops.values().sum();
        format!(
            "simulation {}: seed {:#x}, {} steps, {} operations ({}) in {:.1} s ({:.1} ms a step); \
             {} acknowledged, {} without an answer; {} answers checked ({} polls waited for a follower, \
             the longest {} ms after the step), \
             {} campaign messages checked ({} raced an acknowledgement), {} counts read during imports ({} bulk imports cut off by a fault); \
             index repair metric {}",
            self.cfg.backend.name(),
            self.cfg.seed,
            self.cfg.steps,
            ops,
            kinds
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect::<Vec<_>>()
                .join(", "),
            secs,
            secs * 1000.0 / self.cfg.steps.max(1) as f64,
            self.stats.acked,
            self.stats.lost,
            self.stats.answers_checked,
            self.stats.polls_waited,
            self.stats.longest_wait_ms,
            self.stats.campaign_messages_checked,
            self.stats.campaign_messages_raced,
            self.stats.reader_counts,
            self.stats.imports_without_answer,
            if self.stats.repairs_metric_seen {
                "0 throughout"
            } else {
                "absent (not checked)"
            }
        ) + &self
            .stats
            .waited_for
            .iter()
            .map(|w| format!("\n  waited for: {w}"))
            .collect::<String>()
    }

    /// After the last step: let the dispatchers finish what is queued, then check everything
    /// once more over the whole run.
    async fn finish(&mut self) -> Result<(), Failure> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let waiting = self.db.queued_messages().await.expect("queued messages");
            if waiting == 0 {
                break;
            }
            if Instant::now() > deadline {
                return Err(Failure::new(
                    "(b) no message is handed to a connector after its number's opt-out",
                    format!(
                        "{waiting} messages were still queued a minute after the last step: the dispatchers stopped sending"
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.check_campaign_messages().await?;
        self.check_replies_stored(&[], true).await?;
        self.check_ledger(true).await?;
        self.check_all_bulk_imports().await?;
        self.check_answers(&[], stoplist::now_ms()).await?;
        self.check_repairs_metric().await?;
        Ok(())
    }
}

/// Whether `k` may join the step's other operations (see the module doc).
fn fits(k: &Kind, others: &[(usize, Kind)], settings: &AccountSettings) -> bool {
    let is_import = |k: &Kind| matches!(k, Kind::Import { .. });
    let deletes = |k: &Kind| match k {
        Kind::Reply { acct: 0, text, .. } => text.may_opt_out(),
        Kind::Review { confirm, .. } => *confirm,
        _ => false,
    };
    match k {
        Kind::Restart { .. } | Kind::Kill { .. } => !others
            .iter()
            .any(|(_, o)| matches!(o, Kind::Restart { .. } | Kind::Kill { .. })),
        Kind::Import { group, .. } => others.iter().all(|(_, o)| match o {
            Kind::Import { group: g, .. } => g != group,
            Kind::Toggle { .. } => false,
            o => !(settings.auto_delete_optouts && deletes(o)),
        }),
        Kind::Toggle { .. } => !others.iter().any(|(_, o)| is_import(o)),
        k if deletes(k) && settings.auto_delete_optouts => {
            !others.iter().any(|(_, o)| is_import(o))
        }
        _ => true,
    }
}

/// A pool number: half the time one the step already uses (so that operations collide).
fn pick(rng: &mut Rng, hot: &mut Vec<usize>) -> usize {
    let n = if !hot.is_empty() && rng.chance(50) {
        hot[rng.index(hot.len())]
    } else {
        rng.index(POOL)
    };
    hot.push(n);
    n
}

/// `k` distinct pool numbers (fewer if the draws keep repeating).
fn distinct(rng: &mut Rng, k: usize, hot: &mut Vec<usize>) -> Vec<usize> {
    let mut set = BTreeSet::new();
    let mut tries = 0;
    while set.len() < k && tries < 4 * k {
        tries += 1;
        set.insert(pick(rng, hot));
    }
    set.into_iter().collect()
}

/// One operation, for a trace.
fn describe(k: &Kind) -> String {
    match k {
        Kind::Reply {
            acct,
            id,
            number,
            text,
            redelivery,
        } => format!(
            "{} {id} {:?} from {} to account {}",
            if *redelivery {
                "REDELIVERY of reply"
            } else {
                "reply"
            },
            text.body(),
            pool_number(*number),
            ["A", "B"][*acct]
        ),
        Kind::Add { number, manual } => format!(
            "API add {} (source {})",
            pool_number(*number),
            if *manual { "manual" } else { "api" }
        ),
        Kind::Remove { number } => format!("API remove {}", pool_number(*number)),
        Kind::Upload { numbers } => format!("upload of {}", list(numbers)),
        Kind::Import {
            group,
            numbers,
            fillers,
            reset,
            ..
        } => format!(
            "import into the {} group of {}{}{}",
            match group {
                GroupRole::Campaign => "campaign",
                GroupRole::Bulk => "bulk",
            },
            list(numbers),
            if *fillers > 0 {
                format!(" and {fillers} fillers")
            } else {
                String::new()
            },
            if *reset {
                " WITH reset"
            } else {
                " without reset"
            }
        ),
        Kind::Review {
            reply,
            number,
            confirm,
        } => format!(
            "review {} of reply {reply} from {}",
            if *confirm { "CONFIRM" } else { "DISMISS" },
            pool_number(*number)
        ),
        Kind::Campaign { k } => format!("campaign #{k} to the campaign group"),
        Kind::Toggle { setting, on } => format!("settings: {} = {on}", setting.field()),
        Kind::Restart { after_ms } => format!("RESTART (SIGTERM) after {after_ms} ms"),
        Kind::Kill { after_ms } => format!("KILL -9 after {after_ms} ms"),
    }
}

fn list(numbers: &[usize]) -> String {
    numbers
        .iter()
        .map(|&n| pool_number(n))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Sends a request whose answer must come (set-up).
async fn send_json(r: reqwest::RequestBuilder) -> (u16, serde_json::Value) {
    match ops::send(r).await {
        ops::Outcome::Answered { status, body } => (status, body),
        ops::Outcome::Lost { error } => panic!("set-up request failed: {error}"),
    }
}
