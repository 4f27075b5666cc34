//! The web UI's Campaigns pages and Settings → Connector through real HTTP against a real
//! server (whose dispatcher sends through the default `log` connector): the New campaign form
//! and its errors, the preview with the Invalid Numbers list, Send made idempotent by the
//! page's key, the status page with its counts, live fragment and messages, pause and
//! cancel, and the connector form's write-only secret.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::{Response, StatusCode};
use std::time::{Duration, Instant};
use stoplist::config::Config;
use stoplist_domain::names::{ContactFields, GroupName};
use stoplist_domain::{CampaignId, GroupId, PhoneNumber, Region};
use stoplist_store::{CampaignStatus, MessageCounts};

use crate::common;

use common::ui::{Part, UiApp as TestApp, csrf_of, hidden, location, multipart, temp_files};

async fn spawn_app() -> TestApp {
    common::ui::spawn_ui(Config::default(), "Acme", 0, true).await
}

impl TestApp {
    /// A group with contacts for `numbers` (all added before any opt-out).
    async fn group_with(&self, name: &str, numbers: &[&str]) -> GroupId {
        let group = self
            .store
            .create_group(self.account, &GroupName::parse(name).unwrap(), 0)
            .await
            .unwrap();
        for n in numbers {
            let number = PhoneNumber::parse(n, Region::AU).unwrap();
            self.store
                .create_contact(
                    self.account,
                    group.id,
                    &number,
                    &ContactFields::default(),
                    0,
                )
                .await
                .unwrap();
        }
        group.id
    }

