"""The raw commit loop: one connection, one single-row INSERT + COMMIT per transaction.

This is the ceiling of a store that commits every acquisition on its own. On PostgreSQL it uses
one psycopg connection (server settings as they are). On SQLite (for reference) it uses the
standard library's `sqlite3` with the service's pragmas: WAL, `synchronous=NORMAL`. It writes
400-byte rows, the size of a stored event, into a scratch table, which it drops at the end.
It runs for a fixed time and prints commits per second. A program, not a test.

    .venv/bin/python bench/raw_commits.py --postgres postgresql://postgres@127.0.0.1:5432/DB
    .venv/bin/python bench/raw_commits.py --sqlite /tmp/raw.db --seconds 5
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import time
from dataclasses import dataclass

import psycopg

TABLE = "bench_raw_commits"
ROW = 400  # bytes per row, about one stored event


@dataclass(frozen=True)
class Commits:
    count: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.count / self.seconds


def postgres_commits(url: str, seconds: float) -> Commits:
    """Commits per second of one psycopg connection to `url` (a libpq URI) for `seconds`."""
    payload = os.urandom(ROW)
    with psycopg.connect(url) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        conn.execute(f"CREATE TABLE {TABLE} (id bigserial PRIMARY KEY, state bytea NOT NULL)")
        conn.commit()
        statement = f"INSERT INTO {TABLE} (state) VALUES (%s)"
        count, started = 0, time.perf_counter()
        deadline = started + seconds
        with conn.cursor() as cursor:
            while time.perf_counter() < deadline:
                cursor.execute(statement, (payload,))
                conn.commit()
                count += 1
        elapsed = time.perf_counter() - started
        conn.execute(f"DROP TABLE {TABLE}")
        conn.commit()
    return Commits(count, elapsed)


def sqlite_commits(path: str, seconds: float) -> Commits:
    """Commits per second into the SQLite file `path` (WAL, synchronous=NORMAL) for `seconds`."""
    payload = os.urandom(ROW)
    conn = sqlite3.connect(path, isolation_level=None)  # explicit BEGIN/COMMIT below
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        conn.execute(f"CREATE TABLE {TABLE} (id INTEGER PRIMARY KEY, state BLOB NOT NULL)")
        statement = f"INSERT INTO {TABLE} (state) VALUES (?)"
        count, started = 0, time.perf_counter()
        deadline = started + seconds
        while time.perf_counter() < deadline:
            conn.execute("BEGIN")
            conn.execute(statement, (payload,))
            conn.execute("COMMIT")
            count += 1
        elapsed = time.perf_counter() - started
        conn.execute(f"DROP TABLE {TABLE}")
    finally:
        conn.close()
    return Commits(count, elapsed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL database (libpq URI)")
    parser.add_argument("--sqlite", metavar="PATH", help="a SQLite file (created if missing)")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long each loop runs")
    args = parser.parse_args(argv)
    if not args.postgres and not args.sqlite:
        parser.error("give --postgres URL and/or --sqlite PATH")
    if args.postgres:
        result = postgres_commits(args.postgres, args.seconds)
        print(f"postgresql  {result.rate:>9,.0f} commits/s  ({result.count:,} in {result.seconds:.1f}s)")
    if args.sqlite:
        result = sqlite_commits(args.sqlite, args.seconds)
        print(f"sqlite      {result.rate:>9,.0f} commits/s  ({result.count:,} in {result.seconds:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
