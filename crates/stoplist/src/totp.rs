//! Time-based one-time passwords (RFC 6238 over RFC 4226): HMAC-SHA1, 30-second steps,
//! 6 digits — what every authenticator app reads from an `otpauth://` URI — and one-use
//! recovery codes.
//!
//! A code is accepted for the step it was made in and one step either side (clock drift);
//! the store records the step of each accepted code, so a code is never accepted twice and
//! no older code is accepted after a newer one.

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

/// Seconds per step.
pub const STEP_SECS: i64 = 30;
/// Digits in a code.
const DIGITS: u32 = 6;
/// Secret length in bytes (160 bits, as RFC 4226 recommends).
const SECRET_BYTES: usize = 20;
/// Recovery codes made at enrolment.
pub const RECOVERY_CODES: usize = 10;

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding.
pub fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    for chunk in bytes.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let v = buf.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let chars = (chunk.len() * 8).div_ceil(5);
        for i in 0..chars {
            out.push(char::from(BASE32[((v >> (35 - 5 * i)) & 31) as usize]));
        }
    }
    out
}

/// Decodes base32 (any case; spaces and padding ignored). `None` for another character.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|c| !matches!(c, b' ' | b'=' | b'-')) {
        let v = BASE32.iter().position(|b| *b == c.to_ascii_uppercase())? as u32;
        acc = (acc << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// A new random secret, base32.
pub fn new_secret() -> String {
    let raw = crate::auth::random_hex(SECRET_BYTES);
    base32_encode(&hex::decode(raw).unwrap_or_default())
}

/// The HOTP code of `secret` at `counter` (RFC 4226 section 5.3).
pub fn hotp(secret: &[u8], counter: u64) -> u32 {
    let mut mac = match <Hmac<Sha1> as KeyInit>::new_from_slice(secret) {
        Ok(m) => m,
        // HMAC takes a key of any length.
        Err(_) => return u32::MAX,
    };
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let offset = usize::from(h[h.len() - 1] & 0x0f);
    let bin = (u32::from(h[offset]) & 0x7f) << 24
        | u32::from(h[offset + 1]) << 16
        | u32::from(h[offset + 2]) << 8
        | u32::from(h[offset + 3]);
    bin % 10u32.pow(DIGITS)
}

/// The step of a Unix time in seconds.
pub fn step_of(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(STEP_SECS)
}

/// The step `code` was made in, if it is the code of the step of `unix_secs` or of one step
/// either side. The caller must still have the store accept the step (once).
pub fn matching_step(secret_b32: &str, code: &str, unix_secs: i64) -> Option<i64> {
    let code = code.trim().replace(' ', "");
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let given: u32 = code.parse().ok()?;
    let secret = base32_decode(secret_b32)?;
    let now = step_of(unix_secs);
    // Compare every candidate (no early exit on the first match: the same time each way).
    let mut found = None;
    for step in [now - 1, now, now + 1] {
        let ok = u64::try_from(step).is_ok_and(|s| hotp(&secret, s) == given);
        if ok && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// The `otpauth://` URI an authenticator app enrols from (Key Uri Format).
pub fn uri(secret_b32: &str, account: &str, login: &str) -> String {
    let label = format!("stoplist ({account}):{login}");
    format!(
        "otpauth://totp/{}?secret={secret_b32}&issuer=stoplist&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        percent(&label)
    )
}

fn percent(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else if b == b':' {
            // The label's issuer separator stays as it is.
            out.push(':');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Fresh recovery codes: `xxxx-xxxx-xxxx` (12 hex digits, 48 bits each; each works once and
/// only for its user, after the password).
pub fn new_recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let h = crate::auth::random_hex(6);
            format!("{}-{}-{}", &h[..4], &h[4..8], &h[8..])
        })
        .collect()
}

/// A recovery code as it is hashed: lowercase, without spaces or dashes.
pub fn normalize_recovery_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hotp_matches_the_rfc_4226_test_values() {
        // RFC 4226 appendix D: the secret "12345678901234567890", counters 0..9.
        let expected = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (i, want) in expected.iter().enumerate() {
            assert_eq!(
                hotp(b"12345678901234567890", i as u64),
                *want,
                "counter {i}"
            );
        }
    }

    #[test]
    fn totp_matches_the_rfc_6238_sha1_test_values() {
        // RFC 6238 appendix B (SHA-1), the last 6 of the 8 digits.
        let secret = base32_encode(b"12345678901234567890");
        for (t, code8) in [
            (59_i64, "94287082"),
            (1111111109, "07081804"),
            (1111111111, "14050471"),
            (1234567890, "89005924"),
            (2000000000, "69279037"),
        ] {
            let code = &code8[2..];
            assert_eq!(
                matching_step(&secret, code, t),
                Some(step_of(t)),
                "time {t}"
            );
            // One step either side still matches; two steps away does not.
            assert!(matching_step(&secret, code, t + STEP_SECS).is_some());
            assert!(matching_step(&secret, code, t + 2 * STEP_SECS).is_none());
        }
        assert_eq!(matching_step(&secret, "12345", 59), None);
        assert_eq!(matching_step(&secret, "abcdef", 59), None);
    }

    #[test]
    fn base32_reads_back_what_it_writes() {
        for len in 0..25 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(base32_decode(&base32_encode(&bytes)).unwrap(), bytes);
        }
        // RFC 4648 section 10.
        assert_eq!(base32_encode(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32_decode("mzxw 6ytb oi==").unwrap(), b"foobar");
        assert!(base32_decode("MZ1W").is_none());
        assert_eq!(new_secret().len(), 32);
    }

    #[test]
    fn recovery_codes_are_distinct_and_normalise() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let set: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(set.len(), RECOVERY_CODES);
        assert_eq!(normalize_recovery_code(" AB12-cd34-EF56 "), "ab12cd34ef56");
    }
}