    /// Puts `number` on the opt-out list through the Opt Out Manager's form.
    async fn opt_out_in_ui(&self, number: &str) {
        let csrf = self.csrf().await;
        let r = self
            .post("/optouts", &[("number", number), ("csrf_token", &csrf)])
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "opted out {number}");
    }

    /// Posts the New campaign form; `extra` parts come after the text fields.
    async fn new_campaign(&self, fields: &[(&str, &str)], extra: &[Part<'_>]) -> Response {
        let csrf = self.csrf().await;
        let mut parts = vec![Part::Text("csrf_token", &csrf)];
        parts.extend(fields.iter().map(|(k, v)| Part::Text(k, v)));
        for p in extra {
            parts.push(match p {
                Part::Text(k, v) => Part::Text(k, v),
                Part::File(n, b) => Part::File(n, b),
            });
        }
        self.post_multipart("/campaigns/new", &parts).await
    }

    /// The id in a `/campaigns/{id}?…` redirect.
    fn campaign_of(r: &Response) -> CampaignId {
        let to = location(r);
        let rest = to.strip_prefix("/campaigns/").expect("a campaign page");
        CampaignId(rest.split('?').next().unwrap().parse().unwrap())
    }

    async fn counts(&self, id: CampaignId) -> MessageCounts {
        self.store.message_counts(self.account, id).await.unwrap()
    }

    /// Waits until the server's own dispatcher has given every message a final status: it
    /// runs on its own task, so the test polls the store (bounded by a deadline).
    async fn until_done(&self, id: CampaignId) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let c = self
                .store
                .campaign(self.account, id)
                .await
                .unwrap()
                .unwrap();
            if c.status == CampaignStatus::Done {
                return;
            }
            assert!(Instant::now() < deadline, "the campaign never finished");
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A group of three (one of them opted out afterwards) plus typed numbers: a repeat of a
/// group member, an invalid number and a new number.
async fn draft_with_an_opted_out_member(app: &TestApp) -> CampaignId {
    let group = app
        .group_with(
            "Customers",
            &["0412 000 001", "0412 000 002", "0412 000 003"],
        )
        .await;
    app.opt_out_in_ui("0412 000 003").await;
    let gid = group.0.to_string();
    let r = app
        .new_campaign(
            &[
                ("name", "Spring sale"),
                ("sender_id", "AcmeShop"),
                ("message", "Hi {first_name}, 20% off today"),
                ("groups", &gid),
                ("numbers", "0412 000 001, 12345\n0412000004"),
            ],
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        location(&r).ends_with("?done=campaign_created"),
        "{}",
        location(&r)
    );
    TestApp::campaign_of(&r)
}

#[tokio::test]
async fn the_preview_lists_an_opted_out_group_member_as_an_invalid_number() {
    let app = spawn_app().await;
    let id = draft_with_an_opted_out_member(&app).await;

    let html = app
        .page(&format!("/campaigns/{}?done=campaign_created", id.0))
        .await;
    assert!(html.contains("Draft saved. Check the preview below"));
    // 3 from the group + 3 typed; one repeat, one invalid, one opted out → 3 recipients.
    for (label, value) in [
        ("Numbers read", "6"),
        ("Duplicates removed", "1"),
        ("Invalid", "1"),
        ("Opted out (excluded)", "1"),
        ("Recipients", "3"),
    ] {
        let row = format!("<th scope=\"row\">{label}</th><td>{value}</td>");
        assert!(html.contains(&row), "{label} = {value}");
    }
    let list = &html[html.find("id=\"invalid-title\"").unwrap()..];
    let opted = list
        .find("+61412000003")
        .expect("the opted-out number is listed");
    let row = &list[opted..opted + 700];
    assert!(row.contains("Opted out"), "reason: {row}");
    assert!(row.contains("group Customers"), "origin: {row}");
    assert!(row.contains("manual"), "the opt-out's source: {row}");
    assert!(
        row.contains("<time datetime=\""),
        "the opt-out's date: {row}"
    );
    assert!(
        list.contains("12345") && list.contains("Invalid for region"),
        "{list}"
    );
    assert!(html.contains("GSM-7"));
    assert!(
        html.contains("Reply STOP to opt out"),
        "the footer is in the sample"
    );
}

#[tokio::test]
async fn send_twice_with_the_page_key_queues_the_messages_once() {
    let app = spawn_app().await;
    let id = draft_with_an_opted_out_member(&app).await;
    let html = app.page(&format!("/campaigns/{}", id.0)).await;
    let key = hidden(&html, "key");
    let csrf = csrf_of(&html);
    let path = format!("/campaigns/{}/send", id.0);

    let first = app
        .post(&path, &[("csrf_token", &csrf), ("key", &key)])
        .await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    assert!(location(&first).ends_with("?done=campaign_sending"));
    let second = app
        .post(&path, &[("csrf_token", &csrf), ("key", &key)])
        .await;
    assert_eq!(second.status(), StatusCode::SEE_OTHER);
    assert!(location(&second).ends_with("?done=campaign_already_sending"));
    assert_eq!(app.counts(id).await.total, 3, "queued once");

    // Another page's key finds the campaign sent, and queues nothing either.
    let other = app
        .post(&path, &[("csrf_token", &csrf), ("key", "another-page")])
        .await;
    assert!(location(&other).ends_with("?done=campaign_not_draft"));
    assert_eq!(app.counts(id).await.total, 3);
}

#[tokio::test]
async fn the_status_page_shows_the_counts_and_stops_polling_once_done() {
    let app = spawn_app().await;
    let id = draft_with_an_opted_out_member(&app).await;
    let html = app.page(&format!("/campaigns/{}", id.0)).await;
    let r = app
        .post(
            &format!("/campaigns/{}/send", id.0),
            &[
                ("csrf_token", &csrf_of(&html)),
                ("key", &hidden(&html, "key")),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    app.until_done(id).await;

    let html = app.page(&format!("/campaigns/{}", id.0)).await;
    assert!(html.contains("Status: <span class=\"state done\">Done</span>"));
    assert!(html.contains("<strong>3</strong> of 3 sent"));
    assert!(html.contains("<th scope=\"row\">Sent</th><td>3</td>"));
    assert!(!html.contains("every 2s"), "no polling once done");
    assert!(
        !html.contains("id=\"pause-button\""),
        "nothing left to pause"
    );
    for n in ["+61412000001", "+61412000002", "+61412000004"] {
        assert!(html.contains(n), "message to {n}");
    }
    assert!(!html.contains("<span class=\"number\">+61412000003</span>"));

    // The live fragment alone, as htmx polls it; the filter narrows the messages.
    let fragment = app
        .client
        .get(app.url(&format!("/campaigns/{}?part=live", id.0)))
        .header("hx-request", "true")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!fragment.contains("<html"));
    assert!(fragment.contains("<strong>3</strong> of 3 sent"));
    let failed = app
        .page(&format!("/campaigns/{}?status=failed", id.0))
        .await;
    assert!(failed.contains("No messages with this status"));

    let list = app.page("/campaigns").await;
    assert!(list.contains("Spring sale"));
    assert!(list.contains("3 sent of 3"));
}

#[tokio::test]
async fn a_sending_campaign_can_be_paused_and_cancelled() {
    let app = spawn_app().await;
    // One message a second, so the campaign is still sending when it is paused.
    let csrf = app.csrf().await;
    let r = app
        .post(
            "/settings/connector",
            &[
                ("csrf_token", &csrf),
                ("kind", "log"),
                ("rate_per_second", "1"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let id = draft_with_an_opted_out_member(&app).await;
    let html = app.page(&format!("/campaigns/{}", id.0)).await;
    app.post(
        &format!("/campaigns/{}/send", id.0),
        &[("csrf_token", &csrf), ("key", &hidden(&html, "key"))],
    )
    .await;

    let paused = app
        .post(
            &format!("/campaigns/{}/pause", id.0),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert!(location(&paused).ends_with("?done=campaign_paused"));
    let html = app.page(&format!("/campaigns/{}", id.0)).await;
    assert!(html.contains("id=\"resume-button\""));
    assert!(
        html.contains("every 2s"),
        "a paused campaign is still watched"
    );

    let cancelled = app
        .post(
            &format!("/campaigns/{}/cancel", id.0),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert!(location(&cancelled).ends_with("?done=campaign_cancelled"));
    let c = app.store.campaign(app.account, id).await.unwrap().unwrap();
    assert_eq!(c.status, CampaignStatus::Cancelled);
    let html = app.page(&location(&cancelled)).await;
    assert!(html.contains("Campaign cancelled"));
    assert!(html.contains("Status: <span class=\"state failed\">Cancelled</span>"));
    assert!(!html.contains("id=\"cancel-button\""));

    // Pausing a cancelled campaign changes nothing, and says so.
    let refused = app
        .post(
            &format!("/campaigns/{}/pause", id.0),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert!(location(&refused).ends_with("?done=campaign_control_refused"));
}

#[tokio::test]
async fn the_form_shows_each_error_beside_its_field_and_keeps_what_was_typed() {
    let app = spawn_app().await;
    let r = app
        .new_campaign(
            &[
                ("name", "Winter"),
                ("sender_id", "Far too long a sender"),
                ("message", "Hello"),
                ("numbers", "0412 000 009"),
            ],
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"sender_id-error\""));
    assert!(html.contains(
        "aria-describedby=\"sender_id-hint sender_id-error\" aria-invalid=\"true\" autofocus"
    ));
    assert!(html.contains("value=\"Winter\""), "typed values are kept");
    assert!(html.contains("0412 000 009</textarea>"));

    let r = app
        .new_campaign(
            &[
                ("name", "Winter"),
                ("sender_id", "Acme"),
                ("message", "Hello"),
            ],
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("Choose at least one group, type some numbers, or upload a file"));

    let page = app
        .store
        .list_campaigns(app.account, None, 10)
        .await
        .unwrap();
    assert!(page.items.is_empty(), "no draft was made");
}

#[tokio::test]
async fn a_file_of_numbers_is_read_from_its_column_and_a_bad_column_makes_no_draft() {
    let app = spawn_app().await;
    let csv = b"Name,Mobile\nAva,0412 000 011\nBen,not a number\n";
    let r = app
        .new_campaign(
            &[
                ("name", "From a file"),
                ("sender_id", "Acme"),
                ("message", "Hello"),
                ("column", "Phone"),
            ],
            &[Part::File("people.csv", csv)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("id=\"column-error\""),
        "the column is at fault"
    );
    assert!(html.contains("The file has no column “Phone”. Its columns are:"));
    assert!(
        app.store
            .list_campaigns(app.account, None, 10)
            .await
            .unwrap()
            .items
            .is_empty()
    );

    let r = app
        .new_campaign(
            &[
                ("name", "From a file"),
                ("sender_id", "Acme"),
                ("message", "Hello"),
                ("column", "Mobile"),
            ],
            &[Part::File("people.csv", csv)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let id = TestApp::campaign_of(&r);
    let html = app.page(&format!("/campaigns/{}", id.0)).await;
    assert!(html.contains("File “people.csv”, column “Mobile”"));
    assert!(html.contains("<th scope=\"row\">Recipients</th><td>1</td>"));
    assert!(
        html.contains("file row 3"),
        "the bad row is listed with where it came from"
    );
}

#[tokio::test]
async fn campaign_forms_without_their_csrf_token_are_refused() {
    let app = spawn_app().await;
    let (content_type, body) = multipart(&[
        Part::Text("name", "Forged"),
        Part::Text("sender_id", "Acme"),
        Part::Text("message", "Hello"),
        Part::Text("numbers", "0412000001"),
    ]);
    let r = app
        .client
        .post(app.url("/campaigns/new"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let id = draft_with_an_opted_out_member(&app).await;
    let r = app
        .post(&format!("/campaigns/{}/send", id.0), &[("key", "k")])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.counts(id).await.total, 0, "nothing was queued");
}

#[tokio::test]
async fn the_connector_form_refuses_twilio_without_a_secret_and_never_shows_the_secret() {
    let app = spawn_app().await;
    let html = app.page("/settings").await;
    assert!(html.contains("<option value=\"log\" selected>"));
    let csrf = csrf_of(&html);
    let app = &app;
    let csrf = csrf.as_str();
    let post = |fields: Vec<(&'static str, &'static str)>| {
        let mut form = vec![("csrf_token", csrf)];
        form.extend(fields);
        async move { app.post("/settings/connector", &form).await }
    };

    let r = post(vec![("kind", "twilio"), ("account", "AC0123")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"connector-secret-error\""));
    assert!(html.contains("value=\"AC0123\""), "typed values are kept");

    let r = post(vec![
        ("kind", "twilio"),
        ("account", "AC0123"),
        ("secret", "tok-7f3a9c-very-secret"),
        ("rate_per_second", "fast"),
    ])
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"connector-rate_per_second-error\""));
    assert!(
        !html.contains("tok-7f3a9c-very-secret"),
        "not even after an error"
    );

    let r = post(vec![
        ("kind", "twilio"),
        ("account", "AC0123"),
        ("secret", "tok-7f3a9c-very-secret"),
    ])
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html = app.page("/settings?done=connector_saved").await;
    assert!(html.contains("Connector saved."));
    assert!(html.contains("<option value=\"twilio\" selected>"));
    assert!(html.contains("A secret is stored; leave this blank to keep it."));
    assert!(!html.contains("tok-7f3a9c-very-secret"));

    // A blank secret keeps the stored one.
    let r = post(vec![
        ("kind", "twilio"),
        ("account", "AC0123"),
        ("timeout_seconds", "20"),
    ])
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let stored = app.store.connector(app.account).await.unwrap().unwrap();
    assert_eq!(stored.secret, "tok-7f3a9c-very-secret");
    assert!(stored.config_json.contains("20"));
}

#[tokio::test]
async fn the_message_counter_counts_segments_with_the_footer() {
    let app = spawn_app().await;
    let long = "a".repeat(150);
    let r = app
        .client
        .get(app.url("/campaigns/counter"))
        .query(&[("message", long.as_str())])
        .header("hx-request", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    // 150 + a line feed + "Reply STOP to opt out" (21) = 172 GSM-7 characters: 2 segments.
    assert!(html.contains("<strong>172</strong> characters"), "{html}");
    assert!(html.contains("<strong>2</strong> SMS segments (GSM-7), with the opt-out footer"));
}

#[tokio::test]
async fn the_campaigns_list_says_what_to_do_when_empty() {
    let app = spawn_app().await;
    let html = app.page("/campaigns").await;
    assert!(html.contains("No campaigns yet — <a href=\"/campaigns/new\">create one</a>"));
    assert!(html.contains("href=\"/campaigns\" aria-current=\"page\">Campaigns</a>"));
}

#[tokio::test]
async fn a_recipients_file_before_the_csrf_token_is_refused_and_not_kept() {
    // Six accounts before this one: its files are the only ones named "-7-".
    let app = common::ui::spawn_ui(Config::default(), "Acme", 6, true).await;
    assert_eq!(app.account.0, 7);
    let csrf = app.csrf().await;
    let r = app
        .post_multipart(
            "/campaigns/new",
            &[
                Part::Text("name", "Late token"),
                Part::Text("sender_id", "Acme"),
                Part::Text("message", "Hello"),
                Part::File("numbers.csv", b"Mobile\n0412000001\n"),
                Part::Text("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let kept = temp_files("stoplist-campaign-7-");
    assert_eq!(kept, 0, "nothing of the file was written");
    let html = app.page("/campaigns").await;
    assert!(!html.contains("Late token"), "no draft was made");
}

/// The Settings page's connector form checks the base URL as the API does (the server's
/// default configuration: https to public addresses only).
#[tokio::test]
async fn the_connector_form_refuses_a_base_url_on_loopback_or_the_metadata_address() {
    let app = spawn_app().await;
    let csrf = csrf_of(&app.page("/settings").await);
    for (base_url, says) in [
        ("http://127.0.0.1:8080", "Must be https"),
        (
            "https://169.254.169.254/",
            "Is 169.254.169.254, a link-local address; stoplist sends only to public addresses",
        ),
        ("https://localhost/", "Localhost resolves to "),
    ] {
        let r = app
            .post(
                "/settings/connector",
                &[
                    ("csrf_token", csrf.as_str()),
                    ("kind", "twilio"),
                    ("account", "AC0123"),
                    ("secret", "tok-7f3a9c-very-secret"),
                    ("base_url", base_url),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{base_url}");
        let html = r.text().await.unwrap();
        assert!(
            html.contains(&format!("id=\"connector-base_url-error\">{says}")),
            "{base_url}"
        );
        assert!(
            html.contains(&format!("value=\"{base_url}\"")),
            "typed values are kept"
        );
        assert!(!html.contains("tok-7f3a9c-very-secret"), "never the secret");
    }
    assert_eq!(
        app.store.connector(app.account).await.unwrap(),
        None,
        "nothing stored"
    );
}
