//! `stoplist campaign create|preview|send|status|list`: campaigns from the command line, through
//! the same services as the API. `send` queues the messages; the running server's dispatcher
//! sends them, or this command does with `--dispatch` (with a progress line until done).

use super::AccountArg;
use crate::accounts;
use crate::campaigns::{self, CampaignInput};
use crate::state::AppState;
use clap::Subcommand;
use std::path::PathBuf;
use std::process::ExitCode;
use stoplist_domain::CampaignId;
use stoplist_store::{CampaignStatus, StartOutcome};

#[derive(Subcommand)]
pub(super) enum CampaignCmd {
    /// Create a draft campaign; the last line printed is its id.
    Create {
        #[command(flatten)]
        account: AccountArg,
        #[arg(long)]
        name: String,
        /// An alphanumeric id of up to 11 characters, or a number.
        #[arg(long)]
        sender: String,
        /// The text; {first_name}, {last_name}, {email} are filled from contact data.
        #[arg(long)]
        message: String,
        /// A group to send to (by name; repeat for several).
        #[arg(long = "group")]
        groups: Vec<String>,
        /// A number to send to (repeat for several).
        #[arg(long = "number")]
        numbers: Vec<String>,
        /// A file with a column of numbers (CSV, TSV, TXT, XLSX, XLS, ODS).
        #[arg(long)]
        file: Option<PathBuf>,
        /// The file's column of numbers (a header or a 0-based index); guessed when absent.
        #[arg(long)]
        column: Option<String>,
    },
    /// Preview a draft: counts, message segments; the excluded numbers with --invalid.
    Preview {
        #[command(flatten)]
        account: AccountArg,
        id: i64,
        /// Print every excluded number with its reason.
        #[arg(long)]
        invalid: bool,
    },
    /// Send a draft (queue one message per recipient).
    Send {
        #[command(flatten)]
        account: AccountArg,
        id: i64,
        /// Also dispatch here until the campaign is done (when no server is running).
        #[arg(long)]
        dispatch: bool,
    },
    /// A campaign's status and message counts.
    Status {
        #[command(flatten)]
        account: AccountArg,
        id: i64,
    },
    /// The account's campaigns, newest first.
    List {
        #[command(flatten)]
        account: AccountArg,
    },
}

