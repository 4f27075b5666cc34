//! The opt-out reports (SPEC 3.5, 3.8): the opt-out list (number, since, source, actor,
//! evidence), optionally searched by digits, and one number's event log from the ledger.

use super::{ExportFile, Format, PAGE_ROWS, Report, check_pdf_rows, write_table};
use crate::error::AppResult;
use crate::state::AppState;
use futures_util::TryStreamExt;
use stoplist_domain::{AccountId, PhoneNumber};
use stoplist_store::{EventRecord, OptOut};

/// The opt-out list's columns.
pub const OPTOUT_COLUMNS: &[&str] = &["number", "opted_out_since", "source", "actor", "evidence"];
const OPTOUT_WIDTHS: &[f32] = &[1.4, 1.6, 0.8, 1.8, 3.0];

/// The event log's columns (also the evidence bundle's PDF table).
pub const EVENT_COLUMNS: &[&str] = &[
    "time", "kind", "source", "actor", "reason", "evidence", "seq", "hash",
];
/// The hash column is wide enough for all 64 hex digits: it is the evidence.
pub(super) const EVENT_WIDTHS: &[f32] = &[1.4, 0.65, 0.6, 0.95, 0.95, 1.05, 0.4, 4.6];

fn optout_cells(o: &OptOut) -> Vec<String> {
    vec![
        o.number.as_str().to_owned(),
        crate::rfc3339(o.created_at),
        o.source.as_str().to_owned(),
        o.actor.to_string(),
        o.evidence.clone().unwrap_or_default(),
    ]
}

pub(super) fn event_cells(e: &EventRecord) -> Vec<String> {
    let c = &e.event.content;
    vec![
        crate::rfc3339(c.at_ms),
        c.kind.as_str().to_owned(),
        c.source.as_str().to_owned(),
        c.actor.to_string(),
        c.reason.clone().unwrap_or_default(),
        c.evidence.clone().unwrap_or_default(),
        c.seq.to_string(),
        e.event.hash.to_hex(),
    ]
}

/// The account's opt-out list, newest first, as `format`; `search` keeps numbers containing
/// those digits (as the list's search does). Read in chunks by id, a chunk ahead
/// ([`stoplist_store::ExportStore::optout_rows`]), written in pages of [`PAGE_ROWS`].
/// A PDF of more than [`super::MAX_PDF_ROWS`] rows is refused (422 on `format`).
pub async fn optout_list(
    state: &AppState,
    account: AccountId,
    format: Format,
    search: Option<&str>,
) -> AppResult<ExportFile> {
    let search: Option<String> = search
        .map(|s| s.chars().filter(char::is_ascii_digit).collect())
        .filter(|s: &String| !s.is_empty());
    if search.is_none() {
        check_pdf_rows(format, state.store.count_optouts(account).await?)?;
    }
    let pages = state
        .store
        .optout_rows(account, search.as_deref())
        .try_chunks(PAGE_ROWS as usize)
        .map_err(|e| crate::error::AppError::from(e.1));
    let filters = search
        .iter()
        .map(|s| ("Number contains".to_owned(), s.clone()))
        .collect();
    let report = Report {
        format,
        title: "Opt-outs".into(),
        file_stem: "optouts".into(),
        filters,
        columns: OPTOUT_COLUMNS,
        widths: OPTOUT_WIDTHS,
    };
    write_table(state, account, report, pages, optout_cells).await
}

/// Every change to `number`'s place on the opt-out list, oldest first, with each event's
/// ledger seq and hash. A number's history is short, so it is read in one query.
pub async fn number_events(
    state: &AppState,
    account: AccountId,
    number: &PhoneNumber,
    format: Format,
) -> AppResult<ExportFile> {
    let events = state.store.number_events(account, number).await?;
    let pages = futures_util::stream::once(async { Ok(events) });
    let report = Report {
        format,
        title: format!("Opt-out events of {number}"),
        file_stem: format!("optout-events-{}", number_stem(number)),
        filters: vec![("Number".into(), number.as_str().to_owned())],
        columns: EVENT_COLUMNS,
        widths: EVENT_WIDTHS,
    };
    write_table(state, account, report, pages, event_cells).await
}

/// The digits of a number, for a file name (`+61412345678` → `61412345678`).
pub(super) fn number_stem(number: &PhoneNumber) -> String {
    number.as_str().trim_start_matches('+').to_owned()
}
