//! The evidence ledger: every change to an account's opt-out list is an append-only event
//! that carries the SHA-256 of the account's previous event and of its own content, so that
//! editing, deleting or reordering any event breaks the chain ([`verify_chain`]).
//!
//! This module defines what an event says and how it is hashed; the store appends and reads
//! events, `stoplist verify-ledger` walks them.

use crate::rules::{Actor, OptOutSource};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// What happened to the number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Put on the opt-out list (or its source replaced by a reply).
    OptedOut,
    /// Taken off the list: by its own opt-in reply, by a user, or by an import reset.
    OptedIn,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::OptedOut => "opted_out",
            EventKind::OptedIn => "opted_in",
        }
    }

    pub fn parse(code: &str) -> Option<EventKind> {
        match code {
            "opted_out" => Some(EventKind::OptedOut),
            "opted_in" => Some(EventKind::OptedIn),
            _ => None,
        }
    }
}

/// Through what the change came. The opt-out sources plus the two ways of lifting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventSource {
    Reply,
    Manual,
    Upload,
    Api,
    Carrier,
    /// An import with "Reset contacts that have previously opted out?".
    ImportReset,
}

impl EventSource {
    pub fn as_str(self) -> &'static str {
        match self {
            EventSource::Reply => "reply",
            EventSource::Manual => "manual",
            EventSource::Upload => "upload",
            EventSource::Api => "api",
            EventSource::Carrier => "carrier",
            EventSource::ImportReset => "import_reset",
        }
    }

    pub fn parse(code: &str) -> Option<EventSource> {
        if code == "import_reset" {
            return Some(EventSource::ImportReset);
        }
        OptOutSource::parse(code).map(EventSource::from)
    }
}

impl From<OptOutSource> for EventSource {
    fn from(s: OptOutSource) -> EventSource {
        match s {
            OptOutSource::Reply => EventSource::Reply,
            OptOutSource::Manual => EventSource::Manual,
            OptOutSource::Upload => EventSource::Upload,
            OptOutSource::Api => EventSource::Api,
            OptOutSource::Carrier => EventSource::Carrier,
        }
    }
}

/// A SHA-256 digest, shown as lowercase hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Digest32(pub [u8; 32]);

impl Digest32 {
    /// The "previous hash" of an account's first event.
    pub const GENESIS: Digest32 = Digest32([0; 32]);

    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(s: &str) -> Option<Digest32> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Digest32(out))
    }
}

impl fmt::Debug for Digest32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Display for Digest32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Everything an event says. Its hash covers every field, in this order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventContent {
    pub account_id: i64,
    /// 1, 2, 3… per account, without gaps.
    pub seq: i64,
    /// E.164.
    pub number: String,
    pub kind: EventKind,
    pub source: EventSource,
    pub actor: Actor,
    pub reason: Option<String>,
    /// The evidence: a reply's text, a file name and row, a provider's error code.
    pub evidence: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub at_ms: i64,
}

impl EventContent {
    /// SHA-256 over `prev` and every field, each length-prefixed so that no two different
    /// events hash the same input.
    pub fn hash(&self, prev: &Digest32) -> Digest32 {
        let mut h = Sha256::new();
        h.update(b"stoplist-ledger-v1");
        h.update(prev.0);
        let mut field = |bytes: &[u8]| {
            h.update((bytes.len() as u64).to_be_bytes());
            h.update(bytes);
        };
        field(&self.account_id.to_be_bytes());
        field(&self.seq.to_be_bytes());
        field(self.number.as_bytes());
        field(self.kind.as_str().as_bytes());
        field(self.source.as_str().as_bytes());
        field(self.actor.kind.as_str().as_bytes());
        field(&self.actor.id.unwrap_or(-1).to_be_bytes());
        field(self.actor.label.as_bytes());
        field(self.reason.as_deref().unwrap_or("\u{0}").as_bytes());
        field(self.evidence.as_deref().unwrap_or("\u{0}").as_bytes());
        field(&self.at_ms.to_be_bytes());
        Digest32(h.finalize().into())
    }
}

/// A stored event: its content and the two hashes it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainedEvent {
    pub content: EventContent,
    pub prev_hash: Digest32,
    pub hash: Digest32,
}

/// Where and how a chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("event seq {seq}: expected seq {expected} (an event is missing or out of order)")]
    Gap { seq: i64, expected: i64 },
    #[error("event seq {seq}: its previous-hash does not match the event before it")]
    BrokenLink { seq: i64 },
    #[error("event seq {seq}: its content does not match its hash (the event was altered)")]
    Altered { seq: i64 },
}

/// Checks events of one account, in seq order, starting from `state` (the last verified
/// event's seq and hash, or `(0, GENESIS)`). Returns the new state so that a long chain can
/// be verified in batches without holding it in memory.
pub fn verify_chain<'a>(
    mut state: (i64, Digest32),
    events: impl IntoIterator<Item = &'a ChainedEvent>,
) -> Result<(i64, Digest32), ChainError> {
    for e in events {
        let seq = e.content.seq;
        if seq != state.0 + 1 {
            return Err(ChainError::Gap {
                seq,
                expected: state.0 + 1,
            });
        }
        if e.prev_hash != state.1 {
            return Err(ChainError::BrokenLink { seq });
        }
        if e.content.hash(&e.prev_hash) != e.hash {
            return Err(ChainError::Altered { seq });
        }
        state = (seq, e.hash);
    }
    Ok(state)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<ChainedEvent> {
        let mut prev = Digest32::GENESIS;
        (1..=n)
            .map(|seq| {
                let content = EventContent {
                    account_id: 7,
                    seq,
                    number: format!("+6141234{seq:04}"),
                    kind: EventKind::OptedOut,
                    source: EventSource::Manual,
                    actor: Actor::cli("root"),
                    reason: None,
                    evidence: Some("test".into()),
                    at_ms: 1_700_000_000_000 + seq,
                };
                let hash = content.hash(&prev);
                let e = ChainedEvent {
                    content,
                    prev_hash: prev,
                    hash,
                };
                prev = hash;
                e
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies() {
        let c = chain(5);
        let state = verify_chain((0, Digest32::GENESIS), &c).expect("intact");
        assert_eq!(state, (5, c[4].hash));
    }

    #[test]
    fn an_altered_event_is_detected() {
        let mut c = chain(5);
        c[2].content.number = "+61499999999".into();
        assert_eq!(
            verify_chain((0, Digest32::GENESIS), &c),
            Err(ChainError::Altered { seq: 3 })
        );
    }

    #[test]
    fn a_deleted_event_is_detected() {
        let mut c = chain(5);
        c.remove(1);
        assert_eq!(
            verify_chain((0, Digest32::GENESIS), &c),
            Err(ChainError::Gap {
                seq: 3,
                expected: 2
            })
        );
    }

    #[test]
    fn a_rehashed_forgery_breaks_the_next_link() {
        let mut c = chain(5);
        c[1].content.reason = Some("forged".into());
        c[1].hash = c[1].content.hash(&c[1].prev_hash);
        assert_eq!(
            verify_chain((0, Digest32::GENESIS), &c),
            Err(ChainError::BrokenLink { seq: 3 })
        );
    }

    #[test]
    fn none_and_empty_text_hash_differently() {
        let c = chain(1);
        let mut other = c[0].content.clone();
        other.reason = Some(String::new());
        assert_ne!(
            other.hash(&Digest32::GENESIS),
            c[0].content.hash(&Digest32::GENESIS)
        );
    }
}
