-- Import sessions (SPEC 3.4, 3.5): one row per import, its staged rows while it runs, and the
-- rows it did not import with the reason. Append-only: never edit a landed migration.

CREATE TABLE imports (
    id                INTEGER PRIMARY KEY,
    account_id        INTEGER NOT NULL REFERENCES accounts(id),
    group_id          INTEGER,
    kind              TEXT    NOT NULL,
    file_name         TEXT    NOT NULL,
    status            TEXT    NOT NULL,
    dry_run           INTEGER NOT NULL,
    reset             INTEGER NOT NULL,
    reason            TEXT,
    actor_kind        TEXT    NOT NULL,
    actor_id          INTEGER,
    actor_label       TEXT    NOT NULL,
    rows_read         INTEGER NOT NULL DEFAULT 0,
    imported          INTEGER NOT NULL DEFAULT 0,
    updated           INTEGER NOT NULL DEFAULT 0,
    duplicates        INTEGER NOT NULL DEFAULT 0,
    invalid           INTEGER NOT NULL DEFAULT 0,
    skipped_opted_out INTEGER NOT NULL DEFAULT 0,
    skipped_enforced  INTEGER NOT NULL DEFAULT 0,
    lifted            INTEGER NOT NULL DEFAULT 0,
    error             TEXT,
    created_at        INTEGER NOT NULL,
    heartbeat_at      INTEGER NOT NULL,
    finished_at       INTEGER
);
CREATE INDEX imports_account ON imports(account_id, id);

CREATE TABLE import_rows (
    import_id  INTEGER NOT NULL,
    row        INTEGER NOT NULL,
    number     TEXT    NOT NULL,
    first_name TEXT,
    last_name  TEXT,
    email      TEXT
);
CREATE INDEX import_rows_number ON import_rows(import_id, number, row);

CREATE TABLE import_rejects (
    import_id INTEGER NOT NULL,
    row       INTEGER NOT NULL,
    raw       TEXT    NOT NULL,
    reason    TEXT    NOT NULL
);
CREATE INDEX import_rejects_import ON import_rejects(import_id, row);
