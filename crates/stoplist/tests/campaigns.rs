//! Campaigns end to end: the real server, real HTTP, a fresh database per test (SQLite, and
//! PostgreSQL when `STOPLIST_TEST_PG_URL` is set), and a fake provider speaking Twilio's and
//! SMSGlobal's documented APIs on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::{TestApp, code, counting_server, each_backend, field, send};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use stoplist::config::Config;
use stoplist_providers::fake::FakeProvider;

/// A server that dispatches quickly (no per-account pacing, short polls).
async fn spawn(url: &str) -> TestApp {
    TestApp::spawn_with(
        url,
        Config {
            default_send_rate: 0,
            dispatch_poll_ms: 50,
            ..common::test_config()
        },
    )
    .await
}

async fn use_twilio(app: &TestApp, fake: &FakeProvider) {
    use_twilio_with_timeout(app, fake, 2).await;
}

async fn use_twilio_with_timeout(app: &TestApp, fake: &FakeProvider, seconds: u64) {
    let c = fake.credentials();
    let (s, b) = send(
        app.req(reqwest::Method::PUT, "/api/v1/settings/connector")
            .json(&json!({
                "kind": "twilio", "account": c.twilio_sid, "secret": c.twilio_token,
                "base_url": fake.base_url(), "timeout_seconds": seconds
            })),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["has_secret"], true);
    assert!(
        b.get("secret").is_none(),
        "the secret is never shown back: {b}"
    );
}

