//! XLSX, XLS and ODS: the sheet chosen (the first visible worksheet, or one named), and cells
//! turned into the text a user sees — numbers stored as numbers as their digits
//! ("61412345678", not "61412345678.0"), dates as ISO text, formulas as their cached value —
//! with a [`CellNote`] where the cell's type matters to the pipeline.
//!
//! XLSX and ODS stream: their reader runs on a thread of its own (it borrows the workbook, so
//! it cannot live inside the row iterator) and hands rows over in batches through a bounded
//! channel. XLSX cells come from calamine's cell reader; ODS from [`ods`], a reader of its own,
//! because calamine loads every ODS sheet whole with its repeated rows and columns expanded
//! (an 826-byte file took 4.5 GB). XLS sheets are loaded whole by calamine (it has no
//! streaming reader for them; the format holds at most 65,536 rows).
//!
//! Every sheet is held to the bounds below while it is read ([`Budget`]), and an XLSX's
//! shared strings before calamine loads them (`zipcheck`): a file past one is refused with
//! [`ReadError::SheetTooLarge`] naming the bound, never expanded in memory first.

mod ods;

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufReader, Read};
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::mpsc::{self, Receiver, SyncSender};

use calamine::{
    Data, DataRef, ExcelDateTime, Range, Reader, Sheet, SheetType, SheetVisible, Xls, XlsError,
    Xlsx, XlsxError,
};

use super::error::{KindArticle, ReadError, SheetLimit};
use super::{CellNote, FileKind, Opened, ReadOptions, Row, Source};

/// The most rows a sheet may have data in: 1,048,576, the most Excel and LibreOffice Calc
/// hold, so no sheet a spreadsheet program saved is refused (a million-row contact list
/// fits). Data past it can only come from a file built to expand (an ODS repeat count).
/// Empty rows past it (LibreOffice writes a sheet's unused rows as one repeated empty row)
/// cost nothing and are not refused.
pub(super) const MAX_ROWS: u64 = 1_048_576;

/// The most columns a row may have data in: 16,384 (column XFD), the most Excel and
/// LibreOffice hold. Empty columns past it (trailing repeated empty cells) are skipped, not
/// refused.
pub(super) const MAX_COLUMNS: u64 = 16_384;

/// The most cells with data one sheet may hold: 50,000,000, ten times a million-row contact
/// sheet of five columns. Rows stream, so this bounds the time a sheet takes to read (about
/// two minutes at the XLSX reader's pace), not memory.
pub(super) const MAX_CELLS: u64 = 50_000_000;

/// The most text one spreadsheet row may hold: 1 MiB, as for a row of a text file
/// (`ReadOptions::max_line_bytes`'s default). A contact row is under 1 KiB; this bounds what
/// one row, and the batches of rows in flight, can hold.
pub(super) const MAX_ROW_BYTES: u64 = 1024 * 1024;

/// The most an XLSX's shared strings part may inflate to: 256 MiB of XML. calamine holds the
/// whole table in memory; a million-row contact sheet of five text columns, every text
/// distinct, takes about 140 MB (measured with `bench_read`: 29 MB for a million rows of four
/// columns, about a million distinct texts).
pub(super) const MAX_SHARED_STRINGS_BYTES: u64 = 256 * 1024 * 1024;

/// The most texts an XLSX's shared strings table may hold, or declare (calamine reserves room
/// for the declared count up front): 6,000,000, six distinct texts a row for a million rows.
/// Each costs calamine about 60 bytes on top of its text, so the table stays under about
/// 400 MB together with [`MAX_SHARED_STRINGS_BYTES`].
pub(super) const MAX_SHARED_STRINGS: u64 = 6_000_000;

/// Rows per batch handed from a streaming reader's thread.
const BATCH: usize = 256;

/// Bytes of row text per batch: a batch is handed over when either is reached, so that rows
/// near [`MAX_ROW_BYTES`] do not make batches of hundreds of megabytes.
const BATCH_BYTES: usize = 1024 * 1024;

/// Batches in flight between a streaming reader's thread and the reader (bounds the memory
/// held ahead: at most this many batches of [`BATCH_BYTES`], plus one row).
const BATCHES_AHEAD: usize = 4;

/// What one sheet has used of the bounds so far; every cell with data passes through
/// [`Budget::cells`] before it is added to its row.
struct Budget {
    file: String,
    cells: u64,
}

impl Budget {
    fn new(file: &str) -> Budget {
        Budget {
            file: file.to_owned(),
            cells: 0,
        }
    }

