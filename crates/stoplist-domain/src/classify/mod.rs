//! Reply classification (SPEC 3.6): what an inbound text asks for — `opt_out`, `opt_in`,
//! `help`, `other`, or `unclear` when it may or may not be an opt-out — and which tier of
//! the rules decided it.
//!
//! The tiers, tried in order on the [normalised](normalize) text:
//! 1. **Keyword** — the whole text is a keyword (`STOP`, ` Stop!! `, `ＳＴＯＰ`, `STOOOP`,
//!    `S T O P`, `ARRÊT`, `Baja`).
//! 2. **Custom** — the whole text is one of the account's own keywords. A custom keyword
//!    never overrides a built-in one, and a custom opt-in or help keyword never hides a
//!    text the built-in tiers read as an opt-out or as unclear.
//! 3. **KeywordWithCourtesy** — keywords with only politeness or emphasis around them
//!    (`STOP PLEASE`, `Stop. Thank you`, `unsubscribe me`, `pls stop`).
//! 4. **Phrase** — a phrase that plainly asks to stop (or to start again, or for help), per
//!    language (`please stop texting me`, `quiero darme de baja`).
//! 5. **NotARequest** — the keyword is not a request: a trap context (`stop by the store`,
//!    `bus stop`, `when does the sale stop?`), a negation (`don't stop`), or a reaction that
//!    quotes a message (`Liked “Reply STOP to opt out”`). These are `other`.
//! 6. **Fallback** — a strong opt-out keyword left unexplained in a longer text (`STOP
//!    what?`), a keyword typo (`STPO`) or a doubtful word (`SPAM`) is `unclear`; anything
//!    else is `other`.
//!
//! Missing an opt-out is the worse error, so when the rules cannot tell an opt-out from
//! other text they answer `unclear`, never `other`.
//!
//! This module owns the rules, the word lists (`packs`) and the rules an account's own
//! keyword list keeps ([`validate_keywords`]); it does not decide what happens next (the
//! opt-out rules do) nor store anything.

mod custom;
mod normalize;
mod packs;
mod tables;

pub use custom::{
    KeywordInput, KeywordListError, KeywordRuleError, MAX_KEYWORDS, validate_keywords,
};
use normalize::{FxMap, Normalized, Small};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::{Arc, LazyLock};
use tables::{Match, Meaning, Role, Tables, UNKNOWN, best_keyword};

/// What a reply asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    OptOut,
    OptIn,
    Help,
    Other,
    /// May or may not be an opt-out: goes to the review queue.
    Unclear,
}

/// A stored code that names no known value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}")]
pub struct UnknownCode {
    pub what: &'static str,
    pub value: String,
}

impl Class {
    pub const ALL: [Class; 5] = [
        Class::OptOut,
        Class::OptIn,
        Class::Help,
        Class::Other,
        Class::Unclear,
    ];

    /// The stable code stored and shown in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::OptOut => "opt_out",
            Class::OptIn => "opt_in",
            Class::Help => "help",
            Class::Other => "other",
            Class::Unclear => "unclear",
        }
    }

    /// The class with code `code` (as given by [`Class::as_str`]).
    pub fn parse(code: &str) -> Result<Class, UnknownCode> {
        Class::ALL
            .into_iter()
            .find(|c| c.as_str() == code)
            .ok_or_else(|| UnknownCode {
                what: "class",
                value: code.to_owned(),
            })
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which rule made a decision. Every [`Classification`] keeps its tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// The whole text is a built-in keyword.
    Keyword,
    /// Keywords with only courtesy or emphasis words around them.
    KeywordWithCourtesy,
    /// A phrase of a language pack.
    Phrase,
    /// A keyword that is not a request (trap, negation, reaction).
    NotARequest,
    /// The whole text is one of the account's keywords.
    Custom,
    /// Nothing above decided.
    Fallback,
}

impl Tier {
    pub const ALL: [Tier; 6] = [
        Tier::Keyword,
        Tier::KeywordWithCourtesy,
        Tier::Phrase,
        Tier::NotARequest,
        Tier::Custom,
        Tier::Fallback,
    ];

