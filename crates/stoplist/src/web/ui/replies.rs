//! Replies (SPEC 3.6, 3.9): every inbound message newest first with its classification, the
//! tier that decided it, the matched campaign and what was done; filters by date range,
//! classification and number; keyset paging. And the review queue: unclear replies waiting
//! for a person, each with **Confirm opt-out** and **Dismiss**.
//!
//! Owns the pages and the review form. Owns no rule: the list is the store's `list_replies`
//! (the API's `GET /api/v1/replies`), and a decision goes through `crate::replies::review`,
//! exactly as the API's `POST /api/v1/replies/{id}/review`, with the signed-in user as the
//! reviewer.

use super::{
    CsrfForm, FieldErrors, Layout, PAGE_SIZE, ReplyFilters, UiSession, capitalize, class_label,
    code_words, cursor, flash, number_digits, tier_label,
};
use crate::error::AppError;
use crate::reports::incoming::parse_time;
use crate::state::AppState;
use crate::web::errors::PageError;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::collections::HashMap;
use stoplist_domain::classify::Class;
use stoplist_domain::{AccountId, CampaignId};
use stoplist_store::{Reply, ReplyFilter};

/// How many pending replies the tab counts exactly (beyond, it says "100+").
const COUNT_CAP: i64 = 100;

// --- shared pieces -----------------------------------------------------------------------

/// One reply as the pages show it. Numbers are shown whole: these are the account's own data.
pub struct ReplyRow {
    id: i64,
    received: String,
    from: String,
    /// The sender is a phone number (its opt-out history can be opened).
    from_is_number: bool,
    to: String,
    text: String,
    class: &'static str,
    /// The classification's code, for its CSS class.
    class_code: &'static str,
    tier: &'static str,
    matched: Option<String>,
    campaign: Option<CampaignLink>,
    actions: Vec<String>,
    /// The review's state in words, when it is (or was) reviewed.
    review: Option<String>,
    pending: bool,
}

pub struct CampaignLink {
    id: i64,
    name: String,
}

/// The class code as a `'static` CSS class (unknown codes get none).
fn class_code(code: &str) -> &'static str {
    Class::ALL
        .into_iter()
        .map(Class::as_str)
        .find(|c| *c == code)
        .unwrap_or("")
}

/// The page's rows, each matched campaign's name looked up once.
async fn rows(
    state: &AppState,
    account: AccountId,
    replies: Vec<Reply>,
) -> Result<Vec<ReplyRow>, PageError> {
    let mut names: HashMap<i64, Option<String>> = HashMap::new();
    let mut out = Vec::with_capacity(replies.len());
    for r in replies {
        let campaign = match r.matched_campaign_id {
            Some(id) => {
                let name = match names.get(&id) {
                    Some(known) => known.clone(),
                    None => {
                        let c = state.store.campaign(account, CampaignId(id)).await?;
                        let name = c.map(|c| c.name);
                        names.insert(id, name.clone());
                        name
                    }
                };
                name.map(|name| CampaignLink { id, name })
            }
            None => None,
        };
        let pending = r.review.as_deref() == Some("pending");
        let review = match r.review.as_deref() {
            Some("pending") => Some("Awaiting review".to_owned()),
            Some(verdict) => Some(format!(
                "{} by {}",
                capitalize(verdict),
                r.reviewed_by.as_deref().unwrap_or("a user")
            )),
            None => None,
        };
        out.push(ReplyRow {
            id: r.id,
            received: crate::rfc3339(r.received_at),
            from_is_number: r.from.starts_with('+'),
            from: r.from,
            to: r.to,
            text: r.body,
            class: class_label(&r.class),
            class_code: class_code(&r.class),
            tier: tier_label(&r.tier),
            matched: r.matched,
            campaign,
            actions: r.actions.iter().map(|a| code_words(a)).collect(),
            review,
            pending,
        });
    }
    Ok(out)
}

/// How many replies await review, for the tab's badge: "3", "100+", or `None` for none.
async fn pending_count(state: &AppState, account: AccountId) -> Result<Option<String>, PageError> {
    let filter = ReplyFilter {
        pending_review: true,
        ..ReplyFilter::default()
    };
    let page = state
        .store
        .list_replies(account, &filter, None, COUNT_CAP)
        .await?;
    Ok(match (page.items.len(), page.next) {
        (0, _) => None,
        (_, Some(_)) => Some(format!("{COUNT_CAP}+")),
        (n, None) => Some(n.to_string()),
    })
}

