//! The built-in word lists compiled into what the classifier walks: a vocabulary (word →
//! id), a trie over word ids holding every keyword, courtesy word, phrase and trap (phrase
//! alternatives are expanded into shared trie paths, `*` becomes a gap edge), and per-word
//! flags (negators, reaction words). Built once per process and shared by every account's
//! classifier.

use super::Class;
use super::normalize::{FxMap, Normalized, Small, normalize_into, squeeze};
use super::packs::{PACKS, REACTIONS, TYPO_EXCLUSIONS, TYPO_SOURCES};

/// The id of a word no list knows.
pub(super) const UNKNOWN: u32 = u32::MAX;
const NONE: u32 = u32::MAX;
/// How many words a `*` may skip.
const GAP_MAX: usize = 3;

/// What a keyword means on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Meaning {
    OptOut,
    OptIn,
    /// Opt-in only from a number that is opted out (`YES`).
    OptInIfOptedOut,
    Help,
    /// May or may not mean "stop": `unclear`.
    Doubtful,
}

impl Meaning {
    /// Which meaning wins when two packs give the same words different ones: opt-out
    /// first, since missing an opt-out is the worse error.
    fn priority(self) -> u8 {
        match self {
            Meaning::OptOut => 4,
            Meaning::Doubtful => 3,
            Meaning::Help => 2,
            Meaning::OptIn => 1,
            Meaning::OptInIfOptedOut => 0,
        }
    }
}

/// What a matched word sequence is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Role {
    Keyword { meaning: Meaning, strong: bool },
    Courtesy,
    Phrase(Class),
    Trap,
}

/// One entry of the lists, at the end of its trie path.
#[derive(Debug)]
pub(super) struct Term {
    pub(super) role: Role,
    pub(super) language: &'static str,
    /// The entry's words as normalised (for a typo, the keyword it slipped from).
    pub(super) display: Box<str>,
}

/// An entry found in a reply: words `start..end` match `term`.
#[derive(Clone, Copy, Default, Debug)]
pub(super) struct Match {
    pub(super) start: u32,
    pub(super) end: u32,
    pub(super) term: u32,
}

#[derive(Default)]
struct Node {
    /// (word id, node), sorted by word id.
    children: Vec<(u32, u32)>,
    /// A `*` edge, or `NONE`.
    gap: u32,
    terms: Vec<u32>,
}

impl Node {
    fn new() -> Node {
        Node {
            children: Vec::new(),
            gap: NONE,
            terms: Vec::new(),
        }
    }

    #[inline]
    fn child(&self, word: u32) -> Option<u32> {
        self.children
            .binary_search_by_key(&word, |&(w, _)| w)
            .ok()
            .map(|i| self.children[i].1)
    }
}

/// One slot of a parsed pattern.
enum Slot {
    Gap,
    Alts {
        alts: Vec<Vec<String>>,
        optional: bool,
    },
}

/// The compiled lists.
pub(super) struct Tables {
    vocab: FxMap<Box<[u8]>, u32>,
    /// Single-word keywords by their squeezed form (`stop` for `stoop`).
    squeezed: FxMap<Box<[u8]>, u32>,
    /// Trie roots by first word id.
    root: Vec<u32>,
    nodes: Vec<Node>,
    pub(super) terms: Vec<Term>,
    negator: Vec<bool>,
    reaction: Vec<bool>,
    /// Patterns that could not be compiled (a unit test keeps this empty).
    pub(super) problems: Vec<String>,
}

impl std::fmt::Debug for Tables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tables")
            .field("words", &self.vocab.len())
            .field("nodes", &self.nodes.len())
            .field("terms", &self.terms.len())
            .finish()
    }
}

