"""Wiring: the event-sourced application on SQLAlchemy, its snapshots and its read model."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import timedelta
from typing import Any
from uuid import UUID

from eventsourcing.application import Repository
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Mapper
from eventsourcing.utils import strtobool
from sqlalchemy import bindparam, event, select
from sqlalchemy.exc import OperationalError

from application.console import ConsoleQueries
from application.history import Audit
from application.service import IpamApplication
from application.tokens import Tokens
from domain.network import Network
from infrastructure import driver
from infrastructure.chain import ChainProjection
from infrastructure.following import Projector
from infrastructure.history import HistoryProjection, SqlHistory
from infrastructure.inline import JointProjections
from infrastructure.locks import schema_lock, upgrade_lock
from infrastructure.loop import LoopExecutor
from infrastructure.persistence import SqlIdempotencyRecords
from infrastructure.projection import ReadModelProjection
from infrastructure.readmodel import SqlReadModel
from infrastructure.settings import Settings
from infrastructure.tables import store as store_tables
from infrastructure.topics import Snapshot, SnapshotTolerantRepository, StableMapper
from infrastructure.transcodings import TRANSCODINGS

log = logging.getLogger(__name__)


class StoredIpam(IpamApplication):
    """The application with our transcodings and cheap snapshots.

    The library's own snapshotting rebuilds the aggregate from the store to snapshot it; the
    aggregate we have just saved is that state already, so we snapshot it directly.
    """

    name = "ipam"  # tables ipam_events and ipam_snapshots
    snapshot_interval = 500
    snapshot_entries_per_event = 4

    def construct_mapper(self) -> Mapper[UUID]:
        """Events stored under stable names with their versions (`infrastructure.topics`)."""
        return self.factory.mapper(transcoder=self.construct_transcoder(), mapper_class=StableMapper)

    def construct_repository(self) -> Repository[UUID]:
        """The library's repository, but a snapshot it cannot read is skipped, not fatal."""
        size = self.env.get(self.AGGREGATE_CACHE_MAXSIZE)
        return SnapshotTolerantRepository(
            event_store=self.events,
            snapshot_store=self.snapshots,
            cache_maxsize=int(size) if size else None,
            fastforward=strtobool(self.env.get(self.AGGREGATE_CACHE_FASTFORWARD, "y")),
            fastforward_skipping=strtobool(
                self.env.get(self.AGGREGATE_CACHE_FASTFORWARD_SKIPPING, "n")),
            deepcopy_from_cache=strtobool(self.env.get(self.DEEPCOPY_FROM_AGGREGATE_CACHE, "y")),
        )

    def _record(self, processing_event: Any) -> Any:
        """Record the events, then cache the saved aggregates (see `Repository.keep`) and tell
        the observer (the metrics) what was committed."""
        recordings = super()._record(processing_event)
        repository = self.repository
        if isinstance(repository, SnapshotTolerantRepository):
            for aggregate in processing_event.aggregates.values():
                repository.keep(aggregate)
        if self.observer is not None:
            self.observer.committed(processing_event.events)
        return recordings

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        for transcoding in TRANSCODINGS:
            transcoder.register(transcoding)

    def snapshot_gap(self, network: Network) -> int:
        """Versions between two snapshots of this network.

        A snapshot encodes the whole state, so it costs in proportion to the addresses and
        children the network holds: one every 500 versions of a network holding 100,000
        addresses took more time than the acquisitions themselves (8 MB each). The gap doubles
        from `snapshot_interval` (so snapshot versions stay multiples of each other) until it
        is at least the state's size divided by `snapshot_entries_per_event`: snapshotting then
        costs a bounded number of encoded entries per event at any size, while a cold load
        replays fewer than size / 2 events after the newest snapshot.
        """
        size = len(network.ips) + len(network.children)
        gap = self.snapshot_interval
        while gap * self.snapshot_entries_per_event < size:
            gap *= 2
        return gap

    def _take_snapshots(self, processing_event: Any) -> None:
        if self.snapshots is None:
            return
        for aggregate in processing_event.aggregates.values():
            if not isinstance(aggregate, Network):
                continue
            gap = self.snapshot_gap(aggregate)
            crossed = any(
                e.originator_id == aggregate.id and e.originator_version % gap == 0
                for e in processing_event.events
            )
            if crossed:
                snapshot = Snapshot.take(aggregate)
                if self.snapshot_writer is None:
                    self._store_snapshot(snapshot)
                else:
                    self.snapshot_writer.submit(self._store_snapshot, snapshot)

    # A server encodes and stores snapshots on a thread of its own: the snapshot of a network
    # holding 10,000 addresses takes 40 ms to encode, which held up every request waiting on the
    # writing thread. The snapshot shares the saved network's state, which nothing changes (a
    # command changes a copy), and a snapshot lost in a crash only costs a longer replay.
    snapshot_writer: Executor | None = None

    def _store_snapshot(self, snapshot: Snapshot) -> None:
        try:
            assert self.snapshots is not None
            self.snapshots.put([snapshot])
        except IntegrityError:
            log.debug("snapshot of %s v%s exists already", snapshot.originator_id,
                      snapshot.originator_version)
        except Exception:  # a cache of the events: the next crossing takes another
            log.exception("snapshot of %s v%s not stored", snapshot.originator_id,
                          snapshot.originator_version)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")  # safe in WAL mode: no corruption on crash
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _switch_to_wal(datastore: Any, attempts: int = 100) -> None:
    """Put a SQLite file in WAL mode now, waiting out other processes' writes, rather than in
    the first transaction, where a busy database fails the request that happens to be first."""
    for attempt in range(attempts):
        try:
            datastore.init_sqlite_wal_mode()
            return
        except OperationalError as error:
            if "locked" not in str(error) or attempt == attempts - 1:
                raise
            time.sleep(0.1)


