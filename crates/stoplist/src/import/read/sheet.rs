//! XLSX, XLS and ODS through calamine: the sheet chosen (the first visible worksheet, or one
//! named), and cells turned into the text a user sees — numbers stored as numbers as their
//! digits ("61412345678", not "61412345678.0"), dates as ISO text, formulas as their cached
//! value — with a [`CellNote`] where the cell's type matters to the pipeline.
//!
//! XLSX streams: calamine's cell reader runs on a thread of its own (it borrows the workbook,
//! so it cannot live inside the row iterator) and hands rows over in batches through a bounded
//! channel. XLS and ODS sheets are loaded whole by calamine (it has no streaming reader for
//! them).

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufReader, Read};
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::mpsc::{self, Receiver, SyncSender};

use calamine::{
    Data, DataRef, ExcelDateTime, Ods, OdsError, Range, Reader, Sheet, SheetType, SheetVisible,
    Xls, XlsError, Xlsx, XlsxError,
};

use super::error::{KindArticle, ReadError};
use super::{CellNote, FileKind, Opened, ReadOptions, Row, Source};

/// Rows per batch handed from the XLSX thread.
const BATCH: usize = 256;

/// Batches in flight between the XLSX thread and the reader (bounds the memory held ahead).
const BATCHES_AHEAD: usize = 4;

/// Opens an XLSX or ODS workbook whose zip has passed [`super::zipcheck::inspect`].
pub(super) fn open(
    path: &Path,
    file: &str,
    kind: FileKind,
    opts: &ReadOptions,
) -> Result<Opened, ReadError> {
    match kind {
        FileKind::Ods => {
            let reader = open_file(path, file)?;
            let loaded = guarded(file, kind, || -> Result<_, ReadError> {
                let mut wb = Ods::new(reader).map_err(|e| ods_error(file, e))?;
                let (sheet, sheets) =
                    choose_sheet(wb.sheets_metadata(), opts.sheet.as_deref(), file)?;
                let range = wb.worksheet_range(&sheet).map_err(|e| ods_error(file, e))?;
                Ok((sheet, sheets, range))
            })?;
            Ok(range_opened(kind, loaded))
        }
        _ => open_xlsx(path, file, opts),
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
    Ok(range_opened(FileKind::Xls, loaded))
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

fn range_opened(
    kind: FileKind,
    (sheet, sheets, range): (String, Vec<String>, Range<Data>),
) -> Opened {
    let (row0, col0) = range.start().unwrap_or((0, 0));
    let (height, width) = range.get_size();
    Opened {
        kind,
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
        }),
    }
}

/// Rows of a sheet calamine loaded whole (XLS, ODS).
struct RangeSource {
    range: Range<Data>,
    next: usize,
    height: usize,
    width: usize,
    row0: u64,
    col0: usize,
    scratch: String,
}

impl Source for RangeSource {
    fn read(&mut self, row: &mut Row) -> Result<bool, ReadError> {
        if self.next >= self.height {
            return Ok(false);
        }
        let i = self.next;
        self.next += 1;
        row.clear(self.row0 + i as u64 + 1);
        for j in 0..self.width {
            if let Some(value) = self.range.get((i, j)) {
                push_cell(row, self.col0 + j, View::from(value), &mut self.scratch);
            }
        }
        Ok(true)
    }
}

/// What the XLSX thread sends.
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

fn open_xlsx(path: &Path, file: &str, opts: &ReadOptions) -> Result<Opened, ReadError> {
    let (tx, rx) = mpsc::sync_channel::<Msg>(BATCHES_AHEAD);
    let thread_path = path.to_owned();
    let thread_file = file.to_owned();
    let requested = opts.sheet.clone();
    std::thread::Builder::new()
        .name("import-xlsx".to_owned())
        .spawn(move || {
            let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
                produce_xlsx(&thread_path, &thread_file, requested.as_deref(), &tx)
            }));
            let failure = match outcome {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e),
                Err(_) => Some(library_failed(&thread_file, FileKind::Xlsx)),
            };
            if let Some(e) = failure {
                // The reader may be gone already (dropped early): nothing left to tell.
                let _ = tx.send(Msg::Failed(e));
            }
        })
        .map_err(|source| ReadError::Io {
            file: file.to_owned(),
            source,
        })?;
    match rx.recv() {
        Ok(Msg::Meta { sheet, sheets }) => Ok(Opened {
            kind: FileKind::Xlsx,
            encoding: "UTF-8",
            delimiter: None,
            sheet: Some(sheet),
            sheets,
            source: Box::new(ChannelSource {
                rx,
                batch: Vec::new().into_iter(),
                done: false,
                file: file.to_owned(),
            }),
        }),
        Ok(Msg::Failed(e)) => Err(e),
        _ => Err(library_failed(file, FileKind::Xlsx)),
    }
}

