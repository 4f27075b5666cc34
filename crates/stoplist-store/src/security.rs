//! Users, their roles and sessions, two-factor secrets and recovery codes, and the audit log
//! of security events: the store side of docs/architecture.md "Roles and users".
//!
//! **Invariant:** an account with users always keeps at least one active owner. Changing a
//! role, disabling or deleting a user is checked and applied in one write transaction that
//! no other user change of the account runs beside, and refused with
//! [`StoreError::LastOwner`] when it would leave none.

use crate::Result;
use crate::model::{AuditEntry, SessionInfo, User};
use async_trait::async_trait;
use stoplist_domain::{AccountId, Actor, AuditEvent, Role, UserId};

/// A security event to record.
#[derive(Debug, Clone)]
pub struct NewAuditEntry<'a> {
    pub event: AuditEvent,
    pub actor: &'a Actor,
    pub subject: &'a str,
    pub detail: &'a str,
    pub address: &'a str,
    pub at: i64,
}

/// A web session to open (only the hash of its token is kept).
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    pub token_hash: &'a str,
    pub user: UserId,
    pub csrf_token: &'a str,
    pub now: i64,
    pub expires_at: i64,
    /// The password was right and a second factor is awaited.
    pub awaiting_second_factor: bool,
    /// The client address it was opened from.
    pub address: &'a str,
}

/// An API key to make (only the hash of the key is kept).
#[derive(Debug, Clone)]
pub struct NewApiKey<'a> {
    pub name: &'a str,
    pub key_hash: &'a str,
    /// The first characters of the key, shown in lists.
    pub prefix: &'a str,
    pub role: Role,
    /// The user who made it (`None`: the CLI).
    pub created_by: Option<UserId>,
}

/// What changes about a user; each `None` leaves that part as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserChange {
    pub role: Option<Role>,
    /// `Some(Some(t))` disables the user at `t` (and ends their sessions); `Some(None)`
    /// enables them.
    pub disabled_at: Option<Option<i64>>,
}

