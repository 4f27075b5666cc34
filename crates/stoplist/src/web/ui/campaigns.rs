//! Campaigns (SPEC 3.7): the list, the New campaign form (groups, typed numbers and an
//! optional file of numbers, with a live character and segment counter), the preview of a
//! draft with its Invalid Numbers list and the Send button, and the status page of a sent
//! campaign: counts by status refreshed live while it sends, Pause / Resume / Cancel, and its
//! messages with a status filter and keyset paging.
//!
//! Owns the pages and the New campaign form's fields ([`NewUpload`], read and CSRF-checked by
//! `upload_form`, as the import pages' upload is). Owns no campaign rule: drafts, previews, sending and control go
//! through `crate::campaigns`, exactly as for the API and the CLI.
//!
//! **Send is idempotent.** The preview page carries a hidden key made when the page is
//! rendered; `campaigns::send` starts the campaign once per key, so a double click (or a
//! resubmitted form) queues nothing twice.

use super::session::Empty;
use super::upload_form::{FormRules, UploadForm, UploadRejection};
use super::{
    CsrfForm, FieldErrors, Layout, PAGE_SIZE, UiSession, actor_text, capitalize, code_words,
    cursor, flash, size_text, source_label, thousands, vary_on_htmx, wants_fragment,
};
use crate::campaigns::{self, CampaignInput, Preview, recipients};
use crate::error::{AppError, AppResult};
use crate::import::read::{self, ReadOptions};
use crate::import::upload::Upload;
use crate::state::AppState;
use crate::web::errors::PageError;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::path::PathBuf;
use stoplist_domain::CampaignId;
use stoplist_domain::settings::AccountSettings;
use stoplist_domain::sms::{self, Template as SmsTemplate};
use stoplist_store::{
    Campaign, CampaignAction, CampaignStatus, InvalidRecipient, Message, MessageCounts,
    MessageFilter, MessageStatus, StartOutcome,
};

/// Rows of the Invalid Numbers list a page shows.
const INVALID_PAGE: i64 = 100;
/// Room for the form's text fields and the multipart framing, beyond the file's own limit.
const FORM_OVERHEAD: u64 = 1024 * 1024;
/// The longest text field but the typed numbers (the message is at most a few segments).
const MAX_FIELD_BYTES: usize = 16 * 1024;
/// The typed numbers: `campaigns::MAX_TYPED` numbers with their separators and spacing.
const MAX_NUMBERS_BYTES: usize = campaigns::MAX_TYPED * 40;
/// How many fields the form may carry (one per checked group, plus a few).
const MAX_FIELDS: usize = 2_000;
/// What the file input accepts (a hint to the browser; the content decides).
const ACCEPT: &str = ".csv,.tsv,.txt,.xlsx,.xls,.ods";
/// The start of a recipients file's name in the temporary directory (not the import pages'
/// prefix: their sweep would remove a draft's file after an hour).
const FILE_PREFIX: &str = "stoplist-campaign-";

/// The form's labels, so that service messages read "Sender id: …".
const LABELS: &[(&str, &str)] = &[
    ("name", "Campaign name"),
    ("sender_id", "Sender id"),
    ("message", "Message"),
    ("numbers", "Numbers"),
    ("file", "File of numbers"),
    ("column", "Column of numbers"),
];

// --- shared pieces -----------------------------------------------------------------------

/// A campaign status as people read it, and its CSS class.
fn status_text(s: CampaignStatus) -> (&'static str, &'static str) {
    match s {
        CampaignStatus::Draft => ("Draft", "draft"),
        CampaignStatus::Sending => ("Sending", "running"),
        CampaignStatus::Paused => ("Paused", "paused"),
        CampaignStatus::Cancelled => ("Cancelled", "failed"),
        CampaignStatus::Done => ("Done", "done"),
    }
}

/// A message status as people read it.
fn message_status_text(s: MessageStatus) -> &'static str {
    match s {
        MessageStatus::Queued => "Queued",
        MessageStatus::Held => "Held (paused)",
        MessageStatus::Sending => "Sending",
        MessageStatus::Sent => "Sent",
        MessageStatus::Delivered => "Delivered",
        MessageStatus::Failed => "Failed",
        MessageStatus::Suppressed => "Suppressed (opted out)",
        MessageStatus::Cancelled => "Cancelled",
    }
}

