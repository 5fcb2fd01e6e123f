"""One setting chooses the store: `IPAM_DATABASE_URL`.

- unset: the SQLite file `ipam.db` in the user's data directory, the same for every command
  wherever it runs: `$IPAM_DATA_DIR`, else `$XDG_DATA_HOME/ipam`, else `~/.local/share/ipam`;
  created on first start;
- `sqlite:///path/to/file.db`: that SQLite file;
- `postgresql://user@host:port/db` (or `postgresql+psycopg://...`): PostgreSQL through psycopg 3.

`IPAM_IDEMPOTENCY_TTL`: seconds an idempotency key's first answer is kept (default 86400, 24 h).

`IPAM_WRITER_THREADS`: on PostgreSQL, the threads a server process writes on (default 4; 0: its
event loop writes, as on SQLite, see `api.writers`). `IPAM_INLINE_PROJECTIONS=1`: projections
applied in each command's transaction instead of by the follower (`infrastructure.inline`).

`IPAM_METRICS_MAX_NETWORKS`: at most this many series per `ipam_network_*` metric family of
`GET /metrics` (one per super network and family; default 500, 0: none).
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
    # projections applied in the events' transaction (`infrastructure.inline`); off, only
    # the follower and reads' catch-up apply them, in transactions of their own
    inline_projections: bool = False
    # threads that write on PostgreSQL; 0: the server's event loop writes, as on SQLite
    writer_threads: int = 4
    # series per `ipam_network_*` family of the metrics (super networks x families)
    metrics_max_networks: int = 500

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls, database_url: str | None = None) -> Settings:
        url = database_url or os.environ.get("IPAM_DATABASE_URL") or ""
        if not url:
            default_store().parent.mkdir(parents=True, exist_ok=True)
            url = f"sqlite:///{default_store()}"
        ttl = os.environ.get("IPAM_IDEMPOTENCY_TTL", "").strip()
        if ttl and not (ttl.isdigit() and int(ttl) > 0):
            raise ValueError(f"IPAM_IDEMPOTENCY_TTL must be a positive number of seconds, not {ttl!r}")
        inline = os.environ.get("IPAM_INLINE_PROJECTIONS", "0").strip().lower()
        if inline not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
            raise ValueError(f"IPAM_INLINE_PROJECTIONS must be 1 or 0, not {inline!r}")
        writers = os.environ.get("IPAM_WRITER_THREADS", "").strip() or "4"
        if not (writers.isdigit() and 0 <= int(writers) <= 64):
            raise ValueError(f"IPAM_WRITER_THREADS must be a number from 0 to 64, not {writers!r}")
        networks = os.environ.get("IPAM_METRICS_MAX_NETWORKS", "").strip() or "500"
        if not (networks.isdigit() and int(networks) <= 1_000_000):
            raise ValueError("IPAM_METRICS_MAX_NETWORKS must be a number from 0 to 1000000, "
                             f"not {networks!r}")
        return cls(database_url=sqlalchemy_url(url), idempotency_ttl=int(ttl) if ttl else 86_400,
                   inline_projections=inline in ("1", "true", "yes", "on"),
                   writer_threads=int(writers), metrics_max_networks=int(networks))


def default_store() -> Path:
    """Where the default SQLite store lives (XDG base directories: a relative XDG_DATA_HOME is
    ignored, as the specification says)."""
    chosen = os.environ.get("IPAM_DATA_DIR", "")
    if chosen:
        return (Path(chosen).expanduser() / "ipam.db").resolve()
    xdg = os.environ.get("XDG_DATA_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return base / "ipam" / "ipam.db"


def shown_url(url: str) -> str:
    """A store's URL as it may be printed (no password)."""
    from sqlalchemy import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy reads: show nothing of it
        return "(unreadable database URL)"


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
