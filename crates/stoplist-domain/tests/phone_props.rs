//! The fast parsing path must give exactly the library's answers.
//!
//! `PhoneNumber::parse` (fast path first) and `PhoneNumber::parse_with_library` (the
//! reference) are compared on generated inputs in the five regions we care about most: every
//! written form (national with and without trunk prefix, `+cc`, `cc` without `+`, IDD forms,
//! `+cc (0)`), realistic and random leading digits, valid and invalid lengths, random
//! separators and occasional odd characters. Then a deterministic sweep over every 4-digit AU
//! prefix and every 3-digit prefix of the other regions.
//!
//! `PHONE_PROP_CASES` sets the number of generated cases per property (default 20,000);
//! `bench/parse.sh` runs millions in release.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use stoplist_domain::phone::{PhoneNumber, Region};

fn cases() -> u32 {
    std::env::var("PHONE_PROP_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        // Failures print the input; no regression files in the tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// One region's way of writing numbers, and the leading digits of its real ranges (and of
/// some unreal ones).
struct Plan {
    region: &'static str,
    cc: &'static str,
    trunk: &'static str,
    idd: &'static str,
    /// Lengths of real national significant numbers.
    lengths: &'static [usize],
    leads: &'static [&'static str],
}

const PLANS: [Plan; 5] = [
    Plan {
        region: "AU",
        cc: "61",
        trunk: "0",
        idd: "0011",
        lengths: &[9],
        leads: &[
            "4", "40", "41", "47", "479", "483", "49", "496", "2", "3", "7", "8", "891", "1", "13",
            "1300", "1345", "180", "1800", "1802", "190", "14", "145", "147", "163", "183", "1831",
            "5", "6", "9", "0", "00", "61",
        ],
    },
    Plan {
        region: "NZ",
        cc: "64",
        trunk: "0",
        idd: "00",
        lengths: &[8, 9, 10],
        leads: &[
            "2", "21", "22", "26", "27", "275", "28", "3", "4", "6", "7", "70", "8", "80", "83",
            "9", "90", "50", "508", "1", "0161",
        ],
    },
    Plan {
        region: "GB",
        cc: "44",
        trunk: "0",
        idd: "00",
        lengths: &[10],
        leads: &[
            "7", "74", "745", "7457", "75", "7700", "7911", "76", "70", "1", "11", "121", "1481",
            "1534", "1624", "20", "2", "3", "5", "56", "55", "8", "80", "800", "84", "87", "9",
            "90", "180020",
        ],
    },
    Plan {
        region: "IN",
        cc: "91",
        trunk: "0",
        idd: "00",
        lengths: &[10],
        leads: &[
            "9", "98", "8", "7", "6", "1", "11", "140", "1800", "186", "1860", "2", "3", "4", "5",
            "000800", "80", "22",
        ],
    },
    Plan {
        region: "US",
        cc: "1",
        trunk: "1",
        idd: "011",
        lengths: &[10],
        leads: &[
            "2", "201", "212", "3", "310", "4", "5", "500", "52", "555", "6", "600", "7", "8",
            "800", "9", "900", "1", "0", "268", "876", "242", "340", "684", "204", "441",
        ],
    },
];

/// Calling codes and international prefixes to mix in, including unknown and odd ones.
const OTHER_CCS: &[&str] = &[
    "61", "64", "44", "91", "1", "33", "49", "86", "7", "672", "800", "882", "999", "0", "", "6",
    "9", "1268", "614",
];
const IDDS: &[&str] = &["0011", "00", "011", "0", "001", "0014", "1411", "0161", ""];

/// Separators written between digits, and rare characters that must send the input to the
/// library (or be handled identically by both paths).
const SEPS: &[&str] = &[
    "", "", "", "", " ", " ", "-", ".", "(", ")", "  ", " - ", ") ", " (",
];
const NOISE: &[&str] = &[
    "/", "#", "x", "\t", "*", "~", "+", "++", "٣", "１", "＋", "ext", ";", ",", "\u{a0}", "tel:",
    "a", "\n",
];

/// A generated input: which plan, which written form, and the random parts.
#[derive(Debug, Clone)]
struct Recipe {
    plan: usize,
    form: u8,
    cc: usize,
    idd: usize,
    lead: usize,
    /// Random digits; `real_length` picks how many are used.
    tail: Vec<u8>,
    /// `Some(i)`: complete the national number to the region's i-th real length (the
    /// interesting case); `None`: use all of `tail` (mostly invalid lengths).
    real_length: Option<usize>,
    seps: Vec<usize>,
    noise: Option<(usize, usize)>,
    pad: (bool, bool),
}

fn recipe() -> impl Strategy<Value = Recipe> {
    (
        0..PLANS.len(),
        0u8..10,
        0..OTHER_CCS.len(),
        0..IDDS.len(),
        0usize..64,
        prop::collection::vec(0u8..10, 0..13),
        prop::option::weighted(0.75, 0usize..3),
        prop::collection::vec(0..SEPS.len(), 0..24),
        prop::option::weighted(0.05, (0..NOISE.len(), 0usize..24)),
        (any::<bool>(), any::<bool>()),
    )
        .prop_map(
            |(plan, form, cc, idd, lead, tail, real_length, seps, noise, pad)| Recipe {
                plan,
                form,
                cc,
                idd,
                lead,
                tail,
                real_length,
                seps,
                noise,
                pad,
            },
        )
}

impl Recipe {
    fn region(&self) -> Region {
        Region::parse(PLANS[self.plan].region).unwrap()
    }

    /// The written form, before separators: '+' and digits.
    fn skeleton(&self) -> String {
        let p = &PLANS[self.plan];
        let lead = p.leads[self.lead % p.leads.len()];
        let mut tail: String = self.tail.iter().map(|d| char::from(b'0' + d)).collect();
        if let Some(i) = self.real_length {
            let want = p.lengths[i % p.lengths.len()].saturating_sub(lead.len());
            // Repeat the random digits if there are too few.
            while tail.len() < want {
                let again = if tail.is_empty() {
                    "7".to_owned()
                } else {
                    tail.clone()
                };
                tail.push_str(&again);
            }
            tail.truncate(want);
        }
        let core = format!("{lead}{tail}");
        let other_cc = OTHER_CCS[self.cc];
        let other_idd = IDDS[self.idd];
        match self.form {
            0 => format!("{}{core}", p.trunk),
            1 => format!("+{}{core}", p.cc),
            2 => format!("{}{core}", p.cc),
            3 => format!("{}{}{core}", p.idd, p.cc),
            4 => format!("+{}0{core}", p.cc),
            5 => format!("+{other_cc}{core}"),
            6 => format!("{other_idd}{other_cc}{core}"),
            7 => core,
            8 => format!("{other_idd}{}{core}", p.cc),
            _ => tail,
        }
    }

    /// The final input: separators between characters, maybe padding and one odd character.
    fn text(&self) -> String {
        let mut out = String::new();
        if self.pad.0 {
            out.push(' ');
        }
        for (i, c) in self.skeleton().chars().enumerate() {
            if let Some(&s) = self.seps.get(i) {
                out.push_str(SEPS[s]);
            }
            if let Some((n, at)) = self.noise
                && at == i
            {
                out.push_str(NOISE[n]);
            }
            out.push(c);
        }
        if self.pad.1 {
            out.push(' ');
        }
        out
    }
}

fn assert_same(raw: &str, region: Region) {
    let fast = PhoneNumber::parse(raw, region);
    let library = PhoneNumber::parse_with_library(raw, region);
    assert_eq!(
        fast, library,
        "parse and parse_with_library differ for {raw:?} with default region {region}"
    );
    assert_eq!(
        PhoneNumber::parse_key(raw, region),
        library.map(|n| n.as_u64()),
        "parse_key and parse_with_library differ for {raw:?} with default region {region}"
    );
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn fast_path_agrees_with_library_on_written_forms(r in recipe()) {
        assert_same(&r.text(), r.region());
    }

    #[test]
    fn fast_path_agrees_with_library_on_any_default_region(
        r in recipe(),
        other in 0..PLANS.len(),
    ) {
        // The same inputs read with a different default region (e.g. a GB number in an AU
        // account), where the international forms matter most.
        let region = Region::parse(PLANS[other].region).unwrap();
        assert_same(&r.text(), region);
    }

    #[test]
    fn fast_path_agrees_with_library_on_arbitrary_digit_strings(
        digits in "[+]?[0-9 ]{0,22}",
        plan in 0..PLANS.len(),
    ) {
        assert_same(&digits, Region::parse(PLANS[plan].region).unwrap());
    }
}

/// Every 4-digit AU start (0000-9999) followed by 1 to 8 more digits, in the national,
/// `+61`, `61` and `0011 61` forms; and every 3-digit start of the other regions followed by
/// 3 to 9 more digits, in the national, `+cc`, `cc` and IDD forms.
#[test]
fn fast_path_agrees_with_library_on_every_short_prefix() {
    const TAIL: &str = "582136479";
    let au = Region::AU;
    for p in 0..10_000 {
        for tail_len in 1..=8 {
            let digits = format!("{p:04}{}", &TAIL[..tail_len]);
            assert_same(&digits, au);
            assert_same(&format!("+61 {digits}"), au);
            assert_same(&format!("61{digits}"), au);
            assert_same(&format!("0011 61 {digits}"), au);
        }
    }
    for plan in &PLANS[1..] {
        let region = Region::parse(plan.region).unwrap();
        for p in 0..1_000 {
            for tail_len in 3..=9 {
                let digits = format!("{p:03}{}", &TAIL[..tail_len]);
                assert_same(&digits, region);
                assert_same(&format!("+{}{digits}", plan.cc), region);
                assert_same(&format!("{}{digits}", plan.cc), region);
                assert_same(&format!("{} {} {digits}", plan.idd, plan.cc), region);
            }
        }
    }
}
