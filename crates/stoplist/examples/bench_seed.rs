//! Benchmark set-up: creates the account `bench` with an API key and N opt-outs of
//! deterministic random AU mobiles, then prints the key (last line).
//!
//! `cargo run --release -p stoplist --example bench_seed -- DATABASE_URL N`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use stoplist_domain::{Actor, PhoneNumber};

/// The numbers the benchmarks use: +614 then 0-3 or 6 then 7 digits from a fixed LCG (valid AU mobiles).
pub fn number(i: u64) -> String {
    let x = i
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    // AU mobiles in the 040x-043x and 046x ranges, all valid for libphonenumber.
    let lead = [0, 1, 2, 3, 6][((x >> 13) % 5) as usize];
    format!("+614{lead}{:07}", (x >> 33) % 10_000_000)
}

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
    let (_, key) = stoplist::accounts::create_api_key(store.as_ref(), account.id, "bench")
        .await
        .unwrap();
    println!("{key}");
}
