//! The import pipeline, shared by the CLI, the API and the web UI (docs/architecture.md,
//! "Imports").
//!
//! 1. Open the file ([`super::read::open`]) and settle the column mapping (guessed, or the
//!    caller's); a file that cannot be read or has no number column fails before anything
//!    is recorded. Record the import ([`start`], which takes a place under the limits on
//!    running imports).
//! 2. Read every row on a blocking thread, no lock held: each number is parsed with the
//!    account's default region; valid rows go to the sort ([`super::sort`], on disk past the
//!    memory budget), rows the file marks as opted out are kept apart, rejected rows and the
//!    progress are committed now and then (the heartbeat).
//! 3. Open the import for staging once no other import into its group is unfinished, then
//!    stage the sorted, distinct rows in short transactions
//!    ([`stoplist_store::Store::stage_import`]): hidden from every reader until published.
//! 4. Publish in one short transaction ([`stoplist_store::Store::publish_import`]): the rows
//!    the file marks as opted out are listed, the reset's lifts still standing applied, the
//!    import shown whole, the report written. A failure at any step records the import as
//!    failed and deletes its hidden rows; the group and the opt-out list are as before.
//!
//! Opt Out Manager uploads read and sort the same way, then land batch by batch, each in a
//! short transaction of its own ([`stoplist_store::Store::upload_batch`]): the list and the
//! ledger always agree, and replies go on between batches. An upload stopped midway keeps
//! the numbers its landed batches listed (an opt-out is never taken back) and says so in its
//! report; uploading the file again lists the rest.

use super::read::{self, CellNote, Mapping, ReadError, ReadOptions, Row};
use super::sort::{Next, Sorter};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use stoplist_domain::names::{ContactFields, Reason};
use stoplist_domain::{AccountId, Actor, GroupId, PhoneNumber, Region};
use stoplist_store::{
    ImportCounts, ImportKind, ImportRecord, ImportStatus, NewImport, Reject, StagedRow,
};

/// Where an import goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Contacts into this group.
    Group(GroupId),
    /// Numbers onto the opt-out list (source `upload`).
    OptOutList,
}

/// A column named by its 0-based index or its header, or no column at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnRef {
    Index(usize),
    Header(String),
    /// "This field has no column": an optional field (first name, last name, email) is then
    /// left empty even where a column was guessed. A number always needs a column.
    NoColumn,
}

impl ColumnRef {
    /// `"3"` is column index 3 (0-based); `"none"` or `"-"` is [`ColumnRef::NoColumn`] (a
    /// header really called "none" is chosen by its index); anything else is a header name.
    pub fn parse(s: &str) -> ColumnRef {
        let s = s.trim();
        if s == "-" || s.eq_ignore_ascii_case("none") {
            return ColumnRef::NoColumn;
        }
        match s.parse::<usize>() {
            Ok(i) => ColumnRef::Index(i),
            Err(_) => ColumnRef::Header(s.to_owned()),
        }
    }

    /// The column's index among `headers`; an error naming `field` and the file's columns
    /// when there is none (also for [`ColumnRef::NoColumn`]: the caller needs a column).
    pub(crate) fn resolve(&self, headers: &[String], field: &str) -> AppResult<usize> {
        let found = match self {
            ColumnRef::Index(i) if *i < headers.len() => Some(*i),
            ColumnRef::Index(_) | ColumnRef::NoColumn => None,
            ColumnRef::Header(h) => headers
                .iter()
                .position(|x| x.trim().eq_ignore_ascii_case(h)),
        };
        found.ok_or_else(|| {
            AppError::invalid(
                "unknown_column",
                format!("mapping.{field}"),
                format!(
                    "mapping {field}: no column {self:?} in the file; its columns are: {}",
                    read::describe_headers(headers)
                ),
            )
        })
    }
}

/// The caller's column choices; `None` keeps the guess.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MappingOverride {
    pub mobile: Option<ColumnRef>,
    pub first_name: Option<ColumnRef>,
    pub last_name: Option<ColumnRef>,
    pub email: Option<ColumnRef>,
    pub middle_name: Option<ColumnRef>,
    /// The column that marks a row as opted out ("Opted out", "Unsubscribed"…), or none.
    pub opted_out: Option<ColumnRef>,
}

