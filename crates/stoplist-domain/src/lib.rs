//! The pure rules of stoplist: what a phone number is, what the opt-out list decides for
//! each kind of event, the account settings and their validation, and how the evidence ledger
//! hashes its events.
//!
//! This crate owns no I/O, no async and no SQL: the store saves what these rules decide and
//! the application feeds them what the outside world sends. Everything here is deterministic
//! and is tested (and property-tested) without a database.

pub mod classify;
pub mod ids;
pub mod ledger;
pub mod names;
pub mod phone;
pub mod roles;
pub mod rules;
pub mod settings;
pub mod sms;

pub use ids::{AccountId, ApiKeyId, CampaignId, ContactId, EventId, GroupId, MessageId, UserId};
pub use phone::{PhoneError, PhoneNumber, Region};
pub use roles::{AuditEvent, Role};
pub use rules::{Actor, ActorKind, ContactCleanup, Decision, OptOutEvent, OptOutSource, Policy};
pub use settings::AccountSettings;
