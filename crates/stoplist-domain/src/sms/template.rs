//! Personalised message text: a campaign text with fields filled in per recipient.
//!
//! Syntax: a field is a name in braces, `{first_name}`. Campaign fields are `first_name`,
//! `last_name`, `email`, `mobile` (names are case-insensitive, white space inside the braces
//! is ignored) and `{custom:NAME}` for a contact's custom column NAME (1 to 64 letters,
//! digits, spaces, `_` or `-`, kept as written). `{{` is a literal `{` and `}}` a literal `}`;
//! a lone `}`, an unclosed `{`, an empty `{}` and an unknown name are errors that name the
//! position (1-based, in characters). A field whose value is missing renders as nothing: the
//! text around it is left as written ("Hi {first_name}," becomes "Hi ,"), so a sender who
//! wants a fallback writes it into the contact data.
//!
//! The account texts of SPEC 3.3 use the same syntax with their own field set
//! (`{sender}`): [`Template::parse_with_fields`].

/// The fields a campaign text may use, besides `custom:NAME`.
pub const CAMPAIGN_FIELDS: &[&str] = &["first_name", "last_name", "email", "mobile"];

/// The prefix of a custom field (`{custom:NAME}`).
const CUSTOM_PREFIX: &str = "custom:";

/// Most characters in a custom field's NAME.
const MAX_CUSTOM_NAME: usize = 64;

/// What is wrong with a template; positions are 1-based character positions of the brace.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("the {{ at character {position} is never closed (write {{{{ for a literal brace)")]
    UnclosedBrace { position: usize },
    #[error("the }} at character {position} closes nothing (write }}}} for a literal brace)")]
    UnmatchedClosingBrace { position: usize },
    #[error("the field at character {position} is empty")]
    EmptyField { position: usize },
    #[error("unknown field {{{name}}} at character {position}; the fields are {known}")]
    UnknownField {
        name: String,
        position: usize,
        known: String,
    },
    #[error(
        "the custom field {{{name}}} at character {position} needs a name of 1 to 64 letters, \
         digits, spaces, _ or -"
    )]
    BadCustomName { name: String, position: usize },
}

impl TemplateError {
    /// A stable machine code for the error kind.
    pub fn code(&self) -> &'static str {
        match self {
            TemplateError::UnclosedBrace { .. } => "unclosed_brace",
            TemplateError::UnmatchedClosingBrace { .. } => "unmatched_closing_brace",
            TemplateError::EmptyField { .. } => "empty_field",
            TemplateError::UnknownField { .. } => "unknown_field",
            TemplateError::BadCustomName { .. } => "bad_custom_name",
        }
    }

    /// The 1-based character position of the brace at fault.
    pub fn position(&self) -> usize {
        match self {
            TemplateError::UnclosedBrace { position }
            | TemplateError::UnmatchedClosingBrace { position }
            | TemplateError::EmptyField { position }
            | TemplateError::UnknownField { position, .. }
            | TemplateError::BadCustomName { position, .. } => *position,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// Literal text, escapes already resolved.
    Text(String),
    /// A field's canonical name: lower-case for a known field, `custom:NAME` as written.
    Field(String),
}

/// A parsed message text. Invariant: every field is known to the field set it was parsed
/// with, and rendering never fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

impl Template {
    /// Parses a campaign text: [`CAMPAIGN_FIELDS`] and `{custom:NAME}`.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        parse(text, CAMPAIGN_FIELDS, true)
    }

    /// Parses a text whose only fields are `known` (lower-case names; no custom fields),
    /// e.g. `&["sender"]` for the confirmation and help texts.
    pub fn parse_with_fields(text: &str, known: &[&str]) -> Result<Template, TemplateError> {
        parse(text, known, false)
    }

    /// The text as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The canonical names of the fields used, each once, in order of first use.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.parts
            .iter()
            .enumerate()
            .filter_map(|(i, part)| match part {
                Part::Field(name) if !self.parts[..i].contains(part) => Some(name.as_str()),
                _ => None,
            })
    }

    /// True when the text has at least one field (each recipient may get a different text,
    /// and a different length).
    pub fn is_personalised(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Field(_)))
    }

    /// The text with each field replaced by `lookup(canonical name)`; `None` renders as
    /// nothing. Values are inserted as they are (braces in a value are not fields).
    pub fn render(&self, lookup: impl Fn(&str) -> Option<String>) -> String {
        let mut out = String::with_capacity(self.source.len());
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Field(name) => {
                    if let Some(value) = lookup(name) {
                        out.push_str(&value);
                    }
                }
            }
        }
        out
    }
}