impl MappingOverride {
    /// Parses `mobile=2,first_name=Given Name,email=none,...` (the CLI and API form); `none`
    /// or `-` says an optional field has no column.
    pub fn parse(spec: &str) -> AppResult<MappingOverride> {
        let mut m = MappingOverride::default();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').ok_or_else(|| {
                AppError::invalid(
                    "invalid_field",
                    "mapping",
                    format!("mapping: {part:?} is not FIELD=COLUMN"),
                )
            })?;
            let col = Some(ColumnRef::parse(v));
            match k.trim() {
                "mobile" => m.mobile = col,
                "first_name" => m.first_name = col,
                "last_name" => m.last_name = col,
                "email" => m.email = col,
                "middle_name" => m.middle_name = col,
                "opted_out" => m.opted_out = col,
                other => {
                    return Err(AppError::invalid(
                        "invalid_field",
                        "mapping",
                        format!(
                            "mapping: unknown field {other:?} (use mobile, first_name, middle_name, \
                             last_name, email, opted_out)"
                        ),
                    ));
                }
            }
        }
        Ok(m)
    }

    fn apply(&self, mut m: Mapping, headers: &[String]) -> AppResult<Mapping> {
        if let Some(c) = &self.mobile {
            if *c == ColumnRef::NoColumn {
                return Err(AppError::invalid(
                    "invalid_field",
                    "mapping.mobile",
                    "mapping mobile: the number needs a column; only first_name, middle_name, \
                     last_name, email and opted_out can be none",
                ));
            }
            // The caller named the column: use it, not Google's typed pairs or fallbacks.
            m.choose_mobile(c.resolve(headers, "mobile")?);
        }
        let optional = |c: &ColumnRef, field| match c {
            ColumnRef::NoColumn => Ok(None),
            c => c.resolve(headers, field).map(Some),
        };
        if let Some(c) = &self.first_name {
            m.first_name = optional(c, "first_name")?;
            if *c == ColumnRef::NoColumn {
                // No first name means none: not the guessed full-name or middle-name
                // column either.
                m.full_name = None;
                m.middle_name = None;
            }
        }
        if let Some(c) = &self.middle_name {
            m.middle_name = optional(c, "middle_name")?;
        }
        if let Some(c) = &self.opted_out {
            m.opted_out = optional(c, "opted_out")?;
            let chosen = m.opted_out;
            m.custom.retain(|(i, _)| Some(*i) != chosen);
        }
        if let Some(c) = &self.last_name {
            m.last_name = optional(c, "last_name")?;
        }
        if let Some(c) = &self.email {
            m.email = optional(c, "email")?;
        }
        Ok(m)
    }
}

/// One import to run.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    pub account: AccountId,
    pub target: Target,
    /// The uploaded file on disk.
    pub path: PathBuf,
    /// The name the user knows it by (used in every message and the evidence).
    pub file_name: String,
    /// "Reset contacts that have previously opted out?" with its required reason.
    pub reset: Option<Reason>,
    pub dry_run: bool,
    pub mapping: MappingOverride,
    pub read: ReadOptions,
    pub actor: Actor,
}

/// Live progress of a running import (rows read so far), for the CLI, API and UI.
#[derive(Debug, Default)]
pub struct ImportProgress {
    pub rows_read: AtomicI64,
}

/// The imports this process is running, by id, with their places under the limits on
/// running imports (taken by [`start`], given back when the import ends).
#[derive(Default)]
pub struct ImportJobs {
    running: Mutex<HashMap<i64, Arc<ImportProgress>>>,
    permits: Mutex<HashMap<i64, crate::limits::Permit>>,
}

impl ImportJobs {
    pub fn progress(&self, id: i64) -> Option<Arc<ImportProgress>> {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned()
    }

    fn start(&self, id: i64, p: Arc<ImportProgress>) {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, p);
    }

    fn end(&self, id: i64) {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        self.permits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }

    fn hold(&self, id: i64, permit: crate::limits::Permit) {
        self.permits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, permit);
    }
}

