//! CSV, TSV and TXT: the delimiter sniffed from the first rows, quoted fields holding
//! delimiters and line breaks, LF, CRLF or CR line ends, and the encoding decided up front
//! (UTF-16 transcoded as it streams; UTF-8 and Windows-1252 decoded row by row). A row longer
//! than the bound is an error, found without holding more than the bound in memory.

use std::io::{self, Read};

use encoding_rs::{Decoder, UTF_16BE, UTF_16LE, WINDOWS_1252};

use super::detect::TextEncoding;
use super::error::ReadError;
use super::{Row, Source};

/// The delimiters we sniff, in order of preference when two fit equally well.
const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

/// The delimiter used for a file with one column: a byte no contact file contains (ASCII
/// "unit separator"), so every line is one field.
pub(super) const SINGLE_COLUMN: u8 = 0x1F;

/// Rows looked at to sniff the delimiter.
const SNIFF_ROWS: usize = 50;

/// The line end a text file uses, from its first line break.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LineEnd {
    /// LF or CRLF: records end at LF; a CR before it is dropped.
    Lf,
    /// Classic Mac OS: records end at CR.
    Cr,
}

/// What the start of a text file says about how to parse the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Layout {
    /// The delimiter, or `None` for a file of one column.
    pub delimiter: Option<u8>,
    pub line_end: LineEnd,
    /// The first line is Excel's `sep=;` hint, not a row.
    pub sep_line: bool,
}

/// Decides delimiter, line end and Excel's `sep=` hint from the start of the file, already in
/// UTF-8 or an ASCII-compatible encoding. `whole`: `text` is the entire file. `forced`: the
/// delimiter the user chose. `tab_hint`: the file is named `.tsv`, so tab wins a tie.
pub(super) fn sniff_layout(text: &[u8], whole: bool, forced: Option<u8>, tab_hint: bool) -> Layout {
    let line_end = match text.iter().position(|&b| b == b'\n' || b == b'\r') {
        Some(i) if text[i] == b'\r' && text.get(i + 1) != Some(&b'\n') && i + 1 < text.len() => {
            LineEnd::Cr
        }
        _ => LineEnd::Lf,
    };
    let term = match line_end {
        LineEnd::Lf => b'\n',
        LineEnd::Cr => b'\r',
    };
    // Excel's hint line, `sep=;`, names the delimiter and is not a row.
    let first_line_end = text.iter().position(|&b| b == term).unwrap_or(text.len());
    let first_line = trim_cr(&text[..first_line_end]);
    let sep_hint = match first_line {
        [b's' | b'S', b'e' | b'E', b'p' | b'P', b'=', d] => Some(*d),
        _ => None,
    };
    let sep_line = sep_hint.is_some();
    let body = if sep_line {
        &text[(first_line_end + 1).min(text.len())..]
    } else {
        text
    };
    // Sniff on whole lines only: the prefix may end in the middle of a row.
    let body = if whole {
        body
    } else {
        match body.iter().rposition(|&b| b == term) {
            Some(i) => &body[..=i],
            None => body,
        }
    };
    let delimiter = match forced.or(sep_hint) {
        Some(d) => Some(d),
        None => sniff_delimiter(body, term, tab_hint),
    };
    Layout {
        delimiter,
        line_end,
        sep_line,
    }
}

