//! The opt-out footer (SPEC 3.3): does a campaign text already tell the recipient how to opt
//! out, and appending the account's footer when it does not.
//!
//! The check errs towards "no instruction": a missed instruction costs a duplicate line, a
//! false one sends a marketing message with no way out. So a bare "stop" ("stop by our store")
//! never counts; it counts only in an instruction shape:
//! 1. an opt-out phrase anywhere: "opt out", "opt-out", "optout", "unsubscribe", "unsub",
//!    `STOP2END`-style tokens, and their translations ("désabonner", "darse de baja",
//!    "abmelden", "afmelden", "disiscriviti", "descadastrar", …);
//! 2. a sending verb, optionally followed by filler words, then an opt-out keyword: "Reply
//!    STOP", "Txt STOP", "text STOP", "reply with the word STOP", "répondez STOP", "responde
//!    BAJA", "envie SAIR", "antworte STOPP", "stuur STOP";
//! 3. a keyword that opens a clause, then "to"/"au"/"al"/"an"/… and a number of 3+ digits or
//!    an opt-out word: "STOP to end", "STOP to 0412345678", "STOP au 36180", "STOP SMS au
//!    36180", "BAJA al 2345".
//!
//! Matching is on words: case, accents (é → e) and zero-width characters are ignored;
//! sentence punctuation (`. , ; : ! ? ( )` and new lines) ends a clause, so "reply to this
//! text, stop by" is not an instruction.

/// Words that a recipient is told to send (English, then the SPEC 3.6 language packs).
const KEYWORDS: &[&str] = &[
    "stop",
    "stopall",
    "unsubscribe",
    "unsub",
    "optout", // English
    "arret",  // French (ARRÊT; French senders mostly write STOP)
    "baja",
    "alto", // Spanish
    "parar",
    "sair",  // Portuguese (PARAR is also Spanish)
    "stopp", // German
];

/// Verbs that introduce the keyword to send.
const VERBS: &[&str] = &[
    "reply",
    "txt",
    "text",
    "send",
    "sms",
    "respond", // English
    "repondez",
    "repondre",
    "reponds",
    "envoyez",
    "envoyer",
    "envoie",
    "tapez", // French
    "responde",
    "responda",
    "responder",
    "envia",
    "envie",
    "enviar",
    "manda",
    "mande",
    "contesta",
    "conteste", // Spanish, Portuguese
    "rispondi",
    "risponda",
    "invia",
    "invii",
    "scrivi", // Italian
    "antworte",
    "antworten",
    "sende",
    "senden",
    "schicke",
    "schick", // German
    "antwoord",
    "stuur", // Dutch
];

/// Words allowed between a verb and its keyword ("reply with the word STOP").
const FILLERS: &[&str] = &[
    "with", "w", "the", "word", "keyword", "back", "us", "avec", "le", "mot", "con", "la",
    "palabra", "com", "a", "palavra", "il", "parola", "mit", "dem", "wort", "met", "het", "woord",
];

/// How many filler words may sit between a verb and its keyword.
const MAX_FILLERS: usize = 3;

/// Words that join a keyword to where or why it is sent ("STOP to end", "STOP au 36180").
const CONNECTORS: &[&str] = &[
    "to", "au", "al", "a", "an", "aan", "naar", "para", "per", "pour",
];

/// Words after a connector that make "KEYWORD to WORD" an instruction.
const PURPOSES: &[&str] = &[
    "end",
    "quit",
    "opt",
    "optout",
    "unsubscribe",
    "unsub",
    "stop",
    "cancel",
    "cease",
    "finish",
];

/// Phrases that are opt-out instructions wherever they appear, as word sequences.
const PHRASES: &[&[&str]] = &[
    &["opt", "out"],
    &["optout"],
    &["unsubscribe"],
    &["unsub"],
    // French
    &["desabonner"],
    &["desabonnement"],
    &["desabonnez"],
    &["desinscrire"],
    &["desinscription"],
    &["desinscrivez"],
    // Spanish
    &["darse", "de", "baja"],
    &["darte", "de", "baja"],
    &["dar", "de", "baja"],
    &["desuscribirse"],
    &["desuscribete"],
    // Portuguese
    &["descadastrar"],
    &["descadastre"],
    &["descadastro"],
    // Italian
    &["disiscriviti"],
    &["disiscrizione"],
    // German
    &["abmelden"],
    &["abmeldung"],
    &["abbestellen"],
    // Dutch
    &["afmelden"],
    &["uitschrijven"],
];

