//! Report exports end to end (SPEC 3.5, 3.8): the real server on a loopback port, real HTTP,
//! the files read back with the parsers a user's tools would use; and the CLI's `optouts
//! export` and `report evidence` as an operator runs them. Each API test runs once per backend.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use calamine::{Data, Reader, Xlsx};
use common::exports::{delimited, pdftotext};
use common::{TestApp, code, each_backend, field};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::Cursor;
use stoplist_domain::rules::OptOutEvent;
use stoplist_domain::{Actor, CampaignId, PhoneNumber, Region};
use stoplist_store::NewMessage;

/// The page count from the PDF's page tree (krilla writes it uncompressed).
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

/// Three opt-outs, oldest first; the newest has evidence a spreadsheet would run.
async fn seed_optouts(app: &TestApp) {
    for (number, evidence) in [
        ("0412345601", "phone call"),
        ("0412345602", "letter"),
        ("0499000003", "=HYPERLINK(\"http://x\")"),
    ] {
        let (s, b) = app
            .post(
                "/api/v1/optouts",
                json!({"number": number, "evidence": evidence}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
}

#[tokio::test]
async fn the_opt_out_list_exports_as_csv_with_formula_cells_neutralised() {
    for url in each_backend().await {
        let app = TestApp::spawn(&url).await;
        seed_optouts(&app).await;
        let d = app.download("/api/v1/optouts/export?format=csv").await;
        assert_eq!(d.status, StatusCode::OK);
        assert_eq!(d.content_type, "text/csv; charset=utf-8");
        assert!(
            d.disposition
                .starts_with("attachment; filename=\"optouts-20")
                && d.disposition.ends_with(".csv\""),
            "{}",
            d.disposition
        );
        let rows = delimited(&d.bytes, b',');
        assert_eq!(
            rows[0],
            ["number", "opted_out_since", "source", "actor", "evidence"]
        );
        assert_eq!(rows.len(), 4, "a header and three opt-outs: {rows:?}");
        // Newest first; numbers keep their plus as text, the formula is quoted.
        assert_eq!(rows[1][0], "'+61499000003");
        assert_eq!(rows[1][4], "'=HYPERLINK(\"http://x\")");
        assert_eq!(rows[3][0], "'+61412345601");
        assert_eq!(rows[3][2], "api");
        assert!(rows[3][3].starts_with("api_key"), "{}", rows[3][3]);
        assert!(rows[3][1].ends_with('Z') && rows[3][1].contains('T'));
        assert_eq!(rows[3][4], "phone call");
    }
}

#[tokio::test]
async fn the_opt_out_list_exports_as_tsv_xlsx_and_pdf() {
    for url in each_backend().await {
        let app = TestApp::spawn(&url).await;
        seed_optouts(&app).await;

        let d = app.download("/api/v1/optouts/export?format=tsv").await;
        assert_eq!(d.status, StatusCode::OK);
        assert!(d.content_type.starts_with("text/tab-separated-values"));
        assert!(d.disposition.ends_with(".tsv\""), "{}", d.disposition);
        let rows = delimited(&d.bytes, b'\t');
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[2][0], "'+61412345602");
        assert_eq!(rows[2][4], "letter");

        let d = app.download("/api/v1/optouts/export?format=xlsx").await;
        assert_eq!(d.status, StatusCode::OK);
        assert_eq!(
            d.content_type,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        );
        assert!(d.disposition.ends_with(".xlsx\""), "{}", d.disposition);
        let mut book = Xlsx::new(Cursor::new(d.bytes)).unwrap();
        let sheet = book.worksheet_range_at(0).unwrap().unwrap();
        let rows: Vec<Vec<Data>> = sheet.rows().map(<[Data]>::to_vec).collect();
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0][0], Data::String("number".into()));
        assert_eq!(
            rows[1][0],
            Data::String("+61499000003".into()),
            "exact, as text"
        );
        assert_eq!(
            rows[1][4],
            Data::String("=HYPERLINK(\"http://x\")".into()),
            "a string, never a formula"
        );

        let d = app.download("/api/v1/optouts/export?format=pdf").await;
        assert_eq!(d.status, StatusCode::OK);
        assert_eq!(d.content_type, "application/pdf");
        assert!(d.bytes.starts_with(b"%PDF-"));
        assert!(pdf_pages(&d.bytes) >= 1);
        if let Some(text) = pdftotext(&d.bytes) {
            assert!(text.contains("Opt-outs") && text.contains("acme"), "{text}");
            assert!(text.contains("+61412345601"), "{text}");
        }
    }
}

