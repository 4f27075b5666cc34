//! SMS text rules for campaigns (SPEC 3.3 footer, 3.7): the sender id, the alphabet and
//! segment count the preview shows, the opt-out footer, and personalisation fields.
//!
//! Everything here is a pure function of the text; it does not know about contacts, accounts
//! or providers. The campaign code runs, in order: [`Template::parse`] on the text as written,
//! [`with_footer`] on that text (once per campaign, so every recipient gets the same
//! decision), [`check_length`] on the result and on each rendered message.
//!
//! The submodules hold the rules and their sources; their items are re-exported here, and
//! callers use these paths (`sms::segments`, `sms::SenderId`).

pub mod footer;
pub mod gsm;
pub mod sender;
pub mod template;

pub use footer::{has_optout_instruction, with_footer};
pub use gsm::{
    Encoding, Segments, encoding_of, gsm7_septets, gsm7_unrepresentable, segments, split_segments,
};
pub use sender::{SenderId, SenderIdError};
pub use template::{CAMPAIGN_FIELDS, Template, TemplateError};

/// Why a message cannot be sent as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LengthError {
    #[error("the message is empty")]
    Empty,
    #[error("the message is {segments} segments ({encoding}); the limit is {max}")]
    TooLong {
        segments: usize,
        max: usize,
        encoding: Encoding,
    },
}

impl LengthError {
    /// A stable machine code for the error kind.
    pub fn code(&self) -> &'static str {
        match self {
            LengthError::Empty => "empty",
            LengthError::TooLong { .. } => "too_long",
        }
    }
}

/// Counts `text` (see [`segments`]) and refuses it when it is empty or needs more than
/// `max_segments` segments.
pub fn check_length(text: &str, max_segments: usize) -> Result<Segments, LengthError> {
    let counted = segments(text);
    if counted.segments == 0 {
        Err(LengthError::Empty)
    } else if counted.segments > max_segments {
        Err(LengthError::TooLong {
            segments: counted.segments,
            max: max_segments,
            encoding: counted.encoding,
        })
    } else {
        Ok(counted)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_message_within_the_limit_is_counted() {
        let counted = check_length(&"a".repeat(306), 2).unwrap();
        assert_eq!(counted.segments, 2);
    }

    #[test]
    fn a_message_over_the_limit_says_how_long_it_is_and_in_which_alphabet() {
        let e = check_length(&"я".repeat(71), 1).unwrap_err();
        assert_eq!(
            e,
            LengthError::TooLong {
                segments: 2,
                max: 1,
                encoding: Encoding::Ucs2
            }
        );
        assert_eq!(
            e.to_string(),
            "the message is 2 segments (UCS-2); the limit is 1"
        );
        assert_eq!(e.code(), "too_long");
    }

    #[test]
    fn an_empty_message_is_refused() {
        assert_eq!(check_length("", 3), Err(LengthError::Empty));
    }
}
