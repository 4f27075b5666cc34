//! Bounded memory for uploads and checks, end to end over real HTTP on loopback: spreadsheet
//! bombs (an ODS of under 1 KB whose repeat counts expand to billions of cells; an XLSX whose
//! shared strings inflate to hundreds of MB from a few MB) refused fast by a dry-run import
//! with a message naming the limit, nothing stored; and bulk checks past their limits (429
//! with `Retry-After`, 413 past the numbers cap). The bombs are built here, with the `zip`
//! crate the reader already uses.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::io::{Seek, Write};
use std::time::{Duration, Instant};

use common::{TestApp, code};
use reqwest::StatusCode;
use serde_json::{Value, json};
use stoplist::config::Config;
use zip::write::SimpleFileOptions;

/// How long a refused bomb may take, end to end (the ODS one took minutes and 4.5 GB before).
const FAST: Duration = Duration::from_secs(5);

/// How much the process's peak memory may grow while a bomb is refused (the bombs expand to
/// gigabytes when read whole). The server runs in this process, so its peak is ours.
const PEAK_GROWTH_KB: u64 = 200 * 1024;

/// The process's peak resident memory so far, in kB (`VmHWM`), where /proc has it.
fn peak_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn stored() -> SimpleFileOptions {
    SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored)
}

fn deflated() -> SimpleFileOptions {
    SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(1))
}

/// An ODS of a few hundred bytes: one row of 16,384 numbers repeated a million times (16
/// billion cells), under a header row when `header`.
fn ods_bomb(header: bool) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file("mimetype", stored()).unwrap();
    zip.write_all(b"application/vnd.oasis.opendocument.spreadsheet")
        .unwrap();
    zip.start_file("content.xml", deflated()).unwrap();
    let header = if header {
        r#"<table:table-row><table:table-cell office:value-type="string"><text:p>Mobile</text:p></table:table-cell></table:table-row>"#
    } else {
        ""
    };
    write!(
        zip,
        r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:spreadsheet><table:table table:name="Contacts">{header}<table:table-row table:number-rows-repeated="1000000"><table:table-cell table:number-columns-repeated="16384" office:value-type="float" office:value="61412345678"/></table:table-row></table:table></office:spreadsheet></office:body></office:document-content>"#
    )
    .unwrap();
    zip.finish().unwrap().into_inner()
}

const CONTENT_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>"#;
const ROOT_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#;
const WORKBOOK: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Contacts" sheetId="1" r:id="rId1"/></sheets></workbook>"#;
const WORKBOOK_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>"#;
/// A header and two contacts, every text a shared string (as Excel writes them).
const SHEET: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c></row><row r="2"><c r="A2" t="s"><v>1</v></c></row><row r="3"><c r="A3" t="s"><v>2</v></c></row></sheetData></worksheet>"#;

/// An XLSX of the sheet above whose shared strings table holds its three texts, then
/// `padding` more of about 2 KB each: distinct (8 pseudo-random hex digits) but mostly one
/// letter repeated, so that they deflate about 100 to 1, under the reader's zip-bomb ratio:
/// only the shared strings bound can stop them.
fn write_xlsx(path: &std::path::Path, padding: u64) {
    let file = std::fs::File::create(path).unwrap();
    let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(file));
    for (name, text) in [
        ("[Content_Types].xml", CONTENT_TYPES),
        ("_rels/.rels", ROOT_RELS),
        ("xl/workbook.xml", WORKBOOK),
        ("xl/_rels/workbook.xml.rels", WORKBOOK_RELS),
        ("xl/worksheets/sheet1.xml", SHEET),
    ] {
        zip.start_file(name, deflated()).unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    }
    zip.start_file("xl/sharedStrings.xml", deflated().large_file(true))
        .unwrap();
    let mut xml = String::from(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>Mobile</t></si><si><t>0412 345 678</t></si><si><t>0412 345 679</t></si>"#,
    );
    let filler = "a".repeat(2000);
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..padding {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        xml.push_str(&format!("<si><t>{:08x}{filler}</t></si>", seed >> 32));
        if xml.len() > 1 << 20 {
            zip.write_all(xml.as_bytes()).unwrap();
            xml.clear();
        }
    }
    xml.push_str("</sst>");
    zip.write_all(xml.as_bytes()).unwrap();
    let mut out = zip.finish().unwrap();
    out.flush().unwrap();
    out.seek(std::io::SeekFrom::End(0)).unwrap();
}

/// A dry-run import of `bytes` as `name` into a new group: status, body and time taken.
async fn dry_run(
    app: &TestApp,
    gid: i64,
    name: &str,
    bytes: Vec<u8>,
) -> (StatusCode, Value, Duration) {
    let started = Instant::now();
    let (s, body) = app
        .upload(
            &format!("/api/v1/groups/{gid}/imports"),
            &format!("file_name={name}&dry_run=true&wait=true"),
            bytes,
        )
        .await;
    (s, body, started.elapsed())
}

