//! Campaigns (SPEC 3.1, 3.2, 3.7): drafts, the preview with its Invalid Numbers list, sending,
//! pause, resume and cancel. The send queue and the dispatcher are in [`dispatch`]; who a
//! campaign goes to is [`recipients`]; the text rules (sender ids, segments, the footer,
//! personalisation) are the domain's `sms` module; SQL is the store's.
//!
//! The opt-out list wins three times: the preview excludes opted-out numbers, the queue
//! insert joins the list (a number listed meanwhile is queued as `suppressed`), and the
//! dispatcher checks each message again immediately before it sends.

pub mod connectors;
pub mod dispatch;
pub mod files;
pub mod recipients;

use crate::error::{AppError, AppResult};
use crate::state::AppState;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use stoplist_domain::names::ContactFields;
use stoplist_domain::sms::{self, SenderId, Template};
use stoplist_domain::{AccountId, Actor, CampaignId, GroupId, PhoneNumber};
use stoplist_store::{
    Campaign, CampaignAction, CampaignFile, MessageCounts, NewCampaign, NewMessage, StartOutcome,
};

/// Longest campaign name, in characters.
pub const MAX_NAME: usize = 100;
/// Most typed numbers in one campaign (more belong in a file).
pub const MAX_TYPED: usize = 10_000;

/// What a new campaign is made of, as the API, CLI and web UI send it.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignInput {
    pub name: String,
    /// An alphanumeric id of up to 11 characters, or a number.
    pub sender_id: String,
    /// The text; `{first_name}`-style fields are filled from contact data.
    pub message: String,
    #[serde(default)]
    pub groups: Vec<i64>,
    /// Numbers typed or pasted.
    #[serde(default)]
    pub numbers: Vec<String>,
}

/// What a preview found (SPEC 3.7), kept with the campaign.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Preview {
    /// Every number read from every source.
    pub numbers_read: u64,
    /// Repeats removed.
    pub duplicates: u64,
    /// Invalid numbers (not counting opted-out ones), and by reason.
    pub invalid: u64,
    pub invalid_by_reason: BTreeMap<String, u64>,
    /// Opted-out numbers excluded (listed as invalid with reason `opted_out`).
    pub opted_out: u64,
    /// Messages that would be sent.
    pub recipients: u64,
    /// Whether the Invalid Numbers list was cut at its limit.
    pub invalid_list_truncated: bool,
    pub message: MessagePreview,
    pub previewed_at: i64,
}

/// The message as sent: length, encoding, segments (of the longest personalised text).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MessagePreview {
    /// The text for the first recipient (personalised, footer appended).
    pub sample: String,
    /// `gsm7` or `ucs2`.
    pub encoding: String,
    pub characters: usize,
    pub segments: usize,
    /// Of the longest message, when personalisation makes them differ.
    pub max_segments: usize,
    /// Characters that force UCS-2.
    pub ucs2_characters: Vec<String>,
    /// Whether the account's opt-out footer was appended.
    pub footer_appended: bool,
    pub personalised: bool,
}

/// A campaign with its message counts and last preview.
#[derive(Debug, Clone, Serialize)]
pub struct CampaignView {
    #[serde(flatten)]
    pub campaign: Campaign,
    pub counts: MessageCounts,
    pub preview: Option<Preview>,
}

fn invalid(field: &str, message: impl Into<String>) -> AppError {
    AppError::invalid("invalid_field", field, message)
}