/// A campaign id from the path; anything else is "not found".
fn campaign_id(raw: &str) -> Result<CampaignId, PageError> {
    raw.parse::<i64>()
        .ok()
        .filter(|v| *v > 0)
        .map(CampaignId)
        .ok_or(PageError(AppError::NotFound("campaign")))
}

/// Messages handed to the provider (sent or delivered).
fn sent(c: &MessageCounts) -> i64 {
    c.sent + c.delivered
}

// --- the list ----------------------------------------------------------------------------

/// One campaign of the list.
pub struct ListRow {
    id: i64,
    name: String,
    status: &'static str,
    status_class: &'static str,
    created: String,
    sent: String,
    failed: String,
    suppressed: String,
    total: String,
    draft: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "campaigns.html")]
struct ListPage {
    layout: Layout,
    rows: Vec<ListRow>,
    next: Option<i64>,
    paged: bool,
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    before: Option<String>,
    done: Option<String>,
}

/// `GET /campaigns`: the account's campaigns, newest first.
pub async fn list(
    session: UiSession,
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    let account = session.account_id();
    let before = cursor(q.before.as_deref());
    let page = state
        .store
        .list_campaigns(account, before, PAGE_SIZE)
        .await?;
    let mut rows = Vec::with_capacity(page.items.len());
    for c in &page.items {
        let counts = state.store.message_counts(account, c.id).await?;
        let (status, status_class) = status_text(c.status);
        rows.push(ListRow {
            id: c.id.0,
            name: c.name.clone(),
            status,
            status_class,
            created: crate::rfc3339(c.created_at),
            sent: thousands(sent(&counts)),
            failed: thousands(counts.failed),
            suppressed: thousands(counts.suppressed),
            total: thousands(counts.total),
            draft: c.status == CampaignStatus::Draft,
        });
    }
    let page = ListPage {
        layout: session.layout("Campaigns", "campaigns", flash(q.done.as_deref())),
        rows,
        next: page.next,
        paged: before.is_some(),
    };
    Ok(page.into_response())
}

// --- the message counter -------------------------------------------------------------------

/// What the counter under the message says.
pub struct Counter {
    empty: bool,
    characters: usize,
    segments: usize,
    encoding: &'static str,
    /// The characters that make the message UCS-2, quoted.
    ucs2: String,
    footer: bool,
    personalised: bool,
    too_long: bool,
    max: usize,
}

/// Counts `text` as it would be sent: with the account's footer when it is appended.
fn counter(text: &str, settings: &AccountSettings, max: usize) -> Counter {
    let body = sms::with_footer(text, &settings.footer_text, settings.footer_enabled);
    let seg = sms::segments(&body);
    Counter {
        empty: text.trim().is_empty(),
        characters: seg.characters,
        segments: seg.segments,
        encoding: match seg.encoding {
            sms::Encoding::Gsm7 => "GSM-7",
            sms::Encoding::Ucs2 => "UCS-2",
        },
        ucs2: sms::gsm7_unrepresentable(&body)
            .into_iter()
            .map(|c| format!("“{c}”"))
            .collect::<Vec<_>>()
            .join(" "),
        footer: body != text && !text.trim().is_empty(),
        personalised: SmsTemplate::parse(text).is_ok_and(|t| t.is_personalised()),
        too_long: seg.segments > max,
        max,
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "campaign_counter.html")]
struct CounterFragment {
    counter: Counter,
}

#[derive(Deserialize, Default)]
pub struct CounterQuery {
    #[serde(default)]
    message: String,
}

/// `GET /campaigns/counter?message=…`: the counter fragment (htmx, as the message is typed).
pub async fn counter_fragment(
    session: UiSession,
    State(state): State<AppState>,
    Query(q): Query<CounterQuery>,
) -> Result<Response, PageError> {
    let settings = state.account_settings(session.account_id()).await?;
    let counter = counter(&q.message, &settings, state.config.max_segments);
    Ok(CounterFragment { counter }.into_response())
}

// --- the New campaign form -----------------------------------------------------------------

/// A group to choose in the form.
pub struct GroupChoice {
    id: i64,
    name: String,
    contacts: i64,
    checked: bool,
}

/// What the user typed (kept when the form comes back with an error).
#[derive(Default)]
pub struct Typed {
    name: String,
    sender_id: String,
    message: String,
    numbers: String,
    column: String,
    groups: Vec<i64>,
}

