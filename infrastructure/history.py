"""The history projection: every network event, indexed by network, address and address range.

One row per event of a `Network` aggregate, with who and why, and the event's facts as plain
JSON; plus one scope row per prefix or address the event touched, so "what happened inside
10.0.0.0/24" is a range query. Point-in-time questions find the version of a network at a time
here, and the aggregate is then rebuilt from the log at that version.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, and_, bindparam, func, select, true
from sqlalchemy.orm import Session

from application.ports import HistoryPage, HistoryQuery
from domain.network import Network
from domain.versions import type_name
from infrastructure import driver, jsontext
from infrastructure.batches import insert_rows
from infrastructure.chain import uuid_text
from infrastructure.following import Item, Projector
from infrastructure.readrows import address_number
from infrastructure.tables import HistoryTables, history_tables

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BASE_FIELDS = {"originator_id", "originator_version", "timestamp", "originator_topic", "context"}
LIFECYCLE = tuple(type_name(c) for c in (Network.NetworkCreated, Network.NetworkRecreated,
                                            Network.NetworkDeleted))
DELETED = type_name(Network.NetworkDeleted)
IP_EVENTS = tuple(type_name(c) for c in (Network.IPAcquired, Network.IPUpdated, Network.IPReleased))


def microseconds(moment: datetime) -> int:
    """Exact microseconds since the epoch of an aware datetime."""
    return (moment - EPOCH) // timedelta(microseconds=1)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


SCALARS = (str, int, float, bool)  # tuples, not unions: `A | B` is built again on every call
SEQUENCES = (list, tuple)
CREATIONS = (Network.NetworkCreated, Network.NetworkRecreated)
PREFIX_EVENTS = (Network.PrefixAdded, Network.PrefixRemoved)
CHILD_EVENTS = (Network.ChildNetworkAllocated, Network.ChildNetworkReleased, Network.NetworkDeleted)
ADDRESS_EVENTS = (Network.IPAcquired, Network.IPReleased, Network.IPUpdated)


def plain(value: Any) -> Any:
    """JSON-friendly copy of an event fact (tuples become lists, other values strings)."""
    if isinstance(value, SCALARS) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, SEQUENCES):
        return [plain(v) for v in value]
    return str(value)


def facts_of(event: Any) -> dict[str, Any]:
    return {k: plain(v) for k, v in vars(event).items() if k not in BASE_FIELDS}


def context_of(event: Any) -> dict[str, Any]:
    """Who and why (every event has a context: those recorded before it was kept are upcast
    with an empty one, `domain.versions`)."""
    context = event.context
    return {
        "actor": context.get("actor") or "anonymous",
        "request_id": context.get("request_id") or "",
        "reason": context.get("reason"),
    }


def scopes_of(event: Any) -> list[str]:
    """The prefixes and addresses an event touched, as CIDRs."""
    if isinstance(event, PREFIX_EVENTS):
        return [event.prefix]
    if isinstance(event, CHILD_EVENTS):
        return list(event.prefixes)
    if isinstance(event, ADDRESS_EVENTS):
        return [str(ipaddress.ip_network(event.address))]
    return []


def range_of(cidr: str) -> tuple[int, str, str]:
    net = ipaddress.ip_network(cidr)
    return (net.version, f"{int(net.network_address):032x}", f"{int(net.broadcast_address):032x}")


def ranges_of(event: Any) -> list[tuple[int, str, str]]:
    """`range_of` each of `scopes_of(event)`; an address is its own range, taken from the
    parsed-address cache instead of being parsed twice as a one-address network."""
    if isinstance(event, ADDRESS_EVENTS):
        version, number = address_number(event.address)
        return [(version, f"{number:032x}", f"{number:032x}")]
    return [range_of(cidr) for cidr in scopes_of(event)]


@lru_cache(maxsize=4)
def _network_of(tables: HistoryTables) -> Any:
    return (select(tables.events.c.network_id)
            .where(tables.events.c.aggregate_id == bindparam("aggregate_id")).limit(1))


class HistoryProjection:
    """Network events as the history endpoints show them."""

    name = "history"
    version = 1  # bump when the fold or the tables change (`Projection.version`)

    def __init__(self) -> None:
        # network id by aggregate id, kept across batches: it never changes (the aggregate id
        # is derived from the network id), and a rebuild fills a slot without its indexes
        self.names: dict[str, str] = {}

    def tables(self, slot: str) -> tuple[Table, ...]:
        t = history_tables(slot)
        return (t.events, t.scopes)

    def apply(self, session: Session, slot: str, items: Sequence[Item]) -> None:
        t = history_tables(slot)

        def network_of(aggregate_id: str) -> str:
            network_id = driver.scalar(session, _network_of(t), {"aggregate_id": aggregate_id})
            if network_id is None:
                raise LookupError(f"no history of aggregate {aggregate_id}")
            return str(network_id)

        rows, scopes = history_rows(items, self.names, network_of)
        insert_rows(session, t.events, rows)
        insert_rows(session, t.scopes, scopes)


def history_rows(
    items: Sequence[Item], names: dict[str, str], network_of: Callable[[str], str],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The history rows (one per network event, with its record as the API shows it) and
    scope rows (the ranges each event touched) of a batch. `names` holds the network id of
    each aggregate seen; `network_of` finds one that was seen before this process started."""
    rows: list[dict[str, Any]] = []
    scopes: list[dict[str, Any]] = []
    for notification, event in items:
        if not isinstance(event, Network.Event):
            continue
        aggregate_id = uuid_text(event.originator_id)
        if isinstance(event, CREATIONS):
            names[aggregate_id] = event.network_id
        elif aggregate_id not in names:
            names[aggregate_id] = network_of(aggregate_id)
        kind = type_name(type(event))
        record = {
            "position": notification.id,
            "network": names[aggregate_id],
            "aggregate_id": aggregate_id,
            "version": event.originator_version,
            "time": rfc3339(event.timestamp),
            "type": kind,
            **context_of(event),
            "facts": facts_of(event),
        }
        rows.append({
            "position": notification.id, "aggregate_id": aggregate_id,
            "network_id": names[aggregate_id], "version": event.originator_version,
            "type": kind, "time_us": microseconds(event.timestamp),
            "address": getattr(event, "address", None) if kind in IP_EVENTS else None,
            "record": jsontext.dumps(record),
        })
        for family, low, high in ranges_of(event):
            scopes.append({"position": notification.id, "family": family, "low": low, "high": high})
    return rows, scopes