/// Validates and stores a new draft.
pub async fn create(
    state: &AppState,
    account: AccountId,
    actor: &Actor,
    input: &CampaignInput,
) -> AppResult<Campaign> {
    let name = input.name.trim();
    if name.is_empty() {
        return Err(invalid("name", "name: give the campaign a name"));
    }
    if name.chars().count() > MAX_NAME {
        return Err(invalid(
            "name",
            format!("name: at most {MAX_NAME} characters"),
        ));
    }
    let sender = SenderId::parse(input.sender_id.trim()).map_err(|e| {
        AppError::invalid("invalid_sender_id", "sender_id", format!("sender_id: {e}"))
    })?;
    check_message(state, account, &input.message).await?;
    if input.numbers.len() > MAX_TYPED {
        return Err(invalid(
            "numbers",
            format!("numbers: at most {MAX_TYPED} typed numbers; upload a file for more"),
        ));
    }
    let groups: Vec<GroupId> = input.groups.iter().copied().map(GroupId).collect();
    let numbers: Vec<String> = input
        .numbers
        .iter()
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .collect();
    let new = NewCampaign {
        account,
        name,
        sender_id: sender.as_str(),
        message: &input.message,
        groups: &groups,
        numbers: &numbers,
        actor,
    };
    Ok(state.store.create_campaign(&new, crate::now_ms()).await?)
}

/// Checks a message text: not empty, a valid template, within the segment limit with the
/// footer appended.
async fn check_message(state: &AppState, account: AccountId, text: &str) -> AppResult<Template> {
    if text.trim().is_empty() {
        return Err(invalid("message", "message: the text is empty"));
    }
    let template = Template::parse(text)
        .map_err(|e| AppError::invalid("invalid_template", "message", format!("message: {e}")))?;
    let settings = state.account_settings(account).await?;
    let body = sms::with_footer(text, &settings.footer_text, settings.footer_enabled);
    sms::check_length(&body, state.config.max_segments)
        .map_err(|e| AppError::invalid("message_too_long", "message", format!("message: {e}")))?;
    Ok(template)
}

/// A campaign of the account, or 404.
pub async fn get(state: &AppState, account: AccountId, id: CampaignId) -> AppResult<Campaign> {
    state
        .store
        .campaign(account, id)
        .await?
        .ok_or(AppError::NotFound("campaign"))
}

/// The campaign with its counts and last preview.
pub async fn view(state: &AppState, account: AccountId, id: CampaignId) -> AppResult<CampaignView> {
    let campaign = get(state, account, id).await?;
    let counts = state.store.message_counts(account, id).await?;
    let preview = campaign
        .preview_json
        .as_deref()
        .and_then(|j| serde_json::from_str(j).ok());
    Ok(CampaignView {
        campaign,
        counts,
        preview,
    })
}

/// Sets a draft's recipients file (already saved on disk) and the column of numbers, checking
/// that the file can be read and the column found.
pub async fn attach_file(
    state: &AppState,
    account: AccountId,
    id: CampaignId,
    upload: crate::import::upload::Upload,
    file_name: &str,
    column: Option<String>,
) -> AppResult<Campaign> {
    let campaign = get(state, account, id).await?;
    let path = upload.path().to_owned();
    let name = file_name.to_owned();
    let col = column.clone();
    tokio::task::spawn_blocking(move || -> AppResult<()> {
        let (info, _) =
            crate::import::read::open(&path, &name, &crate::import::read::ReadOptions::default())
                .map_err(|e| AppError::invalid("unreadable_file", "file", e.to_string()))?;
        recipients::number_column(&info, col.as_deref())?;
        Ok(())
    })
    .await
    .map_err(|e| AppError::Internal(anyhow::anyhow!("reading the file: {e}")))??;
    let path = keep_file(state, upload, account, id)
        .await?
        .to_string_lossy()
        .into_owned();
    let file = CampaignFile {
        name: file_name.to_owned(),
        path: Some(path.clone()),
        column,
    };
    if let Err(e) = state
        .store
        .set_campaign_file(account, id, Some(&file))
        .await
    {
        let _ = std::fs::remove_file(&path);
        return Err(e.into());
    }
    if let Some(old) = campaign.file.and_then(|f| f.path) {
        let _ = std::fs::remove_file(old);
    }
    get(state, account, id).await
}

