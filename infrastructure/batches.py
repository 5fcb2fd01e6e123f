"""The event log read a batch at a time, and rows written a batch at a time: what every
projection (`infrastructure.following`), the hash chain and the import share, below the
ORM."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from eventsourcing.persistence import Notification
from sqlalchemy import Table, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert

from infrastructure import driver


def select_notifications(
    recorder: Any, after: int, limit: int, stop: int | None = None
) -> list[Notification]:
    """Up to `limit` stored events after position `after` (up to `stop`), in order.

    The same rows as the recorder's `select_notifications(start=after, limit=limit, stop=stop,
    inclusive_of_start=False)`, read with a SQLAlchemy Core statement: the library's ORM query
    builds a mapped record per row, which cost more than decoding the event.
    """
    table = recorder.events_record_cls.__table__
    stmt = select(
        table.c.id, table.c.originator_id, table.c.originator_version, table.c.topic, table.c.state
    ).where(table.c.id > after)
    if stop is not None:
        stmt = stmt.where(table.c.id <= stop)
    stmt = stmt.order_by(table.c.id).limit(limit)
    with recorder.transaction(commit=False) as session:
        rows = session.execute(stmt).all()
    return [
        Notification(
            id=row[0], originator_id=row[1], originator_version=row[2], topic=row[3],
            state=bytes(row[4]) if isinstance(row[4], memoryview) else row[4],
        )
        for row in rows
    ]


UPSERT_DIALECTS = ("sqlite", "postgresql")  # INSERT ... ON CONFLICT DO UPDATE
COPY_FROM_ROWS = 16  # fewer rows go faster as one executemany than as a COPY


def insert_rows(
    session: Session, table: Table, rows: Sequence[dict[str, Any]], *, upsert: bool = False
) -> None:
    """Insert rows of text, integers and None in one go: with COPY on PostgreSQL (psycopg 3)
    when there are many, else with the driver's `executemany` of an INSERT compiled once per
    table (through `session.execute` SQLAlchemy processes every row, which cost more than
    SQLite's insert).
    With `upsert` (only on `UPSERT_DIALECTS`), a row whose primary key exists replaces it."""
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql" and not upsert and len(rows) > COPY_FROM_ROWS:
        raw: Any = connection.connection.dbapi_connection
        with raw.cursor() as cursor:
            if hasattr(cursor, "copy"):  # psycopg 3; in this transaction
                keys = list(rows[0])
                quote = connection.dialect.identifier_preparer
                columns = ", ".join(quote.quote(key) for key in keys)
                with cursor.copy(f"COPY {quote.format_table(table)} ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row([row[key] for key in keys])
                return
    sql, positions = _insert_sql(table, connection.dialect, tuple(rows[0]), upsert)
    arguments = list(rows) if positions is None else [
        tuple(row[key] for key in positions) for row in rows]
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        with driver.translated(connection.dialect, sql, arguments):
            cursor.executemany(sql, arguments)
    finally:
        cursor.close()


@lru_cache(maxsize=256)
def _insert_sql(
    table: Table, dialect: Dialect, keys: tuple[str, ...], upsert: bool
) -> tuple[str, tuple[str, ...] | None]:
    """The INSERT (or upsert) of these columns compiled for the dialect, and the order of
    its positional parameters (None for named ones)."""
    statement: Insert = table.insert()
    if upsert:
        dialect_insert = sqlite_insert(table) if dialect.name == "sqlite" else postgresql_insert(table)
        statement = dialect_insert.on_conflict_do_update(
            index_elements=list(table.primary_key),
            set_={c.name: dialect_insert.excluded[c.name] for c in table.c if not c.primary_key},
        )
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))
    positions = compiled.positiontup
    return compiled.string, None if positions is None else tuple(positions)
