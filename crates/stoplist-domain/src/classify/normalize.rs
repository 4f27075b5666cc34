//! The text normalisation every tier of the classifier reads through, and the small
//! allocation-free buffers and hasher it runs on.
//!
//! Normalising maps a reply to lower-case words separated by single spaces:
//! - case is folded, Latin accents and ligatures are folded to ASCII (`ARRÊT` → `arret`,
//!   `Straße` → `strasse`), decomposed accents (combining marks) are dropped;
//! - fullwidth forms (`ＳＴＯＰ`), circled letters (`Ⓢ`) and the "fancy font" mathematical
//!   letters (`𝐒𝐓𝐎𝐏`) are read as the ASCII letter they draw;
//! - invisible characters (zero-width space and joiners, word joiner, BOM, soft hyphen,
//!   variation selectors) are dropped *inside* words, so `S\u{200B}TOP` is `stop`;
//! - apostrophes are dropped (`don't` → `dont`, `m'envoyer` → `menvoyer`), every other
//!   character that is not a letter or digit (white space of any kind including NBSP,
//!   punctuation, emoji, symbols) separates words;
//! - a run of three or more of the same letter becomes one (`STOOOOP` → `stop`,
//!   `pleaseeee` → `please`) while doubled letters are kept, since real words have them
//!   (`too`, `all`, `stoop`, German `stopp`).
//!
//! It owns no keyword knowledge: which words mean what is in `packs`, how they are matched
//! in `tables`.

use std::hash::{BuildHasherDefault, Hasher};

/// A vector that keeps its first `N` items on the stack and spills to the heap beyond
/// that, so that classifying a typical reply allocates nothing for its working copies.
pub(crate) struct Small<T: Copy + Default, const N: usize> {
    inline: [T; N],
    len: usize,
    heap: Vec<T>,
    spilled: bool,
}

impl<T: Copy + Default, const N: usize> Small<T, N> {
    pub(crate) fn new() -> Self {
        Small {
            inline: [T::default(); N],
            len: 0,
            heap: Vec::new(),
            spilled: false,
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, value: T) {
        if self.spilled {
            self.heap.push(value);
        } else if self.len < N {
            self.inline[self.len] = value;
            self.len += 1;
        } else {
            self.heap.reserve(N * 2);
            self.heap.extend_from_slice(&self.inline[..self.len]);
            self.heap.push(value);
            self.spilled = true;
        }
    }

    pub(crate) fn extend_from_slice(&mut self, values: &[T]) {
        for &v in values {
            self.push(v);
        }
    }

    pub(crate) fn as_slice(&self) -> &[T] {
        if self.spilled {
            &self.heap
        } else {
            &self.inline[..self.len]
        }
    }

    pub(crate) fn len(&self) -> usize {
        if self.spilled {
            self.heap.len()
        } else {
            self.len
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn truncate(&mut self, len: usize) {
        if self.spilled {
            self.heap.truncate(len);
        } else {
            self.len = self.len.min(len);
        }
    }

    pub(crate) fn last(&self) -> Option<&T> {
        self.as_slice().last()
    }
}

/// A word of the normalised text: its byte range in the normalised buffer.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) start: u32,
    pub(crate) end: u32,
}

impl Span {
    pub(crate) fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// A normalised text: the words joined by single spaces, and where each word is.
pub(crate) struct Normalized {
    pub(crate) bytes: Small<u8, 256>,
    pub(crate) words: Small<Span, 48>,
}

impl Normalized {
    pub(crate) fn new() -> Self {
        Normalized {
            bytes: Small::new(),
            words: Small::new(),
        }
    }

    pub(crate) fn word(&self, i: usize) -> &[u8] {
        &self.bytes.as_slice()[self.words.as_slice()[i].range()]
    }

    /// The words `from..to` joined by single spaces, as text.
    pub(crate) fn joined(&self, from: usize, to: usize) -> String {
        let words = self.words.as_slice();
        if from >= to || to > words.len() {
            return String::new();
        }
        let bytes = &self.bytes.as_slice()[words[from].start as usize..words[to - 1].end as usize];
        String::from_utf8_lossy(bytes).into_owned()
    }
}

/// What one input character becomes.
enum Out {
    /// Dropped without separating words (apostrophes, invisible characters).
    Drop,
    /// Ends the current word.
    Separate,
    /// One character of a word.
    One(char),
    /// Two characters of a word (ligatures: `æ` → `ae`, `ß` → `ss`).
    Two(char, char),
}

/// Builds the normalised form of `text` into `into`. With `dedupe`, a word equal to the
/// word before it is dropped (`STOP STOP STOP` → `stop`), which the classifier wants and
/// the public [`super::normalize`] does not.
pub(crate) fn normalize_into(text: &str, into: &mut Normalized, dedupe: bool) {
    let mut w = Writer {
        out: into,
        in_word: false,
        word_start: 0,
        last: '\0',
        run: 0,
        last_len: 0,
        dedupe,
    };
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b < 0x80 {
            // ASCII fast path: most replies never leave it.
            match b {
                b'a'..=b'z' | b'0'..=b'9' => w.push_ascii(b),
                b'A'..=b'Z' => w.push_ascii(b + 32),
                b'\'' | b'`' => {}
                _ => w.end_word(),
            }
            i += 1;
            continue;
        }
        let Some(c) = text[i..].chars().next() else {
            break;
        };
        i += c.len_utf8();
        match map_char(c) {
            Out::Drop => {}
            Out::Separate => w.end_word(),
            Out::One(o) => w.push(o),
            Out::Two(a, b) => {
                w.push(a);
                w.push(b);
            }
        }
    }
    w.end_word();
}

struct Writer<'a> {
    out: &'a mut Normalized,
    in_word: bool,
    word_start: usize,
    last: char,
    run: u8,
    last_len: usize,
    dedupe: bool,
}

impl Writer<'_> {
    fn start_word(&mut self) {
        if !self.out.bytes.is_empty() {
            self.out.bytes.push(b' ');
        }
        self.word_start = self.out.bytes.len();
        self.in_word = true;
        self.last = '\0';
        self.run = 0;
    }

