-- Replies (SPEC 3.6): every inbound message with its classification and what was done, the
-- parts of concatenated messages until they are whole, accounts' own keywords, and the
-- outbound notification endpoint with its durable outbox and delivery log.
-- Append-only: never edit a landed migration.

CREATE TABLE replies (
    id                  INTEGER PRIMARY KEY,
    account_id          INTEGER NOT NULL REFERENCES accounts(id),
    provider            TEXT    NOT NULL,
    provider_message_id TEXT    NOT NULL,
    from_number         TEXT    NOT NULL,
    to_number           TEXT    NOT NULL,
    body                TEXT    NOT NULL,
    class               TEXT    NOT NULL,
    tier                TEXT    NOT NULL,
    matched             TEXT,
    language            TEXT,
    matched_message_id  INTEGER,
    matched_campaign_id INTEGER,
    actions_json        TEXT    NOT NULL,
    review              TEXT,
    reviewed_by         TEXT,
    reviewed_at         INTEGER,
    received_at         INTEGER NOT NULL,
    created_at          INTEGER NOT NULL,
    UNIQUE (account_id, provider, provider_message_id)
);
CREATE INDEX replies_account ON replies(account_id, id);
CREATE INDEX replies_number ON replies(account_id, from_number, id);
CREATE INDEX replies_review ON replies(account_id, id) WHERE review = 'pending';

CREATE TABLE reply_parts (
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    provider    TEXT    NOT NULL,
    from_number TEXT    NOT NULL,
    reference   TEXT    NOT NULL,
    total       INTEGER NOT NULL,
    part        INTEGER NOT NULL,
    provider_message_id TEXT NOT NULL,
    to_number   TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, provider, from_number, reference, part)
);

CREATE TABLE custom_keywords (
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    keyword    TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    language   TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, keyword)
);

CREATE TABLE notify_endpoints (
    account_id INTEGER PRIMARY KEY REFERENCES accounts(id),
    url        TEXT    NOT NULL,
    secret     TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE notifications (
    id              INTEGER PRIMARY KEY,
    account_id      INTEGER NOT NULL REFERENCES accounts(id),
    event           TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    claimed_at      INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    delivered_at    INTEGER
);
CREATE INDEX notifications_due ON notifications(next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX notifications_account ON notifications(account_id, id);
