//! Phone numbers: the one place where raw input becomes a [`PhoneNumber`].
//!
//! This module owns the rules for what stoplist accepts as a number: input is normalized with
//! the account's default [`Region`] to E.164 by libphonenumber's rules (the `rlibphonenumber`
//! port and its metadata), must be a *valid* number, and must be able to receive SMS. Anything
//! else is rejected with a typed [`PhoneError`] so that an import report can count rejections
//! by kind. It also owns how numbers appear in logs ([`PhoneNumber::masked`], [`mask_raw`]):
//! numbers are personal data.
//!
//! It does not own where numbers are stored, which account uses which region (the settings
//! do), nor anything about opt-outs.
//!
//! # Two parsing paths, one answer
//!
//! [`PhoneNumber::parse_with_library`] is the reference: the library's `parse`, then
//! `is_valid_number`, `get_number_type` and `is_possible_number_with_reason`. It costs about
//! 1 to 1.6 µs a number. [`PhoneNumber::parse`] first tries a fast path (see the private `fast`
//! module below) that replays the library's algorithm for plain input (ASCII digits, spaces,
//! `-`, `.`, `(`, `)` and one leading `+`) on a few prepared calling codes, using the library's
//! own metadata patterns compiled into small digit DFAs. Whenever the fast path is not sure it
//! declines and the library decides. The two paths must give identical answers for every
//! input; `tests/phone_props.rs` checks this on millions of generated inputs.

use std::fmt;
use std::str::FromStr;

use rlibphonenumber::enums::Region as LibRegion;
use rlibphonenumber::{
    PHONE_NUMBER_UTIL, ParseError, PhoneNumberType, ValidationError,
    get_national_significant_number_owned,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Longest raw input looked at, in bytes; longer input is [`PhoneError::TooLong`]. (Google's
/// libphonenumber rejects input over 250 characters as too long; the Rust port does not check,
/// so both our paths do.)
const MAX_RAW_LEN: usize = 250;
/// Fewest digits in an E.164 number we accept: Niue (+683) mobiles have 4-digit national
/// numbers, so a real mobile can be 7 digits long in all.
const MIN_E164_DIGITS: usize = 7;
/// Most digits in an E.164 number (ITU-T E.164).
const MAX_E164_DIGITS: usize = 15;

// ---------------------------------------------------------------------------------------------
// Region
// ---------------------------------------------------------------------------------------------

/// An ISO 3166-1 alpha-2 region known to libphonenumber (it has numbering metadata), stored in
/// uppercase. An account's default region decides how national-format input ("0412 345 678")
/// is read. Defaults to [`Region::AU`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region {
    /// Always two ASCII uppercase letters (checked by [`Region::parse`]).
    code: [u8; 2],
    lib: LibRegion,
}

/// The text given was not a two-letter region that libphonenumber has metadata for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown region {given:?}: the default region must be a two-letter ISO 3166 region such as AU, NZ, US, GB, IN"
)]
pub struct RegionError {
    given: String,
}

impl RegionError {
    /// The text that was given as a region.
    pub fn given(&self) -> &str {
        &self.given
    }
}

impl Region {
    /// Australia.
    pub const AU: Region = Region {
        code: *b"AU",
        lib: LibRegion::AU,
    };

    /// Parses a two-letter ISO 3166-1 region code, in either case ("au" is [`Region::AU`]).
    /// Fails for anything that is not two ASCII letters or has no libphonenumber metadata
    /// (e.g. "ZZ", "001").
    pub fn parse(s: &str) -> Result<Region, RegionError> {
        let err = || RegionError {
            given: s.to_owned(),
        };
        let &[a, b] = s.as_bytes() else {
            return Err(err());
        };
        if !a.is_ascii_alphabetic() || !b.is_ascii_alphabetic() {
            return Err(err());
        }
        let code = [a.to_ascii_uppercase(), b.to_ascii_uppercase()];
        let lib = LibRegion::from_code(std::str::from_utf8(&code).map_err(|_| err())?)
            .map_err(|_| err())?;
        if PHONE_NUMBER_UTIL.get_country_code_for_region(lib).is_none() {
            return Err(err());
        }
        Ok(Region { code, lib })
    }

    /// The uppercase two-letter code, e.g. "AU".
    pub fn as_str(&self) -> &str {
        // `code` holds two ASCII letters (see `parse`), so this never takes the fallback.
        std::str::from_utf8(&self.code).unwrap_or("ZZ")
    }

    fn lib(self) -> LibRegion {
        self.lib
    }
}

impl Default for Region {
    fn default() -> Self {
        Region::AU
    }
}

impl FromStr for Region {
    type Err = RegionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Region::parse(s)
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Region({})", self.as_str())
    }
}

impl Serialize for Region {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Region {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Region::parse(&s).map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------------------------
// PhoneError
// ---------------------------------------------------------------------------------------------

/// Why an input is not a number stoplist can text. `code()` is stable (API, import reports,
/// database); `Display` is the human reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PhoneError {
    /// Nothing but whitespace.
    #[error("empty")]
    Empty,
    /// Not a phone number at all: letters (including extensions such as "ext 12"), no
    /// digits, or a shape libphonenumber does not read.
    #[error("not a number")]
    NotANumber,
    /// Too few digits for the region (or for any number).
    #[error("too short")]
    TooShort,
    /// Too many digits for the region (or for any number).
    #[error("too long")]
    TooLong,
    /// An international prefix or `+` followed by no known country calling code.
    #[error("unknown country code")]
    UnknownCountryCode,
    /// A possible length, but no number of that region has this form.
    #[error("not a valid number for its region")]
    InvalidForRegion,
    /// A valid number that cannot receive SMS (landline, toll-free, premium, VoIP, pager…).
    #[error("not a mobile (cannot receive SMS)")]
    NotAMobile,
}

impl PhoneError {
    /// Every variant, in declaration order (for reports that count by kind).
    pub const ALL: [PhoneError; 7] = [
        PhoneError::Empty,
        PhoneError::NotANumber,
        PhoneError::TooShort,
        PhoneError::TooLong,
        PhoneError::UnknownCountryCode,
        PhoneError::InvalidForRegion,
        PhoneError::NotAMobile,
    ];

