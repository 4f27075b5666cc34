//! [`ReadError`]: everything that can go wrong while reading a contact file, each naming the
//! file (as the user called it), and the row and column where they apply, with a message that
//! says what is wrong and what to do about it.

use std::fmt;

use super::FileKind;

/// Why a file, or one row of it, could not be read.
///
/// Row-level errors ([`ReadError::is_fatal`] is false) leave the reader able to go on to the
/// next row: the pipeline counts them (by variant) in the import report. Every other error ends
/// the read. Rows and columns are 1-based, as a user sees them in a spreadsheet (the header
/// row, when there is one, is row 1).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be opened or read at all (missing, no permission, a disk error).
    #[error("could not read \"{file}\": {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },

    /// Zero bytes, or nothing but blank lines, spaces or a byte order mark.
    #[error(
        "\"{file}\" is empty: there is nothing to import. Check that you chose the right file \
         and that it was saved before uploading"
    )]
    Empty { file: String },

    /// The content is something else altogether (an image, a PDF, an archive, a program…).
    #[error(
        "\"{file}\" is not a contact file: it looks like {what}. Upload a CSV, TSV, TXT, XLSX, \
         XLS or ODS file"
    )]
    NotAContactFile { file: String, what: &'static str },

    /// A kind of spreadsheet that is recognised but not read (for example XLSB).
    #[error("\"{file}\" is {what}, which cannot be imported: {advice}")]
    Unsupported {
        file: String,
        what: &'static str,
        advice: &'static str,
    },

    /// The workbook is protected by a password, so its cells cannot be read.
    #[error(
        "\"{file}\" is protected by a password: open it, remove the password (or save a copy \
         without one) and upload that copy"
    )]
    Encrypted { file: String },

    /// The file has the shape of a workbook but cannot be read through: cut short during an
    /// upload, or damaged.
    #[error(
        "\"{file}\" looks like {kind} workbook but it is damaged or incomplete ({detail}). If \
         the upload was interrupted, upload it again; otherwise open it in the program that made \
         it and save it again"
    )]
    Damaged {
        file: String,
        kind: KindArticle,
        detail: String,
    },

    /// The workbook would expand to more than the configured bound once unzipped.
    #[error(
        "\"{file}\" was refused: unzipped it would take {declared} bytes, over the limit of \
         {limit} bytes. Split it into smaller files, or export it as CSV"
    )]
    TooLargeUnzipped {
        file: String,
        declared: u64,
        limit: u64,
    },

    /// One part of the workbook is compressed far more than real spreadsheets ever are (a zip
    /// bomb); it is refused before it is expanded.
    #[error(
        "\"{file}\" was refused: its part \"{entry}\" is compressed {ratio} to 1 (the limit is \
         {limit} to 1), which real spreadsheets never are. If the file is genuine, export it as \
         CSV and upload that"
    )]
    CompressionRatio {
        file: String,
        entry: String,
        ratio: u64,
        limit: u64,
    },

    /// The spreadsheet would expand past one of the reader's bounds: refused before the part
    /// at fault is expanded, or as soon as reading reaches it, never after holding it whole.
    #[error(
        "\"{file}\" was refused: {over}. Save it as CSV (in the spreadsheet program: File > \
         Save As > CSV) and upload that, or split it into smaller files"
    )]
    SheetTooLarge { file: String, over: SheetLimit },

    /// `ReadOptions::sheet` names a sheet the workbook does not have.
    #[error(
        "\"{file}\" has no sheet named \"{sheet}\"; its sheets are: {}",
        quoted_list(available)
    )]
    UnknownSheet {
        file: String,
        sheet: String,
        available: Vec<String>,
    },

    /// The chosen sheet has no cells.
    #[error(
        "the sheet \"{sheet}\" of \"{file}\" is empty; its sheets are: {}",
        quoted_list(available)
    )]
    EmptySheet {
        file: String,
        sheet: String,
        available: Vec<String>,
    },

    /// One row is longer than `ReadOptions::max_line_bytes`: reading stops there rather than
    /// holding an unbounded row in memory.
    #[error(
        "\"{file}\", row {row}: the row is longer than {limit} bytes, so reading stopped there. \
         A quote (\") that is opened but never closed makes the rest of the file one row: check \
         the quotes on that row, or split the file"
    )]
    LineTooLong {
        file: String,
        row: u64,
        limit: usize,
    },

    /// This row is in another encoding than the rows before it: invalid UTF-8 in a file that
    /// was UTF-8 so far, or UTF-8 accented text in a file that was Windows-1252 so far (often
    /// rows pasted from another file). Row-level.
    #[error(
        "\"{file}\", row {row}, column {column}: the text is in another encoding than the rows \
         before it, which are {encoding} (mixed encodings). Open the file in a spreadsheet and \
         save it again as \"CSV UTF-8\", or fix that row"
    )]
    MixedEncoding {
        file: String,
        row: u64,
        column: usize,
        /// The encoding of the file so far.
        encoding: &'static str,
    },

    /// A row with more or fewer fields than the header. The row is still yielded (its data is
    /// kept); this error is what [`super::FileInfo::check_width`] returns for it. Row-level.
    #[error(
        "\"{file}\", row {row} has {found} fields, the header has {expected}: check for a \
         delimiter inside a value that is not in quotes, or a missing one"
    )]
    RaggedRow {
        file: String,
        row: u64,
        found: usize,
        expected: usize,
    },

    /// A header row and nothing after it.
    #[error(
        "\"{file}\" has a header row ({headers}) but no rows of data: there is nothing to \
         import. Check that you chose the right file and that it was saved before uploading"
    )]
    NoRows { file: String, headers: String },

    /// No column looks like a mobile number, from the header or from the values.
    #[error(
        "\"{file}\": no column looks like a mobile number. The columns found are {headers}; \
         choose the mobile column in the mapping, or add a header such as \"Mobile\""
    )]
    NoMobileColumn { file: String, headers: String },

    /// A spreadsheet's cells could not be read at this row (damaged sheet data).
    #[error(
        "\"{file}\", near row {row}: the sheet cannot be read from here on ({detail}). Open it \
         in the program that made it and save it again"
    )]
    BadSheetData {
        file: String,
        row: u64,
        detail: String,
    },
}