    fn over(&self, over: SheetLimit) -> ReadError {
        ReadError::SheetTooLarge {
            file: self.file.clone(),
            over,
        }
    }

    /// `count` cells of `bytes` bytes of text each, about to be added to `row` from 0-based
    /// column `col` on.
    fn cells(&mut self, row: &Row, col: u64, count: u64, bytes: usize) -> Result<(), ReadError> {
        let number = row.number();
        if number > MAX_ROWS {
            return Err(self.over(SheetLimit::Rows { limit: MAX_ROWS }));
        }
        if col.saturating_add(count) > MAX_COLUMNS {
            return Err(self.over(SheetLimit::Columns {
                row: number,
                limit: MAX_COLUMNS,
            }));
        }
        let text = (row.text.len() as u64).saturating_add(count.saturating_mul(bytes as u64));
        if text > MAX_ROW_BYTES {
            return Err(self.over(SheetLimit::RowBytes {
                row: number,
                limit: MAX_ROW_BYTES,
            }));
        }
        self.add_cells(count)
    }

    /// `copies` more copies of a row that holds `cells` cells with data, the last of them
    /// numbered `last` (an ODS repeated row).
    fn copies(&mut self, cells: u64, copies: u64, last: u64) -> Result<(), ReadError> {
        if last > MAX_ROWS {
            return Err(self.over(SheetLimit::Rows { limit: MAX_ROWS }));
        }
        self.add_cells(cells.saturating_mul(copies))
    }

    fn add_cells(&mut self, count: u64) -> Result<(), ReadError> {
        self.cells = self.cells.saturating_add(count);
        if self.cells > MAX_CELLS {
            return Err(self.over(SheetLimit::Cells { limit: MAX_CELLS }));
        }
        Ok(())
    }
}

/// Opens an XLSX or ODS workbook whose zip has passed [`super::zipcheck::inspect`].
pub(super) fn open(
    path: &Path,
    file: &str,
    kind: FileKind,
    opts: &ReadOptions,
) -> Result<Opened, ReadError> {
    match kind {
        FileKind::Ods => open_streamed(path, file, FileKind::Ods, opts, ods::produce),
        _ => open_streamed(path, file, FileKind::Xlsx, opts, produce_xlsx),
    }
}

/// Opens an OLE compound file: an XLS workbook, or says what else it is.
pub(super) fn open_ole(
    path: &Path,
    file: &str,
    prefix: &[u8],
    opts: &ReadOptions,
) -> Result<Opened, ReadError> {
    let reader = open_file(path, file)?;
    let loaded = guarded(file, FileKind::Xls, || -> Result<_, ReadError> {
        let mut wb = match Xls::new(reader) {
            Ok(wb) => wb,
            Err(XlsError::Password) => {
                return Err(ReadError::Encrypted {
                    file: file.to_owned(),
                });
            }
            Err(e) => return Err(identify_ole(path, file, prefix, e)),
        };
        let (sheet, sheets) = choose_sheet(wb.sheets_metadata(), opts.sheet.as_deref(), file)?;
        let range = wb.worksheet_range(&sheet).map_err(|e| ReadError::Damaged {
            file: file.to_owned(),
            kind: KindArticle(FileKind::Xls),
            detail: e.to_string(),
        })?;
        Ok((sheet, sheets, range))
    })?;
    Ok(range_opened(file, loaded))
}

fn open_file(path: &Path, file: &str) -> Result<BufReader<File>, ReadError> {
    File::open(path)
        .map(BufReader::new)
        .map_err(|source| ReadError::Io {
            file: file.to_owned(),
            source,
        })
}

/// Runs `f`, turning a panic inside the spreadsheet library into a "damaged" error.
fn guarded<T>(
    file: &str,
    kind: FileKind,
    f: impl FnOnce() -> Result<T, ReadError>,
) -> Result<T, ReadError> {
    panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| Err(library_failed(file, kind)))
}

fn library_failed(file: &str, kind: FileKind) -> ReadError {
    ReadError::Damaged {
        file: file.to_owned(),
        kind: KindArticle(kind),
        detail: "the spreadsheet reader stopped on data it could not make sense of".to_owned(),
    }
}

