//! Runs the fake SMS provider standalone, for benchmarks and manual tests.
//!
//! `cargo run -p stoplist-providers --features fake --example fake_provider -- [port]`
//! prints the base URL and the credentials it accepts, then serves until Ctrl-C. Point a
//! Twilio or SMSGlobal connector's `base_url` at it.

use std::net::SocketAddr;

use stoplist_providers::fake::{FakeCredentials, FakeProvider};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = match std::env::args().nth(1) {
        Some(p) => p.parse().map_err(|e| format!("port {p:?}: {e}"))?,
        None => 0,
    };
    let fake = FakeProvider::start_on(
        SocketAddr::from(([127, 0, 0, 1], port)),
        FakeCredentials::default(),
    )
    .await?;
    let c = fake.credentials();
    println!("{}", fake.base_url());
    println!(
        "twilio account_sid={} secret={}",
        c.twilio_sid, c.twilio_token
    );
    println!(
        "smsglobal api_key={} secret={}",
        c.smsglobal_key, c.smsglobal_secret
    );
    tokio::signal::ctrl_c().await?;
    eprintln!(
        "accepted {} messages in {} requests",
        fake.sent().len(),
        fake.requests()
    );
    Ok(())
}
