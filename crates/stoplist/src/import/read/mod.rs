//! Reading contact files: CSV, TSV, TXT, XLSX, XLS and ODS, turned into numbered rows of text
//! fields, as a stream (never the whole file in memory, except what the spreadsheet library
//! itself holds for XLS, and an XLSX's shared strings: see [`open`]).
//!
//! Owns: what a file is (content first, the extension second), its encoding, delimiter and
//! header row, the bounds that keep a hostile file from exhausting memory (row length, zip
//! expansion, a spreadsheet's rows, columns, cells and shared strings), turning spreadsheet cells into the text a user sees, and a first guess of which
//! column is which ([`guess_mapping`]). Does not own: parsing phone numbers, deduplication,
//! the opt-out rules or storing anything — the import pipeline does that with these rows.
//!
//! ```no_run
//! # use stoplist::import::read::{open, ReadOptions, guess_mapping};
//! # fn run() -> Result<(), stoplist::import::read::ReadError> {
//! let (info, rows) = open("/tmp/upload-1".as_ref(), "contacts.csv", &ReadOptions::default())?;
//! let mapping = guess_mapping(&info.headers, &info.sample);
//! for row in rows {
//!     let row = match row {
//!         Ok(row) => row,
//!         Err(e) if !e.is_fatal() => continue, // count it in the report
//!         Err(e) => return Err(e),
//!     };
//!     let _mobile = mapping.mobile_value(&row);
//! }
//! # Ok(()) }
//! ```

mod detect;
mod error;
mod mapping;
mod sheet;
mod text;
mod zipcheck;

use std::collections::VecDeque;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

pub use error::{KindArticle, ReadError, SheetLimit};
pub use mapping::{
    Mapping, RowPhones, TypedPhone, describe_headers, guess_mapping, looks_like_phone,
    looks_scientific,
};

use detect::{Content, PREFIX_BYTES, TextEncoding};

/// The kinds of file an import reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    Csv,
    Tsv,
    Txt,
    Xlsx,
    Xls,
    Ods,
}

impl FileKind {
    /// The name users know it by: "CSV", "XLSX", …
    pub fn name(self) -> &'static str {
        match self {
            FileKind::Csv => "CSV",
            FileKind::Tsv => "TSV",
            FileKind::Txt => "TXT",
            FileKind::Xlsx => "XLSX",
            FileKind::Xls => "XLS",
            FileKind::Ods => "ODS",
        }
    }

    /// XLSX, XLS or ODS: cells rather than delimited text.
    pub fn is_spreadsheet(self) -> bool {
        matches!(self, FileKind::Xlsx | FileKind::Xls | FileKind::Ods)
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How to read a file. `Default` detects everything and applies the standard bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOptions {
    /// The sheet to read (XLSX, XLS, ODS); `None`: the first visible worksheet. Matched
    /// exactly, then ignoring case and surrounding spaces.
    pub sheet: Option<String>,
    /// Whether the first row is a header; `None`: detect it.
    pub has_header: Option<bool>,
    /// The delimiter of a text file; `None`: sniff it (comma, semicolon, tab, pipe).
    pub delimiter: Option<u8>,
    /// The longest row of a text file, in bytes (default 1 MiB). A longer row stops the read
    /// with [`ReadError::LineTooLong`]; memory held for a row stays about this size.
    pub max_line_bytes: usize,
    /// The most an XLSX or ODS file may expand to once unzipped, all parts together, as its zip
    /// directory declares (default 1 GiB). Reading never expands a part past its declared
    /// size, so this bounds the real expansion too.
    pub max_uncompressed_bytes: u64,
    /// The highest compression ratio allowed for one part of an XLSX or ODS file over 1 MiB
    /// (default 250 to 1; real sheets compress about 5 to 50 to 1, a zip bomb about 1000).
    pub max_compression_ratio: u64,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            sheet: None,
            has_header: None,
            delimiter: None,
            max_line_bytes: 1024 * 1024,
            max_uncompressed_bytes: 1024 * 1024 * 1024,
            max_compression_ratio: 250,
        }
    }
}

