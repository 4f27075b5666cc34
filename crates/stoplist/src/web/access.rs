//! Who may call each route: one table for the API and the web UI, checked by the gates in
//! `api` and `ui` before any handler runs (docs/architecture.md, "Roles and users").
//!
//! A route that is not in the table is refused to everyone (fail closed), so a new route
//! does nothing until its line is written here; `every_route_is_listed_once` and the
//! per-role integration test (`tests/roles.rs`) walk this table.

use axum::http::Method;
use std::collections::HashMap;
use std::sync::OnceLock;
use stoplist_domain::Role;

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: the login pages, static files, the OpenAPI document, unknown API paths (404).
    Public,
    /// A signed-in user or API key with at least this role.
    Role(Role),
}

use Access::Public;
const VIEWER: Access = Access::Role(Role::Viewer);
const MANAGER: Access = Access::Role(Role::Manager);
const OWNER: Access = Access::Role(Role::Owner);

/// Every route: method, route template (as axum matches it), what it needs. Reading and
/// exporting needs a viewer; changing contacts, campaigns, imports, replies, the opt-out list
/// and the settings that hold no secret needs a manager; users, keys, the connector, the
/// Vonage signature secret, where notifications are sent, two-factor rules and the audit log
/// need an owner.
pub const POLICY: &[(&str, &str, Access)] = &[
    // --- API -------------------------------------------------------------------------
    ("GET", "/api/v1/openapi.json", Public),
    ("GET", "/api/v1/optouts", VIEWER),
    ("POST", "/api/v1/optouts", MANAGER),
    ("GET", "/api/v1/optouts/{number}", VIEWER),
    ("DELETE", "/api/v1/optouts/{number}", MANAGER),
    ("GET", "/api/v1/optouts/{number}/events", VIEWER),
    ("POST", "/api/v1/optouts/check", VIEWER),
    ("POST", "/api/v1/optouts/uploads", MANAGER),
    ("GET", "/api/v1/optouts/export", VIEWER),
    ("GET", "/api/v1/optouts/{number}/events/export", VIEWER),
    ("GET", "/api/v1/optouts/{number}/evidence", VIEWER),
    ("GET", "/api/v1/groups", VIEWER),
    ("POST", "/api/v1/groups", MANAGER),
    ("GET", "/api/v1/groups/{id}", VIEWER),
    ("PATCH", "/api/v1/groups/{id}", MANAGER),
    ("DELETE", "/api/v1/groups/{id}", MANAGER),
    ("GET", "/api/v1/groups/{id}/contacts", VIEWER),
    ("POST", "/api/v1/groups/{id}/contacts", MANAGER),
    ("POST", "/api/v1/groups/{id}/imports", MANAGER),
    ("GET", "/api/v1/contacts", VIEWER),
    ("GET", "/api/v1/contacts/{id}", VIEWER),
    ("PATCH", "/api/v1/contacts/{id}", MANAGER),
    ("DELETE", "/api/v1/contacts/{id}", MANAGER),
    ("GET", "/api/v1/settings", VIEWER),
    ("PATCH", "/api/v1/settings", MANAGER),
    ("GET", "/api/v1/settings/history", VIEWER),
    ("GET", "/api/v1/settings/connector", VIEWER),
    ("PUT", "/api/v1/settings/connector", OWNER),
    ("GET", "/api/v1/settings/keywords", VIEWER),
    ("PUT", "/api/v1/settings/keywords", MANAGER),
    ("GET", "/api/v1/settings/notifications", VIEWER),
    ("PUT", "/api/v1/settings/notifications", OWNER),
    ("GET", "/api/v1/settings/notifications/log", VIEWER),
    ("GET", "/api/v1/settings/vonage-signature", VIEWER),
    ("PUT", "/api/v1/settings/vonage-signature", OWNER),
    ("GET", "/api/v1/settings/security", OWNER),
    ("PUT", "/api/v1/settings/security", OWNER),
    ("GET", "/api/v1/campaigns", VIEWER),
    ("POST", "/api/v1/campaigns", MANAGER),
    ("GET", "/api/v1/campaigns/{id}", VIEWER),
    ("PUT", "/api/v1/campaigns/{id}/file", MANAGER),
    ("POST", "/api/v1/campaigns/{id}/preview", MANAGER),
    ("GET", "/api/v1/campaigns/{id}/invalid", VIEWER),
    ("POST", "/api/v1/campaigns/{id}/send", MANAGER),
    ("POST", "/api/v1/campaigns/{id}/pause", MANAGER),
    ("POST", "/api/v1/campaigns/{id}/resume", MANAGER),
    ("POST", "/api/v1/campaigns/{id}/cancel", MANAGER),
    ("GET", "/api/v1/campaigns/{id}/messages", VIEWER),
    ("GET", "/api/v1/campaigns/{id}/messages/export", VIEWER),
    ("GET", "/api/v1/replies", VIEWER),
    ("POST", "/api/v1/replies/{id}/review", MANAGER),
    ("GET", "/api/v1/replies/export", VIEWER),
    ("GET", "/api/v1/imports", VIEWER),
    ("GET", "/api/v1/imports/{id}", VIEWER),
    ("GET", "/api/v1/imports/{id}/rejects", VIEWER),
    ("GET", "/api/v1/users", OWNER),
    ("POST", "/api/v1/users", OWNER),
    ("GET", "/api/v1/users/{id}", OWNER),
    ("PATCH", "/api/v1/users/{id}", OWNER),
    ("DELETE", "/api/v1/users/{id}", OWNER),
    ("POST", "/api/v1/users/{id}/password", OWNER),
    ("GET", "/api/v1/users/{id}/sessions", OWNER),
    ("DELETE", "/api/v1/users/{id}/sessions", OWNER),
    ("GET", "/api/v1/api-keys", OWNER),
    ("POST", "/api/v1/api-keys", OWNER),
    ("DELETE", "/api/v1/api-keys/{id}", OWNER),
    ("GET", "/api/v1/audit", OWNER),
    ("GET", "/api/v1/audit/export", OWNER),
    // --- web UI ----------------------------------------------------------------------
    ("GET", "/", Public),
    ("GET", "/login", Public),
    ("POST", "/login", Public),
    ("GET", "/login/second-factor", Public),
    ("POST", "/login/second-factor", Public),
    ("POST", "/logout", Public),
    ("GET", "/static/app.css", Public),
    ("GET", "/static/htmx.min.js", Public),
    ("GET", "/static/app.js", Public),
    ("GET", "/optouts", VIEWER),
    ("POST", "/optouts", MANAGER),
    ("GET", "/optouts/upload", MANAGER),
    ("POST", "/optouts/upload", MANAGER),
    ("POST", "/optouts/remove", MANAGER),
    ("GET", "/optouts/{number}", VIEWER),
    ("GET", "/optouts/export", VIEWER),
    ("GET", "/contacts", VIEWER),
    ("GET", "/contacts/import", MANAGER),
    ("POST", "/contacts/import", MANAGER),
    ("POST", "/imports/run", MANAGER),
    ("GET", "/imports/{id}", VIEWER),
    ("GET", "/imports/{id}/rejects.csv", VIEWER),
    ("POST", "/contacts/{id}/delete", MANAGER),
    ("POST", "/groups", MANAGER),
    ("GET", "/groups/{id}", VIEWER),
    ("POST", "/groups/{id}/contacts", MANAGER),
    ("POST", "/groups/{id}/rename", MANAGER),
    ("POST", "/groups/{id}/delete", MANAGER),
    ("GET", "/campaigns", VIEWER),
    ("GET", "/campaigns/new", MANAGER),
    ("POST", "/campaigns/new", MANAGER),
    ("GET", "/campaigns/counter", MANAGER),
    ("GET", "/campaigns/{id}", VIEWER),
    ("POST", "/campaigns/{id}/preview", MANAGER),
    ("POST", "/campaigns/{id}/send", MANAGER),
    ("POST", "/campaigns/{id}/pause", MANAGER),
    ("POST", "/campaigns/{id}/resume", MANAGER),
    ("POST", "/campaigns/{id}/cancel", MANAGER),
    ("GET", "/replies", VIEWER),
    ("GET", "/replies/review", VIEWER),
    ("POST", "/replies/{id}/review", MANAGER),
    ("GET", "/reports", VIEWER),
    ("GET", "/reports/incoming", VIEWER),
    ("GET", "/reports/incoming/export", VIEWER),
    ("GET", "/settings", VIEWER),
    ("POST", "/settings", MANAGER),
    ("POST", "/settings/keywords", MANAGER),
    ("POST", "/settings/notifications", OWNER),
    ("POST", "/settings/connector", OWNER),
    ("POST", "/settings/vonage-signature", OWNER),
    ("POST", "/settings/api-keys", OWNER),
    ("POST", "/settings/api-keys/{id}/revoke", OWNER),
    ("GET", "/account", VIEWER),
    ("POST", "/account/password", VIEWER),
    ("POST", "/account/sessions/revoke", VIEWER),
    ("POST", "/account/two-factor", VIEWER),
    ("POST", "/account/two-factor/disable", VIEWER),
    ("GET", "/users", OWNER),
    ("POST", "/users", OWNER),
    ("POST", "/users/two-factor", OWNER),
    ("POST", "/users/{id}", OWNER),
    ("GET", "/audit", OWNER),
    ("GET", "/audit/export", OWNER),
];