/// An OLE file calamine cannot read as XLS: an encrypted XLSX, a Word or PowerPoint 97-2003
/// document, an Outlook message, or a damaged XLS. Stream names in the directory say which.
fn identify_ole(path: &Path, file: &str, prefix: &[u8], error: XlsError) -> ReadError {
    // Directory sectors are near the start in files written by Office; the first 4 MiB hold
    // them in practice.
    let mut head = Vec::new();
    let read = File::open(path).and_then(|f| f.take(4 * 1024 * 1024).read_to_end(&mut head));
    let bytes: &[u8] = if read.is_ok() { &head } else { prefix };
    let has = |name: &str| {
        let utf16: Vec<u8> = name.encode_utf16().flat_map(u16::to_le_bytes).collect();
        bytes.windows(utf16.len()).any(|w| w == utf16.as_slice())
    };
    let other = |what| ReadError::NotAContactFile {
        file: file.to_owned(),
        what,
    };
    if has("EncryptedPackage") {
        ReadError::Encrypted {
            file: file.to_owned(),
        }
    } else if has("WordDocument") {
        other("a Word 97-2003 document")
    } else if has("PowerPoint Document") {
        other("a PowerPoint 97-2003 presentation")
    } else if has("__substg1.0_") {
        other("an Outlook message")
    } else {
        ReadError::Damaged {
            file: file.to_owned(),
            kind: KindArticle(FileKind::Xls),
            detail: error.to_string(),
        }
    }
}

/// The sheet to read, and the workbook's worksheets for messages.
fn choose_sheet(
    metadata: &[Sheet],
    requested: Option<&str>,
    file: &str,
) -> Result<(String, Vec<String>), ReadError> {
    let worksheets: Vec<&Sheet> = metadata
        .iter()
        .filter(|s| s.typ == SheetType::WorkSheet)
        .collect();
    let names: Vec<String> = worksheets.iter().map(|s| s.name.clone()).collect();
    let chosen = match requested {
        Some(wanted) => names
            .iter()
            .find(|n| n.as_str() == wanted)
            .or_else(|| {
                names
                    .iter()
                    .find(|n| n.trim().to_lowercase() == wanted.trim().to_lowercase())
            })
            .cloned()
            .ok_or_else(|| ReadError::UnknownSheet {
                file: file.to_owned(),
                sheet: wanted.to_owned(),
                available: names.clone(),
            })?,
        None => worksheets
            .iter()
            .find(|s| s.visible == SheetVisible::Visible)
            .or(worksheets.first())
            .map(|s| s.name.clone())
            .ok_or_else(|| ReadError::EmptySheet {
                file: file.to_owned(),
                sheet: "(none)".to_owned(),
                available: Vec::new(),
            })?,
    };
    Ok((chosen, names))
}

fn range_opened(file: &str, (sheet, sheets, range): (String, Vec<String>, Range<Data>)) -> Opened {
    let (row0, col0) = range.start().unwrap_or((0, 0));
    let (height, width) = range.get_size();
    Opened {
        kind: FileKind::Xls,
        encoding: "UTF-8",
        delimiter: None,
        sheet: Some(sheet),
        sheets,
        source: Box::new(RangeSource {
            range,
            next: 0,
            height,
            width,
            row0: u64::from(row0),
            col0: col0 as usize,
            scratch: String::new(),
            budget: Budget::new(file),
            failed: false,
        }),
    }
}

/// Rows of a sheet calamine loaded whole (XLS).
struct RangeSource {
    range: Range<Data>,
    next: usize,
    height: usize,
    width: usize,
    row0: u64,
    col0: usize,
    scratch: String,
    budget: Budget,
    /// A bound was passed: the read has ended.
    failed: bool,
}

impl Source for RangeSource {
    fn read(&mut self, row: &mut Row) -> Result<bool, ReadError> {
        if self.failed || self.next >= self.height {
            return Ok(false);
        }
        let i = self.next;
        self.next += 1;
        row.clear(self.row0 + i as u64 + 1);
        for j in 0..self.width {
            if let Some(value) = self.range.get((i, j)) {
                let pushed = push_cells(
                    row,
                    (self.col0 + j) as u64,
                    1,
                    View::from(value),
                    &mut self.scratch,
                    &mut self.budget,
                );
                if let Err(e) = pushed {
                    self.failed = true;
                    return Err(e);
                }
            }
        }
        Ok(true)
    }
}

/// What a streaming reader's thread sends.
enum Msg {
    /// The sheet chosen and the workbook's worksheets: sent first, once.
    Meta {
        sheet: String,
        sheets: Vec<String>,
    },
    Rows(Vec<Row>),
    Failed(ReadError),
    End,
}

