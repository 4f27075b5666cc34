//! The opt-out rules of SPEC 3.3–3.4 as one pure function, [`decide`].
//!
//! Given an account's [`Policy`] (the three Opt Outs settings), the number's current state on
//! the opt-out list and an [`OptOutEvent`], it returns the [`Decision`]: record an opt-out,
//! lift one, let an import row through, skip it, refuse a removal, and which contact
//! instances to delete. The store carries the decision out in one transaction; nothing else
//! in stoplist decides these questions.
//!
//! The invariants, in words:
//! - the opt-out list wins: nothing but an explicit lift takes a number off it, and deleting
//!   contacts never does;
//! - a provisional opt-out (an unclear reply counted as an opt-out until a person reviews it)
//!   suppresses like any other but deletes no contact; a clear STOP or a confirming review
//!   makes it an opt-out by reply (clean-up then applies), a dismissal lifts it, and nothing
//!   lifts it by dismissal once it is no longer provisional;
//! - a reply opt-out under Enforce Global Optouts is lifted only by the number's own opt-in
//!   reply: neither an import reset nor a user may lift it;
//! - contacts are deleted only after an opt-out by reply, only with "Automatically delete Opt
//!   Outs from Contacts" on, and "Recipient Opt Out removes user from all groups?" widens the
//!   deletion to every group only when the first setting is on.

use crate::settings::AccountSettings;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Where an opt-out came from. Stored as its [`OptOutSource::as_str`] code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptOutSource {
    /// The number itself replied with an opt-out keyword.
    Reply,
    /// A user added it in the web UI or the CLI.
    Manual,
    /// It was in a file uploaded to the Opt Out Manager.
    Upload,
    /// A machine added it through the REST API.
    Api,
    /// A provider refused a send because the recipient opted out at the carrier.
    Carrier,
}

impl OptOutSource {
    pub const ALL: [OptOutSource; 5] = [
        OptOutSource::Reply,
        OptOutSource::Manual,
        OptOutSource::Upload,
        OptOutSource::Api,
        OptOutSource::Carrier,
    ];

    /// The stable code stored in the database and shown in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            OptOutSource::Reply => "reply",
            OptOutSource::Manual => "manual",
            OptOutSource::Upload => "upload",
            OptOutSource::Api => "api",
            OptOutSource::Carrier => "carrier",
        }
    }

    /// The inverse of [`OptOutSource::as_str`].
    pub fn parse(code: &str) -> Option<OptOutSource> {
        Self::ALL.into_iter().find(|s| s.as_str() == code)
    }
}

impl fmt::Display for OptOutSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who made a change: kept on every opt-out and every ledger event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub kind: ActorKind,
    /// The user's, key's or inbound message's id, when there is one.
    pub id: Option<i64>,
    /// A human label: the user's login, the key's name, the CLI operator.
    pub label: String,
}

/// The kind of [`Actor`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    User,
    ApiKey,
    Inbound,
    Cli,
    System,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::ApiKey => "api_key",
            ActorKind::Inbound => "inbound",
            ActorKind::Cli => "cli",
            ActorKind::System => "system",
        }
    }

    pub fn parse(code: &str) -> Option<ActorKind> {
        [
            ActorKind::User,
            ActorKind::ApiKey,
            ActorKind::Inbound,
            ActorKind::Cli,
            ActorKind::System,
        ]
        .into_iter()
        .find(|k| k.as_str() == code)
    }
}

impl Actor {
    pub fn user(id: i64, login: &str) -> Actor {
        Actor {
            kind: ActorKind::User,
            id: Some(id),
            label: login.to_owned(),
        }
    }

    pub fn api_key(id: i64, name: &str) -> Actor {
        Actor {
            kind: ActorKind::ApiKey,
            id: Some(id),
            label: name.to_owned(),
        }
    }

    pub fn cli(operator: &str) -> Actor {
        Actor {
            kind: ActorKind::Cli,
            id: None,
            label: operator.to_owned(),
        }
    }

