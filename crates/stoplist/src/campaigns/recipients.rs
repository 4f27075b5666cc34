//! Who a campaign goes to: the numbers of its groups, its typed numbers and its uploaded file,
//! parsed, deduplicated, and checked against the opt-out list (SPEC 3.1, 3.2).
//!
//! One pass reads every source. Invalid numbers and opted-out numbers go to the Invalid
//! Numbers list with where they came from; valid ones are collected as 64-bit keys
//! ([`PhoneNumber::as_u64`]), sorted and deduplicated at the end, which keeps memory at eight
//! bytes a number (80 MB for a 10-million-row file) instead of a hash set's three times that.
//! An opted-out number is listed once, however often it appears.
//!
//! An uploaded file is read in a pipeline of two threads: one reads rows and parses the numbers
//! (the costly part), the other checks them against the opt-out index in batches (one lock per
//! batch) and collects them, in file order, so the result is the same as one thread's.

use crate::error::{AppError, AppResult};
use crate::import::read::{self, ReadOptions, Row};
use crate::import::run::ColumnRef;
use crate::optouts::IndexView;
use crate::optouts::index::KeyHasher;
use crate::state::AppState;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;
use stoplist_domain::names::ContactFields;
use stoplist_domain::{PhoneError, PhoneNumber, Region};
use stoplist_store::{Campaign, InvalidRecipient};

/// Longest Invalid Numbers list kept per preview; beyond it only counts grow (a file of
/// millions of bad rows should not become millions of stored rows).
pub const MAX_LISTED: usize = 100_000;

/// The result of resolving a campaign's recipients.
#[derive(Debug, Default)]
pub struct Resolved {
    /// Distinct valid numbers that are not opted out, as [`PhoneNumber::as_u64`] keys, sorted.
    pub keys: Vec<u64>,
    /// Contact fields of group members, for personalisation (first instance wins); filled
    /// only when asked.
    pub fields: HashMap<u64, ContactFields>,
    /// Every number read, valid or not, from every source.
    pub numbers_read: u64,
    /// Repeats of a number already read.
    pub duplicates: u64,
    /// Invalid numbers by reason code (opted-out ones not included).
    pub invalid_by_reason: HashMap<&'static str, u64>,
    /// Distinct opted-out numbers excluded.
    pub opted_out: u64,
    /// The Invalid Numbers list (up to [`MAX_LISTED`]).
    pub invalid: Vec<InvalidRecipient>,
}

impl Resolved {
    pub fn invalid_total(&self) -> u64 {
        self.invalid_by_reason.values().sum()
    }
}

/// Accumulates numbers from the sources in order.
struct Collector<'a> {
    index: &'a IndexView,
    region: Region,
    out: Resolved,
    /// Opted-out keys already counted (phone keys are not attacker-chosen hash inputs in a
    /// way that matters here: the set lives for one preview).
    opted_seen: HashSet<u64, BuildHasherDefault<KeyHasher>>,
    /// `out.keys[..sorted_to]` is a sequence of sorted runs.
    sorted_to: usize,
}

/// Keys sorted at a time as they are collected (8 MiB).
const RUN: usize = 1 << 20;

