//! The Incoming report end to end (SPEC 3.8): replies recorded through the real generic
//! webhook on a real server over loopback, then exported through the API as CSV, TSV, XLSX and
//! PDF and read back with the parsers a user's tools would use; its filters and their errors;
//! the CLI's `report incoming`; and the web UI's Reports → Incoming page with its export
//! buttons. The API tests run once per backend (SQLite, and PostgreSQL when
//! `STOPLIST_TEST_PG_URL` is set).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use calamine::{Data, Reader, Xlsx};
use common::exports::{delimited, pdftotext};
use common::{TestApp, code, each_backend, field, send};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::Cursor;
use std::time::{Duration, Instant};
use stoplist::config::Config;
use stoplist_domain::AccountId;

/// The report's header row.
const HEADER: [&str; 8] = [
    "received_at",
    "from",
    "to",
    "text",
    "class",
    "tier",
    "matched_campaign",
    "actions",
];

/// A text a spreadsheet would run as a command.
const FORMULA: &str = "=cmd|' /C calc'!A0";

async fn spawn(url: &str) -> TestApp {
    TestApp::spawn_with(
        url,
        Config {
            default_send_rate: 0,
            dispatch_poll_ms: 50,
            ..Config::default()
        },
    )
    .await
}

async fn webhook_token(app: &TestApp, account: AccountId) -> String {
    app.store
        .account(account)
        .await
        .unwrap()
        .unwrap()
        .webhook_token
}

