//! The `stoplist` command line: `serve`, `migrate`, account, user and API key management,
//! the opt-out list, imports, campaigns (`campaign.rs`), report exports (`report.rs`),
//! `verify-ledger` and `config example`. Every command takes `--database`
//! (or `STOPLIST_DATABASE_URL`). Commands call the services, never the web layer.

mod campaign;
pub mod log_line;
mod report;

use crate::accounts;
use crate::app::Application;
use crate::config::{Config, EXAMPLE};
use crate::state::AppState;
use crate::users::Asker;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use stoplist_domain::rules::AddedBy;
use stoplist_domain::{Actor, Role};
use stoplist_store::Store;

#[derive(Parser)]
#[command(
    name = "stoplist",
    version,
    about = "SMS contact lists with opt-out compliance built in"
)]
pub struct Cli {
    /// Database URL: sqlite://PATH or postgres://USER@HOST/DB.
    #[arg(long, global = true, env = "STOPLIST_DATABASE_URL")]
    database: Option<String>,
    /// A TOML config file (see `stoplist config example`).
    #[arg(long, global = true, env = "STOPLIST_CONFIG")]
    config: Option<PathBuf>,
    /// Let connector base URLs and notification endpoints be plain http and reach loopback,
    /// private and link-local addresses (tests, a provider on your own network). Off: https
    /// to public addresses only. `--allow-private-urls` alone means true;
    /// `--allow-private-urls=false` overrides the config file.
    #[arg(long, global = true, env = "STOPLIST_ALLOW_PRIVATE_URLS", value_name = "BOOL",
          num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    allow_private_urls: Option<bool>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (web UI, API, webhooks).
    Serve {
        /// Address to listen on.
        #[arg(long, env = "STOPLIST_LISTEN")]
        listen: Option<String>,
        /// Public URL of this server (for the webhook URLs shown in Settings).
        #[arg(long, env = "STOPLIST_PUBLIC_URL")]
        public_url: Option<String>,
        /// Load sample groups, contacts and opt-outs into the default account (once).
        #[arg(long)]
        demo: bool,
    },
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Manage accounts.
    #[command(subcommand)]
    Account(AccountCmd),
    /// Manage web users.
    #[command(subcommand)]
    User(UserCmd),
    /// Manage API keys.
    #[command(subcommand, name = "api-key")]
    ApiKey(ApiKeyCmd),
    /// The opt-out list.
    #[command(subcommand)]
    Optouts(OptoutsCmd),
    /// Import a contact file (CSV, TSV, TXT, XLSX, XLS, ODS) into a group, all or nothing.
    Import {
        #[command(flatten)]
        account: AccountArg,
        /// The file to import.
        file: PathBuf,
        /// The group to import into (created if it does not exist).
        #[arg(long)]
        group: String,
        #[command(flatten)]
        opts: ImportArgs,
        /// "Reset contacts that have previously opted out?": import them and lift their
        /// opt-outs (never a reply opt-out while Enforce Global Optouts is on). Needs --reason.
        #[arg(long, requires = "reason")]
        reset_optouts: bool,
        /// Why the reset is allowed (kept in the evidence ledger).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Campaigns: create, preview, send, status.
    #[command(subcommand)]
    Campaign(campaign::CampaignCmd),
    /// Export a report to a file: the opt-out list, a number's events or evidence bundle, a
    /// campaign's messages (CSV, TSV, XLSX or PDF).
    #[command(subcommand)]
    Report(report::ReportCmd),
    /// Check every account's opt-out ledger hash chain; exits 1 if any is broken.
    VerifyLedger {
        /// Only this account.
        #[arg(long)]
        account: Option<String>,
    },
    /// Configuration helpers.
    #[command(subcommand)]
    Config(ConfigCmd),
}

#[derive(Subcommand)]
enum AccountCmd {
    /// Create an account; the last line printed is its id.
    Create { name: String },
    /// List accounts.
    List,
}

#[derive(Args)]
pub(crate) struct AccountArg {
    /// The account's name.
    #[arg(long, env = "STOPLIST_ACCOUNT", default_value = "default")]
    pub(crate) account: String,
}

#[derive(Subcommand)]
enum UserCmd {
    /// Add a web user. The password comes from STOPLIST_PASSWORD or --password.
    Add {
        #[command(flatten)]
        account: AccountArg,
        #[arg(long)]
        login: String,
        #[arg(long, env = "STOPLIST_PASSWORD", hide_env_values = true)]
        password: String,
        /// viewer (read and export), manager (everyday work) or owner (also users, keys,
        /// connector and secrets).
        #[arg(long, default_value = "manager", value_parser = parse_role)]
        role: Role,
        /// The same as --role owner (kept for scripts written before roles).
        #[arg(long, hide = true)]
        admin: bool,
    },
    /// List the account's users: id, login, role, state, two-factor.
    List {
        #[command(flatten)]
        account: AccountArg,
    },
    /// Change a user's role.
    Role {
        #[command(flatten)]
        account: AccountArg,
        login: String,
        #[arg(value_parser = parse_role)]
        role: Role,
    },
    /// Disable a user: no login; their sessions end and their keys stop at once.
    Disable {
        #[command(flatten)]
        account: AccountArg,
        login: String,
    },
    /// Enable a disabled user again.
    Enable {
        #[command(flatten)]
        account: AccountArg,
        login: String,
    },
    /// Delete a user (their keys are revoked; the audit log keeps what they did).
    Delete {
        #[command(flatten)]
        account: AccountArg,
        login: String,
    },
    /// Set a user's password (from STOPLIST_PASSWORD or --password); their sessions end.
    Password {
        #[command(flatten)]
        account: AccountArg,
        login: String,
        #[arg(long, env = "STOPLIST_PASSWORD", hide_env_values = true)]
        password: String,
    },
    /// List a user's live sessions.
    Sessions {
        #[command(flatten)]
        account: AccountArg,
        login: String,
    },
    /// End a user's sessions: all of them, or the one named by --session.
    Logout {
        #[command(flatten)]
        account: AccountArg,
        login: String,
        /// A session's handle (from `user sessions`).
        #[arg(long)]
        session: Option<String>,
    },
    /// Turn off a user's two-factor login (a lost phone); they log in with the password.
    ResetTwoFactor {
        #[command(flatten)]
        account: AccountArg,
        login: String,
    },
}

fn parse_role(raw: &str) -> Result<Role, String> {
    Role::parse(raw).ok_or_else(|| format!("unknown role {raw:?}: use viewer, manager or owner"))
}

#[derive(Subcommand)]
enum ApiKeyCmd {
    /// Create an API key; the last line printed is the key (shown only once).
    Create {
        #[command(flatten)]
        account: AccountArg,
        /// A name to recognise the key by.
        #[arg(long, default_value = "cli")]
        name: String,
        /// viewer (read and export), manager or owner.
        #[arg(long, default_value = "manager", value_parser = parse_role)]
        role: Role,
    },
    /// List an account's keys (never the keys themselves).
    List {
        #[command(flatten)]
        account: AccountArg,
    },
    /// Revoke a key by id.
    Revoke {
        #[command(flatten)]
        account: AccountArg,
        id: i64,
    },
}

/// Options shared by imports and uploads.
#[derive(Args)]
struct ImportArgs {
    /// Report what the import would do without changing anything.
    #[arg(long)]
    dry_run: bool,
    /// Column choices, e.g. `mobile=2,first_name=Given Name` (0-based index or header).
    #[arg(long)]
    mapping: Option<String>,
    /// The sheet to read in a workbook (default: the first).
    #[arg(long)]
    sheet: Option<String>,
    /// Write the rows not imported (row, value, reason) to this CSV file.
    #[arg(long)]
    rejects: Option<PathBuf>,
}

#[derive(Subcommand)]
enum OptoutsCmd {
    /// Upload a file of numbers straight onto the opt-out list (source upload), all or nothing.
    Upload {
        #[command(flatten)]
        account: AccountArg,
        file: PathBuf,
        #[command(flatten)]
        opts: ImportArgs,
    },
    /// Put numbers on the opt-out list (source manual).
    Add {
        #[command(flatten)]
        account: AccountArg,
        #[arg(required = true)]
        numbers: Vec<String>,
        /// Evidence to keep with the opt-out (where the request came from).
        #[arg(long)]
        evidence: Option<String>,
    },
    /// Lift a number's opt-out, with a reason.
    Remove {
        #[command(flatten)]
        account: AccountArg,
        number: String,
        #[arg(long)]
        reason: String,
    },
    /// Is each number opted out? Prints one line per number; exits 0.
    Check {
        #[command(flatten)]
        account: AccountArg,
        #[arg(required = true)]
        numbers: Vec<String>,
    },
    /// List the opt-out list, newest first (tab-separated: number, since, source, actor).
    List {
        #[command(flatten)]
        account: AccountArg,
        /// Digits to search for.
        #[arg(long)]
        search: Option<String>,
        /// How many to show (0 for all).
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// Export the opt-out list to a file (CSV, TSV, XLSX or PDF), newest first.
    Export {
        #[command(flatten)]
        account: AccountArg,
        /// Only numbers containing these digits.
        #[arg(long)]
        search: Option<String>,
        #[command(flatten)]
        out: report::OutputArgs,
    },
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Print a commented example config file.
    Example,
}

/// Parses the command line, runs the command, and turns errors into a message and exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // The server logs what it does; one-shot commands only warn (their output is the report).
    init_logging(if matches!(cli.command, Command::Serve { .. }) {
        "info,sqlx=warn"
    } else {
        "warn"
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| log_line::OneLine(std::io::stderr()))
        .try_init();
}

fn config(cli: &Cli) -> anyhow::Result<Config> {
    let mut c = Config::load(cli.config.as_deref())?;
    if let Some(db) = &cli.database {
        c.database_url = db.clone();
    }
    if let Some(allow) = cli.allow_private_urls {
        c.allow_private_urls = allow;
    }
    Ok(c)
}

async fn state(config: Config) -> anyhow::Result<AppState> {
    let store = stoplist_store::connect(&config.database_url)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot open the database {}: {e}",
                crate::app::redact(&config.database_url)
            )
        })?;
    Ok(AppState::new(store, config))
}