/// What an import could have changed: the group's contacts, the imports recorded, the
/// opt-out list.
async fn stored_state(app: &TestApp, gid: i64) -> (Value, Value, Value) {
    let contacts = app.get(&format!("/api/v1/groups/{gid}/contacts")).await.1["items"].clone();
    let imports = app.get("/api/v1/imports").await.1;
    let optouts = app.get("/api/v1/optouts").await.1["items"].clone();
    (contacts, imports, optouts)
}

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or("")
}

const CELLS_REFUSED: &str = "the sheet has more than 50,000,000 cells with data. Save it as \
                             CSV (in the spreadsheet program: File > Save As > CSV) and upload \
                             that, or split it into smaller files";

#[tokio::test]
async fn an_ods_bomb_of_repeated_rows_and_columns_is_refused_fast_and_stores_nothing() {
    let bomb = ods_bomb(false);
    assert!(bomb.len() < 1024, "the bomb is under 1 KB: {}", bomb.len());
    for url in common::each_backend().await {
        let app = TestApp::spawn_with(&url, Config::default()).await;
        let gid = app.group("Customers").await;
        let before = stored_state(&app, gid).await;
        let peak = peak_kb();

        let (s, body, took) = dry_run(&app, gid, "bomb.ods", bomb.clone()).await;

        assert_eq!(
            (s, code(&body)),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_file"),
            "{body}"
        );
        assert_eq!(
            message(&body),
            format!("\"bomb.ods\" was refused: {CELLS_REFUSED}")
        );
        assert!(took < FAST, "refused in {took:?}");
        assert_peak_within(peak);
        assert_eq!(
            stored_state(&app, gid).await,
            before,
            "nothing stored changed"
        );
    }
}

#[tokio::test]
async fn an_ods_bomb_under_a_header_row_fails_its_import_fast_and_adds_nothing() {
    // The first rows are read when the file is opened, the rest as the import runs: a bomb
    // past the header is found then, and the import (recorded by then) fails with it.
    let bomb = ods_bomb(true);
    for url in common::each_backend().await {
        let app = TestApp::spawn_with(&url, Config::default()).await;
        let gid = app.group("Customers").await;
        let (contacts, _, optouts) = stored_state(&app, gid).await;
        let peak = peak_kb();

        let (_, body, took) = dry_run(&app, gid, "bomb.ods", bomb.clone()).await;

        assert_eq!(body["status"], "failed", "{body}");
        assert_eq!(
            body["error"].as_str().unwrap_or(""),
            format!("\"bomb.ods\" was refused: {CELLS_REFUSED}")
        );
        assert!(took < FAST, "refused in {took:?}");
        assert_peak_within(peak);
        let (contacts_after, _, optouts_after) = stored_state(&app, gid).await;
        assert_eq!((contacts_after, optouts_after), (contacts, optouts));
    }
}

/// Asserts that the process's peak memory grew by less than [`PEAK_GROWTH_KB`] since `before`.
fn assert_peak_within(before: Option<u64>) {
    if let (Some(before), Some(after)) = (before, peak_kb()) {
        assert!(
            after - before < PEAK_GROWTH_KB,
            "peak memory grew by {} kB",
            after - before
        );
    }
}

