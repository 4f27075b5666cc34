//! The fault simulation: the proof of the product's core promise — an opt-out always wins, is
//! never lost, and every answer about it is true — under thousands of interleaved operations
//! and faults, against real `stoplist serve` processes.
//!
//! What runs: one server on an SQLite file, and (when `STOPLIST_TEST_PG_URL` is set) two
//! servers on one PostgreSQL database, each a child process of this test started from the
//! binary cargo built (`CARGO_BIN_EXE_stoplist`) with a `--config` file (`index_follow_ms`
//! 100, quick dispatch polls, no send pacing). Nothing inside the servers is mocked: the SMS
//! provider they send through is `stoplist_providers::fake` on loopback in this process,
//! speaking Twilio's API (and answering 20 ms late, a slow provider, so that sends are in
//! flight when faults land). The accounts and API keys are made through the library before
//! the servers start; everything else goes through HTTP.
//!
//! Each step starts 1 to 4 operations at once, drawn from a seeded RNG over a pool of 40
//! numbers (so they collide): STOP, START, HELP, unclear and other replies to the generic
//! webhook, their redeliveries (same id and body, to either instance, sometimes racing the
//! first delivery), API adds and removals, Opt Out Manager uploads, contact imports with and
//! without reset (a reader polling the group meanwhile), reviews that confirm or dismiss
//! unclear replies, campaign sends, settings toggles (Enforce Global Optouts, auto-delete,
//! unclear counts as an opt-out), a restart by SIGTERM and a kill -9 landing among requests in
//! flight. A second account gets a few replies of its own, so the checks also see that
//! accounts do not leak into each other. After every step the checks of `sim/checks.rs` run;
//! the first failure panics with the seed, the step, the operations that touched the number
//! and the command that replays it.
//!
//! Environment: `STOPLIST_SIM_SEED` (default a fixed seed, so CI makes the same choices every
//! run; `random` for a fresh one), `STOPLIST_SIM_STEPS` (default 1200 per backend),
//! `STOPLIST_SIM_WITHOUT` (operation kinds to leave out, comma-separated: reply, redelivery,
//! add, remove, upload, import, review, campaign, settings, restart, kill, or reply texts:
//! stop, start, help, unclear, other — to look past a known failure),
//! `STOPLIST_SIM_PID_FILE` (every server's pid is appended there, for `bench/soak.sh`). The
//! long soak is `bench/soak.sh`. Alone: `cargo nextest run -p stoplist -E 'test(/^simulation::/)'`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::sim;

use sim::Backend;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_sqlite_instance_keeps_every_opt_out_promise_through_faults() {
    sim::run(
        Backend::Sqlite,
        "one_sqlite_instance_keeps_every_opt_out_promise_through_faults",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_postgres_instances_keep_every_opt_out_promise_through_faults() {
    sim::run(
        Backend::Postgres,
        "two_postgres_instances_keep_every_opt_out_promise_through_faults",
    )
    .await;
}
