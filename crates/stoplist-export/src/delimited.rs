//! CSV and TSV: a header row, then one line per row, streamed through the `csv` crate.
//!
//! Both start with a UTF-8 byte order mark: without it Excel reads a UTF-8 file as the
//! machine's legacy code page and garbles accents (`José` shows as `JosÃ©`); CSV readers such as
//! the `csv` crate, Python's `utf-8-sig` and LibreOffice skip it. Lines end in CRLF (RFC 4180,
//! and what Excel writes). CSV quotes a field only when it must (RFC 4180). TSV never quotes:
//! tabs, CRs and LFs inside a value become spaces, so every line is one row. Every cell,
//! header included, goes through [`crate::neutralize`].

use std::borrow::Cow;
use std::io::Write;

use crate::{ExportError, neutralize};

/// The UTF-8 byte order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Bytes buffered before a write reaches the output.
const BUFFER: usize = 64 * 1024;

pub(crate) struct DelimitedSink<W: Write> {
    writer: csv::Writer<W>,
    tsv: bool,
}

impl<W: Write> DelimitedSink<W> {
    /// A CSV file: RFC 4180 quoting, CRLF.
    pub(crate) fn csv(columns: &[&str], out: W) -> Result<Self, ExportError> {
        let builder = csv::WriterBuilder::new();
        Self::start(builder, false, columns, out)
    }

    /// A TSV file: tab-separated, no quoting, CRLF.
    pub(crate) fn tsv(columns: &[&str], out: W) -> Result<Self, ExportError> {
        let mut builder = csv::WriterBuilder::new();
        builder.delimiter(b'\t').quote_style(csv::QuoteStyle::Never);
        Self::start(builder, true, columns, out)
    }

    fn start(
        mut builder: csv::WriterBuilder,
        tsv: bool,
        columns: &[&str],
        mut out: W,
    ) -> Result<Self, ExportError> {
        out.write_all(BOM)?;
        let writer = builder
            .terminator(csv::Terminator::CRLF)
            .buffer_capacity(BUFFER)
            .from_writer(out);
        let mut sink = DelimitedSink { writer, tsv };
        sink.row(columns)?;
        Ok(sink)
    }

    pub(crate) fn row(&mut self, cells: &[&str]) -> Result<(), ExportError> {
        for cell in cells {
            let cell = neutralize(cell);
            let cell = if self.tsv { one_tsv_field(cell) } else { cell };
            self.writer.write_field(cell.as_bytes())?;
        }
        // An empty record ends the row that the fields above started.
        self.writer.write_record(None::<&[u8]>)?;
        Ok(())
    }

    pub(crate) fn finish(self) -> Result<W, ExportError> {
        let mut out = self
            .writer
            .into_inner()
            .map_err(|error| ExportError::Io(error.into_error()))?;
        out.flush()?;
        Ok(out)
    }
}

/// Replaces the characters that would split a TSV field or line (tab, CR, LF) with spaces.
fn one_tsv_field(cell: Cow<'_, str>) -> Cow<'_, str> {
    if cell.contains(['\t', '\r', '\n']) {
        Cow::Owned(cell.replace(['\t', '\r', '\n'], " "))
    } else {
        cell
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn tsv_field_with_tab_and_newlines_becomes_one_field() {
        assert_eq!(one_tsv_field(Cow::Borrowed("a\tb\r\nc")), "a b  c");
        assert!(matches!(
            one_tsv_field(Cow::Borrowed("plain")),
            Cow::Borrowed(_)
        ));
    }
}
