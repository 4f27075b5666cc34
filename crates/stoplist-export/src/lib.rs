//! Streaming table exports for stoplist's reports (SPEC 3.8): CSV, TSV ("tab"), XLSX and PDF.
//!
//! This crate owns the file formats only. It knows nothing of the store, of accounts or of HTTP:
//! the caller pages through the database (keyset pagination) and feeds the rows one at a time to
//! an [`Exporter`], which writes them out as it goes:
//!
//! - **CSV / TSV** stream straight into the writer through a small buffer; memory does not grow
//!   with the number of rows.
//! - **XLSX** uses `rust_xlsxwriter`'s constant-memory mode: each finished row goes to a temporary
//!   file, and [`Exporter::finish`] zips the sheets into the writer.
//! - **PDF** lays out and draws one page at a time, holding only that page's rows. The PDF
//!   library keeps every finished page's compressed content (about 90 bytes a row: 10,000 rows
//!   make a 0.9 MB file) until [`Exporter::finish`] writes the file, so memory grows slowly
//!   with rows; PDFs are for reports people read, not for million-row dumps.
//!
//! Spreadsheet formula injection (SPEC 3.8) is handled per format: see [`neutralize`].
//!
//! ```
//! use stoplist_export::{Exporter, Format, Meta};
//!
//! let meta = Meta {
//!     title: "Opt-outs".into(),
//!     account: "Acme Pty Ltd".into(),
//!     filters: vec![("From".into(), "2026-11-01".into())],
//!     generated_at: "2026-11-28 07:30 UTC".into(),
//! };
//! let mut export = Exporter::new(Format::Csv, &meta, &["number", "source"], Vec::new())?;
//! export.row(&["+61412345678", "STOP reply"])?;
//! let bytes = export.finish()?;
//! assert!(bytes.ends_with(b"'+61412345678,STOP reply\r\n"));
//! # Ok::<(), stoplist_export::ExportError>(())
//! ```

mod delimited;
mod pdf;
mod xlsx;

use std::borrow::Cow;
use std::fmt;
use std::io::Write;

/// An export file format. Parse user input with [`Format::parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Comma-separated values (RFC 4180), UTF-8 with a byte order mark, CRLF line ends.
    Csv,
    /// Tab-separated values, UTF-8 with a byte order mark, CRLF line ends, no quoting.
    Tsv,
    /// Office Open XML workbook: what Excel users mean by "xls" today.
    Xlsx,
    /// A4 landscape PDF for printing and reading.
    Pdf,
}

impl Format {
    /// Every format, in the order the UI offers them.
    pub const ALL: [Format; 4] = [Format::Csv, Format::Tsv, Format::Xlsx, Format::Pdf];

    /// Reads a format name as a user or a URL gives it, ignoring ASCII case: `csv`, `tsv` or
    /// `tab`, `xlsx` or `xls` (no Rust crate writes legacy BIFF `.xls`, and Excel opens XLSX),
    /// `pdf`. Anything else is `None`.
    pub fn parse(name: &str) -> Option<Format> {
        let name = name.trim();
        [
            ("csv", Format::Csv),
            ("tsv", Format::Tsv),
            ("tab", Format::Tsv),
            ("xlsx", Format::Xlsx),
            ("xls", Format::Xlsx),
            ("pdf", Format::Pdf),
        ]
        .into_iter()
        .find(|(known, _)| name.eq_ignore_ascii_case(known))
        .map(|(_, format)| format)
    }

    /// The `Content-Type` to send with a file of this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Tsv => "text/tab-separated-values; charset=utf-8",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Format::Pdf => "application/pdf",
        }
    }

    /// The file name extension, without the dot.
    pub fn extension(self) -> &'static str {
        self.as_str()
    }

    /// The canonical lower-case name; [`Format::parse`] reads it back.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Tsv => "tsv",
            Format::Xlsx => "xlsx",
            Format::Pdf => "pdf",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a report is, shown to people in XLSX (document properties and an "About" sheet) and PDF
