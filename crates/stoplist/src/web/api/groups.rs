//! `/api/v1/groups` and `/api/v1/contacts`: groups (create, rename, delete, list) and their
//! contacts (create, update, delete, list by group with keyset pagination, search).

use super::{ApiAuth, PageOf, limit, path_id};
use crate::error::AppError;
use crate::rfc3339;
use crate::state::AppState;
use crate::web::errors::{ApiError, ApiJson};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use stoplist_domain::names::{ContactFields, GroupName};
use stoplist_domain::{ContactId, GroupId};
use stoplist_store::{Contact, Group};
use utoipa::{IntoParams, ToSchema};

/// A group.
#[derive(Serialize, ToSchema)]
pub struct GroupView {
    pub id: i64,
    pub name: String,
    pub contact_count: i64,
    pub created_at: String,
}

impl From<&Group> for GroupView {
    fn from(g: &Group) -> Self {
        GroupView {
            id: g.id.0,
            name: g.name.clone(),
            contact_count: g.contact_count,
            created_at: rfc3339(g.created_at),
        }
    }
}

/// A group's name.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupBody {
    pub name: String,
}

#[utoipa::path(get, path = "/api/v1/groups", tag = "groups", responses((status = 200, body = PageOf<GroupView>)))]
/// The account's groups by name.
pub async fn list_groups(
    auth: ApiAuth,
    State(state): State<AppState>,
) -> Result<Json<PageOf<GroupView>>, ApiError> {
    let groups = state
        .store
        .list_groups(auth.account())
        .await
        .map_err(AppError::from)?;
    Ok(Json(PageOf {
        items: groups.iter().map(GroupView::from).collect(),
        next: None,
    }))
}

#[utoipa::path(post, path = "/api/v1/groups", tag = "groups", request_body = GroupBody,
    responses((status = 201, body = GroupView), (status = 409, body = crate::web::errors::ErrorBody)))]
/// Creates a group (names are unique per account, ignoring case).
pub async fn create_group(
    auth: ApiAuth,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<GroupBody>,
) -> Result<(StatusCode, Json<GroupView>), ApiError> {
    let name = GroupName::parse(&body.name)?;
    let g = state
        .store
        .create_group(auth.account(), &name, crate::now_ms())
        .await
        .map_err(AppError::from)?;
    Ok((StatusCode::CREATED, Json(GroupView::from(&g))))
}

async fn load_group(state: &AppState, auth: &ApiAuth, raw: &str) -> Result<Group, ApiError> {
    let id = GroupId(path_id(raw, "group")?);
    state
        .store
        .group(auth.account(), id)
        .await
        .map_err(AppError::from)?
        .ok_or(ApiError(AppError::NotFound("group")))
}

#[utoipa::path(get, path = "/api/v1/groups/{id}", tag = "groups", params(("id" = i64, Path)),
    responses((status = 200, body = GroupView), (status = 404, body = crate::web::errors::ErrorBody)))]
/// One group.
pub async fn get_group(
    auth: ApiAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<GroupView>, ApiError> {
    Ok(Json(GroupView::from(
        &load_group(&state, &auth, &id).await?,
    )))
}

#[utoipa::path(patch, path = "/api/v1/groups/{id}", tag = "groups", params(("id" = i64, Path)), request_body = GroupBody,
    responses((status = 200, body = GroupView), (status = 404, body = crate::web::errors::ErrorBody), (status = 409, body = crate::web::errors::ErrorBody)))]
/// Renames a group.
pub async fn rename_group(
    auth: ApiAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<GroupBody>,
) -> Result<Json<GroupView>, ApiError> {
    let id = GroupId(path_id(&id, "group")?);
    let name = GroupName::parse(&body.name)?;
    let g = state
        .store
        .rename_group(auth.account(), id, &name)
        .await
        .map_err(AppError::from)?;
    Ok(Json(GroupView::from(&g)))
}

#[utoipa::path(delete, path = "/api/v1/groups/{id}", tag = "groups", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = crate::web::errors::ErrorBody)))]
/// Deletes a group and its contacts. The opt-out list is untouched.
pub async fn delete_group(
    auth: ApiAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = GroupId(path_id(&id, "group")?);
    state
        .store
        .delete_group(auth.account(), id)
        .await
        .map_err(AppError::from)?;
    Ok(StatusCode::NO_CONTENT)
}

/// A contact.
#[derive(Serialize, ToSchema)]
pub struct ContactView {
    pub id: i64,
    pub group_id: i64,
    pub number: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The number is on the opt-out list (it is never sent to).
    pub opted_out: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Contact> for ContactView {
    fn from(c: &Contact) -> Self {
        ContactView {
            id: c.id.0,
            group_id: c.group_id.0,
            number: c.number.as_str().to_owned(),
            first_name: c.fields.first_name.clone(),
            last_name: c.fields.last_name.clone(),
            email: c.fields.email.clone(),
            opted_out: c.opted_out,
            created_at: rfc3339(c.created_at),
            updated_at: rfc3339(c.updated_at),
        }
    }
}

/// Paging and search of contacts.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ContactQuery {
    /// Digits of the number, or part of a name or email.
    pub q: Option<String>,
    /// The `next` cursor of the previous page.
    pub after: Option<i64>,
    /// 1 to 1000, default 100.
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/groups/{id}/contacts", tag = "contacts", params(("id" = i64, Path), ContactQuery),
    responses((status = 200, body = PageOf<ContactView>)))]
