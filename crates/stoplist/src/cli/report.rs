//! `stoplist report optouts|events|evidence|campaign|incoming` and `stoplist optouts export`: the
//! report exports of `reports`, written to a file. The format comes from `--format`, or else
//! from the output file's extension.

use super::AccountArg;
use crate::accounts;
use crate::reports::evidence::EvidenceFormat;
use crate::reports::incoming::{IncomingFilter, RawFilter};
use crate::reports::{self, ExportFile, Format};
use crate::state::AppState;
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use stoplist_domain::CampaignId;

/// Where an export goes and in what format.
#[derive(Args)]
pub(super) struct OutputArgs {
    /// csv, tsv, xlsx or pdf (pdf or json for evidence); default: the output file's extension.
    #[arg(long)]
    format: Option<String>,
    /// The file to write (replaced if it exists).
    #[arg(short = 'o', long = "output")]
    output: PathBuf,
}

impl OutputArgs {
    /// The output file's extension, which names the format when `--format` is absent.
    fn extension(&self) -> Option<String> {
        self.output
            .extension()
            .map(|e| e.to_string_lossy().into_owned())
    }

    /// `--format` (which must be a table format), else the file's extension, else CSV.
    fn table_format(&self) -> anyhow::Result<Format> {
        if let Some(f) = &self.format {
            return Ok(reports::parse_format(Some(f), Format::Csv)?);
        }
        Ok(self
            .extension()
            .and_then(|e| Format::parse(&e))
            .unwrap_or(Format::Csv))
    }

    /// `--format` (pdf or json), else the file's extension, else PDF.
    fn evidence_format(&self) -> anyhow::Result<EvidenceFormat> {
        if let Some(f) = &self.format {
            return Ok(EvidenceFormat::parse(Some(f))?);
        }
        Ok(self
            .extension()
            .and_then(|e| EvidenceFormat::parse(Some(&e)).ok())
            .unwrap_or(EvidenceFormat::Pdf))
    }
}

#[derive(Subcommand)]
pub(super) enum ReportCmd {
    /// The opt-out list (number, opted out since, source, actor, evidence), newest first.
    Optouts {
        #[command(flatten)]
        account: AccountArg,
        /// Only numbers containing these digits.
        #[arg(long)]
        search: Option<String>,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// A number's event log with each event's ledger seq and hash.
    Events {
        #[command(flatten)]
        account: AccountArg,
        /// The number, in any written form (read with the account's region).
        number: String,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// A number's evidence bundle (pdf or json): its events with hashes, and whether the
    /// account's hash chain verifies.
    Evidence {
        #[command(flatten)]
        account: AccountArg,
        number: String,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// A campaign's messages (id, number, status, sender, text, provider id, error, sent at).
    Campaign {
        #[command(flatten)]
        account: AccountArg,
        id: i64,
        /// Only messages of this status (queued, sent, failed, suppressed, …).
        #[arg(long)]
        status: Option<String>,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// The Incoming report: every reply (received time, from, to, text, class, tier, matched
    /// campaign, actions), newest first.
    Incoming {
        #[command(flatten)]
        account: AccountArg,
        /// Received at or after: YYYY-MM-DD (from midnight UTC) or an RFC 3339 time.
        #[arg(long)]
        from: Option<String>,
        /// Received up to: YYYY-MM-DD (the whole day, UTC) or an RFC 3339 time (before it).
        #[arg(long)]
        to: Option<String>,
        /// Only replies of this class: opt_out, opt_in, help, other or unclear.
        #[arg(long)]
        class: Option<String>,
        /// Only senders whose number contains this (all or part of a number, any form).
        #[arg(long)]
        number: Option<String>,
        #[command(flatten)]
        out: OutputArgs,
    },
}

/// Runs a `report` command.
pub(super) async fn run(st: AppState, cmd: ReportCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ReportCmd::Optouts {
            account,
            search,
            out,
        } => export_optouts(st, account, search, out).await,
        ReportCmd::Events {
            account,
            number,
            out,
        } => {
            let a = accounts::account_named(st.store.as_ref(), &account.account).await?;
            let n = st.optouts.parse_number(a.id, &number).await?;
            let file = reports::optouts::number_events(&st, a.id, &n, out.table_format()?).await?;
            save(file, &out.output, "events").await
        }
        ReportCmd::Evidence {
            account,
            number,
            out,
        } => {
            let a = accounts::account_named(st.store.as_ref(), &account.account).await?;
            let n = st.optouts.parse_number(a.id, &number).await?;
            let file = reports::evidence::bundle(&st, a.id, &n, out.evidence_format()?).await?;
            save(file, &out.output, "events").await
        }
        ReportCmd::Campaign {
            account,
            id,
            status,
            out,
        } => {
            let a = accounts::account_named(st.store.as_ref(), &account.account).await?;
            let status = reports::campaigns::parse_status(status.as_deref())?;
            let file = reports::campaigns::messages(
                &st,
                a.id,
                CampaignId(id),
                out.table_format()?,
                status,
            )
            .await?;
            save(file, &out.output, "messages").await
        }
        ReportCmd::Incoming {
            account,
            from,
            to,
            class,
            number,
            out,
        } => {
            let a = accounts::account_named(st.store.as_ref(), &account.account).await?;
            let format = out.table_format()?;
            let raw = RawFilter {
                from: from.as_deref(),
                to: to.as_deref(),
                class: class.as_deref(),
                number: number.as_deref(),
            };
            let filter = IncomingFilter::for_account(&st, a.id, &raw).await?;
            let file = reports::incoming::export(&st, a.id, &filter, format).await?;
            save(file, &out.output, "replies").await
        }
    }
}

/// `stoplist optouts export` (the same as `stoplist report optouts`).
pub(super) async fn export_optouts(
    st: AppState,
    account: AccountArg,
    search: Option<String>,
    out: OutputArgs,
) -> anyhow::Result<ExitCode> {
    let a = accounts::account_named(st.store.as_ref(), &account.account).await?;
    let format = out.table_format()?;
    let file = reports::optouts::optout_list(&st, a.id, format, search.as_deref()).await?;
    let by = crate::users::Asker::cli();
    let event = stoplist_domain::AuditEvent::OptOutListExported;
    let store = st.store.as_ref();
    crate::audit::record(
        store,
        a.id,
        event,
        &by.actor,
        "opt-out list",
        format.as_str(),
        "",
    )
    .await;
    save(file, &out.output, "rows").await
}

async fn save(file: ExportFile, dest: &Path, what: &str) -> anyhow::Result<ExitCode> {
    let rows = file.rows;
    file.save_as(dest)
        .await
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", dest.display()))?;
    println!("wrote {rows} {what} to {}", dest.display());
    Ok(ExitCode::SUCCESS)
}
