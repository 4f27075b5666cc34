//! The user service: adding users, changing roles, disabling and deleting, passwords,
//! sessions, API keys and two-factor login, each recorded in the audit log. Used by the web
//! UI, the API and the CLI alike; who may call what is decided before (`web::access`).

use crate::audit;
use crate::auth;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::totp;
use stoplist_domain::{AccountId, Actor, ApiKeyId, AuditEvent, Role, UserId};
use stoplist_store::{ApiKey, User, UserChange};

/// Who asks, for the audit log: the actor and the client address (empty from the CLI).
pub struct Asker {
    pub actor: Actor,
    pub address: String,
}

impl Asker {
    /// The CLI's operator (no address).
    pub fn cli() -> Asker {
        Asker {
            actor: crate::cli::operator(),
            address: String::new(),
        }
    }
}

async fn note(
    state: &AppState,
    account: AccountId,
    event: AuditEvent,
    by: &Asker,
    subject: &str,
    detail: &str,
) {
    audit::record(
        state.store.as_ref(),
        account,
        event,
        &by.actor,
        subject,
        detail,
        &by.address,
    )
    .await;
}

async fn user_of(state: &AppState, account: AccountId, id: UserId) -> AppResult<User> {
    state
        .store
        .user(account, id)
        .await?
        .ok_or(AppError::NotFound("user"))
}

/// Finds a user of the account by login.
pub async fn user_named(state: &AppState, account: AccountId, login: &str) -> AppResult<User> {
    state
        .store
        .list_users(account)
        .await?
        .into_iter()
        .find(|u| u.login.eq_ignore_ascii_case(login.trim()))
        .ok_or_else(|| {
            AppError::invalid(
                "unknown_user",
                "login",
                format!("no user {:?} in this account", login.trim()),
            )
        })
}

/// Adds a user with a role.
pub async fn add(
    state: &AppState,
    account: AccountId,
    login: &str,
    password: &str,
    role: Role,
    by: &Asker,
) -> AppResult<User> {
    let user =
        crate::accounts::create_user(state.store.as_ref(), account, login, password, role).await?;
    note(
        state,
        account,
        AuditEvent::UserAdded,
        by,
        &user.login,
        role.as_str(),
    )
    .await;
    Ok(user)
}

/// Changes a user's role and/or disabled state. Disabling ends their sessions at once and
/// stops their keys on this instance at once (elsewhere within the key cache's lifetime).
pub async fn change(
    state: &AppState,
    account: AccountId,
    id: UserId,
    role: Option<Role>,
    disabled: Option<bool>,
    by: &Asker,
) -> AppResult<User> {
    let before = user_of(state, account, id).await?;
    let change = UserChange {
        role: role.filter(|r| *r != before.role),
        disabled_at: match disabled {
            Some(true) if before.is_active() => Some(Some(crate::now_ms())),
            Some(false) if !before.is_active() => Some(None),
            _ => None,
        },
    };
    if change == UserChange::default() {
        return Ok(before);
    }
    let after = state.store.change_user(account, id, &change).await?;
    state.keys.forget_maker(id);
    if let Some(r) = change.role {
        let detail = format!("{} → {}", before.role, r);
        note(
            state,
            account,
            AuditEvent::RoleChanged,
            by,
            &after.login,
            &detail,
        )
        .await;
    }
    match change.disabled_at {
        Some(Some(_)) => {
            note(
                state,
                account,
                AuditEvent::UserDisabled,
                by,
                &after.login,
                "",
            )
            .await
        }
        Some(None) => {
            note(
                state,
                account,
                AuditEvent::UserEnabled,
                by,
                &after.login,
                "",
            )
            .await
        }
        None => {}
    }
    Ok(after)
}

/// Deletes a user; their keys are revoked and their sessions end.
pub async fn delete(state: &AppState, account: AccountId, id: UserId, by: &Asker) -> AppResult<()> {
    let gone = state
        .store
        .delete_user(account, id, crate::now_ms())
        .await?;
    state.keys.forget_maker(id);
    note(state, account, AuditEvent::UserDeleted, by, &gone.login, "").await;
    Ok(())
}

/// An owner sets another user's password; every session of that user ends.
pub async fn reset_password(
    state: &AppState,
    account: AccountId,
    id: UserId,
    password: &str,
    by: &Asker,
) -> AppResult<()> {
    let user = user_of(state, account, id).await?;
    let hash = auth::hash_password(password.to_owned()).await?;
    state.store.set_password(account, id, &hash, None).await?;
    note(
        state,
        account,
        AuditEvent::PasswordReset,
        by,
        &user.login,
        "",
    )
    .await;
    Ok(())
}

/// Whether `password` is the user's password.
pub async fn password_is_right(state: &AppState, user: &User, password: &str) -> AppResult<bool> {
    let stored = state
        .store
        .user_credentials(&user.login)
        .await?
        .map(|(_, hash)| hash)
        .ok_or(AppError::NotFound("user"))?;
    Ok(auth::verify_password(password.to_owned(), stored).await)
}

