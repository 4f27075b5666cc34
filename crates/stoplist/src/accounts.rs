//! The account service: creating accounts, users and API keys, the first-run bootstrap, and
//! settings updates. Used by the CLI, the API and the web UI alike.

use crate::auth;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use stoplist_domain::settings::{AccountSettings, SettingsPatch};
use stoplist_domain::{AccountId, Actor, Role};
use stoplist_store::{Account, ApiKey, Store, User};

/// Creates an account with default settings and a fresh webhook token.
pub async fn create_account(store: &dyn Store, name: &str) -> AppResult<Account> {
    let name = stoplist_domain::names::single_line(name, "name", 100)?;
    Ok(store
        .create_account(&name, &auth::random_hex(16), crate::now_ms())
        .await?)
}

/// Finds an account by name, with an error that says how to list them.
pub async fn account_named(store: &dyn Store, name: &str) -> AppResult<Account> {
    store.account_by_name(name).await?.ok_or_else(|| {
        AppError::invalid(
            "unknown_account",
            "account",
            format!("no account named {name:?} (see `stoplist account list`)"),
        )
    })
}

/// Adds a web user (login: 3 to 100 characters; password: at least 8) with a role.
pub async fn create_user(
    store: &dyn Store,
    account: AccountId,
    login: &str,
    password: &str,
    role: Role,
) -> AppResult<User> {
    let login = stoplist_domain::names::single_line(login, "login", 100)?;
    if login.chars().count() < 3 || login.contains(char::is_whitespace) {
        return Err(AppError::invalid(
            "invalid_field",
            "login",
            "login must be 3 to 100 characters without spaces",
        ));
    }
    let hash = auth::hash_password(password.to_owned()).await?;
    Ok(store
        .create_user(account, &login, &hash, role, crate::now_ms())
        .await?)
}

/// Creates an API key with a role, made by `maker` (`None`: the CLI); the key itself is
/// returned once and never stored. A user cannot make a key that does more than they can.
pub async fn create_api_key(
    store: &dyn Store,
    account: AccountId,
    name: &str,
    role: Role,
    maker: Option<&User>,
) -> AppResult<(ApiKey, String)> {
    if let Some(m) = maker
        && !m.role.allows(role)
    {
        return Err(AppError::invalid(
            "invalid_field",
            "role",
            format!(
                "a key cannot do more than its maker: your role is {}",
                m.role
            ),
        ));
    }
    let name = stoplist_domain::names::single_line(name, "name", 100)?;
    let (key, prefix) = auth::new_api_key();
    let record = store
        .create_api_key(
            account,
            &stoplist_store::NewApiKey {
                name: &name,
                key_hash: &auth::secret_hash(&key),
                prefix: &prefix,
                role,
                created_by: maker.map(|m| m.id),
            },
            crate::now_ms(),
        )
        .await?;
    Ok((record, key))
}

/// What the first start of a fresh database created.
pub struct Bootstrap {
    pub account: Account,
    pub login: String,
    pub password: String,
}

/// On a database with no users: creates the first account ("default") and an admin user
/// with a random password, to be printed once. `None` when users exist. Instances starting
/// together on an empty database all come up: exactly one of them creates the account and
/// the administrator (the store runs one bootstrap at a time), the others find it done.
pub async fn bootstrap(store: &dyn Store) -> AppResult<Option<Bootstrap>> {
    if store.count_users().await? > 0 {
        return Ok(None);
    }
    let password = auth::random_hex(8);
    let hash = auth::hash_password(password.clone()).await?;
    let made = store
        .bootstrap(
            "default",
            &auth::random_hex(16),
            "admin",
            &hash,
            crate::now_ms(),
        )
        .await?;
    Ok(made.map(|(account, user)| Bootstrap {
        account,
        login: user.login,
        password,
    }))
}

/// Validates and applies a settings patch, recording each real change with its actor.
/// Nothing changes if any field is invalid.
pub async fn apply_settings_patch(
    state: &AppState,
    account: AccountId,
    patch: SettingsPatch,
    actor: &Actor,
) -> AppResult<AccountSettings> {
    let current = state.store.settings(account).await?;
    let (next, changes) = patch.apply(&current)?;
    if !changes.is_empty() {
        state
            .store
            .update_settings(account, &next, &changes, actor, crate::now_ms())
            .await?;
        for c in &changes {
            tracing::info!(account = %account, field = c.field, old = %c.old, new = %c.new, actor = %actor, "setting changed");
        }
    }
    state
        .settings
        .put(account, std::sync::Arc::new(next.clone()));
    Ok(next)
}

/// The providers that deliver replies to `/webhooks/{provider}/{token}`.
pub const WEBHOOK_PROVIDERS: [&str; 4] = ["generic", "smsglobal", "twilio", "vonage"];

/// The account's inbound webhook URL for each provider: absolute when `public_url` is
/// configured, relative otherwise.
pub fn webhook_urls(config: &crate::config::Config, token: &str) -> Vec<(&'static str, String)> {
    let base = config
        .public_url
        .as_deref()
        .unwrap_or("")
        .trim_end_matches('/');
    WEBHOOK_PROVIDERS
        .into_iter()
        .map(|p| (p, format!("{base}/webhooks/{p}/{token}")))
        .collect()
}