/// What was detected about a file before its rows are read.
#[derive(Debug, Clone, PartialEq)]
pub struct FileInfo {
    /// The file's name as the user called it (used in every error).
    pub file: String,
    pub kind: FileKind,
    /// "UTF-8", "UTF-8 (BOM)", "UTF-16LE", "UTF-16BE" or "windows-1252"; for spreadsheets
    /// "UTF-8" (their cells are Unicode). A file whose first 64 KiB are plain ASCII is "UTF-8";
    /// if a later row turns out to be Windows-1252, [`Rows::encoding`] says so from then on.
    pub encoding: &'static str,
    /// The delimiter of a text file; `None` for a single column or a spreadsheet.
    pub delimiter: Option<u8>,
    /// Whether the first row is a header (detected, or as `ReadOptions::has_header` said).
    pub has_header: bool,
    /// One name per column: from the header row (trimmed; a blank one becomes "Column N"), or
    /// "Column 1", "Column 2", … when there is no header (as many as the widest sample row).
    pub headers: Vec<String>,
    /// The sheet read, for spreadsheets.
    pub sheet: Option<String>,
    /// The workbook's worksheets, in order (empty for text files).
    pub sheets: Vec<String>,
    /// The first data rows (up to [`SAMPLE_ROWS`]), for a preview and [`guess_mapping`]. The
    /// row iterator yields them too.
    pub sample: Vec<Row>,
}

impl FileInfo {
    /// `Err(ReadError::RaggedRow)` when `row` has more or fewer fields than the header, for
    /// the pipeline to count ("row 7 has 5 fields, the header has 4"); the row itself is still
    /// usable. Spreadsheet rows are never short (missing cells are empty fields), only long.
    pub fn check_width(&self, row: &Row) -> Result<(), ReadError> {
        let expected = self.headers.len();
        let found = row.len();
        let ragged = if self.kind.is_spreadsheet() || !self.has_header {
            found > expected
        } else {
            found != expected
        };
        if ragged {
            Err(ReadError::RaggedRow {
                file: self.file.clone(),
                row: row.number(),
                found,
                expected,
            })
        } else {
            Ok(())
        }
    }
}

/// How many data rows [`FileInfo::sample`] holds.
pub const SAMPLE_ROWS: usize = 20;

/// Something the reader noticed about one cell, for the pipeline to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CellNote {
    /// A spreadsheet cell stored as a number, given as its digits ("61412345678", never
    /// "61412345678.0"): a leading zero or a "+" it was typed with is gone, the digits are
    /// exact.
    Number,
    /// Scientific notation: text such as "6.14123E+10" (in any kind of file), or a number cell
    /// of ten or more digits with at most six significant ones (61412300000, what
    /// "6.14123E+10" becomes). Digits beyond the ones shown were lost and cannot be recovered.
    Scientific,
    /// A date or time cell, given as ISO 8601 text ("2024-03-05", "2024-03-05T09:30:00").
    Date,
    /// A cell holding a spreadsheet error ("#N/A", "#REF!", …), given as that text.
    Error,
}

/// One row of a file: its number as a user sees it, and its fields as text.
///
/// Fields are stored in one string (no allocation per field); a `Row` passed back to
/// [`Rows::next_into`] is reused without allocating.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Row {
    number: u64,
    text: String,
    ends: Vec<usize>,
    notes: Vec<(usize, CellNote)>,
}

impl Row {
    /// A row built by hand (for tests, and for callers that make rows of their own).
    pub fn new<S: AsRef<str>>(number: u64, fields: impl IntoIterator<Item = S>) -> Row {
        let mut row = Row::default();
        row.clear(number);
        for field in fields {
            row.push_field(field.as_ref());
        }
        row
    }

    /// The 1-based row number in the file as a user sees it: the header, when there is one, is
    /// row 1; blank lines and blank spreadsheet rows count (though they are not yielded); a
    /// quoted field holding line breaks does not start new rows; Excel's `sep=` hint line does
    /// not count (Excel hides it).
    pub fn number(&self) -> u64 {
        self.number
    }

