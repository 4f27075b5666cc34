//! The in-memory opt-out index at platform scale: how long a cold load takes and how many
//! bytes an opt-out costs, through the server's own service (`OptOuts::load_all`, the load a
//! starting instance runs), and whether checks made while it loads are answered correctly
//! (from the database).
//!
//! `cargo run --release -p stoplist --example bench_index -- DATABASE_URL ACCOUNTS PER_ACCOUNT`
//!
//! A fresh database is seeded with ACCOUNTS accounts of PER_ACCOUNT opt-outs each (plain rows
//! written by SQL, no ledger events: the load reads the list, not the ledger). Prints the load
//! time, the index's own heap bytes per opt-out (its arrays and maps, apart from SQLite's page
//! cache and the allocator's slack), the process's resident memory before and after, and the
//! checks answered during the load.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};
use stoplist::optouts::OptOuts;
use stoplist_domain::PhoneNumber;

/// The `j`th opted-out number of any account: +614 then 8 digits.
fn number(j: u64) -> String {
    format!("+614{:08}", (j * 7_919) % 100_000_000)
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .expect("usage: bench_index DATABASE_URL ACCOUNTS PER_ACCOUNT");
    let accounts: u64 = args.next().map(|s| s.parse().unwrap()).unwrap_or(1);
    let per: u64 = args.next().map(|s| s.parse().unwrap()).unwrap_or(1_000_000);
    let store = stoplist_store::connect(&url).await.expect("database");
    if store.list_accounts().await.unwrap().is_empty() {
        let start = Instant::now();
        seed(&url, accounts, per).await;
        eprintln!(
            "seeded {accounts} accounts x {per} opt-outs in {:.1}s",
            start.elapsed().as_secs_f64()
        );
    }
    let first = store.list_accounts().await.unwrap()[0].id;
    // The two steps of one account's load, apart: reading the list, building the table.
    let start = Instant::now();
    let (keys, seq) = store.optout_keys(first).await.unwrap();
    let read = start.elapsed();
    let start = Instant::now();
    let items: Vec<stoplist::optouts::index::Loaded> = keys
        .iter()
        .map(|k| stoplist::optouts::index::Loaded {
            key: k.key,
            since: k.since,
            source: k.source,
        })
        .collect();
    drop(keys);
    stoplist::optouts::index::AccountIndex::default().load(items, seq);
    eprintln!(
        "first account alone: read {:.3} s, built {:.3} s",
        read.as_secs_f64(),
        start.elapsed().as_secs_f64()
    );
    let rss_before = rss_mib();
    let optouts = Arc::new(OptOuts::new(
        store.clone(),
        Arc::new(stoplist::settings_cache::SettingsCache::new(store.clone())),
        Arc::new(stoplist::metrics::Metrics::default()),
        Arc::new(stoplist::lifecycle::Wakeups::default()),
    ));
    let start = Instant::now();
    optouts.load_all().await.unwrap();
    // Checks while it loads: every one must be right (answered from the database).
    let (mut during, mut wrong) = (0u64, 0u64);
    loop {
        let r = optouts.readiness();
        if r.loading == 0 {
            break;
        }
        let j = during % (2 * per);
        let listed = j < per;
        let n = PhoneNumber::from_trusted_e164(&number(if listed { j } else { per + j }))
            .expect("shape");
        let got = optouts.lookup(first, &n).await.unwrap().is_some();
        // (The numbers past PER_ACCOUNT may collide with listed ones only when PER_ACCOUNT
        // is near 100,000,000.)
        if got != listed {
            wrong += 1;
        }
        during += 1;
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    let load = start.elapsed();
    let (loaded, numbers, bytes) = optouts.index_memory();
    let rss_after = rss_mib();
    println!(
        "accounts {loaded}, opt-outs {numbers}: loaded in {:.3} s; index {:.1} MiB = {:.1} bytes an opt-out; \
         RSS {rss_before:.0} -> {rss_after:.0} MiB ({:.1} bytes an opt-out); checks during the load {during}, wrong {wrong}",
        load.as_secs_f64(),
        bytes as f64 / 1_048_576.0,
        bytes as f64 / numbers.max(1) as f64,
        (rss_after - rss_before) * 1_048_576.0 / numbers.max(1) as f64,
    );
    // Warm lookups from memory, for scale.
    let start = Instant::now();
    let mut hits = 0;
    for j in 0..1_000_000u64 {
        let n = PhoneNumber::from_trusted_e164(&number(j % (2 * per))).expect("shape");
        if optouts.lookup(first, &n).await.unwrap().is_some() {
            hits += 1;
        }
    }
    println!(
        "1,000,000 lookups from memory in {:.3} s ({hits} opted out)",
        start.elapsed().as_secs_f64()
    );
    assert_eq!(wrong, 0, "a check answered wrongly while the index loaded");
}

/// Accounts and opt-outs as plain rows, in one transaction per backend.
async fn seed(url: &str, accounts: u64, per: u64) {
    let genesis = stoplist_domain::ledger::Digest32::GENESIS.to_hex();
    if url.starts_with("sqlite:") {
        let store = stoplist_store::SqliteStore::open(url).await.unwrap();
        let mut tx = store.pool().begin().await.unwrap();
        sqlx::query(
            "WITH RECURSIVE a(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM a WHERE i < $1)
             INSERT INTO accounts (name, webhook_token, settings_json, ledger_seq, ledger_head, created_at)
             SELECT 'bench-' || i, 'token-' || i, '{}', 0, $2, 0 FROM a",
        )
        .bind(accounts as i64)
        .bind(&genesis)
        .execute(&mut *tx)
        .await
        .unwrap();
        sqlx::query(
            "WITH RECURSIVE j(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM j WHERE n < $1 - 1)
             INSERT INTO opt_outs (account_id, number, source, actor_kind, actor_label, created_at)
             SELECT a.id, '+614' || printf('%08d', (j.n * 7919) % 100000000), 'upload', 'system', 'bench', 1700000000000 + j.n
               FROM accounts a, j",
        )
        .bind(per as i64)
        .execute(&mut *tx)
        .await
        .unwrap();
        tx.commit().await.unwrap();
    } else {
        let store = stoplist_store::PgStore::open(url).await.unwrap();
        let mut tx = store.pool().begin().await.unwrap();
        sqlx::query(
            "INSERT INTO accounts (name, webhook_token, settings_json, ledger_seq, ledger_head, created_at)
             SELECT 'bench-' || i, 'token-' || i, '{}', 0, $2, 0 FROM generate_series(1, $1) AS i",
        )
        .bind(accounts as i64)
        .bind(&genesis)
        .execute(&mut *tx)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO opt_outs (account_id, number, source, actor_kind, actor_label, created_at)
             SELECT a.id, '+614' || lpad(((n * 7919) % 100000000)::text, 8, '0'), 'upload', 'system', 'bench', 1700000000000 + n
               FROM accounts a, generate_series(0, $1 - 1) AS n",
        )
        .bind(per as i64)
        .execute(&mut *tx)
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
}
