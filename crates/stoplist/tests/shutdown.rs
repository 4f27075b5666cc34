//! The server as a process, as an operator deploys it: several instances starting at once on
//! an empty database, and SIGTERM in the middle of a campaign send (the drain finishes what
//! was claimed, gives back what a deadline cuts short, answers webhooks 503 meanwhile, and
//! exits 0). Real processes of the binary, real HTTP, the fake provider on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use stoplist_providers::fake::FakeProvider;

const BIN: &str = env!("CARGO_BIN_EXE_stoplist");

/// A running `stoplist serve` process and what it printed before serving.
struct Server {
    child: Child,
    base: String,
    printed: Vec<String>,
}

impl Server {
    /// Starts `stoplist serve` on `db` with `config` (TOML) and waits until it listens.
    fn start(db: &str, config: &str) -> Server {
        let file = tempfile_with(config);
        let mut child = Command::new(BIN)
            .args(["--database", db, "--config"])
            .arg(&file)
            // The fake provider and endpoints listen on http://127.0.0.1.
            .arg("--allow-private-urls")
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut printed = Vec::new();
        let mut base = None;
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(rest) = line.strip_prefix("stoplist is listening on ") {
                base = Some(rest.trim().trim_end_matches('/').to_owned());
            }
            let done = line.starts_with("Log in at") || line.contains("password: ");
            printed.push(line);
            if done {
                break;
            }
        }
        // Keep reading what it prints, so that it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            base: base.unwrap_or_else(|| panic!("no address printed: {printed:?}")),
            printed,
        }
    }

    fn terminate(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -TERM");
    }

    /// Waits for the process to exit, at most `limit`; answers its exit code. (Async: the
    /// fake provider runs on this test's runtime and must keep answering meanwhile.)
    async fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the server did not exit within {limit:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A page's text.
async fn page(client: &reqwest::Client, url: &str) -> String {
    client.get(url).send().await.unwrap().text().await.unwrap()
}

fn tempfile_with(text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!(
        "stoplist-test-config-{}-{}.toml",
        std::process::id(),
        stoplist::auth::random_hex(6)
    ));
    std::fs::File::create(&path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    path
}

/// A generic webhook's STOP from `from`, with provider id `id`.
fn stop_json(id: &str, from: &str) -> Value {
    json!({"id": id, "from": from, "to": "+61400000000", "text": "STOP"})
}

/// Posts a STOP to the account's generic webhook.
async fn stop_reply(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    id: &str,
    from: &str,
) -> reqwest::Response {
    http.post(format!("{base}/webhooks/generic/{token}"))
        .json(&stop_json(id, from))
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn instances_started_together_on_an_empty_database_all_come_up_with_one_administrator() {
    for url in stoplist_store::testing::fresh_urls().await.unwrap() {
        let starting: Vec<_> = (0..4)
            .map(|_| {
                let url = url.clone();
                std::thread::spawn(move || Server::start(&url, ""))
            })
            .collect();
        let servers: Vec<Server> = starting.into_iter().map(|t| t.join().unwrap()).collect();
        let firsts = servers
            .iter()
            .filter(|s| s.printed.iter().any(|l| l.starts_with("First start")))
            .count();
        assert_eq!(
            firsts,
            1,
            "exactly one bootstrap: {:?}",
            servers.iter().map(|s| &s.printed).collect::<Vec<_>>()
        );
        for s in &servers {
            let r = reqwest::get(format!("{}/healthz", s.base)).await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
        }
        let store = stoplist_store::connect(&url).await.unwrap();
        assert_eq!(store.count_users().await.unwrap(), 1);
        assert_eq!(store.list_accounts().await.unwrap().len(), 1);
        for mut s in servers {
            s.terminate();
            assert_eq!(
                s.wait_exit(Duration::from_secs(30)).await,
                Some(0),
                "SIGTERM exits 0"
            );
        }
    }
}

/// An account on `db` with an API key, its connector the fake provider (Twilio shape):
/// (account, key, webhook token).
async fn account_with_fake(
    db: &str,
    server: &Server,
    fake: &FakeProvider,
) -> (stoplist_domain::AccountId, String, String) {
    let store = stoplist_store::connect(db).await.unwrap();
    let account = stoplist::accounts::create_account(store.as_ref(), "acme")
        .await
        .unwrap();
    let (_, key) = stoplist::accounts::create_api_key(
        store.as_ref(),
        account.id,
        "ops",
        stoplist_domain::Role::Owner,
        None,
    )
    .await
    .unwrap();
    let c = fake.credentials();
    let r = reqwest::Client::new()
        .put(format!("{}/api/v1/settings/connector", server.base))
        .bearer_auth(&key)
        .json(
            &json!({"kind": "twilio", "account": c.twilio_sid, "secret": c.twilio_token,
                      "base_url": fake.base_url(), "timeout_seconds": 60}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    (account.id, key, account.webhook_token)
}

/// Creates and sends a campaign to `n` typed numbers; answers its id.
async fn send_campaign(server: &Server, key: &str, n: usize) -> i64 {
    let http = reqwest::Client::new();
    let numbers: Vec<String> = (0..n).map(|i| format!("+614133{i:05}")).collect();
    let c: Value = http
        .post(format!("{}/api/v1/campaigns", server.base))
        .bearer_auth(key)
        .json(&json!({"name": "deploy day", "sender_id": "ACME", "message": "Hi. Reply STOP to opt out", "numbers": numbers}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = c["id"].as_i64().unwrap();
    let r = http
        .post(format!("{}/api/v1/campaigns/{id}/send", server.base))
        .bearer_auth(key)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    id
}

/// The campaign's messages by status.
async fn statuses(
    db: &str,
    account: stoplist_domain::AccountId,
    id: i64,
) -> stoplist_store::MessageCounts {
    let store = stoplist_store::connect(db).await.unwrap();
    store
        .message_counts(account, stoplist_domain::CampaignId(id))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_a_send_finishes_the_claimed_messages_refuses_webhooks_and_exits_zero() {
    let db = stoplist_store::testing::sqlite_url();
    let fake = FakeProvider::start().await;
    // Five messages a second: the 20 claimed take about four seconds to pace out.
    let server = Server::start(
        &db,
        "default_send_rate = 5\nshutdown_timeout_seconds = 30\n",
    );
    let (account, key, token) = account_with_fake(&db, &server, &fake).await;
    let id = send_campaign(&server, &key, 20).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while fake.sent().len() < 3 {
        assert!(Instant::now() < deadline, "sending never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.terminate();
    // Draining: readiness fails and a reply is refused for the provider to deliver again
    // (the signal takes a moment to arrive: until then both are answered as usual).
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let ready = http
            .get(format!("{}/readyz", server.base))
            .send()
            .await
            .unwrap();
        if ready.status() == StatusCode::SERVICE_UNAVAILABLE {
            assert!(ready.text().await.unwrap().contains("draining"));
            break;
        }
        assert!(Instant::now() < deadline, "never began draining");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let r = stop_reply(&http, &server.base, &token, "late", "+61412345678").await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()["retry-after"], "5");
    let mut server = server;
    assert_eq!(server.wait_exit(Duration::from_secs(30)).await, Some(0));
    let counts = statuses(&db, account, id).await;
    assert_eq!(counts.sending, 0, "nothing left claimed: {counts:?}");
    assert_eq!(
        counts.sent, 20,
        "every claimed message was sent: {counts:?}"
    );
    assert_eq!(fake.sent().len(), 20);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_with_a_hanging_provider_gives_back_what_was_never_handed_over() {
    let db = stoplist_store::testing::sqlite_url();
    let fake = FakeProvider::start().await;
    let server = Server::start(&db, "default_send_rate = 5\nshutdown_timeout_seconds = 2\n");
    let (account, key, _) = account_with_fake(&db, &server, &fake).await;
    fake.hang(true);
    let id = send_campaign(&server, &key, 20).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while fake.requests() < 3 {
        assert!(Instant::now() < deadline, "sending never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.terminate();
    let mut server = server;
    let started = Instant::now();
    assert_eq!(server.wait_exit(Duration::from_secs(30)).await, Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the deadline holds: {:?}",
        started.elapsed()
    );
    let counts = statuses(&db, account, id).await;
    let handed = fake.requests() as i64;
    assert_eq!(counts.sending, 0, "nothing abandoned: {counts:?}");
    assert_eq!(
        counts.failed, handed,
        "what the provider never answered is interrupted (fate unknown): {counts:?}"
    );
    assert_eq!(
        counts.queued,
        20 - handed,
        "what was never handed over is back in the queue: {counts:?}"
    );
    // Started again, the instance sends what was given back, and only that.
    fake.hang(false);
    let _again = Server::start(&db, "default_send_rate = 0\n");
    let deadline = Instant::now() + Duration::from_secs(20);
    // Claimed messages leave `queued` before the provider answers: wait until none is in flight.
    while {
        let c = statuses(&db, account, id).await;
        c.queued > 0 || c.sending > 0
    } {
        assert!(
            Instant::now() < deadline,
            "the given-back messages were never sent"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(statuses(&db, account, id).await.sent, 20 - handed);
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_a_send_loses_at_most_one_batch_and_the_campaign_page_lists_it() {
    let db = stoplist_store::testing::sqlite_url();
    let fake = FakeProvider::start().await;
    let config = "default_send_rate = 0\ninstance_lease_seconds = 2\n";
    let mut server = Server::start(&db, config);
    let (account, key, _) = account_with_fake(&db, &server, &fake).await;
    fake.hang(true);
    let id = send_campaign(&server, &key, 250).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while fake.requests() < 5 {
        assert!(Instant::now() < deadline, "sending never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    fake.hang(false);
    let claimed = statuses(&db, account, id).await.sending;
    assert!(
        claimed > 0 && claimed <= 100,
        "one batch claimed: {claimed}"
    );

    // Started again: the dead instance's claims are failed as interrupted once its lease
    // is over; everything else is sent.
    let again = Server::start(&db, config);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let c = statuses(&db, account, id).await;
        if c.sending == 0 && c.queued == 0 && c.interrupted == claimed {
            assert_eq!(c.sent, 250 - claimed, "{c:?}");
            break;
        }
        assert!(Instant::now() < deadline, "never settled: {c:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The API and the campaign page list the numbers whose fate is unknown.
    let http = reqwest::Client::new();
    let listed: Value = http
        .get(format!(
            "{}/api/v1/campaigns/{id}/messages?status=interrupted&limit=1000",
            again.base
        ))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed["items"].as_array().unwrap().len() as i64,
        claimed,
        "{listed}"
    );
    // The campaign belongs to "acme": log in as one of its users.
    let store = stoplist_store::connect(&db).await.unwrap();
    stoplist::accounts::create_user(
        store.as_ref(),
        account,
        "ops",
        "ops password 1",
        stoplist_domain::Role::Manager,
    )
    .await
    .unwrap();
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let csrf = common::ui::csrf_of(&page(&browser, &format!("{}/login", again.base)).await);
    let r = browser
        .post(format!("{}/login", again.base))
        .form(&[
            ("login", "ops"),
            ("password", "ops password 1"),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let status = page(&browser, &format!("{}/campaigns/{id}", again.base)).await;
    assert!(
        status.contains(&format!("Fate unknown: {claimed}.")),
        "{status}"
    );
    let list = page(
        &browser,
        &format!("{}/campaigns/{id}?status=interrupted", again.base),
    )
    .await;
    let first = listed["items"][0]["number"].as_str().unwrap();
    assert!(list.contains(first), "the page lists {first}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_a_burst_of_replies_answers_each_stored_or_refused_and_exits_zero() {
    let db = stoplist_store::testing::sqlite_url();
    let fake = FakeProvider::start().await;
    let server = Server::start(&db, "default_send_rate = 0\n");
    let (account, _, token) = account_with_fake(&db, &server, &fake).await;
    let http = reqwest::Client::new();
    let base = server.base.clone();
    // Each reply says when it has its answer, so the signal can wait for the first.
    let (done, mut answers) = tokio::sync::mpsc::unbounded_channel();
    let burst: Vec<_> = (0..300)
        .map(|i| {
            let http = http.clone();
            let done = done.clone();
            let (base, token) = (base.clone(), token.clone());
            tokio::spawn(async move {
                let r = http
                    .post(format!("{base}/webhooks/generic/{token}"))
                    .json(&stop_json(&format!("burst-{i}"), &format!("+614137{i:05}")))
                    .send()
                    .await;
                let _ = done.send(());
                (i, r.map(|r| r.status()))
            })
        })
        .collect();
    // The signal lands in the middle of the burst: after the first answer, not after a
    // fixed sleep that a slow machine may not fill.
    tokio::time::timeout(Duration::from_secs(30), answers.recv())
        .await
        .expect("a reply of the burst is answered");
    server.terminate();
    let mut answered = Vec::new();
    for task in burst {
        answered.push(task.await.unwrap());
    }
    let mut server = server;
    assert_eq!(server.wait_exit(Duration::from_secs(30)).await, Some(0));
    let store = stoplist_store::connect(&db).await.unwrap();
    let (mut stored, mut refused) = (0, 0);
    for (i, status) in answered {
        let found = store
            .reply_by_provider_id(account, "generic", &format!("burst-{i}"))
            .await
            .unwrap()
            .is_some();
        match status {
            Ok(StatusCode::OK) => {
                assert!(found, "reply {i} was acknowledged but not stored");
                stored += 1;
            }
            Ok(StatusCode::SERVICE_UNAVAILABLE) => {
                assert!(!found, "reply {i} was refused but stored");
                refused += 1;
            }
            // The listener closed: the provider will deliver it again.
            Err(_) => assert!(!found, "reply {i} got no answer but was stored"),
            Ok(other) => panic!("reply {i}: {other}"),
        }
    }
    assert!(stored > 0, "some replies were taken before the signal");
    eprintln!("{stored} stored, {refused} refused with 503");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_while_a_notification_is_in_flight_waits_for_its_answer() {
    let db = stoplist_store::testing::sqlite_url();
    let fake = FakeProvider::start().await;
    let server = Server::start(&db, "default_send_rate = 0\n");
    let (account, key, token) = account_with_fake(&db, &server, &fake).await;
    // An endpoint that takes a second and a half to answer.
    let arrived = std::sync::Arc::new(tokio::sync::Notify::new());
    let seen = arrived.clone();
    let receiver = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let seen = seen.clone();
            async move {
                seen.notify_one();
                tokio::time::sleep(Duration::from_millis(1500)).await;
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, receiver).await });
    let http = reqwest::Client::new();
    let r = http
        .put(format!("{}/api/v1/settings/notifications", server.base))
        .bearer_auth(&key)
        .json(&json!({"url": format!("http://{addr}/hook"), "secret": "whsec_0123456789abcdef"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = stop_reply(&http, &server.base, &token, "n-1", "+61412345670").await;
    assert_eq!(r.status(), StatusCode::OK);
    tokio::time::timeout(Duration::from_secs(10), arrived.notified())
        .await
        .expect("the notification is being delivered");
    server.terminate();
    let mut server = server;
    assert_eq!(server.wait_exit(Duration::from_secs(30)).await, Some(0));
    let store = stoplist_store::connect(&db).await.unwrap();
    let log = store.list_notifications(account, 10).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].status, "delivered", "{log:?}");
}
