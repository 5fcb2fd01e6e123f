"""Following the event log into projections, exactly once, and rebuilding them while serving.

A projection folds events into tables of its own. Each projection has two slots of tables;
readers use the live slot. Events are read in notification order, folded a batch at a time, and
written together with the slot's new position in one transaction. The position moves by
compare-and-swap (`UPDATE ... WHERE position = :old`), taken before anything is read, so when
several threads or processes follow the same log each event is applied exactly once: a loser's
transaction rolls back and it starts again from the winner's position.

A rebuild fills the other slot from position 0 while the live one keeps serving, then switches
the live slot in one transaction, once the new slot has caught up with the old. A rebuild that
was interrupted resumes where it stopped.

Each projection declares the version of its code (`Projection.version`), and the store keeps,
per slot, the version of the code that built the slot (`tables.versions`). When the live slot
was built by another version (or an unknown one: a store written by 0.3.0 or earlier), the
projection is outdated, and `Projector.upgrade` rebuilds it from the log.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from eventsourcing.persistence import Notification
from sqlalchemy import Index, Table, delete, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError as SQLIntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.schema import CreateIndex, CreateTable, DropIndex

from application.service import IpamApplication
from infrastructure.batches import select_notifications
from infrastructure.tables import SLOTS, control, positions, slots, versions

log = logging.getLogger(__name__)

Item = tuple[Notification, Any]  # a stored event and its decoded domain event
Progress = Callable[[int, int], None]  # (position reached, head)


class Projection(Protocol):
    """What a projection provides: its tables per slot and how a batch of events folds.

    A projection with a class attribute `decodes_events = False` reads only the stored events:
    its items carry None instead of the domain event, and no time is spent decoding.
    """

    name: str

    version: int
    """The version of the fold and of the tables: bump it whenever the fold or the tables
    change (what a row holds, a column, an index); an upgrade then rebuilds the projection from
    the log (`Projector.upgrade`). Only ever raise it: stores keep the version of each slot."""

    def tables(self, slot: str) -> Sequence[Table]: ...

    def apply(self, session: Session, slot: str, items: Sequence[Item]) -> None:
        """Fold the events into the slot's tables (the caller commits)."""


class _PositionMoved(Exception):
    """Another follower moved the position first."""


@dataclass(frozen=True)
class ProjectionStatus:
    name: str
    live: str
    position: int
    head: int
    rebuilding: str | None
    rebuild_position: int | None
    version: int | None  # of the code that built the live slot; None: unknown (0.3.0 or earlier)
    code_version: int  # of the code running now (`Projection.version`)

    @property
    def lag(self) -> int:
        return max(self.head - self.position, 0)

    @property
    def code_changed(self) -> bool:
        """Whether the live slot was built by other code: an upgrade rebuilds the projection."""
        return self.version != self.code_version


def other(slot: str) -> str:
    return SLOTS[1] if slot == SLOTS[0] else SLOTS[0]


