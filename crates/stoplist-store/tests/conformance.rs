//! The store's conformance story: every test runs against a fresh SQLite file and, when
//! `STOPLIST_TEST_PG_URL` is set, a fresh PostgreSQL database. Same behaviour on both.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use stoplist_domain::names::{ContactFields, GroupName, Reason};
use stoplist_domain::rules::{AddedBy, ContactCleanup, Decision, OptOutEvent, Refusal};
use stoplist_domain::settings::{SettingChange, SettingsPatch};
use stoplist_domain::{AccountId, Actor, GroupId, OptOutSource, PhoneNumber, Region, Role, UserId};
use stoplist_store::testing::fresh_stores;
use stoplist_store::{
    NewApiKey, NewSession, OptOutCommand, Store, StoreError, UserChange, VonageSignature,
};

const NOW: i64 = 1_780_000_000_000;

fn num(raw: &str) -> PhoneNumber {
    PhoneNumber::parse(raw, Region::AU).expect("valid test number")
}

async fn account(store: &Arc<dyn Store>, name: &str) -> AccountId {
    store
        .create_account(name, &format!("tok-{name}"), NOW)
        .await
        .expect("account")
        .id
}

fn cmd(number: &PhoneNumber, event: OptOutEvent) -> OptOutCommand {
    OptOutCommand {
        number: number.clone(),
        event,
        actor: Actor::cli("tester"),
        reason: None,
        evidence: Some("test".into()),
        campaign_groups: vec![],
    }
}

async fn contact(store: &Arc<dyn Store>, acc: AccountId, group: GroupId, n: &PhoneNumber) {
    store
        .create_contact(acc, group, n, &ContactFields::default(), NOW)
        .await
        .expect("contact");
}

async fn set(store: &Arc<dyn Store>, acc: AccountId, patch: SettingsPatch) {
    let cur = store.settings(acc).await.unwrap();
    let (next, changes) = patch.apply(&cur).unwrap();
    store
        .update_settings(acc, &next, &changes, &Actor::cli("tester"), NOW)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_manual_opt_out_is_listed_with_its_source_and_one_event() {
    for store in fresh_stores().await.unwrap() {
        let acc = account(&store, "a").await;
        let n = num("0412 345 678");
        let out = store
            .apply_optout(acc, &cmd(&n, OptOutEvent::Added(AddedBy::Manual)), NOW)
            .await
            .unwrap();
        assert!(matches!(out.decision, Decision::Record { .. }));
        assert_eq!(out.event_seq, Some(1));
        let listed = store.optout(acc, &n).await.unwrap().expect("listed");
        assert_eq!(listed.source, OptOutSource::Manual);
        assert_eq!(listed.created_at, NOW);
        // Adding it again changes nothing and appends nothing.
        let again = store
            .apply_optout(acc, &cmd(&n, OptOutEvent::Added(AddedBy::Api)), NOW + 1)
            .await
            .unwrap();
        assert!(matches!(again.decision, Decision::AlreadyOptedOut { .. }));
        assert_eq!(again.event_seq, None);
        assert_eq!(store.number_events(acc, &n).await.unwrap().len(), 1);
        assert_eq!(store.count_optouts(acc).await.unwrap(), 1);
    }
}

#[tokio::test]
async fn a_reply_opt_out_under_enforce_global_cannot_be_removed_by_a_user() {
    for store in fresh_stores().await.unwrap() {
        let acc = account(&store, "a").await;
        let n = num("+61412345678");
        let reply = OptOutEvent::ReplyOptOut {
            matched_campaign: false,
        };
        store.apply_optout(acc, &cmd(&n, reply), NOW).await.unwrap();
        let mut removal = cmd(&n, OptOutEvent::UserRemoval);
        removal.reason = Some(Reason::parse("asked by phone").unwrap());
        let out = store.apply_optout(acc, &removal, NOW).await.unwrap();
        assert_eq!(out.decision, Decision::Refuse(Refusal::EnforcedReplyOptOut));
        assert!(store.optout(acc, &n).await.unwrap().is_some());
        assert_eq!(store.number_events(acc, &n).await.unwrap().len(), 1);
        // With the setting off, the same removal lifts it and is recorded with its reason.
        set(
            &store,
            acc,
            SettingsPatch {
                enforce_global_optouts: Some(false),
                ..Default::default()
            },
        )
        .await;
        let out = store.apply_optout(acc, &removal, NOW + 5).await.unwrap();
        assert_eq!(out.decision, Decision::Lift);
        assert!(store.optout(acc, &n).await.unwrap().is_none());
        let events = store.number_events(acc, &n).await.unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(
            events[1].event.content.reason.as_deref(),
            Some("asked by phone")
        );
    }
}

#[tokio::test]
async fn the_numbers_own_opt_in_lifts_an_enforced_reply_opt_out() {
    for store in fresh_stores().await.unwrap() {
        let acc = account(&store, "a").await;
        let n = num("+61412345678");
        let reply = OptOutEvent::ReplyOptOut {
            matched_campaign: false,
        };
        store.apply_optout(acc, &cmd(&n, reply), NOW).await.unwrap();
        let out = store
            .apply_optout(acc, &cmd(&n, OptOutEvent::ReplyOptIn), NOW)
            .await
            .unwrap();
        assert_eq!(out.decision, Decision::Lift);
        assert!(out.optout.is_none());
    }
}

#[tokio::test]
async fn a_reply_replaces_a_weaker_source_and_keeps_since() {
    for store in fresh_stores().await.unwrap() {
        let acc = account(&store, "a").await;
        let n = num("+61412345678");
        store
            .apply_optout(acc, &cmd(&n, OptOutEvent::Added(AddedBy::Upload)), NOW)
            .await
            .unwrap();
        let reply = OptOutEvent::ReplyOptOut {
            matched_campaign: false,
        };
        let out = store
            .apply_optout(acc, &cmd(&n, reply), NOW + 1000)
            .await
            .unwrap();
        let o = out.optout.expect("still listed");
        assert_eq!(o.source, OptOutSource::Reply);
        assert_eq!(o.created_at, NOW);
    }
}

#[tokio::test]
async fn deleting_contacts_and_groups_never_deletes_an_opt_out() {
    for store in fresh_stores().await.unwrap() {
        let acc = account(&store, "a").await;
        let g = store
            .create_group(acc, &GroupName::parse("VIP").unwrap(), NOW)
            .await
            .unwrap();
        let n = num("0412345678");
        contact(&store, acc, g.id, &n).await;
        store
            .apply_optout(acc, &cmd(&n, OptOutEvent::Added(AddedBy::Manual)), NOW)
            .await
            .unwrap();
        let page = store
            .list_contacts(acc, Some(g.id), None, None, 10)
            .await
            .unwrap();
        assert!(page.items[0].opted_out, "contacts show as opted out");
        store.delete_contact(acc, page.items[0].id).await.unwrap();
        store.delete_group(acc, g.id).await.unwrap();
        assert!(store.optout(acc, &n).await.unwrap().is_some());
    }
}

#[tokio::test]
async fn reply_clean_up_follows_the_settings() {
    for store in fresh_stores().await.unwrap() {
        let acc = account(&store, "a").await;
        let g1 = store
            .create_group(acc, &GroupName::parse("One").unwrap(), NOW)
            .await
            .unwrap();
        let g2 = store
            .create_group(acc, &GroupName::parse("Two").unwrap(), NOW)
            .await
            .unwrap();
        let n = num("0412345678");
        contact(&store, acc, g1.id, &n).await;
        contact(&store, acc, g2.id, &n).await;
        let matched = OptOutEvent::ReplyOptOut {
            matched_campaign: true,
        };
        let mut c = cmd(&n, matched);
        c.campaign_groups = vec![g1.id];

        // Auto-delete off: contacts kept, shown as opted out.
        let out = store.apply_optout(acc, &c, NOW).await.unwrap();
        assert_eq!(out.contacts_deleted, 0);
        assert_eq!(out.cleanup(), ContactCleanup::Keep);

        // Auto-delete on: the campaign's group only.
        set(
            &store,
            acc,
            SettingsPatch {
                auto_delete_optouts: Some(true),
                ..Default::default()
            },
        )
        .await;
        let out = store.apply_optout(acc, &c, NOW).await.unwrap();
        assert_eq!(out.contacts_deleted, 1);
        assert_eq!(
            store
                .group(acc, g1.id)
                .await
                .unwrap()
                .unwrap()
                .contact_count,
            0
        );
        assert_eq!(
            store
                .group(acc, g2.id)
                .await
                .unwrap()
                .unwrap()
                .contact_count,
            1
        );

        // And all groups.
        set(
            &store,
            acc,
            SettingsPatch {
                remove_from_all_groups: Some(true),
                ..Default::default()
            },
        )
        .await;
        let out = store.apply_optout(acc, &c, NOW).await.unwrap();
        assert_eq!(out.contacts_deleted, 1);
        assert_eq!(
            store
                .group(acc, g2.id)
                .await
                .unwrap()
                .unwrap()
                .contact_count,
            0
        );
        assert!(store.optout(acc, &n).await.unwrap().is_some());
    }
}

#[tokio::test]
async fn an_opted_out_number_cannot_be_added_as_a_contact() {
    for store in fresh_stores().await.unwrap() {
        let acc = account(&store, "a").await;
        let g = store
            .create_group(acc, &GroupName::parse("G").unwrap(), NOW)
            .await
            .unwrap();
        let n = num("0412345678");
        store
            .apply_optout(acc, &cmd(&n, OptOutEvent::Added(AddedBy::Api)), NOW)
            .await
            .unwrap();
        let err = store
            .create_contact(acc, g.id, &n, &ContactFields::default(), NOW)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::OptedOut));
        assert_eq!(
            store.group(acc, g.id).await.unwrap().unwrap().contact_count,
            0
        );
    }
}

