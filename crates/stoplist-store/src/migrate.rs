//! Embedded, append-only migrations per backend, applied at start-up.
//!
//! A tiny runner instead of `sqlx::migrate!` (which would compile both database drivers a
//! second time into the macro crate): each migration is applied once, in its own
//! transaction, and its SHA-256 is kept so that a migration edited after it landed is
//! refused with a clear error instead of leaving two databases with different schemas.

use sha2::{Digest, Sha256};

/// One schema step: version, description, SQL.
pub(crate) struct Migration {
    pub version: i64,
    pub description: &'static str,
    pub sql: &'static str,
}

impl Migration {
    pub fn checksum(&self) -> String {
        hex::encode(Sha256::digest(self.sql.as_bytes()))
    }
}

/// The table that records applied migrations (same SQL on both backends).
pub(crate) const CREATE_MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS stoplist_migrations (
    version BIGINT PRIMARY KEY, description TEXT NOT NULL, checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)";

pub(crate) const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        description: "init",
        sql: include_str!("../migrations/sqlite/0001_init.sql"),
    },
    Migration {
        version: 2,
        description: "imports",
        sql: include_str!("../migrations/sqlite/0002_imports.sql"),
    },
    Migration {
        version: 3,
        description: "import rows by row",
        sql: include_str!("../migrations/sqlite/0003_import_rows_by_row.sql"),
    },
    Migration {
        version: 4,
        description: "campaigns",
        sql: include_str!("../migrations/sqlite/0004_campaigns.sql"),
    },
    Migration {
        version: 5,
        description: "replies",
        sql: include_str!("../migrations/sqlite/0005_replies.sql"),
    },
    Migration {
        version: 6,
        description: "imports without staging",
        sql: include_str!("../migrations/sqlite/0006_imports_without_staging.sql"),
    },
    Migration {
        version: 7,
        description: "opt-outs by id",
        sql: include_str!("../migrations/sqlite/0007_optouts_by_id.sql"),
    },
    Migration {
        version: 8,
        description: "answers first",
        sql: include_str!("../migrations/sqlite/0008_answers_first.sql"),
    },
    // Version 9 is PostgreSQL's alone (a foreign key SQLite keeps).
    Migration {
        version: 10,
        description: "vonage signatures",
        sql: include_str!("../migrations/sqlite/0010_vonage_signatures.sql"),
    },
    Migration {
        version: 11,
        description: "instances and provisional opt-outs",
        sql: include_str!("../migrations/sqlite/0011_instances_and_provisional.sql"),
    },
    Migration {
        version: 12,
        description: "opt-out snapshot index",
        sql: include_str!("../migrations/sqlite/0012_optouts_snapshot_index.sql"),
    },
    Migration {
        version: 13,
        description: "roles and audit",
        sql: include_str!("../migrations/sqlite/0013_roles_and_audit.sql"),
    },
    Migration {
        version: 14,
        description: "reply parts expiry and ended campaigns' files",
        sql: include_str!("../migrations/sqlite/0014_expiry.sql"),
    },
    Migration {
        version: 15,
        description: "imports beside everything else",
        sql: include_str!("../migrations/sqlite/0015_imports_beside.sql"),
    },
];

pub(crate) const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        description: "init",
        sql: include_str!("../migrations/postgres/0001_init.sql"),
    },
    Migration {
        version: 2,
        description: "imports",
        sql: include_str!("../migrations/postgres/0002_imports.sql"),
    },
    Migration {
        version: 3,
        description: "import rows by row",
        sql: include_str!("../migrations/postgres/0003_import_rows_by_row.sql"),
    },
    Migration {
        version: 4,
        description: "campaigns",
        sql: include_str!("../migrations/postgres/0004_campaigns.sql"),
    },
    Migration {
        version: 5,
        description: "replies",
        sql: include_str!("../migrations/postgres/0005_replies.sql"),
    },
    Migration {
        version: 6,
        description: "imports without staging",
        sql: include_str!("../migrations/postgres/0006_imports_without_staging.sql"),
    },
    Migration {
        version: 7,
        description: "opt-outs by id",
        sql: include_str!("../migrations/postgres/0007_optouts_by_id.sql"),
    },
    Migration {
        version: 8,
        description: "answers first",
        sql: include_str!("../migrations/postgres/0008_answers_first.sql"),
    },
    Migration {
        version: 9,
        description: "contacts without the account foreign key",
        sql: include_str!("../migrations/postgres/0009_contacts_account_fk.sql"),
    },
    Migration {
        version: 10,
        description: "vonage signatures",
        sql: include_str!("../migrations/postgres/0010_vonage_signatures.sql"),
    },
    Migration {
        version: 11,
        description: "instances and provisional opt-outs",
        sql: include_str!("../migrations/postgres/0011_instances_and_provisional.sql"),
    },
    Migration {
        version: 12,
        description: "opt-out snapshot index",
        sql: include_str!("../migrations/postgres/0012_optouts_snapshot_index.sql"),
    },
    Migration {
        version: 13,
        description: "roles and audit",
        sql: include_str!("../migrations/postgres/0013_roles_and_audit.sql"),
    },
    Migration {
        version: 14,
        description: "reply parts expiry and ended campaigns' files",
        sql: include_str!("../migrations/postgres/0014_expiry.sql"),
    },
    Migration {
        version: 15,
        description: "imports beside everything else",
        sql: include_str!("../migrations/postgres/0015_imports_beside.sql"),
    },
];
