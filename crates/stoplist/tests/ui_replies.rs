//! The web UI's Replies pages and Settings → Keywords and Notifications through real HTTP
//! against a real server: replies posted to the generic webhook are listed with their
//! classification, filtered and paged; the review queue holds only unclear replies, and
//! Confirm opt-out / Dismiss decide them (CSRF-checked); the account's own keywords change how
//! the next reply is classified; the notification secret is write-only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::StatusCode;
use serde_json::{Value, json};
use stoplist::config::Config;
use stoplist_domain::{PhoneNumber, Region};

use crate::common;

use common::ui::{UiApp as TestApp, csrf_of, location};

const DAY_MS: i64 = 86_400_000;

async fn spawn_app() -> TestApp {
    common::ui::spawn_ui(Config::default(), "Acme", 0, true).await
}

impl TestApp {
    /// Posts a reply to the account's generic webhook, received `days_ago` days ago.
    async fn reply(&self, id: &str, from: &str, text: &str, days_ago: i64) -> Value {
        let token = self
            .store
            .account(self.account)
            .await
            .unwrap()
            .unwrap()
            .webhook_token;
        let at = stoplist::rfc3339(stoplist::now_ms() - days_ago * DAY_MS);
        let r = self
            .client
            .post(self.url(&format!("/webhooks/generic/{token}")))
            .json(&json!({"id": id, "from": from, "to": "+61400000000", "text": text, "received_at": at}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "webhook answered {}", r.status());
        r.json().await.unwrap()
    }

    async fn opted_out(&self, number: &str) -> bool {
        let n = PhoneNumber::parse(number, Region::AU).unwrap();
        self.store.optout(self.account, &n).await.unwrap().is_some()
    }

    /// Posts a review decision with the page's CSRF token.
    async fn decide(&self, id: i64, verdict: &str) -> reqwest::Response {
        let csrf = csrf_of(&self.page("/replies/review").await);
        self.post(
            &format!("/replies/{id}/review"),
            &[("csrf_token", &csrf), ("verdict", verdict)],
        )
        .await
    }
}

/// The ids of the replies a review-queue page offers to decide.
fn queued_ids(html: &str) -> Vec<i64> {
    let mut ids: Vec<i64> = html
        .split("action=\"/replies/")
        .skip(1)
        .filter_map(|s| s.split('/').next()?.parse().ok())
        .collect();
    ids.dedup();
    ids
}

/// The `<tbody>` of a page (the rows, without the filters and headings).
fn tbody(html: &str) -> &str {
    match (html.find("<tbody>"), html.find("</tbody>")) {
        (Some(a), Some(b)) => &html[a..b],
        _ => "",
    }
}

#[tokio::test]
async fn an_account_without_replies_is_told_where_to_point_the_webhook() {
    let app = spawn_app().await;
    let html = app.page("/replies").await;
    assert!(html.contains(
        "No replies yet — point your provider's webhook at the URL in <a href=\"/settings#webhooks\">Settings</a>"
    ));
    assert!(html.contains("<a href=\"/replies\" aria-current=\"page\">Replies</a>"));
    let queue = app.page("/replies/review").await;
    assert!(queue.contains("No replies wait for review"));
}

#[tokio::test]
async fn the_replies_page_lists_every_reply_newest_first_with_its_classification_and_tier() {
    let app = spawn_app().await;
    app.reply("r1", "+61412000001", "STOP", 2).await;
    app.reply("r2", "+61412000002", "stop by the store at 5", 1)
        .await;
    let unclear = app.reply("r3", "+61412000003", "STOP what?", 0).await;
    assert_eq!(unclear["classification"], "unclear", "{unclear}");

    let html = app.page("/replies").await;
    let rows = tbody(&html);
    let (a, b, c) = (
        rows.find("STOP what?").unwrap(),
        rows.find("stop by the store at 5").unwrap(),
        rows.find(">STOP<").unwrap(),
    );
    assert!(a < b && b < c, "newest first");
    assert!(rows.contains(
        "<span class=\"class opt_out\">Opt-out</span> <span class=\"tier\">keyword</span>"
    ));
    assert!(rows.contains(
        "<span class=\"class other\">Other</span> <span class=\"tier\">not a request</span>"
    ));
    assert!(rows.contains("<span class=\"class unclear\">Unclear</span>"));
    // Numbers are shown in full, each a link to its opt-out history.
    assert!(rows.contains("<a href=\"/optouts/%2B61412000001\" class=\"number\">+61412000001</a>"));
    assert!(
        rows.contains("<li>Opted out</li>"),
        "the actions taken are listed"
    );
    assert!(rows.contains(">Awaiting review</a>"));
    // The tab counts the replies awaiting review.
    assert!(html.contains("Review queue <span class=\"badge out\">1<span class=\"visually-hidden\"> awaiting review</span>"));
}

#[tokio::test]
async fn filters_narrow_the_list_by_classification_number_and_date() {
    let app = spawn_app().await;
    app.reply("f1", "+61412000011", "STOP", 10).await;
    app.reply("f2", "+61412000022", "stop by the store at 5", 0)
        .await;

    let by_class = app.page("/replies?class=opt_out").await;
    assert!(tbody(&by_class).contains("+61412000011"));
    assert!(!tbody(&by_class).contains("+61412000022"));
    assert!(by_class.contains("<option value=\"opt_out\" selected>Opt-out</option>"));

    let by_number = app.page("/replies?number=0412+000+022").await;
    assert!(tbody(&by_number).contains("+61412000022"));
    assert!(!tbody(&by_number).contains("+61412000011"));

    let five_days_ago = &stoplist::rfc3339(stoplist::now_ms() - 5 * DAY_MS)[..10];
    let recent = app.page(&format!("/replies?from={five_days_ago}")).await;
    assert!(tbody(&recent).contains("+61412000022"));
    assert!(!tbody(&recent).contains("+61412000011"));
    let older = app.page(&format!("/replies?to={five_days_ago}")).await;
    assert!(tbody(&older).contains("+61412000011"));
    assert!(!tbody(&older).contains("+61412000022"));

    let none = app.page("/replies?class=help").await;
    assert!(none.contains("No reply matches these filters"));

    let r = app.get("/replies?from=2026-02-30").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"filter-from-error\">From date must be a date"));
    assert!(
        html.contains("aria-invalid=\"true\" aria-describedby=\"filter-from-error\" autofocus")
    );
    assert!(
        tbody(&html).is_empty(),
        "no rows under a filter that was not applied"
    );
}

