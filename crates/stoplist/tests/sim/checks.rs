//! The checks run after every step. Each compares what the servers answered or did with the
//! truth in the database or with what the simulation was told, and names the seed, the step
//! and the number when it fails (through `Sim::report`).
//!
//! - (a) every instance answers every number of the pool truly, in `GET /api/v1/optouts/{n}`
//!   (opted out or not, since when, from what source) and in the bulk check: at once where the
//!   instance is the only one that changed the number in the step (always, on the one SQLite
//!   instance) when the truth is "opted out" (the index's own rule: never "not opted out" for an
//!   opt-out this instance committed); otherwise within `index_follow_ms` of the step's end
//!   (plus a margin for a loaded machine), polling until then.
//! - (b) no campaign message reaches the provider after its number's opt-out was acknowledged:
//!   the time the fake provider received it against the time the 2xx arrived here (one clock,
//!   one machine). The server orders the two with its hand-over rule (a check before dispatch
//!   hands its message over within `HANDOVER_BOUND` of starting, and an opt-out whose number
//!   has a message being sent waits `HANDOVER_WAIT` before it is acknowledged). A message
//!   counts against an acknowledgement only if no operation that could have lifted the opt-out
//!   (a START reply, an API removal, an import with reset, a dismissed review; whether it
//!   succeeded or its answer was lost) overlapped or followed the acknowledgement before the
//!   message arrived. The claim time is kept in the report: an acknowledgement between the
//!   claim and the arrival is the race the hand-over rule closes.
//! - (c) every reply that got a 2xx is stored exactly once (by account, provider and provider
//!   message id), also after kill -9.
//! - (d) each account's ledger chain verifies: the new events every step, the whole chain
//!   (`stoplist::reports::evidence::verify_ledger`, what `stoplist verify-ledger` runs) every
//!   100 steps and at the end.
//! - (e) a reader polling a group while an import runs sees only the count before or the count
//!   after; an import's filler rows are in the group all or none (none if it failed or its
//!   process was killed before it committed, all if it answered done).
//! - (f) an unclear reply (a provisional opt-out) deletes no contact (SPEC 3.6).
//! - (g) a SIGTERM stops the server within the deadline and leaves no message it claimed
//!   unsent and unrecorded (SPEC 4).
//! - every 100 steps and at the end, `stoplist_index_repairs_total` in each instance's
//!   `/metrics` is 0 (skipped while the metric does not exist).

use super::ops::{
    Done, GroupRole, Kind, Outcome, POOL, Text, filler_number, national, pool_index, pool_number,
};
use super::{Backend, BulkImport, FOLLOW_MARGIN_MS, FOLLOW_MS, Failure, Sim};
use serde_json::json;
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, UNIX_EPOCH};

pub const A: &str = "(a) every committed opt-out is answered truly by every instance";
pub const B: &str =
    "(b) no campaign message is handed to a connector after its number's opt-out was acknowledged";
pub const C: &str = "(c) every acknowledged reply is stored exactly once";
pub const D: &str = "(d) the ledger verifies";
pub const E: &str = "(e) no reader ever sees a group half-imported";
pub const F: &str = "(f) a provisional opt-out (unclear reply) changes no contact";
pub const G: &str = "(g) a SIGTERM abandons nothing claimed";
pub const R: &str = "the index repair count stays 0";

/// What one instance answered about one account's pool.
struct Answers {
    /// The bulk check, per pool number.
    bulk: Vec<bool>,
    /// `GET /api/v1/optouts/{n}`: opted out, since, source.
    get: HashMap<usize, (bool, Option<String>, Option<String>)>,
}

/// A wrong answer.
struct Wrong {
    n: usize,
    what: String,
    /// "Not opted out" for a number the database has opted out.
    unsafe_: bool,
}

impl Sim {
    fn ms_since_start(&self, t: i64) -> i64 {
        t - self.t0
    }

    /// The opt-out list of account `acct`, pool numbers only: since (RFC 3339) and source.
    async fn truth(&self, acct: usize) -> HashMap<usize, (String, String)> {
        let page = self
            .store
            .list_optouts(self.accounts[acct], None, None, 1000)
            .await
            .expect("read the opt-out list");
        page.items
            .iter()
            .filter_map(|o| {
                pool_index(o.number.as_str()).map(|n| {
                    (
                        n,
                        (
                            stoplist::rfc3339(o.created_at),
                            o.source.as_str().to_owned(),
                        ),
                    )
                })
            })
            .collect()
    }