/// Where a campaign's recipients file stays: moved into `campaign_files_dir` when one is
/// configured (storage every instance shares, so that any instance can preview and send the
/// campaign), else left where the upload was saved (this instance's temporary directory).
async fn keep_file(
    state: &AppState,
    mut upload: crate::import::upload::Upload,
    account: AccountId,
    id: CampaignId,
) -> AppResult<std::path::PathBuf> {
    let Some(dir) = &state.config.campaign_files_dir else {
        return Ok(upload.keep());
    };
    let failed = |e: std::io::Error| {
        AppError::Internal(anyhow::anyhow!(
            "keeping the recipients file in campaign_files_dir {}: {e}",
            dir.display()
        ))
    };
    upload.finish().await?;
    tokio::fs::create_dir_all(dir).await.map_err(failed)?;
    let target = dir.join(format!(
        "campaign-{}-{}-{}",
        account.0,
        id.0,
        crate::auth::random_hex(8)
    ));
    // A rename when both are on one file system, else a copy (the upload is then removed
    // when `upload` is dropped).
    if tokio::fs::rename(upload.path(), &target).await.is_err() {
        tokio::fs::copy(upload.path(), &target)
            .await
            .map_err(failed)?;
    }
    Ok(target)
}

/// Everything a preview or a send computes.
struct Plan {
    resolved: recipients::Resolved,
    template: Template,
    footer: Option<String>,
}

impl Plan {
    /// The message for one recipient: personalised, footer appended.
    fn body(&self, fields: Option<&ContactFields>, number: Option<&PhoneNumber>) -> String {
        let text = if self.template.is_personalised() {
            self.template.render(|field| match field {
                "first_name" => fields.and_then(|f| f.first_name.clone()),
                "last_name" => fields.and_then(|f| f.last_name.clone()),
                "email" => fields.and_then(|f| f.email.clone()),
                "mobile" => number.map(|n| n.as_str().to_owned()),
                _ => None,
            })
        } else {
            self.template.render(|_| None)
        };
        match &self.footer {
            Some(footer) => sms::with_footer(&text, footer, true),
            None => text,
        }
    }
}

async fn plan(state: &AppState, campaign: &Campaign) -> AppResult<Plan> {
    let settings = state.account_settings(campaign.account).await?;
    let template = Template::parse(&campaign.message)
        .map_err(|e| AppError::invalid("invalid_template", "message", format!("message: {e}")))?;
    let groups = recipients::group_contacts(state, campaign).await?;
    // Every key answered truthfully from memory; while the account's whole index is in
    // doubt (loading, an import being followed) for longer than this, the preview waits no
    // more and says so.
    let index = state
        .optouts
        .view(campaign.account, std::time::Duration::from_secs(10))
        .await?
        .ok_or_else(|| {
            AppError::Unavailable(
                "the opt-out list of this account is still being loaded; try again in a few seconds"
                    .into(),
            )
        })?;
    let region = settings.default_region;
    let with_fields = template.is_personalised();
    let c = campaign.clone();
    let resolved = tokio::task::spawn_blocking(move || {
        recipients::resolve(&c, &groups, &index, region, with_fields)
    })
    .await
    .map_err(|e| AppError::Internal(anyhow::anyhow!("resolving recipients: {e}")))??;
    Ok(Plan {
        resolved,
        template,
        // Decided once, on the template (SPEC 3.3): every recipient gets the same answer.
        footer: (settings.footer_enabled && !sms::has_optout_instruction(&campaign.message))
            .then(|| settings.footer_text.clone()),
    })
}

