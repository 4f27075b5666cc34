#!/usr/bin/env python3
"""The storage floor of an Opt Out Manager upload on SQLite: SQLite's own INSERT ... SELECT of
N numbers, already sorted and checked, into the opt-out list and the ledger with their real
layout (migrations 0001, 0011, 0012: three b-trees each), in one transaction, with the
server's pragmas. No parsing, no binding, no hashing: only what any row-per-number list with
a row-per-event ledger must write. A second run leaves out `prev_hash` and stores the hash as a
32-byte blob, to show what a leaner ledger row would save.

Usage: python3 bench/upload_floor.py [N]   (default 1,000,000; files under bench/data)
"""
import os
import sqlite3
import sys
import time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
os.makedirs(DATA, exist_ok=True)

OPT_OUTS = """CREATE TABLE opt_outs (id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL,
  number TEXT NOT NULL, source TEXT NOT NULL, actor_kind TEXT NOT NULL, actor_id INTEGER,
  actor_label TEXT NOT NULL, evidence TEXT, created_at INTEGER NOT NULL,
  provisional INTEGER NOT NULL DEFAULT 0, UNIQUE (account_id, number));
CREATE INDEX opt_outs_snapshot ON opt_outs(account_id, id, number, created_at, source);"""
EVENTS = """CREATE TABLE optout_events (id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL,
  seq INTEGER NOT NULL, number TEXT NOT NULL, kind TEXT NOT NULL, source TEXT NOT NULL,
  actor_kind TEXT NOT NULL, actor_id INTEGER, actor_label TEXT NOT NULL, reason TEXT,
  evidence TEXT, at INTEGER NOT NULL, {hash_columns}, UNIQUE (account_id, seq));
CREATE INDEX optout_events_number ON optout_events(account_id, number, seq);"""


def run(lean):
    path = os.path.join(DATA, "upload-floor.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    c = sqlite3.connect(path, isolation_level=None)
    # The server's pragmas (crates/stoplist-store/src/sqlite.rs).
    c.executescript("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-16384;")
    hash_columns = "hash BLOB NOT NULL" if lean else "prev_hash TEXT NOT NULL, hash TEXT NOT NULL"
    c.executescript(OPT_OUTS + EVENTS.format(hash_columns=hash_columns))
    # The upload's numbers, sorted as the pipeline hands them over, with their row in the
    # file and a made-up hash (hashing is not storage).
    c.execute(
        """CREATE TEMP TABLE src AS
           WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?)
           SELECT row_number() OVER (ORDER BY number) AS seq, i AS row, number,
                  randomblob(32) AS hash
             FROM (SELECT i, '+614' || printf('%08d', (i * 7919) % 100000000) AS number FROM s)""",
        (N,),
    )
    hashes = "hash" if lean else "prev_hash, hash"
    values = "hash" if lean else "lower(hex(hash)), lower(hex(hash))"
    t0 = time.time()
    c.execute("BEGIN IMMEDIATE")
    c.execute(
        """INSERT INTO opt_outs (account_id, number, source, actor_kind, actor_id, actor_label,
             evidence, created_at)
           SELECT 1, number, 'upload', 'user', 1, 'admin',
                  'upload 1 "optouts.txt" row ' || row, 1765000000000 FROM src ORDER BY seq"""
    )
    t1 = time.time()
    c.execute(
        f"""INSERT INTO optout_events (account_id, seq, number, kind, source, actor_kind,
             actor_id, actor_label, reason, evidence, at, {hashes})
           SELECT 1, seq, number, 'opted_out', 'upload', 'user', 1, 'admin', NULL,
                  'upload 1 "optouts.txt" row ' || row, 1765000000000, {values}
             FROM src ORDER BY seq"""
    )
    t2 = time.time()
    c.execute("COMMIT")
    t3 = time.time()
    wal = os.path.getsize(path + "-wal") / 1e6
    c.close()
    name = "lean ledger row (no prev_hash, blob hash)" if lean else "the real layout"
    print(
        f"{name}: {N:,} numbers in {t3 - t0:.2f} s "
        f"(list {t1 - t0:.2f} s, ledger {t2 - t1:.2f} s, commit {t3 - t2:.2f} s; WAL {wal:.0f} MB)"
    )


print(f"machine: {os.cpu_count()} cores, sqlite {sqlite3.sqlite_version}, {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}")
run(lean=False)
run(lean=True)
