//! Contacts: the groups (create, rename, delete), a group's contacts with search and keyset
//! paging, adding a contact (an opted-out number is refused: the opt-out list wins) and
//! deleting one. Opted-out contacts carry an "Opted out" badge. Importing a file is
//! `imports`' (Contacts → Import).

use super::{
    CsrfForm, FieldErrors, Layout, PAGE_SIZE, UiSession, cursor, flash, looks_like_number,
    number_digits, search_text, vary_on_htmx, wants_fragment,
};
use crate::error::AppError;
use crate::state::AppState;
use crate::web::errors::PageError;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::collections::HashMap;
use stoplist_domain::names::{ContactFields, GroupName};
use stoplist_domain::{ContactId, GroupId};
use stoplist_store::{Contact, Group};

/// One contact row.
pub struct Row {
    id: i64,
    number: String,
    name: String,
    email: String,
    opted_out: bool,
    group_id: i64,
    group: String,
}

/// A page of contacts (also the live-search fragment).
pub struct Table {
    rows: Vec<Row>,
    q: String,
    next: Option<i64>,
    paged: bool,
    /// Shown on the all-contacts list, not inside a group.
    show_group: bool,
    /// The page the table is on (for paging links).
    base: String,
    /// Where a delete returns to: "all" or "group".
    back: &'static str,
    csrf: String,
    empty_message: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "contacts_table.html")]
struct TableFragment {
    table: Table,
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    q: Option<String>,
    after: Option<String>,
    done: Option<String>,
}

/// A group's name by id, for the all-contacts list.
fn names(groups: &[Group]) -> HashMap<i64, String> {
    groups.iter().map(|g| (g.id.0, g.name.clone())).collect()
}

async fn table(
    state: &AppState,
    session: &UiSession,
    group: Option<&Group>,
    group_names: &HashMap<i64, String>,
    q: Option<String>,
    after: Option<i64>,
) -> Result<Table, PageError> {
    let q = search_text(q.as_deref());
    let region = state.optouts.region(session.account_id()).await?;
    // A number-like search matches the stored E.164 digits ("0412 345" finds +61412345…).
    let search = q.as_deref().map(|q| match looks_like_number(q) {
        true => number_digits(q, region).unwrap_or_default(),
        false => q.to_owned(),
    });
    let page = state
        .store
        .list_contacts(
            session.account_id(),
            group.map(|g| g.id),
            search.as_deref(),
            after,
            PAGE_SIZE,
        )
        .await?;
    let empty_message = match (&q, after, group) {
        (Some(_), _, _) => {
            "No contacts match your search — try fewer letters or digits, or clear the search."
        }
        (None, Some(_), _) => "No more contacts — go back to the first page.",
        (None, None, Some(_)) => {
            "No contacts in this group yet — add one above. To add many at once, import a file."
        }
        (None, None, None) => {
            "No contacts yet — import a file, or create a group above and add contacts to it."
        }
    };
    Ok(Table {
        rows: page.items.iter().map(|c| row(c, group_names)).collect(),
        q: q.unwrap_or_default(),
        next: page.next,
        paged: after.is_some(),
        show_group: group.is_none(),
        base: match group {
            Some(g) => format!("/groups/{}", g.id.0),
            None => "/contacts".to_owned(),
        },
        back: if group.is_some() { "group" } else { "all" },
        csrf: session.csrf.clone(),
        empty_message,
    })
}

