-- Campaigns (SPEC 3.7): the campaign, its groups, the excluded numbers of its last preview,
-- every outbound message (the durable send queue), and each account's connector.
-- Append-only: never edit a landed migration.

CREATE TABLE connectors (
    account_id  INTEGER PRIMARY KEY REFERENCES accounts(id),
    kind        TEXT    NOT NULL,
    config_json TEXT    NOT NULL,
    secret      TEXT    NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE campaigns (
    id              INTEGER PRIMARY KEY,
    account_id      INTEGER NOT NULL REFERENCES accounts(id),
    name            TEXT    NOT NULL,
    sender_id       TEXT    NOT NULL,
    message         TEXT    NOT NULL,
    numbers_json    TEXT    NOT NULL,
    file_name       TEXT,
    file_path       TEXT,
    file_column     TEXT,
    status          TEXT    NOT NULL,
    preview_json    TEXT,
    send_key        TEXT,
    actor_kind      TEXT    NOT NULL,
    actor_id        INTEGER,
    actor_label     TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    started_at      INTEGER,
    finished_at     INTEGER
);
CREATE INDEX campaigns_account ON campaigns(account_id, id);
CREATE INDEX campaigns_sending ON campaigns(status) WHERE status = 'sending';

CREATE TABLE campaign_groups (
    campaign_id INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    group_id    INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, group_id)
);

CREATE TABLE campaign_invalid (
    campaign_id    INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    seq            INTEGER NOT NULL,
    origin         TEXT    NOT NULL,
    raw            TEXT    NOT NULL,
    reason         TEXT    NOT NULL,
    detail         TEXT    NOT NULL,
    optout_since   INTEGER,
    optout_source  TEXT,
    PRIMARY KEY (campaign_id, seq)
);

CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    account_id      INTEGER NOT NULL REFERENCES accounts(id),
    campaign_id     INTEGER,
    kind            TEXT    NOT NULL,
    number          TEXT    NOT NULL,
    sender_id       TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    claimed_by      TEXT,
    claimed_at      INTEGER,
    provider        TEXT,
    provider_id     TEXT,
    error_code      TEXT,
    error_message   TEXT,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX messages_queue ON messages(next_attempt_at, id) WHERE status = 'queued';
CREATE INDEX messages_claimed ON messages(claimed_at) WHERE status = 'sending';
CREATE INDEX messages_campaign ON messages(campaign_id, id);
CREATE INDEX messages_number ON messages(account_id, number, id);
CREATE UNIQUE INDEX messages_provider_id ON messages(provider, provider_id);