    /// Stable snake_case code, equal to the serde form.
    pub fn code(&self) -> &'static str {
        match self {
            PhoneError::Empty => "empty",
            PhoneError::NotANumber => "not_a_number",
            PhoneError::TooShort => "too_short",
            PhoneError::TooLong => "too_long",
            PhoneError::UnknownCountryCode => "unknown_country_code",
            PhoneError::InvalidForRegion => "invalid_for_region",
            PhoneError::NotAMobile => "not_a_mobile",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// PhoneNumber
// ---------------------------------------------------------------------------------------------

/// A phone number in E.164 form ("+61412345678") that can receive SMS.
///
/// Invariants: `'+'` then 7 to 15 ASCII digits, the first not `0`. Built only by
/// [`PhoneNumber::parse`] (which also guarantees libphonenumber finds it valid and of type
/// MOBILE or FIXED_LINE_OR_MOBILE) or by the shape-only [`PhoneNumber::from_trusted_e164`] /
/// [`PhoneNumber::from_u64`] for values we stored ourselves. Stored inline (no heap); orders
/// and compares as its E.164 string. `Debug` is masked because numbers are personal data.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneNumber {
    /// The E.164 text, zero-padded after `len` bytes.
    buf: [u8; 1 + MAX_E164_DIGITS],
    len: u8,
}

/// Which number types can receive SMS.
///
/// Accepted: MOBILE, and FIXED_LINE_OR_MOBILE (NANPA numbers, US/CA, cannot be told apart
/// and are all classified that way). Rejected as [`PhoneError::NotAMobile`]: FIXED_LINE,
/// TOLL_FREE, PREMIUM_RATE, SHARED_COST, UAN, VOICEMAIL, PAGER, and also VOIP and
/// PERSONAL_NUMBER: in the metadata these are AU 14xx VoIP ranges, GB 056 VoIP, GB and NZ 070
/// "personal numbers" (follow-me redirection services) and US 500/52x personal communication
/// numbers; none of them is a range carriers deliver SMS to reliably, and the mobile ranges
/// we need are all MOBILE (or FIXED_LINE_OR_MOBILE).
fn can_receive_sms(t: PhoneNumberType) -> bool {
    matches!(
        t,
        PhoneNumberType::Mobile | PhoneNumberType::FixedLineOrMobile
    )
}

impl PhoneNumber {
    /// Normalizes `raw` with `region` as the default region to an E.164 number that can
    /// receive SMS, or says why not. Accepts the usual written forms: "0412 345 678",
    /// "+61 412 345 678", "61412345678", "+61 (0)412 345 678", "0011 61 412 345 678".
    ///
    /// Tries the fast path first and falls back to [`PhoneNumber::parse_with_library`]; the
    /// answer is always identical to `parse_with_library`'s.
    pub fn parse(raw: &str, region: Region) -> Result<PhoneNumber, PhoneError> {
        match fast::parse(raw, region, |cc, nsn| {
            PhoneNumber::from_parts(cc, nsn.iter().map(|d| b'0' + d))
        }) {
            Some(answer) => answer,
            None => PhoneNumber::parse_with_library(raw, region),
        }
    }

    /// `PhoneNumber::parse(raw, region).map(|n| n.as_u64())` without building the E.164 text
    /// on the fast path: for callers that keep only keys (a campaign preview of millions of
    /// rows).
    pub fn parse_key(raw: &str, region: Region) -> Result<u64, PhoneError> {
        match fast::parse(raw, region, key_from_parts) {
            Some(answer) => answer,
            None => PhoneNumber::parse_with_library(raw, region).map(|n| n.as_u64()),
        }
    }

    /// The general path only: libphonenumber's parse, validity check and number type. Same
    /// answers as [`PhoneNumber::parse`], slower; the reference the fast path is tested and
    /// benchmarked against.
    pub fn parse_with_library(raw: &str, region: Region) -> Result<PhoneNumber, PhoneError> {
        precheck(raw)?;
        let util = &*PHONE_NUMBER_UTIL;
        let number = util.parse(raw, Some(region.lib())).map_err(|e| match e {
            ParseError::InvalidCountryCode => PhoneError::UnknownCountryCode,
            ParseError::NotANumber(_) => PhoneError::NotANumber,
            ParseError::TooShortAfterIdd | ParseError::TooShortNsn => PhoneError::TooShort,
            ParseError::TooLongNsn => PhoneError::TooLong,
        })?;
        // A number with an extension ("… ext 12", "…#12#") cannot be texted.
        if number.extension.is_some() {
            return Err(PhoneError::NotANumber);
        }
        if !util.is_valid_number(&number) {
            return Err(length_reason(util.is_possible_number_with_reason(&number)));
        }
        if !can_receive_sms(util.get_number_type(&number)) {
            return Err(PhoneError::NotAMobile);
        }
        let nsn = get_national_significant_number_owned(&number);
        let cc = u16::try_from(number.country_code).map_err(|_| PhoneError::UnknownCountryCode)?;
        PhoneNumber::from_parts(cc, nsn.bytes())
    }

    /// Rebuilds a number read back from our own storage. Checks only the shape (`'+'`, then
    /// 7..=15 ASCII digits, the first not `0`): no metadata lookup, so it is cheap and a number
    /// stays loadable when the metadata later changes its mind.
    pub fn from_trusted_e164(s: &str) -> Option<PhoneNumber> {
        let digits = s.strip_prefix('+')?.as_bytes();
        PhoneNumber::from_digits(digits)
    }

    /// The E.164 text, e.g. "+61412345678".
    pub fn as_str(&self) -> &str {
        // `buf[..len]` is '+' and ASCII digits (every constructor goes through `from_digits`),
        // so this never takes the fallback.
        std::str::from_utf8(&self.buf[..usize::from(self.len)]).unwrap_or("")
    }

    /// The digits without '+' as an integer (61412345678), a compact key. At most 15 digits,
    /// so it always fits; [`PhoneNumber::from_u64`] is the inverse.
    pub fn as_u64(&self) -> u64 {
        self.buf[1..usize::from(self.len)]
            .iter()
            .fold(0u64, |acc, &b| acc * 10 + u64::from(b - b'0'))
    }

    /// Inverse of [`PhoneNumber::as_u64`]; shape check only, like `from_trusted_e164`.
    pub fn from_u64(v: u64) -> Option<PhoneNumber> {
        let mut tmp = [0u8; 20];
        let mut i = tmp.len();
        let mut rest = v;
        loop {
            i -= 1;
            // `rest % 10` is below 10, so the cast is exact.
            tmp[i] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        PhoneNumber::from_digits(&tmp[i..])
    }

    /// A view for logs: `'+'`, the first 3 digits, stars, the last 4 digits
    /// ("+614****5678"). At least 3 digits are always hidden; see [`mask_raw`].
    pub fn masked(&self) -> Masked<'_> {
        Masked(self)
    }

    /// Shape check and copy: ASCII digits, 7..=15 of them, first not '0'.
    fn from_digits(digits: &[u8]) -> Option<PhoneNumber> {
        if !(MIN_E164_DIGITS..=MAX_E164_DIGITS).contains(&digits.len())
            || digits[0] == b'0'
            || !digits.iter().all(u8::is_ascii_digit)
        {
            return None;
        }
        let mut buf = [0u8; 1 + MAX_E164_DIGITS];
        buf[0] = b'+';
        buf[1..=digits.len()].copy_from_slice(digits);
        Some(PhoneNumber {
            buf,
            // At most 16, checked above.
            len: (1 + digits.len()) as u8,
        })
    }

