//! The web UI's import pages through real HTTP against a real server: the multipart upload
//! and its CSRF check, the preview, the dry run, the import and its report, the rejected
//! rows' CSV (only for the account's own session), the reset reason, bad files and the upload
//! limit, and the Opt Out Manager's upload.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::StatusCode;
use std::time::Duration;
use stoplist::config::Config;
use stoplist_domain::names::GroupName;
use stoplist_domain::rules::AddedBy;
use stoplist_domain::{Actor, GroupId, PhoneNumber, Region};
use stoplist_store::{ImportRecord, ImportStatus};

use crate::common;

use common::ui::{
    PASSWORD, Part, UiApp as TestApp, client, csrf_of, hidden, location, multipart, temp_files,
};

async fn spawn_app() -> TestApp {
    spawn_with(Config::default(), 0).await
}

async fn spawn_with(config: Config, earlier: usize) -> TestApp {
    common::ui::spawn_ui(config, "Acme", earlier, true).await
}

/// Five rows: a new contact, the same number written another way, an invalid number, a
/// number on the opt-out list (+61412000003), and a second new contact.
const CONTACTS_CSV: &str = "Mobile,First Name,Last Name,Email\n\
0412 000 001,Olivia,Ng,olivia@example.com\n\
+61412000001,Olivia,Ng,olivia@example.com\n\
12345,Bad,Number,\n\
0412000003,Opted,Out,\n\
0412 000 005,Zoë,Tran,zoe@example.com\n";

impl TestApp {
    async fn group(&self, name: &str) -> GroupId {
        self.store
            .create_group(self.account, &GroupName::parse(name).unwrap(), 0)
            .await
            .unwrap()
            .id
    }

    async fn contact_count(&self, group: GroupId) -> i64 {
        self.store
            .group(self.account, group)
            .await
            .unwrap()
            .unwrap()
            .contact_count
    }

    async fn opt_out(&self, raw: &str) {
        let number = PhoneNumber::parse(raw, Region::AU).unwrap();
        self.state
            .optouts
            .add(
                self.account,
                &number,
                AddedBy::Manual,
                Actor::cli("test"),
                None,
            )
            .await
            .unwrap();
    }

