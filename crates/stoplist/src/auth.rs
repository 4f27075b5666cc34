//! Secrets: password hashing (argon2, off the async threads), API keys (random, shown once,
//! stored as SHA-256), session tokens and CSRF tokens, and the login rate limiter.

use crate::error::{AppError, AppResult};
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// `n` random bytes as lowercase hex.
pub fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    // The OS random source failing is not recoverable: without it no secret can be made.
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut buf).expect("the operating system's random source failed");
    hex::encode(buf)
}

/// SHA-256 of a high-entropy secret (API key, session token), hex. Not for passwords.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(secret_digest(secret))
}

/// SHA-256 of a high-entropy secret, as bytes (the in-memory key cache's key).
pub fn secret_digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// A new API key: `sl_` and 40 hex characters. Returns (key, prefix shown in lists).
pub fn new_api_key() -> (String, String) {
    let key = format!("sl_{}", random_hex(20));
    let prefix = key[..10].to_owned();
    (key, prefix)
}

/// Hashes a password with argon2id (about 40 ms: runs on a blocking thread).
pub async fn hash_password(password: String) -> AppResult<String> {
    if password.chars().count() < 8 {
        return Err(AppError::invalid(
            "weak_password",
            "password",
            "password must be at least 8 characters",
        ));
    }
    tokio::task::spawn_blocking(move || {
        // A fresh random salt from the OS comes with every hash.
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
    })
    .await
    .map_err(|e| anyhow::anyhow!("hashing task: {e}"))?
    .map_err(AppError::from)
}

/// Checks a password against a stored argon2 hash (on a blocking thread).
pub async fn verify_password(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .verify_password(password.as_bytes(), hash.as_str())
            .is_ok()
    })
    .await
    .unwrap_or(false)
}

/// Longest login name looked at: a longer one is refused before any lookup, hash or count.
pub const MAX_LOGIN_LEN: usize = 254;

/// Most keys the limiter remembers; past it, expired keys are swept and then the least
/// recently seen tenth is forgotten (never everyone's counters at once).
const MAX_KEYS: usize = 50_000;

/// How long a failure counts.
const WINDOW: Duration = Duration::from_secs(300);

/// Failed-login limits over a sliding 5-minute window, on three keys at once: the login from
/// one address (`max`), the login from every address (`LOGIN_FACTOR × max`: a password
/// sprayed from many addresses) and one address over every login (`ADDRESS_FACTOR × max`:
/// one address trying many logins). An attempt is counted when it starts, under one lock, so
/// concurrent attempts cannot all pass the check before any is counted; a successful login
/// takes its attempt back and clears its pair's failures.
///
/// Written here rather than taken from `governor`: its limiters count a rate of cells, not
/// failures that a success forgives, and it would add `dashmap`, `quanta` and their trees for
/// about a hundred lines.
pub struct LoginLimiter {
    max: u32,
    keys: Mutex<HashMap<LimitKey, Entry>>,
}

/// One key's counted attempts (at most its limit: older ones cannot matter) and when it was
/// last tried, refused tries included, so that a key under attack is never the one forgotten.
#[derive(Default)]
struct Entry {
    times: VecDeque<Instant>,
    seen: Option<Instant>,
}

/// What a limit counts: the login from one address, the login, or the address.
#[derive(Clone, PartialEq, Eq, Hash)]
enum LimitKey {
    Pair(Box<str>, IpAddr),
    Login(Box<str>),
    Address(IpAddr),
}

/// Limits over all addresses and all logins, as multiples of the per-pair limit.
const LOGIN_FACTOR: u32 = 4;
const ADDRESS_FACTOR: u32 = 10;

/// An attempt the limiter let through and counted; [`LoginLimiter::succeeded`] takes it back.
#[must_use]
pub struct Attempt {
    login: Box<str>,
    ip: IpAddr,
    at: Instant,
}

impl LoginLimiter {
    pub fn new(max: u32) -> Self {
        LoginLimiter {
            max: max.max(1),
            keys: Mutex::new(HashMap::new()),
        }
    }

    fn keys(login: &str, ip: IpAddr) -> [(LimitKey, u32); 3] {
        [
            (LimitKey::Pair(login.into(), ip), 1),
            (LimitKey::Login(login.into()), LOGIN_FACTOR),
            (LimitKey::Address(ip), ADDRESS_FACTOR),
        ]
    }

    /// Counts an attempt and lets it through, or answers `None` when any of its three limits
    /// is reached (the attempt is then not counted).
    pub fn attempt(&self, login: &str, ip: IpAddr) -> Option<Attempt> {
        let now = Instant::now();
        let login = login.to_lowercase();
        let keys = Self::keys(&login, ip);
        let mut map = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let mut refused = false;
        for (key, factor) in &keys {
            if let Some(entry) = map.get_mut(key) {
                expire(&mut entry.times, now);
                entry.seen = Some(now);
                refused |= entry.times.len() as u32 >= self.max.saturating_mul(*factor);
            }
        }
        if refused {
            return None;
        }
        if map.len() + keys.len() > MAX_KEYS {
            shrink(&mut map, now);
        }
        for (key, factor) in keys {
            let entry = map.entry(key).or_default();
            entry.seen = Some(now);
            entry.times.push_back(now);
            while entry.times.len() as u32 > self.max.saturating_mul(factor) {
                entry.times.pop_front();
            }
        }
        Some(Attempt {
            login: login.into(),
            ip,
            at: now,
        })
    }

