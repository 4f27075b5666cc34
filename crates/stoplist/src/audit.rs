//! Recording security events in the account's audit log (docs/architecture.md, "Audit
//! log"). A failure to record is logged and does not undo what was done: the event itself
//! (a login, a key revoked) must not fail because the log could not be written.

use crate::state::AppState;
use stoplist_domain::{AccountId, Actor, AuditEvent};
use stoplist_store::{NewAuditEntry, Store, User};

/// Longest subject or detail kept (a login name is at most 254 characters already).
const MAX_TEXT: usize = 300;

/// Records `event` done by `actor` about `subject`.
pub async fn record(
    store: &dyn Store,
    account: AccountId,
    event: AuditEvent,
    actor: &Actor,
    subject: &str,
    detail: &str,
    address: &str,
) {
    let entry = NewAuditEntry {
        event,
        actor,
        subject: clip(subject),
        detail: clip(detail),
        address: clip(address),
        at: crate::now_ms(),
    };
    if let Err(e) = store.record_audit(account, &entry).await {
        tracing::error!(error = %e, event = event.as_str(), "could not record a security event");
    }
}

/// Records `event` done by `user` about themselves (logins, logouts, second factors).
pub async fn record_user(
    state: &AppState,
    user: &User,
    event: AuditEvent,
    detail: &str,
    address: &str,
) {
    let actor = Actor::user(user.id.0, &user.login);
    record(
        state.store.as_ref(),
        user.account_id,
        event,
        &actor,
        &user.login,
        detail,
        address,
    )
    .await;
}

fn clip(s: &str) -> &str {
    match s.char_indices().nth(MAX_TEXT) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Records a change of where the account's data goes (`what`: "connector", "vonage
/// signature", "notifications") and, when a secret came with it, the secret's change.
pub async fn outbound_changed(
    state: &AppState,
    account: AccountId,
    by: &crate::users::Asker,
    what: &str,
    detail: &str,
    secret_given: bool,
) {
    let store = state.store.as_ref();
    let (actor, address) = (&by.actor, by.address.as_str());
    let event = AuditEvent::ConnectorChanged;
    record(store, account, event, actor, what, detail, address).await;
    if secret_given {
        let event = AuditEvent::SecretChanged;
        record(
            store,
            account,
            event,
            actor,
            what,
            "a new secret was stored",
            address,
        )
        .await;
    }
}