#[tokio::test]
async fn accounts_are_isolated() {
    for store in fresh_stores().await.unwrap() {
        let a = account(&store, "a").await;
        let b = account(&store, "b").await;
        let g = store
            .create_group(a, &GroupName::parse("Mine").unwrap(), NOW)
            .await
            .unwrap();
        let n = num("0412345678");
        contact(&store, a, g.id, &n).await;
        store
            .apply_optout(a, &cmd(&n, OptOutEvent::Added(AddedBy::Manual)), NOW)
            .await
            .unwrap();
        assert!(store.group(b, g.id).await.unwrap().is_none());
        assert!(matches!(
            store.delete_group(b, g.id).await,
            Err(StoreError::NotFound(_))
        ));
        assert!(store.optout(b, &n).await.unwrap().is_none());
        assert!(store.list_groups(b).await.unwrap().is_empty());
        let page = store.list_contacts(b, None, None, None, 10).await.unwrap();
        assert!(page.items.is_empty());
        // Same group name in another account is fine; twice in one is a conflict.
        store
            .create_group(b, &GroupName::parse("mine").unwrap(), NOW)
            .await
            .unwrap();
        let dup = store
            .create_group(a, &GroupName::parse("MINE").unwrap(), NOW)
            .await;
        assert!(matches!(
            dup,
            Err(StoreError::Conflict { field: "name", .. })
        ));
    }
}