/// A user changes their own password, giving the current one; their other sessions end.
pub async fn change_own_password(
    state: &AppState,
    user: &User,
    current: &str,
    new: &str,
    keep_session: Option<&str>,
    address: &str,
) -> AppResult<()> {
    if !password_is_right(state, user, current).await? {
        return Err(AppError::invalid(
            "wrong_password",
            "current_password",
            "the current password is not right",
        ));
    }
    let hash = auth::hash_password(new.to_owned()).await?;
    state
        .store
        .set_password(user.account_id, user.id, &hash, keep_session)
        .await?;
    audit::record_user(state, user, AuditEvent::PasswordChanged, "", address).await;
    Ok(())
}

/// Ends a user's sessions (one by its handle, or all). How many ended.
pub async fn revoke_sessions(
    state: &AppState,
    account: AccountId,
    user: &User,
    handle: Option<&str>,
    by: &Asker,
) -> AppResult<u64> {
    let n = state
        .store
        .revoke_sessions(account, user.id, handle)
        .await?;
    let detail = match handle {
        Some(h) => format!("session {h}"),
        None => format!("all ({n})"),
    };
    note(
        state,
        account,
        AuditEvent::SessionsRevoked,
        by,
        &user.login,
        &detail,
    )
    .await;
    Ok(n)
}

/// Makes an API key; only its hash is kept.
pub async fn create_key(
    state: &AppState,
    account: AccountId,
    name: &str,
    role: Role,
    maker: Option<&User>,
    by: &Asker,
) -> AppResult<(ApiKey, String)> {
    let made =
        crate::accounts::create_api_key(state.store.as_ref(), account, name, role, maker).await?;
    let detail = format!("{} key {}…", role, made.0.prefix);
    note(
        state,
        account,
        AuditEvent::KeyCreated,
        by,
        &made.0.name,
        &detail,
    )
    .await;
    Ok(made)
}

/// Revokes a key; this instance stops accepting it at once.
pub async fn revoke_key(
    state: &AppState,
    account: AccountId,
    id: ApiKeyId,
    by: &Asker,
) -> AppResult<()> {
    let name = state
        .store
        .list_api_keys(account)
        .await?
        .into_iter()
        .find(|k| k.id == id)
        .map(|k| k.name)
        .ok_or(AppError::NotFound("API key"))?;
    state
        .store
        .revoke_api_key(account, id, crate::now_ms())
        .await?;
    state.keys.forget(id);
    note(state, account, AuditEvent::KeyRevoked, by, &name, "").await;
    Ok(())
}

/// Turns on two-factor login for `user` with `secret` once `code` proves their app has it.
/// Returns the recovery codes, shown once.
pub async fn enable_two_factor(
    state: &AppState,
    user: &User,
    secret: &str,
    code: &str,
    address: &str,
) -> AppResult<Vec<String>> {
    let step = totp::matching_step(secret, code, crate::now_ms() / 1000).ok_or_else(|| {
        AppError::invalid(
            "wrong_code",
            "code",
            "that code does not match: check the time on your phone and enter the newest code",
        )
    })?;
    let codes = totp::new_recovery_codes();
    let hashes: Vec<String> = codes
        .iter()
        .map(|c| auth::secret_hash(&totp::normalize_recovery_code(c)))
        .collect();
    state
        .store
        .set_totp(user.account_id, user.id, Some(secret), &hashes)
        .await?;
    // The enrolling code is used: it cannot log anyone in afterwards.
    state.store.use_totp_step(user.id, step).await?;
    audit::record_user(state, user, AuditEvent::TwoFactorEnabled, "", address).await;
    Ok(codes)
}

/// Turns off a user's two-factor login (their own, or an owner's reset of another's).
pub async fn disable_two_factor(
    state: &AppState,
    account: AccountId,
    user: &User,
    by: &Asker,
) -> AppResult<()> {
    state.store.set_totp(account, user.id, None, &[]).await?;
    note(
        state,
        account,
        AuditEvent::TwoFactorDisabled,
        by,
        &user.login,
        "",
    )
    .await;
    Ok(())
}

/// Checks a second factor for `user`: a TOTP code (accepted once per step) or an unused
/// recovery code (used up). What was used, or `None` when it was wrong.
pub async fn check_second_factor(
    state: &AppState,
    user: &User,
    code: &str,
) -> AppResult<Option<&'static str>> {
    let code = code.trim();
    if code.len() > 64 {
        return Ok(None);
    }
    if let Some(secret) = state.store.totp_secret(user.id).await?
        && let Some(step) = totp::matching_step(&secret, code, crate::now_ms() / 1000)
    {
        return Ok(state
            .store
            .use_totp_step(user.id, step)
            .await?
            .then_some("password and authenticator code"));
    }
    let normal = totp::normalize_recovery_code(code);
    if normal.len() == 12
        && state
            .store
            .use_recovery_code(user.id, &auth::secret_hash(&normal), crate::now_ms())
            .await?
    {
        audit::record_user(state, user, AuditEvent::RecoveryCodeUsed, "", "").await;
        return Ok(Some("password and recovery code"));
    }
    Ok(None)
}

/// Sets whether the account requires two-factor login of every user.
pub async fn require_two_factor(
    state: &AppState,
    account: AccountId,
    on: bool,
    by: &Asker,
) -> AppResult<()> {
    state.store.set_requires_two_factor(account, on).await?;
    let detail = if on { "required" } else { "optional" };
    note(
        state,
        account,
        AuditEvent::TwoFactorRequired,
        by,
        "account",
        detail,
    )
    .await;
    Ok(())
}
