//! The application's error: what a caller did wrong (with the field at fault) or what broke.
//! `web::errors` turns it into a JSON or HTML response in one place; the CLI prints it.

use stoplist_domain::names::TextError;
use stoplist_domain::rules::Refusal;
use stoplist_domain::settings::SettingsError;
use stoplist_domain::{PhoneError, Role};
use stoplist_store::StoreError;

/// Everything a service call can answer besides success.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The input is wrong; `code` is stable for scripts, `field` names where.
    #[error("{message}")]
    Invalid {
        code: &'static str,
        field: String,
        message: String,
    },
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{what} already exists")]
    Conflict {
        what: &'static str,
        field: &'static str,
    },
    #[error("{0} is opted out: the opt-out list wins (import with reset to bring it back)")]
    OptedOut(String),
    #[error("{0}")]
    Refused(Refusal),
    #[error("missing or invalid credentials")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(&'static str),
    /// The caller's role does not allow this.
    #[error("this needs the {needed} role and yours is {have}; ask an owner of the account")]
    NeedsRole { needed: Role, have: Role },
    /// A request body over a configured limit.
    #[error("{0}")]
    TooLarge(String),
    #[error("too many attempts; try again in a few minutes")]
    TooManyRequests,
    /// As much of this kind of work is running as the limits allow (see `crate::limits`):
    /// answered 429 with `Retry-After`.
    #[error("{0}")]
    Busy(Busy),
    /// Not now: the server cannot answer this yet (the message says why and when to retry).
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn invalid(
        code: &'static str,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        AppError::Invalid {
            code,
            field: field.into(),
            message: message.into(),
        }
    }

    /// An invalid phone number in `field`, with the typed reason.
    pub fn phone(field: impl Into<String>, e: PhoneError) -> Self {
        let field = field.into();
        AppError::Invalid {
            code: "invalid_number",
            message: format!("{field}: invalid number ({e})"),
            field,
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => AppError::NotFound(what),
            StoreError::Conflict { what, field } => AppError::Conflict { what, field },
            StoreError::OptedOut => AppError::OptedOut("the number".into()),
            StoreError::LastOwner => AppError::invalid(
                "last_owner",
                "role",
                "the account needs at least one active owner: make another user an owner first",
            ),
            other => AppError::Internal(anyhow::Error::new(other)),
        }
    }
}

impl From<TextError> for AppError {
    fn from(e: TextError) -> Self {
        AppError::invalid("invalid_field", e.field(), e.to_string())
    }
}

impl From<SettingsError> for AppError {
    fn from(e: SettingsError) -> Self {
        AppError::invalid("invalid_field", e.field(), e.to_string())
    }
}

pub type AppResult<T> = Result<T, AppError>;

/// Work whose concurrency is limited (`crate::limits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitedWork {
    /// A contact import or an opt-out upload, dry run or not.
    Import,
    /// `POST /api/v1/optouts/check`.
    BulkCheck,
}

impl LimitedWork {
    /// "imports", "bulk checks": for messages.
    pub fn plural(self) -> &'static str {
        match self {
            LimitedWork::Import => "imports",
            LimitedWork::BulkCheck => "bulk checks",
        }
    }
}

/// Whose limit was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitScope {
    /// The account's own share.
    Account,
    /// The whole server's, all accounts together.
    Server,
}

/// Why work was refused for now: which work, whose limit, the limit, and when to try again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Busy {
    pub work: LimitedWork,
    pub scope: LimitScope,
    /// How many may run at once in that scope.
    pub limit: usize,
    /// The `Retry-After` answered, in seconds (at least 1).
    pub retry_after_secs: u64,
}

impl std::fmt::Display for Busy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let work = self.work.plural();
        let limit = self.limit;
        let wait = self.retry_after_secs;
        match self.scope {
            LimitScope::Account => write!(
                f,
                "this account already runs as many {work} at once as it may ({limit}); try \
                 again in {wait} seconds, when one has finished"
            ),
            LimitScope::Server => write!(
                f,
                "the server already runs as many {work} at once as it may, for all accounts \
                 together ({limit}); try again in {wait} seconds"
            ),
        }
    }
}