#[tokio::test]
async fn the_list_pages_with_an_older_link_that_keeps_the_filters() {
    let app = spawn_app().await;
    for i in 0..51 {
        app.reply(&format!("p{i}"), &format!("+614120001{i:02}"), "STOP", 0)
            .await;
    }
    let first = app.page("/replies?class=opt_out").await;
    assert_eq!(tbody(&first).matches("<tr>").count(), 50);
    let marker = "href=\"/replies?class=opt_out&#38;before=";
    let start = first.find(marker).expect("an Older link") + marker.len();
    let before: String = first[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let second = app
        .page(&format!("/replies?class=opt_out&before={before}"))
        .await;
    assert_eq!(tbody(&second).matches("<tr>").count(), 1);
    assert!(tbody(&second).contains("+61412000100"), "the oldest reply");
    assert!(!second.contains("rel=\"next\""));
}

#[tokio::test]
async fn the_review_queue_holds_only_the_unclear_reply_and_confirm_opts_the_number_out() {
    let app = spawn_app().await;
    app.reply("q1", "+61412000031", "STOP", 0).await;
    app.reply("q2", "+61412000032", "stop by the store at 5", 0)
        .await;
    let unclear = app.reply("q3", "+61412000033", "STOP what?", 0).await;
    let id = unclear["id"].as_i64().unwrap();

    let html = app.page("/replies/review").await;
    assert_eq!(queued_ids(&html), vec![id]);
    let rows = tbody(&html);
    assert!(rows.contains("STOP what?"));
    assert!(!rows.contains("stop by the store") && !rows.contains("+61412000031"));
    assert!(
        rows.contains("Confirm opt-out<span class=\"visually-hidden\"> of +61412000033</span>")
    );

    let r = app.decide(id, "confirm").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/replies/review?done=reply_confirmed");
    assert!(app.opted_out("+61412000033").await);
    let after = app.page("/replies/review?done=reply_confirmed").await;
    assert!(after.contains("role=\"status\">Opt-out confirmed"));
    assert!(after.contains("No replies wait for review"));
    assert!(queued_ids(&after).is_empty());
    assert!(
        !after.contains("awaiting review</span>"),
        "no count once the queue is empty"
    );
    let list = app.page("/replies").await;
    assert!(list.contains(&format!("Confirmed by {}", common::ui::LOGIN)));

    // A second decision on the same reply (a double click) changes nothing and says so.
    let r = app.decide(id, "dismiss").await;
    assert_eq!(location(&r), "/replies/review?done=review_closed");
    assert!(app.opted_out("+61412000033").await);
}

#[tokio::test]
async fn dismissing_an_unclear_reply_lifts_the_provisional_opt_out_it_caused() {
    let app = spawn_app().await;
    // By default an unclear reply counts as an opt-out until reviewed.
    let unclear = app.reply("d1", "+61412000041", "STOP what?", 0).await;
    assert!(app.opted_out("+61412000041").await);
    let html = app.page("/replies/review").await;
    assert!(html.contains("each <strong>counts as an opt-out</strong>"));

    let r = app.decide(unclear["id"].as_i64().unwrap(), "dismiss").await;
    assert_eq!(location(&r), "/replies/review?done=reply_dismissed_lifted");
    assert!(!app.opted_out("+61412000041").await);
    let after = app
        .page("/replies/review?done=reply_dismissed_lifted")
        .await;
    assert!(after.contains("the provisional opt-out it caused was lifted"));
    assert!(after.contains("No replies wait for review"));
}

#[tokio::test]
async fn review_decisions_without_the_csrf_token_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let unclear = app.reply("c1", "+61412000051", "STOP what?", 0).await;
    let id = unclear["id"].as_i64().unwrap();
    let r = app
        .post(&format!("/replies/{id}/review"), &[("verdict", "dismiss")])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app
        .post(
            &format!("/replies/{id}/review"),
            &[("csrf_token", &"0".repeat(64)), ("verdict", "dismiss")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(app.opted_out("+61412000051").await);
    assert_eq!(queued_ids(&app.page("/replies/review").await), vec![id]);
    // A reply of another account (or none) is not found.
    let r = app.decide(id + 1000, "confirm").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_saved_custom_keyword_classifies_the_next_reply_as_an_opt_out() {
    let app = spawn_app().await;
    let before = app.reply("k1", "+61412000061", "Pineapple", 0).await;
    assert_ne!(before["classification"], "opt_out", "{before}");

    let csrf = csrf_of(&app.page("/settings").await);
    let r = app
        .post(
            "/settings/keywords",
            &[
                ("csrf_token", &csrf),
                ("keyword-0", "Pineapple"),
                ("kind-0", "opt_out"),
                ("language-0", "en"),
                ("keyword-1", ""),
                ("kind-1", "opt_out"),
                ("language-1", "any"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/settings?done=keywords_saved#keywords");
    assert_eq!(
        app.store.custom_keywords(app.account).await.unwrap(),
        vec![(
            "pineapple".to_owned(),
            "opt_out".to_owned(),
            "en".to_owned()
        )]
    );
    let html = app.page("/settings?done=keywords_saved").await;
    assert!(html.contains("name=\"keyword-0\" value=\"pineapple\""));
    assert!(
        html.contains("name=\"keyword-1\" value=\"\""),
        "a blank row to add another"
    );

    let after = app.reply("k2", "+61412000062", "PINEAPPLE!", 0).await;
    assert_eq!(after["classification"], "opt_out", "{after}");
    assert_eq!(after["tier"], "custom");
    assert!(app.opted_out("+61412000062").await);

    // Remove the row: the list is replaced by what is left.
    let r = app
        .post(
            "/settings/keywords",
            &[
                ("csrf_token", &csrf),
                ("keyword-0", "pineapple"),
                ("kind-0", "opt_out"),
                ("language-0", "en"),
                ("remove-0", "on"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        app.store
            .custom_keywords(app.account)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn bad_keyword_rows_are_marked_on_their_row_and_nothing_is_saved() {
    let app = spawn_app().await;
    let csrf = csrf_of(&app.page("/settings").await);
    let r = app
        .post(
            "/settings/keywords",
            &[
                ("csrf_token", &csrf),
                ("keyword-0", "halt"),
                ("kind-0", "opt_out"),
                ("language-0", "any"),
                ("keyword-1", "!!!"),
                ("kind-1", "opt_out"),
                ("language-1", "any"),
                ("keyword-2", "Halt"),
                ("kind-2", "help"),
                ("language-2", "any"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains(
        "The keywords were not saved: <a href=\"#kw-1-keyword\">correct the rows marked below</a>"
    ));
    assert!(html.contains("id=\"kw-1-error\">A keyword needs at least one letter or digit."));
    assert!(html.contains("name=\"keyword-1\" value=\"!!!\" maxlength=\"40\" autocomplete=\"off\" spellcheck=\"false\" aria-invalid=\"true\" aria-describedby=\"kw-1-error\" autofocus"));
    assert!(html.contains("id=\"kw-2-error\">“halt” is already in row 1"));
    assert_eq!(
        html.matches(" autofocus").count(),
        1,
        "focus on the first error only"
    );
    assert!(
        app.store
            .custom_keywords(app.account)
            .await
            .unwrap()
            .is_empty()
    );

    // "Add a row" saves nothing and shows one more row, focused.
    let r = app
        .post(
            "/settings/keywords",
            &[
                ("csrf_token", &csrf),
                ("keyword-0", "halt"),
                ("kind-0", "opt_out"),
                ("language-0", "any"),
                ("action", "add"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("name=\"keyword-0\" value=\"halt\""));
    assert!(html.contains("id=\"kw-1-keyword\" name=\"keyword-1\" value=\"\" maxlength=\"40\" autocomplete=\"off\" spellcheck=\"false\" autofocus"));
    assert!(
        app.store
            .custom_keywords(app.account)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn the_notification_secret_is_never_shown_and_a_blank_one_keeps_the_stored_secret() {
    let app = spawn_app().await;
    let secret = "whsec_0123456789abcdef";
    let csrf = csrf_of(&app.page("/settings").await);

    // No endpoint yet: a secret is required.
    let r = app
        .post(
            "/settings/notifications",
            &[
                ("csrf_token", &csrf),
                ("url", "https://hooks.example/a"),
                ("secret", ""),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"notify-secret-error\">Give a secret of at least 16 characters"));
    assert!(
        html.contains("value=\"https://hooks.example/a\""),
        "the URL as typed"
    );
    assert!(
        app.store
            .notify_endpoint(app.account)
            .await
            .unwrap()
            .is_none()
    );

    let r = app
        .post(
            "/settings/notifications",
            &[
                ("csrf_token", &csrf),
                ("url", "https://hooks.example/a"),
                ("secret", secret),
            ],
        )
        .await;
    assert_eq!(location(&r), "/settings?done=notify_saved#notifications");
    let html = app.page("/settings").await;
    assert!(!html.contains(secret), "the secret never comes back");
    assert!(html.contains("A secret is stored; leave this blank to keep it."));
    assert!(html.contains("value=\"https://hooks.example/a\""));

    // A new URL with a blank secret keeps the stored secret.
    let r = app
        .post(
            "/settings/notifications",
            &[
                ("csrf_token", &csrf),
                ("url", "https://hooks.example/b"),
                ("secret", ""),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.store.notify_endpoint(app.account).await.unwrap(),
        Some(("https://hooks.example/b".to_owned(), secret.to_owned()))
    );

    // An opt-out is queued for the endpoint and listed among the deliveries.
    app.reply("n1", "+61412000071", "STOP", 0).await;
    let html = app.page("/settings").await;
    assert!(html.contains("<th scope=\"row\" data-label=\"Event\">Opted out</th>"));
    assert!(!html.contains(secret));

    // A bad URL is refused; a blank URL removes the endpoint.
    let r = app
        .post(
            "/settings/notifications",
            &[
                ("csrf_token", &csrf),
                ("url", "hooks.example"),
                ("secret", ""),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("id=\"notify-url-error\">URL must start with https:// and name a server")
    );
    let r = app
        .post(
            "/settings/notifications",
            &[("csrf_token", &csrf), ("url", ""), ("secret", "")],
        )
        .await;
    assert_eq!(location(&r), "/settings?done=notify_removed#notifications");
    assert!(
        app.store
            .notify_endpoint(app.account)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn the_vonage_signature_secret_is_never_shown_and_a_blank_one_keeps_it() {
    let app = spawn_app().await;
    let secret = "vonage_dashboard_secret_42";
    let html = app.page("/settings").await;
    assert!(html.contains("<option value=\"\" selected>Not checked</option>"));
    let csrf = csrf_of(&html);

    // A method without a secret is refused beside the secret, with the method as chosen.
    let r = app
        .post(
            "/settings/vonage-signature",
            &[("csrf_token", &csrf), ("method", "sha256"), ("secret", "")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains(
        "id=\"vonage-secret-error\">The signature secret of the Vonage dashboard is required"
    ));
    assert!(html.contains("<option value=\"sha256\" selected>SHA-256 HMAC</option>"));
    assert_eq!(app.store.vonage_signature(app.account).await.unwrap(), None);

    let r = app
        .post(
            "/settings/vonage-signature",
            &[
                ("csrf_token", &csrf),
                ("method", "sha256"),
                ("secret", secret),
            ],
        )
        .await;
    assert_eq!(
        location(&r),
        "/settings?done=vonage_signature_saved#vonage-signature"
    );
    let html = app
        .page("/settings?done=vonage_signature_saved#vonage-signature")
        .await;
    assert!(!html.contains(secret), "the secret never comes back");
    assert!(html.contains("Vonage replies without a valid signature are refused"));
    assert!(html.contains("<option value=\"sha256\" selected>SHA-256 HMAC</option>"));
    assert!(html.contains("<th scope=\"row\" data-label=\"Setting\">Vonage signed webhooks</th>"));

    // Another method with a blank secret keeps the stored secret; "Not checked" forgets it.
    let r = app
        .post(
            "/settings/vonage-signature",
            &[("csrf_token", &csrf), ("method", "md5hash"), ("secret", "")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.store.vonage_signature(app.account).await.unwrap(),
        Some(stoplist_store::VonageSignature {
            method: "md5hash".into(),
            secret: secret.into()
        })
    );
    let r = app
        .post(
            "/settings/vonage-signature",
            &[("csrf_token", &csrf), ("method", ""), ("secret", "")],
        )
        .await;
    assert_eq!(
        location(&r),
        "/settings?done=vonage_signature_off#vonage-signature"
    );
    assert_eq!(app.store.vonage_signature(app.account).await.unwrap(), None);
}

/// The Keywords form is checked by the same domain rules as the API: a keyword of a thousand
/// characters is refused with its length (not cut into another keyword), and STOP cannot be
/// an opt-in keyword.
#[tokio::test]
async fn a_thousand_character_keyword_and_stop_as_an_opt_in_are_refused_on_their_rows() {
    let app = spawn_app().await;
    let csrf = csrf_of(&app.page("/settings").await);
    let long = "x".repeat(1000);
    let r = app
        .post(
            "/settings/keywords",
            &[
                ("csrf_token", csrf.as_str()),
                ("keyword-0", long.as_str()),
                ("kind-0", "opt_out"),
                ("language-0", "any"),
                ("keyword-1", "STOP"),
                ("kind-1", "opt_in"),
                ("language-1", "any"),
                ("keyword-2", "Pineapple"),
                ("kind-2", "opt_out"),
                ("language-2", "en"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("id=\"kw-0-error\">A keyword is at most 40 characters (1000 given)."),
        "the length, not a shorter keyword"
    );
    assert!(html.contains(
        "id=\"kw-1-error\">“stop” is an opt-out keyword in the built-in lists, so it cannot be an \
         opt-in keyword (an opt-out is never weakened)."
    ));
    assert!(!html.contains("kw-2-error"), "the good row has no error");
    assert!(
        app.store
            .custom_keywords(app.account)
            .await
            .unwrap()
            .is_empty(),
        "nothing saved"
    );
}

/// The notification form checks the endpoint as the API does (the server's default
/// configuration: https to public addresses only).
#[tokio::test]
async fn the_notification_form_refuses_a_private_endpoint() {
    let app = spawn_app().await;
    let csrf = csrf_of(&app.page("/settings").await);
    for (url, says) in [
        ("http://127.0.0.1:9/hook", "Must be https"),
        (
            "https://10.1.2.3/hook",
            "Is 10.1.2.3, a private address; stoplist sends only to public addresses",
        ),
    ] {
        let r = app
            .post(
                "/settings/notifications",
                &[
                    ("csrf_token", csrf.as_str()),
                    ("url", url),
                    ("secret", "whsec_0123456789abcdef"),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{url}");
        let html = r.text().await.unwrap();
        assert!(
            html.contains(&format!("id=\"notify-url-error\">{says}")),
            "{url}"
        );
    }
    assert!(
        app.store
            .notify_endpoint(app.account)
            .await
            .unwrap()
            .is_none()
    );
}