/// The candidate delimiter that splits the first rows into the same number of fields (two or
/// more) most consistently; then the one giving more fields; then the preferred order.
fn sniff_delimiter(body: &[u8], term: u8, tab_hint: bool) -> Option<u8> {
    struct Score {
        delimiter: u8,
        rows: usize,
        agreeing: usize,
        fields: usize,
        preference: usize,
    }
    let mut best: Option<Score> = None;
    for (i, &delimiter) in DELIMITERS.iter().enumerate() {
        let counts = field_counts(body, delimiter, term);
        let Some((fields, agreeing)) = mode(&counts) else {
            continue;
        };
        // A delimiter that splits fewer than 60% of rows into the same number of fields, and
        // leaves some rows whole, is a character inside values ("Smith, John"), not the
        // delimiter. One that splits every row is the delimiter of a ragged file.
        let splits_all = counts.iter().all(|&c| c >= 2);
        if fields < 2 || (agreeing * 10 < counts.len() * 6 && !splits_all) {
            continue;
        }
        let preference = if tab_hint && delimiter == b'\t' {
            0
        } else {
            i + 1
        };
        let score = Score {
            delimiter,
            rows: counts.len(),
            agreeing,
            fields,
            preference,
        };
        let better = match &best {
            None => true,
            Some(b) => {
                // Compare the agreeing shares exactly: agreeing/rows against b.agreeing/b.rows.
                let (ours, theirs) = (score.agreeing * b.rows, b.agreeing * score.rows);
                ours > theirs
                    || (ours == theirs
                        && (score.fields > b.fields
                            || (score.fields == b.fields && score.preference < b.preference)))
            }
        };
        if better {
            best = Some(score);
        }
    }
    best.map(|b| b.delimiter)
}

/// Fields per row for the first [`SNIFF_ROWS`] non-blank rows, quotes respected.
fn field_counts(body: &[u8], delimiter: u8, term: u8) -> Vec<usize> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .terminator(csv::Terminator::Any(term))
        .from_reader(body);
    let mut record = csv::ByteRecord::new();
    let mut counts = Vec::new();
    while counts.len() < SNIFF_ROWS {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {
                let blank = record
                    .iter()
                    .all(|f| trim_cr(f).iter().all(u8::is_ascii_whitespace));
                if !blank {
                    counts.push(record.len());
                }
            }
            Ok(false) | Err(_) => break,
        }
    }
    counts
}

/// The most common value and how often it occurs (the larger value on a tie).
fn mode(counts: &[usize]) -> Option<(usize, usize)> {
    let mut sorted = counts.to_vec();
    sorted.sort_unstable();
    let mut best: Option<(usize, usize)> = None;
    for run in sorted.chunk_by(|a, b| a == b) {
        let candidate = (run[0], run.len());
        if best.is_none_or(|(v, n)| candidate.1 > n || (candidate.1 == n && candidate.0 > v)) {
            best = Some(candidate);
        }
    }
    best
}

fn trim_cr(bytes: &[u8]) -> &[u8] {
    bytes.strip_suffix(b"\r").unwrap_or(bytes)
}

/// Decodes a prefix of the file to UTF-8 for sniffing (UTF-16 only; the other encodings keep
/// every delimiter and quote at its ASCII byte).
pub(super) fn decode_prefix(prefix: &[u8], encoding: TextEncoding) -> Vec<u8> {
    let enc = match encoding {
        TextEncoding::Utf16Le { .. } => UTF_16LE,
        TextEncoding::Utf16Be { .. } => UTF_16BE,
        _ => return prefix[encoding.bom_len()..].to_vec(),
    };
    let (text, _) = enc.decode_without_bom_handling(&prefix[encoding.bom_len()..]);
    text.into_owned().into_bytes()
}

/// Wraps the byte stream of a file (after its byte order mark) so that what comes out is what
/// the CSV parser reads: UTF-8 for UTF-16 input, the bytes themselves otherwise.
pub(super) fn parser_input(
    raw: Box<dyn Read + Send>,
    encoding: TextEncoding,
) -> Box<dyn Read + Send> {
    match encoding {
        TextEncoding::Utf16Le { .. } => Box::new(Transcode::new(
            raw,
            UTF_16LE.new_decoder_without_bom_handling(),
        )),
        TextEncoding::Utf16Be { .. } => Box::new(Transcode::new(
            raw,
            UTF_16BE.new_decoder_without_bom_handling(),
        )),
        _ => raw,
    }
}

/// A streaming transcoder to UTF-8 (invalid input becomes U+FFFD). Memory: two fixed buffers.
struct Transcode {
    inner: Box<dyn Read + Send>,
    decoder: Decoder,
    input: Box<[u8]>,
    start: usize,
    end: usize,
    eof: bool,
    finished: bool,
    /// Decoded bytes the caller's buffer had no room for.
    output: Vec<u8>,
    out_start: usize,
}