/// Why a streaming reader's thread stopped before the end of the sheet.
enum Stop {
    /// The reader has gone (dropped early): there is no one left to send rows to.
    Gone,
    Failed(ReadError),
}

impl From<ReadError> for Stop {
    fn from(e: ReadError) -> Self {
        Stop::Failed(e)
    }
}

/// Where a streaming reader's thread puts what it reads: rows gathered into batches, handed
/// over through the bounded channel.
struct Sink {
    tx: SyncSender<Msg>,
    batch: Vec<Row>,
    bytes: usize,
}

impl Sink {
    fn send(&self, msg: Msg) -> Result<(), Stop> {
        self.tx.send(msg).map_err(|_| Stop::Gone)
    }

    /// The sheet chosen and the workbook's worksheets, before any row.
    fn meta(&mut self, sheet: String, sheets: Vec<String>) -> Result<(), Stop> {
        self.send(Msg::Meta { sheet, sheets })
    }

    fn push(&mut self, row: Row) -> Result<(), Stop> {
        self.bytes += row.text.len() + row.len() * std::mem::size_of::<usize>();
        self.batch.push(row);
        if self.batch.len() >= BATCH || self.bytes >= BATCH_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Stop> {
        if self.batch.is_empty() {
            return Ok(());
        }
        self.bytes = 0;
        let full = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        self.send(Msg::Rows(full))
    }
}

/// Reads a sheet on a thread of its own: `produce` opens the workbook, chooses the sheet,
/// sends [`Sink::meta`], then the rows. Returns once the sheet is chosen (or the workbook
/// refused), with the rows to come.
fn open_streamed(
    path: &Path,
    file: &str,
    kind: FileKind,
    opts: &ReadOptions,
    produce: fn(&Path, &str, Option<&str>, &mut Sink) -> Result<(), Stop>,
) -> Result<Opened, ReadError> {
    let (tx, rx) = mpsc::sync_channel::<Msg>(BATCHES_AHEAD);
    let thread_path = path.to_owned();
    let thread_file = file.to_owned();
    let requested = opts.sheet.clone();
    std::thread::Builder::new()
        .name(format!("import-{}", kind.name().to_ascii_lowercase()))
        .spawn(move || {
            let mut sink = Sink {
                tx,
                batch: Vec::with_capacity(BATCH),
                bytes: 0,
            };
            let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
                produce(&thread_path, &thread_file, requested.as_deref(), &mut sink)
            }));
            let end = match outcome {
                Ok(Ok(())) => Msg::End,
                Ok(Err(Stop::Gone)) => return,
                Ok(Err(Stop::Failed(e))) => Msg::Failed(e),
                Err(_) => Msg::Failed(library_failed(&thread_file, kind)),
            };
            // The rows read before the end first. The reader may be gone already: then
            // there is no one to tell.
            if sink.flush().is_ok() {
                let _ = sink.send(end);
            }
        })
        .map_err(|source| ReadError::Io {
            file: file.to_owned(),
            source,
        })?;
    match rx.recv() {
        Ok(Msg::Meta { sheet, sheets }) => Ok(Opened {
            kind,
            encoding: "UTF-8",
            delimiter: None,
            sheet: Some(sheet),
            sheets,
            source: Box::new(ChannelSource {
                rx,
                batch: Vec::new().into_iter(),
                done: false,
                file: file.to_owned(),
                kind,
            }),
        }),
        Ok(Msg::Failed(e)) => Err(e),
        _ => Err(library_failed(file, kind)),
    }
}

/// The XLSX thread: opens the workbook (its shared strings already checked by `zipcheck`),
/// then streams the chosen sheet's cells, row by row.
fn produce_xlsx(
    path: &Path,
    file: &str,
    requested: Option<&str>,
    sink: &mut Sink,
) -> Result<(), Stop> {
    let mut wb: Xlsx<_> = Xlsx::new(open_file(path, file)?).map_err(|e| xlsx_error(file, e))?;
    let (sheet, sheets) = choose_sheet(wb.sheets_metadata(), requested, file)?;
    sink.meta(sheet.clone(), sheets)?;
    let mut cells = wb
        .worksheet_cells_reader(&sheet)
        .map_err(|e| xlsx_error(file, e))?;
    let mut budget = Budget::new(file);
    let mut current: Option<(u32, Row)> = None;
    let mut last_row: u64 = 0;
    let mut scratch = String::new();
    loop {
        let cell = match cells.next_cell() {
            Ok(Some(cell)) => cell,
            Ok(None) => break,
            Err(e) => {
                if let Some((_, row)) = current.take() {
                    sink.push(row)?;
                }
                return Err(Stop::Failed(ReadError::BadSheetData {
                    file: file.to_owned(),
                    row: last_row + 1,
                    detail: e.to_string(),
                }));
            }
        };
        let (r, c) = cell.get_position();
        if current.as_ref().is_none_or(|(cr, _)| *cr != r) {
            if let Some((_, row)) = current.take() {
                sink.push(row)?;
            }
            last_row = u64::from(r) + 1;
            let mut row = Row::default();
            row.clear(last_row);
            current = Some((r, row));
        }
        if let Some((_, row)) = current.as_mut() {
            let value = View::from(cell.get_value());
            push_cells(row, u64::from(c), 1, value, &mut scratch, &mut budget)?;
        }
    }
    if let Some((_, row)) = current.take() {
        sink.push(row)?;
    }
    Ok(())
}