/// A file opened and checked, ready to import.
pub struct Prepared {
    info: read::FileInfo,
    rows: read::Rows,
    mapping: Mapping,
}

/// Opens the file and settles the mapping. Errors here mean nothing was recorded.
pub fn prepare(req: &ImportRequest) -> AppResult<Prepared> {
    let (info, rows) = read::open(&req.path, &req.file_name, &req.read).map_err(file_error)?;
    if info.has_header && rows.is_exhausted() {
        return Err(file_error(ReadError::NoRows {
            file: req.file_name.clone(),
            headers: read::describe_headers(&info.headers),
        }));
    }
    let guessed = read::guess_mapping(&info.headers, &info.sample);
    let mapping = req.mapping.apply(guessed, &info.headers)?;
    if mapping.mobile.is_none()
        && mapping.typed_phones.is_empty()
        && mapping.other_phones.is_empty()
    {
        return Err(file_error(ReadError::NoMobileColumn {
            file: req.file_name.clone(),
            headers: read::describe_headers(&info.headers),
        }));
    }
    Ok(Prepared {
        info,
        rows,
        mapping,
    })
}

fn file_error(e: ReadError) -> AppError {
    AppError::invalid("invalid_file", "file", e.to_string())
}

/// Opens the file on a blocking thread (see [`prepare`]).
pub async fn prepare_async(req: &ImportRequest) -> AppResult<Prepared> {
    let req = req.clone();
    tokio::task::spawn_blocking(move || prepare(&req))
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("import task: {e}")))?
}

/// Prepares, records and runs an import to the end (see the module doc). The record says
/// how it ended; a failure is also returned as the error.
pub async fn run(
    state: &AppState,
    req: ImportRequest,
    progress: Arc<ImportProgress>,
) -> AppResult<ImportRecord> {
    let prepared = prepare_async(&req).await?;
    let id = start(state, &req).await?;
    run_started(state, &req, id, prepared, progress).await
}

/// Runs an import already recorded by [`start`] to its end.
pub async fn run_started(
    state: &AppState,
    req: &ImportRequest,
    id: i64,
    prepared: Prepared,
    progress: Arc<ImportProgress>,
) -> AppResult<ImportRecord> {
    state.imports.start(id, progress.clone());
    let outcome = execute(state, req, id, prepared, &progress).await;
    state.imports.end(id);
    let now = crate::now_ms();
    match outcome {
        Ok(counts) => {
            // The report was recorded `done` with the rows (a contact import) or after its
            // last batch (an upload).
            tracing::info!(import = id, file = %req.file_name, ?counts, dry_run = req.dry_run, "import finished");
        }
        Err(e) => {
            let mut counts = ImportCounts {
                rows_read: progress.rows_read.load(Ordering::Relaxed),
                ..Default::default()
            };
            let mut message = e.to_string();
            // An upload's batches that landed stay: its report keeps what they listed.
            let landed = match state.store.import(req.account, id).await {
                Ok(Some(r)) if r.kind == ImportKind::OptOuts && !req.dry_run => r.counts,
                _ => ImportCounts::default(),
            };
            if landed.imported + landed.updated > 0 {
                counts.imported = landed.imported;
                counts.updated = landed.updated;
                message = format!(
                    "{message}; the {} numbers counted as imported were listed before it stopped \
                     and stay listed: upload the file again to list the rest",
                    landed.imported
                );
            }
            state
                .store
                .finish_import(
                    req.account,
                    id,
                    ImportStatus::Failed,
                    &counts,
                    Some(&message),
                    now,
                )
                .await?;
            if let Err(e) = state.store.discard_imports().await {
                tracing::warn!(import = id, error = %e, "clearing a failed import's hidden rows failed; retried with the next stale-import check");
            }
            tracing::warn!(import = id, file = %req.file_name, error = %message, "import failed");
            return Err(e);
        }
    }
    state
        .store
        .import(req.account, id)
        .await?
        .ok_or(AppError::NotFound("import"))
}