impl Tables {
    /// Compiles the built-in packs.
    pub(super) fn build() -> Tables {
        let mut t = Tables {
            vocab: FxMap::default(),
            squeezed: FxMap::default(),
            root: Vec::new(),
            nodes: Vec::new(),
            terms: Vec::new(),
            negator: Vec::new(),
            reaction: Vec::new(),
            problems: Vec::new(),
        };
        for pack in PACKS {
            let lang = pack.language;
            let keyword = |meaning, strong| Role::Keyword { meaning, strong };
            let lists: [(&[&str], Role); 11] = [
                (pack.opt_out_strong, keyword(Meaning::OptOut, true)),
                (pack.opt_out_weak, keyword(Meaning::OptOut, false)),
                (pack.opt_in, keyword(Meaning::OptIn, false)),
                (
                    pack.opt_in_if_opted_out,
                    keyword(Meaning::OptInIfOptedOut, false),
                ),
                (pack.help, keyword(Meaning::Help, false)),
                (pack.doubtful, keyword(Meaning::Doubtful, false)),
                (pack.courtesy, Role::Courtesy),
                (pack.opt_out_phrases, Role::Phrase(Class::OptOut)),
                (pack.opt_in_phrases, Role::Phrase(Class::OptIn)),
                (pack.help_phrases, Role::Phrase(Class::Help)),
                (pack.traps, Role::Trap),
            ];
            for (patterns, role) in lists {
                for pattern in patterns {
                    t.add_pattern(pattern, role, lang);
                }
            }
            for word in pack.negators {
                let id = t.word(word);
                t.negator[id as usize] = true;
            }
        }
        for word in REACTIONS {
            let id = t.word(word);
            t.reaction[id as usize] = true;
        }
        t.add_typos();
        t.index_squeezed();
        t
    }

    /// The id of a normalised word (`UNKNOWN` when no list has it); a word no list has is
    /// looked up again with its repeated letters squeezed, for keywords only.
    #[inline]
    pub(super) fn lookup(&self, word: &[u8]) -> u32 {
        if let Some(&id) = self.vocab.get(word) {
            return id;
        }
        let mut squeezed: Small<u8, 64> = Small::new();
        if squeeze(word, &mut squeezed)
            && let Some(&id) = self.squeezed.get(squeezed.as_slice())
        {
            return id;
        }
        UNKNOWN
    }

    #[inline]
    pub(super) fn is_negator(&self, id: u32) -> bool {
        self.negator.get(id as usize).copied().unwrap_or(false)
    }

    #[inline]
    pub(super) fn is_reaction(&self, id: u32) -> bool {
        self.reaction.get(id as usize).copied().unwrap_or(false)
    }

    /// The keyword a single word is on its own, if any.
    pub(super) fn single_word_keyword(&self, id: u32) -> Option<u32> {
        let node = *self.root.get(id as usize)?;
        if node == NONE {
            return None;
        }
        best_keyword(&self.terms, self.nodes[node as usize].terms.iter().copied())
    }

    /// Every entry that starts at word `start` of `ids`.
    #[inline]
    pub(super) fn matches_at<const N: usize>(
        &self,
        ids: &[u32],
        start: usize,
        out: &mut Small<Match, N>,
    ) {
        let Some(&node) = self.root.get(ids[start] as usize) else {
            return;
        };
        if node != NONE {
            self.walk(node, ids, start, start + 1, out);
        }
    }

    fn walk<const N: usize>(
        &self,
        node: u32,
        ids: &[u32],
        start: usize,
        pos: usize,
        out: &mut Small<Match, N>,
    ) {
        let n = &self.nodes[node as usize];
        for &term in &n.terms {
            out.push(Match {
                start: start as u32,
                end: pos as u32,
                term,
            });
        }
        if pos < ids.len()
            && let Some(child) = n.child(ids[pos])
        {
            self.walk(child, ids, start, pos + 1, out);
        }
        if n.gap != NONE {
            let gap = &self.nodes[n.gap as usize];
            for p in pos..ids.len().min(pos + GAP_MAX + 1) {
                if let Some(child) = gap.child(ids[p]) {
                    self.walk(child, ids, start, p + 1, out);
                }
            }
        }
    }

    /// The id of `word` (already normalised, one word), adding it if new.
    fn word(&mut self, word: &str) -> u32 {
        if let Some(&id) = self.vocab.get(word.as_bytes()) {
            return id;
        }
        let id = self.vocab.len() as u32;
        self.vocab.insert(word.as_bytes().into(), id);
        self.root.push(NONE);
        self.negator.push(false);
        self.reaction.push(false);
        id
    }

