#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use proptest::prelude::*;

fn classify(text: &str) -> Classification {
    Classifier::builtin().classify(text, false)
}

fn class_of(text: &str) -> Class {
    classify(text).class
}

fn custom(kind: KeywordKind, text: &str) -> CustomKeyword {
    CustomKeyword {
        kind,
        language: "en".into(),
        keyword: Keyword::parse(text).unwrap(),
    }
}

#[test]
fn the_builtin_lists_compile_without_problems() {
    let t = Tables::build();
    assert!(t.problems.is_empty(), "{:#?}", t.problems);
}

#[test]
fn stop_with_trailing_punctuation_is_an_opt_out() {
    for text in ["STOP.", "Stop!", "stop!!!", "STOP?", "stop...", " STOP!! "] {
        let c = classify(text);
        assert_eq!(
            (c.class, c.tier),
            (Class::OptOut, Tier::Keyword),
            "{text:?}"
        );
        assert_eq!(c.matched.as_deref(), Some("stop"));
    }
}

#[test]
fn every_carrier_and_regulator_keyword_alone_is_an_opt_out() {
    for text in [
        "STOP",
        "STOPALL",
        "STOP ALL",
        "UNSUBSCRIBE",
        "UNSUB",
        "CANCEL",
        "END",
        "QUIT",
        "REVOKE",
        "OPTOUT",
        "OPT OUT",
        "OPT-OUT",
        "REMOVE",
        "TD",
        "ARRET",
        "ARRÊT",
        "ALTO",
        "PARAR",
        "BAJA",
        "SAIR",
        "FERMA",
        "STOPP",
        "ABMELDEN",
        "AFMELDEN",
    ] {
        assert_eq!(classify(text).tier, Tier::Keyword, "{text:?}");
        assert_eq!(class_of(text), Class::OptOut, "{text:?}");
    }
}

#[test]
fn invisible_characters_and_fullwidth_forms_do_not_hide_a_keyword() {
    for text in [
        "S\u{200B}TOP",
        "\u{FEFF}STOP",
        "STOP\u{00A0}",
        "ＳＴＯＰ",
        "ｓｔｏｐ！",
        "𝐒𝐓𝐎𝐏",
        "S\u{0338}TOP",
    ] {
        assert_eq!(class_of(text), Class::OptOut, "{text:?}");
    }
}

#[test]
fn repeated_letters_and_repeated_words_still_read_as_the_keyword() {
    for text in [
        "STOOOOP",
        "stopppp",
        "STOP STOP",
        "stop stop stop",
        "S T O P",
        "S.T.O.P.",
    ] {
        let c = classify(text);
        assert_eq!(
            (c.class, c.tier),
            (Class::OptOut, Tier::Keyword),
            "{text:?}"
        );
    }
}

#[test]
fn doubled_letters_of_real_words_are_kept() {
    assert_eq!(normalize("Too good, all the best"), "too good all the best");
    assert_eq!(normalize("Stooooop"), "stop");
    assert_eq!(normalize("STOPP"), "stopp");
}

#[test]
fn normalising_folds_case_accents_apostrophes_and_separators() {
    assert_eq!(
        normalize("  ARRÊT!!  Désabonnez-moi  "),
        "arret desabonnez moi"
    );
    assert_eq!(normalize("Don’t text me"), "dont text me");
    assert_eq!(normalize("Straße Œuvre"), "strasse oeuvre");
    assert_eq!(normalize("😡STOP😡"), "stop");
    assert_eq!(normalize(""), "");
}

#[test]
fn yes_from_a_number_not_opted_out_is_other() {
    let c = Classifier::builtin().classify("YES", false);
    assert_eq!((c.class, c.tier), (Class::Other, Tier::Keyword));
}

#[test]
fn yes_from_an_opted_out_number_is_an_opt_in() {
    let c = Classifier::builtin().classify("Yes!", true);
    assert_eq!((c.class, c.tier), (Class::OptIn, Tier::Keyword));
}

#[test]
fn start_and_unstop_are_opt_ins_whatever_the_number() {
    for opted_out in [false, true] {
        for text in ["START", "Unstop"] {
            assert_eq!(
                Classifier::builtin().classify(text, opted_out).class,
                Class::OptIn
            );
        }
    }
}

#[test]
fn help_keywords_in_every_language_are_help() {
    for text in [
        "HELP", "INFO", "AIDE", "AYUDA", "AJUDA", "AIUTO", "HILFE", "HULP",
    ] {
        assert_eq!(class_of(text), Class::Help, "{text:?}");
    }
}

#[test]
fn a_keyword_with_courtesy_is_an_opt_out_of_tier_two() {
    for text in [
        "STOP PLEASE",
        "Stop. Thank you",
        "unsubscribe me",
        "pls stop",
        "STOP NOW",
        "stop it",
        "Baja por favor",
        "Stopp bitte",
    ] {
        let c = classify(text);
        assert_eq!(
            (c.class, c.tier),
            (Class::OptOut, Tier::KeywordWithCourtesy),
            "{text:?}"
        );
    }
}

