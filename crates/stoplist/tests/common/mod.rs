//! What the API integration test files share: a running server with one account and one API
//! key, and JSON request helpers. (Each test file uses a part of it.)
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod exports;
pub mod ui;

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use stoplist::app::Application;
use stoplist::config::Config;
use stoplist_domain::rules::OptOutEvent;
use stoplist_domain::{AccountId, Actor, PhoneNumber, Region};
use stoplist_store::{OptOutCommand, Store};

/// A running server with one account and one API key.
pub struct TestApp {
    pub base: String,
    pub key: String,
    pub account: AccountId,
    pub store: Arc<dyn Store>,
    /// The running server's state (its services), for changes a test makes as the CLI or a
    /// reply would, through the same opt-out authority.
    pub state: stoplist::state::AppState,
    pub http: reqwest::Client,
}

/// The configuration test servers start from: the defaults, with private URLs allowed,
/// because the fake providers and notification endpoints listen on http://127.0.0.1. A test
/// of the outbound policy starts from `Config::default()` instead.
pub fn test_config() -> Config {
    Config {
        allow_private_urls: true,
        ..Config::default()
    }
}

impl TestApp {
    /// A server with [`test_config`].
    pub async fn spawn(url: &str) -> TestApp {
        Self::spawn_with(url, test_config()).await
    }

    pub async fn spawn_with(url: &str, config: Config) -> TestApp {
        let store = stoplist_store::connect(url).await.expect("store");
        let config = Config {
            listen: "127.0.0.1:0".into(),
            database_url: url.into(),
            ..config
        };
        let app = Application::with_store(store.clone(), config)
            .await
            .expect("bind");
        let base = format!("http://{}", app.address());
        let state = app.state().clone();
        tokio::spawn(app.run_until(std::future::pending()));
        let account = stoplist::accounts::create_account(store.as_ref(), "acme")
            .await
            .unwrap();
        let (_, key) = stoplist::accounts::create_api_key(
            store.as_ref(),
            account.id,
            "tests",
            stoplist_domain::Role::Owner,
            None,
        )
        .await
        .unwrap();
        TestApp {
            base,
            key,
            account: account.id,
            store,
            state,
            http: reqwest::Client::new(),
        }
    }

    /// A second account with its own key, on the same server.
    pub async fn other_key(&self) -> String {
        let other = stoplist::accounts::create_account(self.store.as_ref(), "other")
            .await
            .unwrap();
        stoplist::accounts::create_api_key(
            self.store.as_ref(),
            other.id,
            "other",
            stoplist_domain::Role::Owner,
            None,
        )
        .await
        .unwrap()
        .1
    }

    pub fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        send(self.req(reqwest::Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        send(self.req(reqwest::Method::POST, path).json(&body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        send(self.req(reqwest::Method::PATCH, path).json(&body)).await
    }

    pub async fn delete(&self, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let r = self.req(reqwest::Method::DELETE, path);
        send(match body {
            Some(b) => r.json(&b),
            None => r,
        })
        .await
    }

    /// Records a reply opt-out through the opt-out authority, as a reply would.
    pub async fn reply_opt_out(&self, raw: &str) {
        let cmd = OptOutCommand {
            number: PhoneNumber::parse(raw, Region::AU).unwrap(),
            event: OptOutEvent::ReplyOptOut {
                matched_campaign: false,
            },
            actor: Actor {
                kind: stoplist_domain::ActorKind::Inbound,
                id: None,
                label: "test".into(),
            },
            reason: None,
            evidence: Some("STOP".into()),
            campaign_groups: vec![],
        };
        self.state.optouts.apply(self.account, &cmd).await.unwrap();
    }
}

pub async fn send(r: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let resp = r.send().await.expect("request");
    let status = resp.status();
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

pub async fn each_backend() -> Vec<String> {
    stoplist_store::testing::fresh_urls()
        .await
        .expect("test databases")
}

pub fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

pub fn field(body: &Value) -> &str {
    body["error"]["field"].as_str().unwrap_or("")
}

impl TestApp {
    /// Creates a group and returns its id.
    pub async fn group(&self, name: &str) -> i64 {
        let (_, g) = self.post("/api/v1/groups", json!({"name": name})).await;
        g["id"].as_i64().unwrap()
    }

    /// Creates a campaign from `body` (a 201 expected) and returns its id.
    pub async fn campaign(&self, body: Value) -> i64 {
        let (s, c) = self.post("/api/v1/campaigns", body).await;
        assert_eq!(s, StatusCode::CREATED, "{c}");
        c["id"].as_i64().unwrap()
    }

    /// POSTs a file body to an upload endpoint.
    pub async fn upload(
        &self,
        path: &str,
        query: &str,
        body: impl Into<reqwest::Body>,
    ) -> (StatusCode, Value) {
        send(
            self.req(reqwest::Method::POST, &format!("{path}?{query}"))
                .body(body),
        )
        .await
    }

    /// The account's webhook token (the secret part of its webhook URLs).
    pub async fn webhook_token(&self) -> String {
        self.store
            .account(self.account)
            .await
            .unwrap()
            .unwrap()
            .webhook_token
    }

    /// Whether the API says the number is opted out.
    pub async fn opted_out(&self, raw: &str) -> bool {
        self.get(&format!("/api/v1/optouts/{raw}")).await.1["opted_out"] == true
    }

    /// Applies an opt-out event through the opt-out authority (as a reply or the CLI would).
    pub async fn listed(&self, raw: &str, event: OptOutEvent) {
        let cmd = OptOutCommand {
            number: PhoneNumber::parse(raw, Region::AU).unwrap(),
            event,
            actor: Actor::system("test"),
            reason: None,
            evidence: None,
            campaign_groups: vec![],
        };
        self.state.optouts.apply(self.account, &cmd).await.unwrap();
    }
}

/// A server on loopback that counts the requests it gets and answers each with `status` (and
/// `location`, for a redirect).
pub async fn counting_server(
    status: u16,
    location: Option<String>,
) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = hits.clone();
    let answer = axum::Router::new().fallback(move || {
        let seen = seen.clone();
        let location = location.clone();
        async move {
            seen.fetch_add(1, Ordering::SeqCst);
            let mut r = axum::http::Response::builder().status(status);
            if let Some(l) = location {
                r = r.header("location", l);
            }
            r.body(axum::body::Body::empty()).unwrap()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, answer).await });
    (base, hits)
}
