//! Imports and opt-out uploads end to end: the API with real HTTP on loopback, and the CLI
//! killed mid-import. A fresh SQLite file per test, plus PostgreSQL when
//! `STOPLIST_TEST_PG_URL` is set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::TestApp;
use reqwest::StatusCode;
use serde_json::json;
use stoplist::config::Config;

const CONTACTS: &str = "First Name;Surname;Mobile Phone;E-mail\n\
Ann;Lee;0412 345 601;ann@example.com\n\
Bob;Ng;+61 412 345 602;bob@example.com\n\
Cat;Wu;61412345601;cat@example.com\n\
Dan;Xu;not a number;dan@example.com\n\
Eve;Yo;0412345605;eve@example.com\n\
Fay;Zo;0412345606;fay@example.com\n";

#[tokio::test]
async fn a_contact_file_lands_with_a_report_and_its_rejected_rows() {
    for url in stoplist_store::testing::fresh_urls().await.unwrap() {
        let app = TestApp::spawn_with(&url, Config::default()).await;
        let gid = app.group("Customers").await;
        app.listed(
            "0412345605",
            stoplist_domain::rules::OptOutEvent::Added(stoplist_domain::rules::AddedBy::Manual),
        )
        .await;
        let reply = stoplist_domain::rules::OptOutEvent::ReplyOptOut {
            matched_campaign: false,
        };
        app.listed("0412345606", reply).await;

        let (s, r) = app
            .upload(
                &format!("/api/v1/groups/{gid}/imports"),
                "file_name=contacts.csv&wait=true",
                CONTACTS,
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{r}");
        assert_eq!(r["status"], "done");
        let c = &r["counts"];
        assert_eq!(
            (
                c["rows_read"].as_i64(),
                c["imported"].as_i64(),
                c["duplicates"].as_i64(),
                c["invalid"].as_i64(),
                c["skipped_opted_out"].as_i64()
            ),
            (Some(6), Some(2), Some(1), Some(1), Some(2)),
            "{r}"
        );
        let (_, page) = app.get(&format!("/api/v1/groups/{gid}/contacts")).await;
        let names: Vec<_> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["first_name"].clone())
            .collect();
        assert_eq!(names, [json!("Ann"), json!("Bob")]);

        let csv = app
            .http
            .get(format!(
                "{}{}",
                app.base,
                r["rejects_url"].as_str().unwrap()
            ))
            .bearer_auth(&app.key)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let lines: Vec<_> = csv.lines().collect();
        assert_eq!(lines[0], "row,value,reason");
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("4,") && l.contains("duplicate of row 2")),
            "{csv}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("5,not a number,invalid number: not a number")),
            "{csv}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("6,") && l.ends_with(",opted out")),
            "{csv}"
        );

        // Importing the same file again: updates, nothing new.
        let (_, r) = app
            .upload(
                &format!("/api/v1/groups/{gid}/imports"),
                "file_name=contacts.csv&wait=true",
                CONTACTS,
            )
            .await;
        assert_eq!(
            (
                r["counts"]["imported"].as_i64(),
                r["counts"]["updated"].as_i64()
            ),
            (Some(0), Some(2))
        );
    }
}

