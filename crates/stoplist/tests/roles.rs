//! Roles, user management, two-factor login and the audit log, over real HTTP on loopback
//! against a real SQLite file: every route of `web::access::POLICY` with each role, a
//! disabled user's session and key, the last owner, TOTP codes computed here independently
//! (RFC 6238 written out again, not the server's code), and the audit log's events and export.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::ui::{LOGIN, PASSWORD, UiApp, client, csrf_of, hidden, spawn_ui};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use stoplist::config::Config;
use stoplist::web::access::{Access, POLICY};
use stoplist_domain::Role;

/// A number every `{number}` segment is filled with.
const NUMBER: &str = "%2B14155550100";

fn fill(route: &str) -> String {
    route.replace("{number}", NUMBER).replace("{id}", "999999")
}

async fn key(app: &UiApp, role: Role) -> String {
    stoplist::accounts::create_api_key(app.store.as_ref(), app.account, "k", role, None)
        .await
        .unwrap()
        .1
}

async fn api(
    app: &UiApp,
    key: &str,
    method: Method,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    let r = client()
        .request(method, app.url(path))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A client logged in as a new user of `role`.
async fn user(app: &UiApp, login: &str, role: Role) -> Client {
    stoplist::accounts::create_user(app.store.as_ref(), app.account, login, PASSWORD, role)
        .await
        .unwrap();
    let c = client();
    app.log_in_as(&c, login, PASSWORD).await;
    c
}

/// The text of a page as `c` sees it, whatever its status.
async fn text_of(app: &UiApp, c: &Client, path: &str) -> String {
    c.get(app.url(path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn csrf(app: &UiApp, c: &Client) -> String {
    let html = text_of(app, c, "/account").await;
    csrf_of(&html)
}

#[tokio::test]
async fn every_api_route_answers_each_role_as_the_policy_says() {
    let app = spawn_ui(Config::default(), "acme", 0, false).await;
    let keys = [
        (Role::Viewer, key(&app, Role::Viewer).await),
        (Role::Manager, key(&app, Role::Manager).await),
        (Role::Owner, key(&app, Role::Owner).await),
    ];
    // An owner's key whose maker is then disabled.
    let maker = stoplist::accounts::create_user(
        app.store.as_ref(),
        app.account,
        "gone",
        PASSWORD,
        Role::Owner,
    )
    .await
    .unwrap();
    let (_, disabled_key) = stoplist::accounts::create_api_key(
        app.store.as_ref(),
        app.account,
        "gone's",
        Role::Owner,
        Some(&maker),
    )
    .await
    .unwrap();
    let by = stoplist::users::Asker::cli();
    stoplist::users::change(&app.state, app.account, maker.id, None, Some(true), &by)
        .await
        .unwrap();
    let mut checked = 0;
    for (method, route, access) in POLICY.iter().filter(|(_, r, _)| r.starts_with("/api/")) {
        let Access::Role(needed) = access else {
            continue;
        };
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let path = fill(route);
        // Without a key: 401, whatever the role needed.
        let r = client()
            .request(method.clone(), app.url(&path))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path} without a key"
        );
        let (status, _) = api(&app, &disabled_key, method.clone(), &path, json!({})).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{method} {path} with a disabled maker's key"
        );
        for (role, k) in &keys {
            let (status, body) = api(&app, k, method.clone(), &path, json!({})).await;
            if role.allows(*needed) {
                assert_ne!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{method} {path} as {role}: {body}"
                );
                assert_ne!(
                    status,
                    StatusCode::UNAUTHORIZED,
                    "{method} {path} as {role}"
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{method} {path} as {role}: {body}"
                );
                assert_eq!(body["error"]["code"], "forbidden_role", "{method} {path}");
            }
            checked += 1;
        }
    }
    assert!(checked > 150, "walked {checked} route and role pairs");
}

