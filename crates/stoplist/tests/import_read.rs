//! The import reader (`stoplist::import::read`) against files made at run time: every kind
//! of contact file, every encoding, and every kind of bad input, each with its error naming
//! the file, the row and the column.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::import_read_fixtures;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use import_read_fixtures::{Cell, TempDir, n, sheet, t};
use stoplist::import::read::{
    CellNote, FileInfo, FileKind, ReadError, ReadOptions, Row, Rows, describe_headers,
    guess_mapping, open,
};

fn read(path: &Path, name: &str) -> (FileInfo, Vec<Row>) {
    read_with(path, name, &ReadOptions::default())
}

fn read_with(path: &Path, name: &str, opts: &ReadOptions) -> (FileInfo, Vec<Row>) {
    let (info, rows) = open(path, name, opts).unwrap_or_else(|e| panic!("open {name}: {e}"));
    let rows = rows
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|e| panic!("read {name}: {e}"));
    (info, rows)
}

fn open_err(path: &Path, name: &str) -> ReadError {
    open_err_with(path, name, &ReadOptions::default())
}

fn open_err_with(path: &Path, name: &str, opts: &ReadOptions) -> ReadError {
    match open(path, name, opts) {
        Ok((info, _)) => panic!("{name} opened: {info:?}"),
        Err(e) => e,
    }
}

fn fields(row: &Row) -> Vec<&str> {
    row.iter().collect()
}

fn drain(rows: Rows) -> Vec<Result<Row, ReadError>> {
    rows.collect()
}

#[test]
fn rows_can_move_to_another_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<Rows>();
    assert_send::<ReadError>();
    assert_send::<FileInfo>();
}

// ---------------------------------------------------------------------------------------
// CSV, TSV, TXT

#[test]
fn quoted_fields_keep_delimiters_and_line_breaks_and_row_numbers_follow_the_records() {
    let dir = TempDir::new("read");
    let path = dir.file(
        "contacts.csv",
        "Mobile,Name,Notes\n\
         0412345678,\"Smith, John\",\"first line\nsecond line\"\n\
         0412345679,\"Say \"\"hi\"\"\",\n\
         \n\
         0412345670,Bo,last\n",
    );
    let (info, rows) = read(&path, "contacts.csv");
    assert_eq!(info.kind, FileKind::Csv);
    assert_eq!(info.delimiter, Some(b','));
    assert!(info.has_header);
    assert_eq!(info.headers, ["Mobile", "Name", "Notes"]);
    assert_eq!(rows.len(), 3);
    assert_eq!(
        fields(&rows[0]),
        ["0412345678", "Smith, John", "first line\nsecond line"]
    );
    assert_eq!(fields(&rows[1]), ["0412345679", "Say \"hi\"", ""]);
    // The header is row 1; a quoted line break does not start a row; a blank line counts.
    let numbers: Vec<u64> = rows.iter().map(Row::number).collect();
    assert_eq!(numbers, [2, 3, 5]);
}

#[test]
fn semicolons_tabs_and_pipes_are_sniffed() {
    let dir = TempDir::new("read");
    for (delimiter, name) in [(';', "a.csv"), ('\t', "b.txt"), ('|', "c.csv")] {
        let text = format!(
            "Mobile{d}First Name{d}Last Name\n0412 345 678{d}Ann{d}\"Lee{d} Jr\"\n+61412345679{d}Bo{d}Kim\n",
            d = delimiter
        );
        let path = dir.file(name, text);
        let (info, rows) = read(&path, name);
        assert_eq!(info.delimiter, Some(delimiter as u8), "{name}");
        assert_eq!(info.headers, ["Mobile", "First Name", "Last Name"]);
        assert_eq!(
            fields(&rows[0]),
            ["0412 345 678", "Ann", &format!("Lee{delimiter} Jr")]
        );
        assert_eq!(rows[1].get(0), Some("+61412345679"));
    }
}

#[test]
fn the_extension_names_the_text_kind_and_a_tsv_prefers_tab() {
    let dir = TempDir::new("read");
    let path = dir.file("list.tsv", "Mobile\tName, title\n0412345678\tAnn, Dr\n");
    let (info, rows) = read(&path, "list.tsv");
    assert_eq!(info.kind, FileKind::Tsv);
    assert_eq!(info.delimiter, Some(b'\t'));
    assert_eq!(fields(&rows[0]), ["0412345678", "Ann, Dr"]);
}

#[test]
fn a_file_of_one_number_a_line_is_one_column_without_a_header() {
    let dir = TempDir::new("read");
    let path = dir.file(
        "numbers.txt",
        "0412 345 678\r\n+61412345679\r\n61412345670\r\n",
    );
    let (info, rows) = read(&path, "numbers.txt");
    assert_eq!(info.kind, FileKind::Txt);
    assert_eq!(info.delimiter, None);
    assert!(!info.has_header);
    assert_eq!(info.headers, ["Column 1"]);
    let values: Vec<_> = rows.iter().map(|r| r.get(0).unwrap().to_owned()).collect();
    assert_eq!(values, ["0412 345 678", "+61412345679", "61412345670"]);
    assert_eq!(rows[0].number(), 1);
    assert_eq!(guess_mapping(&info.headers, &info.sample).mobile, Some(0));
}

