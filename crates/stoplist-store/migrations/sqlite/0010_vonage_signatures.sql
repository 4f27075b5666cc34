-- Vonage signed webhooks (SPEC 3.6, 4): each account's signature method and secret. Vonage is
-- not a sending connector here, so its secret cannot live in `connectors`. No row: the
-- account's Vonage webhooks are accepted unsigned, as before this migration. (Version 9 is
-- PostgreSQL's alone; this is the next number on both backends.)
-- Append-only: never edit a landed migration.

CREATE TABLE vonage_signatures (
    account_id INTEGER PRIMARY KEY REFERENCES accounts(id),
    method     TEXT    NOT NULL,
    secret     TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);