    /// [`Writer::push`] for a lower-case ASCII letter or digit (the common case).
    #[inline]
    fn push_ascii(&mut self, b: u8) {
        if !self.in_word {
            self.start_word();
        }
        let c = b as char;
        if c == self.last && b.is_ascii_alphabetic() {
            self.run = self.run.saturating_add(1);
            if self.run == 3 {
                let len = self.out.bytes.len();
                self.out.bytes.truncate(len - self.last_len);
            }
            if self.run >= 3 {
                return;
            }
        } else {
            self.last = c;
            self.run = 1;
        }
        self.out.bytes.push(b);
        self.last_len = 1;
    }

    fn push(&mut self, c: char) {
        if !self.in_word {
            self.start_word();
        }
        if c == self.last && c.is_alphabetic() {
            self.run = self.run.saturating_add(1);
            if self.run == 3 {
                // Three of a kind: keep one (the two already written become one).
                let len = self.out.bytes.len();
                self.out.bytes.truncate(len - self.last_len);
            }
            if self.run >= 3 {
                return;
            }
        } else {
            self.last = c;
            self.run = 1;
        }
        let mut buf = [0u8; 4];
        let encoded = c.encode_utf8(&mut buf);
        self.out.bytes.extend_from_slice(encoded.as_bytes());
        self.last_len = encoded.len();
    }

    fn end_word(&mut self) {
        if !self.in_word {
            return;
        }
        self.in_word = false;
        let span = Span {
            start: self.word_start as u32,
            end: self.out.bytes.len() as u32,
        };
        if self.dedupe
            && let Some(prev) = self.out.words.last().copied()
        {
            let bytes = self.out.bytes.as_slice();
            if bytes[prev.range()] == bytes[span.range()] {
                // Drop the repeated word and the space before it.
                self.out.bytes.truncate(self.word_start.saturating_sub(1));
                return;
            }
        }
        self.out.words.push(span);
    }
}