    pub fn system(what: &str) -> Actor {
        Actor {
            kind: ActorKind::System,
            id: None,
            label: what.to_owned(),
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.id {
            Some(id) => write!(f, "{} {} ({})", self.kind.as_str(), id, self.label),
            None => write!(f, "{} ({})", self.kind.as_str(), self.label),
        }
    }
}

/// The three settings that the rules read (SPEC 3.3, the seed's labels in the comments).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// "Automatically delete Opt Outs from Contacts"
    pub auto_delete: bool,
    /// "Recipient Opt Out removes user from all groups?" (no effect unless `auto_delete`)
    pub remove_from_all_groups: bool,
    /// "Enforce Global Optouts"
    pub enforce_global: bool,
}

impl From<&AccountSettings> for Policy {
    fn from(s: &AccountSettings) -> Policy {
        Policy {
            auto_delete: s.auto_delete_optouts,
            remove_from_all_groups: s.remove_from_all_groups,
            enforce_global: s.enforce_global_optouts,
        }
    }
}

/// The ways a number can be added to the list other than by its own reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddedBy {
    Manual,
    Upload,
    Api,
    Carrier,
}

impl From<AddedBy> for OptOutSource {
    fn from(a: AddedBy) -> OptOutSource {
        match a {
            AddedBy::Manual => OptOutSource::Manual,
            AddedBy::Upload => OptOutSource::Upload,
            AddedBy::Api => OptOutSource::Api,
            AddedBy::Carrier => OptOutSource::Carrier,
        }
    }
}

/// A number's entry on the list, as the rules read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listed {
    pub source: OptOutSource,
    /// Counted from an unclear reply until a person reviews it.
    pub provisional: bool,
}

impl Listed {
    /// A settled (not provisional) entry with this source.
    pub fn settled(source: OptOutSource) -> Listed {
        Listed {
            source,
            provisional: false,
        }
    }
}

/// Something that may change a number's place on the opt-out list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptOutEvent {
    /// The number replied with an opt-out (or a reviewer confirmed that its unclear reply
    /// was one). `matched_campaign`: the reply was matched to an outbound message of a
    /// campaign (whose groups are then the ones cleaned up).
    ReplyOptOut { matched_campaign: bool },
    /// The number's reply was unclear and the account counts unclear replies as opt-outs
    /// until reviewed: a provisional opt-out.
    UnclearReply,
    /// A reviewer dismissed the unclear reply that made a provisional opt-out.
    ReviewDismissed,
    /// Someone other than the number put it on the list.
    Added(AddedBy),
    /// The number replied with an opt-in keyword.
    ReplyOptIn,
    /// A row of a contact import holds this number; `reset` is "Reset contacts that have
    /// previously opted out?".
    ImportRow { reset: bool },
    /// A user (web, CLI or API) asks to lift the number's opt-out.
    UserRemoval,
}

/// Which contact instances of the number to delete after an opt-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactCleanup {
    /// Keep every contact (they are shown as opted out).
    Keep,
    /// Delete the instances in the groups of the matched outbound message's campaign.
    CampaignGroups,
    /// Delete every instance in every group.
    AllGroups,
}

/// Why an import row is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// The number is opted out and the import does not reset opt-outs.
    OptedOut,
    /// The number opted out by reply and Enforce Global Optouts is on.
    EnforcedReplyOptOut,
}

/// Why a user's removal is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// There is nothing to lift.
    NotOptedOut,
    /// The number opted out by reply and Enforce Global Optouts is on: only the number
    /// itself can lift it, by replying an opt-in keyword.
    EnforcedReplyOptOut,
    /// The opt-out is provisional (an unclear reply awaiting review): the review decides.
    PendingReview,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::NotOptedOut => "the number is not on the opt-out list",
            Refusal::EnforcedReplyOptOut => {
                "the number opted out by its own reply and Enforce Global Optouts is on: only \
                 the number itself can lift it, by replying START"
            }
            Refusal::PendingReview => {
                "the opt-out comes from an unclear reply awaiting review: confirm or dismiss \
                 the reply in Replies (dismissing lifts it)"
            }
        })
    }
}