    /// The stable code stored and shown in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Keyword => "keyword",
            Tier::KeywordWithCourtesy => "keyword_with_courtesy",
            Tier::Phrase => "phrase",
            Tier::NotARequest => "not_a_request",
            Tier::Custom => "custom",
            Tier::Fallback => "fallback",
        }
    }

    /// The tier with code `code` (as given by [`Tier::as_str`]).
    pub fn parse(code: &str) -> Result<Tier, UnknownCode> {
        Tier::ALL
            .into_iter()
            .find(|t| t.as_str() == code)
            .ok_or_else(|| UnknownCode {
                what: "tier",
                value: code.to_owned(),
            })
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an account keyword does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeywordKind {
    OptOut,
    OptIn,
    Help,
}

impl KeywordKind {
    pub const ALL: [KeywordKind; 3] = [KeywordKind::OptOut, KeywordKind::OptIn, KeywordKind::Help];

    /// The stable code stored and shown in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            KeywordKind::OptOut => "opt_out",
            KeywordKind::OptIn => "opt_in",
            KeywordKind::Help => "help",
        }
    }

    /// The kind with code `code` (as given by [`KeywordKind::as_str`]).
    pub fn parse(code: &str) -> Result<KeywordKind, UnknownCode> {
        KeywordKind::ALL
            .into_iter()
            .find(|k| k.as_str() == code)
            .ok_or_else(|| UnknownCode {
                what: "keyword kind",
                value: code.to_owned(),
            })
    }

    fn class(self) -> Class {
        match self {
            KeywordKind::OptOut => Class::OptOut,
            KeywordKind::OptIn => Class::OptIn,
            KeywordKind::Help => Class::Help,
        }
    }
}

/// What is wrong with an account keyword.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeywordError {
    #[error("a keyword needs at least one letter or digit")]
    Empty,
    /// Too long as typed (white space around it aside) or once normalised: refused, never
    /// cut (a thousand `a`s normalise to `a`, which is not what was asked for).
    #[error("a keyword is at most {max} characters ({len} given)")]
    TooLong { len: usize, max: usize },
}

/// An account keyword, stored in its [normalised](normalize) form: 1 to
/// [`Keyword::MAX_CHARS`] characters of lower-case words separated by single spaces.
/// A reply matches it when the reply normalises to the same text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Keyword(String);

impl Keyword {
    pub const MAX_CHARS: usize = 40;

