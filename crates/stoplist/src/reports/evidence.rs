//! The evidence bundle of one number (SPEC 3.5, 3.8): its events with their ledger hashes, and
//! whether the account's whole hash chain verifies as of now, as a PDF for people or JSON for
//! machines. Also the chain check itself ([`verify_ledger`]), which `stoplist verify-ledger`
//! runs too.

use super::optouts::{EVENT_COLUMNS, EVENT_WIDTHS, event_cells, number_stem};
use super::{ExportFile, Format, Report, file_name, write_document, write_table};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use serde::Serialize;
use stoplist_domain::ledger::{ChainError, Digest32, verify_chain};
use stoplist_domain::{AccountId, PhoneNumber};
use stoplist_store::{EventRecord, Store};

/// Events read per query while verifying a chain.
const VERIFY_BATCH: i64 = 10_000;

/// The evidence bundle's two forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvidenceFormat {
    /// The events table with a "Hash chain verified" line, for printing.
    Pdf,
    /// `{number, account, generated_at, chain_verified, events: [...]}`.
    Json,
}

impl EvidenceFormat {
    /// Reads `pdf` or `json` (any case); absent means PDF. Anything else is a 422 naming the
    /// field `format`.
    pub fn parse(raw: Option<&str>) -> AppResult<EvidenceFormat> {
        match raw.map(str::trim).filter(|r| !r.is_empty()) {
            None => Ok(EvidenceFormat::Pdf),
            Some(r) if r.eq_ignore_ascii_case("pdf") => Ok(EvidenceFormat::Pdf),
            Some(r) if r.eq_ignore_ascii_case("json") => Ok(EvidenceFormat::Json),
            Some(r) => Err(AppError::invalid(
                "invalid_field",
                "format",
                format!("format: {r:?} is not an evidence format (pdf or json)"),
            )),
        }
    }
}

/// The outcome of walking an account's ledger from its first event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainCheck {
    /// Events verified (the seq of the last good event).
    pub events: i64,
    /// The hash of the last good event (`GENESIS` for an empty ledger).
    pub head: Digest32,
    /// Where the chain breaks, if it does.
    pub broken: Option<ChainError>,
}

impl ChainCheck {
    /// True when every event links to the one before and matches its hash.
    pub fn verified(&self) -> bool {
        self.broken.is_none()
    }

    /// One line for people: "yes (12 events, head 3f2a…)" or "no: event seq 7: …".
    pub fn summary(&self) -> String {
        match &self.broken {
            None => format!("yes ({} events, head {})", self.events, self.head.to_hex()),
            Some(e) => format!("no: {e}"),
        }
    }
}

/// Walks `account`'s whole ledger in batches of 10,000, checking every link and hash (the
/// hashing on a blocking thread). Memory holds one batch.
pub async fn verify_ledger(store: &dyn Store, account: AccountId) -> AppResult<ChainCheck> {
    let mut state = (0, Digest32::GENESIS);
    loop {
        let batch = store.events_after(account, state.0, VERIFY_BATCH).await?;
        if batch.is_empty() {
            return Ok(ChainCheck {
                events: state.0,
                head: state.1,
                broken: None,
            });
        }
        let checked = tokio::task::spawn_blocking(move || {
            verify_chain(state, batch.iter().map(|e| &e.event))
        })
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("verifying the ledger: {e}")))?;
        match checked {
            Ok(s) => state = s,
            Err(broken) => {
                return Ok(ChainCheck {
                    events: state.0,
                    head: state.1,
                    broken: Some(broken),
                });
            }
        }
    }
}

/// Who made a change, in the JSON bundle.
#[derive(Serialize)]
struct ActorJson<'a> {
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<i64>,
    label: &'a str,
}

/// One event in the JSON bundle: everything the hash covers, and the hashes.
#[derive(Serialize)]
struct EventJson<'a> {
    seq: i64,
    at: String,
    kind: &'a str,
    source: &'a str,
    actor: ActorJson<'a>,
    reason: Option<&'a str>,
    evidence: Option<&'a str>,
    prev_hash: String,
    hash: String,
}

impl<'a> From<&'a EventRecord> for EventJson<'a> {
    fn from(e: &'a EventRecord) -> Self {
        let c = &e.event.content;
        EventJson {
            seq: c.seq,
            at: crate::rfc3339(c.at_ms),
            kind: c.kind.as_str(),
            source: c.source.as_str(),
            actor: ActorJson {
                kind: c.actor.kind.as_str(),
                id: c.actor.id,
                label: &c.actor.label,
            },
            reason: c.reason.as_deref(),
            evidence: c.evidence.as_deref(),
            prev_hash: e.event.prev_hash.to_hex(),
            hash: e.event.hash.to_hex(),
        }
    }
}

/// The JSON evidence bundle.
#[derive(Serialize)]
struct BundleJson<'a> {
    number: &'a str,
    account: &'a str,
    generated_at: String,
    opted_out: bool,
    chain_verified: bool,
    /// Events checked and the head hash, or where the chain breaks.
    chain_detail: String,
    events: Vec<EventJson<'a>>,
}

/// The evidence bundle for `number`: its events (oldest first, with hashes) and the result of
/// verifying the account's whole hash chain now. The PDF puts "Hash chain verified: yes (…)"
/// or "no: …" under its title.
pub async fn bundle(
    state: &AppState,
    account: AccountId,
    number: &PhoneNumber,
    format: EvidenceFormat,
) -> AppResult<ExportFile> {
    let events = state.store.number_events(account, number).await?;
    let chain = verify_ledger(state.store.as_ref(), account).await?;
    let stem = format!("evidence-{}", number_stem(number));
    match format {
        EvidenceFormat::Pdf => {
            let report = Report {
                format: Format::Pdf,
                title: format!("Opt-out evidence for {number}"),
                file_stem: stem,
                filters: vec![
                    ("Number".into(), number.as_str().to_owned()),
                    ("Hash chain verified".into(), chain.summary()),
                ],
                columns: EVENT_COLUMNS,
                widths: EVENT_WIDTHS,
            };
            let pages = futures_util::stream::once(async { Ok(events) });
            write_table(state, account, report, pages, event_cells).await
        }
        EvidenceFormat::Json => {
            let now = crate::now_ms();
            let account_name = super::account_name(state, account).await?;
            let opted_out = state.store.optout(account, number).await?.is_some();
            let number = number.as_str().to_owned();
            let rows = events.len() as u64;
            let name = file_name(&stem, now, "json");
            write_document("json", "application/json", name, rows, move |out| {
                let doc = BundleJson {
                    number: &number,
                    account: &account_name,
                    generated_at: crate::rfc3339(now),
                    opted_out,
                    chain_verified: chain.verified(),
                    chain_detail: chain.summary(),
                    events: events.iter().map(EventJson::from).collect(),
                };
                serde_json::to_writer_pretty(out, &doc).map_err(std::io::Error::other)
            })
            .await
        }
    }
}