impl ReadError {
    /// False for the errors that concern one row only: reading can go on with the next row.
    pub fn is_fatal(&self) -> bool {
        !matches!(
            self,
            ReadError::MixedEncoding { .. } | ReadError::RaggedRow { .. }
        )
    }

    /// The file the error is about, as the user named it.
    pub fn file(&self) -> &str {
        match self {
            ReadError::Io { file, .. }
            | ReadError::Empty { file }
            | ReadError::NotAContactFile { file, .. }
            | ReadError::Unsupported { file, .. }
            | ReadError::Encrypted { file }
            | ReadError::Damaged { file, .. }
            | ReadError::TooLargeUnzipped { file, .. }
            | ReadError::CompressionRatio { file, .. }
            | ReadError::SheetTooLarge { file, .. }
            | ReadError::UnknownSheet { file, .. }
            | ReadError::EmptySheet { file, .. }
            | ReadError::LineTooLong { file, .. }
            | ReadError::MixedEncoding { file, .. }
            | ReadError::RaggedRow { file, .. }
            | ReadError::NoMobileColumn { file, .. }
            | ReadError::NoRows { file, .. }
            | ReadError::BadSheetData { file, .. } => file,
        }
    }

    /// The 1-based row the error is about, when it is about one.
    pub fn row(&self) -> Option<u64> {
        match self {
            ReadError::LineTooLong { row, .. }
            | ReadError::MixedEncoding { row, .. }
            | ReadError::RaggedRow { row, .. }
            | ReadError::BadSheetData { row, .. } => Some(*row),
            ReadError::SheetTooLarge { over, .. } => over.row(),
            _ => None,
        }
    }

    /// The 1-based column the error is about, when it is about one.
    pub fn column(&self) -> Option<usize> {
        match self {
            ReadError::MixedEncoding { column, .. } => Some(*column),
            _ => None,
        }
    }
}

