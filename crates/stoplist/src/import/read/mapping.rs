//! Which column is which: the header vocabulary (Mobile, Cell, MSISDN, Given Name, Surname,
//! E-mail Address…, and the Google Contacts and Outlook CSV layouts), values that look like
//! phone numbers, header-row detection, and the first guess of a column mapping. The guess is
//! only a guess: the user can override it.

use super::Row;

/// Which column holds what, guessed from the header (and the values, when the header does not
/// say). Column indexes are 0-based.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mapping {
    /// The mobile number column: the best-named one ("Mobile" over "Phone" over "Home Phone"),
    /// or, with no such header, the column whose sample values look most like phone numbers.
    /// `None` when no column looks like a number: the pipeline then reports
    /// [`super::ReadError::NoMobileColumn`] with [`describe_headers`].
    pub mobile: Option<usize>,
    pub first_name: Option<usize>,
    pub last_name: Option<usize>,
    pub email: Option<usize>,
    /// A single "Name" / "Full Name" column, when there is no first/last pair.
    pub full_name: Option<usize>,
    /// Google Contacts' "Phone N - Type/Label" + "Phone N - Value" pairs, in order: the mobile
    /// of a row is the value whose type says Mobile ([`Mapping::mobile_value`]).
    pub typed_phones: Vec<TypedPhone>,
    /// Other phone columns (Outlook's "Business Phone", "Home Phone", …), best first: used by
    /// [`Mapping::mobile_value`] when the mobile column of a row is empty.
    pub other_phones: Vec<usize>,
    /// Every other column with its header, to keep as custom fields.
    pub custom: Vec<(usize, String)>,
}

/// A Google Contacts phone pair: the column saying what kind of phone, and the number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypedPhone {
    pub kind: usize,
    pub value: usize,
}

impl Mapping {
    /// The raw mobile value of `row`, trimmed: the Google pair typed Mobile (or Cell) if there
    /// is one, else the mobile column, else the first non-empty other phone column. Google
    /// joins several numbers in one cell with " ::: "; the first is taken.
    pub fn mobile_value<'r>(&self, row: &'r Row) -> Option<&'r str> {
        let value = |i: usize| {
            row.get(i)
                .map(|v| v.split(" ::: ").next().unwrap_or(v).trim())
                .filter(|v| !v.is_empty())
        };
        let typed = self.typed_phones.iter().find_map(|pair| {
            let kind = normalize(row.get(pair.kind).unwrap_or(""));
            (kind.contains("mobile") || kind.contains("cell"))
                .then(|| value(pair.value))
                .flatten()
        });
        typed
            .or_else(|| self.mobile.and_then(value))
            .or_else(|| self.other_phones.iter().find_map(|&i| value(i)))
    }
}

/// What a header names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// A phone column; the higher the rank, the likelier a mobile.
    Phone(u8),
    FirstName,
    LastName,
    FullName,
    Email,
}

/// Header names, normalized (lowercase letters and digits only), and what they name.
const VOCABULARY: &[(&str, Role)] = &[
    ("mobile", Role::Phone(3)),
    ("mobilephone", Role::Phone(3)),
    ("mobilenumber", Role::Phone(3)),
    ("mobileno", Role::Phone(3)),
    ("mobilephonenumber", Role::Phone(3)),
    ("mob", Role::Phone(3)),
    ("mobnumber", Role::Phone(3)),
    ("mobno", Role::Phone(3)),
    ("cell", Role::Phone(3)),
    ("cellphone", Role::Phone(3)),
    ("cellnumber", Role::Phone(3)),
    ("cellphonenumber", Role::Phone(3)),
    ("cellular", Role::Phone(3)),
    ("msisdn", Role::Phone(3)),
    ("handphone", Role::Phone(3)),
    ("smsnumber", Role::Phone(3)),
    ("sms", Role::Phone(3)),
    ("phone", Role::Phone(2)),
    ("phonenumber", Role::Phone(2)),
    ("phoneno", Role::Phone(2)),
    ("phone1", Role::Phone(2)),
    ("telephone", Role::Phone(2)),
    ("telephonenumber", Role::Phone(2)),
    ("tel", Role::Phone(2)),
    ("telno", Role::Phone(2)),
    ("number", Role::Phone(2)),
    ("contactnumber", Role::Phone(2)),
    ("contactno", Role::Phone(2)),
    ("contactphone", Role::Phone(2)),
    ("primaryphone", Role::Phone(2)),
    ("destination", Role::Phone(2)),
    ("recipient", Role::Phone(2)),
    ("businessphone", Role::Phone(1)),
    ("businessphone2", Role::Phone(1)),
    ("workphone", Role::Phone(1)),
    ("homephone", Role::Phone(1)),
    ("homephone2", Role::Phone(1)),
    ("otherphone", Role::Phone(1)),
    ("carphone", Role::Phone(1)),
    ("companymainphone", Role::Phone(1)),
    ("assistantsphone", Role::Phone(1)),
    ("firstname", Role::FirstName),
    ("first", Role::FirstName),
    ("givenname", Role::FirstName),
    ("given", Role::FirstName),
    ("forename", Role::FirstName),
    ("fname", Role::FirstName),
    ("lastname", Role::LastName),
    ("last", Role::LastName),
    ("surname", Role::LastName),
    ("familyname", Role::LastName),
    ("lname", Role::LastName),
    ("name", Role::FullName),
    ("fullname", Role::FullName),
    ("contactname", Role::FullName),
    ("displayname", Role::FullName),
    ("email", Role::Email),
    ("emailaddress", Role::Email),
    ("mail", Role::Email),
    ("email1value", Role::Email),
    ("email1", Role::Email),
];