def alive_networks(
    lifecycle: Iterable[tuple[str, str, str]], version_of: Callable[[str], int | None],
) -> list[tuple[str, str, int]]:
    """(network id, aggregate id, version) of the networks alive after these lifecycle events
    ((aggregate id, network id, type), oldest first), sorted by network id."""
    alive: dict[str, str] = {}
    for aggregate_id, network_id, kind in lifecycle:
        if kind == DELETED:
            alive.pop(aggregate_id, None)
        else:
            alive[aggregate_id] = network_id
    result = []
    for aggregate_id, network_id in sorted(alive.items(), key=lambda item: item[1]):
        version = version_of(aggregate_id)
        assert version is not None
        result.append((network_id, aggregate_id, version))
    return result


class SqlHistory:
    """Queries on the history projection (the application's `History` port)."""

    def __init__(self, projector: Projector) -> None:
        self.projector = projector
        self.engine = projector.engine

    def catch_up(self) -> None:
        self.projector.catch_up()

    @property
    def _tables(self) -> HistoryTables:
        return history_tables(self.projector.live)

    def _page(self, condition: Any, query: HistoryQuery, join_scopes: Any = None) -> HistoryPage:
        events = self._tables.events
        stmt = select(events.c.position, events.c.record)
        if join_scopes is not None:
            stmt = stmt.where(events.c.position.in_(join_scopes))
        stmt = stmt.where(condition)
        if query.since is not None:
            stmt = stmt.where(events.c.time_us >= microseconds(query.since))
        if query.until is not None:
            stmt = stmt.where(events.c.time_us <= microseconds(query.until))
        if query.types:
            stmt = stmt.where(events.c.type.in_(query.types))
        if query.cursor is not None:
            stmt = stmt.where(events.c.position > query.cursor if query.ascending else events.c.position < query.cursor)
        stmt = stmt.order_by(events.c.position if query.ascending else events.c.position.desc())
        stmt = stmt.limit(query.limit + 1)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        return HistoryPage(
            events=[json.loads(r.record) for r in rows],
            next_cursor=rows[-1].position if more else None,
        )

    def network_exists(self, aggregate_id: str) -> bool:
        events = self._tables.events
        with self.engine.connect() as conn:
            return conn.execute(
                select(events.c.position).where(events.c.aggregate_id == aggregate_id).limit(1)
            ).first() is not None

    def network_history(self, aggregate_id: str, query: HistoryQuery) -> HistoryPage:
        return self._page(self._tables.events.c.aggregate_id == aggregate_id, query)

    def ip_history(self, address: str, query: HistoryQuery) -> HistoryPage:
        return self._page(self._tables.events.c.address == address, query)

    def prefix_history(self, cidr: str, query: HistoryQuery) -> HistoryPage:
        family, low, high = range_of(cidr)
        scopes = self._tables.scopes
        inside = select(scopes.c.position).where(
            and_(scopes.c.family == family, scopes.c.low <= high, scopes.c.high >= low)
        )
        return self._page(true(), query, join_scopes=inside)

    def version_at(self, aggregate_id: str, moment: datetime) -> int | None:
        """The network's version at `moment` (its last event then), or None before it."""
        events = self._tables.events
        with self.engine.connect() as conn:
            value = conn.execute(
                select(func.max(events.c.version)).where(
                    events.c.aggregate_id == aggregate_id,
                    events.c.time_us <= microseconds(moment),
                )
            ).scalar()
        return None if value is None else int(value)

    def networks_at(self, moment: datetime) -> list[tuple[str, str, int]]:
        """(network id, aggregate id, version) of every network that existed at `moment`."""
        events = self._tables.events
        with self.engine.connect() as conn:
            lifecycle = conn.execute(
                select(events.c.aggregate_id, events.c.network_id, events.c.type)
                .where(events.c.type.in_(LIFECYCLE), events.c.time_us <= microseconds(moment))
                .order_by(events.c.position)
            ).all()
        return alive_networks(((r.aggregate_id, r.network_id, r.type) for r in lifecycle),
                              lambda aggregate_id: self.version_at(aggregate_id, moment))

    def ip_events_until(self, address: str, moment: datetime) -> list[dict[str, Any]]:
        """The address's acquisitions, updates and releases up to `moment`, oldest first."""
        events = self._tables.events
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(events.c.record)
                .where(events.c.address == address, events.c.time_us <= microseconds(moment))
                .order_by(events.c.position)
            ).all()
        return [json.loads(r.record) for r in rows]