/// Maps one non-ASCII character.
fn map_char(c: char) -> Out {
    match c {
        // Apostrophes and primes: dropped so that `don’t` reads as `dont`.
        '\u{2018}' | '\u{2019}' | '\u{201B}' | '\u{02BC}' | '\u{00B4}' | '\u{2032}'
        | '\u{FF07}' => Out::Drop,
        // Invisible characters: zero-width space, non-joiner, joiner, word joiner and the
        // invisible operators, BOM, soft hyphen, Mongolian vowel separator, combining
        // grapheme joiner, variation selectors (emoji presentation), combining marks
        // (decomposed accents).
        '\u{200B}'..='\u{200D}'
        | '\u{2060}'..='\u{2064}'
        | '\u{FEFF}'
        | '\u{00AD}'
        | '\u{180E}'
        | '\u{034F}'
        | '\u{FE00}'..='\u{FE0F}'
        | '\u{0300}'..='\u{036F}' => Out::Drop,
        // Fullwidth ASCII (`ＳＴＯＰ！`): the ASCII character it draws.
        '\u{FF01}'..='\u{FF5E}' => {
            let ascii = char::from_u32(c as u32 - 0xFEE0).unwrap_or(' ');
            if ascii.is_ascii_alphanumeric() {
                Out::One(ascii.to_ascii_lowercase())
            } else {
                Out::Separate
            }
        }
        // Circled letters Ⓐ..Ⓩ, ⓐ..ⓩ.
        '\u{24B6}'..='\u{24CF}' => Out::One(ascii_letter(c as u32 - 0x24B6)),
        '\u{24D0}'..='\u{24E9}' => Out::One(ascii_letter(c as u32 - 0x24D0)),
        // Mathematical alphanumeric letters (bold, italic, script, … "fancy fonts"): blocks
        // of 52 letters A..Z a..z from U+1D400, then digits from U+1D7CE in blocks of 10.
        '\u{1D400}'..='\u{1D6A3}' => {
            let idx = (c as u32 - 0x1D400) % 52;
            Out::One(ascii_letter(idx % 26))
        }
        '\u{1D7CE}'..='\u{1D7FF}' => {
            let d = (c as u32 - 0x1D7CE) % 10;
            Out::One(char::from(b'0' + d as u8))
        }
        _ if c.is_alphanumeric() => {
            let mut lower = c.to_lowercase();
            match (lower.next(), lower.next()) {
                (Some(l), None) => fold(l),
                // Multi-character lower cases (`İ` → `i` + combining dot): keep the first,
                // the rest are combining marks that the normalisation drops anyway.
                (Some(l), Some(_)) => fold(l),
                (None, _) => Out::Separate,
            }
        }
        _ => Out::Separate,
    }
}

fn ascii_letter(idx: u32) -> char {
    char::from(b'a' + (idx % 26) as u8)
}

/// Folds a lower-case Latin letter with a diacritic (Latin-1 Supplement and Latin
/// Extended-A, which cover the six language packs and most of Europe) to ASCII.
fn fold(c: char) -> Out {
    let base = match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' | 'ª' => 'a',
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => 'c',
        'ď' | 'đ' | 'ð' => 'd',
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => 'e',
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => 'g',
        'ĥ' | 'ħ' => 'h',
        'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => 'i',
        'ĵ' => 'j',
        'ķ' => 'k',
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => 'l',
        'ñ' | 'ń' | 'ņ' | 'ň' | 'ŉ' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' | 'º' => 'o',
        'ŕ' | 'ŗ' | 'ř' => 'r',
        'ś' | 'ŝ' | 'ş' | 'š' | 'ſ' => 's',
        'ţ' | 'ť' | 'ŧ' => 't',
        'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => 'u',
        'ŵ' => 'w',
        'ý' | 'ÿ' | 'ŷ' => 'y',
        'ź' | 'ż' | 'ž' => 'z',
        'æ' => return Out::Two('a', 'e'),
        'œ' => return Out::Two('o', 'e'),
        'ß' => return Out::Two('s', 's'),
        'þ' => return Out::Two('t', 'h'),
        'ĳ' => return Out::Two('i', 'j'),
        other => other,
    };
    Out::One(base)
}

/// Squeezes every run of a repeated letter to one (`stoop` → `stop`, `stopp` → `stop`):
/// the classifier's second look at a word it does not know. Returns `None` when nothing
/// repeats.
pub(crate) fn squeeze<const N: usize>(word: &[u8], into: &mut Small<u8, N>) -> bool {
    let mut changed = false;
    let mut prev: Option<u8> = None;
    for &b in word {
        if prev == Some(b) && b.is_ascii_alphabetic() {
            changed = true;
            continue;
        }
        into.push(b);
        prev = Some(b);
    }
    changed
}

/// A small, fast, non-cryptographic hasher (the rustc "Fx" hash) for the classifier's
/// word tables. The tables are built from fixed word lists and only *looked up* with
/// reply text, never filled from it, so hash flooding cannot degrade them.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

pub(crate) type FxBuild = BuildHasherDefault<FxHasher>;
pub(crate) type FxMap<K, V> = std::collections::HashMap<K, V, FxBuild>;