    /// Checks the length of `raw` (trimmed) and normalises it.
    pub fn parse(raw: &str) -> Result<Keyword, KeywordError> {
        let typed = raw.trim().chars().count();
        if typed > Self::MAX_CHARS {
            return Err(KeywordError::TooLong {
                len: typed,
                max: Self::MAX_CHARS,
            });
        }
        let text = normalize(raw);
        let len = text.chars().count();
        if len == 0 {
            return Err(KeywordError::Empty);
        }
        if len > Self::MAX_CHARS {
            return Err(KeywordError::TooLong {
                len,
                max: Self::MAX_CHARS,
            });
        }
        Ok(Keyword(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Keyword {
    type Error = KeywordError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Keyword::parse(&raw)
    }
}

impl From<Keyword> for String {
    fn from(k: Keyword) -> String {
        k.0
    }
}

impl fmt::Display for Keyword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A keyword an account adds: its kind, its language (`"en"`, `"fr"`, … or `"any"`; it is
/// reported with the decision and does not restrict matching) and its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomKeyword {
    pub kind: KeywordKind,
    pub language: String,
    pub keyword: Keyword,
}

/// A decision on one reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Classification {
    pub class: Class,
    pub tier: Tier,
    /// The keyword or phrase (normalised) that decided, when one did.
    pub matched: Option<String>,
    /// The language of the pack (or custom keyword) that decided, when known.
    pub language: Option<&'static str>,
}

impl Classification {
    fn new(
        class: Class,
        tier: Tier,
        matched: Option<String>,
        language: Option<&'static str>,
    ) -> Self {
        Classification {
            class,
            tier,
            matched,
            language,
        }
    }

    fn nothing() -> Self {
        Classification::new(Class::Other, Tier::Fallback, None, None)
    }
}

/// The normalisation the tiers read through, public for tests and for storing keywords:
/// lower case, Latin accents folded to ASCII, fullwidth and "fancy font" letters read as
/// ASCII, invisible characters and apostrophes dropped, anything else that is not a letter
/// or digit separating words, runs of three or more of one letter squeezed to one, words
/// joined by single spaces. Idempotent.
pub fn normalize(text: &str) -> String {
    let mut n = Normalized::new();
    normalize::normalize_into(text, &mut n, false);
    String::from_utf8_lossy(n.bytes.as_slice()).into_owned()
}

static BUILTIN: LazyLock<Arc<Tables>> = LazyLock::new(|| Arc::new(Tables::build()));

/// An account's custom keyword, compiled.
#[derive(Debug, Clone)]
struct Custom {
    kind: KeywordKind,
    language: Option<&'static str>,
    keyword: String,
}

/// Classifies replies for one account: the built-in lists (compiled once per process and
/// shared) plus the account's own keywords. Cheap to build and to clone; `Send + Sync`.
#[derive(Debug, Clone)]
pub struct Classifier {
    tables: Arc<Tables>,
    custom: FxMap<Box<[u8]>, Custom>,
}

impl Default for Classifier {
    fn default() -> Self {
        Classifier::builtin()
    }
}

/// The language codes a custom keyword may carry into a [`Classification`].
const LANGUAGES: &[&str] = &["en", "fr", "es", "pt", "it", "de", "nl"];

impl Classifier {
    /// The built-in lists only.
    pub fn builtin() -> Classifier {
        Classifier {
            tables: Arc::clone(&BUILTIN),
            custom: FxMap::default(),
        }
    }

    /// The built-in lists plus `keywords`. When two custom keywords have the same text, an
    /// opt-out one wins.
    pub fn with_custom(keywords: &[CustomKeyword]) -> Classifier {
        let mut c = Classifier::builtin();
        for k in keywords {
            let mut n = Normalized::new();
            tables::read(k.keyword.as_str(), &mut n);
            let key: Box<[u8]> = n.bytes.as_slice().into();
            if key.is_empty() {
                continue;
            }
            let language = LANGUAGES
                .iter()
                .find(|l| l.eq_ignore_ascii_case(k.language.trim()))
                .copied();
            let entry = Custom {
                kind: k.kind,
                language,
                keyword: k.keyword.as_str().to_owned(),
            };
            match c.custom.get(&key) {
                Some(old) if old.kind == KeywordKind::OptOut => {}
                _ => {
                    c.custom.insert(key, entry);
                }
            }
        }
        c
    }

    /// Classifies `text`, a reply from a number that is (or is not) on the opt-out list;
    /// that matters only for `YES`-like words, which opt in only a number that opted out.
    pub fn classify(&self, text: &str, number_is_opted_out: bool) -> Classification {
        let mut norm = Normalized::new();
        tables::read(text, &mut norm);
        let n = norm.words.len();
        if n == 0 {
            return Classification::nothing();
        }
        let t = &*self.tables;
        let mut ids: Small<u32, 48> = Small::new();
        for i in 0..n {
            ids.push(t.lookup(norm.word(i)));
        }
        let ids = ids.as_slice();
        let mut found: Small<Match, 64> = Small::new();
        for i in 0..n {
            t.matches_at(ids, i, &mut found);
        }
        let r = Reply {
            text,
            norm: &norm,
            ids,
            found: found.as_slice(),
            t,
            opted_out: number_is_opted_out,
        };

        if let Some(c) = r.whole_keyword() {
            return c;
        }
        let custom = if self.custom.is_empty() {
            None
        } else {
            self.custom.get(norm.bytes.as_slice())
        };
        if let Some(c) = custom
            && c.kind == KeywordKind::OptOut
        {
            return custom_result(c);
        }
        let builtin = r.beyond_keywords();
        match custom {
            Some(c) if !matches!(builtin.class, Class::OptOut | Class::Unclear) => custom_result(c),
            _ => builtin,
        }
    }
}

fn custom_result(c: &Custom) -> Classification {
    Classification::new(
        c.kind.class(),
        Tier::Custom,
        Some(c.keyword.clone()),
        c.language,
    )
}

/// One reply being classified: its words, their ids and every list entry found in it.
struct Reply<'a> {
    text: &'a str,
    norm: &'a Normalized,
    ids: &'a [u32],
    found: &'a [Match],
    t: &'a Tables,
    opted_out: bool,
}

impl Reply<'_> {
    fn role(&self, m: &Match) -> Role {
        self.t.terms[m.term as usize].role
    }

    fn keyword_decision(&self, term: u32, tier: Tier) -> Classification {
        let entry = &self.t.terms[term as usize];
        let Role::Keyword { meaning, .. } = entry.role else {
            return Classification::nothing();
        };
        let (class, tier) = match meaning {
            Meaning::OptOut => (Class::OptOut, tier),
            Meaning::OptIn => (Class::OptIn, tier),
            Meaning::OptInIfOptedOut if self.opted_out => (Class::OptIn, tier),
            Meaning::OptInIfOptedOut => (Class::Other, tier),
            Meaning::Help => (Class::Help, tier),
            Meaning::Doubtful => (Class::Unclear, Tier::Fallback),
        };
        Classification::new(
            class,
            tier,
            Some(entry.display.to_string()),
            Some(entry.language),
        )
    }