/// Records a new import for `req`, once it has a place under the limits on running imports
/// (else 429 with `Retry-After`: [`crate::limits::Limits::try_import`]).
pub async fn start(state: &AppState, req: &ImportRequest) -> AppResult<i64> {
    let permit = state.limits.try_import(req.account)?;
    let (kind, group) = match req.target {
        Target::Group(g) => (ImportKind::Contacts, Some(g)),
        Target::OptOutList => (ImportKind::OptOuts, None),
    };
    if let Some(g) = group {
        state
            .store
            .group(req.account, g)
            .await?
            .ok_or(AppError::NotFound("group"))?;
    }
    let new = NewImport {
        account: req.account,
        group,
        kind,
        file_name: &req.file_name,
        dry_run: req.dry_run,
        reset: req.reset.as_ref(),
        actor: &req.actor,
    };
    let id = state.store.create_import(&new, crate::now_ms()).await?;
    state.imports.hold(id, permit);
    Ok(id)
}

/// What the reader hands the writer.
enum FromReader {
    /// Rejected rows and the totals so far; sent now and then while the file is read, also as
    /// a sign of life (the import's heartbeat).
    Progress {
        rejects: Vec<Reject>,
        rows_read: i64,
        invalid: i64,
    },
    /// Once the whole file is read: the rows it marks as opted out.
    Marked(Vec<StagedRow>),
    /// Once the whole file is read and sorted: distinct rows in number order, with the
    /// duplicates found among them.
    Rows {
        rows: Vec<StagedRow>,
        duplicates: Vec<Reject>,
    },
}

/// Rows per staged batch of a contact import: one short write transaction each (about
/// 20–40 ms on SQLite), so that opt-outs and everything else go on between them.
const STAGE_ROWS: usize = 10_000;

/// Rows read between two signs of life while a file is read (rejected rows go with them).
const PROGRESS_EVERY: i64 = 200_000;

/// The share of the import's memory budget its sort may hold in memory before it spills to
/// disk; the rest is for reading, batches in flight and the database's cache.
const SORT_SHARE_PERCENT: usize = 60;

async fn execute(
    state: &AppState,
    req: &ImportRequest,
    id: i64,
    prepared: Prepared,
    progress: &Arc<ImportProgress>,
) -> AppResult<ImportCounts> {
    let region = state.account_settings(req.account).await?.default_region;
    let group = matches!(req.target, Target::Group(_));
    let mut opened = false;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<FromReader, AppError>>(2);
    let expected = expected_rows(&req.path, &prepared);
    let budget = state.config.import_memory_mb as usize * (1 << 20);
    let sorter = Sorter::new(
        budget / 100 * SORT_SHARE_PERCENT,
        req.path.parent().unwrap_or(std::path::Path::new(".")),
        id,
        expected,
    );
    let reader = tokio::task::spawn_blocking(move || {
        read_rows(prepared, region, group, sorter, &tx);
    });
    let started = std::time::Instant::now();
    let (mut rows_read, mut invalid, mut duplicates) = (0, 0, 0);
    let mut staged = ImportCounts::default();
    let mut sorted_at = None;
    let mut marked = Vec::new();
    while let Some(msg) = rx.recv().await {
        match msg? {
            FromReader::Progress {
                rejects,
                rows_read: r,
                invalid: i,
            } => {
                (rows_read, invalid) = (r, i);
                progress.rows_read.store(r, Ordering::Relaxed);
                state
                    .store
                    .note_import(id, &rejects, r, i, crate::now_ms())
                    .await?;
            }
            FromReader::Marked(rows) => marked = rows,
            FromReader::Rows {
                rows,
                duplicates: dups,
            } => {
                sorted_at.get_or_insert_with(|| started.elapsed());
                duplicates += dups.len() as i64;
                if group {
                    if !dups.is_empty() {
                        state
                            .store
                            .note_import(id, &dups, rows_read, invalid, crate::now_ms())
                            .await?;
                    }
                    if !opened {
                        open_when_free(state, req, id, rows_read, invalid).await?;
                        opened = true;
                    }
                    let c = state
                        .store
                        .stage_import(req.account, id, &rows, rows_read, invalid)
                        .await
                        .map_err(group_error)?;
                    staged.imported += c.imported;
                    staged.updated += c.updated;
                    staged.skipped_opted_out += c.skipped_opted_out;
                    staged.skipped_enforced += c.skipped_enforced;
                    staged.lifted += c.lifted;
                    continue;
                }
                // An upload lands batch by batch, each in a short transaction of its own
                // (list and ledger together), so replies and opt-outs go on between them.
                let c = state
                    .optouts
                    .commit_bulk(
                        req.account,
                        !req.dry_run,
                        state.store.upload_batch(
                            req.account,
                            id,
                            &rows,
                            &dups,
                            rows_read,
                            invalid,
                            crate::now_ms(),
                        ),
                    )
                    .await?;
                staged.imported += c.imported;
                staged.updated += c.updated;
            }
        }
    }
    reader
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("import reader: {e}")))?;
    let written = started.elapsed();
    staged.rows_read = rows_read;
    staged.invalid = invalid;
    staged.duplicates = duplicates;
    staged.opted_out_in_file = marked.len() as i64;
    let mut counts = if group {
        if !opened {
            open_when_free(state, req, id, rows_read, invalid).await?;
        }
        // The list changes only where a reset lifts opt-outs or the file marks some.
        let lifts = (staged.lifted > 0 || !marked.is_empty()) && !req.dry_run;
        state
            .optouts
            .commit_bulk(
                req.account,
                lifts,
                state
                    .store
                    .publish_import(req.account, id, &staged, &marked, crate::now_ms()),
            )
            .await
            .map_err(group_error)?
    } else {
        state
            .store
            .finish_import(
                req.account,
                id,
                ImportStatus::Done,
                &staged,
                None,
                crate::now_ms(),
            )
            .await?;
        staged
    };
    tracing::info!(
        import = id,
        read_and_sorted_ms = sorted_at.unwrap_or(written).as_millis() as u64,
        written_ms = (written - sorted_at.unwrap_or(written)).as_millis() as u64,
        published_ms = (started.elapsed() - written).as_millis() as u64,
        "import applied"
    );
    counts.rows_read = rows_read;
    counts.invalid = invalid;
    counts.duplicates = duplicates;
    Ok(counts)
}