/// Words that mark a header row even when the header names nothing we map.
const HEADER_WORDS: &[&str] = &[
    "name",
    "phone",
    "mobile",
    "mob",
    "cell",
    "email",
    "mail",
    "number",
    "tel",
    "telephone",
    "msisdn",
    "contact",
    "first",
    "last",
    "surname",
    "given",
    "family",
    "address",
    "company",
    "organisation",
    "organization",
    "title",
    "notes",
    "note",
    "group",
    "groups",
    "city",
    "state",
    "postcode",
    "zip",
    "country",
    "id",
    "type",
    "value",
    "label",
    "date",
    "birthday",
    "gender",
    "tags",
    "status",
    "suburb",
    "street",
    "job",
    "department",
    "website",
    "sms",
    "optout",
    "opted",
    "source",
    "created",
    "updated",
    "custom",
];

/// Lowercase ASCII letters and digits only: "E-mail Address" and "email_address" are one.
fn normalize(header: &str) -> String {
    header
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn role(header: &str) -> Option<Role> {
    let key = normalize(header);
    VOCABULARY
        .iter()
        .find(|(name, _)| *name == key)
        .map(|&(_, role)| role)
}

/// Google Contacts' "Phone 1 - Type", "Phone 1 - Label", "Phone 1 - Value": (N, is_value).
fn google_phone(header: &str) -> Option<(u32, bool)> {
    let key = normalize(header);
    let rest = key.strip_prefix("phone")?;
    let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let n = rest[..digits].parse().ok()?;
    match &rest[digits..] {
        "value" => Some((n, true)),
        "type" | "label" => Some((n, false)),
        _ => None,
    }
}

/// A value that looks like a phone number as people write them: 7 to 15 digits, with only
/// spaces, "+", "-", ".", "/" and brackets besides; or scientific notation ("6.14123E+10",
/// a number that lost its digits in a spreadsheet). Not a validity check.
pub fn looks_like_phone(value: &str) -> bool {
    let value = value.trim();
    if looks_scientific(value) {
        return true;
    }
    // An ISO date (2024-03-05) has eight digits and dashes, but is no phone number.
    let b = value.as_bytes();
    if b.len() == 10 && b[4] == b'-' && b[7] == b'-' {
        return false;
    }
    let mut digits = 0;
    for c in value.chars() {
        match c {
            '0'..='9' => digits += 1,
            ' ' | '+' | '-' | '.' | '/' | '(' | ')' | '\u{a0}' => {}
            _ => return false,
        }
    }
    (7..=15).contains(&digits)
}

/// Scientific notation as a spreadsheet writes a large number: "6.14123E+10", "6E+10",
/// "6.14123e10".
pub fn looks_scientific(value: &str) -> bool {
    let v = value.trim().as_bytes();
    if v.is_empty() || v.len() > 24 || !v[0].is_ascii_digit() {
        return false;
    }
    let Some(e) = v.iter().position(|&b| b == b'E' || b == b'e') else {
        return false;
    };
    let (mantissa, exponent) = (&v[..e], &v[e + 1..]);
    let mantissa_ok = match mantissa.iter().position(|&b| b == b'.') {
        Some(dot) => {
            dot > 0
                && mantissa[..dot].iter().all(u8::is_ascii_digit)
                && mantissa[dot + 1..].iter().all(u8::is_ascii_digit)
        }
        None => mantissa.iter().all(u8::is_ascii_digit),
    };
    let exponent = exponent.strip_prefix(b"+").unwrap_or(exponent);
    mantissa_ok
        && !exponent.is_empty()
        && exponent.len() <= 3
        && exponent.iter().all(u8::is_ascii_digit)
}

fn looks_like_email(value: &str) -> bool {
    let value = value.trim();
    value
        .split_once('@')
        .is_some_and(|(user, host)| !user.is_empty() && host.contains('.') && !value.contains(' '))
}

/// Whether `first` is a header row: none of its values looks like a phone number or an email
/// address, and either one of them is a header word ("Mobile", "First Name", "Phone 1 -
/// Value"…), or a later row has a phone-like value where `first` has text, or there is no
/// later row (a lone row of words is a header with no data).
pub(super) fn looks_like_header(first: &Row, later: &[Row]) -> bool {
    if first
        .iter()
        .any(|v| looks_like_phone(v) || looks_like_email(v))
    {
        return false;
    }
    let header_word = first.iter().any(|v| {
        role(v).is_some()
            || google_phone(v).is_some()
            || v.split(|c: char| !c.is_ascii_alphanumeric())
                .any(|word| HEADER_WORDS.contains(&word.to_ascii_lowercase().as_str()))
    });
    if header_word || later.is_empty() {
        return true;
    }
    (0..first.len()).any(|i| {
        let is_text = first
            .get(i)
            .is_some_and(|v| v.chars().any(char::is_alphabetic));
        is_text && later.iter().any(|r| r.get(i).is_some_and(looks_like_phone))
    })
}

/// Guesses the mapping from the header names, then from the sample values for what the
/// header did not say (the mobile column of a file without a header, an email column).
/// `headers` as in [`super::FileInfo::headers`] (generated "Column N" names match nothing).
pub fn guess_mapping(headers: &[String], sample: &[Row]) -> Mapping {
    let mut m = Mapping::default();
    let mut used = vec![false; headers.len()];
    let mut phones: Vec<(u8, usize)> = Vec::new();

    // Google Contacts: pair each "Phone N - Type/Label" with its "Phone N - Value".
    let mut google: Vec<(u32, Option<usize>, Option<usize>)> = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        if let Some((n, is_value)) = google_phone(h) {
            let entry = match google.iter_mut().position(|e| e.0 == n) {
                Some(p) => &mut google[p],
                None => {
                    google.push((n, None, None));
                    let last = google.len() - 1;
                    &mut google[last]
                }
            };
            if is_value {
                entry.2 = Some(i);
            } else {
                entry.1 = Some(i);
            }
        }
    }
    google.sort_by_key(|e| e.0);
    for &(_, kind, value) in &google {
        if let Some(value) = value {
            used[value] = true;
            match kind {
                Some(kind) => {
                    used[kind] = true;
                    m.typed_phones.push(TypedPhone { kind, value });
                }
                None => phones.push((2, value)),
            }
        }
    }
    if !m.typed_phones.is_empty() {
        // The column most often typed Mobile in the sample; else the first pair.
        let best = m
            .typed_phones
            .iter()
            .max_by_key(|pair| {
                let mobiles = sample
                    .iter()
                    .filter(|r| {
                        let kind = normalize(r.get(pair.kind).unwrap_or(""));
                        kind.contains("mobile") || kind.contains("cell")
                    })
                    .count();
                (mobiles, std::cmp::Reverse(pair.value))
            })
            .map(|pair| pair.value);
        m.mobile = best;
        phones.retain(|&(_, i)| Some(i) != best);
    }

    for (i, h) in headers.iter().enumerate() {
        if used[i] {
            continue;
        }
        let slot = match role(h) {
            Some(Role::Phone(rank)) => {
                phones.push((rank, i));
                used[i] = true;
                continue;
            }
            Some(Role::FirstName) => &mut m.first_name,
            Some(Role::LastName) => &mut m.last_name,
            Some(Role::FullName) => &mut m.full_name,
            Some(Role::Email) => &mut m.email,
            None => continue,
        };
        if slot.is_none() {
            *slot = Some(i);
            used[i] = true;
        }
    }

    // Best-ranked phone column first; the leftmost among equals.
    phones.sort_by_key(|&(rank, i)| (std::cmp::Reverse(rank), i));
    let mut phones = phones.into_iter().map(|(_, i)| i);
    if m.mobile.is_none() {
        m.mobile = phones.next();
    }
    m.other_phones = phones.collect();

    // The header did not say: look at the values.
    if m.mobile.is_none() {
        m.mobile = best_column(headers.len(), &used, sample, looks_like_phone);
        if let Some(i) = m.mobile {
            used[i] = true;
        }
    }
    if m.email.is_none() {
        m.email = best_column(headers.len(), &used, sample, looks_like_email);
        if let Some(i) = m.email {
            used[i] = true;
        }
    }

    m.custom = headers
        .iter()
        .enumerate()
        .filter(|&(i, h)| !used[i] && !h.trim().is_empty())
        .map(|(i, h)| (i, h.clone()))
        .collect();
    m
}