/// A word of the text, or the end of a clause.
#[derive(Debug, PartialEq, Eq)]
enum Token {
    Word(String),
    Break,
}

/// True when `text` already tells the recipient how to opt out (see the module docs for
/// what counts). Case-insensitive.
pub fn has_optout_instruction(text: &str) -> bool {
    let tokens = tokenize(text);
    (0..tokens.len()).any(|i| {
        phrase_at(&tokens, i) || verb_keyword_at(&tokens, i) || keyword_purpose_at(&tokens, i)
    })
}

/// Appends the account's opt-out footer to a campaign text when `enabled` and the text has
/// no opt-out instruction; otherwise returns the text unchanged. A blank footer appends
/// nothing.
///
/// The footer goes on a new line after the text with its trailing white space trimmed: a
/// line feed costs the same as a space (one GSM-7 septet, one UCS-2 unit) and keeps the
/// notice from reading as the end of the last sentence ("…stop by our store Reply STOP to opt
/// out"). Run it on the template before personalisation, so every recipient gets the same
/// decision.
pub fn with_footer(text: &str, footer: &str, enabled: bool) -> String {
    let footer = footer.trim();
    if !enabled || footer.is_empty() || has_optout_instruction(text) {
        return text.to_owned();
    }
    let body = text.trim_end();
    if body.is_empty() {
        footer.to_owned()
    } else {
        format!("{body}\n{footer}")
    }
}

fn word(tokens: &[Token], i: usize) -> Option<&str> {
    match tokens.get(i) {
        Some(Token::Word(w)) => Some(w),
        _ => None,
    }
}

fn is_word_in(tokens: &[Token], i: usize, list: &[&str]) -> bool {
    word(tokens, i).is_some_and(|w| list.contains(&w))
}

/// Rule 1: an opt-out phrase (or a `stop2…` token such as STOP2END) starts at `i`.
fn phrase_at(tokens: &[Token], i: usize) -> bool {
    if word(tokens, i).is_some_and(|w| w.len() > 5 && w.starts_with("stop2")) {
        return true;
    }
    PHRASES.iter().any(|phrase| {
        phrase
            .iter()
            .enumerate()
            .all(|(k, part)| word(tokens, i + k) == Some(part))
    })
}

/// Rule 2: a verb at `i`, up to [`MAX_FILLERS`] fillers, then a keyword, in one clause.
fn verb_keyword_at(tokens: &[Token], i: usize) -> bool {
    if !is_word_in(tokens, i, VERBS) {
        return false;
    }
    for j in i + 1..=i + 1 + MAX_FILLERS {
        if is_word_in(tokens, j, KEYWORDS) {
            return true;
        }
        if !is_word_in(tokens, j, FILLERS) {
            return false;
        }
    }
    false
}

/// Rule 3: a keyword opening a clause at `i`, an optional "sms", a connector, then a number
/// of 3+ digits or an opt-out word.
fn keyword_purpose_at(tokens: &[Token], i: usize) -> bool {
    let opens_clause = i == 0 || tokens.get(i - 1) == Some(&Token::Break);
    if !opens_clause || !is_word_in(tokens, i, KEYWORDS) {
        return false;
    }
    let mut j = i + 1;
    if word(tokens, j) == Some("sms") {
        j += 1;
    }
    if !is_word_in(tokens, j, CONNECTORS) {
        return false;
    }
    word(tokens, j + 1).is_some_and(|w| {
        PURPOSES.contains(&w) || (w.len() >= 3 && w.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// Splits `text` into lower-case, accent-folded words and clause breaks.
fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    fn flush(current: &mut String, tokens: &mut Vec<Token>) {
        if !current.is_empty() {
            tokens.push(Token::Word(std::mem::take(current)));
        }
    }
    for c in text.chars() {
        if is_invisible(c) {
            continue;
        }
        if c.is_alphanumeric() {
            current.extend(c.to_lowercase().map(fold_accent));
            continue;
        }
        flush(&mut current, &mut tokens);
        if matches!(
            c,
            '.' | ',' | ';' | ':' | '!' | '?' | '(' | ')' | '\n' | '\r'
        ) && tokens.last() != Some(&Token::Break)
        {
            tokens.push(Token::Break);
        }
    }
    flush(&mut current, &mut tokens);
    tokens
}

/// Zero-width characters that can sit inside a word (pasted text, some keyboards).
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' | '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}'
    )
}