/// Which bound of the spreadsheet reader a file went past (see the constants in
/// `read/sheet.rs`, which say why each is where it is), with the limit, for the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SheetLimit {
    /// An XLSX's shared strings part inflates to more than `limit` bytes (as its zip
    /// declares, or as counted while inflating it).
    SharedStringBytes { limit: u64 },
    /// An XLSX's shared strings table holds (or declares) more than `limit` texts.
    SharedStrings { limit: u64 },
    /// Data past row `limit`.
    Rows { limit: u64 },
    /// Row `row` has data past column `limit`.
    Columns { row: u64, limit: u64 },
    /// More than `limit` cells with data in the sheet.
    Cells { limit: u64 },
    /// Row `row` holds more than `limit` bytes of text.
    RowBytes { row: u64, limit: u64 },
}

impl SheetLimit {
    /// The 1-based row at fault, when there is one.
    pub fn row(&self) -> Option<u64> {
        match self {
            SheetLimit::Columns { row, .. } | SheetLimit::RowBytes { row, .. } => Some(*row),
            _ => None,
        }
    }
}

impl fmt::Display for SheetLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SheetLimit::SharedStringBytes { limit } => write!(
                f,
                "the file's shared strings expand to more than {}",
                megabytes(limit)
            ),
            SheetLimit::SharedStrings { limit } => write!(
                f,
                "the file's shared strings table holds more than {} texts",
                thousands(limit)
            ),
            SheetLimit::Rows { limit } => write!(
                f,
                "the sheet has data past row {}, the most a sheet may have",
                thousands(limit)
            ),
            SheetLimit::Columns { row, limit } => write!(
                f,
                "row {} has data past column {}, the most a row may have",
                thousands(row),
                thousands(limit)
            ),
            SheetLimit::Cells { limit } => write!(
                f,
                "the sheet has more than {} cells with data",
                thousands(limit)
            ),
            SheetLimit::RowBytes { row, limit } => write!(
                f,
                "row {} holds more than {} of text",
                thousands(row),
                megabytes(limit)
            ),
        }
    }
}

/// `1048576` as `1,048,576`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// A size in bytes as whole MB (1 MB = 1,048,576 bytes, as spreadsheet users read it), or in
/// bytes when under one.
fn megabytes(bytes: u64) -> String {
    const MB: u64 = 1024 * 1024;
    if bytes >= MB && bytes.is_multiple_of(MB) {
        format!("{} MB", thousands(bytes / MB))
    } else {
        format!("{} bytes", thousands(bytes))
    }
}

/// A file kind with its indefinite article, for messages ("an XLSX workbook").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindArticle(pub FileKind);

impl fmt::Display for KindArticle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.0.name();
        // Every kind's name is an initialism read letter by letter: "an XLSX", "an ODS", "a TSV".
        let article = if name.starts_with(['X', 'O']) {
            "an"
        } else {
            "a"
        };
        write!(f, "{article} {name}")
    }
}

/// `"A", "B", "C"`, or `(none)`.
pub(super) fn quoted_list(items: &[String]) -> String {
    if items.is_empty() {
        return "(none)".to_owned();
    }
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push('"');
        out.push_str(item);
        out.push('"');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_is_named_with_its_figure() {
        let e = ReadError::SheetTooLarge {
            file: "big.xlsx".to_owned(),
            over: SheetLimit::SharedStringBytes {
                limit: 256 * 1024 * 1024,
            },
        };
        assert_eq!(
            e.to_string(),
            "\"big.xlsx\" was refused: the file's shared strings expand to more than 256 MB. \
             Save it as CSV (in the spreadsheet program: File > Save As > CSV) and upload that, \
             or split it into smaller files"
        );
        let rows = SheetLimit::Rows { limit: 1_048_576 };
        assert_eq!(
            rows.to_string(),
            "the sheet has data past row 1,048,576, the most a sheet may have"
        );
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(50_000_000), "50,000,000");
    }
}
