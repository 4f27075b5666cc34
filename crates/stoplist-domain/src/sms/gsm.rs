//! GSM-7 and UCS-2: which alphabet a message needs and how many SMS segments it costs.
//!
//! The alphabet is the GSM 03.38 (3GPP TS 23.038) default alphabet: 127 characters of one
//! septet each (the 128th code, 0x1B, is the escape), and the extension table, whose
//! characters are sent as escape + character and so cost two septets: form feed,
//! `^ { } \ [ ~ ] |` and `€`. A text made only of those characters is sent as GSM-7; any other
//! character makes the whole message UCS-2 (in practice UTF-16: an astral character such as an
//! emoji is a surrogate pair and costs two units).
//!
//! A single SMS carries 160 septets or 70 UTF-16 units. A longer message is concatenated and
//! each part gives up room to the user data header: 153 septets or 67 units per part. A part
//! never ends between an escape and its character, nor between the two halves of a surrogate
//! pair: such a character moves whole to the next part, leaving one unit unused. Empty text is
//! zero segments.
//!
//! National language shift tables (Turkish, Spanish, Portuguese, Indian languages) are not
//! used: providers rarely send them, so a text that needs them is counted as UCS-2.

use serde::Serialize;
use std::fmt;

/// The alphabet a message is sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// The GSM 03.38 default alphabet and its extension table, in septets.
    Gsm7,
    /// UCS-2 (UTF-16 in practice), in 16-bit code units.
    Ucs2,
}

impl Encoding {
    /// The stable machine name: `"gsm7"` or `"ucs2"` (also the serde form).
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Gsm7 => "gsm7",
            Encoding::Ucs2 => "ucs2",
        }
    }

    /// Units in a message that fits one SMS: 160 septets or 70 UTF-16 units.
    pub fn single_limit(self) -> usize {
        match self {
            Encoding::Gsm7 => 160,
            Encoding::Ucs2 => 70,
        }
    }

    /// Units in each part of a concatenated message: 153 septets or 67 UTF-16 units (the
    /// 6-byte user data header takes the rest).
    pub fn part_limit(self) -> usize {
        match self {
            Encoding::Gsm7 => 153,
            Encoding::Ucs2 => 67,
        }
    }

    /// What `c` costs in this encoding: septets for GSM-7 (`None` when `c` is not in the
    /// alphabet), UTF-16 code units for UCS-2 (always `Some`).
    pub fn cost(self, c: char) -> Option<usize> {
        match self {
            Encoding::Gsm7 => gsm7_septets(c),
            Encoding::Ucs2 => Some(c.len_utf16()),
        }
    }
}

impl fmt::Display for Encoding {
    /// The human name, as the preview shows it: `GSM-7` or `UCS-2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Encoding::Gsm7 => "GSM-7",
            Encoding::Ucs2 => "UCS-2",
        })
    }
}

/// The septets `c` costs in GSM-7: 1 for the default alphabet, 2 for the extension table
/// (escape + character), `None` when GSM-7 cannot carry it.
pub fn gsm7_septets(c: char) -> Option<usize> {
    match c {
        // 0x00-0x0F (0x0A is line feed, 0x0D carriage return).
        '@' | '£' | '$' | '¥' | 'è' | 'é' | 'ù' | 'ì' | 'ò' | 'Ç' | '\n' | 'Ø' | 'ø' | '\r'
        | 'Å' | 'å'
        // 0x10-0x1F, without 0x1B (the escape itself).
        | 'Δ' | '_' | 'Φ' | 'Γ' | 'Λ' | 'Ω' | 'Π' | 'Ψ' | 'Σ' | 'Θ' | 'Ξ' | 'Æ' | 'æ' | 'ß'
        | 'É'
        // 0x20-0x3F: ASCII punctuation and digits, except that 0x24 is '¤' and '$' sits at 0x02.
        | ' ' | '!' | '"' | '#' | '¤' | '%' | '&' | '\'' | '(' | ')' | '*' | '+' | ',' | '-'
        | '.' | '/' | '0'..='9' | ':' | ';' | '<' | '=' | '>' | '?'
        // 0x40-0x5F.
        | '¡' | 'A'..='Z' | 'Ä' | 'Ö' | 'Ñ' | 'Ü' | '§'
        // 0x60-0x7F.
        | '¿' | 'a'..='z' | 'ä' | 'ö' | 'ñ' | 'ü' | 'à' => Some(1),
        // The extension table: form feed, ^ { } \ [ ~ ] | €.
        '\u{0C}' | '^' | '{' | '}' | '\\' | '[' | '~' | ']' | '|' | '€' => Some(2),
        _ => None,
    }
}

