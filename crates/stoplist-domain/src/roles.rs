//! Who may do what: the three roles of an account's users and API keys, and the security
//! events an account's audit log records.

use serde::{Deserialize, Serialize};

/// A user's or API key's role. Ordered: each role may do everything the one below it may.
///
/// - **viewer**: reads and exports (an auditor);
/// - **manager**: also campaigns, contacts, imports, replies, the opt-out list and the
///   settings that hold no secret;
/// - **owner**: also users, API keys, the connector, secrets, two-factor rules and the
///   audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Manager,
    Owner,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Manager, Role::Owner];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Manager => "manager",
            Role::Owner => "owner",
        }
    }

    /// The role named `code` (`viewer`, `manager`, `owner`; any case).
    pub fn parse(code: &str) -> Option<Role> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(code.trim()))
    }

    /// Whether this role may do what `needed` may.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A security event kept in an account's audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditEvent {
    LoginSucceeded,
    LoginFailed,
    SecondFactorFailed,
    RecoveryCodeUsed,
    Logout,
    UserAdded,
    RoleChanged,
    UserDisabled,
    UserEnabled,
    UserDeleted,
    PasswordChanged,
    PasswordReset,
    SessionsRevoked,
    TwoFactorEnabled,
    TwoFactorDisabled,
    TwoFactorRequired,
    KeyCreated,
    KeyRevoked,
    ConnectorChanged,
    SecretChanged,
    OptOutListExported,
    AuditLogExported,
}

impl AuditEvent {
    pub const ALL: [AuditEvent; 22] = [
        AuditEvent::LoginSucceeded,
        AuditEvent::LoginFailed,
        AuditEvent::SecondFactorFailed,
        AuditEvent::RecoveryCodeUsed,
        AuditEvent::Logout,
        AuditEvent::UserAdded,
        AuditEvent::RoleChanged,
        AuditEvent::UserDisabled,
        AuditEvent::UserEnabled,
        AuditEvent::UserDeleted,
        AuditEvent::PasswordChanged,
        AuditEvent::PasswordReset,
        AuditEvent::SessionsRevoked,
        AuditEvent::TwoFactorEnabled,
        AuditEvent::TwoFactorDisabled,
        AuditEvent::TwoFactorRequired,
        AuditEvent::KeyCreated,
        AuditEvent::KeyRevoked,
        AuditEvent::ConnectorChanged,
        AuditEvent::SecretChanged,
        AuditEvent::OptOutListExported,
        AuditEvent::AuditLogExported,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditEvent::LoginSucceeded => "login_succeeded",
            AuditEvent::LoginFailed => "login_failed",
            AuditEvent::SecondFactorFailed => "second_factor_failed",
            AuditEvent::RecoveryCodeUsed => "recovery_code_used",
            AuditEvent::Logout => "logout",
            AuditEvent::UserAdded => "user_added",
            AuditEvent::RoleChanged => "role_changed",
            AuditEvent::UserDisabled => "user_disabled",
            AuditEvent::UserEnabled => "user_enabled",
            AuditEvent::UserDeleted => "user_deleted",
            AuditEvent::PasswordChanged => "password_changed",
            AuditEvent::PasswordReset => "password_reset",
            AuditEvent::SessionsRevoked => "sessions_revoked",
            AuditEvent::TwoFactorEnabled => "two_factor_enabled",
            AuditEvent::TwoFactorDisabled => "two_factor_disabled",
            AuditEvent::TwoFactorRequired => "two_factor_required",
            AuditEvent::KeyCreated => "key_created",
            AuditEvent::KeyRevoked => "key_revoked",
            AuditEvent::ConnectorChanged => "connector_changed",
            AuditEvent::SecretChanged => "secret_changed",
            AuditEvent::OptOutListExported => "optout_list_exported",
            AuditEvent::AuditLogExported => "audit_log_exported",
        }
    }

    pub fn parse(code: &str) -> Option<AuditEvent> {
        AuditEvent::ALL.into_iter().find(|e| e.as_str() == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_allows_what_the_roles_below_it_allow() {
        assert!(Role::Owner.allows(Role::Manager) && Role::Owner.allows(Role::Viewer));
        assert!(Role::Manager.allows(Role::Viewer) && !Role::Manager.allows(Role::Owner));
        assert!(!Role::Viewer.allows(Role::Manager));
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
            assert_eq!(Role::parse(&r.as_str().to_uppercase()), Some(r));
        }
        assert_eq!(Role::parse("admin"), None);
    }

    #[test]
    fn audit_event_codes_read_back() {
        for e in AuditEvent::ALL {
            assert_eq!(AuditEvent::parse(e.as_str()), Some(e));
        }
    }
}