impl Collector<'_> {
    fn list(&mut self, origin: impl FnOnce() -> String, raw: &str, reason: &str, detail: String) {
        if self.out.invalid.len() < MAX_LISTED {
            let seq = self.out.invalid.len() as i64 + 1;
            self.out.invalid.push(InvalidRecipient {
                seq,
                origin: origin(),
                raw: raw.to_owned(),
                reason: reason.to_owned(),
                detail,
                optout_since: None,
                optout_source: None,
            });
        }
    }

    /// One raw number from a source; `origin` says where, for the list.
    fn raw(&mut self, raw: &str, origin: impl FnOnce() -> String) {
        let parsed = PhoneNumber::parse_key(raw, self.region)
            .map(|key| (key, self.index.get(key).is_some()));
        self.parsed(raw, parsed, origin);
    }

    /// One number read and parsed: its key and whether the index lists it, or why it is
    /// invalid.
    fn parsed(
        &mut self,
        raw: &str,
        parsed: Result<(u64, bool), PhoneError>,
        origin: impl FnOnce() -> String,
    ) {
        self.out.numbers_read += 1;
        match parsed {
            Ok((key, false)) => self.push(key),
            Ok((key, true)) => self.opted_out(key, raw, origin),
            Err(e) => {
                *self.out.invalid_by_reason.entry(e.code()).or_default() += 1;
                self.list(origin, raw, e.code(), e.to_string());
            }
        }
    }

    /// A number known valid (a stored contact's).
    fn valid(&mut self, n: &PhoneNumber, raw: &str, origin: impl FnOnce() -> String) {
        let key = n.as_u64();
        match self.index.get(key) {
            None => self.push(key),
            Some(_) => self.opted_out(key, raw, origin),
        }
    }

    /// A recipient's key. Each full run of [`RUN`] keys is sorted at once, while the reading
    /// thread goes on; [`Collector::finish`] then only merges the runs.
    fn push(&mut self, key: u64) {
        self.out.keys.push(key);
        if self.out.keys.len() - self.sorted_to == RUN {
            self.out.keys[self.sorted_to..].sort_unstable();
            self.sorted_to = self.out.keys.len();
        }
    }

    /// A valid number the index lists: counted and listed once, with the opt-out's date and
    /// source.
    fn opted_out(&mut self, key: u64, raw: &str, origin: impl FnOnce() -> String) {
        if !self.opted_seen.insert(key) {
            self.out.duplicates += 1;
            return;
        }
        self.out.opted_out += 1;
        if self.out.invalid.len() >= MAX_LISTED {
            return;
        }
        // Looked up again for the date and source (a batch check answers only yes or no); in
        // the moment between, the opt-out may have been lifted: it is still listed, undated.
        let entry = self.index.get(key);
        let seq = self.out.invalid.len() as i64 + 1;
        self.out.invalid.push(InvalidRecipient {
            seq,
            origin: origin(),
            raw: raw.to_owned(),
            reason: "opted_out".into(),
            detail: match entry {
                Some(e) => format!(
                    "opted out since {} ({})",
                    crate::rfc3339(e.since),
                    e.source.as_str()
                ),
                None => "opted out".to_owned(),
            },
            optout_since: entry.map(|e| e.since),
            optout_source: entry.map(|e| e.source.as_str().to_owned()),
        });
    }

    /// A batch of file rows, in file order; the index is asked about the whole batch under
    /// one lock.
    fn batch(&mut self, batch: &Batch) {
        let mut start = 0;
        for item in &batch.items {
            match item {
                Item::Number { end, row, parsed } => {
                    let raw = batch.text.get(start..*end).unwrap_or("");
                    start = *end;
                    let parsed = parsed.map(|key| (key, self.index.get(key).is_some()));
                    self.parsed(raw, parsed, || format!("file row {row}"));
                }
                Item::Unreadable { row, error } => {
                    *self
                        .out
                        .invalid_by_reason
                        .entry("unreadable_row")
                        .or_default() += 1;
                    self.out.numbers_read += 1;
                    self.list(
                        || format!("file row {row}"),
                        "",
                        "unreadable_row",
                        error.clone(),
                    );
                }
            }
        }
    }

    fn finish(mut self) -> Resolved {
        let before = self.out.keys.len();
        // The stable sort finds the sorted runs and merges them (O(n log runs), with a buffer
        // of at most half the keys), several times faster than sorting from scratch.
        self.out.keys.sort();
        self.out.keys.dedup();
        self.out.duplicates += (before - self.out.keys.len()) as u64;
        self.out
    }
}

/// Resolves `campaign`'s recipients against the account's opt-out index. With
/// `with_fields`, group members' contact fields are kept for personalisation.
///
/// The file part is CPU work: callers run this on a blocking thread for large files, after
/// fetching the group contacts (see [`group_contacts`]).
pub fn resolve(
    campaign: &Campaign,
    groups: &[(String, Vec<(PhoneNumber, ContactFields)>)],
    index: &IndexView,
    region: Region,
    with_fields: bool,
) -> AppResult<Resolved> {
    let mut c = Collector {
        index,
        region,
        out: Resolved::default(),
        // Opted-out keys are index keys: sized once, never rehashed while collecting.
        opted_seen: HashSet::with_capacity_and_hasher(index.len(), Default::default()),
        sorted_to: 0,
    };
    for (name, contacts) in groups {
        for (number, fields) in contacts {
            c.out.numbers_read += 1;
            c.valid(number, number.as_str(), || format!("group {name}"));
            if with_fields {
                c.out
                    .fields
                    .entry(number.as_u64())
                    .or_insert_with(|| fields.clone());
            }
        }
    }
    for (i, raw) in campaign.numbers.iter().enumerate() {
        c.raw(raw, || format!("typed {}", i + 1));
    }
    if let Some(file) = &campaign.file {
        // Only a campaign that ended has its file removed, and nothing reads it then.
        let path = file.path.as_deref().ok_or_else(|| {
            AppError::invalid(
                "file_removed",
                "file",
                format!(
                    "file: the recipients file {:?} was removed when the campaign ended",
                    file.name
                ),
            )
        })?;
        read_file(&mut c, path, &file.name, file.column.as_deref())?;
    }
    Ok(c.finish())
}

/// File rows handed from the reading thread to the collecting one at a time.
const BATCH_ROWS: usize = 8192;

