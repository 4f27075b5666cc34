//! XLSX: the table on the first sheet, what the report is on a second sheet "About".
//!
//! The first sheet is machine-readable: the header is row 1 (bold, frozen, with filter buttons)
//! and each row below is one data row, every cell a string (never a formula, never a number
//! guessed from text, so `+61412345678` keeps its plus). The sheet is written in
//! `rust_xlsxwriter`'s constant-memory mode: each finished row goes to a temporary file.
//!
//! Formula injection: a string cell is never evaluated, so values are kept exact instead of
//! getting the quote that CSV adds. A formula-like cell (see [`crate::is_formula_like`]) is
//! also given Excel's "quote prefix" style, so editing it in Excel keeps it text.
//!
//! The report's title, account, filters and time are in the workbook's document properties
//! (File > Info in Excel) and on the "About" sheet, where people look for them.

use std::io::Write;

use rust_xlsxwriter::{DocProperties, Format, FormatBorder, Workbook, Worksheet};

use crate::{ExportError, Meta, is_formula_like};

/// Excel's last row index is 1,048,575 (zero-based); row 0 is the header.
const MAX_DATA_ROWS: u32 = 1_048_575;

/// Excel's limit for one cell, in UTF-16 code units.
const MAX_CELL_UTF16: usize = 32_767;

/// Column widths are measured over the header and this many first rows.
const WIDTH_SAMPLE_ROWS: u32 = 200;

/// Column widths in Excel's character units, narrowest and widest.
const MIN_WIDTH: usize = 8;
const MAX_WIDTH: usize = 60;

pub(crate) struct XlsxSink<W: Write + Send> {
    workbook: Workbook,
    sheet: Worksheet,
    meta: Meta,
    quote_prefix: Format,
    /// The next data row's index; row 0 is the header.
    next_row: u32,
    /// The widest cell seen per column, in characters, over the header and the first rows.
    widths: Vec<usize>,
    out: W,
}

impl<W: Write + Send> XlsxSink<W> {
    pub(crate) fn new(meta: &Meta, columns: &[&str], out: W) -> Result<Self, ExportError> {
        let mut workbook = Workbook::new();
        workbook.set_properties(
            &DocProperties::new()
                .set_title(&meta.title)
                .set_subject(format!("Filters: {}", meta.filters_line()))
                .set_company(&meta.account)
                .set_author("stoplist")
                .set_comment(format!("Generated {}", meta.generated_at)),
        );
        let mut sheet = workbook.new_worksheet_with_constant_memory()?;
        sheet.set_name(sheet_name(&meta.title))?;
        let header = Format::new()
            .set_bold()
            .set_background_color("#E7E6E6")
            .set_border_bottom(FormatBorder::Thin);
        for (col, name) in (0u16..).zip(columns) {
            sheet.write_string_with_format(0, col, fit_cell(name).as_ref(), &header)?;
        }
        sheet.set_freeze_panes(1, 0)?;
        Ok(XlsxSink {
            workbook,
            sheet,
            meta: meta.clone(),
            quote_prefix: Format::new().set_quote_prefix(),
            next_row: 1,
            widths: columns.iter().map(|c| c.chars().count() + 2).collect(),
            out,
        })
    }

    pub(crate) fn row(&mut self, cells: &[&str]) -> Result<(), ExportError> {
        if self.next_row > MAX_DATA_ROWS {
            return Err(ExportError::TooManyRowsForXlsx {
                max: u64::from(MAX_DATA_ROWS),
            });
        }
        let row = self.next_row;
        for (col, cell) in (0u16..).zip(cells) {
            let cell = fit_cell(cell);
            if is_formula_like(&cell) {
                self.sheet
                    .write_string_with_format(row, col, cell.as_ref(), &self.quote_prefix)?;
            } else {
                self.sheet.write_string(row, col, cell.as_ref())?;
            }
        }
        if row <= WIDTH_SAMPLE_ROWS {
            for (width, cell) in self.widths.iter_mut().zip(cells) {
                *width = (*width).max(cell.chars().count());
            }
        }
        self.next_row += 1;
        Ok(())
    }