// --- the list ----------------------------------------------------------------------------

/// A classification in the filter's list.
pub struct ClassOption {
    code: &'static str,
    label: &'static str,
    selected: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "replies.html")]
struct ListPage {
    layout: Layout,
    filters: ReplyFilters,
    classes: Vec<ClassOption>,
    errors: FieldErrors,
    /// Any filter is set (the empty state then says so).
    filtered: bool,
    rows: Vec<ReplyRow>,
    pending: Option<String>,
    /// The filters as a query string ending in `&`, for the paging links ("" when none).
    query: String,
    next: Option<i64>,
    paged: bool,
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    from: Option<String>,
    to: Option<String>,
    class: Option<String>,
    number: Option<String>,
    before: Option<String>,
    done: Option<String>,
}

/// The store filter the typed filters mean; `Err` names the filter at fault.
fn parse_filters<'a>(
    f: &'a ReplyFilters,
    digits: &'a mut Option<String>,
    region: stoplist_domain::Region,
) -> Result<ReplyFilter<'a>, FieldErrors> {
    // The Incoming report's reading of a date; "To" includes its whole day (the store's bound
    // is "received before").
    let from_time = match f.from.as_str() {
        "" => None,
        d => Some(parse_time(d, "from", false).map_err(|_| {
            FieldErrors::one("from", "From date must be a date such as 2026-11-28.")
        })?),
    };
    let to_time =
        match f.to.as_str() {
            "" => None,
            d => Some(parse_time(d, "to", true).map_err(|_| {
                FieldErrors::one("to", "To date must be a date such as 2026-11-30.")
            })?),
        };
    if let (Some(a), Some(b)) = (from_time, to_time)
        && b <= a
    {
        return Err(FieldErrors::one(
            "to",
            "To date is before From date: nothing can match.",
        ));
    }
    if !f.class.is_empty() && Class::parse(&f.class).is_err() {
        return Err(FieldErrors::one(
            "class",
            "Choose a classification from the list.",
        ));
    }
    if !f.number.is_empty() {
        *digits = Some(number_digits(&f.number, region).ok_or_else(|| {
            FieldErrors::one("number", "Number must contain some digits of the number.")
        })?);
    }
    Ok(ReplyFilter {
        from_time,
        to_time,
        class: Some(f.class.as_str()).filter(|c| !c.is_empty()),
        number: digits.as_deref(),
        pending_review: false,
    })
}

/// `GET /replies`: every reply, newest first, filtered, a page at a time.
pub async fn list(
    session: UiSession,
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    let account = session.account_id();
    let filters = ReplyFilters::typed(
        q.from.as_deref(),
        q.to.as_deref(),
        q.class.as_deref(),
        q.number.as_deref(),
    );
    let before = cursor(q.before.as_deref());
    let settings = state.account_settings(account).await?;
    let mut digits = None;
    let (errors, rows, next) = match parse_filters(&filters, &mut digits, settings.default_region) {
        Ok(f) => {
            let page = state
                .store
                .list_replies(account, &f, before, PAGE_SIZE)
                .await?;
            (
                FieldErrors::none(),
                rows(&state, account, page.items).await?,
                page.next,
            )
        }
        Err(errors) => (errors, vec![], None),
    };
    let query = filters.query();
    let classes = Class::ALL
        .into_iter()
        .map(|c| ClassOption {
            code: c.as_str(),
            label: class_label(c.as_str()),
            selected: c.as_str() == filters.class,
        })
        .collect();
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = ListPage {
        layout: session.layout("Replies", "replies", flash(q.done.as_deref())),
        filtered: !query.is_empty(),
        filters,
        classes,
        errors,
        rows,
        pending: pending_count(&state, account).await?,
        query,
        next,
        paged: before.is_some(),
    };
    Ok((status, page).into_response())
}

// --- the review queue ----------------------------------------------------------------------

