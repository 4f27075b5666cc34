//! The REST API end to end: the real server on a random loopback port, real HTTP, a fresh
//! SQLite file per test and, when `STOPLIST_TEST_PG_URL` is set, a fresh PostgreSQL database
//! too (each test runs once per backend).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::{TestApp, code, each_backend, field, send};
use reqwest::StatusCode;
use serde_json::{Value, json};
use stoplist::config::Config;

#[tokio::test]
async fn a_number_added_through_the_api_is_reported_opted_out_in_any_written_form() {
    for url in each_backend().await {
        let app = TestApp::spawn(&url).await;
        let (s, b) = app.get("/api/v1/optouts/0412345678").await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(b, json!({"number": "+61412345678", "opted_out": false}));

        let (s, b) = app
            .post("/api/v1/optouts", json!({"number": "0412 345 678"}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        assert_eq!(b["created"], true);
        assert_eq!(b["source"], "api");

        let (s, b) = app
            .post(
                "/api/v1/optouts",
                json!({"number": "+61412345678", "source": "manual"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(b["created"], false);
        assert_eq!(b["source"], "api", "the first source stays");

        for form in [
            "+61412345678",
            "61412345678",
            "0412%20345%20678",
            "%2B61%20(0)412%20345%20678",
        ] {
            let (s, b) = app.get(&format!("/api/v1/optouts/{form}")).await;
            assert_eq!(s, StatusCode::OK, "{form}");
            assert_eq!(b["opted_out"], true, "{form}");
            assert_eq!(b["number"], "+61412345678");
            assert!(b["since"].as_str().unwrap().ends_with('Z'));
            assert_eq!(b["source"], "api");
        }
        let (_, h) = app.get("/api/v1/optouts/0412345678/events").await;
        assert_eq!(
            h["events"][0]["actor"]["kind"], "api_key",
            "who is in the history"
        );
    }
}

#[tokio::test]
async fn removing_needs_a_reason_and_is_recorded_in_the_history() {
    for url in each_backend().await {
        let app = TestApp::spawn(&url).await;
        app.post("/api/v1/optouts", json!({"number": "0412345678"}))
            .await;
        let (s, b) = app.delete("/api/v1/optouts/0412345678", None).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(field(&b), "reason");
        let (s, b) = app.get("/api/v1/optouts/0412345678").await;
        assert_eq!(
            (s, &b["opted_out"]),
            (StatusCode::OK, &json!(true)),
            "nothing changed"
        );

        let (s, b) = app
            .delete(
                "/api/v1/optouts/0412345678",
                Some(json!({"reason": "customer asked by phone"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["opted_out"], false);
        let (_, b) = app.get("/api/v1/optouts/0412345678").await;
        assert_eq!(b["opted_out"], false);

        let (s, b) = app.get("/api/v1/optouts/0412345678/events").await;
        assert_eq!(s, StatusCode::OK);
        let events = b["events"].as_array().unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0]["kind"], "opted_out");
        assert_eq!(events[1]["kind"], "opted_in");
        assert_eq!(events[1]["source"], "api");
        assert_eq!(events[1]["reason"], "customer asked by phone");
        assert_eq!(events[1]["prev_hash"], events[0]["hash"]);

        // Removing again: nothing to lift.
        let (s, b) = app
            .delete("/api/v1/optouts/0412345678?reason=again", None)
            .await;
        assert_eq!(s, StatusCode::CONFLICT);
        assert_eq!(code(&b), "not_opted_out");
    }
}

#[tokio::test]
async fn a_reply_opt_out_cannot_be_removed_while_enforce_global_optouts_is_on() {
    for url in each_backend().await {
        let app = TestApp::spawn(&url).await;
        app.reply_opt_out("0412345678").await;
        let (s, b) = app
            .delete(
                "/api/v1/optouts/0412345678",
                Some(json!({"reason": "import cleanup"})),
            )
            .await;
        assert_eq!(s, StatusCode::CONFLICT);
        assert_eq!(code(&b), "enforced_reply_opt_out");
        assert!(b["error"]["message"].as_str().unwrap().contains("START"));
        let (_, b) = app.get("/api/v1/optouts/0412345678").await;
        assert_eq!(b["opted_out"], true);
        assert_eq!(b["source"], "reply");

        let (s, _) = app
            .patch("/api/v1/settings", json!({"enforce_global_optouts": false}))
            .await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = app
            .delete(
                "/api/v1/optouts/0412345678",
                Some(json!({"reason": "customer asked"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
    }
}

#[tokio::test]
async fn the_bulk_check_answers_every_input_in_order() {
    for url in each_backend().await {
        let app = TestApp::spawn(&url).await;
        app.post("/api/v1/optouts", json!({"number": "+61412345678"}))
            .await;
        let (s, b) = app
            .post(
                "/api/v1/optouts/check",
                json!({"numbers": ["0412 345 678", "+61412345679", "hello", "0412", "02 9876 5432", ""]}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let r = b["results"].as_array().unwrap();
        assert_eq!(r.len(), 6);
        assert_eq!(
            r[0],
            json!({"input": "0412 345 678", "number": "+61412345678", "opted_out": true})
        );
        assert_eq!(r[1]["opted_out"], false);
        assert_eq!(r[2]["invalid"], "not_a_number");
        assert_eq!(r[3]["invalid"], "too_short");
        assert_eq!(r[4]["invalid"], "not_a_mobile");
        assert_eq!(r[5]["invalid"], "empty");
        assert!(r[2]["reason"].as_str().unwrap().contains("not a number"));
    }
}

#[tokio::test]
async fn the_opt_out_list_pages_by_keyset_and_searches_by_digits() {
    for url in each_backend().await {
        let app = TestApp::spawn(&url).await;
        for i in 0..7 {
            let (s, _) = app
                .post(
                    "/api/v1/optouts",
                    json!({"number": format!("04123456{i:02}")}),
                )
                .await;
            assert_eq!(s, StatusCode::CREATED);
        }
        let (_, p1) = app.get("/api/v1/optouts?limit=5").await;
        assert_eq!(p1["items"].as_array().unwrap().len(), 5);
        assert_eq!(p1["items"][0]["number"], "+61412345606", "newest first");
        let next = p1["next"].as_i64().unwrap();
        let (_, p2) = app
            .get(&format!("/api/v1/optouts?limit=5&before={next}"))
            .await;
        assert_eq!(p2["items"].as_array().unwrap().len(), 2);
        assert!(p2.get("next").is_none());
        let (_, found) = app.get("/api/v1/optouts?q=345603").await;
        assert_eq!(found["items"].as_array().unwrap().len(), 1);
    }
}

#[tokio::test]
async fn groups_and_contacts_round_trip_and_opted_out_numbers_are_refused() {
    for url in each_backend().await {
        let app = TestApp::spawn(&url).await;
        let (s, g) = app
            .post("/api/v1/groups", json!({"name": " Customers "}))
            .await;
        assert_eq!(s, StatusCode::CREATED);
        assert_eq!(g["name"], "Customers");
        let gid = g["id"].as_i64().unwrap();

        let (s, b) = app
            .post("/api/v1/groups", json!({"name": "customers"}))
            .await;
        assert_eq!(
            (s, code(&b), field(&b)),
            (StatusCode::CONFLICT, "conflict", "name")
        );
        let (s, b) = app.post("/api/v1/groups", json!({"name": "  "})).await;
        assert_eq!((s, field(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "name"));

        let (s, c) = app
            .post(
                &format!("/api/v1/groups/{gid}/contacts"),
                json!({"number": "0412 345 678", "first_name": "Ann"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{c}");
        assert_eq!(c["number"], "+61412345678");
        assert_eq!(c["opted_out"], false);
        let cid = c["id"].as_i64().unwrap();

        let (s, b) = app
            .post(
                &format!("/api/v1/groups/{gid}/contacts"),
                json!({"number": "61412345678"}),
            )
            .await;
        assert_eq!(
            (s, field(&b)),
            (StatusCode::CONFLICT, "number"),
            "same number twice in a group"
        );
        let (s, b) = app
            .post(
                &format!("/api/v1/groups/{gid}/contacts"),
                json!({"number": "02 9876 5432"}),
            )
            .await;
        assert_eq!(
            (s, code(&b), field(&b)),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_number", "number")
        );

        app.post("/api/v1/optouts", json!({"number": "0499 999 999"}))
            .await;
        let (s, b) = app
            .post(
                &format!("/api/v1/groups/{gid}/contacts"),
                json!({"number": "0499999999"}),
            )
            .await;
        assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "opted_out"));

        let (s, c) = app
            .patch(
                &format!("/api/v1/contacts/{cid}"),
                json!({"last_name": "Lee"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(
            (c["first_name"].as_str(), c["last_name"].as_str()),
            (Some("Ann"), Some("Lee"))
        );

        // The contact shows as opted out once the number opts out; deleting it keeps the opt-out.
        app.post("/api/v1/optouts", json!({"number": "+61412345678"}))
            .await;
        let (_, page) = app.get(&format!("/api/v1/groups/{gid}/contacts")).await;
        assert_eq!(page["items"][0]["opted_out"], true);
        let (_, found) = app.get("/api/v1/contacts?q=ann").await;
        assert_eq!(found["items"].as_array().unwrap().len(), 1);

        let (s, _) = app.delete(&format!("/api/v1/contacts/{cid}"), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, g) = app
            .patch(
                &format!("/api/v1/groups/{gid}"),
                json!({"name": "Former customers"}),
            )
            .await;
        assert_eq!((s, g["contact_count"].as_i64()), (StatusCode::OK, Some(0)));
        let (s, _) = app.delete(&format!("/api/v1/groups/{gid}"), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (_, b) = app.get("/api/v1/optouts/0412345678").await;
        assert_eq!(
            b["opted_out"], true,
            "deleting contacts and groups never deletes an opt-out"
        );
    }
}

#[tokio::test]
async fn contacts_page_with_a_cursor() {
    for url in each_backend().await {
        let app = TestApp::spawn(&url).await;
        let (_, g) = app.post("/api/v1/groups", json!({"name": "G"})).await;
        let gid = g["id"].as_i64().unwrap();
        for i in 0..5 {
            app.post(
                &format!("/api/v1/groups/{gid}/contacts"),
                json!({"number": format!("04123456{i:02}")}),
            )
            .await;
        }
        let (_, p1) = app
            .get(&format!("/api/v1/groups/{gid}/contacts?limit=3"))
            .await;
        let next = p1["next"].as_i64().unwrap();
        let (_, p2) = app
            .get(&format!(
                "/api/v1/groups/{gid}/contacts?limit=3&after={next}"
            ))
            .await;
        let mut all: Vec<_> = p1["items"].as_array().unwrap().clone();
        all.extend(p2["items"].as_array().unwrap().iter().cloned());
        assert_eq!(all.len(), 5);
        assert!(p2.get("next").is_none());
    }
}

#[tokio::test]
async fn settings_update_validates_everything_and_records_history() {
    for url in each_backend().await {
        let app = TestApp::spawn(&url).await;
        let (s, b) = app.get("/api/v1/settings").await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(b["enforce_global_optouts"], true);
        assert_eq!(b["auto_delete_optouts"], false);
        assert_eq!(b["default_region"], "AU");
        assert!(
            b["webhooks"]["urls"]["twilio"]
                .as_str()
                .unwrap()
                .contains("/webhooks/twilio/")
        );

        let (s, b) = app
            .patch(
                "/api/v1/settings",
                json!({"auto_delete_optouts": true, "default_region": "ZZ"}),
            )
            .await;
        assert_eq!(
            (s, field(&b)),
            (StatusCode::UNPROCESSABLE_ENTITY, "default_region")
        );
        let (s, b) = app
            .patch("/api/v1/settings", json!({"auto_delete": true}))
            .await;
        assert_eq!(
            (s, field(&b)),
            (StatusCode::UNPROCESSABLE_ENTITY, "auto_delete")
        );
        let (s, b) = app
            .patch("/api/v1/settings", json!({"help_text": ""}))
            .await;
        assert_eq!(
            (s, field(&b)),
            (StatusCode::UNPROCESSABLE_ENTITY, "help_text")
        );
        let (_, b) = app.get("/api/v1/settings").await;
        assert_eq!(
            b["auto_delete_optouts"], false,
            "a rejected patch changes nothing"
        );

        let (s, b) = app
            .patch(
                "/api/v1/settings",
                json!({"auto_delete_optouts": true, "default_region": "nz"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(
            (
                b["auto_delete_optouts"].as_bool(),
                b["default_region"].as_str()
            ),
            (Some(true), Some("NZ"))
        );
        // NZ numbers are now read as local.
        let (_, b) = app.get("/api/v1/optouts/021%20123%204567").await;
        assert_eq!(b["number"], "+64211234567");

        let (_, h) = app.get("/api/v1/settings/history").await;
        let h = h.as_array().unwrap();
        assert_eq!(h.len(), 2);
        assert!(h.iter().any(|c| c["field"] == "default_region"
            && c["old_value"] == "AU"
            && c["new_value"] == "NZ"));
        assert_eq!(h[0]["actor"]["kind"], "api_key");
    }
}

#[tokio::test]
async fn bad_requests_name_the_problem_and_the_field() {
    for url in each_backend().await {
        let app = TestApp::spawn_with(
            &url,
            Config {
                max_body_bytes: 1024,
                ..Default::default()
            },
        )
        .await;
        let raw = |body: &'static str| {
            app.req(reqwest::Method::POST, "/api/v1/optouts")
                .header("content-type", "application/json")
                .body(body)
        };
        let (s, b) = send(raw("{\"number\": ")).await;
        assert_eq!(
            (s, code(&b)),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_json")
        );
        let (s, b) = send(raw("{\"numbr\": \"0412345678\"}")).await;
        assert_eq!((s, field(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "numbr"));
        let (s, b) = send(raw("{\"number\": 412345678}")).await;
        assert_eq!((s, field(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "number"));
        let (s, b) = send(raw("{}")).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            b["error"]["message"].as_str().unwrap().contains("number"),
            "{b}"
        );
        let (s, b) = app
            .post("/api/v1/optouts", json!({"number": "0412 345"}))
            .await;
        assert_eq!(
            (s, code(&b), field(&b)),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_number", "number")
        );
        assert!(
            b["error"]["message"]
                .as_str()
                .unwrap()
                .contains("invalid number"),
            "{b}"
        );
        let (s, b) = app
            .post("/api/v1/optouts", json!({"number": "x".repeat(2000)}))
            .await;
        assert_eq!(
            (s, code(&b)),
            (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
        );
        let (s, b) = app.get("/api/v1/groups/abc").await;
        assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "not_found"));
        assert_eq!(
            app.store.count_optouts(app.account).await.unwrap(),
            0,
            "nothing was stored"
        );
    }
}

#[tokio::test]
async fn missing_wrong_and_revoked_keys_are_401() {
    for url in each_backend().await {
        let app = TestApp::spawn_with(
            &url,
            Config {
                api_key_cache_seconds: 0,
                ..Default::default()
            },
        )
        .await;
        let url = format!("{}/api/v1/optouts/0412345678", app.base);
        let (s, b) = send(app.http.get(&url)).await;
        assert_eq!((s, code(&b)), (StatusCode::UNAUTHORIZED, "unauthorized"));
        let (s, _) = send(
            app.http
                .get(&url)
                .bearer_auth("sl_0000000000000000000000000000000000000000"),
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let (s, _) = send(app.http.get(&url).header("authorization", "Basic abc")).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let (s, _) = app.get("/api/v1/optouts/0412345678").await;
        assert_eq!(s, StatusCode::OK);
        let keys = app.store.list_api_keys(app.account).await.unwrap();
        app.store
            .revoke_api_key(app.account, keys[0].id, 1)
            .await
            .unwrap();
        let (s, _) = app.get("/api/v1/optouts/0412345678").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn another_accounts_key_sees_nothing_of_this_account() {
    for url in each_backend().await {
        let app = TestApp::spawn(&url).await;
        let (_, g) = app.post("/api/v1/groups", json!({"name": "Mine"})).await;
        let gid = g["id"].as_i64().unwrap();
        let (_, c) = app
            .post(
                &format!("/api/v1/groups/{gid}/contacts"),
                json!({"number": "0412345678"}),
            )
            .await;
        let cid = c["id"].as_i64().unwrap();
        app.post("/api/v1/optouts", json!({"number": "0412345699"}))
            .await;

        let other = app.other_key().await;
        let as_other = |m: reqwest::Method, p: &str| {
            app.http
                .request(m, format!("{}{p}", app.base))
                .bearer_auth(&other)
        };
        use reqwest::Method as M;
        for (m, p) in [
            (M::GET, format!("/api/v1/groups/{gid}")),
            (M::PATCH, format!("/api/v1/groups/{gid}")),
            (M::DELETE, format!("/api/v1/groups/{gid}")),
            (M::GET, format!("/api/v1/groups/{gid}/contacts")),
            (M::POST, format!("/api/v1/groups/{gid}/contacts")),
            (M::GET, format!("/api/v1/contacts/{cid}")),
            (M::PATCH, format!("/api/v1/contacts/{cid}")),
            (M::DELETE, format!("/api/v1/contacts/{cid}")),
        ] {
            let body = match (&m, p.contains("/groups/") && !p.ends_with("contacts")) {
                (&M::PATCH, true) => json!({"name": "x"}),
                (&M::PATCH, false) => json!({"first_name": "x"}),
                _ => json!({"number": "0412345677"}),
            };
            let r = as_other(m.clone(), &p);
            let r = if m == M::GET || m == M::DELETE {
                r
            } else {
                r.json(&body)
            };
            let (s, b) = send(r).await;
            assert_eq!(s, StatusCode::NOT_FOUND, "{m} {p}: {b}");
        }
        let (_, b) = send(as_other(M::GET, "/api/v1/optouts/0412345699")).await;
        assert_eq!(b["opted_out"], false);
        let (_, b) = send(as_other(M::GET, "/api/v1/optouts")).await;
        assert!(b["items"].as_array().unwrap().is_empty());
        let (_, b) = send(as_other(M::GET, "/api/v1/groups")).await;
        assert!(b["items"].as_array().unwrap().is_empty());
        let (_, b) = send(as_other(M::GET, "/api/v1/contacts?q=0412")).await;
        assert!(b["items"].as_array().unwrap().is_empty());
        let (_, b) = send(as_other(M::GET, "/api/v1/optouts/0412345699/events")).await;
        assert!(b["events"].as_array().unwrap().is_empty());
        // And the first account's data is intact.
        let (_, b) = app.get(&format!("/api/v1/groups/{gid}")).await;
        assert_eq!(b["contact_count"], 1);
    }
}

#[tokio::test]
async fn health_readiness_metrics_and_the_openapi_document_answer() {
    let app = TestApp::spawn(&stoplist_store::testing::sqlite_url()).await;
    let get = |p: &str| app.http.get(format!("{}{p}", app.base)).send();
    assert_eq!(get("/healthz").await.unwrap().status(), StatusCode::OK);
    // Ready once every account's opt-out index is loaded and the ledger followed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let r = get("/readyz").await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        if status == StatusCode::OK {
            assert_eq!(text, "ready\n");
            break;
        }
        assert!(text.starts_with("opt-out index"), "{status} {text}");
        assert!(std::time::Instant::now() < deadline, "never ready: {text}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    app.get("/api/v1/optouts/0412345678").await;
    // The account was made after the start: its index loads on first use, in the background.
    let m = loop {
        let m = get("/metrics").await.unwrap().text().await.unwrap();
        if m.contains("stoplist_index_accounts{state=\"loaded\"} 1\n") {
            break m;
        }
        assert!(std::time::Instant::now() < deadline, "never loaded: {m}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(m.contains("route=\"/api/v1/optouts/{number}\""), "{m}");
    assert!(m.contains("stoplist_index_repairs_total 0\n"), "{m}");
    assert!(!m.contains("0412345678"), "metrics never carry numbers");
    let doc: Value = get("/api/v1/openapi.json")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for p in [
        "/api/v1/optouts/{number}",
        "/api/v1/optouts/check",
        "/api/v1/groups/{id}/contacts",
        "/api/v1/settings",
    ] {
        assert!(doc["paths"].get(p).is_some(), "{p} documented");
    }
}

#[tokio::test]
async fn an_opt_out_made_elsewhere_reaches_the_index_by_following_the_ledger() {
    let url = stoplist_store::testing::sqlite_url();
    let app = TestApp::spawn_with(
        &url,
        Config {
            index_follow_ms: 50,
            ..Default::default()
        },
    )
    .await;
    // Load the index, then change the list behind the server's back (as the CLI would).
    let (_, b) = app.get("/api/v1/optouts/0412345678").await;
    assert_eq!(b["opted_out"], false);
    app.reply_opt_out("0412345678").await;
    let mut seen = false;
    for _ in 0..100 {
        let (_, b) = app.get("/api/v1/optouts/0412345678").await;
        if b["opted_out"] == true {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(seen, "the follower applied the ledger within 2 s");
}

// --- Data hygiene ------------------------------------------------------------------------

#[tokio::test]
async fn a_search_for_percent_or_underscore_does_not_match_everything() {
    for url in each_backend().await {
        let app = TestApp::spawn(&url).await;
        let gid = app.group("Customers").await;
        for (number, first) in [
            ("0412 345 601", "Ann"),
            ("0412 345 602", "Bob"),
            ("0412 345 603", "50%off"),
            ("0412 345 604", "a_b"),
        ] {
            let (s, b) = app
                .post(
                    &format!("/api/v1/groups/{gid}/contacts"),
                    json!({"number": number, "first_name": first}),
                )
                .await;
            assert_eq!(s, StatusCode::CREATED, "{b}");
        }
        let firsts = |page: &Value| -> Vec<String> {
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["first_name"].as_str().unwrap().to_owned())
                .collect()
        };
        for (q, found) in [
            ("%25", vec!["50%off"]),
            ("_", vec!["a_b"]),
            ("%25%25", vec![]),
            ("a_", vec!["a_b"]),
            ("b_", vec![]),
        ] {
            let (s, page) = app.get(&format!("/api/v1/contacts?q={q}")).await;
            assert_eq!(s, StatusCode::OK, "{page}");
            assert_eq!(firsts(&page), found, "q={q}: {page}");
        }
        // The opt-out list is searched by digits: `%` and `_` find nothing, not everything.
        app.post("/api/v1/optouts", json!({"number": "0412 345 601"}))
            .await;
        app.post("/api/v1/optouts", json!({"number": "0412 345 602"}))
            .await;
        for q in ["%25", "_", "%25_"] {
            let (_, page) = app.get(&format!("/api/v1/optouts?q={q}")).await;
            assert_eq!(page["items"].as_array().unwrap().len(), 0, "q={q}: {page}");
        }
        let (_, page) = app.get("/api/v1/optouts?q=345601").await;
        assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
    }
}

#[tokio::test]
async fn a_json_body_that_is_not_an_object_is_refused_naming_what_was_expected() {
    let url = each_backend().await.remove(0);
    let app = TestApp::spawn(&url).await;
    for (path, method) in [
        ("/api/v1/optouts", reqwest::Method::POST),
        ("/api/v1/groups", reqwest::Method::POST),
        ("/api/v1/settings/connector", reqwest::Method::PUT),
    ] {
        for (body, found) in [
            (r#"["0412345678"]"#, "an array"),
            (r#""0412345678""#, "a string"),
            ("412345678", "a number"),
        ] {
            let (s, b) = send(
                app.req(method.clone(), path)
                    .header("content-type", "application/json")
                    .body(body),
            )
            .await;
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{path} {body}: {b}");
            assert_eq!(code(&b), "invalid_json", "{b}");
            assert_eq!(
                b["error"]["message"],
                format!("request body: expected a JSON object, found {found}"),
                "{path}"
            );
        }
    }
    // A list where a list is expected is read; an object there is refused.
    let (s, b) = send(
        app.req(reqwest::Method::PUT, "/api/v1/settings/keywords")
            .header("content-type", "application/json")
            .body(r#"{"keyword": "halt"}"#),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(
        b["error"]["message"],
        "request body: expected a JSON array, found an object"
    );
    assert!(!app.opted_out("0412345678").await, "nothing stored");
    let (_, groups) = app.get("/api/v1/groups").await;
    assert_eq!(
        groups["items"].as_array().map(Vec::len),
        Some(0),
        "{groups}"
    );
}

#[tokio::test]
async fn a_body_not_sent_as_json_is_refused_with_415_in_the_error_shape() {
    let url = each_backend().await.remove(0);
    let app = TestApp::spawn(&url).await;
    let body = r#"{"number": "0412345678"}"#;
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        for (method, path) in [
            (reqwest::Method::POST, "/api/v1/optouts"),
            (reqwest::Method::POST, "/api/v1/optouts/check"),
            (reqwest::Method::DELETE, "/api/v1/optouts/0412345678"),
        ] {
            let mut r = app.req(method, path).body(body);
            if let Some(t) = content_type {
                r = r.header("content-type", t);
            }
            let (s, b) = send(r).await;
            assert_eq!(
                s,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "{path} {content_type:?}: {b}"
            );
            assert_eq!(code(&b), "unsupported_media_type", "{b}");
            assert_eq!(field(&b), "Content-Type", "{b}");
            assert!(
                b["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("application/json"),
                "{b}"
            );
        }
    }
    assert!(!app.opted_out("0412345678").await, "nothing stored");
    // JSON with a charset, or a +json type, is JSON.
    for content_type in [
        "application/json; charset=utf-8",
        "application/merge-patch+json",
    ] {
        let (s, b) = send(
            app.req(reqwest::Method::POST, "/api/v1/optouts/check")
                .header("content-type", content_type)
                .body(r#"{"numbers": ["0412345678"]}"#),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{content_type}: {b}");
    }
    // A DELETE without a body needs no content type.
    app.post("/api/v1/optouts", json!({"number": "0412345678"}))
        .await;
    let (s, b) = send(app.req(
        reqwest::Method::DELETE,
        "/api/v1/optouts/0412345678?reason=asked%20by%20phone",
    ))
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

async fn put_keywords(app: &TestApp, body: Value) -> (StatusCode, Value) {
    send(
        app.req(reqwest::Method::PUT, "/api/v1/settings/keywords")
            .json(&body),
    )
    .await
}

#[tokio::test]
async fn keywords_are_checked_by_the_domain_rules_and_a_bad_list_changes_nothing() {
    let url = each_backend().await.remove(0);
    let app = TestApp::spawn(&url).await;
    let (s, b) = put_keywords(
        &app,
        json!([{"keyword": "Basta!", "kind": "opt_out", "language": "IT"},
               {"keyword": "aiuto", "kind": "help", "language": "it"}]),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        b,
        json!([{"keyword": "aiuto", "kind": "help", "language": "it"},
               {"keyword": "basta", "kind": "opt_out", "language": "it"}])
    );
    let long = "x".repeat(1000);
    for (body, at, says) in [
        (
            json!([{"keyword": "halt", "kind": "opt_out"}, {"keyword": long, "kind": "opt_out"}]),
            "[1].keyword",
            "[1].keyword: a keyword is at most 40 characters (1000 given)".to_owned(),
        ),
        (
            json!([{"keyword": "STOP", "kind": "opt_in"}]),
            "[0].keyword",
            "[0].keyword: “stop” is an opt-out keyword in the built-in lists, so it cannot be an \
             opt-in keyword (an opt-out is never weakened)"
                .to_owned(),
        ),
        (
            json!([{"keyword": "halt", "kind": "opt_out"}, {"keyword": "HALT", "kind": "help"}]),
            "[1].keyword",
            "[1].keyword: “halt” is already in the list: a keyword has one kind".to_owned(),
        ),
        (
            json!([{"keyword": "halt", "kind": "opt_out", "language": "English"}]),
            "[0].language",
            "[0].language: \"English\" is not a language: use any, or a two- or three-letter \
             code such as en, fr or es"
                .to_owned(),
        ),
        (
            json!([{"keyword": "halt", "kind": "stop_it"}]),
            "[0].kind",
            "[0].kind: \"stop_it\" is not a keyword kind: use opt_out, opt_in or help".to_owned(),
        ),
    ] {
        let (s, b) = put_keywords(&app, body).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert_eq!(field(&b), at, "{b}");
        assert_eq!(b["error"]["message"], says.as_str(), "{b}");
    }
    let many: Vec<Value> = (0..=500)
        .map(|i| json!({"keyword": format!("word{i}"), "kind": "opt_out"}))
        .collect();
    let (s, b) = put_keywords(&app, Value::Array(many)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(
        b["error"]["message"],
        "keywords: at most 500 keywords (501 given)"
    );
    let (_, now) = app.get("/api/v1/settings/keywords").await;
    assert_eq!(
        now.as_array().map(Vec::len),
        Some(2),
        "nothing changed: {now}"
    );
}