#[derive(Template, WebTemplate)]
#[template(path = "campaign_new.html")]
struct NewPage {
    layout: Layout,
    csrf: String,
    typed: Typed,
    groups: Vec<GroupChoice>,
    errors: FieldErrors,
    accept: &'static str,
    max_size: String,
    counter: Counter,
}

async fn render_new(
    state: &AppState,
    session: &UiSession,
    typed: Typed,
    errors: FieldErrors,
    status: StatusCode,
) -> Result<Response, PageError> {
    let account = session.account_id();
    let groups = state.store.list_groups(account).await?;
    let settings = state.account_settings(account).await?;
    let page = NewPage {
        layout: session.layout("New campaign", "campaigns", None),
        csrf: session.csrf.clone(),
        groups: groups
            .into_iter()
            .map(|g| GroupChoice {
                checked: typed.groups.contains(&g.id.0),
                id: g.id.0,
                name: g.name,
                contacts: g.contact_count,
            })
            .collect(),
        counter: counter(&typed.message, &settings, state.config.max_segments),
        typed,
        errors,
        accept: ACCEPT,
        max_size: size_text(state.config.max_upload_bytes),
    };
    Ok((status, page).into_response())
}

/// `GET /campaigns/new`: the form.
pub async fn new_form(
    session: UiSession,
    State(state): State<AppState>,
) -> Result<Response, PageError> {
    render_new(
        &state,
        &session,
        Typed::default(),
        FieldErrors::none(),
        StatusCode::OK,
    )
    .await
}

