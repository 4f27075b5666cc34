//! Contacts → Import and the Opt Out Manager's upload (SPEC 3.4, 3.5): choose a file (and,
//! for contacts, a group and "Reset contacts that have previously opted out?"), see a preview
//! with the guessed column mapping and, for contacts, which of its rows are opted out (on the
//! account's list, or by the file's own opt-out column), then a dry run or the import itself,
//! which runs in the background while its page shows progress and, at the end, the report
//! with a download of the rejected rows.
//!
//! Owns the pages, the upload form's fields ([`CsrfUpload`], read and CSRF-checked by
//! `upload_form`) and where an uploaded file waits between the preview and the run. Owns no import rule: the file is
//! read and imported by `crate::import`, exactly as for the API and the CLI.
//!
//! **Waiting uploads.** A file uploaded for a preview is saved (readable by this server's
//! user only) as `$TMPDIR/stoplist-ui-upload-{account}-{token}`, where the token is 32
//! random hex characters; beside it, `….json` keeps what the preview needs again (the file's
//! name, the group, the reset reason, the guessed and chosen columns, the last dry run). The
//! account id in the name binds the upload to the session's account: another account's
//! session looks for another name. Running the import claims the file by renaming it to
//! `….importing` (so a double click cannot import it twice) and removes it, and its `.json`,
//! when the import ends. A dry run leaves it, so that its report can offer "Import it now".
//! Uploads older than an hour are refused and swept away at the next upload (claimed ones
//! after a day: they belong to running imports).

use super::upload_form::{FormRules, UploadForm, UploadRejection};
use super::{
    CsrfForm, FieldErrors, Layout, UiSession, capitalize, size_text, thousands, vary_on_htmx,
    wants_fragment,
};
use crate::error::{AppError, AppResult};
use crate::import::read::{self, FileInfo, ReadError, ReadOptions};
use crate::import::upload::{Upload, rejects_csv};
use crate::import::{self, ColumnRef, ImportProgress, ImportRequest, MappingOverride, Target};
use crate::state::AppState;
use crate::web::errors::PageError;
use askama::Template;
use askama_web::WebTemplate;
use axum::body::Body;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};
use stoplist_domain::names::{GroupName, Reason, TextError};
use stoplist_domain::{AccountId, GroupId, PhoneNumber};
use stoplist_store::{ImportKind, ImportRecord, ImportStatus};

/// The start of every waiting upload's file name in the temporary directory.
const UPLOAD_PREFIX: &str = "stoplist-ui-upload-";
/// How long an upload waits for its import.
const UPLOAD_TTL: Duration = Duration::from_secs(3600);
/// How long a claimed upload (an import running, or one that died with the server) is kept.
const CLAIMED_TTL: Duration = Duration::from_secs(24 * 3600);
/// Room for the form's other fields and the multipart framing, beyond the file's own limit.
const FORM_OVERHEAD: u64 = 64 * 1024;
/// The longest text field of the upload form (the reason is at most 500 characters).
const MAX_FIELD_BYTES: usize = 8 * 1024;
/// How many text fields the upload form may carry.
const MAX_FIELDS: usize = 16;
/// Rows of the file shown in the preview.
const PREVIEW_ROWS: usize = 10;
/// What the file inputs accept (a hint to the browser; the content decides).
const ACCEPT: &str = ".csv,.tsv,.txt,.xlsx,.xls,.ods";

/// Where an upload goes: a group's contacts, or the opt-out list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dest {
    Contacts,
    OptOuts,
}

impl Dest {
    fn parse(s: &str) -> Option<Dest> {
        match s {
            "contacts" => Some(Dest::Contacts),
            "optouts" => Some(Dest::OptOuts),
            _ => None,
        }
    }

    fn code(self) -> &'static str {
        match self {
            Dest::Contacts => "contacts",
            Dest::OptOuts => "optouts",
        }
    }

    /// The upload form's page.
    fn page(self) -> &'static str {
        match self {
            Dest::Contacts => "/contacts/import",
            Dest::OptOuts => "/optouts/upload",
        }
    }

    fn nav(self) -> &'static str {
        match self {
            Dest::Contacts => "contacts",
            Dest::OptOuts => "optouts",
        }
    }

    fn of(kind: ImportKind) -> Dest {
        match kind {
            ImportKind::Contacts => Dest::Contacts,
            ImportKind::OptOuts => Dest::OptOuts,
        }
    }
}

// --- waiting uploads ------------------------------------------------------------------

/// What a waiting upload's `.json` keeps between requests.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Meta {
    /// The file's name as the user called it (its extension and every message use it).
    file_name: String,
    dest: Dest,
    /// The group to import into, once it exists.
    group_id: Option<i64>,
    /// A group to create at the first dry run or import (contacts only).
    new_group: Option<String>,
    /// "Reset contacts that have previously opted out?" with its reason.
    reset_reason: Option<String>,
    /// The guessed columns, in [`FIELDS`] order.
    guessed: Vec<Option<usize>>,
    /// The selects' values at the last dry run, in [`FIELDS`] order ([`Choice::parse`]).
    chosen: Vec<String>,
    /// The last dry run of this upload, whose report offers "Import it now".
    dry_run: Option<i64>,
}

/// The field names of the mapping, in `Meta::guessed` order: the mobile first.
const FIELDS: [(&str, &str); 6] = [
    ("mobile", "Mobile number"),
    ("first_name", "First name"),
    ("middle_name", "Middle name"),
    ("last_name", "Last name"),
    ("email", "Email"),
    ("opted_out", "Opted out"),
];

/// What a mapping select says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Choice {
    /// `""`: as guessed.
    Guess,
    /// A column index.
    Column(usize),
    /// `"none"`: this optional field has no column.
    NoColumn,
}