/// Drops the accent of a lower-case Latin letter (é → e); other characters are unchanged.
fn fold_accent(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
        'ç' => 'c',
        'è' | 'é' | 'ê' | 'ë' => 'e',
        'ì' | 'í' | 'î' | 'ï' => 'i',
        'ñ' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' => 'o',
        'ù' | 'ú' | 'û' | 'ü' => 'u',
        'ý' | 'ÿ' => 'y',
        other => other,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const FOOTER: &str = "Reply STOP to opt out";

    #[test]
    fn english_instructions_are_recognised() {
        for text in [
            "Big sale today! Reply STOP to opt out",
            "Sale. Txt STOP to 0412345678",
            "Sale. text stop to end",
            "Sale, opt out anytime",
            "Sale. Opt-out: reply STOP",
            "Sale. To unsubscribe click the link",
            "Sale ends soon STOP2end",
            "Sale. Reply STOP to unsubscribe",
            "Sale today. STOP to end",
            "Sale today. STOP to 0412 345 678",
            "Sale today\nSTOP to opt-out",
            "Sale! Reply with the word \"STOP\" to stop messages",
            "Sale! Reply 'stop' to opt out",
            "Sale. Optout: 0412345678",
            "Sale. Reply STOPALL",
        ] {
            assert!(has_optout_instruction(text), "{text:?}");
        }
    }

    #[test]
    fn language_pack_instructions_are_recognised() {
        for text in [
            "Soldes ce week-end ! STOP au 36180",
            "Soldes ! STOP SMS au 36180",
            "Soldes ! Répondez STOP pour vous désabonner",
            "Pour vous désinscrire, envoyez ARRÊT",
            "Rebajas hoy, responde BAJA",
            "Rebajas: BAJA al 2345",
            "Para darse de baja envía BAJA",
            "Promoção! Responda SAIR para sair",
            "Saldi! Rispondi STOP",
            "Angebot! Antworte STOPP zum Abmelden",
            "Angebot: STOPP an 12345",
            "Aanbieding! Stuur STOP om af te melden",
            "Aanbieding, afmelden via de link",
        ] {
            assert!(has_optout_instruction(text), "{text:?}");
        }
    }

    #[test]
    fn a_bare_stop_is_not_an_instruction() {
        for text in [
            "Stop by our store this weekend",
            "Don't stop shopping! 20% off",
            "Reply to this text, stop by the shop and save",
            "Our bus stop to 123 George St has moved",
            "The sale will end at 5pm",
            "Stop to smell the roses. Flowers 20% off",
            "La temperatura baja: abrigos 20% menos",
            "",
        ] {
            assert!(!has_optout_instruction(text), "{text:?}");
        }
    }

    #[test]
    fn case_accents_and_zero_width_characters_do_not_matter() {
        assert!(has_optout_instruction("rEpLy sToP"));
        assert!(has_optout_instruction("Reply S\u{200B}TOP"));
        assert!(has_optout_instruction("DÉSABONNEMENT : lien"));
    }

    #[test]
    fn footer_is_not_appended_when_the_text_says_reply_stop_to_opt_out() {
        let text = "Sale today. Reply STOP to opt out";
        assert_eq!(with_footer(text, FOOTER, true), text);
    }

    #[test]
    fn footer_is_appended_on_a_new_line_otherwise() {
        assert_eq!(
            with_footer("Sale today, stop by!  \n", FOOTER, true),
            "Sale today, stop by!\nReply STOP to opt out"
        );
    }

    #[test]
    fn footer_is_not_appended_when_disabled_or_blank() {
        assert_eq!(with_footer("Sale today", FOOTER, false), "Sale today");
        assert_eq!(with_footer("Sale today", "  ", true), "Sale today");
    }

    #[test]
    fn footer_alone_is_the_text_of_an_empty_message() {
        assert_eq!(with_footer(" ", FOOTER, true), FOOTER);
    }

    #[test]
    fn the_default_footer_is_itself_an_instruction() {
        assert!(has_optout_instruction(FOOTER));
        let once = with_footer("Sale", FOOTER, true);
        assert_eq!(with_footer(&once, FOOTER, true), once);
    }
}