#[test]
fn a_utf8_bom_is_detected_and_dropped() {
    let dir = TempDir::new("read");
    let mut bytes = vec![0xEF, 0xBB, 0xBF];
    bytes.extend_from_slice("Mobile,First Name\r\n0412345678,José\r\n".as_bytes());
    let path = dir.file("excel-utf8.csv", bytes);
    let (info, rows) = read(&path, "excel-utf8.csv");
    assert_eq!(info.encoding, "UTF-8 (BOM)");
    assert_eq!(info.headers, ["Mobile", "First Name"]);
    assert_eq!(fields(&rows[0]), ["0412345678", "José"]);
}

#[test]
fn utf16_little_and_big_endian_with_a_bom_are_transcoded() {
    let dir = TempDir::new("read");
    let text = "Mobile\tFirst Name\r\n0412345678\tJosé\r\n0412345679\tZoë\r\n";
    let le: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let be: Vec<u8> = [0xFE, 0xFF]
        .into_iter()
        .chain(text.encode_utf16().flat_map(u16::to_be_bytes))
        .collect();
    let le_without_bom: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    for (bytes, name, label) in [
        (le, "le.txt", "UTF-16LE"),
        (be, "be.txt", "UTF-16BE"),
        (le_without_bom, "le-no-bom.txt", "UTF-16LE"),
    ] {
        let path = dir.file(name, bytes);
        let (info, rows) = read(&path, name);
        assert_eq!(info.encoding, label);
        assert_eq!(info.delimiter, Some(b'\t'));
        assert_eq!(info.headers, ["Mobile", "First Name"]);
        assert_eq!(fields(&rows[0]), ["0412345678", "José"]);
        assert_eq!(fields(&rows[1]), ["0412345679", "Zoë"]);
    }
}

#[test]
fn windows_1252_names_are_decoded() {
    let dir = TempDir::new("read");
    let path = dir.file(
        "outlook.csv",
        b"First Name,Last Name,Mobile Phone\r\nJos\xE9,N\xFA\xF1ez,0412345678\r\nRen\xE9e,O\x92Brien,0412345679\r\n",
    );
    let (info, rows) = read(&path, "outlook.csv");
    assert_eq!(info.encoding, "windows-1252");
    assert_eq!(fields(&rows[0]), ["José", "Núñez", "0412345678"]);
    // 0x92 is a right single quote in Windows-1252 (Latin-1 has a control code there).
    assert_eq!(rows[1].get(1), Some("O\u{2019}Brien"));
}

#[test]
fn crlf_line_ends_leave_no_carriage_returns() {
    let dir = TempDir::new("read");
    let path = dir.file(
        "crlf.csv",
        "Mobile,Name\r\n0412345678,Ann\r\n\"0412345679\",\"Bo\"\r\n",
    );
    let (_, rows) = read(&path, "crlf.csv");
    assert_eq!(fields(&rows[0]), ["0412345678", "Ann"]);
    assert_eq!(fields(&rows[1]), ["0412345679", "Bo"]);
    assert_eq!(rows[1].number(), 3);
}

#[test]
fn classic_mac_cr_line_ends_are_rows() {
    let dir = TempDir::new("read");
    let path = dir.file("mac.csv", "Mobile,Name\r0412345678,Ann\r0412345679,Bo\r");
    let (_, rows) = read(&path, "mac.csv");
    assert_eq!(rows.len(), 2);
    assert_eq!(fields(&rows[1]), ["0412345679", "Bo"]);
}

#[test]
fn excels_sep_hint_line_sets_the_delimiter_and_is_not_a_row() {
    let dir = TempDir::new("read");
    let path = dir.file(
        "sep.csv",
        "sep=;\r\nMobile;Name\r\n0412345678;Smith, Ann\r\n",
    );
    let (info, rows) = read(&path, "sep.csv");
    assert_eq!(info.delimiter, Some(b';'));
    assert_eq!(info.headers, ["Mobile", "Name"]);
    assert_eq!(fields(&rows[0]), ["0412345678", "Smith, Ann"]);
    assert_eq!(rows[0].number(), 2);
}

#[test]
fn without_a_header_columns_are_named_and_the_mobile_found_by_its_values() {
    let dir = TempDir::new("read");
    let path = dir.file(
        "plain.csv",
        "Ann,Lee,0412 345 678,ann@example.com\nBo,Kim,+61412345679,bo@example.com\n",
    );
    let (info, rows) = read(&path, "plain.csv");
    assert!(!info.has_header);
    assert_eq!(
        info.headers,
        ["Column 1", "Column 2", "Column 3", "Column 4"]
    );
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].number(), 1);
    let mapping = guess_mapping(&info.headers, &info.sample);
    assert_eq!(mapping.mobile, Some(2));
    assert_eq!(mapping.email, Some(3));
    assert_eq!(
        mapping.custom,
        [(0, "Column 1".to_owned()), (1, "Column 2".to_owned())]
    );
}

