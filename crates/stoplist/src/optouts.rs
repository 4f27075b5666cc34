//! The opt-out service: the one way the API, the web UI and the CLI change or read the
//! opt-out list. It parses numbers with the account's region, asks the store to apply the
//! domain's decision, keeps the in-memory index in step, and turns refusals into errors.

use crate::error::{AppError, AppResult};
use crate::state::AppState;
use serde::Serialize;
use stoplist_domain::names::Reason;
use stoplist_domain::rules::{AddedBy, Decision, OptOutEvent};
use stoplist_domain::{AccountId, Actor, PhoneError, PhoneNumber, Region};
use stoplist_store::{OptOutCommand, OptOutOutcome};

/// Parses a number the way the account reads numbers.
pub async fn parse_number(
    state: &AppState,
    account: AccountId,
    raw: &str,
) -> AppResult<PhoneNumber> {
    let region = region(state, account).await?;
    PhoneNumber::parse(raw, region).map_err(|e| AppError::phone("number", e))
}

/// The account's default region.
pub async fn region(state: &AppState, account: AccountId) -> AppResult<Region> {
    Ok(state.account_settings(account).await?.default_region)
}

/// Puts a number on the list (or finds it there already).
pub async fn add(
    state: &AppState,
    account: AccountId,
    number: &PhoneNumber,
    by: AddedBy,
    actor: Actor,
    evidence: Option<String>,
) -> AppResult<OptOutOutcome> {
    let cmd = OptOutCommand {
        number: number.clone(),
        event: OptOutEvent::Added(by),
        actor,
        reason: None,
        evidence,
        campaign_groups: vec![],
    };
    apply(state, account, &cmd).await
}

/// Lifts a number's opt-out at a user's request, with a reason; refused per SPEC 3.3.
pub async fn remove(
    state: &AppState,
    account: AccountId,
    number: &PhoneNumber,
    actor: Actor,
    reason: &str,
) -> AppResult<OptOutOutcome> {
    let reason = Reason::parse(reason)?;
    let cmd = OptOutCommand {
        number: number.clone(),
        event: OptOutEvent::UserRemoval,
        actor,
        reason: Some(reason),
        evidence: None,
        campaign_groups: vec![],
    };
    let out = apply(state, account, &cmd).await?;
    match out.decision {
        Decision::Refuse(r) => Err(AppError::Refused(r)),
        _ => Ok(out),
    }
}

/// Applies any command through the store, keeping the index in step (see `index`).
pub async fn apply(
    state: &AppState,
    account: AccountId,
    cmd: &OptOutCommand,
) -> AppResult<OptOutOutcome> {
    let index = state.index.account(state.store.as_ref(), account).await?;
    let key = cmd.number.as_u64();
    let now = crate::now_ms();
    let adding = match cmd.event {
        OptOutEvent::Added(by) => Some(by.into()),
        OptOutEvent::ReplyOptOut { .. } => Some(stoplist_domain::OptOutSource::Reply),
        _ => None,
    };
    if let Some(source) = adding {
        index.begin_add(key, source, now);
    }
    let may_add = adding.is_some();
    let result = state.store.apply_optout(account, cmd, now).await;
    match &result {
        Ok(out) => {
            index.settle(key, out.optout.as_ref(), out.event_seq);
            if out.event_seq.is_some() {
                state.metrics.optout_change(if out.optout.is_some() {
                    "opted_out"
                } else {
                    "opted_in"
                });
                tracing::info!(
                    account = %account,
                    number = %cmd.number.masked(),
                    decision = ?out.decision,
                    actor = %cmd.actor,
                    "opt-out list changed"
                );
            }
        }
        Err(_) if may_add => index.settle(key, None, None),
        Err(_) => {}
    }
    Ok(result?)
}

/// Is the number opted out, since when, from what source: answered from memory (see
/// `index`), except while an opt-out of it is being committed, when the store decides.
pub async fn lookup(
    state: &AppState,
    account: AccountId,
    number: &PhoneNumber,
) -> AppResult<Option<(i64, stoplist_domain::OptOutSource)>> {
    let index = state.index.account(state.store.as_ref(), account).await?;
    match index.get(number.as_u64()) {
        None => Ok(None),
        Some(e) if e.is_settled() => Ok(Some((e.since, e.source))),
        Some(_) => Ok(state
            .store
            .optout(account, number)
            .await?
            .map(|o| (o.created_at, o.source))),
    }
}

/// One result of a bulk check, borrowing the input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum CheckResult<'a> {
    Valid {
        input: &'a str,
        number: PhoneNumber,
        opted_out: bool,
    },
    Invalid {
        input: &'a str,
        invalid: &'static str,
        reason: String,
    },
}

/// What a bulk check of an account needs, fetched once: its region and opt-out index.
pub async fn check_context(
    state: &AppState,
    account: AccountId,
) -> AppResult<(Region, std::sync::Arc<crate::index::AccountIndex>)> {
    let region = region(state, account).await?;
    let index = state.index.account(state.store.as_ref(), account).await?;
    Ok((region, index))
}

/// Checks many numbers at once, in order (CPU work: run large batches on a blocking
/// thread). Opted-out answers come from the index, which never misses an opt-out this
/// instance committed; see `index` for what that promises.
pub fn check<'a, S: AsRef<str>>(
    index: &crate::index::AccountIndex,
    region: Region,
    inputs: &'a [S],
) -> Vec<CheckResult<'a>> {
    let parsed: Vec<Result<PhoneNumber, PhoneError>> = inputs
        .iter()
        .map(|raw| PhoneNumber::parse(raw.as_ref(), region))
        .collect();
    let hits = index.contains_many(
        parsed
            .iter()
            .map(|p| p.as_ref().ok().map(PhoneNumber::as_u64)),
    );
    inputs
        .iter()
        .zip(parsed)
        .zip(hits)
        .map(|((input, p), hit)| match p {
            Ok(number) => CheckResult::Valid {
                input: input.as_ref(),
                number,
                opted_out: hit.unwrap_or(false),
            },
            Err(e) => CheckResult::Invalid {
                input: input.as_ref(),
                invalid: e.code(),
                reason: e.to_string(),
            },
        })
        .collect()
}

/// What a search box's text means for a list of numbers: a whole number (any written form)
/// becomes its E.164 digits; a partial one keeps its digits, less a leading national `0`
/// (so "0412 999" finds +61412999…). `None`: the text holds no digit at all.
pub fn number_digits(q: &str, region: Region) -> Option<String> {
    if let Ok(n) = PhoneNumber::parse(q, region) {
        return Some(n.as_str().trim_start_matches('+').to_owned());
    }
    let digits: String = q.chars().filter(char::is_ascii_digit).collect();
    let trimmed = if q.trim_start().starts_with('0') && digits.len() > 1 {
        &digits[1..]
    } else {
        &digits[..]
    };
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}