class Projector:
    """Runs one projection against the application's event log."""

    def __init__(
        self, app: IpamApplication, projection: Projection, *, batch_size: int = 1000,
        rebuild_batch_size: int = 2000,
    ) -> None:
        self.app = app
        self.projection = projection
        self.name = projection.name
        self.datastore = app.factory.datastore  # type: ignore[attr-defined]
        self.engine: Engine = self.datastore.engine
        self.batch_size = batch_size
        # A rebuild folds more events per transaction: fewer commits, and rows that change
        # several times within a batch are written once. Not more: on SQLite a batch holds the
        # write lock while it is folded and written (about 0.1 s at 2,000 events; 5,000 were
        # no faster).
        self.rebuild_batch_size = rebuild_batch_size
        self.decodes = bool(getattr(projection, "decodes_events", True))
        self._lock = threading.Lock()
        self._live = SLOTS[0]
        self._seen = threading.local()  # the slot this thread last caught up
        control.create_all(self.engine)
        for slot in SLOTS:
            for table in projection.tables(slot):
                table.create(self.engine, checkfirst=True)
        self._ensure_rows()

    # -- positions and slots -------------------------------------------------------------------

    def _key(self, slot: str) -> str:
        return f"{self.name}:{slot}"

    @property
    def version(self) -> int:
        """The version of the projection's code (`Projection.version`)."""
        return int(self.projection.version)

    def _ensure_rows(self) -> None:
        """Create the projection's control rows where missing: its slots row, each slot's
        position and, with a new slots row (a new store, whose tables this code has just
        created), this code's version for both slots, in the same transaction. An existing
        slots row without versions was written by 0.3.0 or earlier: the version is unknown,
        and stays so (`outdated`)."""
        with self.engine.connect() as conn:
            created = conn.execute(
                select(slots.c.projection).where(slots.c.projection == self.name)).first()
        if created is None:
            try:
                with self.engine.begin() as conn:
                    conn.execute(slots.insert().values(
                        projection=self.name, live=SLOTS[0], rebuilding=None))
                    conn.execute(delete(versions).where(versions.c.projection == self.name))
                    conn.execute(versions.insert(), [
                        {"projection": self.name, "slot": slot, "version": self.version}
                        for slot in SLOTS])
            except SQLIntegrityError:  # another process created it first
                log.debug("projection %s has its slots row already", self.name)
        for slot in SLOTS:
            with self.engine.connect() as conn:
                if conn.execute(select(positions.c.name)
                                .where(positions.c.name == self._key(slot))).first():
                    continue
            try:
                with self.engine.begin() as conn:
                    conn.execute(positions.insert().values(name=self._key(slot), position=0))
            except SQLIntegrityError:  # another process created it first
                log.debug("projection position %s exists already", self._key(slot))

    def live_slot(self) -> str:
        with self.engine.connect() as conn:
            live = conn.execute(select(slots.c.live).where(slots.c.projection == self.name)).scalar_one()
        self._live = str(live)
        return self._live

    @property
    def live(self) -> str:
        """The slot this thread last caught up, else the live slot as last seen. Read-side
        queries use it right after `catch_up`: a switch by another thread in between must not
        send them to a slot that has not been caught up for them."""
        return getattr(self._seen, "slot", None) or self._live

    def position(self, slot: str | None = None) -> int:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(positions.c.position).where(positions.c.name == self._key(slot or self.live_slot()))
            ).scalar_one()
        return int(value)

    def head(self) -> int:
        return int(self.app.recorder.max_notification_id() or 0)

    def stored_version(self, slot: str) -> int | None:
        """The version of the code that built the slot (None: unknown)."""
        with self.engine.connect() as conn:
            value = conn.execute(select(versions.c.version).where(
                versions.c.projection == self.name, versions.c.slot == slot)).scalar_one_or_none()
        return None if value is None else int(value)

    def outdated(self) -> bool:
        """Whether the live slot was built by code of another version than this one (or of an
        unknown one): `upgrade` then rebuilds the projection."""
        return self.stored_version(self.live_slot()) != self.version

    def status(self) -> ProjectionStatus:
        with self.engine.connect() as conn:
            row = conn.execute(select(slots).where(slots.c.projection == self.name)).one()
        return ProjectionStatus(
            name=self.name, live=row.live, position=self.position(row.live), head=self.head(),
            rebuilding=row.rebuilding,
            rebuild_position=self.position(row.rebuilding) if row.rebuilding else None,
            version=self.stored_version(row.live), code_version=self.version,
        )

    # -- following -----------------------------------------------------------------------------

    def catch_up(self, limit: int | None = None) -> int:
        """Apply every event recorded before this call to the live slot (at most about
        `limit` of them); returns how many this call applied."""
        target = self.head()
        with self._lock:
            slot = self.live_slot()
            if limit is not None:
                target = min(target, self.position(slot) + limit)
            applied = self._follow(slot, target, batch_size=limit)
        self._seen.slot = slot
        return applied

    def _follow(
        self, slot: str, target: int, progress: Progress | None = None, batch_size: int | None = None
    ) -> int:
        applied = 0
        while True:
            position = self.position(slot)
            if progress is not None:
                progress(position, target)
            if position >= target:
                return applied
            notifications = select_notifications(
                self.app.recorder, position, batch_size or self.batch_size
            )
            if not notifications:
                return applied
            if self._advance(slot, position, notifications):
                applied += len(notifications)

    def _advance(self, slot: str, position: int, notifications: Sequence[Notification]) -> bool:
        decode = self.app.mapper.to_domain_event
        items = [(n, decode(n) if self.decodes else None) for n in notifications]
        try:
            with self.datastore.transaction(commit=True) as session:
                moved = session.execute(
                    update(positions)
                    .where(positions.c.name == self._key(slot), positions.c.position == position)
                    .values(position=notifications[-1].id)
                )
                if moved.rowcount != 1:
                    raise _PositionMoved
                # This transaction owns the position now (on PostgreSQL it holds the row lock
                # until commit), so the rows it reads hold exactly the events up to `position`.
                self.projection.apply(session, slot, items)
        except _PositionMoved:
            return False  # another follower applied these events first; rolled back
        return True

    # -- rebuilding ----------------------------------------------------------------------------

    def rebuild(self, *, restart: bool = False, progress: Progress | None = None) -> int:
        """Fill the other slot from the whole log, then make it live; returns events applied.

        Readers keep the live slot until the new one has caught up. An interrupted rebuild
        resumes from its position unless `restart` is given.
        """
        target_slot = self.start_rebuild(restart=restart)
        applied = 0
        while True:
            head = self.head()
            round_applied = self._follow(target_slot, head, progress, self.rebuild_batch_size)
            applied += round_applied
            if self.finish_rebuild(target_slot, head, round_applied):
                return applied

    def upgrade(self, progress: Progress | None = None) -> int | None:
        """Rebuild the projection if its code changed since the live slot was built
        (`outdated`); returns the events applied, None when it was up to date.

        The rebuild fills the spare slot, whose tables are dropped and created again when code
        of another version created them (their columns may have changed), records this code's
        version for the slot when it starts, and again in the transaction that makes the slot
        live. Interrupted, it resumes at the next upgrade, as any rebuild under way by code of
        this version does (`start_rebuild`); the live slot keeps its old version meanwhile, so
        the projection stays outdated, and readers keep the old slot, until the switch.
        """
        if not self.outdated():
            return None
        return self.rebuild(progress=progress)

    def start_rebuild(self, *, restart: bool) -> str:
        """The slot a rebuild fills: the spare one, emptied (unless an interrupted rebuild
        resumes there).

        Only a rebuild begun by code of this version resumes: one begun by other code (or by
        0.3.0, which recorded no version) starts over, since its rows were folded by another
        fold, perhaps into tables of another shape. Starting over records this code's version
        for the slot in the transaction that empties it; when the slot's tables were created
        by code of another version, it drops them and creates them from this code's tables.
        """
        with self.engine.connect() as conn:
            row = conn.execute(select(slots).where(slots.c.projection == self.name)).one()
        if row.rebuilding is not None and not restart:
            begun_by = self.stored_version(row.rebuilding)
            if begun_by == self.version:
                return str(row.rebuilding)
            log.info("projection %s: the rebuild under way was begun by code of version %s, "
                     "this is version %s: starting over", self.name, begun_by, self.version)
        target_slot = other(row.live)
        tables = self.projection.tables(target_slot)
        with self.datastore.transaction(commit=True) as session:
            # rows first: Python's sqlite3 begins the transaction at the first write, not at
            # DDL, so on SQLite the tables below are dropped and created in this transaction
            session.execute(
                update(positions).where(positions.c.name == self._key(target_slot)).values(position=0)
            )
            session.execute(
                update(slots).where(slots.c.projection == self.name).values(rebuilding=target_slot)
            )
            built_by = session.execute(select(versions.c.version).where(
                versions.c.projection == self.name, versions.c.slot == target_slot)
            ).scalar_one_or_none()
            self._record_version(session, target_slot)
            # Nobody reads the spare slot: it is filled without its secondary indexes,
            # which are built once at the end (much cheaper than kept up row by row).
            if built_by != self.version:
                connection = session.connection()
                for table in reversed(tables):
                    table.drop(connection, checkfirst=True)
                for table in tables:
                    session.execute(CreateTable(table))
            else:
                for index in self._indexes(target_slot):
                    session.execute(DropIndex(index, if_exists=True))
                for table in reversed(tables):
                    session.execute(delete(table))
        return target_slot

    def finish_rebuild(self, target_slot: str, head: int, applied: int) -> bool:
        """Build the slot's indexes and make it live if it has caught up with the live slot;
        False when it must follow the log further first."""
        with self.datastore.transaction(commit=True) as session:
            for index in self._indexes(target_slot):
                session.execute(CreateIndex(index, if_not_exists=True))
        if self._switch(target_slot):
            self._live = target_slot
            self._seen.slot = target_slot
            return True
        live_position = self.position(self.live_slot())
        if applied == 0 and live_position > head:
            raise RuntimeError(
                f"projection {self.name}: the live slot is at position {live_position}, beyond "
                f"the event log's head {head}; was the log truncated?"
            )
        return False

    def _indexes(self, slot: str) -> list[Index]:
        """The secondary indexes of the slot's tables (not primary keys or unique constraints,
        which the projections' own lookups use)."""
        return [index for table in self.projection.tables(slot) for index in table.indexes]

    def _switch(self, target_slot: str) -> bool:
        """Make `target_slot` live if it has caught up with the live slot."""
        with self.datastore.transaction(commit=True) as session:
            live = session.execute(
                select(slots.c.live).where(slots.c.projection == self.name)
            ).scalar_one()
            # lock the live position: followers of the live slot wait until the switch is done
            session.execute(
                update(positions).where(positions.c.name == self._key(live))
                .values(position=positions.c.position)
            )
            live_position, new_position = (
                session.execute(
                    select(positions.c.position).where(positions.c.name == self._key(slot))
                ).scalar_one()
                for slot in (live, target_slot)
            )
            if new_position < live_position:
                return False
            session.execute(
                update(slots).where(slots.c.projection == self.name)
                .values(live=target_slot, rebuilding=None)
            )
            self._record_version(session, target_slot)
        return True

    def _record_version(self, session: Session, slot: str) -> None:
        """Record this code's version as the slot's (in the caller's transaction, which has
        updated the projection's slots row first: concurrent writers of the row wait)."""
        where = (versions.c.projection == self.name, versions.c.slot == slot)
        updated: Any = session.execute(update(versions).where(*where).values(version=self.version))
        if updated.rowcount == 0:
            session.execute(versions.insert().values(
                projection=self.name, slot=slot, version=self.version))