#[test]
fn the_header_choice_can_be_forced() {
    let dir = TempDir::new("read");
    let path = dir.file("forced.csv", "Mobile,Name\n0412345678,Ann\n");
    let opts = ReadOptions {
        has_header: Some(false),
        delimiter: Some(b','),
        ..ReadOptions::default()
    };
    let (info, rows) = read_with(&path, "forced.csv", &opts);
    assert!(!info.has_header);
    assert_eq!(rows.len(), 2);
    assert_eq!(fields(&rows[0]), ["Mobile", "Name"]);
}

#[test]
fn a_header_only_file_yields_no_rows() {
    let dir = TempDir::new("read");
    let path = dir.file("header.csv", "Mobile,First Name,Last Name\r\n");
    let (info, rows) = read(&path, "header.csv");
    assert!(info.has_header);
    assert_eq!(info.headers, ["Mobile", "First Name", "Last Name"]);
    assert!(rows.is_empty());
    assert!(info.sample.is_empty());
}

#[test]
fn an_empty_file_is_refused_as_empty() {
    let dir = TempDir::new("read");
    for (name, bytes) in [
        ("empty.csv", &b""[..]),
        ("blank.csv", &b"\r\n\r\n   \n"[..]),
        ("bom.csv", &[0xEF, 0xBB, 0xBF][..]),
    ] {
        let path = dir.file(name, bytes);
        let err = open_err(&path, name);
        assert!(matches!(err, ReadError::Empty { .. }), "{name}: {err}");
        assert_eq!(
            err.to_string().split(':').next(),
            Some(&*format!("\"{name}\" is empty"))
        );
    }
}

#[test]
fn a_png_renamed_csv_is_not_a_contact_file() {
    let dir = TempDir::new("read");
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10".to_vec();
    png.extend((0..2000u32).map(|i| (i * 7 % 251) as u8));
    let path = dir.file("contacts.csv", png);
    let err = open_err(&path, "contacts.csv");
    assert!(matches!(
        err,
        ReadError::NotAContactFile {
            what: "a PNG image",
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        "\"contacts.csv\" is not a contact file: it looks like a PNG image. Upload a CSV, TSV, \
         TXT, XLSX, XLS or ODS file"
    );
}

#[test]
fn other_binary_and_documents_renamed_csv_are_named() {
    let dir = TempDir::new("read");
    let cases: [(&str, Vec<u8>, &str); 4] = [
        (
            "a.csv",
            b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n".to_vec(),
            "a PDF document",
        ),
        (
            "b.csv",
            b"\xFF\xD8\xFF\xE0\0\x10JFIF".to_vec(),
            "a JPEG image",
        ),
        (
            "c.csv",
            (0..4096u32).map(|i| (i * 31 % 256) as u8).collect(),
            "binary data, not text",
        ),
        (
            "d.csv",
            import_read_fixtures::zip_of(&[("notes.txt", b"hello")]),
            "a zip archive (unpack it and upload the contact file inside)",
        ),
    ];
    for (name, bytes, what) in cases {
        let path = dir.file(name, bytes);
        match open_err(&path, name) {
            ReadError::NotAContactFile { what: found, .. } => assert_eq!(found, what, "{name}"),
            other => panic!("{name}: {other}"),
        }
    }
    let word = import_read_fixtures::zip_of(&[(
        "[Content_Types].xml",
        br#"<Types><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#,
    )]);
    let path = dir.file("contacts.xlsx", word);
    assert!(matches!(
        open_err(&path, "contacts.xlsx"),
        ReadError::NotAContactFile {
            what: "a Word document",
            ..
        }
    ));
}

/// Peak resident memory of this process so far, in KiB (Linux), if known.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn a_100_mb_line_is_refused_fast_without_holding_it() {
    let dir = TempDir::new("read-long");
    let path = dir.path().join("long.csv");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        f.write_all(b"Mobile,Notes\n0412345678,").unwrap();
        let chunk = vec![b'x'; 1024 * 1024];
        for _ in 0..100 {
            f.write_all(&chunk).unwrap();
        }
        f.write_all(b"\n0412345679,short\n").unwrap();
    }
    let before = peak_rss_kib();
    let started = Instant::now();
    let (info, rows) = open(&path, "long.csv", &ReadOptions::default()).unwrap();
    assert_eq!(info.headers, ["Mobile", "Notes"]);
    let results = drain(rows);
    let elapsed = started.elapsed();
    assert_eq!(results.len(), 1, "reading stops at the long row");
    match &results[0] {
        Err(ReadError::LineTooLong { file, row, limit }) => {
            assert_eq!((file.as_str(), *row, *limit), ("long.csv", 2, 1024 * 1024));
        }
        other => panic!("{other:?}"),
    }
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    if let (Some(before), Some(after)) = (before, peak_rss_kib()) {
        // The row is refused after about 1 MiB: nowhere near 100 MB is ever held (about
        // 3.5 MiB measured; the margin is for other tests running in the same process).
        assert!(
            after.saturating_sub(before) < 24 * 1024,
            "peak grew {} KiB",
            after - before
        );
    }
    let message = results[0].as_ref().unwrap_err().to_string();
    assert!(message.starts_with("\"long.csv\", row 2: the row is longer than 1048576 bytes"));
}

