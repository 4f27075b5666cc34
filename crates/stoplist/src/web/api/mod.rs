//! The REST API at `/api/v1`: JSON, API keys as bearer tokens, an OpenAPI document at
//! `/api/v1/openapi.json`. Handlers parse input into domain types and call the services and
//! the store; errors become JSON in `web::errors`.

mod campaigns;
mod groups;
mod imports;
mod optouts;
mod replies;
pub(crate) mod reports;
mod settings;
mod users;

use crate::auth::secret_digest;
use crate::error::AppError;
use crate::state::AppState;
use crate::web::access::{self, Access};
use crate::web::errors::ApiError;
use axum::extract::{DefaultBodyLimit, FromRequestParts, MatchedPath, Request, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use stoplist_domain::{AccountId, Actor};
use stoplist_store::ApiKey;
use utoipa::OpenApi;

/// The caller, authenticated by `Authorization: Bearer <key>` and let through by
/// the gate (`gate` below) for its role; a handler takes it from the request's extensions.
#[derive(Clone)]
pub struct ApiAuth {
    pub key: std::sync::Arc<ApiKey>,
    /// The client's address (for the audit log; formatted only when an event is recorded).
    pub address: Option<std::net::IpAddr>,
}

impl ApiAuth {
    pub fn account(&self) -> AccountId {
        self.key.account_id
    }

    pub fn actor(&self) -> Actor {
        Actor::api_key(self.key.id.0, &self.key.name)
    }

    /// This key as the one who asks, for the audit log.
    pub fn asker(&self) -> crate::users::Asker {
        crate::users::Asker {
            actor: self.actor(),
            address: self.address.map(|a| a.to_string()).unwrap_or_default(),
        }
    }

    /// The key of this request's `Authorization` header, from the key cache or the store.
    async fn authenticate(headers: &HeaderMap, state: &AppState) -> Result<ApiAuth, AppError> {
        let header = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(AppError::Unauthorized)?;
        let key = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or(AppError::Unauthorized)?;
        let digest = secret_digest(key);
        if let Some(key) = state.keys.get(&digest) {
            return Ok(ApiAuth { key, address: None });
        }
        match state.store.api_key_by_hash(&hex::encode(digest)).await? {
            Some(k) => {
                let k = std::sync::Arc::new(k);
                state.keys.put(digest, k.clone());
                Ok(ApiAuth {
                    key: k,
                    address: None,
                })
            }
            None => Err(AppError::Unauthorized),
        }
    }
}

/// Lets a request through to its handler only when `web::access` allows the route to the
/// caller's key: public routes to anyone, the others to a live key whose role suffices.
async fn gate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let Some(route) = req.extensions().get::<MatchedPath>() else {
        return ApiError(AppError::NotFound("API route")).into_response();
    };
    let needed = match access::access(req.method(), route.as_str()) {
        Some(Access::Public) => return next.run(req).await,
        Some(Access::Role(r)) => r,
        None => {
            return ApiError(AppError::Forbidden("this route is not open to API keys"))
                .into_response();
        }
    };
    let mut auth = match ApiAuth::authenticate(req.headers(), &state).await {
        Ok(a) => a,
        Err(e) => return ApiError(e).into_response(),
    };
    if !auth.key.role.allows(needed) {
        let have = auth.key.role;
        return ApiError(AppError::NeedsRole { needed, have }).into_response();
    }
    auth.address = crate::web::ui::session::peer_ip(req.extensions());
    req.extensions_mut().insert(auth);
    next.run(req).await
}

impl FromRequestParts<AppState> for ApiAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // Only the gate puts it there: a handler on a route the gate does not guard cannot
        // get a caller.
        parts
            .extensions
            .remove::<ApiAuth>()
            .ok_or(ApiError(AppError::Unauthorized))
    }
}

/// A page of items and the cursor of the next page (absent on the last page).
#[derive(Serialize, utoipa::ToSchema)]
pub struct PageOf<T> {
    pub items: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<i64>,
}

/// Parses an id from a path segment.
pub(crate) fn path_id(raw: &str, what: &'static str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| ApiError(AppError::NotFound(what)))
}

/// Clamps a page size to 1..=1000 (default 100).
pub(crate) fn limit(raw: Option<i64>) -> i64 {
    raw.unwrap_or(100).clamp(1, 1000)
}

#[derive(OpenApi)]
#[openapi(
    info(title = "stoplist API", description = "SMS contact lists with opt-out compliance built in. \
        Authenticate with `Authorization: Bearer <API key>` (create one with `stoplist api-key create`). \
        Errors are `{\"error\": {\"code\", \"message\", \"field\"}}`."),
    paths(
        optouts::get_optout, optouts::add_optout, optouts::remove_optout, optouts::list_optouts,
        optouts::number_events, optouts::check,
        groups::list_groups, groups::create_group, groups::get_group, groups::rename_group, groups::delete_group,
        groups::list_group_contacts, groups::create_contact, groups::search_contacts,
        groups::get_contact, groups::update_contact, groups::delete_contact,
        settings::get_settings, settings::update_settings, settings::settings_history,
        imports::import_contacts, imports::upload_optouts, imports::get_import, imports::list_imports,
        imports::rejects,
        campaigns::create_campaign, campaigns::list_campaigns, campaigns::get_campaign, campaigns::put_file,
        campaigns::preview, campaigns::invalid, campaigns::send, campaigns::pause, campaigns::resume,
        campaigns::cancel, campaigns::messages, campaigns::get_connector, campaigns::put_connector,
        replies::list_replies, replies::review, replies::get_keywords, replies::put_keywords,
        replies::get_notify, replies::put_notify, replies::notify_log,
        replies::get_vonage_signature, replies::put_vonage_signature,
        users::list_users, users::create_user, users::get_user, users::update_user, users::delete_user,
        users::reset_password, users::list_sessions, users::revoke_sessions, users::list_keys,
        users::create_key, users::revoke_key, users::get_security, users::put_security,
        users::audit_log, users::export_audit,
    ),
    components(schemas(crate::web::errors::ErrorBody)),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    let mut doc = ApiDoc::openapi();
    doc.merge(reports::ReportsDoc::openapi());
    Json(doc)
}