/// Polls the campaign until `done(body)` or a deadline.
async fn wait_for(app: &TestApp, id: i64, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, b) = app.get(&format!("/api/v1/campaigns/{id}")).await;
        if done(&b) {
            return b;
        }
        assert!(Instant::now() < deadline, "campaign never got there: {b}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn contact(app: &TestApp, group: i64, number: &str, first: &str) {
    let (s, b) = app
        .post(
            &format!("/api/v1/groups/{group}/contacts"),
            json!({"number": number, "first_name": first}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
}

/// One recipient's personalised text over the segment limit stops the whole send before
/// anything is queued, and the error names that (masked) number.
#[tokio::test]
async fn a_send_with_one_message_too_long_queues_nothing_and_names_the_number() {
    for url in each_backend().await {
        let app = spawn(&url).await;
        let g = app.group("Customers").await;
        contact(&app, g, "0412 345 678", "Ann").await;
        contact(&app, g, "0412 345 679", &"B".repeat(150)).await;
        let message = format!("Hi {{first_name}}, {}", "x".repeat(800));
        let id = app
            .campaign(
                json!({"name": "Long", "sender_id": "ACME", "message": message, "groups": [g]}),
            )
            .await;

        let (s, b) = app
            .post(&format!("/api/v1/campaigns/{id}/send"), json!({}))
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert_eq!(code(&b), "message_too_long", "{b}");
        let text = b["error"]["message"].as_str().unwrap();
        assert!(text.contains("+614****5679"), "{text}");
        let (_, after) = app.get(&format!("/api/v1/campaigns/{id}")).await;
        assert_eq!(after["status"], "draft", "{after}");
        assert_eq!(after["counts"]["queued"], 0, "{after}");
    }
}

#[tokio::test]
async fn a_campaign_never_reaches_an_opted_out_number_and_lists_it_as_invalid() {
    for url in each_backend().await {
        let app = spawn(&url).await;
        let fake = FakeProvider::start().await;
        use_twilio(&app, &fake).await;
        let g = app.group("Customers").await;
        contact(&app, g, "0412 345 678", "Ann").await;
        contact(&app, g, "0412 345 679", "Bob").await;
        app.reply_opt_out("0412 000 111").await;

        let id = app.campaign(json!({"name": "Spring sale", "sender_id": "ACME", "message": "Hi {first_name}, 20% off today.",
                       "groups": [g], "numbers": ["+61412345678", "0412000111", "12345", "0412 345 680"]})).await;

        let (s, p) = app
            .post(&format!("/api/v1/campaigns/{id}/preview"), json!({}))
            .await;
        assert_eq!(s, StatusCode::OK, "{p}");
        assert_eq!(p["numbers_read"], 6);
        assert_eq!(
            p["duplicates"], 1,
            "the typed +61412345678 repeats a contact"
        );
        assert_eq!(p["opted_out"], 1);
        assert_eq!(p["invalid"], 1);
        assert_eq!(p["recipients"], 3);
        assert_eq!(p["message"]["encoding"], "gsm7");
        assert_eq!(p["message"]["footer_appended"], true);
        assert!(
            p["message"]["sample"]
                .as_str()
                .unwrap()
                .ends_with("Reply STOP to opt out"),
            "{p}"
        );

        let (_, inv) = app.get(&format!("/api/v1/campaigns/{id}/invalid")).await;
        let items = inv["items"].as_array().unwrap();
        let opted: Vec<_> = items
            .iter()
            .filter(|i| i["reason"] == "opted_out")
            .collect();
        assert_eq!(opted.len(), 1, "{inv}");
        assert_eq!(opted[0]["number"], "0412000111");
        assert_eq!(opted[0]["opt_out_source"], "reply");
        assert!(opted[0]["opted_out_since"].as_str().unwrap().ends_with('Z'));
        assert!(
            items
                .iter()
                .any(|i| i["number"] == "12345" && i["reason"] != "opted_out")
        );

        let (s, out) = send(
            app.req(
                reqwest::Method::POST,
                &format!("/api/v1/campaigns/{id}/send"),
            )
            .header("Idempotency-Key", "k1"),
        )
        .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{out}");
        assert_eq!(out["outcome"], "started");
        assert_eq!(out["queued"], 3);
        // A double click with the same key changes nothing.
        let (s, again) = send(
            app.req(
                reqwest::Method::POST,
                &format!("/api/v1/campaigns/{id}/send"),
            )
            .header("Idempotency-Key", "k1"),
        )
        .await;
        assert_eq!(s, StatusCode::ACCEPTED);
        assert_eq!(again["outcome"], "already_started");
        // Another key on a sent campaign is a conflict.
        let (s, _) = send(
            app.req(
                reqwest::Method::POST,
                &format!("/api/v1/campaigns/{id}/send"),
            )
            .header("Idempotency-Key", "k2"),
        )
        .await;
        assert_eq!(s, StatusCode::CONFLICT);

        let done = wait_for(&app, id, |b| b["status"] == "done").await;
        assert_eq!(done["counts"]["sent"], 3, "{done}");
        assert_eq!(fake.sent().len(), 3);
        assert_eq!(
            fake.count_to("+61412000111"),
            0,
            "never the opted-out number"
        );
        let ann = fake
            .sent()
            .into_iter()
            .find(|m| m.to == "+61412345678")
            .unwrap();
        assert_eq!(ann.text, "Hi Ann, 20% off today.\nReply STOP to opt out");
        assert_eq!(ann.from, "ACME");

        let (_, msgs) = app
            .get(&format!(
                "/api/v1/campaigns/{id}/messages?status=sent&limit=2"
            ))
            .await;
        assert_eq!(msgs["items"].as_array().unwrap().len(), 2);
        assert!(msgs["next"].is_i64(), "keyset pagination: {msgs}");
        assert!(
            msgs["items"][0]["provider_message_id"]
                .as_str()
                .unwrap()
                .starts_with("SM")
        );
    }
}

#[tokio::test]
async fn provider_faults_are_retried_or_recorded_and_a_carrier_opt_out_is_listed() {
    for url in each_backend().await {
        let app = spawn(&url).await;
        let fake = FakeProvider::start().await;
        use_twilio(&app, &fake).await;
        fake.reject_number("+61412345001", 21610);
        fake.fail_next(1, 500);
        let id = app.campaign(json!({"name": "Faults", "sender_id": "ACME", "message": "Hello. Reply STOP to opt out",
                       "numbers": ["0412345001", "0412345002"]})).await;
        let (s, _) = app
            .post(&format!("/api/v1/campaigns/{id}/send"), json!({}))
            .await;
        assert_eq!(s, StatusCode::ACCEPTED);
        let done = wait_for(&app, id, |b| {
            b["counts"]["queued"] == 0
                && b["counts"]["sending"] == 0
                && b["counts"]["total"] == 2
                && (b["counts"]["sent"].as_i64().unwrap() + b["counts"]["failed"].as_i64().unwrap())
                    == 2
        })
        .await;
        assert_eq!(done["counts"]["failed"], 1, "{done}");
        assert_eq!(done["counts"]["sent"], 1, "the 500 was retried: {done}");
        let (_, failed) = app
            .get(&format!("/api/v1/campaigns/{id}/messages?status=failed"))
            .await;
        assert_eq!(failed["items"][0]["error_code"], "21610");
        // The provider's opt-out rejection put the number on the list, source carrier.
        let (_, o) = app.get("/api/v1/optouts/0412345001").await;
        assert_eq!(o["opted_out"], true, "{o}");
        assert_eq!(o["source"], "carrier");
    }
}

#[tokio::test]
async fn bad_campaigns_are_refused_with_the_field_at_fault() {
    let url = each_backend().await.remove(0);
    let app = spawn(&url).await;
    let cases = [
        (
            json!({"name": "", "sender_id": "ACME", "message": "x"}),
            "name",
        ),
        (
            json!({"name": "a", "sender_id": "TOOLONGSENDERID", "message": "x"}),
            "sender_id",
        ),
        (
            json!({"name": "a", "sender_id": "ACME", "message": "  "}),
            "message",
        ),
        (
            json!({"name": "a", "sender_id": "ACME", "message": "Hi {nickname}"}),
            "message",
        ),
        (
            json!({"name": "a", "sender_id": "ACME", "message": "x".repeat(153 * 6 + 1)}),
            "message",
        ),
        (
            json!({"name": "a", "sender_id": "ACME", "message": "x", "groups": [999]}),
            "",
        ),
    ];
    for (body, f) in cases {
        let (s, b) = app.post("/api/v1/campaigns", body.clone()).await;
        assert!(s.is_client_error(), "{body} -> {s} {b}");
        if !f.is_empty() {
            assert_eq!(field(&b), f, "{body} -> {b}");
        }
    }
    // Nobody to send to.
    let id = app
        .campaign(
            json!({"name": "Empty", "sender_id": "ACME", "message": "Hi", "numbers": ["nope"]}),
        )
        .await;
    let (s, b) = app
        .post(&format!("/api/v1/campaigns/{id}/send"), json!({}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(code(&b), "no_recipients");
    // Another account's campaign is not found.
    let other = app.other_key().await;
    let (s, _) = send(
        app.http
            .get(format!("{}/api/v1/campaigns/{id}", app.base))
            .bearer_auth(other),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_stop_during_a_large_campaign_stops_every_later_message_to_that_number() {
    let url = each_backend().await.remove(0);
    // 100,000 messages: the campaign is still sending when the STOP arrives.
    let app = TestApp::spawn_with(
        &url,
        Config {
            default_send_rate: 0,
            dispatch_poll_ms: 50,
            ..common::test_config()
        },
    )
    .await;
    let fake = FakeProvider::start().await;
    use_twilio(&app, &fake).await;
    let numbers: Vec<String> = (0..100_000)
        .map(|i| format!("+614{:08}", 10_000_000 + i))
        .collect();
    let body = numbers.join("\n");
    let id = app
        .campaign(json!({"name": "Big", "sender_id": "ACME", "message": "Hello"}))
        .await;
    let (s, b) = send(
        app.req(
            reqwest::Method::PUT,
            &format!("/api/v1/campaigns/{id}/file?file_name=n.txt"),
        )
        .body(body),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, _) = app
        .post(&format!("/api/v1/campaigns/{id}/send"), json!({}))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    // Once sending is under way, a number 5,000 places down the queue from where the sending
    // is replies STOP through a provider webhook.
    let under_way = wait_for(&app, id, |b| {
        b["counts"]["sent"].as_i64().unwrap_or(0) > 100
    })
    .await;
    let place = under_way["counts"]["sent"].as_i64().unwrap() as usize + 5_000;
    let target = numbers[place.min(90_000)].clone();
    let token = app.webhook_token().await;
    let (s, r) = send(
        app.http
            .post(format!("{}/webhooks/generic/{token}", app.base))
            .json(&json!({
                "id": "stop-1", "from": target, "to": "ACME", "text": "STOP"
            })),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let sent_at_stop = fake.sent().len();
    assert!(
        sent_at_stop < place,
        "the STOP came too late to test anything"
    );
    // The confirmation is answered ahead of the campaign's queue, while it is still sending.
    let deadline = Instant::now() + Duration::from_secs(10);
    while fake.sent().iter().all(|m| m.to != target) {
        assert!(
            Instant::now() < deadline,
            "the confirmation waited behind the campaign's messages"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, during) = app.get(&format!("/api/v1/campaigns/{id}")).await;
    assert_eq!(during["status"], "sending", "{during}");
    // Let the campaign run well past the number, then stop it to keep the test short.
    let past = wait_for(&app, id, |b| {
        b["counts"]["sent"].as_i64().unwrap_or(0) > place as i64 + 1000
    })
    .await;
    let (s, _) = app
        .post(&format!("/api/v1/campaigns/{id}/cancel"), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let to_target: Vec<_> = fake.sent().into_iter().filter(|m| m.to == target).collect();
    assert!(
        to_target.iter().all(|m| m.text != "Hello"),
        "campaign message sent after the STOP: {past}"
    );
    assert_eq!(
        to_target.len(),
        1,
        "only the opt-out confirmation: {to_target:?}"
    );
    assert!(
        to_target[0]
            .text
            .starts_with("You have been unsubscribed from ACME")
    );
    let (_, sup) = app
        .get(&format!(
            "/api/v1/campaigns/{id}/messages?status=suppressed"
        ))
        .await;
    assert_eq!(sup["items"].as_array().unwrap().len(), 1, "{sup}");
    assert_eq!(sup["items"][0]["number"], target.as_str());
    let (_, done) = app.get(&format!("/api/v1/campaigns/{id}")).await;
    assert_eq!(done["status"], "cancelled");
    assert!(done["counts"]["cancelled"].as_i64().unwrap() > 0, "{done}");
}

#[tokio::test]
async fn two_instances_on_one_database_dispatch_every_message_exactly_once() {
    for url in each_backend().await {
        let app = spawn(&url).await;
        // A second instance on the same database, with its own dispatcher.
        let second = stoplist::app::Application::with_store(
            stoplist_store::connect(&url).await.unwrap(),
            Config {
                listen: "127.0.0.1:0".into(),
                database_url: url.clone(),
                default_send_rate: 0,
                dispatch_poll_ms: 10,
                ..common::test_config()
            },
        )
        .await
        .unwrap();
        tokio::spawn(second.run_until(std::future::pending()));
        let fake = FakeProvider::start().await;
        use_twilio(&app, &fake).await;
        let numbers: Vec<String> = (0..3000)
            .map(|i| format!("+614{:08}", 20_000_000 + i))
            .collect();
        let id = app.campaign(json!({"name": "Both", "sender_id": "ACME", "message": "Hello", "numbers": numbers})).await;
        let (s, b) = app
            .post(&format!("/api/v1/campaigns/{id}/send"), json!({}))
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{b}");
        let done = wait_for(&app, id, |b| b["status"] == "done").await;
        assert_eq!(done["counts"]["sent"], 3000, "{done}");
        let sent = fake.sent();
        assert_eq!(sent.len(), 3000, "each message dispatched once");
        let distinct: std::collections::HashSet<_> = sent.iter().map(|m| m.to.clone()).collect();
        assert_eq!(distinct.len(), 3000);
    }
}

#[tokio::test]
async fn a_file_uploaded_through_one_instance_is_previewed_through_another() {
    for (i, url) in each_backend().await.into_iter().enumerate() {
        let shared = std::env::temp_dir().join(format!(
            "stoplist-test-campaign-files-{}-{i}",
            std::process::id()
        ));
        let config = || Config {
            campaign_files_dir: Some(shared.clone()),
            ..common::test_config()
        };
        let app = TestApp::spawn_with(&url, config()).await;
        let second = stoplist::app::Application::with_store(
            stoplist_store::connect(&url).await.unwrap(),
            Config {
                listen: "127.0.0.1:0".into(),
                database_url: url.clone(),
                ..config()
            },
        )
        .await
        .unwrap();
        let second_base = format!("http://{}", second.address());
        tokio::spawn(second.run_until(std::future::pending()));
        let id = app
            .campaign(json!({"name": "Shared file", "sender_id": "ACME", "message": "Hello"}))
            .await;
        let (s, b) = send(
            app.req(
                reqwest::Method::PUT,
                &format!("/api/v1/campaigns/{id}/file?file_name=n.txt"),
            )
            .body("+61412000001\n+61412000002\n0412 000 001\nnot a number\n"),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let kept: Vec<_> = std::fs::read_dir(&shared)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(&format!("campaign-{}-{id}-", app.account.0))
            })
            .collect();
        assert_eq!(kept.len(), 1, "the file is kept in campaign_files_dir");
        let (s, p) = send(
            app.http
                .post(format!("{second_base}/api/v1/campaigns/{id}/preview"))
                .bearer_auth(&app.key),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{p}");
        assert_eq!(p["numbers_read"], 4, "{p}");
        assert_eq!(p["duplicates"], 1, "{p}");
        assert_eq!(p["recipients"], 2, "{p}");
        let _ = std::fs::remove_dir_all(&shared);
    }
}

/// Starts a campaign of `n` numbers while the provider hangs, and waits until the dispatcher
/// has a full set of requests in flight at the provider (held there, unanswered). Answers the
/// campaign id, the numbers, and the provider's request count before the send.
async fn sending_with_requests_in_flight(
    app: &TestApp,
    fake: &FakeProvider,
    n: usize,
    base: usize,
) -> (i64, Vec<String>, u64) {
    let numbers: Vec<String> = (0..n).map(|i| format!("+614{:08}", base + i)).collect();
    let id = app
        .campaign(
            json!({"name": "Held up", "sender_id": "ACME", "message": "Hello", "numbers": numbers}),
        )
        .await;
    let before = fake.requests();
    fake.hang(true);
    let (s, b) = app
        .post(&format!("/api/v1/campaigns/{id}/send"), json!({}))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    // The dispatcher claims a batch of 100 and has up to 32 of them at the provider at once.
    let deadline = Instant::now() + Duration::from_secs(30);
    while fake.requests() - before < 32 {
        assert!(
            Instant::now() < deadline,
            "only {} requests reached the provider",
            fake.requests() - before
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (id, numbers, before)
}

/// Waits until no message of the campaign is claimed (the dispatcher recorded its batch).
async fn batch_recorded(app: &TestApp, id: i64) -> Value {
    wait_for(app, id, |b| b["counts"]["sending"] == 0).await
}

#[tokio::test]
async fn a_pause_stops_the_claimed_batch_before_its_next_message_and_resume_sends_the_rest_once() {
    for url in each_backend().await {
        let app = spawn(&url).await;
        let fake = FakeProvider::start().await;
        // Requests held by the hanging provider must not time out (and be retried) meanwhile.
        use_twilio_with_timeout(&app, &fake, 60).await;
        let (id, numbers, before) =
            sending_with_requests_in_flight(&app, &fake, 250, 40_000_000).await;

        let (s, b) = app
            .post(&format!("/api/v1/campaigns/{id}/pause"), json!({}))
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["status"], "paused");
        // Everything that reached the provider before the pause answered is in flight there.
        let in_flight = fake.requests();
        fake.hang(false);
        let paused = batch_recorded(&app, id).await;

        assert_eq!(
            fake.requests(),
            in_flight,
            "no request after the pause answered but those in flight: {paused}"
        );
        let sent = (in_flight - before) as i64;
        assert_eq!(paused["counts"]["sent"], sent, "{paused}");
        assert_eq!(paused["counts"]["held"], 250 - sent, "{paused}");
        assert_eq!(paused["status"], "paused");
        // The released messages were not attempted.
        let (_, held) = app
            .get(&format!(
                "/api/v1/campaigns/{id}/messages?status=held&limit=500"
            ))
            .await;
        let held = held["items"].as_array().unwrap();
        assert_eq!(held.len() as i64, 250 - sent);
        assert!(held.iter().all(|m| m["attempts"] == 0), "{held:?}");

        let (s, b) = app
            .post(&format!("/api/v1/campaigns/{id}/resume"), json!({}))
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let done = wait_for(&app, id, |b| b["status"] == "done").await;
        assert_eq!(done["counts"]["sent"], 250, "{done}");
        let sent = fake.sent();
        assert_eq!(sent.len(), 250, "each message sent exactly once");
        let distinct: std::collections::HashSet<_> = sent.iter().map(|m| m.to.as_str()).collect();
        assert!(numbers.iter().all(|n| distinct.contains(n.as_str())));
    }
}

#[tokio::test]
async fn a_cancel_stops_the_claimed_batch_before_its_next_message() {
    for url in each_backend().await {
        let app = spawn(&url).await;
        let fake = FakeProvider::start().await;
        use_twilio_with_timeout(&app, &fake, 60).await;
        let (id, _, before) = sending_with_requests_in_flight(&app, &fake, 250, 47_000_000).await;

        let (s, b) = app
            .post(&format!("/api/v1/campaigns/{id}/cancel"), json!({}))
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["status"], "cancelled");
        let in_flight = fake.requests();
        fake.hang(false);
        let cancelled = batch_recorded(&app, id).await;

        assert_eq!(
            fake.requests(),
            in_flight,
            "no request after the cancel answered but those in flight: {cancelled}"
        );
        let sent = (in_flight - before) as i64;
        assert_eq!(cancelled["counts"]["sent"], sent, "{cancelled}");
        assert_eq!(cancelled["counts"]["cancelled"], 250 - sent, "{cancelled}");
        assert_eq!(cancelled["counts"]["queued"], 0, "{cancelled}");
        assert_eq!(cancelled["status"], "cancelled");
        assert_eq!(fake.sent().len() as i64, sent);
    }
}

/// A stored secret is never sent to a host or account it was not given for: changing the base
/// URL or the account id without the secret is refused and changes nothing; changing anything
/// else keeps it; a change of kind drops it.
#[tokio::test]
async fn a_stored_secret_stays_with_the_host_and_account_it_was_given_for() {
    for url in each_backend().await {
        let app = spawn(&url).await;
        let fake = FakeProvider::start().await;
        use_twilio(&app, &fake).await;
        let c = fake.credentials();
        let put = |body: Value| {
            let app = &app;
            async move {
                send(
                    app.req(reqwest::Method::PUT, "/api/v1/settings/connector")
                        .json(&body),
                )
                .await
            }
        };
        let elsewhere = "https://collector.example.net";
        for (what, body) in [
            (
                "base URL",
                json!({"kind": "twilio", "account": c.twilio_sid, "base_url": elsewhere}),
            ),
            (
                "default base URL",
                json!({"kind": "twilio", "account": c.twilio_sid}),
            ),
            (
                "account",
                json!({"kind": "twilio", "account": "ACother", "base_url": fake.base_url()}),
            ),
        ] {
            let (s, b) = put(body).await;
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {b}");
            assert_eq!(
                (code(&b), field(&b)),
                ("secret_required", "secret"),
                "{what}: {b}"
            );
            let (_, now) = app.get("/api/v1/settings/connector").await;
            assert_eq!(
                now["base_url"],
                fake.base_url(),
                "{what}: nothing changed: {now}"
            );
            assert_eq!(now["account"], c.twilio_sid.as_str(), "{what}: {now}");
        }
        // The same host and account: the stored secret stays.
        let (s, b) = put(json!({"kind": "twilio", "account": c.twilio_sid,
                                "base_url": fake.base_url(), "rate_per_second": 5}))
        .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["has_secret"], true);
        // With the secret given again, the host may change.
        let (s, b) = put(json!({"kind": "twilio", "account": c.twilio_sid,
                                "secret": c.twilio_token, "base_url": elsewhere}))
        .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        // Another kind drops the secret; coming back needs it again.
        let (s, b) = put(json!({"kind": "log"})).await;
        assert_eq!(
            (s, b["has_secret"].clone()),
            (StatusCode::OK, json!(false)),
            "{b}"
        );
        let (s, b) =
            put(json!({"kind": "twilio", "account": c.twilio_sid, "base_url": elsewhere})).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert_eq!(field(&b), "secret", "{b}");
    }
}

// --- Outbound URLs (SSRF): a connector sends only where the outbound policy allows -------

/// A server with the strict outbound policy (the default configuration).
async fn spawn_strict(url: &str) -> TestApp {
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

async fn put_connector(app: &TestApp, base_url: &str) -> (StatusCode, Value) {
    send(
        app.req(reqwest::Method::PUT, "/api/v1/settings/connector")
            .json(
                &json!({"kind": "twilio", "account": "AC0123", "secret": "token-0123",
                          "base_url": base_url}),
            ),
    )
    .await
}

/// Sends a one-number campaign and waits for its message's outcome (sent or failed).
async fn send_one(app: &TestApp, name: &str) -> Value {
    let id = app
        .campaign(
            json!({"name": name, "sender_id": "ACME", "message": "Hello. Reply STOP to opt out",
                         "numbers": ["0412345001"]}),
        )
        .await;
    let (s, b) = app
        .post(&format!("/api/v1/campaigns/{id}/send"), json!({}))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    wait_for(app, id, |b| {
        b["counts"]["sent"].as_i64().unwrap_or(0) + b["counts"]["failed"].as_i64().unwrap_or(0) == 1
    })
    .await;
    let (_, messages) = app.get(&format!("/api/v1/campaigns/{id}/messages")).await;
    messages["items"][0].clone()
}

#[tokio::test]
async fn a_connector_on_plain_http_to_loopback_is_refused_while_private_urls_are_off() {
    for url in each_backend().await {
        let app = spawn_strict(&url).await;
        let fake = FakeProvider::start().await;
        let (s, b) = put_connector(&app, &fake.base_url()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert_eq!((code(&b), field(&b)), ("invalid_field", "base_url"), "{b}");
        assert_eq!(b["error"]["message"], "base_url: must be https", "{b}");
        // The same address over https is refused for what it is.
        let https = fake.base_url().replacen("http://", "https://", 1);
        let (s, b) = put_connector(&app, &https).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        let message = b["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with("base_url: is 127.0.0.1, a loopback address"),
            "{message}"
        );
        let (_, now) = app.get("/api/v1/settings/connector").await;
        assert_eq!(now["kind"], "log", "nothing stored: {now}");
    }
}

#[tokio::test]
async fn the_cloud_metadata_address_is_refused_as_a_connector_base_url() {
    let url = each_backend().await.remove(0);
    let app = spawn_strict(&url).await;
    let (s, b) = put_connector(&app, "http://169.254.169.254/").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(b["error"]["message"], "base_url: must be https", "{b}");
    for address in [
        "https://169.254.169.254/",
        "https://[::ffff:169.254.169.254]/",
        "https://2852039166/",
    ] {
        let (s, b) = put_connector(&app, address).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{address}: {b}");
        assert_eq!(field(&b), "base_url");
        let message = b["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with("base_url: is ")
                && message.ends_with(
                    "169.254.169.254, a link-local address; stoplist sends only to public addresses"
                ),
            "{address}: {message}"
        );
    }
    let (_, now) = app.get("/api/v1/settings/connector").await;
    assert_eq!(now["kind"], "log", "nothing stored: {now}");
}

#[tokio::test]
async fn a_name_that_resolves_to_a_private_address_is_refused_as_a_connector_base_url() {
    let url = each_backend().await.remove(0);
    let app = spawn_strict(&url).await;
    let (s, b) = put_connector(&app, "https://localhost:8443/").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(field(&b), "base_url", "{b}");
    let message = b["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("base_url: localhost resolves to ")
            && message.contains("a loopback address"),
        "{message}"
    );
    // With private addresses allowed (tests, a provider on the operator's network), it is kept.
    let open = TestApp::spawn(&each_backend().await.remove(0)).await;
    let (s, b) = put_connector(&open, "https://localhost:8443/").await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

/// Checked again at send time: a base URL stored while the policy allowed it (or a name whose
/// address changed since it was saved) sends nothing once the policy refuses it.
#[tokio::test]
async fn a_stored_base_url_the_policy_now_refuses_sends_nothing() {
    for (case, says) in [
        ("http to loopback", "must be https"),
        ("a name of loopback", "localhost resolves to"),
    ] {
        for url in each_backend().await {
            let app = spawn_strict(&url).await;
            let fake = FakeProvider::start().await;
            let c = fake.credentials();
            let base_url = match case {
                "http to loopback" => fake.base_url(),
                _ => format!("https://localhost:{}", fake.addr().port()),
            };
            // As stored before the policy was turned on (or before the name moved).
            let settings = json!({"kind": "twilio", "base_url": base_url,
                                  "account": c.twilio_sid, "has_secret": true});
            app.store
                .set_connector(
                    app.account,
                    &stoplist_store::ConnectorRecord {
                        kind: "twilio".into(),
                        config_json: settings.to_string(),
                        secret: c.twilio_token.clone(),
                        updated_at: stoplist::now_ms(),
                    },
                )
                .await
                .unwrap();
            let message = send_one(&app, case).await;
            assert_eq!(message["status"], "failed", "{case}: {message}");
            assert_eq!(message["error_code"], "refused_address", "{message}");
            let error = message["error_message"].as_str().unwrap_or_default();
            assert!(error.contains(says), "{case}: {error}");
            assert_eq!(fake.requests(), 0, "{case}: nothing reached the provider");
        }
    }
}

/// Redirects are never followed: a provider (or anything posing as one) that answers 302
/// cannot send the request on, not to a loopback port, not to the metadata service, even
/// with private addresses allowed.
#[tokio::test]
async fn a_connector_that_redirects_is_not_followed() {
    let url = each_backend().await.remove(0);
    let app = spawn(&url).await; // private addresses allowed: the redirector is on loopback
    let (target, target_hits) = counting_server(200, None).await;
    for (i, location) in [
        format!("{target}/admin"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
    ]
    .into_iter()
    .enumerate()
    {
        let (redirector, redirector_hits) = counting_server(302, Some(location.clone())).await;
        let (s, b) = put_connector(&app, &redirector).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let started = Instant::now();
        let message = send_one(&app, &format!("Redirected {i}")).await;
        assert_eq!(message["status"], "failed", "{location}: {message}");
        assert_eq!(message["error_code"], "http_302", "{location}: {message}");
        assert_eq!(
            redirector_hits.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "one request, not retried"
        );
        // Following the metadata address would have waited on its connect timeout (5 s).
        assert!(started.elapsed() < Duration::from_secs(5), "{location}");
    }
    assert_eq!(
        target_hits.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the redirect target was never asked"
    );
}

// --- Recipients files: removed from disk once the campaign has ended ----------------------

/// Uploads `body` as the draft's recipients file and answers where the server keeps it.
async fn upload_recipients(app: &TestApp, id: i64, body: &'static str) -> std::path::PathBuf {
    let (s, b) = send(
        app.req(
            reqwest::Method::PUT,
            &format!("/api/v1/campaigns/{id}/file?file_name=people.txt"),
        )
        .body(body),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let c = app
        .store
        .campaign(app.account, stoplist_domain::CampaignId(id))
        .await
        .unwrap()
        .unwrap();
    let path = std::path::PathBuf::from(c.file.unwrap().path.unwrap());
    assert!(path.exists(), "{path:?}");
    path
}

#[tokio::test]
async fn a_sent_campaigns_recipients_file_is_removed_and_its_record_and_report_still_work() {
    for url in each_backend().await {
        let app = TestApp::spawn_with(
            &url,
            Config {
                default_send_rate: 0,
                dispatch_poll_ms: 50,
                // Housekeeping (finished campaigns, their files) every ~170 ms.
                instance_lease_seconds: 1,
                ..common::test_config()
            },
        )
        .await;
        let id = app
            .campaign(json!({"name": "With a file", "sender_id": "ACME", "message": "Hello. Reply STOP to opt out"}))
            .await;
        let path = upload_recipients(&app, id, "+61412000001\n+61412000002\n").await;
        let (s, p) = app
            .post(&format!("/api/v1/campaigns/{id}/preview"), json!({}))
            .await;
        assert_eq!(s, StatusCode::OK, "{p}");
        let (s, b) = app
            .post(&format!("/api/v1/campaigns/{id}/send"), json!({}))
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{b}");
        let done = wait_for(&app, id, |b| {
            b["status"] == "done" && b["file"]["removed"] == true
        })
        .await;
        assert!(!path.exists(), "the file is gone from disk: {path:?}");
        // The record still says which file it was, and what happened.
        assert_eq!(done["file"]["name"], "people.txt", "{done}");
        assert_eq!(done["counts"]["sent"], 2, "{done}");
        assert_eq!(done["preview"]["recipients"], 2, "{done}");
        let (s, messages) = app.get(&format!("/api/v1/campaigns/{id}/messages")).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(messages["items"].as_array().unwrap().len(), 2, "{messages}");
        let r = app
            .req(
                reqwest::Method::GET,
                &format!("/api/v1/campaigns/{id}/messages/export?format=csv"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let csv = r.text().await.unwrap();
        assert!(
            csv.contains("+61412000001") && csv.contains("+61412000002"),
            "{csv}"
        );
    }
}

#[tokio::test]
async fn a_recipients_file_stays_for_the_retention_after_its_campaign_is_cancelled() {
    let url = each_backend().await.remove(0);
    let app = TestApp::spawn_with(
        &url,
        Config {
            campaign_file_retention_hours: 24,
            ..common::test_config()
        },
    )
    .await;
    let id = app
        .campaign(json!({"name": "Cancelled", "sender_id": "ACME", "message": "Hello"}))
        .await;
    let path = upload_recipients(&app, id, "+61412000001\n").await;
    let (s, b) = app
        .post(&format!("/api/v1/campaigns/{id}/cancel"), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let files = &app.state.campaign_files;
    let now = stoplist::now_ms();
    assert_eq!(files.remove_ended(now).await.unwrap(), 0);
    assert!(path.exists(), "kept within the retention");
    let day_later = now + 24 * 3_600_000;
    assert_eq!(files.remove_ended(day_later).await.unwrap(), 1);
    assert!(!path.exists(), "removed once the retention passed");
    let (_, c) = app.get(&format!("/api/v1/campaigns/{id}")).await;
    assert_eq!(
        (
            c["status"].as_str(),
            c["file"]["name"].as_str(),
            c["file"]["removed"].as_bool()
        ),
        (Some("cancelled"), Some("people.txt"), Some(true)),
        "{c}"
    );
}
