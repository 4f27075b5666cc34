//! Which column is which: the header vocabulary (Mobile, Cell, MSISDN, Given Name, Middle
//! Name, Surname, E-mail Address, Opted out, Do not text…, and the Google Contacts and Outlook
//! CSV layouts), values that look like phone numbers, header-row detection, and the first
//! guess of a column mapping. The guess is only a guess: the user can override it.
//!
//! Also what a mapped row says in the words people use in their files: the mobile among
//! Google's " ::: " multi-value cells ([`Mapping::mobile_values`]), first names with their
//! middle names and full names split in two ([`Mapping::first_name_value`]), and whether an
//! opt-out column says yes or no ([`Mapping::opted_out`]). Parsing the number and what an
//! opted-out row does (SPEC 3.4: it goes on the opt-out list) belong to the pipeline.

use super::Row;

/// Which column holds what, guessed from the header (and the values, when the header does not
/// say). Column indexes are 0-based. Build it with [`guess_mapping`]; change it field by field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mapping {
    /// The mobile number column: the best-named one ("Mobile" over "Phone" over "Home Phone"),
    /// or, with no such header, the column whose sample values look most like phone numbers.
    /// `None` when no column looks like a number: the pipeline then reports
    /// [`super::ReadError::NoMobileColumn`] with [`describe_headers`].
    pub mobile: Option<usize>,
    pub first_name: Option<usize>,
    /// "Middle Name", "Additional Name" (Google), "Middle": joined to the first name
    /// ([`Mapping::first_name_value`]).
    pub middle_name: Option<usize>,
    pub last_name: Option<usize>,
    pub email: Option<usize>,
    /// A single "Name" / "Full Name" column, used for a row with no first or middle name
    /// (see [`Mapping::first_name_value`] for how it is split).
    pub full_name: Option<usize>,
    /// The column that marks a row as opted out ("Opted out", "Unsubscribed", "SMS Opt-Out",
    /// "Do not text", "DNC"…; the most SMS-specific when there are several): read by
    /// [`Mapping::opted_out`]. Never also a custom field.
    pub opted_out: Option<usize>,
    /// Google Contacts' "Phone N - Type/Label" + "Phone N - Value" pairs, in order: the mobile
    /// of a row is the value whose type says Mobile ([`Mapping::mobile_values`]).
    pub typed_phones: Vec<TypedPhone>,
    /// Other phone columns (Outlook's "Business Phone", "Home Phone", …), best first: used by
    /// [`Mapping::mobile_values`] when the mobile column of a row is empty.
    pub other_phones: Vec<usize>,
    /// Every other column with its header, to keep as custom fields.
    pub custom: Vec<(usize, String)>,
    /// The file's headers, to name a column in a message ([`Mapping::opted_out`]'s errors).
    headers: Vec<String>,
}

/// A Google Contacts phone pair: the column saying what kind of phone, and the number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypedPhone {
    pub kind: usize,
    pub value: usize,
}

/// The numbers of one row ([`Mapping::mobile_values`]), as written (trimmed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowPhones<'r> {
    /// The number to import as the contact's mobile.
    pub mobile: &'r str,
    /// Every other number in the row's phone cells, each once and never the mobile: the
    /// typed pairs' values first (in pair order), then the mobile column's, then the other
    /// phone columns' (best first), each cell's values in order.
    pub others: Vec<&'r str>,
}

/// How Google Contacts joins several values in one cell ("+61 412 345 678 ::: 02 9876 5432",
/// and their labels "Mobile ::: Work"). Split on without the spaces, each part trimmed.
const MULTI_VALUE: &str = ":::";