/// The encoding `text` needs: GSM-7 when every character is in the GSM 03.38 default or
/// extension table (empty text included), UCS-2 otherwise.
pub fn encoding_of(text: &str) -> Encoding {
    if text.chars().all(|c| gsm7_septets(c).is_some()) {
        Encoding::Gsm7
    } else {
        Encoding::Ucs2
    }
}

/// The characters of `text` that GSM-7 cannot carry, each once, in order of first appearance:
/// what the preview names when it says "these characters make the message UCS-2". Empty
/// exactly when the message is GSM-7.
pub fn gsm7_unrepresentable(text: &str) -> Vec<char> {
    let mut found: Vec<char> = Vec::new();
    for c in text.chars() {
        if gsm7_septets(c).is_none() && !found.contains(&c) {
            found.push(c);
        }
    }
    found
}

/// What a message costs to send.
///
/// Invariants: `segments == 0` exactly when the text is empty; `segments == 1` exactly when
/// `0 < units <= encoding.single_limit()`; `per_segment` is the single-SMS limit for 0 or 1
/// segments and the concatenated-part limit otherwise; `remaining_in_segment` is the room left
/// in the last segment (`per_segment` for empty text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Segments {
    pub encoding: Encoding,
    /// Septets for GSM-7 (extension characters count 2), UTF-16 code units for UCS-2.
    pub units: usize,
    /// Unicode scalar values (what Rust calls `char`s).
    pub characters: usize,
    pub segments: usize,
    pub per_segment: usize,
    pub remaining_in_segment: usize,
}

/// Counts the encoding, units and SMS segments of `text` (see the module documentation for
/// the rules).
pub fn segments(text: &str) -> Segments {
    let encoding = encoding_of(text);
    let mut units = 0;
    let mut characters = 0;
    for c in text.chars() {
        units += unit_cost(encoding, c);
        characters += 1;
    }
    let single = encoding.single_limit();
    let (segments, per_segment, used_in_last) = if units == 0 {
        (0, single, 0)
    } else if units <= single {
        (1, single, units)
    } else {
        let part = encoding.part_limit();
        let mut count = 1;
        let used = pack(text, encoding, |_| count += 1);
        (count, part, used)
    };
    Segments {
        encoding,
        units,
        characters,
        segments,
        per_segment,
        remaining_in_segment: per_segment - used_in_last,
    }
}

/// Splits `text` into the parts it is sent as: one part for a text that fits one SMS, none
/// for empty text, otherwise concatenated parts cut by the same rule as [`segments`] (so
/// `split_segments(t).len() == segments(t).segments` and the parts join back to `t`).
pub fn split_segments(text: &str) -> Vec<&str> {
    let counted = segments(text);
    match counted.segments {
        0 => Vec::new(),
        1 => vec![text],
        _ => {
            let mut parts = Vec::with_capacity(counted.segments);
            let mut start = 0;
            pack(text, counted.encoding, |at| {
                parts.push(&text[start..at]);
                start = at;
            });
            parts.push(&text[start..]);
            parts
        }
    }
}

/// The cost of `c` in `encoding`, for a character already known to fit that encoding.
fn unit_cost(encoding: Encoding, c: char) -> usize {
    // `encoding` came from `encoding_of` over the same text, so GSM-7 costs are always known;
    // 1 is never used but keeps this total without a panic.
    encoding.cost(c).unwrap_or(1)
}