/// What to do about an [`OptOutEvent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Put the number on the list with this source (or replace a weaker or provisional
    /// entry), record an `opted_out` event, then clean up contacts. The entry is settled.
    Record {
        source: OptOutSource,
        cleanup: ContactCleanup,
    },
    /// Put the number on the list provisionally (source `reply`, an unclear reply awaiting
    /// review): an `opted_out` event, no clean-up, no confirmation.
    RecordProvisional,
    /// The number is already on the list: nothing to record, but clean up contacts.
    AlreadyOptedOut { cleanup: ContactCleanup },
    /// Take the number off the list and record an `opted_in` event.
    Lift,
    /// Nothing to do (an opt-in from a number that is not opted out).
    NoChange,
    /// Import the row: the number is not opted out.
    Import,
    /// Import the row and lift the number's opt-out (an import reset).
    ImportAndLift,
    /// Do not import the row.
    Skip(SkipReason),
    /// Refuse the user's removal.
    Refuse(Refusal),
}

/// Decides what an event does to a number whose current entry on the list, if any, is
/// `current`. Total and pure: every combination has exactly one answer (see the table test).
pub fn decide(policy: &Policy, current: Option<Listed>, event: OptOutEvent) -> Decision {
    let is_reply = current.is_some_and(|c| c.source == OptOutSource::Reply);
    let enforced_reply = policy.enforce_global && is_reply;
    let provisional = current.is_some_and(|c| c.provisional);
    match event {
        OptOutEvent::ReplyOptOut { matched_campaign } => {
            let cleanup = reply_cleanup(policy, matched_campaign);
            if is_reply && !provisional {
                Decision::AlreadyOptedOut { cleanup }
            } else {
                // A reply is the strongest evidence: it replaces a weaker source, and settles
                // a provisional entry.
                Decision::Record {
                    source: OptOutSource::Reply,
                    cleanup,
                }
            }
        }
        OptOutEvent::UnclearReply => match current {
            None => Decision::RecordProvisional,
            Some(_) => Decision::AlreadyOptedOut {
                cleanup: ContactCleanup::Keep,
            },
        },
        OptOutEvent::ReviewDismissed => {
            if provisional {
                Decision::Lift
            } else {
                Decision::NoChange
            }
        }
        OptOutEvent::Added(by) => match current {
            // Someone's explicit add settles a provisional entry (a dismissal no longer lifts it).
            Some(_) if provisional => Decision::Record {
                source: by.into(),
                cleanup: ContactCleanup::Keep,
            },
            Some(_) => Decision::AlreadyOptedOut {
                cleanup: ContactCleanup::Keep,
            },
            None => Decision::Record {
                source: by.into(),
                cleanup: ContactCleanup::Keep,
            },
        },
        OptOutEvent::ReplyOptIn => match current {
            Some(_) => Decision::Lift,
            None => Decision::NoChange,
        },
        OptOutEvent::ImportRow { reset } => match (current, reset) {
            (None, _) => Decision::Import,
            (Some(_), false) => Decision::Skip(SkipReason::OptedOut),
            (Some(_), true) if enforced_reply => Decision::Skip(SkipReason::EnforcedReplyOptOut),
            (Some(_), true) => Decision::ImportAndLift,
        },
        OptOutEvent::UserRemoval => match current {
            None => Decision::Refuse(Refusal::NotOptedOut),
            Some(_) if provisional => Decision::Refuse(Refusal::PendingReview),
            Some(_) if enforced_reply => Decision::Refuse(Refusal::EnforcedReplyOptOut),
            Some(_) => Decision::Lift,
        },
    }
}