/// The `/api/v1` routes, with their full paths (merged, not nested: nesting costs a
/// prefix strip on every request).
pub fn router(state: &AppState) -> Router<AppState> {
    let uploads = Router::new()
        .route(
            "/api/v1/groups/{id}/imports",
            post(imports::import_contacts),
        )
        .route("/api/v1/optouts/uploads", post(imports::upload_optouts))
        .route(
            "/api/v1/campaigns/{id}/file",
            axum::routing::put(campaigns::put_file),
        )
        // Uploads are streamed to disk under their own limit (max_upload_bytes).
        .layer(DefaultBodyLimit::disable());
    let bulk = Router::new()
        .route("/api/v1/optouts/check", post(optouts::check))
        .layer(DefaultBodyLimit::max(state.config.max_bulk_body_bytes));
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route(
            "/api/v1/optouts",
            get(optouts::list_optouts).post(optouts::add_optout),
        )
        .route(
            "/api/v1/optouts/{number}",
            get(optouts::get_optout).delete(optouts::remove_optout),
        )
        .route(
            "/api/v1/optouts/{number}/events",
            get(optouts::number_events),
        )
        .route(
            "/api/v1/groups",
            get(groups::list_groups).post(groups::create_group),
        )
        .route(
            "/api/v1/groups/{id}",
            get(groups::get_group)
                .patch(groups::rename_group)
                .delete(groups::delete_group),
        )
        .route(
            "/api/v1/groups/{id}/contacts",
            get(groups::list_group_contacts).post(groups::create_contact),
        )
        .route("/api/v1/contacts", get(groups::search_contacts))
        .route(
            "/api/v1/contacts/{id}",
            get(groups::get_contact)
                .patch(groups::update_contact)
                .delete(groups::delete_contact),
        )
        .route(
            "/api/v1/settings",
            get(settings::get_settings).patch(settings::update_settings),
        )
        .route("/api/v1/settings/history", get(settings::settings_history))
        .route(
            "/api/v1/settings/connector",
            get(campaigns::get_connector).put(campaigns::put_connector),
        )
        .route(
            "/api/v1/campaigns",
            get(campaigns::list_campaigns).post(campaigns::create_campaign),
        )
        .route("/api/v1/campaigns/{id}", get(campaigns::get_campaign))
        .route("/api/v1/campaigns/{id}/preview", post(campaigns::preview))
        .route("/api/v1/campaigns/{id}/invalid", get(campaigns::invalid))
        .route("/api/v1/campaigns/{id}/send", post(campaigns::send))
        .route("/api/v1/campaigns/{id}/pause", post(campaigns::pause))
        .route("/api/v1/campaigns/{id}/resume", post(campaigns::resume))
        .route("/api/v1/campaigns/{id}/cancel", post(campaigns::cancel))
        .route("/api/v1/campaigns/{id}/messages", get(campaigns::messages))
        .route("/api/v1/replies", get(replies::list_replies))
        .route("/api/v1/replies/{id}/review", post(replies::review))
        .route(
            "/api/v1/settings/keywords",
            get(replies::get_keywords).put(replies::put_keywords),
        )
        .route(
            "/api/v1/settings/notifications",
            get(replies::get_notify).put(replies::put_notify),
        )
        .route(
            "/api/v1/settings/notifications/log",
            get(replies::notify_log),
        )
        .route(
            "/api/v1/settings/vonage-signature",
            get(replies::get_vonage_signature).put(replies::put_vonage_signature),
        )
        .route(
            "/api/v1/users",
            get(users::list_users).post(users::create_user),
        )
        .route(
            "/api/v1/users/{id}",
            get(users::get_user)
                .patch(users::update_user)
                .delete(users::delete_user),
        )
        .route("/api/v1/users/{id}/password", post(users::reset_password))
        .route(
            "/api/v1/users/{id}/sessions",
            get(users::list_sessions).delete(users::revoke_sessions),
        )
        .route(
            "/api/v1/api-keys",
            get(users::list_keys).post(users::create_key),
        )
        .route(
            "/api/v1/api-keys/{id}",
            axum::routing::delete(users::revoke_key),
        )
        .route(
            "/api/v1/settings/security",
            get(users::get_security).put(users::put_security),
        )
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .route("/api/v1/audit", get(users::audit_log))
        .route("/api/v1/audit/export", get(users::export_audit))
        .route("/api/v1/imports", get(imports::list_imports))
        .route("/api/v1/imports/{id}", get(imports::get_import))
        .route("/api/v1/imports/{id}/rejects", get(imports::rejects))
        .merge(reports::router())
        .merge(bulk)
        .merge(uploads)
        // Unknown API paths answer JSON, not the UI's HTML.
        .route(
            access::API_FALLBACK,
            axum::routing::any(|| async { ApiError(AppError::NotFound("API route")) }),
        )
        // Every route above, the merged ones too, passes the gate first.
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), gate))
}