/// Rows from a streaming reader's thread.
struct ChannelSource {
    rx: Receiver<Msg>,
    batch: std::vec::IntoIter<Row>,
    done: bool,
    file: String,
    kind: FileKind,
}

impl Source for ChannelSource {
    fn read(&mut self, row: &mut Row) -> Result<bool, ReadError> {
        loop {
            if let Some(next) = self.batch.next() {
                *row = next;
                return Ok(true);
            }
            if self.done {
                return Ok(false);
            }
            match self.rx.recv() {
                Ok(Msg::Rows(rows)) => self.batch = rows.into_iter(),
                Ok(Msg::Meta { .. }) => {}
                Ok(Msg::End) => self.done = true,
                Ok(Msg::Failed(e)) => {
                    self.done = true;
                    return Err(e);
                }
                // The thread ended without saying so: it cannot have finished.
                Err(_) => {
                    self.done = true;
                    return Err(library_failed(&self.file, self.kind));
                }
            }
        }
    }
}

fn xlsx_error(file: &str, e: XlsxError) -> ReadError {
    let detail = match e {
        XlsxError::Password => {
            return ReadError::Encrypted {
                file: file.to_owned(),
            };
        }
        XlsxError::FileNotFound(part) => format!("its part \"{part}\" is missing"),
        XlsxError::Xml(e) => format!("its XML is malformed: {e}"),
        other => other.to_string(),
    };
    ReadError::Damaged {
        file: file.to_owned(),
        kind: KindArticle(FileKind::Xlsx),
        detail,
    }
}

