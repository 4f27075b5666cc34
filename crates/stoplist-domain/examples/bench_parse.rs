//! Phone number parsing throughput: the fast path (`PhoneNumber::parse`) against the
//! library path (`PhoneNumber::parse_with_library`), single-threaded.
//!
//! Run with `bench/parse.sh` (release). Generates 2,000,000 AU inputs deterministically in
//! the five common written forms (about 1% invalid), times each path 5 times and prints the
//! median, checks both paths answer identically on every input, then does the same on mixed
//! NZ/US/GB/IN inputs. Exits non-zero on any mismatch.

use std::hint::black_box;
use std::time::{Duration, Instant};

use stoplist_domain::phone::{PhoneError, PhoneNumber, Region};

const AU_INPUTS: usize = 2_000_000;
const OTHER_INPUTS: usize = 400_000;
const RUNS: usize = 5;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }
}

/// An AU mobile national significant number ("412345678"), or about 1% of the time
/// something invalid (a digit short, a landline, an unused range).
fn au_nsn(rng: &mut Rng) -> String {
    if rng.below(100) == 0 {
        return match rng.below(3) {
            0 => format!("4{}", rng.digits(7)),
            1 => format!("29{}", rng.digits(7)),
            _ => format!("5{}", rng.digits(8)),
        };
    }
    // 40-43 and 46 are wholly mobile ranges in the metadata.
    let second = [b'0', b'1', b'2', b'3', b'6'][rng.below(5) as usize];
    format!("4{}{}", char::from(second), rng.digits(7))
}

fn au_input(rng: &mut Rng) -> String {
    let nsn = au_nsn(rng);
    let spaced = if nsn.len() == 9 {
        format!("{} {} {}", &nsn[..3], &nsn[3..6], &nsn[6..])
    } else {
        nsn.clone()
    };
    match rng.below(5) {
        0 => format!("0{spaced}"),
        1 => format!("0{nsn}"),
        2 => format!("+61 {spaced}"),
        3 => format!("61{nsn}"),
        _ => format!("+61{nsn}"),
    }
}

/// Mixed NZ/US/GB/IN inputs, each with its own default region, national and international.
fn other_input(rng: &mut Rng) -> (String, Region) {
    let (region, national, international) = match rng.below(4) {
        0 => {
            let n = rng.digits(7);
            (
                "NZ",
                format!("021 {} {}", &n[..3], &n[3..]),
                format!("+64 21{n}"),
            )
        }
        1 => {
            let n = rng.digits(4);
            ("US", format!("(201) 555-{n}"), format!("+1 201 555 {n}"))
        }
        2 => {
            let n = rng.digits(6);
            ("GB", format!("07400 {n}"), format!("+44 7400 {n}"))
        }
        _ => {
            let n = rng.digits(5);
            ("IN", format!("98765 {n}"), format!("+91 98765{n}"))
        }
    };
    let raw = if rng.below(2) == 0 {
        national
    } else {
        international
    };
    (raw, Region::parse(region).unwrap_or_default())
}

type Answer = Result<PhoneNumber, PhoneError>;

/// Median wall time of `RUNS` passes of `f` over `inputs`.
fn time(inputs: &[(String, Region)], f: fn(&str, Region) -> Answer) -> Duration {
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            let mut ok = 0usize;
            for (raw, region) in inputs {
                if black_box(f(black_box(raw), *region)).is_ok() {
                    ok += 1;
                }
            }
            black_box(ok);
            start.elapsed()
        })
        .collect();
    times.sort();
    times[RUNS / 2]
}

fn per_second(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn mismatches(inputs: &[(String, Region)]) -> usize {
    let mut count = 0;
    for (raw, region) in inputs {
        let fast = PhoneNumber::parse(raw, *region);
        let library = PhoneNumber::parse_with_library(raw, *region);
        if fast != library {
            if count < 10 {
                eprintln!("MISMATCH {raw:?} ({region}): fast {fast:?}, library {library:?}");
            }
            count += 1;
        }
    }
    count
}

fn report(name: &str, inputs: &[(String, Region)]) -> usize {
    let valid = inputs
        .iter()
        .filter(|(raw, region)| PhoneNumber::parse_with_library(raw, *region).is_ok())
        .count();
    let fast = time(inputs, PhoneNumber::parse);
    let library = time(inputs, PhoneNumber::parse_with_library);
    let bad = mismatches(inputs);
    let n = inputs.len();
    println!(
        "{name}: {n} inputs, {valid} valid ({:.2}% invalid)",
        100.0 * (n - valid) as f64 / n as f64
    );
    println!(
        "  parse (fast path)    {:>12.0} numbers/s  ({:.0} ns each, median of {RUNS})",
        per_second(n, fast),
        fast.as_nanos() as f64 / n as f64
    );
    println!(
        "  parse_with_library   {:>12.0} numbers/s  ({:.0} ns each, median of {RUNS})",
        per_second(n, library),
        library.as_nanos() as f64 / n as f64
    );
    println!(
        "  ratio                {:>12.1}x",
        library.as_secs_f64() / fast.as_secs_f64()
    );
    println!("  mismatches           {bad:>12}");
    bad
}

fn main() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    // Build the fast path's tables and the library's lazy state before timing.
    let start = Instant::now();
    let _ = black_box(PhoneNumber::parse("0412 345 678", Region::AU));
    println!("first parse (builds tables): {:?}", start.elapsed());
    let _ = black_box(PhoneNumber::parse_with_library("0412 345 678", Region::AU));

    let au: Vec<(String, Region)> = (0..AU_INPUTS)
        .map(|_| (au_input(&mut rng), Region::AU))
        .collect();
    let others: Vec<(String, Region)> = (0..OTHER_INPUTS).map(|_| other_input(&mut rng)).collect();

    let bad = report("AU mixed formats", &au) + report("NZ/US/GB/IN mixed", &others);
    if bad != 0 {
        eprintln!("{bad} mismatches between the fast path and the library");
        std::process::exit(1);
    }
}