def _revocation_probe(app: IpamApplication) -> Callable[[UUID], bool]:
    """Whether a token has any event after its issuance (a revocation): one read by the events
    table's primary key, every request, on a pooled connection, run on the driver
    (`infrastructure.driver`)."""
    recorder: Any = app.recorder
    table = recorder.events_record_cls.__table__
    statement = (select(table.c.originator_version)
                 .where(table.c.originator_id == bindparam("token_id"))
                 .where(table.c.originator_version > 1).limit(1))
    engine = app.factory.datastore.engine  # type: ignore[attr-defined]
    # PostgreSQL: no BEGIN and ROLLBACK round trips; SQLite reads need no transaction either,
    # but there switching a connection's isolation level costs more than the read
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT") \
        if engine.dialect.name == "postgresql" else engine

    def revoked(token_id: UUID) -> bool:
        with autocommit.connect() as conn:
            return driver.first_row(conn, statement, {"token_id": token_id}) is not None

    return revoked


FOLLOW_STEP = 200  # events the follower applies at a time: about 15 ms on SQLite


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
        with schema_lock(settings.database_url):
            self.app = StoredIpam(env=env)
            self.app.snapshot_interval = settings.snapshot_interval
            engine = self.app.factory.datastore.engine  # type: ignore[attr-defined]
            if engine.dialect.name == "sqlite":
                event.listen(engine, "connect", _sqlite_pragmas)
                engine.dispose()  # connections opened while creating tables lack the pragmas
                _switch_to_wal(self.app.factory.datastore)  # type: ignore[attr-defined]
            store_tables.create_all(engine)
            self.projectors = {
                projection.name: Projector(self.app, projection)
                for projection in (ReadModelProjection(), HistoryProjection(), ChainProjection())
            }
        self.projection = self.projectors[ReadModelProjection.name]
        self.joint = JointProjections(list(self.projectors.values()))
        self.inline = settings.inline_projections
        if self.inline:
            self.app.recorder.inline = self.joint  # type: ignore[attr-defined]
        self.read_model = SqlReadModel(self.projection)
        self.app.read_model = self.read_model
        self.app.idempotency = SqlIdempotencyRecords(
            engine, timedelta(seconds=settings.idempotency_ttl))
        self.history = SqlHistory(self.projectors[HistoryProjection.name])
        self.audit = Audit(self.app, self.history)
        self.console = ConsoleQueries(self.audit)
        self.tokens = Tokens(self.app, revoked=_revocation_probe(self.app))
        # where writes run when a server's event loop takes them (`api.writers`); else a pool
        self.write_loop: LoopExecutor | None = None
        self._writers: ThreadPoolExecutor | None = None
        self._writers_guard = threading.Lock()
        self._follower: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()

    @property
    def writers(self) -> Executor:
        """Where writes run (`api.writers`), and the follower's batches with them: the
        server's event loop when it has taken them (always on SQLite; on PostgreSQL with
        `writer_threads` 0; see `LoopExecutor`), else a pool of threads: one on SQLite, where
        writes take turns on the file anyway; `settings.writer_threads` on PostgreSQL, where
        one waiting on the database lets another work."""
        if self.write_loop is not None:
            return self.write_loop
        if self._writers is None:
            with self._writers_guard:
                if self._writers is None:
                    threads = 1 if self.settings.is_sqlite else max(self.settings.writer_threads, 1)
                    self._writers = ThreadPoolExecutor(threads, thread_name_prefix="ipam-writer")
        return self._writers

    def start_follower(self, interval: float = 0.5, gather: float = 0.05) -> None:
        """Follow the log in a background thread so reads rarely have to catch up.

        With inline projections the commands apply their own events, and the follower only
        looks every `interval` seconds for events they left (another version's, an import's).
        Without them, it is woken by a save and waits `gather` seconds before catching up, so
        a burst of commands is folded as one batch: the projection costs mostly per batch
        (position, reads, one transaction), and following every command on its own cost more
        than the command.
        """
        if self._follower is not None:
            return
        if not self.inline:
            original_notify = self.app._notify

            def notify(recordings: Any) -> None:
                original_notify(recordings)
                self._wake.set()

            self.app._notify = notify  # type: ignore[method-assign]

        def follow() -> None:
            while not self._stop.is_set():
                self._wake.wait(interval)
                self._stop.wait(gather)  # let the commands of a burst join this batch
                self._wake.clear()
                try:
                    # where the writes run, a batch at a time: between them, not competing
                    # with them, and never holding them up long (a server started on a
                    # long unapplied log keeps answering while it catches up); a batch short
                    # of the step reached the head, and the next one waits for the next
                    # burst instead of chasing each new event in a batch of its own
                    while not self._stop.is_set() and self._step() >= FOLLOW_STEP:
                        pass
                except Exception:  # keep following; the next read catches up itself
                    log.exception("projection follower failed, retrying")
                    self._stop.wait(1.0)

        self._follower = threading.Thread(target=follow, name="ipam-projection", daemon=True)
        self._follower.start()

    def _step(self) -> int:
        """One follower step where the writes run; 0 when the process stops meanwhile (a
        server's loop closing down runs no more calls: the follower must not wait on it)."""
        future = self.writers.submit(self.catch_up_step, FOLLOW_STEP)
        while True:
            try:
                return future.result(timeout=0.25)
            except FutureTimeout:
                if self._stop.is_set():
                    future.cancel()
                    return 0

    def catch_up(self) -> None:
        """Apply every recorded event to every projection: together, a batch per transaction
        (`JointProjections`), else each projection on its own."""
        while self.catch_up_step():
            pass

    def catch_up_step(self, limit: int | None = None) -> int:
        """Apply the next batch of at most about `limit` events to every projection; how
        many it applied (0: all of them were at the log's head)."""
        applied = self.joint.step(limit)
        if applied is None:
            applied = max(projector.catch_up(limit) for projector in self.projectors.values())
        return applied

    def upgrade_projections(
        self, progress: Callable[[str, int, int], None] | None = None,
    ) -> list[str]:
        """Rebuild every projection whose code changed since its live slot was built
        (`Projector.upgrade`); returns the names of those this call rebuilt.

        Processes starting together on one store (`ipam serve --workers`, several processes on
        one SQLite file) take turns under a lock of its own (opening the store, which takes
        the schema lock, does not wait for a rebuild), and each looks again once it holds it:
        the first rebuilds, the others find nothing left to do. An interrupted upgrade resumes
        at the next call. `progress` is told (projection, position reached, head).
        """
        if not any(projector.outdated() for projector in self.projectors.values()):
            return []  # the usual start: no lock taken
        rebuilt: list[str] = []
        with upgrade_lock(self.settings.database_url):
            for name, projector in self.projectors.items():
                built_by = projector.stored_version(projector.live_slot())
                if built_by == projector.version:
                    continue  # up to date, or rebuilt by another process meanwhile

                def report(position: int, head: int, name: str = name) -> None:
                    if progress is not None:
                        progress(name, position, head)

                started = time.perf_counter()
                applied = projector.upgrade(report)
                if applied is None:
                    continue
                log.info("projection %s rebuilt because its code changed (version %s, built by "
                         "%s): %d events in %.1f s, live slot %s", name, projector.version,
                         "unknown" if built_by is None else built_by, applied,
                         time.perf_counter() - started, projector.live)
                rebuilt.append(name)
        return rebuilt

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._follower is not None:
            self._follower.join(timeout=5)
        if self._writers is not None:
            self._writers.shutdown(wait=True)
        self.app.close()
        self.projection.engine.dispose()


def open_ipam(database_url: str | None = None, **overrides: Any) -> Ipam:
    """Open the IPAM on the configured store (creating tables on first start)."""
    settings = Settings.from_env(database_url)
    if overrides:
        settings = Settings(**{**settings.__dict__, **overrides})
    return Ipam(settings)