impl Choice {
    fn parse(v: &str) -> Choice {
        match v.trim() {
            "none" => Choice::NoColumn,
            v => v.parse().map_or(Choice::Guess, Choice::Column),
        }
    }

    /// The column a field reads with this choice and `guess`.
    fn column(self, guess: Option<usize>) -> Option<usize> {
        match self {
            Choice::Guess => guess,
            Choice::Column(c) => Some(c),
            Choice::NoColumn => None,
        }
    }
}

impl Meta {
    /// The choice of field `f` (in [`FIELDS`] order) at the last dry run.
    fn choice(&self, f: usize) -> Choice {
        self.chosen
            .get(f)
            .map_or(Choice::Guess, |v| Choice::parse(v))
    }

    /// The guessed column of field `f`.
    fn guess(&self, f: usize) -> Option<usize> {
        self.guessed.get(f).copied().flatten()
    }
}

/// A waiting upload of one account, named by its token.
struct Waiting {
    data: PathBuf,
    meta: PathBuf,
    claimed: PathBuf,
}

impl Waiting {
    /// The paths of `token` for `account`; `None` when the token is not 32 lowercase hex
    /// characters (so nothing else can be named).
    fn of(account: AccountId, token: &str) -> Option<Waiting> {
        if !is_token(token) {
            return None;
        }
        let base = std::env::temp_dir().join(format!("{UPLOAD_PREFIX}{}-{token}", account.0));
        let with = |ext: &str| {
            let mut p = base.clone().into_os_string();
            p.push(ext);
            PathBuf::from(p)
        };
        Some(Waiting {
            meta: with(".json"),
            claimed: with(".importing"),
            data: base,
        })
    }

    /// The upload's metadata, if the upload is still there and younger than an hour.
    async fn load(&self) -> Option<Meta> {
        let modified = tokio::fs::metadata(&self.data)
            .await
            .ok()?
            .modified()
            .ok()?;
        if SystemTime::now()
            .duration_since(modified)
            .is_ok_and(|age| age > UPLOAD_TTL)
        {
            return None;
        }
        let bytes = tokio::fs::read(&self.meta).await.ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    async fn save(&self, meta: &Meta) -> AppResult<()> {
        let bytes = serde_json::to_vec(meta)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("upload metadata: {e}")))?;
        let mut opts = tokio::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        opts.mode(0o600);
        let mut f = opts
            .open(&self.meta)
            .await
            .map_err(|e| AppError::Internal(anyhow::anyhow!("saving upload metadata: {e}")))?;
        tokio::io::AsyncWriteExt::write_all(&mut f, &bytes)
            .await
            .map_err(|e| AppError::Internal(anyhow::anyhow!("saving upload metadata: {e}")))
    }
}

/// 32 lowercase hex characters (what `random_hex(16)` makes).
fn is_token(t: &str) -> bool {
    t.len() == 32
        && t.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Removes waiting uploads older than an hour (claimed ones older than a day) from `dir`.
fn sweep(dir: &std::path::Path, now: SystemTime) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.starts_with(UPLOAD_PREFIX) {
            continue;
        }
        let ttl = if name.ends_with(".importing") {
            CLAIMED_TTL
        } else {
            UPLOAD_TTL
        };
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age > ttl);
        if old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

async fn sweep_expired() {
    let _ = tokio::task::spawn_blocking(|| sweep(&std::env::temp_dir(), SystemTime::now())).await;
}

// --- the multipart upload with its CSRF check -----------------------------------------

/// The upload form as posted ([`UploadForm`]: origin, CSRF token before the file, size
/// limits): its fields by name, and the file, if one was chosen, waiting under its token.
pub struct CsrfUpload {
    session: UiSession,
    fields: HashMap<String, String>,
    /// The file, if one was chosen: its guard, its name, and its token.
    file: Option<(Upload, String, String)>,
}

/// What the upload form allows.
const RULES: FormRules = FormRules {
    overhead: FORM_OVERHEAD,
    max_fields: MAX_FIELDS,
    field_limit: |_| (MAX_FIELD_BYTES, "a form field is too long".to_owned()),
};

impl FromRequest<AppState> for CsrfUpload {
    type Rejection = UploadRejection;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = crate::auth::random_hex(16);
        let form = UploadForm::read(req, state, &RULES, |account| {
            Waiting::of(account, &token)
                .map(|at| at.data)
                .ok_or_else(|| {
                    AppError::Internal(anyhow::anyhow!("a new upload token has the wrong shape"))
                })
        })
        .await?;
        Ok(CsrfUpload {
            session: form.session,
            fields: form.fields.into_iter().collect(),
            file: form.file.map(|(upload, name)| (upload, name, token)),
        })
    }
}

// --- the upload form ------------------------------------------------------------------

/// A group in the form's list.
pub struct GroupOption {
    id: i64,
    name: String,
    selected: bool,
}

/// One recent import in the list under the form.
pub struct Recent {
    id: i64,
    at: String,
    file_name: String,
    into: String,
    status: &'static str,
    status_class: &'static str,
    dry_run: bool,
    rows_read: String,
    imported: String,
}

/// What the user typed into the upload form (kept when it comes back with an error).
#[derive(Default)]
struct Typed {
    /// The group select: a group id, "new", or "" (nothing chosen).
    group: String,
    new_group: String,
    reset: bool,
    reason: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "import.html")]
struct NewPage {
    layout: Layout,
    csrf: String,
    contacts: bool,
    action: &'static str,
    accept: &'static str,
    max_size: String,
    groups: Vec<GroupOption>,
    new_selected: bool,
    typed: Typed,
    errors: FieldErrors,
    recent: Vec<Recent>,
}

fn status_text(r: &ImportRecord) -> (&'static str, &'static str) {
    match r.status {
        ImportStatus::Running => ("Running", "running"),
        ImportStatus::Done => ("Done", "done"),
        ImportStatus::Failed => ("Failed", "failed"),
    }
}