impl Transcode {
    fn new(inner: Box<dyn Read + Send>, decoder: Decoder) -> Self {
        Transcode {
            inner,
            decoder,
            input: vec![0; 32 * 1024].into_boxed_slice(),
            start: 0,
            end: 0,
            eof: false,
            finished: false,
            output: Vec::with_capacity(64 * 1024 + 16),
            out_start: 0,
        }
    }
}

impl Read for Transcode {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.out_start < self.output.len() {
                let pending = &self.output[self.out_start..];
                let n = pending.len().min(buf.len());
                buf[..n].copy_from_slice(&pending[..n]);
                self.out_start += n;
                return Ok(n);
            }
            if self.finished {
                return Ok(0);
            }
            if self.start == self.end && !self.eof {
                let n = self.inner.read(&mut self.input)?;
                self.start = 0;
                self.end = n;
                self.eof = n == 0;
            }
            // Decode into our own buffer (sized for the worst case of the input held), so the
            // caller's buffer may be of any size.
            self.output.clear();
            self.out_start = 0;
            let src = &self.input[self.start..self.end];
            let need = self
                .decoder
                .max_utf8_buffer_length(src.len())
                .unwrap_or(src.len() * 3 + 16);
            self.output.resize(need.max(16), 0);
            let (_, read, written, _) =
                self.decoder.decode_to_utf8(src, &mut self.output, self.eof);
            self.start += read;
            self.output.truncate(written);
            if self.eof && self.start == self.end {
                self.finished = true;
            }
        }
    }
}

/// Counts the bytes handed to the CSV parser, and refuses to hand more than `limit` beyond
/// the start of the row being parsed: a row can never grow past about `limit` in memory.
struct Guard {
    inner: Box<dyn Read + Send>,
    served: u64,
    row_start: u64,
    limit: u64,
}

/// The marker of a [`Guard`] refusal inside an `io::Error`.
#[derive(Debug)]
struct RowTooLong;

impl std::fmt::Display for RowTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("row too long")
    }
}

impl std::error::Error for RowTooLong {}

impl Read for Guard {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.served.saturating_sub(self.row_start) > self.limit {
            return Err(io::Error::new(io::ErrorKind::InvalidData, RowTooLong));
        }
        let n = self.inner.read(buf)?;
        self.served += n as u64;
        Ok(n)
    }
}

/// How a row's bytes become text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decode {
    /// UTF-8 (or transcoded to it). `proven`: a non-ASCII UTF-8 character has been seen (or
    /// the file had a byte order mark, or was transcoded), so invalid UTF-8 later is a mixed
    /// encoding; until then only ASCII was seen, and a row that is not UTF-8 switches the rest
    /// of the file to Windows-1252 (which is what an all-ASCII start was as well).
    Utf8 { proven: bool },
    /// Windows-1252; a row that is valid UTF-8 with accents in it is a mixed encoding.
    Windows1252,
}

/// The CSV/TSV/TXT row source.
pub(super) struct TextSource {
    reader: csv::Reader<Guard>,
    record: csv::ByteRecord,
    file: String,
    decode: Decode,
    line_end: LineEnd,
    /// Drop the first record (Excel's `sep=` line) and number from the next.
    skip_sep_line: bool,
    /// The row number of the last record read (0 before the first).
    row: u64,
    /// `reader.position().line()` after the last record.
    line: u64,
    limit: usize,
    failed: bool,
}

impl TextSource {
    /// `input` yields the file after its byte order mark, already passed through
    /// [`parser_input`].
    pub(super) fn new(
        input: Box<dyn Read + Send>,
        file: &str,
        encoding: TextEncoding,
        layout: Layout,
        max_line_bytes: usize,
    ) -> Self {
        let term = match layout.line_end {
            LineEnd::Lf => b'\n',
            LineEnd::Cr => b'\r',
        };
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(layout.delimiter.unwrap_or(SINGLE_COLUMN))
            .terminator(csv::Terminator::Any(term))
            .buffer_capacity(64 * 1024)
            .from_reader(Guard {
                inner: input,
                served: 0,
                row_start: 0,
                limit: max_line_bytes as u64,
            });
        let decode = match encoding {
            TextEncoding::Utf8 {
                ascii_only: true, ..
            } => Decode::Utf8 { proven: false },
            TextEncoding::Windows1252 => Decode::Windows1252,
            _ => Decode::Utf8 { proven: true },
        };
        TextSource {
            reader,
            record: csv::ByteRecord::new(),
            file: file.to_owned(),
            decode,
            line_end: layout.line_end,
            skip_sep_line: layout.sep_line,
            row: 0,
            line: 1,
            limit: max_line_bytes,
            failed: false,
        }
    }

