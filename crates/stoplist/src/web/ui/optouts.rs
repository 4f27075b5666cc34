//! The Opt Out Manager (SPEC 3.5): the list newest first with search and keyset paging, the
//! "Add number" form, removal with a required reason, and each number's event history.
//! Changes go through `crate::optouts`, the same service as the API and the CLI.

use super::{
    CsrfForm, FieldErrors, Layout, PAGE_SIZE, UiSession, actor_text, cursor, flash, number_digits,
    search_text, source_label, vary_on_htmx, wants_fragment,
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
use stoplist_domain::rules::{AddedBy, Refusal};
use stoplist_domain::{AccountSettings, OptOutSource};
use stoplist_store::OptOut;

/// One row of the list.
pub struct Row {
    id: i64,
    number: String,
    since: String,
    source: &'static str,
    actor: String,
    evidence: String,
    /// A reply opt-out under Enforce Global Optouts: no user can lift it, so no form.
    enforced: bool,
}

/// The list (also the live-search fragment).
pub struct Table {
    rows: Vec<Row>,
    q: String,
    next: Option<i64>,
    /// Not the first page (offer a way back to it).
    paged: bool,
    csrf: String,
    /// Offer "Remove…" (a viewer cannot lift an opt-out).
    can_manage: bool,
    empty_message: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "optouts.html")]
struct OptOutsPage {
    layout: Layout,
    csrf: String,
    total: i64,
    region: String,
    add_number: String,
    add_evidence: String,
    errors: FieldErrors,
    removal_error: Option<String>,
    q: String,
    table: Table,
}

#[derive(Template, WebTemplate)]
#[template(path = "optouts_table.html")]
struct TableFragment {
    table: Table,
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    q: Option<String>,
    before: Option<String>,
    done: Option<String>,
}

async fn table(
    state: &AppState,
    session: &UiSession,
    settings: &AccountSettings,
    q: Option<String>,
    before: Option<i64>,
) -> Result<Table, PageError> {
    let q = search_text(q.as_deref());
    let digits = q
        .as_deref()
        .map(|q| number_digits(q, settings.default_region));
    let page = match &digits {
        // Text with no digit in it cannot match any number.
        Some(None) => stoplist_store::Page {
            items: vec![],
            next: None,
        },
        Some(Some(d)) => {
            state
                .store
                .list_optouts(session.account_id(), Some(d), before, PAGE_SIZE)
                .await?
        }
        None => {
            state
                .store
                .list_optouts(session.account_id(), None, before, PAGE_SIZE)
                .await?
        }
    };
    let empty_message = match (&q, before) {
        (Some(_), _) => {
            "No opted-out number matches your search — check the digits, or clear the search to see the whole list."
        }
        (None, Some(_)) => "No more numbers — go back to the first page.",
        (None, None) => "No opt-outs yet — add a number above.",
    };
    let enforce = settings.enforce_global_optouts;
    Ok(Table {
        rows: page.items.iter().map(|o| row(o, enforce)).collect(),
        q: q.unwrap_or_default(),
        next: page.next,
        paged: before.is_some(),
        csrf: session.csrf.clone(),
        can_manage: session.role().allows(stoplist_domain::Role::Manager),
        empty_message,
    })
}

fn row(o: &OptOut, enforce: bool) -> Row {
    Row {
        id: o.id,
        number: o.number.as_str().to_owned(),
        since: crate::rfc3339(o.created_at),
        source: if o.provisional {
            "Reply (unclear, awaiting review)"
        } else {
            source_label(o.source.as_str())
        },
        actor: actor_text(&o.actor),
        evidence: o.evidence.clone().unwrap_or_default(),
        enforced: enforce && o.source == OptOutSource::Reply,
    }
}

/// What the page shows besides the list: typed values and errors of a failed post.
#[derive(Default)]
struct Extras {
    add_number: String,
    add_evidence: String,
    errors: FieldErrors,
    removal_error: Option<String>,
    flash: Option<&'static str>,
}

async fn render(
    state: &AppState,
    session: UiSession,
    q: ListQuery,
    extras: Extras,
) -> Result<Response, PageError> {
    let settings = state.account_settings(session.account_id()).await?;
    let table = table(state, &session, &settings, q.q, cursor(q.before.as_deref())).await?;
    let total = state.store.count_optouts(session.account_id()).await?;
    let page = OptOutsPage {
        layout: session.layout("Opt Out Manager", "optouts", extras.flash),
        csrf: session.csrf.clone(),
        total,
        region: settings.default_region.to_string(),
        add_number: extras.add_number,
        add_evidence: extras.add_evidence,
        errors: extras.errors,
        removal_error: extras.removal_error,
        q: table.q.clone(),
        table,
    };
    Ok(vary_on_htmx(page.into_response()))
}

/// `GET /optouts`: the page, or only the list for htmx's live search.
pub async fn page(
    session: UiSession,
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    if wants_fragment(&headers) {
        let settings = state.account_settings(session.account_id()).await?;
        let table = table(
            &state,
            &session,
            &settings,
            q.q,
            cursor(q.before.as_deref()),
        )
        .await?;
        return Ok(vary_on_htmx(TableFragment { table }.into_response()));
    }
    let extras = Extras {
        flash: flash(q.done.as_deref()),
        ..Extras::default()
    };
    render(&state, session, q, extras).await
}

