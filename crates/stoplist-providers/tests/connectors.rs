//! Each connector against the fake provider over real loopback HTTP: what every kind of
//! provider answer (and non-answer) becomes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use stoplist_providers::fake::FakeProvider;
use stoplist_providers::{
    Connector, ConnectorSettings, Outbound, OutboundSms, SendError, SmsGlobalConnector,
    TwilioConnector, connector,
};

fn sms(to: &str) -> OutboundSms {
    OutboundSms {
        to: to.to_string(),
        from: "+61400000001".to_string(),
        text: "Sale ends Friday. Reply STOP to opt out".to_string(),
        reference: "msg-1".to_string(),
    }
}

fn twilio(fake: &FakeProvider) -> TwilioConnector {
    TwilioConnector::new(fake.twilio_config())
}

fn smsglobal(fake: &FakeProvider) -> SmsGlobalConnector {
    SmsGlobalConnector::new(fake.smsglobal_config())
}

/// A loopback port with nothing listening on it.
async fn closed_port() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

// --- Twilio ----------------------------------------------------------------------------

#[tokio::test]
async fn twilio_send_is_accepted_with_a_message_sid() {
    let fake = FakeProvider::start().await;
    let accepted = twilio(&fake).send(&sms("+61412345678")).await.unwrap();
    assert!(accepted.provider_id.starts_with("SM") && accepted.provider_id.len() == 34);
    assert_eq!(accepted.status.as_deref(), Some("queued"));
    let sent = fake.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].to.as_str(), sent[0].from.as_str(), sent[0].provider),
        ("+61412345678", "+61400000001", "twilio")
    );
    assert_eq!(sent[0].text, "Sale ends Friday. Reply STOP to opt out");
    assert_eq!(sent[0].provider_id, accepted.provider_id);
    assert_eq!(fake.count_to("+61412345678"), 1);
}

#[tokio::test]
async fn twilio_21610_is_a_carrier_opt_out() {
    let fake = FakeProvider::start().await;
    fake.reject_number("+61412345678", 21610);
    let err = twilio(&fake).send(&sms("+61412345678")).await.unwrap_err();
    assert!(
        matches!(&err, SendError::OptedOut { code, .. } if code == "21610"),
        "{err:?}"
    );
    assert!(err.to_string().contains("opted out"));
    assert_eq!(fake.count_to("+61412345678"), 0);
}

#[tokio::test]
async fn twilio_invalid_to_is_permanent_with_its_code() {
    let fake = FakeProvider::start().await;
    fake.reject_number("+61412345678", 21211);
    let err = twilio(&fake).send(&sms("+61412345678")).await.unwrap_err();
    assert!(
        matches!(&err, SendError::Permanent { code: Some(c), .. } if c == "21211"),
        "{err:?}"
    );
    assert!(err.to_string().contains("recipient number"));
}

#[tokio::test]
async fn twilio_invalid_from_is_permanent_and_says_sender() {
    let fake = FakeProvider::start().await;
    fake.reject_number("+61412345678", 21606);
    let err = twilio(&fake).send(&sms("+61412345678")).await.unwrap_err();
    assert_eq!(err.code(), Some("21606"));
    assert!(err.to_string().contains("sender"), "{err}");
}

#[tokio::test]
async fn twilio_500_is_transient_and_the_next_send_succeeds() {
    let fake = FakeProvider::start().await;
    fake.fail_next(1, 500);
    let c = twilio(&fake);
    let err = c.send(&sms("+61412345678")).await.unwrap_err();
    assert!(
        matches!(&err, SendError::Transient { code: Some(code), .. } if code == "20500"),
        "{err:?}"
    );
    assert!(c.send(&sms("+61412345678")).await.is_ok());
    assert_eq!(fake.count_to("+61412345678"), 1);
}

#[tokio::test]
async fn twilio_429_is_transient_with_retry_after() {
    let fake = FakeProvider::start().await;
    fake.throttle_next(1);
    let err = twilio(&fake).send(&sms("+61412345678")).await.unwrap_err();
    match err {
        SendError::Transient {
            code, retry_after, ..
        } => {
            assert_eq!(code.as_deref(), Some("20429"));
            assert_eq!(retry_after, Some(Duration::from_secs(2)));
        }
        other => panic!("expected Transient, got {other:?}"),
    }
}

