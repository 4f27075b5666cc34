-- Instances and provisional opt-outs (issue 13). Append-only: never edit a landed migration.
--
-- `instances`: each running dispatcher's heartbeat. A message claimed by an instance whose
-- heartbeat stopped (kill -9, a lost machine) is failed as `interrupted` within seconds,
-- instead of after a five-minute lease.
--
-- `opt_outs.provisional`: an opt-out counted from an unclear reply until a person reviews it
-- (SPEC 3.6). It suppresses sending like any opt-out, but deletes no contact; confirming it
-- makes it an opt-out by reply, dismissing it lifts it.

CREATE TABLE instances (
    id         TEXT    PRIMARY KEY,
    started_at INTEGER NOT NULL,
    seen_at    INTEGER NOT NULL
);

ALTER TABLE opt_outs ADD COLUMN provisional INTEGER NOT NULL DEFAULT 0;
