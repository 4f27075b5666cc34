//! The rules an account's own keyword list keeps, written once for every way in (the API's
//! `PUT /api/v1/settings/keywords`, the Settings page's Keywords form):
//! - each keyword is 1 to [`Keyword::MAX_CHARS`] characters, as typed and once normalised;
//! - its kind is `opt_out`, `opt_in` or `help`;
//! - its language is `any` or a two- or three-letter code (ISO 639), read in lower case;
//! - a keyword appears once (a keyword has one kind);
//! - a keyword never contradicts the built-in lists: a text they read as an opt-out (or hold
//!   as a possible one) can only be an opt-out keyword, and a built-in opt-in or help keyword
//!   keeps its kind. The built-in reading wins at classification time anyway, so such a
//!   keyword would do nothing but mislead; an opt-out is never weakened;
//! - at most [`MAX_KEYWORDS`] keywords.

use super::{Class, Classifier, CustomKeyword, Keyword, KeywordError, KeywordKind, Tier};

/// Most keywords an account may add.
pub const MAX_KEYWORDS: usize = 500;

/// One keyword as typed (a row of the form, an element of the API's list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeywordInput<'a> {
    pub keyword: &'a str,
    /// `opt_out`, `opt_in` or `help`.
    pub kind: &'a str,
    /// `any`, or a language code (`en`, `fr`, …).
    pub language: &'a str,
}

/// What is wrong with one keyword of a list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeywordRuleError {
    #[error(transparent)]
    Keyword(#[from] KeywordError),
    #[error("{0:?} is not a keyword kind: use opt_out, opt_in or help")]
    Kind(String),
    #[error(
        "{0:?} is not a language: use any, or a two- or three-letter code such as en, fr or es"
    )]
    Language(String),
    /// The same keyword (once normalised) earlier in the list, at `first` (the caller's index).
    #[error("“{keyword}” is already in the list: a keyword has one kind")]
    Repeated { keyword: String, first: usize },
    /// The built-in lists read the keyword otherwise.
    #[error(
        "“{keyword}” is {builtin} in the built-in lists, so it cannot be {} keyword{}",
        kind_words(*.kind),
        if *.kind == KeywordKind::OptOut { "" } else { " (an opt-out is never weakened)" }
    )]
    BuiltIn {
        keyword: String,
        /// How the built-in lists read it ("an opt-out keyword", "possibly an opt-out", …).
        builtin: &'static str,
        kind: KeywordKind,
    },
}

impl KeywordRuleError {
    /// The field of the keyword at fault: `keyword`, `kind` or `language`.
    pub fn field(&self) -> &'static str {
        match self {
            KeywordRuleError::Kind(_) => "kind",
            KeywordRuleError::Language(_) => "language",
            KeywordRuleError::Keyword(_)
            | KeywordRuleError::Repeated { .. }
            | KeywordRuleError::BuiltIn { .. } => "keyword",
        }
    }
}

fn kind_words(kind: KeywordKind) -> &'static str {
    match kind {
        KeywordKind::OptOut => "an opt-out",
        KeywordKind::OptIn => "an opt-in",
        KeywordKind::Help => "a help",
    }
}

/// What is wrong with a keyword list: too many, or the keywords at fault (each with the
/// index the caller gave it), every one of them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeywordListError {
    #[error("at most {max} keywords ({count} given)")]
    TooMany { count: usize, max: usize },
    #[error("{}", .0.first().map(|(_, e)| e.to_string()).unwrap_or_default())]
    Keywords(Vec<(usize, KeywordRuleError)>),
}