fn row(c: &Contact, group_names: &HashMap<i64, String>) -> Row {
    let f = &c.fields;
    let name = [f.first_name.as_deref(), f.last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    Row {
        id: c.id.0,
        number: c.number.as_str().to_owned(),
        name,
        email: f.email.clone().unwrap_or_default(),
        opted_out: c.opted_out,
        group_id: c.group_id.0,
        group: group_names.get(&c.group_id.0).cloned().unwrap_or_default(),
    }
}

// --- the groups page ------------------------------------------------------------------

#[derive(Template, WebTemplate)]
#[template(path = "contacts.html")]
struct ContactsPage {
    layout: Layout,
    csrf: String,
    groups: Vec<Group>,
    new_group: String,
    errors: FieldErrors,
    table: Table,
}

async fn render_index(
    state: &AppState,
    session: UiSession,
    q: ListQuery,
    new_group: String,
    errors: FieldErrors,
) -> Result<Response, PageError> {
    let groups = state.store.list_groups(session.account_id()).await?;
    let table = table(
        state,
        &session,
        None,
        &names(&groups),
        q.q,
        cursor(q.after.as_deref()),
    )
    .await?;
    let page = ContactsPage {
        layout: session.layout("Contacts", "contacts", flash(q.done.as_deref())),
        csrf: session.csrf.clone(),
        groups,
        new_group,
        errors,
        table,
    };
    Ok(vary_on_htmx(page.into_response()))
}

/// `GET /contacts`: the groups and every contact (searchable).
pub async fn index(
    session: UiSession,
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    if wants_fragment(&headers) {
        let groups = state.store.list_groups(session.account_id()).await?;
        let table = table(
            &state,
            &session,
            None,
            &names(&groups),
            q.q,
            cursor(q.after.as_deref()),
        )
        .await?;
        return Ok(vary_on_htmx(TableFragment { table }.into_response()));
    }
    render_index(&state, session, q, String::new(), FieldErrors::none()).await
}

#[derive(Deserialize)]
pub struct NameForm {
    #[serde(default)]
    name: String,
}

/// `POST /groups`: creates a group and opens it.
pub async fn create_group(
    State(state): State<AppState>,
    CsrfForm { session, form }: CsrfForm<NameForm>,
) -> Result<Response, PageError> {
    let created = async {
        let name = GroupName::parse(&form.name)?;
        Ok::<_, AppError>(
            state
                .store
                .create_group(session.account_id(), &name, crate::now_ms())
                .await?,
        )
    }
    .await;
    match created {
        Ok(g) => {
            Ok(Redirect::to(&format!("/groups/{}?done=group_created", g.id.0)).into_response())
        }
        Err(e) => {
            let status = status_of(&e);
            let errors = FieldErrors::from_app(e, &[("name", "Group name")])?;
            let resp =
                render_index(&state, session, ListQuery::default(), form.name, errors).await?;
            Ok((status, resp).into_response())
        }
    }
}

fn status_of(e: &AppError) -> StatusCode {
    crate::web::errors::classify(e).0
}

// --- one group ------------------------------------------------------------------------

/// Typed values of the add-contact form.
#[derive(Deserialize, Default)]
pub struct ContactForm {
    #[serde(default)]
    number: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    email: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "group.html")]
struct GroupPage {
    layout: Layout,
    csrf: String,
    group: Group,
    add: ContactForm,
    add_errors: FieldErrors,
    rename_value: String,
    rename_errors: FieldErrors,
    table: Table,
}

fn group_id(raw: &str) -> Result<GroupId, PageError> {
    raw.parse::<i64>()
        .ok()
        .filter(|v| *v > 0)
        .map(GroupId)
        .ok_or(PageError(AppError::NotFound("group")))
}

async fn load_group(state: &AppState, session: &UiSession, raw: &str) -> Result<Group, PageError> {
    let id = group_id(raw)?;
    state
        .store
        .group(session.account_id(), id)
        .await?
        .ok_or(PageError(AppError::NotFound("group")))
}

/// What a group page shows besides the list, after a failed post.
#[derive(Default)]
struct GroupExtras {
    add: ContactForm,
    add_errors: FieldErrors,
    rename_value: Option<String>,
    rename_errors: FieldErrors,
}

async fn render_group(
    state: &AppState,
    session: UiSession,
    group: Group,
    q: ListQuery,
    extras: GroupExtras,
) -> Result<Response, PageError> {
    let table = table(
        state,
        &session,
        Some(&group),
        &HashMap::new(),
        q.q,
        cursor(q.after.as_deref()),
    )
    .await?;
    let page = GroupPage {
        layout: session.layout(&group.name, "contacts", flash(q.done.as_deref())),
        csrf: session.csrf.clone(),
        rename_value: extras.rename_value.unwrap_or_else(|| group.name.clone()),
        group,
        add: extras.add,
        add_errors: extras.add_errors,
        rename_errors: extras.rename_errors,
        table,
    };
    Ok(vary_on_htmx(page.into_response()))
}

