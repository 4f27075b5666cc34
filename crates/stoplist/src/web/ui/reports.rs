//! Reports (SPEC 3.8, 3.9): Reports → Incoming, every reply with its classification, matched
//! campaign and actions, filtered by date range, classification and number, a page at a time
//! (keyset paging), with the four export buttons (CSV, TSV, XLSX, PDF) that download the whole
//! filtered report.
//!
//! Owns the page and its download route. Owns no rule: the filters are read by
//! `reports::incoming::IncomingFilter` (as the API and the CLI read them), the rows come from
//! `reports::incoming::page` and the files from `reports::incoming::export`. The downloads
//! have their own route because `/api/v1` takes API keys only, not the session cookie.

use super::{
    FieldErrors, Layout, PAGE_SIZE, ReplyFilters, UiSession, class_label, code_words, cursor,
    flash, tier_label,
};
use crate::reports::incoming::{self, IncomingFilter, RawFilter};
use crate::reports::{self, Format};
use crate::state::AppState;
use crate::web::errors::PageError;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use stoplist_domain::classify::Class;
use stoplist_store::export::IncomingReply;

/// The filters' labels, for messages that name the field.
const LABELS: &[(&str, &str)] = &[
    ("from", "From date"),
    ("to", "To date"),
    ("class", "Classification"),
    ("number", "Number"),
    ("format", "Format"),
];

/// One reply as the report's table shows it.
pub struct Row {
    received: String,
    from: String,
    /// The sender is a phone number (its opt-out history can be opened).
    from_is_number: bool,
    to: String,
    text: String,
    /// The classification's code, for its CSS class (`""` when unknown).
    class_code: &'static str,
    class: &'static str,
    tier: &'static str,
    campaign: Option<(i64, String)>,
    actions: Vec<String>,
}

impl From<IncomingReply> for Row {
    fn from(r: IncomingReply) -> Row {
        let class_code = Class::parse(&r.class).map(Class::as_str).unwrap_or("");
        Row {
            received: crate::rfc3339(r.received_at),
            from_is_number: r.from.starts_with('+'),
            from: r.from,
            to: r.to,
            text: r.body,
            class_code,
            class: class_label(&r.class),
            tier: tier_label(&r.tier),
            campaign: r.matched_campaign_id.zip(r.campaign),
            actions: r.actions.iter().map(|a| code_words(a)).collect(),
        }
    }
}

/// A classification in the filter's list.
pub struct ClassOption {
    code: &'static str,
    label: &'static str,
    selected: bool,
}

/// An export button.
pub struct ExportLink {
    /// The `format` parameter.
    format: &'static str,
    /// The button's text.
    label: &'static str,
}

impl ReplyFilters {
    fn raw(&self) -> RawFilter<'_> {
        RawFilter {
            from: Some(self.from.as_str()),
            to: Some(self.to.as_str()),
            class: Some(self.class.as_str()),
            number: Some(self.number.as_str()),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "reports_incoming.html")]
struct IncomingPage {
    layout: Layout,
    filters: ReplyFilters,
    classes: Vec<ClassOption>,
    errors: FieldErrors,
    /// Any filter is set (the empty state then says so).
    filtered: bool,
    rows: Vec<Row>,
    /// The filters as a query string ending in `&`, for the paging and export links.
    query: String,
    exports: Vec<ExportLink>,
    next: Option<i64>,
    paged: bool,
}

/// The page's query string.
#[derive(Deserialize, Default)]
pub struct IncomingQuery {
    from: Option<String>,
    to: Option<String>,
    class: Option<String>,
    number: Option<String>,
    before: Option<String>,
    format: Option<String>,
    done: Option<String>,
}

impl IncomingQuery {
    fn filters(&self) -> ReplyFilters {
        ReplyFilters::typed(
            self.from.as_deref(),
            self.to.as_deref(),
            self.class.as_deref(),
            self.number.as_deref(),
        )
    }
}

/// `GET /reports/incoming`: the Incoming report, newest first, filtered, a page at a time.
/// A bad filter is shown beside its field (422) and no rows are read.
pub async fn incoming(
    session: UiSession,
    State(state): State<AppState>,
    Query(q): Query<IncomingQuery>,
) -> Result<Response, PageError> {
    let account = session.account_id();
    let filters = q.filters();
    let before = cursor(q.before.as_deref());
    let (errors, rows, next) =
        match IncomingFilter::for_account(&state, account, &filters.raw()).await {
            Ok(f) => {
                let (rows, next) = incoming::page(&state, account, &f, before, PAGE_SIZE).await?;
                let rows = rows.into_iter().map(Row::from).collect();
                (FieldErrors::none(), rows, next)
            }
            Err(e) => (FieldErrors::from_app(e, LABELS)?, vec![], None),
        };
    let classes = Class::ALL
        .into_iter()
        .map(|c| ClassOption {
            code: c.as_str(),
            label: class_label(c.as_str()),
            selected: c.as_str() == filters.class,
        })
        .collect();
    let exports = Format::ALL
        .into_iter()
        .map(|f| ExportLink {
            format: f.as_str(),
            label: match f {
                Format::Csv => "CSV",
                Format::Tsv => "TSV",
                Format::Xlsx => "XLSX",
                Format::Pdf => "PDF",
            },
        })
        .collect();
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let query = filters.query();
    let page = IncomingPage {
        layout: session.layout("Incoming report", "reports", flash(q.done.as_deref())),
        filtered: !query.is_empty(),
        filters,
        classes,
        errors,
        rows,
        query,
        exports,
        next,
        paged: before.is_some(),
    };
    Ok((status, page).into_response())
}

/// `GET /reports/incoming/export?format=…`: the filtered report as a file, for the signed-in
/// user's account. A bad filter or format is an error page naming it.
pub async fn incoming_export(
    session: UiSession,
    State(state): State<AppState>,
    Query(q): Query<IncomingQuery>,
) -> Result<Response, PageError> {
    let account = session.account_id();
    let format = reports::parse_format(q.format.as_deref(), Format::Csv)?;
    let filters = q.filters();
    let filter = IncomingFilter::for_account(&state, account, &filters.raw()).await?;
    let file = incoming::export(&state, account, &filter, format).await?;
    tracing::info!(account = %account, format = %format, rows = file.rows, "incoming report exported");
    Ok(crate::web::api::reports::attachment(file))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn the_query_keeps_only_set_filters() {
        let f = ReplyFilters {
            from: "2026-11-01".into(),
            number: "0412 345".into(),
            ..ReplyFilters::default()
        };
        assert_eq!(f.query(), "from=2026-11-01&number=0412+345&");
        assert_eq!(ReplyFilters::default().query(), "");
    }
}