    /// The number of fields.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when the row has no fields.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Field `i` (0-based), exactly as in the file (not trimmed).
    pub fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.text.get(start..end)
    }

    /// The fields in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.len()).map(|i| self.get(i).unwrap_or(""))
    }

    /// The fields as owned strings.
    pub fn to_vec(&self) -> Vec<String> {
        self.iter().map(str::to_owned).collect()
    }

    /// Notes on cells, as (0-based column, note), in column order.
    pub fn notes(&self) -> &[(usize, CellNote)] {
        &self.notes
    }

    /// The note on field `i`, if any.
    pub fn note(&self, i: usize) -> Option<CellNote> {
        self.notes.iter().find(|(c, _)| *c == i).map(|&(_, n)| n)
    }

    /// Empties the row for reuse, numbering it `number`.
    pub(crate) fn clear(&mut self, number: u64) {
        self.number = number;
        self.text.clear();
        self.ends.clear();
        self.notes.clear();
    }

    pub(crate) fn push_field(&mut self, field: &str) {
        self.text.push_str(field);
        self.ends.push(self.text.len());
    }

    pub(crate) fn push_note(&mut self, column: usize, note: CellNote) {
        self.notes.push((column, note));
    }

    /// True when every field is empty or whitespace.
    fn is_blank(&self) -> bool {
        self.text.trim().is_empty()
    }
}

/// Where rows come from: one implementation per kind of file.
trait Source: Send {
    /// Fills `row` with the next row (blank ones included). `Ok(false)` at the end. After a
    /// fatal error, returns `Ok(false)`.
    fn read(&mut self, row: &mut Row) -> Result<bool, ReadError>;

    /// The encoding, when it changed since detection (a text file that turned out to be
    /// Windows-1252 after an ASCII start).
    fn encoding(&self) -> Option<&'static str> {
        None
    }
}

/// The rows of a file after detection: an iterator of `Result<Row, ReadError>` that skips
/// blank rows and, when there is a header, the header row.
///
/// Row-level errors ([`ReadError::is_fatal`] false) are yielded in place of their row and the
/// iteration goes on; after a fatal error it ends. A ragged row is yielded as `Ok` (see
/// [`FileInfo::check_width`]). A header-only file yields nothing.
pub struct Rows {
    source: Box<dyn Source>,
    pending: VecDeque<Result<Row, ReadError>>,
    /// Pad rows to this many fields (spreadsheets: missing trailing cells are empty).
    pad_to: usize,
    encoding: &'static str,
    done: bool,
}

impl Rows {
    fn new(source: Box<dyn Source>, encoding: &'static str) -> Rows {
        Rows {
            source,
            pending: VecDeque::new(),
            pad_to: 0,
            encoding,
            done: false,
        }
    }

    /// Reads the next row into `row`, reusing its buffers: `Ok(true)` when filled, `Ok(false)`
    /// at the end, `Err` for an error (row-level: call again for the next row).
    pub fn next_into(&mut self, row: &mut Row) -> Result<bool, ReadError> {
        if let Some(item) = self.pending.pop_front() {
            *row = item?;
            return Ok(true);
        }
        self.read_source(row)
    }

    /// True when nothing is left to read: no rows (not even a row-level error) after the
    /// header and the sample. Right after [`open`], a file with a header row and no data.
    pub fn is_exhausted(&self) -> bool {
        self.done && self.pending.is_empty()
    }

    /// The encoding now in force (see [`FileInfo::encoding`]).
    pub fn encoding(&self) -> &'static str {
        self.source.encoding().unwrap_or(self.encoding)
    }

    fn read_source(&mut self, row: &mut Row) -> Result<bool, ReadError> {
        loop {
            if self.done {
                return Ok(false);
            }
            match self.source.read(row) {
                Ok(true) if row.is_blank() => continue,
                Ok(true) => {
                    while row.len() < self.pad_to {
                        row.push_field("");
                    }
                    note_scientific(row);
                    return Ok(true);
                }
                Ok(false) => {
                    self.done = true;
                    return Ok(false);
                }
                Err(e) => {
                    self.done = e.is_fatal();
                    return Err(e);
                }
            }
        }
    }
}

