//! ODS, streamed from `content.xml` one row at a time (quick-xml), in place of calamine's ODS
//! reader, which loads every sheet of the workbook whole with each repeated row and column
//! expanded: an 826-byte file of large repeat counts took 4.5 GB there.
//!
//! Repeats are counts here, never copies made in advance: a run of empty rows or cells only
//! moves the position on (LibreOffice writes a sheet's unused rows as one row repeated
//! 1,048,576 times, and unused columns the same way), and a repeated row or cell with data is
//! held to the [`Budget`] before its copies are made, one row at a time.
//!
//! Cells read as calamine read them, so that a file reads the same as before: `office:value`
//! (numbers, percentages, currencies) as a number, `office:date-value` and
//! `office:time-value` as ISO text, `office:boolean-value` as TRUE/FALSE, a string cell's
//! `office:string-value` or else its paragraphs joined by line breaks (`text:s`, `text:tab`
//! and `text:line-break` expanded; notes left out), an error cell as its text.
//!
//! Two passes over `content.xml`: the first lists the worksheets (names, and which are hidden)
//! without keeping their cells, so that the sheet can be chosen as for XLSX; the second reads
//! the chosen one.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use calamine::{Sheet, SheetType, SheetVisible};
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::QName;
use quick_xml::{Reader, XmlVersion};
use zip::ZipArchive;
use zip::result::ZipError;

use super::{Budget, KindArticle, ReadError, Row, Sink, Stop, View, choose_sheet, push_cells};
use crate::import::read::{FileKind, SheetLimit};

/// The part that holds the sheets.
const CONTENT: &str = "content.xml";

/// The most of `META-INF/manifest.xml` read to find whether the document is encrypted.
const MANIFEST_BYTES: u64 = 1024 * 1024;

const TABLE: QName<'static> = QName("table:table");
const ROW: QName<'static> = QName("table:table-row");
const CELL: QName<'static> = QName("table:table-cell");
const COVERED_CELL: QName<'static> = QName("table:covered-table-cell");

type Archive = ZipArchive<BufReader<File>>;

/// An XML reader of `content.xml`, inflating it as it goes.
type Content<'a> = Reader<BufReader<zip::read::ZipFile<'a, BufReader<File>>>>;

/// The ODS thread (see `open_streamed`): lists the worksheets, sends the one chosen, then its
/// rows.
pub(super) fn produce(
    path: &Path,
    file: &str,
    requested: Option<&str>,
    sink: &mut Sink,
) -> Result<(), Stop> {
    let reader = super::open_file(path, file)?;
    let mut archive = ZipArchive::new(reader).map_err(|e| zip_error(file, e))?;
    refuse_encrypted(&mut archive, file)?;
    let sheets = worksheets(&mut archive, file)?;
    let (sheet, names) = choose_sheet(&sheets, requested, file)?;
    sink.meta(sheet.clone(), names)?;
    read_sheet(&mut archive, file, &sheet, sink)
}

fn damaged(file: &str, detail: String) -> ReadError {
    ReadError::Damaged {
        file: file.to_owned(),
        kind: KindArticle(FileKind::Ods),
        detail,
    }
}

fn zip_error(file: &str, e: ZipError) -> ReadError {
    match e {
        ZipError::FileNotFound => damaged(file, format!("its part \"{CONTENT}\" is missing")),
        other => damaged(file, format!("its zip cannot be read: {other}")),
    }
}

fn xml_error(file: &str, e: impl std::fmt::Display) -> ReadError {
    damaged(file, format!("its XML is malformed: {e}"))
}

/// An XML reader of `content.xml`, configured as calamine's was (empty elements as a start
/// and an end, text kept as it is, end tags not checked against their start).
fn content<'a>(archive: &'a mut Archive, file: &str) -> Result<Content<'a>, ReadError> {
    let part = archive.by_name(CONTENT).map_err(|e| zip_error(file, e))?;
    let mut xml = Reader::from_reader(BufReader::new(part));
    let config = xml.config_mut();
    config.expand_empty_elements = true;
    config.trim_text(false);
    config.check_end_names = false;
    config.check_comments = false;
    Ok(xml)
}

