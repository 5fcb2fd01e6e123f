"""Tamper evidence: a running SHA-256 hash over the event log in notification order.

`hash_i = sha256(hash_{i-1} || "position|aggregate|version|topic|" || state)`, starting from 64
zeros. An auditor records `POSITION:HASH` somewhere else; recomputing the chain from the log later
proves the log up to that position unchanged. The chain projection keeps each position's hash,
so when the log was changed the first event whose hash differs can be named.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification
from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from infrastructure import driver
from infrastructure.batches import insert_rows, select_notifications
from infrastructure.following import Item
from infrastructure.tables import chain_table

GENESIS = "0" * 64


@lru_cache(maxsize=1 << 16)
def uuid_text(value: UUID | str) -> str:
    """An aggregate id's text, cached: a log names few aggregates many times, and formatting a
    UUID cost more than hashing the event."""
    return str(value)


def link(previous: str, notification: Notification) -> str:
    """The running hash after one more stored event."""
    digest = hashlib.sha256(bytes.fromhex(previous))
    digest.update(
        f"{notification.id}|{uuid_text(notification.originator_id)}|"
        f"{notification.originator_version}|{notification.topic}|".encode()
    )
    digest.update(bytes(notification.state))
    return digest.hexdigest()


def read_log(recorder: Any, *, after: int = 0, stop: int | None = None, batch: int = 1000) -> Iterator[Notification]:
    """Stored events after position `after` (up to `stop`), in notification order."""
    position = after
    while True:
        notifications = select_notifications(recorder, position, batch, stop)
        if not notifications:
            return
        yield from notifications
        position = notifications[-1].id


@lru_cache(maxsize=4)
def _previous_hash(table: Table) -> Any:
    return (select(table.c.hash).where(table.c.position < bindparam("position"))
            .order_by(table.c.position.desc()).limit(1))


class ChainProjection:
    """The running hash at every position."""

    name = "chain"
    version = 1  # bump when the fold or the tables change (`Projection.version`)
    decodes_events = False  # hashes the stored events as they are

    def tables(self, slot: str) -> tuple[Table, ...]:
        return (chain_table(slot),)

    def apply(self, session: Session, slot: str, items: Sequence[Item]) -> None:
        table = chain_table(slot)
        if not items:
            return
        previous = driver.scalar(session, _previous_hash(table), {"position": items[0][0].id}) \
            or GENESIS
        rows = []
        for notification, _ in items:
            previous = link(previous, notification)
            rows.append({"position": notification.id, "hash": previous})
        insert_rows(session, table, rows)
