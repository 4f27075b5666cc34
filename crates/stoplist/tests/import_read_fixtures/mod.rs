//! Fixture files for the import reader's tests and benchmark, made at run time: temporary
//! directories, and hand-built XLSX and ODS workbooks (just the parts a spreadsheet reader
//! needs, zipped with the `zip` crate). Shared by `tests/import_read.rs` and
//! `examples/bench_read.rs` (through `#[path]`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::io::{Cursor, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

/// A directory under the system's temporary directory, removed (with its files) on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "stoplist-{label}-{}-{}-{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `bytes` to a file called `name` in this directory.
    pub fn file(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).expect("write fixture");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One cell of a hand-built workbook.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Empty,
    Text(String),
    /// A number cell in the General format.
    Number(f64),
    /// A number cell formatted as scientific (`0.00E+00`, built-in format 11).
    Scientific(f64),
    /// A date cell: the serial day number, formatted `mm-dd-yy` (built-in format 14).
    Date(f64),
    /// A formula with its cached numeric result.
    Formula(String, f64),
    /// A formula with its cached text result.
    FormulaText(String, String),
    Bool(bool),
    /// An error value such as `#N/A`.
    Error(String),
}

pub fn t(s: &str) -> Cell {
    Cell::Text(s.to_owned())
}

pub fn n(v: f64) -> Cell {
    Cell::Number(v)
}

/// A worksheet: its name, whether hidden, and its rows.
pub struct SheetSpec {
    pub name: String,
    pub hidden: bool,
    pub rows: Vec<Vec<Cell>>,
}

pub fn sheet(name: &str, rows: Vec<Vec<Cell>>) -> SheetSpec {
    SheetSpec {
        name: name.to_owned(),
        hidden: false,
        rows,
    }
}