    pub(crate) fn finish(mut self) -> Result<W, ExportError> {
        let last_col = u16::try_from(self.widths.len().saturating_sub(1)).unwrap_or(u16::MAX);
        for (col, width) in (0u16..).zip(&self.widths) {
            let width = (*width + 1).clamp(MIN_WIDTH, MAX_WIDTH);
            self.sheet.set_column_width(col, width as f64)?;
        }
        self.sheet.autofilter(0, 0, self.next_row - 1, last_col)?;
        self.workbook.push_worksheet(self.sheet);

        let about = self.workbook.add_worksheet();
        about.set_name("About")?;
        let bold = Format::new().set_bold();
        about.write_string_with_format(0, 0, fit_cell(&self.meta.title).as_ref(), &bold)?;
        let mut lines: Vec<(String, String)> = vec![
            ("Account".into(), self.meta.account.clone()),
            ("Generated".into(), self.meta.generated_at.clone()),
            ("Rows".into(), (self.next_row - 1).to_string()),
        ];
        if self.meta.filters.is_empty() {
            lines.push(("Filters".into(), "none".into()));
        }
        lines.extend(
            self.meta
                .filters
                .iter()
                .map(|(label, value)| (format!("Filter: {label}"), value.clone())),
        );
        for (row, (label, value)) in (2u32..).zip(&lines) {
            about.write_string_with_format(row, 0, fit_cell(label).as_ref(), &bold)?;
            about.write_string(row, 1, fit_cell(value).as_ref())?;
        }
        about.set_column_width(0, 20)?;
        about.set_column_width(1, 60)?;

        self.workbook.save_to_writer(&mut self.out)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Cuts a value longer than Excel's cell limit, ending it with "…"; shorter values are kept.
fn fit_cell(cell: &str) -> std::borrow::Cow<'_, str> {
    // A UTF-8 byte is at most one UTF-16 unit, so short strings need no counting.
    if cell.len() <= MAX_CELL_UTF16 {
        return cell.into();
    }
    let mut units = 0;
    let mut end = 0;
    for (at, ch) in cell.char_indices() {
        if units + ch.len_utf16() > MAX_CELL_UTF16 - 1 {
            break;
        }
        units += ch.len_utf16();
        end = at + ch.len_utf8();
    }
    if end == cell.len() {
        return cell.into();
    }
    format!("{}…", &cell[..end]).into()
}

/// A valid sheet name from the report title: Excel's forbidden characters become spaces, at most
/// 31 characters, no quote at either end, not "About" or Excel's reserved "History"; "Report" if
/// nothing is left.
fn sheet_name(title: &str) -> String {
    let cleaned: String = title
        .chars()
        .map(|c| {
            if matches!(c, '*' | '?' | ':' | '[' | ']' | '\\' | '/') || c.is_control() {
                ' '
            } else {
                c
            }
        })
        .collect();
    let mut name = String::new();
    let mut units = 0;
    for c in cleaned.trim().chars() {
        if units + c.len_utf16() > 31 {
            break;
        }
        units += c.len_utf16();
        name.push(c);
    }
    let name = name.trim().trim_matches('\'').trim();
    if name.is_empty() || name.eq_ignore_ascii_case("about") || name.eq_ignore_ascii_case("history")
    {
        "Report".to_owned()
    } else {
        name.to_owned()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn sheet_name_drops_forbidden_characters_and_keeps_31() {
        assert_eq!(
            sheet_name("Opt-outs: 2026/11 [all]"),
            "Opt-outs  2026 11  all"
        );
        assert_eq!(sheet_name(&"x".repeat(40)).len(), 31);
        assert_eq!(sheet_name("'quoted'"), "quoted");
        assert_eq!(sheet_name(" ? "), "Report");
        assert_eq!(sheet_name("History"), "Report");
    }

    #[test]
    fn a_cell_over_excels_limit_is_cut_with_an_ellipsis() {
        let long = "é".repeat(40_000);
        let fitted = fit_cell(&long);
        assert_eq!(fitted.encode_utf16().count(), MAX_CELL_UTF16);
        assert!(fitted.ends_with("é…"));
        assert_eq!(fit_cell("short"), "short");
    }
}