/// Posts a reply to an account's generic webhook, received at `at`.
async fn reply(app: &TestApp, token: &str, id: &str, from: &str, text: &str, at: &str) -> Value {
    let (s, b) = send(
        app.http
            .post(format!("{}/webhooks/generic/{token}", app.base))
            .json(&json!({"id": id, "from": from, "to": "+61400000000", "text": text, "received_at": at})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "webhook: {b}");
    b
}

/// A campaign "Spring sale" sent to 0412 345 601 (through the default connector), so that
/// the number's replies are matched to it.
async fn sent_campaign(app: &TestApp) -> i64 {
    let id = app.campaign(json!({"name": "Spring sale", "sender_id": "ACME", "message": "Sale on now", "numbers": ["0412345601"]})).await;
    let (s, b) = app
        .post(&format!("/api/v1/campaigns/{id}/send"), json!({}))
        .await;
    assert!(s.is_success(), "{b}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while app.get(&format!("/api/v1/campaigns/{id}")).await.1["counts"]["sent"] != 1 {
        assert!(Instant::now() < deadline, "the campaign was never sent");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    id
}

/// Four replies of `acme`, oldest first (ids in the same order), and one of another account:
/// 1. +61412345601 "STOP" on 1 Nov, matched to "Spring sale" → opt_out
/// 2. +61412345602 a formula on 10 Nov
/// 3. +61499000003 "HELP" on 20 Nov → help
/// 4. +61412345601 "What time do you open?" on 25 Nov
async fn seed(app: &TestApp) {
    sent_campaign(app).await;
    let t = webhook_token(app, app.account).await;
    let r = reply(
        app,
        &t,
        "m1",
        "+61412345601",
        "STOP",
        "2026-11-01T10:00:00Z",
    )
    .await;
    assert_eq!(r["classification"], "opt_out", "{r}");
    reply(
        app,
        &t,
        "m2",
        "+61412345602",
        FORMULA,
        "2026-11-10T10:00:00Z",
    )
    .await;
    let r = reply(
        app,
        &t,
        "m3",
        "+61499000003",
        "HELP",
        "2026-11-20T10:00:00Z",
    )
    .await;
    assert_eq!(r["classification"], "help", "{r}");
    reply(
        app,
        &t,
        "m4",
        "+61412345601",
        "What time do you open?",
        "2026-11-25T10:00:00Z",
    )
    .await;
    let other = stoplist::accounts::create_account(app.store.as_ref(), "other")
        .await
        .unwrap();
    let t = webhook_token(app, other.id).await;
    reply(
        app,
        &t,
        "x1",
        "+61477777777",
        "STOP",
        "2026-11-15T10:00:00Z",
    )
    .await;
}

/// The CSV export of `query` (on `/api/v1/replies/export`), data rows only.
async fn csv_rows(app: &TestApp, query: &str) -> Vec<Vec<String>> {
    let d = app
        .download(&format!("/api/v1/replies/export?{query}"))
        .await;
    assert_eq!(d.status, StatusCode::OK, "{query}");
    let mut rows = delimited(&d.bytes, b',');
    assert_eq!(rows[0], HEADER);
    rows.remove(0);
    rows
}

/// The texts of the rows, in order.
fn texts(rows: &[Vec<String>]) -> Vec<&str> {
    rows.iter().map(|r| r[3].as_str()).collect()
}

#[tokio::test]
async fn the_incoming_report_exports_as_csv_newest_first_with_formula_text_neutralised() {
    for url in each_backend().await {
        let app = spawn(&url).await;
        seed(&app).await;
        let d = app.download("/api/v1/replies/export?format=csv").await;
        assert_eq!(d.status, StatusCode::OK);
        assert_eq!(d.content_type, "text/csv; charset=utf-8");
        assert_eq!(
            d.disposition,
            format!(
                "attachment; filename=\"incoming-{}.csv\"",
                &stoplist::rfc3339(stoplist::now_ms())[..10]
            )
        );
        let rows = delimited(&d.bytes, b',');
        assert_eq!(rows[0], HEADER);
        assert_eq!(rows.len(), 5, "a header and acme's four replies: {rows:?}");
        assert_eq!(
            texts(&rows[1..]),
            [
                "What time do you open?",
                "HELP",
                &format!("'{FORMULA}"),
                "STOP"
            ],
            "newest first; the formula is quoted"
        );
        let stop = &rows[4];
        assert_eq!(stop[0], "2026-11-01T10:00:00Z");
        assert_eq!(stop[1], "'+61412345601", "numbers stay text");
        assert_eq!(stop[2], "'+61400000000");
        assert_eq!((stop[4].as_str(), stop[5].as_str()), ("opt_out", "keyword"));
        assert_eq!(stop[6], "Spring sale");
        assert!(stop[7].starts_with("opted_out"), "{}", stop[7]);
        assert!(stop[7].contains("; "), "actions joined: {}", stop[7]);
        assert_eq!(rows[2][4], "help");
        assert!(
            !rows.iter().flatten().any(|c| c.contains("61477777777")),
            "another account's reply is not in the report"
        );
    }
}

#[tokio::test]
async fn the_incoming_report_exports_as_tsv_xlsx_and_pdf() {
    for url in each_backend().await {
        let app = spawn(&url).await;
        seed(&app).await;

        let d = app.download("/api/v1/replies/export?format=tsv").await;
        assert_eq!(d.status, StatusCode::OK);
        assert_eq!(d.content_type, "text/tab-separated-values; charset=utf-8");
        assert!(d.disposition.ends_with(".tsv\""), "{}", d.disposition);
        let rows = delimited(&d.bytes, b'\t');
        assert_eq!(rows.len(), 5);
        assert_eq!(rows[0], HEADER);
        assert_eq!(rows[3][3], format!("'{FORMULA}"));
        assert_eq!(rows[2][1], "'+61499000003");

        let d = app.download("/api/v1/replies/export?format=xls").await;
        assert_eq!(d.status, StatusCode::OK);
        assert_eq!(
            d.content_type,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        );
        assert!(d.disposition.ends_with(".xlsx\""), "{}", d.disposition);
        let mut book = Xlsx::new(Cursor::new(d.bytes)).unwrap();
        let sheet = book.worksheet_range_at(0).unwrap().unwrap();
        let rows: Vec<Vec<Data>> = sheet.rows().map(<[Data]>::to_vec).collect();
        assert_eq!(rows.len(), 5);
        assert_eq!(rows[0][0], Data::String("received_at".into()));
        assert_eq!(
            rows[3][3],
            Data::String(FORMULA.into()),
            "exact, a string, never a formula"
        );
        assert_eq!(rows[4][1], Data::String("+61412345601".into()));
        assert_eq!(rows[4][6], Data::String("Spring sale".into()));

        let d = app
            .download("/api/v1/replies/export?format=pdf&class=opt_out&from=2026-11-01")
            .await;
        assert_eq!(d.status, StatusCode::OK);
        assert_eq!(d.content_type, "application/pdf");
        assert!(d.disposition.ends_with(".pdf\""), "{}", d.disposition);
        assert!(d.bytes.starts_with(b"%PDF-"));
        if let Some(text) = pdftotext(&d.bytes) {
            for expected in [
                "Incoming replies",
                "acme",
                "Class: opt_out",
                "Received from: 2026-11-01T00:00:00Z",
                "received_at",
                "+61412345601",
                "Spring sale",
                "Page 1",
            ] {
                assert!(text.contains(expected), "{expected:?} in {text}");
            }
            assert!(!text.contains("HELP"), "filtered out: {text}");
        }
    }
}

#[tokio::test]
async fn the_incoming_export_filters_by_dates_class_and_number() {
    for url in each_backend().await {
        let app = spawn(&url).await;
        seed(&app).await;
        // A date `to` includes its whole day; an RFC 3339 `to` is "before".
        let rows = csv_rows(&app, "from=2026-11-05&to=2026-11-20").await;
        assert_eq!(texts(&rows), ["HELP", format!("'{FORMULA}").as_str()]);
        let rows = csv_rows(&app, "from=2026-11-05&to=2026-11-20T10:00:00Z").await;
        assert_eq!(texts(&rows), [format!("'{FORMULA}").as_str()]);
        let rows = csv_rows(&app, "from=2026-11-20T20:00:00%2B10:00").await;
        assert_eq!(texts(&rows), ["What time do you open?", "HELP"]);
        let rows = csv_rows(&app, "class=help").await;
        assert_eq!(texts(&rows), ["HELP"]);
        // A whole number in national form, or a part of one.
        let rows = csv_rows(&app, "number=0412%20345%20601").await;
        assert_eq!(texts(&rows), ["What time do you open?", "STOP"]);
        let rows = csv_rows(&app, "number=345&class=other").await;
        assert!(texts(&rows).contains(&"What time do you open?"), "{rows:?}");
        assert!(!texts(&rows).contains(&"HELP"));
        let rows = csv_rows(&app, "class=unclear&from=2026-11-26").await;
        assert!(rows.is_empty(), "{rows:?}");
        // The JSON list reads the filters the same way.
        let (s, b) = app.get("/api/v1/replies?number=0412345601").await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(b["items"].as_array().unwrap().len(), 2, "{b}");
    }
}

#[tokio::test]
async fn bad_export_inputs_are_422_naming_the_field() {
    for url in each_backend().await {
        let app = spawn(&url).await;
        for (query, bad) in [
            ("format=docx", "format"),
            ("from=2026-02-30", "from"),
            ("from=yesterday", "from"),
            ("to=2026-11-28T25:00:00Z", "to"),
            ("from=2026-11-20&to=2026-11-01", "to"),
            ("class=spam", "class"),
            ("number=nobody", "number"),
        ] {
            for path in ["/api/v1/replies/export", "/api/v1/replies"] {
                if path == "/api/v1/replies" && bad == "format" {
                    continue;
                }
                let (s, b) = app.get(&format!("{path}?{query}")).await;
                assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{path}?{query}: {b}");
                assert_eq!(field(&b), bad, "{path}?{query}: {b}");
                assert_eq!(code(&b), "invalid_field", "{path}?{query}");
            }
        }
        let (_, b) = app.get("/api/v1/replies/export?class=spam").await;
        let message = b["error"]["message"].as_str().unwrap();
        assert!(message.contains("opt_out, opt_in, help"), "{message}");
        let resp = app
            .http
            .get(format!("{}/api/v1/replies/export", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::UNAUTHORIZED,
            "an API key is needed"
        );
    }
}

#[tokio::test]
async fn the_export_path_is_in_the_openapi_document() {
    let app = spawn(&each_backend().await[0]).await;
    let (s, doc) = app.get("/api/v1/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    let op = &doc["paths"]["/api/v1/replies/export"]["get"];
    assert!(op.is_object(), "{doc}");
    let params: Vec<&str> = op["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["format", "from", "to", "class", "number"]);
}

/// More replies than a PDF takes, written straight into the SQLite file (a webhook each would
/// take minutes): a PDF is refused pointing to CSV, and the CSV has every row.
#[tokio::test]
async fn a_pdf_of_more_than_100000_replies_is_refused_and_the_csv_has_them_all() {
    let url = stoplist_store::testing::sqlite_url();
    let app = spawn(&url).await;
    let raw = stoplist_store::SqliteStore::open(&url).await.unwrap();
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100001)
         INSERT INTO replies (account_id, provider, provider_message_id, from_number, to_number, body,
             class, tier, actions_json, received_at, created_at)
         SELECT $1, 'generic', 'bulk-' || i, '+614' || (10000000 + i), '+61400000000', 'thanks ' || i,
             'other', 'fallback', '[]', 1795000000000 + i, 1795000000000 + i FROM n",
    )
    .bind(app.account.0)
    .execute(raw.pool())
    .await
    .unwrap();
    let (s, b) = app.get("/api/v1/replies/export?format=pdf").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(field(&b), "format");
    assert_eq!(code(&b), "too_many_rows");
    assert!(b["error"]["message"].as_str().unwrap().contains("CSV"));
    // Narrowed by a filter, the PDF is fine.
    let d = app
        .download("/api/v1/replies/export?format=pdf&number=410000100")
        .await;
    assert_eq!(d.status, StatusCode::OK);
    assert!(d.bytes.starts_with(b"%PDF-"));

    let d = app.download("/api/v1/replies/export?format=csv").await;
    assert_eq!(d.status, StatusCode::OK);
    let rows = delimited(&d.bytes, b',');
    assert_eq!(rows.len(), 100_002, "a header and every reply");
    assert_eq!(rows[1][3], "thanks 100001", "newest first");
    assert_eq!(rows[100_001][3], "thanks 1");
}

// --- the CLI ---------------------------------------------------------------------------

const BIN: &str = env!("CARGO_BIN_EXE_stoplist");

fn run(db: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(BIN)
        .arg("--database")
        .arg(db)
        .args(args)
        .env_remove("STOPLIST_ACCOUNT")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run stoplist")
}

#[tokio::test]
async fn report_incoming_writes_a_pdf_and_a_csv_and_says_how_many_rows() {
    let db = stoplist_store::testing::sqlite_url();
    let app = spawn(&db).await;
    seed(&app).await;
    let dir = std::env::temp_dir().join(format!("stoplist-cli-incoming-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let pdf = dir.join("incoming.pdf");
    let o = run(
        &db,
        &[
            "report",
            "incoming",
            "--account",
            "acme",
            "--from",
            "2026-11-05",
            "--to",
            "2026-11-30",
            "--format",
            "pdf",
            "-o",
            pdf.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{o:?}");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(&format!("wrote 3 replies to {}", pdf.display())),
        "{out}"
    );
    let bytes = std::fs::read(&pdf).unwrap();
    assert!(bytes.starts_with(b"%PDF-"));
    if let Some(text) = pdftotext(&bytes) {
        assert!(
            text.contains("Received before: 2026-12-01T00:00:00Z"),
            "{text}"
        );
        assert!(text.contains("HELP") && !text.contains("STOP"), "{text}");
    }

    // The format follows the file's extension when --format is absent.
    let csv = dir.join("opt-outs.csv");
    let o = run(
        &db,
        &[
            "report",
            "incoming",
            "--account",
            "acme",
            "--class",
            "opt_out",
            "--number",
            "0412 345 601",
            "-o",
            csv.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("wrote 1 replies"));
    let rows = delimited(&std::fs::read(&csv).unwrap(), b',');
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1][3], "STOP");
    assert_eq!(rows[1][6], "Spring sale");

    // A bad filter is refused with the field named, and no file is written.
    let bad = dir.join("bad.csv");
    let o = run(
        &db,
        &[
            "report",
            "incoming",
            "--account",
            "acme",
            "--from",
            "2026-02-30",
            "-o",
            bad.to_str().unwrap(),
        ],
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("from: \"2026-02-30\" is not a date"), "{err}");
    assert!(!bad.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

// --- the web UI ------------------------------------------------------------------------

mod ui {
    use super::*;
    use common::ui::{UiApp, location, spawn_ui};

    /// Posts a reply to the UI account's generic webhook.
    async fn ui_reply(app: &UiApp, id: &str, from: &str, text: &str, at: &str) {
        let token = app
            .store
            .account(app.account)
            .await
            .unwrap()
            .unwrap()
            .webhook_token;
        let r = app
            .client
            .post(app.url(&format!("/webhooks/generic/{token}")))
            .json(&json!({"id": id, "from": from, "to": "+61400000000", "text": text, "received_at": at}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "webhook answered {}", r.status());
    }

    /// The `<tbody>` of a page (the rows, without the filters and headings).
    fn tbody(html: &str) -> &str {
        match (html.find("<tbody>"), html.find("</tbody>")) {
            (Some(a), Some(b)) => &html[a..b],
            _ => "",
        }
    }

    #[tokio::test]
    async fn reports_incoming_lists_replies_with_filters_and_export_buttons() {
        let app = spawn_ui(Config::default(), "Acme", 0, true).await;
        let empty = app.page("/reports/incoming").await;
        assert!(empty.contains("No replies yet"), "{empty}");
        ui_reply(&app, "u1", "+61412345601", "STOP", "2026-11-01T10:00:00Z").await;
        ui_reply(&app, "u2", "+61499000003", "HELP", "2026-11-20T10:00:00Z").await;
        ui_reply(
            &app,
            "u3",
            "+61412345602",
            "<b>hi</b>",
            "2026-11-21T10:00:00Z",
        )
        .await;

        let r = app.get("/reports").await;
        assert_eq!(location(&r), "/reports/incoming");

        let html = app.page("/reports/incoming").await;
        assert!(
            html.contains(r#"<a href="/reports/incoming" aria-current="page">Reports</a>"#),
            "the main nav marks Reports"
        );
        let rows = tbody(&html);
        assert!(rows.contains("STOP") && rows.contains("HELP"), "{rows}");
        assert!(
            rows.contains("hi") && !rows.contains("<b>hi</b>"),
            "text escaped: {rows}"
        );
        assert!(rows.find("HELP") < rows.find("STOP"), "newest first");
        assert!(
            rows.contains(
                r#"<span class="class opt_out">Opt-out</span> <span class="tier">keyword</span>"#
            ),
            "classes and rules read as on the Replies page: {rows}"
        );
        for (format, label) in [
            ("csv", "CSV"),
            ("tsv", "TSV"),
            ("xlsx", "XLSX"),
            ("pdf", "PDF"),
        ] {
            assert!(
                html.contains(&format!(
                    r#"href="/reports/incoming/export?format={format}" download>{label}<"#
                )),
                "{format} button"
            );
        }
        for label in ["From date", "To date", "Classification", "Number"] {
            assert!(html.contains(&format!(">{label}</label>")), "{label}");
        }

        // Filtered: the table and the export buttons carry the filters.
        let html = app
            .page("/reports/incoming?class=help&from=2026-11-15&number=")
            .await;
        let rows = tbody(&html);
        assert!(rows.contains("HELP") && !rows.contains("STOP"), "{rows}");
        assert!(html.contains(r#"<option value="help" selected>"#));
        assert!(
            html.contains(
                r#"href="/reports/incoming/export?from=2026-11-15&#38;class=help&#38;format=csv""#
            ),
            "{html}"
        );

        // The button's download, with the session cookie.
        let r = app
            .get("/reports/incoming/export?from=2026-11-15&class=help&format=csv")
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            r.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .starts_with("attachment; filename=\"incoming-")
        );
        let rows = delimited(&r.bytes().await.unwrap(), b',');
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert_eq!(rows[1][3], "HELP");
        let r = app.get("/reports/incoming/export?format=pdf").await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], "application/pdf");
    }

    #[tokio::test]
    async fn a_bad_filter_is_shown_beside_its_field_and_exports_need_a_session() {
        let app = spawn_ui(Config::default(), "Acme", 0, true).await;
        let r = app.get("/reports/incoming?from=2026-02-30").await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = r.text().await.unwrap();
        assert!(html.contains(r#"id="filter-from-error""#), "{html}");
        assert!(html.contains("is not a date"), "{html}");
        assert!(
            !html.contains("/reports/incoming/export?"),
            "no export of a bad filter"
        );
        let r = app.get("/reports/incoming/export?class=spam").await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

        let stranger = common::ui::client();
        for path in ["/reports/incoming", "/reports/incoming/export?format=csv"] {
            let r = stranger.get(app.url(path)).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
            assert!(location(&r).starts_with("/login"), "{path}");
        }
    }
}
