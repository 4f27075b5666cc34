//! The audit log report: an account's security events, newest first, in the four export
//! formats of the other reports.

use super::{ExportFile, Format, PAGE_ROWS, Report, write_table};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use stoplist_domain::AccountId;
use stoplist_store::AuditEntry;

/// The audit log's columns.
pub const AUDIT_COLUMNS: &[&str] = &["time", "event", "actor", "subject", "detail", "address"];
const AUDIT_WIDTHS: &[f32] = &[1.4, 1.3, 1.4, 1.4, 2.0, 1.0];

fn audit_cells(e: &AuditEntry) -> Vec<String> {
    vec![
        crate::rfc3339(e.at),
        e.event.as_str().to_owned(),
        e.actor.to_string(),
        e.subject.clone(),
        e.detail.clone(),
        e.address.clone(),
    ]
}

/// The account's audit log as `format`, read a page at a time by id.
pub async fn audit_log(
    state: &AppState,
    account: AccountId,
    format: Format,
) -> AppResult<ExportFile> {
    let store = state.store.clone();
    let pages = futures_util::stream::try_unfold(Some(None), move |cursor| {
        let store = store.clone();
        async move {
            let Some(before) = cursor else {
                return Ok::<_, AppError>(None);
            };
            let page = store.audit_log(account, before, PAGE_ROWS).await?;
            if page.is_empty() {
                return Ok(None);
            }
            let next = (page.len() as i64 == PAGE_ROWS).then(|| page.last().map(|e| e.id));
            Ok(Some((page, next)))
        }
    });
    let report = Report {
        format,
        title: "Audit log".into(),
        file_stem: "audit-log".into(),
        filters: Vec::new(),
        columns: AUDIT_COLUMNS,
        widths: AUDIT_WIDTHS,
    };
    write_table(state, account, report, Box::pin(pages), audit_cells).await
}