async fn recent(
    state: &AppState,
    account: AccountId,
    dest: Dest,
    group_names: &HashMap<i64, String>,
) -> Result<Vec<Recent>, PageError> {
    let list = state.store.list_imports(account, 20).await?;
    Ok(list
        .iter()
        .filter(|r| Dest::of(r.kind) == dest)
        .map(|r| {
            let (status, status_class) = status_text(r);
            let rows_read = state
                .imports
                .progress(r.id)
                .map(|p| p.rows_read.load(Ordering::Relaxed))
                .unwrap_or(r.counts.rows_read);
            Recent {
                id: r.id,
                at: crate::rfc3339(r.created_at),
                file_name: r.file_name.clone(),
                into: into_text(r, group_names),
                status,
                status_class,
                dry_run: r.dry_run,
                rows_read: thousands(rows_read),
                imported: thousands(r.counts.imported),
            }
        })
        .collect())
}

/// Where an import went, for people.
fn into_text(r: &ImportRecord, group_names: &HashMap<i64, String>) -> String {
    match r.group_id {
        Some(g) => group_names
            .get(&g.0)
            .cloned()
            .unwrap_or_else(|| "a deleted group".to_owned()),
        None => "the opt-out list".to_owned(),
    }
}

async fn render_new(
    state: &AppState,
    session: &UiSession,
    dest: Dest,
    typed: Typed,
    errors: FieldErrors,
    status: StatusCode,
) -> Result<Response, PageError> {
    let groups = state.store.list_groups(session.account_id()).await?;
    let names = groups.iter().map(|g| (g.id.0, g.name.clone())).collect();
    let recent = recent(state, session.account_id(), dest, &names).await?;
    let title = match dest {
        Dest::Contacts => "Import contacts",
        Dest::OptOuts => "Upload a file of numbers",
    };
    let page = NewPage {
        layout: session.layout(title, dest.nav(), None),
        csrf: session.csrf.clone(),
        contacts: dest == Dest::Contacts,
        action: dest.page(),
        accept: ACCEPT,
        max_size: size_text(state.config.max_upload_bytes),
        new_selected: typed.group == "new" || (groups.is_empty() && dest == Dest::Contacts),
        groups: groups
            .iter()
            .map(|g| GroupOption {
                id: g.id.0,
                name: g.name.clone(),
                selected: typed.group == g.id.0.to_string(),
            })
            .collect(),
        typed,
        errors,
        recent,
    };
    Ok((status, page).into_response())
}

#[derive(Deserialize, Default)]
pub struct NewQuery {
    group: Option<String>,
}

/// `GET /contacts/import`: the form (a group may be preselected with `?group=ID`) and the
/// recent imports.
pub async fn contacts_form(
    session: UiSession,
    State(state): State<AppState>,
    Query(q): Query<NewQuery>,
) -> Result<Response, PageError> {
    let typed = Typed {
        group: q.group.unwrap_or_default(),
        ..Typed::default()
    };
    render_new(
        &state,
        &session,
        Dest::Contacts,
        typed,
        FieldErrors::none(),
        StatusCode::OK,
    )
    .await
}

/// `GET /optouts/upload`: the upload form and the recent uploads.
pub async fn optouts_form(
    session: UiSession,
    State(state): State<AppState>,
) -> Result<Response, PageError> {
    render_new(
        &state,
        &session,
        Dest::OptOuts,
        Typed::default(),
        FieldErrors::none(),
        StatusCode::OK,
    )
    .await
}

/// `POST /contacts/import`: the file, the group and the reset option → the preview.
pub async fn contacts_upload(
    State(state): State<AppState>,
    upload: Result<CsrfUpload, UploadRejection>,
) -> Result<Response, PageError> {
    receive(&state, Dest::Contacts, upload).await
}

/// `POST /optouts/upload`: a file of numbers → the preview.
pub async fn optouts_upload(
    State(state): State<AppState>,
    upload: Result<CsrfUpload, UploadRejection>,
) -> Result<Response, PageError> {
    receive(&state, Dest::OptOuts, upload).await
}

/// A text error as the form says it: "New group name must not be empty".
fn text_error(field: &str, label: &str, e: TextError) -> FieldErrors {
    let message = e.to_string();
    let rest = message.strip_prefix(e.field()).unwrap_or(&message);
    FieldErrors::one(field, format!("{label}{rest}."))
}

/// Where the contacts of an upload go: an existing group, or a new one (made at the run).
enum GroupChoice {
    Existing(GroupId),
    New(GroupName),
}

/// Checks the form's group and reset fields (contacts).
async fn check_contacts_form(
    state: &AppState,
    session: &UiSession,
    typed: &Typed,
) -> Result<Result<(GroupChoice, Option<Reason>), FieldErrors>, PageError> {
    let groups = state.store.list_groups(session.account_id()).await?;
    let choice = match typed.group.as_str() {
        "" | "new" if !typed.new_group.trim().is_empty() || typed.group == "new" => {
            let name = match GroupName::parse(&typed.new_group) {
                Ok(n) => n,
                Err(e) => return Ok(Err(text_error("new_group", "New group name", e))),
            };
            if groups
                .iter()
                .any(|g| g.name.to_lowercase() == name.as_str().to_lowercase())
            {
                return Ok(Err(FieldErrors::one(
                    "new_group",
                    format!(
                        "A group named “{}” already exists — choose it in the list of groups.",
                        name.as_str()
                    ),
                )));
            }
            GroupChoice::New(name)
        }
        "" => {
            return Ok(Err(FieldErrors::one(
                "group",
                "Choose the group to import into, or name a new one.",
            )));
        }
        id => {
            let found = id
                .parse::<i64>()
                .ok()
                .and_then(|id| groups.iter().find(|g| g.id.0 == id));
            match found {
                Some(g) => GroupChoice::Existing(g.id),
                None => {
                    return Ok(Err(FieldErrors::one(
                        "group",
                        "That group no longer exists — choose another.",
                    )));
                }
            }
        }
    };
    let reset = if typed.reset {
        match Reason::parse(&typed.reason) {
            Ok(r) => Some(r),
            Err(TextError::Empty { .. }) => {
                return Ok(Err(FieldErrors::one(
                    "reason",
                    "Give a reason to reset contacts that have previously opted out: it is kept as evidence with every opt-out lifted.",
                )));
            }
            Err(e) => return Ok(Err(text_error("reason", "Reason", e))),
        }
    } else {
        None
    };
    Ok(Ok((choice, reset)))
}

