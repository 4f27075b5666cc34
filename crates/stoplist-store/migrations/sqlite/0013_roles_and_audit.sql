-- Roles, user management, two-factor login and the audit log (issue 15, docs/architecture.md
-- "Roles and users"). A user who was an administrator becomes an owner, any other user a
-- manager (what a non-administrator could do before, less users, keys and secrets); a key
-- made before roles existed becomes a manager key. Append-only: never edit a landed migration.

ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'manager';
UPDATE users SET role = 'owner' WHERE is_admin <> 0;
-- Set while the user is disabled: no login, no session, no key of theirs works.
ALTER TABLE users ADD COLUMN disabled_at INTEGER;
-- The user's TOTP secret (base32) once enrolled, and the last 30-second step a code was
-- accepted for (a code is never accepted twice).
ALTER TABLE users ADD COLUMN totp_secret TEXT;
ALTER TABLE users ADD COLUMN totp_last_step INTEGER;

-- 'full', or 'second_factor' for a session that has passed the password and waits for a code.
ALTER TABLE sessions ADD COLUMN stage TEXT NOT NULL DEFAULT 'full';
ALTER TABLE sessions ADD COLUMN address TEXT NOT NULL DEFAULT '';
CREATE INDEX sessions_user ON sessions(user_id);

ALTER TABLE api_keys ADD COLUMN role TEXT NOT NULL DEFAULT 'manager';
-- The user who made the key (none: made with the CLI). Their key stops working when they
-- are disabled, and never does more than their role.
ALTER TABLE api_keys ADD COLUMN created_by INTEGER REFERENCES users(id) ON DELETE SET NULL;

-- One-use recovery codes for a user with two-factor login (SHA-256 of each code).
CREATE TABLE recovery_codes (
    user_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash TEXT    NOT NULL,
    used_at   INTEGER,
    PRIMARY KEY (user_id, code_hash)
);

-- Account-wide security rules that are not ordinary settings (only an owner changes them).
CREATE TABLE account_security (
    account_id   INTEGER PRIMARY KEY REFERENCES accounts(id),
    require_totp INTEGER NOT NULL DEFAULT 0
);

-- Security events, newest last; never changed, never deleted with their subject.
CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY,
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    at          INTEGER NOT NULL,
    event       TEXT    NOT NULL,
    actor_kind  TEXT    NOT NULL,
    actor_id    INTEGER,
    actor_label TEXT    NOT NULL,
    subject     TEXT    NOT NULL,
    detail      TEXT    NOT NULL,
    address     TEXT    NOT NULL
);
CREATE INDEX audit_events_account ON audit_events(account_id, id);