#[tokio::test]
async fn an_xlsx_whose_shared_strings_inflate_to_hundreds_of_mb_is_refused_fast() {
    let dir = std::env::temp_dir().join(format!("stoplist-bounds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bomb_path = dir.join("bomb.xlsx");
    // 150,000 texts of 2 KB: 300 MB of shared strings.
    write_xlsx(&bomb_path, 150_000);
    let bomb = std::fs::read(&bomb_path).unwrap();
    assert!(
        bomb.len() < 8 << 20,
        "the zip is small: {} bytes",
        bomb.len()
    );
    let control_path = dir.join("control.xlsx");
    write_xlsx(&control_path, 10);
    let control = std::fs::read(&control_path).unwrap();
    let _ = std::fs::remove_dir_all(&dir);

    for url in common::each_backend().await {
        let app = TestApp::spawn_with(&url, Config::default()).await;
        let gid = app.group("Customers").await;

        // The same workbook with a small table is a good one: the bound is what refuses.
        let (s, body, _) = dry_run(&app, gid, "control.xlsx", control.clone()).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        assert_eq!(body["counts"]["imported"].as_i64(), Some(2), "{body}");

        let before = stored_state(&app, gid).await;
        let peak = peak_kb();
        let (s, body, took) = dry_run(&app, gid, "bomb.xlsx", bomb.clone()).await;

        assert_eq!(
            (s, code(&body)),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_file"),
            "{body}"
        );
        assert!(
            message(&body).starts_with(
                "\"bomb.xlsx\" was refused: the file's shared strings expand to more than \
                 256 MB. Save it as CSV"
            ),
            "{body}"
        );
        assert!(took < FAST, "refused in {took:?}");
        assert_peak_within(peak);
        assert_eq!(
            stored_state(&app, gid).await,
            before,
            "nothing stored changed"
        );
    }
}

/// A server whose account runs one bulk check at once and the server two, numbers capped at
/// `cap`.
async fn check_server(url: &str, cap: usize) -> TestApp {
    let config = Config {
        max_bulk_checks_per_account: 1,
        max_bulk_checks_per_server: 2,
        max_check_numbers: cap,
        ..Config::default()
    };
    TestApp::spawn_with(url, config).await
}

async fn bulk_check(app: &TestApp, key: &str, numbers: &[String]) -> reqwest::Response {
    app.http
        .post(format!("{}/api/v1/optouts/check", app.base))
        .bearer_auth(key)
        .json(&json!({ "numbers": numbers }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_bulk_check_over_the_accounts_limit_is_answered_429_with_retry_after() {
    for url in common::each_backend().await {
        let app = check_server(&url, 1_000_000).await;
        let numbers = vec!["0412345678".to_owned()];
        // A check of this account is running (its place taken as the handler takes it).
        let running = app.state.limits.try_bulk_check(app.account).unwrap();

        let resp = bulk_check(&app, &app.key, &numbers).await;

        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            resp.headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
            Some("5")
        );
        let body: Value = resp.json().await.unwrap();
        assert_eq!(code(&body), "too_many_running", "{body}");
        assert!(
            message(&body)
                .starts_with("this account already runs as many bulk checks at once as it may (1)"),
            "{body}"
        );

        // Another account is not held back by this one's limit, until the server's is reached.
        let other = app.other_key().await;
        let resp = bulk_check(&app, &other, &numbers).await;
        assert_eq!(resp.status(), StatusCode::OK);
        // Read to the end: the check's place is given back before its answer ends.
        resp.bytes().await.unwrap();
        // A third account's check takes the server's second place.
        let _held = app
            .state
            .limits
            .try_bulk_check(stoplist_domain::AccountId(app.account.0 + 100))
            .unwrap();
        let resp = bulk_check(&app, &other, &numbers).await;
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        let body: Value = resp.json().await.unwrap();
        assert!(
            message(&body).starts_with(
                "the server already runs as many bulk checks at once as it may, for all \
                 accounts together (2)"
            ),
            "{body}"
        );

        drop(running);
        let resp = bulk_check(&app, &app.key, &numbers).await;
        assert_eq!(
            resp.status(),
            StatusCode::OK,
            "a place given back is free again"
        );
    }
}

#[tokio::test]
async fn a_bulk_check_past_the_numbers_cap_is_413_naming_the_cap() {
    for url in common::each_backend().await {
        let app = check_server(&url, 3).await;
        let numbers: Vec<String> = (0..4).map(|i| format!("041234567{i}")).collect();

        let resp = bulk_check(&app, &app.key, &numbers).await;

        assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(code(&body), "payload_too_large", "{body}");
        assert_eq!(
            message(&body),
            "numbers: a bulk check takes at most 3 numbers; split the list into several requests"
        );
        let resp = bulk_check(&app, &app.key, &numbers[..3]).await;
        assert_eq!(resp.status(), StatusCode::OK);
        resp.bytes().await.unwrap();
        assert_eq!(
            app.state.limits.bulk_checks_running(app.account).1,
            0,
            "a refused or finished check gives its place back"
        );
    }
}

#[tokio::test]
async fn a_large_bulk_check_is_answered_in_order_across_its_pieces() {
    for url in common::each_backend().await {
        let app = check_server(&url, 1_000_000).await;
        app.listed(
            "0412000007",
            stoplist_domain::rules::OptOutEvent::Added(stoplist_domain::rules::AddedBy::Manual),
        )
        .await;
        // Three pieces of 65,536 and a part of a fourth; one input invalid.
        let mut numbers: Vec<String> = (0..200_000).map(|i| format!("0412{i:06}")).collect();
        numbers[70_000] = "not a number".to_owned();

        let resp = bulk_check(&app, &app.key, &numbers).await;

        assert_eq!(resp.status(), StatusCode::OK);
        let body: Value = resp.json().await.unwrap();
        let results = body["results"].as_array().unwrap();
        assert_eq!(results.len(), numbers.len());
        for (i, r) in results.iter().enumerate() {
            assert_eq!(r["input"].as_str(), Some(numbers[i].as_str()), "result {i}");
        }
        assert_eq!(results[7]["opted_out"], true);
        assert_eq!(results[8]["opted_out"], false);
        assert!(
            results[70_000].get("invalid").is_some(),
            "{}",
            results[70_000]
        );
        assert_eq!(results[199_999]["number"], "+61412199999");
    }
}