    /// The attempt succeeded: it no longer counts, and its login and address start afresh.
    pub fn succeeded(&self, attempt: Attempt) {
        let mut map = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&LimitKey::Pair(attempt.login.clone(), attempt.ip));
        for key in [
            LimitKey::Login(attempt.login),
            LimitKey::Address(attempt.ip),
        ] {
            if let Some(entry) = map.get_mut(&key) {
                if let Some(i) = entry.times.iter().rposition(|t| *t == attempt.at) {
                    entry.times.remove(i);
                }
                if entry.times.is_empty() {
                    map.remove(&key);
                }
            }
        }
    }

    /// How many keys are remembered (tests check the bound).
    pub fn remembered(&self) -> usize {
        self.keys.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

fn expire(times: &mut VecDeque<Instant>, now: Instant) {
    while times
        .front()
        .is_some_and(|t| now.duration_since(*t) >= WINDOW)
    {
        times.pop_front();
    }
}

/// Sweeps expired keys; if that is not enough, forgets the least recently tried tenth. A key
/// someone keeps trying stays fresh (refused tries refresh it), so a flood of new keys cannot
/// reset the counter of a login under attack.
fn shrink(map: &mut HashMap<LimitKey, Entry>, now: Instant) {
    map.retain(|_, entry| {
        expire(&mut entry.times, now);
        !entry.times.is_empty()
    });
    if map.len() + 3 > MAX_KEYS {
        let mut seen: Vec<Instant> = map.values().filter_map(|e| e.seen).collect();
        let tenth = seen.len() / 10;
        let (_, edge, _) = seen.select_nth_unstable(tenth);
        let edge = *edge;
        map.retain(|_, entry| entry.seen.is_some_and(|t| t > edge));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passwords_verify_and_wrong_ones_do_not() {
        let h = hash_password("correct horse".into()).await.expect("hash");
        assert!(verify_password("correct horse".into(), h.clone()).await);
        assert!(!verify_password("wrong horse".into(), h).await);
        assert!(hash_password("short".into()).await.is_err());
    }

    #[test]
    fn api_keys_are_random_and_prefixed() {
        let (a, pa) = new_api_key();
        let (b, _) = new_api_key();
        assert_ne!(a, b);
        assert!(a.starts_with("sl_") && a.len() == 43 && a.starts_with(&pa));
        assert_eq!(secret_hash(&a).len(), 64);
    }

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1));

    fn ip(n: u32) -> IpAddr {
        IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + n))
    }

    #[test]
    fn the_limiter_blocks_after_the_allowed_failures() {
        let l = LoginLimiter::new(3);
        for _ in 0..3 {
            assert!(l.attempt("admin", HOME).is_some());
        }
        assert!(l.attempt("admin", HOME).is_none());
        assert!(
            l.attempt("ADMIN", HOME).is_none(),
            "logins compare without case"
        );
        assert!(l.attempt("admin", ip(2)).is_some(), "another address");
        assert!(l.attempt("other", HOME).is_some(), "another login");
    }

    #[test]
    fn a_success_takes_its_attempt_back_and_clears_the_pair() {
        let l = LoginLimiter::new(3);
        let _ = l.attempt("admin", HOME);
        let _ = l.attempt("admin", HOME);
        let ok = l.attempt("admin", HOME).expect("the third is allowed");
        l.succeeded(ok);
        for _ in 0..3 {
            assert!(l.attempt("admin", HOME).is_some());
        }
        assert!(l.attempt("admin", HOME).is_none());
    }

    #[test]
    fn a_login_is_limited_across_addresses_and_an_address_across_logins() {
        let l = LoginLimiter::new(2);
        for n in 0..LOGIN_FACTOR * 2 {
            assert!(l.attempt("admin", ip(n)).is_some(), "attempt {n}");
        }
        assert!(
            l.attempt("admin", ip(999)).is_none(),
            "sprayed from many addresses"
        );
        for n in 0..ADDRESS_FACTOR * 2 {
            assert!(l.attempt(&format!("user{n}"), HOME).is_some(), "login {n}");
        }
        assert!(
            l.attempt("someone-else", HOME).is_none(),
            "one address, many logins"
        );
    }

    #[test]
    fn concurrent_attempts_cannot_pass_together() {
        let l = std::sync::Arc::new(LoginLimiter::new(5));
        let passed: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..40)
                .map(|_| {
                    let l = l.clone();
                    s.spawn(move || l.attempt("admin", HOME).is_some() as usize)
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(passed, 5);
    }

    #[test]
    fn a_flood_of_new_keys_stays_bounded_and_cannot_reset_a_login_under_attack() {
        let l = LoginLimiter::new(5);
        for _ in 0..5 {
            assert!(l.attempt("victim", HOME).is_some());
        }
        for n in 0..(MAX_KEYS as u32) {
            // Each sprayed login from its own address: three new keys an attempt.
            let _ = l.attempt(&format!("spray{n}"), ip(n + 1_000));
            if n % 1_000 == 0 {
                assert!(
                    l.attempt("victim", HOME).is_none(),
                    "after {n} sprayed keys"
                );
            }
            assert!(l.remembered() <= MAX_KEYS, "{} keys", l.remembered());
        }
        assert!(l.attempt("victim", HOME).is_none());
    }
}