impl Iterator for Rows {
    type Item = Result<Row, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut row = Row::default();
        match self.next_into(&mut row) {
            Ok(true) => Some(Ok(row)),
            Ok(false) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

/// Marks text fields written in scientific notation (spreadsheet sources mark number cells
/// themselves).
fn note_scientific(row: &mut Row) {
    for i in 0..row.len() {
        let scientific = row.get(i).is_some_and(looks_scientific);
        if scientific && row.note(i).is_none() {
            row.push_note(i, CellNote::Scientific);
        }
    }
    if row.notes.len() > 1 {
        row.notes.sort_by_key(|&(c, _)| c);
    }
}

/// Opens `path` (the uploaded bytes; `display_name` is the file's name as the user called it,
/// used for the extension and in every error), detects what it is and how to read it, reads
/// the first rows for the header and a sample, and returns what it found with the rows.
///
/// Detection, by content first: a zip is XLSX or ODS by its content types (another zip, an
/// image, a PDF, a program, binary data: [`ReadError::NotAContactFile`]); an OLE file is XLS;
/// anything else must be text, whose encoding comes from a byte order mark, or from whether
/// the first 64 KiB are valid UTF-8 (else Windows-1252). The extension only says whether text
/// is CSV, TSV or TXT.
///
/// Memory: text files, XLSX and ODS stream (spreadsheets on a thread of their own, rows passed
/// in batches; an XLSX's shared strings are held, as calamine holds them, once checked against
/// their bounds). XLS sheets are loaded whole by calamine (at most 65,536 rows). Spreadsheets
/// past a bound of the reader: [`ReadError::SheetTooLarge`].
pub fn open(
    path: &Path,
    display_name: &str,
    opts: &ReadOptions,
) -> Result<(FileInfo, Rows), ReadError> {
    let file_name = display_name.to_owned();
    let io_error = |source: io::Error| ReadError::Io {
        file: file_name.clone(),
        source,
    };
    let mut file = File::open(path).map_err(io_error)?;
    let len = file.metadata().map_err(io_error)?.len();
    if len == 0 {
        return Err(ReadError::Empty { file: file_name });
    }
    let mut prefix = Vec::with_capacity(PREFIX_BYTES.min(len as usize));
    (&mut file)
        .take(PREFIX_BYTES as u64)
        .read_to_end(&mut prefix)
        .map_err(io_error)?;
    let whole = prefix.len() as u64 >= len;
    let extension = extension(display_name);

    let opened = match detect::sniff(&prefix, whole) {
        Content::Other(what) => {
            return Err(ReadError::NotAContactFile {
                file: file_name,
                what,
            });
        }
        Content::Unsupported(what, advice) => {
            return Err(ReadError::Unsupported {
                file: file_name,
                what,
                advice,
            });
        }
        Content::Zip => {
            let kind = zipcheck::inspect(path, &file_name, &extension, opts)?;
            drop(file);
            sheet::open(path, &file_name, kind, opts)?
        }
        Content::Ole => {
            drop(file);
            sheet::open_ole(path, &file_name, &prefix, opts)?
        }
        Content::Text(encoding) => {
            open_text(file, prefix, whole, encoding, &file_name, &extension, opts)?
        }
    };
    finish_open(opened, &file_name, opts)
}

/// What a kind-specific opener hands back before the header and sample are read.
struct Opened {
    kind: FileKind,
    encoding: &'static str,
    delimiter: Option<u8>,
    sheet: Option<String>,
    sheets: Vec<String>,
    source: Box<dyn Source>,
}

fn open_text(
    file: File,
    mut prefix: Vec<u8>,
    whole: bool,
    encoding: TextEncoding,
    file_name: &str,
    extension: &str,
    opts: &ReadOptions,
) -> Result<Opened, ReadError> {
    let decoded = text::decode_prefix(&prefix, encoding);
    if decoded.iter().all(u8::is_ascii_whitespace) && whole {
        return Err(ReadError::Empty {
            file: file_name.to_owned(),
        });
    }
    let layout = text::sniff_layout(&decoded, whole, opts.delimiter, extension == "tsv");
    prefix.drain(..encoding.bom_len());
    let raw: Box<dyn Read + Send> = Box::new(io::Cursor::new(prefix).chain(file));
    let input = text::parser_input(raw, encoding);
    let source = text::TextSource::new(input, file_name, encoding, layout, opts.max_line_bytes);
    let kind = match extension {
        "tsv" | "tab" => FileKind::Tsv,
        "csv" => FileKind::Csv,
        "txt" | "text" | "" => FileKind::Txt,
        _ if layout.delimiter == Some(b'\t') => FileKind::Tsv,
        _ if layout.delimiter.is_none() => FileKind::Txt,
        _ => FileKind::Csv,
    };
    Ok(Opened {
        kind,
        encoding: encoding.label(),
        delimiter: layout.delimiter,
        sheet: None,
        sheets: Vec::new(),
        source: Box::new(source),
    })
}

/// Reads the first row and a sample, decides the header, and builds the [`FileInfo`].
fn finish_open(
    opened: Opened,
    file_name: &str,
    opts: &ReadOptions,
) -> Result<(FileInfo, Rows), ReadError> {
    let Opened {
        kind,
        encoding,
        delimiter,
        sheet,
        sheets,
        source,
    } = opened;
    let mut rows = Rows::new(source, encoding);
    let mut first = Row::default();
    if !rows.read_source(&mut first)? {
        return Err(match sheet {
            Some(sheet) => ReadError::EmptySheet {
                file: file_name.to_owned(),
                sheet,
                available: sheets,
            },
            None => ReadError::Empty {
                file: file_name.to_owned(),
            },
        });
    }
    // The rows after the first, kept to be yielded again: the sample, and any row-level
    // errors among them, in order. A fatal error ends the sample (and is yielded in turn).
    let mut ahead: VecDeque<Result<Row, ReadError>> = VecDeque::new();
    let mut ok_rows = 0;
    while ok_rows < SAMPLE_ROWS {
        let mut row = Row::default();
        match rows.read_source(&mut row) {
            Ok(true) => {
                ok_rows += 1;
                ahead.push_back(Ok(row));
            }
            Ok(false) => break,
            Err(e) => {
                let fatal = e.is_fatal();
                ahead.push_back(Err(e));
                if fatal {
                    break;
                }
            }
        }
    }
    let later: Vec<Row> = ahead
        .iter()
        .filter_map(|r| r.as_ref().ok().cloned())
        .collect();
    let has_header = opts
        .has_header
        .unwrap_or_else(|| mapping::looks_like_header(&first, &later));
    let headers = if has_header {
        first
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let h = h.trim();
                if h.is_empty() {
                    format!("Column {}", i + 1)
                } else {
                    h.to_owned()
                }
            })
            .collect()
    } else {
        let width = later
            .iter()
            .map(Row::len)
            .chain([first.len()])
            .max()
            .unwrap_or(0);
        (1..=width)
            .map(|i| format!("Column {i}"))
            .collect::<Vec<_>>()
    };
    let mut sample: Vec<Row> = later;
    if !has_header {
        ahead.push_front(Ok(first.clone()));
        sample.insert(0, first);
    }
    sample.truncate(SAMPLE_ROWS);
    if kind.is_spreadsheet() {
        // Missing trailing cells are empty fields, up to the header's width.
        let width = headers.len();
        rows.pad_to = width;
        for row in ahead.iter_mut().flatten().chain(sample.iter_mut()) {
            while row.len() < width {
                row.push_field("");
            }
        }
    }
    rows.pending = ahead;
    let info = FileInfo {
        file: file_name.to_owned(),
        kind,
        encoding: rows.encoding(),
        delimiter,
        has_header,
        headers,
        sheet,
        sheets,
        sample,
    };
    Ok((info, rows))
}

/// The lowercase extension of a file name, without the dot ("" when there is none).
fn extension(name: &str) -> String {
    Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default()
}
