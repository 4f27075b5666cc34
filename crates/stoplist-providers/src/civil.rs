//! Timestamps as providers write them, read into Unix milliseconds without a date library:
//! RFC 3339 (the generic form) and `YYYY-MM-DD HH:MM:SS` with an optional offset (Vonage,
//! SMSGlobal). Calendar arithmetic is Howard Hinnant's `days_from_civil`.

/// Days since 1970-01-01 of a proleptic Gregorian date (valid for any year in i64 range
/// that fits our inputs: four-digit years).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// The civil date of a day count since 1970-01-01 (inverse of `days_from_civil`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS +0000` (SMSGlobal's `dateTime`).
#[cfg_attr(not(feature = "fake"), allow(dead_code))]
pub(crate) fn format_sql_utc(unix_secs: i64) -> String {
    let (y, m, d) = civil_from_days(unix_secs.div_euclid(86_400));
    let t = unix_secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} +0000",
        t / 3_600,
        t % 3_600 / 60,
        t % 60
    )
}

/// Reads exactly `n` ASCII digits at `pos`.
fn digits(s: &[u8], pos: usize, n: usize) -> Option<u32> {
    let part = s.get(pos..pos + n)?;
    let mut v = 0u32;
    for &b in part {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(b - b'0');
    }
    Some(v)
}

/// `YYYY-MM-DD?HH:MM:SS` where `?` is one of `seps`; returns Unix seconds (UTC) and the rest.
fn date_time<'a>(s: &'a str, seps: &[u8]) -> Option<(i64, &'a str)> {
    let b = s.as_bytes();
    let year = digits(b, 0, 4)?;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    let hour = digits(b, 11, 2)?;
    let minute = digits(b, 14, 2)?;
    let second = digits(b, 17, 2)?;
    if b[4] != b'-' || b[7] != b'-' || !seps.contains(&b[10]) || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let year = i64::from(year);
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400
        + i64::from(hour) * 3_600
        + i64::from(minute) * 60
        + i64::from(second);
    Some((secs, &s[19..]))
}

/// `Z`, `+HH:MM`, `-HH:MM` (and, when `compact`, `+HHMM`): the offset in seconds east of UTC.
fn offset(s: &str, compact: bool) -> Option<i64> {
    if s == "Z" || s == "z" {
        return Some(0);
    }
    let b = s.as_bytes();
    let sign = match b.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (h, m) = match b.len() {
        6 if b[3] == b':' => (digits(b, 1, 2)?, digits(b, 4, 2)?),
        5 if compact => (digits(b, 1, 2)?, digits(b, 3, 2)?),
        _ => return None,
    };
    if h > 23 || m > 59 {
        return None;
    }
    Some(sign * (i64::from(h) * 3_600 + i64::from(m) * 60))
}

/// RFC 3339 (`2024-05-01T09:30:00Z`, `2024-05-01T19:30:00.250+10:00`) to Unix milliseconds.
/// The date and time may be separated by `T`, `t` or a space (RFC 3339 section 5.6 note);
/// the offset is required; fractions beyond milliseconds are truncated.
pub(crate) fn parse_rfc3339(s: &str) -> Option<i64> {
    let (secs, rest) = date_time(s, b"Tt ")?;
    let (millis, rest) = match rest.strip_prefix('.') {
        Some(frac) => {
            let n = frac.bytes().take_while(u8::is_ascii_digit).count();
            if n == 0 {
                return None;
            }
            let mut ms = 0i64;
            for (i, b) in frac.bytes().take(3).enumerate() {
                if i < n {
                    ms = ms * 10 + i64::from(b - b'0');
                }
            }
            for _ in n.min(3)..3 {
                ms *= 10;
            }
            (ms, &frac[n..])
        }
        None => (0, rest),
    };
    let off = offset(rest, false)?;
    Some((secs - off) * 1_000 + millis)
}

/// `YYYY-MM-DD HH:MM:SS`, optionally followed by a space and an offset (`+0000`, `+10:00`,
/// `Z`), to Unix milliseconds. Without an offset the time is taken as UTC, which is what
/// Vonage documents for `message-timestamp`.
pub(crate) fn parse_sql_datetime(s: &str) -> Option<i64> {
    let (secs, rest) = date_time(s, b" T")?;
    let off = match rest {
        "" => 0,
        r => offset(r.strip_prefix(' ').unwrap_or(r), true)?,
    };
    Some((secs - off) * 1_000)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_utc_and_offsets_agree() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2024-05-01T09:30:00Z"),
            Some(1_714_555_800_000)
        );
        assert_eq!(
            parse_rfc3339("2024-05-01T19:30:00+10:00"),
            Some(1_714_555_800_000)
        );
        assert_eq!(
            parse_rfc3339("2024-05-01t09:30:00.25z"),
            Some(1_714_555_800_250)
        );
        assert_eq!(
            parse_rfc3339("2024-05-01 09:30:00.123456-00:00"),
            Some(1_714_555_800_123)
        );
    }

    #[test]
    fn rfc3339_refuses_what_is_not_a_time() {
        for bad in [
            "",
            "2024-05-01",
            "2024-05-01T09:30:00",
            "2024-02-30T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-05-01T24:00:00Z",
            "2024-05-01T09:30:00+1000",
            "2024-05-01T09:30:00.Z",
            "yesterday",
            "2024-05-01T09:30:00Zjunk",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        assert!(parse_rfc3339("2024-02-29T00:00:00Z").is_some());
    }

    #[test]
    fn formatting_reads_back_to_the_same_time() {
        for secs in [0i64, 951_782_400, 1_577_880_000, 4_102_444_799] {
            let text = format_sql_utc(secs);
            assert_eq!(parse_sql_datetime(&text), Some(secs * 1_000), "{text}");
        }
        assert_eq!(format_sql_utc(1_577_880_000), "2020-01-01 12:00:00 +0000");
    }

    #[test]
    fn sql_datetime_without_offset_is_utc() {
        assert_eq!(
            parse_sql_datetime("2020-01-01 12:00:00"),
            Some(1_577_880_000_000)
        );
        assert_eq!(
            parse_sql_datetime("2020-01-01 12:00:00 +0000"),
            Some(1_577_880_000_000)
        );
        assert_eq!(
            parse_sql_datetime("2020-01-01 22:00:00 +1000"),
            Some(1_577_880_000_000)
        );
        assert_eq!(parse_sql_datetime("2020-01-01 12:00"), None);
    }
}