/// Opens an uploaded file far enough to preview it (on a blocking thread: spreadsheets are
/// unzipped and parsed).
async fn file_info(path: PathBuf, file_name: String) -> AppResult<Result<FileInfo, ReadError>> {
    tokio::task::spawn_blocking(move || {
        read::open(&path, &file_name, &ReadOptions::default()).map(|(info, _rows)| info)
    })
    .await
    .map_err(|e| AppError::Internal(anyhow::anyhow!("reading the upload: {e}")))
}

async fn receive(
    state: &AppState,
    dest: Dest,
    upload: Result<CsrfUpload, UploadRejection>,
) -> Result<Response, PageError> {
    let form = match upload {
        Ok(f) => f,
        Err(UploadRejection::File {
            session,
            status,
            message,
        }) => {
            let errors = FieldErrors::one("file", message);
            return render_new(state, &session, dest, Typed::default(), errors, status).await;
        }
        Err(r @ UploadRejection::Refused(_)) => return Ok(r.into_response()),
    };
    sweep_expired().await;
    let CsrfUpload {
        session,
        fields,
        file,
    } = form;
    let field = |name: &str| fields.get(name).cloned().unwrap_or_default();
    let typed = Typed {
        group: field("group"),
        new_group: field("new_group"),
        reset: dest == Dest::Contacts && fields.contains_key("reset"),
        reason: field("reason"),
    };
    let invalid = StatusCode::UNPROCESSABLE_ENTITY;
    let (group, reset) = match dest {
        Dest::OptOuts => (None, None),
        Dest::Contacts => match check_contacts_form(state, &session, &typed).await? {
            Ok((g, r)) => (Some(g), r),
            Err(errors) => return render_new(state, &session, dest, typed, errors, invalid).await,
        },
    };
    let Some((upload, file_name, token)) = file else {
        let errors = FieldErrors::one("file", "Choose a file to upload.");
        return render_new(state, &session, dest, typed, errors, invalid).await;
    };
    let info = match file_info(upload.path().to_path_buf(), file_name.clone()).await? {
        Ok(info) => info,
        Err(e) => {
            let errors = FieldErrors::one("file", capitalize(&e.to_string()));
            return render_new(state, &session, dest, typed, errors, invalid).await;
        }
    };
    let guess = read::guess_mapping(&info.headers, &info.sample);
    let meta = Meta {
        file_name,
        dest,
        group_id: match &group {
            Some(GroupChoice::Existing(g)) => Some(g.0),
            _ => None,
        },
        new_group: match &group {
            Some(GroupChoice::New(n)) => Some(n.as_str().to_owned()),
            _ => None,
        },
        reset_reason: reset.map(|r| r.as_str().to_owned()),
        guessed: vec![
            guess.mobile,
            guess.first_name,
            guess.middle_name,
            guess.last_name,
            guess.email,
            guess.opted_out,
        ],
        chosen: Vec::new(),
        dry_run: None,
    };
    let Some(at) = Waiting::of(session.account_id(), &token) else {
        return Err(PageError(AppError::NotFound("upload")));
    };
    at.save(&meta).await?;
    // The file waits for the run (or the sweep); from here the guard must not remove it.
    let _ = upload.keep();
    render_preview(state, &session, &token, &meta, &info, None, StatusCode::OK).await
}

// --- the preview ----------------------------------------------------------------------

/// One choice of a mapping select.
pub struct ColumnOption {
    value: String,
    label: String,
    selected: bool,
}

/// One field of the mapping: a select of the file's columns.
pub struct MapField {
    name: &'static str,
    label: &'static str,
    options: Vec<ColumnOption>,
    hint: &'static str,
}

/// One column of the sample table, with the fields it is mapped to.
pub struct Column {
    index: usize,
    header: String,
    mapped: String,
}

pub struct SampleRow {
    number: u64,
    cells: Vec<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "import_preview.html")]
struct PreviewPage {
    layout: Layout,
    csrf: String,
    token: String,
    dest: &'static str,
    contacts: bool,
    back: &'static str,
    file_name: String,
    kind: String,
    encoding: String,
    delimiter: Option<&'static str>,
    has_header: bool,
    sheet: Option<String>,
    into: String,
    new_group: bool,
    reset_reason: Option<String>,
    fields: Vec<MapField>,
    columns: Vec<Column>,
    rows: Vec<SampleRow>,
    more_rows: bool,
    no_number_column: bool,
    error: Option<String>,
}

fn delimiter_name(d: Option<u8>) -> Option<&'static str> {
    Some(match d? {
        b',' => "comma",
        b';' => "semicolon",
        b'\t' => "tab",
        b'|' => "pipe",
        _ => "other",
    })
}

/// A cell as the preview shows it: at most 60 characters.
fn cell_text(v: &str) -> String {
    let v = v.trim();
    if v.chars().count() > 60 {
        let mut s: String = v.chars().take(59).collect();
        s.push('…');
        s
    } else {
        v.to_owned()
    }
}