    /// Tier 1: the whole text is a keyword (also spelled out letter by letter).
    fn whole_keyword(&self) -> Option<Classification> {
        let n = self.ids.len() as u32;
        let whole = self
            .found
            .iter()
            .filter(|m| m.start == 0 && m.end == n)
            .map(|m| m.term);
        if let Some(term) = best_keyword(&self.t.terms, whole) {
            return Some(self.keyword_decision(term, Tier::Keyword));
        }
        // `S T O P`, `S.T.O.P.`
        let words = self.norm.words.as_slice();
        if words.len() >= 2 && words.iter().all(|w| w.end - w.start == 1) {
            let mut joined: Small<u8, 64> = Small::new();
            for i in 0..words.len() {
                joined.extend_from_slice(self.norm.word(i));
            }
            let id = self.t.lookup(joined.as_slice());
            if id != UNKNOWN
                && let Some(term) = self.t.single_word_keyword(id)
            {
                return Some(self.keyword_decision(term, Tier::Keyword));
            }
        }
        None
    }

    /// Everything after the whole-text keywords: reactions, tier 2, tiers 3 and 4, fallback.
    fn beyond_keywords(&self) -> Classification {
        if self.is_reaction() {
            return Classification::new(
                Class::Other,
                Tier::NotARequest,
                Some(self.norm.joined(0, 1)),
                Some("en"),
            );
        }
        if let Some(c) = self.with_courtesy() {
            return c;
        }
        self.phrases_and_traps()
    }

    /// An iMessage/RCS reaction quoting a message: `Liked “Reply STOP to opt out”`.
    fn is_reaction(&self) -> bool {
        self.t.is_reaction(self.ids[0])
            && self
                .text
                .chars()
                .any(|c| matches!(c, '"' | '“' | '”' | '„' | '«' | '»' | '‘' | '’' | '‚'))
    }

    /// Tier 2: every word is part of a keyword or a courtesy word (digits allowed, for
    /// `STOP 36180`-style replies), and there is at least one keyword.
    fn with_courtesy(&self) -> Option<Classification> {
        let n = self.ids.len() as u32;
        let mut pos = 0u32;
        let mut keywords: Small<u32, 16> = Small::new();
        let mut courtesy = false;
        while pos < n {
            let mut best: Option<(u32, Option<u32>)> = None; // (end, keyword term)
            for m in self.found.iter().filter(|m| m.start == pos) {
                let kw = match self.role(m) {
                    Role::Keyword { .. } => Some(m.term),
                    Role::Courtesy => None,
                    _ => continue,
                };
                best = match best {
                    Some((end, k))
                        if end > m.end || (end == m.end && (k.is_some() || kw.is_none())) =>
                    {
                        Some((end, k))
                    }
                    _ => Some((m.end, kw)),
                };
            }
            match best {
                Some((end, kw)) => {
                    match kw {
                        Some(k) => keywords.push(k),
                        None => courtesy = true,
                    }
                    pos = end;
                }
                None if self.norm.word(pos as usize).iter().all(u8::is_ascii_digit) => {
                    courtesy = true;
                    pos += 1;
                }
                None => return None,
            }
        }
        let meaning_of = |term: u32| match self.t.terms[term as usize].role {
            Role::Keyword { meaning, .. } => Some(meaning),
            _ => None,
        };
        let first = |want: Meaning| {
            keywords
                .as_slice()
                .iter()
                .copied()
                .find(|&k| meaning_of(k) == Some(want))
        };
        let out = first(Meaning::OptOut);
        let opt_in = first(Meaning::OptIn);
        match (out, opt_in) {
            (Some(o), Some(_)) => {
                let mut c = self.keyword_decision(o, Tier::Fallback);
                c.class = Class::Unclear;
                Some(c)
            }
            (Some(o), None) => {
                // One multi-word keyword repeated (`opt out opt out`) is still tier 1.
                let repeated = !courtesy && keywords.as_slice().iter().all(|&k| k == o);
                let tier = if repeated {
                    Tier::Keyword
                } else {
                    Tier::KeywordWithCourtesy
                };
                Some(self.keyword_decision(o, tier))
            }
            (None, _) => {
                let pick = first(Meaning::Doubtful)
                    .or(opt_in)
                    .or(first(Meaning::Help))
                    .or(first(Meaning::OptInIfOptedOut))?;
                Some(self.keyword_decision(pick, Tier::KeywordWithCourtesy))
            }
        }
    }

