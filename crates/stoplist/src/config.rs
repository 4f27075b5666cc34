//! Typed, layered configuration: defaults, then an optional TOML file (`--config FILE` or
//! `STOPLIST_CONFIG`), then `STOPLIST_*` environment variables and command-line flags (clap
//! reads both). Passed into [`crate::app::Application::build`]; never a global.

use serde::Deserialize;
use std::path::Path;

/// The server's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `sqlite://PATH` (default `sqlite://stoplist.db`) or `postgres://…`.
    pub database_url: String,
    /// Address to listen on (`127.0.0.1:8080`; port 0 picks a free port).
    pub listen: String,
    /// The URL the public reaches this server at (for webhook URLs shown in Settings).
    pub public_url: Option<String>,
    /// Largest JSON request body, in bytes (bulk checks have their own, larger limit).
    pub max_body_bytes: usize,
    /// Largest bulk-check request body, in bytes.
    pub max_bulk_body_bytes: usize,
    /// How long a web session lasts, in hours.
    pub session_hours: i64,
    /// Mark the session cookie `Secure` even when `public_url` is not https (behind a proxy
    /// that terminates TLS without a public URL set); an https `public_url` always does.
    pub secure_cookies: bool,
    /// How long a verified API key is trusted from memory, in seconds (a key revoked through
    /// this instance is forgotten at once; through another instance or the CLI, within this).
    pub api_key_cache_seconds: u64,
    /// How often the in-memory opt-out index follows the ledger, in milliseconds (for changes
    /// made by other instances or the CLI; this instance's own changes apply at once).
    pub index_follow_ms: u64,
    /// Failed logins allowed per login name and client address in 5 minutes.
    pub login_attempts: u32,
    /// Largest uploaded file (imports, opt-out uploads), in bytes.
    pub max_upload_bytes: u64,
    /// A running import with no sign of life for this long is marked failed (its process
    /// stopped); checked at start-up and every 15 seconds.
    pub import_stale_seconds: i64,
    /// Longest campaign message, in SMS segments (footer and personalisation included).
    pub max_segments: usize,
    /// How often an idle dispatcher looks for due messages queued by other instances, in ms
    /// (messages this instance queues wake it at once).
    pub dispatch_poll_ms: u64,
    /// Messages per second per account when its connector does not say.
    pub default_send_rate: u32,
    /// How long a shutdown (SIGTERM, Ctrl-C) waits for the work in flight, in seconds.
    pub shutdown_timeout_seconds: u64,
    /// How often the opt-out indexes are compared with the store, in seconds.
    pub index_check_seconds: u64,
    /// An instance whose heartbeat is this old is taken as dead (kill -9, a lost machine): the
    /// messages it was sending are failed `interrupted`, fate unknown. In seconds.
    pub instance_lease_seconds: u64,
    /// Where campaigns' uploaded recipients files are kept; `None`: the temporary directory
    /// of the instance that received the upload. With several instances, a directory they
    /// all share (NFS, EFS), so that any of them can preview and send the campaign.
    pub campaign_files_dir: Option<std::path::PathBuf>,
    /// Whether URLs the server fetches on a user's say-so (a connector's base URL, the
    /// notification endpoint) may be plain http and reach loopback, private, link-local and
    /// other non-public addresses. Off: https to public addresses only (see
    /// `stoplist_providers::outbound`). For tests, and for a provider on the operator's own
    /// network.
    pub allow_private_urls: bool,
    /// How long a campaign's uploaded recipients file stays on disk after the campaign ended
    /// (sent or cancelled), in hours; 0 (the default): removed at the next sweep, within
    /// seconds. The campaign's record, messages and reports do not need it.
    pub campaign_file_retention_hours: u64,
    /// Imports (contact imports and opt-out uploads, dry runs too) one account may run at
    /// once; one more is answered 429 with `Retry-After` (see `crate::limits`). At least 1.
    /// Also `STOPLIST_MAX_IMPORTS_PER_ACCOUNT`.
    pub max_imports_per_account: usize,
    /// Imports the whole server runs at once, all accounts together. At least 1. Also
    /// `STOPLIST_MAX_IMPORTS_PER_SERVER`.
    pub max_imports_per_server: usize,
    /// Bulk checks (`POST /api/v1/optouts/check`) one account may run at once. At least 1.
    /// Also `STOPLIST_MAX_BULK_CHECKS_PER_ACCOUNT`.
    pub max_bulk_checks_per_account: usize,
    /// Bulk checks the whole server runs at once. At least 1. Also
    /// `STOPLIST_MAX_BULK_CHECKS_PER_SERVER`.
    pub max_bulk_checks_per_server: usize,
    /// The most numbers one bulk check may hold; more is answered 413 naming the limit. At
    /// least 1. Also `STOPLIST_MAX_CHECK_NUMBERS`.
    pub max_check_numbers: usize,
    /// The memory one import may use, in MiB, for the import pipeline to keep within (the
    /// file readers have fixed bounds of their own). At least 1. Also
    /// `STOPLIST_IMPORT_MEMORY_MB`.
    pub import_memory_mb: u64,
}

