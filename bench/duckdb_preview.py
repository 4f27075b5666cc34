#!/usr/bin/env python3
"""The baseline of the preview benchmark: DuckDB reading the same two files in the same run
and anti-joining them — distinct valid numbers (AU mobiles in E.164, the only valid kind the
generated file holds) of the recipients file that are not in the opt-out file. Prints the
seconds and the count.

usage: duckdb_preview.py DIR
"""
import sys
import time

import duckdb

d = sys.argv[1]
t = time.perf_counter()
con = duckdb.connect()
(n,) = con.execute(f"""
  WITH r AS (
    SELECT DISTINCT n FROM read_csv('{d}/recipients.txt', header = false, delim = '\t',
                                    columns = {{'n': 'VARCHAR'}})
     WHERE regexp_full_match(n, '\\+614[0-9]{{8}}')
  )
  SELECT count(*) FROM r ANTI JOIN read_csv('{d}/optouts.txt', header = false, delim = '\t',
                                            columns = {{'n': 'VARCHAR'}}) o ON o.n = r.n
""").fetchone()
print(f"{time.perf_counter() - t:.3f} {n}")