#[test]
fn an_unclosed_quote_stops_at_the_row_bound_and_names_the_row() {
    let dir = TempDir::new("read");
    let mut text = String::from("Mobile,Name\n0412345678,\"Ann\n");
    for i in 0..20_000 {
        text.push_str(&format!("04123{i:05},Name {i}\n"));
    }
    let path = dir.file("quote.csv", text);
    let opts = ReadOptions {
        max_line_bytes: 64 * 1024,
        ..ReadOptions::default()
    };
    let (_, rows) = open(&path, "quote.csv", &opts).unwrap();
    let results = drain(rows);
    assert!(matches!(
        results.last(),
        Some(Err(ReadError::LineTooLong { row: 2, .. }))
    ));
}

#[test]
fn invalid_utf8_after_a_utf8_start_is_a_mixed_encoding_error_naming_row_and_column() {
    let dir = TempDir::new("read");
    let mut bytes = "Mobile,First Name\n".as_bytes().to_vec();
    // Over 64 KiB of UTF-8 with accents, so the encoding is decided as UTF-8 …
    for i in 0..3000 {
        bytes.extend_from_slice(format!("04{i:08},José Ñandú\n").as_bytes());
    }
    // … then a row pasted from a Windows-1252 file, then a good row again.
    bytes.extend_from_slice(b"0499999999,Ren\xE9e\n0499999998,Zo\xC3\xAB\n");
    let path = dir.file("mixed.csv", bytes);
    let (info, rows) = open(&path, "mixed.csv", &ReadOptions::default()).unwrap();
    assert_eq!(info.encoding, "UTF-8");
    let results = drain(rows);
    assert_eq!(results.len(), 3002);
    let err = results[3000].as_ref().unwrap_err();
    assert!(!err.is_fatal());
    assert_eq!((err.row(), err.column()), (Some(3002), Some(2)));
    assert!(err.to_string().contains("row 3002, column 2"));
    assert!(err.to_string().contains("mixed encodings"));
    // Reading went on after it.
    assert_eq!(results[3001].as_ref().unwrap().get(1), Some("Zoë"));
}