#[tokio::test]
async fn the_opt_out_export_keeps_only_numbers_matching_the_search() {
    for url in each_backend().await {
        let app = TestApp::spawn(&url).await;
        seed_optouts(&app).await;
        let d = app
            .download("/api/v1/optouts/export?format=csv&search=412%20345%2060")
            .await;
        assert_eq!(d.status, StatusCode::OK);
        let rows = delimited(&d.bytes, b',');
        let numbers: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
        assert_eq!(numbers, ["'+61412345602", "'+61412345601"]);
    }
}

#[tokio::test]
async fn an_unknown_export_format_is_422_naming_the_format_field() {
    for url in each_backend().await {
        let app = TestApp::spawn(&url).await;
        for path in [
            "/api/v1/optouts/export?format=docx",
            "/api/v1/optouts/0412345678/events/export?format=html",
            "/api/v1/optouts/0412345678/evidence?format=csv",
            "/api/v1/campaigns/1/messages/export?format=odt",
        ] {
            let (s, b) = app.get(path).await;
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {b}");
            assert_eq!(field(&b), "format", "{path}");
            assert_eq!(code(&b), "invalid_field", "{path}");
        }
        let (_, b) = app.get("/api/v1/optouts/export?format=docx").await;
        let message = b["error"]["message"].as_str().unwrap();
        assert!(message.contains("csv, tsv, xlsx or pdf"), "{message}");
    }
}