/// An ODF encrypted document keeps its zip parts plain and says so in its manifest.
fn refuse_encrypted(archive: &mut Archive, file: &str) -> Result<(), ReadError> {
    let mut manifest = Vec::new();
    match archive.by_name("META-INF/manifest.xml") {
        Ok(part) => {
            part.take(MANIFEST_BYTES)
                .read_to_end(&mut manifest)
                .map_err(|e| damaged(file, format!("its manifest cannot be read: {e}")))?;
        }
        Err(ZipError::FileNotFound) => return Ok(()),
        Err(e) => return Err(zip_error(file, e)),
    }
    let encrypted = manifest
        .windows(b"manifest:encryption-data".len())
        .any(|w| w == b"manifest:encryption-data");
    if encrypted {
        return Err(ReadError::Encrypted {
            file: file.to_owned(),
        });
    }
    Ok(())
}

/// The value of attribute `name` of `e`, unescaped.
fn attribute(e: &BytesStart<'_>, name: &str, file: &str) -> Result<Option<String>, ReadError> {
    let Some(a) = e.try_get_attribute(name).map_err(|e| xml_error(file, e))? else {
        return Ok(None);
    };
    let value = a
        .normalized_value(XmlVersion::Implicit1_0)
        .map_err(|e| xml_error(file, e))?;
    Ok(Some(value.into_owned()))
}

/// A repeat count (`table:number-rows-repeated`, `table:number-columns-repeated`): 1 when
/// absent.
fn repeats(e: &BytesStart<'_>, name: &str, file: &str) -> Result<u64, ReadError> {
    match attribute(e, name, file)? {
        None => Ok(1),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| damaged(file, format!("{name}=\"{v}\" is not a count"))),
    }
}

/// The first pass: every worksheet's name and whether it is shown, in order. A sheet is hidden
/// by its table style (`table:display="false"`).
fn worksheets(archive: &mut Archive, file: &str) -> Result<Vec<Sheet>, ReadError> {
    let mut xml = content(archive, file)?;
    let mut buf = Vec::with_capacity(1024);
    let mut skip = Vec::with_capacity(1024);
    let mut style: Option<String> = None;
    let mut hidden_styles: Vec<String> = Vec::new();
    let mut sheets = Vec::new();
    loop {
        buf.clear();
        match xml
            .read_event_into(&mut buf)
            .map_err(|e| xml_error(file, e))?
        {
            Event::Start(e) if e.name() == QName("style:style") => {
                style = attribute(&e, "style:name", file)?;
            }
            Event::Start(e) if e.name() == QName("style:table-properties") => {
                let hidden = attribute(&e, "table:display", file)?.as_deref() == Some("false");
                if let (true, Some(name)) = (hidden, &style) {
                    hidden_styles.push(name.clone());
                }
            }
            Event::Start(e) if e.name() == TABLE => {
                let name = attribute(&e, "table:name", file)?;
                let style = attribute(&e, "table:style-name", file)?;
                xml.read_to_end_into(TABLE, &mut skip)
                    .map_err(|e| xml_error(file, e))?;
                skip.clear();
                let Some(name) = name else { continue };
                let hidden = style.is_some_and(|s| hidden_styles.contains(&s));
                sheets.push(Sheet {
                    name,
                    typ: SheetType::WorkSheet,
                    visible: if hidden {
                        SheetVisible::Hidden
                    } else {
                        SheetVisible::Visible
                    },
                });
            }
            Event::Eof => return Ok(sheets),
            _ => {}
        }
    }
}

/// The second pass: the rows of the sheet named `sheet`, handed to `sink`.
fn read_sheet(archive: &mut Archive, file: &str, sheet: &str, sink: &mut Sink) -> Result<(), Stop> {
    let mut xml = content(archive, file)?;
    let mut buf = Vec::with_capacity(1024);
    loop {
        buf.clear();
        match xml
            .read_event_into(&mut buf)
            .map_err(|e| xml_error(file, e))?
        {
            Event::Start(e) if e.name() == TABLE => {
                if attribute(&e, "table:name", file)?.as_deref() == Some(sheet) {
                    return SheetReader::new(file).rows(&mut xml, sink);
                }
                xml.read_to_end_into(TABLE, &mut buf)
                    .map_err(|e| xml_error(file, e))?;
            }
            // The first pass found it: the part changed under us, or is cut short.
            Event::Eof => {
                return Err(Stop::Failed(damaged(
                    file,
                    format!("the sheet \"{sheet}\" ends before its rows"),
                )));
            }
            _ => {}
        }
    }
}