/// Packs `text` greedily into concatenated parts of `encoding.part_limit()` units, calling
/// `on_break(byte_offset)` where each new part starts; returns the units used in the last
/// part. A character that does not fit whole starts the next part.
fn pack(text: &str, encoding: Encoding, mut on_break: impl FnMut(usize)) -> usize {
    let limit = encoding.part_limit();
    let mut used = 0;
    for (at, c) in text.char_indices() {
        let cost = unit_cost(encoding, c);
        if used + cost > limit {
            on_break(at);
            used = 0;
        }
        used += cost;
    }
    used
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn gsm(n: usize) -> String {
        "a".repeat(n)
    }

    #[test]
    fn empty_text_is_zero_segments() {
        let s = segments("");
        assert_eq!((s.segments, s.units, s.characters), (0, 0, 0));
        assert_eq!(s.encoding, Encoding::Gsm7);
        assert_eq!(s.remaining_in_segment, 160);
    }

    #[test]
    fn one_hundred_sixty_gsm_characters_are_one_segment() {
        let s = segments(&gsm(160));
        assert_eq!((s.encoding, s.units, s.segments), (Encoding::Gsm7, 160, 1));
        assert_eq!((s.per_segment, s.remaining_in_segment), (160, 0));
    }

    #[test]
    fn one_hundred_sixty_one_gsm_characters_are_two_segments() {
        let s = segments(&gsm(161));
        assert_eq!((s.segments, s.per_segment), (2, 153));
        assert_eq!(s.remaining_in_segment, 153 * 2 - 161);
    }

    #[test]
    fn three_hundred_six_gsm_characters_are_two_segments_and_307_are_three() {
        assert_eq!(segments(&gsm(306)).segments, 2);
        assert_eq!(segments(&gsm(306)).remaining_in_segment, 0);
        assert_eq!(segments(&gsm(307)).segments, 3);
    }

    #[test]
    fn seventy_ucs2_units_are_one_segment_and_71_are_two() {
        // 'я' is Cyrillic: not GSM-7, one UTF-16 unit.
        let s70 = segments(&"я".repeat(70));
        assert_eq!(
            (s70.encoding, s70.units, s70.segments),
            (Encoding::Ucs2, 70, 1)
        );
        let s71 = segments(&"я".repeat(71));
        assert_eq!((s71.segments, s71.per_segment), (2, 67));
        assert_eq!(segments(&"я".repeat(134)).segments, 2);
        assert_eq!(segments(&"я".repeat(135)).segments, 3);
    }

    #[test]
    fn one_emoji_makes_the_message_ucs2_and_counts_two_units() {
        let s = segments("Sale today 😀");
        assert_eq!(s.encoding, Encoding::Ucs2);
        assert_eq!(s.units, 11 + 2);
        assert_eq!(s.characters, 12);
        assert_eq!(gsm7_unrepresentable("Sale today 😀 😀"), vec!['😀']);
    }

    #[test]
    fn euro_sign_counts_two_septets_and_stays_gsm7() {
        let s = segments("Only 5€");
        assert_eq!((s.encoding, s.units, s.characters), (Encoding::Gsm7, 8, 7));
    }

    #[test]
    fn every_extension_character_counts_two_septets() {
        for c in ['\u{0C}', '^', '{', '}', '\\', '[', '~', ']', '|', '€'] {
            assert_eq!(gsm7_septets(c), Some(2), "{c:?}");
        }
    }

    #[test]
    fn the_default_alphabet_has_127_characters_of_one_septet() {
        let ones = (0..=0x3FF_u32)
            .filter_map(char::from_u32)
            .filter(|&c| gsm7_septets(c) == Some(1))
            .count();
        assert_eq!(ones, 127);
    }

    #[test]
    fn backtick_and_smart_quotes_are_not_gsm7() {
        assert_eq!(
            gsm7_unrepresentable("it’s `x` “y”"),
            vec!['’', '`', '“', '”']
        );
        assert_eq!(gsm7_unrepresentable("Café £5 ¿Qué? Ñandú ÄÖÜ ß"), vec!['ú']);
        assert!(gsm7_unrepresentable("Café £5 ¿Que? Ñ ÄÖÜ ß éèùìò").is_empty());
    }

    #[test]
    fn an_extension_character_at_a_part_boundary_moves_to_the_next_part() {
        // 152 septets, then '€' (2): it cannot take the last septet of part one.
        let text = format!("{}€{}", gsm(152), gsm(10));
        let s = segments(&text);
        assert_eq!(s.units, 164);
        assert_eq!(s.segments, 2);
        assert_eq!(s.remaining_in_segment, 153 - 12);
        let parts = split_segments(&text);
        assert_eq!(parts[0], gsm(152));
        assert!(parts[1].starts_with('€'));
    }

    #[test]
    fn an_extension_character_can_tip_a_message_into_one_more_segment() {
        // 305 septets of text would fit two parts exactly if '€' could be split.
        let text = format!("{}€{}", gsm(152), gsm(152));
        let s = segments(&text);
        assert_eq!(s.units, 306);
        assert_eq!(s.segments, 3);
    }

    #[test]
    fn a_surrogate_pair_at_a_part_boundary_moves_to_the_next_part() {
        let text = format!("{}😀{}", "я".repeat(66), "я".repeat(5));
        let s = segments(&text);
        assert_eq!((s.units, s.segments), (73, 2));
        assert_eq!(s.remaining_in_segment, 67 - 7);
        assert_eq!(split_segments(&text)[0], "я".repeat(66));
    }

    #[test]
    fn encoding_names_are_stable() {
        assert_eq!(Encoding::Gsm7.as_str(), "gsm7");
        assert_eq!(Encoding::Ucs2.to_string(), "UCS-2");
    }
}
