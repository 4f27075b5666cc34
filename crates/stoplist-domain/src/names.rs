//! Validated free-text values: group names, contact fields, reasons. Each is parsed once at
//! the edge (API, web form, CLI) and cannot be built invalid.

use serde::Serialize;
use std::fmt;

/// What is wrong with a text value; `field` names the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("{field} must not be empty")]
    Empty { field: &'static str },
    #[error("{field} is too long ({len} characters; at most {max})")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{field} contains a control character")]
    ControlCharacter { field: &'static str },
    #[error("{field} is not {expected}")]
    Invalid {
        field: &'static str,
        expected: &'static str,
    },
}

impl TextError {
    /// The field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            TextError::Empty { field }
            | TextError::TooLong { field, .. }
            | TextError::ControlCharacter { field }
            | TextError::Invalid { field, .. } => field,
        }
    }
}

/// Trims `raw` and checks it is 1..=`max` characters with no control characters
/// (newlines and tabs included: these values are single-line).
pub fn single_line(raw: &str, field: &'static str, max: usize) -> Result<String, TextError> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(TextError::Empty { field });
    }
    let len = text.chars().count();
    if len > max {
        return Err(TextError::TooLong { field, len, max });
    }
    if text.chars().any(char::is_control) {
        return Err(TextError::ControlCharacter { field });
    }
    Ok(text.to_owned())
}

/// Like [`single_line`] but an empty value is allowed and becomes `None`.
pub fn optional_line(
    raw: Option<&str>,
    field: &'static str,
    max: usize,
) -> Result<Option<String>, TextError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => single_line(text, field, max).map(Some),
    }
}

/// A group's name: trimmed, 1 to 100 characters, one line. Unique per account (the store
/// enforces that, case-insensitively).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct GroupName(String);

impl GroupName {
    pub const MAX: usize = 100;

    pub fn parse(raw: &str) -> Result<GroupName, TextError> {
        single_line(raw, "name", Self::MAX).map(GroupName)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for GroupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why someone lifted an opt-out (or reset one by import): required, kept as evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Reason(String);

impl Reason {
    pub const MAX: usize = 500;

    pub fn parse(raw: &str) -> Result<Reason, TextError> {
        single_line(raw, "reason", Self::MAX).map(Reason)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The fields of a contact besides its number, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ContactFields {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
}

impl ContactFields {
    pub const MAX: usize = 200;

    /// Validates each field (trimmed, one line, at most 200 characters; an email must hold
    /// one `@` with text on both sides).
    pub fn parse(
        first_name: Option<&str>,
        last_name: Option<&str>,
        email: Option<&str>,
    ) -> Result<ContactFields, TextError> {
        let email = optional_line(email, "email", Self::MAX)?;
        if let Some(e) = &email {
            let ok = matches!(e.split_once('@'), Some((l, d)) if !l.is_empty() && !d.is_empty() && !d.contains('@') && !e.contains(' '));
            if !ok {
                return Err(TextError::Invalid {
                    field: "email",
                    expected: "an email address",
                });
            }
        }
        Ok(ContactFields {
            first_name: optional_line(first_name, "first_name", Self::MAX)?,
            last_name: optional_line(last_name, "last_name", Self::MAX)?,
            email,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn group_names_are_trimmed_and_bounded() {
        assert_eq!(GroupName::parse("  VIP  ").map(|n| n.0), Ok("VIP".into()));
        assert_eq!(
            GroupName::parse("   "),
            Err(TextError::Empty { field: "name" })
        );
        assert!(matches!(
            GroupName::parse(&"x".repeat(101)),
            Err(TextError::TooLong { len: 101, .. })
        ));
        assert_eq!(
            GroupName::parse("a\nb"),
            Err(TextError::ControlCharacter { field: "name" })
        );
    }

    #[test]
    fn empty_contact_fields_become_none_and_bad_emails_are_refused() {
        let f = ContactFields::parse(Some(" Ann "), Some(""), None).map(|f| f.first_name);
        assert_eq!(f, Ok(Some("Ann".into())));
        assert!(ContactFields::parse(None, None, Some("not-an-email")).is_err());
        assert!(ContactFields::parse(None, None, Some("a@b.example")).is_ok());
    }
}