/// The typed numbers: one a line, or separated by commas or semicolons; blanks dropped.
fn split_numbers(text: &str) -> Vec<String> {
    text.split(['\n', '\r', ',', ';'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The New campaign form as posted ([`UploadForm`]: origin, CSRF token before the file, size
/// limits), with its optional file of numbers.
pub struct NewUpload {
    session: UiSession,
    typed: Typed,
    /// The file, if one was chosen: its guard and its name.
    file: Option<(Upload, String)>,
}

/// What the New campaign form allows: many groups, and up to `campaigns::MAX_TYPED` typed
/// numbers.
const RULES: FormRules = FormRules {
    overhead: FORM_OVERHEAD,
    max_fields: MAX_FIELDS,
    field_limit: |name| {
        if name == "numbers" {
            let message = format!(
                "numbers: at most {} typed numbers; upload a file for more",
                campaigns::MAX_TYPED
            );
            (MAX_NUMBERS_BYTES, message)
        } else {
            (MAX_FIELD_BYTES, format!("{name}: too long"))
        }
    },
};

impl FromRequest<AppState> for NewUpload {
    type Rejection = UploadRejection;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let form = UploadForm::read(req, state, &RULES, |account| {
            Ok(std::env::temp_dir().join(format!(
                "{FILE_PREFIX}{}-{}",
                account.0,
                crate::auth::random_hex(16)
            )))
        })
        .await?;
        let mut typed = Typed::default();
        for (name, text) in form.fields {
            match name.as_str() {
                "name" => typed.name = text,
                "sender_id" => typed.sender_id = text,
                "message" => typed.message = text,
                "numbers" => typed.numbers = text,
                "column" => typed.column = text,
                // A group id that is not a number is no group: it contributes nobody.
                "groups" => typed.groups.extend(text.trim().parse::<i64>().ok()),
                _ => {}
            }
        }
        Ok(NewUpload {
            session: form.session,
            typed,
            file: form.file,
        })
    }
}

/// Checks that a recipients file can be read and its column of numbers found, before the
/// draft exists (so a bad file leaves no draft behind). The same checks as
/// `campaigns::attach_file`, which runs them again on the kept file.
async fn check_file(path: PathBuf, name: String, column: Option<String>) -> AppResult<()> {
    tokio::task::spawn_blocking(move || -> AppResult<()> {
        let (info, _) = read::open(&path, &name, &ReadOptions::default())
            .map_err(|e| AppError::invalid("unreadable_file", "file", e.to_string()))?;
        recipients::number_column(&info, column.as_deref())?;
        Ok(())
    })
    .await
    .map_err(|e| AppError::Internal(anyhow::anyhow!("reading the file: {e}")))?
}

/// A recipients file's error beside its field. A column that is not in the file comes from
/// the import's column resolver as `mapping.column` with a message for the API; the form
/// names its own field and says it in words.
fn file_error(e: AppError, column: &str) -> Result<FieldErrors, AppError> {
    match e {
        AppError::Invalid { field, message, .. } if field == "mapping.column" => {
            let columns = message
                .split_once("its columns are: ")
                .map(|(_, c)| format!(" Its columns are: {c}."))
                .unwrap_or_default();
            Ok(FieldErrors::one(
                "column",
                format!("The file has no column “{column}”.{columns}"),
            ))
        }
        other => FieldErrors::from_app(other, LABELS),
    }
}

/// `POST /campaigns/new`: creates the draft (and attaches its file), then shows its preview.
/// Invalid input changes nothing and is shown beside its field with everything typed.
pub async fn create(
    State(state): State<AppState>,
    upload: Result<NewUpload, UploadRejection>,
) -> Result<Response, PageError> {
    let NewUpload {
        session,
        typed,
        file,
    } = match upload {
        Ok(u) => u,
        Err(UploadRejection::Refused(r)) => return Ok(r),
        Err(UploadRejection::File {
            session,
            status,
            message,
        }) => {
            let errors = FieldErrors::one("file", message);
            return render_new(&state, &session, Typed::default(), errors, status).await;
        }
    };
    let account = session.account_id();
    let column = Some(typed.column.trim().to_owned()).filter(|c| !c.is_empty());
    let input = CampaignInput {
        name: typed.name.clone(),
        sender_id: typed.sender_id.clone(),
        message: typed.message.clone(),
        groups: typed.groups.clone(),
        numbers: split_numbers(&typed.numbers),
    };
    let invalid = |errors: FieldErrors| async {
        render_new(
            &state,
            &session,
            typed,
            errors,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await
    };
    // A draft with no source of numbers could never be sent: say so now, not at Send.
    if input.groups.is_empty() && input.numbers.is_empty() && file.is_none() {
        return invalid(FieldErrors::one(
            "recipients",
            "Choose at least one group, type some numbers, or upload a file of numbers.",
        ))
        .await;
    }
    if let Some((upload, name)) = &file
        && let Err(e) = check_file(upload.path().to_owned(), name.clone(), column.clone()).await
    {
        return invalid(file_error(e, column.as_deref().unwrap_or(""))?).await;
    }
    let draft = match campaigns::create(&state, account, &session.actor(), &input).await {
        Ok(c) => c,
        Err(e @ AppError::Invalid { .. }) => {
            return invalid(FieldErrors::from_app(e, LABELS)?).await;
        }
        Err(e) => return Err(e.into()),
    };
    if let Some((upload, name)) = file {
        campaigns::attach_file(&state, account, draft.id, upload, &name, column).await?;
    }
    tracing::info!(account = %account, campaign = %draft.id, user = %session.user.id, "campaign draft created");
    Ok(Redirect::to(&format!("/campaigns/{}?done=campaign_created", draft.id.0)).into_response())
}

// --- one campaign: preview (draft) or status -----------------------------------------------

/// What every campaign page says about the campaign.
pub struct Summary {
    id: i64,
    name: String,
    sender_id: String,
    message: String,
    status: &'static str,
    status_class: &'static str,
    created: String,
    created_by: String,
    groups: Vec<(i64, String)>,
    typed: usize,
    file: Option<String>,
    column: Option<String>,
}

async fn summary(state: &AppState, c: &Campaign) -> Result<Summary, PageError> {
    let mut groups = Vec::with_capacity(c.groups.len());
    for g in &c.groups {
        let name = match state.store.group(c.account, *g).await? {
            Some(group) => group.name,
            None => "a deleted group".to_owned(),
        };
        groups.push((g.0, name));
    }
    let (status, status_class) = status_text(c.status);
    Ok(Summary {
        id: c.id.0,
        name: c.name.clone(),
        sender_id: c.sender_id.clone(),
        message: c.message.clone(),
        status,
        status_class,
        created: crate::rfc3339(c.created_at),
        created_by: actor_text(&c.created_by),
        groups,
        typed: c.numbers.len(),
        file: c.file.as_ref().map(|f| f.name.clone()),
        column: c.file.as_ref().and_then(|f| f.column.clone()),
    })
}

/// The preview's figures, ready to show.
pub struct PreviewView {
    numbers_read: String,
    duplicates: String,
    invalid: String,
    reasons: Vec<(String, String)>,
    opted_out: String,
    recipients: String,
    nobody: bool,
    encoding: &'static str,
    characters: usize,
    segments: usize,
    max_segments: usize,
    ucs2: String,
    footer_appended: bool,
    personalised: bool,
    sample: String,
    previewed_at: String,
    truncated: bool,
}

impl From<&Preview> for PreviewView {
    fn from(p: &Preview) -> Self {
        let count = |n: u64| thousands(i64::try_from(n).unwrap_or(i64::MAX));
        PreviewView {
            numbers_read: count(p.numbers_read),
            duplicates: count(p.duplicates),
            invalid: count(p.invalid),
            reasons: p
                .invalid_by_reason
                .iter()
                .map(|(code, n)| (code_words(code), count(*n)))
                .collect(),
            opted_out: count(p.opted_out),
            recipients: count(p.recipients),
            nobody: p.recipients == 0,
            encoding: if p.message.encoding == "ucs2" {
                "UCS-2"
            } else {
                "GSM-7"
            },
            characters: p.message.characters,
            segments: p.message.segments,
            max_segments: p.message.max_segments,
            ucs2: p
                .message
                .ucs2_characters
                .iter()
                .map(|c| format!("“{c}”"))
                .collect::<Vec<_>>()
                .join(" "),
            footer_appended: p.message.footer_appended,
            personalised: p.message.personalised,
            sample: p.message.sample.clone(),
            previewed_at: crate::rfc3339(p.previewed_at),
            truncated: p.invalid_list_truncated,
        }
    }
}

/// One row of the Invalid Numbers list.
pub struct InvalidRow {
    origin: String,
    number: String,
    reason: String,
    opted_out: bool,
    detail: String,
    since: Option<String>,
    source: Option<&'static str>,
}

impl From<InvalidRecipient> for InvalidRow {
    fn from(r: InvalidRecipient) -> Self {
        InvalidRow {
            opted_out: r.reason == "opted_out",
            reason: code_words(&r.reason),
            origin: r.origin,
            number: r.raw,
            detail: r.detail,
            since: r.optout_since.map(crate::rfc3339),
            source: r.optout_source.as_deref().map(source_label),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "campaign_preview.html")]
struct PreviewPage {
    layout: Layout,
    csrf: String,
    c: Summary,
    preview: Option<PreviewView>,
    /// Why the preview or the send did not go through, when it did not.
    problem: Option<String>,
    invalid: Vec<InvalidRow>,
    invalid_next: Option<i64>,
    invalid_paged: bool,
    send_key: String,
}

/// The live part of the status page (also the htmx fragment).
pub struct Live {
    id: i64,
    status: &'static str,
    status_class: &'static str,
    /// Polls while messages may still change.
    active: bool,
    paused: bool,
    can_pause: bool,
    can_cancel: bool,
    counts: Vec<CountRow>,
    /// The progress bar's maximum (at least 1: an empty bar is full, not broken).
    progress_max: i64,
    finished: i64,
    percent: i64,
    sent: String,
    total_text: String,
    started: Option<String>,
    ended: Option<String>,
    csrf: String,
    /// Failed messages whose fate is unknown (their instance stopped before the provider
    /// answered), formatted; `None` when there are none.
    interrupted: Option<String>,
}

/// One status of the counts table.
pub struct CountRow {
    label: &'static str,
    value: String,
    class: &'static str,
}

fn live(c: &Campaign, counts: &MessageCounts, csrf: &str) -> Live {
    let (status, status_class) = status_text(c.status);
    let waiting = counts.queued + counts.held + counts.sending;
    let finished = counts.total - waiting;
    let row = |label, value: i64, class| CountRow {
        label,
        value: thousands(value),
        class,
    };
    Live {
        id: c.id.0,
        status,
        status_class,
        active: matches!(c.status, CampaignStatus::Sending | CampaignStatus::Paused),
        paused: c.status == CampaignStatus::Paused,
        can_pause: c.status == CampaignStatus::Sending,
        can_cancel: matches!(c.status, CampaignStatus::Sending | CampaignStatus::Paused),
        counts: vec![
            row("Queued", counts.queued, ""),
            row("Held (paused)", counts.held, ""),
            row("Sending now", counts.sending, ""),
            row("Sent", counts.sent, "ok"),
            row("Delivered", counts.delivered, "ok"),
            row("Failed", counts.failed, "bad"),
            row("Suppressed (opted out)", counts.suppressed, ""),
            row("Cancelled", counts.cancelled, ""),
        ],
        progress_max: counts.total.max(1),
        finished: if counts.total == 0 { 1 } else { finished },
        percent: (finished * 100).checked_div(counts.total).unwrap_or(100),
        sent: thousands(sent(counts)),
        total_text: thousands(counts.total),
        started: c.started_at.map(crate::rfc3339),
        ended: c.finished_at.map(crate::rfc3339),
        csrf: csrf.to_owned(),
        interrupted: (counts.interrupted > 0).then(|| thousands(counts.interrupted)),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "campaign_live.html")]
struct LiveFragment {
    live: Live,
}

/// One outbound message.
pub struct MessageRow {
    number: String,
    status: &'static str,
    failed: bool,
    error_code: String,
    error_message: String,
    sent_at: Option<String>,
}

impl From<Message> for MessageRow {
    fn from(m: Message) -> Self {
        MessageRow {
            number: m.number.as_str().to_owned(),
            status: message_status_text(m.status),
            failed: m.status == MessageStatus::Failed,
            error_code: m.error_code.unwrap_or_default(),
            error_message: m.error_message.unwrap_or_default(),
            sent_at: m.sent_at.map(crate::rfc3339),
        }
    }
}

/// A status of the messages filter.
pub struct FilterOption {
    code: &'static str,
    label: &'static str,
    selected: bool,
}

/// The messages table (also the htmx fragment).
pub struct Messages {
    id: i64,
    rows: Vec<MessageRow>,
    /// The status filter ("" for all).
    status: String,
    next: Option<i64>,
    paged: bool,
    active: bool,
    /// This page's query string, for polling the same page.
    query: String,
    empty_message: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "campaign_messages.html")]
struct MessagesFragment {
    messages: Messages,
}

#[derive(Template, WebTemplate)]
#[template(path = "campaign_status.html")]
struct StatusPage {
    layout: Layout,
    c: Summary,
    live: Live,
    filters: Vec<FilterOption>,
    messages: Messages,
}

#[derive(Deserialize, Default)]
pub struct CampaignQuery {
    done: Option<String>,
    /// Invalid Numbers list (draft) or messages (sent) cursor.
    after: Option<String>,
    /// The messages' status filter.
    status: Option<String>,
    /// Which fragment an htmx poll wants: `live` or `messages`.
    part: Option<String>,
}

/// `GET /campaigns/{id}`: the preview of a draft, or the status of a campaign once sent.
pub async fn show(
    session: UiSession,
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<CampaignQuery>,
) -> Result<Response, PageError> {
    let id = campaign_id(&id)?;
    let account = session.account_id();
    let mut view = campaigns::view(&state, account, id).await?;
    if view.campaign.status == CampaignStatus::Draft && !wants_fragment(&headers) {
        // A draft made elsewhere (the API, the CLI) has no preview yet: run it now.
        let mut problem = None;
        if view.preview.is_none() {
            match campaigns::preview(&state, account, id).await {
                Ok(p) => view.preview = Some(p),
                Err(e @ AppError::Invalid { .. }) => problem = Some(problem_text(e)),
                Err(e) => return Err(e.into()),
            }
        }
        let flash = flash(q.done.as_deref());
        let resp = render_preview(
            &state,
            &session,
            &view.campaign,
            view.preview,
            problem,
            &q,
            flash,
        )
        .await?;
        return Ok(resp.into_response());
    }
    let c = &view.campaign;
    let messages = messages(&state, &session, c, &q).await?;
    if wants_fragment(&headers) {
        let resp = match q.part.as_deref() {
            Some("messages") => MessagesFragment { messages }.into_response(),
            _ => LiveFragment {
                live: live(c, &view.counts, &session.csrf),
            }
            .into_response(),
        };
        return Ok(vary_on_htmx(resp));
    }
    let page = StatusPage {
        layout: session.layout(&c.name, "campaigns", flash(q.done.as_deref())),
        c: summary(&state, c).await?,
        live: live(c, &view.counts, &session.csrf),
        filters: std::iter::once(("", "Every status"))
            .chain(
                MessageStatus::ALL
                    .into_iter()
                    .map(|s| (s.as_str(), message_status_text(s))),
            )
            .chain(std::iter::once((
                MessageFilter::FateUnknown.as_str(),
                "Fate unknown (interrupted)",
            )))
            .map(|(code, label)| FilterOption {
                code,
                label,
                selected: messages.status == code,
            })
            .collect(),
        messages,
    };
    Ok(vary_on_htmx(page.into_response()))
}

/// A service error about the campaign as a sentence for the page.
fn problem_text(e: AppError) -> String {
    match e {
        AppError::Invalid { field, message, .. } => {
            let rest = message
                .strip_prefix(field.as_str())
                .and_then(|r| r.strip_prefix(": "))
                .unwrap_or(&message);
            capitalize(rest)
        }
        other => other.to_string(),
    }
}

async fn render_preview(
    state: &AppState,
    session: &UiSession,
    c: &Campaign,
    preview: Option<Preview>,
    problem: Option<String>,
    q: &CampaignQuery,
    flash: Option<&'static str>,
) -> Result<Response, PageError> {
    let after = cursor(q.after.as_deref());
    let mut rows = state
        .store
        .campaign_invalid(c.account, c.id, after.unwrap_or(0), INVALID_PAGE + 1)
        .await?;
    let more = rows.len() as i64 > INVALID_PAGE;
    rows.truncate(INVALID_PAGE as usize);
    let invalid_next = if more {
        rows.last().map(|r| r.seq)
    } else {
        None
    };
    let page = PreviewPage {
        layout: session.layout(&c.name, "campaigns", flash),
        csrf: session.csrf.clone(),
        c: summary(state, c).await?,
        preview: preview.as_ref().map(PreviewView::from),
        problem,
        invalid: rows.into_iter().map(InvalidRow::from).collect(),
        invalid_next,
        invalid_paged: after.is_some(),
        send_key: crate::auth::random_hex(16),
    };
    Ok(page.into_response())
}

async fn messages(
    state: &AppState,
    session: &UiSession,
    c: &Campaign,
    q: &CampaignQuery,
) -> Result<Messages, PageError> {
    let filter = q.status.as_deref().and_then(MessageFilter::parse);
    let after = cursor(q.after.as_deref());
    let page = state
        .store
        .list_messages(session.account_id(), c.id, filter, after, PAGE_SIZE)
        .await?;
    let status = filter.map(|s| s.as_str()).unwrap_or("").to_owned();
    let mut query = String::new();
    if !status.is_empty() {
        query.push_str(&format!("&status={status}"));
    }
    if let Some(a) = after {
        query.push_str(&format!("&after={a}"));
    }
    let empty_message = match (status.is_empty(), after) {
        (_, Some(_)) => "No more messages — go back to the first page.",
        (false, None) => "No messages with this status — choose another status, or every status.",
        (true, None) => "No messages — this campaign queued none.",
    };
    Ok(Messages {
        id: c.id.0,
        rows: page.items.into_iter().map(MessageRow::from).collect(),
        status,
        next: page.next,
        paged: after.is_some(),
        active: matches!(c.status, CampaignStatus::Sending | CampaignStatus::Paused),
        query,
        empty_message,
    })
}

/// `POST /campaigns/{id}/preview`: runs the preview again (the opt-out list or the groups
/// may have changed since).
pub async fn repreview(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, .. }: CsrfForm<Empty>,
) -> Result<Response, PageError> {
    let id = campaign_id(&id)?;
    let account = session.account_id();
    match campaigns::preview(&state, account, id).await {
        Ok(_) => Ok(Redirect::to(&format!("/campaigns/{}?done=previewed", id.0)).into_response()),
        Err(e @ AppError::Invalid { .. }) => {
            let view = campaigns::view(&state, account, id).await?;
            let q = CampaignQuery::default();
            let resp = render_preview(
                &state,
                &session,
                &view.campaign,
                view.preview,
                Some(problem_text(e)),
                &q,
                None,
            )
            .await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, resp).into_response())
        }
        Err(AppError::Conflict { .. }) => Ok(not_a_draft(id)),
        Err(e) => Err(e.into()),
    }
}

/// Back to a campaign that is no longer a draft, saying so.
fn not_a_draft(id: CampaignId) -> Response {
    Redirect::to(&format!("/campaigns/{}?done=campaign_not_draft", id.0)).into_response()
}

#[derive(Deserialize)]
pub struct SendForm {
    #[serde(default)]
    key: String,
}

/// `POST /campaigns/{id}/send`: queues the draft's messages. The hidden key makes a second
/// submit of the same page answer "already sent" instead of queueing again.
pub async fn send(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, form }: CsrfForm<SendForm>,
) -> Result<Response, PageError> {
    let id = campaign_id(&id)?;
    let account = session.account_id();
    let key = match form.key.trim() {
        k if !k.is_empty() && k.len() <= 200 => format!("ui-{k}"),
        // A form without its key (an old page): this send gets a key of its own.
        _ => format!("ui-{}", crate::auth::random_hex(16)),
    };
    match campaigns::send(&state, account, id, &key).await {
        Ok(StartOutcome::Started { queued, suppressed }) => {
            tracing::info!(account = %account, campaign = %id, user = %session.user.id, queued, suppressed, "campaign sent from the web UI");
            Ok(Redirect::to(&format!("/campaigns/{}?done=campaign_sending", id.0)).into_response())
        }
        Ok(StartOutcome::AlreadyStarted) => Ok(Redirect::to(&format!(
            "/campaigns/{}?done=campaign_already_sending",
            id.0
        ))
        .into_response()),
        Err(e @ AppError::Invalid { .. }) => {
            let view = campaigns::view(&state, account, id).await?;
            let q = CampaignQuery::default();
            let resp = render_preview(
                &state,
                &session,
                &view.campaign,
                view.preview,
                Some(format!("Nothing was sent: {}", problem_text(e))),
                &q,
                None,
            )
            .await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, resp).into_response())
        }
        Err(AppError::Conflict { .. }) => Ok(not_a_draft(id)),
        Err(e) => Err(e.into()),
    }
}