/// (the first page's heading and the document properties). CSV and TSV leave it out: their first
/// line is the header row, because machines read those files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    /// The report's name, e.g. "Incoming replies".
    pub title: String,
    /// The account the report belongs to, as people know it.
    pub account: String,
    /// The filters applied, as (label, value) pairs in display order; empty for none.
    pub filters: Vec<(String, String)>,
    /// When the export was made, already formatted by the caller, e.g. "2026-11-28 07:30 UTC".
    pub generated_at: String,
}

impl Meta {
    /// The filters on one line, "Label: value; Label: value", or "none".
    pub(crate) fn filters_line(&self) -> String {
        if self.filters.is_empty() {
            return "none".to_owned();
        }
        self.filters
            .iter()
            .map(|(label, value)| format!("{label}: {value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Why an export failed. The writer's contents are then incomplete and must be thrown away.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Writing to the output (or to a temporary file) failed.
    #[error("writing the export failed: {0}")]
    Io(#[from] std::io::Error),
    /// The CSV/TSV writer failed for a reason other than I/O.
    #[error("writing CSV/TSV failed: {0}")]
    Csv(String),
    /// The XLSX writer failed.
    #[error("writing XLSX failed: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    /// The PDF writer failed (e.g. a font could not be embedded).
    #[error("writing PDF failed: {0}")]
    Pdf(String),
    /// An export needs at least one column.
    #[error("an export needs at least one column")]
    NoColumns,
    /// A row did not have one cell per column. `row` counts data rows from 1.
    #[error("row {row} has {got} cells but the export has {expected} columns")]
    WrongWidth {
        /// The data row, counted from 1 (the header is not counted).
        row: u64,
        /// The number of columns given to [`Exporter::new`].
        expected: usize,
        /// The number of cells in the row.
        got: usize,
    },
    /// An XLSX sheet holds at most 1,048,576 rows, the header included.
    #[error("an XLSX sheet holds at most {max} data rows; export this report as CSV instead")]
    TooManyRowsForXlsx {
        /// The largest number of data rows an XLSX export can take.
        max: u64,
    },
    /// [`Exporter::with_widths`] was given the wrong number of widths, a width that is not a
    /// positive finite number, or was called after the first row.
    #[error("column widths: {0}")]
    InvalidWidths(&'static str),
}

impl From<csv::Error> for ExportError {
    fn from(error: csv::Error) -> Self {
        match error.into_kind() {
            csv::ErrorKind::Io(io) => ExportError::Io(io),
            other => ExportError::Csv(format!("{other:?}")),
        }
    }
}

/// The characters that make a spreadsheet read a cell as a formula (or strip and then read it
/// so) when they come first: `=`, `+`, `-`, `@` (OWASP "CSV Injection"; ASVS 5.0 V1.2.10), tab
/// and carriage return (OWASP), NUL (ASVS), and line feed for good measure.
const FORMULA_TRIGGERS: &[char] = &['=', '+', '-', '@', '\t', '\r', '\n', '\0'];

/// True when a spreadsheet could run `cell` as a formula: it starts with one of
/// `= + - @`, tab, CR, LF or NUL.
pub fn is_formula_like(cell: &str) -> bool {
    cell.starts_with(FORMULA_TRIGGERS)
}

/// Neutralises spreadsheet formula injection in a CSV/TSV cell: a cell that starts with
/// `= + - @`, tab, CR, LF or NUL gets a single quote in front (OWASP "CSV Injection"), which
/// Excel and LibreOffice show as text. Any other cell is returned as it is, without copying.
///
/// Applied to every CSV and TSV cell, header included. A phone number such as `+61412345678`
/// becomes `'+61412345678`: that also stops Excel from turning it into the number 61412345678.
/// XLSX does not use this: its cells are always written as strings, never formulas, and a
/// formula-like cell gets Excel's "quote prefix" style instead, which keeps the value exact and
/// keeps it text when someone edits the cell. PDF shows values as they are.
pub fn neutralize(cell: &str) -> Cow<'_, str> {
    if is_formula_like(cell) {
        let mut quoted = String::with_capacity(cell.len() + 1);
        quoted.push('\'');
        quoted.push_str(cell);
        Cow::Owned(quoted)
    } else {
        Cow::Borrowed(cell)
    }
}

/// Writes one table, a row at a time, in one [`Format`].
///
/// Invariants: every row has exactly as many cells as there are columns; the output is a
/// complete, valid file only once [`Exporter::finish`] has returned `Ok` (a header-only file when
/// no row was written). If any call fails, throw the output away.
///
/// `W` is where the file goes: usually a temporary `std::fs::File` that is then streamed to the
/// client. No `Seek` is needed: XLSX is zipped in streaming mode.
pub struct Exporter<W: Write + Send> {
    sink: Sink<W>,
    columns: usize,
    rows: u64,
}

enum Sink<W: Write + Send> {
    Delimited(Box<delimited::DelimitedSink<W>>),
    Xlsx(Box<xlsx::XlsxSink<W>>),
    Pdf(Box<pdf::PdfSink<W>>),
}

impl<W: Write + Send> Exporter<W> {
    /// Starts an export with the given column headers. CSV and TSV write their header row at
    /// once; XLSX and PDF keep `meta` for the workbook properties and the first page.
    pub fn new(format: Format, meta: &Meta, columns: &[&str], out: W) -> Result<Self, ExportError> {
        if columns.is_empty() {
            return Err(ExportError::NoColumns);
        }
        let sink = match format {
            Format::Csv => Sink::Delimited(Box::new(delimited::DelimitedSink::csv(columns, out)?)),
            Format::Tsv => Sink::Delimited(Box::new(delimited::DelimitedSink::tsv(columns, out)?)),
            Format::Xlsx => Sink::Xlsx(Box::new(xlsx::XlsxSink::new(meta, columns, out)?)),
            Format::Pdf => Sink::Pdf(Box::new(pdf::PdfSink::new(meta, columns, out)?)),
        };
        Ok(Exporter {
            sink,
            columns: columns.len(),
            rows: 0,
        })
    }

    /// Sets the PDF's relative column widths (e.g. `[2.0, 1.0, 4.0]`: the third column gets four
    /// times the first's share). Without it, widths come from the header and the first rows.
    /// Has no effect on CSV, TSV and XLSX. Must be called before the first row, with one positive
    /// finite width per column.
    pub fn with_widths(mut self, relative: &[f32]) -> Result<Self, ExportError> {
        if relative.len() != self.columns {
            return Err(ExportError::InvalidWidths(
                "give exactly one width per column",
            ));
        }
        if relative.iter().any(|w| !w.is_finite() || *w <= 0.0) {
            return Err(ExportError::InvalidWidths(
                "each width must be a positive finite number",
            ));
        }
        if self.rows > 0 {
            return Err(ExportError::InvalidWidths(
                "set the widths before the first row",
            ));
        }
        if let Sink::Pdf(pdf) = &mut self.sink {
            pdf.set_widths(relative);
        }
        Ok(self)
    }

    /// Writes one row. `cells.len()` must equal the number of columns, else
    /// [`ExportError::WrongWidth`] and nothing is written.
    pub fn row(&mut self, cells: &[&str]) -> Result<(), ExportError> {
        if cells.len() != self.columns {
            return Err(ExportError::WrongWidth {
                row: self.rows + 1,
                expected: self.columns,
                got: cells.len(),
            });
        }
        match &mut self.sink {
            Sink::Delimited(sink) => sink.row(cells)?,
            Sink::Xlsx(sink) => sink.row(cells)?,
            Sink::Pdf(sink) => sink.row(cells)?,
        }
        self.rows += 1;
        Ok(())
    }

    /// The number of data rows written so far.
    pub fn rows_written(&self) -> u64 {
        self.rows
    }

    /// Completes the file (header only if no row was written), flushes it and returns the writer.
    pub fn finish(self) -> Result<W, ExportError> {
        match self.sink {
            Sink::Delimited(sink) => sink.finish(),
            Sink::Xlsx(sink) => sink.finish(),
            Sink::Pdf(sink) => sink.finish(),
        }
    }
}