fn parse(text: &str, known: &[&str], custom: bool) -> Result<Template, TemplateError> {
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut chars = text.chars().enumerate().peekable();
    while let Some((index, c)) = chars.next() {
        let position = index + 1;
        match c {
            '{' if chars.peek().is_some_and(|&(_, next)| next == '{') => {
                chars.next();
                literal.push('{');
            }
            '}' if chars.peek().is_some_and(|&(_, next)| next == '}') => {
                chars.next();
                literal.push('}');
            }
            '}' => return Err(TemplateError::UnmatchedClosingBrace { position }),
            '{' => {
                let mut raw = String::new();
                let mut closed = false;
                for (_, inner) in chars.by_ref() {
                    match inner {
                        '}' => {
                            closed = true;
                            break;
                        }
                        // A field is one line without braces: anything else means the `{`
                        // was meant literally, and saying so beats guessing.
                        '{' | '\n' | '\r' => break,
                        _ => raw.push(inner),
                    }
                }
                if !closed {
                    return Err(TemplateError::UnclosedBrace { position });
                }
                let name = field_name(raw.trim(), position, known, custom)?;
                if !literal.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut literal)));
                }
                parts.push(Part::Field(name));
            }
            _ => literal.push(c),
        }
    }
    if !literal.is_empty() {
        parts.push(Part::Text(literal));
    }
    Ok(Template {
        source: text.to_owned(),
        parts,
    })
}