    /// Uploads `csv` for a contacts import into `group` and returns the preview page.
    async fn preview(&self, group: GroupId, file_name: &str, csv: &[u8]) -> String {
        let csrf = self.csrf().await;
        let group = group.0.to_string();
        let r = self
            .post_multipart(
                "/contacts/import",
                &[
                    Part::Text("csrf_token", &csrf),
                    Part::Text("group", &group),
                    Part::Text("new_group", ""),
                    Part::File(file_name, csv),
                    Part::Text("reason", ""),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK, "the preview");
        r.text().await.unwrap()
    }

    /// Posts the preview's form with `action` (`dry_run` or `import`); returns the import's
    /// page address.
    async fn run(&self, preview: &str, action: &str) -> String {
        let r = self
            .post(
                "/imports/run",
                &[
                    ("csrf_token", &csrf_of(preview)),
                    ("token", &hidden(preview, "token")),
                    ("dest", &hidden(preview, "dest")),
                    ("action", action),
                ],
            )
            .await;
        assert_eq!(
            r.status(),
            StatusCode::SEE_OTHER,
            "{}",
            r.text().await.unwrap()
        );
        let to = location(&r);
        assert!(to.starts_with("/imports/"), "{to}");
        to
    }

    /// Waits for the import behind `page` (an `/imports/{id}…` address) to end.
    async fn finished(&self, page: &str) -> ImportRecord {
        let id: i64 = page["/imports/".len()..]
            .split('?')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        for _ in 0..500 {
            let r = self.store.import(self.account, id).await.unwrap().unwrap();
            if r.status != ImportStatus::Running {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("import {id} did not finish");
    }
}

#[tokio::test]
async fn an_upload_without_its_csrf_token_is_refused_and_nothing_is_saved() {
    // Three accounts before this one: its uploads are the only ones named "-4-".
    let app = spawn_with(Config::default(), 3).await;
    assert_eq!(app.account.0, 4);
    let group = app.group("Customers").await.0.to_string();
    let file = Part::File("list.csv", CONTACTS_CSV.as_bytes());

    let r = app
        .post_multipart(
            "/contacts/import",
            &[
                Part::Text("group", &group),
                Part::File("list.csv", b"Mobile\n0412000001\n"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no token");
    let wrong = "0".repeat(64);
    let r = app
        .post_multipart(
            "/contacts/import",
            &[
                Part::Text("csrf_token", &wrong),
                Part::Text("group", &group),
                file,
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a wrong token");
    // The right token after the file comes too late: the file was refused before it.
    let csrf = app.csrf().await;
    let r = app
        .post_multipart(
            "/contacts/import",
            &[
                Part::Text("group", &group),
                Part::File("list.csv", CONTACTS_CSV.as_bytes()),
                Part::Text("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a token after the file");
    // Another site's form is refused on its Origin, token or not.
    let (content_type, body) = multipart(&[
        Part::Text("csrf_token", &csrf),
        Part::Text("group", &group),
        Part::File("list.csv", CONTACTS_CSV.as_bytes()),
    ]);
    let r = app
        .client
        .post(app.url("/contacts/import"))
        .header("content-type", content_type)
        .header("origin", "https://evil.example")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "another origin");
    // And the run step is an ordinary form with the same check.
    let r = app
        .post(
            "/imports/run",
            &[("token", &"a".repeat(32)), ("action", "import")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let saved = temp_files("stoplist-ui-upload-4-");
    assert_eq!(saved, 0, "no refused upload was written to disk");
    assert!(
        app.store
            .list_imports(app.account, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn the_preview_shows_the_files_columns_and_the_guessed_mapping() {
    let app = spawn_app().await;
    let group = app.group("Customers").await;
    let html = app
        .preview(group, "spring.csv", CONTACTS_CSV.as_bytes())
        .await;

    assert!(html.contains("Preview of “spring.csv”"), "{html}");
    assert!(html.contains("<dd>CSV</dd>") && html.contains("<dd>UTF-8</dd>"));
    assert!(html.contains("<dd>comma</dd>"));
    for header in ["Mobile", "First Name", "Last Name", "Email"] {
        assert!(
            html.contains(&format!(">{header}<span class=\"map-tag\"")),
            "{header}"
        );
    }
    assert!(html.contains("Olivia") && html.contains("0412 000 001"));
    // Each field's select has the guessed column selected.
    for (field, column) in [
        ("mobile", 0),
        ("first_name", 1),
        ("last_name", 2),
        ("email", 3),
    ] {
        let select = &html[html.find(&format!("name=\"{field}\"")).unwrap()..];
        let select = &select[..select.find("</select>").unwrap()];
        assert!(
            select.contains(&format!("<option value=\"{column}\" selected>")),
            "{field}: {select}"
        );
    }
    assert!(html.contains("the group “Customers”"));
    assert!(html.contains(">Dry run</button>") && html.contains(">Import</button>"));
    assert!(
        app.store
            .list_imports(app.account, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_dry_run_changes_nothing_and_offers_the_import() {
    let app = spawn_app().await;
    let group = app.group("Customers").await;
    app.opt_out("0412 000 003").await;
    let preview = app
        .preview(group, "spring.csv", CONTACTS_CSV.as_bytes())
        .await;

    let page = app.run(&preview, "dry_run").await;
    let record = app.finished(&page).await;
    assert_eq!(record.status, ImportStatus::Done);
    assert!(record.dry_run);
    assert_eq!(record.counts.imported, 2, "what it would do");
    assert_eq!(record.counts.skipped_opted_out, 1);
    assert_eq!(app.contact_count(group).await, 0, "nothing changed");
    assert_eq!(app.store.count_optouts(app.account).await.unwrap(), 1);

    let html = app.page(&page).await;
    assert!(html.contains("nothing was changed — run the import to apply it"));
    assert!(html.contains("What the import would do"));
    assert!(html.contains(">Import it now</button>"), "{html}");

    // "Import it now" imports the same upload.
    let r = app
        .post(
            "/imports/run",
            &[
                ("csrf_token", &csrf_of(&html)),
                ("token", &hidden(&html, "token")),
                ("dest", "contacts"),
                ("mobile", &hidden(&html, "mobile")),
                ("first_name", &hidden(&html, "first_name")),
                ("last_name", &hidden(&html, "last_name")),
                ("email", &hidden(&html, "email")),
                ("action", "import"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let record = app.finished(&location(&r)).await;
    assert!(!record.dry_run);
    assert_eq!(record.counts.imported, 2);
    assert_eq!(app.contact_count(group).await, 2);
}

#[tokio::test]
async fn an_import_lands_and_its_report_counts_every_row() {
    let app = spawn_app().await;
    let group = app.group("Customers").await;
    app.opt_out("0412 000 003").await;
    let preview = app
        .preview(group, "spring.csv", CONTACTS_CSV.as_bytes())
        .await;

    let page = app.run(&preview, "import").await;
    let record = app.finished(&page).await;
    assert_eq!(record.status, ImportStatus::Done, "{:?}", record.error);
    let c = record.counts;
    assert_eq!(
        (
            c.rows_read,
            c.imported,
            c.updated,
            c.duplicates,
            c.invalid,
            c.skipped_opted_out
        ),
        (5, 2, 0, 1, 1, 1)
    );
    assert_eq!(app.contact_count(group).await, 2);

    let html = app.page(&page).await;
    assert!(html.contains("Import of “spring.csv”"));
    for (label, value) in [
        ("Rows read", "5"),
        ("Imported (new contacts)", "2"),
        ("Duplicates within the file", "1"),
        ("Invalid", "1"),
        ("Skipped as opted out", "1"),
    ] {
        assert!(
            html.contains(&format!("<th scope=\"row\">{label}</th><td>{value}</td>")),
            "{label}: {html}"
        );
    }
    assert!(html.contains("Download rejected rows (CSV)"));
    assert!(
        !html.contains("hx-trigger"),
        "a finished import stops polling"
    );

    // The htmx poll gets the status part only.
    let fragment = app
        .client
        .get(app.url(&page))
        .header("hx-request", "true")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!fragment.contains("<html") && fragment.contains("Report"));

    // The rejected rows, for this account's session only.
    let csv_path = format!("{page}/rejects.csv");
    let r = app.client.get(app.url(&csv_path)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = r.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "row,value,reason");
    assert_eq!(lines.len(), 4, "{csv}");
    // A leading "+" is neutralized, as every cell a spreadsheet would run as a formula.
    assert!(csv.contains("3,'+61412000001,duplicate of row 2"), "{csv}");
    assert!(csv.contains("4,12345,"), "{csv}");
    assert!(csv.contains("5,'+61412000003,opted out"), "{csv}");

    let other = stoplist::accounts::create_account(app.store.as_ref(), "Other")
        .await
        .unwrap()
        .id;
    stoplist::accounts::create_user(
        app.store.as_ref(),
        other,
        "bob",
        PASSWORD,
        stoplist_domain::Role::Owner,
    )
    .await
    .unwrap();
    let bob = client();
    app.log_in_as(&bob, "bob", PASSWORD).await;
    let r = bob.get(app.url(&csv_path)).send().await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "another account's import"
    );
    let r = bob.get(app.url(&page)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = client().get(app.url(&csv_path)).send().await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "no session: to the login page"
    );
    assert_eq!(location(&r), "/login");

    // The upload was used up: the same form cannot import it twice.
    let r = app
        .post(
            "/imports/run",
            &[
                ("csrf_token", &csrf_of(&preview)),
                ("token", &hidden(&preview, "token")),
                ("dest", "contacts"),
                ("action", "import"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::GONE);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("expired or was already imported")
    );
    assert_eq!(app.contact_count(group).await, 2);
}

#[tokio::test]
async fn an_upload_token_is_bound_to_its_account() {
    let app = spawn_app().await;
    let group = app.group("Customers").await;
    let preview = app
        .preview(group, "spring.csv", CONTACTS_CSV.as_bytes())
        .await;
    let token = hidden(&preview, "token");
    assert_eq!(token.len(), 32);
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));

    let other = stoplist::accounts::create_account(app.store.as_ref(), "Other")
        .await
        .unwrap();
    stoplist::accounts::create_user(
        app.store.as_ref(),
        other.id,
        "bob",
        PASSWORD,
        stoplist_domain::Role::Owner,
    )
    .await
    .unwrap();
    let bob = client();
    app.log_in_as(&bob, "bob", PASSWORD).await;
    let html = bob
        .get(app.url("/contacts/import"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = bob
        .post(app.url("/imports/run"))
        .form(&[
            ("csrf_token", csrf_of(&html).as_str()),
            ("token", &token),
            ("dest", "contacts"),
            ("action", "import"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::GONE);
    assert!(
        app.store
            .list_imports(other.id, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(app.contact_count(group).await, 0);
}

#[tokio::test]
async fn a_new_group_is_made_when_the_import_runs() {
    let app = spawn_app().await;
    let csrf = app.csrf().await;
    let r = app
        .post_multipart(
            "/contacts/import",
            &[
                Part::Text("csrf_token", &csrf),
                Part::Text("group", "new"),
                Part::Text("new_group", "Spring <promo>"),
                Part::File("spring.csv", CONTACTS_CSV.as_bytes()),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let preview = r.text().await.unwrap();
    assert!(
        preview.contains("the group “Spring &#60;promo&#62;”")
            || preview.contains("Spring &lt;promo&gt;")
    );
    assert!(
        app.store.list_groups(app.account).await.unwrap().is_empty(),
        "not before the run"
    );

    let page = app.run(&preview, "import").await;
    app.finished(&page).await;
    let groups = app.store.list_groups(app.account).await.unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].name, "Spring <promo>");
    assert_eq!(groups[0].contact_count, 3);
}

#[tokio::test]
async fn reset_without_a_reason_is_refused_with_a_message() {
    let app = spawn_app().await;
    let group = app.group("Customers").await.0.to_string();
    let csrf = app.csrf().await;
    let r = app
        .post_multipart(
            "/contacts/import",
            &[
                Part::Text("csrf_token", &csrf),
                Part::Text("group", &group),
                Part::File("spring.csv", CONTACTS_CSV.as_bytes()),
                Part::Text("reset", "on"),
                Part::Text("reason", "   "),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Give a reason to reset contacts that have previously opted out"),
        "{html}"
    );
    assert!(
        html.contains("id=\"reason-error\""),
        "the message is beside the field"
    );
    assert!(
        html.contains("name=\"reset\" value=\"on\" checked"),
        "the checkbox stays as it was"
    );
    assert!(html.contains(&format!("<option value=\"{group}\" selected>")));
    assert!(
        app.store
            .list_imports(app.account, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // The label is the seed's, and off by default.
    let form = app.page("/contacts/import").await;
    assert!(form.contains(">Reset contacts that have previously opted out?</label>"));
    assert!(form.contains("name=\"reset\" value=\"on\" aria-describedby"));
}

#[tokio::test]
async fn reset_with_a_reason_lifts_the_opt_outs_it_may() {
    let app = spawn_app().await;
    let group = app.group("Customers").await.0.to_string();
    app.opt_out("0412 000 003").await;
    let csrf = app.csrf().await;
    let r = app
        .post_multipart(
            "/contacts/import",
            &[
                Part::Text("csrf_token", &csrf),
                Part::Text("group", &group),
                Part::File("spring.csv", CONTACTS_CSV.as_bytes()),
                Part::Text("reset", "on"),
                Part::Text("reason", "signed consent forms"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let preview = r.text().await.unwrap();
    assert!(preview.contains("Yes. Reason: signed consent forms"));
    let page = app.run(&preview, "import").await;
    let record = app.finished(&page).await;
    assert_eq!(record.counts.lifted, 1);
    assert_eq!(record.reason.as_deref(), Some("signed consent forms"));
    assert_eq!(app.store.count_optouts(app.account).await.unwrap(), 0);
    let html = app.page(&page).await;
    assert!(html.contains("<th scope=\"row\">Opt-outs lifted (reset)</th><td>1</td>"));
}

#[tokio::test]
async fn a_png_renamed_csv_gets_a_clear_error_beside_the_file_field() {
    let app = spawn_app().await;
    let group = app.group("Customers").await.0.to_string();
    let csrf = app.csrf().await;
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
    let r = app
        .post_multipart(
            "/contacts/import",
            &[
                Part::Text("csrf_token", &csrf),
                Part::Text("group", &group),
                Part::File("contacts.csv", png),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    let error = &html[html
        .find("id=\"file-error\"")
        .expect("an error beside the file field")..];
    assert!(
        error.contains("is not a contact file: it looks like a PNG image"),
        "{error}"
    );
    assert!(html.contains("aria-describedby=\"file-error\""));

    // An empty file is named as such too.
    let r = app
        .post_multipart(
            "/contacts/import",
            &[
                Part::Text("csrf_token", &csrf),
                Part::Text("group", &group),
                Part::File("empty.csv", b""),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("is empty: there is nothing to import")
    );
    assert!(
        app.store
            .list_imports(app.account, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_file_over_the_upload_limit_is_refused_with_413() {
    let config = Config {
        max_upload_bytes: 1000,
        ..Config::default()
    };
    let app = spawn_with(config, 0).await;
    let group = app.group("Customers").await.0.to_string();
    let csrf = app.csrf().await;
    let big = "0412000001\n".repeat(200);
    let r = app
        .post_multipart(
            "/contacts/import",
            &[
                Part::Text("csrf_token", &csrf),
                Part::Text("group", &group),
                Part::File("big.csv", big.as_bytes()),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("The file is larger than this server accepts (1 KB)"),
        "{html}"
    );
    assert!(html.contains("id=\"file-error\""));
}

#[tokio::test]
async fn an_opt_out_upload_puts_the_numbers_on_the_list() {
    let app = spawn_app().await;
    app.opt_out("0412 000 002").await;
    let html = app.page("/optouts").await;
    assert!(html.contains("Upload a file of numbers"));
    let csrf = csrf_of(&html);
    let r = app
        .post_multipart(
            "/optouts/upload",
            &[
                Part::Text("csrf_token", &csrf),
                Part::File(
                    "numbers.txt",
                    b"0412 000 001\n0412000002\nnot a number\n+61412000004\n",
                ),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let preview = r.text().await.unwrap();
    assert!(preview.contains("the opt-out list (source: upload)"));
    assert!(preview.contains("Number column"));
    assert!(!preview.contains("name=\"first_name\""), "numbers only");

    let page = app.run(&preview, "import").await;
    let record = app.finished(&page).await;
    assert_eq!(record.status, ImportStatus::Done, "{:?}", record.error);
    assert_eq!(
        (
            record.counts.imported,
            record.counts.updated,
            record.counts.invalid
        ),
        (2, 1, 1)
    );
    assert_eq!(app.store.count_optouts(app.account).await.unwrap(), 3);
    let html = app.page(&page).await;
    assert!(html.contains("Upload of “numbers.txt”"));
    assert!(html.contains("<th scope=\"row\">Added to the opt-out list</th><td>2</td>"));
    let list = app.page("/optouts/upload").await;
    assert!(list.contains("numbers.txt") && list.contains("Recent uploads"));
}

#[tokio::test]
async fn an_upload_with_no_file_chosen_asks_for_one_and_saves_nothing() {
    // Five accounts before this one: its uploads are the only ones named "-6-".
    let app = spawn_with(Config::default(), 5).await;
    assert_eq!(app.account.0, 6);
    let group = app.group("Customers").await.0.to_string();
    let csrf = app.csrf().await;
    // What a browser sends for a file input left empty: a part with an empty file name.
    let r = app
        .post_multipart(
            "/contacts/import",
            &[
                Part::Text("csrf_token", &csrf),
                Part::Text("group", &group),
                Part::File("", b""),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("Choose a file to upload."), "{html}");
    let saved = temp_files("stoplist-ui-upload-6-");
    assert_eq!(saved, 0, "the empty part left no file behind");
}

/// A file with a middle name and an "Unsubscribed" column: the preview offers both fields
/// with the guessed columns; choosing "no such column" for the opted-out field imports the
/// marked row as a contact (and lists nothing), choosing the column lists it; the dry run's
/// "Import it now" keeps the choices.
#[tokio::test]
async fn the_preview_maps_middle_names_and_the_opted_out_column() {
    const FILE: &str = "Mobile,First Name,Middle Name,Last Name,Unsubscribed\n\
0412 000 001,Mary,Ann,Ng,\n\
0412 000 002,Bob,,Wu,yes\n";
    let app = spawn_app().await;
    let group = app.group("Customers").await;
    let preview = app.preview(group, "marks.csv", FILE.as_bytes()).await;
    for (field, column) in [("middle_name", 2), ("opted_out", 4)] {
        let select = &preview[preview.find(&format!("name=\"{field}\"")).unwrap()..];
        let select = &select[..select.find("</select>").unwrap()];
        assert!(
            select.contains(&format!("<option value=\"{column}\" selected>")),
            "{field}: {select}"
        );
        assert!(
            select.contains("<option value=\"none\">"),
            "{field}: {select}"
        );
    }
    assert!(
        preview.contains("Opt-out check"),
        "the marked row is flagged"
    );

    // "No such column" for the opted-out field: a dry run, then "Import it now".
    let dry = app
        .post(
            "/imports/run",
            &[
                ("csrf_token", &csrf_of(&preview)),
                ("token", &hidden(&preview, "token")),
                ("dest", &hidden(&preview, "dest")),
                ("opted_out", "none"),
                ("action", "dry_run"),
            ],
        )
        .await;
    assert_eq!(dry.status(), StatusCode::SEE_OTHER);
    let page = location(&dry);
    let record = app.finished(&page).await;
    assert_eq!(
        (record.counts.imported, record.counts.opted_out_in_file),
        (2, 0)
    );
    let html = app.page(&page).await;
    assert!(
        html.contains("name=\"opted_out\" value=\"none\""),
        "Import it now keeps the choice: {html}"
    );
    let again = app
        .post(
            "/imports/run",
            &[
                ("csrf_token", &csrf_of(&html)),
                ("token", &hidden(&html, "token")),
                ("dest", &hidden(&html, "dest")),
                ("mobile", ""),
                ("first_name", ""),
                ("middle_name", ""),
                ("last_name", ""),
                ("email", ""),
                ("opted_out", "none"),
                ("action", "import"),
            ],
        )
        .await;
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    let record = app.finished(&location(&again)).await;
    assert_eq!(record.counts.imported, 2);
    assert_eq!(app.contact_count(group).await, 2);
    assert_eq!(app.store.count_optouts(app.account).await.unwrap(), 0);

    // The guessed column (as guessed): the marked row is listed, not imported.
    let other = app.group("Others").await;
    let preview = app.preview(other, "marks.csv", FILE.as_bytes()).await;
    let record = app.finished(&app.run(&preview, "import").await).await;
    assert_eq!(
        (record.counts.imported, record.counts.opted_out_in_file),
        (1, 1)
    );
    assert_eq!(app.store.count_optouts(app.account).await.unwrap(), 1);
}