/// Previews a draft: counts, the Invalid Numbers list, the message's length and segments.
/// The result is kept with the campaign.
pub async fn preview(state: &AppState, account: AccountId, id: CampaignId) -> AppResult<Preview> {
    let campaign = get(state, account, id).await?;
    let plan = plan(state, &campaign).await?;
    let r = &plan.resolved;
    let first = r.keys.first().and_then(|&k| PhoneNumber::from_u64(k));
    let sample = plan.body(
        first.as_ref().and_then(|n| r.fields.get(&n.as_u64())),
        first.as_ref(),
    );
    let seg = sms::segments(&sample);
    let max_segments = if plan.template.is_personalised() {
        r.keys
            .iter()
            .filter_map(|&k| PhoneNumber::from_u64(k))
            .map(|n| sms::segments(&plan.body(r.fields.get(&n.as_u64()), Some(&n))).segments)
            .max()
            .unwrap_or(seg.segments)
    } else {
        seg.segments
    };
    let preview = Preview {
        numbers_read: r.numbers_read,
        duplicates: r.duplicates,
        invalid: r.invalid_total(),
        invalid_by_reason: r
            .invalid_by_reason
            .iter()
            .map(|(k, v)| ((*k).to_owned(), *v))
            .collect(),
        opted_out: r.opted_out,
        recipients: r.keys.len() as u64,
        invalid_list_truncated: (r.invalid_total() + r.opted_out) as usize > r.invalid.len(),
        message: MessagePreview {
            encoding: seg.encoding.as_str().to_owned(),
            characters: seg.characters,
            segments: seg.segments,
            max_segments,
            ucs2_characters: sms::gsm7_unrepresentable(&sample)
                .into_iter()
                .map(String::from)
                .collect(),
            footer_appended: plan.footer.is_some(),
            personalised: plan.template.is_personalised(),
            sample,
        },
        previewed_at: crate::now_ms(),
    };
    let json = serde_json::to_string(&preview)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("preview as JSON: {e}")))?;
    state
        .store
        .save_preview(account, id, &json, &r.invalid)
        .await?;
    Ok(preview)
}

/// Sends a draft: queues one message per recipient (personalised, footer appended) and
/// moves it to `sending`. `key` makes a double submit harmless: the same key answers
/// [`StartOutcome::AlreadyStarted`].
pub async fn send(
    state: &AppState,
    account: AccountId,
    id: CampaignId,
    key: &str,
) -> AppResult<StartOutcome> {
    let campaign = get(state, account, id).await?;
    if campaign.status != stoplist_store::CampaignStatus::Draft {
        // The store decides (a retried send with the same key is not an error).
        return Ok(state
            .store
            .start_campaign(account, id, key, &mut std::iter::empty(), crate::now_ms())
            .await?);
    }
    let plan = plan(state, &campaign).await?;
    if plan.resolved.keys.is_empty() {
        return Err(AppError::invalid(
            "no_recipients",
            "recipients",
            "recipients: nobody to send to (every number was invalid, opted out or missing); add groups, numbers or a file",
        ));
    }
    // Each message's text is made twice: once here, to check every length before anything is
    // queued, and again as the store draws it. Holding them all instead would cost about 100
    // bytes a recipient (half a gigabyte for 5,000,000).
    let messages = || {
        plan.resolved.keys.iter().filter_map(|&k| {
            let n = PhoneNumber::from_u64(k)?;
            let body = plan.body(plan.resolved.fields.get(&k), Some(&n));
            Some(NewMessage { number: n, body })
        })
    };
    for m in messages() {
        sms::check_length(&m.body, state.config.max_segments).map_err(|e| {
            AppError::invalid(
                "message_too_long",
                "message",
                format!("message to {}: {e}", m.number.masked()),
            )
        })?;
    }
    let out = state
        .store
        .start_campaign(account, id, key, &mut messages(), crate::now_ms())
        .await?;
    if let StartOutcome::Started { queued, suppressed } = out {
        tracing::info!(account = %account, campaign = %id, queued, suppressed, "campaign queued");
        state.wakeups.dispatch.notify_one();
    }
    Ok(out)
}

/// Pauses, resumes or cancels a campaign.
pub async fn control(
    state: &AppState,
    account: AccountId,
    id: CampaignId,
    action: CampaignAction,
) -> AppResult<Campaign> {
    let c = state
        .store
        .control_campaign(account, id, action, crate::now_ms())
        .await?;
    if action == CampaignAction::Resume {
        state.wakeups.dispatch.notify_one();
    }
    Ok(c)
}