/// Users, sessions, second factors and the audit log; part of [`crate::Store`].
#[async_trait]
pub trait SecurityStore: Send + Sync {
    /// A user of this account, by id.
    async fn user(&self, account: AccountId, id: UserId) -> Result<Option<User>>;
    /// The account's users, by login.
    async fn list_users(&self, account: AccountId) -> Result<Vec<User>>;
    /// Changes a user's role or disabled state; disabling ends their sessions. Refused with
    /// `LastOwner` when the account would be left without an active owner.
    async fn change_user(
        &self,
        account: AccountId,
        id: UserId,
        change: &UserChange,
    ) -> Result<User>;
    /// Deletes a user: their sessions and recovery codes go with them and their keys are
    /// revoked at `now`. Refused with `LastOwner` for the account's last active owner.
    async fn delete_user(&self, account: AccountId, id: UserId, now: i64) -> Result<User>;
    /// Replaces a user's password hash and ends every session of theirs but `keep` (the
    /// session that changed its own password, by token hash).
    async fn set_password(
        &self,
        account: AccountId,
        id: UserId,
        password_hash: &str,
        keep: Option<&str>,
    ) -> Result<()>;
    /// The live sessions of the account (or of one user), newest first.
    async fn list_sessions(
        &self,
        account: AccountId,
        user: Option<UserId>,
        now: i64,
    ) -> Result<Vec<SessionInfo>>;
    /// Ends a user's sessions: the one named by `handle`, or all of them. How many ended.
    async fn revoke_sessions(
        &self,
        account: AccountId,
        user: UserId,
        handle: Option<&str>,
    ) -> Result<u64>;
    /// Replaces a session that passed its second factor with a full one (a new token: the
    /// half-open session's token is never promoted). False when `old_hash` is not a live
    /// session awaiting its second factor.
    async fn complete_second_factor(
        &self,
        old_hash: &str,
        new_hash: &str,
        csrf_token: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<bool>;
    /// The user's TOTP secret (base32), when enrolled.
    async fn totp_secret(&self, user: UserId) -> Result<Option<String>>;
    /// Enrols the user (secret and the hashes of fresh recovery codes, replacing any old
    /// ones), or with `None` removes their second factor and recovery codes.
    async fn set_totp(
        &self,
        account: AccountId,
        user: UserId,
        secret: Option<&str>,
        recovery_hashes: &[String],
    ) -> Result<()>;
    /// Records that a code of time step `step` was accepted; false when a code of this step
    /// or a later one was accepted already (a code is never accepted twice).
    async fn use_totp_step(&self, user: UserId, step: i64) -> Result<bool>;
    /// Uses up a recovery code by its hash; false when it is unknown or used.
    async fn use_recovery_code(&self, user: UserId, code_hash: &str, now: i64) -> Result<bool>;
    /// How many unused recovery codes the user has.
    async fn recovery_codes_left(&self, user: UserId) -> Result<i64>;
    /// Whether the account requires two-factor login of every user.
    async fn requires_two_factor(&self, account: AccountId) -> Result<bool>;
    async fn set_requires_two_factor(&self, account: AccountId, on: bool) -> Result<()>;
    /// Appends a security event to the account's audit log.
    async fn record_audit(&self, account: AccountId, entry: &NewAuditEntry<'_>) -> Result<()>;
    /// The account's audit log, newest first, below id `before`, at most `limit` entries.
    async fn audit_log(
        &self,
        account: AccountId,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>>;
}

/// Instantiates [`SecurityStore`] for one backend. `$users_lock` (an `Option<&str>` taking
/// the account id as `$1`) serialises user changes of one account where the write
/// transaction alone does not (PostgreSQL).
macro_rules! security_impl {
    ($store:ident, $db:ident, $users_lock:expr) => {
        /// The `SecurityStore` implementation for this backend (SQL shared in `security.rs`).
        mod security_impl {
            use super::$store;
            use sqlx::Row as _;
            use stoplist_domain::{AccountId, AuditEvent, Role, UserId};
            use $crate::model::{AuditEntry, SessionInfo, User};
            use $crate::security::{NewAuditEntry, SecurityStore, UserChange};
            use $crate::sql::{UserRow, actor_from};
            use $crate::{Result, StoreError};

            const USER_BY_ID: &str = concat!(
                "SELECT ",
                user_columns!(),
                " FROM users u WHERE u.id = $1 AND u.account_id = $2"
            );

            /// Whether the account still has an active owner (inside the change's transaction).
            async fn has_active_owner(
                tx: &mut sqlx::Transaction<'static, sqlx::$db>,
                account: AccountId,
            ) -> Result<bool> {
                // -- any active owner left?
                let n: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM users WHERE account_id = $1 AND role = 'owner' AND disabled_at IS NULL",
                )
                .bind(account.0)
                .fetch_one(&mut **tx)
                .await?;
                Ok(n > 0)
            }

            /// A change that touched no row named no user of the account.
            fn some_user(rows: u64) -> Result<()> {
                if rows == 0 {
                    return Err(StoreError::NotFound("user"));
                }
                Ok(())
            }

            async fn lock_users(
                tx: &mut sqlx::Transaction<'static, sqlx::$db>,
                account: AccountId,
            ) -> Result<()> {
                if let Some(lock) = $users_lock {
                    sqlx::query(lock).bind(account.0).execute(&mut **tx).await?;
                }
                Ok(())
            }

            #[async_trait::async_trait]
            impl SecurityStore for $store {
                async fn user(&self, account: AccountId, id: UserId) -> Result<Option<User>> {
                    // -- one user of this account
                    sqlx::query_as::<_, UserRow>(USER_BY_ID)
                        .bind(id.0)
                        .bind(account.0)
                        .fetch_optional(&self.pool)
                        .await?
                        .map(User::try_from)
                        .transpose()
                }

                async fn list_users(&self, account: AccountId) -> Result<Vec<User>> {
                    // -- the account's users, by login
                    sqlx::query_as::<_, UserRow>(concat!(
                        "SELECT ",
                        user_columns!(),
                        " FROM users u WHERE u.account_id = $1 ORDER BY u.login"
                    ))
                    .bind(account.0)
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(User::try_from)
                    .collect()
                }

                async fn change_user(
                    &self,
                    account: AccountId,
                    id: UserId,
                    change: &UserChange,
                ) -> Result<User> {
                    let mut tx = self.begin_write().await?;
                    lock_users(&mut tx, account).await?;
                    if let Some(role) = change.role {
                        // -- the new role
                        let done = sqlx::query("UPDATE users SET role = $1, is_admin = $2 WHERE id = $3 AND account_id = $4")
                            .bind(role.as_str())
                            .bind(role == Role::Owner)
                            .bind(id.0)
                            .bind(account.0)
                            .execute(&mut *tx)
                            .await?;
                        some_user(done.rows_affected())?;
                    }
                    if let Some(disabled_at) = change.disabled_at {
                        // -- disable (at a time) or enable
                        let done = sqlx::query("UPDATE users SET disabled_at = $1 WHERE id = $2 AND account_id = $3")
                            .bind(disabled_at)
                            .bind(id.0)
                            .bind(account.0)
                            .execute(&mut *tx)
                            .await?;
                        some_user(done.rows_affected())?;
                        if disabled_at.is_some() {
                            // -- a disabled user's sessions end at once
                            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                                .bind(id.0)
                                .execute(&mut *tx)
                                .await?;
                        }
                    }
                    if !has_active_owner(&mut tx, account).await? {
                        tx.rollback().await?;
                        return Err(StoreError::LastOwner);
                    }
                    let user = sqlx::query_as::<_, UserRow>(USER_BY_ID)
                        .bind(id.0)
                        .bind(account.0)
                        .fetch_optional(&mut *tx)
                        .await?
                        .ok_or(StoreError::NotFound("user"))?;
                    tx.commit().await?;
                    user.try_into()
                }

                async fn delete_user(&self, account: AccountId, id: UserId, now: i64) -> Result<User> {
                    let mut tx = self.begin_write().await?;
                    lock_users(&mut tx, account).await?;
                    let user: User = sqlx::query_as::<_, UserRow>(USER_BY_ID)
                        .bind(id.0)
                        .bind(account.0)
                        .fetch_optional(&mut *tx)
                        .await?
                        .ok_or(StoreError::NotFound("user"))?
                        .try_into()?;
                    // -- the user's keys stop working for good
                    sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE created_by = $2 AND revoked_at IS NULL")
                        .bind(now)
                        .bind(id.0)
                        .execute(&mut *tx)
                        .await?;
                    // -- the user, their sessions and recovery codes (the keys keep their history)
                    sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id.0).execute(&mut *tx).await?;
                    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(id.0).execute(&mut *tx).await?;
                    sqlx::query("UPDATE api_keys SET created_by = NULL WHERE created_by = $1").bind(id.0).execute(&mut *tx).await?;
                    sqlx::query("DELETE FROM users WHERE id = $1 AND account_id = $2")
                        .bind(id.0)
                        .bind(account.0)
                        .execute(&mut *tx)
                        .await?;
                    if !has_active_owner(&mut tx, account).await? {
                        tx.rollback().await?;
                        return Err(StoreError::LastOwner);
                    }
                    tx.commit().await?;
                    Ok(user)
                }

                async fn set_password(
                    &self,
                    account: AccountId,
                    id: UserId,
                    password_hash: &str,
                    keep: Option<&str>,
                ) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    // -- the new password hash
                    let done = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2 AND account_id = $3")
                        .bind(password_hash)
                        .bind(id.0)
                        .bind(account.0)
                        .execute(&mut *tx)
                        .await?;
                    some_user(done.rows_affected())?;
                    // -- every other session of the user ends
                    sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2")
                        .bind(id.0)
                        .bind(keep.unwrap_or(""))
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn list_sessions(
                    &self,
                    account: AccountId,
                    user: Option<UserId>,
                    now: i64,
                ) -> Result<Vec<SessionInfo>> {
                    // -- live full sessions of the account's users (or one user), newest first
                    let rows = sqlx::query(
                        "SELECT SUBSTR(s.token_hash, 1, 16) AS handle, u.id, u.login, s.created_at, s.expires_at, s.address
                           FROM sessions s JOIN users u ON u.id = s.user_id
                          WHERE u.account_id = $1 AND ($2 IS NULL OR u.id = $2) AND s.expires_at > $3 AND s.stage = 'full'
                          ORDER BY s.created_at DESC",
                    )
                    .bind(account.0)
                    .bind(user.map(|u| u.0))
                    .bind(now)
                    .fetch_all(&self.pool)
                    .await?;
                    rows.into_iter()
                        .map(|r| {
                            Ok(SessionInfo {
                                handle: r.try_get("handle")?,
                                user_id: UserId(r.try_get("id")?),
                                login: r.try_get("login")?,
                                created_at: r.try_get("created_at")?,
                                expires_at: r.try_get("expires_at")?,
                                address: r.try_get("address")?,
                            })
                        })
                        .collect()
                }

                async fn revoke_sessions(
                    &self,
                    account: AccountId,
                    user: UserId,
                    handle: Option<&str>,
                ) -> Result<u64> {
                    // -- end one session (by handle) or all of a user of this account
                    let done = sqlx::query(
                        "DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE id = $1 AND account_id = $2)
                            AND ($3 IS NULL OR SUBSTR(token_hash, 1, 16) = $3)",
                    )
                    .bind(user.0)
                    .bind(account.0)
                    .bind(handle)
                    .execute(&self.pool)
                    .await?;
                    Ok(done.rows_affected())
                }

                async fn complete_second_factor(
                    &self,
                    old_hash: &str,
                    new_hash: &str,
                    csrf_token: &str,
                    now: i64,
                    expires_at: i64,
                ) -> Result<bool> {
                    let mut tx = self.begin_write().await?;
                    // -- the half-open session ends, whatever comes next
                    let row = sqlx::query(
                        "DELETE FROM sessions WHERE token_hash = $1 AND stage = 'second_factor' AND expires_at > $2
                         RETURNING user_id, address",
                    )
                    .bind(old_hash)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(row) = row else {
                        tx.rollback().await?;
                        return Ok(false);
                    };
                    let user: i64 = row.try_get("user_id")?;
                    let address: String = row.try_get("address")?;
                    // -- the full session, under a new token
                    sqlx::query("INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at, stage, address) VALUES ($1, $2, $3, $4, $5, 'full', $6)")
                        .bind(new_hash)
                        .bind(user)
                        .bind(csrf_token)
                        .bind(now)
                        .bind(expires_at)
                        .bind(address)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(true)
                }

                async fn totp_secret(&self, user: UserId) -> Result<Option<String>> {
                    // -- the user's TOTP secret, if enrolled
                    Ok(sqlx::query_scalar::<_, Option<String>>("SELECT totp_secret FROM users WHERE id = $1")
                        .bind(user.0)
                        .fetch_optional(&self.pool)
                        .await?
                        .flatten())
                }

                async fn set_totp(
                    &self,
                    account: AccountId,
                    user: UserId,
                    secret: Option<&str>,
                    recovery_hashes: &[String],
                ) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    // -- enrol (or remove) the second factor; no step is used yet
                    let done = sqlx::query("UPDATE users SET totp_secret = $1, totp_last_step = NULL WHERE id = $2 AND account_id = $3")
                        .bind(secret)
                        .bind(user.0)
                        .bind(account.0)
                        .execute(&mut *tx)
                        .await?;
                    some_user(done.rows_affected())?;
                    // -- old recovery codes stop working
                    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(user.0).execute(&mut *tx).await?;
                    for h in recovery_hashes {
                        // -- a fresh recovery code (its hash)
                        sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                            .bind(user.0)
                            .bind(h)
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }

                async fn use_totp_step(&self, user: UserId, step: i64) -> Result<bool> {
                    // -- accept a step only once, and never one older than the last accepted
                    let done = sqlx::query(
                        "UPDATE users SET totp_last_step = $1 WHERE id = $2 AND (totp_last_step IS NULL OR totp_last_step < $1)",
                    )
                    .bind(step)
                    .bind(user.0)
                    .execute(&self.pool)
                    .await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn use_recovery_code(&self, user: UserId, code_hash: &str, now: i64) -> Result<bool> {
                    // -- use up an unused recovery code
                    let done = sqlx::query(
                        "UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
                    )
                    .bind(now)
                    .bind(user.0)
                    .bind(code_hash)
                    .execute(&self.pool)
                    .await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn recovery_codes_left(&self, user: UserId) -> Result<i64> {
                    // -- unused recovery codes
                    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL")
                        .bind(user.0)
                        .fetch_one(&self.pool)
                        .await?)
                }

                async fn requires_two_factor(&self, account: AccountId) -> Result<bool> {
                    // -- the account's two-factor rule (no row: not required)
                    Ok(sqlx::query_scalar::<_, bool>("SELECT require_totp FROM account_security WHERE account_id = $1")
                        .bind(account.0)
                        .fetch_optional(&self.pool)
                        .await?
                        .unwrap_or(false))
                }

                async fn set_requires_two_factor(&self, account: AccountId, on: bool) -> Result<()> {
                    // -- set the account's two-factor rule
                    sqlx::query(
                        "INSERT INTO account_security (account_id, require_totp) VALUES ($1, $2)
                         ON CONFLICT (account_id) DO UPDATE SET require_totp = excluded.require_totp",
                    )
                    .bind(account.0)
                    .bind(on)
                    .execute(&self.pool)
                    .await?;
                    Ok(())
                }

                async fn record_audit(&self, account: AccountId, e: &NewAuditEntry<'_>) -> Result<()> {
                    // -- append a security event
                    sqlx::query(
                        "INSERT INTO audit_events (account_id, at, event, actor_kind, actor_id, actor_label, subject, detail, address)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    )
                    .bind(account.0)
                    .bind(e.at)
                    .bind(e.event.as_str())
                    .bind(e.actor.kind.as_str())
                    .bind(e.actor.id)
                    .bind(&e.actor.label)
                    .bind(e.subject)
                    .bind(e.detail)
                    .bind(e.address)
                    .execute(&self.pool)
                    .await?;
                    Ok(())
                }

                async fn audit_log(
                    &self,
                    account: AccountId,
                    before: Option<i64>,
                    limit: i64,
                ) -> Result<Vec<AuditEntry>> {
                    // -- the account's security events, newest first, a page at a time
                    let rows = sqlx::query(
                        "SELECT id, at, event, actor_kind, actor_id, actor_label, subject, detail, address FROM audit_events
                          WHERE account_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
                    )
                    .bind(account.0)
                    .bind(before.unwrap_or(i64::MAX))
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                    rows.into_iter()
                        .map(|r| {
                            let event: String = r.try_get("event")?;
                            Ok(AuditEntry {
                                id: r.try_get("id")?,
                                at: r.try_get("at")?,
                                event: AuditEvent::parse(&event)
                                    .ok_or_else(|| StoreError::Corrupt(format!("audit event {event:?}")))?,
                                actor: actor_from(
                                    &r.try_get::<String, _>("actor_kind")?,
                                    r.try_get("actor_id")?,
                                    r.try_get("actor_label")?,
                                )?,
                                subject: r.try_get("subject")?,
                                detail: r.try_get("detail")?,
                                address: r.try_get("address")?,
                            })
                        })
                        .collect()
                }
            }
        }
    };
}
pub(crate) use security_impl;