impl Mapping {
    /// The raw mobile value of `row`, trimmed: [`Mapping::mobile_values`]' mobile.
    pub fn mobile_value<'r>(&self, row: &'r Row) -> Option<&'r str> {
        self.mobile_values(row).map(|phones| phones.mobile)
    }

    /// The numbers of `row`: the mobile, and the others of its phone cells. The mobile is
    /// the first value of a Google pair whose label says Mobile or Cell (labels and values
    /// are matched by position in a " ::: " cell: "Work ::: Mobile" with "a ::: b" gives b;
    /// a single label applies to every value); else the mobile column's first value; else
    /// the first value of the other phone columns. `None` when the row has no number.
    pub fn mobile_values<'r>(&self, row: &'r Row) -> Option<RowPhones<'r>> {
        let cell = |column: usize| row.get(column).unwrap_or("");
        let first_of = |column: usize| values(cell(column)).next().map(|(at, _)| (column, at));
        let typed = self.typed_phones.iter().find_map(|pair| {
            let labels: Vec<&str> = cell(pair.kind).split(MULTI_VALUE).collect();
            values(cell(pair.value))
                .find(|&(at, _)| {
                    let label = match labels.as_slice() {
                        [only] => only,
                        many => many.get(at).copied().unwrap_or(""),
                    };
                    says_mobile(label)
                })
                .map(|(at, _)| (pair.value, at))
        });
        let (mobile_column, mobile_at) = typed
            .or_else(|| self.mobile.and_then(first_of))
            .or_else(|| self.other_phones.iter().find_map(|&c| first_of(c)))?;
        let mut mobile = "";
        let mut others: Vec<&str> = Vec::new();
        for column in self.phone_columns() {
            for (at, value) in values(cell(column)) {
                if (column, at) == (mobile_column, mobile_at) {
                    mobile = value;
                } else if !others.contains(&value) {
                    others.push(value);
                }
            }
        }
        others.retain(|&v| v != mobile);
        Some(RowPhones { mobile, others })
    }

    /// Every column that holds numbers, each once: the typed pairs' values, the mobile
    /// column, the other phone columns.
    fn phone_columns(&self) -> Vec<usize> {
        let mut columns: Vec<usize> = Vec::new();
        let all = self.typed_phones.iter().map(|pair| pair.value);
        for column in all
            .chain(self.mobile)
            .chain(self.other_phones.iter().copied())
        {
            if !columns.contains(&column) {
                columns.push(column);
            }
        }
        columns
    }

    /// Uses `column`, and only it, for the number: not Google's typed pairs or the other phone
    /// columns (what a user's choice of the mobile column means).
    pub fn choose_mobile(&mut self, column: usize) {
        self.mobile = Some(column);
        self.typed_phones.clear();
        self.other_phones.clear();
    }

    /// The contact's first name in `row`: the first name and the middle name(s) joined by a
    /// space (either alone when the other is empty). A row with neither takes it from the
    /// full-name column: with a last name in the row, the full name without it ("Mary Ann
    /// Smith" less "Smith", "Smith, Mary Ann" less "Smith,"; the whole full name when it does
    /// not hold the last name: "Name" then means the first name); with none, the full name
    /// split before its last word ("Mary Ann Smith" is "Mary Ann" and "Smith"; see
    /// [`Mapping::last_name_value`]). Trimmed; `None` when empty. Not length-checked: `ContactFields::parse` is.
    pub fn first_name_value(&self, row: &Row) -> Option<String> {
        self.names(row).0
    }

    /// The contact's last name in `row`: the last-name column's value, or, for a row whose
    /// first name comes from the full name and that has no last name, the full name's
    /// last word with its particles and suffixes ("van der Berg", "Smith Jr.").
    pub fn last_name_value(&self, row: &Row) -> Option<String> {
        self.names(row).1
    }

    /// (first name, last name) of `row`, decided together (see [`Mapping::first_name_value`]).
    fn names(&self, row: &Row) -> (Option<String>, Option<String>) {
        let last = field(row, self.last_name);
        let given: Vec<&str> = [self.first_name, self.middle_name]
            .into_iter()
            .filter_map(|column| field(row, column))
            .collect();
        if !given.is_empty() {
            return (Some(given.join(" ")), last.map(str::to_owned));
        }
        match (field(row, self.full_name), last) {
            (None, last) => (None, last.map(str::to_owned)),
            (Some(full), Some(last)) => (given_from_full(full, last), Some(last.to_owned())),
            (Some(full), None) => split_full_name(full),
        }
    }

    /// Whether `row` is marked opted out by the opt-out column: `Ok(true)` for yes, y, true,
    /// t, 1, x, ✓, "opted out" or "unsubscribed"; `Ok(false)` for an empty cell, no, n, false,
    /// f, 0, "subscribed" or "opted in", and when there is no such column. Case, surrounding
    /// spaces, and hyphens or underscores between words do not matter. Anything else is an
    /// `Err` naming the column and the value, for the row's line in the import report:
    /// `"Opted out" is "maybe": use yes or no (true/false, 1/0, x or empty)`.
    pub fn opted_out(&self, row: &Row) -> Result<bool, String> {
        let Some(column) = self.opted_out else {
            return Ok(false);
        };
        let raw = row.get(column).unwrap_or("");
        opt_out_answer(raw).ok_or_else(|| {
            let header = self
                .headers
                .get(column)
                .cloned()
                .unwrap_or_else(|| format!("Column {}", column + 1));
            let mut value: String = raw.trim().chars().take(40).collect();
            if raw.trim().chars().count() > 40 {
                value.push('…');
            }
            format!("\"{header}\" is \"{value}\": use yes or no (true/false, 1/0, x or empty)")
        })
    }
}