/// The API's catch-all route: any method answers 404 in the API's error shape.
pub const API_FALLBACK: &str = "/api/v1/{*rest}";

/// Routes a signed-in user may open before enrolling, when the account requires two-factor
/// login and they have not set it up yet.
pub const BEFORE_ENROLMENT: &[&str] = &["/account", "/account/two-factor"];

/// What `method` on the route template `route` needs; `None` for a route not in the table
/// (refused). HEAD is answered as GET.
pub fn access(method: &Method, route: &str) -> Option<Access> {
    if route == API_FALLBACK {
        return Some(Public);
    }
    static TABLE: OnceLock<HashMap<(&'static str, &'static str), Access>> = OnceLock::new();
    let table = TABLE.get_or_init(|| POLICY.iter().map(|(m, r, a)| ((*m, *r), *a)).collect());
    let method = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    table.get(&(method, route)).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_listed_once() {
        let mut seen = std::collections::HashSet::new();
        for (m, r, _) in POLICY {
            assert!(seen.insert((m, r)), "{m} {r} is listed twice");
        }
        assert_eq!(access(&Method::HEAD, "/optouts"), Some(VIEWER));
        assert_eq!(access(&Method::PUT, "/optouts"), None);
        assert_eq!(
            access(&Method::PUT, "/api/v1/settings/connector"),
            Some(OWNER)
        );
    }
}
