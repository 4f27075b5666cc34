//! The web UI's server-side rules, through real HTTP against a real server: sessions and
//! login limits, CSRF, redirects to the login page, the settings form and its history, the
//! Opt Out Manager's refusals, and HTML escaping.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::{Response, StatusCode};
use stoplist::config::Config;
use stoplist_domain::names::{ContactFields, GroupName};
use stoplist_domain::rules::OptOutEvent;
use stoplist_domain::{Actor, ActorKind, PhoneNumber, Region};
use stoplist_store::OptOutCommand;

use crate::common;

use common::ui::{LOGIN, PASSWORD, UiApp as TestApp, client, csrf_of, location};

async fn spawn_app() -> TestApp {
    spawn_with(Config::default()).await
}

async fn spawn_with(config: Config) -> TestApp {
    common::ui::spawn_ui(config, "Acme <Pty> Ltd", 0, false).await
}

/// Whether `html` holds `raw` HTML-escaped (askama writes `&#60;`; either form is fine).
fn has_escaped(html: &str, raw: &str) -> bool {
    let named = raw
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    let numeric = raw
        .replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;");
    html.contains(&named) || html.contains(&numeric)
}

impl TestApp {
    /// Posts the login form the way a browser does (token from the page, cookie from the jar).
    async fn try_login(&self, password: &str) -> Response {
        let html = self.page("/login").await;
        let csrf = csrf_of(&html);
        self.post(
            "/login",
            &[
                ("login", LOGIN),
                ("password", password),
                ("csrf_token", &csrf),
            ],
        )
        .await
    }

    async fn login(&self) {
        let r = self.try_login(PASSWORD).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&r), "/optouts");
    }

    /// Every field of the settings form as the page shows it now, with `changes` applied.
    async fn settings_form(&self, changes: &[(&str, Option<&str>)]) -> Vec<(String, String)> {
        let s = self.store.settings(self.account).await.unwrap();
        let mut form: Vec<(String, String)> = vec![("csrf_token".into(), self.csrf().await)];
        let flags = [
            ("auto_delete_optouts", s.auto_delete_optouts),
            ("enforce_global_optouts", s.enforce_global_optouts),
            ("confirmation_enabled", s.confirmation_enabled),
            ("footer_enabled", s.footer_enabled),
            ("unclear_counts_as_optout", s.unclear_counts_as_optout),
        ];
        for (name, on) in flags {
            if on {
                form.push((name.into(), "on".into()));
            }
        }
        if s.auto_delete_optouts {
            form.push(("remove_from_all_groups_shown".into(), "1".into()));
            if s.remove_from_all_groups {
                form.push(("remove_from_all_groups".into(), "on".into()));
            }
        }
        form.push(("default_region".into(), s.default_region.to_string()));
        form.push(("confirmation_text".into(), s.confirmation_text.clone()));
        form.push(("help_text".into(), s.help_text.clone()));
        form.push(("footer_text".into(), s.footer_text.clone()));
        for (name, value) in changes {
            form.retain(|(n, _)| n != name);
            if let Some(v) = value {
                form.push(((*name).into(), (*v).into()));
            }
        }
        form
    }

    async fn post_settings(&self, changes: &[(&str, Option<&str>)]) -> Response {
        let form = self.settings_form(changes).await;
        self.client
            .post(self.url("/settings"))
            .form(&form)
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn the_right_password_starts_a_session_and_a_wrong_one_does_not() {
    let app = spawn_app().await;

    let r = app.try_login("wrong password").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        r.headers()
            .get_all("set-cookie")
            .iter()
            .all(|c| !c.to_str().unwrap().starts_with("stoplist_session="))
    );
    assert!(r.text().await.unwrap().contains("Wrong login or password."));
    assert_eq!(location(&app.get("/optouts").await), "/login");

    let r = app.try_login(PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("stoplist_session="))
        .expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "not Secure unless configured: {cookie}"
    );
    let html = app.page("/optouts").await;
    assert!(html.contains(LOGIN), "the header names the user");
    assert!(
        has_escaped(&html, "Acme <Pty> Ltd"),
        "the header names the account, escaped"
    );
}