/// The values of a " ::: " cell with their positions, trimmed, the empty ones left out.
fn values(cell: &str) -> impl Iterator<Item = (usize, &str)> {
    cell.split(MULTI_VALUE)
        .map(str::trim)
        .enumerate()
        .filter(|(_, v)| !v.is_empty())
}

/// Whether a Google phone label ("Mobile", "* Mobile", "Cell") names a mobile.
fn says_mobile(label: &str) -> bool {
    let label = normalize(label);
    label.contains("mobile") || label.contains("cell")
}

/// Column `column` of `row`, trimmed; `None` when there is no column or it is empty.
fn field(row: &Row, column: Option<usize>) -> Option<&str> {
    column
        .and_then(|i| row.get(i))
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// What an opt-out cell says: `None` when it is neither a yes nor a no.
fn opt_out_answer(raw: &str) -> Option<bool> {
    let words: Vec<String> = raw
        .split(|c: char| c.is_whitespace() || c == '-' || c == '_')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    match words.join(" ").as_str() {
        "yes" | "y" | "true" | "t" | "1" | "x" | "\u{2713}" | "\u{2714}" | "opted out"
        | "optedout" | "unsubscribed" => Some(true),
        "" | "no" | "n" | "false" | "f" | "0" | "subscribed" | "opted in" | "optedin" => {
            Some(false)
        }
        _ => None,
    }
}

/// Words that start a family name ("van der Berg", "de la Cruz", "bin Laden"): a full name's
/// last word takes the particles before it.
const PARTICLES: &[&str] = &[
    "van", "von", "der", "den", "de", "del", "della", "da", "das", "dos", "di", "du", "la", "le",
    "ten", "ter", "bin", "binti", "al", "el",
];

/// What may follow a family name ("Smith Jr.", "Smith, III"), compared without dots and commas.
const SUFFIXES: &[&str] = &["jr", "sr", "ii", "iii", "iv", "phd", "md"];

fn is_suffix(word: &str) -> bool {
    let word = word
        .trim_matches(|c: char| c == '.' || c == ',' || c.is_whitespace())
        .to_lowercase();
    SUFFIXES.contains(&word.as_str())
}

/// A full name split into first name and last name, when the file has no last-name column:
/// "Smith, Mary Ann" (one comma, not before a suffix) is the last name first; otherwise the
/// last word is the last name, with the particles before it ("Anna van der Berg": "van der
/// Berg") and the suffixes after it ("John Smith Jr.": "Smith Jr."). One word is a first
/// name. A first name always keeps at least one word.
fn split_full_name(full: &str) -> (Option<String>, Option<String>) {
    let full = full.trim();
    let owned = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    if let Some((last, first)) = full.split_once(',')
        && !first.contains(',')
        && !first.trim().is_empty()
        && !last.trim().is_empty()
        && !is_suffix(first)
    {
        return (owned(first), owned(last));
    }
    let words: Vec<&str> = full.split_whitespace().collect();
    if words.len() < 2 {
        return (owned(full), None);
    }
    let mut end = words.len();
    while end > 2 && is_suffix(words[end - 1]) {
        end -= 1;
    }
    let mut start = end - 1;
    while start > 1 && PARTICLES.contains(&words[start - 1].to_lowercase().as_str()) {
        start -= 1;
    }
    let first = words[..start].join(" ");
    (
        owned(first.trim_end_matches(',')),
        owned(&words[start..].join(" ")),
    )
}

/// The first name in a full name whose row has the last name `last`: the full name without
/// `last` at its end ("Mary Ann Smith") or at its start before a comma ("Smith, Mary Ann");
/// `None` when the full name is just the last name; else the whole full name (the column
/// called "Name" beside a "Surname" holds first names).
fn given_from_full(full: &str, last: &str) -> Option<String> {
    let full_words: Vec<&str> = full.split_whitespace().collect();
    let last_words: Vec<&str> = last.split_whitespace().collect();
    let same = |a: &[&str]| {
        a.iter()
            .zip(&last_words)
            .all(|(a, b)| a.trim_end_matches(',').to_lowercase() == b.to_lowercase())
    };
    let (n, l) = (full_words.len(), last_words.len());
    let rest = if n < l {
        full_words.as_slice()
    } else if same(&full_words[n - l..]) {
        &full_words[..n - l]
    } else if same(&full_words[..l]) && full_words[l - 1].ends_with(',') {
        &full_words[l..]
    } else {
        full_words.as_slice()
    };
    let first = rest.join(" ");
    Some(first.trim_end_matches(',').trim().to_owned()).filter(|s| !s.is_empty())
}

/// What a header names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// A phone column; the higher the rank, the likelier a mobile.
    Phone(u8),
    FirstName,
    MiddleName,
    LastName,
    FullName,
    Email,
    /// A column that marks a row as opted out; the higher the rank, the more SMS-specific.
    OptedOut(u8),
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
    ("middlename", Role::MiddleName),
    ("middlenames", Role::MiddleName),
    ("middle", Role::MiddleName),
    ("middleinitial", Role::MiddleName),
    ("additionalname", Role::MiddleName),
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
    ("smsoptout", Role::OptedOut(2)),
    ("smsoptedout", Role::OptedOut(2)),
    ("smsunsubscribed", Role::OptedOut(2)),
    ("textoptout", Role::OptedOut(2)),
    ("textoptedout", Role::OptedOut(2)),
    ("textingoptout", Role::OptedOut(2)),
    ("donottext", Role::OptedOut(2)),
    ("donotsms", Role::OptedOut(2)),
    ("optedout", Role::OptedOut(1)),
    ("optout", Role::OptedOut(1)),
    ("unsubscribed", Role::OptedOut(1)),
    ("dnc", Role::OptedOut(1)),
    ("donotcontact", Role::OptedOut(1)),
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
    let mut opt_outs: Vec<(u8, usize)> = Vec::new();

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
                    .filter(|r| says_mobile(r.get(pair.kind).unwrap_or("")))
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
            Some(Role::OptedOut(rank)) => {
                opt_outs.push((rank, i));
                continue;
            }
            Some(Role::FirstName) => &mut m.first_name,
            Some(Role::MiddleName) => &mut m.middle_name,
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

    // The most SMS-specific opt-out column, the leftmost among equals; the others are kept
    // as custom fields.
    m.opted_out = opt_outs
        .iter()
        .min_by_key(|&&(rank, i)| (std::cmp::Reverse(rank), i))
        .map(|&(_, i)| i);
    if let Some(i) = m.opted_out {
        used[i] = true;
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
    m.headers = headers.to_vec();
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
#[allow(clippy::unwrap_used, clippy::expect_used)]
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

    fn row(fields: &[&str]) -> Row {
        Row::new(2, fields.iter().copied())
    }

    #[test]
    fn opt_out_headers_are_recognised_whatever_their_case_and_punctuation() {
        for header in [
            "Opted out",
            "Opted-out",
            "Opt out",
            "OPT_OUT",
            "Unsubscribed",
            "SMS opt out",
            "SMS Opt-Out",
            "Do not text",
            "Do not SMS",
            "DNC",
            "Do Not Contact",
            "Texting opt out",
        ] {
            let m = guess_mapping(&headers(&["Mobile", "Name", header]), &[]);
            assert_eq!(m.opted_out, Some(2), "{header}");
            assert!(m.custom.is_empty(), "{header} is not also a custom field");
        }
    }

    #[test]
    fn the_opt_out_column_is_never_guessed_as_anything_else() {
        // No header: values alone never make a column the opt-out column.
        let sample = [row(&["0412 345 678", "1"])];
        let m = guess_mapping(&headers(&["Column 1", "Column 2"]), &sample);
        assert_eq!((m.mobile, m.opted_out), (Some(0), None));
        // A yes/no column named for opting out is only that, even where its values would
        // make another guess.
        let sample = [row(&["Ann", "0412 345 678"])];
        let m = guess_mapping(&headers(&["Name", "Opted out"]), &sample);
        assert_eq!((m.mobile, m.opted_out), (None, Some(1)));
        assert!(m.custom.is_empty());
    }

    #[test]
    fn the_most_sms_specific_opt_out_column_wins_and_the_others_stay_custom() {
        let h = headers(&["Mobile", "Unsubscribed", "SMS Opt-Out", "DNC"]);
        let m = guess_mapping(&h, &[]);
        assert_eq!(m.opted_out, Some(2));
        assert_eq!(
            m.custom,
            [(1, "Unsubscribed".to_owned()), (3, "DNC".to_owned())]
        );
    }

    #[test]
    fn every_yes_marks_a_row_opted_out() {
        let m = guess_mapping(&headers(&["Mobile", "Opted out"]), &[]);
        for yes in [
            "yes",
            "YES",
            " Yes ",
            "y",
            "Y",
            "true",
            "TRUE",
            "t",
            "1",
            "x",
            "X",
            "\u{2713}",
            "opted out",
            "Opted Out",
            "opted-out",
            "unsubscribed",
            "Unsubscribed",
        ] {
            assert_eq!(m.opted_out(&row(&["0412345678", yes])), Ok(true), "{yes:?}");
        }
    }

    #[test]
    fn every_no_and_an_empty_cell_leave_a_row_subscribed() {
        let m = guess_mapping(&headers(&["Mobile", "Opted out"]), &[]);
        for no in [
            "",
            "   ",
            "no",
            "NO",
            "n",
            "false",
            "FALSE",
            "f",
            "0",
            "subscribed",
            "Subscribed",
            "opted in",
            "Opted-In",
        ] {
            assert_eq!(m.opted_out(&row(&["0412345678", no])), Ok(false), "{no:?}");
        }
        // A short row (no cell at all) is an empty cell.
        assert_eq!(m.opted_out(&row(&["0412345678"])), Ok(false));
    }

    #[test]
    fn a_file_without_an_opt_out_column_marks_no_row() {
        let m = guess_mapping(&headers(&["Mobile", "Notes"]), &[]);
        assert_eq!(m.opted_out, None);
        assert_eq!(m.opted_out(&row(&["0412345678", "yes"])), Ok(false));
    }

    #[test]
    fn an_unclear_opt_out_value_is_an_error_naming_the_column_and_the_value() {
        let m = guess_mapping(&headers(&["Mobile", "Opted out"]), &[]);
        assert_eq!(
            m.opted_out(&row(&["0412345678", " maybe "])),
            Err("\"Opted out\" is \"maybe\": use yes or no (true/false, 1/0, x or empty)".into())
        );
        let long = "z".repeat(100);
        let err = m.opted_out(&row(&["0412345678", &long])).unwrap_err();
        assert!(err.contains(&format!("\"{}…\"", "z".repeat(40))), "{err}");
        // A column chosen by hand in a mapping built without headers is named by its number.
        let m = Mapping {
            opted_out: Some(1),
            ..Mapping::default()
        };
        assert!(
            m.opted_out(&row(&["0412345678", "2"]))
                .unwrap_err()
                .starts_with("\"Column 2\" is \"2\"")
        );
    }

    #[test]
    fn a_google_cell_of_two_numbers_gives_the_first_as_mobile_and_keeps_the_second() {
        let m = guess_mapping(
            &headers(&["Name", "Phone 1 - Type", "Phone 1 - Value"]),
            &[],
        );
        let r = row(&["Bo Kim", "Mobile", "+61 412 345 679 ::: +61 412 345 600"]);
        let phones = m.mobile_values(&r).unwrap();
        assert_eq!(phones.mobile, "+61 412 345 679");
        assert_eq!(phones.others, ["+61 412 345 600"]);
        assert_eq!(m.mobile_value(&r), Some("+61 412 345 679"));
    }

    #[test]
    fn in_a_typed_pair_the_value_at_the_mobile_labels_position_is_the_mobile() {
        let h = headers(&[
            "Phone 1 - Label",
            "Phone 1 - Value",
            "Phone 2 - Label",
            "Phone 2 - Value",
        ]);
        let m = guess_mapping(&h, &[]);
        let r = row(&[
            "Work ::: * Mobile",
            "02 9876 5432 ::: 0412 345 678",
            "Home",
            "03 9123 4567",
        ]);
        let phones = m.mobile_values(&r).unwrap();
        assert_eq!(phones.mobile, "0412 345 678");
        assert_eq!(phones.others, ["02 9876 5432", "03 9123 4567"]);
        // "Mobile ::: Work": the first position.
        let r = row(&["Mobile ::: Work", "0412 345 678 ::: 02 9876 5432", "", ""]);
        assert_eq!(m.mobile_value(&r), Some("0412 345 678"));
    }

    #[test]
    fn with_no_phone_labelled_mobile_the_first_number_is_the_mobile() {
        let h = headers(&["Phone 1 - Type", "Phone 1 - Value"]);
        let m = guess_mapping(&h, &[]);
        let r = row(&["Work ::: Home", "02 9876 5432 ::: 03 9123 4567"]);
        let phones = m.mobile_values(&r).unwrap();
        assert_eq!(phones.mobile, "02 9876 5432");
        assert_eq!(phones.others, ["03 9123 4567"]);
        assert_eq!(m.mobile_values(&row(&["Mobile", " ::: "])), None);
    }

    #[test]
    fn a_plain_mobile_cell_of_two_numbers_and_the_other_phone_columns_give_extras() {
        let m = guess_mapping(&headers(&["Mobile Phone", "Home Phone"]), &[]);
        let r = row(&[
            "0412 345 678 ::: 0412 345 600",
            "02 9876 5432 ::: 0412 345 600",
        ]);
        let phones = m.mobile_values(&r).unwrap();
        assert_eq!(phones.mobile, "0412 345 678");
        assert_eq!(phones.others, ["0412 345 600", "02 9876 5432"], "each once");
        // An empty mobile cell: the other phone column's first number, the rest as extras.
        let r = row(&["", "02 9876 5432 ::: 0412 345 600"]);
        assert_eq!(
            m.mobile_values(&r),
            Some(RowPhones {
                mobile: "02 9876 5432",
                others: vec!["0412 345 600"],
            })
        );
    }

    #[test]
    fn a_chosen_mobile_column_is_the_only_one_read() {
        let mut m = guess_mapping(&headers(&["Mobile", "Home Phone", "Other"]), &[]);
        m.choose_mobile(2);
        let r = row(&["0412 345 678", "02 9876 5432", "0412 000 001"]);
        let phones = m.mobile_values(&r);
        assert_eq!(
            phones.map(|p| (p.mobile, p.others.len())),
            Some(("0412 000 001", 0))
        );
        assert_eq!(m.mobile_value(&row(&["0412 345 678", "", ""])), None);
    }

    #[test]
    fn middle_name_columns_are_mapped_and_joined_to_the_first_name() {
        for header in ["Middle Name", "Additional Name", "Middle", "middle_names"] {
            let h = headers(&["Mobile", "First Name", header, "Last Name"]);
            let m = guess_mapping(&h, &[]);
            assert_eq!(m.middle_name, Some(2), "{header}");
            assert!(m.custom.is_empty(), "{header}");
        }
        let h = headers(&["Mobile", "Given Name", "Additional Name", "Family Name"]);
        let m = guess_mapping(&h, &[]);
        let names = |fields: &[&str]| {
            let r = row(fields);
            (m.first_name_value(&r), m.last_name_value(&r))
        };
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(
            names(&["1", "Mary", " Ann Louise ", "Smith"]),
            (some("Mary Ann Louise"), some("Smith"))
        );
        assert_eq!(
            names(&["1", "Mary", "", "Smith"]),
            (some("Mary"), some("Smith"))
        );
        assert_eq!(names(&["1", "", "Ann", ""]), (some("Ann"), None));
        assert_eq!(names(&["1", " ", "", ""]), (None, None));
    }

    #[test]
    fn a_full_name_without_a_last_name_column_is_split_before_its_last_word() {
        let m = guess_mapping(&headers(&["Mobile", "Full Name"]), &[]);
        let names = |full: &str| {
            let r = row(&["1", full]);
            (m.first_name_value(&r), m.last_name_value(&r))
        };
        let pair = |f: &str, l: Option<&str>| (Some(f.to_owned()), l.map(str::to_owned));
        assert_eq!(names("Mary Ann Smith"), pair("Mary Ann", Some("Smith")));
        assert_eq!(
            names("  Mary   Ann  Smith "),
            pair("Mary Ann", Some("Smith"))
        );
        assert_eq!(names("Cher"), pair("Cher", None));
        assert_eq!(names("Smith, Mary Ann"), pair("Mary Ann", Some("Smith")));
        assert_eq!(
            names("Anna van der Berg"),
            pair("Anna", Some("van der Berg"))
        );
        assert_eq!(names("Maria De La Cruz"), pair("Maria", Some("De La Cruz")));
        assert_eq!(names("John Smith Jr."), pair("John", Some("Smith Jr.")));
        assert_eq!(names("John Smith, Jr."), pair("John", Some("Smith, Jr.")));
        assert_eq!(names("Van Morrison"), pair("Van", Some("Morrison")));
        assert_eq!(names(""), (None, None));
    }

    #[test]
    fn a_full_name_beside_a_last_name_column_keeps_what_is_not_the_last_name() {
        let m = guess_mapping(&headers(&["Mobile", "Name", "Surname"]), &[]);
        assert_eq!(
            (m.full_name, m.first_name, m.last_name),
            (Some(1), None, Some(2))
        );
        let first = |name: &str, last: &str| m.first_name_value(&row(&["1", name, last]));
        assert_eq!(
            first("Mary Ann Smith", "Smith").as_deref(),
            Some("Mary Ann")
        );
        assert_eq!(
            first("mary ann SMITH", "Smith").as_deref(),
            Some("mary ann")
        );
        assert_eq!(
            first("Smith, Mary Ann", "Smith").as_deref(),
            Some("Mary Ann")
        );
        assert_eq!(
            first("Mary", "Smith").as_deref(),
            Some("Mary"),
            "Name is the first name"
        );
        assert_eq!(first("Smith", "Smith"), None);
        assert_eq!(
            m.last_name_value(&row(&["1", "Mary Ann Smith", ""]))
                .as_deref(),
            Some("Smith"),
            "an empty last name: the full name is split"
        );
        // A row with a first name never takes it from the full name.
        let m = guess_mapping(&headers(&["Mobile", "Name", "Given Name"]), &[]);
        assert_eq!(
            m.first_name_value(&row(&["1", "Mary Ann Smith", "Molly"]))
                .as_deref(),
            Some("Molly")
        );
    }

    #[test]
    fn first_and_middle_names_together_still_obey_the_contact_name_limit() {
        use stoplist_domain::names::ContactFields;
        let m = guess_mapping(&headers(&["Mobile", "First Name", "Middle Name"]), &[]);
        let first = "a".repeat(100);
        let fits = m.first_name_value(&row(&["1", &first, &"b".repeat(99)]));
        assert_eq!(
            fits.as_ref().map(|f| f.chars().count()),
            Some(ContactFields::MAX)
        );
        assert!(ContactFields::parse(fits.as_deref(), None, None).is_ok());
        let over = m.first_name_value(&row(&["1", &first, &"b".repeat(100)]));
        assert!(ContactFields::parse(over.as_deref(), None, None).is_err());
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