impl Config {
    /// Whether the public reaches this server over HTTPS (`public_url` says so).
    pub fn is_https(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.len() >= 8 && u[..8].eq_ignore_ascii_case("https://"))
    }

    /// Whether cookies are marked `Secure`: when set, and always over HTTPS.
    pub fn cookies_secure(&self) -> bool {
        self.secure_cookies || self.is_https()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: "sqlite://stoplist.db".into(),
            listen: "127.0.0.1:8080".into(),
            public_url: None,
            max_body_bytes: 2 * 1024 * 1024,
            max_bulk_body_bytes: 64 * 1024 * 1024,
            session_hours: 12,
            secure_cookies: false,
            api_key_cache_seconds: 10,
            index_follow_ms: 1000,
            login_attempts: 5,
            max_upload_bytes: 512 * 1024 * 1024,
            import_stale_seconds: 30,
            max_segments: 6,
            dispatch_poll_ms: 500,
            default_send_rate: 30,
            shutdown_timeout_seconds: 30,
            index_check_seconds: 300,
            instance_lease_seconds: 30,
            campaign_files_dir: None,
            allow_private_urls: false,
            campaign_file_retention_hours: 0,
            max_imports_per_account: 2,
            max_imports_per_server: 4,
            max_bulk_checks_per_account: 2,
            max_bulk_checks_per_server: 4,
            max_check_numbers: 1_000_000,
            import_memory_mb: 256,
        }
    }
}

/// The config file: every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub database_url: Option<String>,
    pub listen: Option<String>,
    pub public_url: Option<String>,
    pub max_body_bytes: Option<usize>,
    pub max_bulk_body_bytes: Option<usize>,
    pub session_hours: Option<i64>,
    pub secure_cookies: Option<bool>,
    pub api_key_cache_seconds: Option<u64>,
    pub index_follow_ms: Option<u64>,
    pub login_attempts: Option<u32>,
    pub max_upload_bytes: Option<u64>,
    pub import_stale_seconds: Option<i64>,
    pub max_segments: Option<usize>,
    pub dispatch_poll_ms: Option<u64>,
    pub default_send_rate: Option<u32>,
    pub shutdown_timeout_seconds: Option<u64>,
    pub index_check_seconds: Option<u64>,
    pub instance_lease_seconds: Option<u64>,
    pub campaign_files_dir: Option<std::path::PathBuf>,
    pub allow_private_urls: Option<bool>,
    pub campaign_file_retention_hours: Option<u64>,
    pub max_imports_per_account: Option<usize>,
    pub max_imports_per_server: Option<usize>,
    pub max_bulk_checks_per_account: Option<usize>,
    pub max_bulk_checks_per_server: Option<usize>,
    pub max_check_numbers: Option<usize>,
    pub import_memory_mb: Option<u64>,
}