pub(super) async fn run(st: AppState, cmd: CampaignCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        CampaignCmd::Create {
            account,
            name,
            sender,
            message,
            groups,
            numbers,
            file,
            column,
        } => {
            let a = accounts::account_named(st.store.as_ref(), &account.account).await?;
            let known = st.store.list_groups(a.id).await?;
            let mut ids = Vec::new();
            for g in &groups {
                let found = known
                    .iter()
                    .find(|k| k.name.eq_ignore_ascii_case(g.trim()))
                    .ok_or_else(|| {
                        anyhow::anyhow!("no group named {g:?} in account {:?}", a.name)
                    })?;
                ids.push(found.id.0);
            }
            let input = CampaignInput {
                name,
                sender_id: sender,
                message,
                groups: ids,
                numbers,
            };
            let c = campaigns::create(&st, a.id, &super::operator(), &input).await?;
            if let Some(path) = file {
                let copy = std::env::temp_dir()
                    .join(format!("stoplist-campaign-{}", crate::auth::random_hex(12)));
                let mut upload =
                    crate::import::upload::Upload::create(copy, st.config.max_upload_bytes).await?;
                let bytes = tokio::fs::read(&path)
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
                upload.write(&bytes).await?;
                upload.finish().await?;
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "recipients.csv".into());
                campaigns::attach_file(&st, a.id, c.id, upload, &name, column).await?;
            }
            println!("created draft campaign {:?} (id {})", c.name, c.id);
            println!("{}", c.id);
        }
        CampaignCmd::Preview {
            account,
            id,
            invalid,
        } => {
            let a = accounts::account_named(st.store.as_ref(), &account.account).await?;
            let p = campaigns::preview(&st, a.id, CampaignId(id)).await?;
            println!("numbers read      {}", p.numbers_read);
            println!("duplicates        {}", p.duplicates);
            println!("invalid           {}", p.invalid);
            for (reason, n) in &p.invalid_by_reason {
                println!("  {reason:<16}{n}");
            }
            println!("opted out         {} (excluded)", p.opted_out);
            println!("recipients        {}", p.recipients);
            println!(
                "message           {} characters, {}, {} segment(s){}",
                p.message.characters,
                p.message.encoding,
                p.message.segments,
                if p.message.footer_appended {
                    ", opt-out footer appended"
                } else {
                    ""
                }
            );
            println!(
                "sample            {}",
                p.message.sample.replace('\n', " / ")
            );
            if invalid {
                let mut after = 0;
                loop {
                    let rows = st
                        .store
                        .campaign_invalid(a.id, CampaignId(id), after, 1000)
                        .await?;
                    let Some(last) = rows.last() else { break };
                    after = last.seq;
                    for r in &rows {
                        println!("{}\t{}\t{}\t{}", r.origin, r.raw, r.reason, r.detail);
                    }
                }
            }
        }
        CampaignCmd::Send {
            account,
            id,
            dispatch,
        } => {
            let a = accounts::account_named(st.store.as_ref(), &account.account).await?;
            let key = format!("cli-{}", crate::auth::random_hex(12));
            match campaigns::send(&st, a.id, CampaignId(id), &key).await? {
                StartOutcome::Started { queued, suppressed } => {
                    println!("queued {queued} messages ({suppressed} suppressed: opted out)")
                }
                StartOutcome::AlreadyStarted => println!("already sent"),
            }
            if dispatch {
                dispatch_until_done(&st, a.id, CampaignId(id)).await?;
            } else {
                println!("a running `stoplist serve` dispatches them (or use --dispatch)");
            }
            print_status(&st, a.id, CampaignId(id)).await?;
        }
        CampaignCmd::Status { account, id } => {
            let a = accounts::account_named(st.store.as_ref(), &account.account).await?;
            print_status(&st, a.id, CampaignId(id)).await?;
        }
        CampaignCmd::List { account } => {
            let a = accounts::account_named(st.store.as_ref(), &account.account).await?;
            let page = st.store.list_campaigns(a.id, None, 1000).await?;
            for c in page.items {
                println!(
                    "{}\t{}\t{}\t{}",
                    c.id,
                    c.status.as_str(),
                    crate::rfc3339(c.created_at),
                    c.name
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn print_status(
    st: &AppState,
    account: stoplist_domain::AccountId,
    id: CampaignId,
) -> anyhow::Result<()> {
    let v = campaigns::view(st, account, id).await?;
    let c = &v.counts;
    println!(
        "campaign {} {:?}: {}",
        id,
        v.campaign.name,
        v.campaign.status.as_str()
    );
    println!(
        "messages {}: queued {}, held {}, sending {}, sent {}, delivered {}, failed {}, suppressed {}, cancelled {}",
        c.total,
        c.queued,
        c.held,
        c.sending,
        c.sent,
        c.delivered,
        c.failed,
        c.suppressed,
        c.cancelled
    );
    Ok(())
}

/// Runs the dispatcher in this process until the campaign has nothing left to send.
async fn dispatch_until_done(
    st: &AppState,
    account: stoplist_domain::AccountId,
    id: CampaignId,
) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let tty = std::io::stderr().is_terminal();
    let dispatcher = std::sync::Arc::new(crate::campaigns::dispatch::Dispatcher::new(
        st.dispatch_deps(),
        format!("cli-{}-{}", std::process::id(), crate::auth::random_hex(4)),
        std::time::Duration::from_millis(200),
        std::time::Duration::from_secs(st.config.instance_lease_seconds.max(1)),
    ));
    let mut last_print = std::time::Instant::now();
    loop {
        let n = dispatcher.run_once().await?;
        let counts = st.store.message_counts(account, id).await?;
        let waiting = counts.queued + counts.sending;
        if last_print.elapsed() >= std::time::Duration::from_millis(500) || waiting == 0 {
            last_print = std::time::Instant::now();
            let line = format!(
                "sent {}, failed {}, suppressed {}, waiting {}",
                counts.sent + counts.delivered,
                counts.failed,
                counts.suppressed,
                waiting
            );
            if tty {
                eprint!("\r{line}   ");
            } else {
                eprintln!("{line}");
            }
        }
        if waiting == 0 {
            break;
        }
        if n == 0 {
            // Retries wait for their time; paused campaigns hold.
            let c = campaigns::get(st, account, id).await?;
            if c.status != CampaignStatus::Sending {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
    if tty {
        eprintln!();
    }
    st.store.finish_campaigns(crate::now_ms()).await?;
    Ok(())
}
