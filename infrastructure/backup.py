"""A consistent copy of a SQLite store while it serves (`ipam backup FILE`).

SQLite's online backup API copies the database page by page inside one read transaction: in WAL
mode the writers go on meanwhile, and the copy is the store exactly as it was when the backup
began, every committed event and the projections as they stood at that moment (the copy's
follower or first read catches them up). The copy is written beside the target and renamed
into place once complete, so a backup cut short never leaves a half-written file under the
name an operator will restore from.

PostgreSQL has its own tools (`pg_dump`); `ipam events export` is the store-independent backup
of the log, from which `ipam events import` rebuilds a store of either kind.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import make_url

from domain.errors import InvalidRequestError


class BackupRefused(InvalidRequestError):
    """The backup cannot be taken as asked (the store is not a SQLite file, the target exists)."""


@dataclass(frozen=True)
class BackupResult:
    source: Path
    target: Path
    pages: int
    size: int  # bytes
    head: int  # the last event position in the copy


def sqlite_file(database_url: str) -> Path:
    """The file of a SQLite store's URL; BackupRefused for any other store."""
    url = make_url(database_url)
    if not url.drivername.startswith("sqlite"):
        raise BackupRefused(
            f"ipam backup copies a SQLite store; this store is {url.drivername.split('+')[0]}: "
            "use pg_dump (see the README's 'Operating it'), or `ipam events export > FILE`, "
            "the backup of the log that any store can import")
    database = url.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        raise BackupRefused(f"ipam backup copies a SQLite file, not {database or 'an in-memory store'!r}")
    return Path(database)


def backup(database_url: str, target: Path, *, overwrite: bool = False) -> BackupResult:
    """Copy the SQLite store to `target` as it is at this moment (see the module)."""
    source = sqlite_file(database_url)
    if not source.is_file():
        raise BackupRefused(f"there is no SQLite store at {source}")
    target = target.expanduser()
    if target.exists() and not overwrite:
        raise BackupRefused(f"{target} exists already (--force replaces it)")
    if target.resolve() == source.resolve():
        raise BackupRefused("the backup must go to another file than the store itself")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    partial.unlink(missing_ok=True)
    reader = sqlite3.connect(source, timeout=30)  # only reads; read-write so WAL needs no help
    try:
        writer = sqlite3.connect(partial)
        try:
            reader.backup(writer)  # all pages in one step: one read transaction, one snapshot
            writer.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal
            pages = int(writer.execute("PRAGMA page_count").fetchone()[0])
            try:
                head = int(writer.execute("SELECT max(id) FROM ipam_events").fetchone()[0] or 0)
            except sqlite3.OperationalError:  # not a store of ours: no events table
                raise BackupRefused(f"{source} is not an IPAM store (no events table)") from None
        finally:
            writer.close()
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        reader.close()
    os.replace(partial, target)
    return BackupResult(source=source, target=target, pages=pages, size=target.stat().st_size,
                        head=head)