#[tokio::test]
async fn every_page_and_form_answers_each_role_as_the_policy_says() {
    let app = spawn_ui(Config::default(), "acme", 0, false).await;
    let clients = [
        (Role::Viewer, user(&app, "vera", Role::Viewer).await),
        (Role::Manager, user(&app, "max", Role::Manager).await),
        (Role::Owner, user(&app, "olga", Role::Owner).await),
    ];
    // An owner logged in, then disabled: every page sends her to log in.
    let gone = user(&app, "gone", Role::Owner).await;
    let gone_token = csrf(&app, &gone).await;
    let id = stoplist::users::user_named(&app.state, app.account, "gone")
        .await
        .unwrap()
        .id;
    let by = stoplist::users::Asker::cli();
    stoplist::users::change(&app.state, app.account, id, None, Some(true), &by)
        .await
        .unwrap();
    let mut checked = 0;
    for (method, route, access) in POLICY.iter().filter(|(_, r, _)| !r.starts_with("/api/")) {
        let Access::Role(needed) = access else {
            continue;
        };
        let path = fill(route);
        let r = if *method == "GET" {
            gone.get(app.url(&path)).send().await.unwrap()
        } else {
            gone.post(app.url(&path))
                .form(&[("csrf_token", gone_token.as_str())])
                .send()
                .await
                .unwrap()
        };
        assert_eq!(
            r.headers().get("location").map(|l| l.to_str().unwrap()),
            Some("/login"),
            "{method} {path} with a disabled user's session"
        );
        for (role, c) in &clients {
            let token = csrf(&app, c).await;
            let r = if *method == "GET" {
                c.get(app.url(&path)).send().await.unwrap()
            } else {
                // A form with a valid token and nothing else (a session handle that matches
                // none, so that "end session" does not end this one).
                c.post(app.url(&path))
                    .form(&[("csrf_token", token.as_str()), ("handle", "none")])
                    .send()
                    .await
                    .unwrap()
            };
            let status = r.status();
            if role.allows(*needed) {
                assert_ne!(status, StatusCode::FORBIDDEN, "{method} {path} as {role}");
                assert!(
                    r.headers().get("location").is_none_or(|l| l != "/login"),
                    "{method} {path} as {role} was sent to log in"
                );
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path} as {role}");
                let page = r.text().await.unwrap();
                assert!(page.contains(&format!("yours is {role}")), "{page}");
            }
            checked += 1;
        }
    }
    assert!(checked > 150, "walked {checked} route and role pairs");
    // The viewer's pages offer no owner navigation.
    let html = text_of(&app, &clients[0].1, "/optouts").await;
    assert!(!html.contains("href=\"/users\"") && !html.contains("href=\"/audit\""));
    let html = text_of(&app, &clients[2].1, "/optouts").await;
    assert!(html.contains("href=\"/users\"") && html.contains("href=\"/audit\""));
}

