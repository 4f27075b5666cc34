//! The reply classifier against `tests/corpus/replies.tsv`: real-world replies gathered
//! from providers' and regulators' documents and realistic phrasings in six languages,
//! each with the class it must get.
//!
//! Rules checked (SPEC 3.6):
//! - every keyword row (tier 1 and 2) gets exactly its class;
//! - no trap row is classified `opt_out`;
//! - no expected `opt_out` is classified `other`, and one is `unclear` only where the row
//!   says `unclear_ok` (missing an opt-out is the worse error);
//! - overall accuracy is at least 95%.

use stoplist_domain::classify::{Class, Classifier};

struct Row {
    line: usize,
    text: String,
    expected: Class,
    tags: Vec<String>,
}

impl Row {
    fn has(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }
}

/// Reads `\u{XXXX}` escapes (used for invisible characters).
fn unescape(raw: &str) -> String {
    let mut out = String::new();
    let mut rest = raw;
    while let Some(i) = rest.find("\\u{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 3..];
        let close = after
            .find('}')
            .unwrap_or_else(|| panic!("unclosed escape in {raw:?}"));
        let code = u32::from_str_radix(&after[..close], 16)
            .unwrap_or_else(|_| panic!("bad escape in {raw:?}"));
        out.push(char::from_u32(code).unwrap_or_else(|| panic!("bad code point in {raw:?}")));
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

fn corpus() -> Vec<Row> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus/replies.tsv");
    let data = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut rows = Vec::new();
    for (i, line) in data.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() && !line.contains('\t') {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        assert!(
            cols.len() >= 2,
            "line {}: needs text and expected class",
            i + 1
        );
        let expected = Class::parse(cols[1]).unwrap_or_else(|e| panic!("line {}: {e}", i + 1));
        let tags = cols
            .get(2)
            .map(|t| {
                t.split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        rows.push(Row {
            line: i + 1,
            text: unescape(cols[0]),
            expected,
            tags,
        });
    }
    rows
}

#[test]
fn the_corpus_has_enough_rows_of_every_kind() {
    let rows = corpus();
    assert!(rows.len() >= 250, "only {} rows", rows.len());
    for tag in ["keyword", "courtesy", "phrase", "trap", "chat", "opted_out"] {
        assert!(rows.iter().any(|r| r.has(tag)), "no {tag} row");
    }
}

#[test]
fn the_classifier_follows_the_corpus() {
    let classifier = Classifier::builtin();
    let rows = corpus();
    let mut failures = Vec::new();
    let mut right = 0;
    for row in &rows {
        let got = classifier.classify(&row.text, row.has("opted_out"));
        if got.class == row.expected {
            right += 1;
        }
        let rule_broken =
            if (row.has("keyword") || row.has("courtesy")) && got.class != row.expected {
                Some("a keyword row must get exactly its class")
            } else if row.has("trap") && got.class == Class::OptOut {
                Some("a trap must never be an opt-out")
            } else if row.expected == Class::OptOut && got.class == Class::Other {
                Some("an opt-out must never be read as other")
            } else if row.expected == Class::OptOut
                && got.class == Class::Unclear
                && !row.has("unclear_ok")
            {
                Some("this opt-out must not be unclear")
            } else {
                None
            };
        if let Some(rule) = rule_broken {
            failures.push(format!(
                "line {}: {:?} expected {} got {} ({}, matched {:?}): {rule}",
                row.line, row.text, row.expected, got.class, got.tier, got.matched
            ));
        }
    }
    let accuracy = right as f64 / rows.len() as f64;
    println!(
        "corpus accuracy: {right}/{} = {:.1}%",
        rows.len(),
        accuracy * 100.0
    );
    let misses: Vec<String> = rows
        .iter()
        .filter_map(|row| {
            let got = classifier.classify(&row.text, row.has("opted_out"));
            (got.class != row.expected).then(|| {
                format!(
                    "line {}: {:?} expected {} got {} ({})",
                    row.line, row.text, row.expected, got.class, got.tier
                )
            })
        })
        .collect();
    for m in &misses {
        println!("miss: {m}");
    }
    assert!(
        failures.is_empty(),
        "{} rule failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(accuracy >= 0.95, "accuracy {:.1}% < 95%", accuracy * 100.0);
}