    /// Builds the E.164 number from a calling code and national significant number (ASCII
    /// digits), the final step of both parsing paths.
    fn from_parts(cc: u16, nsn: impl IntoIterator<Item = u8>) -> Result<PhoneNumber, PhoneError> {
        if !(1..=999).contains(&cc) {
            return Err(PhoneError::UnknownCountryCode);
        }
        let mut digits = [0u8; 24];
        let mut n = 0;
        // Below 1000, so every element is a single digit.
        let cc_text = [cc / 100, cc / 10 % 10, cc % 10].map(|d| b'0' + d as u8);
        let cc_len = if cc >= 100 {
            3
        } else if cc >= 10 {
            2
        } else {
            1
        };
        for b in cc_text[3 - cc_len..].iter().copied().chain(nsn) {
            if n == digits.len() {
                return Err(PhoneError::TooLong);
            }
            digits[n] = b;
            n += 1;
        }
        if n > MAX_E164_DIGITS {
            return Err(PhoneError::TooLong);
        }
        PhoneNumber::from_digits(&digits[..n]).ok_or(PhoneError::TooShort)
    }
}

/// [`PhoneNumber::from_parts`]`(cc, nsn).as_u64()` from digit values (0..=9), with the same
/// checks and errors.
fn key_from_parts(cc: u16, nsn: &[u8]) -> Result<u64, PhoneError> {
    if !(1..=999).contains(&cc) {
        return Err(PhoneError::UnknownCountryCode);
    }
    let cc_len = if cc >= 100 {
        3
    } else if cc >= 10 {
        2
    } else {
        1
    };
    let n = cc_len + nsn.len();
    if n > MAX_E164_DIGITS {
        return Err(PhoneError::TooLong);
    }
    if n < MIN_E164_DIGITS || nsn.iter().any(|&d| d > 9) {
        return Err(PhoneError::TooShort);
    }
    Ok(nsn
        .iter()
        .fold(u64::from(cc), |acc, &d| acc * 10 + u64::from(d)))
}

/// The shared first checks of both paths: empty, absurdly long, or containing letters.
fn precheck(raw: &str) -> Result<(), PhoneError> {
    if raw.trim().is_empty() {
        return Err(PhoneError::Empty);
    }
    if raw.len() > MAX_RAW_LEN {
        return Err(PhoneError::TooLong);
    }
    // Keep it simple: letters are never part of a number we can text (no vanity numbers, no
    // "ext", no "tel:" URIs).
    if raw.chars().any(char::is_alphabetic) {
        return Err(PhoneError::NotANumber);
    }
    Ok(())
}

/// Maps libphonenumber's `is_possible_number_with_reason` for an invalid number to our reason.
fn length_reason(r: Result<rlibphonenumber::NumberLengthType, ValidationError>) -> PhoneError {
    match r {
        Ok(_) | Err(ValidationError::InvalidLength) => PhoneError::InvalidForRegion,
        Err(ValidationError::TooShort) => PhoneError::TooShort,
        Err(ValidationError::TooLong) => PhoneError::TooLong,
        Err(ValidationError::InvalidCountryCode) => PhoneError::UnknownCountryCode,
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

impl Serialize for PhoneNumber {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for PhoneNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        PhoneNumber::from_trusted_e164(&s).ok_or_else(|| {
            serde::de::Error::custom("expected an E.164 number such as +61412345678")
        })
    }
}

/// A phone number formatted for logs; see [`PhoneNumber::masked`].
pub struct Masked<'a>(&'a PhoneNumber);

impl fmt::Display for Masked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let chars: Vec<char> = self.0.as_str().chars().collect();
        write_masked(f, &chars)
    }
}

/// Masks any raw input for logs the way [`PhoneNumber::masked`] does: spaces and the
/// separators `-`, `.`, `(`, `)` are dropped, then the first 4 characters and the last 4 are
/// kept with one star per hidden character ("0412 345 678 99" → "0412****7899"). At least 3
/// characters are always hidden: the kept tail shrinks first, and input of 7 characters or
/// fewer is fully starred.
pub fn mask_raw(raw: &str) -> String {
    let chars: Vec<char> = raw
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '-' | '.' | '(' | ')'))
        .collect();
    let mut out = String::with_capacity(chars.len());
    // Writing into a String cannot fail.
    let _ = write_masked(&mut out, &chars);
    out
}

