"""Wiring: the event-sourced application on SQLAlchemy, its snapshots and its read model."""

from __future__ import annotations

import logging
import threading
from typing import Any

from eventsourcing.domain import Snapshot
from eventsourcing.persistence import IntegrityError, JSONTranscoder
from sqlalchemy import event

from application.service import IpamApplication
from domain.network import Network
from infrastructure.projection import ReadModelProjection
from infrastructure.readmodel import SqlReadModel
from infrastructure.settings import Settings
from infrastructure.transcodings import TRANSCODINGS

log = logging.getLogger(__name__)


class StoredIpam(IpamApplication):
    """The application with our transcodings and cheap snapshots.

    The library's own snapshotting rebuilds the aggregate from the store to snapshot it; the
    aggregate we have just saved is that state already, so we snapshot it directly.
    """

    snapshot_interval = 500

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        for transcoding in TRANSCODINGS:
            transcoder.register(transcoding)

    def _take_snapshots(self, processing_event: Any) -> None:
        if self.snapshots is None:
            return
        for aggregate in processing_event.aggregates.values():
            if not isinstance(aggregate, Network):
                continue
            crossed = any(
                e.originator_id == aggregate.id and e.originator_version % self.snapshot_interval == 0
                for e in processing_event.events
            )
            if crossed:
                try:
                    self.snapshots.put([Snapshot.take(aggregate)])
                except IntegrityError:
                    log.debug("snapshot of %s v%s exists already", aggregate.id, aggregate.version)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")  # safe in WAL mode: no corruption on crash
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class Ipam:
    """The running IPAM: application, read model and an optional projection follower."""

    def __init__(self, settings: Settings) -> None:
        env = {
            "PERSISTENCE_MODULE": "infrastructure.persistence:Factory",
            "SQLALCHEMY_URL": settings.database_url,
            "AGGREGATE_CACHE_MAXSIZE": str(settings.cache_size),
            "IS_SNAPSHOTTING_ENABLED": "y",
        }
        self.settings = settings
        self.app = StoredIpam(env=env)
        self.app.snapshot_interval = settings.snapshot_interval
        engine = self.app.factory.datastore.engine  # type: ignore[attr-defined]
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
            engine.dispose()  # connections opened while creating tables lack the pragmas
        self.projection = ReadModelProjection(self.app)
        self.read_model = SqlReadModel(self.projection)
        self.app.read_model = self.read_model
        self._follower: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()

    def start_follower(self, interval: float = 0.5) -> None:
        """Follow the log in a background thread so reads rarely have to catch up."""
        if self._follower is not None:
            return
        original_notify = self.app._notify

        def notify(recordings: Any) -> None:
            original_notify(recordings)
            self._wake.set()

        self.app._notify = notify  # type: ignore[method-assign]

        def follow() -> None:
            while not self._stop.is_set():
                self._wake.wait(interval)
                self._wake.clear()
                try:
                    self.projection.catch_up()
                except Exception:  # keep following; the next read catches up itself
                    log.exception("projection follower failed, retrying")
                    self._stop.wait(1.0)

        self._follower = threading.Thread(target=follow, name="ipam-projection", daemon=True)
        self._follower.start()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._follower is not None:
            self._follower.join(timeout=5)
        self.app.close()
        self.projection.engine.dispose()


def open_ipam(database_url: str | None = None, **overrides: Any) -> Ipam:
    """Open the IPAM on the configured store (creating tables on first start)."""
    settings = Settings.from_env(database_url)
    if overrides:
        settings = Settings(**{**settings.__dict__, **overrides})
    return Ipam(settings)