/// A cell's value before it becomes text; strings, dates and durations are in the reader's
/// text buffer.
enum Value {
    Empty,
    Float(f64),
    Bool(bool),
    Text,
    Iso,
}

/// Reads one table's rows, holding them to its [`Budget`].
struct SheetReader<'f> {
    file: &'f str,
    budget: Budget,
    buf: Vec<u8>,
    inner: Vec<u8>,
    /// The cell's text (`office:string-value`, a date, or its paragraphs).
    text: String,
    scratch: String,
}

impl<'f> SheetReader<'f> {
    fn new(file: &'f str) -> Self {
        SheetReader {
            file,
            budget: Budget::new(file),
            buf: Vec::with_capacity(1024),
            inner: Vec::with_capacity(1024),
            text: String::new(),
            scratch: String::new(),
        }
    }

    /// The rows up to the end of the table. A row repeated with data is sent once per copy
    /// (numbered as a spreadsheet shows them); a blank one only moves the row number on.
    fn rows<R: BufRead>(&mut self, xml: &mut Reader<R>, sink: &mut Sink) -> Result<(), Stop> {
        // The 0-based index of the next row.
        let mut next: u64 = 0;
        loop {
            self.buf.clear();
            let event = xml
                .read_event_into(&mut self.buf)
                .map_err(|e| xml_error(self.file, e))?;
            match event {
                Event::Start(e) if e.name() == ROW => {
                    // A count of 0 (not valid ODF) is read as 1, as spreadsheet programs do.
                    let copies = repeats(&e, "table:number-rows-repeated", self.file)?.max(1);
                    let mut row = Row::default();
                    row.clear(next.saturating_add(1));
                    let before = self.budget.cells;
                    self.cells(xml, &mut row)?;
                    let first = next.saturating_add(1);
                    next = next.saturating_add(copies);
                    if row.is_blank() {
                        continue;
                    }
                    if copies > 1 {
                        let cells = self.budget.cells - before;
                        self.budget.copies(cells, copies - 1, next)?;
                    }
                    // Every copy but the last is a clone; the last is the row itself.
                    for number in first..next {
                        let mut copy = row.clone();
                        copy.number = number;
                        sink.push(copy)?;
                    }
                    row.number = next;
                    sink.push(row)?;
                }
                Event::Start(e) if e.name() == TABLE => {
                    // A table inside a cell's text box: not rows of this sheet.
                    xml.read_to_end_into(TABLE, &mut self.inner)
                        .map_err(|e| xml_error(self.file, e))?;
                }
                Event::End(e) if e.name() == TABLE => return Ok(()),
                Event::Eof => {
                    return Err(Stop::Failed(damaged(
                        self.file,
                        "it ends in the middle of a sheet: it may have been cut short".to_owned(),
                    )));
                }
                _ => {}
            }
        }
    }

    /// The cells of one row, up to its end tag, added to `row`.
    fn cells<R: BufRead>(&mut self, xml: &mut Reader<R>, row: &mut Row) -> Result<(), ReadError> {
        // The 0-based column of the next cell.
        let mut col: u64 = 0;
        loop {
            self.buf.clear();
            let event = xml
                .read_event_into(&mut self.buf)
                .map_err(|e| xml_error(self.file, e))?;
            match event {
                Event::Start(e) if e.name() == CELL || e.name() == COVERED_CELL => {
                    let count = repeats(&e, "table:number-columns-repeated", self.file)?;
                    let e = e.into_owned();
                    let value = self.cell(xml, &e, row.number())?;
                    let view = match value {
                        Value::Empty => View::Empty,
                        Value::Float(f) => View::Float(f),
                        Value::Bool(b) => View::Bool(b),
                        Value::Text => View::Text(&self.text),
                        Value::Iso => View::Iso(&self.text),
                    };
                    push_cells(row, col, count, view, &mut self.scratch, &mut self.budget)?;
                    col = col.saturating_add(count);
                }
                Event::End(e) if e.name() == ROW => return Ok(()),
                Event::Eof => {
                    return Err(damaged(
                        self.file,
                        "it ends in the middle of a row: it may have been cut short".to_owned(),
                    ));
                }
                _ => {}
            }
        }
    }