/// Pause, resume or cancel; a campaign not in a state the action applies to is left as it
/// is, and the page says so.
async fn control(
    state: &AppState,
    session: &UiSession,
    raw: &str,
    action: CampaignAction,
) -> Result<Response, PageError> {
    let id = campaign_id(raw)?;
    let done = match campaigns::control(state, session.account_id(), id, action).await {
        Ok(_) => match action {
            CampaignAction::Pause => "campaign_paused",
            CampaignAction::Resume => "campaign_resumed",
            CampaignAction::Cancel => "campaign_cancelled",
        },
        Err(AppError::Conflict { .. }) => "campaign_control_refused",
        Err(e) => return Err(e.into()),
    };
    tracing::info!(account = %session.account_id(), campaign = %id, user = %session.user.id, ?action, done, "campaign control");
    Ok(Redirect::to(&format!("/campaigns/{}?done={done}", id.0)).into_response())
}

/// `POST /campaigns/{id}/pause`.
pub async fn pause(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, .. }: CsrfForm<Empty>,
) -> Result<Response, PageError> {
    control(&state, &session, &id, CampaignAction::Pause).await
}

/// `POST /campaigns/{id}/resume`.
pub async fn resume(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, .. }: CsrfForm<Empty>,
) -> Result<Response, PageError> {
    control(&state, &session, &id, CampaignAction::Resume).await
}

