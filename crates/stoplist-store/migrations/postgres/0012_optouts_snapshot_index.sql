-- The opt-out index's load reads an account's whole list (number, since, source). With rows of
-- many accounts interleaved in the table, that read touched one table page per opt-out. This
-- index holds what the load reads, in account and id order, so the load can read the index
-- alone (an index-only scan once the table is vacuumed). It replaces opt_outs_account_id
-- (account_id, id), whose order it keeps for the list's pages. On a large existing list the
-- migration takes a while once. Append-only: never edit a landed migration.

CREATE INDEX opt_outs_snapshot ON opt_outs (account_id, id) INCLUDE (number, created_at, source);
DROP INDEX opt_outs_account_id;