/// A run of file rows, read and parsed, in file order.
#[derive(Default)]
struct Batch {
    /// The numbers as written (trimmed), back to back.
    text: String,
    items: Vec<Item>,
}

/// One row of a [`Batch`].
enum Item {
    /// A number: where its text ends in [`Batch::text`] (it starts where the previous number's
    /// ends), its row, and its key or why it is invalid.
    Number {
        end: usize,
        row: u64,
        parsed: Result<u64, PhoneError>,
    },
    /// A row that could not be read (a row-level error; the file goes on).
    Unreadable { row: u64, error: String },
}

/// Reads the numbers column of a recipients file into the collector: a scoped thread reads
/// and parses, this one checks and collects (see the module doc).
fn read_file(c: &mut Collector<'_>, path: &str, name: &str, column: Option<&str>) -> AppResult<()> {
    let (info, rows) = read::open(path.as_ref(), name, &ReadOptions::default())
        .map_err(|e| AppError::invalid("unreadable_file", "file", e.to_string()))?;
    let col = number_column(&info, column)?;
    let region = c.region;
    std::thread::scope(|scope| {
        // A few batches in flight keep both threads busy; emptied ones come back for reuse.
        let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<Batch>(4);
        let (empty_tx, empty_rx) = std::sync::mpsc::channel::<Batch>();
        let reader = scope.spawn(move || read_batches(rows, col, region, &full_tx, &empty_rx));
        for batch in full_rx.iter() {
            c.batch(&batch);
            // The reader may have finished already; then the batch is simply dropped.
            let _ = empty_tx.send(batch);
        }
        reader.join().map_err(|_| {
            AppError::Internal(anyhow::anyhow!("the recipients file reader panicked"))
        })?
    })
}

/// The reading thread: rows of `col`, parsed, in batches, until the end of the file or a
/// fatal error.
fn read_batches(
    mut rows: read::Rows,
    col: usize,
    region: Region,
    full: &std::sync::mpsc::SyncSender<Batch>,
    empty: &std::sync::mpsc::Receiver<Batch>,
) -> AppResult<()> {
    let mut row = Row::new(0, [""; 0]);
    let mut batch = Batch::default();
    loop {
        match rows.next_into(&mut row) {
            Ok(true) => {
                let raw = row.get(col).unwrap_or("").trim();
                if raw.is_empty() {
                    continue;
                }
                batch.text.push_str(raw);
                batch.items.push(Item::Number {
                    end: batch.text.len(),
                    row: row.number(),
                    parsed: PhoneNumber::parse_key(raw, region),
                });
            }
            Ok(false) => break,
            Err(e) if !e.is_fatal() => batch.items.push(Item::Unreadable {
                row: e.row().unwrap_or(0),
                error: e.to_string(),
            }),
            Err(e) => return Err(AppError::invalid("unreadable_file", "file", e.to_string())),
        }
        if batch.items.len() >= BATCH_ROWS {
            let mut next = empty.try_recv().unwrap_or_default();
            next.text.clear();
            next.items.clear();
            if full.send(std::mem::replace(&mut batch, next)).is_err() {
                return Ok(()); // the collector stopped; nobody wants the rest
            }
        }
    }
    if !batch.items.is_empty() {
        let _ = full.send(batch);
    }
    Ok(())
}

/// The column of numbers: the one named, else the guessed mobile column.
pub fn number_column(info: &read::FileInfo, column: Option<&str>) -> AppResult<usize> {
    match column {
        Some(c) => ColumnRef::parse(c).resolve(&info.headers, "column"),
        None => read::guess_mapping(&info.headers, &info.sample)
            .mobile
            .ok_or_else(|| {
                AppError::invalid(
                    "no_number_column",
                    "column",
                    format!(
                        "{}: no column looks like phone numbers; its columns are: {}. Name the column of numbers.",
                        info.file,
                        read::describe_headers(&info.headers)
                    ),
                )
            }),
    }
}

/// Every contact of the campaign's groups, as (group name, its numbers and fields).
pub async fn group_contacts(
    state: &AppState,
    campaign: &Campaign,
) -> AppResult<Vec<(String, Vec<(PhoneNumber, ContactFields)>)>> {
    let mut out = Vec::with_capacity(campaign.groups.len());
    for &g in &campaign.groups {
        let Some(group) = state.store.group(campaign.account, g).await? else {
            continue; // deleted since: it contributes nobody
        };
        let mut contacts = Vec::new();
        let mut after = None;
        loop {
            let page = state
                .store
                .list_contacts(campaign.account, Some(g), None, after, 5000)
                .await?;
            contacts.extend(page.items.into_iter().map(|c| (c.number, c.fields)));
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        out.push((group.name, contacts));
    }
    Ok(out)
}