/// The XLSX thread: opens the workbook, sends [`Msg::Meta`], then the rows in batches, then
/// [`Msg::End`]. Returns early, quietly, when the reader has gone.
fn produce_xlsx(
    path: &Path,
    file: &str,
    requested: Option<&str>,
    tx: &SyncSender<Msg>,
) -> Result<(), ReadError> {
    let mut wb: Xlsx<_> = Xlsx::new(open_file(path, file)?).map_err(|e| xlsx_error(file, e))?;
    let (sheet, sheets) = choose_sheet(wb.sheets_metadata(), requested, file)?;
    if tx
        .send(Msg::Meta {
            sheet: sheet.clone(),
            sheets,
        })
        .is_err()
    {
        return Ok(());
    }
    let mut cells = wb
        .worksheet_cells_reader(&sheet)
        .map_err(|e| xlsx_error(file, e))?;
    let mut batch: Vec<Row> = Vec::with_capacity(BATCH);
    let mut current: Option<(u32, Row)> = None;
    let mut last_row: u64 = 0;
    let mut scratch = String::new();
    loop {
        let cell = match cells.next_cell() {
            Ok(Some(cell)) => cell,
            Ok(None) => break,
            Err(e) => {
                if let Some((_, row)) = current.take() {
                    batch.push(row);
                }
                if !batch.is_empty() && tx.send(Msg::Rows(batch)).is_err() {
                    return Ok(());
                }
                return Err(ReadError::BadSheetData {
                    file: file.to_owned(),
                    row: last_row + 1,
                    detail: e.to_string(),
                });
            }
        };
        let (r, c) = cell.get_position();
        if current.as_ref().is_none_or(|(cr, _)| *cr != r) {
            if let Some((_, row)) = current.take() {
                batch.push(row);
                if batch.len() >= BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    if tx.send(Msg::Rows(full)).is_err() {
                        return Ok(());
                    }
                }
            }
            last_row = u64::from(r) + 1;
            let mut row = Row::default();
            row.clear(last_row);
            current = Some((r, row));
        }
        if let Some((_, row)) = current.as_mut() {
            push_cell(row, c as usize, View::from(cell.get_value()), &mut scratch);
        }
    }
    if let Some((_, row)) = current.take() {
        batch.push(row);
    }
    if !batch.is_empty() && tx.send(Msg::Rows(batch)).is_err() {
        return Ok(());
    }
    // The reader may be gone already: then there is no one to tell.
    let _ = tx.send(Msg::End);
    Ok(())
}

/// Rows from the XLSX thread.
struct ChannelSource {
    rx: Receiver<Msg>,
    batch: std::vec::IntoIter<Row>,
    done: bool,
    file: String,
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
                    return Err(library_failed(&self.file, FileKind::Xlsx));
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

fn ods_error(file: &str, e: OdsError) -> ReadError {
    match e {
        OdsError::Password => ReadError::Encrypted {
            file: file.to_owned(),
        },
        OdsError::WorksheetNotFound(_) => library_failed(file, FileKind::Ods),
        other => ReadError::Damaged {
            file: file.to_owned(),
            kind: KindArticle(FileKind::Ods),
            detail: other.to_string(),
        },
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

/// Appends the cell at 0-based column `col` to `row`, with empty fields for the columns
/// skipped since the last cell. Empty cells add nothing (trailing ones would only widen the
/// row); a cell out of column order is ignored.
fn push_cell(row: &mut Row, col: usize, value: View<'_>, scratch: &mut String) {
    if matches!(value, View::Empty) || col < row.len() {
        return;
    }
    while row.len() < col {
        row.push_field("");
    }
    scratch.clear();
    if let Some(note) = cell_text(value, scratch) {
        row.push_note(col, note);
    }
    row.push_field(scratch);
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
