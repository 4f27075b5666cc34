-- Vonage signed webhooks (SPEC 3.6, 4): each account's signature method and secret. Vonage is
-- not a sending connector here, so its secret cannot live in `connectors`. No row: the
-- account's Vonage webhooks are accepted unsigned, as before this migration.
-- Append-only: never edit a landed migration.

CREATE TABLE vonage_signatures (
    account_id BIGINT PRIMARY KEY REFERENCES accounts(id),
    method     TEXT    NOT NULL,
    secret     TEXT    NOT NULL,
    updated_at BIGINT NOT NULL
);
