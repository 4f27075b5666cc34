//! Column lists that several queries select, as macros so that `concat!` can build each
//! query as one `&'static str` (declared first in `lib.rs`, so every module sees them).

/// A user's columns, from `users u`, in the order of `UserRow`.
macro_rules! user_columns {
    () => {
        "u.id, u.account_id, u.login, u.role, u.disabled_at, (u.totp_secret IS NOT NULL) AS two_factor, u.created_at"
    };
}

/// An API key's columns from `api_keys k LEFT JOIN users u ON u.id = k.created_by`, in the
/// order of `ApiKeyRow` (with the maker's present role, which caps the key's).
macro_rules! api_key_columns {
    () => {
        "k.id, k.account_id, k.name, k.prefix, k.role, k.created_by, u.role AS maker_role, k.created_at, k.revoked_at"
    };
}