/// `POST /campaigns/{id}/cancel`.
pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, .. }: CsrfForm<Empty>,
) -> Result<Response, PageError> {
    control(&state, &session, &id, CampaignAction::Cancel).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn typed_numbers_split_on_lines_commas_and_semicolons() {
        assert_eq!(
            split_numbers("0412 000 001\r\n0412000002, +61412000003;\n\n ,"),
            vec!["0412 000 001", "0412000002", "+61412000003"]
        );
        assert!(split_numbers("  \n , ").is_empty());
    }

    #[test]
    fn reason_codes_read_as_words() {
        assert_eq!(code_words("opted_out"), "Opted out");
        assert_eq!(code_words("too_short"), "Too short");
    }

    #[test]
    fn the_counter_counts_the_footer_it_appends() {
        let settings = AccountSettings {
            footer_enabled: true,
            footer_text: "Reply STOP to opt out".into(),
            ..AccountSettings::default()
        };
        let plain = counter("Sale today", &settings, 6);
        assert!(plain.footer);
        assert_eq!(plain.characters, "Sale today\nReply STOP to opt out".len());
        let instructed = counter("Sale today. Reply STOP to opt out", &settings, 6);
        assert!(
            !instructed.footer,
            "a text that says how to opt out gets no footer"
        );
        let ucs2 = counter("Café ☕", &settings, 6);
        assert_eq!(ucs2.encoding, "UCS-2");
        assert!(ucs2.ucs2.contains('☕'));
        assert!(counter("   ", &settings, 6).empty);
    }
}
