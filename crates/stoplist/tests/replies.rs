//! Replies end to end: provider webhooks on the real server over loopback (Twilio's and
//! Vonage's signatures checked), classification, the opt-out effects in one transaction,
//! idempotent redelivery, the review queue, and signed outbound notifications (SQLite, and
//! PostgreSQL when `STOPLIST_TEST_PG_URL` is set).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::{TestApp, code, counting_server, each_backend, field, send};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use stoplist::config::Config;
use stoplist_providers::fake::FakeProvider;

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

async fn token(app: &TestApp) -> String {
    app.store
        .account(app.account)
        .await
        .unwrap()
        .unwrap()
        .webhook_token
}

async fn generic(app: &TestApp, id: &str, from: &str, text: &str) -> (StatusCode, Value) {
    let t = token(app).await;
    send(
        app.http
            .post(format!("{}/webhooks/generic/{t}", app.base))
            .json(&json!({
                "id": id, "from": from, "to": "+61400000000", "text": text,
                "received_at": "2026-11-28T01:00:00Z"
            })),
    )
    .await
}

async fn use_twilio(app: &TestApp, fake: &FakeProvider) {
    let c = fake.credentials();
    let (s, b) = send(app.req(reqwest::Method::PUT, "/api/v1/settings/connector").json(&json!({
        "kind": "twilio", "account": c.twilio_sid, "secret": c.twilio_token, "base_url": fake.base_url()
    })))
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

async fn eventually(what: &str, f: impl AsyncFn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f().await {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_stop_reply_opts_out_confirms_once_and_a_redelivery_changes_nothing() {
    for url in each_backend().await {
        let app = spawn(&url).await;
        let fake = FakeProvider::start().await;
        use_twilio(&app, &fake).await;
        let (s, b) = generic(&app, "m1", "+61412345678", " Stop. ").await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["classification"], "opt_out");
        assert_eq!(b["tier"], "keyword");
        assert_eq!(b["duplicate"], false);
        let actions: Vec<&str> = b["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert!(
            actions.contains(&"opted_out") && actions.contains(&"confirmation queued"),
            "{b}"
        );
        let (_, o) = app.get("/api/v1/optouts/0412345678").await;
        assert_eq!(o["opted_out"], true);
        assert_eq!(o["source"], "reply");

        // Redelivered: acknowledged, nothing done again.
        let (s, again) = generic(&app, "m1", "+61412345678", " Stop. ").await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(again["duplicate"], true);
        // A second STOP later is stored but confirms nothing (never twice).
        let (_, second) = generic(&app, "m2", "+61412345678", "STOP").await;
        assert!(
            !second["actions"].to_string().contains("confirmation"),
            "{second}"
        );

        eventually("the confirmation is sent", async || {
            fake.count_to("+61412345678") == 1
        })
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(fake.count_to("+61412345678"), 1, "exactly one confirmation");
        let sent = fake.sent();
        assert!(
            sent[0].text.starts_with("You have been unsubscribed"),
            "{:?}",
            sent[0]
        );

        let (_, list) = app.get("/api/v1/replies?class=opt_out").await;
        assert_eq!(list["items"].as_array().unwrap().len(), 2, "{list}");
        let (_, events) = app.get("/api/v1/optouts/0412345678/events").await;
        assert_eq!(
            events["events"].as_array().unwrap().len(),
            1,
            "one opt-out event for two STOPs: {events}"
        );
    }
}

#[tokio::test]
async fn help_is_answered_even_when_opted_out_and_start_lifts_a_reply_opt_out() {
    for url in each_backend().await {
        let app = spawn(&url).await;
        let fake = FakeProvider::start().await;
        use_twilio(&app, &fake).await;
        generic(&app, "a", "+61412345678", "STOP").await;
        let (_, h) = generic(&app, "b", "+61412345678", "HELP").await;
        assert_eq!(h["classification"], "help");
        assert!(h["actions"].to_string().contains("help queued"), "{h}");
        let (_, y) = generic(&app, "c", "+61412345678", "START").await;
        assert_eq!(y["classification"], "opt_in");
        assert!(y["actions"].to_string().contains("opted_in"), "{y}");
        assert!(!app.opted_out("0412345678").await);
        // confirmation + help + opt-in confirmation
        eventually("three answers", async || fake.count_to("+61412345678") == 3).await;
        // Traps are not opt-outs.
        let (_, t) = generic(&app, "d", "+61412345679", "stop by the store at 5").await;
        assert_eq!(t["classification"], "other", "{t}");
        assert!(!app.opted_out("0412345679").await);
    }
}

#[tokio::test]
async fn a_reply_to_a_campaign_deletes_the_contact_from_that_campaigns_groups_when_set() {
    for url in each_backend().await {
        let app = spawn(&url).await;
        let (s, _) = app
            .patch("/api/v1/settings", json!({"auto_delete_optouts": true}))
            .await;
        assert_eq!(s, StatusCode::OK);
        let g1 = app.group("Promo").await;
        let g2 = app.group("Staff").await;
        for g in [g1, g2] {
            let (s, b) = app
                .post(
                    &format!("/api/v1/groups/{g}/contacts"),
                    json!({"number": "0412345678"}),
                )
                .await;
            assert_eq!(s, StatusCode::CREATED, "{b}");
        }
        let id = app
            .campaign(json!({"name": "P", "sender_id": "ACME", "message": "Hi", "groups": [g1]}))
            .await;
        app.post(&format!("/api/v1/campaigns/{id}/send"), json!({}))
            .await;
        eventually("the campaign is sent", async || {
            app.get(&format!("/api/v1/campaigns/{id}")).await.1["counts"]["sent"] == 1
        })
        .await;
        let (_, r) = generic(&app, "r1", "+61412345678", "Please stop texting me").await;
        assert_eq!(r["classification"], "opt_out", "{r}");
        assert!(
            r["actions"].to_string().contains("deleted 1 contacts"),
            "{r}"
        );
        let (_, promo) = app.get(&format!("/api/v1/groups/{g1}/contacts")).await;
        assert_eq!(promo["items"].as_array().unwrap().len(), 0);
        let (_, staff) = app.get(&format!("/api/v1/groups/{g2}/contacts")).await;
        assert_eq!(
            staff["items"].as_array().unwrap().len(),
            1,
            "other groups keep it"
        );
        let (_, list) = app.get("/api/v1/replies").await;
        assert_eq!(list["items"][0]["matched_campaign_id"], id);
    }
}

#[tokio::test]
async fn twilio_webhooks_need_a_valid_signature_for_their_own_url() {
    let url = each_backend().await.remove(0);
    let app = spawn(&url).await;
    let fake = FakeProvider::start().await;
    use_twilio(&app, &fake).await;
    let t = token(&app).await;
    let path = format!("/webhooks/twilio/{t}");
    let host = app.base.trim_start_matches("http://").to_owned();
    let params: Vec<(String, String)> = [
        ("MessageSid", "SM123"),
        ("AccountSid", "AC1"),
        ("From", "+61412345678"),
        ("To", "+61400000000"),
        ("Body", "STOP"),
        ("NumMedia", "0"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let token_secret = fake.credentials().twilio_token.clone();
    let good = stoplist_providers::twilio::signature(
        &token_secret,
        &format!("http://{host}{path}"),
        &params,
    );
    let post = |sig: String| {
        app.http
            .post(format!("{}{path}", app.base))
            .header("X-Twilio-Signature", sig)
            .form(&params)
    };
    let (s, _) = send(post("bad".into())).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // The same parameters signed for another URL (a replay) are refused.
    let other = stoplist_providers::twilio::signature(
        &token_secret,
        "https://example.com/webhooks/twilio/x",
        &params,
    );
    let (s, _) = send(post(other)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(
        !app.opted_out("0412345678").await,
        "nothing stored on a bad signature"
    );
    let (s, body) = send(post(good)).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(body.as_str().unwrap().contains("<Response"), "{body}");
    assert!(app.opted_out("0412345678").await);
}

#[tokio::test]
async fn vonage_parts_are_reassembled_before_classification() {
    let url = each_backend().await.remove(0);
    let app = spawn(&url).await;
    let t = token(&app).await;
    let part = |i: u32, text: &str| {
        format!(
            "{}/webhooks/vonage/{t}?msisdn=61412345678&to=61400000000&messageId=0A00000{i}&text={text}&type=text&keyword=X&message-timestamp=2026-11-28+01%3A00%3A00&concat=true&concat-ref=7&concat-total=2&concat-part={i}",
            app.base
        )
    };
    let (s, _) = send(app.http.get(part(2, "texting+me"))).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        !app.opted_out("0412345678").await,
        "half a message decides nothing"
    );
    let (s, _) = send(app.http.get(part(1, "please+stop+"))).await;
    assert_eq!(s, StatusCode::OK);
    assert!(app.opted_out("0412345678").await);
    let (_, list) = app.get("/api/v1/replies").await;
    assert_eq!(list["items"][0]["text"], "please stop texting me");
}

/// A Vonage inbound SMS from `msisdn` (an Australian mobile without the +), stamped `timestamp`.
fn vonage_sms(id: &str, msisdn: &str, text: &str, timestamp: i64) -> Vec<(String, String)> {
    [
        ("msisdn", msisdn),
        ("to", "61400000000"),
        ("messageId", id),
        ("text", text),
        ("type", "text"),
        ("keyword", text.split(' ').next().unwrap_or("")),
        ("message-timestamp", "2026-11-28 01:00:00"),
        ("timestamp", &timestamp.to_string()),
        ("nonce", "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// `params` with the `sig` Vonage would add.
fn vonage_signed(
    method: stoplist_providers::vonage::SignatureMethod,
    secret: &str,
    mut params: Vec<(String, String)>,
) -> Vec<(String, String)> {
    let sig = stoplist_providers::vonage::signature(method, secret, &params);
    params.push(("sig".into(), sig));
    params
}

fn now_secs() -> i64 {
    stoplist::now_ms() / 1000
}

#[tokio::test]
async fn vonage_webhooks_are_accepted_unsigned_while_no_signature_secret_is_set() {
    for url in each_backend().await {
        let app = spawn(&url).await;
        let t = token(&app).await;
        let (_, setting) = app.get("/api/v1/settings/vonage-signature").await;
        assert_eq!(setting, json!({"has_secret": false}));
        let mut p = vonage_sms("V-U1", "61412345601", "STOP", now_secs());
        p.push(("sig".into(), "not checked".into()));
        let (s, b) = send(
            app.http
                .post(format!("{}/webhooks/vonage/{t}", app.base))
                .form(&p),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let stale = vonage_sms("V-U2", "61412345602", "STOP", now_secs() - 3_600);
        let (s, b) = send(
            app.http
                .get(format!("{}/webhooks/vonage/{t}", app.base))
                .query(&stale),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert!(app.opted_out("0412345601").await && app.opted_out("0412345602").await);
    }
}

#[tokio::test]
async fn signed_vonage_webhooks_are_refused_without_a_valid_fresh_signature() {
    use stoplist_providers::vonage::SignatureMethod;
    for url in each_backend().await {
        let app = spawn(&url).await;
        let t = token(&app).await;
        let secret = "Vonage-Dashboard-Secret-0123456789";
        let (s, b) = send(
            app.req(reqwest::Method::PUT, "/api/v1/settings/vonage-signature")
                .json(&json!({"method": "sha256", "secret": secret})),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b, json!({"method": "sha256", "has_secret": true}));
        let hook = format!("{}/webhooks/vonage/{t}", app.base);
        let sha256 = SignatureMethod::Sha256Hmac;

        // Signed as Vonage signs: a GET query, a POST form and a POST JSON body.
        let p = vonage_signed(
            sha256,
            secret,
            vonage_sms("V-G", "61412345611", "STOP", now_secs()),
        );
        let (s, b) = send(app.http.get(&hook).query(&p)).await;
        assert_eq!(s, StatusCode::OK, "GET: {b}");
        let p = vonage_signed(
            sha256,
            secret,
            vonage_sms("V-F", "61412345612", "STOP", now_secs()),
        );
        let (s, b) = send(app.http.post(&hook).form(&p)).await;
        assert_eq!(s, StatusCode::OK, "form: {b}");
        let p = vonage_signed(
            sha256,
            secret,
            vonage_sms("V-J", "61412345613", "STOP", now_secs()),
        );
        let body: serde_json::Map<String, Value> =
            p.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
        let (s, b) = send(app.http.post(&hook).json(&body)).await;
        assert_eq!(s, StatusCode::OK, "JSON: {b}");
        for n in ["0412345611", "0412345612", "0412345613"] {
            assert!(app.opted_out(n).await, "{n}");
        }

        // Unsigned, signed with another secret, tampered with, or signed long ago: 403,
        // with what to do, and nothing stored.
        let refused = |p: Vec<(String, String)>| app.http.post(&hook).form(&p);
        let unsigned = vonage_sms("V-1", "61412345621", "STOP", now_secs());
        let (s, b) = send(refused(unsigned)).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
        assert_eq!(code(&b), "forbidden");
        assert!(
            b["error"]["message"]
                .as_str()
                .unwrap()
                .contains("missing sig"),
            "{b}"
        );
        let other_secret = vonage_signed(
            sha256,
            "another secret",
            vonage_sms("V-2", "61412345622", "STOP", now_secs()),
        );
        let (s, b) = send(refused(other_secret)).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
        assert!(
            b["error"]["message"]
                .as_str()
                .unwrap()
                .contains("does not match"),
            "{b}"
        );
        let mut tampered = vonage_signed(
            sha256,
            secret,
            vonage_sms("V-3", "61412345623", "hello", now_secs()),
        );
        for (k, v) in tampered.iter_mut() {
            if k == "text" {
                *v = "STOP".into();
            }
        }
        let (s, _) = send(refused(tampered)).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let stale = vonage_signed(
            sha256,
            secret,
            vonage_sms("V-4", "61412345624", "STOP", now_secs() - 6 * 60),
        );
        let (s, b) = send(refused(stale)).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
        assert!(
            b["error"]["message"]
                .as_str()
                .unwrap()
                .contains("5 minutes"),
            "{b}"
        );
        let unsigned_json = json!({"msisdn": "61412345625", "to": "61400000000",
            "messageId": "V-5", "text": "STOP", "type": "text", "timestamp": now_secs().to_string()});
        let (s, _) = send(app.http.post(&hook).json(&unsigned_json)).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        for n in [
            "0412345621",
            "0412345622",
            "0412345623",
            "0412345624",
            "0412345625",
        ] {
            assert!(!app.opted_out(n).await, "nothing stored for {n}");
        }
        let (_, replies) = app.get("/api/v1/replies").await;
        assert_eq!(replies["items"].as_array().unwrap().len(), 3, "{replies}");

        // Another method with the stored secret kept; then the check turned off.
        let (s, b) = send(
            app.req(reqwest::Method::PUT, "/api/v1/settings/vonage-signature")
                .json(&json!({"method": "md5hash"})),
        )
        .await;
        assert_eq!(
            (s, b["has_secret"].clone()),
            (StatusCode::OK, json!(true)),
            "{b}"
        );
        let p = vonage_signed(
            SignatureMethod::Md5Hash,
            secret,
            vonage_sms("V-M", "61412345631", "STOP", now_secs()),
        );
        let (s, b) = send(app.http.post(&hook).form(&p)).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let (s, b) = send(
            app.req(reqwest::Method::PUT, "/api/v1/settings/vonage-signature")
                .json(&json!({})),
        )
        .await;
        assert_eq!((s, b), (StatusCode::OK, json!({"has_secret": false})));
        let (s, _) = send(refused(vonage_sms(
            "V-6",
            "61412345632",
            "STOP",
            now_secs(),
        )))
        .await;
        assert_eq!(s, StatusCode::OK, "unsigned is accepted again");

        // Every change is in the settings history, never the secret.
        let (_, history) = app.get("/api/v1/settings/history").await;
        let changes: Vec<(&str, &str)> = history
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["field"] == "vonage_signature")
            .map(|c| {
                (
                    c["old_value"].as_str().unwrap(),
                    c["new_value"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            changes,
            [("md5hash", "off"), ("sha256", "md5hash"), ("off", "sha256")]
        );
        assert!(!history.to_string().contains(secret));
    }
}

#[tokio::test]
async fn a_vonage_signature_setting_names_the_field_at_fault() {
    let url = each_backend().await.remove(0);
    let app = spawn(&url).await;
    let put = |body: Value| {
        send(
            app.req(reqwest::Method::PUT, "/api/v1/settings/vonage-signature")
                .json(&body),
        )
    };
    let (s, b) = put(json!({"method": "sha384", "secret": "s"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(field(&b), "method");
    let (s, b) = put(json!({"method": "sha256"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(field(&b), "secret");
    let (s, b) = put(json!({"secret": "a secret without a method"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(field(&b), "method");
    let (_, b) = app.get("/api/v1/settings/vonage-signature").await;
    assert_eq!(b, json!({"has_secret": false}), "nothing was stored");
}

#[tokio::test]
async fn bad_webhooks_get_a_clear_status_and_store_nothing() {
    let url = each_backend().await.remove(0);
    let app = spawn(&url).await;
    let t = token(&app).await;
    let post = |path: String, body: Value| app.http.post(format!("{}{path}", app.base)).json(&body);
    let (s, b) = send(post(
        "/webhooks/generic/nope".into(),
        json!({"id": "1", "from": "+61412345678", "to": "x", "text": "STOP"}),
    ))
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(!b.to_string().contains("account"), "reveals nothing: {b}");
    let (s, b) = send(post(
        format!("/webhooks/generic/{t}"),
        json!({"from": "+61412345678", "to": "x", "text": "STOP"}),
    ))
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(field(&b), "id");
    let (s, b) = send(post(format!("/webhooks/generic/{t}"), json!({"id": "2", "from": "+61412345678", "to": "x", "text": "STOP", "received_at": "2999-01-01T00:00:00Z"}))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(field(&b), "received_at");
    let (s, b) = send(post(format!("/webhooks/generic/{t}"), json!({"id": "3", "from": "+61412345678", "to": "x", "text": "STOP", "received_at": "yesterday"}))).await;
    assert!(s.is_client_error(), "{b}");
    let (s, _) = send(
        app.http
            .post(format!("{}/webhooks/generic/{t}", app.base))
            .body(vec![b'x'; 70_000]),
    )
    .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(!app.opted_out("0412345678").await, "nothing stored");
    // An alphanumeric sender is stored, with nothing to opt out.
    let (s, b) = send(post(
        format!("/webhooks/generic/{t}"),
        json!({"id": "4", "from": "ACME", "to": "x", "text": "STOP"}),
    ))
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(
        b["actions"].to_string().contains("not a phone number"),
        "{b}"
    );
    let _ = code(&b);

    // An empty text is a reply like any other: stored, classified `other`.
    let (s, b) = send(post(
        format!("/webhooks/generic/{t}"),
        json!({"id": "5", "from": "+61412345679", "to": "x", "text": ""}),
    ))
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["classification"], "other", "{b}");
    // A 1 MB text is over the body limit: 413 before it is read whole.
    let (s, _) = send(post(
        format!("/webhooks/generic/{t}"),
        json!({"id": "6", "from": "+61412345679", "to": "x", "text": "x".repeat(1 << 20)}),
    ))
    .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    // Invalid UTF-8 is refused and says so.
    let mut bytes = br#"{"id": "7", "from": "+61412345679", "to": "x", "text": "ST"#.to_vec();
    bytes.extend_from_slice(&[0xff, 0xfe]);
    bytes.extend_from_slice(br#"OP"}"#);
    let (s, b) = send(
        app.http
            .post(format!("{}/webhooks/generic/{t}", app.base))
            .header("content-type", "application/json")
            .body(bytes),
    )
    .await;
    assert!(s.is_client_error(), "{s} {b}");
    // The wrong content type for a provider: JSON to SMSGlobal's form endpoint lacks its
    // fields, which the answer names.
    let (s, b) = send(post(
        format!("/webhooks/smsglobal/{t}"),
        json!({"from": "61412345679", "msg": "STOP"}),
    ))
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(!field(&b).is_empty(), "names the missing field: {b}");
    // Only the two accepted replies were stored, and nothing was opted out by the others.
    let (_, list) = app.get("/api/v1/replies").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2, "{list}");
    assert!(!app.opted_out("0412345679").await);
}

#[tokio::test]
async fn unclear_replies_wait_for_review_and_confirming_makes_them_opt_outs() {
    let url = each_backend().await.remove(0);
    let app = spawn(&url).await;
    app.patch(
        "/api/v1/settings",
        json!({"unclear_counts_as_optout": false}),
    )
    .await;
    let (_, r) = generic(&app, "u1", "+61412345678", "STOP what?").await;
    assert_eq!(r["classification"], "unclear", "{r}");
    assert!(!app.opted_out("0412345678").await);
    let (_, q) = app.get("/api/v1/replies?pending=true").await;
    assert_eq!(q["items"].as_array().unwrap().len(), 1);
    let id = r["id"].as_i64().unwrap();
    let (s, b) = app
        .post(
            &format!("/api/v1/replies/{id}/review"),
            json!({"verdict": "confirm"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["review"], "confirmed");
    assert!(app.opted_out("0412345678").await);
    let (s, _) = app
        .post(
            &format!("/api/v1/replies/{id}/review"),
            json!({"verdict": "dismiss"}),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::CONFLICT,
        "a closed review cannot be decided again"
    );
}

#[tokio::test]
async fn opt_outs_are_notified_signed_to_the_accounts_endpoint() {
    let url = each_backend().await.remove(0);
    let app = spawn(&url).await;
    let got: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let sink = got.clone();
    let receiver = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let sink = sink.clone();
            async move {
                let sig = headers
                    .get("x-stoplist-signature")
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned();
                sink.lock().unwrap().push((sig, body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, receiver).await });
    let secret = "whsec_0123456789abcdef";
    let (s, b) = send(
        app.req(reqwest::Method::PUT, "/api/v1/settings/notifications")
            .json(&json!({
                "url": format!("http://{addr}/hook"), "secret": secret
            })),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(b.get("secret").is_none());
    generic(&app, "n1", "+61412345678", "STOP").await;
    eventually("the notification arrives", async || {
        !got.lock().unwrap().is_empty()
    })
    .await;
    let (sig, body) = got.lock().unwrap()[0].clone();
    let t: i64 = sig
        .split(',')
        .next()
        .unwrap()
        .trim_start_matches("t=")
        .parse()
        .unwrap();
    assert_eq!(sig, stoplist::replies::notify::signature(secret, t, &body));
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["event"], "opted_out");
    assert_eq!(v["number"], "+61412345678");
    eventually("the log says delivered", async || {
        app.get("/api/v1/settings/notifications/log").await.1[0]["status"] == "delivered"
    })
    .await;
}

#[tokio::test]
async fn a_reply_delivered_to_two_instances_at_once_is_processed_once() {
    for url in each_backend().await {
        let app = spawn(&url).await;
        // A second instance on the same database, with its own writer and dispatcher.
        let second = stoplist::app::Application::with_store(
            stoplist_store::connect(&url).await.unwrap(),
            Config {
                listen: "127.0.0.1:0".into(),
                database_url: url.clone(),
                default_send_rate: 0,
                dispatch_poll_ms: 50,
                ..common::test_config()
            },
        )
        .await
        .unwrap();
        let second_base = format!("http://{}", second.address());
        tokio::spawn(second.run_until(std::future::pending()));
        let fake = FakeProvider::start().await;
        use_twilio(&app, &fake).await;
        let t = token(&app).await;
        const N: usize = 40;
        let mut tasks = Vec::new();
        for i in 0..N {
            for base in [app.base.clone(), second_base.clone()] {
                let http = app.http.clone();
                let url = format!("{base}/webhooks/generic/{t}");
                tasks.push(tokio::spawn(async move {
                    let r = http
                        .post(url)
                        .json(
                            &json!({"id": format!("both-{i}"), "from": format!("+6141300{i:04}"),
                            "to": "+61400000000", "text": "STOP"}),
                        )
                        .send()
                        .await
                        .unwrap();
                    (i, r.status(), r.json::<Value>().await.unwrap())
                }));
            }
        }
        let mut firsts = vec![0; N];
        for task in tasks {
            let (i, status, body) = task.await.unwrap();
            assert_eq!(status, StatusCode::OK, "{body}");
            if body["duplicate"] == false {
                firsts[i] += 1;
                assert!(body["actions"].to_string().contains("opted_out"), "{body}");
            } else {
                assert!(
                    body["actions"].to_string().contains("opted_out"),
                    "the first delivery's actions: {body}"
                );
            }
        }
        assert!(
            firsts.iter().all(|&f| f == 1),
            "each reply processed exactly once: {firsts:?}"
        );
        let (_, list) = app.get("/api/v1/replies?limit=500").await;
        assert_eq!(
            list["items"].as_array().unwrap().len(),
            N,
            "one stored reply each"
        );
        assert_eq!(
            app.store.count_optouts(app.account).await.unwrap(),
            N as i64
        );
        eventually("every confirmation is sent", async || {
            fake.sent().len() >= N
        })
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        for i in 0..N {
            assert_eq!(
                fake.count_to(&format!("+6141300{i:04}")),
                1,
                "one confirmation for number {i}"
            );
        }
    }
}

/// `GET /api/v1/optouts/{number}` through the instance at `base`.
async fn optout_at(app: &TestApp, base: &str, number: &str) -> Value {
    send(
        app.http
            .get(format!("{base}/api/v1/optouts/{number}"))
            .bearer_auth(&app.key),
    )
    .await
    .1
}

/// What an instance at `base` answers about `raw`: the lookup, the bulk check, and whether a
/// campaign preview leaves it out as opted out.
async fn answers(app: &TestApp, base: &str, raw: &str) -> (bool, bool, bool) {
    let get = |path: String| app.http.get(format!("{base}{path}")).bearer_auth(&app.key);
    let (_, one) = send(get(format!("/api/v1/optouts/{raw}"))).await;
    let (_, bulk) = send(
        app.http
            .post(format!("{base}/api/v1/optouts/check"))
            .bearer_auth(&app.key)
            .json(&json!({"numbers": [raw]})),
    )
    .await;
    let (s, c) = send(
        app.http
            .post(format!("{base}/api/v1/campaigns"))
            .bearer_auth(&app.key)
            .json(
                &json!({"name": "probe", "sender_id": "ACME", "message": "Hi", "numbers": [raw]}),
            ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let (_, p) = send(
        app.http
            .post(format!("{base}/api/v1/campaigns/{}/preview", c["id"]))
            .bearer_auth(&app.key)
            .json(&json!({})),
    )
    .await;
    (
        one["opted_out"] == true,
        bulk["results"][0]["opted_out"] == true,
        p["opted_out"] == 1,
    )
}

/// A second instance on the same database, with its own index, writer and dispatcher.
async fn second_instance(url: &str, config: Config) -> String {
    let second = stoplist::app::Application::with_store(
        stoplist_store::connect(url).await.unwrap(),
        Config {
            listen: "127.0.0.1:0".into(),
            database_url: url.into(),
            ..config
        },
    )
    .await
    .unwrap();
    let base = format!("http://{}", second.address());
    tokio::spawn(second.run_until(std::future::pending()));
    base
}

#[tokio::test]
async fn a_redelivered_stop_never_turns_any_answer_to_not_opted_out() {
    for url in each_backend().await {
        let app = spawn(&url).await;
        let t = token(&app).await;
        // The same STOP through each provider shape, then delivered again, twice.
        let smsglobal = || {
            app.http
                .post(format!("{}/webhooks/smsglobal/{t}", app.base))
                .form(&[
                    ("from", "61412345672"),
                    ("to", "61400000000"),
                    ("msg", "STOP"),
                    ("date", "2026-11-28 01:00:00"),
                ])
        };
        let vonage = || {
            app.http
                .post(format!("{}/webhooks/vonage/{t}", app.base))
                .form(&vonage_sms("V-R1", "61412345673", "STOP", now_secs()))
        };
        for round in 0..3 {
            let (s, b) = generic(&app, "g-r1", "+61412345671", "STOP").await;
            assert_eq!(s, StatusCode::OK, "{b}");
            let (s, b) = send(smsglobal()).await;
            assert_eq!(s, StatusCode::OK, "{b}");
            let (s, b) = send(vonage()).await;
            assert_eq!(s, StatusCode::OK, "{b}");
            for n in ["0412345671", "0412345672", "0412345673"] {
                assert_eq!(
                    answers(&app, &app.base, n).await,
                    (true, true, true),
                    "{n} after delivery {round} (lookup, bulk check, preview)"
                );
            }
        }
        // A second STOP with a new id changes nothing either.
        generic(&app, "g-r2", "+61412345671", "STOP").await;
        assert_eq!(
            answers(&app, &app.base, "0412345671").await,
            (true, true, true)
        );
    }
}

#[tokio::test]
async fn every_instance_answers_a_change_made_through_another_within_the_follow_interval() {
    let follow = Duration::from_millis(200);
    for url in each_backend().await {
        let config = || Config {
            index_follow_ms: follow.as_millis() as u64,
            default_send_rate: 0,
            dispatch_poll_ms: 50,
            ..common::test_config()
        };
        let app = TestApp::spawn_with(&url, config()).await;
        let second = second_instance(&url, config()).await;
        let t = token(&app).await;
        let bases = [app.base.clone(), second.clone()];
        // Deliveries and redeliveries of STOPs and STARTs to either instance, in turn.
        let steps: [(usize, &str, &str, &str); 6] = [
            (0, "x1", "+61412345681", "STOP"),
            (1, "x1", "+61412345681", "STOP"),
            (1, "x2", "+61412345682", "STOP"),
            (0, "x2", "+61412345682", "STOP"),
            (0, "x3", "+61412345681", "START"),
            (1, "x3", "+61412345681", "START"),
        ];
        for (i, id, from, text) in steps {
            let (s, b) = send(
                app.http
                    .post(format!("{}/webhooks/generic/{t}", bases[i]))
                    .json(&json!({"id": id, "from": from, "to": "+61400000000", "text": text})),
            )
            .await;
            assert_eq!(s, StatusCode::OK, "{b}");
            let truth = |n: &str| {
                let store = app.store.clone();
                let account = app.account;
                let n = stoplist_domain::PhoneNumber::from_trusted_e164(n).unwrap();
                async move { store.optout(account, &n).await.unwrap().is_some() }
            };
            let want = (truth("+61412345681").await, truth("+61412345682").await);
            // The instance that took the delivery answers at once.
            let one = |base: &str, n: &str| {
                let http = app.http.clone();
                let url = format!("{base}/api/v1/optouts/{n}");
                let key = app.key.clone();
                async move {
                    let (_, b) = send(http.get(url).bearer_auth(key)).await;
                    b["opted_out"] == true
                }
            };
            assert_eq!(
                (
                    one(&bases[i], "0412345681").await,
                    one(&bases[i], "0412345682").await
                ),
                want,
                "the instance that acknowledged {id} ({text})"
            );
            // The other, within the follow interval (and a margin for a slow machine).
            let other = &bases[1 - i];
            let deadline = Instant::now() + follow * 2 + Duration::from_millis(500);
            loop {
                let got = (
                    one(other, "0412345681").await,
                    one(other, "0412345682").await,
                );
                if got == want {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the other instance after {id} ({text}): {got:?}, want {want:?}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

#[tokio::test]
async fn a_redelivery_that_arrives_before_the_first_delivery_commits_is_answered_the_same() {
    for url in each_backend().await {
        let app = spawn(&url).await;
        let second = second_instance(
            &url,
            Config {
                default_send_rate: 0,
                ..common::test_config()
            },
        )
        .await;
        let t = token(&app).await;
        for i in 0..20 {
            let from = format!("+614131{i:05}");
            let body = json!({"id": format!("race-{i}"), "from": from, "to": "+61400000000", "text": "STOP"});
            let a = app
                .http
                .post(format!("{}/webhooks/generic/{t}", app.base))
                .json(&body)
                .send();
            let b = app
                .http
                .post(format!("{second}/webhooks/generic/{t}"))
                .json(&body)
                .send();
            let (a, b) = tokio::join!(a, b);
            let (a, b) = (
                a.unwrap().json::<Value>().await.unwrap(),
                b.unwrap().json::<Value>().await.unwrap(),
            );
            assert_eq!(
                [&a, &b].iter().filter(|r| r["duplicate"] == false).count(),
                1,
                "processed once: {a} {b}"
            );
            for r in [&a, &b] {
                assert!(r["actions"].to_string().contains("opted_out"), "{r}");
            }
            // Both instances answer at once: each acknowledged it.
            for base in [&app.base, &second] {
                let o = optout_at(&app, base, &from).await;
                assert_eq!(o["opted_out"], true, "{from} at {base}");
            }
        }
    }
}

#[tokio::test]
async fn an_upload_is_answered_as_soon_as_its_report_is() {
    for url in each_backend().await {
        let app = spawn(&url).await;
        let numbers: Vec<String> = (0..300).map(|i| format!("+614132{i:05}")).collect();
        // Loaded before the upload, so that the answer must come from the upload's commit.
        assert!(!app.opted_out(&numbers[0]).await);
        let (s, b) = app
            .upload(
                "/api/v1/optouts/uploads",
                "file_name=optouts.csv&wait=true",
                numbers.join("\n"),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        assert_eq!(b["counts"]["imported"], 300, "{b}");
        let (_, check) = app
            .post("/api/v1/optouts/check", json!({"numbers": numbers}))
            .await;
        let listed = check["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["opted_out"] == true)
            .count();
        assert_eq!(listed, 300, "every uploaded number, right after the report");
        for n in [&numbers[0], &numbers[299]] {
            assert!(app.opted_out(n).await, "{n}");
        }
    }
}

/// A generic webhook reply received `ago` before now.
async fn generic_at(app: &TestApp, id: &str, from: &str, text: &str, ago: Duration) -> Value {
    let t = token(app).await;
    let at = stoplist::rfc3339(stoplist::now_ms() - ago.as_millis() as i64);
    let (s, b) = send(
        app.http
            .post(format!("{}/webhooks/generic/{t}", app.base))
            .json(&json!({"id": id, "from": from, "to": "+61400000000", "text": text, "received_at": at})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b
}

/// A group with one contact for each number; answers the group's id.
async fn group_of(app: &TestApp, name: &str, numbers: &[&str]) -> i64 {
    let g = app.group(name).await;
    for n in numbers {
        let (s, b) = app
            .post(
                &format!("/api/v1/groups/{g}/contacts"),
                json!({"number": n, "first_name": "Pat"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    g
}

async fn contact_count(app: &TestApp, group: i64) -> i64 {
    app.get(&format!("/api/v1/groups/{group}")).await.1["contact_count"]
        .as_i64()
        .unwrap()
}

async fn review(app: &TestApp, id: &Value, verdict: &str) -> (StatusCode, Value) {
    app.post(
        &format!("/api/v1/replies/{}/review", id.as_i64().unwrap()),
        json!({ "verdict": verdict }),
    )
    .await
}

#[tokio::test]
async fn a_provisional_opt_out_suppresses_at_once_and_changes_no_contact_until_confirmed() {
    for url in each_backend().await {
        let app = spawn(&url).await;
        let fake = FakeProvider::start().await;
        use_twilio(&app, &fake).await;
        let (s, b) = app
            .patch(
                "/api/v1/settings",
                json!({"auto_delete_optouts": true, "remove_from_all_groups": true,
                       "unclear_counts_as_optout": true}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let g = group_of(&app, "Customers", &["0412345611", "0412345612"]).await;

        // Unclear: opted out at once (suppressed), but the contact stays and nothing is sent.
        let r = generic_at(&app, "p1", "+61412345611", "STOP what?", Duration::ZERO).await;
        assert_eq!(r["classification"], "unclear", "{r}");
        assert!(app.opted_out("0412345611").await);
        assert_eq!(contact_count(&app, g).await, 2, "no contact deleted yet");
        let (_, listed) = app.get("/api/v1/optouts?q=412345611").await;
        assert_eq!(listed["items"][0]["provisional"], true, "{listed}");
        let (s, b) = app
            .delete("/api/v1/optouts/0412345611?reason=tidy", None)
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "{b}");
        assert_eq!(code(&b), "pending_review", "{b}");

        // Dismissed: lifted, every contact as it was, no text sent.
        let (s, b) = review(&app, &r["id"], "dismiss").await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert!(!app.opted_out("0412345611").await);
        assert_eq!(contact_count(&app, g).await, 2);

        // Another unclear reply, confirmed within the window: the clean-up applies now, and
        // the confirmation goes out once.
        let r = generic_at(&app, "p2", "+61412345612", "STOP what?", Duration::ZERO).await;
        assert_eq!(contact_count(&app, g).await, 2);
        let (s, b) = review(&app, &r["id"], "confirm").await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert!(
            b["actions"].to_string().contains("confirmation queued"),
            "{b}"
        );
        assert!(app.opted_out("0412345612").await);
        assert_eq!(contact_count(&app, g).await, 1, "confirmed: cleaned up");
        let (_, o) = app.get("/api/v1/optouts/0412345612").await;
        assert_eq!(o["source"], "reply");
        eventually("the confirmation is sent", async || {
            fake.count_to("+61412345612") == 1
        })
        .await;
        assert_eq!(
            fake.count_to("+61412345611"),
            0,
            "nothing to the dismissed one"
        );
        let (s, _) = review(&app, &r["id"], "confirm").await;
        assert_eq!(s, StatusCode::CONFLICT, "never confirmed twice");
        assert_eq!(fake.count_to("+61412345612"), 1);
    }
}

#[tokio::test]
async fn a_review_confirmed_after_five_minutes_says_so_instead_of_texting() {
    for url in each_backend().await {
        let app = spawn(&url).await;
        let fake = FakeProvider::start().await;
        use_twilio(&app, &fake).await;
        app.patch(
            "/api/v1/settings",
            json!({"unclear_counts_as_optout": true}),
        )
        .await;
        let r = generic_at(
            &app,
            "late",
            "+61412345621",
            "STOP what?",
            Duration::from_secs(6 * 60),
        )
        .await;
        let (s, b) = review(&app, &r["id"], "confirm").await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let actions = b["actions"].to_string();
        assert!(
            actions.contains("confirmation not sent: the 5-minute window"),
            "{b}"
        );
        assert!(!actions.contains("confirmation queued"), "{b}");
        assert!(app.opted_out("0412345621").await);
        // The dispatcher has nothing for this number.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(fake.count_to("+61412345621"), 0);
    }
}

#[tokio::test]
async fn a_stop_during_a_review_settles_the_opt_out_and_a_later_dismissal_lifts_nothing() {
    for url in each_backend().await {
        let app = spawn(&url).await;
        app.patch(
            "/api/v1/settings",
            json!({"auto_delete_optouts": true, "unclear_counts_as_optout": true}),
        )
        .await;
        let g = group_of(&app, "Customers", &["0412345631"]).await;
        let r = generic_at(&app, "s1", "+61412345631", "STOP what?", Duration::ZERO).await;
        // The clear STOP arrives while the review is open, at the same moment as its dismissal.
        let (stop, dismissed) = tokio::join!(
            generic_at(&app, "s2", "+61412345631", "STOP", Duration::ZERO),
            review(&app, &r["id"], "dismiss")
        );
        assert_eq!(dismissed.0, StatusCode::OK, "{}", dismissed.1);
        assert!(stop["actions"].to_string().contains("opted_out"), "{stop}");
        // Whatever the order, the number's own STOP wins.
        assert!(app.opted_out("0412345631").await);
        let (_, o) = app.get("/api/v1/optouts/0412345631").await;
        assert_eq!(o["source"], "reply");
        assert_eq!(
            contact_count(&app, g).await,
            0,
            "the STOP's clean-up applies"
        );
        let (_, events) = app.get("/api/v1/optouts/0412345631/events").await;
        let kinds: Vec<&str> = events["events"]
            .as_array()
            .or(events.as_array())
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds.last(), Some(&"opted_out"), "{events}");
    }
}

#[tokio::test]
async fn confirmed_unclear_replies_count_as_opt_outs_in_the_incoming_report() {
    for url in each_backend().await {
        let app = spawn(&url).await;
        app.patch(
            "/api/v1/settings",
            json!({"unclear_counts_as_optout": false}),
        )
        .await;
        generic_at(&app, "c1", "+61412345641", "STOP", Duration::ZERO).await;
        let r = generic_at(&app, "c2", "+61412345642", "STOP what?", Duration::ZERO).await;
        generic_at(&app, "c3", "+61412345643", "STOP what?", Duration::ZERO).await;
        review(&app, &r["id"], "confirm").await;
        let (_, list) = app.get("/api/v1/replies?class=opt_out").await;
        let from: Vec<&str> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["from"].as_str().unwrap())
            .collect();
        assert_eq!(from, ["+61412345642", "+61412345641"], "{list}");
        let (s, csv) = send(app.req(
            reqwest::Method::GET,
            "/api/v1/replies/export?class=opt_out&format=csv",
        ))
        .await;
        assert_eq!(s, StatusCode::OK, "{csv}");
        let csv = csv.as_str().unwrap().to_owned();
        assert!(
            csv.contains("+61412345642") && csv.contains("+61412345641"),
            "{csv}"
        );
        assert!(
            !csv.contains("+61412345643"),
            "the unreviewed one is not an opt-out: {csv}"
        );
    }
}

/// A notification endpoint on loopback that records what it receives, or never answers.
async fn endpoint(hangs: bool) -> (String, Arc<Mutex<Vec<Instant>>>) {
    let got: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let sink = got.clone();
    let receiver = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let sink = sink.clone();
            async move {
                if hangs {
                    std::future::pending::<()>().await;
                }
                sink.lock().unwrap().push(Instant::now());
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, receiver).await });
    (format!("http://{addr}/hook"), got)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hanging_provider_and_endpoint_of_one_account_never_delay_another_accounts_confirmation()
{
    for url in each_backend().await {
        let app = spawn(&url).await;
        // Account A: its provider and its notification endpoint hang.
        let hanging = FakeProvider::start().await;
        use_twilio(&app, &hanging).await;
        let (stuck, _) = endpoint(true).await;
        let (s, b) = send(
            app.req(reqwest::Method::PUT, "/api/v1/settings/notifications")
                .json(&json!({"url": stuck, "secret": "whsec_0123456789abcdef"})),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        hanging.hang(true);
        // Account B: a working provider and endpoint.
        let b_key = app.other_key().await;
        let b_req = |m: reqwest::Method, path: &str| {
            app.http
                .request(m, format!("{}{path}", app.base))
                .bearer_auth(&b_key)
        };
        let fine = FakeProvider::start().await;
        let c = fine.credentials();
        let (s, b) = send(b_req(reqwest::Method::PUT, "/api/v1/settings/connector").json(&json!({
            "kind": "twilio", "account": c.twilio_sid, "secret": c.twilio_token, "base_url": fine.base_url()
        })))
        .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let (hook, heard) = endpoint(false).await;
        let (s, b) = send(
            b_req(reqwest::Method::PUT, "/api/v1/settings/notifications")
                .json(&json!({"url": hook, "secret": "whsec_fedcba9876543210"})),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let (_, b_settings) = send(b_req(reqwest::Method::GET, "/api/v1/settings")).await;
        let b_token = b_settings["webhooks"]["token"].as_str().unwrap().to_owned();

        // A is busy: a campaign, STOPs with confirmations and notifications, all hanging.
        let numbers: Vec<String> = (0..60).map(|i| format!("+614134{i:05}")).collect();
        let id = app
            .campaign(json!({"name": "A's sale", "sender_id": "ACME", "message": "Sale! Reply STOP to opt out", "numbers": numbers}))
            .await;
        let (s, b) = app
            .post(&format!("/api/v1/campaigns/{id}/send"), json!({}))
            .await;
        assert!(s.is_success(), "{b}");
        for i in 0..10 {
            generic(
                &app,
                &format!("a-stop-{i}"),
                &format!("+614135{i:05}"),
                "STOP",
            )
            .await;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while hanging.requests() < 5 {
            assert!(Instant::now() < deadline, "A's sends never started");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        // B's STOP: its confirmation and its notification go out within 5 seconds.
        let asked = Instant::now();
        let (s, r) = send(
            app.http
                .post(format!("{}/webhooks/generic/{b_token}", app.base))
                .json(&json!({"id": "b-stop", "from": "+61412345699", "to": "+61400000000", "text": "STOP"})),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{r}");
        let limit = Duration::from_secs(5);
        while fine.count_to("+61412345699") == 0 {
            assert!(asked.elapsed() < limit, "B's confirmation waited behind A");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        while heard.lock().unwrap().is_empty() {
            assert!(asked.elapsed() < limit, "B's notification waited behind A");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        hanging.hang(false);
    }
}

#[tokio::test]
async fn a_provider_answering_500_for_one_account_never_delays_another() {
    for url in each_backend().await {
        let app = spawn(&url).await;
        let failing = FakeProvider::start().await;
        use_twilio(&app, &failing).await;
        failing.fail_next(1_000, 500);
        for i in 0..20 {
            generic(&app, &format!("f-{i}"), &format!("+614136{i:05}"), "STOP").await;
        }
        let b_key = app.other_key().await;
        let fine = FakeProvider::start().await;
        let c = fine.credentials();
        let (s, b) = send(
            app.http
                .put(format!("{}/api/v1/settings/connector", app.base))
                .bearer_auth(&b_key)
                .json(&json!({"kind": "twilio", "account": c.twilio_sid, "secret": c.twilio_token, "base_url": fine.base_url()})),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let (_, settings) = send(
            app.http
                .get(format!("{}/api/v1/settings", app.base))
                .bearer_auth(&b_key),
        )
        .await;
        let b_token = settings["webhooks"]["token"].as_str().unwrap().to_owned();
        let asked = Instant::now();
        send(
            app.http
                .post(format!("{}/webhooks/generic/{b_token}", app.base))
                .json(&json!({"id": "b-1", "from": "+61412345698", "to": "+61400000000", "text": "STOP"})),
        )
        .await;
        while fine.count_to("+61412345698") == 0 {
            assert!(
                asked.elapsed() < Duration::from_secs(5),
                "B's confirmation waited behind A's failures"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn the_self_check_repairs_an_index_the_database_was_changed_behind_and_counts_it() {
    let url = stoplist_store::testing::sqlite_url();
    let app = spawn(&url).await;
    generic(&app, "sc-1", "+61412345661", "STOP").await;
    assert!(!app.opted_out("0412345662").await);
    eventually("the account's index is loaded", async || {
        app.state.optouts.readiness().loading == 0
    })
    .await;
    // Written around the authority (as a hand-edited database would be): a row with no
    // ledger event, which no follower can see.
    let raw = stoplist_store::SqliteStore::open(&url).await.unwrap();
    sqlx::query(
        "INSERT INTO opt_outs (account_id, number, source, actor_kind, actor_label, created_at)
         VALUES ($1, '+61412345662', 'manual', 'system', 'behind the back', 1)",
    )
    .bind(app.account.0)
    .execute(raw.pool())
    .await
    .unwrap();
    assert!(
        !app.opted_out("0412345662").await,
        "the index cannot know yet"
    );
    assert_eq!(app.state.optouts.repairs(), 0);
    app.state.optouts.self_check().await.unwrap();
    assert_eq!(app.state.optouts.repairs(), 1, "one number repaired");
    assert!(app.opted_out("0412345662").await, "now answered truly");
    assert!(app.opted_out("0412345661").await);
    let m = send(app.http.get(format!("{}/metrics", app.base))).await.1;
    assert!(
        m.as_str()
            .unwrap()
            .contains("stoplist_index_repairs_total 1\n"),
        "{m}"
    );
    // Checked again: nothing more to repair.
    app.state.optouts.self_check().await.unwrap();
    assert_eq!(app.state.optouts.repairs(), 1);
}

#[tokio::test]
async fn every_reply_kind_redelivered_to_either_instance_is_acted_on_once() {
    for url in each_backend().await {
        let config = || Config {
            default_send_rate: 0,
            dispatch_poll_ms: 50,
            index_follow_ms: 100,
            ..common::test_config()
        };
        let app = TestApp::spawn_with(&url, config()).await;
        let second = second_instance(&url, config()).await;
        let fake = FakeProvider::start().await;
        use_twilio(&app, &fake).await;
        app.patch(
            "/api/v1/settings",
            json!({"unclear_counts_as_optout": true}),
        )
        .await;
        let t = token(&app).await;
        let deliver = |base: String, id: &'static str, from: &'static str, text: &'static str| {
            let http = app.http.clone();
            let url = format!("{base}/webhooks/generic/{t}");
            async move {
                let (s, b) = send(
                    http.post(url)
                        .json(&json!({"id": id, "from": from, "to": "+61400000000", "text": text})),
                )
                .await;
                assert_eq!(s, StatusCode::OK, "{b}");
                b
            }
        };
        // Each kind: delivered to one instance, redelivered to the other and to the first.
        let kinds: [(&str, &str, &str, bool); 4] = [
            ("k-stop", "+61412345651", "STOP", true),
            ("k-unclear", "+61412345652", "STOP what?", true),
            ("k-help", "+61412345653", "HELP", false),
            ("k-start", "+61412345651", "START", false),
        ];
        for (id, from, text, listed) in kinds {
            let first = deliver(app.base.clone(), id, from, text).await;
            assert_eq!(first["duplicate"], false, "{first}");
            for base in [second.clone(), app.base.clone()] {
                let again = deliver(base.clone(), id, from, text).await;
                assert_eq!(again["duplicate"], true, "{id} at {base}: {again}");
                assert_eq!(
                    again["actions"], first["actions"],
                    "the first delivery's actions"
                );
            }
            // Both instances answer truly: at once where it was acknowledged.
            for base in [&app.base, &second] {
                let o = optout_at(&app, base, from).await;
                assert_eq!(o["opted_out"], listed, "{id}: {from} at {base}");
            }
        }
        let (_, list) = app.get("/api/v1/replies?limit=100").await;
        assert_eq!(
            list["items"].as_array().unwrap().len(),
            4,
            "stored once each"
        );
        // One confirmation for the STOP, one help text, one for the START; none for the
        // unclear reply.
        eventually("the answers are sent", async || fake.sent().len() >= 3).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            fake.count_to("+61412345651"),
            2,
            "STOP and START confirmed once each"
        );
        assert_eq!(fake.count_to("+61412345653"), 1, "one help text");
        assert_eq!(
            fake.count_to("+61412345652"),
            0,
            "nothing for an unclear reply"
        );
    }
}

// --- Hygiene: the sender of an answer, concatenated replies, the notification endpoint ----

/// The sender of a confirmation comes from the reply's `to` when no sent message matches; a
/// `to` that is not a sender id (a line break and forged text) is never used: the opt-out is
/// recorded, no confirmation is queued, and the actions say why.
#[tokio::test]
async fn a_stop_whose_to_holds_a_line_break_and_forged_text_queues_no_confirmation() {
    for url in each_backend().await {
        let app = spawn(&url).await;
        let fake = FakeProvider::start().await;
        use_twilio(&app, &fake).await;
        let t = token(&app).await;
        let stop = |id: &str, from: &str, to: &str| {
            app.http
                .post(format!("{}/webhooks/generic/{t}", app.base))
                .json(&json!({"id": id, "from": from, "to": to, "text": "STOP"}))
        };
        let forged = "ACME\n2026-12-07T00:00:00Z INFO stoplist: account 1 deleted";
        let (s, b) = send(stop("f1", "+61412345678", forged)).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let actions = b["actions"].to_string();
        assert!(actions.contains("opted_out"), "{b}");
        assert!(!actions.contains("confirmation queued"), "{b}");
        assert!(
            actions.contains("confirmation not sent: the number it was sent to is not a sender id"),
            "{b}"
        );
        assert!(app.opted_out("0412345678").await, "the opt-out stands");
        // The stored reply says the same.
        let (_, list) = app.get("/api/v1/replies").await;
        assert!(
            list["items"][0]["actions"]
                .to_string()
                .contains("confirmation not sent"),
            "{list}"
        );
        // A STOP to a real sender id afterwards is confirmed; the forged one never was.
        let (s, b) = send(stop("f2", "+61412345679", "ACME")).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert!(
            b["actions"].to_string().contains("confirmation queued"),
            "{b}"
        );
        eventually("the second confirmation is sent", async || {
            fake.count_to("+61412345679") == 1
        })
        .await;
        assert_eq!(
            fake.count_to("+61412345678"),
            0,
            "no confirmation to the forged one"
        );
        assert!(
            fake.sent().iter().all(|m| !m.from.contains('\n')),
            "no sender with a line break"
        );
    }
}

/// A Vonage part of message `reference`, from 61412345678.
fn vonage_part(app: &TestApp, t: &str, reference: &str, total: u32, i: u32, text: &str) -> String {
    format!(
        "{}/webhooks/vonage/{t}?msisdn=61412345678&to=61400000000&messageId={reference}-{i}&text={text}&type=text&keyword=X&message-timestamp=2026-11-28+01%3A00%3A00&concat=true&concat-ref={reference}&concat-total={total}&concat-part={i}",
        app.base
    )
}

#[tokio::test]
async fn a_concatenated_reply_longer_than_ten_parts_of_text_is_cut_and_says_so() {
    let url = each_backend().await.remove(0);
    let app = spawn(&url).await;
    let t = token(&app).await;
    let long = "a".repeat(1000);
    let (s, _) = send(app.http.get(vonage_part(&app, &t, "big", 2, 1, &long))).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = send(app.http.get(vonage_part(&app, &t, "big", 2, 2, &long))).await;
    assert_eq!(s, StatusCode::OK);
    let (_, list) = app.get("/api/v1/replies").await;
    let reply = &list["items"][0];
    assert_eq!(
        reply["text"].as_str().unwrap().chars().count(),
        stoplist::replies::MAX_CONCATENATED_TEXT,
        "{reply}"
    );
    assert!(
        reply["actions"]
            .to_string()
            .contains("text cut to 1530 characters: its 2 parts held more"),
        "{reply}"
    );
}

#[tokio::test]
async fn reply_parts_older_than_a_day_do_not_combine_with_a_new_part_and_are_removed() {
    for url in each_backend().await {
        let app = spawn(&url).await;
        let t = token(&app).await;
        let day_ago = stoplist::now_ms() - stoplist::replies::PART_TTL_MS - 60_000;
        let stale = |reference: &'static str| stoplist_store::ReplyPart {
            account: app.account,
            provider: "vonage",
            from: "+61412345678",
            to: "+61400000000",
            reference,
            total: 2,
            part: 1,
            provider_message_id: "stale",
            body: "start ",
            received_at: day_ago,
            stored_at: day_ago,
            expired_before: day_ago - stoplist::replies::PART_TTL_MS,
        };
        // Part 1 of message 9 ("start ") has waited more than a day.
        assert_eq!(app.store.add_reply_part(&stale("9")).await.unwrap(), None);
        // Part 2 arrives: it does not complete the message with the stale part.
        let (s, b) = send(app.http.get(vonage_part(&app, &t, "9", 2, 2, "texting+me"))).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let (_, list) = app.get("/api/v1/replies").await;
        assert!(list["items"].as_array().unwrap().is_empty(), "{list}");
        // Its real part 1 completes it: the stale part was removed, not kept in its place.
        let (s, _) = send(
            app.http
                .get(vonage_part(&app, &t, "9", 2, 1, "please+stop+")),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        let (_, list) = app.get("/api/v1/replies").await;
        assert_eq!(list["items"][0]["text"], "please stop texting me", "{list}");
        assert!(app.opted_out("0412345678").await);
        // A message that never completes is swept.
        app.store.add_reply_part(&stale("10")).await.unwrap();
        assert_eq!(app.state.replies.expire_parts().await.unwrap(), 1);
        assert_eq!(app.state.replies.expire_parts().await.unwrap(), 0);
    }
}

async fn put_notify(app: &TestApp, url: &str) -> (StatusCode, Value) {
    send(
        app.req(reqwest::Method::PUT, "/api/v1/settings/notifications")
            .json(&json!({"url": url, "secret": "whsec_0123456789abcdef"})),
    )
    .await
}

#[tokio::test]
async fn a_private_notification_endpoint_is_refused_while_private_urls_are_off() {
    let url = each_backend().await.remove(0);
    let app = TestApp::spawn_with(&url, Config::default()).await;
    for (endpoint, says) in [
        ("http://127.0.0.1:9/hook", "url: must be https"),
        (
            "https://10.0.0.5/hook",
            "url: is 10.0.0.5, a private address; stoplist sends only to public addresses",
        ),
        (
            "https://169.254.169.254/",
            "url: is 169.254.169.254, a link-local address",
        ),
        ("https://localhost/hook", "url: localhost resolves to "),
    ] {
        let (s, b) = put_notify(&app, endpoint).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{endpoint}: {b}");
        assert_eq!(field(&b), "url", "{b}");
        let message = b["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(says), "{endpoint}: {message}");
    }
    let (_, now) = app.get("/api/v1/settings/notifications").await;
    assert!(now["url"].is_null(), "nothing stored: {now}");
}

/// Checked again at delivery: an endpoint stored while the policy allowed it is not called,
/// and its notification fails at once (no retry can reach another address).
#[tokio::test]
async fn a_stored_endpoint_the_policy_now_refuses_is_not_called() {
    let url = each_backend().await.remove(0);
    let app = TestApp::spawn_with(&url, Config::default()).await;
    let (endpoint, hits) = counting_server(200, None).await;
    app.store
        .set_notify_endpoint(
            app.account,
            Some((&format!("{endpoint}/hook"), "whsec_0123456789abcdef")),
            stoplist::now_ms(),
        )
        .await
        .unwrap();
    generic(&app, "n1", "+61412345678", "STOP").await;
    eventually("the notification fails", async || {
        app.get("/api/v1/settings/notifications/log").await.1[0]["status"] == "failed"
    })
    .await;
    let (_, log) = app.get("/api/v1/settings/notifications/log").await;
    assert_eq!(log[0]["attempts"], 1, "{log}");
    assert!(
        log[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("the endpoint URL is refused: must be https"),
        "{log}"
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the endpoint was never called"
    );
}

/// An endpoint that redirects is not followed (private addresses allowed: it is on loopback).
#[tokio::test]
async fn a_notification_endpoint_that_redirects_is_not_followed() {
    let url = each_backend().await.remove(0);
    let app = spawn(&url).await;
    let (target, target_hits) = counting_server(200, None).await;
    let (redirector, redirector_hits) =
        counting_server(307, Some(format!("{target}/internal"))).await;
    let (s, b) = put_notify(&app, &format!("{redirector}/hook")).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    generic(&app, "n1", "+61412345678", "STOP").await;
    // The claim counts the attempt before it is made; its error is written after it.
    eventually("the attempt's error is recorded", async || {
        app.get("/api/v1/settings/notifications/log").await.1[0]["last_error"].is_string()
    })
    .await;
    let (_, log) = app.get("/api/v1/settings/notifications/log").await;
    assert_ne!(log[0]["status"], "delivered", "{log}");
    assert!(
        log[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("307 Temporary Redirect (redirects are not followed"),
        "{log}"
    );
    assert_eq!(redirector_hits.load(Ordering::SeqCst), 1);
    assert_eq!(
        target_hits.load(Ordering::SeqCst),
        0,
        "the target was never asked"
    );
}