async fn render_preview(
    state: &AppState,
    session: &UiSession,
    token: &str,
    meta: &Meta,
    info: &FileInfo,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let contacts = meta.dest == Dest::Contacts;
    // Google Contacts' typed phone pairs and Outlook's phone columns: the mobile is found
    // per row without one mobile column.
    let guess = read::guess_mapping(&info.headers, &info.sample);
    let has_auto_phones = !guess.typed_phones.is_empty() || !guess.other_phones.is_empty();
    let into = match (meta.group_id, &meta.new_group) {
        (Some(id), _) => state
            .store
            .group(session.account_id(), GroupId(id))
            .await?
            .map(|g| g.name)
            .unwrap_or_else(|| "a deleted group".to_owned()),
        (None, Some(name)) => name.clone(),
        (None, None) => "the opt-out list".to_owned(),
    };
    let current: Vec<Option<usize>> = (0..FIELDS.len())
        .map(|f| meta.choice(f).column(meta.guess(f)))
        .collect();
    // An example value per column, for the selects' labels.
    let example = |col: usize| {
        info.sample
            .iter()
            .filter_map(|r| r.get(col))
            .map(str::trim)
            .find(|v| !v.is_empty())
            .map(|v| v.chars().take(24).collect::<String>())
    };
    let column_label = |i: usize, h: &str| match example(i) {
        Some(e) => format!("{h} (e.g. {e})"),
        None => h.to_owned(),
    };
    let shown_fields = if contacts { FIELDS.len() } else { 1 };
    let fields = FIELDS
        .iter()
        .take(shown_fields)
        .enumerate()
        .map(|(f, (name, label))| {
            let selected = current[f];
            let mut options = Vec::new();
            // The number always needs a column; an optional field can always have none.
            if f > 0 {
                options.push(ColumnOption {
                    value: "none".to_owned(),
                    label: if f == FIELDS.len() - 1 {
                        "— no such column —"
                    } else {
                        "— not imported —"
                    }
                    .to_owned(),
                    selected: selected.is_none(),
                });
            } else if selected.is_none() {
                options.push(ColumnOption {
                    value: String::new(),
                    label: if has_auto_phones {
                        "Automatic: the phone column typed Mobile"
                    } else {
                        "— choose the column of numbers —"
                    }
                    .to_owned(),
                    selected: true,
                });
            }
            for (i, h) in info.headers.iter().enumerate() {
                options.push(ColumnOption {
                    value: i.to_string(),
                    label: column_label(i, h),
                    selected: selected == Some(i),
                });
            }
            let hint = match f {
                0 if contacts => "The column with the mobile numbers. Any written form is read.",
                0 => "The column with the numbers to put on the opt-out list.",
                5 => "A column that says a person opted out (yes, true, 1, x): those rows go on the opt-out list, not into the group.",
                _ => "",
            };
            MapField {
                name,
                label: if contacts || f > 0 {
                    label
                } else {
                    "Number column"
                },
                options,
                hint,
            }
        })
        .collect();
    let mut columns: Vec<Column> = info
        .headers
        .iter()
        .enumerate()
        .map(|(i, h)| Column {
            index: i,
            header: h.clone(),
            mapped: FIELDS
                .iter()
                .take(shown_fields)
                .enumerate()
                .filter(|(f, _)| current[*f] == Some(i))
                .map(|(_, (_, label))| if contacts { *label } else { "Number" })
                .collect::<Vec<_>>()
                .join(", "),
        })
        .collect();
    let mut rows: Vec<SampleRow> = info
        .sample
        .iter()
        .take(PREVIEW_ROWS)
        .map(|r| SampleRow {
            number: r.number(),
            cells: (0..info.headers.len().max(r.len()))
                .map(|i| cell_text(r.get(i).unwrap_or("")))
                .collect(),
        })
        .collect();
    if contacts {
        let mut mapping = guess;
        if let Choice::Column(c) = meta.choice(0)
            && Some(c) != meta.guess(0)
        {
            mapping.choose_mobile(c);
        }
        mapping.opted_out = current[FIELDS.len() - 1];
        let marks = opt_out_marks(state, session.account_id(), &mapping, info).await?;
        // First after the row number, so that a row's mark lines up whatever its width; an
        // index no select offers, so that no field's tag lands on it.
        if mapping.opted_out.is_some() || marks.iter().any(|m| !m.is_empty()) {
            columns.insert(
                0,
                Column {
                    index: info.headers.len(),
                    header: "Opt-out check".to_owned(),
                    mapped: String::new(),
                },
            );
            for (row, mark) in rows.iter_mut().zip(marks) {
                row.cells.insert(0, mark);
            }
        }
    }
    let no_number_column = current[0].is_none() && !has_auto_phones;
    let title = format!("Preview of {}", meta.file_name);
    let page = PreviewPage {
        layout: session.layout(&title, meta.dest.nav(), None),
        csrf: session.csrf.clone(),
        token: token.to_owned(),
        dest: meta.dest.code(),
        contacts,
        back: meta.dest.page(),
        file_name: meta.file_name.clone(),
        kind: info.kind.name().to_owned(),
        encoding: info.encoding.to_owned(),
        delimiter: if info.kind.is_spreadsheet() {
            None
        } else {
            delimiter_name(info.delimiter).or(Some("none (one column)"))
        },
        has_header: info.has_header,
        sheet: info.sheet.clone(),
        into,
        new_group: meta.group_id.is_none() && meta.new_group.is_some(),
        reset_reason: meta.reset_reason.clone(),
        fields,
        columns,
        rows,
        more_rows: info.sample.len() > PREVIEW_ROWS,
        no_number_column,
        error,
    };
    Ok((status, page).into_response())
}

