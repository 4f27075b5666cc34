-- stoplist schema v1 (SQLite). Append-only: never edit a migration that has landed.
-- Times are milliseconds since the Unix epoch; numbers are E.164 text.

CREATE TABLE accounts (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    webhook_token TEXT    NOT NULL UNIQUE,
    settings_json TEXT    NOT NULL,
    -- The evidence ledger's head: the last event's seq and hash.
    ledger_seq    INTEGER NOT NULL DEFAULT 0,
    ledger_head   TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE settings_changes (
    id          INTEGER PRIMARY KEY,
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    at          INTEGER NOT NULL,
    actor_kind  TEXT    NOT NULL,
    actor_id    INTEGER,
    actor_label TEXT    NOT NULL,
    field       TEXT    NOT NULL,
    old_value   TEXT    NOT NULL,
    new_value   TEXT    NOT NULL
);
CREATE INDEX settings_changes_account ON settings_changes(account_id, id);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    account_id    INTEGER NOT NULL REFERENCES accounts(id),
    login         TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    is_admin      INTEGER NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id         INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    name       TEXT    NOT NULL,
    key_hash   TEXT    NOT NULL UNIQUE,
    prefix     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

CREATE TABLE contact_groups (
    id         INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    name       TEXT    NOT NULL,
    name_key   TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (account_id, name_key)
);

CREATE TABLE contacts (
    id         INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    group_id   INTEGER NOT NULL REFERENCES contact_groups(id) ON DELETE CASCADE,
    number     TEXT    NOT NULL,
    first_name TEXT,
    last_name  TEXT,
    email      TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (group_id, number)
);
CREATE INDEX contacts_account_number ON contacts(account_id, number);

CREATE TABLE opt_outs (
    id          INTEGER PRIMARY KEY,
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    number      TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    actor_kind  TEXT    NOT NULL,
    actor_id    INTEGER,
    actor_label TEXT    NOT NULL,
    evidence    TEXT,
    created_at  INTEGER NOT NULL,
    UNIQUE (account_id, number)
);

CREATE TABLE optout_events (
    id          INTEGER PRIMARY KEY,
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    seq         INTEGER NOT NULL,
    number      TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    actor_kind  TEXT    NOT NULL,
    actor_id    INTEGER,
    actor_label TEXT    NOT NULL,
    reason      TEXT,
    evidence    TEXT,
    at          INTEGER NOT NULL,
    prev_hash   TEXT    NOT NULL,
    hash        TEXT    NOT NULL,
    UNIQUE (account_id, seq)
);
CREATE INDEX optout_events_number ON optout_events(account_id, number, seq);

-- The ledger is append-only: the database itself refuses to change or delete an event.
CREATE TRIGGER optout_events_no_update BEFORE UPDATE ON optout_events
BEGIN SELECT RAISE(ABORT, 'optout_events is append-only'); END;
CREATE TRIGGER optout_events_no_delete BEFORE DELETE ON optout_events
BEGIN SELECT RAISE(ABORT, 'optout_events is append-only'); END;
