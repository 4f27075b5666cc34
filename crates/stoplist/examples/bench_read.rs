//! Import reader throughput, the reader alone (no number parsing, no storing): generates a
//! deterministic CSV of AU mobile contacts and an XLSX, then times `open` plus reading every
//! row, as the median of the runs, with the peak memory of the process.
//!
//! `cargo run --release -p stoplist --example bench_read -- [CSV_ROWS] [XLSX_ROWS] [RUNS]`
//! (defaults 1,000,000, 100,000 and 3). Files go to a temporary directory, removed at the end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/import_read_fixtures/mod.rs"]
mod fixtures;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use fixtures::{Cell, TempDir, contact};
use stoplist::import::read::{ReadOptions, Row, guess_mapping, open};

/// Resets the process's peak RSS to its current RSS (Linux: `/proc/self/clear_refs`), so
/// that the next [`peak_rss_mib`] covers what follows, not the file generation before it.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn current_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kib| kib.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kib| kib.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

/// Reads the whole file once, reusing one row buffer; returns (rows, field bytes, time).
fn read_reusing(path: &Path, name: &str) -> (u64, u64, Duration) {
    let started = Instant::now();
    let (info, mut rows) = open(path, name, &ReadOptions::default()).expect("open");
    let mapping = guess_mapping(&info.headers, &info.sample);
    assert_eq!(mapping.mobile, Some(0), "the mobile column is found");
    let mut row = Row::default();
    let (mut count, mut bytes) = (0u64, 0u64);
    while rows.next_into(&mut row).expect("read") {
        count += 1;
        bytes += row.iter().map(|f| f.len() as u64).sum::<u64>();
    }
    (count, bytes, started.elapsed())
}

/// Reads the whole file once through the iterator (a new `Row` per row).
fn read_iterating(path: &Path, name: &str) -> (u64, u64, Duration) {
    let started = Instant::now();
    let (_, rows) = open(path, name, &ReadOptions::default()).expect("open");
    let (mut count, mut bytes) = (0u64, 0u64);
    for row in rows {
        let row = row.expect("read");
        count += 1;
        bytes += row.get(0).map_or(0, |f| f.len() as u64);
    }
    (count, bytes, started.elapsed())
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn report(label: &str, rows: u64, size: u64, times: Vec<Duration>) {
    let runs = times.len();
    let best = *times.iter().min().unwrap();
    let m = median(times);
    let secs = m.as_secs_f64();
    println!(
        "{label}: {rows} rows, median of {runs} {:.3} s (best {:.3} s) = {:.2} M rows/s, {:.0} MB/s",
        secs,
        best.as_secs_f64(),
        rows as f64 / secs / 1e6,
        size as f64 / secs / 1e6,
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let csv_rows: u64 = args
        .next()
        .map_or(1_000_000, |s| s.parse().expect("CSV_ROWS"));
    let xlsx_rows: u64 = args
        .next()
        .map_or(100_000, |s| s.parse().expect("XLSX_ROWS"));
    let runs: usize = args.next().map_or(3, |s| s.parse().expect("RUNS"));
    let dir = TempDir::new("bench-read");

    // The CSV: header, then the contacts.
    let started = Instant::now();
    let csv_path = dir.path().join("contacts.csv");
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&csv_path).unwrap());
        writeln!(out, "Mobile,First Name,Last Name,Email").unwrap();
        for i in 0..csv_rows {
            let [mobile, first, last, email] = contact(i);
            writeln!(out, "{mobile},{first},{last},{email}").unwrap();
        }
    }
    let csv_size = std::fs::metadata(&csv_path).unwrap().len();
    println!(
        "generated {csv_rows} CSV rows ({:.1} MB) in {:.2} s",
        csv_size as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );

    reset_peak_rss();
    let baseline = current_rss_mib();
    let mut reusing = Vec::new();
    let mut iterating = Vec::new();
    for _ in 0..runs {
        let (count, _, time) = read_reusing(&csv_path, "contacts.csv");
        assert_eq!(count, csv_rows);
        reusing.push(time);
        let (count, _, time) = read_iterating(&csv_path, "contacts.csv");
        assert_eq!(count, csv_rows);
        iterating.push(time);
    }
    report("CSV, next_into (row reused)", csv_rows, csv_size, reusing);
    report("CSV, Iterator (row per row)", csv_rows, csv_size, iterating);
    println!(
        "CSV reads: peak RSS {:.1} MiB (RSS before reading {baseline:.1} MiB)",
        peak_rss_mib()
    );
    std::fs::remove_file(&csv_path).ok();

    if xlsx_rows > 0 {
        // The XLSX: mobiles alternately stored as numbers (61412345678) and as text.
        let started = Instant::now();
        let xlsx_path = dir.path().join("contacts.xlsx");
        let header = vec![
            Cell::Text("Mobile".into()),
            Cell::Text("First Name".into()),
            Cell::Text("Last Name".into()),
            Cell::Text("Email".into()),
        ];
        let body = (0..xlsx_rows).map(|i| {
            let [mobile, first, last, email] = contact(i);
            let digits: String = mobile.chars().filter(char::is_ascii_digit).collect();
            let mobile = if i % 2 == 0 && digits.starts_with("61") {
                Cell::Number(digits.parse::<f64>().unwrap())
            } else {
                Cell::Text(mobile)
            };
            vec![
                mobile,
                Cell::Text(first),
                Cell::Text(last),
                Cell::Text(email),
            ]
        });
        fixtures::write_xlsx_streaming(&xlsx_path, "Contacts", std::iter::once(header).chain(body));
        let xlsx_size = std::fs::metadata(&xlsx_path).unwrap().len();
        println!(
            "generated {xlsx_rows} XLSX rows ({:.1} MB) in {:.2} s",
            xlsx_size as f64 / 1e6,
            started.elapsed().as_secs_f64()
        );
        reset_peak_rss();
        let baseline = current_rss_mib();
        let mut times = Vec::new();
        for _ in 0..runs {
            let (count, _, time) = read_reusing(&xlsx_path, "contacts.xlsx");
            assert_eq!(count, xlsx_rows);
            times.push(time);
        }
        report("XLSX, next_into", xlsx_rows, xlsx_size, times);
        println!(
            "XLSX reads: peak RSS {:.1} MiB (RSS before reading {baseline:.1} MiB)",
            peak_rss_mib()
        );
    }
}
