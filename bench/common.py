"""What the benchmark programs share: a result row, the printed table, the scratch database."""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import sys
import time
from dataclasses import dataclass

from sqlalchemy import create_engine, text

from infrastructure.settings import sqlalchemy_url

ADMIN_URL = os.environ.get("IPAM_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@dataclass
class Row:
    store: str
    measure: str
    value: float
    unit: str = "/s"
    target: str = ""
    ok: bool | None = None
    note: str = ""
    cpu_us: float | None = None  # CPU per operation, where measured


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f}"


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def profile_text(profile: cProfile.Profile, title: str) -> str:
    buffer = io.StringIO()
    buffer.write(f"\n== profile: {title} ==\n")
    pstats.Stats(profile, stream=buffer).sort_stats("cumulative").print_stats(22)
    pstats.Stats(profile, stream=buffer).sort_stats("tottime").print_stats(12)
    return buffer.getvalue()


def postgres_scratch(database: str, create: bool) -> str | None:
    """Create (or drop) a scratch database; None when PostgreSQL does not answer."""
    try:
        admin = create_engine(sqlalchemy_url(ADMIN_URL), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            if create:
                conn.execute(text(f'CREATE DATABASE "{database}"'))
        admin.dispose()
    except Exception as error:  # unreachable: the run goes on with SQLite
        say(f"postgresql unreachable ({type(error).__name__}), skipped")
        return None
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + database


def print_table(rows: list[Row]) -> None:
    print(f"\n{'store':<10} {'measure':<52} {'value':>12}  {'target':<11} {'':<5} note")
    for row in rows:
        if row.unit in ("/s", "ms", "s", "MiB"):
            value = f"{row.value:,.0f}{row.unit}" if row.value >= 10 else f"{row.value:.2f}{row.unit}"
        else:
            value = f"{row.value:.3f}"
        verdict = "" if row.ok is None else ("PASS" if row.ok else "MISS")
        print(f"{row.store:<10} {row.measure:<52} {value:>12}  {row.target:<11} {verdict:<5} {row.note}")