pub(crate) fn operator() -> Actor {
    Actor::cli(&std::env::var("USER").unwrap_or_else(|_| "operator".into()))
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut config = config(&cli)?;
    match cli.command {
        Command::Config(ConfigCmd::Example) => {
            print!("{EXAMPLE}");
        }
        Command::Serve {
            listen,
            public_url,
            demo,
        } => {
            if let Some(l) = listen {
                config.listen = l;
            }
            if public_url.is_some() {
                config.public_url = public_url;
            }
            serve(config, demo).await?;
        }
        Command::Migrate => {
            state(config).await?;
            println!("database is up to date");
        }
        Command::Account(cmd) => {
            let st = state(config).await?;
            match cmd {
                AccountCmd::Create { name } => {
                    let a = accounts::create_account(st.store.as_ref(), &name).await?;
                    println!("created account {:?} (id {})", a.name, a.id);
                    println!("{}", a.id);
                }
                AccountCmd::List => {
                    for a in st.store.list_accounts().await? {
                        println!("{}\t{}\t{}", a.id, a.name, crate::rfc3339(a.created_at));
                    }
                }
            }
        }
        Command::User(cmd) => return user_cmd(state(config).await?, cmd).await,
        Command::ApiKey(cmd) => {
            let st = state(config).await?;
            match cmd {
                ApiKeyCmd::Create {
                    account,
                    name,
                    role,
                } => {
                    let a = accounts::account_named(st.store.as_ref(), &account.account).await?;
                    let (k, key) =
                        crate::users::create_key(&st, a.id, &name, role, None, &Asker::cli())
                            .await?;
                    println!(
                        "created {} API key {} ({:?}) for account {:?}; it is shown only once:",
                        k.role, k.id, k.name, a.name
                    );
                    println!("{key}");
                }
                ApiKeyCmd::List { account } => {
                    let a = accounts::account_named(st.store.as_ref(), &account.account).await?;
                    for k in st.store.list_api_keys(a.id).await? {
                        let state = k
                            .revoked_at
                            .map(|t| format!("revoked {}", crate::rfc3339(t)))
                            .unwrap_or_else(|| "active".into());
                        println!("{}\t{}\t{}…\t{}\t{}", k.id, k.name, k.prefix, k.role, state);
                    }
                }
                ApiKeyCmd::Revoke { account, id } => {
                    let a = accounts::account_named(st.store.as_ref(), &account.account).await?;
                    let id = stoplist_domain::ApiKeyId(id);
                    crate::users::revoke_key(&st, a.id, id, &Asker::cli()).await?;
                    println!("revoked API key {id}");
                }
            }
        }
        Command::Optouts(cmd) => return optouts_cmd(state(config).await?, cmd).await,
        Command::Campaign(cmd) => return campaign::run(state(config).await?, cmd).await,
        Command::Report(cmd) => return report::run(state(config).await?, cmd).await,
        Command::Import {
            account,
            file,
            group,
            opts,
            reset_optouts,
            reason,
        } => {
            let st = state(config).await?;
            let a = accounts::account_named(st.store.as_ref(), &account.account).await?;
            let name = stoplist_domain::names::GroupName::parse(&group)?;
            let groups = st.store.list_groups(a.id).await?;
            let g = match groups
                .into_iter()
                .find(|g| g.name.eq_ignore_ascii_case(name.as_str()))
            {
                Some(g) => g,
                None => st.store.create_group(a.id, &name, crate::now_ms()).await?,
            };
            let reset = match (reset_optouts, reason) {
                (true, Some(r)) => Some(stoplist_domain::names::Reason::parse(&r)?),
                _ => None,
            };
            return import_cmd(
                &st,
                a.id,
                file,
                crate::import::Target::Group(g.id),
                opts,
                reset,
            )
            .await;
        }
        Command::VerifyLedger { account } => {
            let st = state(config).await?;
            return verify_ledger(st.store.as_ref(), account.as_deref()).await;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn serve(config: Config, demo: bool) -> anyhow::Result<()> {
    let app = Application::build(config).await?;
    let store = app.state().store.clone();
    let url = format!("http://{}/", app.address());
    let first = accounts::bootstrap(store.as_ref()).await?;
    if demo {
        let loaded = crate::demo::load(app.state()).await?;
        if loaded {
            println!("Loaded demo data into the \"default\" account.");
        }
    }
    println!("stoplist is listening on {url}");
    match first {
        Some(b) => {
            println!(
                "First start: created account {:?} and administrator:",
                b.account.name
            );
            println!(
                "  log in at {url}login  with user: {}  password: {}",
                b.login, b.password
            );
            println!("  (shown only this once; add users with `stoplist user add`)");
        }
        None => println!("Log in at {url}login"),
    }
    tracing::info!(address = %app.address(), "serving");
    app.run_until(shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

async fn optouts_cmd(st: AppState, cmd: OptoutsCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        OptoutsCmd::Export {
            account,
            search,
            out,
        } => return report::export_optouts(st, account, search, out).await,
        OptoutsCmd::Upload {
            account,
            file,
            opts,
        } => {
            let a = accounts::account_named(st.store.as_ref(), &account.account).await?;
            return import_cmd(
                &st,
                a.id,
                file,
                crate::import::Target::OptOutList,
                opts,
                None,
            )
            .await;
        }
        OptoutsCmd::Add {
            account,
            numbers,
            evidence,
        } => {
            let a = accounts::account_named(st.store.as_ref(), &account.account).await?;
            let mut failed = false;
            for raw in numbers {
                match st.optouts.parse_number(a.id, &raw).await {
                    Ok(n) => {
                        let out = st
                            .optouts
                            .add(a.id, &n, AddedBy::Manual, operator(), evidence.clone())
                            .await?;
                        let what = if out.event_seq.is_some() {
                            "opted out"
                        } else {
                            "already opted out"
                        };
                        println!("{n}\t{what}");
                    }
                    Err(e) => {
                        eprintln!("{raw:?}: {e}");
                        failed = true;
                    }
                }
            }
            return Ok(if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            });
        }
        OptoutsCmd::Remove {
            account,
            number,
            reason,
        } => {
            let a = accounts::account_named(st.store.as_ref(), &account.account).await?;
            let n = st.optouts.parse_number(a.id, &number).await?;
            st.optouts.remove(a.id, &n, operator(), &reason).await?;
            println!("{n}\topt-out lifted");
        }
        OptoutsCmd::Check { account, numbers } => {
            let a = accounts::account_named(st.store.as_ref(), &account.account).await?;
            let region = st.optouts.region(a.id).await?;
            for raw in numbers {
                match stoplist_domain::PhoneNumber::parse(&raw, region) {
                    Ok(n) => match st.store.optout(a.id, &n).await? {
                        Some(o) => println!(
                            "{n}\topted out since {} ({}, by {})",
                            crate::rfc3339(o.created_at),
                            o.source,
                            o.actor
                        ),
                        None => println!("{n}\tnot opted out"),
                    },
                    Err(e) => println!("{raw}\tinvalid: {e}"),
                }
            }
        }
        OptoutsCmd::List {
            account,
            search,
            limit,
        } => {
            let a = accounts::account_named(st.store.as_ref(), &account.account).await?;
            let mut before = None;
            let mut shown = 0;
            loop {
                let page_size = if limit == 0 {
                    1000
                } else {
                    (limit - shown).min(1000)
                };
                if page_size <= 0 {
                    break;
                }
                let page = st
                    .store
                    .list_optouts(a.id, search.as_deref(), before, page_size)
                    .await?;
                for o in &page.items {
                    println!(
                        "{}\t{}\t{}\t{}",
                        o.number,
                        crate::rfc3339(o.created_at),
                        o.source,
                        o.actor
                    );
                }
                shown += page.items.len() as i64;
                match page.next {
                    Some(n) => before = Some(n),
                    None => break,
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs an import with progress on standard error and the report on standard output.
async fn import_cmd(
    st: &AppState,
    account: stoplist_domain::AccountId,
    file: PathBuf,
    target: crate::import::Target,
    opts: ImportArgs,
    reset: Option<stoplist_domain::names::Reason>,
) -> anyhow::Result<ExitCode> {
    use std::sync::atomic::Ordering;
    let file_name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| file.display().to_string());
    let req = crate::import::ImportRequest {
        account,
        target,
        path: file,
        file_name,
        reset,
        dry_run: opts.dry_run,
        mapping: match &opts.mapping {
            Some(m) => crate::import::MappingOverride::parse(m)?,
            None => Default::default(),
        },
        read: crate::import::read::ReadOptions {
            sheet: opts.sheet.clone(),
            ..Default::default()
        },
        actor: operator(),
    };
    let progress = std::sync::Arc::new(crate::import::ImportProgress::default());
    let ticker = {
        let progress = progress.clone();
        tokio::spawn(async move {
            use std::io::IsTerminal;
            // On a terminal the line updates in place; in a log, a line every 5 seconds.
            let tty = std::io::stderr().is_terminal();
            let every = std::time::Duration::from_millis(if tty { 500 } else { 5000 });
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            loop {
                tick.tick().await;
                let n = progress.rows_read.load(Ordering::Relaxed);
                if tty {
                    eprint!("\rread {n} rows…");
                } else {
                    eprintln!("read {n} rows…");
                }
            }
        })
    };
    let result = crate::import::run(st, req, progress).await;
    ticker.abort();
    let record = result?;
    print_report(&record);
    if let Some(path) = &opts.rejects {
        let n = write_rejects(st, &record, path).await?;
        println!("{n} rejected rows written to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn print_report(r: &stoplist_store::ImportRecord) {
    let c = &r.counts;
    let what = if r.dry_run {
        "dry run (nothing was changed)"
    } else {
        r.status.as_str()
    };
    println!("import {} of {:?}: {what}", r.id, r.file_name);
    let (new_label, updated_label) = match r.kind {
        stoplist_store::ImportKind::Contacts => {
            ("imported (new contacts)", "updated (already in the group)")
        }
        stoplist_store::ImportKind::OptOuts => ("opted out (new)", "already opted out"),
    };
    for (label, n) in [
        ("rows read", c.rows_read),
        (new_label, c.imported),
        (updated_label, c.updated),
        ("duplicates in the file", c.duplicates),
        ("invalid", c.invalid),
        ("skipped: opted out", c.skipped_opted_out),
        (
            "skipped: opted out by reply (Enforce Global Optouts)",
            c.skipped_enforced,
        ),
        ("opt-outs lifted by the reset", c.lifted),
        (
            "opted out in the file (listed, not imported)",
            c.opted_out_in_file,
        ),
    ] {
        println!("  {label:<55} {n:>10}");
    }
}

/// Writes an import's rejected rows as CSV (row, value, reason), page by page.
async fn write_rejects(
    st: &AppState,
    r: &stoplist_store::ImportRecord,
    path: &std::path::Path,
) -> anyhow::Result<u64> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(out, "row,value,reason")?;
    let (mut after, mut n) = (0, 0);
    loop {
        let page = st
            .store
            .import_rejects(r.account_id, r.id, after, 10_000)
            .await?;
        let Some(last) = page.last() else { break };
        after = last.row;
        for j in &page {
            writeln!(
                out,
                "{},{},{}",
                j.row,
                crate::import::csv_cell(&j.raw),
                crate::import::csv_cell(&j.reason)
            )?;
            n += 1;
        }
    }
    out.flush()?;
    Ok(n)
}

/// Walks each account's ledger in batches, checking every link and hash.
pub async fn verify_ledger(store: &dyn Store, only: Option<&str>) -> anyhow::Result<ExitCode> {
    let accounts = match only {
        Some(name) => vec![accounts::account_named(store, name).await?],
        None => store.list_accounts().await?,
    };
    let mut broken = false;
    for a in accounts {
        let check = crate::reports::evidence::verify_ledger(store, a.id).await?;
        match &check.broken {
            None => println!(
                "account {:?}: ledger intact ({} events, head {})",
                a.name, check.events, check.head
            ),
            Some(e) => {
                broken = true;
                println!("account {:?}: LEDGER BROKEN: {e}", a.name);
            }
        }
    }
    Ok(if broken {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `stoplist user …`: the account's users, as an owner would manage them on the Users page.
async fn user_cmd(st: AppState, cmd: UserCmd) -> anyhow::Result<ExitCode> {
    use crate::users;
    let by = Asker::cli();
    let named = |account: &AccountArg| {
        let (st, name) = (st.clone(), account.account.clone());
        async move { accounts::account_named(st.store.as_ref(), &name).await }
    };
    match cmd {
        UserCmd::Add {
            account,
            login,
            password,
            role,
            admin,
        } => {
            let a = named(&account).await?;
            let role = if admin { Role::Owner } else { role };
            let u = users::add(&st, a.id, &login, &password, role, &by).await?;
            println!("created {} {:?} in account {:?}", u.role, u.login, a.name);
            println!("{}", u.id);
        }
        UserCmd::List { account } => {
            let a = named(&account).await?;
            for u in st.store.list_users(a.id).await? {
                let state = if u.is_active() { "active" } else { "disabled" };
                let tf = if u.two_factor {
                    "two-factor"
                } else {
                    "password only"
                };
                println!("{}\t{}\t{}\t{}\t{}", u.id, u.login, u.role, state, tf);
            }
        }
        UserCmd::Role {
            account,
            login,
            role,
        } => {
            let a = named(&account).await?;
            let u = users::user_named(&st, a.id, &login).await?;
            let u = users::change(&st, a.id, u.id, Some(role), None, &by).await?;
            println!("{:?} is now {}", u.login, u.role);
        }
        UserCmd::Disable { account, login } => {
            let a = named(&account).await?;
            let u = users::user_named(&st, a.id, &login).await?;
            users::change(&st, a.id, u.id, None, Some(true), &by).await?;
            println!(
                "disabled {:?}: their sessions ended and their keys stopped",
                u.login
            );
        }
        UserCmd::Enable { account, login } => {
            let a = named(&account).await?;
            let u = users::user_named(&st, a.id, &login).await?;
            users::change(&st, a.id, u.id, None, Some(false), &by).await?;
            println!("enabled {:?}", u.login);
        }
        UserCmd::Delete { account, login } => {
            let a = named(&account).await?;
            let u = users::user_named(&st, a.id, &login).await?;
            users::delete(&st, a.id, u.id, &by).await?;
            println!("deleted {:?}; their keys are revoked", u.login);
        }
        UserCmd::Password {
            account,
            login,
            password,
        } => {
            let a = named(&account).await?;
            let u = users::user_named(&st, a.id, &login).await?;
            users::reset_password(&st, a.id, u.id, &password, &by).await?;
            println!("set the password of {:?}; their sessions ended", u.login);
        }
        UserCmd::Sessions { account, login } => {
            let a = named(&account).await?;
            let u = users::user_named(&st, a.id, &login).await?;
            for s in st
                .store
                .list_sessions(a.id, Some(u.id), crate::now_ms())
                .await?
            {
                println!(
                    "{}\t{}\t{}\t{}",
                    s.handle,
                    crate::rfc3339(s.created_at),
                    crate::rfc3339(s.expires_at),
                    s.address
                );
            }
        }
        UserCmd::Logout {
            account,
            login,
            session,
        } => {
            let a = named(&account).await?;
            let u = users::user_named(&st, a.id, &login).await?;
            let n = users::revoke_sessions(&st, a.id, &u, session.as_deref(), &by).await?;
            println!("ended {n} session(s) of {:?}", u.login);
        }
        UserCmd::ResetTwoFactor { account, login } => {
            let a = named(&account).await?;
            let u = users::user_named(&st, a.id, &login).await?;
            users::disable_two_factor(&st, a.id, &u, &by).await?;
            println!("two-factor login is off for {:?}", u.login);
        }
    }
    Ok(ExitCode::SUCCESS)
}