/// How often an import waiting for another import into its group looks again.
const WAIT_FOR_GROUP: std::time::Duration = std::time::Duration::from_millis(200);

/// Opens a contact import for staging ([`stoplist_store::Store::open_import`]) once no other
/// import into its group is unfinished: two imports into one group land one after the other,
/// each whole (the second is read and sorted meanwhile). Failed imports' leftovers are cleared
/// first; the heartbeat goes on while it waits.
async fn open_when_free(
    state: &AppState,
    req: &ImportRequest,
    id: i64,
    rows_read: i64,
    invalid: i64,
) -> AppResult<()> {
    let mut last_sign = std::time::Instant::now();
    loop {
        state.store.discard_imports().await?;
        match state.store.open_import(req.account, id).await {
            Err(stoplist_store::StoreError::Conflict { .. }) => {
                if last_sign.elapsed() > std::time::Duration::from_secs(5) {
                    state
                        .store
                        .note_import(id, &[], rows_read, invalid, crate::now_ms())
                        .await?;
                    last_sign = std::time::Instant::now();
                }
                tokio::time::sleep(WAIT_FOR_GROUP).await;
            }
            r => return r.map_err(group_error),
        }
    }
}

/// A store error of a contact import, in the words of what happened to the group.
fn group_error(e: stoplist_store::StoreError) -> AppError {
    use stoplist_store::StoreError;
    match e {
        StoreError::NotFound("group") => AppError::invalid(
            "group_deleted",
            "group",
            "the group was deleted while the import ran; nothing of the import was applied",
        ),
        e => e.into(),
    }
}