/// What the preview says of each shown row of a contacts file that will be skipped as opted
/// out, before anything is imported: "opted out in the file" when its opt-out column says yes
/// (or that column's message when its value is neither yes nor no), "opted out (on your
/// list)" when its number is on the account's opt-out list; both, or "" for a row that will
/// be imported. A row without a valid number gets no mark (the dry run reports it invalid).
async fn opt_out_marks(
    state: &AppState,
    account: AccountId,
    mapping: &read::Mapping,
    info: &FileInfo,
) -> AppResult<Vec<String>> {
    let region = state.optouts.region(account).await?;
    let mut marks = Vec::new();
    for row in info.sample.iter().take(PREVIEW_ROWS) {
        let mut said: Vec<String> = Vec::new();
        match mapping.opted_out(row) {
            Ok(true) => said.push("opted out in the file".to_owned()),
            Ok(false) => {}
            Err(message) => said.push(message),
        }
        let number = mapping
            .mobile_value(row)
            .and_then(|raw| PhoneNumber::parse(raw, region).ok());
        if let Some(number) = number
            && state.optouts.lookup(account, &number).await?.is_some()
        {
            said.push("opted out (on your list)".to_owned());
        }
        marks.push(said.join("; "));
    }
    Ok(marks)
}

// --- running ---------------------------------------------------------------------------

#[derive(Deserialize)]
pub struct RunForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    dest: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    mobile: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    middle_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    opted_out: String,
}

/// `POST /imports/run`: "Dry run" or "Import" of a waiting upload. Starts the import in the
/// background and goes to its page.
pub async fn run(
    State(state): State<AppState>,
    CsrfForm { session, form }: CsrfForm<RunForm>,
) -> Result<Response, PageError> {
    let account = session.account_id();
    let dest = Dest::parse(&form.dest).unwrap_or(Dest::Contacts);
    let expired = || {
        FieldErrors::one(
            "file",
            "That upload has expired or was already imported (uploads wait for an hour). Choose the file again.",
        )
    };
    let at = Waiting::of(account, &form.token);
    let meta = match &at {
        Some(at) => at.load().await,
        None => None,
    };
    let (Some(at), Some(mut meta)) = (at, meta) else {
        let status = StatusCode::GONE;
        return render_new(&state, &session, dest, Typed::default(), expired(), status).await;
    };
    let dry_run = match form.action.as_str() {
        "dry_run" => true,
        "import" => false,
        _ => {
            return Err(PageError(AppError::invalid(
                "invalid_form",
                "action",
                "choose Dry run or Import",
            )));
        }
    };
    let chosen: Vec<String> = [
        &form.mobile,
        &form.first_name,
        &form.middle_name,
        &form.last_name,
        &form.email,
        &form.opted_out,
    ]
    .map(|v| v.trim().to_owned())
    .to_vec();
    let mut mapping = MappingOverride::default();
    {
        // A choice equal to the guess keeps the guess (for the mobile, with its fallbacks).
        let slots = [
            &mut mapping.mobile,
            &mut mapping.first_name,
            &mut mapping.middle_name,
            &mut mapping.last_name,
            &mut mapping.email,
            &mut mapping.opted_out,
        ];
        for (f, slot) in slots.into_iter().enumerate() {
            let guess = meta.guess(f);
            *slot = match Choice::parse(&chosen[f]) {
                Choice::Column(c) if Some(c) != guess => Some(ColumnRef::Index(c)),
                // The number always needs a column: "none" is never offered for it.
                Choice::NoColumn if f > 0 && guess.is_some() => Some(ColumnRef::NoColumn),
                _ => None,
            };
        }
    }
    let target = match meta.dest {
        Dest::OptOuts => Target::OptOutList,
        Dest::Contacts => match resolve_group(&state, &session, &mut meta).await {
            Ok(g) => Target::Group(g),
            Err(message) => {
                let typed = Typed {
                    reset: meta.reset_reason.is_some(),
                    reason: meta.reset_reason.clone().unwrap_or_default(),
                    ..Typed::default()
                };
                let errors = FieldErrors::one("group", message);
                let status = StatusCode::CONFLICT;
                return render_new(&state, &session, meta.dest, typed, errors, status).await;
            }
        },
    };
    let reset = meta
        .reset_reason
        .as_deref()
        .map(Reason::parse)
        .transpose()
        .map_err(AppError::from)?;
    // The import claims the file, so that a second click cannot import it twice.
    let path = if dry_run {
        at.data.clone()
    } else {
        if tokio::fs::rename(&at.data, &at.claimed).await.is_err() {
            let status = StatusCode::GONE;
            return render_new(
                &state,
                &session,
                meta.dest,
                Typed::default(),
                expired(),
                status,
            )
            .await;
        }
        at.claimed.clone()
    };
    let req = ImportRequest {
        account,
        target,
        path: path.clone(),
        file_name: meta.file_name.clone(),
        reset,
        dry_run,
        mapping,
        read: ReadOptions::default(),
        actor: session.actor(),
    };
    let prepared = match import::prepare_async(&req).await {
        Ok(p) => p,
        Err(e) => {
            if !dry_run {
                let _ = tokio::fs::rename(&at.claimed, &at.data).await;
            }
            let AppError::Invalid { message, .. } = e else {
                return Err(e.into());
            };
            meta.chosen = chosen.clone();
            let info = match file_info(at.data.clone(), meta.file_name.clone()).await? {
                Ok(info) => info,
                Err(e) => {
                    return Err(PageError(AppError::invalid(
                        "invalid_file",
                        "file",
                        e.to_string(),
                    )));
                }
            };
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            let message = Some(capitalize(&message));
            return render_preview(&state, &session, &form.token, &meta, &info, message, status)
                .await;
        }
    };
    let id = import::start(&state, &req).await?;
    let progress = Arc::new(ImportProgress::default());
    // An import removes its file and metadata when it ends; a dry run leaves them, for
    // "Import it now" on its report (the sweep removes them after an hour).
    let guards = (!dry_run).then(|| {
        (
            Upload::adopt(at.claimed.clone()),
            Upload::adopt(at.meta.clone()),
        )
    });
    let job_state = state.clone();
    tokio::spawn(async move {
        let _guards = guards;
        // The outcome, failure included, is recorded on the import; its page shows it.
        let _ = import::run_started(&job_state, &req, id, prepared, progress).await;
    });
    let to = if dry_run {
        meta.chosen = chosen;
        meta.dry_run = Some(id);
        at.save(&meta).await?;
        format!("/imports/{id}?upload={}", form.token)
    } else {
        format!("/imports/{id}")
    };
    Ok(Redirect::to(&to).into_response())
}