#[tokio::test]
async fn twilio_2xx_garbage_is_permanent_bad_response_not_retried() {
    let fake = FakeProvider::start().await;
    fake.garbage_next(1);
    let err = twilio(&fake).send(&sms("+61412345678")).await.unwrap_err();
    assert!(
        matches!(&err, SendError::Permanent { code: Some(c), .. } if c == "bad_response"),
        "{err:?}"
    );
}

#[tokio::test]
async fn twilio_hang_is_a_transient_timeout_within_the_bound() {
    let fake = FakeProvider::start().await;
    fake.hang(true);
    let mut cfg = fake.twilio_config();
    cfg.timeout = Duration::from_millis(300);
    let started = Instant::now();
    let err = TwilioConnector::new(cfg)
        .send(&sms("+61412345678"))
        .await
        .unwrap_err();
    let took = started.elapsed();
    fake.hang(false);
    assert!(
        matches!(&err, SendError::Transient { code: Some(c), .. } if c == "timeout"),
        "{err:?}"
    );
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert_eq!(fake.requests(), 1);
}

#[tokio::test]
async fn twilio_wrong_credentials_are_permanent_with_twilio_code() {
    let fake = FakeProvider::start().await;
    let mut cfg = fake.twilio_config();
    cfg.auth_token = "wrong".to_string();
    let err = TwilioConnector::new(cfg)
        .send(&sms("+61412345678"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SendError::Permanent { code: Some(c), .. } if c == "20003"),
        "{err:?}"
    );
    assert!(err.to_string().contains("credentials"));
    assert!(fake.sent().is_empty());
}

#[tokio::test]
async fn twilio_refused_connection_is_transient() {
    let addr = closed_port().await;
    let mut cfg = stoplist_providers::TwilioConfig::new("AC1", "t");
    cfg.base_url = format!("http://{addr}");
    cfg.outbound = Outbound::new(true);
    let err = TwilioConnector::new(cfg)
        .send(&sms("+61412345678"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SendError::Transient { code: Some(c), .. } if c == "connect"),
        "{err:?}"
    );
}

// --- SMSGlobal -------------------------------------------------------------------------

#[tokio::test]
async fn smsglobal_send_is_accepted_with_its_message_id() {
    let fake = FakeProvider::start().await;
    let accepted = smsglobal(&fake).send(&sms("+61412345678")).await.unwrap();
    assert_eq!(accepted.provider_id.len(), 16);
    assert_eq!(accepted.status.as_deref(), Some("sent"));
    let sent = fake.sent();
    assert_eq!(sent.len(), 1);
    // SMSGlobal takes numbers without '+'.
    assert_eq!(
        (sent[0].to.as_str(), sent[0].from.as_str(), sent[0].provider),
        ("61412345678", "61400000001", "smsglobal")
    );
    assert_eq!(sent[0].provider_id, accepted.provider_id);
    assert_eq!(fake.count_to("+61412345678"), 1);
}

#[tokio::test]
async fn smsglobal_opt_out_refusal_is_a_carrier_opt_out() {
    let fake = FakeProvider::start().await;
    fake.reject_number("+61412345678", 21610);
    let err = smsglobal(&fake)
        .send(&sms("+61412345678"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SendError::OptedOut { code, .. } if code == "opted_out"),
        "{err:?}"
    );
}