    /// Reads the next record into `self.record` and works out its row number: the previous
    /// row's plus one, plus any blank lines the parser skipped before it (each LF consumed that
    /// is neither inside a field nor this record's own line end).
    fn next_record(&mut self) -> Result<bool, ReadError> {
        let read = self.reader.read_byte_record(&mut self.record);
        let line = self.reader.position().line();
        match read {
            Ok(true) => {}
            Ok(false) => return Ok(false),
            Err(e) => {
                self.failed = true;
                let row = self.row + 1;
                return Err(match e.into_kind() {
                    csv::ErrorKind::Io(io)
                        if io.get_ref().is_some_and(|inner| inner.is::<RowTooLong>()) =>
                    {
                        ReadError::LineTooLong {
                            file: self.file.clone(),
                            row,
                            limit: self.limit,
                        }
                    }
                    csv::ErrorKind::Io(source) => ReadError::Io {
                        file: self.file.clone(),
                        source,
                    },
                    other => ReadError::Io {
                        file: self.file.clone(),
                        source: io::Error::other(format!("{other:?}")),
                    },
                });
            }
        }
        let consumed = line.saturating_sub(self.line);
        self.line = line;
        let blank = if self.line_end == LineEnd::Lf && consumed > 1 {
            let embedded = self
                .record
                .as_slice()
                .iter()
                .filter(|&&b| b == b'\n')
                .count() as u64;
            // A final row without a line end makes this one short; never count below zero.
            consumed.saturating_sub(embedded + 1)
        } else {
            0
        };
        self.row += 1 + blank;
        self.reader.get_mut().row_start = self.reader.position().byte();
        Ok(true)
    }

    /// Decodes `self.record` into `row`.
    fn decode_into(&mut self, row: &mut Row) -> Result<(), ReadError> {
        let fields = self.record.len();
        if let Decode::Utf8 { proven } = self.decode {
            match utf8_fields(&self.record) {
                Ok(text) => {
                    if !proven && !text.is_ascii() {
                        self.decode = Decode::Utf8 { proven: true };
                    }
                    for i in 0..fields {
                        let range = self.record.range(i).unwrap_or(0..0);
                        let field = text.get(range).unwrap_or_default();
                        row.push_field(strip_line_end(field, i + 1 == fields));
                    }
                    return Ok(());
                }
                Err(column) if proven => {
                    return Err(ReadError::MixedEncoding {
                        file: self.file.clone(),
                        row: self.row,
                        column,
                        encoding: "UTF-8",
                    });
                }
                // Only ASCII so far: the file is Windows-1252 (or Latin-1) from the start.
                Err(_) => self.decode = Decode::Windows1252,
            }
        }
        // Accented UTF-8 in a Windows-1252 file: Windows-1252 text almost never forms valid
        // UTF-8 sequences, so this row comes from elsewhere and would turn into "JosÃ©".
        let bytes = self.record.as_slice();
        if !bytes.is_ascii() && std::str::from_utf8(bytes).is_ok() {
            let column = self
                .record
                .iter()
                .position(|f| !f.is_ascii())
                .map_or(1, |i| i + 1);
            return Err(ReadError::MixedEncoding {
                file: self.file.clone(),
                row: self.row,
                column,
                encoding: TextEncoding::Windows1252.label(),
            });
        }
        for (i, field) in self.record.iter().enumerate() {
            let (text, _) = WINDOWS_1252.decode_without_bom_handling(field);
            row.push_field(strip_line_end(&text, i + 1 == fields));
        }
        Ok(())
    }
}