#[tokio::test]
async fn an_unknown_login_gets_the_same_answer_as_a_wrong_password() {
    let app = spawn_app().await;
    let csrf = csrf_of(&app.page("/login").await);
    let r = app
        .post(
            "/login",
            &[
                ("login", "mallory"),
                ("password", PASSWORD),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.text().await.unwrap().contains("Wrong login or password."));
}

#[tokio::test]
async fn after_the_allowed_failures_even_the_right_password_is_refused_with_429() {
    let app = spawn_with(Config {
        login_attempts: 3,
        ..Config::default()
    })
    .await;
    for _ in 0..3 {
        assert_eq!(
            app.try_login("wrong password").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let r = app.try_login(PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.text().await.unwrap().contains("Too many failed attempts"));
    assert_eq!(
        location(&app.get("/optouts").await),
        "/login",
        "no session was made"
    );
}

/// Posts a login form from a fresh client (its own page, token and cookie).
async fn login_from_fresh_client(app: &TestApp, login: &str, password: &str) -> Response {
    app.try_log_in_as(&client(), login, password).await
}

#[tokio::test(flavor = "multi_thread")]
async fn forty_concurrent_wrong_logins_get_exactly_the_allowed_password_checks() {
    let app = spawn_with(Config {
        login_attempts: 5,
        ..Config::default()
    })
    .await;
    let tries: Vec<_> = (0..40)
        .map(|_| login_from_fresh_client(&app, LOGIN, "wrong password"))
        .collect();
    let statuses: Vec<StatusCode> = futures_util::future::join_all(tries)
        .await
        .iter()
        .map(Response::status)
        .collect();
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((checked, refused), (5, 35), "{statuses:?}");
}

#[tokio::test]
async fn a_huge_login_name_is_refused_before_any_work_and_counts_nothing() {
    let app = spawn_with(Config {
        login_attempts: 2,
        ..Config::default()
    })
    .await;
    // A megabyte: refused before the body is read.
    let huge = "x".repeat(1 << 20);
    let r = login_from_fresh_client(&app, &huge, "wrong password").await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Longer than any login, within the body limit: refused without a lookup or a count.
    let long = "y".repeat(300);
    for _ in 0..5 {
        let r = login_from_fresh_client(&app, &long, "wrong password").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        app.state.logins.remembered(),
        0,
        "nothing of them is remembered"
    );
    let r = login_from_fresh_client(&app, LOGIN, PASSWORD).await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "the address was not limited"
    );
}

#[tokio::test]
async fn responses_are_nosniff_and_no_store_and_https_makes_cookies_secure_with_hsts() {
    let app = spawn_app().await;
    app.login().await;
    for path in ["/optouts", "/api/v1/optouts", "/healthz", "/login"] {
        let r = app.get(path).await;
        let h = r.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["cache-control"], "no-store", "{path}");
        assert!(
            h.get("strict-transport-security").is_none(),
            "{path}: plain http"
        );
    }
    let https = spawn_with(Config {
        public_url: Some("https://sms.example.com".into()),
        ..Config::default()
    })
    .await;
    let r = login_from_fresh_client(&https, LOGIN, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        r.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .starts_with("max-age=")
    );
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("stoplist_session="))
        .expect("a session cookie");
    assert!(cookie.contains("; Secure"), "{cookie}");
}