/// `GET /groups/{id}`: a group's contacts, the add-contact form, rename and delete.
pub async fn group_page(
    session: UiSession,
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    let group = load_group(&state, &session, &id).await?;
    if wants_fragment(&headers) {
        let table = table(
            &state,
            &session,
            Some(&group),
            &HashMap::new(),
            q.q,
            cursor(q.after.as_deref()),
        )
        .await?;
        return Ok(vary_on_htmx(TableFragment { table }.into_response()));
    }
    render_group(&state, session, group, q, GroupExtras::default()).await
}

/// `POST /groups/{id}/contacts`: adds a contact; an opted-out number is refused.
pub async fn add_contact(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, form }: CsrfForm<ContactForm>,
) -> Result<Response, PageError> {
    let group = load_group(&state, &session, &id).await?;
    let account = session.account_id();
    let created = async {
        let number = state.optouts.parse_number(account, &form.number).await?;
        let fields = ContactFields::parse(
            Some(&form.first_name),
            Some(&form.last_name),
            Some(&form.email),
        )?;
        state
            .store
            .create_contact(account, group.id, &number, &fields, crate::now_ms())
            .await
            .map_err(|e| match AppError::from(e) {
                AppError::OptedOut(_) => AppError::OptedOut(number.as_str().to_owned()),
                AppError::Conflict { .. } => AppError::invalid(
                    "conflict",
                    "number",
                    format!("{} is already in this group.", number.as_str()),
                ),
                other => other,
            })
    }
    .await;
    match created {
        Ok(_) => {
            Ok(Redirect::to(&format!("/groups/{}?done=contact_added", group.id.0)).into_response())
        }
        Err(e) => {
            let status = status_of(&e);
            let labels = [
                ("first_name", "First name"),
                ("last_name", "Last name"),
                ("email", "Email"),
            ];
            let add_errors = FieldErrors::from_app(e, &labels)?;
            let extras = GroupExtras {
                add: form,
                add_errors,
                ..GroupExtras::default()
            };
            let resp = render_group(&state, session, group, ListQuery::default(), extras).await?;
            Ok((status, resp).into_response())
        }
    }
}

/// `POST /groups/{id}/rename`.
pub async fn rename_group(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, form }: CsrfForm<NameForm>,
) -> Result<Response, PageError> {
    let group = load_group(&state, &session, &id).await?;
    let renamed = async {
        let name = GroupName::parse(&form.name)?;
        Ok::<_, AppError>(
            state
                .store
                .rename_group(session.account_id(), group.id, &name)
                .await?,
        )
    }
    .await;
    match renamed {
        Ok(g) => {
            Ok(Redirect::to(&format!("/groups/{}?done=group_renamed", g.id.0)).into_response())
        }
        Err(e) => {
            let status = status_of(&e);
            let rename_errors = FieldErrors::from_app(e, &[("name", "Group name")])?;
            let extras = GroupExtras {
                rename_value: Some(form.name),
                rename_errors,
                ..GroupExtras::default()
            };
            let resp = render_group(&state, session, group, ListQuery::default(), extras).await?;
            Ok((status, resp).into_response())
        }
    }
}

/// `POST /groups/{id}/delete`: deletes the group and its contacts (never opt-outs).
pub async fn delete_group(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, .. }: CsrfForm<super::session::Empty>,
) -> Result<Response, PageError> {
    let id = group_id(&id)?;
    state.store.delete_group(session.account_id(), id).await?;
    Ok(Redirect::to("/contacts?done=group_deleted").into_response())
}

#[derive(Deserialize)]
pub struct DeleteForm {
    back: Option<String>,
}

/// `POST /contacts/{id}/delete`: deletes one contact instance (never its opt-out).
pub async fn delete_contact(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, form }: CsrfForm<DeleteForm>,
) -> Result<Response, PageError> {
    let id = id
        .parse::<i64>()
        .ok()
        .filter(|v| *v > 0)
        .map(ContactId)
        .ok_or(PageError(AppError::NotFound("contact")))?;
    let contact = state
        .store
        .contact(session.account_id(), id)
        .await?
        .ok_or(PageError(AppError::NotFound("contact")))?;
    state.store.delete_contact(session.account_id(), id).await?;
    let to = match form.back.as_deref() {
        Some("all") => "/contacts?done=contact_deleted".to_owned(),
        _ => format!("/groups/{}?done=contact_deleted", contact.group_id.0),
    };
    Ok(Redirect::to(&to).into_response())
}