#[tokio::test]
async fn smsglobal_invalid_destination_is_permanent() {
    let fake = FakeProvider::start().await;
    fake.reject_number("+61412345678", 21211);
    let err = smsglobal(&fake)
        .send(&sms("+61412345678"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("invalid_destination"));
    assert!(!err.is_transient());
}

#[tokio::test]
async fn smsglobal_500_is_transient() {
    let fake = FakeProvider::start().await;
    fake.fail_next(1, 503);
    let err = smsglobal(&fake)
        .send(&sms("+61412345678"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SendError::Transient { code: Some(c), .. } if c == "http_503"),
        "{err:?}"
    );
}

#[tokio::test]
async fn smsglobal_429_is_transient_with_retry_after() {
    let fake = FakeProvider::start().await;
    fake.throttle_next(1);
    let err = smsglobal(&fake)
        .send(&sms("+61412345678"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SendError::Transient { retry_after: Some(d), .. } if *d == Duration::from_secs(2)),
        "{err:?}"
    );
}

#[tokio::test]
async fn smsglobal_2xx_garbage_is_permanent_bad_response() {
    let fake = FakeProvider::start().await;
    fake.garbage_next(1);
    let err = smsglobal(&fake)
        .send(&sms("+61412345678"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("bad_response"));
    assert!(!err.is_transient());
}

#[tokio::test]
async fn smsglobal_hang_is_a_transient_timeout_within_the_bound() {
    let fake = FakeProvider::start().await;
    fake.hang(true);
    let mut cfg = fake.smsglobal_config();
    cfg.timeout = Duration::from_millis(300);
    let started = Instant::now();
    let err = SmsGlobalConnector::new(cfg)
        .send(&sms("+61412345678"))
        .await
        .unwrap_err();
    let took = started.elapsed();
    fake.hang(false);
    assert_eq!(err.code(), Some("timeout"));
    assert!(err.is_transient());
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test]
async fn smsglobal_wrong_secret_or_key_is_permanent_auth() {
    let fake = FakeProvider::start().await;
    let mut cfg = fake.smsglobal_config();
    cfg.api_secret = "wrong".to_string();
    let err = SmsGlobalConnector::new(cfg)
        .send(&sms("+61412345678"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SendError::Permanent { code: Some(c), .. } if c == "auth"),
        "{err:?}"
    );
    let mut cfg = fake.smsglobal_config();
    cfg.api_key = "unknown".to_string();
    let err = SmsGlobalConnector::new(cfg)
        .send(&sms("+61412345678"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("auth"));
    assert!(fake.sent().is_empty());
}

// --- Built from settings, under load -----------------------------------------------------

#[tokio::test]
async fn connectors_built_from_settings_send_through_the_fake() {
    let fake = FakeProvider::start().await;
    let c = fake.credentials().clone();
    let twilio = ConnectorSettings {
        kind: "twilio".into(),
        base_url: Some(fake.base_url()),
        account_sid: Some(c.twilio_sid),
        secret: Some(c.twilio_token),
        status_callback: Some("https://stoplist.example/webhooks/twilio/tok/status".into()),
        timeout_secs: Some(5),
    };
    let sg = ConnectorSettings {
        kind: "smsglobal".into(),
        base_url: Some(fake.base_url()),
        account_sid: Some(c.smsglobal_key),
        secret: Some(c.smsglobal_secret),
        status_callback: None,
        timeout_secs: None,
    };
    // The fake listens on loopback over http: private addresses allowed, as in the tests.
    let outbound = Outbound::new(true);
    connector("twilio", &twilio, &outbound)
        .unwrap()
        .send(&sms("+61412345678"))
        .await
        .unwrap();
    connector("smsglobal", &sg, &outbound)
        .unwrap()
        .send(&sms("+61412345678"))
        .await
        .unwrap();
    assert_eq!(fake.count_to("61412345678"), 2);
}

#[tokio::test]
async fn a_base_url_the_strict_policy_refuses_sends_nothing() {
    let fake = FakeProvider::start().await;
    let mut cfg = fake.twilio_config();
    cfg.outbound = Outbound::default();
    let err = TwilioConnector::new(cfg)
        .send(&sms("+61412345678"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("refused_address"), "{err:?}");
    assert!(!err.is_transient());
    assert!(err.to_string().contains("must be https"), "{err}");
    let mut cfg = fake.smsglobal_config();
    cfg.outbound = Outbound::default();
    cfg.base_url = cfg.base_url.replacen("http://", "https://", 1);
    let err = SmsGlobalConnector::new(cfg)
        .send(&sms("+61412345678"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("refused_address"), "{err:?}");
    assert!(err.to_string().contains("loopback"), "{err}");
    assert_eq!(fake.requests(), 0, "nothing reached the provider");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_sends_are_each_accepted_once() {
    let fake = FakeProvider::start().await;
    let c: Arc<dyn Connector> = Arc::new(twilio(&fake));
    let mut tasks = Vec::new();
    for i in 0..400u32 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            c.send(&sms(&format!("+614{:08}", i % 100))).await
        }));
    }
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        ids.insert(t.await.unwrap().unwrap().provider_id);
    }
    assert_eq!(ids.len(), 400);
    assert_eq!(fake.sent().len(), 400);
    assert_eq!(fake.count_to("+61400000007"), 4);
}
