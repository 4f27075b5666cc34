-- Imports no longer stage their rows in a table: the pipeline dedupes while reading and writes
-- each batch straight into the group (or the opt-out list) inside the one transaction that
-- applies the import, so a killed process leaves nothing behind to clean up. Append-only:
-- never edit a landed migration.
DROP TABLE import_rows;
