//! Times one export of generated report rows: `bench_export FORMAT ROWS OUT_FILE`.
//!
//! The rows look like the Incoming replies report: an RFC 3339 time, an Australian mobile
//! number, a 40-character reply (some with accents, a few with an emoji or a formula-like
//! start), a classification, a campaign and the actions taken. Prints one line:
//! `format=csv rows=1000000 seconds=1.234 bytes=123456789`. Run it through `bench/export.sh`,
//! which also measures peak memory.

use std::io::BufWriter;
use std::time::Instant;

use stoplist_export::{Exporter, Format, Meta};

const TEXTS: [&str; 8] = [
    "STOP please remove me from this list now",
    "Thanks, see you at the store on Saturday",
    "Merci, mais je ne veux plus de messages é",
    "Who is this? I never signed up for these",
    "unsubscribe 🙏 no more texts please thank",
    "=HYPERLINK(\"http://x.example\",\"click\")",
    "Yes I'll come — Zoë & José, 2 people ok?",
    "Can you call me back after 5pm tomorrow?",
];
const CLASSES: [&str; 4] = ["opt-out", "other", "question", "opt-in"];
const CAMPAIGNS: [&str; 3] = ["Black Friday 2026", "Spring sale", "Member survey"];
const ACTIONS: [&str; 3] = ["opted out; confirmation sent", "none", "flagged for review"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, format, rows, out] = args.as_slice() else {
        return Err("usage: bench_export FORMAT ROWS OUT_FILE".into());
    };
    let format = Format::parse(format).ok_or("unknown format")?;
    let rows: usize = rows.parse()?;
    let meta = Meta {
        title: "Incoming replies".into(),
        account: "Acme Pty Ltd".into(),
        filters: vec![
            ("From".into(), "2026-11-01".into()),
            ("To".into(), "2026-11-28".into()),
            ("Class".into(), "all".into()),
        ],
        generated_at: "2026-11-28 07:30 UTC".into(),
    };
    let columns = ["Received", "From", "Text", "Class", "Campaign", "Actions"];

    let started = Instant::now();
    // The server writes into a temporary file the same way.
    let file = BufWriter::with_capacity(64 * 1024, std::fs::File::create(out)?);
    let mut export = Exporter::new(format, &meta, &columns, file)?;
    for i in 0..rows {
        let received = format!(
            "2026-11-{:02}T{:02}:{:02}:{:02}+11:00",
            1 + (i / 86_400) % 28,
            (i / 3600) % 24,
            (i / 60) % 60,
            i % 60
        );
        let from = format!("+614{:08}", (i * 7919) % 100_000_000);
        export.row(&[
            &received,
            &from,
            TEXTS[i % TEXTS.len()],
            CLASSES[i % CLASSES.len()],
            CAMPAIGNS[i % CAMPAIGNS.len()],
            ACTIONS[i % ACTIONS.len()],
        ])?;
    }
    let file = export.finish()?;
    drop(file);
    let seconds = started.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(out)?.len();
    println!("format={format} rows={rows} seconds={seconds:.3} bytes={bytes}");
    Ok(())
}
