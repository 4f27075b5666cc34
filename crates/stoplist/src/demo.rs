//! `serve --demo`: sample groups, contacts and opt-outs in the default account, so that a
//! newcomer sees a living product. Loaded once (skipped when the account has groups).

use crate::state::AppState;
use stoplist_domain::names::{ContactFields, GroupName};
use stoplist_domain::rules::{AddedBy, OptOutEvent};
use stoplist_domain::{Actor, PhoneNumber, Region};
use stoplist_store::OptOutCommand;

const PEOPLE: &[(&str, &str, &str)] = &[
    ("0412 345 601", "Olivia", "Smith"),
    ("0412 345 602", "Jack", "Nguyen"),
    ("0412 345 603", "Charlotte", "Williams"),
    ("0412 345 604", "Noah", "Brown"),
    ("0412 345 605", "Amelia", "Jones"),
    ("0412 345 606", "Oliver", "Garcia"),
    ("0412 345 607", "Isla", "Wilson"),
    ("0412 345 608", "William", "Taylor"),
    ("0412 345 609", "Mia", "Anderson"),
    ("0412 345 610", "Henry", "Thomas"),
    ("0412 345 611", "Ava", "Martin"),
    ("0412 345 612", "Leo", "White"),
];

/// Loads the demo data; returns false when the default account already has groups.
pub async fn load(state: &AppState) -> anyhow::Result<bool> {
    let store = state.store.as_ref();
    let Some(account) = store.account_by_name("default").await? else {
        return Ok(false);
    };
    if !store.list_groups(account.id).await?.is_empty() {
        return Ok(false);
    }
    let now = crate::now_ms();
    let customers = store
        .create_group(account.id, &GroupName::parse("Customers")?, now)
        .await?;
    let vip = store
        .create_group(account.id, &GroupName::parse("VIP")?, now)
        .await?;
    for (i, (raw, first, last)) in PEOPLE.iter().enumerate() {
        let n = PhoneNumber::parse(raw, Region::AU)
            .map_err(|e| anyhow::anyhow!("demo number {raw}: {e}"))?;
        let email = format!(
            "{}.{}@example.com",
            first.to_lowercase(),
            last.to_lowercase()
        );
        let f = ContactFields::parse(Some(first), Some(last), Some(&email))?;
        store
            .create_contact(account.id, customers.id, &n, &f, now)
            .await?;
        if i % 3 == 0 {
            store
                .create_contact(account.id, vip.id, &n, &f, now)
                .await?;
        }
    }
    // Two opt-outs among the contacts (one by reply), and two numbers opted out elsewhere.
    let reply = OptOutCommand {
        number: PhoneNumber::parse(PEOPLE[1].0, Region::AU).map_err(|e| anyhow::anyhow!("{e}"))?,
        event: OptOutEvent::ReplyOptOut {
            matched_campaign: false,
        },
        actor: Actor {
            kind: stoplist_domain::ActorKind::Inbound,
            id: None,
            label: "demo reply".into(),
        },
        reason: None,
        evidence: Some("STOP".into()),
        campaign_groups: vec![],
    };
    state.optouts.apply(account.id, &reply).await?;
    for (raw, by) in [
        (PEOPLE[4].0, AddedBy::Manual),
        ("0498 765 432", AddedBy::Upload),
        ("+64 21 123 4567", AddedBy::Api),
    ] {
        let n = PhoneNumber::parse(raw, Region::AU)
            .map_err(|e| anyhow::anyhow!("demo number {raw}: {e}"))?;
        state
            .optouts
            .add(
                account.id,
                &n,
                by,
                Actor::system("demo"),
                Some("demo data".into()),
            )
            .await?;
    }
    Ok(true)
}