    /// One cell's value, from its attributes or its text, read up to its end tag.
    fn cell<R: BufRead>(
        &mut self,
        xml: &mut Reader<R>,
        start: &BytesStart<'_>,
        row: u64,
    ) -> Result<Value, ReadError> {
        self.text.clear();
        let mut value: Option<Value> = None;
        let mut is_string = false;
        let mut is_error = false;
        for a in start.attributes().with_checks(false) {
            let a = a.map_err(|e| xml_error(self.file, e))?;
            let key = a.key.as_ref();
            let set = value.is_some();
            match key {
                "office:value" if !set => {
                    let raw = a
                        .normalized_value(XmlVersion::Implicit1_0)
                        .map_err(|e| xml_error(self.file, e))?;
                    let f = raw.trim().parse::<f64>().map_err(|_| {
                        damaged(
                            self.file,
                            format!("row {row} has a number \"{raw}\" that is not one"),
                        )
                    })?;
                    value = Some(Value::Float(f));
                }
                "office:string-value" | "office:date-value" | "office:time-value" if !set => {
                    let raw = a
                        .normalized_value(XmlVersion::Implicit1_0)
                        .map_err(|e| xml_error(self.file, e))?;
                    self.text.push_str(&raw);
                    value = Some(if key == "office:string-value" {
                        Value::Text
                    } else {
                        Value::Iso
                    });
                }
                "office:boolean-value" if !set => {
                    let v = a.value.as_ref();
                    value = Some(Value::Bool(v == "true" || v == "TRUE"));
                }
                "office:value-type" if !set => is_string = a.value.as_ref() == "string",
                "calcext:value-type" => is_error = a.value.as_ref() == "error",
                _ => {}
            }
        }
        // A string cell without `office:string-value` is its paragraphs; LibreOffice also
        // keeps an error's text ("#N/A") there, with an empty string-value.
        let from_paragraphs = match value {
            None => is_string,
            Some(Value::Text) => is_error && self.text.is_empty(),
            Some(_) => false,
        };
        if from_paragraphs {
            self.text.clear();
            value = Some(Value::Text);
        }
        self.cell_content(xml, from_paragraphs, row)?;
        Ok(value.unwrap_or(Value::Empty))
    }

    /// Reads a cell's content up to its end tag; its text goes to `self.text` when `keep`.
    fn cell_content<R: BufRead>(
        &mut self,
        xml: &mut Reader<R>,
        keep: bool,
        row: u64,
    ) -> Result<(), ReadError> {
        let mut depth = 0usize;
        let mut paragraphs = 0usize;
        loop {
            self.inner.clear();
            let event = xml
                .read_event_into(&mut self.inner)
                .map_err(|e| xml_error(self.file, e))?;
            match event {
                Event::Start(e) if keep && e.name() == QName("office:annotation") => {
                    // A note on the cell: not its value.
                    let name = e.name().0.to_owned();
                    xml.read_to_end_into(QName(&name), &mut self.buf)
                        .map_err(|e| xml_error(self.file, e))?;
                }
                Event::Start(e) => {
                    depth += 1;
                    if !keep {
                        continue;
                    }
                    match e.name().0 {
                        "text:p" => {
                            if paragraphs > 0 {
                                self.text.push('\n');
                            }
                            paragraphs += 1;
                        }
                        "text:s" => {
                            let spaces = repeats(&e, "text:c", self.file)?;
                            grow(&self.budget, &self.text, spaces, row)?;
                            self.text.extend(std::iter::repeat_n(' ', spaces as usize));
                        }
                        "text:tab" => self.text.push('\t'),
                        "text:line-break" => self.text.push('\n'),
                        _ => {}
                    }
                }
                Event::End(_) if depth == 0 => return Ok(()),
                Event::End(_) => depth -= 1,
                Event::Text(t) if keep => {
                    let t = t.xml10_content();
                    grow(&self.budget, &self.text, t.len() as u64, row)?;
                    self.text.push_str(&t);
                }
                Event::GeneralRef(r) if keep => {
                    if let Some(c) = r.resolve_char_ref().map_err(|e| xml_error(self.file, e))? {
                        self.text.push(c);
                    } else if let Some(s) = quick_xml::escape::resolve_xml_entity(&r) {
                        self.text.push_str(s);
                    } else {
                        return Err(xml_error(self.file, format!("unknown entity &{};", &*r)));
                    }
                }
                Event::Eof => {
                    return Err(damaged(
                        self.file,
                        "it ends in the middle of a cell: it may have been cut short".to_owned(),
                    ));
                }
                _ => {}
            }
        }
    }
}

