//! What real contact files say, seen in the web UI's import preview through real HTTP against
//! a real server: before anything is imported, each sample row whose number is on the
//! account's opt-out list is marked "opted out (on your list)", and each row the file's own
//! opt-out column marks is "opted out in the file" (an unclear value is named); Google's
//! " ::: " cells are checked by the number their label calls mobile. The preview changes
//! nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::StatusCode;
use stoplist::config::Config;
use stoplist_domain::names::GroupName;
use stoplist_domain::rules::AddedBy;
use stoplist_domain::{Actor, GroupId, PhoneNumber, Region};

use crate::common;

use common::ui::{Part, UiApp, csrf_of};

async fn spawn_app() -> UiApp {
    common::ui::spawn_ui(Config::default(), "Acme", 0, true).await
}

/// The heading of the preview's mark column.
const MARK_COLUMN: &str = ">Opt-out check<span class=\"map-tag\"";

async fn group(app: &UiApp, name: &str) -> GroupId {
    app.store
        .create_group(app.account, &GroupName::parse(name).unwrap(), 0)
        .await
        .unwrap()
        .id
}

async fn opt_out(app: &UiApp, raw: &str) {
    let number = PhoneNumber::parse(raw, Region::AU).unwrap();
    app.state
        .optouts
        .add(
            app.account,
            &number,
            AddedBy::Manual,
            Actor::cli("test"),
            None,
        )
        .await
        .unwrap();
}

async fn is_opted_out(app: &UiApp, raw: &str) -> bool {
    let number = PhoneNumber::parse(raw, Region::AU).unwrap();
    app.state
        .optouts
        .lookup(app.account, &number)
        .await
        .unwrap()
        .is_some()
}

/// Uploads `file` at `form` (`/contacts/import` into `group`, or `/optouts/upload`) and
/// returns the preview page.
async fn preview(
    app: &UiApp,
    form: &str,
    group: Option<GroupId>,
    name: &str,
    file: &str,
) -> String {
    let csrf = csrf_of(&app.page(form).await);
    let group = group.map(|g| g.0.to_string()).unwrap_or_default();
    let mut parts = vec![Part::Text("csrf_token", &csrf)];
    if !group.is_empty() {
        parts.push(Part::Text("group", &group));
    }
    parts.push(Part::File(name, file.as_bytes()));
    let r = app.post_multipart(form, &parts).await;
    assert_eq!(r.status(), StatusCode::OK, "the preview of {name}");
    r.text().await.unwrap()
}

/// The text of the first cell of sample row `row` (the row number the preview shows), with
/// the template's escapes undone.
fn first_cell(html: &str, row: u64) -> String {
    let heading = format!("<th scope=\"row\" class=\"rownum\">{row}</th>");
    let at = html.find(&heading).expect("the row in the preview") + heading.len();
    let rest = &html[at..];
    let start = rest.find("<td>").expect("a cell") + "<td>".len();
    let end = rest[start..].find("</td>").unwrap() + start;
    rest[start..end]
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&#38;", "&")
}

#[tokio::test]
async fn the_preview_marks_rows_on_the_opt_out_list_and_rows_the_file_marks_opted_out() {
    let app = spawn_app().await;
    let customers = group(&app, "Customers").await;
    opt_out(&app, "0412 000 003").await;
    opt_out(&app, "0412 000 005").await;
    let file = "Mobile,First Name,Middle Name,Last Name,SMS Opt-Out\n\
                0412 000 001,Mary,Ann,Smith,no\n\
                0412 000 002,Bo,,Kim,Yes\n\
                0412 000 003,On,The,List,\n\
                0412 000 004,Unclear,,Row,maybe\n\
                +61412000005,Both,,Ways,TRUE\n\
                12345,Bad,,Number,\n";

    let html = preview(&app, "/contacts/import", Some(customers), "crm.csv", file).await;

    assert!(html.contains(MARK_COLUMN), "{html}");
    assert_eq!(first_cell(&html, 2), "", "subscribed and not on the list");
    assert_eq!(first_cell(&html, 3), "opted out in the file");
    assert_eq!(first_cell(&html, 4), "opted out (on your list)");
    assert_eq!(
        first_cell(&html, 5),
        "\"SMS Opt-Out\" is \"maybe\": use yes or no (true/false, 1/0, x or empty)"
    );
    assert_eq!(
        first_cell(&html, 6),
        "opted out in the file; opted out (on your list)"
    );
    assert_eq!(first_cell(&html, 7), "", "an invalid number is not marked");
    // The file's own cells follow the mark.
    assert!(html.contains("<td>Mary</td>") && html.contains("<td>Ann</td>"));
    // Nothing was imported or put on the list by the preview.
    assert!(!is_opted_out(&app, "0412 000 002").await);
    assert!(
        app.store
            .list_imports(app.account, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_google_export_is_checked_by_the_number_its_label_calls_mobile() {
    let app = spawn_app().await;
    let customers = group(&app, "Customers").await;
    opt_out(&app, "0412 000 003").await;
    opt_out(&app, "0412 000 008").await;
    let file = "Name,Given Name,Additional Name,Family Name,Phone 1 - Type,Phone 1 - Value\n\
                Ann Lee,Ann,,Lee,Work ::: Mobile,0412 000 001 ::: 0412 000 003\n\
                Bo Kim,Bo,,Kim,Mobile ::: Work,0412 000 004 ::: 0412 000 008\n";

    let html = preview(
        &app,
        "/contacts/import",
        Some(customers),
        "google.csv",
        file,
    )
    .await;

    assert!(html.contains(MARK_COLUMN), "{html}");
    assert_eq!(
        first_cell(&html, 2),
        "opted out (on your list)",
        "the second number is the mobile"
    );
    assert_eq!(
        first_cell(&html, 3),
        "",
        "an opted-out work number is no mobile"
    );
}

#[tokio::test]
async fn a_file_with_nothing_opted_out_has_no_mark_column() {
    let app = spawn_app().await;
    let customers = group(&app, "Customers").await;
    opt_out(&app, "0412 000 009").await;
    let file = "Mobile,First Name\n0412 000 001,Mary\n0412 000 002,Bo\n";

    let html = preview(&app, "/contacts/import", Some(customers), "plain.csv", file).await;

    assert!(!html.contains(MARK_COLUMN), "{html}");
    assert_eq!(first_cell(&html, 2), "0412 000 001");
}

#[tokio::test]
async fn an_opt_out_column_is_shown_even_when_no_shown_row_is_opted_out() {
    let app = spawn_app().await;
    let customers = group(&app, "Customers").await;
    let file = "Mobile,Unsubscribed\n0412 000 001,no\n0412 000 002,\n";

    let html = preview(&app, "/contacts/import", Some(customers), "crm.csv", file).await;

    assert!(html.contains(MARK_COLUMN), "{html}");
    assert_eq!(first_cell(&html, 2), "");
    assert_eq!(first_cell(&html, 3), "");
}

#[tokio::test]
async fn an_opt_out_upload_preview_marks_nothing() {
    let app = spawn_app().await;
    opt_out(&app, "0412 000 003").await;
    let file = "Number,Opted out\n0412 000 003,yes\n0412 000 004,yes\n";

    let html = preview(&app, "/optouts/upload", None, "numbers.csv", file).await;

    assert!(html.contains("the opt-out list (source: upload)"), "{html}");
    assert!(!html.contains(MARK_COLUMN), "{html}");
    assert_eq!(first_cell(&html, 2), "0412 000 003");
}
