//! Dispatch throughput and inbound-webhook throughput, in one process with the real server,
//! a fresh database and the fake provider on loopback (both share this machine's cores, as
//! a provider's network would not).
//!
//! `cargo run --release -p stoplist --example bench_dispatch -- DATABASE_URL MESSAGES REPLIES CLIENTS`
//!
//! 1. Dispatch: a campaign of MESSAGES numbers through the Twilio connector to the fake
//!    provider, with the before-dispatch opt-out check on; messages per second from the send
//!    to the last message recorded.
//! 2. Replies: REPLIES generic webhooks ("STOP" from distinct numbers) from CLIENTS concurrent
//!    clients, each answered after its transaction committed; replies per second and p50/p99.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};
use stoplist::app::Application;
use stoplist::config::Config;
use stoplist_providers::fake::FakeProvider;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .expect("usage: bench_dispatch DATABASE_URL MESSAGES REPLIES CLIENTS");
    let messages: usize = args.next().map(|s| s.parse().unwrap()).unwrap_or(20_000);
    let replies: usize = args.next().map(|s| s.parse().unwrap()).unwrap_or(5_000);
    let clients: usize = args.next().map(|s| s.parse().unwrap()).unwrap_or(64);
    let store = stoplist_store::connect(&url).await.expect("database");
    let config = Config {
        listen: "127.0.0.1:0".into(),
        database_url: url.clone(),
        default_send_rate: 0,
        dispatch_poll_ms: 20,
        // The fake provider listens on http://127.0.0.1.
        allow_private_urls: true,
        ..Config::default()
    };
    let app = Application::with_store(store.clone(), config)
        .await
        .unwrap();
    let base = format!("http://{}", app.address());
    tokio::spawn(app.run_until(std::future::pending()));
    let name = format!("bench-{}", stoplist::now_ms());
    let account = stoplist::accounts::create_account(store.as_ref(), &name)
        .await
        .unwrap();
    let (_, key) = stoplist::accounts::create_api_key(
        store.as_ref(),
        account.id,
        "bench",
        stoplist_domain::Role::Owner,
        None,
    )
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let fake = FakeProvider::start().await;
    let c = fake.credentials();
    let r = http
        .put(format!("{base}/api/v1/settings/connector"))
        .bearer_auth(&key)
        .json(
            &serde_json::json!({"kind": "twilio", "account": c.twilio_sid, "secret": c.twilio_token,
            "base_url": fake.base_url()}),
        )
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());

    // 1. Dispatch (skipped when MESSAGES is 0).
    if messages > 0 {
        dispatch(&http, &base, &key, &fake, messages).await;
    }

    // 2. Replies.
    replies_bench(&http, &base, store.as_ref(), account.id, replies, clients).await;
}

/// Sends a campaign of `messages` numbers and waits until every message is settled.
async fn dispatch(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    fake: &FakeProvider,
    messages: usize,
) {
    let numbers: String = (0..messages)
        .map(|i| format!("+614{:08}\n", 10_000_000 + i))
        .collect();
    let c: serde_json::Value = http
        .post(format!("{base}/api/v1/campaigns"))
        .bearer_auth(key)
        .json(&serde_json::json!({"name": "bench", "sender_id": "BENCH", "message": "Hello. Reply STOP to opt out"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = c["id"].as_i64().unwrap();
    http.put(format!("{base}/api/v1/campaigns/{id}/file?file_name=n.txt"))
        .bearer_auth(key)
        .body(numbers)
        .send()
        .await
        .unwrap();
    let start = Instant::now();
    let r = http
        .post(format!("{base}/api/v1/campaigns/{id}/send"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let queued_after = start.elapsed();
    loop {
        let v: serde_json::Value = http
            .get(format!("{base}/api/v1/campaigns/{id}"))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let c = &v["counts"];
        let settled = c["sent"].as_i64().unwrap()
            + c["failed"].as_i64().unwrap()
            + c["suppressed"].as_i64().unwrap();
        if settled as usize >= messages {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "dispatch: {messages} messages in {secs:.2} s = {:.0} msg/s (queueing took {:.2} s; provider saw {})",
        messages as f64 / secs,
        queued_after.as_secs_f64(),
        fake.sent().len()
    );
}

/// Posts `replies` generic webhooks from `clients` concurrent clients; every answer must be
/// 2xx (the others are counted and shown by status).
async fn replies_bench(
    http: &reqwest::Client,
    base: &str,
    store: &dyn stoplist_store::Store,
    account: stoplist_domain::AccountId,
    replies: usize,
    clients: usize,
) {
    let token = store.account(account).await.unwrap().unwrap().webhook_token;
    let url = format!("{base}/webhooks/generic/{token}");
    let per = replies / clients;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let http = http.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per);
            let mut failed = Vec::new();
            for i in 0..per {
                let n = c * per + i;
                let t = Instant::now();
                let r = http
                    .post(&url)
                    .json(&serde_json::json!({"id": format!("r{n}"), "from": format!("+614{:08}", 30_000_000 + n),
                        "to": "+61400000000", "text": "STOP"}))
                    .send()
                    .await
                    .unwrap();
                let status = r.status();
                if status.is_success() {
                    lat.push(t.elapsed());
                } else {
                    failed.push((status.as_u16(), r.text().await.unwrap_or_default()));
                }
            }
            (lat, failed)
        }));
    }
    let mut lat = Vec::new();
    let mut failed = Vec::new();
    for t in tasks {
        let (l, f) = t.await.unwrap();
        lat.extend(l);
        failed.extend(f);
    }
    if !failed.is_empty() {
        println!(
            "replies: {} of {replies} FAILED, for example {:?}",
            failed.len(),
            &failed[..failed.len().min(3)]
        );
    }
    let secs = start.elapsed().as_secs_f64();
    lat.sort();
    let p =
        |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)].as_secs_f64() * 1000.0;
    println!(
        "replies: {} in {secs:.2} s = {:.0} replies/s, p50 {:.1} ms, p99 {:.1} ms ({clients} clients)",
        lat.len(),
        lat.len() as f64 / secs,
        p(0.5),
        p(0.99)
    );
}