#[test]
fn utf8_accents_after_a_windows_1252_start_are_a_mixed_encoding_error() {
    let dir = TempDir::new("read");
    let mut bytes = b"Mobile,First Name\r\n0412345678,Jos\xE9\r\n".to_vec();
    bytes.extend_from_slice("0412345679,Zoë\r\n".as_bytes());
    bytes.extend_from_slice(b"0412345670,Ren\xE9e\r\n");
    let path = dir.file("mixed-1252.csv", bytes);
    let (info, rows) = open(&path, "mixed-1252.csv", &ReadOptions::default()).unwrap();
    assert_eq!(info.encoding, "windows-1252");
    let results = drain(rows);
    assert_eq!(results[0].as_ref().unwrap().get(1), Some("José"));
    match &results[1] {
        Err(ReadError::MixedEncoding {
            row: 3,
            column: 2,
            encoding: "windows-1252",
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(results[2].as_ref().unwrap().get(1), Some("Renée"));
}

#[test]
fn an_ascii_start_then_windows_1252_switches_the_encoding_instead_of_failing() {
    let dir = TempDir::new("read");
    let mut bytes = b"Mobile,First Name\n".to_vec();
    for i in 0..5000 {
        bytes.extend_from_slice(format!("04{i:08},Ann\n").as_bytes());
    }
    bytes.extend_from_slice(b"0499999999,Jos\xE9\n");
    let path = dir.file("late.csv", bytes);
    let (info, mut rows) = open(&path, "late.csv", &ReadOptions::default()).unwrap();
    assert_eq!(info.encoding, "UTF-8");
    let mut row = Row::default();
    let mut last = None;
    while rows.next_into(&mut row).unwrap() {
        last = Some(row.clone());
    }
    assert_eq!(last.unwrap().get(1), Some("José"));
    assert_eq!(rows.encoding(), "windows-1252");
}

#[test]
fn ragged_rows_are_kept_and_reported_against_the_header() {
    let dir = TempDir::new("read");
    let path = dir.file(
        "ragged.csv",
        "Mobile,First Name,Last Name,Email\n\
         0412345678,Ann,Lee,ann@example.com\n\
         0412345679,Bo,Kim,bo@example.com,extra\n\
         0412345670,Chen\n",
    );
    let (info, rows) = read(&path, "ragged.csv");
    assert_eq!(rows.len(), 3);
    assert!(info.check_width(&rows[0]).is_ok());
    let long = info.check_width(&rows[1]).unwrap_err();
    assert!(!long.is_fatal());
    assert_eq!(
        long.to_string().split(':').next(),
        Some("\"ragged.csv\", row 3 has 5 fields, the header has 4")
    );
    assert_eq!(rows[1].get(4), Some("extra"));
    assert!(matches!(
        info.check_width(&rows[2]),
        Err(ReadError::RaggedRow {
            row: 4,
            found: 2,
            expected: 4,
            ..
        })
    ));
}

#[test]
fn scientific_notation_text_is_flagged_in_a_csv() {
    let dir = TempDir::new("read");
    let path = dir.file("excel.csv", "Mobile,Name\n6.14123E+10,Ann\n0412345678,Bo\n");
    let (_, rows) = read(&path, "excel.csv");
    assert_eq!(rows[0].get(0), Some("6.14123E+10"));
    assert_eq!(rows[0].note(0), Some(CellNote::Scientific));
    assert_eq!(rows[1].note(0), None);
}

#[test]
fn google_contacts_layout_picks_the_phone_typed_mobile() {
    let dir = TempDir::new("read");
    let path = dir.file(
        "google.csv",
        "Name,Given Name,Family Name,E-mail 1 - Type,E-mail 1 - Value,Phone 1 - Type,Phone 1 - Value,Phone 2 - Type,Phone 2 - Value\n\
         Ann Lee,Ann,Lee,* Home,ann@example.com,Home,02 9876 5432,Mobile,0412 345 678\n\
         Bo Kim,Bo,Kim,,,Mobile,+61 412 345 679 ::: +61 412 345 600,,\n\
         Chen Wu,Chen,Wu,,,Work,03 9123 4567,,\n",
    );
    let (info, rows) = read(&path, "google.csv");
    let m = guess_mapping(&info.headers, &info.sample);
    assert_eq!(m.first_name, Some(1));
    assert_eq!(m.last_name, Some(2));
    assert_eq!(m.full_name, Some(0));
    assert_eq!(m.email, Some(4));
    assert_eq!(m.typed_phones.len(), 2);
    assert_eq!(m.mobile_value(&rows[0]), Some("0412 345 678"));
    assert_eq!(m.mobile_value(&rows[1]), Some("+61 412 345 679"));
    // No phone typed Mobile: the best guess column's value, for the pipeline to judge.
    assert!(m.mobile_value(&rows[2]).is_some());
    assert!(!m.custom.iter().any(|(_, h)| h.starts_with("Phone")));
}

#[test]
fn outlook_layout_prefers_mobile_phone_and_falls_back_to_other_phones() {
    let dir = TempDir::new("read");
    let path = dir.file(
        "outlook.csv",
        "First Name,Middle Name,Last Name,E-mail Address,Business Phone,Home Phone,Mobile Phone,Notes\n\
         Ann,,Lee,ann@example.com,02 9876 5432,,0412 345 678,VIP\n\
         Bo,,Kim,,0412 345 679,,,\n",
    );
    let (info, rows) = read(&path, "outlook.csv");
    let m = guess_mapping(&info.headers, &info.sample);
    assert_eq!(m.mobile, Some(6));
    assert_eq!(m.other_phones, [4, 5]);
    assert_eq!(
        (m.first_name, m.last_name, m.email),
        (Some(0), Some(2), Some(3))
    );
    assert_eq!(m.middle_name, Some(1));
    assert_eq!(m.custom, [(7, "Notes".to_owned())]);
    assert_eq!(m.mobile_value(&rows[0]), Some("0412 345 678"));
    assert_eq!(m.mobile_value(&rows[1]), Some("0412 345 679"));
}

#[test]
fn header_synonyms_map_to_the_mobile_column() {
    for header in [
        "MSISDN",
        "Cell Phone",
        "mobile_number",
        "Telephone",
        "Tel",
        "Contact Number",
        "Number",
    ] {
        let headers = vec!["Name".to_owned(), header.to_owned()];
        assert_eq!(guess_mapping(&headers, &[]).mobile, Some(1), "{header}");
    }
}

#[test]
fn no_column_that_looks_like_a_number_leaves_mobile_unmapped_and_lists_the_headers() {
    let dir = TempDir::new("read");
    let path = dir.file("names.csv", "Name,Email,Notes\nAnn,ann@example.com,hi\n");
    let (info, _) = read(&path, "names.csv");
    let m = guess_mapping(&info.headers, &info.sample);
    assert_eq!(m.mobile, None);
    assert_eq!(
        describe_headers(&info.headers),
        "\"Name\", \"Email\", \"Notes\""
    );
    let err = ReadError::NoMobileColumn {
        file: info.file.clone(),
        headers: describe_headers(&info.headers),
    };
    assert!(err.to_string().starts_with(
        "\"names.csv\": no column looks like a mobile number. The columns found are \"Name\", \"Email\", \"Notes\""
    ));
}

#[test]
fn a_missing_file_is_an_io_error_naming_it() {
    let err = open_err(Path::new("/nonexistent/upload-1"), "contacts.csv");
    assert!(matches!(err, ReadError::Io { .. }));
    assert!(
        err.to_string()
            .starts_with("could not read \"contacts.csv\"")
    );
}

// ---------------------------------------------------------------------------------------
// XLSX, XLS, ODS

fn contacts_sheet() -> Vec<Vec<Cell>> {
    vec![
        vec![
            t("Mobile"),
            t("First Name"),
            t("Last Name"),
            t("Email"),
            t("Joined"),
            t("Next"),
            t("VIP"),
            t("Check"),
        ],
        vec![
            n(61_412_345_678.0),
            t("José"),
            t("Núñez"),
            t("jose@example.com"),
            Cell::Date(45_356.0),
            Cell::Formula("A2+1".to_owned(), 61_412_345_679.0),
            Cell::Bool(true),
            Cell::Error("#N/A".to_owned()),
        ],
        vec![
            t("0412 345 679"),
            t("Ann"),
            Cell::Empty,
            Cell::Empty,
            Cell::Empty,
            Cell::FormulaText("B3&\"!\"".to_owned(), "Ann!".to_owned()),
        ],
        vec![Cell::Scientific(61_412_345_670.0), t("Bo")],
        vec![n(61_412_300_000.0), t("Chen")],
        vec![t("6.14123E+10"), t("Dana")],
        vec![n(412_345_678.0), t("Eli")],
        vec![],
        vec![t("+61 412 345 671")],
    ]
}

#[test]
fn xlsx_cells_come_out_as_a_user_sees_them() {
    let dir = TempDir::new("read");
    let path = dir.file(
        "contacts.xlsx",
        import_read_fixtures::xlsx(&[sheet("Contacts", contacts_sheet())]),
    );
    let (info, rows) = read(&path, "contacts.xlsx");
    assert_eq!(info.kind, FileKind::Xlsx);
    assert_eq!(info.sheet.as_deref(), Some("Contacts"));
    assert!(info.has_header);
    assert_eq!(
        info.headers[..4],
        ["Mobile", "First Name", "Last Name", "Email"]
    );
    // A number stored as a number: its digits, no ".0"; a date: ISO; a formula: its value.
    assert_eq!(
        fields(&rows[0]),
        [
            "61412345678",
            "José",
            "Núñez",
            "jose@example.com",
            "2024-03-05",
            "61412345679",
            "TRUE",
            "#N/A"
        ]
    );
    assert_eq!(rows[0].note(0), Some(CellNote::Number));
    assert_eq!(rows[0].note(4), Some(CellNote::Date));
    assert_eq!(rows[0].note(7), Some(CellNote::Error));
    assert_eq!(rows[0].number(), 2);
    // Missing trailing cells are empty fields up to the header's width.
    assert_eq!(
        fields(&rows[1]),
        ["0412 345 679", "Ann", "", "", "", "Ann!", "", ""]
    );
    assert_eq!(rows[1].note(0), None);
    // Displayed as 6.15E+10 but stored whole: exact digits.
    assert_eq!(rows[2].get(0), Some("61412345670"));
    assert_eq!(rows[2].note(0), Some(CellNote::Number));
    // What a CSV's 6.14123E+10 became: digits lost, flagged.
    assert_eq!(rows[3].get(0), Some("61412300000"));
    assert_eq!(rows[3].note(0), Some(CellNote::Scientific));
    assert_eq!(rows[4].note(0), Some(CellNote::Scientific));
    // A lost leading zero is the pipeline's to recover: the digits as stored.
    assert_eq!(rows[5].get(0), Some("412345678"));
    // The blank row 8 is skipped, and row numbers stay the sheet's.
    assert_eq!(rows.len(), 7);
    assert_eq!(rows[6].number(), 9);
    assert!(info.check_width(&rows[6]).is_ok());
}

#[test]
fn xlsx_reads_a_named_sheet_and_lists_the_sheets_for_an_unknown_one() {
    let dir = TempDir::new("read");
    let mut hidden = sheet("Hidden", vec![vec![t("Secret")], vec![n(1.0)]]);
    hidden.hidden = true;
    let book = import_read_fixtures::xlsx(&[
        hidden,
        sheet("Contacts", contacts_sheet()),
        sheet(
            "Opt Outs",
            vec![vec![t("Number")], vec![n(61_499_999_999.0)]],
        ),
    ]);
    let path = dir.file("book.xlsx", book);
    // By default: the first visible worksheet.
    let (info, _) = read(&path, "book.xlsx");
    assert_eq!(info.sheet.as_deref(), Some("Contacts"));
    assert_eq!(info.sheets, ["Hidden", "Contacts", "Opt Outs"]);
    let opts = ReadOptions {
        sheet: Some(" opt outs ".to_owned()),
        ..ReadOptions::default()
    };
    let (info, rows) = read_with(&path, "book.xlsx", &opts);
    assert_eq!(info.sheet.as_deref(), Some("Opt Outs"));
    assert_eq!(info.headers, ["Number"]);
    assert_eq!(rows[0].get(0), Some("61499999999"));

    let opts = ReadOptions {
        sheet: Some("Sheet9".to_owned()),
        ..ReadOptions::default()
    };
    let err = open_err_with(&path, "book.xlsx", &opts);
    assert_eq!(
        err.to_string(),
        "\"book.xlsx\" has no sheet named \"Sheet9\"; its sheets are: \"Hidden\", \"Contacts\", \"Opt Outs\""
    );
}

#[test]
fn an_xlsx_with_a_header_only_yields_no_rows_and_an_empty_sheet_is_named() {
    let dir = TempDir::new("read");
    let book = import_read_fixtures::xlsx(&[
        sheet("Contacts", vec![vec![t("Mobile"), t("Name")]]),
        sheet("Empty", vec![]),
    ]);
    let path = dir.file("book.xlsx", book);
    let (info, rows) = read(&path, "book.xlsx");
    assert_eq!(info.headers, ["Mobile", "Name"]);
    assert!(rows.is_empty());
    let opts = ReadOptions {
        sheet: Some("Empty".to_owned()),
        ..ReadOptions::default()
    };
    let err = open_err_with(&path, "book.xlsx", &opts);
    assert!(matches!(err, ReadError::EmptySheet { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("the sheet \"Empty\" of \"book.xlsx\" is empty")
    );
}

#[test]
fn a_truncated_xlsx_is_named_damaged_not_a_panic() {
    let dir = TempDir::new("read");
    let book = import_read_fixtures::xlsx(&[sheet("Contacts", contacts_sheet())]);
    for cut in [book.len() / 2, book.len() - 10, 100] {
        let path = dir.file("cut.xlsx", &book[..cut]);
        let err = open_err(&path, "cut.xlsx");
        assert!(
            matches!(err, ReadError::Damaged { .. }),
            "cut at {cut}: {err}"
        );
        assert!(
            err.to_string().starts_with(
                "\"cut.xlsx\" looks like an XLSX workbook but it is damaged or incomplete"
            ),
            "{err}"
        );
    }
}

#[test]
fn an_xlsx_with_damaged_sheet_data_is_an_error_not_a_panic() {
    let dir = TempDir::new("read");
    let rows: Vec<Vec<Cell>> = std::iter::once(vec![t("Mobile"), t("Name")])
        .chain((0..3000).map(|i| vec![n(61_400_000_000.0 + f64::from(i)), t(&format!("Name {i}"))]))
        .collect();
    let mut book = import_read_fixtures::xlsx(&[sheet("Contacts", rows)]);
    // Scramble bytes in the middle of the (compressed) worksheet part.
    let at = book
        .windows(24)
        .position(|w| w == b"xl/worksheets/sheet1.xml")
        .unwrap()
        + 200;
    for b in &mut book[at..at + 64] {
        *b ^= 0x5A;
    }
    let path = dir.file("scrambled.xlsx", book);
    match open(&path, "scrambled.xlsx", &ReadOptions::default()) {
        Err(e) => assert!(e.is_fatal(), "{e}"),
        Ok((_, rows)) => {
            let last = drain(rows).pop().unwrap();
            let err = last.unwrap_err();
            assert!(err.is_fatal());
            assert_eq!(err.file(), "scrambled.xlsx");
        }
    }
}

#[test]
fn a_zip_bomb_named_xlsx_is_refused_before_it_is_expanded() {
    let dir = TempDir::new("read-bomb");
    let path = dir.path().join("bomb.xlsx");
    import_read_fixtures::write_xlsx_bomb(&path, 64 * 1024 * 1024);
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size < 1024 * 1024, "the bomb is small on disk: {size}");
    let started = Instant::now();
    let err = open_err(&path, "bomb.xlsx");
    assert!(started.elapsed() < Duration::from_secs(2));
    match &err {
        ReadError::CompressionRatio {
            entry,
            ratio,
            limit,
            ..
        } => {
            assert_eq!(entry, "xl/worksheets/sheet1.xml");
            assert!(*ratio > 250 && *limit == 250, "{ratio}");
        }
        other => panic!("{other}"),
    }
    assert!(
        err.to_string()
            .contains("which real spreadsheets never are")
    );

    // Under a lower bound on the total, the declared size alone refuses it.
    let opts = ReadOptions {
        max_uncompressed_bytes: 16 * 1024 * 1024,
        max_compression_ratio: 10_000,
        ..ReadOptions::default()
    };
    assert!(matches!(
        open_err_with(&path, "bomb.xlsx", &opts),
        ReadError::TooLargeUnzipped { limit, declared, .. } if limit == 16 * 1024 * 1024 && declared > 64 * 1024 * 1024
    ));
}

#[test]
fn an_xlsx_part_that_lies_about_its_size_stops_at_the_lie() {
    let dir = TempDir::new("read");
    let rows: Vec<Vec<Cell>> = std::iter::once(vec![t("Mobile")])
        .chain((0..20_000).map(|i| vec![n(61_400_000_000.0 + f64::from(i))]))
        .collect();
    let mut book = import_read_fixtures::xlsx(&[sheet("Contacts", rows)]);
    import_read_fixtures::lie_about_size(&mut book, "xl/worksheets/sheet1.xml", 4096);
    let path = dir.file("liar.xlsx", book);
    let outcome = open(&path, "liar.xlsx", &ReadOptions::default());
    let err = match outcome {
        Err(e) => e,
        Ok((_, rows)) => {
            let results = drain(rows);
            assert!(
                results.len() < 1000,
                "read {} rows past the declared size",
                results.len()
            );
            results.into_iter().last().unwrap().unwrap_err()
        }
    };
    assert!(err.is_fatal());
    assert_eq!(err.file(), "liar.xlsx");
}

#[test]
fn dropping_the_rows_of_a_big_xlsx_early_does_not_hang() {
    let dir = TempDir::new("read");
    let path = dir.path().join("big.xlsx");
    import_read_fixtures::write_xlsx_streaming(
        &path,
        "Contacts",
        std::iter::once(vec![t("Mobile")])
            .chain((0..50_000).map(|i| vec![n(61_400_000_000.0 + f64::from(i))])),
    );
    let (_, mut rows) = open(&path, "big.xlsx", &ReadOptions::default()).unwrap();
    assert!(rows.next().unwrap().is_ok());
    drop(rows);
}

#[test]
fn xls_numbers_dates_and_named_sheets_are_read() {
    // tests/fixtures/contacts.xls was written with Python's xlwt 1.3.0 (no Rust crate writes
    // BIFF8): sheet "Contacts" (Mobile 61412345678 as a number, "José", a date 2024-03-05, a
    // text "0412 345 679", 61412300000 formatted 0.00E+00) and sheet "Opt outs" (412345670
    // as a number).
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/contacts.xls");
    let (info, rows) = read(&path, "contacts.xls");
    assert_eq!(info.kind, FileKind::Xls);
    assert_eq!(info.sheets, ["Contacts", "Opt outs"]);
    assert_eq!(
        info.headers,
        ["Mobile", "First Name", "Last Name", "Email", "Joined"]
    );
    assert_eq!(
        fields(&rows[0]),
        [
            "61412345678",
            "José",
            "Núñez",
            "jose@example.com",
            "2024-03-05"
        ]
    );
    assert_eq!(rows[0].note(0), Some(CellNote::Number));
    assert_eq!(rows[0].note(4), Some(CellNote::Date));
    assert_eq!(fields(&rows[1]), ["0412 345 679", "Ann", "Lee", "", ""]);
    assert_eq!(rows[2].get(0), Some("61412300000"));
    assert_eq!(rows[2].note(0), Some(CellNote::Scientific));

    let opts = ReadOptions {
        sheet: Some("Opt outs".to_owned()),
        ..ReadOptions::default()
    };
    let (info, rows) = read_with(&path, "contacts.xls", &opts);
    assert_eq!(info.headers, ["Number"]);
    assert_eq!(rows[0].get(0), Some("412345670"));
}

#[test]
fn a_truncated_xls_is_an_error_not_a_panic() {
    let dir = TempDir::new("read");
    let bytes =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/contacts.xls"))
            .unwrap();
    let path = dir.file("cut.xls", &bytes[..bytes.len() / 2]);
    let err = open_err(&path, "cut.xls");
    assert!(matches!(err, ReadError::Damaged { .. }), "{err}");
}

#[test]
fn ods_numbers_text_formulas_and_named_sheets_are_read() {
    let dir = TempDir::new("read");
    let book = import_read_fixtures::ods(&[
        sheet(
            "Contacts",
            vec![
                vec![t("Mobile"), t("First Name"), t("Next")],
                vec![
                    n(61_412_345_678.0),
                    t("José"),
                    Cell::Formula("[.A2]+1".to_owned(), 61_412_345_679.0),
                ],
                vec![t("0412 345 679"), t("Ann")],
            ],
        ),
        sheet("Opt outs", vec![vec![t("Number")], vec![n(412_345_670.0)]]),
    ]);
    let path = dir.file("contacts.ods", book);
    let (info, rows) = read(&path, "contacts.ods");
    assert_eq!(info.kind, FileKind::Ods);
    assert_eq!(info.sheets, ["Contacts", "Opt outs"]);
    assert_eq!(fields(&rows[0]), ["61412345678", "José", "61412345679"]);
    assert_eq!(rows[0].note(0), Some(CellNote::Number));
    assert_eq!(fields(&rows[1]), ["0412 345 679", "Ann", ""]);
    let opts = ReadOptions {
        sheet: Some("Opt outs".to_owned()),
        ..ReadOptions::default()
    };
    let (_, rows) = read_with(&path, "contacts.ods", &opts);
    assert_eq!(rows[0].get(0), Some("412345670"));
}

#[test]
fn a_spreadsheet_is_recognised_by_content_whatever_its_name() {
    let dir = TempDir::new("read");
    let path = dir.file(
        "contacts.csv",
        import_read_fixtures::xlsx(&[sheet("Contacts", contacts_sheet())]),
    );
    let (info, rows) = read(&path, "contacts.csv");
    assert_eq!(info.kind, FileKind::Xlsx);
    assert_eq!(rows[0].get(0), Some("61412345678"));
    // And a CSV named .xlsx is read as the text it is.
    let path = dir.file("contacts.xlsx", "Mobile,Name\n0412345678,Ann\n");
    let (info, _) = read(&path, "contacts.xlsx");
    assert_eq!(info.kind, FileKind::Csv);
}
