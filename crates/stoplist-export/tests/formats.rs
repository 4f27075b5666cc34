//! Every export format, written through the public API and read back with a real reader:
//! the `csv` crate for CSV/TSV, calamine for XLSX, the raw bytes and (where installed)
//! poppler's `pdftotext` for PDF.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Cursor, Read};
use std::process::Command;

use calamine::{Data, Reader, Xlsx};
use stoplist_export::{ExportError, Exporter, Format, Meta, neutralize};

const COLUMNS: [&str; 6] = ["Received", "From", "Text", "Class", "Campaign", "Actions"];

const INJECTIONS: [&str; 4] = ["=cmd|' /C calc'!A0", "+61412345678", "-5", "@SUM(A1)"];

fn meta() -> Meta {
    Meta {
        title: "Incoming replies".into(),
        account: "Acme Pty Ltd".into(),
        filters: vec![
            ("From".into(), "2026-11-01".into()),
            ("Class".into(), "opt-out".into()),
        ],
        generated_at: "2026-11-28 07:30 UTC".into(),
    }
}

fn reply(i: usize) -> [String; 6] {
    [
        format!("2026-11-{:02}T07:{:02}:00Z", 1 + i % 28, i % 60),
        format!("+6141234{:04}", i % 10_000),
        format!("Stop sending me these, thanks — José #{i}"),
        "opt-out".into(),
        "Black Friday".into(),
        "opted out; replied".into(),
    ]
}

fn export(format: Format, rows: &[[String; 6]]) -> Vec<u8> {
    let mut exporter = Exporter::new(format, &meta(), &COLUMNS, Vec::new()).unwrap();
    for row in rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        exporter.row(&cells).unwrap();
    }
    exporter.finish().unwrap()
}

