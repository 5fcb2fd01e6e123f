"""Locks held across the processes of one store: while tables are created (the schema
lock, which opening a store takes) and while the projections whose code changed are rebuilt
(the upgrade lock, apart, so that opening a store does not wait for a rebuild)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: processes starting together on one SQLite file may race
    fcntl = None  # type: ignore[assignment]

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

SCHEMA_LOCK_KEY = 7_342_001  # pg_advisory_lock key held while creating tables
UPGRADE_LOCK_KEY = 7_342_004  # held while projections whose code changed are rebuilt


@contextmanager
def schema_lock(database_url: str) -> Iterator[None]:
    """Serialise table creation of processes starting together on one store.

    On PostgreSQL, `CREATE TABLE` of two sessions racing on an empty database fails in one of
    them with a unique violation on the system catalog, even after checking that the table is
    missing; an advisory lock serialises them. On a SQLite file, the same check-then-create
    race fails with "table already exists"; a lock on a file beside the database serialises
    them (and the switch to WAL mode, which needs the database to itself).
    """
    with store_lock(database_url, SCHEMA_LOCK_KEY, ".lock"):
        yield


@contextmanager
def upgrade_lock(database_url: str) -> Iterator[None]:
    """Serialise the rebuilds of projections whose code changed (`Ipam.upgrade_projections`)
    of processes starting together; apart from the schema lock, which opening a store takes."""
    with store_lock(database_url, UPGRADE_LOCK_KEY, ".upgrade.lock"):
        yield


@contextmanager
def store_lock(database_url: str, key: int, suffix: str) -> Iterator[None]:
    """A lock held across the processes of one store: a session advisory lock on PostgreSQL
    (taken on a connection in autocommit, so it never sits idle in a transaction however long
    it is held), a lock on the file `<database><suffix>` beside a SQLite file."""
    if not database_url.startswith("postgresql"):
        with file_lock(database_url, suffix):
            yield
        return
    engine = create_engine(database_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
    finally:
        engine.dispose()


@contextmanager
def file_lock(database_url: str, suffix: str = ".lock") -> Iterator[None]:
    database = make_url(database_url).database
    if fcntl is None or not database or database == ":memory:" or database.startswith("file:"):
        yield
        return
    path = Path(database).with_name(Path(database).name + suffix)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
