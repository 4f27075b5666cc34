-- Staged rows arrive with distinct numbers (the pipeline dedupes while reading), so the apply
-- step scans them by import and probes contacts and opt_outs by their own indexes: an index
-- in row order is cheap to maintain while staging, one by number was not.
DROP INDEX import_rows_number;
CREATE INDEX import_rows_import ON import_rows(import_id, row);
