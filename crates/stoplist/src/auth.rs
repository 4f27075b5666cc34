//! Secrets: password hashing (argon2, off the async threads), API keys (random, shown once,
//! stored as SHA-256), session tokens and CSRF tokens, and the login rate limiter.

use crate::error::{AppError, AppResult};
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
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

/// Counts failed logins per (login, client address) in a sliding 5-minute window.
pub struct LoginLimiter {
    max: u32,
    window: Duration,
    failures: Mutex<HashMap<String, Vec<Instant>>>,
}

impl LoginLimiter {
    pub fn new(max: u32) -> Self {
        LoginLimiter {
            max,
            window: Duration::from_secs(300),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Whether another attempt is allowed now.
    pub fn allowed(&self, key: &str) -> bool {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let entry = map.entry(key.to_owned()).or_default();
        entry.retain(|t| now.duration_since(*t) < self.window);
        (entry.len() as u32) < self.max
    }

    pub fn failed(&self, key: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(key.to_owned()).or_default().push(Instant::now());
        if map.len() > 100_000 {
            // Bound memory under a spray of logins: forget the oldest picture entirely.
            map.clear();
        }
    }

    pub fn succeeded(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
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

    #[test]
    fn the_limiter_blocks_after_the_allowed_failures() {
        let l = LoginLimiter::new(3);
        for _ in 0..3 {
            assert!(l.allowed("admin|127.0.0.1"));
            l.failed("admin|127.0.0.1");
        }
        assert!(!l.allowed("admin|127.0.0.1"));
        assert!(l.allowed("admin|10.0.0.2"));
    }
}