/// The group of a contacts upload: the one chosen, or the new one, created now (and kept in
/// the metadata, so that the import after a dry run goes to the same group). `Err`: the
/// message to show.
async fn resolve_group(
    state: &AppState,
    session: &UiSession,
    meta: &mut Meta,
) -> Result<GroupId, String> {
    let account = session.account_id();
    if let Some(id) = meta.group_id {
        return match state.store.group(account, GroupId(id)).await {
            Ok(Some(g)) => Ok(g.id),
            Ok(None) => Err("The group chosen for this file was deleted meanwhile. Choose a group and the file again.".to_owned()),
            Err(e) => Err(format!("The group could not be read: {e}")),
        };
    }
    let Some(name) = meta.new_group.as_deref() else {
        return Err("Choose the group to import into, or name a new one.".to_owned());
    };
    let name = GroupName::parse(name).map_err(|e| e.to_string())?;
    let group = match state
        .store
        .create_group(account, &name, crate::now_ms())
        .await
    {
        Ok(g) => g.id,
        // Made meanwhile (another tab, another user): import into it.
        Err(stoplist_store::StoreError::Conflict { .. }) => {
            let groups = state
                .store
                .list_groups(account)
                .await
                .map_err(|e| format!("The groups could not be read: {e}"))?;
            groups
                .iter()
                .find(|g| g.name.to_lowercase() == name.as_str().to_lowercase())
                .map(|g| g.id)
                .ok_or_else(|| {
                    format!(
                        "A group named “{}” exists but cannot be found.",
                        name.as_str()
                    )
                })?
        }
        Err(e) => return Err(format!("The group could not be created: {e}")),
    };
    meta.group_id = Some(group.0);
    meta.new_group = None;
    Ok(group)
}

// --- progress and report ----------------------------------------------------------------

/// One line of the report.
pub struct Count {
    label: &'static str,
    value: String,
    /// The row counts a rejected row (it is in the CSV).
    rejected: bool,
}

/// The part of the import page that changes while it runs (the htmx fragment).
pub struct Status {
    id: i64,
    running: bool,
    failed: bool,
    dry_run: bool,
    contacts: bool,
    rows_read: String,
    error: Option<String>,
    counts: Vec<Count>,
    rejected: i64,
    /// Whether the rejected-rows CSV has rows (a dry run keeps only its invalid rows).
    downloadable: bool,
    /// The query string that keeps the waiting upload (for polling and "Import it now").
    upload_query: String,
    /// A waiting upload whose dry run this is: "Import it now" posts it again.
    import_again: Option<ImportAgain>,
    into: String,
    into_href: String,
}

