//! The providers' documented webhook payloads — inbound replies and delivery receipts — read
//! into stoplist's types, Twilio's published signature example and the Vonage SDKs' signature
//! vectors verified, and bad payloads refused with the field named.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use stoplist_providers::{InboundError, Part, ReceiptStatus, generic, smsglobal, twilio, vonage};

fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

// --- Twilio signature ----------------------------------------------------------------------

/// Twilio's worked example: https://www.twilio.com/docs/usage/security#validating-requests
const TWILIO_URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

fn twilio_example(number: &str) -> Vec<(String, String)> {
    params(&[
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", number),
        ("Digits", "1234"),
        ("From", number),
        ("To", "+18005551212"),
    ])
}

#[test]
fn twilio_published_signature_example_verifies() {
    // The security page's current example (caller +14158675310).
    let p = twilio_example("+14158675310");
    assert_eq!(
        twilio::signature("12345", TWILIO_URL, &p),
        "GvWf1cFY/Q7PnoempGyD5oXAezc="
    );
    assert!(twilio::verify_signature(
        "12345",
        TWILIO_URL,
        &p,
        "GvWf1cFY/Q7PnoempGyD5oXAezc="
    ));
    // The same example with the older caller number, as signed in Twilio's SDK test suites.
    let p = twilio_example("+14158675309");
    assert!(twilio::verify_signature(
        "12345",
        TWILIO_URL,
        &p,
        "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    ));
}

#[test]
fn twilio_tampered_request_or_wrong_token_is_refused() {
    let mut p = twilio_example("+14158675310");
    let good = "GvWf1cFY/Q7PnoempGyD5oXAezc=";
    assert!(!twilio::verify_signature("54321", TWILIO_URL, &p, good));
    assert!(!twilio::verify_signature(
        "12345",
        "https://mycompany.com/myapp.php?foo=1&bar=3",
        &p,
        good
    ));
    assert!(!twilio::verify_signature("12345", TWILIO_URL, &p, ""));
    assert!(!twilio::verify_signature(
        "12345",
        TWILIO_URL,
        &p,
        "GvWf1cFY/Q7PnoempGyD5oXAezd="
    ));
    p[2].1 = "9999".to_string();
    assert!(!twilio::verify_signature("12345", TWILIO_URL, &p, good));
}

// --- Twilio inbound and status callbacks --------------------------------------------------

/// Parameter names from https://www.twilio.com/docs/messaging/guides/webhook-request
fn twilio_inbound() -> Vec<(String, String)> {
    params(&[
        ("ToCountry", "US"),
        ("ToState", "CA"),
        ("SmsMessageSid", "SM1b0d2f5c5d5a4e7aa1e9c0e5b3a1c2d3"),
        ("NumMedia", "0"),
        ("ToCity", "SAN FRANCISCO"),
        ("FromZip", "94105"),
        ("SmsSid", "SM1b0d2f5c5d5a4e7aa1e9c0e5b3a1c2d3"),
        ("FromState", "CA"),
        ("SmsStatus", "received"),
        ("FromCity", "SAN FRANCISCO"),
        ("Body", "STOP"),
        ("FromCountry", "US"),
        ("To", "+15558675310"),
        ("MessagingServiceSid", "MG9752274e9e519418a7406176694466fa"),
        ("ToZip", "94105"),
        ("NumSegments", "1"),
        ("MessageSid", "SM1b0d2f5c5d5a4e7aa1e9c0e5b3a1c2d3"),
        ("AccountSid", "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"),
        ("From", "+14017122661"),
        ("ApiVersion", "2010-04-01"),
    ])
}

#[test]
fn twilio_inbound_example_is_read() {
    let m = twilio::parse_inbound(&twilio_inbound()).unwrap();
    assert_eq!(m.provider, "twilio");
    assert_eq!(m.provider_message_id, "SM1b0d2f5c5d5a4e7aa1e9c0e5b3a1c2d3");
    assert_eq!(
        (m.from.as_str(), m.to.as_str(), m.text.as_str()),
        ("+14017122661", "+15558675310", "STOP")
    );
    assert_eq!((m.received_at, m.part), (None, None));
}

#[test]
fn twilio_inbound_without_from_names_the_field() {
    let p: Vec<_> = twilio_inbound()
        .into_iter()
        .filter(|(k, _)| k != "From")
        .collect();
    let e = twilio::parse_inbound(&p).unwrap_err();
    assert_eq!(
        e,
        InboundError {
            field: "From",
            problem: "missing".into()
        }
    );
    assert_eq!(e.to_string(), "From: missing");
}

#[test]
fn twilio_empty_reply_is_empty_twiml() {
    assert_eq!(
        twilio::reply_twiml_empty(),
        r#"<?xml version="1.0" encoding="UTF-8"?><Response></Response>"#
    );
}

/// Fields from https://www.twilio.com/docs/messaging/guides/track-outbound-message-status
#[test]
fn twilio_status_callbacks_are_read() {
    let delivered = params(&[
        ("SmsSid", "SM2xxxxxx"),
        ("SmsStatus", "delivered"),
        ("MessageStatus", "delivered"),
        ("To", "+15558675310"),
        ("MessageSid", "SM2xxxxxx"),
        ("AccountSid", "ACxxxxxxx"),
        ("From", "+15017250604"),
        ("ApiVersion", "2010-04-01"),
    ]);
    let r = twilio::parse_status_callback(&delivered).unwrap();
    assert_eq!(
        (
            r.provider_id.as_str(),
            &r.status,
            &r.error_code,
            r.opted_out
        ),
        ("SM2xxxxxx", &ReceiptStatus::Delivered, &None, false)
    );

    let unsubscribed = params(&[
        ("MessageSid", "SM3"),
        ("MessageStatus", "undelivered"),
        ("ErrorCode", "21610"),
    ]);
    let r = twilio::parse_status_callback(&unsubscribed).unwrap();
    assert_eq!(r.status, ReceiptStatus::Undelivered);
    assert_eq!(r.error_code.as_deref(), Some("21610"));
    assert!(r.opted_out);

    let failed = params(&[
        ("MessageSid", "SM4"),
        ("MessageStatus", "failed"),
        ("ErrorCode", "30007"),
    ]);
    let r = twilio::parse_status_callback(&failed).unwrap();
    assert_eq!((r.status, r.opted_out), (ReceiptStatus::Failed, false));

    let e = twilio::parse_status_callback(&params(&[("MessageSid", "SM5")])).unwrap_err();
    assert_eq!(e.field, "MessageStatus");
}

// --- SMSGlobal ------------------------------------------------------------------------------

/// The sample values of https://knowledgebase.smsglobal.com/en/articles/5185738
#[test]
fn smsglobal_documented_receipt_is_read() {
    let p = params(&[
        ("msgid", "6405973165004424"),
        ("dlrstatus", "DELIVRD"),
        ("dlr_err", "0"),
        ("donedate", "2106291430"),
    ]);
    let r = smsglobal::parse_receipt(&p).unwrap();
    assert_eq!(r.provider_id, "6405973165004424");
    assert_eq!(r.status, ReceiptStatus::Delivered);
    assert_eq!((r.error_code, r.opted_out), (None, false));

    let undelivered = params(&[("msgid", "1"), ("dlrstatus", "UNDELIV"), ("dlr_err", "011")]);
    let r = smsglobal::parse_receipt(&undelivered).unwrap();
    assert_eq!(
        (r.status, r.error_code.as_deref()),
        (ReceiptStatus::Undelivered, Some("011"))
    );
    assert_eq!(
        smsglobal::parse_receipt(&params(&[("msgid", "1"), ("dlrstatus", "EXPIRED")]))
            .unwrap()
            .status,
        ReceiptStatus::Expired
    );

    assert_eq!(
        smsglobal::parse_receipt(&params(&[("dlrstatus", "DELIVRD")]))
            .unwrap_err()
            .field,
        "msgid"
    );
}

/// The incoming push: `to`, `from`, `msg`, `date` (https://www.smsglobal.com/http-api/).
fn smsglobal_incoming(text: &str) -> Vec<(String, String)> {
    params(&[
        ("to", "61447100250"),
        ("from", "61400000000"),
        ("msg", text),
        ("date", "2012-01-01 12:00:00"),
    ])
}

#[test]
fn smsglobal_incoming_push_is_read_with_plus_numbers() {
    let m = smsglobal::parse_inbound(&smsglobal_incoming("Hello World")).unwrap();
    assert_eq!(m.provider, "smsglobal");
    assert_eq!(
        (m.from.as_str(), m.to.as_str(), m.text.as_str()),
        ("+61400000000", "+61447100250", "Hello World")
    );
    assert_eq!(m.received_at, Some(1_325_419_200_000));
    assert!(m.provider_message_id.starts_with("sha256:"));
}

#[test]
fn smsglobal_redelivered_push_has_the_same_id_and_another_text_does_not() {
    let a = smsglobal::parse_inbound(&smsglobal_incoming("STOP")).unwrap();
    let again = smsglobal::parse_inbound(&smsglobal_incoming("STOP")).unwrap();
    let other = smsglobal::parse_inbound(&smsglobal_incoming("START")).unwrap();
    assert_eq!(a.provider_message_id, again.provider_message_id);
    assert_ne!(a.provider_message_id, other.provider_message_id);
    let mut with_id = smsglobal_incoming("STOP");
    with_id.push(("id".into(), "465605611".into()));
    assert_eq!(
        smsglobal::parse_inbound(&with_id)
            .unwrap()
            .provider_message_id,
        "465605611"
    );
}

#[test]
fn smsglobal_incoming_bad_date_or_missing_sender_is_named() {
    let mut p = smsglobal_incoming("STOP");
    p[3].1 = "01/01/2012".into();
    assert_eq!(smsglobal::parse_inbound(&p).unwrap_err().field, "date");
    let p: Vec<_> = smsglobal_incoming("STOP")
        .into_iter()
        .filter(|(k, _)| k != "from")
        .collect();
    assert_eq!(
        smsglobal::parse_inbound(&p).unwrap_err(),
        InboundError {
            field: "from",
            problem: "missing".into()
        }
    );
}

// --- Vonage ---------------------------------------------------------------------------------

#[test]
fn vonage_get_example_is_read() {
    // A real inbound GET as Vonage (then Nexmo) sent it, numbers filled in.
    let p = params(&[
        ("keyword", "HELLO!"),
        ("message-timestamp", "2016-08-14 10:13:54"),
        ("messageId", "030000000926C4C2"),
        ("msisdn", "447700900001"),
        ("text", "Hello!"),
        ("to", "447700900000"),
        ("type", "text"),
    ]);
    let m = vonage::parse_inbound_form(&p).unwrap();
    assert_eq!(m.provider, "vonage");
    assert_eq!(m.provider_message_id, "030000000926C4C2");
    assert_eq!(
        (m.from.as_str(), m.to.as_str(), m.text.as_str()),
        ("+447700900001", "+447700900000", "Hello!")
    );
    assert_eq!(m.received_at, Some(1_471_169_634_000));
    assert_eq!(m.part, None);
}

/// The example body of https://developer.vonage.com/en/messaging/sms/guides/inbound-sms
#[test]
fn vonage_json_example_is_read() {
    let body = br#"{
        "api-key": "abcd1234",
        "msisdn": "447700900001",
        "to": "447700900000",
        "messageId": "0A0000000123ABCD1",
        "text": "Hello world",
        "type": "text",
        "keyword": "HELLO",
        "message-timestamp": "2020-01-01 12:00:00 +0000",
        "timestamp": "1578787200",
        "nonce": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
        "concat": "true",
        "concat-ref": "1",
        "concat-total": "3",
        "concat-part": "2",
        "data": "abc123",
        "udh": "abc123"
    }"#;
    let m = vonage::parse_inbound_json(body).unwrap();
    assert_eq!(m.provider_message_id, "0A0000000123ABCD1");
    assert_eq!(m.from, "+447700900001");
    assert_eq!(m.text, "Hello world");
    assert_eq!(m.received_at, Some(1_577_880_000_000));
    assert_eq!(
        m.part,
        Some(Part {
            reference: "1".into(),
            total: 3,
            index: 2
        })
    );
}

#[test]
fn vonage_three_part_message_arrives_as_three_numbered_parts() {
    let texts = [
        "Please stop sending me these mess",
        "ages, I never signed up for thi",
        "s list. Thanks",
    ];
    let mut parts = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let index = (i + 1).to_string();
        let id = format!("0B00000000000{i}");
        let p = params(&[
            ("msisdn", "61412345678"),
            ("to", "61400000001"),
            ("messageId", &id),
            ("text", text),
            ("type", "text"),
            ("message-timestamp", "2024-05-01 09:30:00"),
            ("concat", "true"),
            ("concat-ref", "108"),
            ("concat-total", "3"),
            ("concat-part", &index),
        ]);
        parts.push(vonage::parse_inbound_form(&p).unwrap());
    }
    for (i, m) in parts.iter().enumerate() {
        assert_eq!(
            m.part,
            Some(Part {
                reference: "108".into(),
                total: 3,
                index: i as u32 + 1
            })
        );
        assert_eq!(m.from, "+61412345678");
    }
    let joined: String = parts.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(
        joined,
        "Please stop sending me these messages, I never signed up for this list. Thanks"
    );

    // JSON numbers and booleans are read too.
    let m = vonage::parse_inbound_json(br#"{"msisdn":"61412345678","to":"61400000001","messageId":"X","text":"a","type":"text","concat":true,"concat-ref":108,"concat-total":3,"concat-part":3}"#).unwrap();
    assert_eq!(
        m.part,
        Some(Part {
            reference: "108".into(),
            total: 3,
            index: 3
        })
    );
}

#[test]
fn vonage_bad_payloads_name_the_field() {
    let base = [
        ("msisdn", "61412345678"),
        ("to", "61400000001"),
        ("messageId", "X"),
        ("text", "hi"),
        ("type", "text"),
    ];
    let without = |field: &str| {
        params(
            &base
                .iter()
                .copied()
                .filter(|(k, _)| *k != field)
                .collect::<Vec<_>>(),
        )
    };
    assert_eq!(
        vonage::parse_inbound_form(&without("msisdn"))
            .unwrap_err()
            .field,
        "msisdn"
    );
    assert_eq!(
        vonage::parse_inbound_form(&without("messageId"))
            .unwrap_err()
            .field,
        "messageId"
    );
    assert_eq!(
        vonage::parse_inbound_form(&without("text"))
            .unwrap_err()
            .field,
        "text"
    );

    let mut p = params(&base);
    p.extend(params(&[
        ("concat", "true"),
        ("concat-ref", "1"),
        ("concat-total", "3"),
        ("concat-part", "4"),
    ]));
    assert_eq!(
        vonage::parse_inbound_form(&p).unwrap_err().field,
        "concat-part"
    );

    let mut p = params(&base);
    p[4].1 = "binary".into();
    assert_eq!(vonage::parse_inbound_form(&p).unwrap_err().field, "type");

    let mut p = params(&base);
    p.push(("message-timestamp".into(), "14/08/2016".into()));
    assert_eq!(
        vonage::parse_inbound_form(&p).unwrap_err().field,
        "message-timestamp"
    );

    assert_eq!(
        vonage::parse_inbound_json(b"[1,2]").unwrap_err().field,
        "body"
    );
}

// --- Vonage signature -----------------------------------------------------------------------

use vonage::{SignatureMethod, SignatureProblem};

/// `params` with a `sig` added.
fn signed(p: &[(String, String)], sig: &str) -> Vec<(String, String)> {
    let mut p = p.to_vec();
    p.push(("sig".into(), sig.into()));
    p
}

/// The inbound SMS and secret of the Vonage Ruby SDK's signature tests
/// (`Vonage/vonage-ruby-sdk`, `test/vonage/signature_test.rb`).
fn ruby_sdk_inbound() -> Vec<(String, String)> {
    params(&[
        ("message-timestamp", "2013-11-21 15:27:30"),
        ("messageId", "020000001B0FE827"),
        ("msisdn", "14843472194"),
        ("text", "Test again"),
        ("timestamp", "1385047698"),
        ("to", "13239877404"),
        ("type", "text"),
    ])
}
const RUBY_SDK_SECRET: &str = "my_secret_key_for_testing";

#[test]
fn vonage_ruby_sdk_vectors_are_reproduced_for_every_method() {
    let p = ruby_sdk_inbound();
    let expected = [
        (SignatureMethod::Md5Hash, "d2e7b1dc968737c5998ad624e02f90b7"),
        (SignatureMethod::Md5Hmac, "DDEBD46008C2D4E93CCE578A332A52D5"),
        (
            SignatureMethod::Sha1Hmac,
            "27D0D05C2876C7CB1720DBCDBA4D492E1E55C09A",
        ),
        (
            SignatureMethod::Sha256Hmac,
            "DDB8397C2B90AAC7F3882D306475C9A5058C92322EEF43C92B298B6E0FC0D330",
        ),
        (
            SignatureMethod::Sha512Hmac,
            "E0D3C650F8C9D1A5C174D10DDDBFB003E561F59B265616208B0487C5D819481CD3C311D59CF6165ECD1139622D5BA3A256C0D763AC4A9AD9144B5A426B94FE82",
        ),
    ];
    for (method, sig) in expected {
        assert_eq!(
            vonage::signature(method, RUBY_SDK_SECRET, &p),
            sig,
            "{method:?}"
        );
        assert!(
            vonage::verify_signature(method, RUBY_SDK_SECRET, &signed(&p, sig)),
            "{method:?}"
        );
    }
}

/// The vectors of the Vonage Python SDK's `tests/test_signature.py` (`Vonage/vonage-python-sdk`;
/// its test signature secret is `secret`), which writes every method in lower case.
#[test]
fn vonage_python_sdk_vectors_verify_in_either_case() {
    let p = params(&[("a", "1"), ("b", "2"), ("timestamp", "1461605396")]);
    let expected = [
        (SignatureMethod::Md5Hash, "6af838ef94998832dbfc29020b564830"),
        (SignatureMethod::Md5Hmac, "c15c21ced558c93a226c305f58f902f2"),
        (
            SignatureMethod::Sha1Hmac,
            "3e19a4e6880fdc2c1426bfd0587c98b9532f0210",
        ),
        (
            SignatureMethod::Sha256Hmac,
            "a321e824b9b816be7c3f28859a31749a098713d39f613c80d455bbaffae1cd24",
        ),
        (
            SignatureMethod::Sha512Hmac,
            "812a18f76680fa0fe1b8bd9ee1625466ceb1bd96242e4d050d2cfd9a7b40166c63ed26ec9702168781b6edcf1633db8ff95af9341701004eec3fcf9550572ee8",
        ),
    ];
    for (method, sig) in expected {
        assert!(
            vonage::signature(method, "secret", &p).eq_ignore_ascii_case(sig),
            "{method:?}"
        );
        assert!(vonage::verify_signature(method, "secret", &signed(&p, sig)));
        let upper = sig.to_ascii_uppercase();
        assert!(vonage::verify_signature(
            method,
            "secret",
            &signed(&p, &upper)
        ));
    }
}

/// The Ruby SDK's `test_check_instance_method_replaces_disallowed_characters_with_underscores`:
/// `_`, `&` and `=` sign alike (md5hash, its test secret).
#[test]
fn vonage_ampersand_and_equals_in_values_are_signed_as_underscores() {
    for value in ["_", "&", "="] {
        let p = signed(&params(&[("k", value)]), "c3d6a686ab9c7e7408bb1c0506e9629a");
        assert!(
            vonage::verify_signature(SignatureMethod::Md5Hash, RUBY_SDK_SECRET, &p),
            "{value}"
        );
    }
}

#[test]
fn vonage_tampered_text_wrong_secret_or_wrong_method_is_refused() {
    let p = ruby_sdk_inbound();
    let sig = "DDB8397C2B90AAC7F3882D306475C9A5058C92322EEF43C92B298B6E0FC0D330";
    let good = signed(&p, sig);
    assert!(vonage::verify_signature(
        SignatureMethod::Sha256Hmac,
        RUBY_SDK_SECRET,
        &good
    ));
    assert!(!vonage::verify_signature(
        SignatureMethod::Sha256Hmac,
        "another secret",
        &good
    ));
    assert!(!vonage::verify_signature(
        SignatureMethod::Sha512Hmac,
        RUBY_SDK_SECRET,
        &good
    ));
    assert!(!vonage::verify_signature(
        SignatureMethod::Sha256Hmac,
        "",
        &good
    ));
    let tampered: Vec<(String, String)> = good
        .iter()
        .map(|(k, v)| match k.as_str() {
            "text" => (k.clone(), "STOP".to_string()),
            _ => (k.clone(), v.clone()),
        })
        .collect();
    assert!(!vonage::verify_signature(
        SignatureMethod::Sha256Hmac,
        RUBY_SDK_SECRET,
        &tampered
    ));
    assert!(!vonage::verify_signature(
        SignatureMethod::Sha256Hmac,
        RUBY_SDK_SECRET,
        &p
    ));
    assert!(!vonage::verify_signature(
        SignatureMethod::Sha256Hmac,
        RUBY_SDK_SECRET,
        &signed(&p, "")
    ));
}

/// Computed independently with Python's `hmac` (SHA-256, the Ruby SDK's test secret): over
/// every parameter, and without the blank ones as the Java SDK signs.
#[test]
fn vonage_a_blank_value_is_accepted_signed_with_or_without_it() {
    let p = params(&[
        ("msisdn", "447700900001"),
        ("to", "447700900000"),
        ("messageId", "0A0000000123ABCD1"),
        ("text", ""),
        ("type", "text"),
        ("keyword", ""),
        ("timestamp", "1700000000"),
    ]);
    let with_blank = "07482BBF6E1CC68B9B76B67FFCFF535FA2DA1C905E85DB9403FEFD415CF6048E";
    let without_blank = "428440F4CEFB86811D1FC9BC858769BC78E7EF151CE39A59F1DB540D22A5F6FC";
    let m = SignatureMethod::Sha256Hmac;
    assert_eq!(vonage::signature(m, RUBY_SDK_SECRET, &p), with_blank);
    assert!(vonage::verify_signature(
        m,
        RUBY_SDK_SECRET,
        &signed(&p, with_blank)
    ));
    assert!(vonage::verify_signature(
        m,
        RUBY_SDK_SECRET,
        &signed(&p, without_blank)
    ));
}

/// A JSON inbound is signed over its fields by the same rule (the Java SDK's
/// `RequestSigning`). Vectors computed independently with Python's `hashlib` and `hmac`.
#[test]
fn vonage_json_body_is_signed_by_the_same_rule_as_a_form() {
    let body = |sig: &str| {
        format!(
            r#"{{"msisdn": "447700900001", "to": "447700900000", "messageId": "0A0000000123ABCD1",
                "text": "Stop & don't = text", "type": "text", "keyword": "STOP",
                "message-timestamp": "2020-01-01 12:00:00", "timestamp": 1578787200,
                "nonce": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab", "sig": "{sig}"}}"#
        )
    };
    let cases = [
        (
            SignatureMethod::Sha512Hmac,
            "1F9256A8E2540537CB5CBCFD949EBC52C8DAF362BB50FDE42FB33A5D05351E96A267B451417DF0DEF9D0890FF1E99A2F0563F3A64B45B94DC1663431CA58B17B",
        ),
        (SignatureMethod::Md5Hash, "2f3e3e9d6e5fbeaa85ad52c6addc18de"),
    ];
    for (method, sig) in cases {
        let p = vonage::json_params(body(sig).as_bytes()).unwrap();
        assert_eq!(vonage::signature(method, RUBY_SDK_SECRET, &p), sig);
        assert!(vonage::verify_signature(method, RUBY_SDK_SECRET, &p));
        assert_eq!(
            vonage::parse_inbound_form(&p).unwrap().text,
            "Stop & don't = text"
        );
    }
}

#[test]
fn vonage_signed_webhooks_need_a_sig_and_a_timestamp_within_five_minutes() {
    let p = ruby_sdk_inbound();
    let (m, secret) = (SignatureMethod::Md5Hash, RUBY_SDK_SECRET);
    let good = signed(&p, "d2e7b1dc968737c5998ad624e02f90b7");
    let sent_at = 1_385_047_698;
    assert_eq!(vonage::check_signed(m, secret, &good, sent_at), Ok(()));
    assert_eq!(
        vonage::check_signed(m, secret, &good, sent_at + 300),
        Ok(())
    );
    assert_eq!(
        vonage::check_signed(m, secret, &good, sent_at - 300),
        Ok(())
    );
    assert_eq!(
        vonage::check_signed(m, secret, &good, sent_at + 301),
        Err(SignatureProblem::StaleTimestamp)
    );
    assert_eq!(
        vonage::check_signed(m, secret, &good, sent_at - 301),
        Err(SignatureProblem::StaleTimestamp)
    );
    assert_eq!(
        vonage::check_signed(m, secret, &p, sent_at),
        Err(SignatureProblem::MissingSig)
    );
    assert_eq!(
        vonage::check_signed(m, secret, &signed(&p, "0123"), sent_at),
        Err(SignatureProblem::Mismatch)
    );
    // Signed without a timestamp: the signature holds, but nothing says when it was made.
    let untimed: Vec<(String, String)> = p
        .iter()
        .filter(|(k, _)| k != "timestamp")
        .cloned()
        .collect();
    let sig = vonage::signature(m, secret, &untimed);
    assert_eq!(
        vonage::check_signed(m, secret, &signed(&untimed, &sig), sent_at),
        Err(SignatureProblem::MissingTimestamp)
    );
}

#[test]
fn vonage_signature_methods_are_named_as_the_sdks_name_them() {
    let names: Vec<&str> = SignatureMethod::ALL.iter().map(|m| m.as_str()).collect();
    assert_eq!(names, ["md5hash", "md5", "sha1", "sha256", "sha512"]);
    for m in SignatureMethod::ALL {
        assert_eq!(SignatureMethod::parse(m.as_str()), Some(m));
    }
    assert_eq!(
        SignatureMethod::parse(" SHA256 "),
        Some(SignatureMethod::Sha256Hmac)
    );
    assert_eq!(SignatureMethod::parse("sha384"), None);
    assert_eq!(SignatureMethod::parse(""), None);
}

// --- Generic --------------------------------------------------------------------------------

#[test]
fn generic_form_is_read_as_sent() {
    let m = generic::parse_inbound(br#"{"id":"gw-1","from":"0412 345 678","to":"+61400000001","text":"Stop","received_at":"2024-05-01T19:30:00+10:00"}"#).unwrap();
    assert_eq!(m.provider, "generic");
    assert_eq!(
        (
            m.provider_message_id.as_str(),
            m.from.as_str(),
            m.text.as_str()
        ),
        ("gw-1", "0412 345 678", "Stop")
    );
    assert_eq!(m.received_at, Some(1_714_555_800_000));
    let m = generic::parse_inbound(
        br#"{"id":"gw-2","from":"+61412345678","to":"+61400000001","text":""}"#,
    )
    .unwrap();
    assert_eq!((m.received_at, m.text.as_str()), (None, ""));
}

#[test]
fn generic_time_that_is_not_rfc3339_is_refused() {
    let e = generic::parse_inbound(
        br#"{"id":"1","from":"a","to":"b","text":"x","received_at":"2024-05-01 09:30"}"#,
    )
    .unwrap_err();
    assert_eq!(e.field, "received_at");
    assert!(e.problem.contains("RFC 3339"));
}

#[test]
fn generic_missing_or_unknown_fields_are_named() {
    let e = generic::parse_inbound(br#"{"id":"1","to":"b","text":"x"}"#).unwrap_err();
    assert_eq!(
        e,
        InboundError {
            field: "from",
            problem: "missing".into()
        }
    );
    let e = generic::parse_inbound(br#"{"id":"1","from":"a","to":"b"}"#).unwrap_err();
    assert_eq!(e.field, "text");
    let e = generic::parse_inbound(
        br#"{"id":"1","from":"a","to":"b","text":"x","recieved_at":"2024-05-01T09:30:00Z"}"#,
    )
    .unwrap_err();
    assert_eq!(e.field, "body");
    assert!(e.problem.contains("recieved_at"), "{}", e.problem);
    assert_eq!(
        generic::parse_inbound(b"not json").unwrap_err().field,
        "body"
    );
}
