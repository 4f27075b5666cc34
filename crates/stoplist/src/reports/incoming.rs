//! The Incoming report (SPEC 3.8): every reply with its received time, sender, recipient,
//! text, classification (and the rule that decided it), matched campaign and actions; filtered
//! by received-time range, classification and number. Exported as CSV, TSV, XLSX or PDF, and
//! shown a page at a time by the web UI.
//!
//! Owns the report's filter syntax ([`IncomingFilter::parse`], shared by the API, the CLI and
//! the UI so all three read `from`, `to`, `class` and `number` the same way), its columns and
//! its cells. The rows come from the store's one streaming query
//! ([`stoplist_store::ExportStore::incoming_replies`]), newest first by id; they are cut into
//! chunks of [`CHUNK_ROWS`] on their way to the writer, so memory stays flat however many
//! replies match.

use super::{ExportFile, Format, MAX_PDF_ROWS, Report, write_table};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use futures_util::{StreamExt, TryStreamExt};
use stoplist_domain::classify::Class;
use stoplist_domain::{AccountId, Region};
use stoplist_store::ReplyFilter;
use stoplist_store::export::{IncomingReply, Window};

/// The Incoming report's columns, in order.
pub const COLUMNS: &[&str] = &[
    "received_at",
    "from",
    "to",
    "text",
    "class",
    "tier",
    "matched_campaign",
    "actions",
];
/// The time and the campaign header fit whole; the text gets the most room, then actions.
const WIDTHS: &[f32] = &[1.6, 1.15, 1.15, 3.1, 0.7, 1.0, 1.6, 2.2];

/// Rows per chunk handed to the writer (two chunks wait at most).
pub const CHUNK_ROWS: usize = 1024;

const DAY_MS: i64 = 86_400_000;

/// The filters as typed (query string, form or command line); empty means absent.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawFilter<'a> {
    /// Received at or after: `YYYY-MM-DD` (from midnight UTC) or an RFC 3339 time.
    pub from: Option<&'a str>,
    /// Received up to: `YYYY-MM-DD` (the whole day, UTC) or an RFC 3339 time (before it).
    pub to: Option<&'a str>,
    /// `opt_out`, `opt_in`, `help`, `other` or `unclear` (case and `-`/`_` ignored).
    pub class: Option<&'a str>,
    /// All or part of the sender's number, in any written form.
    pub number: Option<&'a str>,
}

/// The Incoming report's filters, checked.
///
/// Invariants: `to_time > from_time` when both are set; `digits` is non-empty ASCII digits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncomingFilter {
    /// Received at or after (ms, UTC).
    pub from_time: Option<i64>,
    /// Received before (ms, UTC).
    pub to_time: Option<i64>,
    pub class: Option<Class>,
    /// Digits the sender's number contains.
    pub digits: Option<String>,
    /// Only replies awaiting review (the API's `pending=true`).
    pub pending_review: bool,
}

impl IncomingFilter {
    /// Reads the filters; a bad one is a 422 naming its field (`from`, `to`, `class` or
    /// `number`). A whole number is read with `region` (so `0412 345 678` finds
    /// `+61412345678`); a partial one keeps its digits, less a leading national `0`.
    pub fn parse(raw: &RawFilter<'_>, region: Region) -> AppResult<IncomingFilter> {
        let from_time = present(raw.from)
            .map(|v| parse_time(v, "from", false))
            .transpose()?;
        let to_time = present(raw.to)
            .map(|v| parse_time(v, "to", true))
            .transpose()?;
        if let (Some(a), Some(b)) = (from_time, to_time)
            && b <= a
        {
            return Err(AppError::invalid(
                "invalid_field",
                "to",
                "to: the end of the range is not after its start (from), so nothing can match",
            ));
        }
        let class = present(raw.class)
            .map(|c| {
                Class::parse(&c.to_ascii_lowercase().replace('-', "_")).map_err(|_| {
                    AppError::invalid(
                        "invalid_field",
                        "class",
                        format!("class: {c:?} is not one of opt_out, opt_in, help, other, unclear"),
                    )
                })
            })
            .transpose()?;
        let digits = present(raw.number)
            .map(|n| {
                crate::optouts::number_digits(n, region).ok_or_else(|| {
                    AppError::invalid(
                        "invalid_field",
                        "number",
                        format!("number: {n:?} has no digits of a phone number"),
                    )
                })
            })
            .transpose()?;
        Ok(IncomingFilter {
            from_time,
            to_time,
            class,
            digits,
            pending_review: false,
        })
    }

