//! How much heavy work may run at once: imports (a file read, parsed and checked row by row)
//! and bulk opt-out checks (up to a million numbers in one request), each counted per account
//! and for the whole server. Work over a limit is refused at once with
//! [`AppError::Busy`] (429 and `Retry-After`), never queued: a queue would hold the request's
//! body in memory while it waits, which is what the limits are there to bound.
//!
//! Owns: the counters and the permits that hold a place. Does not own: where a permit is
//! taken (the bulk-check handler; the import pipeline) nor what the work does.
//!
//! ```
//! # use stoplist::limits::{Limits, LimitSettings};
//! # use stoplist_domain::AccountId;
//! let limits = Limits::new(LimitSettings { imports_per_account: 1, ..LimitSettings::default() });
//! let account = AccountId(1);
//! let running = limits.try_import(account).expect("the first import runs");
//! assert!(limits.try_import(account).is_err(), "the account's one place is taken");
//! drop(running);
//! assert!(limits.try_import(account).is_ok(), "a finished import gives its place back");
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use stoplist_domain::AccountId;

use crate::config::Config;
use crate::error::{AppError, Busy, LimitScope, LimitedWork};

/// `Retry-After` for a refused import: an import of a large file takes minutes, so asking
/// again sooner than this would most likely be refused again.
pub const IMPORT_RETRY_AFTER_SECS: u64 = 30;

/// `Retry-After` for a refused bulk check: a million numbers are checked in about a second
/// (docs/benchmarks.md), so a place is usually free within a few.
pub const BULK_CHECK_RETRY_AFTER_SECS: u64 = 5;

/// How many of each kind of work may run at once. Every number is at least 1 (a zero from
/// the configuration is taken as 1: a limit of none would refuse everything).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitSettings {
    pub imports_per_account: usize,
    pub imports_per_server: usize,
    pub bulk_checks_per_account: usize,
    pub bulk_checks_per_server: usize,
}

impl Default for LimitSettings {
    /// The configuration's defaults (see [`Config`]).
    fn default() -> Self {
        LimitSettings::from(&Config::default())
    }
}

impl From<&Config> for LimitSettings {
    fn from(c: &Config) -> Self {
        LimitSettings {
            imports_per_account: c.max_imports_per_account,
            imports_per_server: c.max_imports_per_server,
            bulk_checks_per_account: c.max_bulk_checks_per_account,
            bulk_checks_per_server: c.max_bulk_checks_per_server,
        }
    }
}

/// The running imports and bulk checks, per account and server-wide. One per process, in the
/// app state; cheap to share (`Arc` inside).
#[derive(Debug, Clone)]
pub struct Limits {
    imports: Arc<Gate>,
    bulk_checks: Arc<Gate>,
}

impl Limits {
    pub fn new(settings: LimitSettings) -> Limits {
        Limits {
            imports: Arc::new(Gate::new(
                LimitedWork::Import,
                settings.imports_per_account,
                settings.imports_per_server,
                IMPORT_RETRY_AFTER_SECS,
            )),
            bulk_checks: Arc::new(Gate::new(
                LimitedWork::BulkCheck,
                settings.bulk_checks_per_account,
                settings.bulk_checks_per_server,
                BULK_CHECK_RETRY_AFTER_SECS,
            )),
        }
    }

    /// A place for one import of `account` (dry run or not), held until the [`Permit`] is
    /// dropped; [`AppError::Busy`] when the account or the server runs as many as allowed.
    pub fn try_import(&self, account: AccountId) -> Result<Permit, AppError> {
        Gate::try_enter(&self.imports, account)
    }

    /// A place for one bulk check of `account`, held until the [`Permit`] is dropped (after
    /// the answer has been written out); [`AppError::Busy`] when the account or the server
    /// runs as many as allowed.
    pub fn try_bulk_check(&self, account: AccountId) -> Result<Permit, AppError> {
        Gate::try_enter(&self.bulk_checks, account)
    }

    /// Imports running now: (the account's, the server's).
    pub fn imports_running(&self, account: AccountId) -> (usize, usize) {
        self.imports.running(account)
    }

    /// Bulk checks running now: (the account's, the server's).
    pub fn bulk_checks_running(&self, account: AccountId) -> (usize, usize) {
        self.bulk_checks.running(account)
    }
}

/// A place held for one piece of work; dropping it gives the place back (also when the work
/// panics or its request is cancelled). `Send + 'static`, so it can move into a blocking
/// task or a response body stream.
#[must_use = "the place is given back as soon as the permit is dropped"]
#[derive(Debug)]
pub struct Permit {
    gate: Arc<Gate>,
    account: AccountId,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.gate.leave(self.account);
    }
}

/// The counters of one kind of work.
#[derive(Debug)]
struct Gate {
    work: LimitedWork,
    per_account: usize,
    per_server: usize,
    retry_after_secs: u64,
    running: Mutex<Running>,
}

#[derive(Debug, Default)]
struct Running {
    total: usize,
    /// Only accounts with work running (an entry is removed when it falls to zero), so the
    /// map stays as small as the work in flight.
    by_account: HashMap<AccountId, usize>,
}