impl Config {
    /// Defaults overlaid with the file at `path`, if given, then with the `STOPLIST_*`
    /// variables of the settings that have one here (see [`Config::overlay_env`]).
    pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        let mut c = Config::load_file(path)?;
        c.overlay_env(|name| std::env::var(name).ok())?;
        Ok(c)
    }

    /// The limits' settings from `STOPLIST_<KEY>` variables, read through `var` (the process
    /// environment in [`Config::load`]; a map in tests). A value that is not a whole number of
    /// at least 1 is refused with the variable's name.
    pub fn overlay_env(&mut self, var: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        fn read<T: std::str::FromStr + PartialOrd + From<u8>>(
            var: &impl Fn(&str) -> Option<String>,
            name: &str,
            into: &mut T,
        ) -> anyhow::Result<()> {
            let Some(raw) = var(name) else { return Ok(()) };
            match raw.trim().parse::<T>() {
                Ok(v) if v >= T::from(1) => {
                    *into = v;
                    Ok(())
                }
                _ => anyhow::bail!("{name}={raw:?}: expected a whole number of at least 1"),
            }
        }
        read(
            &var,
            "STOPLIST_MAX_IMPORTS_PER_ACCOUNT",
            &mut self.max_imports_per_account,
        )?;
        read(
            &var,
            "STOPLIST_MAX_IMPORTS_PER_SERVER",
            &mut self.max_imports_per_server,
        )?;
        read(
            &var,
            "STOPLIST_MAX_BULK_CHECKS_PER_ACCOUNT",
            &mut self.max_bulk_checks_per_account,
        )?;
        read(
            &var,
            "STOPLIST_MAX_BULK_CHECKS_PER_SERVER",
            &mut self.max_bulk_checks_per_server,
        )?;
        read(
            &var,
            "STOPLIST_MAX_CHECK_NUMBERS",
            &mut self.max_check_numbers,
        )?;
        read(
            &var,
            "STOPLIST_IMPORT_MEMORY_MB",
            &mut self.import_memory_mb,
        )?;
        Ok(())
    }

    /// The limits that must be at least 1 (0 would refuse every import or check): the first
    /// that is not, named as in the file.
    fn check_limits(&self) -> anyhow::Result<()> {
        let limits = [
            (
                "max_imports_per_account",
                self.max_imports_per_account as u64,
            ),
            ("max_imports_per_server", self.max_imports_per_server as u64),
            (
                "max_bulk_checks_per_account",
                self.max_bulk_checks_per_account as u64,
            ),
            (
                "max_bulk_checks_per_server",
                self.max_bulk_checks_per_server as u64,
            ),
            ("max_check_numbers", self.max_check_numbers as u64),
            ("import_memory_mb", self.import_memory_mb),
        ];
        match limits.iter().find(|(_, v)| *v == 0) {
            Some((key, _)) => anyhow::bail!("{key} must be at least 1"),
            None => Ok(()),
        }
    }

    /// Defaults overlaid with the file at `path`, if given.
    fn load_file(path: Option<&Path>) -> anyhow::Result<Config> {
        let mut c = Config::default();
        let Some(path) = path else { return Ok(c) };
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", path.display()))?;
        let f: FileConfig = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("config file {}: {e}", path.display()))?;
        macro_rules! overlay {
            ($($field:ident),*) => { $( if let Some(v) = f.$field { c.$field = v; } )* };
        }
        overlay!(
            database_url,
            listen,
            max_body_bytes,
            max_bulk_body_bytes,
            session_hours,
            secure_cookies,
            api_key_cache_seconds,
            index_follow_ms,
            login_attempts,
            max_upload_bytes,
            import_stale_seconds,
            max_segments,
            dispatch_poll_ms,
            default_send_rate,
            shutdown_timeout_seconds,
            index_check_seconds,
            instance_lease_seconds,
            allow_private_urls,
            campaign_file_retention_hours,
            max_imports_per_account,
            max_imports_per_server,
            max_bulk_checks_per_account,
            max_bulk_checks_per_server,
            max_check_numbers,
            import_memory_mb
        );
        c.check_limits()
            .map_err(|e| anyhow::anyhow!("config file {}: {e}", path.display()))?;
        if f.public_url.is_some() {
            c.public_url = f.public_url;
        }
        if f.campaign_files_dir.is_some() {
            c.campaign_files_dir = f.campaign_files_dir;
        }
        Ok(c)
    }
}