pub struct ImportAgain {
    token: String,
    dest: &'static str,
    csrf: String,
    /// The dry run's mapping selects, by field name.
    choices: Vec<(&'static str, String)>,
}

#[derive(Template, WebTemplate)]
#[template(path = "import_status.html")]
struct StatusFragment {
    status: Status,
}

#[derive(Template, WebTemplate)]
#[template(path = "import_report.html")]
struct ReportPage {
    layout: Layout,
    file_name: String,
    started: String,
    actor: String,
    reset_reason: Option<String>,
    back: &'static str,
    back_label: &'static str,
    status: Status,
}

#[derive(Deserialize, Default)]
pub struct ReportQuery {
    upload: Option<String>,
}

fn import_id(raw: &str) -> Result<i64, PageError> {
    raw.parse::<i64>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or(PageError(AppError::NotFound("import")))
}

async fn load_import(
    state: &AppState,
    session: &UiSession,
    raw: &str,
) -> Result<ImportRecord, PageError> {
    state
        .store
        .import(session.account_id(), import_id(raw)?)
        .await?
        .ok_or(PageError(AppError::NotFound("import")))
}

fn counts(r: &ImportRecord) -> Vec<Count> {
    let c = &r.counts;
    let n = |v: i64| thousands(v);
    let count = |label, v: i64, rejected| Count {
        label,
        value: n(v),
        rejected,
    };
    match r.kind {
        ImportKind::Contacts => vec![
            count("Rows read", c.rows_read, false),
            count("Imported (new contacts)", c.imported, false),
            count("Updated (number already in the group)", c.updated, false),
            count("Duplicates within the file", c.duplicates, true),
            count("Invalid", c.invalid, true),
            count("Skipped as opted out", c.skipped_opted_out, true),
            count(
                "Skipped: opted out by reply (Enforce Global Optouts)",
                c.skipped_enforced,
                true,
            ),
            count("Opt-outs lifted (reset)", c.lifted, false),
            count(
                "Opted out in the file (listed, not imported)",
                c.opted_out_in_file,
                false,
            ),
        ],
        ImportKind::OptOuts => vec![
            count("Rows read", c.rows_read, false),
            count("Added to the opt-out list", c.imported, false),
            count("Already on the opt-out list", c.updated, false),
            count("Duplicates within the file", c.duplicates, true),
            count("Invalid", c.invalid, true),
        ],
    }
}

async fn status_of(
    state: &AppState,
    session: &UiSession,
    r: &ImportRecord,
    upload: Option<&str>,
) -> Result<Status, PageError> {
    let running = r.status == ImportStatus::Running;
    let rows_read = state
        .imports
        .progress(r.id)
        .map(|p| p.rows_read.load(Ordering::Relaxed))
        .unwrap_or(r.counts.rows_read);
    let c = &r.counts;
    let rejected = c.invalid + c.duplicates + c.skipped_opted_out + c.skipped_enforced;
    let token = upload.filter(|t| is_token(t));
    let mut import_again = None;
    if let (false, true, Some(token)) = (running, r.dry_run, token)
        && r.status == ImportStatus::Done
        && let Some(at) = Waiting::of(session.account_id(), token)
        && let Some(meta) = at.load().await
        && meta.dry_run == Some(r.id)
    {
        import_again = Some(ImportAgain {
            token: token.to_owned(),
            dest: meta.dest.code(),
            csrf: session.csrf.clone(),
            choices: FIELDS
                .iter()
                .zip(&meta.chosen)
                .map(|((name, _), v)| (*name, v.clone()))
                .collect(),
        });
    }
    let (into, into_href) = match r.group_id {
        Some(g) => match state.store.group(session.account_id(), g).await? {
            Some(group) => (group.name, format!("/groups/{}", g.0)),
            None => ("a deleted group".to_owned(), String::new()),
        },
        None => ("the opt-out list".to_owned(), "/optouts".to_owned()),
    };
    Ok(Status {
        id: r.id,
        running,
        failed: r.status == ImportStatus::Failed,
        dry_run: r.dry_run,
        contacts: r.kind == ImportKind::Contacts,
        rows_read: thousands(rows_read),
        error: r.error.clone(),
        counts: counts(r),
        rejected,
        downloadable: if r.dry_run {
            c.invalid > 0
        } else {
            rejected > 0
        },
        upload_query: token.map(|t| format!("?upload={t}")).unwrap_or_default(),
        import_again,
        into,
        into_href,
    })
}

/// `GET /imports/{id}`: progress while the import runs (htmx asks for the status fragment
/// every second), then its report.
pub async fn report(
    session: UiSession,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<ReportQuery>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let r = load_import(&state, &session, &id).await?;
    let status = status_of(&state, &session, &r, q.upload.as_deref()).await?;
    let mut resp = if wants_fragment(&headers) {
        StatusFragment { status }.into_response()
    } else {
        let dest = Dest::of(r.kind);
        let what = match (r.kind, r.dry_run) {
            (_, true) => "Dry run",
            (ImportKind::Contacts, false) => "Import",
            (ImportKind::OptOuts, false) => "Upload",
        };
        let page = ReportPage {
            layout: session.layout(&format!("{what} of {}", r.file_name), dest.nav(), None),
            file_name: r.file_name.clone(),
            started: crate::rfc3339(r.created_at),
            actor: super::actor_text(&r.actor),
            reset_reason: r.reason.clone().filter(|_| r.reset),
            back: dest.page(),
            back_label: match dest {
                Dest::Contacts => "Import contacts",
                Dest::OptOuts => "Upload a file of numbers",
            },
            status,
        };
        page.into_response()
    };
    // A progress page must never come from a cache.
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(vary_on_htmx(resp))
}

/// `GET /imports/{id}/rejects.csv`: the rows not imported (`row,value,reason`), streamed;
/// only the account's own imports.
pub async fn rejects(
    session: UiSession,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let r = load_import(&state, &session, &id).await?;
    let body = Body::from_stream(rejects_csv(state.store.clone(), session.account_id(), r.id));
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"import-{}-rejects.csv\"", r.id),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn upload_tokens_are_32_lowercase_hex_characters() {
        assert!(is_token(&crate::auth::random_hex(16)));
        assert!(!is_token("../../etc/passwd"));
        assert!(!is_token(&"A".repeat(32)));
        assert!(!is_token(&"a".repeat(31)));
        assert!(Waiting::of(AccountId(1), "../x").is_none());
    }

    #[test]
    fn uploads_are_bound_to_their_account() {
        let token = crate::auth::random_hex(16);
        let a = Waiting::of(AccountId(1), &token).unwrap();
        let b = Waiting::of(AccountId(2), &token).unwrap();
        assert_ne!(a.data, b.data);
        assert!(a.meta.to_string_lossy().ends_with(".json"));
        assert!(a.claimed.to_string_lossy().ends_with(".importing"));
    }

    #[test]
    fn file_names_lose_their_paths_and_control_characters() {
        use crate::web::ui::clean_file_name;
        assert_eq!(clean_file_name("C:\\Users\\me\\list.csv"), "list.csv");
        assert_eq!(clean_file_name("a/b/c.xlsx"), "c.xlsx");
        assert_eq!(clean_file_name(" x\u{7}.csv "), "x.csv");
    }

    #[test]
    fn counts_have_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn the_sweep_removes_only_old_uploads() {
        let dir =
            std::env::temp_dir().join(format!("stoplist-sweep-{}", crate::auth::random_hex(8)));
        std::fs::create_dir_all(&dir).unwrap();
        let upload = dir.join(format!("{UPLOAD_PREFIX}1-{}", "a".repeat(32)));
        let claimed = dir.join(format!("{UPLOAD_PREFIX}1-{}.importing", "b".repeat(32)));
        let other = dir.join("someone-else");
        for p in [&upload, &claimed, &other] {
            std::fs::write(p, b"x").unwrap();
        }
        sweep(&dir, SystemTime::now());
        assert!(upload.exists() && claimed.exists() && other.exists());
        sweep(&dir, SystemTime::now() + Duration::from_secs(2 * 3600));
        assert!(!upload.exists(), "an upload older than an hour is removed");
        assert!(
            claimed.exists(),
            "a running import's file is kept for a day"
        );
        assert!(other.exists(), "other files are never touched");
        sweep(&dir, SystemTime::now() + Duration::from_secs(25 * 3600));
        assert!(!claimed.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
