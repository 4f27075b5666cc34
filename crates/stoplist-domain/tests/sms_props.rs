//! Properties of the SMS text rules on generated texts: segment counts agree with the
//! per-character costs and with the actual split, the footer always leaves an instruction
//! and is idempotent, escaped text survives a template, parsed sender ids re-parse.
//!
//! `SMS_PROP_CASES` sets the number of generated cases per property (default 2,000).

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use stoplist_domain::sms::{
    Encoding, SenderId, Template, encoding_of, gsm7_septets, gsm7_unrepresentable,
    has_optout_instruction, segments, split_segments, with_footer,
};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("SMS_PROP_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2_000),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Characters weighted towards the edges: plain GSM, extension characters (2 septets),
/// astral characters (surrogate pairs), and anything at all.
fn sms_char() -> impl Strategy<Value = char> {
    prop_oneof![
        8 => prop::sample::select(
            "abcXYZ 019.,!?@£$¥èéÇ\nΔ_ÆßÉ¡ÄÖÑÜ§¿äöñüà".chars().collect::<Vec<_>>()
        ),
        2 => prop::sample::select(vec!['€', '^', '{', '}', '\\', '[', '~', ']', '|', '\u{0C}']),
        1 => prop::sample::select(vec!['😀', '𝄞', '🇦', 'я', '’', '`', 'ç']),
        1 => any::<char>(),
    ]
}

/// Mostly GSM-only texts (so GSM-7 boundaries get exercised), some mixed.
fn sms_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::collection::vec(sms_char().prop_filter("gsm", |c| gsm7_septets(*c).is_some()), 0..480),
        1 => prop::collection::vec(sms_char(), 0..240),
    ]
    .prop_map(|chars| chars.into_iter().collect())
}

fn cost(encoding: Encoding, c: char) -> usize {
    match encoding {
        Encoding::Gsm7 => gsm7_septets(c).unwrap(),
        Encoding::Ucs2 => c.len_utf16(),
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn units_are_the_sum_of_per_character_costs(text in sms_text()) {
        let s = segments(&text);
        prop_assert_eq!(s.encoding, encoding_of(&text));
        prop_assert_eq!(s.units, text.chars().map(|c| cost(s.encoding, c)).sum::<usize>());
        prop_assert_eq!(s.characters, text.chars().count());
    }

    #[test]
    fn segment_count_is_within_the_bounds_the_limits_allow(text in sms_text()) {
        let s = segments(&text);
        let single = s.encoding.single_limit();
        let part = s.encoding.part_limit();
        if s.units == 0 {
            prop_assert_eq!(s.segments, 0);
        } else if s.units <= single {
            prop_assert_eq!((s.segments, s.per_segment), (1, single));
            prop_assert_eq!(s.remaining_in_segment, single - s.units);
        } else {
            prop_assert_eq!(s.per_segment, part);
            // At least as many parts as the units need; a part loses at most one unit to a
            // two-unit character that did not fit.
            prop_assert!(s.segments >= s.units.div_ceil(part));
            prop_assert!(s.segments <= s.units.div_ceil(part - 1));
            prop_assert!(s.remaining_in_segment < part);
        }
    }

    #[test]
    fn the_parts_join_back_to_the_text_and_each_fits_its_segment(text in sms_text()) {
        let s = segments(&text);
        let parts = split_segments(&text);
        prop_assert_eq!(parts.len(), s.segments);
        prop_assert_eq!(parts.concat(), text.clone());
        for (i, p) in parts.iter().enumerate() {
            let units: usize = p.chars().map(|c| cost(s.encoding, c)).sum();
            prop_assert!(units <= s.per_segment);
            prop_assert!(units > 0);
            if i + 1 < parts.len() {
                // A part is cut only where the next character would not fit.
                let next = parts[i + 1].chars().next().unwrap();
                prop_assert!(units + cost(s.encoding, next) > s.per_segment);
            } else {
                prop_assert_eq!(s.remaining_in_segment, s.per_segment - units);
            }
        }
    }

    #[test]
    fn the_message_is_gsm7_exactly_when_no_character_is_unrepresentable(text in sms_text()) {
        let bad = gsm7_unrepresentable(&text);
        prop_assert_eq!(bad.is_empty(), segments(&text).encoding == Encoding::Gsm7);
        for (i, c) in bad.iter().enumerate() {
            prop_assert!(gsm7_septets(*c).is_none());
            prop_assert!(!bad[..i].contains(c));
        }
    }

    #[test]
    fn a_footed_message_always_carries_an_instruction_and_footing_is_idempotent(
        text in sms_text()
    ) {
        let footer = "Reply STOP to opt out";
        let once = with_footer(&text, footer, true);
        prop_assert!(has_optout_instruction(&once));
        prop_assert_eq!(with_footer(&once, footer, true), once.clone());
        prop_assert!(once.starts_with(text.trim_end()));
        prop_assert_eq!(with_footer(&text, footer, false), text);
    }

    #[test]
    fn escaped_text_renders_back_to_itself(text in sms_text()) {
        let escaped = text.replace('{', "{{").replace('}', "}}");
        let t = Template::parse(&escaped).unwrap();
        prop_assert!(!t.is_personalised());
        prop_assert_eq!(t.render(|_| Some("x".into())), text);
    }

    #[test]
    fn an_accepted_sender_id_parses_to_itself(raw in "[ +]?[A-Za-z0-9 +é-]{0,16}") {
        if let Ok(id) = SenderId::parse(&raw) {
            prop_assert_eq!(SenderId::parse(id.as_str()).unwrap(), id.clone());
            if id.is_alphanumeric() {
                prop_assert!(id.as_str().len() <= SenderId::MAX_ALPHANUMERIC);
                prop_assert!(id.as_str().chars().all(|c| c.is_ascii_alphanumeric() || c == ' '));
            } else {
                let digits = id.as_str().trim_start_matches('+');
                prop_assert!(digits.bytes().all(|b| b.is_ascii_digit()));
                prop_assert!((3..=15).contains(&digits.len()));
            }
        }
    }
}