/// `A`, `B`, …, `Z`, `AA`, … for a 0-based column.
pub fn column_letters(mut col: usize) -> String {
    let mut letters = Vec::new();
    loop {
        letters.push(b'A' + (col % 26) as u8);
        if col < 26 {
            break;
        }
        col = col / 26 - 1;
    }
    letters.reverse();
    String::from_utf8(letters).unwrap()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn deflated() -> SimpleFileOptions {
    SimpleFileOptions::default().compression_method(CompressionMethod::Deflated)
}

const CONTENT_TYPES_HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>"#;

const STYLES: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts><fills count="1"><fill><patternFill patternType="none"/></fill></fills><borders count="1"><border/></borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs><cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/><xf numFmtId="11" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/><xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs></styleSheet>"#;

/// Starts an XLSX package: every part but the worksheets and the shared string table, which
/// the caller then writes (worksheets as `xl/worksheets/sheet{N}.xml`, N from 1).
fn xlsx_package<W: Write + Seek>(zip: &mut ZipWriter<W>, sheets: &[(&str, bool)]) {
    let mut types = CONTENT_TYPES_HEAD.to_owned();
    for i in 1..=sheets.len() {
        write!(
            types,
            r#"<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>"#
        )
        .unwrap();
    }
    types.push_str("</Types>");
    zip.start_file("[Content_Types].xml", deflated()).unwrap();
    zip.write_all(types.as_bytes()).unwrap();

    zip.start_file("_rels/.rels", deflated()).unwrap();
    zip.write_all(br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#).unwrap();

    let mut workbook = String::from(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>"#,
    );
    let mut rels = String::from(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">"#,
    );
    for (i, (name, hidden)) in sheets.iter().enumerate() {
        let id = i + 1;
        let state = if *hidden { r#" state="hidden""# } else { "" };
        write!(
            workbook,
            r#"<sheet name="{}" sheetId="{id}"{state} r:id="rId{id}"/>"#,
            escape(name)
        )
        .unwrap();
        write!(
            rels,
            r#"<Relationship Id="rId{id}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet{id}.xml"/>"#
        )
        .unwrap();
    }
    workbook.push_str("</sheets></workbook>");
    rels.push_str(r#"<Relationship Id="rIdS" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/><Relationship Id="rIdT" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>"#);
    zip.start_file("xl/workbook.xml", deflated()).unwrap();
    zip.write_all(workbook.as_bytes()).unwrap();
    zip.start_file("xl/_rels/workbook.xml.rels", deflated())
        .unwrap();
    zip.write_all(rels.as_bytes()).unwrap();
    zip.start_file("xl/styles.xml", deflated()).unwrap();
    zip.write_all(STYLES.as_bytes()).unwrap();
}

/// Writes the shared string table.
fn shared_strings<W: Write + Seek>(zip: &mut ZipWriter<W>, shared: &[String]) {
    let mut sst = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="{0}" uniqueCount="{0}">"#,
        shared.len()
    );
    for s in shared {
        write!(sst, "<si><t xml:space=\"preserve\">{}</t></si>", escape(s)).unwrap();
    }
    sst.push_str("</sst>");
    zip.start_file("xl/sharedStrings.xml", deflated()).unwrap();
    zip.write_all(sst.as_bytes()).unwrap();
}

const SHEET_HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#;
const SHEET_TAIL: &str = "</sheetData></worksheet>";

/// Appends `<row>` XML for 0-based row `r`. `shared` gives a text's index in the shared
/// string table, or `None` to write it inline (`inlineStr`).
fn row_xml(
    out: &mut String,
    r: usize,
    cells: &[Cell],
    shared: &mut dyn FnMut(&str) -> Option<usize>,
) {
    write!(out, r#"<row r="{}">"#, r + 1).unwrap();
    for (c, cell) in cells.iter().enumerate() {
        let at = format!("{}{}", column_letters(c), r + 1);
        match cell {
            Cell::Empty => {}
            Cell::Text(s) => match shared(s) {
                Some(i) => write!(out, r#"<c r="{at}" t="s"><v>{i}</v></c>"#).unwrap(),
                None => write!(
                    out,
                    r#"<c r="{at}" t="inlineStr"><is><t>{}</t></is></c>"#,
                    escape(s)
                )
                .unwrap(),
            },
            Cell::Number(v) => write!(out, r#"<c r="{at}"><v>{v}</v></c>"#).unwrap(),
            Cell::Scientific(v) => write!(out, r#"<c r="{at}" s="1"><v>{v}</v></c>"#).unwrap(),
            Cell::Date(v) => write!(out, r#"<c r="{at}" s="2"><v>{v}</v></c>"#).unwrap(),
            Cell::Formula(f, v) => {
                write!(out, r#"<c r="{at}"><f>{}</f><v>{v}</v></c>"#, escape(f)).unwrap()
            }
            Cell::FormulaText(f, v) => write!(
                out,
                r#"<c r="{at}" t="str"><f>{}</f><v>{}</v></c>"#,
                escape(f),
                escape(v)
            )
            .unwrap(),
            Cell::Bool(b) => {
                write!(out, r#"<c r="{at}" t="b"><v>{}</v></c>"#, u8::from(*b)).unwrap()
            }
            Cell::Error(e) => write!(out, r#"<c r="{at}" t="e"><v>{}</v></c>"#, escape(e)).unwrap(),
        }
    }
    out.push_str("</row>");
}

/// A whole XLSX workbook in memory. The first sheet's header-row texts go in the shared
/// string table (as Excel would put every string there), the rest inline.
pub fn xlsx(sheets: &[SheetSpec]) -> Vec<u8> {
    let shared: Vec<String> = sheets
        .first()
        .and_then(|s| s.rows.first())
        .map(|row| {
            row.iter()
                .filter_map(|c| match c {
                    Cell::Text(s) => Some(s.clone()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let names: Vec<(&str, bool)> = sheets.iter().map(|s| (s.name.as_str(), s.hidden)).collect();
    xlsx_package(&mut zip, &names);
    shared_strings(&mut zip, &shared);
    let mut lookup = |text: &str| shared.iter().position(|x| x == text);
    for (i, s) in sheets.iter().enumerate() {
        let mut xml = SHEET_HEAD.to_owned();
        for (r, cells) in s.rows.iter().enumerate() {
            row_xml(&mut xml, r, cells, &mut lookup);
        }
        xml.push_str(SHEET_TAIL);
        zip.start_file(format!("xl/worksheets/sheet{}.xml", i + 1), deflated())
            .unwrap();
        zip.write_all(xml.as_bytes()).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// An XLSX of one sheet written to `path` row by row, every text in the shared string table
/// as Excel writes it (memory: the distinct strings, not the sheet): `rows` yields each row's
/// cells.
pub fn write_xlsx_streaming(path: &Path, sheet_name: &str, rows: impl Iterator<Item = Vec<Cell>>) {
    let file = std::fs::File::create(path).unwrap();
    let mut zip = ZipWriter::new(std::io::BufWriter::new(file));
    xlsx_package(&mut zip, &[(sheet_name, false)]);
    zip.start_file("xl/worksheets/sheet1.xml", deflated())
        .unwrap();
    zip.write_all(SHEET_HEAD.as_bytes()).unwrap();
    let mut table: Vec<String> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut lookup = |text: &str| {
        Some(*index.entry(text.to_owned()).or_insert_with(|| {
            table.push(text.to_owned());
            table.len() - 1
        }))
    };
    let mut xml = String::new();
    for (r, cells) in rows.enumerate() {
        row_xml(&mut xml, r, &cells, &mut lookup);
        if xml.len() > 64 * 1024 {
            zip.write_all(xml.as_bytes()).unwrap();
            xml.clear();
        }
    }
    xml.push_str(SHEET_TAIL);
    zip.write_all(xml.as_bytes()).unwrap();
    shared_strings(&mut zip, &table);
    zip.finish().unwrap();
}

/// An XLSX whose one worksheet part expands to `size` bytes of spaces (compressing about
/// 1000 to 1), written to `path` in chunks: the shape of a zip bomb.
pub fn write_xlsx_bomb(path: &Path, size: usize) {
    let file = std::fs::File::create(path).unwrap();
    let mut zip = ZipWriter::new(std::io::BufWriter::new(file));
    xlsx_package(&mut zip, &[("Sheet1", false)]);
    shared_strings(&mut zip, &[]);
    zip.start_file(
        "xl/worksheets/sheet1.xml",
        deflated().large_file(size > u32::MAX as usize),
    )
    .unwrap();
    zip.write_all(SHEET_HEAD.as_bytes()).unwrap();
    let chunk = vec![b' '; 64 * 1024];
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len());
        zip.write_all(&chunk[..n]).unwrap();
        left -= n;
    }
    zip.write_all(SHEET_TAIL.as_bytes()).unwrap();
    zip.finish().unwrap();
}

/// Rewrites the declared uncompressed size of the zip part `name` (in its local header and
/// in the central directory) to `size`: a part that lies about how big it is.
pub fn lie_about_size(zip_bytes: &mut [u8], name: &str, size: u32) {
    let name = name.as_bytes();
    let mut patched = 0;
    let mut i = 0;
    while i + 46 <= zip_bytes.len() {
        let sig = &zip_bytes[i..i + 4];
        if sig == b"PK\x03\x04" {
            let name_len = u16::from_le_bytes([zip_bytes[i + 26], zip_bytes[i + 27]]) as usize;
            if zip_bytes.get(i + 30..i + 30 + name_len) == Some(name) {
                zip_bytes[i + 22..i + 26].copy_from_slice(&size.to_le_bytes());
                patched += 1;
            }
        } else if sig == b"PK\x01\x02" {
            let name_len = u16::from_le_bytes([zip_bytes[i + 28], zip_bytes[i + 29]]) as usize;
            if zip_bytes.get(i + 46..i + 46 + name_len) == Some(name) {
                zip_bytes[i + 24..i + 28].copy_from_slice(&size.to_le_bytes());
                patched += 1;
            }
        }
        i += 1;
    }
    assert_eq!(
        patched, 2,
        "expected a local header and a central directory entry"
    );
}

/// A zip of the given parts (deflated), for documents that are not spreadsheets.
pub fn zip_of(parts: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes) in parts {
        zip.start_file(*name, deflated()).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// An ODS workbook in memory: `mimetype` first and stored, as the format requires.
pub fn ods(sheets: &[SheetSpec]) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    zip.start_file(
        "mimetype",
        SimpleFileOptions::default().compression_method(CompressionMethod::Stored),
    )
    .unwrap();
    zip.write_all(b"application/vnd.oasis.opendocument.spreadsheet")
        .unwrap();
    zip.start_file("META-INF/manifest.xml", deflated()).unwrap();
    zip.write_all(br#"<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>"#).unwrap();
    let mut xml = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:table-of="urn:oasis:names:tc:opendocument:xmlns:of:1.2" office:version="1.2"><office:body><office:spreadsheet>"#,
    );
    for s in sheets {
        write!(xml, r#"<table:table table:name="{}">"#, escape(&s.name)).unwrap();
        for cells in &s.rows {
            xml.push_str("<table:table-row>");
            for cell in cells {
                match cell {
                    Cell::Empty => xml.push_str("<table:table-cell/>"),
                    Cell::Text(v) => write!(
                        xml,
                        r#"<table:table-cell office:value-type="string"><text:p>{}</text:p></table:table-cell>"#,
                        escape(v)
                    )
                    .unwrap(),
                    Cell::Number(v) | Cell::Scientific(v) => write!(
                        xml,
                        r#"<table:table-cell office:value-type="float" office:value="{v}"><text:p>{v}</text:p></table:table-cell>"#
                    )
                    .unwrap(),
                    Cell::Formula(f, v) => write!(
                        xml,
                        r#"<table:table-cell table:formula="of:={}" office:value-type="float" office:value="{v}"><text:p>{v}</text:p></table:table-cell>"#,
                        escape(f)
                    )
                    .unwrap(),
                    Cell::Date(_) | Cell::FormulaText(..) | Cell::Bool(_) | Cell::Error(_) => {
                        panic!("not used in ODS fixtures")
                    }
                }
            }
            xml.push_str("</table:table-row>");
        }
        xml.push_str("</table:table>");
    }
    xml.push_str("</office:spreadsheet></office:body></office:document-content>");
    zip.start_file("content.xml", deflated()).unwrap();
    zip.write_all(xml.as_bytes()).unwrap();
    zip.finish().unwrap().into_inner()
}

/// Deterministic AU mobile contacts for the benchmark: row `i` of a sequence, as (mobile,
/// first name, last name, email). The mobile is in one of five written forms (`0412 345 678`,
/// `0412345678`, `+61 412 345 678`, `61412345678`, `+61412345678`, by `i % 5`); one row in
/// 20 repeats the number of row `i - 13` in another form (5% duplicates); one in 100 is a
/// digit short (1% invalid).
pub fn contact(i: u64) -> [String; 4] {
    const FIRST: [&str; 8] = ["Ann", "Bo", "Chen", "Dana", "Eli", "Fatima", "José", "Kiri"];
    const LAST: [&str; 8] = [
        "Lee", "Nguyen", "Smith", "O'Brien", "Núñez", "Patel", "Ngata", "Kim",
    ];
    let x = mix(i);
    let mobile = if i % 20 == 7 && i >= 13 {
        let j = i - 13;
        written(&subscriber(j), (j % 5 + 1 + (i / 20) % 4) % 5)
    } else if i % 100 == 13 {
        let digits = subscriber(i);
        format!("0{}", &digits[..8])
    } else {
        written(&subscriber(i), i % 5)
    };
    let first = FIRST[(x >> 13) as usize % 8];
    let last = LAST[(x >> 17) as usize % 8];
    let email = format!(
        "{}.{}{}@example.com",
        first.to_lowercase(),
        i,
        (x >> 7) % 10
    );
    [mobile, first.to_owned(), last.to_owned(), email]
}

fn mix(i: u64) -> u64 {
    i.wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407)
}

/// The nine national digits after the 0 of an AU mobile: `4` and eight more.
fn subscriber(i: u64) -> String {
    format!("4{:08}", (mix(i) >> 33) % 100_000_000)
}

fn written(digits: &str, form: u64) -> String {
    let (a, b, c) = (&digits[..3], &digits[3..6], &digits[6..]);
    match form {
        0 => format!("0{a} {b} {c}"),
        1 => format!("0{digits}"),
        2 => format!("+61 {a} {b} {c}"),
        3 => format!("61{digits}"),
        _ => format!("+61{digits}"),
    }
}