#[test]
fn phrases_that_plainly_ask_to_stop_are_opt_outs() {
    for text in [
        "please stop texting me",
        "remove me from your list",
        "do not text me again",
        "no more messages",
        "take me off this list",
        "quiero darme de baja",
        "ne plus m'envoyer de messages",
        "Non voglio più ricevere messaggi",
        "Keine SMS mehr",
        "Meld mij af",
        "Não quero mais receber mensagens",
    ] {
        let c = classify(text);
        assert_eq!((c.class, c.tier), (Class::OptOut, Tier::Phrase), "{text:?}");
    }
}

#[test]
fn a_keyword_that_is_not_a_request_is_other() {
    for text in [
        "stop by the store at 5",
        "don't stop",
        "when does the sale stop?",
        "where is the bus stop",
        "can't stop smiling",
        "Liked \"Reply STOP to opt out\"",
        "Loved “Reply STOP to unsubscribe”",
        "Emphasized “Reply STOP to opt out”",
    ] {
        let c = classify(text);
        assert_eq!(
            (c.class, c.tier),
            (Class::Other, Tier::NotARequest),
            "{text:?}"
        );
    }
}

#[test]
fn a_negation_turns_an_opt_out_phrase_around() {
    assert_eq!(classify("please don't stop texting me").class, Class::Other);
    assert_eq!(classify("I don't want to unsubscribe").class, Class::Other);
    // ...but not a negation further away.
    assert_eq!(
        classify("why don't you stop texting me").class,
        Class::OptOut
    );
}

#[test]
fn words_that_only_contain_a_keyword_are_other() {
    for text in [
        "unstoppable",
        "nonstop",
        "It finally stopped raining",
        "Attendance",
    ] {
        assert_eq!(class_of(text), Class::Other, "{text:?}");
    }
}

#[test]
fn weak_keywords_inside_a_sentence_are_other() {
    for text in [
        "I need to cancel my appointment",
        "See you at the end of the week",
        "TD Bank is closed",
    ] {
        assert_eq!(classify(text), Classification::nothing(), "{text:?}");
    }
}

#[test]
fn a_strong_keyword_left_unexplained_in_a_sentence_is_unclear() {
    for text in [
        "STOP what?",
        "I want to stop but my wife doesn't",
        "Stop ACME",
    ] {
        let c = classify(text);
        assert_eq!(
            (c.class, c.tier),
            (Class::Unclear, Tier::Fallback),
            "{text:?}"
        );
    }
}

#[test]
fn a_keyboard_slip_of_stop_is_unclear_not_other() {
    for text in ["STPO", "Sotp", "tsop"] {
        let c = classify(text);
        assert_eq!(
            (c.class, c.tier),
            (Class::Unclear, Tier::Fallback),
            "{text:?}"
        );
        assert_eq!(c.matched.as_deref(), Some("stop"));
    }
}

#[test]
fn opt_out_and_opt_in_at_once_is_unclear() {
    assert_eq!(class_of("STOP START"), Class::Unclear);
}

#[test]
fn plain_chat_is_other() {
    for text in [
        "Thanks!",
        "What time do you open?",
        "👍",
        "",
        "   ",
        "NO",
        "Who is this?",
    ] {
        assert_eq!(classify(text), Classification::nothing(), "{text:?}");
    }
}

#[test]
fn a_custom_keyword_matches_after_normalising() {
    let c = Classifier::with_custom(&[custom(KeywordKind::OptOut, "Bye Acme")]);
    let got = c.classify("  bye, ACME!! ", false);
    assert_eq!((got.class, got.tier), (Class::OptOut, Tier::Custom));
    assert_eq!(got.matched.as_deref(), Some("bye acme"));
    assert_eq!(got.language, Some("en"));
    assert_eq!(c.classify("bye acme now", false).class, Class::Other);
}

#[test]
fn a_custom_opt_in_keyword_never_turns_stop_into_an_opt_in() {
    let c = Classifier::with_custom(&[
        custom(KeywordKind::OptIn, "stop"),
        custom(KeywordKind::OptIn, "stop texting me"),
        custom(KeywordKind::Help, "stop what"),
    ]);
    assert_eq!(c.classify("STOP", false).class, Class::OptOut);
    assert_eq!(c.classify("stop texting me", false).class, Class::OptOut);
    assert_eq!(c.classify("stop what?", false).class, Class::Unclear);
}

#[test]
fn a_custom_opt_in_keyword_works_where_nothing_built_in_applies() {
    let c = Classifier::with_custom(&[
        custom(KeywordKind::OptIn, "JOIN"),
        custom(KeywordKind::Help, "menu"),
    ]);
    assert_eq!(c.classify("join!", false).class, Class::OptIn);
    assert_eq!(c.classify("Menu", false).tier, Tier::Custom);
}

