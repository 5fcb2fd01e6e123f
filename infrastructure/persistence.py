"""The eventsourcing-sqlalchemy store with leaner reads and writes of events.

The library reads and writes events through the ORM (a query object and a mapped record per
row, a session per transaction). Reads here are SQLAlchemy Core statements; a command's events
are inserted on a pooled driver connection in a transaction of their own (`insert_events`),
with the library's error translation. Same tables; on PostgreSQL a transaction advisory lock
instead of the library's table lock keeps notification ids in commit order.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import sqlalchemy.exc
from eventsourcing import persistence
from eventsourcing.persistence import StoredEvent
from eventsourcing_sqlalchemy.datastore import SQLAlchemyDatastore
from eventsourcing_sqlalchemy.factory import SQLAlchemyFactory
from eventsourcing_sqlalchemy.recorders import (
    SQLAlchemyApplicationRecorder,
)
from sqlalchemy import Engine, Integer, Select, bindparam, delete, insert, select
from sqlalchemy.orm import Session

from application.ports import IdempotencyRecord
from infrastructure import driver
from infrastructure.tables import idempotency


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
        self._insert = insert(table).values(
            originator_id=bindparam("originator_id"),
            originator_version=bindparam("originator_version"),
            topic=bindparam("topic"), state=bindparam("state"),
        ).returning(table.c.id)
        self._selects: dict[tuple[bool, bool, bool, bool], Select[Any]] = {}
        # called in the events' transaction with their ids (`infrastructure.inline`)
        self.inline: Callable[[Session, Sequence[int], Sequence[StoredEvent]], None] | None = None

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


    def insert_events(
        self, stored_events: Sequence[StoredEvent], *, session: Session | None = None,
        **kwargs: Any,
    ) -> Sequence[int] | None:
        """Record the events (and an idempotency record) in one transaction of their own, on
        a pooled driver connection: the library's transaction builds an ORM session for it,
        which cost a tenth of an acquisition. Projections applied inline need the session."""
        if session is not None or self.inline is not None:
            return super().insert_events(stored_events, session=session, **kwargs)
        engine: Any = self.datastore.engine
        lock = self.datastore.write_lock  # a SQLite file: this process's writes take turns
        if lock is not None:
            lock.acquire()
        try:
            pooled = engine.raw_connection()
            try:
                target = driver.Raw(pooled.dbapi_connection, engine.dialect)
                try:
                    ids = self._insert_stored_events(target, stored_events, **kwargs)
                    with driver.translated(engine.dialect, "COMMIT", ()):
                        pooled.commit()
                except BaseException:
                    try:
                        pooled.rollback()
                    except Exception:  # a broken connection: the pool must not reuse it
                        pooled.invalidate()
                    raise
            finally:
                pooled.close()
        except sqlalchemy.exc.SQLAlchemyError as error:
            raise library_error(error) from error
        finally:
            if lock is not None:
                lock.release()
        return ids

    def _insert_stored_events(
        self, session: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int]:
        """Insert the events in order on the session's driver connection; their ids.

        Ids must be in commit order, for the followers. The library locks the whole table
        (`LOCK TABLE ... IN EXCLUSIVE MODE`) on PostgreSQL before inserting, a round trip of its
        own; here the first insert takes a transaction-scoped advisory lock in the same
        statement. It serialises the inserting transactions until they commit exactly as the
        table lock did (every event is inserted here; `ipam events import` still locks the
        table, which waits for and blocks these inserts). On SQLite the file's write lock
        does it.
        """
        raw, dialect = driver.dbapi(session)
        postgres = dialect.name == "postgresql"
        ids = []
        for number, event in enumerate(stored_events):
            params = {"originator_id": event.originator_id,
                      "originator_version": event.originator_version,
                      "topic": event.topic, "state": event.state}
            compiled = driver.compiled(self._insert, dialect)
            arguments: Any = compiled.arguments(params)
            sql = compiled.sql
            if postgres and number == 0:
                sql = self._locked_insert_sql(dialect)
                arguments = {**arguments, "key": EVENTS_LOCK_KEY}
            cursor = raw.cursor()
            try:
                with driver.translated(dialect, sql, arguments):
                    cursor.execute(sql, arguments)
                ids.append(int(cursor.fetchone()[0]))
            finally:
                cursor.close()
        record = kwargs.get("idempotency")
        if record is not None:
            # in this transaction: stored with the events, or not at all; after them, so the
            # events' lock (PostgreSQL) is always taken first and two saves of one key wait
            # for each other instead of deadlocking
            insert_idempotency_record(session, record)
        if self.inline is not None:
            self.inline(session, ids, stored_events)
        return ids

    def _notify_channel(self, session: Session) -> None:
        """No NOTIFY per insert (the library's, a round trip): nothing here listens, the
        followers poll the log."""

    def _locked_insert_sql(self, dialect: Any) -> str:
        table = self.events_record_cls.__table__
        name = dialect.identifier_preparer.format_table(table)
        return (
            "WITH events_lock AS (SELECT pg_advisory_xact_lock(%(key)s)) "
            f"INSERT INTO {name} (originator_id, originator_version, topic, state) "
            "SELECT %(originator_id)s, %(originator_version)s, %(topic)s, %(state)s "
            "FROM events_lock RETURNING id"
        )


EVENTS_LOCK_KEY = 7_342_002  # pg_advisory_xact_lock key held by a transaction inserting events


def _microseconds(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_purge_countdown = itertools.count()


_PURGE = delete(idempotency).where(idempotency.c.expires_us <= bindparam("now"))
_EXPIRED = delete(idempotency).where(idempotency.c.id == bindparam("id"),
                                    idempotency.c.expires_us <= bindparam("now"))
_RECORD = insert(idempotency).values({column.name: bindparam(column.name)
                                      for column in idempotency.c})

# the library's errors for SQLAlchemy's, as its transactions translate them (most specific first)
_LIBRARY_ERRORS: tuple[tuple[type[Exception], type[Exception]], ...] = (
    (sqlalchemy.exc.IntegrityError, persistence.IntegrityError),
    (sqlalchemy.exc.OperationalError, persistence.OperationalError),
    (sqlalchemy.exc.InterfaceError, persistence.InterfaceError),
    (sqlalchemy.exc.DataError, persistence.DataError),
    (sqlalchemy.exc.InternalError, persistence.InternalError),
    (sqlalchemy.exc.ProgrammingError, persistence.ProgrammingError),
    (sqlalchemy.exc.NotSupportedError, persistence.NotSupportedError),
    (sqlalchemy.exc.DatabaseError, persistence.DatabaseError),
)


def library_error(error: Exception) -> Exception:
    """The eventsourcing error for a SQLAlchemy one (what the commands retry on)."""
    for theirs, ours in _LIBRARY_ERRORS:
        if isinstance(error, theirs):
            return ours(error)
    return persistence.PersistenceError(error)


def insert_idempotency_record(session: Any, record: IdempotencyRecord) -> None:
    """Store a first answer. An expired record of the same key gives way; a live one makes
    the insert, and so the whole save, fail (the retry then finds and replays it). Expired
    records are purged now and then."""
    now = _microseconds(record.created_at)
    if next(_purge_countdown) % 256 == 0:
        driver.rowcount(session, _PURGE, {"now": now})
    else:
        driver.rowcount(session, _EXPIRED, {"id": str(record.record_id), "now": now})
    driver.rowcount(session, _RECORD, {
        "id": str(record.record_id), "key": record.key, "credential": record.credential,
        "subject": record.subject, "fingerprint": record.fingerprint, "status": record.status,
        "body": record.body, "created_us": now, "expires_us": _microseconds(record.expires_at)})


class SqlIdempotencyRecords:
    """`application.ports.IdempotencyRecords` on the store's `ipam_idempotency` table."""

    def __init__(self, engine: Engine, ttl: timedelta) -> None:
        self.engine = engine
        self.ttl = ttl
        self._select = select(idempotency).where(
            idempotency.c.id == bindparam("id"), idempotency.c.expires_us > bindparam("now"))

    def find(self, record_id: UUID) -> IdempotencyRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(self._select, {
                "id": str(record_id), "now": _microseconds(datetime.now(UTC))}).first()
        if row is None:
            return None
        return IdempotencyRecord(
            record_id=record_id, key=row.key, credential=row.credential, subject=row.subject,
            fingerprint=row.fingerprint, status=row.status, body=bytes(row.body),
            created_at=EPOCH + timedelta(microseconds=row.created_us),
            expires_at=EPOCH + timedelta(microseconds=row.expires_us))


class Datastore(SQLAlchemyDatastore):
    """The library's datastore, its pool handing out the connection returned last.

    A SQLite connection's page cache is worth keeping only while no other connection has
    written; with the pool's default first-in-first-out order every transaction took the
    connection used longest ago, whose cache other commits had made stale, and read its pages
    again (876 allocations per second against 814 with one client, bench/README.md).
    """

    def __init__(self, **kwargs: Any) -> None:
        if kwargs.get("url") and ":memory:" not in str(kwargs["url"]):
            kwargs.setdefault("pool_use_lifo", True)
        super().__init__(**kwargs)


class Factory(SQLAlchemyFactory):
    """`PERSISTENCE_MODULE=infrastructure.persistence:Factory`."""

    application_recorder_class = CoreReadApplicationRecorder
    datastore_class = Datastore