/// About how many rows the file holds, to size the dedupe table once: the file's size over
/// the bytes a line takes in its first 64 KiB (text files; a spreadsheet's cells are
/// compressed, so its table starts small and grows).
///
/// The raw bytes, not the sample rows' fields: those leave out quotes and line ends, and at
/// 10,000,000 rows an estimate 40% high cost 75 MB of the 300 MB budget.
fn expected_rows(path: &std::path::Path, p: &Prepared) -> usize {
    use std::io::Read;
    let text = matches!(
        p.info.kind,
        read::FileKind::Csv | read::FileKind::Tsv | read::FileKind::Txt
    );
    if !text {
        return 0;
    }
    let Ok(meta) = std::fs::metadata(path) else {
        return 0;
    };
    let mut head = Vec::with_capacity(64 * 1024);
    match std::fs::File::open(path).and_then(|f| f.take(64 * 1024).read_to_end(&mut head)) {
        Ok(_) => estimate_rows(meta.len(), &head),
        Err(_) => 0,
    }
}

/// Rows in a text file of `len` bytes whose first bytes are `head`: `len` over the bytes a
/// line takes in `head`; 0 when `head` holds fewer than two lines.
fn estimate_rows(len: u64, head: &[u8]) -> usize {
    // Line feeds (also in UTF-16, whose 0x0A byte is one of each line end's two); a file of
    // old Mac line ends has only carriage returns.
    let lines = match bytecount(head, b'\n') {
        0 => bytecount(head, b'\r'),
        n => n,
    };
    if lines < 2 {
        return 0;
    }
    // The estimate itself, no slack: it counts every row, and duplicates and invalid rows
    // add no number, so it is already over the distinct numbers the table must hold.
    usize::try_from(len)
        .unwrap_or(usize::MAX)
        .saturating_mul(lines)
        / head.len()
}

fn bytecount(bytes: &[u8], b: u8) -> usize {
    bytes.iter().filter(|&&c| c == b).count()
}

/// Reads every row into the sorter, sending rejected rows and progress now and then; then
/// sends the sorted, distinct rows in batches. Stops at the first fatal read error (sent as an
/// error).
fn read_rows(
    mut p: Prepared,
    region: Region,
    with_fields: bool,
    mut sorter: Sorter,
    tx: &tokio::sync::mpsc::Sender<Result<FromReader, AppError>>,
) {
    let fail = |e: AppError| {
        let _ = tx.blocking_send(Err(e));
    };
    let spill_error =
        |e: std::io::Error| AppError::Internal(anyhow::anyhow!("import sort on disk: {e}"));
    let (mut rows_read, mut invalid) = (0i64, 0i64);
    let mut rejects = Vec::new();
    // Rows the file marks as opted out: listed when the import is published.
    let mut marked = Vec::new();
    let mut row = Row::default();
    loop {
        match p.rows.next_into(&mut row) {
            Ok(false) => break,
            Ok(true) => {
                rows_read += 1;
                match classify(&p, &row, region, with_fields) {
                    Ok(c) if c.marked => marked.push(c.row),
                    Ok(c) => {
                        rejects.extend(c.others);
                        if let Err(e) = sorter.push(c.row) {
                            return fail(spill_error(e));
                        }
                    }
                    Err(reject) => {
                        invalid += 1;
                        rejects.push(reject);
                    }
                }
            }
            Err(e) if !e.is_fatal() => {
                rows_read += 1;
                invalid += 1;
                rejects.push(Reject {
                    row: e.row().unwrap_or(0) as i64,
                    raw: String::new(),
                    reason: e.to_string(),
                });
            }
            Err(e) => return fail(file_error(e)),
        }
        if rows_read % PROGRESS_EVERY == 0 || rejects.len() >= STAGE_ROWS {
            let msg = FromReader::Progress {
                rejects: std::mem::take(&mut rejects),
                rows_read,
                invalid,
            };
            if tx.blocking_send(Ok(msg)).is_err() {
                return;
            }
        }
    }
    let runs = sorter.runs();
    let msg = FromReader::Progress {
        rejects,
        rows_read,
        invalid,
    };
    if tx.blocking_send(Ok(msg)).is_err()
        || tx.blocking_send(Ok(FromReader::Marked(marked))).is_err()
    {
        return;
    }
    let mut sorted = match sorter.finish() {
        Ok(s) => s,
        Err(e) => return fail(spill_error(e)),
    };
    tracing::debug!(rows_read, runs, "file read and sorted");
    let mut rows = Vec::with_capacity(STAGE_ROWS);
    let mut duplicates = Vec::new();
    loop {
        let next = match sorted.next_row() {
            Ok(n) => n,
            Err(e) => return fail(spill_error(e)),
        };
        let end = match next {
            Some(Next::First(r)) => {
                rows.push(r);
                false
            }
            Some(Next::Duplicate(r, first)) => {
                duplicates.push(Reject {
                    row: r.row,
                    raw: r.number.as_str().to_owned(),
                    reason: format!("duplicate of row {first}"),
                });
                false
            }
            None => true,
        };
        if end || rows.len() >= STAGE_ROWS || duplicates.len() >= STAGE_ROWS {
            let msg = FromReader::Rows {
                rows: std::mem::replace(&mut rows, Vec::with_capacity(STAGE_ROWS)),
                duplicates: std::mem::take(&mut duplicates),
            };
            if tx.blocking_send(Ok(msg)).is_err() || end {
                return;
            }
        }
    }
}