#[test]
fn the_same_custom_text_as_opt_out_and_opt_in_is_an_opt_out() {
    let c = Classifier::with_custom(&[
        custom(KeywordKind::OptIn, "later"),
        custom(KeywordKind::OptOut, "later"),
    ]);
    assert_eq!(c.classify("LATER", false).class, Class::OptOut);
}

#[test]
fn a_keyword_must_have_a_letter_and_at_most_forty_characters() {
    assert_eq!(Keyword::parse(" !! ").unwrap_err(), KeywordError::Empty);
    assert!(matches!(
        Keyword::parse(&"ab".repeat(21)),
        Err(KeywordError::TooLong { len: 42, max: 40 })
    ));
    assert!(Keyword::parse(&"ab".repeat(20)).is_ok());
    assert_eq!(
        Keyword::parse("  Désabonner! ").unwrap().as_str(),
        "desabonner"
    );
}

#[test]
fn codes_round_trip_through_as_str_parse_and_serde() {
    for c in Class::ALL {
        assert_eq!(Class::parse(c.as_str()).unwrap(), c);
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            format!("\"{}\"", c.as_str())
        );
    }
    for t in Tier::ALL {
        assert_eq!(Tier::parse(t.as_str()).unwrap(), t);
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            format!("\"{}\"", t.as_str())
        );
    }
    for k in KeywordKind::ALL {
        assert_eq!(KeywordKind::parse(k.as_str()).unwrap(), k);
    }
    assert!(Class::parse("optout").is_err());
    let kw = custom(KeywordKind::OptOut, "Bye!");
    let json = serde_json::to_string(&kw).unwrap();
    assert_eq!(
        json,
        r#"{"kind":"opt_out","language":"en","keyword":"bye"}"#
    );
    assert_eq!(serde_json::from_str::<CustomKeyword>(&json).unwrap(), kw);
    assert!(
        serde_json::from_str::<CustomKeyword>(
            r#"{"kind":"opt_out","language":"en","keyword":"!!"}"#
        )
        .is_err()
    );
}

#[test]
fn long_texts_spill_to_the_heap_and_still_classify() {
    let long = format!("{} please stop texting me", "blah ".repeat(400));
    assert_eq!(class_of(&long), Class::OptOut);
    let long_unclear = format!("{} stop", "word ".repeat(100));
    assert_eq!(class_of(&long_unclear), Class::Unclear);
}

const TIER1: &[(&str, Class)] = &[
    ("stop", Class::OptOut),
    ("unsubscribe", Class::OptOut),
    ("opt out", Class::OptOut),
    ("stop all", Class::OptOut),
    ("arrêt", Class::OptOut),
    ("baja", Class::OptOut),
    ("cancel", Class::OptOut),
    ("start", Class::OptIn),
    ("unstop", Class::OptIn),
    ("help", Class::Help),
    ("ayuda", Class::Help),
];

fn decoration() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just(" "),
            Just("\u{00A0}"),
            Just("\u{200B}"),
            Just("\u{FEFF}"),
            Just("!"),
            Just("."),
            Just("?"),
            Just(","),
            Just("\""),
            Just("*"),
            Just("😡"),
            Just("🛑"),
            Just("\t"),
            Just("\n"),
            Just("-"),
            Just("…"),
            Just("«"),
        ],
        0..6,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn case_spacing_and_punctuation_never_change_a_tier_one_keyword(
        pick in 0..TIER1.len(),
        upper in proptest::collection::vec(any::<bool>(), 16),
        before in decoration(),
        after in decoration(),
        repeat in 1usize..4,
    ) {
        let (word, class) = TIER1[pick];
        let cased: String = word
            .chars()
            .zip(upper.iter().cycle())
            .map(|(c, &u)| if u { c.to_uppercase().next().unwrap_or(c) } else { c })
            .collect();
        let text = format!("{before}{}{after}", vec![cased; repeat].join(" "));
        let got = Classifier::builtin().classify(&text, false);
        prop_assert_eq!(got.class, class, "{:?}", text);
        prop_assert_eq!(got.tier, Tier::Keyword, "{:?}", text);
    }

    #[test]
    fn normalising_is_idempotent(text in "\\PC{0,40}") {
        let once = normalize(&text);
        prop_assert_eq!(normalize(&once), once.clone());
        prop_assert!(!once.starts_with(' ') && !once.ends_with(' ') && !once.contains("  "));
    }

    #[test]
    fn any_text_is_classified_without_panicking(text in "\\PC{0,80}", opted_out in any::<bool>()) {
        let got = Classifier::builtin().classify(&text, opted_out);
        // A decision names what decided it, except when nothing did.
        prop_assert_eq!(got.matched.is_none(), got.tier == Tier::Fallback && got.class == Class::Other);
    }
}