/// The canonical name of the field written `raw` (trimmed) at `position`.
fn field_name(
    raw: &str,
    position: usize,
    known: &[&str],
    custom: bool,
) -> Result<String, TemplateError> {
    if raw.is_empty() {
        return Err(TemplateError::EmptyField { position });
    }
    let lower = raw.to_lowercase();
    if known.contains(&lower.as_str()) {
        return Ok(lower);
    }
    if custom && lower.starts_with(CUSTOM_PREFIX) {
        // The prefix is ASCII, so its length in bytes is the same in `raw`.
        let name = raw[CUSTOM_PREFIX.len()..].trim();
        let valid = (1..=MAX_CUSTOM_NAME).contains(&name.chars().count())
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '_' | '-'));
        return if valid {
            Ok(format!("{CUSTOM_PREFIX}{name}"))
        } else {
            Err(TemplateError::BadCustomName {
                name: raw.to_owned(),
                position,
            })
        };
    }
    let mut names: Vec<String> = known.iter().map(|k| format!("{{{k}}}")).collect();
    if custom {
        names.push("{custom:NAME}".to_owned());
    }
    Err(TemplateError::UnknownField {
        name: raw.to_owned(),
        position,
        known: names.join(", "),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn contact(field: &str) -> Option<String> {
        match field {
            "first_name" => Some("Ann".into()),
            "mobile" => Some("+61412345678".into()),
            "custom:Store" => Some("Bondi".into()),
            _ => None,
        }
    }

    #[test]
    fn fields_are_replaced_by_the_contact_values() {
        let t = Template::parse("Hi {first_name}, see you at {custom:Store} ({mobile})").unwrap();
        assert!(t.is_personalised());
        assert_eq!(t.render(contact), "Hi Ann, see you at Bondi (+61412345678)");
        assert_eq!(
            t.fields().collect::<Vec<_>>(),
            ["first_name", "custom:Store", "mobile"]
        );
    }

    #[test]
    fn field_names_ignore_case_and_inner_spaces() {
        let t = Template::parse("Hi { First_Name }").unwrap();
        assert_eq!(t.fields().collect::<Vec<_>>(), ["first_name"]);
        assert_eq!(t.render(contact), "Hi Ann");
    }

    #[test]
    fn a_missing_value_renders_as_nothing() {
        let t = Template::parse("Hi {last_name}!").unwrap();
        assert_eq!(t.render(contact), "Hi !");
    }

    #[test]
    fn fields_are_listed_once() {
        let t = Template::parse("{email} {email} {mobile} {email}").unwrap();
        assert_eq!(t.fields().collect::<Vec<_>>(), ["email", "mobile"]);
    }

    #[test]
    fn doubled_braces_are_literal_braces() {
        let t = Template::parse("Use code {{SAVE}} now").unwrap();
        assert!(!t.is_personalised());
        assert_eq!(t.render(contact), "Use code {SAVE} now");
    }

    #[test]
    fn values_with_braces_are_not_fields() {
        let t = Template::parse("Hi {first_name}").unwrap();
        assert_eq!(t.render(|_| Some("{email}".into())), "Hi {email}");
    }

    #[test]
    fn an_unknown_field_is_an_error_naming_it_and_its_position() {
        let e = Template::parse("Hi {firstname}").unwrap_err();
        assert_eq!(e.code(), "unknown_field");
        assert_eq!(e.position(), 4);
        let message = e.to_string();
        assert!(message.contains("{firstname}"), "{message}");
        assert!(message.contains("{first_name}"), "{message}");
    }

    #[test]
    fn an_unclosed_brace_is_an_error_at_its_position() {
        let e = Template::parse("Hi {first_name, welcome").unwrap_err();
        assert_eq!(e, TemplateError::UnclosedBrace { position: 4 });
        let e = Template::parse("Hi {first {last_name}").unwrap_err();
        assert_eq!(e, TemplateError::UnclosedBrace { position: 4 });
        let e = Template::parse("Hi {first\n}").unwrap_err();
        assert_eq!(e.code(), "unclosed_brace");
    }

    #[test]
    fn a_lone_closing_brace_is_an_error() {
        let e = Template::parse("Sale :}").unwrap_err();
        assert_eq!(e, TemplateError::UnmatchedClosingBrace { position: 7 });
    }

    #[test]
    fn an_empty_field_is_an_error() {
        assert_eq!(
            Template::parse("Hi { }").unwrap_err(),
            TemplateError::EmptyField { position: 4 }
        );
    }

    #[test]
    fn a_custom_field_needs_a_plain_name() {
        assert_eq!(
            Template::parse("{custom:}").unwrap_err().code(),
            "bad_custom_name"
        );
        assert_eq!(
            Template::parse("{custom:a/b}").unwrap_err().code(),
            "bad_custom_name"
        );
        assert!(Template::parse("{Custom: Loyalty tier-2 }").is_ok());
    }

    #[test]
    fn account_texts_know_only_their_own_fields() {
        let t =
            Template::parse_with_fields("{sender}: reply STOP to opt out.", &["sender"]).unwrap();
        assert_eq!(
            t.render(|f| (f == "sender").then(|| "MyShop".into())),
            "MyShop: reply STOP to opt out."
        );
        let e = Template::parse_with_fields("{custom:x}", &["sender"]).unwrap_err();
        assert_eq!(e.code(), "unknown_field");
        assert!(e.to_string().ends_with("the fields are {sender}"));
    }

    #[test]
    fn positions_count_characters_not_bytes() {
        let e = Template::parse("Café {x}").unwrap_err();
        assert_eq!(e.position(), 6);
    }
}