    /// [`IncomingFilter::parse`] with the account's default region.
    pub async fn for_account(
        state: &AppState,
        account: AccountId,
        raw: &RawFilter<'_>,
    ) -> AppResult<IncomingFilter> {
        let settings = state.account_settings(account).await?;
        IncomingFilter::parse(raw, settings.default_region)
    }

    /// The store's filter.
    pub fn store_filter(&self) -> ReplyFilter<'_> {
        ReplyFilter {
            from_time: self.from_time,
            to_time: self.to_time,
            class: self.class.map(Class::as_str),
            number: self.digits.as_deref(),
            pending_review: self.pending_review,
        }
    }

    /// The filters for a report's heading, as (label, value); empty when none is set.
    pub fn describe(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(t) = self.from_time {
            out.push(("Received from".to_owned(), crate::rfc3339(t)));
        }
        if let Some(t) = self.to_time {
            out.push(("Received before".to_owned(), crate::rfc3339(t)));
        }
        if let Some(c) = self.class {
            out.push(("Class".to_owned(), c.as_str().to_owned()));
        }
        if let Some(d) = &self.digits {
            out.push(("Number contains".to_owned(), d.clone()));
        }
        if self.pending_review {
            out.push(("Review".to_owned(), "pending".to_owned()));
        }
        out
    }
}

/// A filter's text, trimmed; `None` when absent or empty.
fn present(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|v| !v.is_empty())
}