/// Refuses a cell whose `text` would pass [`super::MAX_ROW_BYTES`] with `more` bytes, before
/// they are added (a `text:s` may ask for billions of spaces).
fn grow(budget: &Budget, text: &str, more: u64, row: u64) -> Result<(), ReadError> {
    if (text.len() as u64).saturating_add(more) > super::MAX_ROW_BYTES {
        return Err(budget.over(SheetLimit::RowBytes {
            row,
            limit: super::MAX_ROW_BYTES,
        }));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::io::{Cursor, Write};
    use std::time::{Duration, Instant};

    use zip::write::SimpleFileOptions;

    use crate::import::read::{self, ReadError, ReadOptions, Row, SheetLimit};

    /// An ODS workbook whose `office:spreadsheet` holds `tables` (XML as LibreOffice writes it).
    fn ods(tables: &str) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let stored =
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        zip.start_file("mimetype", stored).unwrap();
        zip.write_all(b"application/vnd.oasis.opendocument.spreadsheet")
            .unwrap();
        zip.start_file("content.xml", SimpleFileOptions::default())
            .unwrap();
        write!(
            zip,
            r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:automatic-styles><style:style style:name="ta2" style:family="table"><style:table-properties table:display="false"/></style:style></office:automatic-styles><office:body><office:spreadsheet>{tables}</office:spreadsheet></office:body></office:document-content>"#
        )
        .unwrap();
        zip.finish().unwrap().into_inner()
    }

    fn text(s: &str) -> String {
        format!(
            r#"<table:table-cell office:value-type="string"><text:p>{s}</text:p></table:table-cell>"#
        )
    }

    fn open(bytes: &[u8]) -> Result<(read::FileInfo, Vec<Row>), ReadError> {
        let path = std::env::temp_dir().join(format!(
            "stoplist-ods-{}-{:?}.ods",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::write(&path, bytes).unwrap();
        let opened = read::open(&path, "book.ods", &ReadOptions::default());
        let result = opened.and_then(|(info, rows)| Ok((info, rows.collect::<Result<_, _>>()?)));
        let _ = std::fs::remove_file(&path);
        result
    }

    fn refused(bytes: &[u8]) -> SheetLimit {
        match open(bytes) {
            Err(ReadError::SheetTooLarge { over, .. }) => over,
            other => panic!("expected SheetTooLarge, got {other:?}"),
        }
    }

    #[test]
    fn trailing_repeated_empty_rows_and_columns_are_skipped_not_expanded() {
        // What LibreOffice writes: the data, each row's unused columns as one repeated empty
        // cell, then the sheet's unused rows as one empty row repeated to the last.
        let empty_cols = r#"<table:table-cell table:number-columns-repeated="16382"/>"#;
        let rows = format!(
            "<table:table-row>{}{}{empty_cols}</table:table-row>\
             <table:table-row>{}{}{empty_cols}</table:table-row>\
             <table:table-row table:number-rows-repeated=\"1048574\"><table:table-cell table:number-columns-repeated=\"16384\"/></table:table-row>",
            text("Mobile"),
            text("Name"),
            text("0412 345 678"),
            text("Ann"),
        );
        let book = ods(&format!(
            r#"<table:table table:name="Contacts"><table:table-column table:number-columns-repeated="16384"/>{rows}</table:table>"#
        ));
        let started = Instant::now();
        let (info, rows) = open(&book).unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "took {:?}",
            started.elapsed()
        );
        assert_eq!(info.headers, ["Mobile", "Name"]);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].to_vec(), ["0412 345 678", "Ann"]);
        assert_eq!(rows[0].number(), 2);
    }

    #[test]
    fn a_repeated_row_with_data_is_each_of_its_copies_numbered_in_turn() {
        let book = ods(&format!(
            r#"<table:table table:name="S"><table:table-row>{}</table:table-row><table:table-row table:number-rows-repeated="2"><table:table-cell table:number-rows-repeated="1"/></table:table-row><table:table-row table:number-rows-repeated="3"><table:table-cell office:value-type="float" office:value="61412345678"/><table:table-cell table:number-columns-repeated="2" office:value-type="string"><text:p>a<text:s text:c="2"/>b</text:p><text:p>c</text:p></table:table-cell></table:table-row></table:table>"#,
            text("Mobile")
        ));
        let (_, rows) = open(&book).unwrap();
        let numbers: Vec<u64> = rows.iter().map(Row::number).collect();
        assert_eq!(numbers, [4, 5, 6], "rows 2 and 3 are blank");
        assert_eq!(rows[2].to_vec(), ["61412345678", "a  b\nc", "a  b\nc"]);
    }

    #[test]
    fn a_hidden_sheet_is_listed_but_not_chosen() {
        let book = ods(&format!(
            r#"<table:table table:name="Hidden" table:style-name="ta2"><table:table-row>{}</table:table-row></table:table><table:table table:name="Shown"><table:table-row>{}</table:table-row><table:table-row>{}</table:table-row></table:table>"#,
            text("Secret"),
            text("Mobile"),
            text("0412345678"),
        ));
        let (info, rows) = open(&book).unwrap();
        assert_eq!(info.sheets, ["Hidden", "Shown"]);
        assert_eq!(info.sheet.as_deref(), Some("Shown"));
        assert_eq!(rows[0].to_vec(), ["0412345678"]);
    }

    #[test]
    fn rows_repeated_past_the_cell_bound_are_refused_before_they_are_expanded() {
        // 16,384 cells repeated over a million rows: 17 billion cells from a few hundred bytes.
        let book = ods(
            r#"<table:table table:name="S"><table:table-row table:number-rows-repeated="1000000"><table:table-cell table:number-columns-repeated="16384" office:value-type="float" office:value="1"/></table:table-row></table:table>"#,
        );
        assert_eq!(
            refused(&book),
            SheetLimit::Cells {
                limit: super::super::MAX_CELLS
            }
        );
    }

    #[test]
    fn data_past_the_last_column_or_row_is_refused() {
        let wide = ods(
            r#"<table:table table:name="S"><table:table-row><table:table-cell table:number-columns-repeated="1000000000" office:value-type="float" office:value="1"/></table:table-row></table:table>"#,
        );
        assert_eq!(
            refused(&wide),
            SheetLimit::Columns {
                row: 1,
                limit: super::super::MAX_COLUMNS
            }
        );
        let deep = ods(&format!(
            r#"<table:table table:name="S"><table:table-row table:number-rows-repeated="2000000"><table:table-cell/></table:table-row><table:table-row>{}</table:table-row></table:table>"#,
            text("late")
        ));
        assert_eq!(
            refused(&deep),
            SheetLimit::Rows {
                limit: super::super::MAX_ROWS
            }
        );
    }

    #[test]
    fn a_cell_asking_for_billions_of_spaces_is_refused() {
        let book = ods(
            r#"<table:table table:name="S"><table:table-row><table:table-cell office:value-type="string"><text:p>a<text:s text:c="4000000000"/></text:p></table:table-cell></table:table-row></table:table>"#,
        );
        assert_eq!(
            refused(&book),
            SheetLimit::RowBytes {
                row: 1,
                limit: super::super::MAX_ROW_BYTES
            }
        );
    }
}
