//! The operations the simulation interleaves, and how each one is sent to a server. An
//! operation's record keeps when its request started and when its answer (or the error that
//! took its place) arrived, in the servers' own unit: milliseconds since the Unix epoch.
//!
//! Every request is real HTTP on loopback to a real process. What came back is kept as it
//! came: `Answered` (any status, with its JSON), or `Lost` when no answer arrived (the process
//! was killed, or was down while it restarted): a lost request may or may not have taken
//! effect, and the bookkeeping treats it as both.

use super::fleet::Slot;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Numbers in the pool every operation draws from: few, so that operations collide.
pub const POOL: usize = 40;

/// The pool's `i`-th number, E.164.
pub fn pool_number(i: usize) -> String {
    format!("+614130000{i:02}")
}

/// The same number as a person would type it (the API reads it with the account's region).
pub fn national(i: usize) -> String {
    format!("04130000{i:02}")
}

/// The pool index of a number the provider saw, if it is one of the pool's.
pub fn pool_index(number: &str) -> Option<usize> {
    let digits = number.trim_start_matches('+');
    let rest = digits.strip_prefix("614130000")?;
    let i: usize = rest.parse().ok()?;
    (rest.len() == 2 && i < POOL).then_some(i)
}

/// A filler number: fresh for every import into the bulk group, never opted out, never
/// touched by anything else, so an import's fillers land all together or not at all.
pub fn filler_number(k: u64) -> String {
    format!("+6142{k:07}")
}

/// What a reply says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Text {
    Stop,
    Start,
    Help,
    /// A text the classifier cannot tell (`unclear`): reviewed later.
    Unclear,
    Other,
}

impl Text {
    /// The name `STOPLIST_SIM_WITHOUT` knows it by.
    pub fn name(self) -> &'static str {
        match self {
            Text::Stop => "stop",
            Text::Start => "start",
            Text::Help => "help",
            Text::Unclear => "unclear",
            Text::Other => "other",
        }
    }

    pub fn body(self) -> &'static str {
        match self {
            Text::Stop => "STOP",
            Text::Start => "START",
            Text::Help => "HELP",
            // From the server's own tests: unclear by the classifier's tiers.
            Text::Unclear => "STOP what?",
            // A trap (tier 4): "stop" that is not a request.
            Text::Other => "stop by the store at 5",
        }
    }

    /// Whether a reply with this text may opt its number out (a keyword, or an unclear text
    /// counted as an opt-out until reviewed).
    pub fn may_opt_out(self) -> bool {
        matches!(self, Text::Stop | Text::Unclear)
    }
}

/// The two groups of account A: the campaign group holds pool numbers only (campaigns stay
/// small); the bulk group also takes fresh filler numbers (imports there are bigger and their
/// fillers show whether an import landed whole).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupRole {
    Campaign,
    Bulk,
}

/// A setting the simulation toggles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    EnforceGlobal,
    AutoDelete,
    UnclearCounts,
}

impl Setting {
    pub fn field(self) -> &'static str {
        match self {
            Setting::EnforceGlobal => "enforce_global_optouts",
            Setting::AutoDelete => "auto_delete_optouts",
            Setting::UnclearCounts => "unclear_counts_as_optout",
        }
    }
}

/// One operation, as planned.
#[derive(Debug, Clone)]
pub enum Kind {
    /// A generic webhook reply to account `acct` (0 or 1); `redelivery` when the id was sent
    /// before (same body).
    Reply {
        acct: usize,
        id: String,
        number: usize,
        text: Text,
        redelivery: bool,
    },
    /// `POST /api/v1/optouts`.
    Add { number: usize, manual: bool },
    /// `DELETE /api/v1/optouts/{number}?reason=`.
    Remove { number: usize },
    /// `POST /api/v1/optouts/uploads` of these numbers.
    Upload { numbers: Vec<usize> },
    /// `POST /api/v1/groups/{id}/imports`: pool numbers, and in the bulk group `fillers`
    /// filler numbers from the `first_filler`-th; with "Reset contacts that have previously
    /// opted out?" when `reset`. A reader polls the group while it runs.
    Import {
        group: GroupRole,
        /// The group's id (the bulk group is replaced by a fresh one every
        /// [`super::BULK_IMPORTS_A_GROUP`] imports, so that no group grows without end).
        gid: i64,
        numbers: Vec<usize>,
        first_filler: u64,
        fillers: u64,
        reset: bool,
    },
    /// `POST /api/v1/replies/{id}/review` of an unclear reply from `number`.
    Review {
        reply: i64,
        number: usize,
        confirm: bool,
    },
    /// A campaign to the campaign group, its text marked `#k`.
    Campaign { k: u64 },
    /// `PATCH /api/v1/settings`.
    Toggle { setting: Setting, on: bool },
    /// SIGTERM, wait for the exit, start again; `after_ms` into the step.
    Restart { after_ms: u64 },
    /// kill -9, start again; `after_ms` into the step.
    Kill { after_ms: u64 },
}

