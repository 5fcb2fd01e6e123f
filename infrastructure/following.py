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
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from eventsourcing.persistence import Notification
from sqlalchemy import Table, delete, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError as SQLIntegrityError
from sqlalchemy.orm import Session

from application.service import IpamApplication
from infrastructure.tables import SLOTS, control, positions, slots

log = logging.getLogger(__name__)

Item = tuple[Notification, Any]  # a stored event and its decoded domain event
Progress = Callable[[int, int], None]  # (position reached, head)


class Projection(Protocol):
    """What a projection provides: its tables per slot and how a batch of events folds."""

    name: str

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

    @property
    def lag(self) -> int:
        return max(self.head - self.position, 0)


def other(slot: str) -> str:
    return SLOTS[1] if slot == SLOTS[0] else SLOTS[0]


class Projector:
    """Runs one projection against the application's event log."""

    def __init__(self, app: IpamApplication, projection: Projection, *, batch_size: int = 1000) -> None:
        self.app = app
        self.projection = projection
        self.name = projection.name
        self.datastore = app.factory.datastore  # type: ignore[attr-defined]
        self.engine: Engine = self.datastore.engine
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._live = SLOTS[0]
        control.create_all(self.engine)
        for slot in SLOTS:
            for table in projection.tables(slot):
                table.create(self.engine, checkfirst=True)
        self._ensure_rows()

    # -- positions and slots -------------------------------------------------------------------

    def _key(self, slot: str) -> str:
        return f"{self.name}:{slot}"

    def _ensure_rows(self) -> None:
        rows: list[tuple[Table, dict[str, Any]]] = [
            (slots, {"projection": self.name, "live": SLOTS[0], "rebuilding": None}),
            *((positions, {"name": self._key(s), "position": 0}) for s in SLOTS),
        ]
        for table, values in rows:
            key = table.c[next(iter(values))]
            with self.engine.begin() as conn:
                if conn.execute(select(key).where(key == next(iter(values.values())))).first():
                    continue
            try:
                with self.engine.begin() as conn:
                    conn.execute(table.insert().values(**values))
            except SQLIntegrityError:  # another process created it first
                log.debug("projection row %s exists already", values)

    def live_slot(self) -> str:
        with self.engine.connect() as conn:
            live = conn.execute(select(slots.c.live).where(slots.c.projection == self.name)).scalar_one()
        self._live = str(live)
        return self._live

    @property
    def live(self) -> str:
        """The live slot as last seen (read-side queries use it right after `catch_up`)."""
        return self._live

    def position(self, slot: str | None = None) -> int:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(positions.c.position).where(positions.c.name == self._key(slot or self.live_slot()))
            ).scalar_one()
        return int(value)

    def head(self) -> int:
        return int(self.app.recorder.max_notification_id() or 0)

    def status(self) -> ProjectionStatus:
        with self.engine.connect() as conn:
            row = conn.execute(select(slots).where(slots.c.projection == self.name)).one()
        return ProjectionStatus(
            name=self.name, live=row.live, position=self.position(row.live), head=self.head(),
            rebuilding=row.rebuilding,
            rebuild_position=self.position(row.rebuilding) if row.rebuilding else None,
        )

    # -- following -----------------------------------------------------------------------------

    def catch_up(self) -> int:
        """Apply every event recorded before this call to the live slot; returns how many
        this call applied."""
        target = self.head()
        with self._lock:
            return self._follow(self.live_slot(), target)

    def _follow(self, slot: str, target: int, progress: Progress | None = None) -> int:
        applied = 0
        while True:
            position = self.position(slot)
            if progress is not None:
                progress(position, target)
            if position >= target:
                return applied
            notifications = self.app.recorder.select_notifications(
                start=position, limit=self.batch_size, inclusive_of_start=False
            )
            if not notifications:
                return applied
            if self._advance(slot, position, notifications):
                applied += len(notifications)

    def _advance(self, slot: str, position: int, notifications: Sequence[Notification]) -> bool:
        items = [(n, self.app.mapper.to_domain_event(n)) for n in notifications]
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
        with self.engine.connect() as conn:
            row = conn.execute(select(slots).where(slots.c.projection == self.name)).one()
        if row.rebuilding is None or restart:
            target_slot = other(row.live)
            with self.datastore.transaction(commit=True) as session:
                for table in reversed(self.projection.tables(target_slot)):
                    session.execute(delete(table))
                session.execute(
                    update(positions).where(positions.c.name == self._key(target_slot)).values(position=0)
                )
                session.execute(
                    update(slots).where(slots.c.projection == self.name).values(rebuilding=target_slot)
                )
        else:
            target_slot = row.rebuilding
        applied = 0
        while True:
            applied += self._follow(target_slot, self.head(), progress)
            if self._switch(target_slot):
                self._live = target_slot
                return applied

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
        return True