#[derive(Template, WebTemplate)]
#[template(path = "replies_review.html")]
struct QueuePage {
    layout: Layout,
    csrf: String,
    rows: Vec<ReplyRow>,
    pending: Option<String>,
    /// Whether unclear replies count as opt-outs until reviewed (the account's setting).
    provisional: bool,
    next: Option<i64>,
    paged: bool,
}

#[derive(Deserialize, Default)]
pub struct QueueQuery {
    before: Option<String>,
    done: Option<String>,
}

/// `GET /replies/review`: the unclear replies awaiting a person's decision, newest first.
pub async fn queue(
    session: UiSession,
    State(state): State<AppState>,
    Query(q): Query<QueueQuery>,
) -> Result<Response, PageError> {
    let account = session.account_id();
    let before = cursor(q.before.as_deref());
    let filter = ReplyFilter {
        pending_review: true,
        ..ReplyFilter::default()
    };
    let page = state
        .store
        .list_replies(account, &filter, before, PAGE_SIZE)
        .await?;
    let settings = state.account_settings(account).await?;
    let page = QueuePage {
        layout: session.layout("Review queue", "replies", flash(q.done.as_deref())),
        csrf: session.csrf.clone(),
        rows: rows(&state, account, page.items).await?,
        pending: pending_count(&state, account).await?,
        provisional: settings.unclear_counts_as_optout,
        next: page.next,
        paged: before.is_some(),
    };
    Ok(page.into_response())
}

#[derive(Deserialize)]
pub struct ReviewForm {
    #[serde(default)]
    verdict: String,
}

/// `POST /replies/{id}/review`: **Confirm opt-out** (`verdict=confirm`) or **Dismiss**
/// (`verdict=dismiss`), decided by the signed-in user. A reply already decided (two people,
/// or a double click) changes nothing and says so.
pub async fn decide(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, form }: CsrfForm<ReviewForm>,
) -> Result<Response, PageError> {
    let id = id
        .parse::<i64>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or(PageError(AppError::NotFound("reply")))?;
    let confirm = match form.verdict.as_str() {
        "confirm" => true,
        "dismiss" => false,
        other => {
            return Err(PageError(AppError::invalid(
                "invalid_field",
                "verdict",
                format!("verdict: {other:?} is not confirm or dismiss"),
            )));
        }
    };
    let account = session.account_id();
    let done = match state
        .replies
        .review(account, id, confirm, &session.actor())
        .await
    {
        Ok(_) if confirm => "reply_confirmed",
        Ok(r) if r.optout.as_ref().is_some_and(|o| o.event_seq.is_some()) => {
            "reply_dismissed_lifted"
        }
        Ok(_) => "reply_dismissed",
        Err(AppError::Conflict { .. }) => "review_closed",
        Err(e) => return Err(e.into()),
    };
    tracing::info!(account = %account, reply = id, user = %session.user.id, verdict = form.verdict, "reply reviewed");
    Ok(Redirect::to(&format!("/replies/review?done={done}")).into_response())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn dates_are_read_as_midnight_utc_and_impossible_dates_are_refused() {
        // The page reads dates as the Incoming report does.
        let date_ms = |d: &str| parse_time(d, "from", false).ok();
        assert_eq!(date_ms("1970-01-01"), Some(0));
        assert_eq!(
            date_ms("2026-11-28").map(crate::rfc3339).as_deref(),
            Some("2026-11-28T00:00:00Z")
        );
        assert_eq!(
            date_ms("2024-02-29").map(crate::rfc3339).as_deref(),
            Some("2024-02-29T00:00:00Z")
        );
        assert_eq!(date_ms("2026-02-30"), None);
        assert_eq!(date_ms("2026-13-01"), None);
        assert_eq!(date_ms("yesterday"), None);
        assert_eq!(date_ms("2026-11"), None);
    }

    #[test]
    fn every_class_and_tier_has_a_label() {
        for c in Class::ALL {
            assert_ne!(class_label(c.as_str()), "Unknown");
            assert_eq!(class_code(c.as_str()), c.as_str());
        }
        for t in stoplist_domain::classify::Tier::ALL {
            assert_ne!(tier_label(t.as_str()), "other rule");
        }
        assert_eq!(code_words("opted_out"), "Opted out");
    }
}