/// What `stoplist config example` prints.
pub const EXAMPLE: &str = r#"# stoplist configuration (TOML). Pass it with --config FILE or STOPLIST_CONFIG=FILE.
# Every key is optional; STOPLIST_<KEY> environment variables and flags override the file
# for the keys they name (STOPLIST_DATABASE_URL, STOPLIST_LISTEN, STOPLIST_PUBLIC_URL,
# STOPLIST_ALLOW_PRIVATE_URLS).

# Where the data lives: an SQLite file (created on first start) or a PostgreSQL database.
database_url = "sqlite://stoplist.db"
# database_url = "postgres://stoplist@127.0.0.1:5432/stoplist"

# Address and port to listen on.
listen = "127.0.0.1:8080"

# The public URL of this server, used to show the webhook URLs providers must call.
# public_url = "https://sms.example.com"

# Request body limits in bytes: JSON requests, and bulk opt-out checks.
max_body_bytes = 2097152
max_bulk_body_bytes = 67108864

# The most numbers one bulk check (POST /api/v1/optouts/check) may hold (413 beyond).
max_check_numbers = 1000000

# Heavy work allowed at once, per account and for the whole server: imports (contact
# imports and opt-out uploads, dry runs too) and bulk checks. More is answered 429 with
# Retry-After (30 seconds for an import, 5 for a check), never queued. Also
# STOPLIST_MAX_IMPORTS_PER_ACCOUNT and the like.
max_imports_per_account = 2
max_imports_per_server = 4
max_bulk_checks_per_account = 2
max_bulk_checks_per_server = 4

# The memory one import may use, in MiB (the import pipeline keeps within it; spreadsheets
# are also held to fixed bounds, docs/architecture.md, Imports). Also
# STOPLIST_IMPORT_MEMORY_MB.
import_memory_mb = 256

# Web sessions last this many hours. Cookies are Secure (and HSTS is sent) whenever
# public_url is https; set secure_cookies behind a TLS proxy without a public_url.
session_hours = 12
secure_cookies = false

# A verified API key is trusted from memory this long (revocations through another
# instance or the CLI take effect within it).
api_key_cache_seconds = 10

# How often the in-memory opt-out index reads changes made by other instances (ms).
index_follow_ms = 1000

# Failed logins allowed per login and client address in 5 minutes.
login_attempts = 5

# Largest uploaded file (contact imports, opt-out uploads), in bytes (413 beyond).
max_upload_bytes = 536870912

# A running import with no sign of life for this long (its process was killed) is marked
# failed; nothing of it was applied.
import_stale_seconds = 30

# Longest campaign message in SMS segments (153 GSM-7 or 67 UCS-2 characters each once a
# message needs more than one), opt-out footer and personalisation included.
max_segments = 6

# How often an idle dispatcher looks for messages queued by other instances (ms).
dispatch_poll_ms = 500

# Messages per second per account, unless the account's connector sets its own rate
# (carriers throttle bursts; Twilio long codes take about 1 per second, short codes 100).
default_send_rate = 30

# How long a shutdown (SIGTERM, Ctrl-C) waits for the work in flight: the reply batch being
# committed, the messages the dispatcher claimed, the notifications being delivered. Webhooks
# answer 503 meanwhile, so that providers retry (elsewhere). Past it, claimed messages never
# handed to the provider go back to the queue, and those without an answer are marked
# interrupted (fate unknown).
shutdown_timeout_seconds = 30

# How often each opt-out index is compared with the database (counts and a digest per
# account; a difference is repaired, logged and counted in stoplist_index_repairs_total).
index_check_seconds = 300

