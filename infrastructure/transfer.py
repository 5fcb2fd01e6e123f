"""Moving a log between stores: `ipam events export` and `ipam events import`.

An export line (format 2, docs/events-export.schema.json) is what an auditor reads alone: the
position and running hash, the aggregate and the user-visible network it belongs to, the event's
stable type and version, who, when and why, its facts as plain JSON, and the stored state exactly
as it was recorded. Import stores each line's event exactly as it was (same position, topic and
bytes), so the hash chain, and `ipam audit checkpoint`, equal the source's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import Notification
from sqlalchemy import func, insert, select, text, update

from domain.network import Network
from infrastructure.batches import select_notifications
from infrastructure.chain import GENESIS, ChainProjection, link, read_log
from infrastructure.following import Progress as FollowProgress
from infrastructure.following import Projector
from infrastructure.history import context_of, facts_of, rfc3339
from infrastructure.store import Ipam
from infrastructure.tables import chain_table, positions
from infrastructure.topics import UnknownTopicError, class_of, topic_of

FORMAT = 2
REQUIRED = ("position", "aggregate_id", "version", "topic", "state", "hash")
CREATIONS = (Network.NetworkCreated, Network.NetworkRecreated)
BATCH = 5000

Progress = Callable[[str, int, int | None], None]
"""`(phase, done, total)`: phase "events" while lines are stored, then "projections" while
they are built (all in one pass); total is None when unknown (a stream)."""


class ImportRefusedError(Exception):
    """The log was not imported, and the store is unchanged."""


def _stable_type(topic: str) -> tuple[str, str]:
    """(aggregate type, event type) of a stored topic, by the class it stands for today."""
    aggregate_type, _, event_type = topic_of(class_of(topic)).rpartition(".")
    return aggregate_type, event_type


def _stored_version(state: bytes) -> int:
    return int(json.loads(state).get("class_version", 1))


def export(ipam: Ipam, *, since: int = 0, until: datetime | None = None) -> Iterator[dict[str, Any]]:
    """One record per stored event after position `since` (up to time `until`), in order."""
    chain = GENESIS
    mapper = ipam.app.mapper
    networks: dict[str, str] = {}  # network id by aggregate id
    for notification in read_log(ipam.app.recorder):
        chain = link(chain, notification)
        cls = class_of(notification.topic)
        if notification.id <= since and not issubclass(cls, CREATIONS):
            continue
        event: Any = mapper.to_domain_event(notification)
        aggregate_id = str(notification.originator_id)
        if isinstance(event, CREATIONS):
            networks[aggregate_id] = event.network_id
        if notification.id <= since:
            continue
        if until is not None and event.timestamp > until:
            return
        aggregate_type, event_type = _stable_type(notification.topic)
        yield {
            "format": FORMAT,
            "position": notification.id,
            "aggregate_id": aggregate_id,
            "aggregate_type": aggregate_type,
            "version": notification.originator_version,
            "network": networks.get(aggregate_id) if isinstance(event, Network.Event) else None,
            "type": event_type,
            "event_version": _stored_version(notification.state),
            "topic": notification.topic,
            "time": rfc3339(event.timestamp),
            **context_of(event),
            "facts": facts_of(event),
            "state": notification.state.decode("utf-8"),
            "hash": chain,
        }


@dataclass(frozen=True)
class ImportReport:
    events: int
    head: int
    head_hash: str


def _notification(line: str, number: int, after: int) -> tuple[Notification, str]:
    """The stored event a line holds, and the hash the line claims after it."""
    try:  # orjson: the fields read here are small integers and strings (the state is text)
        record = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        raise ImportRefusedError(f"line {number} is not JSON: {error}") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise ImportRefusedError(
            f"line {number} is not an export line of format {FORMAT}; export the source with "
            "this version's `ipam events export` (it reads logs of every earlier version)")
    missing = [name for name in REQUIRED if name not in record]
    if missing:
        raise ImportRefusedError(f"line {number} lacks {', '.join(missing)}")
    position, version = record["position"], record["version"]
    if not isinstance(position, int) or isinstance(position, bool) or position <= after:
        raise ImportRefusedError(
            f"line {number}: position {position!r} does not follow position {after}")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ImportRefusedError(f"line {number} (position {position}): bad version {version!r}")
    try:
        class_of(record["topic"])
        originator_id = UUID(record["aggregate_id"])
        state = record["state"].encode("utf-8")
    except UnknownTopicError as error:
        raise ImportRefusedError(f"line {number} (position {position}): {error}") from None
    except (ValueError, TypeError, AttributeError):
        raise ImportRefusedError(
            f"line {number} (position {position}): bad aggregate_id or state") from None
    notification = Notification(id=position, originator_id=originator_id,
                                originator_version=version, topic=record["topic"], state=state)
    return notification, str(record["hash"])


def import_log(ipam: Ipam, lines: Iterable[str], *, total: int | None = None,
               progress: Progress | None = None) -> ImportReport:
    """Load an export into this store, which must hold no events; then build the projections.

    The hash chain is checked line by line: a line whose hash does not follow from the lines
    before it (a changed, missing or reordered event) refuses the whole import, naming the
    position. Everything is stored in one transaction, so a refused import leaves the store
    empty.
    """
    app = ipam.app
    table = app.recorder.events_record_cls.__table__  # type: ignore[attr-defined]
    engine = app.factory.datastore.engine  # type: ignore[attr-defined]
    postgres = engine.dialect.name == "postgresql"
    # the chain projection is filled here, from the hashes just checked (its slot is empty:
    # so is the store), instead of hashing the whole log a second time
    chain_projector = ipam.projectors[ChainProjection.name]
    chain_slot = chain_projector.live_slot()
    hashes_table = chain_table(chain_slot)
    statement = insert(table)
    chain, head, count = GENESIS, 0, 0
    with engine.begin() as conn:
        if postgres:  # no server of this store writes while the log is loaded
            conn.execute(text(f"LOCK TABLE {table.name} IN EXCLUSIVE MODE"))
        held = conn.execute(select(func.count()).select_from(table)).scalar_one()
        if held:
            raise ImportRefusedError(
                f"the store holds {held} events already; import loads a log into an empty store")
        rows: list[dict[str, Any]] = []
        hashes: list[dict[str, Any]] = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            notification, claimed = _notification(line, number, head)
            chain = link(chain, notification)
            if chain != claimed:
                raise ImportRefusedError(
                    f"the hash chain breaks at position {notification.id} (line {number}): the "
                    "event differs from the one the source hashed, or one before it is missing")
            head, count = notification.id, count + 1
            rows.append({"id": notification.id, "originator_id": notification.originator_id,
                         "originator_version": notification.originator_version,
                         "topic": notification.topic, "state": notification.state})
            hashes.append({"position": notification.id, "hash": chain})
            if len(rows) >= BATCH:
                conn.execute(statement, rows)
                conn.execute(insert(hashes_table), hashes)
                rows, hashes = [], []
                if progress is not None:
                    progress("events", count, total)
        if rows:
            conn.execute(statement, rows)
            conn.execute(insert(hashes_table), hashes)
        conn.execute(update(positions).where(positions.c.name == chain_projector._key(chain_slot))
                     .values(position=head))
        if postgres and count:  # new events are numbered after the imported ones
            conn.execute(text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), :head)"), {"head": head})
    if progress is not None:
        progress("events", count, count)

    def report(position: int, target: int) -> None:
        if progress is not None:
            progress("projections", position, target)

    rebuild_together([p for name, p in ipam.projectors.items() if name != ChainProjection.name],
                     progress=report)
    return ImportReport(events=count, head=head, head_hash=chain)


def rebuild_together(projectors: Sequence[Projector], progress: FollowProgress | None = None,
                     batch_size: int = 2000) -> int:
    """Rebuild several projections in one pass over the log: each event is read and decoded
    once, and each batch is applied to every projection in one transaction. Used where
    nothing else writes (an import into an empty store); each projection then switches as
    `Projector.rebuild` does, catching up on its own if the log grew meanwhile."""
    if not projectors:
        return 0
    first = projectors[0]
    slots_of = [p.start_rebuild(restart=True) for p in projectors]
    decode = first.app.mapper.to_domain_event
    head, position, applied = first.head(), 0, 0
    while position < head:
        notifications = select_notifications(first.app.recorder, position, batch_size)
        if not notifications:
            break
        items = [(n, decode(n)) for n in notifications]
        with first.datastore.transaction(commit=True) as session:
            for projector, slot in zip(projectors, slots_of, strict=True):
                moved = session.execute(
                    update(positions)
                    .where(positions.c.name == projector._key(slot), positions.c.position == position)
                    .values(position=notifications[-1].id)
                )
                if moved.rowcount != 1:
                    raise RuntimeError(f"projection {projector.name} moved during a rebuild")
                projector.projection.apply(session, slot, items)
        position = notifications[-1].id
        applied += len(notifications)
        if progress is not None:
            progress(position, head)
    for projector, slot in zip(projectors, slots_of, strict=True):
        while not projector.finish_rebuild(slot, head, applied):
            head = projector.head()
            applied += projector._follow(slot, head, None, projector.rebuild_batch_size)
    return applied