fn read_delimited(bytes: &[u8], delimiter: u8) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .from_reader(bytes)
        .records()
        .map(|record| record.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

fn read_xlsx(bytes: Vec<u8>) -> Xlsx<Cursor<Vec<u8>>> {
    Xlsx::new(Cursor::new(bytes)).unwrap()
}

fn sheet_rows(book: &mut Xlsx<Cursor<Vec<u8>>>, name: &str) -> Vec<Vec<Data>> {
    book.worksheet_range(name)
        .unwrap()
        .rows()
        .map(<[Data]>::to_vec)
        .collect()
}

/// The page count from the PDF's page tree (krilla writes it uncompressed:
/// `<</Type/Pages/Count 3/Kids[...]>>`).
fn pdf_pages(bytes: &[u8]) -> usize {
    let needle = b"/Type/Pages/Count ";
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("a page tree")
        + needle.len();
    let digits: String = bytes[at..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .map(|&b| char::from(b))
        .collect();
    digits.parse().unwrap()
}

/// The text of a PDF as poppler reads it, or `None` where poppler-utils is not installed.
fn pdftotext(bytes: &[u8]) -> Option<String> {
    let dir = std::env::temp_dir().join(format!("stoplist-export-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{}.pdf", bytes.len()));
    std::fs::write(&path, bytes).unwrap();
    let output = Command::new("pdftotext")
        .args(["-layout"])
        .arg(&path)
        .arg("-")
        .output()
        .ok()?;
    assert!(output.status.success(), "pdftotext failed on the export");
    Some(String::from_utf8(output.stdout).unwrap())
}

#[test]
fn format_names_parse_with_aliases_and_any_case() {
    assert_eq!(Format::parse("csv"), Some(Format::Csv));
    assert_eq!(Format::parse("TAB"), Some(Format::Tsv));
    assert_eq!(Format::parse("tsv"), Some(Format::Tsv));
    assert_eq!(Format::parse("xls"), Some(Format::Xlsx));
    assert_eq!(Format::parse("Xlsx"), Some(Format::Xlsx));
    assert_eq!(Format::parse("pdf"), Some(Format::Pdf));
    assert_eq!(Format::parse("ods"), None);
    for format in Format::ALL {
        assert_eq!(Format::parse(format.as_str()), Some(format));
        assert_eq!(format.extension(), format.as_str());
    }
    assert_eq!(Format::Csv.content_type(), "text/csv; charset=utf-8");
}

#[test]
fn formula_like_cells_get_a_leading_quote_and_others_are_untouched() {
    assert_eq!(neutralize("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
    assert_eq!(neutralize("+61412345678"), "'+61412345678");
    assert_eq!(neutralize("-5"), "'-5");
    assert_eq!(neutralize("@SUM(A1)"), "'@SUM(A1)");
    assert_eq!(neutralize("\tx"), "'\tx");
    assert_eq!(neutralize("\rx"), "'\rx");
    assert_eq!(neutralize("STOP"), "STOP");
    assert_eq!(neutralize("a=b"), "a=b");
    assert_eq!(neutralize(""), "");
}

#[test]
fn csv_round_trips_with_a_bom_crlf_and_rfc4180_quoting() {
    let mut rows: Vec<[String; 6]> = (0..20).map(reply).collect();
    rows[3][2] = "He said \"no\", then\nleft".into();
    let bytes = export(Format::Csv, &rows);

    assert!(bytes.starts_with(b"\xEF\xBB\xBFReceived,From,Text,Class,Campaign,Actions\r\n"));
    assert!(bytes.ends_with(b"\r\n"));
    assert!(
        String::from_utf8_lossy(&bytes).contains(r#""He said ""no"", then"#),
        "quotes are doubled inside a quoted field"
    );
    let read = read_delimited(&bytes, b',');
    assert_eq!(read.len(), 21);
    assert_eq!(read[0], COLUMNS);
    assert_eq!(read[4][2], "He said \"no\", then\nleft");
    // Phone numbers start with "+", so they come back neutralised.
    assert_eq!(read[1][1], format!("'{}", rows[0][1]));
    assert_eq!(read[20][2], rows[19][2]);
}

#[test]
fn tsv_round_trips_and_flattens_tabs_and_line_breaks_to_spaces() {
    let mut rows: Vec<[String; 6]> = (0..5).map(reply).collect();
    rows[1][2] = "one\ttwo\r\nthree".into();
    let bytes = export(Format::Tsv, &rows);

    assert!(bytes.starts_with(b"\xEF\xBB\xBFReceived\tFrom\tText\tClass\tCampaign\tActions\r\n"));
    assert!(!bytes.contains(&b'"'), "TSV never quotes");
    let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
    assert_eq!(text.lines().count(), 6, "one line per row");
    let read = read_delimited(&bytes, b'\t');
    assert!(read.iter().all(|row| row.len() == 6));
    assert_eq!(read[2][2], "one two  three");
    assert_eq!(read[5][0], rows[4][0]);
}

#[test]
fn csv_and_tsv_neutralise_every_formula_like_cell() {
    for (format, delimiter) in [(Format::Csv, b','), (Format::Tsv, b'\t')] {
        let mut exporter =
            Exporter::new(format, &meta(), &["a", "b", "c", "d"], Vec::new()).unwrap();
        exporter.row(&INJECTIONS).unwrap();
        let read = read_delimited(&exporter.finish().unwrap(), delimiter);
        assert_eq!(
            read[1],
            ["'=cmd|' /C calc'!A0", "'+61412345678", "'-5", "'@SUM(A1)"],
            "{format}"
        );
    }
}

#[test]
fn xlsx_round_trips_every_cell_as_the_exact_string() {
    let mut rows: Vec<[String; 6]> = (0..30).map(reply).collect();
    rows[0][2] = INJECTIONS[0].into();
    rows[1][2] = "-5".into();
    rows[2][2] = "0042".into();
    let mut book = read_xlsx(export(Format::Xlsx, &rows));

    assert_eq!(book.sheet_names(), ["Incoming replies", "About"]);
    let table = sheet_rows(&mut book, "Incoming replies");
    assert_eq!(table.len(), 31);
    let header: Vec<Data> = COLUMNS.iter().map(|c| Data::String((*c).into())).collect();
    assert_eq!(table[0], header);
    for (read, written) in table[1..].iter().zip(&rows) {
        let expected: Vec<Data> = written.iter().map(|c| Data::String(c.clone())).collect();
        assert_eq!(
            read, &expected,
            "strings stay strings: no number, no formula"
        );
    }
    let formulas = book.worksheet_formula("Incoming replies").unwrap();
    assert!(
        formulas.cells().all(|(_, _, f)| f.is_empty()),
        "no cell is a formula"
    );
}

#[test]
fn xlsx_marks_formula_like_cells_as_text_with_the_quote_prefix_style() {
    let mut exporter = Exporter::new(Format::Xlsx, &meta(), &["a", "b"], Vec::new()).unwrap();
    exporter.row(&["=1+1", "plain"]).unwrap();
    let bytes = exporter.finish().unwrap();
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    let mut styles = String::new();
    zip.by_name("xl/styles.xml")
        .unwrap()
        .read_to_string(&mut styles)
        .unwrap();
    assert!(styles.contains(r#"quotePrefix="1""#), "{styles}");
    let mut sheet = String::new();
    zip.by_name("xl/worksheets/sheet1.xml")
        .unwrap()
        .read_to_string(&mut sheet)
        .unwrap();
    assert!(
        sheet.contains("<pane ") && sheet.contains(r#"state="frozen""#),
        "header frozen"
    );
    assert!(sheet.contains("<autoFilter ref=\"A1:B2\""), "{sheet}");
    assert!(sheet.contains("<cols>"), "column widths set");
}

#[test]
fn xlsx_about_sheet_and_properties_say_what_the_report_is() {
    let bytes = export(Format::Xlsx, &[reply(1), reply(2)]);
    let mut book = read_xlsx(bytes.clone());
    let about = sheet_rows(&mut book, "About");
    let text: Vec<String> = about
        .iter()
        .flatten()
        .filter_map(|cell| match cell {
            Data::String(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    for expected in [
        "Incoming replies",
        "Acme Pty Ltd",
        "2026-11-28 07:30 UTC",
        "Filter: From",
        "2026-11-01",
        "2",
    ] {
        assert!(text.iter().any(|t| t == expected), "{expected} in {text:?}");
    }
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    let mut core = String::new();
    zip.by_name("docProps/core.xml")
        .unwrap()
        .read_to_string(&mut core)
        .unwrap();
    assert!(
        core.contains("<dc:title>Incoming replies</dc:title>"),
        "{core}"
    );
}

#[test]
fn pdf_is_a_pdf_whose_page_count_grows_with_rows() {
    let few = export(Format::Pdf, &(0..10).map(reply).collect::<Vec<_>>());
    let many = export(Format::Pdf, &(0..500).map(reply).collect::<Vec<_>>());

    for pdf in [&few, &many] {
        assert!(pdf.starts_with(b"%PDF-"));
        assert!(pdf.trim_ascii_end().ends_with(b"%%EOF"));
    }
    assert_eq!(pdf_pages(&few), 1);
    // 500 rows at 30-odd rows a page.
    assert!(
        (12..=17).contains(&pdf_pages(&many)),
        "{}",
        pdf_pages(&many)
    );
}

#[test]
fn pdf_shows_heading_header_on_every_page_rows_and_page_numbers() {
    let mut rows: Vec<[String; 6]> = (0..80).map(reply).collect();
    rows[0][2] = "A very long reply that cannot possibly fit in its column of the table, \
                  so it is cut short with an ellipsis before the next column starts"
        .into();
    let pdf = export(Format::Pdf, &rows);
    let Some(text) = pdftotext(&pdf) else {
        // Without poppler-utils only the structure is checked (the test above).
        eprintln!("pdftotext not installed (apt-get install poppler-utils): text not checked");
        return;
    };
    let pages: Vec<&str> = text
        .split('\x0c')
        .filter(|p| !p.trim().is_empty())
        .collect();
    assert!(pages.len() >= 3, "{} pages", pages.len());
    assert!(pages[0].contains("Incoming replies"));
    assert!(pages[0].contains("Acme Pty Ltd"));
    assert!(pages[0].contains("From: 2026-11-01; Class: opt-out"));
    assert!(pages[0].contains("2026-11-28 07:30 UTC"));
    for (n, page) in pages.iter().enumerate() {
        assert!(
            page.contains("Received") && page.contains("Campaign"),
            "header on page {n}"
        );
        assert!(page.contains(&format!("Page {}", n + 1)));
    }
    assert!(text.contains("José #79"), "accents and the last row");
    assert!(text.contains("+61412340001"));
    assert!(text.contains('…'), "the long cell is cut with an ellipsis");
    assert!(!text.contains("before the next column starts"));
}

#[test]
fn pdf_with_caller_widths_uses_them_and_rejects_bad_ones() {
    let exporter = Exporter::new(Format::Pdf, &meta(), &COLUMNS, Vec::new()).unwrap();
    assert!(matches!(
        exporter.with_widths(&[1.0, 2.0]),
        Err(ExportError::InvalidWidths(_))
    ));
    let exporter = Exporter::new(Format::Pdf, &meta(), &COLUMNS, Vec::new()).unwrap();
    assert!(matches!(
        exporter.with_widths(&[1.0, 2.0, 0.0, 1.0, 1.0, 1.0]),
        Err(ExportError::InvalidWidths(_))
    ));
    let mut exporter = Exporter::new(Format::Pdf, &meta(), &COLUMNS, Vec::new())
        .unwrap()
        .with_widths(&[2.0, 2.0, 5.0, 1.0, 2.0, 2.0])
        .unwrap();
    let row = reply(7);
    exporter.row(&row.each_ref().map(String::as_str)).unwrap();
    let pdf = exporter.finish().unwrap();
    assert_eq!(pdf_pages(&pdf), 1);
    if let Some(text) = pdftotext(&pdf) {
        assert!(text.contains("José #7"));
    }
}

#[test]
fn a_row_of_the_wrong_width_is_refused_in_every_format() {
    for format in Format::ALL {
        let mut exporter = Exporter::new(format, &meta(), &COLUMNS, Vec::new()).unwrap();
        let row = reply(1);
        exporter.row(&row.each_ref().map(String::as_str)).unwrap();
        let error = exporter.row(&["only", "three", "cells"]).unwrap_err();
        assert!(
            matches!(
                error,
                ExportError::WrongWidth {
                    row: 2,
                    expected: 6,
                    got: 3
                }
            ),
            "{format}: {error}"
        );
        assert_eq!(exporter.rows_written(), 1);
    }
}

#[test]
fn an_export_needs_a_column() {
    let error = Exporter::new(Format::Csv, &meta(), &[], Vec::new()).err();
    assert!(matches!(error, Some(ExportError::NoColumns)));
}

#[test]
fn an_empty_export_is_a_valid_header_only_file_in_every_format() {
    let csv = export(Format::Csv, &[]);
    assert_eq!(read_delimited(&csv, b','), [COLUMNS]);
    let tsv = export(Format::Tsv, &[]);
    assert_eq!(read_delimited(&tsv, b'\t'), [COLUMNS]);

    let mut book = read_xlsx(export(Format::Xlsx, &[]));
    let table = sheet_rows(&mut book, "Incoming replies");
    assert_eq!(table.len(), 1);
    assert_eq!(table[0][0], Data::String("Received".into()));

    let pdf = export(Format::Pdf, &[]);
    assert!(pdf.starts_with(b"%PDF-"));
    assert_eq!(pdf_pages(&pdf), 1);
    if let Some(text) = pdftotext(&pdf) {
        assert!(text.contains("Received") && text.contains("No rows match this report."));
    }
}

#[test]
fn an_export_into_a_file_has_the_same_bytes_as_one_in_memory() {
    let rows: Vec<[String; 6]> = (0..100).map(reply).collect();
    for format in [Format::Csv, Format::Tsv] {
        let path = std::env::temp_dir().join(format!(
            "stoplist-export-file-{}.{}",
            std::process::id(),
            format.extension()
        ));
        let file = std::fs::File::create(&path).unwrap();
        let mut exporter = Exporter::new(format, &meta(), &COLUMNS, file).unwrap();
        for row in &rows {
            exporter.row(&row.each_ref().map(String::as_str)).unwrap();
        }
        drop(exporter.finish().unwrap());
        let on_disk = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(on_disk, export(format, &rows), "{format}");
    }
}