#[tokio::test]
async fn a_disabled_users_session_and_keys_stop_at_once_and_the_last_owner_stays() {
    let app = spawn_ui(Config::default(), "acme", 0, true).await;
    let owner_key = key(&app, Role::Owner).await;
    // An owner, Dora, logs in and makes a key on the Settings page.
    let dora = user(&app, "dora", Role::Owner).await;
    let token = csrf(&app, &dora).await;
    let page = dora
        .post(app.url("/settings/api-keys"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("name", "dora's"),
            ("role", "owner"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let start = page.find("id=\"new-api-key\">").expect("key shown") + 17;
    let dora_key = page[start..start + 43].to_owned();
    assert_eq!(
        api(&app, &dora_key, Method::GET, "/api/v1/users", json!({}))
            .await
            .0,
        StatusCode::OK
    );

    // Disabled: her session and her key stop at once.
    let users = api(&app, &owner_key, Method::GET, "/api/v1/users", json!({}))
        .await
        .1;
    let id = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["login"] == "dora")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let (status, body) = api(
        &app,
        &owner_key,
        Method::PATCH,
        &format!("/api/v1/users/{id}"),
        json!({"disabled": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["disabled"], true);
    let r = dora.get(app.url("/optouts")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/login");
    assert_eq!(
        api(&app, &dora_key, Method::GET, "/api/v1/optouts", json!({}))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    // She cannot log in again (told so only after the right password).
    let r = app.try_log_in_as(&client(), "dora", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("disabled"));
    let r = app
        .try_log_in_as(&client(), "dora", "wrong password!")
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Demoted to viewer and enabled: her key is capped at her role.
    let (status, _) = api(
        &app,
        &owner_key,
        Method::PATCH,
        &format!("/api/v1/users/{id}"),
        json!({"disabled": false, "role": "viewer"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        api(&app, &dora_key, Method::GET, "/api/v1/optouts", json!({}))
            .await
            .0,
        StatusCode::OK
    );
    let (status, body) = api(&app, &dora_key, Method::GET, "/api/v1/users", json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // The last active owner (alice, now that dora is a viewer) cannot be demoted, disabled or
    // deleted; nothing changes.
    let alice = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["login"] == LOGIN)
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    for (method, body) in [
        (Method::PATCH, json!({"role": "manager"})),
        (Method::PATCH, json!({"disabled": true})),
        (Method::DELETE, json!({})),
    ] {
        let (status, answer) = api(
            &app,
            &owner_key,
            method,
            &format!("/api/v1/users/{alice}"),
            body,
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert_eq!(answer["error"]["code"], "last_owner");
    }
    let (_, me) = api(
        &app,
        &owner_key,
        Method::GET,
        &format!("/api/v1/users/{alice}"),
        json!({}),
    )
    .await;
    assert_eq!(
        (me["role"].as_str(), me["disabled"].as_bool()),
        (Some("owner"), Some(false))
    );
    // Deleting dora revokes her keys for good.
    let (status, _) = api(
        &app,
        &owner_key,
        Method::DELETE,
        &format!("/api/v1/users/{id}"),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        api(&app, &dora_key, Method::GET, "/api/v1/optouts", json!({}))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let keys = api(&app, &owner_key, Method::GET, "/api/v1/api-keys", json!({}))
        .await
        .1;
    let hers = keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "dora's")
        .unwrap();
    assert!(hers["revoked_at"].is_string(), "{hers}");
}

#[tokio::test]
async fn a_password_reset_and_an_ended_session_log_the_user_out() {
    let app = spawn_ui(Config::default(), "acme", 0, true).await;
    let owner_key = key(&app, Role::Owner).await;
    let max = user(&app, "max", Role::Manager).await;
    let id = stoplist::users::user_named(&app.state, app.account, "max")
        .await
        .unwrap()
        .id
        .0;
    let (_, sessions) = api(
        &app,
        &owner_key,
        Method::GET,
        &format!("/api/v1/users/{id}/sessions"),
        json!({}),
    )
    .await;
    assert_eq!(sessions["items"].as_array().unwrap().len(), 1, "{sessions}");
    let (status, _) = api(
        &app,
        &owner_key,
        Method::POST,
        &format!("/api/v1/users/{id}/password"),
        json!({"password": "a brand new password"}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        max.get(app.url("/optouts")).send().await.unwrap().status(),
        StatusCode::SEE_OTHER
    );
    let r = app.try_log_in_as(&client(), "max", PASSWORD).await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "the old password is gone"
    );
    // Changing one's own password keeps this session and ends the others.
    let (here, there) = (client(), client());
    app.log_in_as(&here, "max", "a brand new password").await;
    app.log_in_as(&there, "max", "a brand new password").await;
    let token = csrf(&app, &here).await;
    let r = here
        .post(app.url("/account/password"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("current_password", "a brand new password"),
            ("new_password", "yet another password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/account?done=password_changed");
    assert_eq!(
        here.get(app.url("/optouts")).send().await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        there
            .get(app.url("/optouts"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::SEE_OTHER
    );
    // A wrong current password changes nothing.
    let token = csrf(&app, &here).await;
    let r = here
        .post(app.url("/account/password"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("current_password", "not the password"),
            ("new_password", "something else entirely"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    app.log_in_as(&client(), "max", "yet another password")
        .await;
}

// --- TOTP, written out independently of the server's code (RFC 6238, HMAC-SHA1) ---------

fn base32(text: &str) -> Vec<u8> {
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits = String::new();
    for c in text.chars() {
        let v = alphabet.find(c).expect("base32");
        bits.push_str(&format!("{v:05b}"));
    }
    bits.as_bytes()
        .chunks(8)
        .filter(|c| c.len() == 8)
        .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 2).unwrap())
        .collect()
}

fn code_at(secret: &str, unix: u64) -> String {
    let mut mac = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(&base32(secret)).unwrap();
    mac.update(&(unix / 30).to_be_bytes());
    let h = mac.finalize().into_bytes();
    let o = (h[19] & 15) as usize;
    let n = u32::from_be_bytes([h[o] & 0x7f, h[o + 1], h[o + 2], h[o + 3]]) % 1_000_000;
    format!("{n:06}")
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn second_factor(app: &UiApp, c: &Client, code: &str) -> reqwest::Response {
    let html = text_of(app, c, "/login/second-factor").await;
    c.post(app.url("/login/second-factor"))
        .form(&[("csrf_token", csrf_of(&html).as_str()), ("code", code)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn two_factor_login_takes_each_code_once_and_each_recovery_code_once() {
    let app = spawn_ui(Config::default(), "acme", 0, true).await;
    // Enrol: the page offers a secret; a code computed here from it turns the factor on.
    let html = app.page("/account").await;
    let secret = hidden(&html, "secret");
    assert_eq!(secret.len(), 32, "{secret}");
    let token = csrf_of(&html);
    let wrong = app
        .post(
            "/account/two-factor",
            &[
                ("csrf_token", &token),
                ("secret", &secret),
                ("code", "000000"),
            ],
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = app
        .post(
            "/account/two-factor",
            &[
                ("csrf_token", &token),
                ("secret", &secret),
                ("code", &code_at(&secret, now())),
            ],
        )
        .await
        .text()
        .await
        .unwrap();
    let list = &page[page.find("id=\"recovery-codes\"").expect("codes shown")..];
    let recovery: Vec<String> = list
        .split("<code>")
        .skip(1)
        .take(10)
        .map(|s| s[..s.find("</code>").unwrap()].to_owned())
        .collect();
    assert_eq!(recovery.len(), 10);

    // The password alone opens nothing but the code form.
    let c = client();
    let r = app.try_log_in_as(&c, LOGIN, PASSWORD).await;
    assert_eq!(r.headers()["location"], "/login/second-factor");
    let r = c.get(app.url("/optouts")).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/login/second-factor");
    assert_eq!(
        second_factor(&app, &c, "123456").await.status(),
        StatusCode::UNAUTHORIZED
    );
    // The next step's code (within the window) logs in; the same code again does not.
    let code = code_at(&secret, now() + 30);
    let r = second_factor(&app, &c, &code).await;
    assert_eq!(r.headers()["location"], "/optouts");
    assert_eq!(
        c.get(app.url("/optouts")).send().await.unwrap().status(),
        StatusCode::OK
    );
    let again = client();
    app.try_log_in_as(&again, LOGIN, PASSWORD).await;
    let r = second_factor(&app, &again, &code).await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "a code replayed within its window"
    );
    // A recovery code works once.
    let r = second_factor(&app, &again, &recovery[0].to_uppercase()).await;
    assert_eq!(r.headers()["location"], "/optouts");
    let third = client();
    app.try_log_in_as(&third, LOGIN, PASSWORD).await;
    assert_eq!(
        second_factor(&app, &third, &recovery[0]).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // The audit log has it all.
    let owner_key = key(&app, Role::Owner).await;
    let (_, log) = api(
        &app,
        &owner_key,
        Method::GET,
        "/api/v1/audit?limit=1000",
        json!({}),
    )
    .await;
    let events: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    for e in [
        "two_factor_enabled",
        "second_factor_failed",
        "recovery_code_used",
        "login_succeeded",
    ] {
        assert!(events.contains(&e), "{e} in {events:?}");
    }
}

#[tokio::test]
async fn an_account_that_requires_two_factor_sends_users_without_it_to_set_it_up() {
    let app = spawn_ui(Config::default(), "acme", 0, true).await;
    let owner_key = key(&app, Role::Owner).await;
    let (status, body) = api(
        &app,
        &owner_key,
        Method::PUT,
        "/api/v1/settings/security",
        json!({"require_two_factor": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let r = app.get("/optouts").await;
    assert_eq!(r.headers()["location"], "/account?done=two_factor_required");
    let html = app.page("/account?done=two_factor_required").await;
    assert!(html.contains("requires two-factor login"));
    // API keys are not people: they keep working.
    assert_eq!(
        api(&app, &owner_key, Method::GET, "/api/v1/optouts", json!({}))
            .await
            .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_audit_log_records_security_events_and_exports_in_four_formats() {
    let app = spawn_ui(Config::default(), "acme", 0, false).await;
    let _ = app
        .try_log_in_as(&client(), LOGIN, "a wrong password")
        .await;
    app.log_in_as(&app.client, LOGIN, PASSWORD).await;
    let owner_key = key(&app, Role::Owner).await;
    let (status, made) = api(
        &app,
        &owner_key,
        Method::POST,
        "/api/v1/users",
        json!({"login": "vic", "password": "password 123", "role": "viewer"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let vic = made["id"].as_i64().unwrap();
    api(
        &app,
        &owner_key,
        Method::PATCH,
        &format!("/api/v1/users/{vic}"),
        json!({"role": "manager"}),
    )
    .await;
    let (status, k) = api(
        &app,
        &owner_key,
        Method::POST,
        "/api/v1/api-keys",
        json!({"name": "crm", "role": "viewer"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{k}");
    assert_eq!(k["role"], "viewer");
    let viewer_key = k["key"].as_str().unwrap().to_owned();
    api(
        &app,
        &owner_key,
        Method::DELETE,
        &format!("/api/v1/api-keys/{}", k["id"]),
        json!({}),
    )
    .await;
    let (status, body) = api(
        &app,
        &owner_key,
        Method::PUT,
        "/api/v1/settings/connector",
        json!({"kind": "log"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let r = client()
        .get(app.url("/api/v1/optouts/export?format=csv"))
        .bearer_auth(&owner_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (_, log) = api(
        &app,
        &owner_key,
        Method::GET,
        "/api/v1/audit?limit=1000",
        json!({}),
    )
    .await;
    let events: Vec<(String, String)> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap().to_owned(),
                e["subject"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (event, subject) in [
        ("login_failed", LOGIN),
        ("login_succeeded", LOGIN),
        ("user_added", "vic"),
        ("role_changed", "vic"),
        ("key_created", "crm"),
        ("key_revoked", "crm"),
        ("connector_changed", "connector"),
        ("optout_list_exported", "opt-out list"),
    ] {
        assert!(
            events.iter().any(|(e, s)| e == event && s == subject),
            "{event} about {subject} in {events:?}"
        );
    }
    // The revoked viewer key is refused; a viewer could not read the log anyway.
    assert_eq!(
        api(&app, &viewer_key, Method::GET, "/api/v1/audit", json!({}))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    // Exports: the API and the owner's page, in each format.
    for (format, magic) in [
        ("csv", &b"time,event"[..]),
        ("tsv", b"time\tevent"),
        ("xlsx", b"PK"),
        ("pdf", b"%PDF"),
    ] {
        let r = client()
            .get(app.url(&format!("/api/v1/audit/export?format={format}")))
            .bearer_auth(&owner_key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{format}");
        let bytes = r.bytes().await.unwrap();
        // CSV and TSV start with a UTF-8 byte-order mark, for Excel.
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
        assert!(
            bytes.starts_with(magic),
            "{format}: {:?}",
            &bytes[..bytes.len().min(20)]
        );
        let r = app.get(&format!("/audit/export?format={format}")).await;
        assert_eq!(r.status(), StatusCode::OK, "page export {format}");
    }
    let html = app.page("/audit").await;
    assert!(
        html.contains("role_changed") && html.contains("viewer → manager"),
        "{html}"
    );
}

#[tokio::test]
async fn a_thousand_concurrent_wrong_logins_check_at_most_the_limit_of_passwords() {
    let app = spawn_ui(Config::default(), "acme", 0, false).await;
    let c = client();
    let html = text_of(&app, &c, "/login").await;
    let token = csrf_of(&html);
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let (c, url, token) = (c.clone(), app.url("/login"), token.clone());
            tokio::spawn(async move {
                c.post(url)
                    .form(&[
                        ("login", LOGIN),
                        ("password", &format!("guess {i}")),
                        ("csrf_token", &token),
                    ])
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    let mut checked = 0;
    let mut refused = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::UNAUTHORIZED => checked += 1,
            StatusCode::TOO_MANY_REQUESTS => refused += 1,
            other => panic!("unexpected {other}"),
        }
    }
    let limit = Config::default().login_attempts as usize;
    assert!(
        checked <= limit,
        "{checked} passwords checked with a limit of {limit}"
    );
    assert_eq!(checked + refused, 1000);
    // And the right password is refused too while the limit holds (no password is checked).
    let r = app.try_log_in_as(&client(), LOGIN, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_viewers_pages_offer_no_forms_that_would_be_refused() {
    let app = spawn_ui(Config::default(), "acme", 0, true).await;
    app.state
        .optouts
        .add(
            app.account,
            &stoplist_domain::PhoneNumber::parse("+61412345678", stoplist_domain::Region::AU)
                .unwrap(),
            stoplist_domain::rules::AddedBy::Manual,
            stoplist_domain::Actor::cli("test"),
            None,
        )
        .await
        .unwrap();
    let viewer = user(&app, "vera", Role::Viewer).await;
    let html = text_of(&app, &viewer, "/optouts").await;
    assert!(html.contains("+61412345678"), "the viewer reads the list");
    for form in [
        "method=\"post\" action=\"/optouts\"",
        "action=\"/optouts/upload\"",
        "action=\"/optouts/remove\"",
    ] {
        assert!(!html.contains(form), "{form} offered to a viewer");
    }
    let html = text_of(&app, &viewer, "/campaigns").await;
    assert!(
        !html.contains("href=\"/campaigns/new\" class")
            && !html.contains("class=\"button\" href=\"/campaigns/new\"")
    );
    let html = text_of(&app, &viewer, "/contacts").await;
    assert!(!html.contains("action=\"/groups\"") && !html.contains("href=\"/contacts/import\""));
    let html = text_of(&app, &viewer, "/settings").await;
    assert!(
        !html.contains("action=\"/settings/api-keys\""),
        "keys are an owner's"
    );
    // Settings: a viewer's forms are all disabled, a manager's owner-only ones, an owner's none.
    let disabled = "<fieldset class=\"plain\" disabled>";
    let html = text_of(&app, &viewer, "/settings").await;
    assert_eq!(html.matches(disabled).count(), 5);
    let max = user(&app, "max", Role::Manager).await;
    let html = text_of(&app, &max, "/settings").await;
    assert_eq!(html.matches(disabled).count(), 3);
    assert_eq!(app.page("/settings").await.matches(disabled).count(), 0);
    // The viewer exports the list from the page; the export is in the audit log.
    let r = viewer
        .get(app.url("/optouts/export?format=csv&q=412"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("+61412345678"));
    let owner_key = key(&app, Role::Owner).await;
    let (_, log) = api(&app, &owner_key, Method::GET, "/api/v1/audit", json!({})).await;
    let first = &log["items"][0];
    assert_eq!(first["event"], "optout_list_exported", "{log}");
    assert!(first["actor"].as_str().unwrap().contains("vera"), "{first}");
    // A manager gets the forms back.
    let html = app.page("/optouts").await;
    assert!(html.contains("action=\"/optouts/remove\""));
    assert!(html.contains("method=\"post\" action=\"/optouts\""));
}