    async fn answers(
        &self,
        slot: usize,
        acct: usize,
        ask: &BTreeSet<usize>,
    ) -> Result<Answers, String> {
        let base = self.ctx.slots[slot].base();
        let key = &self.ctx.keys[acct];
        let numbers: Vec<String> = (0..POOL).map(pool_number).collect();
        let bulk = super::ops::send(
            self.ctx
                .http
                .post(format!("{base}/api/v1/optouts/check"))
                .bearer_auth(key)
                .json(&json!({ "numbers": numbers })),
        );
        let gets = ask.iter().map(|&n| {
            super::ops::send(
                self.ctx
                    .http
                    .get(format!("{base}/api/v1/optouts/{}", national(n)))
                    .bearer_auth(key),
            )
        });
        let (bulk, gets) = tokio::join!(bulk, futures_util::future::join_all(gets));
        let Outcome::Answered { status: 200, body } = bulk else {
            return Err(format!("bulk check: {}", bulk.short()));
        };
        let results = body["results"].as_array().ok_or("bulk check: no results")?;
        if results.len() != POOL {
            return Err(format!(
                "bulk check: {} results for {POOL} numbers",
                results.len()
            ));
        }
        let bulk = results.iter().map(|r| r["opted_out"] == true).collect();
        let mut get = HashMap::new();
        for (&n, g) in ask.iter().zip(gets) {
            let Outcome::Answered { status: 200, body } = g else {
                return Err(format!("GET {}: {}", national(n), g.short()));
            };
            get.insert(
                n,
                (
                    body["opted_out"] == true,
                    body["since"].as_str().map(str::to_owned),
                    body["source"].as_str().map(str::to_owned),
                ),
            );
        }
        Ok(Answers { bulk, get })
    }

