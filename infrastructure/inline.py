"""All projections advanced together: one read of the log, one decode per event, one
transaction for every projection.

Following each projection on its own cost, per batch and per projection, a read of the head,
the slot and the position, a read of the events, a decode of each event, and a transaction.
Under load the follower then took a quarter of the server's time. `JointProjections` moves every
projection whose live slot stands at the same position in one transaction, applying a batch of
events read and decoded once:

- `catch_up`: the follower's batch (`Ipam.start_follower`), events read from the log;
- `__call__`: with `inline_projections` on, the hook the recorder calls in the transaction that
  records a command's events, so that they and their projections commit together (no lag; but
  each command then writes every projection's pages and commits them, which on SQLite cost
  more than following in batches: see bench/README.md).

Each projection's live slot keeps its position. The events are applied to a slot only when its
position is exactly the event before the batch's first one, moved by compare-and-swap in the
same transaction (`UPDATE ... WHERE position = :previous`), so each event is applied exactly
once per slot, whichever path applies it. A projection whose position differs (during or after
a rebuild) is left to `Projector.catch_up`, which follows it on its own as before.

Inline, the previous event is read in the recording transaction after the insert: on PostgreSQL
the insert holds the events table's lock, so every event before this transaction's first one
has committed; on SQLite the transaction holds the file's write lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import Notification, StoredEvent
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from infrastructure import driver
from infrastructure.batches import select_notifications
from infrastructure.following import Projector
from infrastructure.tables import positions, slots

FOLLOWER_LOCK_KEY = 7_342_003  # pg_try_advisory_xact_lock key of the follower applying a batch


class JointProjections:
    """Advances every projection's live slot together (see the module)."""

    def __init__(self, projectors: Sequence[Projector], *, batch_size: int = 1000) -> None:
        self.projectors = {projector.name: projector for projector in projectors}
        self.batch_size = batch_size
        app = projectors[0].app
        self.app = app
        self.datastore = projectors[0].datastore
        self.decode = app.mapper.to_domain_event
        table = app.recorder.events_record_cls.__table__  # type: ignore[attr-defined]
        self._previous = select(func.max(table.c.id)).where(table.c.id < bindparam("first"))
        self._head = select(func.max(table.c.id))
        self._live = select(slots.c.projection, slots.c.live, positions.c.position).join(
            positions, positions.c.name == slots.c.projection + ":" + slots.c.live)
        self._move = (
            update(positions)
            .where(positions.c.name == bindparam("key"))
            .where(positions.c.position == bindparam("previous"))
            .values(position=bindparam("last"))
        )
        self._try_lead = select(func.pg_try_advisory_xact_lock(bindparam("key")))
        self.applied = 0  # events applied (each counted once per projection), for tests
        self.skipped = 0  # batches some projection was left out of (its position differed)

    def _live_slots(self, session: Session) -> dict[str, tuple[str, int]]:
        """Position key ("<projection>:<slot>") of each projection's live slot: (name, position)."""
        return {f"{name}:{slot}": (name, int(position))
                for name, slot, position in driver.all_rows(session, self._live)
                if name in self.projectors}

    def _advance(self, session: Session, live: dict[str, tuple[str, int]], previous: int,
                 notifications: Sequence[Notification]) -> int:
        """Move each live slot standing at `previous` to the batch's last event and apply the
        batch to it, in the session's transaction; returns how many slots moved."""
        last = notifications[-1].id
        moved = [key for key, (_, position) in live.items() if position == previous and
                 driver.rowcount(session, self._move,
                                 {"key": key, "previous": previous, "last": last}) == 1]
        if len(moved) < len(live):
            self.skipped += 1
        decoded: list[tuple[Notification, Any]] | None = None
        for key in moved:
            projector = self.projectors[live[key][0]]
            if projector.decodes:
                if decoded is None:
                    decoded = [(n, self.decode(n)) for n in notifications]
                items = decoded
            else:
                items = [(n, None) for n in notifications]
            projector.projection.apply(session, key.rsplit(":", 1)[1], items)
            self.applied += len(items)
        return len(moved)

    def __call__(
        self, session: Session, ids: Sequence[int], stored_events: Sequence[StoredEvent]
    ) -> None:
        """Inline: apply the events this transaction has just recorded (ids in order)."""
        if not ids:
            return
        previous = driver.scalar(session, self._previous, {"first": ids[0]}) or 0
        notifications = [
            Notification(id=i, originator_id=e.originator_id,
                         originator_version=e.originator_version, topic=e.topic, state=e.state)
            for i, e in zip(ids, stored_events, strict=True)
        ]
        self._advance(session, self._live_slots(session), previous, notifications)

    def step(self, limit: int | None = None) -> int | None:
        """Apply the next batch (at most `limit` events, else `batch_size`) of the events
        recorded before this call to every projection, in one transaction; returns how many
        events it applied (0: every projection is at the head), or None when the live slots'
        positions differ (or another follower moved one meanwhile): `Projector.catch_up` must
        then follow each projection on its own."""
        with self.datastore.transaction(commit=False) as session:
            head = int(driver.scalar(session, self._head) or 0)
            live = self._live_slots(session)
        at = {position for _, position in live.values()}
        if len(at) > 1:
            return None
        if not at or (position := at.pop()) >= head:
            return 0
        notifications = select_notifications(self.app.recorder, position,
                                              limit or self.batch_size, stop=head)
        if not notifications:
            return 0
        with self.datastore.transaction(commit=True) as session:
            if not self._leading(session):
                return 0  # another process's follower is applying a batch right now
            live = self._live_slots(session)  # as this transaction sees them
            moved = self._advance(session, live, position, notifications)
        return len(notifications) if moved == len(live) else None

    def _leading(self, session: Session) -> bool:
        """On PostgreSQL, whether this follower may apply a batch now: one process at a time
        (a transaction advisory lock, not waited for). Every server process follows the log;
        a second one applying the same batch only waited on the first one's positions and
        then found its work done. Reads still catch up themselves."""
        if driver.dbapi(session)[1].name != "postgresql":
            return True
        return bool(driver.scalar(session, self._try_lead, {"key": FOLLOWER_LOCK_KEY}))
