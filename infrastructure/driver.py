"""SQLAlchemy Core statements run on the session's own driver connection.

The projections and the write path run a handful of small statements per command. Through
`session.execute` each one cost SQLAlchemy 50-100 µs of Python (coercion, the compiled cache's
key, an execution context, a result object) where SQLite itself needs 5-10 µs: applying the
projections in the events' transaction cost more than the command. Here a statement is compiled
once per dialect and run on the DBAPI connection of the session's transaction (same
transaction, same locks). Parameters get the columns' own bind conversions (a UUID's text on
SQLite); rows come back as the driver gives them (text, integers, booleans and bytes here).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement


@dataclass(frozen=True)
class Compiled:
    sql: str
    order: tuple[str, ...] | None  # positional parameters' names; None: the driver takes names
    constants: dict[str, Any]  # parameters the statement itself gives (a LIMIT's value)
    processors: dict[str, Callable[[Any], Any]]  # the columns' own conversions (a UUID's text)

    def arguments(self, params: Mapping[str, Any]) -> Any:
        if self.constants:
            params = {**self.constants, **params}
        if self.processors:
            params = {key: self.processors[key](value) if key in self.processors else value
                      for key, value in params.items()}
        return params if self.order is None else tuple(params[key] for key in self.order)


@lru_cache(maxsize=1024)
def compiled(statement: ClauseElement, dialect: Dialect) -> Compiled:
    """The statement's SQL for the dialect and how its parameters are passed."""
    result: Any = statement.compile(dialect=dialect)  # an SQLCompiler
    positions = result.positiontup
    constants = {key: value for key, value in result.params.items() if value is not None}
    processors = dict(result._bind_processors)
    return Compiled(result.string, None if positions is None else tuple(positions), constants,
                    processors)


@dataclass(frozen=True)
class Raw:
    """A driver connection taken from the pool for a transaction of its own."""

    connection: Any
    dialect: Dialect


Target = Session | Connection | Raw


def dbapi(session: Target) -> tuple[Any, Dialect]:
    """The driver connection under the session's (or connection's) transaction, and its
    dialect."""
    if isinstance(session, Raw):
        return session.connection, session.dialect
    if isinstance(session, Session):
        # `session.connection()` costs more than SQLite's statement: kept per transaction
        transaction = session.get_transaction()
        kept = session.info.get(_KEPT)
        if kept is not None and kept[0] is transaction and transaction is not None:
            return kept[1], kept[2]
        connection = session.connection()
        raw, dialect = connection.connection.dbapi_connection, connection.dialect
        session.info[_KEPT] = (session.get_transaction(), raw, dialect)
        return raw, dialect
    return session.connection.dbapi_connection, session.dialect


_KEPT = "infrastructure.driver"


def execute(session: Target, statement: ClauseElement,
            params: Mapping[str, Any] | None = None) -> Any:
    """Run the statement; returns the driver's cursor (rows, `rowcount`)."""
    raw, dialect = dbapi(session)
    statement_sql = compiled(statement, dialect)
    arguments = statement_sql.arguments(params or {})
    cursor = raw.cursor()
    with translated(dialect, statement_sql.sql, arguments):
        cursor.execute(statement_sql.sql, arguments)
    return cursor


@contextmanager
def translated(dialect: Dialect, sql: str, arguments: Any) -> Iterator[None]:
    """The driver's errors as SQLAlchemy raises them (IntegrityError, OperationalError...),
    which the store's transactions turn into the library's errors the commands retry on."""
    base = dialect.loaded_dbapi.Error
    try:
        yield
    except base as error:
        raise DBAPIError.instance(sql, arguments, error, base, dialect=dialect) from error


def all_rows(session: Target, statement: ClauseElement,
             params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
    cursor = execute(session, statement, params)
    try:
        return list(cursor.fetchall())
    finally:
        cursor.close()


def first_row(session: Target, statement: ClauseElement,
              params: Mapping[str, Any] | None = None) -> tuple[Any, ...] | None:
    cursor = execute(session, statement, params)
    try:
        row = cursor.fetchone()
        return None if row is None else tuple(row)
    finally:
        cursor.close()


def scalar(session: Target, statement: ClauseElement,
           params: Mapping[str, Any] | None = None) -> Any:
    row = first_row(session, statement, params)
    return None if row is None else row[0]


def rowcount(session: Target, statement: ClauseElement,
             params: Mapping[str, Any] | None = None) -> int:
    cursor = execute(session, statement, params)
    try:
        return int(cursor.rowcount)
    finally:
        cursor.close()


def execute_many(session: Target, statement: ClauseElement,
                 rows: Iterable[Mapping[str, Any]]) -> None:
    """Run the statement once per row of parameters (the driver's `executemany`)."""
    raw, dialect = dbapi(session)
    statement_sql = compiled(statement, dialect)
    arguments: Sequence[Any] = [statement_sql.arguments(row) for row in rows]
    if not arguments:
        return
    cursor = raw.cursor()
    try:
        with translated(dialect, statement_sql.sql, arguments):
            cursor.executemany(statement_sql.sql, arguments)
    finally:
        cursor.close()
