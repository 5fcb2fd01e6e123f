"""The eventsourcing-sqlalchemy store with leaner reads and writes of events.

The library reads and writes events through the ORM (a query object and a mapped record per
row). Every command fast-forwards its cached aggregate with such a read and then inserts its
events, so we do both with SQLAlchemy Core statements instead: same tables, same table lock on
PostgreSQL (notification ids in commit order), same transactions and error translation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing_sqlalchemy.factory import SQLAlchemyFactory
from eventsourcing_sqlalchemy.recorders import (
    SQLAlchemyApplicationRecorder,
)
from sqlalchemy import Integer, Select, bindparam, insert, select
from sqlalchemy.orm import Session


class CoreReadApplicationRecorder(SQLAlchemyApplicationRecorder):
    """Application recorder whose `select_events` uses SQLAlchemy Core."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        table = self.events_record_cls.__table__
        self._columns = (
            table.c.originator_id, table.c.originator_version, table.c.topic, table.c.state,
        )
        self._version = table.c.originator_version
        self._by_originator = table.c.originator_id
        self._insert = insert(table).returning(table.c.id)
        self._selects: dict[tuple[bool, bool, bool, bool], Select[Any]] = {}

    def _select(self, gt: bool, lte: bool, desc: bool, limit: bool) -> Select[Any]:
        """The statement for one shape of query, built once: building it per call cost more
        than running it."""
        shape = (gt, lte, desc, limit)
        stmt = self._selects.get(shape)
        if stmt is None:
            stmt = select(*self._columns).where(self._by_originator == bindparam("originator_id"))
            if gt:
                stmt = stmt.where(self._version > bindparam("gt"))
            if lte:
                stmt = stmt.where(self._version <= bindparam("lte"))
            stmt = stmt.order_by(self._version.desc() if desc else self._version)
            if limit:
                stmt = stmt.limit(bindparam("limit", type_=Integer))
            self._selects[shape] = stmt
        return stmt

    def select_events(
        self,
        originator_id: UUID | str,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> list[StoredEvent]:
        stmt = self._select(gt is not None, lte is not None, desc, limit is not None)
        params: dict[str, Any] = {"originator_id": originator_id}
        if gt is not None:
            params["gt"] = gt
        if lte is not None:
            params["lte"] = lte
        if limit is not None:
            params["limit"] = limit
        with self.transaction(commit=False) as session:
            rows = session.execute(stmt, params).all()
        return [
            StoredEvent(
                originator_id=row[0],
                originator_version=row[1],
                topic=row[2],
                state=bytes(row[3]) if isinstance(row[3], memoryview) else row[3],
            )
            for row in rows
        ]


    def _insert_stored_events(
        self, session: Session, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int]:
        if self._has_autoincrementing_ids:
            self._lock_table(session)
        ids = [
            session.execute(
                self._insert,
                {
                    "originator_id": e.originator_id,
                    "originator_version": e.originator_version,
                    "topic": e.topic,
                    "state": e.state,
                },
            ).scalar_one()
            for e in stored_events
        ]
        self._notify_channel(session)
        return ids


class Factory(SQLAlchemyFactory):
    """`PERSISTENCE_MODULE=infrastructure.persistence:Factory`."""

    application_recorder_class = CoreReadApplicationRecorder