/// One row read: the staged row, whether the file marks it as opted out, and the row's other
/// numbers (Google's " ::: " cells), reported but not imported.
struct Classified {
    row: StagedRow,
    marked: bool,
    others: Vec<Reject>,
}

/// Turns one row into a staged row, or says why it cannot be imported.
fn classify(
    p: &Prepared,
    row: &Row,
    region: Region,
    with_fields: bool,
) -> Result<Classified, Reject> {
    let number = row.number() as i64;
    let reject = |raw: &str, reason: String| Reject {
        row: number,
        raw: raw.chars().take(200).collect(),
        reason,
    };
    if let Err(e) = p.info.check_width(row) {
        return Err(reject(&row.to_vec().join(","), e.to_string()));
    }
    let Some(phones) = p.mapping.mobile_values(row) else {
        return Err(reject("", "no number in this row".into()));
    };
    let raw = phones.mobile;
    if p.mapping.mobile.and_then(|c| row.note(c)) == Some(CellNote::Scientific)
        || read::looks_scientific(raw)
    {
        return Err(reject(
            raw,
            "the number is in scientific notation and its last digits were lost; format the column as \
             text in the spreadsheet and export again"
                .into(),
        ));
    }
    let phone =
        PhoneNumber::parse(raw, region).map_err(|e| reject(raw, format!("invalid number: {e}")))?;
    // A contact file's opt-out column; an upload lists every row whatever it says.
    let marked = with_fields && p.mapping.opted_out(row).map_err(|e| reject(raw, e))?;
    let fields = if with_fields && !marked {
        let get = |c: Option<usize>| {
            c.and_then(|i| row.get(i))
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        ContactFields::parse(
            p.mapping.first_name_value(row).as_deref(),
            p.mapping.last_name_value(row).as_deref(),
            get(p.mapping.email),
        )
        .map_err(|e| reject(raw, e.to_string()))?
    } else {
        ContactFields::default()
    };
    let others = phones
        .others
        .iter()
        .map(|o| {
            reject(
                o,
                format!(
                    "another number of this row, not imported (the row's mobile {} was)",
                    phone.as_str()
                ),
            )
        })
        .collect();
    Ok(Classified {
        row: StagedRow {
            row: number,
            number: phone,
            fields,
        },
        marked,
        others,
    })
}

#[cfg(test)]
mod tests {
    use super::estimate_rows;

    #[test]
    fn the_row_estimate_counts_whole_lines_of_the_file_head() {
        let lf = "+61412345678,\"Smith, Jo\",jo@example.com\n".repeat(100);
        assert_eq!(estimate_rows(lf.len() as u64 * 10, lf.as_bytes()), 1000);
        let crlf = "0412 345 678,Ann\r\n".repeat(50);
        assert_eq!(estimate_rows(crlf.len() as u64, crlf.as_bytes()), 50);
        let mac = "0412345678\r".repeat(8);
        assert_eq!(estimate_rows(mac.len() as u64 * 4, mac.as_bytes()), 32);
        let utf16: Vec<u8> = "0412345678\n"
            .repeat(20)
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert_eq!(estimate_rows(utf16.len() as u64, &utf16), 20);
        assert_eq!(estimate_rows(1_000, b"one line only"), 0);
    }
}