#[tokio::test]
async fn contacts_page_by_keyset_and_search_by_number_or_name() {
    for store in fresh_stores().await.unwrap() {
        let acc = account(&store, "a").await;
        let g = store
            .create_group(acc, &GroupName::parse("G").unwrap(), NOW)
            .await
            .unwrap();
        for i in 0..25 {
            let n = num(&format!("04123456{i:02}"));
            let name = if i == 7 { "Zelda" } else { "Ann" };
            let f = ContactFields::parse(Some(name), None, None).unwrap();
            store.create_contact(acc, g.id, &n, &f, NOW).await.unwrap();
        }
        let mut seen = 0;
        let mut after = None;
        loop {
            let page = store
                .list_contacts(acc, Some(g.id), None, after, 10)
                .await
                .unwrap();
            seen += page.items.len();
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        assert_eq!(seen, 25);
        let z = store
            .list_contacts(acc, None, Some("zel"), None, 10)
            .await
            .unwrap();
        assert_eq!(z.items.len(), 1);
        let by_digits = store
            .list_contacts(acc, None, Some("41234561"), None, 50)
            .await
            .unwrap();
        assert_eq!(by_digits.items.len(), 10);
    }
}

#[tokio::test]
async fn the_ledger_chains_every_event_and_refuses_edits() {
    for store in fresh_stores().await.unwrap() {
        let acc = account(&store, "a").await;
        for i in 0..5 {
            let n = num(&format!("04123456{i:02}"));
            store
                .apply_optout(acc, &cmd(&n, OptOutEvent::Added(AddedBy::Manual)), NOW + i)
                .await
                .unwrap();
        }
        let events = store.events_after(acc, 0, 100).await.unwrap();
        let chain: Vec<_> = events.iter().map(|e| e.event.clone()).collect();
        let state = stoplist_domain::ledger::verify_chain(
            (0, stoplist_domain::ledger::Digest32::GENESIS),
            &chain,
        )
        .unwrap();
        assert_eq!(state.0, 5);
        assert_eq!(store.optout_keys(acc).await.unwrap().1, 5);
    }
}

#[tokio::test]
async fn settings_changes_are_recorded_with_old_and_new_values() {
    for store in fresh_stores().await.unwrap() {
        let acc = account(&store, "a").await;
        set(
            &store,
            acc,
            SettingsPatch {
                auto_delete_optouts: Some(true),
                default_region: Some("NZ".into()),
                ..Default::default()
            },
        )
        .await;
        let s = store.settings(acc).await.unwrap();
        assert!(s.auto_delete_optouts);
        assert_eq!(s.default_region.as_str(), "NZ");
        let h = store.settings_history(acc, 10).await.unwrap();
        assert_eq!(h.len(), 2);
        assert!(
            h.iter()
                .any(|c| c.field == "default_region" && c.old_value == "AU" && c.new_value == "NZ")
        );
    }
}

#[tokio::test]
async fn a_vonage_signature_is_kept_per_account_and_its_changes_recorded() {
    for store in fresh_stores().await.unwrap() {
        let acc = account(&store, "a").await;
        let other = account(&store, "b").await;
        assert_eq!(store.vonage_signature(acc).await.unwrap(), None);
        let sig = |method: &str, secret: &str| VonageSignature {
            method: method.into(),
            secret: secret.into(),
        };
        let change = |old: &str, new: &str| SettingChange {
            field: "vonage_signature",
            old: old.into(),
            new: new.into(),
        };
        let actor = Actor::cli("tester");
        store
            .set_vonage_signature(
                acc,
                Some(&sig("md5hash", "s1")),
                &[change("off", "md5hash")],
                &actor,
                NOW,
            )
            .await
            .unwrap();
        store
            .set_vonage_signature(
                acc,
                Some(&sig("sha256", "s2")),
                &[change("md5hash", "sha256")],
                &actor,
                NOW + 1,
            )
            .await
            .unwrap();
        assert_eq!(
            store.vonage_signature(acc).await.unwrap(),
            Some(sig("sha256", "s2"))
        );
        assert_eq!(store.vonage_signature(other).await.unwrap(), None);
        let h = store.settings_history(acc, 10).await.unwrap();
        assert_eq!(
            h.iter()
                .map(|c| (c.field.as_str(), c.old_value.as_str(), c.new_value.as_str()))
                .collect::<Vec<_>>(),
            [
                ("vonage_signature", "md5hash", "sha256"),
                ("vonage_signature", "off", "md5hash")
            ]
        );
        store
            .set_vonage_signature(acc, None, &[change("sha256", "off")], &actor, NOW + 2)
            .await
            .unwrap();
        assert_eq!(store.vonage_signature(acc).await.unwrap(), None);
        assert_eq!(store.settings_history(acc, 10).await.unwrap().len(), 3);
        assert!(store.settings_history(other, 10).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn api_keys_are_found_by_hash_until_revoked() {
    for store in fresh_stores().await.unwrap() {
        let acc = account(&store, "a").await;
        let k = store
            .create_api_key(acc, &key("ci", "hash1", Role::Owner, None), NOW)
            .await
            .unwrap();
        assert_eq!(
            store.api_key_by_hash("hash1").await.unwrap().unwrap().id,
            k.id
        );
        let other = account(&store, "b").await;
        assert!(matches!(
            store.revoke_api_key(other, k.id, NOW).await,
            Err(StoreError::NotFound(_))
        ));
        store.revoke_api_key(acc, k.id, NOW).await.unwrap();
        assert!(store.api_key_by_hash("hash1").await.unwrap().is_none());
    }
}

fn key<'a>(name: &'a str, hash: &'a str, role: Role, by: Option<UserId>) -> NewApiKey<'a> {
    NewApiKey {
        name,
        key_hash: hash,
        prefix: "sl_x",
        role,
        created_by: by,
    }
}

fn session(token_hash: &str, user: UserId, awaiting_second_factor: bool) -> NewSession<'_> {
    NewSession {
        token_hash,
        user,
        csrf_token: "csrf",
        now: NOW,
        expires_at: NOW + 1000,
        awaiting_second_factor,
        address: "10.0.0.1",
    }
}

#[tokio::test]
async fn an_account_keeps_an_active_owner_and_keys_follow_their_makers() {
    for store in fresh_stores().await.unwrap() {
        let acc = account(&store, "a").await;
        let ann = store
            .create_user(acc, "ann", "h", Role::Owner, NOW)
            .await
            .unwrap();
        let bob = store
            .create_user(acc, "bob", "h", Role::Owner, NOW)
            .await
            .unwrap();
        let demote = UserChange {
            role: Some(Role::Viewer),
            ..UserChange::default()
        };
        // One of two owners may go; the last may not, and nothing changes when refused.
        store.change_user(acc, bob.id, &demote).await.unwrap();
        assert!(matches!(
            store.change_user(acc, ann.id, &demote).await,
            Err(StoreError::LastOwner)
        ));
        let disable = UserChange {
            disabled_at: Some(Some(NOW)),
            ..UserChange::default()
        };
        assert!(matches!(
            store.change_user(acc, ann.id, &disable).await,
            Err(StoreError::LastOwner)
        ));
        assert!(matches!(
            store.delete_user(acc, ann.id, NOW).await,
            Err(StoreError::LastOwner)
        ));
        assert_eq!(
            store.user(acc, ann.id).await.unwrap().unwrap().role,
            Role::Owner
        );
        // Another account cannot touch these users.
        let other = account(&store, "b").await;
        assert!(store.user(other, ann.id).await.unwrap().is_none());
        assert!(matches!(
            store.change_user(other, bob.id, &disable).await,
            Err(StoreError::NotFound(_))
        ));
        // Bob's owner key is capped at his viewer role, stops while he is disabled and is
        // revoked when he is deleted.
        let k = store
            .create_api_key(acc, &key("bob's", "hash-b", Role::Owner, Some(bob.id)), NOW)
            .await
            .unwrap();
        assert_eq!(k.role, Role::Viewer);
        store
            .create_session(&session("tok-b", bob.id, false))
            .await
            .unwrap();
        assert_eq!(
            store
                .list_sessions(acc, Some(bob.id), NOW)
                .await
                .unwrap()
                .len(),
            1
        );
        store.change_user(acc, bob.id, &disable).await.unwrap();
        assert!(store.api_key_by_hash("hash-b").await.unwrap().is_none());
        assert!(store.session("tok-b", NOW).await.unwrap().is_none());
        assert!(
            store
                .list_sessions(acc, Some(bob.id), NOW)
                .await
                .unwrap()
                .is_empty()
        );
        let enable = UserChange {
            disabled_at: Some(None),
            ..UserChange::default()
        };
        store.change_user(acc, bob.id, &enable).await.unwrap();
        assert!(store.api_key_by_hash("hash-b").await.unwrap().is_some());
        store.delete_user(acc, bob.id, NOW).await.unwrap();
        assert!(store.api_key_by_hash("hash-b").await.unwrap().is_none());
        let listed = store.list_api_keys(acc).await.unwrap();
        assert!(listed[0].revoked_at.is_some() && listed[0].created_by.is_none());
    }
}

#[tokio::test]
async fn second_factors_are_accepted_once() {
    for store in fresh_stores().await.unwrap() {
        let acc = account(&store, "a").await;
        let u = store
            .create_user(acc, "ann", "h", Role::Owner, NOW)
            .await
            .unwrap();
        store
            .set_totp(
                acc,
                u.id,
                Some("JBSWY3DPEHPK3PXP"),
                &["r1".into(), "r2".into()],
            )
            .await
            .unwrap();
        assert!(store.user(acc, u.id).await.unwrap().unwrap().two_factor);
        assert!(store.use_totp_step(u.id, 100).await.unwrap());
        assert!(
            !store.use_totp_step(u.id, 100).await.unwrap(),
            "the same step again"
        );
        assert!(
            !store.use_totp_step(u.id, 99).await.unwrap(),
            "an older step"
        );
        assert!(store.use_totp_step(u.id, 101).await.unwrap());
        assert!(store.use_recovery_code(u.id, "r1", NOW).await.unwrap());
        assert!(!store.use_recovery_code(u.id, "r1", NOW).await.unwrap());
        assert!(!store.use_recovery_code(u.id, "nope", NOW).await.unwrap());
        assert_eq!(store.recovery_codes_left(u.id).await.unwrap(), 1);
        // A half-open session becomes a full one under a new token, once.
        store
            .create_session(&session("half", u.id, true))
            .await
            .unwrap();
        assert!(
            store
                .session("half", NOW)
                .await
                .unwrap()
                .unwrap()
                .awaiting_second_factor
        );
        assert!(
            store
                .complete_second_factor("half", "full", "c2", NOW, NOW + 5000)
                .await
                .unwrap()
        );
        assert!(
            !store
                .complete_second_factor("half", "again", "c3", NOW, NOW + 5000)
                .await
                .unwrap()
        );
        assert!(store.session("half", NOW).await.unwrap().is_none());
        assert!(
            !store
                .session("full", NOW)
                .await
                .unwrap()
                .unwrap()
                .awaiting_second_factor
        );
        store.set_totp(acc, u.id, None, &[]).await.unwrap();
        assert!(!store.user(acc, u.id).await.unwrap().unwrap().two_factor);
        assert_eq!(store.recovery_codes_left(u.id).await.unwrap(), 0);
        assert!(!store.requires_two_factor(acc).await.unwrap());
        store.set_requires_two_factor(acc, true).await.unwrap();
        assert!(store.requires_two_factor(acc).await.unwrap());
    }
}

#[tokio::test]
async fn concurrent_opt_outs_keep_one_unbroken_chain() {
    for store in fresh_stores().await.unwrap() {
        let acc = account(&store, "a").await;
        let mut tasks = Vec::new();
        for i in 0..40 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let n = num(&format!("04123457{i:02}"));
                store
                    .apply_optout(acc, &cmd(&n, OptOutEvent::Added(AddedBy::Api)), NOW)
                    .await
                    .unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let chain: Vec<_> = store
            .events_after(acc, 0, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.event)
            .collect();
        assert_eq!(chain.len(), 40);
        stoplist_domain::ledger::verify_chain(
            (0, stoplist_domain::ledger::Digest32::GENESIS),
            &chain,
        )
        .unwrap();
    }
}

#[tokio::test]
async fn an_unknown_database_url_is_refused_with_a_clear_error() {
    let err = stoplist_store::connect("mysql://x").await.err().unwrap();
    assert!(err.to_string().contains("sqlite://"), "{err}");
}

mod imports {
    use super::*;
    use stoplist_store::{ImportCounts, ImportKind, ImportStatus, NewImport, Reject, StagedRow};

    fn staged(row: i64, raw: &str, first: &str) -> StagedRow {
        StagedRow {
            row,
            number: num(raw),
            fields: ContactFields::parse(Some(first), None, None).unwrap(),
        }
    }

    async fn import(
        store: &Arc<dyn Store>,
        acc: AccountId,
        group: Option<GroupId>,
        kind: ImportKind,
        reset: Option<&Reason>,
        dry_run: bool,
        rows: &[StagedRow],
    ) -> (i64, stoplist_store::ImportCounts) {
        let actor = Actor::cli("tester");
        let id = store
            .create_import(
                &NewImport {
                    account: acc,
                    group,
                    kind,
                    file_name: "c.csv",
                    dry_run,
                    reset,
                    actor: &actor,
                },
                NOW,
            )
            .await
            .unwrap();
        let bad = [Reject {
            row: 99,
            raw: "hello".into(),
            reason: "not a number".into(),
        }];
        // Two batches, as the pipeline sends them (sorted by number).
        let mut rows = rows.to_vec();
        rows.sort_by_key(|r| r.number.as_u64());
        let (first, rest) = rows.split_at(rows.len() / 2);
        let counts = if kind == ImportKind::OptOuts {
            let mut counts = store
                .upload_batch(acc, id, first, &[], 1, 0, NOW)
                .await
                .unwrap();
            let more = store
                .upload_batch(acc, id, rest, &bad, rows.len() as i64 + 1, 1, NOW)
                .await
                .unwrap();
            // Each batch adds its counts to the upload's record as it lands.
            let record = store.import(acc, id).await.unwrap().unwrap();
            assert_eq!(record.status, ImportStatus::Running);
            assert_eq!(record.counts.imported, counts.imported + more.imported);
            counts.imported += more.imported;
            counts.updated += more.updated;
            counts.rows_read = rows.len() as i64 + 1;
            counts.invalid = 1;
            store
                .finish_import(acc, id, ImportStatus::Done, &counts, None, NOW)
                .await
                .unwrap();
            counts
        } else {
            store.open_import(acc, id).await.unwrap();
            let mut staged = store.stage_import(acc, id, first, 1, 0).await.unwrap();
            store
                .note_import(id, &bad, rows.len() as i64 + 1, 1, NOW)
                .await
                .unwrap();
            let more = store
                .stage_import(acc, id, rest, rows.len() as i64 + 1, 1)
                .await
                .unwrap();
            staged.imported += more.imported;
            staged.updated += more.updated;
            staged.skipped_opted_out += more.skipped_opted_out;
            staged.skipped_enforced += more.skipped_enforced;
            staged.lifted += more.lifted;
            staged.rows_read = rows.len() as i64 + 1;
            staged.invalid = 1;
            store
                .publish_import(acc, id, &staged, &[], NOW)
                .await
                .unwrap()
        };
        // The report landed with the rows.
        let record = store.import(acc, id).await.unwrap().unwrap();
        assert_eq!(record.status, ImportStatus::Done);
        assert_eq!(record.counts, counts);
        (id, counts)
    }

    #[tokio::test]
    async fn an_import_skips_opted_out_numbers_and_keeps_every_rejected_row() {
        for store in fresh_stores().await.unwrap() {
            let acc = account(&store, "a").await;
            let g = store
                .create_group(acc, &GroupName::parse("G").unwrap(), NOW)
                .await
                .unwrap();
            contact(&store, acc, g.id, &num("0412000003")).await;
            store
                .apply_optout(
                    acc,
                    &cmd(&num("0412000002"), OptOutEvent::Added(AddedBy::Manual)),
                    NOW,
                )
                .await
                .unwrap();
            let rows = [
                staged(2, "0412000001", "Ann"),
                staged(3, "0412000002", "Bob"),
                staged(4, "0412000003", "Cat"),
            ];
            let (id, c) = import(
                &store,
                acc,
                Some(g.id),
                ImportKind::Contacts,
                None,
                false,
                &rows,
            )
            .await;
            assert_eq!(
                (
                    c.imported,
                    c.updated,
                    c.duplicates,
                    c.skipped_opted_out,
                    c.invalid
                ),
                (1, 1, 0, 1, 1)
            );
            assert_eq!(
                store.group(acc, g.id).await.unwrap().unwrap().contact_count,
                2
            );
            let rejects = store.import_rejects(acc, id, 0, 100).await.unwrap();
            let reasons: Vec<_> = rejects.iter().map(|r| (r.row, r.reason.as_str())).collect();
            assert_eq!(reasons, [(3, "opted out"), (99, "not a number")]);
            let rec = store.import(acc, id).await.unwrap().unwrap();
            assert_eq!(rec.status, ImportStatus::Done);
            let other = account(&store, "b").await;
            assert!(store.import(other, id).await.unwrap().is_none());
            assert!(
                store
                    .import_rejects(other, id, 0, 100)
                    .await
                    .unwrap()
                    .is_empty()
            );
        }
    }

    #[tokio::test]
    async fn a_reset_lifts_opt_outs_except_enforced_reply_ones() {
        for store in fresh_stores().await.unwrap() {
            let acc = account(&store, "a").await;
            let g = store
                .create_group(acc, &GroupName::parse("G").unwrap(), NOW)
                .await
                .unwrap();
            store
                .apply_optout(
                    acc,
                    &cmd(&num("0412000001"), OptOutEvent::Added(AddedBy::Upload)),
                    NOW,
                )
                .await
                .unwrap();
            let reply = OptOutEvent::ReplyOptOut {
                matched_campaign: false,
            };
            store
                .apply_optout(acc, &cmd(&num("0412000002"), reply), NOW)
                .await
                .unwrap();
            let reason = Reason::parse("customers re-consented at the counter").unwrap();
            let rows = [
                staged(2, "0412000001", "Ann"),
                staged(3, "0412000002", "Bob"),
            ];
            let (_, c) = import(
                &store,
                acc,
                Some(g.id),
                ImportKind::Contacts,
                Some(&reason),
                false,
                &rows,
            )
            .await;
            assert_eq!((c.imported, c.lifted, c.skipped_enforced), (1, 1, 1));
            assert!(
                store
                    .optout(acc, &num("0412000001"))
                    .await
                    .unwrap()
                    .is_none()
            );
            assert!(
                store
                    .optout(acc, &num("0412000002"))
                    .await
                    .unwrap()
                    .is_some()
            );
            let events = store.number_events(acc, &num("0412000001")).await.unwrap();
            let last = &events.last().unwrap().event.content;
            assert_eq!(last.source.as_str(), "import_reset");
            assert_eq!(
                last.reason.as_deref(),
                Some("customers re-consented at the counter")
            );
        }
    }

    /// A new contact import into a new group "G" of `acc`: (group, import id).
    async fn contact_import(
        store: &Arc<dyn Store>,
        acc: AccountId,
        reset: Option<&Reason>,
    ) -> (GroupId, i64) {
        let g = store
            .create_group(acc, &GroupName::parse("G").unwrap(), NOW)
            .await
            .unwrap();
        let actor = Actor::cli("tester");
        let new = NewImport {
            account: acc,
            group: Some(g.id),
            kind: ImportKind::Contacts,
            file_name: "c.csv",
            dry_run: false,
            reset,
            actor: &actor,
        };
        (g.id, store.create_import(&new, NOW).await.unwrap())
    }

    /// The numbers a group shows.
    async fn shown(store: &Arc<dyn Store>, acc: AccountId, g: GroupId) -> Vec<String> {
        let page = store
            .list_contacts(acc, Some(g), None, None, 100)
            .await
            .unwrap();
        let mut n: Vec<String> = page
            .items
            .iter()
            .map(|c| c.number.as_str().to_owned())
            .collect();
        n.sort();
        n
    }

    /// Interleaves opt-outs with the staged batches of a reset import, deterministically: a
    /// STOP from a number already staged as a hidden row, a repeated STOP from a number whose
    /// lift is staged, and an opt-out before its number's batch. Every one of them wins; the
    /// only lift is of an opt-out listed before the import started and untouched since; and
    /// nothing of the import is seen until it is published.
    #[tokio::test]
    async fn an_opt_out_recorded_while_an_import_is_staged_wins_even_over_a_reset() {
        let reply = OptOutEvent::ReplyOptOut {
            matched_campaign: false,
        };
        for store in fresh_stores().await.unwrap() {
            let acc = account(&store, "a").await;
            for n in ["0412000001", "0412000002"] {
                store
                    .apply_optout(
                        acc,
                        &cmd(&num(n), OptOutEvent::Added(AddedBy::Manual)),
                        NOW - 1_000,
                    )
                    .await
                    .unwrap();
            }
            let reason = Reason::parse("re-consented in store").unwrap();
            let (g, id) = contact_import(&store, acc, Some(&reason)).await;
            store.open_import(acc, id).await.unwrap();
            let first = [
                staged(1, "0412000001", "A"),
                staged(2, "0412000003", "C"),
                staged(4, "0412000005", "E"),
            ];
            let c1 = store.stage_import(acc, id, &first, 3, 0).await.unwrap();
            assert_eq!((c1.imported, c1.lifted), (3, 1));
            // While the import is staged: STOP from a staged number, STOP again from a number
            // whose lift is staged, and an opt-out of a number before its batch.
            for n in ["0412000003", "0412000001", "0412000004"] {
                store
                    .apply_optout(acc, &cmd(&num(n), reply), NOW + 5)
                    .await
                    .unwrap();
            }
            let second = [staged(3, "0412000002", "B"), staged(5, "0412000004", "D")];
            let c2 = store.stage_import(acc, id, &second, 5, 0).await.unwrap();
            // (Enforce Global Optouts is on by default: the reply opt-out is kept out by it.)
            assert_eq!((c2.imported, c2.lifted, c2.skipped_enforced), (1, 1, 1));
            // Nothing of it is seen yet, and nothing is lifted yet.
            assert!(shown(&store, acc, g).await.is_empty());
            assert_eq!(store.group(acc, g).await.unwrap().unwrap().contact_count, 0);
            assert!(
                store
                    .optout(acc, &num("0412000002"))
                    .await
                    .unwrap()
                    .is_some()
            );
            let staged_counts = ImportCounts {
                rows_read: 5,
                imported: c1.imported + c2.imported,
                lifted: c1.lifted + c2.lifted,
                skipped_enforced: c2.skipped_enforced,
                ..Default::default()
            };
            let counts = store
                .publish_import(acc, id, &staged_counts, &[], NOW + 10)
                .await
                .unwrap();
            assert_eq!(
                shown(&store, acc, g).await,
                vec!["+61412000002", "+61412000005"]
            );
            assert_eq!(store.group(acc, g).await.unwrap().unwrap().contact_count, 2);
            assert_eq!(
                (counts.imported, counts.lifted, counts.skipped_opted_out),
                (2, 1, 2)
            );
            for (n, out) in [
                ("0412000001", true),
                ("0412000002", false),
                ("0412000003", true),
                ("0412000004", true),
            ] {
                assert_eq!(
                    store.optout(acc, &num(n)).await.unwrap().is_some(),
                    out,
                    "{n}"
                );
            }
            // One lift event, in the switch, for the one number lifted; the chain holds.
            let chain: Vec<_> = store
                .events_after(acc, 0, 100)
                .await
                .unwrap()
                .into_iter()
                .map(|e| e.event)
                .collect();
            let lifts: Vec<_> = chain
                .iter()
                .filter(|e| e.content.kind == stoplist_domain::ledger::EventKind::OptedIn)
                .collect();
            assert_eq!(lifts.len(), 1);
            assert_eq!(lifts[0].content.number, "+61412000002");
            stoplist_domain::ledger::verify_chain(
                (0, stoplist_domain::ledger::Digest32::GENESIS),
                &chain,
            )
            .unwrap();
        }
    }

    /// A group deleted while its import is staged: the next batch and the publish step are
    /// refused, and none of the import remains.
    #[tokio::test]
    async fn an_import_into_a_group_deleted_meanwhile_is_refused_and_leaves_nothing() {
        for store in fresh_stores().await.unwrap() {
            let acc = account(&store, "a").await;
            let (g, id) = contact_import(&store, acc, None).await;
            store.open_import(acc, id).await.unwrap();
            store
                .stage_import(acc, id, &[staged(1, "0412000001", "A")], 1, 0)
                .await
                .unwrap();
            store.delete_group(acc, g).await.unwrap();
            assert!(matches!(
                store
                    .stage_import(acc, id, &[staged(2, "0412000002", "B")], 2, 0)
                    .await,
                Err(StoreError::NotFound("group"))
            ));
            assert!(matches!(
                store
                    .publish_import(acc, id, &ImportCounts::default(), &[], NOW)
                    .await,
                Err(StoreError::NotFound("group"))
            ));
            let all = store
                .list_contacts(acc, None, None, None, 10)
                .await
                .unwrap();
            assert!(all.items.is_empty());
        }
    }

    #[tokio::test]
    async fn a_dry_run_counts_without_changing_anything() {
        for store in fresh_stores().await.unwrap() {
            let acc = account(&store, "a").await;
            let g = store
                .create_group(acc, &GroupName::parse("G").unwrap(), NOW)
                .await
                .unwrap();
            store
                .apply_optout(
                    acc,
                    &cmd(&num("0412000001"), OptOutEvent::Added(AddedBy::Upload)),
                    NOW,
                )
                .await
                .unwrap();
            let reason = Reason::parse("r").unwrap();
            let rows = [
                staged(2, "0412000001", "Ann"),
                staged(3, "0412000009", "Zed"),
            ];
            let (_, c) = import(
                &store,
                acc,
                Some(g.id),
                ImportKind::Contacts,
                Some(&reason),
                true,
                &rows,
            )
            .await;
            assert_eq!((c.imported, c.lifted), (2, 1));
            assert_eq!(
                store.group(acc, g.id).await.unwrap().unwrap().contact_count,
                0
            );
            assert!(
                store
                    .optout(acc, &num("0412000001"))
                    .await
                    .unwrap()
                    .is_some()
            );
            assert_eq!(store.events_after(acc, 0, 10).await.unwrap().len(), 1);
        }
    }

    #[tokio::test]
    async fn an_upload_lists_new_numbers_once_with_evidence() {
        for store in fresh_stores().await.unwrap() {
            let acc = account(&store, "a").await;
            store
                .apply_optout(
                    acc,
                    &cmd(&num("0412000001"), OptOutEvent::Added(AddedBy::Api)),
                    NOW,
                )
                .await
                .unwrap();
            let rows = [staged(1, "0412000001", ""), staged(2, "0412000002", "")];
            let (_, c) = import(&store, acc, None, ImportKind::OptOuts, None, false, &rows).await;
            assert_eq!((c.imported, c.updated), (1, 1));
            let o = store
                .optout(acc, &num("0412000002"))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(o.source, OptOutSource::Upload);
            assert!(o.evidence.unwrap().contains("\"c.csv\" row 2"));
            let chain: Vec<_> = store
                .events_after(acc, 0, 10)
                .await
                .unwrap()
                .into_iter()
                .map(|e| e.event)
                .collect();
            stoplist_domain::ledger::verify_chain(
                (0, stoplist_domain::ledger::Digest32::GENESIS),
                &chain,
            )
            .unwrap();
        }
    }

    #[tokio::test]
    async fn a_dry_run_records_its_opted_out_rows_among_the_rejected_ones() {
        for store in fresh_stores().await.unwrap() {
            let acc = account(&store, "a").await;
            let g = store
                .create_group(acc, &GroupName::parse("G").unwrap(), NOW)
                .await
                .unwrap();
            store
                .apply_optout(
                    acc,
                    &cmd(&num("0412000002"), OptOutEvent::Added(AddedBy::Manual)),
                    NOW,
                )
                .await
                .unwrap();
            let rows = [
                staged(2, "0412000001", "Ann"),
                staged(3, "0412000002", "Bob"),
            ];
            let (id, c) = import(
                &store,
                acc,
                Some(g.id),
                ImportKind::Contacts,
                None,
                true,
                &rows,
            )
            .await;
            assert_eq!((c.imported, c.skipped_opted_out), (1, 1));
            let rejects = store.import_rejects(acc, id, 0, 100).await.unwrap();
            let reasons: Vec<_> = rejects.iter().map(|r| (r.row, r.reason.as_str())).collect();
            assert_eq!(reasons, [(3, "opted out"), (99, "not a number")]);
            assert_eq!(
                store.group(acc, g.id).await.unwrap().unwrap().contact_count,
                0
            );
        }
    }

    #[tokio::test]
    async fn a_large_upload_chains_one_event_per_new_number_across_statements() {
        for store in fresh_stores().await.unwrap() {
            let acc = account(&store, "a").await;
            store
                .apply_optout(
                    acc,
                    &cmd(&num("0412000007"), OptOutEvent::Added(AddedBy::Api)),
                    NOW,
                )
                .await
                .unwrap();
            let rows: Vec<_> = (0..1_203)
                .map(|i| staged(i + 1, &format!("04120{:05}", i), ""))
                .collect();
            let (_, c) = import(&store, acc, None, ImportKind::OptOuts, None, false, &rows).await;
            assert_eq!((c.imported, c.updated), (1_202, 1));
            assert_eq!(store.count_optouts(acc).await.unwrap(), 1_203);
            let chain: Vec<_> = store
                .events_after(acc, 0, 2_000)
                .await
                .unwrap()
                .into_iter()
                .map(|e| e.event)
                .collect();
            assert_eq!(chain.len(), 1_203);
            stoplist_domain::ledger::verify_chain(
                (0, stoplist_domain::ledger::Digest32::GENESIS),
                &chain,
            )
            .unwrap();
        }
    }

    #[tokio::test]
    async fn a_reimport_updates_fields_and_keeps_those_the_file_leaves_empty() {
        for store in fresh_stores().await.unwrap() {
            let acc = account(&store, "a").await;
            let g = store
                .create_group(acc, &GroupName::parse("G").unwrap(), NOW)
                .await
                .unwrap();
            let full = StagedRow {
                row: 2,
                number: num("0412000001"),
                fields: ContactFields::parse(Some("Ann"), Some("Lee"), None).unwrap(),
            };
            import(
                &store,
                acc,
                Some(g.id),
                ImportKind::Contacts,
                None,
                false,
                &[full],
            )
            .await;
            let (_, c) = import(
                &store,
                acc,
                Some(g.id),
                ImportKind::Contacts,
                None,
                false,
                &[staged(2, "0412000001", "Anne")],
            )
            .await;
            assert_eq!((c.imported, c.updated), (0, 1));
            let page = store
                .list_contacts(acc, Some(g.id), None, None, 10)
                .await
                .unwrap();
            let f = &page.items[0].fields;
            assert_eq!(
                (f.first_name.as_deref(), f.last_name.as_deref()),
                (Some("Anne"), Some("Lee"))
            );
        }
    }

    #[tokio::test]
    async fn an_interrupted_import_is_marked_failed_and_changes_nothing() {
        for store in fresh_stores().await.unwrap() {
            let acc = account(&store, "a").await;
            let g = store
                .create_group(acc, &GroupName::parse("G").unwrap(), NOW)
                .await
                .unwrap();
            let actor = Actor::cli("tester");
            let new = NewImport {
                account: acc,
                group: Some(g.id),
                kind: ImportKind::Contacts,
                file_name: "big.csv",
                dry_run: false,
                reset: None,
                actor: &actor,
            };
            let id = store.create_import(&new, NOW).await.unwrap();
            store.note_import(id, &[], 1, 0, NOW).await.unwrap();
            store.open_import(acc, id).await.unwrap();
            store
                .stage_import(acc, id, &[staged(2, "0412000001", "Ann")], 1, 0)
                .await
                .unwrap();
            // Staged, it is seen nowhere.
            assert_eq!(
                store.group(acc, g.id).await.unwrap().unwrap().contact_count,
                0
            );
            let page = store
                .list_contacts(acc, Some(g.id), None, None, 10)
                .await
                .unwrap();
            assert!(page.items.is_empty());
            // A second import into the group is refused while this one is unfinished.
            let second = store.create_import(&new, NOW).await.unwrap();
            assert!(matches!(
                store.open_import(acc, second).await,
                Err(StoreError::Conflict { .. })
            ));
            // The process dies here; a later start fails what is stale (its heartbeat is the
            // clock's; the refused second import is stale too) and clears its rows.
            assert_eq!(
                store
                    .fail_stale_imports(i64::MAX, NOW + 60_000)
                    .await
                    .unwrap(),
                2
            );
            let rec = store.import(acc, id).await.unwrap().unwrap();
            assert_eq!(rec.status, ImportStatus::Failed);
            assert!(rec.error.unwrap().contains("interrupted"));
            assert_eq!(store.discard_imports().await.unwrap(), 1);
            assert_eq!(store.discard_imports().await.unwrap(), 0);
            // Its hidden row is gone: a manual add of the number is a plain new contact.
            contact(&store, acc, g.id, &num("0412000001")).await;
            assert_eq!(
                store.group(acc, g.id).await.unwrap().unwrap().contact_count,
                1
            );
        }
    }
}

#[tokio::test]
async fn a_batch_of_replies_commits_together_and_one_failure_is_its_own() {
    use stoplist_store::{Answer, NewReply, Recording, ReplyEffects};
    for store in fresh_stores().await.unwrap() {
        let acc = account(&store, "a").await;
        let numbers: Vec<PhoneNumber> = (0..5).map(|i| num(&format!("+6141200000{i}"))).collect();
        let ids: Vec<String> = (0..5).map(|i| format!("m{i}")).collect();
        let replies: Vec<NewReply<'_>> = (0..5)
            .map(|i| NewReply {
                // The third names an account that does not exist: its insert fails.
                account: if i == 2 { AccountId(9_999) } else { acc },
                provider: "generic",
                provider_message_id: &ids[i],
                from: numbers[i].as_str(),
                to: "+61400000000",
                body: "STOP",
                class: "opt_out",
                tier: "keyword",
                matched: Some("STOP"),
                language: Some("en"),
                matched_message: None,
                matched_campaign: None,
                review: None,
                received_at: NOW,
            })
            .collect();
        let effects: Vec<ReplyEffects> = numbers
            .iter()
            .map(|n| ReplyEffects {
                optout: Some(OptOutCommand {
                    event: OptOutEvent::ReplyOptOut {
                        matched_campaign: false,
                    },
                    ..cmd(n, OptOutEvent::ReplyOptIn)
                }),
                optout_confirmation: Some(Answer {
                    sender_id: "ACME".into(),
                    body: "You are unsubscribed".into(),
                }),
                ..ReplyEffects::default()
            })
            .collect();
        let batch: Vec<Recording<'_>> = replies
            .iter()
            .zip(&effects)
            .map(|(reply, effects)| Recording { reply, effects })
            .collect();
        let results = store.record_replies(&batch, NOW).await.unwrap();
        assert_eq!(results.len(), 5);
        for (i, r) in results.iter().enumerate() {
            if i == 2 {
                assert!(r.is_err(), "the reply of an unknown account fails: {r:?}");
                continue;
            }
            let r = r.as_ref().unwrap();
            assert!(!r.duplicate);
            assert!(r.actions.contains(&"opted_out".to_owned()), "{r:?}");
            assert!(r.actions.contains(&"confirmation queued".to_owned()));
            assert!(store.optout(acc, &numbers[i]).await.unwrap().is_some());
        }
        // The failed one left nothing behind; the others each appended one event.
        assert!(store.optout(acc, &numbers[2]).await.unwrap().is_none());
        assert_eq!(store.count_optouts(acc).await.unwrap(), 4);
        let events = store.events_after(acc, 0, 100).await.unwrap();
        let chain: Vec<_> = events.iter().map(|e| e.event.clone()).collect();
        let head = stoplist_domain::ledger::verify_chain(
            (0, stoplist_domain::ledger::Digest32::GENESIS),
            &chain,
        )
        .unwrap();
        assert_eq!(head.0, 4, "one event for each reply that committed");

        // The same batch again: every stored reply is a redelivery, answered with the first
        // delivery's actions, and nothing changes; the failed one is recorded this time if
        // its account exists (it does not: still its own error).
        let again = store.record_replies(&batch, NOW + 1).await.unwrap();
        for (i, r) in again.iter().enumerate() {
            if i == 2 {
                assert!(r.is_err());
                continue;
            }
            let (r, first) = (r.as_ref().unwrap(), results[i].as_ref().unwrap());
            assert!(r.duplicate);
            assert_eq!((r.id, &r.actions), (first.id, &first.actions));
        }
        assert_eq!(store.count_optouts(acc).await.unwrap(), 4);

        // A redelivery inside the batch that stored it is a duplicate of that first one.
        let fresh: Vec<NewReply<'_>> = vec![NewReply {
            provider_message_id: "m-twice",
            ..replies[0].clone()
        }];
        let twice_new = [
            Recording {
                reply: &fresh[0],
                effects: &effects[0],
            },
            Recording {
                reply: &fresh[0],
                effects: &effects[0],
            },
        ];
        let both = store.record_replies(&twice_new, NOW + 2).await.unwrap();
        let (a, b) = (both[0].as_ref().unwrap(), both[1].as_ref().unwrap());
        assert!(!a.duplicate && b.duplicate);
        assert_eq!(a.id, b.id);
        assert_eq!(
            a.actions, b.actions,
            "the redelivery answers the first's actions"
        );
    }
}

#[tokio::test]
async fn a_stop_and_an_opt_in_from_one_number_in_one_batch_apply_in_order() {
    use stoplist_store::{Answer, NewReply, Recording, ReplyEffects};
    for store in fresh_stores().await.unwrap() {
        let acc = account(&store, "a").await;
        let (n, other) = (num("+61412000001"), num("+61412000002"));
        fn reply<'a>(acc: AccountId, id: &'a str, from: &'a str, body: &'a str) -> NewReply<'a> {
            NewReply {
                account: acc,
                provider: "generic",
                provider_message_id: id,
                from,
                to: "+61400000000",
                body,
                class: if body == "STOP" { "opt_out" } else { "opt_in" },
                tier: "keyword",
                matched: Some(body),
                language: Some("en"),
                matched_message: None,
                matched_campaign: None,
                review: None,
                received_at: NOW,
            }
        }
        let replies = [
            reply(acc, "r1", n.as_str(), "STOP"),
            reply(acc, "r2", other.as_str(), "STOP"),
            reply(acc, "r3", n.as_str(), "START"),
        ];
        let answer = |body: &str| {
            Some(Answer {
                sender_id: "ACME".into(),
                body: body.into(),
            })
        };
        let stop = |number: &PhoneNumber| ReplyEffects {
            optout: Some(cmd(
                number,
                OptOutEvent::ReplyOptOut {
                    matched_campaign: false,
                },
            )),
            optout_confirmation: answer("You are unsubscribed"),
            ..ReplyEffects::default()
        };
        let effects = [
            stop(&n),
            stop(&other),
            ReplyEffects {
                optout: Some(cmd(&n, OptOutEvent::ReplyOptIn)),
                optin_confirmation: answer("You are subscribed again"),
                ..ReplyEffects::default()
            },
        ];
        let batch: Vec<Recording<'_>> = replies
            .iter()
            .zip(&effects)
            .map(|(reply, effects)| Recording { reply, effects })
            .collect();
        let results = store.record_replies(&batch, NOW).await.unwrap();
        let actions: Vec<Vec<String>> = results
            .iter()
            .map(|r| r.as_ref().unwrap().actions.clone())
            .collect();
        assert_eq!(actions[0], ["opted_out", "confirmation queued"]);
        assert_eq!(actions[1], ["opted_out", "confirmation queued"]);
        assert_eq!(actions[2], ["opted_in", "confirmation queued"]);
        // The opt-in, second, wins for its number; the other number stays listed.
        assert!(store.optout(acc, &n).await.unwrap().is_none());
        assert!(store.optout(acc, &other).await.unwrap().is_some());
        // Three events, chained in the batch's order.
        let events = store.events_after(acc, 0, 100).await.unwrap();
        let chain: Vec<_> = events.iter().map(|e| e.event.clone()).collect();
        let head = stoplist_domain::ledger::verify_chain(
            (0, stoplist_domain::ledger::Digest32::GENESIS),
            &chain,
        )
        .unwrap();
        assert_eq!(head.0, 3);
        let kinds: Vec<(String, &str)> = events
            .iter()
            .map(|e| {
                (
                    e.event.content.number.clone(),
                    e.event.content.kind.as_str(),
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                (n.as_str().to_owned(), "opted_out"),
                (other.as_str().to_owned(), "opted_out"),
                (n.as_str().to_owned(), "opted_in"),
            ]
        );
        // The stored actions (the Incoming report's) are the answered ones.
        for (r, want) in results.iter().zip(&actions) {
            let stored = store
                .reply(acc, r.as_ref().unwrap().id)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(&stored.actions, want);
        }
    }
}