impl Gate {
    fn new(work: LimitedWork, per_account: usize, per_server: usize, retry: u64) -> Gate {
        Gate {
            work,
            per_account: per_account.max(1),
            per_server: per_server.max(1),
            retry_after_secs: retry.max(1),
            running: Mutex::new(Running::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Running> {
        // The counters are plain integers updated in one step: a panic elsewhere while the
        // lock was held cannot have left them half-changed.
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn try_enter(gate: &Arc<Gate>, account: AccountId) -> Result<Permit, AppError> {
        let mut running = gate.lock();
        let mine = running.by_account.get(&account).copied().unwrap_or(0);
        // The account's own limit first: it is the one its user can do something about.
        let refused = if mine >= gate.per_account {
            Some((LimitScope::Account, gate.per_account))
        } else if running.total >= gate.per_server {
            Some((LimitScope::Server, gate.per_server))
        } else {
            None
        };
        if let Some((scope, limit)) = refused {
            return Err(AppError::Busy(Busy {
                work: gate.work,
                scope,
                limit,
                retry_after_secs: gate.retry_after_secs,
            }));
        }
        running.total += 1;
        *running.by_account.entry(account).or_insert(0) += 1;
        Ok(Permit {
            gate: gate.clone(),
            account,
        })
    }

    fn leave(&self, account: AccountId) {
        let mut running = self.lock();
        running.total = running.total.saturating_sub(1);
        if let Some(n) = running.by_account.get_mut(&account) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                running.by_account.remove(&account);
            }
        }
    }

    fn running(&self, account: AccountId) -> (usize, usize) {
        let running = self.lock();
        let mine = running.by_account.get(&account).copied().unwrap_or(0);
        (mine, running.total)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits::new(LimitSettings {
            imports_per_account: 2,
            imports_per_server: 4,
            bulk_checks_per_account: 2,
            bulk_checks_per_server: 3,
        })
    }

    fn busy(r: Result<Permit, AppError>) -> Busy {
        match r {
            Err(AppError::Busy(b)) => b,
            Err(other) => panic!("expected Busy, got {other:?}"),
            Ok(_) => panic!("expected Busy, got a permit"),
        }
    }

    #[test]
    fn an_account_over_its_own_limit_is_refused_with_its_scope() {
        let l = limits();
        let a = AccountId(1);
        let _one = l.try_bulk_check(a).unwrap();
        let _two = l.try_bulk_check(a).unwrap();
        let refused = busy(l.try_bulk_check(a));
        assert_eq!(refused.scope, LimitScope::Account);
        assert_eq!(refused.work, LimitedWork::BulkCheck);
        assert_eq!(refused.limit, 2);
        assert_eq!(refused.retry_after_secs, BULK_CHECK_RETRY_AFTER_SECS);
        assert!(
            l.try_bulk_check(AccountId(2)).is_ok(),
            "another account is not held back by the first one's limit"
        );
    }

    #[test]
    fn the_server_limit_counts_every_account_together() {
        let l = limits();
        let _a = l.try_bulk_check(AccountId(1)).unwrap();
        let _b = l.try_bulk_check(AccountId(2)).unwrap();
        let _c = l.try_bulk_check(AccountId(3)).unwrap();
        let refused = busy(l.try_bulk_check(AccountId(4)));
        assert_eq!(refused.scope, LimitScope::Server);
        assert_eq!(refused.limit, 3);
        assert_eq!(l.bulk_checks_running(AccountId(1)), (1, 3));
    }

    #[test]
    fn a_dropped_permit_gives_its_place_back() {
        let l = limits();
        let a = AccountId(1);
        let first = l.try_import(a).unwrap();
        let _second = l.try_import(a).unwrap();
        assert!(l.try_import(a).is_err());
        drop(first);
        assert_eq!(l.imports_running(a), (1, 1));
        let _third = l
            .try_import(a)
            .expect("the place given back is taken again");
        assert_eq!(l.imports_running(a), (2, 2));
    }

    #[test]
    fn imports_and_bulk_checks_are_counted_apart() {
        let l = limits();
        let a = AccountId(1);
        let _i1 = l.try_import(a).unwrap();
        let _i2 = l.try_import(a).unwrap();
        assert!(l.try_bulk_check(a).is_ok());
        assert_eq!(
            busy(l.try_import(a)).retry_after_secs,
            IMPORT_RETRY_AFTER_SECS
        );
    }

    #[test]
    fn a_permit_is_given_back_when_its_thread_panics() {
        let l = limits();
        let a = AccountId(1);
        let permit = l.try_import(a).unwrap();
        let joined = std::thread::spawn(move || {
            let _held = permit;
            panic!("the import failed badly");
        })
        .join();
        assert!(joined.is_err());
        assert_eq!(l.imports_running(a), (0, 0));
    }

    #[test]
    fn a_zero_limit_is_taken_as_one() {
        let l = Limits::new(LimitSettings {
            imports_per_account: 0,
            imports_per_server: 0,
            bulk_checks_per_account: 0,
            bulk_checks_per_server: 0,
        });
        let _one = l
            .try_import(AccountId(1))
            .expect("one import may always run");
        assert!(l.try_import(AccountId(1)).is_err());
    }

    #[test]
    fn the_refusal_says_whose_limit_and_when_to_try_again() {
        let message = AppError::Busy(Busy {
            work: LimitedWork::Import,
            scope: LimitScope::Account,
            limit: 2,
            retry_after_secs: 30,
        })
        .to_string();
        assert!(
            message.starts_with("this account already runs as many imports at once as it may (2)"),
            "{message}"
        );
        assert!(message.contains("try again in 30 seconds"), "{message}");
    }
}
