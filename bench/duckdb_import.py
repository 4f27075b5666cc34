#!/usr/bin/env python3
"""The baseline of the import benchmark: DuckDB running the equivalent pipeline on the same
file in the same run — read the CSV, normalize the mobile with SQL string functions to E.164
(AU), drop invalid ones, dedupe, anti-join the opt-outs, write a CSV. Prints the seconds.

Two ways to dedupe: `first` (the default) keeps each number's first row in file order, as the
import does (rows numbered as read, `arg_min` by row number): the fair baseline. `any` keeps an
arbitrary row of each number (`DISTINCT ON`), which is cheaper and stricter than the import.

usage: duckdb_import.py DIR [first|any]
"""
import sys
import time

import duckdb

d = sys.argv[1]
mode = sys.argv[2] if len(sys.argv) > 2 else "first"
if mode == "first":
    dedup = """SELECT number, arg_min(f, r) AS f, arg_min(l, r) AS l, arg_min(e, r) AS e
      FROM valid GROUP BY number"""
elif mode == "any":
    dedup = "SELECT DISTINCT ON (number) number, f, l, e FROM valid"
else:
    sys.exit(f"unknown dedupe mode {mode!r}: use first or any")
t = time.perf_counter()
con = duckdb.connect()
con.execute(f"""
COPY (
  WITH raw AS (
    SELECT row_number() OVER () AS r, regexp_replace(Mobile, '[^0-9+]', '', 'g') AS m,
           "First Name" AS f, "Last Name" AS l, Email AS e
      FROM read_csv('{d}/contacts.csv', header = true, all_varchar = true)
  ), norm AS (
    SELECT r, CASE
             WHEN m LIKE '+61%' THEN '+61' || substr(m, 4)
             WHEN m LIKE '61%' THEN '+' || m
             WHEN m LIKE '0%' THEN '+61' || substr(m, 2)
           END AS number, f, l, e
      FROM raw
  ), valid AS (
    SELECT * FROM norm WHERE regexp_full_match(number, '\\+614[0-9]{{8}}')
  ), dedup AS (
    {dedup}
  )
  SELECT d.* FROM dedup d ANTI JOIN read_csv('{d}/optouts.txt', header = false, columns = {{'n': 'VARCHAR'}}) o
    ON o.n = d.number
) TO '{d}/duckdb_out.csv' (HEADER)
""")
print(f"{time.perf_counter() - t:.3f}")