#[tokio::test]
async fn a_search_for_percent_underscore_or_backslash_matches_them_literally() {
    for store in fresh_stores().await.unwrap() {
        let acc = account(&store, "a").await;
        let g = store
            .create_group(acc, &GroupName::parse("G").unwrap(), NOW)
            .await
            .unwrap();
        for (i, name) in ["Ann", "Bob", "100% Pure", "snake_case", r"back\slash"]
            .iter()
            .enumerate()
        {
            let f = ContactFields::parse(Some(name), None, None).unwrap();
            let n = num(&format!("04123450{i:02}"));
            store.create_contact(acc, g.id, &n, &f, NOW).await.unwrap();
        }
        let names = |page: stoplist_store::Page<stoplist_store::Contact>| -> Vec<String> {
            page.items
                .into_iter()
                .filter_map(|c| c.fields.first_name)
                .collect()
        };
        for (search, found) in [
            ("%", vec!["100% Pure"]),
            ("_", vec!["snake_case"]),
            ("e_c", vec!["snake_case"]),
            (r"\", vec![r"back\slash"]),
            ("%%", vec![]),
            ("a_n", vec![]),
        ] {
            let page = store
                .list_contacts(acc, None, Some(search), None, 50)
                .await
                .unwrap();
            assert_eq!(names(page), found, "search {search:?}");
        }
        // The opt-out list is searched by digits: `%` and `_` are no digits, so match nothing.
        for i in 0..3 {
            store
                .apply_optout(
                    acc,
                    &cmd(
                        &num(&format!("04123450{i:02}")),
                        OptOutEvent::Added(AddedBy::Manual),
                    ),
                    NOW,
                )
                .await
                .unwrap();
        }
        for search in ["%", "_", "%_%"] {
            let page = store
                .list_optouts(acc, Some(search), None, 50)
                .await
                .unwrap();
            assert!(page.items.is_empty(), "search {search:?}");
        }
        let page = store
            .list_optouts(acc, Some("4_1%2"), None, 50)
            .await
            .unwrap();
        assert_eq!(page.items.len(), 3, "the digits of a search still find");
    }
}

#[tokio::test]
async fn reply_parts_older_than_the_cut_off_never_combine_and_are_swept() {
    use stoplist_store::ReplyPart;
    const DAY: i64 = 24 * 60 * 60 * 1000;
    for store in fresh_stores().await.unwrap() {
        let acc = account(&store, "a").await;
        let part = |reference: &'static str, index: i64, body: &'static str, at: i64| ReplyPart {
            account: acc,
            provider: "vonage",
            from: "+61412345678",
            to: "+61400000000",
            reference,
            total: 2,
            part: index,
            provider_message_id: body,
            body,
            received_at: at,
            stored_at: at,
            expired_before: at - DAY,
        };
        // Part 1 of "old" waits two days; part 2 arrives: the stale part is dropped, not joined.
        assert_eq!(
            store
                .add_reply_part(&part("old", 1, "stale ", NOW))
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            store
                .add_reply_part(&part("old", 2, "tail", NOW + 2 * DAY))
                .await
                .unwrap(),
            None,
            "a part two days old does not complete the message"
        );
        // Its own part 1, resent now, completes it.
        assert_eq!(
            store
                .add_reply_part(&part("old", 1, "fresh ", NOW + 2 * DAY))
                .await
                .unwrap(),
            Some(vec![
                ("fresh ".to_owned(), "fresh ".to_owned()),
                ("tail".to_owned(), "tail".to_owned())
            ])
        );
        // A part left waiting is swept once it is older than the cut-off, and only then.
        store
            .add_reply_part(&part("lonely", 1, "alone", NOW))
            .await
            .unwrap();
        assert_eq!(store.expire_reply_parts(NOW).await.unwrap(), 0);
        assert_eq!(store.expire_reply_parts(NOW + 1).await.unwrap(), 1);
        assert_eq!(
            store
                .add_reply_part(&part("lonely", 2, "late", NOW + 2))
                .await
                .unwrap(),
            None,
            "its swept part is gone"
        );
    }
}

#[tokio::test]
async fn an_ended_campaigns_file_is_listed_until_it_is_forgotten() {
    use stoplist_store::{CampaignAction, CampaignFile, NewCampaign};
    for store in fresh_stores().await.unwrap() {
        let acc = account(&store, "a").await;
        let actor = Actor::cli("tester");
        let new = |name: &'static str| NewCampaign {
            account: acc,
            name,
            sender_id: "ACME",
            message: "Hello",
            groups: &[],
            numbers: &[],
            actor: &actor,
        };
        let ended = store.create_campaign(&new("ended"), NOW).await.unwrap();
        let draft = store.create_campaign(&new("draft"), NOW).await.unwrap();
        for (c, path) in [(&ended, "/tmp/ended.csv"), (&draft, "/tmp/draft.csv")] {
            let file = CampaignFile {
                name: "people.csv".into(),
                path: Some(path.into()),
                column: Some("Mobile".into()),
            };
            store
                .set_campaign_file(acc, c.id, Some(&file))
                .await
                .unwrap();
        }
        store
            .control_campaign(acc, ended.id, CampaignAction::Cancel, NOW + 10)
            .await
            .unwrap();
        // Only the ended campaign's file, and only once its end is before the cut-off.
        assert!(
            store
                .ended_campaign_files(NOW + 9, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store.ended_campaign_files(NOW + 10, 10).await.unwrap(),
            vec![(ended.id, "/tmp/ended.csv".to_owned())]
        );
        store
            .forget_campaign_file(ended.id, "/tmp/ended.csv")
            .await
            .unwrap();
        assert!(
            store
                .ended_campaign_files(NOW + 10, 10)
                .await
                .unwrap()
                .is_empty()
        );
        // The campaign still says which file it was sent to.
        let c = store.campaign(acc, ended.id).await.unwrap().unwrap();
        let file = c.file.expect("the file's name stays");
        assert_eq!((file.name.as_str(), file.path), ("people.csv", None));
        assert_eq!(file.column.as_deref(), Some("Mobile"));
        let d = store.campaign(acc, draft.id).await.unwrap().unwrap();
        assert_eq!(
            d.file.and_then(|f| f.path).as_deref(),
            Some("/tmp/draft.csv")
        );
    }
}