    fn add_pattern(&mut self, pattern: &str, role: Role, language: &'static str) {
        let slots = match parse(pattern) {
            Ok(slots) => slots,
            Err(problem) => {
                self.problems
                    .push(format!("{language} {pattern:?}: {problem}"));
                return;
            }
        };
        // A keyword's display is its words (first alternatives); phrases and traps show the
        // reply's own words instead.
        let display: Box<str> = if matches!(role, Role::Keyword { .. }) {
            let words: Vec<&str> = slots
                .iter()
                .filter_map(|s| match s {
                    Slot::Alts { alts, .. } => alts.first(),
                    Slot::Gap => None,
                })
                .flat_map(|alt| alt.iter().map(String::as_str))
                .collect();
            words.join(" ").into()
        } else {
            "".into()
        };
        let term = self.terms.len() as u32;
        self.terms.push(Term {
            role,
            language,
            display,
        });
        let mut problems = Vec::new();
        self.insert(None, &slots, term, &mut problems);
        for p in problems {
            self.problems.push(format!("{language} {pattern:?}: {p}"));
        }
    }

    fn insert(&mut self, node: Option<u32>, slots: &[Slot], term: u32, problems: &mut Vec<String>) {
        let Some((slot, rest)) = slots.split_first() else {
            match node {
                Some(n) => self.add_term(n, term),
                None => problems.push("can match an empty text".into()),
            }
            return;
        };
        match slot {
            Slot::Gap => {
                let Some(n) = node else {
                    problems.push("starts with a gap".into());
                    return;
                };
                let gap = match self.nodes[n as usize].gap {
                    NONE => {
                        let g = self.new_node();
                        self.nodes[n as usize].gap = g;
                        g
                    }
                    g => g,
                };
                self.insert(Some(gap), rest, term, problems);
            }
            Slot::Alts { alts, optional } => {
                for alt in alts {
                    let mut at = node;
                    for w in alt {
                        at = Some(self.child(at, w));
                    }
                    self.insert(at, rest, term, problems);
                }
                if *optional {
                    self.insert(node, rest, term, problems);
                }
            }
        }
    }

    fn new_node(&mut self) -> u32 {
        self.nodes.push(Node::new());
        (self.nodes.len() - 1) as u32
    }

    /// The node under `parent` (the root when `None`) for `word`, created if new.
    fn child(&mut self, parent: Option<u32>, word: &str) -> u32 {
        let id = self.word(word);
        match parent {
            None => match self.root[id as usize] {
                NONE => {
                    let n = self.new_node();
                    self.root[id as usize] = n;
                    n
                }
                n => n,
            },
            Some(p) => {
                let children = &self.nodes[p as usize].children;
                match children.binary_search_by_key(&id, |&(w, _)| w) {
                    Ok(i) => children[i].1,
                    Err(i) => {
                        let n = self.new_node();
                        self.nodes[p as usize].children.insert(i, (id, n));
                        n
                    }
                }
            }
        }
    }

    /// Adds `term` to `node`, merging it with an entry of the same kind already there
    /// (the same words listed by two packs, or reached by two expansions).
    fn add_term(&mut self, node: u32, term: u32) {
        let new = self.terms[term as usize].role;
        let existing = self.nodes[node as usize].terms.clone();
        for old_id in existing {
            let old = self.terms[old_id as usize].role;
            match (old, new) {
                (
                    Role::Keyword {
                        meaning: m_old,
                        strong: s_old,
                    },
                    Role::Keyword {
                        meaning: m_new,
                        strong: s_new,
                    },
                ) => {
                    let winner = if m_new.priority() > m_old.priority() {
                        m_new
                    } else {
                        m_old
                    };
                    if m_new.priority() > m_old.priority() {
                        self.terms[old_id as usize].language = self.terms[term as usize].language;
                    }
                    self.terms[old_id as usize].role = Role::Keyword {
                        meaning: winner,
                        strong: s_old || s_new,
                    };
                    return;
                }
                (Role::Courtesy, Role::Courtesy) | (Role::Trap, Role::Trap) => return,
                (Role::Phrase(a), Role::Phrase(b)) if a == b => return,
                _ => {}
            }
        }
        self.nodes[node as usize].terms.push(term);
    }