#[tokio::test]
async fn exports_need_an_api_key() {
    let app = TestApp::spawn(&each_backend().await[0]).await;
    for path in [
        "/api/v1/optouts/export",
        "/api/v1/optouts/0412345678/evidence?format=json",
    ] {
        let resp = app
            .http
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
}

#[tokio::test]
async fn a_pdf_of_more_than_100000_rows_is_refused_pointing_to_csv() {
    let app = TestApp::spawn(&each_backend().await[0]).await;
    let numbers: Vec<PhoneNumber> = (0..100_001u64)
        .map(|i| PhoneNumber::from_trusted_e164(&format!("+6141{i:07}")).unwrap())
        .collect();
    app.store
        .bulk_add_optouts(
            app.account,
            &numbers,
            &Actor::system("test"),
            "seed",
            stoplist::now_ms(),
        )
        .await
        .unwrap();
    let (s, b) = app.get("/api/v1/optouts/export?format=pdf").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(field(&b), "format");
    assert_eq!(code(&b), "too_many_rows");
    assert!(b["error"]["message"].as_str().unwrap().contains("CSV"));
    // The same list as CSV is fine, and complete across pages of 5,000.
    let d = app.download("/api/v1/optouts/export?format=csv").await;
    assert_eq!(d.status, StatusCode::OK);
    let lines = d
        .bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    assert_eq!(lines, 100_002, "a header and every opt-out");
}

#[tokio::test]
async fn a_numbers_events_export_lists_each_event_with_its_seq_and_hash() {
    for url in each_backend().await {
        let app = TestApp::spawn(&url).await;
        seed_optouts(&app).await;
        let (s, _) = app
            .delete(
                "/api/v1/optouts/0412345602",
                Some(json!({"reason": "asked by phone to resume"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let d = app
            .download("/api/v1/optouts/0412%20345%20602/events/export")
            .await;
        assert_eq!(d.status, StatusCode::OK);
        assert_eq!(d.content_type, "text/csv; charset=utf-8");
        assert!(
            d.disposition
                .starts_with("attachment; filename=\"optout-events-61412345602-"),
            "{}",
            d.disposition
        );
        let rows = delimited(&d.bytes, b',');
        assert_eq!(
            rows[0],
            [
                "time", "kind", "source", "actor", "reason", "evidence", "seq", "hash"
            ]
        );
        assert_eq!(rows.len(), 3, "{rows:?}");
        assert_eq!(rows[1][1], "opted_out");
        assert_eq!(rows[1][5], "letter");
        assert_eq!(rows[1][6], "2");
        assert_eq!(rows[2][1], "opted_in");
        assert_eq!(rows[2][4], "asked by phone to resume");
        assert_eq!(rows[2][6], "4");
        for row in &rows[1..] {
            assert_eq!(row[7].len(), 64, "the whole SHA-256 in hex");
            assert!(row[7].bytes().all(|b| b.is_ascii_hexdigit()));
        }
    }
}

#[tokio::test]
async fn the_evidence_bundle_says_the_chain_verifies_and_lists_the_events_with_hashes() {
    for url in each_backend().await {
        let app = TestApp::spawn(&url).await;
        seed_optouts(&app).await;
        app.reply_opt_out("0412345699").await;
        let d = app
            .download("/api/v1/optouts/+61412345699/evidence?format=json")
            .await;
        assert_eq!(d.status, StatusCode::OK);
        assert_eq!(d.content_type, "application/json");
        assert!(
            d.disposition
                .starts_with("attachment; filename=\"evidence-61412345699-")
                && d.disposition.ends_with(".json\""),
            "{}",
            d.disposition
        );
        let b = d.json();
        assert_eq!(b["number"], "+61412345699");
        assert_eq!(b["account"], "acme");
        assert_eq!(b["chain_verified"], true, "{b}");
        assert_eq!(b["opted_out"], true);
        assert!(b["generated_at"].as_str().unwrap().ends_with('Z'));
        let events = b["events"].as_array().unwrap();
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!(e["seq"], 4);
        assert_eq!(e["kind"], "opted_out");
        assert_eq!(e["source"], "reply");
        assert_eq!(e["evidence"], "STOP");
        assert_eq!(e["hash"].as_str().unwrap().len(), 64);
        // The hashes are the ledger's own: the API's history shows the same.
        let (_, h) = app.get("/api/v1/optouts/0412345699/events").await;
        assert_eq!(e["hash"], h["events"][0]["hash"]);
        assert_eq!(e["prev_hash"], h["events"][0]["prev_hash"]);

        let d = app.download("/api/v1/optouts/0412345699/evidence").await;
        assert_eq!(d.status, StatusCode::OK);
        assert_eq!(d.content_type, "application/pdf", "PDF by default");
        assert!(d.bytes.starts_with(b"%PDF-"));
        if let Some(text) = pdftotext(&d.bytes) {
            assert!(text.contains("Hash chain verified: yes"), "{text}");
            assert!(text.contains(e["hash"].as_str().unwrap()), "{text}");
        }
    }
}

#[tokio::test]
async fn the_evidence_bundle_says_no_when_the_ledger_was_tampered_with() {
    let url = stoplist_store::testing::sqlite_url();
    let app = TestApp::spawn(&url).await;
    seed_optouts(&app).await;
    // An attacker with write access to the file drops the guard and edits another event.
    let raw = stoplist_store::SqliteStore::open(&url).await.unwrap();
    sqlx::raw_sql(
        "DROP TRIGGER optout_events_no_update; UPDATE optout_events SET evidence = 'forged' WHERE seq = 1",
    )
    .execute(raw.pool())
    .await
    .unwrap();
    let d = app
        .download("/api/v1/optouts/0499000003/evidence?format=json")
        .await;
    assert_eq!(d.status, StatusCode::OK);
    let b = d.json();
    assert_eq!(b["chain_verified"], false, "{b}");
    assert!(
        b["chain_detail"].as_str().unwrap().contains("event seq 1"),
        "{b}"
    );
}

/// A campaign of `app`'s account whose messages go to `numbers`, started directly through the
/// store: a number on the opt-out list is queued as `suppressed`.
async fn started_campaign(app: &TestApp, numbers: &[&str]) -> i64 {
    let id = app.campaign(json!({"name": "Spring sale", "sender_id": "Acme", "message": "Sale on now", "numbers": numbers})).await;
    let messages: Vec<NewMessage> = numbers
        .iter()
        .map(|n| NewMessage {
            number: PhoneNumber::parse(n, Region::AU).unwrap(),
            body: "Sale on now".into(),
        })
        .collect();
    app.store
        .start_campaign(
            app.account,
            CampaignId(id),
            "test",
            &mut messages.into_iter(),
            stoplist::now_ms(),
        )
        .await
        .unwrap();
    id
}

#[tokio::test]
async fn a_campaigns_messages_export_with_its_status_filter() {
    for url in each_backend().await {
        let app = TestApp::spawn(&url).await;
        // Opted out after the draft was written: its message is suppressed at queue time.
        app.listed(
            "0412345612",
            OptOutEvent::Added(stoplist_domain::rules::AddedBy::Manual),
        )
        .await;
        let id = started_campaign(&app, &["0412345621", "0412345612"]).await;

        let d = app
            .download(&format!("/api/v1/campaigns/{id}/messages/export"))
            .await;
        assert_eq!(d.status, StatusCode::OK);
        assert_eq!(
            d.disposition,
            format!(
                "attachment; filename=\"campaign-{id}-messages-{}.csv\"",
                &stoplist::rfc3339(stoplist::now_ms())[..10]
            )
        );
        let rows = delimited(&d.bytes, b',');
        assert_eq!(
            rows[0],
            [
                "id",
                "number",
                "status",
                "sender",
                "text",
                "provider_id",
                "error_code",
                "sent_at"
            ]
        );
        assert_eq!(rows.len(), 3, "{rows:?}");
        assert_eq!(rows[1][1], "'+61412345621");
        assert_eq!(rows[1][3], "Acme");
        assert_eq!(rows[1][4], "Sale on now");

        let d = app
            .download(&format!(
                "/api/v1/campaigns/{id}/messages/export?format=tsv&status=suppressed"
            ))
            .await;
        assert_eq!(d.status, StatusCode::OK);
        let rows = delimited(&d.bytes, b'\t');
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert_eq!(rows[1][1], "'+61412345612");
        assert_eq!(rows[1][2], "suppressed");

        let (s, b) = app
            .get(&format!(
                "/api/v1/campaigns/{id}/messages/export?status=lost"
            ))
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(field(&b), "status");
    }
}

#[tokio::test]
async fn another_accounts_campaign_cannot_be_exported() {
    for url in each_backend().await {
        let app = TestApp::spawn(&url).await;
        let other = app.other_key().await;
        let id = started_campaign(&app, &["0412345631"]).await;
        let d = app
            .download_with(&format!("/api/v1/campaigns/{id}/messages/export"), &other)
            .await;
        assert_eq!(d.status, StatusCode::NOT_FOUND);
        let (s, _) = app
            .get("/api/v1/campaigns/999999/messages/export?format=csv")
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn the_export_paths_are_in_the_openapi_document() {
    let app = TestApp::spawn(&each_backend().await[0]).await;
    let (s, doc) = app.get("/api/v1/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    for path in [
        "/api/v1/optouts/export",
        "/api/v1/optouts/{number}/events/export",
        "/api/v1/optouts/{number}/evidence",
        "/api/v1/campaigns/{id}/messages/export",
    ] {
        assert!(doc["paths"][path]["get"].is_object(), "{path}");
    }
}

// --- the CLI ---------------------------------------------------------------------------

const BIN: &str = env!("CARGO_BIN_EXE_stoplist");

fn run(db: &str, args: &[&str]) -> std::process::Output {
    let o = std::process::Command::new(BIN)
        .arg("--database")
        .arg(db)
        .args(args)
        .env_remove("STOPLIST_ACCOUNT")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run stoplist");
    assert!(o.status.success(), "{args:?}: {o:?}");
    o
}

#[test]
fn optouts_export_writes_the_list_to_the_file_and_says_how_many_rows() {
    let db = stoplist_store::testing::sqlite_url();
    run(&db, &["account", "create", "default"]);
    run(
        &db,
        &[
            "optouts",
            "add",
            "0412345601",
            "0412345602",
            "--evidence",
            "@SUM(A1)",
        ],
    );
    let dir = std::env::temp_dir().join(format!("stoplist-cli-export-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("list.csv");
    let o = run(
        &db,
        &[
            "optouts",
            "export",
            "--format",
            "csv",
            "-o",
            file.to_str().unwrap(),
        ],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("wrote 2 rows to"), "{out}");
    let rows = delimited(&std::fs::read(&file).unwrap(), b',');
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[1][0], "'+61412345602");
    assert_eq!(rows[1][4], "'@SUM(A1)");

    // The format follows the file's extension when --format is absent.
    let book = dir.join("list.xlsx");
    run(
        &db,
        &[
            "report",
            "optouts",
            "--search",
            "601",
            "-o",
            book.to_str().unwrap(),
        ],
    );
    let mut xlsx = Xlsx::new(Cursor::new(std::fs::read(&book).unwrap())).unwrap();
    let sheet = xlsx.worksheet_range_at(0).unwrap().unwrap();
    assert_eq!(sheet.height(), 2, "a header and the one match");

    let bundle = dir.join("evidence.json");
    let o = run(
        &db,
        &[
            "report",
            "evidence",
            "0412345601",
            "--format",
            "json",
            "-o",
            bundle.to_str().unwrap(),
        ],
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("wrote 1 events"));
    let b: Value = serde_json::from_slice(&std::fs::read(&bundle).unwrap()).unwrap();
    assert_eq!(b["chain_verified"], true);
    assert_eq!(b["events"][0]["actor"]["kind"], "cli");
    std::fs::remove_dir_all(&dir).unwrap();
}
