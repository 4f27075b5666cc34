//! Bulk-check throughput: POSTs `/api/v1/optouts/check` with batches of E.164 numbers (half
//! of them opted out, from `bench_seed`'s sequence) and reports numbers per second, end to
//! end (JSON in, parse, look up, JSON out), as the median of the runs.
//!
//! `cargo run --release -p stoplist --example bench_check -- BASE_URL KEY BATCH RUNS`
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/numbers.rs"]
mod common;
use common::number;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let base = args
        .next()
        .expect("usage: bench_check BASE_URL KEY BATCH RUNS");
    let key = args.next().expect("KEY");
    let batch: u64 = args
        .next()
        .map(|s| s.parse().expect("BATCH"))
        .unwrap_or(1_000_000);
    let runs: usize = args.next().map(|s| s.parse().expect("RUNS")).unwrap_or(5);
    // Half seeded numbers (opted out), half from far beyond the seeded range.
    let numbers: Vec<String> = (0..batch)
        .map(|i| {
            if i % 2 == 0 {
                number(i / 2)
            } else {
                number(10_000_000_000 + i)
            }
        })
        .collect();
    let body = serde_json::to_vec(&serde_json::json!({ "numbers": numbers })).unwrap();
    let client = reqwest::Client::new();
    let mut rates = Vec::new();
    for run in 0..runs {
        let start = std::time::Instant::now();
        let resp = client
            .post(format!("{base}/api/v1/optouts/check"))
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "status {}", resp.status());
        let bytes = resp.bytes().await.unwrap();
        // Timed: request out, answer in. Checking the answer is not.
        let secs = start.elapsed().as_secs_f64();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let results = v["results"].as_array().unwrap();
        assert_eq!(results.len() as u64, batch);
        let opted = results.iter().filter(|r| r["opted_out"] == true).count();
        let rate = batch as f64 / secs;
        eprintln!("run {run}: {batch} numbers in {secs:.3}s = {rate:.0}/s ({opted} opted out)");
        rates.push(rate);
    }
    rates.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "bulk check median: {:.0} numbers/s (batch {batch}, {runs} runs)",
        rates[rates.len() / 2]
    );
}