/// The unused column where most non-empty sample values pass `test` (at least half of them),
/// the leftmost on a tie.
fn best_column(
    width: usize,
    used: &[bool],
    sample: &[Row],
    test: fn(&str) -> bool,
) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    for (i, _) in used.iter().enumerate().take(width).filter(|&(_, &u)| !u) {
        let values: Vec<&str> = sample
            .iter()
            .filter_map(|r| r.get(i))
            .filter(|v| !v.trim().is_empty())
            .collect();
        let hits = values.iter().filter(|v| test(v)).count();
        if hits > 0 && hits * 2 >= values.len() && best.is_none_or(|(_, n)| hits > n) {
            best = Some((i, hits));
        }
    }
    best.map(|(i, _)| i)
}

/// The headers for an error message: `"Name", "Email", "Notes"` (the first 20, then "and N
/// more"), or "no columns at all".
pub fn describe_headers(headers: &[String]) -> String {
    const SHOWN: usize = 20;
    if headers.is_empty() {
        return "no columns at all".to_owned();
    }
    let mut out = super::error::quoted_list(&headers[..headers.len().min(SHOWN)]);
    if headers.len() > SHOWN {
        out.push_str(&format!(" and {} more", headers.len() - SHOWN));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn header_names_match_whatever_their_case_spacing_and_punctuation() {
        let h = headers(&[
            "E-MAIL ADDRESS",
            " given_name ",
            "Family-Name",
            "Mobile Number",
        ]);
        let m = guess_mapping(&h, &[]);
        assert_eq!(m.email, Some(0));
        assert_eq!(m.first_name, Some(1));
        assert_eq!(m.last_name, Some(2));
        assert_eq!(m.mobile, Some(3));
    }

    #[test]
    fn mobile_beats_phone_beats_home_phone() {
        let h = headers(&["Home Phone", "Phone", "Cell"]);
        let m = guess_mapping(&h, &[]);
        assert_eq!(m.mobile, Some(2));
        assert_eq!(m.other_phones, vec![1, 0]);
    }

    #[test]
    fn scientific_notation_is_recognised() {
        assert!(looks_scientific("6.14123E+10"));
        assert!(looks_scientific("6E+10"));
        assert!(looks_scientific("6.14123e10"));
        assert!(!looks_scientific("0412 345 678"));
        assert!(!looks_scientific("E+10"));
        assert!(!looks_scientific("6.1.4E+10"));
    }

    #[test]
    fn phone_like_values() {
        assert!(looks_like_phone("+61 (0)412 345-678"));
        assert!(looks_like_phone("0412345678"));
        assert!(!looks_like_phone("12345"));
        assert!(!looks_like_phone("Mobile"));
        assert!(!looks_like_phone("2024-03-05T09:30:00"));
        assert!(!looks_like_phone("2024-03-05"));
    }

    #[test]
    fn describe_headers_quotes_and_truncates() {
        assert_eq!(
            describe_headers(&headers(&["Name", "Notes"])),
            "\"Name\", \"Notes\""
        );
        let many: Vec<String> = (1..=25).map(|i| format!("C{i}")).collect();
        assert!(describe_headers(&many).ends_with("\"C20\" and 5 more"));
    }
}