impl Kind {
    /// The name `STOPLIST_SIM_WITHOUT` knows it by.
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Reply {
                redelivery: true, ..
            } => "redelivery",
            Kind::Reply { .. } => "reply",
            Kind::Add { .. } => "add",
            Kind::Remove { .. } => "remove",
            Kind::Upload { .. } => "upload",
            Kind::Import { .. } => "import",
            Kind::Review { .. } => "review",
            Kind::Campaign { .. } => "campaign",
            Kind::Toggle { .. } => "settings",
            Kind::Restart { .. } => "restart",
            Kind::Kill { .. } => "kill",
        }
    }

    /// The pool numbers of account A whose opt-out this operation may change.
    pub fn changes(&self) -> Vec<usize> {
        match self {
            Kind::Reply {
                acct: 0,
                number,
                text,
                ..
            } if *text != Text::Help && *text != Text::Other => vec![*number],
            Kind::Add { number, .. } | Kind::Remove { number } => vec![*number],
            Kind::Review { number, .. } => vec![*number],
            Kind::Upload { numbers } => numbers.clone(),
            Kind::Import {
                numbers,
                reset: true,
                ..
            } => numbers.clone(),
            _ => vec![],
        }
    }
}

/// A planned operation: its sequence number in the run, the step, and the slot it goes to.
#[derive(Debug, Clone)]
pub struct Op {
    pub seq: u64,
    pub step: u64,
    pub slot: usize,
    pub kind: Kind,
}

/// What came back.
#[derive(Debug, Clone)]
pub enum Outcome {
    Answered { status: u16, body: Value },
    Lost { error: String },
}

impl Outcome {
    pub fn ok(&self) -> bool {
        matches!(self, Outcome::Answered { status, .. } if (200..300).contains(status))
    }

    /// A 4xx: the server refused, and changed nothing.
    pub fn refused(&self) -> bool {
        matches!(self, Outcome::Answered { status, .. } if (400..500).contains(status))
    }

    pub fn body(&self) -> &Value {
        static NULL: Value = Value::Null;
        match self {
            Outcome::Answered { body, .. } => body,
            Outcome::Lost { .. } => &NULL,
        }
    }

    /// One line for a trace.
    pub fn short(&self) -> String {
        match self {
            Outcome::Answered { status, body } => {
                let detail = if let Some(a) = body.get("actions") {
                    format!(
                        "{} {}{}",
                        body["classification"].as_str().unwrap_or(""),
                        a,
                        if body["duplicate"] == true {
                            " (duplicate)"
                        } else {
                            ""
                        }
                    )
                } else if let Some(e) = body.get("error") {
                    e["message"].as_str().unwrap_or("").to_owned()
                } else if let Some(c) = body.get("counts") {
                    format!("{} {}", body["status"].as_str().unwrap_or(""), c)
                } else if let Some(o) = body.get("opted_out") {
                    format!("opted_out={o}")
                } else if let Some(ms) = body.get("stop_ms") {
                    format!(
                        "pid {} stopped in {ms} ms, pid {} started",
                        body["stopped"], body["started"]
                    )
                } else {
                    String::new()
                };
                format!("{status} {detail}")
            }
            Outcome::Lost { error } => format!("no answer ({error})"),
        }
    }
}