    /// One-slip typos of the main opt-out keywords, as `Doubtful` keywords.
    fn add_typos(&mut self) {
        for source in TYPO_SOURCES {
            let Some(&id) = self.vocab.get(source.as_bytes()) else {
                self.problems
                    .push(format!("typo source {source:?} is not a keyword"));
                continue;
            };
            let Some(kw) = self.single_word_keyword(id) else {
                self.problems
                    .push(format!("typo source {source:?} is not a keyword"));
                continue;
            };
            let language = self.terms[kw as usize].language;
            for variant in typos(source) {
                if self.vocab.contains_key(variant.as_bytes())
                    || TYPO_EXCLUSIONS.contains(&variant.as_str())
                {
                    continue;
                }
                let term = self.terms.len() as u32;
                self.terms.push(Term {
                    role: Role::Keyword {
                        meaning: Meaning::Doubtful,
                        strong: false,
                    },
                    language,
                    display: (*source).into(),
                });
                let node = self.child(None, &variant);
                self.add_term(node, term);
            }
        }
    }

    fn index_squeezed(&mut self) {
        let words: Vec<(Box<[u8]>, u32)> =
            self.vocab.iter().map(|(w, &id)| (w.clone(), id)).collect();
        for (word, id) in words {
            if self.single_word_keyword(id).is_none() {
                continue;
            }
            let mut squeezed: Small<u8, 64> = Small::new();
            squeeze(&word, &mut squeezed);
            self.squeezed
                .entry(squeezed.as_slice().into())
                .or_insert(id);
        }
    }
}

/// The keyword among `terms` that wins (opt-out first), if any.
pub(super) fn best_keyword(all: &[Term], terms: impl Iterator<Item = u32>) -> Option<u32> {
    terms
        .filter_map(|t| match all[t as usize].role {
            Role::Keyword { meaning, .. } => Some((meaning.priority(), t)),
            _ => None,
        })
        .max_by_key(|&(p, _)| p)
        .map(|(_, t)| t)
}

/// Parses the pattern syntax of `packs`.
fn parse(pattern: &str) -> Result<Vec<Slot>, String> {
    let mut slots = Vec::new();
    for raw in pattern.split_whitespace() {
        if raw == "*" {
            if matches!(slots.last(), Some(Slot::Gap)) {
                return Err("two gaps in a row".into());
            }
            slots.push(Slot::Gap);
            continue;
        }
        let (body, optional) = match raw.strip_suffix('?') {
            Some(body) => (body, true),
            None => (raw, false),
        };
        if optional && matches!(slots.last(), Some(Slot::Gap)) {
            return Err("an optional slot after a gap".into());
        }
        let mut alts = Vec::new();
        for alt in body.split('|') {
            let words: Vec<String> = super::normalize(alt)
                .split(' ')
                .filter(|w| !w.is_empty())
                .map(String::from)
                .collect();
            if words.is_empty() {
                return Err(format!("empty alternative in {raw:?}"));
            }
            alts.push(words);
        }
        slots.push(Slot::Alts { alts, optional });
    }
    match (slots.first(), slots.last()) {
        (None, _) => Err("empty pattern".into()),
        (Some(Slot::Gap), _) | (_, Some(Slot::Gap)) => Err("starts or ends with a gap".into()),
        _ => Ok(slots),
    }
}

/// The one-slip variants of `word`: two neighbouring letters swapped, and for words of six
/// letters or more, one letter missing.
fn typos(word: &str) -> Vec<String> {
    let chars: Vec<char> = word.chars().collect();
    let mut out = Vec::new();
    if chars.len() >= 4 {
        for i in 0..chars.len() - 1 {
            if chars[i] == chars[i + 1] {
                continue;
            }
            let mut v = chars.clone();
            v.swap(i, i + 1);
            out.push(v.into_iter().collect());
        }
    }
    if chars.len() >= 6 {
        for i in 0..chars.len() {
            let mut v = chars.clone();
            v.remove(i);
            out.push(v.into_iter().collect());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Normalises `text` into `into` with repeated words dropped, as the classifier reads it.
pub(super) fn read(text: &str, into: &mut Normalized) {
    normalize_into(text, into, true);
}
