//! The campaign report's per-message table (SPEC 3.7, 3.8): every message of one campaign by
//! id, optionally of one status, read in keyset pages.

use super::{ExportFile, Format, PAGE_ROWS, Report, check_pdf_rows, write_table};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use stoplist_domain::{AccountId, CampaignId};
use stoplist_store::{Message, MessageCounts, MessageStatus};

/// The messages table's columns.
pub const MESSAGE_COLUMNS: &[&str] = &[
    "id",
    "number",
    "status",
    "sender",
    "text",
    "provider_id",
    "error_code",
    "sent_at",
];
const MESSAGE_WIDTHS: &[f32] = &[0.6, 1.3, 0.8, 0.9, 4.0, 1.4, 0.8, 1.5];

fn message_cells(m: &Message) -> Vec<String> {
    vec![
        m.id.0.to_string(),
        m.number.as_str().to_owned(),
        m.status.as_str().to_owned(),
        m.sender_id.clone(),
        m.body.clone(),
        m.provider_id.clone().unwrap_or_default(),
        m.error_code.clone().unwrap_or_default(),
        m.sent_at.map(crate::rfc3339).unwrap_or_default(),
    ]
}

/// Reads a message status filter; absent or empty means every status. Anything else is a 422
/// naming the field `status` and the statuses allowed.
pub fn parse_status(raw: Option<&str>) -> AppResult<Option<MessageStatus>> {
    match raw.map(str::trim).filter(|r| !r.is_empty()) {
        None => Ok(None),
        Some(r) => MessageStatus::parse(&r.to_ascii_lowercase())
            .map(Some)
            .ok_or_else(|| {
                let allowed: Vec<&str> = MessageStatus::ALL.iter().map(|s| s.as_str()).collect();
                AppError::invalid(
                    "invalid_field",
                    "status",
                    format!(
                        "status: {r:?} is not a message status ({})",
                        allowed.join(", ")
                    ),
                )
            }),
    }
}

/// How many of a campaign's messages have `status` (all of them for `None`).
fn count_of(counts: &MessageCounts, status: Option<MessageStatus>) -> i64 {
    match status {
        None => counts.total,
        Some(MessageStatus::Queued) => counts.queued,
        Some(MessageStatus::Held) => counts.held,
        Some(MessageStatus::Sending) => counts.sending,
        Some(MessageStatus::Sent) => counts.sent,
        Some(MessageStatus::Delivered) => counts.delivered,
        Some(MessageStatus::Failed) => counts.failed,
        Some(MessageStatus::Suppressed) => counts.suppressed,
        Some(MessageStatus::Cancelled) => counts.cancelled,
    }
}

/// Campaign `id`'s messages, by id, as `format`. Another account's campaign is "not found".
/// A PDF of more than [`super::MAX_PDF_ROWS`] messages is refused (422 on `format`).
pub async fn messages(
    state: &AppState,
    account: AccountId,
    id: CampaignId,
    format: Format,
    status: Option<MessageStatus>,
) -> AppResult<ExportFile> {
    let campaign = crate::campaigns::get(state, account, id).await?;
    let counts = state.store.message_counts(account, id).await?;
    check_pdf_rows(format, count_of(&counts, status))?;
    let store = state.store.clone();
    // The state is the next page's cursor: `Some(after)`, or `None` once the last page is read.
    let pages = futures_util::stream::try_unfold(Some(None::<i64>), move |cursor| {
        let store = store.clone();
        async move {
            let Some(after) = cursor else {
                return Ok(None);
            };
            let page = store
                .list_messages(
                    account,
                    id,
                    status.map(stoplist_store::MessageFilter::Status),
                    after,
                    PAGE_ROWS,
                )
                .await?;
            Ok::<_, AppError>(Some((page.items, page.next.map(Some))))
        }
    });
    let mut filters = vec![("Campaign".to_owned(), campaign.name.clone())];
    if let Some(s) = status {
        filters.push(("Status".into(), s.as_str().into()));
    }
    let report = Report {
        format,
        title: format!("Campaign messages: {}", campaign.name),
        file_stem: format!("campaign-{}-messages", id.0),
        filters,
        columns: MESSAGE_COLUMNS,
        widths: MESSAGE_WIDTHS,
    };
    write_table(state, account, report, pages, message_cells).await
}