/// A finished operation.
#[derive(Debug, Clone)]
pub struct Done {
    pub op: Op,
    /// Request sent, answer received (ms since the epoch, the servers' clock).
    pub start: i64,
    pub end: i64,
    pub outcome: Outcome,
    /// Campaign: the id it was created with. Restart and kill: the stopped process's id.
    pub id: Option<i64>,
    /// Import: every contact count the reader saw while it ran.
    pub seen_counts: Vec<i64>,
    /// Restart: messages the stopped process left claimed (`id kind number`).
    pub abandoned: Vec<String>,
    /// Restart: why the stop itself failed (no exit within the deadline).
    pub stop_error: Option<String>,
}

/// What an operation needs to reach the servers.
pub struct Ctx {
    pub http: reqwest::Client,
    pub slots: Vec<Arc<Slot>>,
    /// Per account: API key and webhook token.
    pub keys: Vec<String>,
    pub tokens: Vec<String>,
    pub campaign_group: i64,
    pub db: super::db::Db,
}

impl Ctx {
    fn url(&self, slot: usize, path: &str) -> String {
        format!("{}{path}", self.slots[slot].base())
    }

    fn api(&self, method: reqwest::Method, slot: usize, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(slot, path))
            .bearer_auth(&self.keys[0])
    }
}

/// Sends a request and keeps what came back.
pub async fn send(r: reqwest::RequestBuilder) -> Outcome {
    match r.send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            match resp.text().await {
                Ok(text) => Outcome::Answered {
                    status,
                    body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
                },
                Err(e) => Outcome::Lost {
                    error: format!("answer cut off: {e}"),
                },
            }
        }
        Err(e) => Outcome::Lost {
            error: if e.is_connect() {
                "connection refused".into()
            } else if e.is_timeout() {
                "timed out".into()
            } else {
                "connection lost".into()
            },
        },
    }
}

fn csv(numbers: impl Iterator<Item = String>) -> String {
    let mut out = String::from("Mobile\n");
    for n in numbers {
        out.push_str(&n);
        out.push('\n');
    }
    out
}

