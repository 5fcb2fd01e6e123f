"""One setting chooses the store: `IPAM_DATABASE_URL`.

- unset: a SQLite file `ipam.db` under `IPAM_DATA_DIR` (default `./data`), created on first start;
- `sqlite:///path/to/file.db`: that SQLite file;
- `postgresql://user@host:port/db` (or `postgresql+psycopg://...`): PostgreSQL through psycopg 3.

`IPAM_IDEMPOTENCY_TTL`: seconds an idempotency key's first answer is kept (default 86400, 24 h).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    database_url: str
    cache_size: int = 10_000
    snapshot_interval: int = 500
    idempotency_ttl: int = 86_400  # seconds an idempotency key's first answer is kept

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls, database_url: str | None = None) -> Settings:
        url = database_url or os.environ.get("IPAM_DATABASE_URL") or ""
        if not url:
            data_dir = Path(os.environ.get("IPAM_DATA_DIR", "data"))
            data_dir.mkdir(parents=True, exist_ok=True)
            url = f"sqlite:///{(data_dir / 'ipam.db').resolve()}"
        ttl = os.environ.get("IPAM_IDEMPOTENCY_TTL", "").strip()
        if ttl and not (ttl.isdigit() and int(ttl) > 0):
            raise ValueError(f"IPAM_IDEMPOTENCY_TTL must be a positive number of seconds, not {ttl!r}")
        return cls(database_url=sqlalchemy_url(url), idempotency_ttl=int(ttl) if ttl else 86_400)


def sqlalchemy_url(url: str) -> str:
    """The SQLAlchemy URL for a user-given database URL (psycopg 3 for PostgreSQL)."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain):]
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):])
        if str(path) and str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
    return url
