//! What the web UI test files share: a running server with one account and one user, a
//! browser-like client (its own cookie jar, redirects not followed), and page helpers.

use reqwest::redirect::Policy;
use reqwest::{Client, Response, StatusCode};
use std::sync::Arc;
use stoplist::app::Application;
use stoplist::config::Config;
use stoplist_domain::AccountId;
use stoplist_store::Store;

pub const LOGIN: &str = "alice";
pub const PASSWORD: &str = "correct horse battery";

/// A running server with one account and one user, and a client with its own cookie jar
/// that never follows redirects (so tests see them).
pub struct UiApp {
    pub base: String,
    pub client: Client,
    pub state: stoplist::state::AppState,
    pub store: Arc<dyn Store>,
    pub account: AccountId,
}

/// Starts a server whose account `account_name` (created after `earlier` other accounts, so
/// its id can be told apart) has the user `LOGIN`; logs the client in when `logged_in`.
pub async fn spawn_ui(
    config: Config,
    account_name: &str,
    earlier: usize,
    logged_in: bool,
) -> UiApp {
    let store = stoplist_store::connect(&stoplist_store::testing::sqlite_url())
        .await
        .unwrap();
    for i in 0..earlier {
        stoplist::accounts::create_account(store.as_ref(), &format!("Earlier {i}"))
            .await
            .unwrap();
    }
    let account = stoplist::accounts::create_account(store.as_ref(), account_name)
        .await
        .unwrap();
    stoplist::accounts::create_user(
        store.as_ref(),
        account.id,
        LOGIN,
        PASSWORD,
        stoplist_domain::Role::Owner,
    )
    .await
    .unwrap();
    let config = Config {
        listen: "127.0.0.1:0".into(),
        ..config
    };
    let app = Application::with_store(store.clone(), config)
        .await
        .unwrap();
    let base = format!("http://{}", app.address());
    let state = app.state().clone();
    tokio::spawn(app.run_until(std::future::pending()));
    let app = UiApp {
        base,
        client: client(),
        state,
        store,
        account: account.id,
    };
    if logged_in {
        app.log_in_as(&app.client, LOGIN, PASSWORD).await;
    }
    app
}

/// A browser-like client: a cookie jar, redirects not followed.
pub fn client() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// The value of the first hidden `csrf_token` field of a page.
pub fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).expect("a csrf_token field") + marker.len();
    html[start..start + 64].to_owned()
}

/// The `Location` header of a response, or "".
pub fn location(r: &Response) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// The value of hidden field `name` in `html`.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).expect("the hidden field") + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].to_owned()
}

/// How many files in the temporary directory have names starting with `prefix`.
pub fn temp_files(prefix: &str) -> usize {
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .count()
}

/// One part of a multipart form: a text field, or the `file` field with its file name.
pub enum Part<'a> {
    Text(&'a str, &'a str),
    File(&'a str, &'a [u8]),
}

/// A `multipart/form-data` body, parts in order (as a browser sends a form's fields).
pub fn multipart(parts: &[Part]) -> (String, Vec<u8>) {
    let boundary = "----stoplist-test-boundary-7d1f";
    let mut body = Vec::new();
    for part in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match part {
            Part::Text(name, value) => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                    .as_bytes(),
            ),
            Part::File(file_name, bytes) => {
                body.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
                         Content-Type: application/octet-stream\r\n\r\n"
                    )
                    .as_bytes(),
                );
                body.extend_from_slice(bytes);
                body.extend_from_slice(b"\r\n");
            }
        }
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

impl UiApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The session's CSRF token, as a page's forms carry it.
    pub async fn csrf(&self) -> String {
        csrf_of(&self.page("/optouts").await)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// A page that must answer 200, as text.
    pub async fn page(&self, path: &str) -> String {
        let r = self.get(path).await;
        assert_eq!(r.status(), StatusCode::OK, "GET {path}");
        r.text().await.unwrap()
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.client
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// Posts a multipart form (see [`multipart`]).
    pub async fn post_multipart(&self, path: &str, parts: &[Part<'_>]) -> Response {
        let (content_type, body) = multipart(parts);
        self.client
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Posts the login form as `client` (token from the page, cookie from the jar).
    pub async fn try_log_in_as(&self, client: &Client, login: &str, password: &str) -> Response {
        let html = client
            .get(self.url("/login"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        client
            .post(self.url("/login"))
            .form(&[
                ("login", login),
                ("password", password),
                ("csrf_token", &csrf_of(&html)),
            ])
            .send()
            .await
            .unwrap()
    }

    /// Logs `client` in through the login form.
    pub async fn log_in_as(&self, client: &Client, login: &str, password: &str) {
        let r = self.try_log_in_as(client, login, password).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "logged in");
    }
}