/// A cell value from either of calamine's two cell types.
#[derive(Debug, Clone, Copy)]
enum View<'a> {
    Empty,
    Text(&'a str),
    Int(i64),
    Float(f64),
    Bool(bool),
    DateTime(ExcelDateTime),
    Iso(&'a str),
    Error(&'a calamine::CellErrorType),
}

impl<'a> From<&'a Data> for View<'a> {
    fn from(d: &'a Data) -> Self {
        match d {
            Data::Empty => View::Empty,
            Data::String(s) => View::Text(s),
            Data::Int(i) => View::Int(*i),
            Data::Float(f) => View::Float(*f),
            Data::Bool(b) => View::Bool(*b),
            Data::DateTime(dt) => View::DateTime(*dt),
            Data::DateTimeIso(s) | Data::DurationIso(s) => View::Iso(s),
            Data::Error(e) => View::Error(e),
        }
    }
}

impl<'a> From<&'a DataRef<'_>> for View<'a> {
    fn from(d: &'a DataRef<'_>) -> Self {
        match d {
            DataRef::Empty => View::Empty,
            DataRef::String(s) => View::Text(s),
            DataRef::SharedString(s) => View::Text(s),
            DataRef::Int(i) => View::Int(*i),
            DataRef::Float(f) => View::Float(*f),
            DataRef::Bool(b) => View::Bool(*b),
            DataRef::DateTime(dt) => View::DateTime(*dt),
            DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => View::Iso(s),
            DataRef::Error(e) => View::Error(e),
        }
    }
}

/// Appends `count` copies of a cell (an ODS cell may repeat; one elsewhere) at 0-based column
/// `col` on to `row`, with empty fields for the columns skipped since the last cell, once
/// [`Budget::cells`] has allowed them. Empty cells add nothing (trailing ones would only
/// widen the row); a cell out of column order is ignored.
fn push_cells(
    row: &mut Row,
    col: u64,
    count: u64,
    value: View<'_>,
    scratch: &mut String,
    budget: &mut Budget,
) -> Result<(), ReadError> {
    if matches!(value, View::Empty) || count == 0 || col < row.len() as u64 {
        return Ok(());
    }
    scratch.clear();
    let note = cell_text(value, scratch);
    budget.cells(row, col, count, scratch.len())?;
    // Within MAX_COLUMNS now, so these fit in a usize.
    let (col, count) = (col as usize, count as usize);
    while row.len() < col {
        row.push_field("");
    }
    for i in col..col + count {
        if let Some(note) = note {
            row.push_note(i, note);
        }
        row.push_field(scratch);
    }
    Ok(())
}

/// Writes the text a user sees for a cell into `out`; returns the note it deserves.
fn cell_text(value: View<'_>, out: &mut String) -> Option<CellNote> {
    match value {
        View::Empty => None,
        View::Text(s) => {
            out.push_str(s);
            None
        }
        View::Int(i) => Some(integer_text(i, out)),
        View::Float(f) => {
            // Integral and exactly representable: the digits, never "…0.0" nor "…E+10".
            if f.is_finite() && f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 {
                Some(integer_text(f as i64, out))
            } else {
                let _ = write!(out, "{f}");
                Some(CellNote::Number)
            }
        }
        View::Bool(b) => {
            out.push_str(if b { "TRUE" } else { "FALSE" });
            None
        }
        View::DateTime(dt) => {
            date_text(dt, out);
            Some(CellNote::Date)
        }
        View::Iso(s) => {
            out.push_str(s);
            Some(CellNote::Date)
        }
        View::Error(e) => {
            let _ = write!(out, "{e}");
            Some(CellNote::Error)
        }
    }
}

/// The digits of an integer cell; [`CellNote::Scientific`] when it has ten or more digits of
/// which at most six are significant (what "6.14123E+10" turns into), else
/// [`CellNote::Number`].
fn integer_text(n: i64, out: &mut String) -> CellNote {
    let start = out.len();
    let _ = write!(out, "{n}");
    let digits = out[start..].trim_start_matches('-');
    let significant = digits.trim_end_matches('0').len();
    if digits.len() >= 10 && significant <= 6 {
        CellNote::Scientific
    } else {
        CellNote::Number
    }
}

/// ISO 8601: "2024-03-05" for a date, "2024-03-05T09:30:00" with a time, "[h]:mm:ss" for a
/// duration.
fn date_text(dt: ExcelDateTime, out: &mut String) {
    if dt.is_duration() {
        let seconds = (dt.as_f64() * 86_400.0).round() as i64;
        let _ = write!(
            out,
            "{}:{:02}:{:02}",
            seconds / 3600,
            seconds % 3600 / 60,
            seconds % 60
        );
        return;
    }
    let (y, m, d, h, min, s, ms) = dt.to_ymd_hms_milli();
    let _ = write!(out, "{y:04}-{m:02}-{d:02}");
    if (h, min, s, ms) != (0, 0, 0, 0) {
        let _ = write!(out, "T{h:02}:{min:02}:{s:02}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(value: View<'_>) -> (String, Option<CellNote>) {
        let mut out = String::new();
        let note = cell_text(value, &mut out);
        (out, note)
    }

    #[test]
    fn numbers_stored_as_numbers_come_out_as_their_digits() {
        assert_eq!(
            text(View::Float(61_412_345_678.0)),
            ("61412345678".to_owned(), Some(CellNote::Number))
        );
        assert_eq!(
            text(View::Float(412_345_678.0)),
            ("412345678".to_owned(), Some(CellNote::Number))
        );
        assert_eq!(
            text(View::Float(1.5)),
            ("1.5".to_owned(), Some(CellNote::Number))
        );
    }

    #[test]
    fn a_number_that_lost_its_digits_to_scientific_notation_is_flagged() {
        assert_eq!(
            text(View::Float(61_412_300_000.0)),
            ("61412300000".to_owned(), Some(CellNote::Scientific))
        );
    }

    #[test]
    fn dates_are_iso_text() {
        let date = ExcelDateTime::new(45_356.0, calamine::ExcelDateTimeType::DateTime, false);
        assert_eq!(
            text(View::DateTime(date)),
            ("2024-03-05".to_owned(), Some(CellNote::Date))
        );
        let with_time = ExcelDateTime::new(45_356.5, calamine::ExcelDateTimeType::DateTime, false);
        assert_eq!(text(View::DateTime(with_time)).0, "2024-03-05T12:00:00");
    }
}
