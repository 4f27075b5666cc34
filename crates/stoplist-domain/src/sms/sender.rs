//! The sender id a campaign is sent from: an alphanumeric id or a phone number, parsed once
//! when the campaign is saved so that a provider never sees one it would reject or rewrite.
//!
//! Rules, as the providers document them:
//! - Twilio: "up to 11 characters … upper- and lower-case ASCII letters, the digits 0 through
//!   9, and space … may not be only numbers" (<https://www.twilio.com/docs/glossary/what-alphanumeric-sender-id>,
//!   error 21709 at <https://www.twilio.com/docs/api/errors/21709>). Telnyx and Plivo document
//!   the same set.
//! - Vonage: numeric senders are "a telephone number of up to 15 digits … in international
//!   format"; alphanumeric senders "a string of up to 11 supported characters" that "cannot
//!   contain spaces" (<https://developer.vonage.com/messaging/sms/guides/custom-sender-id>).
//!   Spaces are allowed here (Twilio, SMSGlobal and carriers accept them); the Vonage connector
//!   must drop them itself.
//! - SMSGlobal's `origin` takes a sender id, a virtual number or nothing (shared pool)
//!   (<https://knowledgebase.smsglobal.com/en/articles/5431482-rest-api-sample-requests>).
//!
//! So: 1 to 11 characters of A-Z, a-z, 0-9 and space with at least one letter (all of them in
//! the GSM 03.38 default alphabet, so the handset shows them as typed); or a number: `+` and
//! 7 to 15 digits (E.164, country code not starting with 0), or 3 to 15 digits without `+`
//! (short codes, or numbers the provider reads as international). Numbers are written without
//! separators: "12 34" is neither a number nor an alphanumeric id.

use serde::Serialize;
use std::fmt;

/// A sender id that every supported provider accepts as written (see the module docs).
/// Surrounding white space is trimmed; otherwise it is kept exactly as typed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct SenderId(String);

/// Why a sender id was refused. Positions are 1-based character positions in the trimmed
/// input, as a person counts them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SenderIdError {
    #[error("the sender id is empty")]
    Empty,
    #[error(
        "the sender id is {len} characters long; an alphanumeric sender id has at most {max}",
        max = SenderId::MAX_ALPHANUMERIC
    )]
    TooLong { len: usize },
    #[error(
        "{ch:?} (character {position}) is not allowed in a sender id: an alphanumeric id uses \
         A-Z, a-z, 0-9 and spaces; a number is digits with an optional leading +"
    )]
    BadCharacter { ch: char, position: usize },
    #[error(
        "an alphanumeric sender id needs at least one letter (a phone number is written \
         without spaces)"
    )]
    NoLetter,
    #[error("a sender number has at least {min} digits; this one has {digits}")]
    NumberTooShort { digits: usize, min: usize },
    #[error(
        "a sender number has at most {max} digits; this one has {digits}",
        max = SenderId::MAX_DIGITS
    )]
    NumberTooLong { digits: usize },
    #[error("an international number cannot start with +0: country codes never start with 0")]
    BadCountryCode,
}

impl SenderIdError {
    /// A stable machine code for the error kind (for APIs and import reports).
    pub fn code(&self) -> &'static str {
        match self {
            SenderIdError::Empty => "empty",
            SenderIdError::TooLong { .. } => "too_long",
            SenderIdError::BadCharacter { .. } => "bad_character",
            SenderIdError::NoLetter => "no_letter",
            SenderIdError::NumberTooShort { .. } => "number_too_short",
            SenderIdError::NumberTooLong { .. } => "number_too_long",
            SenderIdError::BadCountryCode => "bad_country_code",
        }
    }
}

impl SenderId {
    /// Most characters in an alphanumeric sender id (the GSM TP-OA field holds 11).
    pub const MAX_ALPHANUMERIC: usize = 11;
    /// Most digits in a number (E.164).
    pub const MAX_DIGITS: usize = 15;
    /// Fewest digits after `+`: the shortest E.164 numbers (e.g. Niue, +683 and 4 digits).
    pub const MIN_INTERNATIONAL_DIGITS: usize = 7;
    /// Fewest digits without `+`: short codes.
    pub const MIN_DIGITS: usize = 3;

    /// Parses a sender id typed by a user; see the module docs for the rules.
    pub fn parse(raw: &str) -> Result<SenderId, SenderIdError> {
        let text = raw.trim();
        if text.is_empty() {
            return Err(SenderIdError::Empty);
        }
        if let Some(digits) = text.strip_prefix('+') {
            check_digits(digits, 2)?;
            if digits.starts_with('0') {
                return Err(SenderIdError::BadCountryCode);
            }
            check_digit_count(digits.len(), Self::MIN_INTERNATIONAL_DIGITS)?;
        } else if text.bytes().all(|b| b.is_ascii_digit()) {
            check_digit_count(text.len(), Self::MIN_DIGITS)?;
        } else {
            if let Some((index, ch)) = text
                .chars()
                .enumerate()
                .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == ' '))
            {
                return Err(SenderIdError::BadCharacter {
                    ch,
                    position: index + 1,
                });
            }
            // Only ASCII is left, so bytes are characters.
            if text.len() > Self::MAX_ALPHANUMERIC {
                return Err(SenderIdError::TooLong { len: text.len() });
            }
            if !text.bytes().any(|b| b.is_ascii_alphabetic()) {
                return Err(SenderIdError::NoLetter);
            }
        }
        Ok(SenderId(text.to_owned()))
    }

    /// The sender id as the provider receives it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for an alphanumeric id (it has a letter): recipients cannot reply to it, so a
    /// "Reply STOP" footer needs another way out in countries that require one.
    pub fn is_alphanumeric(&self) -> bool {
        self.0.bytes().any(|b| b.is_ascii_alphabetic())
    }
}