/// Reads `YYYY-MM-DD` or an RFC 3339 time (`T` or a space between date and time, seconds and
/// fraction optional, offset `Z` or `±HH:MM`, UTC when absent) into ms. A date alone is its
/// midnight (UTC), or with `end_of_day` the next midnight, so that `to=2026-11-30` includes
/// the 30th. Anything else — impossible dates such as 2026-02-30 included — is a 422 on
/// `field`.
pub fn parse_time(raw: &str, field: &str, end_of_day: bool) -> AppResult<i64> {
    let bad = || {
        AppError::invalid(
            "invalid_field",
            field,
            format!(
                "{field}: {raw:?} is not a date (YYYY-MM-DD) or an RFC 3339 time (2026-11-28T04:00:00Z)"
            ),
        )
    };
    let s = raw.trim();
    let (date, time) = match s.find(['T', 't', ' ']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let day = date_ms(date).ok_or_else(bad)?;
    let Some(time) = time else {
        return Ok(if end_of_day { day + DAY_MS } else { day });
    };
    let (clock, offset_ms) = split_offset(time).ok_or_else(bad)?;
    let ms = clock_ms(clock).ok_or_else(bad)?;
    Ok(day + ms - offset_ms)
}

/// Midnight UTC of a `YYYY-MM-DD` date in ms; `None` unless it is a real calendar date.
fn date_ms(raw: &str) -> Option<i64> {
    let b = raw.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = raw.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Days from civil (Howard Hinnant), the inverse of `crate::rfc3339`.
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let ms = (era * 146_097 + doe - 719_468) * DAY_MS;
    // 31 February comes back as 3 March: only a date that reads back the same is real.
    crate::rfc3339(ms).starts_with(raw).then_some(ms)
}

/// Splits `HH:MM[:SS[.fff]]` from its offset (`Z`, `±HH:MM`, or none for UTC); the offset in
/// ms east of UTC.
fn split_offset(time: &str) -> Option<(&str, i64)> {
    if let Some(clock) = time.strip_suffix(['Z', 'z']) {
        return Some((clock, 0));
    }
    let Some(at) = time.rfind(['+', '-']) else {
        return Some((time, 0));
    };
    let (clock, off) = time.split_at(at);
    let sign = if off.starts_with('-') { -1 } else { 1 };
    let (h, m) = off[1..].split_once(':')?;
    let (h, m) = (two_digits(h)?, two_digits(m)?);
    if h > 23 || m > 59 {
        return None;
    }
    Some((clock, sign * (h * 60 + m) * 60_000))
}

/// `HH:MM[:SS[.fraction]]` as ms since midnight.
fn clock_ms(clock: &str) -> Option<i64> {
    let mut parts = clock.splitn(3, ':');
    let h = two_digits(parts.next()?)?;
    let m = two_digits(parts.next()?)?;
    let (s, frac) = match parts.next() {
        None => (0, 0),
        Some(sec) => {
            let (whole, frac) = sec.split_once('.').unwrap_or((sec, ""));
            if !frac.bytes().all(|c| c.is_ascii_digit()) || (sec.contains('.') && frac.is_empty()) {
                return None;
            }
            let ms = format!("{frac:0<3}")[..3].parse::<i64>().ok()?;
            (two_digits(whole)?, ms)
        }
    };
    if h > 23 || m > 59 || s > 60 {
        return None;
    }
    Some(((h * 60 + m) * 60 + s) * 1000 + frac)
}

fn two_digits(s: &str) -> Option<i64> {
    (s.len() == 2 && s.bytes().all(|c| c.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// One reply's cells, in [`COLUMNS`] order. Actions are joined with "; ".
pub fn cells(r: &IncomingReply) -> Vec<String> {
    vec![
        crate::rfc3339(r.received_at),
        r.from.clone(),
        r.to.clone(),
        r.body.clone(),
        r.class.clone(),
        r.tier.clone(),
        r.campaign.clone().unwrap_or_default(),
        r.actions.join("; "),
    ]
}

/// The Incoming report as `format`: every reply of the account matching `filter`, newest
/// first. A PDF reads at most one row more than [`MAX_PDF_ROWS`] and is refused (422 on
/// `format`) when there are more.
pub async fn export(
    state: &AppState,
    account: AccountId,
    filter: &IncomingFilter,
    format: Format,
) -> AppResult<ExportFile> {
    let store_filter = filter.store_filter();
    let window = Window {
        before: None,
        limit: (format == Format::Pdf).then_some(MAX_PDF_ROWS as i64 + 1),
    };
    let chunks = state
        .store
        .incoming_replies(account, &store_filter, window)
        .try_chunks(CHUNK_ROWS)
        .map_err(|e| AppError::from(e.1));
    let report = Report {
        format,
        title: "Incoming replies".into(),
        file_stem: "incoming".into(),
        filters: filter.describe(),
        columns: COLUMNS,
        widths: WIDTHS,
    };
    write_table(state, account, report, chunks, cells).await
}

/// One page of the report for the web UI: up to `size` replies before the cursor, newest
/// first, and the cursor of the next page (`None` on the last).
pub async fn page(
    state: &AppState,
    account: AccountId,
    filter: &IncomingFilter,
    before: Option<i64>,
    size: i64,
) -> AppResult<(Vec<IncomingReply>, Option<i64>)> {
    let store_filter = filter.store_filter();
    let window = Window {
        before,
        limit: Some(size + 1),
    };
    let mut rows: Vec<IncomingReply> = state
        .store
        .incoming_replies(account, &store_filter, window)
        .map(|r| r.map_err(AppError::from))
        .try_collect()
        .await?;
    let next = if rows.len() as i64 > size {
        rows.truncate(size as usize);
        rows.last().map(|r| r.id)
    } else {
        None
    };
    Ok((rows, next))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn field_of(e: AppError) -> String {
        match e {
            AppError::Invalid { field, .. } => field,
            other => panic!("not a field error: {other:?}"),
        }
    }

    #[test]
    fn dates_and_times_read_as_utc_and_a_date_to_includes_its_day() {
        let t = |s| parse_time(s, "from", false).map(crate::rfc3339).unwrap();
        assert_eq!(t("2026-11-28"), "2026-11-28T00:00:00Z");
        assert_eq!(t("2026-11-28T04:05:06Z"), "2026-11-28T04:05:06Z");
        assert_eq!(t("2026-11-28 04:05"), "2026-11-28T04:05:00Z");
        assert_eq!(t("2026-11-28T14:05:06.250+10:00"), "2026-11-28T04:05:06Z");
        assert_eq!(t("2026-11-27T23:00:00-05:00"), "2026-11-28T04:00:00Z");
        assert_eq!(
            parse_time("2026-11-30", "to", true)
                .map(crate::rfc3339)
                .unwrap(),
            "2026-12-01T00:00:00Z"
        );
        assert_eq!(
            parse_time("2026-11-28T04:05:06.5Z", "from", false).unwrap() % 1000,
            500
        );
    }

    #[test]
    fn impossible_dates_and_times_name_their_field() {
        for bad in [
            "2026-02-30",
            "2026-13-01",
            "yesterday",
            "2026-11",
            "2026-11-28T25:00:00Z",
            "2026-11-28T04:61Z",
            "2026-11-28T04:00:00+2",
            "2026-11-28T04:00:00.Z",
            "26-11-28",
        ] {
            let e = parse_time(bad, "to", false).unwrap_err();
            assert_eq!(field_of(e), "to", "{bad}");
        }
    }

    #[test]
    fn filters_are_checked_and_named() {
        let raw = |from, to, class, number| RawFilter {
            from,
            to,
            class,
            number,
        };
        let f = IncomingFilter::parse(
            &raw(
                Some("2026-11-01"),
                Some("2026-11-30"),
                Some("Opt-Out"),
                Some("0412 345 678"),
            ),
            Region::AU,
        )
        .unwrap();
        assert_eq!(f.class, Some(Class::OptOut));
        assert_eq!(f.digits.as_deref(), Some("61412345678"));
        assert_eq!(f.describe().len(), 4);
        let partial = IncomingFilter::parse(&raw(None, None, None, Some("0412 34")), Region::AU);
        assert_eq!(partial.unwrap().digits.as_deref(), Some("41234"));
        let empty = IncomingFilter::parse(&raw(Some(""), Some(" "), Some(""), None), Region::AU);
        assert_eq!(empty.unwrap(), IncomingFilter::default());
        for (r, field) in [
            (raw(None, None, Some("spam"), None), "class"),
            (raw(None, None, None, Some("nobody")), "number"),
            (
                raw(Some("2026-11-30"), Some("2026-11-01"), None, None),
                "to",
            ),
            (raw(Some("someday"), None, None, None), "from"),
        ] {
            let e = IncomingFilter::parse(&r, Region::AU).unwrap_err();
            assert_eq!(field_of(e), field);
        }
    }

    #[test]
    fn cells_follow_the_columns() {
        let r = IncomingReply {
            id: 1,
            received_at: 1_795_840_485_000,
            from: "+61412345678".into(),
            to: "+61400000000".into(),
            body: "=cmd|' /C calc'!A0".into(),
            class: "other".into(),
            tier: "fallback".into(),
            matched_campaign_id: Some(3),
            campaign: Some("Spring sale".into()),
            actions: vec!["opted_out".into(), "confirmation queued".into()],
        };
        let c = cells(&r);
        assert_eq!(c.len(), COLUMNS.len());
        assert_eq!(c[0], "2026-11-28T04:34:45Z");
        assert_eq!(c[6], "Spring sale");
        assert_eq!(c[7], "opted_out; confirmation queued");
        assert_eq!(WIDTHS.len(), COLUMNS.len());
    }
}