/// A group's contacts by id, with keyset pagination and optional search.
pub async fn list_group_contacts(
    auth: ApiAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<ContactQuery>,
) -> Result<Json<PageOf<ContactView>>, ApiError> {
    let g = load_group(&state, &auth, &id).await?;
    contacts_page(&state, &auth, Some(g.id), q).await
}

#[utoipa::path(get, path = "/api/v1/contacts", tag = "contacts", params(ContactQuery),
    responses((status = 200, body = PageOf<ContactView>)))]
/// Contacts of every group, with keyset pagination and optional search.
pub async fn search_contacts(
    auth: ApiAuth,
    State(state): State<AppState>,
    Query(q): Query<ContactQuery>,
) -> Result<Json<PageOf<ContactView>>, ApiError> {
    contacts_page(&state, &auth, None, q).await
}

async fn contacts_page(
    state: &AppState,
    auth: &ApiAuth,
    group: Option<GroupId>,
    q: ContactQuery,
) -> Result<Json<PageOf<ContactView>>, ApiError> {
    let search = q.q.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let page = state
        .store
        .list_contacts(auth.account(), group, search, q.after, limit(q.limit))
        .await
        .map_err(AppError::from)?;
    Ok(Json(PageOf {
        items: page.items.iter().map(ContactView::from).collect(),
        next: page.next,
    }))
}

/// A new contact.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewContact {
    pub number: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/groups/{id}/contacts", tag = "contacts", params(("id" = i64, Path)), request_body = NewContact,
    responses((status = 201, body = ContactView),
              (status = 409, body = crate::web::errors::ErrorBody, description = "already in the group, or opted out"),
              (status = 422, body = crate::web::errors::ErrorBody)))]
/// Adds a contact to a group. An opted-out number is refused (`opted_out`): the opt-out list wins.
pub async fn create_contact(
    auth: ApiAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewContact>,
) -> Result<(StatusCode, Json<ContactView>), ApiError> {
    let group = GroupId(path_id(&id, "group")?);
    let number = state
        .optouts
        .parse_number(auth.account(), &body.number)
        .await?;
    let fields = ContactFields::parse(
        body.first_name.as_deref(),
        body.last_name.as_deref(),
        body.email.as_deref(),
    )?;
    let c = state
        .store
        .create_contact(auth.account(), group, &number, &fields, crate::now_ms())
        .await
        .map_err(|e| match AppError::from(e) {
            AppError::OptedOut(_) => AppError::OptedOut(number.as_str().to_owned()),
            other => other,
        })?;
    Ok((StatusCode::CREATED, Json(ContactView::from(&c))))
}

#[utoipa::path(get, path = "/api/v1/contacts/{id}", tag = "contacts", params(("id" = i64, Path)),
    responses((status = 200, body = ContactView), (status = 404, body = crate::web::errors::ErrorBody)))]
/// One contact.
pub async fn get_contact(
    auth: ApiAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ContactView>, ApiError> {
    let id = ContactId(path_id(&id, "contact")?);
    let c = state
        .store
        .contact(auth.account(), id)
        .await
        .map_err(AppError::from)?
        .ok_or(ApiError(AppError::NotFound("contact")))?;
    Ok(Json(ContactView::from(&c)))
}

/// A contact's fields (the number of an instance does not change: add a new contact instead).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactUpdate {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
}

#[utoipa::path(patch, path = "/api/v1/contacts/{id}", tag = "contacts", params(("id" = i64, Path)), request_body = ContactUpdate,
    responses((status = 200, body = ContactView), (status = 404, body = crate::web::errors::ErrorBody)))]
/// Updates a contact's fields; a field left out keeps its value, an empty string clears it.
pub async fn update_contact(
    auth: ApiAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ContactUpdate>,
) -> Result<Json<ContactView>, ApiError> {
    let id = ContactId(path_id(&id, "contact")?);
    let current = state
        .store
        .contact(auth.account(), id)
        .await
        .map_err(AppError::from)?
        .ok_or(ApiError(AppError::NotFound("contact")))?;
    let pick = |new: &Option<String>, old: &Option<String>| new.clone().or_else(|| old.clone());
    let fields = ContactFields::parse(
        pick(&body.first_name, &current.fields.first_name).as_deref(),
        pick(&body.last_name, &current.fields.last_name).as_deref(),
        pick(&body.email, &current.fields.email).as_deref(),
    )?;
    let c = state
        .store
        .update_contact(auth.account(), id, &fields, crate::now_ms())
        .await
        .map_err(AppError::from)?;
    Ok(Json(ContactView::from(&c)))
}

#[utoipa::path(delete, path = "/api/v1/contacts/{id}", tag = "contacts", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = crate::web::errors::ErrorBody)))]
/// Deletes one contact instance. Never touches the opt-out list.
pub async fn delete_contact(
    auth: ApiAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = ContactId(path_id(&id, "contact")?);
    state
        .store
        .delete_contact(auth.account(), id)
        .await
        .map_err(AppError::from)?;
    Ok(StatusCode::NO_CONTENT)
}