/// Which contacts an opt-out by reply deletes (SPEC 3.3, the first two settings).
fn reply_cleanup(policy: &Policy, matched_campaign: bool) -> ContactCleanup {
    match (
        policy.auto_delete,
        policy.remove_from_all_groups,
        matched_campaign,
    ) {
        (false, _, _) => ContactCleanup::Keep,
        (true, true, _) => ContactCleanup::AllGroups,
        (true, false, true) => ContactCleanup::CampaignGroups,
        (true, false, false) => ContactCleanup::AllGroups,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    //! The rule table: every combination of the three settings, every event kind and every
    //! current state is matched by exactly one row, and the row's decision is what `decide`
    //! returns. Reading the rows is reading SPEC 3.3–3.4.
    use super::*;
    use ContactCleanup::*;
    use OptOutSource as S;

    /// `None` in a row matches any value.
    type B = Option<bool>;

    #[derive(Clone, Copy, Debug)]
    enum Cur {
        NotListed,
        Listed,
        /// Listed by a reply, settled.
        ReplyOptOut,
        /// Listed by a reply, provisional.
        Provisional,
        /// Listed by a reply, settled or provisional.
        AnyReply,
        /// Listed by another source.
        NotReply,
        /// Listed and settled (any source).
        Settled,
        /// What a reply replaces: another source, or a provisional entry.
        Replaceable,
    }

    impl Cur {
        fn matches(self, c: Option<Listed>) -> bool {
            let reply = c.is_some_and(|c| c.source == S::Reply);
            let provisional = c.is_some_and(|c| c.provisional);
            match self {
                Cur::NotListed => c.is_none(),
                Cur::Listed => c.is_some(),
                Cur::ReplyOptOut => reply && !provisional,
                Cur::Provisional => provisional,
                Cur::AnyReply => reply,
                Cur::NotReply => c.is_some() && !reply,
                Cur::Settled => c.is_some() && !provisional,
                Cur::Replaceable => c.is_some() && (!reply || provisional),
            }
        }
    }

    /// (auto_delete, all_groups, enforce, event, current, expected)
    type Row = (B, B, B, OptOutEvent, Cur, Decision);

    const T: B = Some(true);
    const F: B = Some(false);
    const X: B = None;

    fn reply(m: bool) -> OptOutEvent {
        OptOutEvent::ReplyOptOut {
            matched_campaign: m,
        }
    }

    fn rec(cleanup: ContactCleanup) -> Decision {
        Decision::Record {
            source: S::Reply,
            cleanup,
        }
    }

    fn table() -> Vec<Row> {
        use Decision::*;
        use OptOutEvent::*;
        let mut rows: Vec<Row> = vec![
            // A reply opt-out: contacts kept unless auto-delete is on.
            (F, X, X, reply(true), Cur::NotListed, rec(Keep)),
            (F, X, X, reply(false), Cur::NotListed, rec(Keep)),
            (F, X, X, reply(true), Cur::Replaceable, rec(Keep)),
            (F, X, X, reply(false), Cur::Replaceable, rec(Keep)),
            (
                F,
                X,
                X,
                reply(true),
                Cur::ReplyOptOut,
                AlreadyOptedOut { cleanup: Keep },
            ),
            (
                F,
                X,
                X,
                reply(false),
                Cur::ReplyOptOut,
                AlreadyOptedOut { cleanup: Keep },
            ),
            // Auto-delete on, all groups off: the campaign's groups, or every instance.
            (T, F, X, reply(true), Cur::NotListed, rec(CampaignGroups)),
            (T, F, X, reply(false), Cur::NotListed, rec(AllGroups)),
            (T, F, X, reply(true), Cur::Replaceable, rec(CampaignGroups)),
            (T, F, X, reply(false), Cur::Replaceable, rec(AllGroups)),
            (
                T,
                F,
                X,
                reply(true),
                Cur::ReplyOptOut,
                AlreadyOptedOut {
                    cleanup: CampaignGroups,
                },
            ),
            (
                T,
                F,
                X,
                reply(false),
                Cur::ReplyOptOut,
                AlreadyOptedOut { cleanup: AllGroups },
            ),
            // Auto-delete on, all groups on: every instance.
            (T, T, X, reply(true), Cur::NotListed, rec(AllGroups)),
            (T, T, X, reply(false), Cur::NotListed, rec(AllGroups)),
            (T, T, X, reply(true), Cur::Replaceable, rec(AllGroups)),
            (T, T, X, reply(false), Cur::Replaceable, rec(AllGroups)),
            (
                T,
                T,
                X,
                reply(true),
                Cur::ReplyOptOut,
                AlreadyOptedOut { cleanup: AllGroups },
            ),
            (
                T,
                T,
                X,
                reply(false),
                Cur::ReplyOptOut,
                AlreadyOptedOut { cleanup: AllGroups },
            ),
            // An unclear reply counted as an opt-out: provisional, nothing cleaned up.
            (X, X, X, UnclearReply, Cur::NotListed, RecordProvisional),
            (
                X,
                X,
                X,
                UnclearReply,
                Cur::Listed,
                AlreadyOptedOut { cleanup: Keep },
            ),
            // Dismissing it lifts only a provisional entry.
            (X, X, X, ReviewDismissed, Cur::Provisional, Lift),
            (X, X, X, ReviewDismissed, Cur::NotListed, NoChange),
            (X, X, X, ReviewDismissed, Cur::Settled, NoChange),
            // The number's own opt-in lifts any opt-out, whatever the settings.
            (X, X, X, ReplyOptIn, Cur::Listed, Lift),
            (X, X, X, ReplyOptIn, Cur::NotListed, NoChange),
            // Imports: without reset, opted-out rows are skipped.
            (X, X, X, ImportRow { reset: false }, Cur::NotListed, Import),
            (
                X,
                X,
                X,
                ImportRow { reset: false },
                Cur::Listed,
                Skip(SkipReason::OptedOut),
            ),
            // With reset: lifted, except a reply opt-out under Enforce Global Optouts.
            (X, X, X, ImportRow { reset: true }, Cur::NotListed, Import),
            (
                X,
                X,
                X,
                ImportRow { reset: true },
                Cur::NotReply,
                ImportAndLift,
            ),
            (
                X,
                X,
                F,
                ImportRow { reset: true },
                Cur::AnyReply,
                ImportAndLift,
            ),
            (
                X,
                X,
                T,
                ImportRow { reset: true },
                Cur::AnyReply,
                Skip(SkipReason::EnforcedReplyOptOut),
            ),
            // A user's removal: refused for enforced reply opt-outs.
            (
                X,
                X,
                X,
                UserRemoval,
                Cur::NotListed,
                Refuse(Refusal::NotOptedOut),
            ),
            (X, X, X, UserRemoval, Cur::NotReply, Lift),
            (
                X,
                X,
                X,
                UserRemoval,
                Cur::Provisional,
                Refuse(Refusal::PendingReview),
            ),
            (X, X, F, UserRemoval, Cur::ReplyOptOut, Lift),
            (
                X,
                X,
                T,
                UserRemoval,
                Cur::ReplyOptOut,
                Refuse(Refusal::EnforcedReplyOptOut),
            ),
        ];
        // Added by someone else: recorded with its own source (settling a provisional
        // entry), never cleans up contacts.
        for by in [
            AddedBy::Manual,
            AddedBy::Upload,
            AddedBy::Api,
            AddedBy::Carrier,
        ] {
            for cur in [Cur::NotListed, Cur::Provisional] {
                rows.push((
                    X,
                    X,
                    X,
                    Added(by),
                    cur,
                    Record {
                        source: by.into(),
                        cleanup: Keep,
                    },
                ));
            }
            rows.push((
                X,
                X,
                X,
                Added(by),
                Cur::Settled,
                AlreadyOptedOut { cleanup: Keep },
            ));
        }
        rows
    }

    fn all_events() -> Vec<OptOutEvent> {
        let mut v = vec![
            reply(true),
            reply(false),
            OptOutEvent::UnclearReply,
            OptOutEvent::ReviewDismissed,
            OptOutEvent::ReplyOptIn,
            OptOutEvent::ImportRow { reset: false },
            OptOutEvent::ImportRow { reset: true },
            OptOutEvent::UserRemoval,
        ];
        v.extend(
            [
                AddedBy::Manual,
                AddedBy::Upload,
                AddedBy::Api,
                AddedBy::Carrier,
            ]
            .map(OptOutEvent::Added),
        );
        v
    }

    fn fits(pattern: B, value: bool) -> bool {
        pattern.is_none_or(|p| p == value)
    }

    #[test]
    fn every_combination_of_settings_event_and_state_follows_exactly_one_rule() {
        let table = table();
        let mut checked = 0;
        for bits in 0..8u8 {
            let policy = Policy {
                auto_delete: bits & 1 != 0,
                remove_from_all_groups: bits & 2 != 0,
                enforce_global: bits & 4 != 0,
            };
            for event in all_events() {
                let states = std::iter::once(None)
                    .chain(OptOutSource::ALL.map(|s| Some(Listed::settled(s))))
                    .chain(std::iter::once(Some(Listed {
                        source: S::Reply,
                        provisional: true,
                    })));
                for current in states {
                    let rows: Vec<&Row> = table
                        .iter()
                        .filter(|(a, g, e, ev, cur, _)| {
                            fits(*a, policy.auto_delete)
                                && fits(*g, policy.remove_from_all_groups)
                                && fits(*e, policy.enforce_global)
                                && *ev == event
                                && cur.matches(current)
                        })
                        .collect();
                    assert_eq!(
                        rows.len(),
                        1,
                        "{policy:?} {event:?} {current:?} matched {} rows",
                        rows.len()
                    );
                    assert_eq!(
                        decide(&policy, current, event),
                        rows[0].5,
                        "{policy:?} {event:?} {current:?}"
                    );
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 8 * 12 * 7);
    }

    #[test]
    fn all_groups_setting_has_no_effect_without_auto_delete() {
        for enforce in [false, true] {
            for matched in [false, true] {
                let off = Policy {
                    auto_delete: false,
                    remove_from_all_groups: false,
                    enforce_global: enforce,
                };
                let on = Policy {
                    remove_from_all_groups: true,
                    ..off
                };
                assert_eq!(
                    decide(&off, None, reply(matched)),
                    decide(&on, None, reply(matched))
                );
            }
        }
    }

    #[test]
    fn nothing_but_a_lift_takes_a_number_off_the_list() {
        // Property over the whole table: a listed number stays listed unless the decision
        // is Lift or ImportAndLift, and those only come from opt-in, reset or removal.
        for (_, _, _, event, _, decision) in table() {
            if matches!(decision, Decision::Lift | Decision::ImportAndLift) {
                assert!(matches!(
                    event,
                    OptOutEvent::ReplyOptIn
                        | OptOutEvent::UserRemoval
                        | OptOutEvent::ReviewDismissed
                        | OptOutEvent::ImportRow { reset: true }
                ));
            }
        }
    }

    #[test]
    fn a_provisional_opt_out_cleans_up_nothing_until_it_is_confirmed() {
        let policy = Policy {
            auto_delete: true,
            remove_from_all_groups: true,
            enforce_global: true,
        };
        assert_eq!(
            decide(&policy, None, OptOutEvent::UnclearReply),
            Decision::RecordProvisional
        );
        let provisional = Some(Listed {
            source: S::Reply,
            provisional: true,
        });
        // The confirming review is a reply opt-out: recorded again, settled, cleaned up.
        assert_eq!(
            decide(&policy, provisional, reply(false)),
            Decision::Record {
                source: S::Reply,
                cleanup: AllGroups
            }
        );
        // Once settled, a dismissal lifts nothing.
        assert_eq!(
            decide(
                &policy,
                Some(Listed::settled(S::Reply)),
                OptOutEvent::ReviewDismissed
            ),
            Decision::NoChange
        );
    }

    #[test]
    fn source_codes_round_trip() {
        for s in OptOutSource::ALL {
            assert_eq!(OptOutSource::parse(s.as_str()), Some(s));
        }
        assert_eq!(OptOutSource::parse("fax"), None);
    }
}
