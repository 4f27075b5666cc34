-- Imports run beside everything else (docs/architecture.md, "Imports: staged, then one
-- switch"). An import writes its new contacts into the group in short transactions, each
-- row carrying the import's id; while the import is listed in hidden_imports no reader sees
-- those rows. Fields it changes on contacts already in the group, and opt-outs its reset
-- lifts, wait in import_updates and import_lifts. Publishing is one short transaction that
-- applies those two, removes the import from hidden_imports and writes the report; a failed
-- or interrupted import's rows are deleted in short transactions, still hidden.
-- An opt-out recorded while an import runs deletes that number's hidden rows and staged
-- lifts, so it wins. Append-only: never edit a landed migration.

ALTER TABLE contacts ADD COLUMN import_id BIGINT;
CREATE INDEX contacts_import ON contacts(import_id) WHERE import_id IS NOT NULL;

CREATE TABLE hidden_imports (
    import_id BIGINT PRIMARY KEY,
    group_id  BIGINT NOT NULL REFERENCES contact_groups(id) ON DELETE CASCADE,
    -- its hidden rows now (a group's count subtracts them without counting them)
    rows      BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX hidden_imports_group ON hidden_imports(group_id);

CREATE TABLE import_updates (
    import_id  BIGINT NOT NULL,
    contact_id BIGINT NOT NULL,
    first_name TEXT,
    last_name  TEXT,
    email      TEXT,
    PRIMARY KEY (import_id, contact_id)
);

CREATE TABLE import_lifts (
    import_id  BIGINT NOT NULL,
    account_id BIGINT NOT NULL,
    number     TEXT   NOT NULL,
    row        BIGINT NOT NULL,
    PRIMARY KEY (import_id, number)
);
CREATE INDEX import_lifts_number ON import_lifts(account_id, number);

-- Rows a contact file itself marks as opted out ("Opted out", "Unsubscribed", "Do not text"…):
-- listed (source upload) when the import is published, never imported as contacts.
ALTER TABLE imports ADD COLUMN opted_out_in_file BIGINT NOT NULL DEFAULT 0;