    /// Check (a).
    pub(super) async fn check_answers(
        &mut self,
        dones: &[Done],
        step_end: i64,
    ) -> Result<(), Failure> {
        // Which instances were sent something that may change each number.
        let mut touched = vec![vec![BTreeSet::new(); POOL]; 2];
        for d in dones {
            match &d.op.kind {
                Kind::Reply { acct, number, .. } => {
                    touched[*acct][*number].insert(d.op.slot);
                }
                k => {
                    for n in k.changes() {
                        touched[0][n].insert(d.op.slot);
                    }
                }
            }
        }
        let deadline = step_end + (FOLLOW_MS + FOLLOW_MARGIN_MS) as i64;
        for acct in 0..self.accounts.len() {
            let truth = self.truth(acct).await;
            let mut ask: BTreeSet<usize> = (0..POOL)
                .filter(|&n| !touched[acct][n].is_empty())
                .collect();
            for _ in 0..2 {
                ask.insert(self.check_rng.index(POOL));
            }
            for slot in 0..self.ctx.slots.len() {
                let mut polls = 0;
                loop {
                    let now = stoplist::now_ms();
                    let wrong = match self.answers(slot, acct, &ask).await {
                        Err(e) if now > deadline => {
                            return Err(Failure::new(
                                A,
                                format!("instance {slot} did not answer: {e}"),
                            ));
                        }
                        Err(_) => None,
                        Ok(a) => Some(compare(&truth, &a)),
                    };
                    if let Some(wrong) = &wrong {
                        self.stats.answers_checked += (POOL + ask.len()) as u64;
                        for w in wrong {
                            let only_here = match self.cfg.backend {
                                Backend::Sqlite => true,
                                Backend::Postgres => {
                                    touched[acct][w.n].len() == 1
                                        && touched[acct][w.n].contains(&slot)
                                }
                            };
                            if w.unsafe_ && only_here {
                                return Err(Failure::new(
                                    A,
                                    format!(
                                        "instance {slot} answers {} (account {}) {}, at once after the step in which it was \
                                         the only instance that changed the number; the database has it opted out {}",
                                        pool_number(w.n),
                                        ["A", "B"][acct],
                                        w.what,
                                        describe_truth(&truth, w.n)
                                    ),
                                )
                                .about(acct, [w.n]));
                            }
                        }
                        if wrong.is_empty() {
                            if polls > 0 {
                                self.stats.longest_wait_ms =
                                    self.stats.longest_wait_ms.max(now - step_end);
                            }
                            break;
                        }
                        if polls == 0 && self.stats.waited_for.len() < 5 {
                            let w = &wrong[0];
                            let prefix = format!("step {} ", self.step);
                            let ops: Vec<&String> = self.trace[acct][w.n]
                                .iter()
                                .filter(|l| l.starts_with(&prefix))
                                .collect();
                            self.stats.waited_for.push(format!(
                                "step {}: instance {slot} answered {} {} (the database: {}); the step's operations on it: {:?}",
                                self.step,
                                pool_number(w.n),
                                w.what,
                                if truth.contains_key(&w.n) {
                                    format!("opted out {}", describe_truth(&truth, w.n))
                                } else {
                                    "not opted out".to_owned()
                                },
                                ops
                            ));
                        }
                        if now > deadline {
                            let w = &wrong[0];
                            return Err(Failure::new(
                                A,
                                format!(
                                    "instance {slot} still answers {} (account {}) {} {} ms after the step ended \
                                     (bound: index_follow_ms {FOLLOW_MS} + {FOLLOW_MARGIN_MS} ms margin, {polls} polls); \
                                     the database has it {}",
                                    pool_number(w.n),
                                    ["A", "B"][acct],
                                    w.what,
                                    now - step_end,
                                    if truth.contains_key(&w.n) {
                                        format!("opted out {}", describe_truth(&truth, w.n))
                                    } else {
                                        "not opted out".to_owned()
                                    }
                                ),
                            )
                            .about(acct, [w.n]));
                        }
                    }
                    polls += 1;
                    self.stats.polls_waited += 1;
                    // Polling the follower (see `FOLLOW_MS`), not waiting for luck.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
        Ok(())
    }

    /// Check (b) over the messages the provider received since the last look.
    pub(super) async fn check_campaign_messages(&mut self) -> Result<(), Failure> {
        let new = self.fake.sent_from(self.fake_seen);
        self.fake_seen += new.len();
        for s in new {
            let Some(k) = campaign_marker(&s.text) else {
                continue; // a confirmation or a help text: sent to opted-out numbers by design
            };
            let Some(n) = pool_index(&s.to) else {
                return Err(Failure::new(
                    B,
                    format!(
                        "campaign #{k} sent to {}, not a number of the campaign group",
                        s.to
                    ),
                ));
            };
            let Some(&campaign) = self.campaigns.get(&k) else {
                return Err(Failure::new(
                    B,
                    format!(
                        "a message of campaign #{k}, which was never sent, reached the provider"
                    ),
                ));
            };
            let received = s
                .received_at
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0);
            let claimed = self
                .db
                .claimed_at(campaign, &pool_number(n))
                .await
                .expect("read the message's claim");
            let Some(claimed) = claimed else {
                return Err(Failure::new(
                    B,
                    format!("campaign {campaign}'s message to {} reached the provider but was never claimed", pool_number(n)),
                )
                .about(0, [n]));
            };
            self.stats.campaign_messages_checked += 1;
            // Every acknowledgement before the claim must be excused by a lift that may have
            // come after its commit (ended after its request started) and before the message
            // arrived: the latest end of a lift begun before the message arrived says which.
            let latest_lift = self.lifts[n]
                .iter()
                .filter(|l| l.start < received)
                .map(|l| l.end)
                .max()
                .unwrap_or(i64::MIN);
            let unexcused = |a: &&super::Ack| latest_lift <= a.start;
            if self.acks[n]
                .iter()
                .filter(unexcused)
                .any(|a| a.at >= claimed && a.at < received)
            {
                // Acknowledged between the claim and the arrival: the race the hand-over
                // rule must win (failed below).
                self.stats.campaign_messages_raced += 1;
            }
            let unexcused = self.acks[n]
                .iter()
                .filter(unexcused)
                .filter(|a| a.at < received)
                .max_by_key(|a| a.at);
            if let Some(ack) = unexcused {
                return Err(Failure::new(
                    B,
                    format!(
                        "campaign #{k} (id {campaign}) message to {} was claimed by a dispatcher at {} ms and reached the \
                         provider at {} ms, after operation {} had its opt-out acknowledged at {} ms; no operation that \
                         could lift it ran after that operation started",
                        pool_number(n),
                        self.ms_since_start(claimed),
                        self.ms_since_start(received),
                        ack.seq,
                        self.ms_since_start(ack.at)
                    ),
                )
                .about(0, [n]));
            }
        }
        Ok(())
    }

    /// Check (c): the replies acknowledged in this step, or every one ever acknowledged (after
    /// a kill, every 100 steps and at the end).
    pub(super) async fn check_replies_stored(
        &mut self,
        dones: &[Done],
        all: bool,
    ) -> Result<(), Failure> {
        let wrong = |acct: usize, id: &str, n: i64, number: Option<usize>| {
            Failure::new(
                C,
                format!(
                    "reply {id} to account {} got a 2xx but is stored {n} times",
                    ["A", "B"][acct]
                ),
            )
            .about(acct, number)
        };
        if all {
            for acct in 0..self.accounts.len() {
                let counts = self
                    .db
                    .reply_counts(self.accounts[acct].0)
                    .await
                    .expect("count replies");
                for (a, id) in &self.acked_replies {
                    let n = counts.get(id).copied().unwrap_or(0);
                    if *a == acct && n != 1 {
                        let number = self.replies.iter().find(|r| &r.id == id).map(|r| r.number);
                        return Err(wrong(acct, id, n, number));
                    }
                }
            }
            return Ok(());
        }
        for d in dones {
            if let Kind::Reply {
                acct, id, number, ..
            } = &d.op.kind
                && d.outcome.ok()
            {
                let n = self
                    .db
                    .reply_count(self.accounts[*acct].0, id)
                    .await
                    .expect("count a reply");
                if n != 1 {
                    return Err(wrong(*acct, id, n, Some(*number)));
                }
            }
        }
        Ok(())
    }

    /// Check (d): the events added since the last step chain on from the last verified head;
    /// with `whole`, every account's chain from the start, as `stoplist verify-ledger` does.
    pub(super) async fn check_ledger(&mut self, whole: bool) -> Result<(), Failure> {
        for (i, account) in self.accounts.iter().enumerate() {
            loop {
                let (seq, _) = self.ledger[i];
                let events = self
                    .store
                    .events_after(*account, seq, 10_000)
                    .await
                    .expect("read the ledger");
                if events.is_empty() {
                    break;
                }
                match stoplist_domain::ledger::verify_chain(
                    self.ledger[i],
                    events.iter().map(|e| &e.event),
                ) {
                    Ok(next) => self.ledger[i] = next,
                    Err(e) => {
                        return Err(Failure::new(D, format!("account {}: {e}", ["A", "B"][i])));
                    }
                }
            }
        }
        if whole {
            for a in self.store.list_accounts().await.expect("accounts") {
                let check = stoplist::reports::evidence::verify_ledger(self.store.as_ref(), a.id)
                    .await
                    .expect("verify the ledger");
                if let Some(e) = check.broken {
                    return Err(Failure::new(
                        D,
                        format!("account {:?}: LEDGER BROKEN: {e}", a.name),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Check (e) for the imports of this step.
    pub(super) async fn check_imports(
        &mut self,
        dones: &[Done],
        before: &HashMap<u64, i64>,
    ) -> Result<(), Failure> {
        for d in dones {
            let Kind::Import {
                group,
                gid,
                numbers,
                first_filler,
                fillers,
                ..
            } = &d.op.kind
            else {
                continue;
            };
            let gid = *gid;
            let before = before[&d.op.seq];
            let after = self.db.group_count(gid).await.expect("count the group");
            self.stats.reader_counts += d.seen_counts.len() as u64;
            if let Some(bad) = d.seen_counts.iter().find(|&&c| c != before && c != after) {
                return Err(Failure::new(
                    E,
                    format!(
                        "while operation {} imported into the {} group, a reader saw {bad} contacts: the group had {before} \
                         before and {after} after (counts seen: {:?})",
                        d.op.seq,
                        group_name(*group),
                        d.seen_counts
                    ),
                )
                .about(0, numbers.iter().copied()));
            }
            if *fillers > 0 {
                if d.outcome.body().is_null() {
                    self.stats.imports_without_answer += 1;
                }
                let b = BulkImport {
                    group: gid,
                    seq: d.op.seq,
                    first: *first_filler,
                    count: *fillers,
                    done: answered_done(&d.outcome),
                };
                self.check_fillers(&b, numbers).await?;
            }
        }
        Ok(())
    }

    /// The fillers of import `b` landed all or none, as its answer said.
    async fn check_fillers(&self, b: &BulkImport, numbers: &[usize]) -> Result<(), Failure> {
        let (seq, count) = (b.seq, b.count);
        let landed = self
            .db
            .count_between(
                b.group,
                &filler_number(b.first),
                &filler_number(b.first + count - 1),
            )
            .await
            .expect("count fillers") as u64;
        // What the import's own record says, once it is settled (a process killed between the
        // commit of the rows and the record of the report leaves it `running`, and a server
        // later marks it failed, saying nothing of it was applied).
        let recorded = self
            .db
            .import_status(&format!("sim-{seq}.csv"))
            .await
            .expect("read the import's status");
        let problem = if landed != 0 && landed != count {
            Some("half an import landed".to_owned())
        } else if b.done == Some(true) && landed != count {
            Some("it answered done".to_owned())
        } else if b.done == Some(false) && landed != 0 {
            Some("it answered failed".to_owned())
        } else if recorded.as_deref() == Some("done") && landed != count {
            Some("its record says done".to_owned())
        } else if recorded.as_deref() == Some("failed") && landed != 0 {
            Some("its record says failed: nothing of it was applied".to_owned())
        } else {
            None
        };
        match problem {
            None => Ok(()),
            Some(p) => Err(Failure::new(
                E,
                format!("{landed} of the {count} filler rows of import operation {seq} are in the bulk group, yet {p}"),
            )
            .about(0, numbers.iter().copied())),
        }
    }

    /// Check (e) again at the end, for every import into the bulk group.
    pub(super) async fn check_all_bulk_imports(&self) -> Result<(), Failure> {
        for b in &self.bulk_imports {
            if b.count > 0 {
                self.check_fillers(b, &[]).await?;
            }
        }
        Ok(())
    }

    /// Check (f): no number's contacts went down in a step where an unclear reply was its
    /// only operation that may delete contacts.
    pub(super) async fn check_provisional(
        &self,
        dones: &[Done],
        before: &HashMap<String, i64>,
    ) -> Result<(), Failure> {
        let after = self
            .db
            .contacts_by_number(self.accounts[0].0)
            .await
            .expect("contacts");
        for d in dones {
            let Kind::Reply {
                acct: 0,
                number,
                text: Text::Unclear,
                ..
            } = &d.op.kind
            else {
                continue;
            };
            let may_delete = dones.iter().any(|o| match &o.op.kind {
                Kind::Reply {
                    acct: 0,
                    number: m,
                    text: Text::Stop,
                    ..
                } => m == number,
                Kind::Review {
                    number: m,
                    confirm: true,
                    ..
                } => m == number,
                _ => false,
            });
            let e164 = pool_number(*number);
            let (b, a) = (
                before.get(&e164).copied().unwrap_or(0),
                after.get(&e164).copied().unwrap_or(0),
            );
            if !may_delete && a < b {
                return Err(Failure::new(
                    F,
                    format!(
                        "operation {} (an unclear reply from {e164}, answered {}) left the number {a} contacts where it \
                         had {b}: a provisional opt-out suppresses sending but changes no contact (SPEC 3.6)",
                        d.op.seq,
                        d.outcome.short()
                    ),
                )
                .about(0, [*number]));
            }
        }
        Ok(())
    }

    /// Check (g) for this step's restarts.
    pub(super) fn check_stops(&self, dones: &[Done]) -> Result<(), Failure> {
        for d in dones {
            if let Some(e) = &d.stop_error {
                return Err(Failure::new(G, e.clone()));
            }
            if !d.abandoned.is_empty() {
                let numbers: BTreeSet<usize> = d
                    .abandoned
                    .iter()
                    .filter_map(|m| {
                        m.rsplit(' ')
                            .next()
                            .and_then(|n| pool_index(n.trim_end_matches(')')))
                    })
                    .collect();
                return Err(Failure::new(
                    G,
                    format!(
                        "instance {} (pid {}) exited on SIGTERM leaving {} claimed messages neither sent nor recorded \
                         (status 'sending'; SPEC 4: a shutdown finishes what it has claimed): {}",
                        d.op.slot,
                        d.id.unwrap_or(0),
                        d.abandoned.len(),
                        d.abandoned.join(", ")
                    ),
                )
                .about(0, numbers));
            }
        }
        Ok(())
    }

    /// `stoplist_index_repairs_total` stays 0 on every instance, where the metric exists.
    pub(super) async fn check_repairs_metric(&mut self) -> Result<(), Failure> {
        for slot in 0..self.ctx.slots.len() {
            let url = format!("{}/metrics", self.ctx.slots[slot].base());
            let Outcome::Answered { status: 200, body } =
                super::ops::send(self.ctx.http.get(url)).await
            else {
                continue;
            };
            let text = body.as_str().unwrap_or("");
            let values: Vec<f64> = text
                .lines()
                .filter(|l| l.starts_with("stoplist_index_repairs_total"))
                .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
                .collect();
            if values.is_empty() {
                // The metric is being added; until it exists there is nothing to read.
                continue;
            }
            self.stats.repairs_metric_seen = true;
            let total: f64 = values.iter().sum();
            if total != 0.0 {
                return Err(Failure::new(
                    R,
                    format!("instance {slot} reports stoplist_index_repairs_total {total}"),
                ));
            }
        }
        Ok(())
    }
}

fn compare(truth: &HashMap<usize, (String, String)>, a: &Answers) -> Vec<Wrong> {
    let mut wrong = Vec::new();
    for n in 0..POOL {
        let listed = truth.contains_key(&n);
        let get = a.get.get(&n);
        let get_out = get.map(|g| g.0);
        if a.bulk[n] != listed || get_out.is_some_and(|g| g != listed) {
            let say = |b: bool| if b { "opted out" } else { "NOT opted out" };
            let what = match get_out {
                Some(g) if g != a.bulk[n] => {
                    format!("{} (GET) but {} (bulk check)", say(g), say(a.bulk[n]))
                }
                Some(g) => format!("{} (GET and bulk check)", say(g)),
                None => format!("{} (bulk check)", say(a.bulk[n])),
            };
            let answered_out = a.bulk[n] && get_out.unwrap_or(true);
            wrong.push(Wrong {
                n,
                what,
                unsafe_: listed && !answered_out,
            });
        } else if let (Some((true, since, source)), Some((t_since, t_source))) =
            (get, truth.get(&n))
            && (since.as_deref() != Some(t_since.as_str())
                || source.as_deref() != Some(t_source.as_str()))
        {
            wrong.push(Wrong {
                n,
                what: format!(
                    "opted out since {} from {} (GET)",
                    since.as_deref().unwrap_or("?"),
                    source.as_deref().unwrap_or("?")
                ),
                unsafe_: false,
            });
        }
    }
    wrong
}

fn describe_truth(truth: &HashMap<usize, (String, String)>, n: usize) -> String {
    match truth.get(&n) {
        Some((since, source)) => format!("since {since} (source {source})"),
        None => "(not)".to_owned(),
    }
}

/// The `k` of a campaign text `Sim offer #k.` (the footer follows).
fn campaign_marker(text: &str) -> Option<u64> {
    let rest = text.strip_prefix("Sim offer #")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn group_name(g: GroupRole) -> &'static str {
    match g {
        GroupRole::Campaign => "campaign",
        GroupRole::Bulk => "bulk",
    }
}

/// `Some(true)` for an import answered done, `Some(false)` answered otherwise (failed or
/// refused: nothing may have landed), `None` without an answer.
pub fn answered_done(o: &Outcome) -> Option<bool> {
    match o {
        Outcome::Answered { status, body } if (200..300).contains(status) => {
            Some(body["status"] == "done")
        }
        Outcome::Answered { status, .. } if (400..500).contains(status) => Some(false),
        _ => None,
    }
}
