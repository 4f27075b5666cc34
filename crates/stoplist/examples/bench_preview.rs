//! Campaign preview against a large uploaded file (issue 4, Speed), through the real server's
//! HTTP API on loopback: campaign created, file uploaded, preview computed.
//!
//! `bench_preview gen DIR [ROWS] [OPTOUTS]` writes `DIR/recipients.txt` (ROWS lines, default
//! 10,000,000: AU mobiles in E.164 from a fixed LCG, so about a tenth repeat; one line in 2,000
//! is an invalid number) and `DIR/optouts.txt` (OPTOUTS numbers, default 1,000,000: every
//! tenth recipient, so about 10% of the file is opted out).
//!
//! `bench_preview run DATABASE_URL DIR [RUNS]` bulk-loads the opt-outs into a fresh database
//! (timed), creates a campaign and uploads the file through the API, then times one cold
//! preview (it loads the in-memory opt-out index from the database) and RUNS warm ones, and
//! the peak RSS of each (VmHWM, reset before each preview). Prints one line per preview:
//! `preview cold|warm SECONDS s, peak MIB MiB, recipients N, ...`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, Write};
use std::time::Instant;
use stoplist::app::Application;
use stoplist::config::Config;
use stoplist_domain::{Actor, PhoneNumber};

#[path = "common/numbers.rs"]
mod common;
use common::number;

/// Lines that are not numbers, one every 2,000 rows, each invalid for its own reason.
const INVALID: [&str; 4] = ["not a number", "+61 2", "0412", "+99912345678"];

fn generate(dir: &str, rows: u64, optouts: u64) {
    std::fs::create_dir_all(dir).unwrap();
    let mut out = std::io::BufWriter::with_capacity(
        1 << 20,
        std::fs::File::create(format!("{dir}/recipients.txt")).unwrap(),
    );
    for j in 0..rows {
        if j % 2000 == 1999 {
            writeln!(out, "{}", INVALID[((j / 2000) % 4) as usize]).unwrap();
        } else {
            writeln!(out, "{}", number(j)).unwrap();
        }
    }
    out.flush().unwrap();
    let mut out = std::io::BufWriter::with_capacity(
        1 << 20,
        std::fs::File::create(format!("{dir}/optouts.txt")).unwrap(),
    );
    for k in 0..optouts {
        writeln!(out, "{}", number(k * 10)).unwrap();
    }
    out.flush().unwrap();
}

/// Peak resident memory since the last reset, in MiB.
fn peak_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kib| kib / 1024)
}

/// Resets VmHWM to the current RSS (Linux: `echo 5 > /proc/self/clear_refs`).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

async fn run(url: &str, dir: &str, runs: usize) {
    let store = stoplist_store::connect(url).await.expect("database");
    let config = Config {
        listen: "127.0.0.1:0".into(),
        database_url: url.to_owned(),
        ..Config::default()
    };
    let app = Application::with_store(store.clone(), config)
        .await
        .unwrap();
    let base = format!("http://{}", app.address());
    tokio::spawn(app.run_until(std::future::pending()));
    let account = stoplist::accounts::create_account(store.as_ref(), "bench")
        .await
        .unwrap();
    let (_, key) = stoplist::accounts::create_api_key(
        store.as_ref(),
        account.id,
        "bench",
        stoplist_domain::Role::Owner,
        None,
    )
    .await
    .unwrap();

    let numbers: Vec<PhoneNumber> = std::io::BufReader::new(
        std::fs::File::open(format!("{dir}/optouts.txt")).expect("optouts.txt (run gen first)"),
    )
    .lines()
    .map(|l| PhoneNumber::from_trusted_e164(&l.unwrap()).expect("an E.164 number"))
    .collect();
    let start = Instant::now();
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
    drop(numbers);
    println!(
        "opt-outs: {added} bulk-loaded in {:.1} s",
        start.elapsed().as_secs_f64()
    );

    let http = reqwest::Client::new();
    let c: serde_json::Value = http
        .post(format!("{base}/api/v1/campaigns"))
        .bearer_auth(&key)
        .json(&serde_json::json!({"name": "bench", "sender_id": "BENCH", "message": "Hello. Reply STOP to opt out"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = c["id"].as_i64().expect("a campaign id");
    let body = std::fs::read(format!("{dir}/recipients.txt")).unwrap();
    let start = Instant::now();
    let r = http
        .put(format!(
            "{base}/api/v1/campaigns/{id}/file?file_name=recipients.txt"
        ))
        .bearer_auth(&key)
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    println!(
        "upload: {:.1} s (file saved and its column checked)",
        start.elapsed().as_secs_f64()
    );

    for run in 0..=runs {
        reset_peak();
        let start = Instant::now();
        let r = http
            .post(format!("{base}/api/v1/campaigns/{id}/preview"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        let secs = start.elapsed().as_secs_f64();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
        let p: serde_json::Value = r.json().await.unwrap();
        println!(
            "preview {} {secs:.3} s, peak {} MiB, recipients {}, read {}, duplicates {}, invalid {}, opted out {}",
            if run == 0 { "cold" } else { "warm" },
            peak_mib(),
            p["recipients"],
            p["numbers_read"],
            p["duplicates"],
            p["invalid"],
            p["opted_out"],
        );
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str);
    match arg(0) {
        Some("gen") => generate(
            arg(1).expect("DIR"),
            arg(2).map_or(10_000_000, |s| s.parse().expect("ROWS")),
            arg(3).map_or(1_000_000, |s| s.parse().expect("OPTOUTS")),
        ),
        Some("run") => {
            run(
                arg(1).expect("DATABASE_URL"),
                arg(2).expect("DIR"),
                arg(3).map_or(3, |s| s.parse().expect("RUNS")),
            )
            .await
        }
        _ => eprintln!(
            "usage: bench_preview gen DIR [ROWS] [OPTOUTS] | bench_preview run DATABASE_URL DIR [RUNS]"
        ),
    }
}
