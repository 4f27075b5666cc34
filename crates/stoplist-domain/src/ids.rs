//! One newtype per entity id, so that a group id can never be passed where a contact id is
//! expected. Ids are the database's 64-bit row ids; they carry no meaning beyond identity.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Declares an id newtype around `i64` with the conversions every id needs.
/// (A macro because the six types are identical but for their names; each stays a plain,
/// visible struct.)
macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<$name> for i64 {
            fn from(id: $name) -> i64 {
                id.0
            }
        }
    };
}

id_type!(
    /// A tenant. Nothing of one account is visible to another.
    AccountId
);
id_type!(
    /// A person who logs in to the web UI.
    UserId
);
id_type!(
    /// An API key (the key itself is never stored, only its hash).
    ApiKeyId
);
id_type!(
    /// A named contact list.
    GroupId
);
id_type!(
    /// One instance of a number in one group.
    ContactId
);
id_type!(
    /// One append-only opt-out event of the evidence ledger.
    EventId
);
id_type!(
    /// A campaign: one message text sent to a set of recipients.
    CampaignId
);
id_type!(
    /// One outbound message (of a campaign, or a confirmation or help text).
    MessageId
);