/// Runs one operation.
pub async fn run(ctx: &Ctx, op: Op) -> Done {
    let start = stoplist::now_ms();
    let mut done = Done {
        start,
        end: start,
        outcome: Outcome::Lost {
            error: "not sent".into(),
        },
        id: None,
        seen_counts: vec![],
        abandoned: vec![],
        stop_error: None,
        op: op.clone(),
    };
    let slot = op.slot;
    done.outcome = match &op.kind {
        Kind::Reply {
            acct,
            id,
            number,
            text,
            ..
        } => {
            let url = ctx.url(slot, &format!("/webhooks/generic/{}", ctx.tokens[*acct]));
            send(ctx.http.post(url).json(&json!({
                "id": id, "from": pool_number(*number), "to": "+61400000000", "text": text.body()
            })))
            .await
        }
        Kind::Add { number, manual } => {
            let source = if *manual { "manual" } else { "api" };
            send(
                ctx.api(reqwest::Method::POST, slot, "/api/v1/optouts")
                    .json(&json!({"number": national(*number), "source": source, "evidence": format!("sim op {}", op.seq)})),
            )
            .await
        }
        Kind::Remove { number } => {
            let path = format!(
                "/api/v1/optouts/{}?reason=sim+op+{}",
                national(*number),
                op.seq
            );
            send(ctx.api(reqwest::Method::DELETE, slot, &path)).await
        }
        Kind::Upload { numbers } => {
            let body = csv(numbers.iter().map(|&n| pool_number(n)));
            send(
                ctx.api(
                    reqwest::Method::POST,
                    slot,
                    &format!(
                        "/api/v1/optouts/uploads?file_name=sim-{}.csv&wait=true",
                        op.seq
                    ),
                )
                .body(body),
            )
            .await
        }
        Kind::Import {
            gid,
            numbers,
            first_filler,
            fillers,
            reset,
            ..
        } => {
            let gid = *gid;
            let body = csv(numbers
                .iter()
                .map(|&n| pool_number(n))
                .chain((*first_filler..first_filler + fillers).map(filler_number)));
            let mut path = format!(
                "/api/v1/groups/{gid}/imports?file_name=sim-{}.csv&wait=true",
                op.seq
            );
            if *reset {
                path.push_str(&format!("&reset_optouts=true&reason=sim+op+{}", op.seq));
            }
            let running = Arc::new(AtomicBool::new(true));
            let reader = tokio::spawn(read_group_while(
                ctx.http.clone(),
                ctx.slots.clone(),
                ctx.keys[0].clone(),
                gid,
                running.clone(),
            ));
            let out = send(ctx.api(reqwest::Method::POST, slot, &path).body(body)).await;
            running.store(false, Ordering::Release);
            done.seen_counts = reader.await.unwrap_or_default();
            out
        }
        Kind::Review { reply, confirm, .. } => {
            let verdict = if *confirm { "confirm" } else { "dismiss" };
            send(
                ctx.api(
                    reqwest::Method::POST,
                    slot,
                    &format!("/api/v1/replies/{reply}/review"),
                )
                .json(&json!({ "verdict": verdict })),
            )
            .await
        }
        Kind::Campaign { k } => {
            let created = send(
                ctx.api(reqwest::Method::POST, slot, "/api/v1/campaigns")
                    .json(&json!({
                        "name": format!("sim {k}"), "sender_id": "SIMCO",
                        "message": format!("Sim offer #{k}."), "groups": [ctx.campaign_group]
                    })),
            )
            .await;
            match created.body()["id"].as_i64() {
                Some(id) if created.ok() => {
                    done.id = Some(id);
                    send(
                        ctx.api(
                            reqwest::Method::POST,
                            slot,
                            &format!("/api/v1/campaigns/{id}/send"),
                        )
                        .json(&json!({})),
                    )
                    .await
                }
                _ => created,
            }
        }
        Kind::Toggle { setting, on } => {
            let mut patch = serde_json::Map::new();
            patch.insert(setting.field().into(), Value::Bool(*on));
            send(
                ctx.api(reqwest::Method::PATCH, slot, "/api/v1/settings")
                    .json(&patch),
            )
            .await
        }
        Kind::Restart { after_ms } | Kind::Kill { after_ms } => {
            // Not a wait for anything: where in the step the fault lands, so that it hits
            // requests in flight (the other operations started at the same moment).
            tokio::time::sleep(Duration::from_millis(*after_ms)).await;
            let graceful = matches!(op.kind, Kind::Restart { .. });
            let s = ctx.slots[slot].clone();
            let stopped = tokio::task::spawn_blocking(move || {
                if graceful {
                    s.terminate()
                } else {
                    Ok(s.kill9())
                }
            })
            .await
            .unwrap_or_else(|e| Err(format!("stopping: {e}")));
            let mut took = None;
            match stopped {
                Ok(Some(st)) => {
                    done.id = Some(i64::from(st.pid));
                    took = Some(st.took.as_millis() as u64);
                    if graceful {
                        done.abandoned = ctx
                            .db
                            .claims_left_by(st.pid)
                            .await
                            .expect("read the claims left")
                            .into_iter()
                            .map(|(id, kind, number)| format!("message {id} ({kind} to {number})"))
                            .collect();
                    }
                }
                Ok(None) => {}
                Err(e) => done.stop_error = Some(e),
            }
            let s = ctx.slots[slot].clone();
            let started = tokio::task::spawn_blocking(move || s.start())
                .await
                .unwrap_or_else(|e| Err(format!("starting: {e}")));
            match started {
                Ok(pid) => Outcome::Answered {
                    status: 200,
                    body: json!({ "stopped": done.id, "stop_ms": took, "started": pid }),
                },
                Err(e) => panic!("slot {slot} could not start again: {e}"),
            }
        }
    };
    done.end = stoplist::now_ms();
    done
}

/// Polls the group's contact count on every slot in turn until `running` is cleared;
/// answers every count seen (requests that fail are skipped: a slot may be restarting).
async fn read_group_while(
    http: reqwest::Client,
    slots: Vec<Arc<Slot>>,
    key: String,
    gid: i64,
    running: Arc<AtomicBool>,
) -> Vec<i64> {
    let mut seen = Vec::new();
    let mut i = 0;
    loop {
        let last = !running.load(Ordering::Acquire);
        let slot = &slots[i % slots.len()];
        i += 1;
        let r = http
            .get(format!("{}/api/v1/groups/{gid}", slot.base()))
            .bearer_auth(&key);
        if let Outcome::Answered { status: 200, body } = send(r).await
            && let Some(n) = body["contact_count"].as_i64()
        {
            seen.push(n);
        }
        if last {
            return seen;
        }
    }
}