#[derive(Deserialize)]
pub struct AddForm {
    #[serde(default)]
    number: String,
    evidence: Option<String>,
}

/// `POST /optouts`: "Add number" (source `manual`). Adding a listed number again changes
/// nothing and says so.
pub async fn add(
    State(state): State<AppState>,
    CsrfForm { session, form }: CsrfForm<AddForm>,
) -> Result<Response, PageError> {
    let account = session.account_id();
    let parsed = async {
        let evidence =
            stoplist_domain::names::optional_line(form.evidence.as_deref(), "evidence", 500)?;
        let number = state.optouts.parse_number(account, &form.number).await?;
        Ok::<_, AppError>((number, evidence))
    }
    .await;
    let (number, evidence) = match parsed {
        Ok(v) => v,
        Err(e) => {
            let errors = FieldErrors::from_app(e, &[("evidence", "Note")])?;
            let extras = Extras {
                add_number: form.number,
                add_evidence: form.evidence.unwrap_or_default(),
                errors,
                ..Extras::default()
            };
            let resp = render(&state, session, ListQuery::default(), extras).await?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, resp).into_response());
        }
    };
    let out = state
        .optouts
        .add(account, &number, AddedBy::Manual, session.actor(), evidence)
        .await?;
    let done = if out.event_seq.is_some() {
        "added"
    } else {
        "already"
    };
    Ok(Redirect::to(&format!("/optouts?done={done}")).into_response())
}

#[derive(Deserialize)]
pub struct RemoveForm {
    #[serde(default)]
    number: String,
    #[serde(default)]
    reason: String,
}

/// `POST /optouts/remove`: lifts an opt-out with a reason. A refusal (a reply opt-out under
/// Enforce Global Optouts, or a number not on the list) is shown on the page.
pub async fn remove(
    State(state): State<AppState>,
    CsrfForm { session, form }: CsrfForm<RemoveForm>,
) -> Result<Response, PageError> {
    let account = session.account_id();
    let number = state.optouts.parse_number(account, &form.number).await;
    let result = match &number {
        Ok(n) => state
            .optouts
            .remove(account, n, session.actor(), &form.reason)
            .await
            .map(|_| ()),
        Err(_) => Err(AppError::invalid("invalid_number", "number", "")),
    };
    let shown = number
        .as_ref()
        .map(|n| n.as_str().to_owned())
        .unwrap_or_else(|_| "That number".to_owned());
    let (status, message) = match result {
        Ok(()) => return Ok(Redirect::to("/optouts?done=removed").into_response()),
        Err(AppError::Refused(Refusal::EnforcedReplyOptOut)) => (
            StatusCode::CONFLICT,
            format!(
                "{shown} was not removed: it opted out by its own reply and Enforce Global Optouts is on, \
                 so only the number itself can lift it, by replying START."
            ),
        ),
        Err(AppError::Refused(Refusal::NotOptedOut)) => (
            StatusCode::CONFLICT,
            format!("{shown} is not on the opt-out list (it may have been removed already)."),
        ),
        Err(AppError::Invalid { field, message, .. }) if field == "reason" => (
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{shown} was not removed: give a reason ({message})."),
        ),
        Err(AppError::Invalid { .. }) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "That is not a valid number, so nothing was removed.".to_owned(),
        ),
        Err(other) => return Err(other.into()),
    };
    let extras = Extras {
        removal_error: Some(message),
        ..Extras::default()
    };
    let resp = render(&state, session, ListQuery::default(), extras).await?;
    Ok((status, resp).into_response())
}

/// One ledger event as the history shows it.
pub struct EventRow {
    seq: i64,
    at: String,
    opted_out: bool,
    source: &'static str,
    actor: String,
    reason: String,
    evidence: String,
    hash: String,
    hash_short: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "optout_history.html")]
struct HistoryPage {
    layout: Layout,
    number: String,
    opted_out_since: Option<String>,
    current_source: &'static str,
    events: Vec<EventRow>,
}

/// `GET /optouts/{number}`: every event of a number, oldest first, with its hash.
pub async fn history(
    session: UiSession,
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Response, PageError> {
    let account = session.account_id();
    let number = state.optouts.parse_number(account, &raw).await?;
    let events = state.store.number_events(account, &number).await?;
    let current = state.store.optout(account, &number).await?;
    let rows = events
        .iter()
        .map(|e| {
            let c = &e.event.content;
            let hash = e.event.hash.to_hex();
            EventRow {
                seq: c.seq,
                at: crate::rfc3339(c.at_ms),
                opted_out: c.kind == stoplist_domain::ledger::EventKind::OptedOut,
                source: source_label(c.source.as_str()),
                actor: actor_text(&c.actor),
                reason: c.reason.clone().unwrap_or_default(),
                evidence: c.evidence.clone().unwrap_or_default(),
                hash_short: hash.chars().take(12).collect(),
                hash,
            }
        })
        .collect();
    let page = HistoryPage {
        layout: session.layout(&format!("History of {}", number.as_str()), "optouts", None),
        number: number.as_str().to_owned(),
        opted_out_since: current.as_ref().map(|o| crate::rfc3339(o.created_at)),
        current_source: current
            .as_ref()
            .map(|o| source_label(o.source.as_str()))
            .unwrap_or(""),
        events: rows,
    };
    Ok(page.into_response())
}