/// Every character of `digits` is an ASCII digit; `first_position` is the 1-based position
/// of its first character in the sender id.
fn check_digits(digits: &str, first_position: usize) -> Result<(), SenderIdError> {
    match digits
        .chars()
        .enumerate()
        .find(|(_, c)| !c.is_ascii_digit())
    {
        Some((index, ch)) => Err(SenderIdError::BadCharacter {
            ch,
            position: first_position + index,
        }),
        None => Ok(()),
    }
}

fn check_digit_count(digits: usize, min: usize) -> Result<(), SenderIdError> {
    if digits < min {
        Err(SenderIdError::NumberTooShort { digits, min })
    } else if digits > SenderId::MAX_DIGITS {
        Err(SenderIdError::NumberTooLong { digits })
    } else {
        Ok(())
    }
}

impl fmt::Display for SenderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<&str> for SenderId {
    type Error = SenderIdError;
    fn try_from(raw: &str) -> Result<Self, Self::Error> {
        SenderId::parse(raw)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn err(raw: &str) -> SenderIdError {
        match SenderId::parse(raw) {
            Ok(id) => panic!("{raw:?} was accepted as {id:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn a_brand_name_is_an_alphanumeric_sender_id() {
        let id = SenderId::parse("MyShop").unwrap();
        assert_eq!(id.as_str(), "MyShop");
        assert!(id.is_alphanumeric());
    }

    #[test]
    fn eleven_characters_with_spaces_and_digits_are_allowed() {
        let id = SenderId::parse("  Shop 24 7a ").unwrap();
        assert_eq!(id.as_str(), "Shop 24 7a");
        assert!(SenderId::parse("ABCDEFGHIJK").is_ok());
    }

    #[test]
    fn twelve_characters_are_too_long() {
        let e = err("ABCDEFGHIJKL");
        assert_eq!(e, SenderIdError::TooLong { len: 12 });
        assert_eq!(e.code(), "too_long");
        assert!(e.to_string().contains("at most 11"));
    }

    #[test]
    fn an_e164_number_is_a_sender_id() {
        let id = SenderId::parse("+61412345678").unwrap();
        assert_eq!(id.as_str(), "+61412345678");
        assert!(!id.is_alphanumeric());
    }

    #[test]
    fn digits_without_plus_are_a_number_or_short_code() {
        assert!(SenderId::parse("61412345678").is_ok());
        assert!(SenderId::parse("0412345678").is_ok());
        assert!(SenderId::parse("787").is_ok());
        assert_eq!(
            err("78"),
            SenderIdError::NumberTooShort { digits: 2, min: 3 }
        );
        assert_eq!(
            err("1234567890123456"),
            SenderIdError::NumberTooLong { digits: 16 }
        );
    }

    #[test]
    fn digits_separated_by_spaces_are_refused_for_want_of_a_letter() {
        let e = err("12 34");
        assert_eq!(e, SenderIdError::NoLetter);
        assert!(e.to_string().contains("without spaces"));
    }

    #[test]
    fn accented_letters_are_refused_with_their_position() {
        let e = err("Café");
        assert_eq!(
            e,
            SenderIdError::BadCharacter {
                ch: 'é',
                position: 4
            }
        );
        assert_eq!(e.code(), "bad_character");
        assert!(e.to_string().contains("character 4"));
    }

    #[test]
    fn punctuation_is_refused() {
        assert_eq!(err("My-Shop").code(), "bad_character");
        assert_eq!(err("Shop&Co").code(), "bad_character");
    }

    #[test]
    fn a_plus_number_must_be_all_digits_and_long_enough() {
        assert_eq!(
            err("+61 412 345 678"),
            SenderIdError::BadCharacter {
                ch: ' ',
                position: 4
            }
        );
        assert_eq!(err("+Shop").code(), "bad_character");
        assert_eq!(err("+").code(), "number_too_short");
        assert_eq!(err("+683400").code(), "number_too_short");
        assert!(SenderId::parse("+6834002").is_ok());
        assert_eq!(err("+0412345678"), SenderIdError::BadCountryCode);
        assert_eq!(err("+1234567890123456").code(), "number_too_long");
    }

    #[test]
    fn blank_input_is_empty() {
        assert_eq!(err("   "), SenderIdError::Empty);
    }
}