/// The record as UTF-8 text whose field boundaries are character boundaries, or the 1-based
/// column of the first field that is not valid UTF-8.
fn utf8_fields(record: &csv::ByteRecord) -> Result<&str, usize> {
    let bytes = record.as_slice();
    let column_of = |offset: usize| {
        (0..record.len())
            .find(|&i| record.range(i).is_some_and(|r| offset < r.end))
            .map_or(record.len(), |i| i + 1)
    };
    let text = std::str::from_utf8(bytes).map_err(|e| column_of(e.valid_up_to()))?;
    for i in 0..record.len() {
        if let Some(r) = record.range(i)
            && (!text.is_char_boundary(r.start) || !text.is_char_boundary(r.end))
        {
            return Err(i + 1);
        }
    }
    Ok(text)
}

/// The last field of a CRLF row ends in the CR (records end at LF).
fn strip_line_end(field: &str, last: bool) -> &str {
    if last {
        field.strip_suffix('\r').unwrap_or(field)
    } else {
        field
    }
}

impl Source for TextSource {
    fn read(&mut self, row: &mut Row) -> Result<bool, ReadError> {
        if self.failed {
            return Ok(false);
        }
        if self.skip_sep_line {
            self.skip_sep_line = false;
            if !self.next_record()? {
                return Ok(false);
            }
            // Excel hides the hint line: the row after it is row 1.
            self.row = 0;
        }
        if !self.next_record()? {
            return Ok(false);
        }
        row.clear(self.row);
        self.decode_into(row)?;
        Ok(true)
    }

    fn encoding(&self) -> Option<&'static str> {
        match self.decode {
            Decode::Windows1252 => Some(TextEncoding::Windows1252.label()),
            Decode::Utf8 { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_commas_do_not_make_comma_the_delimiter() {
        let text = b"Name;Mobile\n\"Smith, John\";0412345678\n\"Lee, Ann\";0412345679\n";
        assert_eq!(sniff_layout(text, true, None, false).delimiter, Some(b';'));
    }

    #[test]
    fn a_comma_inside_some_values_loses_to_a_consistent_tab() {
        let text = b"Smith, John\t0412345678\nAnn\t0412345679\nBo\t0412345670\n";
        assert_eq!(sniff_layout(text, true, None, false).delimiter, Some(b'\t'));
    }

    #[test]
    fn a_ragged_file_still_has_its_delimiter() {
        let text = b"a,b,c,d\n1,2,3,4\n1,2,3,4,5\n1,2\n";
        assert_eq!(sniff_layout(text, true, None, false).delimiter, Some(b','));
    }

    #[test]
    fn one_number_a_line_has_no_delimiter() {
        let text = b"0412345678\n0412345679\n";
        assert_eq!(sniff_layout(text, true, None, false).delimiter, None);
    }

    #[test]
    fn excel_sep_hint_names_the_delimiter_and_is_not_a_row() {
        let layout = sniff_layout(b"sep=|\r\nMobile|Name\r\n", true, None, false);
        assert_eq!(layout.delimiter, Some(b'|'));
        assert!(layout.sep_line);
    }

    #[test]
    fn cr_only_line_ends_are_recognised() {
        assert_eq!(
            sniff_layout(b"a,b\rc,d\r", true, None, false).line_end,
            LineEnd::Cr
        );
        assert_eq!(
            sniff_layout(b"a,b\r\nc,d\r\n", true, None, false).line_end,
            LineEnd::Lf
        );
    }

    #[test]
    fn transcoding_survives_tiny_caller_buffers() {
        let utf16: Vec<u8> = "Jos\u{e9},0412345678\n"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let mut t = Transcode::new(
            Box::new(io::Cursor::new(utf16)),
            UTF_16LE.new_decoder_without_bom_handling(),
        );
        let mut out = Vec::new();
        let mut buf = [0u8; 1];
        loop {
            match t.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(
            String::from_utf8(out).ok().as_deref(),
            Some("Jos\u{e9},0412345678\n")
        );
    }
}