/// Shared masking rule: keep 4 leading characters and up to 4 trailing ones, hide at least 3.
fn write_masked(w: &mut impl fmt::Write, chars: &[char]) -> fmt::Result {
    const HEAD: usize = 4;
    const MIN_HIDDEN: usize = 3;
    let n = chars.len();
    if n < HEAD + MIN_HIDDEN + 1 {
        for _ in 0..n {
            w.write_char('*')?;
        }
        return Ok(());
    }
    let tail = (n - HEAD - MIN_HIDDEN).min(4);
    for &c in &chars[..HEAD] {
        w.write_char(c)?;
    }
    for _ in 0..n - HEAD - tail {
        w.write_char('*')?;
    }
    for &c in &chars[n - tail..] {
        w.write_char(c)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The fast path
// ---------------------------------------------------------------------------------------------

/// The fast path: libphonenumber's own parse-and-validate algorithm, replayed for plain input
/// on prepared calling codes, with the metadata's patterns compiled into digit DFAs.
///
/// What it handles: input of at most [`MAX_RAW_LEN`] bytes made only of ASCII digits (3 to
/// 24 of them), spaces, `-`, `.`, `(`, `)`, and at most one `+` before the first digit; a
/// default region that is the main region of one of [`FAST_CALLING_CODES`] (AU, NZ, GB, IN,
/// US); and numbers that resolve to one of those calling codes. For such input the library
/// (v2.2, read in `phonenumberutil_internal.rs`) does exactly this: drop everything but the
/// digits; strip a leading `+` or the default region's international prefix (IDD) and read a
/// country calling code; otherwise try the "country code without +" rule; strip the national
/// prefix (`national_prefix_for_parsing`) when the rest is a possible length; then pick the
/// region among those sharing the calling code and classify the national number by the
/// metadata's number descriptions in a fixed order. Each regex step is answered by a DFA built
/// from the very same pattern string, so the answers agree by construction; the library's
/// control flow around them is mirrored below, each step naming the library function it
/// mirrors.
///
/// What declines (returns `None`, the library decides): any other character (letters,
/// tabs, Unicode digits, `#`, `/`, `*`…), a second `+`, a `+` after a digit, fewer than 3 or
/// more than 24 digits, other default regions, other calling codes (including the
/// non-geographic ones such as +800), a `+` followed by `0` or by no known calling code (the
/// library then retries without the `+`), national significant numbers that start with `0`
/// (the library's "Italian leading zero" bookkeeping), and regions whose metadata uses a
/// national prefix transform rule or any pattern not wrapped as `^(?:…)$`.
///
/// The metadata is read through `PhoneNumberUtil::as_original()` (the public `AsOriginal`
/// trait) and the `pub` items of the library's metadata wrappers. These are public items in
/// private modules, so a library update that moves them breaks the build loudly rather than
/// silently; a metadata or algorithm change that keeps them is caught by the equivalence
/// tests (`tests/phone_props.rs`).
mod fast {
    use std::collections::HashMap;
    use std::sync::LazyLock;

    use regex_automata::dfa::{Automaton, StartKind, dense};
    use regex_automata::nfa::thompson;
    use regex_automata::util::primitives::StateID;
    use regex_automata::util::{start, syntax};
    use regex_automata::{Anchored, MatchKind};
    use rlibphonenumber::enums::Region as LibRegion;
    use rlibphonenumber::interfaces::AsOriginal;
    use rlibphonenumber::{PHONE_NUMBER_UTIL, PhoneNumberType};

    use super::{MAX_RAW_LEN, PhoneError, Region, can_receive_sms};

    /// Calling codes the fast path prepares: AU (with CC, CX), NZ, GB (with GG, IM, JE), IN,
    /// and the NANPA (US, CA and 23 more). Anything else goes to the library.
    pub(super) const FAST_CALLING_CODES: [u16; 5] = [61, 64, 44, 91, 1];
    /// Most digits the fast path reads from one input.
    const MAX_DIGITS: usize = 24;
    /// libphonenumber's `MIN_LENGTH_FOR_NSN` and `MAX_LENGTH_FOR_NSN`.
    const MIN_NSN: usize = 2;
    const MAX_NSN: usize = 17;

    // The number descriptions, as bit positions in a `DigitDfa` end mask. The order of the
    // middle block is the order `get_number_type_helper` tests them in.
    const GENERAL: usize = 0;
    const TYPED: [(usize, PhoneNumberType); 8] = [
        (1, PhoneNumberType::PremiumRate),
        (2, PhoneNumberType::TollFree),
        (3, PhoneNumberType::SharedCost),
        (4, PhoneNumberType::VoIP),
        (5, PhoneNumberType::PersonalNumber),
        (6, PhoneNumberType::Pager),
        (7, PhoneNumberType::UAN),
        (8, PhoneNumberType::VoiceMail),
    ];
    const FIXED: usize = 9;
    const MOBILE: usize = 10;
    const DESC_COUNT: usize = 11;

    /// A DFA over decimal digits (values 0..=9), flattened from a regex-automata dense DFA.
    struct DigitDfa {
        start: u32,
        /// `next[s][d]`; state 0 is the dead state and loops on itself.
        next: Vec<[u32; 10]>,
        /// The DFA's (one-byte delayed) match flag: a match ended just before the last digit.
        match_before: Vec<bool>,
        /// Bits of the patterns that match ending at the end of input.
        at_end: Vec<u16>,
    }

    const DEAD: u32 = 0;

    /// Copies the digit transitions of a dense DFA into a `DigitDfa`.
    struct Flattener<'a> {
        dfa: &'a dense::DFA<Vec<u32>>,
        bits: &'a [u16],
        index: HashMap<StateID, u32>,
        queue: Vec<StateID>,
        out: DigitDfa,
    }

    impl Flattener<'_> {
        /// The flat index of `sid`, adding it (and queueing it) the first time.
        fn intern(&mut self, sid: StateID) -> Option<u32> {
            let dfa = self.dfa;
            if dfa.is_dead_state(sid) {
                return Some(DEAD);
            }
            if dfa.is_quit_state(sid) {
                return None;
            }
            if let Some(&i) = self.index.get(&sid) {
                return Some(i);
            }
            let i = u32::try_from(self.out.next.len()).ok()?;
            self.index.insert(sid, i);
            self.queue.push(sid);
            let eoi = dfa.next_eoi_state(sid);
            let mut mask = 0u16;
            if dfa.is_match_state(eoi) {
                for m in 0..dfa.match_len(eoi) {
                    mask |= *self.bits.get(dfa.match_pattern(eoi, m).as_usize())?;
                }
            }
            self.out.next.push([DEAD; 10]);
            self.out.match_before.push(dfa.is_match_state(sid));
            self.out.at_end.push(mask);
            Some(i)
        }
    }

    impl DigitDfa {
        /// Compiles `patterns` (pattern `i` reports `bits[i]`) and keeps the digit transitions.
        /// `None` if a pattern does not compile as a byte DFA or the DFA gets too big.
        fn build(patterns: &[&str], bits: &[u16], kind: MatchKind) -> Option<DigitDfa> {
            let dfa = dense::Builder::new()
                .configure(
                    dense::Config::new()
                        .match_kind(kind)
                        .start_kind(StartKind::Anchored)
                        .accelerate(false)
                        .dfa_size_limit(Some(64 << 20))
                        .determinize_size_limit(Some(64 << 20)),
                )
                // The input is ASCII digits only, on which `\d` and Unicode `\d` agree; ASCII
                // classes keep the DFA small.
                .syntax(syntax::Config::new().unicode(false).utf8(false))
                .thompson(thompson::Config::new().utf8(false))
                .build_many(patterns)
                .ok()?;
            let first = dfa
                .start_state(&start::Config::new().anchored(Anchored::Yes))
                .ok()?;
            let mut flat = Flattener {
                dfa: &dfa,
                bits,
                index: HashMap::new(),
                queue: Vec::new(),
                out: DigitDfa {
                    start: DEAD,
                    next: vec![[DEAD; 10]],
                    match_before: vec![false],
                    at_end: vec![0],
                },
            };
            flat.out.start = flat.intern(first)?;
            // Breadth-first over digit transitions; `queue[k]` is state `k + 1`.
            let mut k = 0;
            while let Some(&sid) = flat.queue.get(k) {
                for d in 0..10u8 {
                    let to = flat.intern(dfa.next_state(sid, b'0' + d))?;
                    flat.out.next[k + 1][usize::from(d)] = to;
                }
                k += 1;
            }
            let out = flat.out;
            Some(out)
        }

        /// Bits of the patterns that match all of `digits`.
        #[inline]
        fn end_mask(&self, digits: &[u8]) -> u16 {
            let mut s = self.start;
            for &d in digits {
                s = self.next[s as usize][usize::from(d)];
                if s == DEAD {
                    return 0;
                }
            }
            self.at_end[s as usize]
        }

        /// End of the leftmost-first match anchored at the start of `digits`, as the regex
        /// crate's `find` reports it (this is regex-automata's own forward search loop).
        #[inline]
        fn leftmost_end(&self, digits: &[u8]) -> Option<usize> {
            let mut s = self.start;
            let mut last = None;
            for (at, &d) in digits.iter().enumerate() {
                s = self.next[s as usize][usize::from(d)];
                if s == DEAD {
                    return last;
                }
                if self.match_before[s as usize] {
                    last = Some(at);
                }
            }
            if self.at_end[s as usize] != 0 {
                last = Some(digits.len());
            }
            last
        }
    }

    /// The number descriptions of one region (`get_number_type_helper`'s inputs).
    struct RegionRules {
        region: LibRegion,
        descs: DigitDfa,
        /// Descriptions whose pattern is too short to be wrapped: the library compiles ""
        /// for them, which matches any input.
        always: u16,
        /// `ok_at_len[l]`: descriptions whose possible lengths allow length `l`
        /// (`is_number_matching_desc`: no list means any length).
        ok_at_len: [u16; MAX_DIGITS + 1],
        same_mobile_and_fixed: bool,
        /// `leading_digits` (anchor_start), used to pick among regions sharing a code.
        leading_digits: Option<DigitDfa>,
    }

    /// A calling code: its main region's parsing rules and every region sharing it.
    struct Country {
        cc: u16,
        /// Digit values of the calling code.
        cc_digits: Vec<u8>,
        /// The main region's international prefix (anchor_start), if any.
        idd: Option<DigitDfa>,
        /// The main region's national_prefix_for_parsing (anchor_start), if any.
        national_prefix: Option<DigitDfa>,
        /// `build_length_mask` of the main region's general possible lengths, and local-only.
        possible: u64,
        local_only: u64,
        /// In the library's order; `regions[0]` is the main region.
        regions: Vec<RegionRules>,
    }

    struct Tables {
        countries: Vec<Country>,
        /// Bit `c` set when calling code `c` (1..=999) has a region in the metadata.
        known_cc: [u64; 16],
    }

    static TABLES: LazyLock<Tables> = LazyLock::new(Tables::build);

    /// `RegexTriplets::anchor_start` / `anchor_full` of a wrapped base "^(?:…)$".
    fn anchor_start(base: &str) -> &str {
        if base.len() >= 6 {
            &base[..base.len() - 1]
        } else {
            ""
        }
    }

    fn is_wrapped(base: &str) -> bool {
        base.len() < 6 || (base.starts_with("^(?:") && base.ends_with(")$"))
    }

    /// `build_length_mask` from helper_functions.rs.
    fn length_mask(lengths: &[i32]) -> u64 {
        let mut mask = 0u64;
        for &l in lengths {
            if l == -1 {
                mask = 0;
            } else if (0..64).contains(&l) {
                mask |= 1 << l;
            }
        }
        mask
    }

    /// A prefix pattern (IDD, national prefix, leading digits) as a leftmost-first DFA.
    /// `Ok(None)`: no pattern; `Err(())`: cannot prepare it.
    fn prefix_dfa(base: Option<&String>) -> Result<Option<DigitDfa>, ()> {
        let Some(base) = base else { return Ok(None) };
        if !is_wrapped(base) {
            return Err(());
        }
        DigitDfa::build(&[anchor_start(base)], &[1], MatchKind::LeftmostFirst)
            .map(Some)
            .ok_or(())
    }

    impl Tables {
        fn build() -> Tables {
            let util = &*PHONE_NUMBER_UTIL;
            let mut known_cc = [0u64; 16];
            for cc in 1..1000u16 {
                if util.get_region_for_country_code(i32::from(cc)).is_some() {
                    known_cc[usize::from(cc / 64)] |= 1 << (cc % 64);
                }
            }
            let countries = FAST_CALLING_CODES
                .iter()
                .filter_map(|&cc| Country::build(cc))
                .collect();
            Tables {
                countries,
                known_cc,
            }
        }

        fn is_known_cc(&self, cc: u16) -> bool {
            cc < 1000 && self.known_cc[usize::from(cc / 64)] & (1 << (cc % 64)) != 0
        }

        fn country(&self, cc: u16) -> Option<&Country> {
            self.countries.iter().find(|c| c.cc == cc)
        }

        fn country_for_default(&self, region: LibRegion) -> Option<&Country> {
            self.countries
                .iter()
                .find(|c| c.regions[0].region == region)
        }

        /// `extract_country_code`: the first 1 to 3 digits that are a known calling code.
        /// `digits` has at least 3 digits and does not start with 0.
        fn extract_cc<'d>(&self, digits: &'d [u8]) -> Option<(u16, &'d [u8])> {
            let mut cc = 0u16;
            for (i, &d) in digits.iter().take(3).enumerate() {
                cc = cc * 10 + u16::from(d);
                if self.is_known_cc(cc) {
                    return Some((cc, &digits[i + 1..]));
                }
            }
            None
        }
    }

    impl Country {
        fn build(cc: u16) -> Option<Country> {
            let util = &*PHONE_NUMBER_UTIL;
            let inner = util.as_original();
            let regions: Vec<LibRegion> = util
                .get_regions_for_country_calling_code(i32::from(cc))?
                .collect();
            let main = *regions.first()?;
            if util.get_region_for_country_code(i32::from(cc)) != Some(main) {
                return None;
            }
            let meta = inner.get_metadata_for_region(main)?;
            // The fast path replays the no-transform branch of
            // `maybe_strip_national_prefix_and_carrier_code` only.
            if !meta.original.national_prefix_transform_rule().is_empty() {
                return None;
            }
            let idd = prefix_dfa(meta.international_prefix().pattern_base.as_ref()).ok()?;
            let national_prefix =
                prefix_dfa(meta.national_prefix_for_parsing().pattern_base.as_ref()).ok()?;
            let rules = regions
                .iter()
                .map(|&r| RegionRules::build(r))
                .collect::<Option<Vec<_>>>()?;
            Some(Country {
                cc,
                cc_digits: cc.to_string().bytes().map(|b| b - b'0').collect(),
                idd,
                national_prefix,
                possible: length_mask(&meta.general_desc.original.possible_length),
                local_only: length_mask(&meta.general_desc.original.possible_length_local_only),
                regions: rules,
            })
        }

        fn main(&self) -> &RegionRules {
            &self.regions[0]
        }

        /// `is_match(general_desc)`: the general pattern alone, no length check.
        #[inline]
        fn general_matches(&self, digits: &[u8]) -> bool {
            let r = self.main();
            (r.descs.end_mask(digits) | r.always) & (1 << GENERAL) != 0
        }

        /// `test_number_length_with_unknown_type` for the main region.
        fn length_test(&self, len: usize) -> LengthTest {
            let possible = self.possible;
            if possible == 0 {
                return LengthTest::InvalidLength;
            }
            if len >= 64 {
                return LengthTest::TooLong;
            }
            let bit = 1u64 << len;
            if self.local_only & bit != 0 {
                return LengthTest::LocalOnly;
            }
            let min = possible.trailing_zeros() as usize;
            let max = 63 - possible.leading_zeros() as usize;
            if min == len {
                LengthTest::Possible
            } else if min > len {
                LengthTest::TooShort
            } else if max < len {
                LengthTest::TooLong
            } else if possible & bit != 0 {
                LengthTest::Possible
            } else {
                LengthTest::InvalidLength
            }
        }

        /// `maybe_strip_national_prefix_and_carrier_code` without a transform rule.
        fn strip_national_prefix<'d>(&self, digits: &'d [u8]) -> &'d [u8] {
            let Some(np) = &self.national_prefix else {
                return digits;
            };
            if digits.is_empty() {
                return digits;
            }
            let Some(end) = np.leftmost_end(digits) else {
                return digits;
            };
            let stripped = &digits[end..];
            if self.general_matches(digits) && !self.general_matches(stripped) {
                return digits;
            }
            stripped
        }
    }

    /// `test_number_length`'s answers.
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum LengthTest {
        Possible,
        LocalOnly,
        TooShort,
        TooLong,
        InvalidLength,
    }

    impl RegionRules {
        fn build(region: LibRegion) -> Option<RegionRules> {
            let inner = PHONE_NUMBER_UTIL.as_original();
            let meta = inner.get_metadata_for_region(region)?;
            let mut descs = [&meta.general_desc; DESC_COUNT];
            descs[GENERAL] = &meta.general_desc;
            descs[1] = &meta.premium_rate;
            descs[2] = &meta.toll_free;
            descs[3] = &meta.shared_cost;
            descs[4] = &meta.voip;
            descs[5] = &meta.personal_number;
            descs[6] = &meta.pager;
            descs[7] = &meta.uan;
            descs[8] = &meta.voicemail;
            descs[FIXED] = &meta.fixed_line;
            descs[MOBILE] = &meta.mobile;
            let mut patterns = Vec::new();
            let mut bits = Vec::new();
            let mut always = 0u16;
            let mut ok_at_len = [0u16; MAX_DIGITS + 1];
            for (i, desc) in descs.iter().enumerate() {
                let bit = 1u16 << i;
                if let Some(base) = &desc.national_number_pattern().pattern_base {
                    if !is_wrapped(base) {
                        return None;
                    }
                    if base.len() < 6 {
                        always |= bit;
                    } else {
                        patterns.push(base.as_str());
                        bits.push(bit);
                    }
                }
                let lengths = &desc.original.possible_length;
                for (len, ok) in ok_at_len.iter_mut().enumerate() {
                    let len_i32 = i32::try_from(len).ok()?;
                    if lengths.is_empty() || lengths.contains(&len_i32) {
                        *ok |= bit;
                    }
                }
            }
            let descs = DigitDfa::build(&patterns, &bits, MatchKind::All)?;
            let leading_digits = prefix_dfa(meta.leading_digits().pattern_base.as_ref()).ok()?;
            Some(RegionRules {
                region,
                descs,
                always,
                ok_at_len,
                same_mobile_and_fixed: meta.original.same_mobile_and_fixed_line_pattern(),
                leading_digits,
            })
        }

        /// `get_number_type_helper` for a national significant number.
        fn number_type(&self, nsn: &[u8]) -> PhoneNumberType {
            let Some(&len_ok) = self.ok_at_len.get(nsn.len()) else {
                return PhoneNumberType::Unknown;
            };
            let m = (self.descs.end_mask(nsn) | self.always) & len_ok;
            if m & (1 << GENERAL) == 0 {
                return PhoneNumberType::Unknown;
            }
            for (bit, t) in TYPED {
                if m & (1 << bit) != 0 {
                    return t;
                }
            }
            let mobile = m & (1 << MOBILE) != 0;
            if m & (1 << FIXED) != 0 {
                if self.same_mobile_and_fixed || mobile {
                    return PhoneNumberType::FixedLineOrMobile;
                }
                return PhoneNumberType::FixedLine;
            }
            if !self.same_mobile_and_fixed && mobile {
                return PhoneNumberType::Mobile;
            }
            PhoneNumberType::Unknown
        }

        fn leading_digits_match(&self, nsn: &[u8]) -> bool {
            self.leading_digits
                .as_ref()
                .is_some_and(|d| d.leftmost_end(nsn).is_some())
        }
    }

    /// The fast answer for `raw`, or `None` when the library must decide (see the module doc).
    /// `build` makes the answer from the calling code and the national significant number's
    /// digit values (0..=9) once the number is known valid and SMS-capable.
    pub(super) fn parse<T>(
        raw: &str,
        region: Region,
        build: impl FnOnce(u16, &[u8]) -> Result<T, PhoneError>,
    ) -> Option<Result<T, PhoneError>> {
        if raw.len() > MAX_RAW_LEN {
            return None;
        }
        // extract_possible_number + normalize: for this alphabet the library keeps the digits
        // and a leading '+'; nothing here can be an extension, a phone-context or a letter.
        let mut buf = [0u8; MAX_DIGITS];
        let mut n = 0;
        let mut plus = false;
        for &b in raw.as_bytes() {
            match b {
                b'0'..=b'9' => {
                    *buf.get_mut(n)? = b - b'0';
                    n += 1;
                }
                b' ' | b'-' | b'.' | b'(' | b')' => {}
                b'+' if n == 0 && !plus => plus = true,
                _ => return None,
            }
        }
        // is_viable_phone_number: at least 3 digits.
        if n < 3 {
            return None;
        }
        let tables = &*TABLES;
        let home = tables.country_for_default(region.lib())?;
        parse_digits(tables, home, &buf[..n], plus, build)
    }

    /// `parse_helper` from the digits on, then the validity and type checks.
    fn parse_digits<T>(
        tables: &Tables,
        home: &Country,
        digits: &[u8],
        plus: bool,
        build: impl FnOnce(u16, &[u8]) -> Result<T, PhoneError>,
    ) -> Option<Result<T, PhoneError>> {
        // maybe_extract_country_code
        let (cc, national): (u16, &[u8]) = if plus {
            // A '+' then 0 or an unknown code: the library retries without the '+'.
            if digits[0] == 0 {
                return None;
            }
            let (cc, rest) = tables.extract_cc(digits)?;
            (cc, rest)
        } else if let Some(end) = home
            .idd
            .as_ref()
            .and_then(|idd| idd.leftmost_end(digits))
            .filter(|&end| digits.get(end) != Some(&0))
        {
            let rest = &digits[end..];
            if rest.len() <= MIN_NSN {
                return Some(Err(PhoneError::TooShort));
            }
            match tables.extract_cc(rest) {
                Some(found) => found,
                None => return Some(Err(PhoneError::UnknownCountryCode)),
            }
        } else {
            from_default_country(home, digits)
        };

        // parse_helper, after the country code.
        let country = if cc == 0 { home } else { tables.country(cc)? };
        let cc = country.cc;
        if national.len() < MIN_NSN {
            return Some(Err(PhoneError::TooShort));
        }
        let mut nsn = national;
        let stripped = country.strip_national_prefix(national);
        if !matches!(
            country.length_test(stripped.len()),
            LengthTest::LocalOnly | LengthTest::TooShort | LengthTest::InvalidLength
        ) {
            nsn = stripped;
        }
        if nsn.len() < MIN_NSN {
            return Some(Err(PhoneError::TooShort));
        }
        if nsn.len() > MAX_NSN {
            return Some(Err(PhoneError::TooLong));
        }
        if nsn[0] == 0 {
            return None;
        }
        Some(classify(country, nsn).and_then(|()| build(cc, nsn)))
    }

    /// The `FromDefaultCountry` branch of `maybe_extract_country_code`: a number that starts
    /// with the default region's calling code but no '+' ("61412345678").
    fn from_default_country<'d>(home: &Country, digits: &'d [u8]) -> (u16, &'d [u8]) {
        if let Some(after_cc) = digits.strip_prefix(home.cc_digits.as_slice()) {
            let candidate = home.strip_national_prefix(after_cc);
            if (!home.general_matches(digits) && home.general_matches(candidate))
                || home.length_test(digits.len()) == LengthTest::TooLong
            {
                return (home.cc, candidate);
            }
        }
        (0, digits)
    }

    /// `is_valid_number` (with `get_region_for_number`), `get_number_type` and, for an invalid
    /// number, `is_possible_number_with_reason`; the same decisions as `parse_with_library`.
    fn classify(country: &Country, nsn: &[u8]) -> Result<(), PhoneError> {
        let number_type = if country.regions.len() == 1 {
            country.main().number_type(nsn)
        } else {
            country
                .regions
                .iter()
                .find_map(|r| {
                    let t = r.number_type(nsn);
                    (r.leading_digits_match(nsn) || t != PhoneNumberType::Unknown).then_some(t)
                })
                .unwrap_or(PhoneNumberType::Unknown)
        };
        if number_type == PhoneNumberType::Unknown {
            return Err(match country.length_test(nsn.len()) {
                LengthTest::Possible | LengthTest::LocalOnly | LengthTest::InvalidLength => {
                    PhoneError::InvalidForRegion
                }
                LengthTest::TooShort => PhoneError::TooShort,
                LengthTest::TooLong => PhoneError::TooLong,
            });
        }
        if !can_receive_sms(number_type) {
            return Err(PhoneError::NotAMobile);
        }
        Ok(())
    }

    /// Whether the fast path has tables for `region` as a default region (for tests).
    #[cfg(test)]
    pub(super) fn prepared(region: Region) -> bool {
        TABLES.country_for_default(region.lib()).is_some()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn region(s: &str) -> Region {
        Region::parse(s).unwrap()
    }

    /// Parses with both paths, checks they agree, and returns the answer as text.
    fn both(raw: &str, r: &str) -> Result<String, PhoneError> {
        let fast = PhoneNumber::parse(raw, region(r));
        let lib = PhoneNumber::parse_with_library(raw, region(r));
        assert_eq!(
            fast, lib,
            "fast and library paths differ for {raw:?} in {r}"
        );
        fast.map(|p| p.to_string())
    }

    fn ok(raw: &str, r: &str, e164: &str) {
        assert_eq!(both(raw, r), Ok(e164.to_owned()), "{raw:?} in {r}");
    }

    fn err(raw: &str, r: &str, e: PhoneError) {
        assert_eq!(both(raw, r), Err(e), "{raw:?} in {r}");
    }

    #[test]
    fn every_fast_region_is_prepared() {
        for r in ["AU", "NZ", "GB", "IN", "US"] {
            assert!(fast::prepared(region(r)), "{r}");
        }
        assert!(!fast::prepared(region("FR")));
    }

    #[test]
    fn common_forms_take_the_fast_path() {
        for (raw, r) in [
            ("0412 345 678", "AU"),
            ("0412345678", "AU"),
            ("+61 412 345 678", "AU"),
            ("61412345678", "AU"),
            ("+61412345678", "AU"),
            ("+61 (0)412 345 678", "AU"),
            ("0011 61 412 345 678", "AU"),
            ("02 9876 5432", "AU"),
            ("0412 345 67", "AU"),
            ("021 123 4567", "NZ"),
            ("+1 201 555 0123", "US"),
            ("(201) 555-0123", "US"),
            ("07400 123456", "GB"),
            ("98765 43210", "IN"),
            ("+44 7400 123456", "AU"),
        ] {
            assert!(
                fast::parse(raw, region(r), key_from_parts).is_some(),
                "{raw:?} in {r}"
            );
        }
        for (raw, r) in [
            ("0412 345 678 ext 1", "AU"),
            ("+33 6 12 34 56 78", "AU"),
            ("06 12 34 56 78", "FR"),
            ("+0412345678", "AU"),
            ("0412\t345678", "AU"),
        ] {
            assert!(
                fast::parse(raw, region(r), key_from_parts).is_none(),
                "{raw:?} in {r}"
            );
        }
    }

    #[test]
    fn au_mobile_in_every_written_form_is_the_same_number() {
        for raw in [
            "0412 345 678",
            "0412345678",
            "61412345678",
            "+61412345678",
            "+61 412 345 678",
            "+61 (0)412 345 678",
            "0011 61 412 345 678",
            "(0412) 345-678",
            "0412.345.678",
            "  0412 345 678  ",
            "+61-412-345-678",
        ] {
            ok(raw, "AU", "+61412345678");
        }
    }

    #[test]
    fn au_landlines_and_service_numbers_are_not_mobiles() {
        err("02 9876 5432", "AU", PhoneError::NotAMobile);
        err("(03) 9123 4567", "AU", PhoneError::NotAMobile);
        err("1800 123 456", "AU", PhoneError::NotAMobile); // toll free
        err("1300 123 456", "AU", PhoneError::NotAMobile); // shared cost
        err("1900 123 456", "AU", PhoneError::NotAMobile); // premium
        err("0147 101 234", "AU", PhoneError::NotAMobile); // VoIP range 14xx
    }

    #[test]
    fn au_numbers_with_wrong_lengths_say_why() {
        err("0412 345 67", "AU", PhoneError::InvalidForRegion);
        err("12345", "AU", PhoneError::InvalidForRegion);
        err("041", "AU", PhoneError::TooShort);
        err("0412 345 678 999 999", "AU", PhoneError::TooLong);
        err("0512 345 678", "AU", PhoneError::InvalidForRegion);
    }

    #[test]
    fn nz_mobile_and_landline() {
        ok("021 123 4567", "NZ", "+64211234567");
        ok("+64 21 123 4567", "NZ", "+64211234567");
        ok("00 64 21 123 4567", "NZ", "+64211234567");
        err("03 234 5678", "NZ", PhoneError::NotAMobile);
        err("070 123 4567", "NZ", PhoneError::NotAMobile); // personal number
    }

    #[test]
    fn us_numbers_are_fixed_line_or_mobile_and_accepted() {
        ok("+1 201 555 0123", "US", "+12015550123");
        ok("(201) 555-0123", "US", "+12015550123");
        ok("1 201 555 0123", "US", "+12015550123");
        ok("011 61 412 345 678", "US", "+61412345678");
        err("800 234 5678", "US", PhoneError::NotAMobile); // toll free
        err("555 0123", "US", PhoneError::InvalidForRegion);
    }

    #[test]
    fn gb_mobile_versus_landline() {
        ok("07400 123456", "GB", "+447400123456");
        ok("+44 7400 123456", "GB", "+447400123456");
        ok("+44 (0)7400 123456", "GB", "+447400123456");
        ok("00 44 7400 123456", "GB", "+447400123456");
        err("020 7946 0000", "GB", PhoneError::NotAMobile);
        err("070 1234 5678", "GB", PhoneError::NotAMobile); // personal number
        err("056 1234 5678", "GB", PhoneError::NotAMobile); // VoIP
    }

    #[test]
    fn in_mobile_versus_landline() {
        ok("98765 43210", "IN", "+919876543210");
        ok("+91 98765 43210", "IN", "+919876543210");
        ok("098765 43210", "IN", "+919876543210");
        err("011 2345 6789", "IN", PhoneError::NotAMobile);
    }

    #[test]
    fn international_input_from_another_default_region() {
        ok("+64 21 123 4567", "AU", "+64211234567");
        ok("0011 44 7400 123456", "AU", "+447400123456");
        ok("+44 7400 123456", "IN", "+447400123456");
        ok("+33 6 12 34 56 78", "AU", "+33612345678"); // library path
    }

    #[test]
    fn each_error_variant_has_an_example() {
        err("", "AU", PhoneError::Empty);
        err("   \t ", "AU", PhoneError::Empty);
        err("call me", "AU", PhoneError::NotANumber);
        err("0412 345 678 ext 12", "AU", PhoneError::NotANumber);
        err("---", "AU", PhoneError::NotANumber);
        err("04", "AU", PhoneError::TooShort);
        err("0412 345 678 999 999", "AU", PhoneError::TooLong);
        err(&"1".repeat(300), "AU", PhoneError::TooLong);
        err("0011 999 412 345 678", "AU", PhoneError::UnknownCountryCode);
        err("+999 412 345 678", "AU", PhoneError::UnknownCountryCode);
        err("0512 345 678", "AU", PhoneError::InvalidForRegion);
        err("02 9876 5432", "AU", PhoneError::NotAMobile);
        // Each code is distinct and matches the serde form.
        for e in PhoneError::ALL {
            assert_eq!(
                serde_json::to_string(&e).unwrap(),
                format!("\"{}\"", e.code())
            );
        }
    }

    #[test]
    fn error_messages_are_human_reasons() {
        assert_eq!(PhoneError::NotANumber.to_string(), "not a number");
        assert_eq!(
            PhoneError::InvalidForRegion.to_string(),
            "not a valid number for its region"
        );
        assert_eq!(
            PhoneError::NotAMobile.to_string(),
            "not a mobile (cannot receive SMS)"
        );
    }

    #[test]
    fn masked_keeps_plus_three_digits_and_last_four() {
        let p = PhoneNumber::parse("0412 345 678", Region::AU).unwrap();
        assert_eq!(p.masked().to_string(), "+614****5678");
        assert_eq!(format!("{p:?}"), "PhoneNumber(+614****5678)");
        assert_eq!(p.to_string(), "+61412345678");
        let short = PhoneNumber::from_trusted_e164("+6834001").unwrap();
        assert_eq!(short.masked().to_string(), "+683***1");
    }

    #[test]
    fn mask_raw_hides_the_middle_and_short_input_entirely() {
        assert_eq!(mask_raw("+61412345678"), "+614****5678");
        assert_eq!(mask_raw("0412 345 678 99"), "0412****7899");
        assert_eq!(mask_raw("0412 345 678"), "0412***678");
        assert_eq!(mask_raw("0412345"), "*******");
        assert_eq!(mask_raw(""), "");
    }

    #[test]
    fn u64_round_trip() {
        let p = PhoneNumber::parse("+44 7400 123456", Region::AU).unwrap();
        assert_eq!(p.as_u64(), 447_400_123_456);
        assert_eq!(PhoneNumber::from_u64(p.as_u64()), Some(p));
        assert_eq!(PhoneNumber::from_u64(0), None);
        assert_eq!(PhoneNumber::from_u64(123_456), None);
        assert_eq!(
            PhoneNumber::from_u64(999_999_999_999_999).unwrap().as_u64(),
            999_999_999_999_999
        );
        assert_eq!(PhoneNumber::from_u64(1_000_000_000_000_000), None);
    }

    #[test]
    fn trusted_e164_checks_shape_only() {
        assert!(PhoneNumber::from_trusted_e164("+61412345678").is_some());
        assert!(PhoneNumber::from_trusted_e164("+99999999").is_some()); // no metadata lookup
        assert!(PhoneNumber::from_trusted_e164("61412345678").is_none());
        assert!(PhoneNumber::from_trusted_e164("+0412345678").is_none());
        assert!(PhoneNumber::from_trusted_e164("+614123").is_none());
        assert!(PhoneNumber::from_trusted_e164("+6141234567890123").is_none());
        assert!(PhoneNumber::from_trusted_e164("+61 412345678").is_none());
    }

    #[test]
    fn serde_uses_the_e164_string() {
        let p = PhoneNumber::parse("0412 345 678", Region::AU).unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"+61412345678\"");
        let back: PhoneNumber = serde_json::from_str("\"+61412345678\"").unwrap();
        assert_eq!(back, p);
        assert!(serde_json::from_str::<PhoneNumber>("\"0412345678\"").is_err());
        assert_eq!(serde_json::to_string(&Region::AU).unwrap(), "\"AU\"");
        let r: Region = serde_json::from_str("\"nz\"").unwrap();
        assert_eq!(r.as_str(), "NZ");
        assert!(serde_json::from_str::<Region>("\"XX\"").is_err());
    }

    #[test]
    fn region_parsing() {
        assert_eq!(Region::default(), Region::AU);
        assert_eq!(region("au"), Region::AU);
        assert_eq!("GB".parse::<Region>().unwrap().to_string(), "GB");
        for bad in ["", "A", "AUS", "ZZ", "001", "1A", "ÅU"] {
            let e = Region::parse(bad).unwrap_err();
            assert_eq!(e.given(), bad);
            assert!(e.to_string().contains("AU, NZ, US, GB, IN"), "{e}");
        }
    }

    #[test]
    fn numbers_order_as_their_text() {
        let a = PhoneNumber::from_trusted_e164("+6141234567").unwrap();
        let b = PhoneNumber::from_trusted_e164("+61412345678").unwrap();
        let c = PhoneNumber::from_trusted_e164("+6150000000").unwrap();
        assert!(a < b && b < c);
        assert_eq!(a.as_str() < b.as_str(), a < b);
    }
}
