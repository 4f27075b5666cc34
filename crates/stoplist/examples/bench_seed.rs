//! Benchmark set-up: creates the account `bench` with an API key and N opt-outs of
//! deterministic random AU mobiles, then prints the key (last line).
//!
//! `cargo run --release -p stoplist --example bench_seed -- DATABASE_URL N`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use stoplist_domain::{Actor, PhoneNumber};

#[path = "common/numbers.rs"]
mod common;
use common::number;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let url = args.next().expect("usage: bench_seed DATABASE_URL N");
    let n: u64 = args
        .next()
        .map(|s| s.parse().expect("N"))
        .unwrap_or(1_000_000);
    let store = stoplist_store::connect(&url).await.expect("database");
    let account = match store.account_by_name("bench").await.unwrap() {
        Some(a) => a,
        None => stoplist::accounts::create_account(store.as_ref(), "bench")
            .await
            .unwrap(),
    };
    let have = store.count_optouts(account.id).await.unwrap() as u64;
    if have == 0 {
        let numbers: Vec<PhoneNumber> = (0..n)
            .map(|i| PhoneNumber::from_trusted_e164(&number(i)).expect("shape"))
            .collect();
        let start = std::time::Instant::now();
        let added = store
            .bulk_add_optouts(
                account.id,
                &numbers,
                &Actor::system("bench"),
                "bench seed",
                stoplist::now_ms(),
            )
            .await
            .unwrap();
        eprintln!(
            "seeded {added} opt-outs in {:.1}s",
            start.elapsed().as_secs_f64()
        );
    }
    let (_, key) = stoplist::accounts::create_api_key(
        store.as_ref(),
        account.id,
        "bench",
        stoplist_domain::Role::Owner,
        None,
    )
    .await
    .unwrap();
    println!("{key}");
}