#[tokio::test]
async fn a_login_form_without_its_cookie_token_is_refused() {
    let app = spawn_app().await;
    let csrf = csrf_of(&app.page("/login").await);
    // Another client (no cookie jar entry) posting a token it read elsewhere: login CSRF.
    let other = client();
    let r = other
        .post(app.url("/login"))
        .form(&[
            ("login", LOGIN),
            ("password", PASSWORD),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // The right cookie but a login posted from another site.
    let r = app
        .client
        .post(app.url("/login"))
        .header("origin", "http://evil.example")
        .form(&[
            ("login", LOGIN),
            ("password", PASSWORD),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn pages_without_a_session_redirect_to_login() {
    let app = spawn_app().await;
    for path in [
        "/",
        "/optouts",
        "/optouts/%2B61412345678",
        "/contacts",
        "/groups/1",
        "/settings",
        "/contacts/import",
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(location(&r), "/login", "{path}");
    }
    let r = app.post("/optouts", &[("number", "0412 345 678")]).await;
    assert_eq!(location(&r), "/login");
    let r = app
        .client
        .get(app.url("/optouts?q=1"))
        .header("hx-request", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers().get("hx-redirect").unwrap(),
        "/login",
        "htmx is told to load the login page"
    );
    assert_eq!(
        app.get("/static/app.css").await.status(),
        StatusCode::OK,
        "static files are public"
    );
}

#[tokio::test]
async fn logging_out_ends_the_session() {
    let app = spawn_app().await;
    app.login().await;
    let csrf = app.csrf().await;
    let r = app.post("/logout", &[("csrf_token", &csrf)]).await;
    assert_eq!(location(&r), "/login?done=logged_out");
    assert_eq!(location(&app.get("/optouts").await), "/login");
}

#[tokio::test]
async fn a_post_without_the_csrf_token_is_403_and_changes_nothing() {
    let app = spawn_app().await;
    app.login().await;
    let number = PhoneNumber::parse("0412 345 678", Region::AU).unwrap();

    let r = app.post("/optouts", &[("number", "0412 345 678")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let wrong = "0".repeat(64);
    let r = app
        .post(
            "/optouts",
            &[("number", "0412 345 678"), ("csrf_token", &wrong)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(
        app.store
            .optout(app.account, &number)
            .await
            .unwrap()
            .is_none()
    );

    let mut form = app
        .settings_form(&[("auto_delete_optouts", Some("on"))])
        .await;
    form.retain(|(n, _)| n != "csrf_token");
    let r = app
        .client
        .post(app.url("/settings"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(
        !app.store
            .settings(app.account)
            .await
            .unwrap()
            .auto_delete_optouts
    );
    assert!(
        app.store
            .settings_history(app.account, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // The right token from another site's page is refused too (Origin check).
    let csrf = app.csrf().await;
    let r = app
        .client
        .post(app.url("/optouts"))
        .header("origin", "http://evil.example")
        .form(&[("number", "0412 345 678"), ("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(
        app.store
            .optout(app.account, &number)
            .await
            .unwrap()
            .is_none()
    );

    // The token as an htmx header works; so does the field.
    let r = app
        .client
        .post(app.url("/optouts"))
        .header("x-csrf-token", &csrf)
        .header("origin", &app.base)
        .form(&[("number", "0412 345 678")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        app.store
            .optout(app.account, &number)
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn the_settings_form_changes_settings_and_the_history_records_it() {
    let app = spawn_app().await;
    app.login().await;
    let html = app.page("/settings").await;
    for label in [
        "Automatically delete Opt Outs from Contacts",
        "Recipient Opt Out removes user from all groups?",
        "Enforce Global Optouts",
        "Count unclear replies as opt-outs until reviewed",
        "Update Settings",
    ] {
        assert!(html.contains(label), "{label}");
    }
    let token = app
        .state
        .store
        .account(app.account)
        .await
        .unwrap()
        .unwrap()
        .webhook_token;
    assert!(html.contains(&format!("/webhooks/twilio/{token}")));

    let r = app
        .post_settings(&[
            ("auto_delete_optouts", Some("on")),
            ("enforce_global_optouts", None),
            ("default_region", Some("NZ")),
            ("footer_text", Some("Txt STOP to opt out")),
        ])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/settings?done=settings_updated");
    let s = app.store.settings(app.account).await.unwrap();
    assert!(s.auto_delete_optouts && !s.enforce_global_optouts);
    assert_eq!(s.default_region.as_str(), "NZ");
    assert_eq!(s.footer_text, "Txt STOP to opt out");

    let history = app.store.settings_history(app.account, 20).await.unwrap();
    let mut fields: Vec<&str> = history.iter().map(|c| c.field.as_str()).collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "auto_delete_optouts",
            "default_region",
            "enforce_global_optouts",
            "footer_text"
        ]
    );
    assert!(
        history
            .iter()
            .all(|c| c.actor.kind == ActorKind::User && c.actor.label == LOGIN)
    );

    let html = app.page("/settings?done=settings_updated").await;
    assert!(html.contains("Settings updated"));
    assert!(html.contains("Txt STOP to opt out"));
}

#[tokio::test]
async fn an_invalid_setting_is_shown_beside_its_field_and_nothing_changes() {
    let app = spawn_app().await;
    app.login().await;
    let r = app
        .post_settings(&[
            ("auto_delete_optouts", Some("on")),
            ("help_text", Some("   ")),
        ])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("Help text must not be empty"));
    assert!(
        html.contains(
            "id=\"auto_delete_optouts\" name=\"auto_delete_optouts\" value=\"on\" checked"
        ),
        "typed values are kept"
    );
    assert!(
        !app.store
            .settings(app.account)
            .await
            .unwrap()
            .auto_delete_optouts
    );
    assert!(
        app.store
            .settings_history(app.account, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn the_all_groups_checkbox_is_inactive_while_auto_delete_is_off_and_keeps_its_value() {
    let app = spawn_app().await;
    app.login().await;
    let html = app.page("/settings").await;
    let input = html
        .split("<input")
        .find(|i| i.contains("id=\"remove_from_all_groups\""))
        .unwrap();
    assert!(input.contains(" disabled"), "{input}");
    assert!(
        html.contains("has no effect unless Automatically delete Opt Outs from Contacts is on")
    );

    // On, both; then auto-delete off: the disabled box is not sent, and its value is kept.
    app.post_settings(&[
        ("auto_delete_optouts", Some("on")),
        ("remove_from_all_groups_shown", Some("1")),
        ("remove_from_all_groups", Some("on")),
    ])
    .await;
    assert!(
        app.store
            .settings(app.account)
            .await
            .unwrap()
            .remove_from_all_groups
    );
    app.post_settings(&[
        ("auto_delete_optouts", None),
        ("remove_from_all_groups_shown", None),
        ("remove_from_all_groups", None),
    ])
    .await;
    let s = app.store.settings(app.account).await.unwrap();
    assert!(!s.auto_delete_optouts);
    assert!(
        s.remove_from_all_groups,
        "a disabled checkbox is not read as off"
    );
}

#[tokio::test]
async fn group_names_and_typed_text_are_escaped_in_html() {
    let app = spawn_app().await;
    app.login().await;
    let csrf = app.csrf().await;
    let r = app
        .post(
            "/groups",
            &[("name", "<script>alert(1)</script>"), ("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let group_page = location(&r).to_owned();
    for path in ["/contacts", group_page.as_str()] {
        let html = app.page(path).await;
        assert!(!html.contains("<script>alert(1)</script>"), "{path}");
        assert!(has_escaped(&html, "<script>alert(1)</script>"), "{path}");
    }
    // Text typed into a failing form comes back escaped too.
    let r = app
        .post(
            "/optouts",
            &[
                ("number", "\"><img src=x onerror=alert(1)>"),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(!html.contains("<img src=x"));
    assert!(has_escaped(&html, "\"><img src=x onerror=alert(1)>"));
}

#[tokio::test]
async fn flash_messages_are_fixed_texts_never_the_query() {
    let app = spawn_app().await;
    app.login().await;
    let html = app.page("/optouts?done=%3Cb%3Ehello").await;
    assert!(!html.contains("hello"));
    let html = app.page("/optouts?done=added").await;
    assert!(html.contains("Number added to the opt-out list."));
}

#[tokio::test]
async fn an_invalid_number_is_shown_beside_the_field_with_its_reason() {
    let app = spawn_app().await;
    app.login().await;
    let csrf = app.csrf().await;
    let r = app
        .post("/optouts", &[("number", "12345"), ("csrf_token", &csrf)])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("class=\"field-error\" id=\"add-number-error\">Invalid number ("),
        "{html}"
    );
    assert!(html.contains("value=\"12345\""), "the typed value is kept");
    assert_eq!(app.store.count_optouts(app.account).await.unwrap(), 0);
}

#[tokio::test]
async fn adding_removing_and_the_history_of_a_number() {
    let app = spawn_app().await;
    app.login().await;
    let csrf = app.csrf().await;
    let r = app
        .post(
            "/optouts",
            &[("number", "0412 999 888"), ("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(location(&r), "/optouts?done=added");
    let r = app
        .post(
            "/optouts",
            &[("number", "+61 412 999 888"), ("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(
        location(&r),
        "/optouts?done=already",
        "adding twice is harmless"
    );
    assert!(app.page("/optouts").await.contains("+61412999888"));

    let r = app
        .post(
            "/optouts/remove",
            &[
                ("number", "+61412999888"),
                ("reason", " "),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "a reason is required"
    );
    let r = app
        .post(
            "/optouts/remove",
            &[
                ("number", "+61412999888"),
                ("reason", "customer asked again"),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(location(&r), "/optouts?done=removed");
    assert!(!app.page("/optouts").await.contains("+61412999888"));

    let html = app.page("/optouts/0412999888").await;
    assert!(html.contains("History of <span class=\"number\">+61412999888</span>"));
    assert!(html.contains("Opted out") && html.contains("Opted in"));
    assert!(html.contains("customer asked again"));
    assert_eq!(
        html.matches("<code title=\"").count(),
        2,
        "two events with their hashes"
    );
}

#[tokio::test]
async fn a_reply_opt_out_under_enforce_global_optouts_cannot_be_removed_from_the_page() {
    let app = spawn_app().await;
    app.login().await;
    let number = PhoneNumber::parse("0412 345 602", Region::AU).unwrap();
    let cmd = OptOutCommand {
        number: number.clone(),
        event: OptOutEvent::ReplyOptOut {
            matched_campaign: false,
        },
        actor: Actor {
            kind: ActorKind::Inbound,
            id: None,
            label: "reply 1".into(),
        },
        reason: None,
        evidence: Some("STOP".into()),
        campaign_groups: vec![],
    };
    app.state.optouts.apply(app.account, &cmd).await.unwrap();
    let html = app.page("/optouts").await;
    assert!(html.contains("only the number can lift it, by replying START"));
    assert!(
        !html.contains("Reason for removing +61412345602"),
        "no removal form"
    );

    let csrf = app.csrf().await;
    let r = app
        .post(
            "/optouts/remove",
            &[
                ("number", "+61412345602"),
                ("reason", "they called us"),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("only the number itself can lift it, by replying START"),
        "{html}"
    );
    assert!(
        app.store
            .optout(app.account, &number)
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn an_opted_out_number_cannot_be_added_as_a_contact_and_contacts_show_the_badge() {
    let app = spawn_app().await;
    app.login().await;
    let group = app
        .store
        .create_group(app.account, &GroupName::parse("VIP").unwrap(), 0)
        .await
        .unwrap();
    let kept = PhoneNumber::parse("0412 345 601", Region::AU).unwrap();
    app.store
        .create_contact(app.account, group.id, &kept, &ContactFields::default(), 0)
        .await
        .unwrap();
    let csrf = app.csrf().await;
    app.post(
        "/optouts",
        &[("number", "0412 345 601"), ("csrf_token", &csrf)],
    )
    .await;
    app.post(
        "/optouts",
        &[("number", "0412 345 602"), ("csrf_token", &csrf)],
    )
    .await;

    let path = format!("/groups/{}/contacts", group.id.0);
    let r = app
        .post(
            &path,
            &[
                ("number", "0412 345 602"),
                ("first_name", "Jack"),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("+61412345602 is on the opt-out list, so it cannot be added as a contact")
    );
    assert!(html.contains("value=\"Jack\""), "typed values are kept");

    let html = app.page(&format!("/groups/{}", group.id.0)).await;
    assert!(
        html.contains(">Opted out</a>"),
        "the kept contact of an opted-out number is marked"
    );
}

#[tokio::test]
async fn live_search_answers_a_fragment_and_an_empty_search_says_what_to_do() {
    let app = spawn_app().await;
    app.login().await;
    let html = app.page("/optouts").await;
    assert!(html.contains("No opt-outs yet — add a number above."));
    let html = app.page("/contacts").await;
    assert!(html.contains("No groups yet"));
    assert!(html.contains("No contacts yet"));

    let r = app
        .client
        .get(app.url("/optouts?q=zzz"))
        .header("hx-request", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("vary").is_some());
    let fragment = r.text().await.unwrap();
    assert!(!fragment.contains("<html"), "only the list");
    assert!(fragment.contains("No opted-out number matches your search"));

    let r = app
        .client
        .get(app.url("/contacts?q=nobody"))
        .header("hx-request", "true")
        .send()
        .await
        .unwrap();
    let fragment = r.text().await.unwrap();
    assert!(!fragment.contains("<html"), "only the table");
    assert!(fragment.contains("No contacts match your search"));
}

#[tokio::test]
async fn api_keys_are_shown_once_and_can_be_revoked() {
    let app = spawn_app().await;
    app.login().await;
    let csrf = app.csrf().await;
    let r = app
        .post(
            "/settings/api-keys",
            &[("name", "billing"), ("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers().get("cache-control").unwrap(), "no-store");
    let html = r.text().await.unwrap();
    let start = html.find("id=\"new-api-key\">").unwrap() + "id=\"new-api-key\">".len();
    let key = &html[start..start + 43];
    assert!(key.starts_with("sl_"));
    let api = |key: &str| {
        app.client
            .get(app.url("/api/v1/settings"))
            .bearer_auth(key.to_owned())
            .send()
    };
    assert_eq!(api(key).await.unwrap().status(), StatusCode::OK);
    assert!(
        !app.page("/settings").await.contains(key),
        "shown only once"
    );

    let id = app.store.list_api_keys(app.account).await.unwrap()[0].id.0;
    let r = app
        .post(
            &format!("/settings/api-keys/{id}/revoke"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(api(key).await.unwrap().status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn long_lists_page_with_a_next_link_and_search_finds_local_forms() {
    let app = spawn_app().await;
    app.login().await;
    let numbers: Vec<PhoneNumber> = (0..60)
        .map(|i| PhoneNumber::parse(&format!("0412 500 {i:03}"), Region::AU).unwrap())
        .collect();
    app.store
        .bulk_add_optouts(app.account, &numbers, &Actor::system("test"), "bulk", 0)
        .await
        .unwrap();
    let html = app.page("/optouts").await;
    assert!(html.contains("<strong>60</strong> numbers are on the opt-out list"));
    assert_eq!(
        html.matches("<tr>").count(),
        1 + 50,
        "a header row and a page of 50"
    );
    let start = html.find("before=").expect("a Next page link") + "before=".len();
    let cursor: String = html[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let html = app.page(&format!("/optouts?before={cursor}")).await;
    assert_eq!(html.matches("<tr>").count(), 1 + 10);
    assert!(html.contains("First page") && !html.contains("rel=\"next\""));

    // A local number, written any way, finds its E.164 form.
    let html = app.page("/optouts?q=0412%20500%20007").await;
    assert!(html.contains("+61412500007"));
    assert_eq!(html.matches("<tr>").count(), 1 + 1);
}