#[tokio::test]
async fn a_reset_needs_a_reason_and_never_lifts_an_enforced_reply_opt_out() {
    for url in stoplist_store::testing::fresh_urls().await.unwrap() {
        let app = TestApp::spawn_with(&url, Config::default()).await;
        let gid = app.group("G").await;
        app.listed(
            "0412345605",
            stoplist_domain::rules::OptOutEvent::Added(stoplist_domain::rules::AddedBy::Manual),
        )
        .await;
        app.listed(
            "0412345606",
            stoplist_domain::rules::OptOutEvent::ReplyOptOut {
                matched_campaign: false,
            },
        )
        .await;
        let path = format!("/api/v1/groups/{gid}/imports");
        let (s, b) = app
            .upload(&path, "reset_optouts=true&wait=true", CONTACTS)
            .await;
        assert_eq!(
            (s, b["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("reason"))
        );

        let (_, dry) = app
            .upload(
                &path,
                "reset_optouts=true&reason=re-consented&dry_run=true&wait=true",
                CONTACTS,
            )
            .await;
        assert_eq!(
            (
                dry["counts"]["lifted"].as_i64(),
                dry["counts"]["skipped_enforced"].as_i64()
            ),
            (Some(1), Some(1))
        );
        assert!(
            app.opted_out("0412345605").await,
            "a dry run changes nothing"
        );

        let (_, r) = app
            .upload(
                &path,
                "reset_optouts=true&reason=re-consented&wait=true",
                CONTACTS,
            )
            .await;
        assert_eq!(
            (
                r["counts"]["lifted"].as_i64(),
                r["counts"]["imported"].as_i64()
            ),
            (Some(1), Some(3)),
            "{r}"
        );
        assert!(!app.opted_out("0412345605").await);
        assert!(
            app.opted_out("0412345606").await,
            "a reply opt-out stays under Enforce Global Optouts"
        );
        let (_, h) = app.get("/api/v1/optouts/0412345605/events").await;
        let last = h["events"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(
            (last["source"].as_str(), last["reason"].as_str()),
            (Some("import_reset"), Some("re-consented"))
        );
    }
}

#[tokio::test]
async fn an_opt_out_upload_lists_numbers_and_lookups_see_them_at_once() {
    for url in stoplist_store::testing::fresh_urls().await.unwrap() {
        let app = TestApp::spawn_with(&url, Config::default()).await;
        assert!(!app.opted_out("0412345601").await, "loads the index first");
        let (s, r) = app
            .upload(
                "/api/v1/optouts/uploads",
                "file_name=stop.txt&wait=true",
                "0412345601\n0412345602\n0412345601\nxyz\n",
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{r}");
        assert_eq!(
            (
                r["counts"]["imported"].as_i64(),
                r["counts"]["duplicates"].as_i64(),
                r["counts"]["invalid"].as_i64()
            ),
            (Some(2), Some(1), Some(1))
        );
        assert!(app.opted_out("0412345601").await);
        let (_, b) = app.get("/api/v1/optouts/0412345602").await;
        assert_eq!(b["source"], "upload");
    }
}

/// Fetches an import's rejected rows (the CSV the report links to).
async fn rejects_csv(app: &TestApp, report: &serde_json::Value) -> String {
    app.http
        .get(format!(
            "{}{}",
            app.base,
            report["rejects_url"].as_str().unwrap()
        ))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_dry_runs_rejected_rows_list_duplicates_and_opted_out_rows_too() {
    for url in stoplist_store::testing::fresh_urls().await.unwrap() {
        let app = TestApp::spawn_with(&url, Config::default()).await;
        let gid = app.group("Customers").await;
        app.listed(
            "0412345605",
            stoplist_domain::rules::OptOutEvent::Added(stoplist_domain::rules::AddedBy::Manual),
        )
        .await;
        let (s, r) = app
            .upload(
                &format!("/api/v1/groups/{gid}/imports"),
                "file_name=contacts.csv&wait=true&dry_run=true",
                CONTACTS,
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{r}");
        let csv = rejects_csv(&app, &r).await;
        let rows: Vec<_> = csv
            .lines()
            .skip(1)
            .map(|l| l.split(',').next().unwrap())
            .collect();
        assert_eq!(rows, ["4", "5", "6"], "{csv}");
        assert!(csv.contains("duplicate of row 2"), "{csv}");
        assert!(csv.contains("invalid number"), "{csv}");
        assert!(csv.contains("opted out"), "{csv}");
        let (_, page) = app.get(&format!("/api/v1/groups/{gid}/contacts")).await;
        assert_eq!(page["items"].as_array().unwrap().len(), 0, "a dry run");
    }
}

#[tokio::test]
async fn a_mapping_can_say_an_optional_field_has_no_column() {
    let app = TestApp::spawn_with(&stoplist_store::testing::sqlite_url(), Config::default()).await;
    let gid = app.group("G").await;
    let (s, r) = app
        .upload(
            &format!("/api/v1/groups/{gid}/imports"),
            "file_name=c.csv&wait=true&mapping=first_name%3Dnone,email%3D-",
            "Mobile,First Name,Email\n0412345601,Ann,ann@example.com\n",
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["counts"]["imported"], 1, "{r}");
    let (_, page) = app.get(&format!("/api/v1/groups/{gid}/contacts")).await;
    let c = &page["items"][0];
    assert_eq!(
        (&c["first_name"], &c["email"]),
        (&json!(null), &json!(null)),
        "{page}"
    );

    let (s, r) = app
        .upload(
            &format!("/api/v1/groups/{gid}/imports"),
            "file_name=c.csv&wait=true&mapping=mobile%3Dnone",
            "Mobile\n0412345601\n",
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{r}");
    assert!(r.to_string().contains("the number needs a column"), "{r}");
}

#[tokio::test]
async fn an_opt_out_upload_of_many_numbers_lists_each_once_with_a_chained_event() {
    for url in stoplist_store::testing::fresh_urls().await.unwrap() {
        let app = TestApp::spawn_with(&url, Config::default()).await;
        // More numbers than one batch of the pipeline and many statements of the store.
        let mut file = String::new();
        for i in 0..25_000u32 {
            file.push_str(&format!("+6141{:07}\n", i * 3));
        }
        // Duplicates in the first batch and in the last (the upload's own transaction is
        // open by then: they must go into it).
        file.push_str("+61410000000\n");
        file.push_str(&format!("+6141{:07}\n", 24_999 * 3));
        let (s, r) = app
            .upload(
                "/api/v1/optouts/uploads",
                "file_name=many.txt&wait=true",
                file,
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{r}");
        assert_eq!(
            (
                r["counts"]["imported"].as_i64(),
                r["counts"]["duplicates"].as_i64()
            ),
            (Some(25_000), Some(2)),
            "{r}"
        );
        let events = app
            .store
            .events_after(app.account, 0, 30_000)
            .await
            .unwrap();
        assert_eq!(events.len(), 25_000);
        let chain: Vec<_> = events.into_iter().map(|e| e.event).collect();
        stoplist_domain::ledger::verify_chain(
            (0, stoplist_domain::ledger::Digest32::GENESIS),
            &chain,
        )
        .unwrap();
        assert!(app.opted_out("0410003000").await);
    }
}

#[tokio::test]
async fn bad_files_are_refused_with_what_is_wrong_and_nothing_changes() {
    let app = TestApp::spawn_with(
        &stoplist_store::testing::sqlite_url(),
        Config {
            max_upload_bytes: 1000,
            ..Default::default()
        },
    )
    .await;
    let gid = app.group("G").await;
    let path = format!("/api/v1/groups/{gid}/imports");
    let png = [
        0x89u8, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, b'I', b'H', b'D', b'R',
    ];
    let (s, b) = app
        .upload(&path, "file_name=contacts.csv", png.to_vec())
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        b["error"]["message"].as_str().unwrap().contains("PNG"),
        "{b}"
    );
    let (s, b) = app.upload(&path, "file_name=empty.csv", "").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        b["error"]["message"].as_str().unwrap().contains("empty"),
        "{b}"
    );
    let (s, b) = app
        .upload(&path, "file_name=names.csv", "Name,City\nAnn,Perth\n")
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        b["error"]["message"].as_str().unwrap().contains("\"City\""),
        "lists the headers: {b}"
    );
    let (s, b) = app
        .upload(
            &path,
            "file_name=big.csv",
            "Mobile\n".to_owned() + &"0412345678\n".repeat(200),
        )
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large"))
    );
    let (s, b) = app
        .upload(&path, "mapping=mobile=Phone", "Mobile\n0412345678\n")
        .await;
    assert_eq!(
        (s, b["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("mapping.mobile"))
    );
    let (_, g) = app.get(&format!("/api/v1/groups/{gid}")).await;
    assert_eq!(g["contact_count"], 0);
    let (_, list) = app.get("/api/v1/imports").await;
    assert!(
        list["items"].as_array().unwrap().is_empty(),
        "refused files record no import"
    );
}

/// Every contact of the group as (number, first name), by number.
async fn contacts_of(app: &TestApp, gid: i64) -> Vec<(String, String)> {
    let (_, page) = app
        .get(&format!("/api/v1/groups/{gid}/contacts?limit=1000"))
        .await;
    let mut all: Vec<(String, String)> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["number"].as_str().unwrap_or_default().to_owned(),
                c["first_name"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    all.sort();
    all
}

#[tokio::test]
async fn two_imports_into_one_group_at_once_both_land_whole() {
    for url in stoplist_store::testing::fresh_urls().await.unwrap() {
        let app = TestApp::spawn_with(&url, Config::default()).await;
        let gid = app.group("Shared").await;
        let path = format!("/api/v1/groups/{gid}/imports");
        // Rows 0..300 from one file, 200..500 from the other: 100 numbers in both.
        let file = |from: u32, to: u32, name: &str| {
            let mut text = String::from("Mobile,First Name\n");
            for i in from..to {
                text.push_str(&format!("04120{i:05},{name}{i}\n"));
            }
            text
        };
        let (a, b) = tokio::join!(
            app.upload(&path, "file_name=a.csv&wait=true", file(0, 300, "A")),
            app.upload(&path, "file_name=b.csv&wait=true", file(200, 500, "B")),
        );
        assert_eq!(
            (a.0, b.0),
            (StatusCode::CREATED, StatusCode::CREATED),
            "{a:?} {b:?}"
        );
        assert_eq!(
            (a.1["status"].as_str(), b.1["status"].as_str()),
            (Some("done"), Some("done"))
        );
        let counts = |r: &serde_json::Value| {
            (
                r["counts"]["imported"].as_i64().unwrap(),
                r["counts"]["updated"].as_i64().unwrap(),
            )
        };
        let ((ai, au), (bi, bu)) = (counts(&a.1), counts(&b.1));
        // One of them ran first: it imported all 300; the other imported 200 and updated 100.
        assert_eq!(ai + bi, 500, "{a:?} {b:?}");
        assert_eq!(au + bu, 100, "{a:?} {b:?}");
        assert_eq!(ai + au, 300);
        assert_eq!(bi + bu, 300);
        let all = contacts_of(&app, gid).await;
        assert_eq!(all.len(), 500);
        // The shared numbers carry the fields of whichever import committed last, whole.
        let shared: Vec<_> = all[200..300].iter().map(|(_, f)| &f[..1]).collect();
        assert!(
            shared.iter().all(|f| *f == "A") || shared.iter().all(|f| *f == "B"),
            "one import's fields, not a mix: {shared:?}"
        );
    }
}

#[tokio::test]
async fn bad_rows_are_reported_with_their_row_and_the_good_rows_still_land() {
    for url in stoplist_store::testing::fresh_urls().await.unwrap() {
        let app = TestApp::spawn_with(&url, Config::default()).await;
        let gid = app.group("G").await;
        let path = format!("/api/v1/groups/{gid}/imports");
        // Row 3 has a field too many, row 4 one too few.
        let body = "Mobile,First Name,Last Name\n\
                    0412345601,Ann,Lee\n\
                    0412345602,Bob,Ng,extra\n\
                    0412345603,Cat\n\
                    0412345604,Dan,Xu\n";
        let (s, r) = app
            .upload(&path, "file_name=ragged.csv&wait=true", body)
            .await;
        assert_eq!(s, StatusCode::CREATED, "{r}");
        let c = &r["counts"];
        assert_eq!(
            (c["imported"].as_i64(), c["invalid"].as_i64()),
            (Some(2), Some(2)),
            "{r}"
        );
        let csv = rejects_csv(&app, &r).await;
        assert!(
            csv.lines()
                .any(|l| l.starts_with("3,") && l.contains("row 3 has 4 fields")),
            "{csv}"
        );
        assert!(
            csv.lines()
                .any(|l| l.starts_with("4,") && l.contains("row 4 has 2 fields")),
            "{csv}"
        );
        assert!(csv.contains("ragged.csv"), "names the file: {csv}");
        let numbers: Vec<_> = contacts_of(&app, gid)
            .await
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(numbers, ["+61412345601", "+61412345604"]);
    }
}

#[tokio::test]
async fn a_number_column_full_of_text_imports_nothing_and_says_why_for_each_row() {
    let app = TestApp::spawn_with(&stoplist_store::testing::sqlite_url(), Config::default()).await;
    let gid = app.group("G").await;
    let path = format!("/api/v1/groups/{gid}/imports");
    let (s, r) = app
        .upload(
            &path,
            "file_name=text.csv&wait=true&mapping=mobile=Mobile",
            "Mobile,Name\ncall me,Ann\nask Bob,Bob\nn/a,Cat\n",
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let c = &r["counts"];
    assert_eq!(
        (c["imported"].as_i64(), c["invalid"].as_i64()),
        (Some(0), Some(3)),
        "{r}"
    );
    let csv = rejects_csv(&app, &r).await;
    for row in ["2,call me,", "3,ask Bob,", "4,n/a,"] {
        assert!(
            csv.lines()
                .any(|l| l.starts_with(row) && l.contains("invalid number")),
            "{row}: {csv}"
        );
    }
    let (_, g) = app.get(&format!("/api/v1/groups/{gid}")).await;
    assert_eq!(g["contact_count"], 0);
}

#[tokio::test]
async fn a_header_only_file_is_refused_naming_the_file_and_records_nothing() {
    let app = TestApp::spawn_with(&stoplist_store::testing::sqlite_url(), Config::default()).await;
    let gid = app.group("G").await;
    let (s, b) = app
        .upload(
            &format!("/api/v1/groups/{gid}/imports"),
            "file_name=header.csv",
            "Mobile,First Name\n",
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let message = b["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("header.csv") && message.contains("no rows"),
        "{b}"
    );
    let (_, list) = app.get("/api/v1/imports").await;
    assert!(list["items"].as_array().unwrap().is_empty(), "{list}");
}

#[tokio::test]
async fn another_account_cannot_see_or_use_an_import() {
    let app = TestApp::spawn_with(&stoplist_store::testing::sqlite_url(), Config::default()).await;
    let gid = app.group("G").await;
    let (_, r) = app
        .upload(
            &format!("/api/v1/groups/{gid}/imports"),
            "wait=true",
            "Mobile\n0412345678\n",
        )
        .await;
    let id = r["id"].as_i64().unwrap();
    let other = stoplist::accounts::create_account(app.store.as_ref(), "other")
        .await
        .unwrap();
    let (_, key) = stoplist::accounts::create_api_key(
        app.store.as_ref(),
        other.id,
        "o",
        stoplist_domain::Role::Owner,
        None,
    )
    .await
    .unwrap();
    for path in [
        format!("/api/v1/imports/{id}"),
        format!("/api/v1/imports/{id}/rejects"),
    ] {
        let s = app
            .http
            .get(format!("{}{path}", app.base))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
    }
    let s = app
        .http
        .post(format!("{}/api/v1/groups/{gid}/imports", app.base))
        .bearer_auth(&key)
        .body("Mobile\n0412345679\n")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(s, StatusCode::NOT_FOUND);
}

/// Where `an_import_killed_at_any_point_lands_whole_or_not_at_all` kills the import.
#[derive(Debug, Clone, Copy, PartialEq)]
enum KillAt {
    /// While it reads and sorts the file (progress recorded, no row written yet).
    Reading,
    /// While it stages batches (hidden rows written, not published).
    Staging,
    /// Right after it was published.
    Published,
}

/// `stoplist import` killed with SIGKILL while it reads the file, while it stages rows, and
/// right after it lands: before the switch nothing of it is ever seen (the group stays empty)
/// and the next server start marks it failed and deletes its hidden rows; after it, the group
/// holds all of it. (The switch itself is one transaction: a kill during it is one of the two.)
#[test]
fn an_import_killed_at_any_point_lands_whole_or_not_at_all() {
    use std::process::{Command, Stdio};
    const ROWS: u32 = 400_000;
    let bin = env!("CARGO_BIN_EXE_stoplist");
    let dir = std::env::temp_dir().join(format!("stoplist-kill-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("big.csv");
    let mut text = String::from("Mobile,First Name\n");
    for i in 0..ROWS {
        text.push_str(&format!("+614{:08},P{i}\n", 10_000_000 + i));
    }
    std::fs::write(&file, text).unwrap();
    let config = stale_import_config(&dir);
    let rt = tokio::runtime::Runtime::new().unwrap();
    for at in [KillAt::Reading, KillAt::Staging, KillAt::Published] {
        let db = stoplist_store::testing::sqlite_url();
        let run = |args: &[&str]| cli(&db, args);
        assert!(run(&["account", "create", "default"]).status.success());
        assert!(
            run(&["import", "/dev/null", "--group", "Big", "--dry-run"])
                .status
                .code()
                == Some(1)
        );
        let mut child = Command::new(bin)
            .args([
                "--database",
                &db,
                "import",
                file.to_str().unwrap(),
                "--group",
                "Big",
            ])
            .stderr(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let store = rt.block_on(stoplist_store::connect(&db)).unwrap();
        // The raw table, to see hidden rows no reader of the store sees.
        let raw = rt.block_on(sqlx::SqlitePool::connect(&db)).unwrap();
        let hidden = || -> i64 {
            rt.block_on(
                sqlx::query_scalar(
                    "SELECT COUNT(*) FROM contacts WHERE import_id IN (SELECT import_id FROM hidden_imports)",
                )
                .fetch_one(&raw),
            )
            .unwrap()
        };
        let acc = rt
            .block_on(store.account_by_name("default"))
            .unwrap()
            .unwrap()
            .id;
        let mut reached = false;
        for _ in 0..3_000 {
            let imports = rt.block_on(store.list_imports(acc, 1)).unwrap();
            let Some(i) = imports.first() else {
                std::thread::sleep(std::time::Duration::from_millis(5));
                continue;
            };
            reached = match at {
                KillAt::Reading => i.counts.rows_read > 0 && hidden() == 0,
                KillAt::Staging => hidden() > 0,
                KillAt::Published => i.status == stoplist_store::ImportStatus::Done,
            };
            if reached {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(
            reached,
            "{at:?}: the import reached that point before the kill"
        );
        let count = || rt.block_on(store.list_groups(acc)).unwrap()[0].contact_count;
        let id = rt.block_on(store.list_imports(acc, 1)).unwrap()[0].id;
        if at == KillAt::Published {
            assert_eq!(count(), i64::from(ROWS), "{at:?}: all of it landed");
            continue;
        }
        assert_eq!(count(), 0, "{at:?}: nothing of the killed import is seen");

        // Restart the server (stale after 0 s): it marks the import failed at start-up and
        // deletes its hidden rows.
        let mut server = serve_failing_stale_imports(&db, &config);
        let mut cleared = false;
        for _ in 0..1_000 {
            let rec = rt.block_on(store.import(acc, id)).unwrap().unwrap();
            if rec.status == stoplist_store::ImportStatus::Failed && hidden() == 0 {
                assert!(rec.error.unwrap().contains("interrupted"));
                cleared = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        server.kill().unwrap();
        server.wait().unwrap();
        assert!(
            cleared,
            "{at:?}: the restarted server failed the import and cleared its rows"
        );
        let left: i64 = rt
            .block_on(sqlx::query_scalar("SELECT COUNT(*) FROM contacts").fetch_one(&raw))
            .unwrap();
        assert_eq!((count(), left), (0, 0), "{at:?}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Whether the group's contacts API lists the number.
async fn in_group(app: &TestApp, gid: i64, e164: &str) -> bool {
    let q = e164.trim_start_matches("+61");
    let (_, page) = app
        .get(&format!("/api/v1/groups/{gid}/contacts?q={q}"))
        .await;
    page["items"].as_array().is_some_and(|a| !a.is_empty())
}

/// STOP replies through the generic webhook while a 100,000-row import with reset runs: every
/// reply is acknowledged, a reader never sees the group half-imported, and every number that
/// said STOP is out of the group when the import lands — also a number opted out before the
/// import, whose opt-out the reset would have lifted, when it said STOP again meanwhile. The
/// numbers listed before that stayed silent are lifted and imported.
#[tokio::test]
async fn stop_replies_during_an_import_are_answered_and_win_over_its_reset() {
    const ROWS: usize = 100_000;
    const LISTED: usize = 20;
    let e164 = |i: usize| format!("+61413{i:06}");
    for url in stoplist_store::testing::fresh_urls().await.unwrap() {
        let app = TestApp::spawn_with(&url, Config::default()).await;
        let gid = app.group("Big").await;
        let manual =
            stoplist_domain::rules::OptOutEvent::Added(stoplist_domain::rules::AddedBy::Manual);
        for i in 0..LISTED {
            app.listed(&e164(i), manual).await;
        }
        let mut file = String::from("Mobile,First Name\n");
        for i in 0..ROWS {
            file.push_str(&format!("0413{i:06},N{i}\n"));
        }
        let (s, job) = app
            .upload(
                &format!("/api/v1/groups/{gid}/imports"),
                "file_name=big.csv&reset_optouts=true&reason=re-consented",
                file,
            )
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{job}");
        let job = job["id"].as_i64().unwrap();
        // Replies, each with whether the import was still running once it was answered.
        let (mut replies, mut counts_seen) = (Vec::new(), Vec::new());
        for k in 0.. {
            counts_seen.push(
                app.get(&format!("/api/v1/groups/{gid}")).await.1["contact_count"]
                    .as_i64()
                    .unwrap(),
            );
            // Half the replies from numbers listed before the import, half from new ones.
            let n = if k % 2 == 0 && k / 2 < LISTED {
                e164(k / 2)
            } else {
                e164(1_000 + k * 97)
            };
            let running = stop_while_running(&app, k, &n, job).await;
            replies.push((n, running));
            if !running {
                break;
            }
        }
        let during = replies.iter().filter(|r| r.1).count();
        let said_stop: Vec<String> = replies.iter().map(|r| r.0.clone()).collect();
        assert!(during >= 3, "only {during} replies overlapped the import");
        let (_, done) = app.get(&format!("/api/v1/imports/{job}")).await;
        assert_eq!(done["status"], "done", "{done}");
        let stopped: std::collections::HashSet<&String> = said_stop.iter().collect();
        let last = app.get(&format!("/api/v1/groups/{gid}")).await.1["contact_count"]
            .as_i64()
            .unwrap();
        // Replies after the import landed do not take numbers out of the group (nothing
        // deletes contacts on an opt-out by default): only those during the import are out.
        assert!(last <= (ROWS - LISTED) as i64 + LISTED as i64, "{last}");
        for c in &counts_seen {
            assert!(
                *c == 0 || *c == last,
                "a reader saw {c} contacts: the group had 0 before and {last} after"
            );
        }
        for (n, was_running) in &replies {
            assert!(app.opted_out(n).await, "{n} said STOP and is not opted out");
            if *was_running {
                assert!(
                    !in_group(&app, gid, n).await,
                    "{n} said STOP during the import and is in the group"
                );
            }
        }
        for i in 0..LISTED {
            let n = e164(i);
            if !stopped.contains(&n) {
                assert!(
                    !app.opted_out(&n).await,
                    "{n} was listed before and not lifted"
                );
                assert!(
                    in_group(&app, gid, &n).await,
                    "{n} was lifted and is not in the group"
                );
            }
        }
    }
}

/// A contact file that says who opted out ("Opted out" column): a dry run counts those rows
/// and lists nothing; the import lists them (source upload, the file and row as evidence) and
/// imports the rest, middle names kept; an unclear value is a rejected row naming the column,
/// and Google's second number in a cell is reported.
#[tokio::test]
async fn a_file_that_marks_rows_opted_out_lists_them_and_imports_the_rest() {
    const FILE: &str = "Mobile,First Name,Middle Name,Last Name,Opted out\n\
0412345601,Mary,Ann,Smith,\n\
0412345602,Bob,,Ng,TRUE\n\
0412345603,Cat,,Wu,maybe\n\
+61 412 345 604 ::: 0412345699,Dan,,Xu,no\n";
    for url in stoplist_store::testing::fresh_urls().await.unwrap() {
        let app = TestApp::spawn_with(&url, Config::default()).await;
        let gid = app.group("Marked").await;
        let path = format!("/api/v1/groups/{gid}/imports");
        let (s, dry) = app
            .upload(&path, "file_name=crm.csv&wait=true&dry_run=true", FILE)
            .await;
        assert_eq!(s, StatusCode::CREATED, "{dry}");
        assert_eq!(dry["counts"]["opted_out_in_file"], 1, "{dry}");
        assert!(!app.opted_out("0412345602").await);
        let (s, r) = app.upload(&path, "file_name=crm.csv&wait=true", FILE).await;
        assert_eq!(s, StatusCode::CREATED, "{r}");
        let c = &r["counts"];
        assert_eq!(
            (
                c["imported"].as_i64(),
                c["opted_out_in_file"].as_i64(),
                c["invalid"].as_i64()
            ),
            (Some(2), Some(1), Some(1)),
            "{r}"
        );
        assert!(app.opted_out("0412345602").await);
        let listed = app
            .store
            .optout(
                app.account,
                &stoplist_domain::PhoneNumber::parse("0412345602", stoplist_domain::Region::AU)
                    .unwrap(),
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(listed.source.as_str(), "upload");
        let evidence = listed.evidence.unwrap_or_default();
        assert!(
            evidence.contains("crm.csv") && evidence.contains("row 3"),
            "{evidence}"
        );
        assert!(!in_group(&app, gid, "+61412345602").await);
        let (_, page) = app
            .get(&format!("/api/v1/groups/{gid}/contacts?q=412345601"))
            .await;
        assert_eq!(page["items"][0]["first_name"], "Mary Ann", "{page}");
        assert_eq!(page["items"][0]["last_name"], "Smith", "{page}");
        assert!(in_group(&app, gid, "+61412345604").await);
        let rejects = app
            .req(
                reqwest::Method::GET,
                &format!("/api/v1/imports/{}/rejects", r["id"]),
            )
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            rejects.contains("\"\"Opted out\"\" is \"\"maybe\"\""),
            "{rejects}"
        );
        assert!(
            rejects.contains("0412345699") && rejects.contains("another number of this row"),
            "{rejects}"
        );
    }
}

/// A CSV of 10,000,000 one-character lines (20 MB): no column looks like phone numbers, so it
/// is refused before anything is recorded, with the error naming the file and its columns —
/// without reading the ten million lines.
#[tokio::test]
async fn ten_million_one_character_lines_are_refused_before_anything_is_recorded() {
    let app = TestApp::spawn_with(&stoplist_store::testing::sqlite_url(), Config::default()).await;
    let gid = app.group("Lines").await;
    let file = "7\n".repeat(10_000_000);
    let (s, body) = app
        .upload(
            &format!("/api/v1/groups/{gid}/imports"),
            "file_name=lines.csv&wait=true",
            file,
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(common::code(&body), "invalid_file", "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("lines.csv"), "{message}");
    let (_, imports) = app.get("/api/v1/imports").await;
    assert_eq!(
        imports["items"].as_array().map(Vec::len),
        Some(0),
        "{imports}"
    );
}

/// A group deleted while a 100,000-row import into it runs: the import fails with an error
/// that says so, and nothing of it is left behind.
#[tokio::test]
async fn an_import_into_a_group_deleted_while_it_runs_fails_and_leaves_nothing() {
    for url in stoplist_store::testing::fresh_urls().await.unwrap() {
        let app = TestApp::spawn_with(&url, Config::default()).await;
        let gid = app.group("Doomed").await;
        let mut file = String::from("Mobile\n");
        for i in 0..100_000 {
            file.push_str(&format!("0414{i:06}\n"));
        }
        let (s, job) = app
            .upload(
                &format!("/api/v1/groups/{gid}/imports"),
                "file_name=doomed.csv",
                file,
            )
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{job}");
        let (s, _) = app.delete(&format!("/api/v1/groups/{gid}"), None).await;
        assert!(s.is_success(), "{s}");
        let mut job = job;
        while job["status"] == "running" {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            job = app.get(&format!("/api/v1/imports/{}", job["id"])).await.1;
        }
        assert_eq!(job["status"], "failed", "{job}");
        let error = job["error"].as_str().unwrap_or_default();
        assert!(error.contains("deleted while the import ran"), "{error}");
        let (_, all) = app.get("/api/v1/contacts").await;
        assert_eq!(all["items"].as_array().map(Vec::len), Some(0), "{all}");
    }
}

/// `stoplist optouts upload` killed with SIGKILL after some of its batches landed: each batch
/// landed whole (the list and the ledger agree, the ledger verifies), the restarted server
/// marks the upload failed with a report that says how many numbers it listed and that
/// uploading again lists the rest, and the second upload does: every number listed once.
#[test]
fn an_upload_killed_midway_keeps_what_it_listed_and_says_so() {
    use std::process::{Command, Stdio};
    const ROWS: i64 = 400_000;
    let bin = env!("CARGO_BIN_EXE_stoplist");
    let dir = std::env::temp_dir().join(format!("stoplist-kill-upload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("stops.txt");
    let mut text = String::new();
    for i in 0..ROWS {
        text.push_str(&format!("+614{:08}\n", 20_000_000 + i));
    }
    std::fs::write(&file, text).unwrap();
    let config = stale_import_config(&dir);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = stoplist_store::testing::sqlite_url();
    let run = |args: &[&str]| cli(&db, args);
    assert!(run(&["account", "create", "default"]).status.success());
    let upload = || {
        Command::new(bin)
            .args(["--database", &db, "optouts", "upload"])
            .arg(&file)
            .stderr(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap()
    };
    let store = rt.block_on(stoplist_store::connect(&db)).unwrap();
    let acc = rt
        .block_on(store.account_by_name("default"))
        .unwrap()
        .unwrap()
        .id;
    let mut child = upload();
    let mut listed_at_kill = 0;
    for _ in 0..6_000 {
        listed_at_kill = rt.block_on(store.count_optouts(acc)).unwrap();
        if listed_at_kill > 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let listed = rt.block_on(store.count_optouts(acc)).unwrap();
    assert!(
        listed > 0 && listed < ROWS,
        "killed midway: {listed} of {ROWS} listed (seen {listed_at_kill} before the kill)"
    );
    let verify = run(&["verify-ledger"]);
    assert!(
        verify.status.success(),
        "the ledger of a killed upload verifies: {}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let id = rt.block_on(store.list_imports(acc, 1)).unwrap()[0].id;

    // Restart the server (stale after 0 s): it marks the upload failed, its report true.
    let mut server = serve_failing_stale_imports(&db, &config);
    let mut failed = None;
    for _ in 0..1_000 {
        let rec = rt.block_on(store.import(acc, id)).unwrap().unwrap();
        if rec.status == stoplist_store::ImportStatus::Failed {
            failed = Some(rec);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    server.kill().unwrap();
    server.wait().unwrap();
    let rec = failed.expect("the restarted server marks the upload failed");
    assert_eq!(
        rec.counts.imported, listed,
        "the report counts what is listed"
    );
    let error = rec.error.unwrap();
    assert!(
        error.contains("interrupted") && error.contains("upload the file again"),
        "{error}"
    );

    let mut again = upload();
    assert!(again.wait().unwrap().success());
    let rec = rt.block_on(store.list_imports(acc, 1)).unwrap()[0].clone();
    assert_eq!(rec.status, stoplist_store::ImportStatus::Done);
    assert_eq!(
        (rec.counts.imported, rec.counts.updated),
        (ROWS - listed, listed),
        "the second upload lists the rest and counts the others as listed"
    );
    assert_eq!(rt.block_on(store.count_optouts(acc)).unwrap(), ROWS);
    assert!(run(&["verify-ledger"]).status.success());
    std::fs::remove_dir_all(&dir).ok();
}

/// STOP replies through the generic webhook while a 200,000-number Opt Out Manager upload
/// runs: every reply is acknowledged, every number that said STOP is listed once (a number of
/// the file that said STOP first is counted by the upload as already listed), and the upload
/// lists the rest.
#[tokio::test]
async fn stop_replies_during_an_upload_are_answered_and_each_number_is_listed_once() {
    const ROWS: usize = 200_000;
    let e164 = |i: usize| format!("+61414{i:06}");
    for url in stoplist_store::testing::fresh_urls().await.unwrap() {
        let app = TestApp::spawn_with(&url, Config::default()).await;
        let mut file = String::new();
        for i in 0..ROWS {
            file.push_str(&format!("0414{i:06}\n"));
        }
        let (s, job) = app
            .upload("/api/v1/optouts/uploads", "file_name=stops.txt", file)
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{job}");
        let job = job["id"].as_i64().unwrap();
        let mut replies = Vec::new();
        for k in 0.. {
            // In the file (numbers late in its sorted order, so before the upload reaches
            // them) and not in it, in turn.
            let n = if k % 2 == 0 {
                e164(ROWS - 1 - k)
            } else {
                format!("+61415{k:06}")
            };
            let running = stop_while_running(&app, k, &n, job).await;
            replies.push((n, running));
            if !running {
                break;
            }
        }
        let during = replies.iter().filter(|r| r.1).count();
        assert!(during >= 3, "only {during} replies overlapped the upload");
        let (_, done) = app.get(&format!("/api/v1/imports/{job}")).await;
        assert_eq!(done["status"], "done", "{done}");
        let in_file = replies.iter().step_by(2).count() as i64;
        let (imported, updated) = (
            done["counts"]["imported"].as_i64().unwrap(),
            done["counts"]["updated"].as_i64().unwrap(),
        );
        assert_eq!(imported + updated, ROWS as i64, "{done}");
        assert!(updated <= in_file, "{done}");
        for (n, _) in &replies {
            assert!(app.opted_out(n).await, "{n} said STOP and is not opted out");
        }
        assert_eq!(
            app.store.count_optouts(app.account).await.unwrap(),
            ROWS as i64 + (replies.len() as i64 - in_file),
            "every number listed once"
        );
    }
}

/// Sends a STOP from `number` through the generic webhook (message id `m{k}`), asserts it was
/// acknowledged, and says whether import `job` was still running once it was.
async fn stop_while_running(app: &TestApp, k: usize, number: &str, job: i64) -> bool {
    let token = app.webhook_token().await;
    let (st, body) = common::send(
        app.http
            .post(format!("{}/webhooks/generic/{token}", app.base))
            .json(&json!({"id": format!("m{k}"), "from": number, "to": "+61400000000", "text": "STOP"})),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "reply {k}: {body}");
    app.get(&format!("/api/v1/imports/{job}")).await.1["status"] == "running"
}

/// `stoplist --database DB ARGS…`, run to its end.
fn cli(db: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_stoplist"))
        .args(["--database", db])
        .args(args)
        .output()
        .unwrap()
}

/// A config file in `dir` under which a running import is stale at once
/// (`import_stale_seconds = 0`), for [`serve_failing_stale_imports`].
fn stale_import_config(dir: &std::path::Path) -> std::path::PathBuf {
    let config = dir.join("stoplist.toml");
    std::fs::write(&config, "import_stale_seconds = 0\n").unwrap();
    config
}

/// `stoplist serve` on `db` with `config` (see [`stale_import_config`]): at start-up it marks
/// the imports a killed process left running as failed.
fn serve_failing_stale_imports(db: &str, config: &std::path::Path) -> std::process::Child {
    use std::process::Stdio;
    std::process::Command::new(env!("CARGO_BIN_EXE_stoplist"))
        .args(["--database", db, "--config"])
        .arg(config)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}