    /// Tiers 3 and 4 and the fallback.
    fn phrases_and_traps(&self) -> Classification {
        let negated = |start: u32| start > 0 && self.t.is_negator(self.ids[start as usize - 1]);
        // Spans a negator turns around: the negator and the phrase or keyword after it.
        let mut cancelled: Small<(u32, u32), 16> = Small::new();
        let mut traps: Small<(u32, u32, u32), 16> = Small::new();
        for m in self.found {
            match self.role(m) {
                Role::Phrase(_) | Role::Keyword { .. } if negated(m.start) => {
                    cancelled.push((m.start - 1, m.end))
                }
                Role::Trap => traps.push((m.start, m.end, m.term)),
                _ => {}
            }
        }
        let inside = |m: &Match, spans: &[(u32, u32)]| {
            spans.iter().any(|&(s, e)| m.start >= s && m.end <= e)
        };
        let in_trap = |m: &Match| {
            traps
                .as_slice()
                .iter()
                .find(|&&(s, e, _)| m.start >= s && m.end <= e)
        };

        // Live phrases: not turned around, and not inside a longer phrase of another class
        // (`I never opted in` is an opt-out, not an opt-in).
        let live = |m: &&Match| {
            matches!(self.role(m), Role::Phrase(_)) && !inside(m, cancelled.as_slice())
        };
        let mut decided: [Option<&Match>; 3] = [None; 3];
        for m in self.found.iter().filter(live) {
            let Role::Phrase(class) = self.role(m) else {
                continue;
            };
            let shadowed = self.found.iter().filter(live).any(|o| {
                o.start <= m.start
                    && o.end >= m.end
                    && (o.end - o.start) > (m.end - m.start)
                    && self.role(o) != self.role(m)
            });
            if shadowed {
                continue;
            }
            let slot = match class {
                Class::OptOut => 0,
                Class::OptIn => 1,
                _ => 2,
            };
            decided[slot].get_or_insert(m);
        }
        let phrase = |m: &Match, class: Class, tier: Tier| {
            Classification::new(
                class,
                tier,
                Some(self.norm.joined(m.start as usize, m.end as usize)),
                Some(self.t.terms[m.term as usize].language),
            )
        };
        match decided {
            [Some(out), Some(_), _] => return phrase(out, Class::Unclear, Tier::Fallback),
            [Some(out), None, _] => return phrase(out, Class::OptOut, Tier::Phrase),
            [None, Some(opt_in), _] => return phrase(opt_in, Class::OptIn, Tier::Phrase),
            [None, None, Some(help)] => return phrase(help, Class::Help, Tier::Phrase),
            _ => {}
        }

        // Strong opt-out keywords: explained away by a trap or a negation, or unclear.
        let mut explained: Option<(u32, u32, &'static str)> = None;
        for m in self.found {
            let Role::Keyword {
                meaning: Meaning::OptOut,
                strong: true,
            } = self.role(m)
            else {
                continue;
            };
            if let Some(&(s, e, term)) = in_trap(m) {
                explained.get_or_insert((s, e, self.t.terms[term as usize].language));
            } else if let Some(&(s, e)) = cancelled
                .as_slice()
                .iter()
                .find(|&&(s, e)| m.start >= s && m.end <= e)
            {
                explained.get_or_insert((s, e, self.t.terms[m.term as usize].language));
            } else {
                let entry = &self.t.terms[m.term as usize];
                return Classification::new(
                    Class::Unclear,
                    Tier::Fallback,
                    Some(entry.display.to_string()),
                    Some(entry.language),
                );
            }
        }
        // A negated opt-out phrase (`don't stop texting me`) is not a request either.
        if explained.is_none()
            && let Some(&(s, e)) = cancelled.as_slice().iter().find(|&&(s, e)| {
                self.found.iter().any(|m| {
                    m.start == s + 1 && m.end == e && self.role(m) == Role::Phrase(Class::OptOut)
                })
            })
        {
            explained = Some((s, e, "en"));
        }
        match explained {
            Some((s, e, language)) => Classification::new(
                Class::Other,
                Tier::NotARequest,
                Some(self.norm.joined(s as usize, e as usize)),
                Some(language),
            ),
            None => Classification::nothing(),
        }
    }
}

#[cfg(test)]
mod tests;
