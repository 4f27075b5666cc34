//! Classification throughput on one core: every text of the reply corpus, repeated, through
//! one `Classifier`. Run in release: `bench/classify.sh`, or
//! `cargo run --release -p stoplist-domain --example bench_classify [-- ROUNDS]`.

use std::hint::black_box;
use std::time::Instant;
use stoplist_domain::classify::{Class, Classifier};

fn main() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus/replies.tsv");
    let data = match std::fs::read_to_string(path) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(1);
        }
    };
    let texts: Vec<&str> = data
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split('\t').next())
        .collect();
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5_000);
    let classifier = Classifier::builtin();
    let cpu_start = on_cpu_nanos().unwrap_or(0);
    let started = Instant::now();
    let mut opt_outs = 0usize;
    for _ in 0..rounds {
        for t in &texts {
            if black_box(classifier.classify(black_box(t), false)).class == Class::OptOut {
                opt_outs += 1;
            }
        }
    }
    let elapsed = started.elapsed();
    let cpu = on_cpu_nanos().map(|end| end.saturating_sub(cpu_start));
    let n = rounds * texts.len();
    let avg_len = texts.iter().map(|t| t.len()).sum::<usize>() as f64 / texts.len() as f64;
    println!(
        "{n} classifications of {} corpus texts (avg {avg_len:.0} bytes) in {:.3} s: {:.0} texts/s, {:.0} ns/text ({opt_outs} opt-outs)",
        texts.len(),
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64(),
        elapsed.as_nanos() as f64 / n as f64,
    );
    // On a shared machine wall time includes waiting for the CPU; on-CPU time does not.
    if let Some(cpu) = cpu.filter(|&c| c > 0) {
        println!(
            "on-CPU time {:.3} s: {:.0} texts/s per core, {:.0} ns/text",
            cpu as f64 / 1e9,
            n as f64 / (cpu as f64 / 1e9),
            cpu as f64 / n as f64,
        );
    }
}

/// Nanoseconds this thread has run on a CPU (Linux `/proc/thread-self/schedstat`).
fn on_cpu_nanos() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}