/// Checks a keyword list: `rows` are the keywords with an index of the caller's (a form's
/// row number, a list position), which errors carry back. On success, the keywords to store
/// (normalised, with their kind and lower-case language), in the order given.
pub fn validate_keywords<'a>(
    rows: impl IntoIterator<Item = (usize, KeywordInput<'a>)>,
) -> Result<Vec<CustomKeyword>, KeywordListError> {
    let rows: Vec<(usize, KeywordInput<'a>)> = rows.into_iter().collect();
    if rows.len() > MAX_KEYWORDS {
        return Err(KeywordListError::TooMany {
            count: rows.len(),
            max: MAX_KEYWORDS,
        });
    }
    let builtin = Classifier::builtin();
    let mut out: Vec<CustomKeyword> = Vec::with_capacity(rows.len());
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut errors = Vec::new();
    for (index, row) in rows {
        let keyword = match Keyword::parse(row.keyword) {
            Ok(k) => k,
            Err(e) => {
                errors.push((index, e.into()));
                continue;
            }
        };
        // A repeat is named first: it is the plainer fault.
        if let Some(&first) = seen.get(keyword.as_str()) {
            errors.push((
                index,
                KeywordRuleError::Repeated {
                    keyword: keyword.as_str().to_owned(),
                    first,
                },
            ));
            continue;
        }
        seen.insert(keyword.as_str().to_owned(), index);
        match check(&builtin, keyword, row) {
            Ok(k) => out.push(k),
            Err(e) => errors.push((index, e)),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(KeywordListError::Keywords(errors))
    }
}

/// One keyword's kind, language and agreement with the built-in lists.
fn check(
    builtin: &Classifier,
    keyword: Keyword,
    row: KeywordInput<'_>,
) -> Result<CustomKeyword, KeywordRuleError> {
    let kind = KeywordKind::parse(row.kind.trim())
        .map_err(|_| KeywordRuleError::Kind(row.kind.to_owned()))?;
    let language = row.language.trim().to_ascii_lowercase();
    let known = language == "any"
        || ((2..=3).contains(&language.len()) && language.bytes().all(|b| b.is_ascii_lowercase()));
    if !known {
        return Err(KeywordRuleError::Language(row.language.to_owned()));
    }
    // As a reply from an opted-out number, so that YES reads as the opt-in it then is.
    let reading = builtin.classify(keyword.as_str(), true);
    let clash = match (reading.class, reading.tier) {
        (Class::OptOut, _) if kind != KeywordKind::OptOut => Some("an opt-out keyword"),
        (Class::Unclear, _) if kind != KeywordKind::OptOut => Some("possibly an opt-out"),
        (Class::OptIn, Tier::Keyword) if kind != KeywordKind::OptIn => Some("an opt-in keyword"),
        (Class::Help, Tier::Keyword) if kind != KeywordKind::Help => Some("a help keyword"),
        _ => None,
    };
    if let Some(builtin) = clash {
        return Err(KeywordRuleError::BuiltIn {
            keyword: keyword.as_str().to_owned(),
            builtin,
            kind,
        });
    }
    Ok(CustomKeyword {
        kind,
        language,
        keyword,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn row<'a>(keyword: &'a str, kind: &'a str, language: &'a str) -> KeywordInput<'a> {
        KeywordInput {
            keyword,
            kind,
            language,
        }
    }

    fn errors(rows: &[KeywordInput<'_>]) -> Vec<(usize, KeywordRuleError)> {
        match validate_keywords(rows.iter().copied().enumerate()) {
            Err(KeywordListError::Keywords(e)) => e,
            other => panic!("expected errors, got {other:?}"),
        }
    }

    #[test]
    fn good_keywords_are_normalised_with_their_kind_and_language() {
        let list = validate_keywords(
            [
                row("  Basta! ", "opt_out", "IT"),
                row("halt", "opt_out", "any"),
                row("aiuto", "help", "it"),
            ]
            .into_iter()
            .enumerate(),
        )
        .unwrap();
        let got: Vec<(&str, KeywordKind, &str)> = list
            .iter()
            .map(|k| (k.keyword.as_str(), k.kind, k.language.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("basta", KeywordKind::OptOut, "it"),
                ("halt", KeywordKind::OptOut, "any"),
                ("aiuto", KeywordKind::Help, "it"),
            ]
        );
    }

    #[test]
    fn a_keyword_of_a_thousand_characters_is_refused_not_shortened() {
        let long = "a".repeat(1000);
        let e = errors(&[row(&long, "opt_out", "any")]);
        assert_eq!(
            e,
            vec![(
                0,
                KeywordRuleError::Keyword(KeywordError::TooLong {
                    len: 1000,
                    max: Keyword::MAX_CHARS
                })
            )]
        );
        assert_eq!(
            e[0].1.to_string(),
            "a keyword is at most 40 characters (1000 given)"
        );
    }

    #[test]
    fn stop_cannot_be_an_opt_in_nor_start_an_opt_out() {
        let e = errors(&[
            row("STOP", "opt_in", "any"),
            row("unsubscribe", "help", "en"),
            row("start", "opt_out", "any"),
            row("help", "opt_in", "any"),
        ]);
        let fields: Vec<(usize, &str)> = e.iter().map(|(i, e)| (*i, e.field())).collect();
        assert_eq!(
            fields,
            vec![
                (0, "keyword"),
                (1, "keyword"),
                (2, "keyword"),
                (3, "keyword")
            ]
        );
        assert_eq!(
            e[0].1.to_string(),
            "“stop” is an opt-out keyword in the built-in lists, so it cannot be an opt-in \
             keyword (an opt-out is never weakened)"
        );
        assert_eq!(
            e[2].1.to_string(),
            "“start” is an opt-in keyword in the built-in lists, so it cannot be an opt-out keyword"
        );
        // The same kind as the built-in lists is allowed (a language to report, say).
        assert!(validate_keywords([(0, row("stop", "opt_out", "en"))]).is_ok());
    }

    #[test]
    fn a_repeated_keyword_names_the_first_and_bad_kinds_and_languages_are_named() {
        let e = errors(&[
            row("halt", "opt_out", "any"),
            row("HALT!", "help", "any"),
            row("ok", "stop_it", "any"),
            row("abc", "help", "English"),
        ]);
        assert_eq!(
            e[0],
            (
                1,
                KeywordRuleError::Repeated {
                    keyword: "halt".into(),
                    first: 0
                }
            )
        );
        assert_eq!((e[1].0, e[1].1.field()), (2, "kind"));
        assert_eq!((e[2].0, e[2].1.field()), (3, "language"));
    }

    #[test]
    fn more_than_the_most_keywords_is_refused_whole() {
        let words: Vec<String> = (0..=MAX_KEYWORDS).map(|i| format!("word{i}")).collect();
        let rows = words.iter().map(|w| row(w, "opt_out", "any"));
        assert_eq!(
            validate_keywords(rows.enumerate()),
            Err(KeywordListError::TooMany {
                count: MAX_KEYWORDS + 1,
                max: MAX_KEYWORDS
            })
        );
    }
}