# An instance whose heartbeat is this old is taken as dead (kill -9, a lost machine): the
# messages it was sending are marked failed "interrupted" (fate unknown, never resent) and
# listed on the campaign's page. Each instance beats six times per lease.
instance_lease_seconds = 30

# Where campaigns' uploaded recipients files are kept (default: this instance's temporary
# directory). With several instances on one PostgreSQL database, a directory they all share,
# so that any instance can preview and send a campaign whose file another one received.
# campaign_files_dir = "/srv/stoplist/campaign-files"

# How long a campaign's uploaded recipients file (people's numbers, often names) stays on
# disk once the campaign has ended, sent or cancelled, in hours. 0: removed within seconds.
# The campaign's page, messages and reports do not need it.
campaign_file_retention_hours = 0

# URLs this server fetches because a user typed them (a connector's base URL, the
# notification endpoint) must be https and reach only public addresses: loopback, private
# (10/8, 172.16/12, 192.168/16, fc00::/7), link-local (169.254/16 with the cloud metadata
# service, fe80::/10), carrier-grade NAT and similar addresses are refused, also when a
# public-looking name resolves to one. Set to true to allow http and every address (tests,
# a fake provider on 127.0.0.1, a provider on your own network). Also
# STOPLIST_ALLOW_PRIVATE_URLS=true or --allow-private-urls.
allow_private_urls = false
"#;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    #[test]
    fn the_example_config_parses_and_matches_the_defaults() {
        let f: super::FileConfig = toml::from_str(super::EXAMPLE).expect("example parses");
        let d = super::Config::default();
        assert_eq!(f.database_url.as_deref(), Some(d.database_url.as_str()));
        assert_eq!(f.max_body_bytes, Some(d.max_body_bytes));
        assert_eq!(f.login_attempts, Some(d.login_attempts));
        assert_eq!(f.allow_private_urls, Some(d.allow_private_urls));
        assert_eq!(
            f.campaign_file_retention_hours,
            Some(d.campaign_file_retention_hours)
        );
        assert_eq!(f.max_imports_per_account, Some(d.max_imports_per_account));
        assert_eq!(f.max_imports_per_server, Some(d.max_imports_per_server));
        assert_eq!(
            f.max_bulk_checks_per_account,
            Some(d.max_bulk_checks_per_account)
        );
        assert_eq!(
            f.max_bulk_checks_per_server,
            Some(d.max_bulk_checks_per_server)
        );
        assert_eq!(f.max_check_numbers, Some(d.max_check_numbers));
        assert_eq!(f.import_memory_mb, Some(d.import_memory_mb));
    }

    #[test]
    fn limits_come_from_stoplist_variables() {
        let mut c = super::Config::default();
        let vars = [
            ("STOPLIST_MAX_IMPORTS_PER_ACCOUNT", "1"),
            ("STOPLIST_MAX_BULK_CHECKS_PER_SERVER", " 8 "),
            ("STOPLIST_IMPORT_MEMORY_MB", "512"),
        ];
        let lookup = |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        c.overlay_env(lookup).unwrap();
        assert_eq!(c.max_imports_per_account, 1);
        assert_eq!(c.max_bulk_checks_per_server, 8);
        assert_eq!(c.import_memory_mb, 512);
        assert_eq!(
            c.max_imports_per_server, 4,
            "a variable not set keeps the default"
        );
    }

    #[test]
    fn a_limit_of_zero_is_refused_with_its_name() {
        let mut c = super::Config::default();
        let err = c
            .overlay_env(|name| (name == "STOPLIST_MAX_CHECK_NUMBERS").then(|| "0".to_owned()))
            .unwrap_err();
        assert!(
            err.to_string().contains("STOPLIST_MAX_CHECK_NUMBERS"),
            "{err}"
        );
        let from_file = super::Config {
            max_bulk_checks_per_server: 0,
            ..super::Config::default()
        };
        let err = from_file.check_limits().unwrap_err();
        assert!(
            err.to_string().contains("max_bulk_checks_per_server"),
            "{err}"
        );
    }
}
