"""The read-model projection: folds the event log into the network and IP tables.

Events are read in notification order, folded in memory a batch at a time, and written with
the new position in one transaction. The position moves by compare-and-swap
(`UPDATE ... WHERE position = :old`), so when several threads or processes follow the same log
each event is applied exactly once: a loser's transaction rolls back and it starts again from
the winner's position. Dropping the tables and catching up from position 0 rebuilds them.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification
from sqlalchemy import delete, select, update
from sqlalchemy.engine import Engine

from application.service import IpamApplication
from application.views import ATTRIBUTES, apply_ip_update, ip_document
from domain.addressing import parse_address
from domain.allocation import PrefixPool, carve
from domain.network import MACHINE_TAG, Network
from infrastructure.tables import ips, metadata, networks, positions

log = logging.getLogger(__name__)

PROJECTION = "read_models"


class _PositionMoved(Exception):
    """Another follower moved the position first."""


@dataclass
class NetworkState:
    """A network as the projection folds it."""

    aggregate_id: str
    attrs: dict[str, Any]
    pools: dict[str, PrefixPool]
    created: datetime
    changed: datetime
    version: int
    deleted: bool = False

    def to_json(self) -> str:
        return json.dumps({
            "attrs": self.attrs,
            "pools": [pool.to_json() for pool in self.pools.values()],
            "created": self.created.isoformat(),
            "changed": self.changed.isoformat(),
            "version": self.version,
        })

    @classmethod
    def from_row(cls, aggregate_id: str, state: str) -> NetworkState:
        data = json.loads(state)
        pools = [PrefixPool.from_json(p) for p in data["pools"]]
        return cls(
            aggregate_id=aggregate_id, attrs=data["attrs"],
            pools={p.prefix: p for p in pools},
            created=datetime.fromisoformat(data["created"]),
            changed=datetime.fromisoformat(data["changed"]), version=data["version"],
        )


def ip_sort_key(address: str) -> str:
    parsed = parse_address(address)
    return f"{parsed.version}{int(parsed):032x}"


def encode_ip(document: dict[str, Any]) -> str:
    return json.dumps({**document, "created": document["created"].isoformat(),
                       "changed": document["changed"].isoformat()})


def decode_ip(text: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(text)
    data["created"] = datetime.fromisoformat(data["created"])
    data["changed"] = datetime.fromisoformat(data["changed"])
    return data


def machine_of(tags: list[str]) -> str:
    for tag in tags:
        if tag.startswith(MACHINE_TAG):
            return tag[len(MACHINE_TAG):]
    return ""


@dataclass
class Batch:
    """Rows touched by one batch of events, folded in memory before they are written."""

    session: Any
    networks: dict[str, NetworkState | None] = field(default_factory=dict)  # by aggregate id
    ips: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # by address


class ReadModelProjection:
    """Follows the application's event log into the read-model tables."""

    def __init__(self, app: IpamApplication, *, batch_size: int = 1000) -> None:
        self.app = app
        self.datastore = app.factory.datastore  # type: ignore[attr-defined]
        self.engine: Engine = self.datastore.engine
        self.batch_size = batch_size
        self._lock = threading.Lock()
        metadata.create_all(self.engine)
        self._ensure_position_row()

    # -- position ----------------------------------------------------------------------------

    def _ensure_position_row(self) -> None:
        with self.engine.begin() as conn:
            found = conn.execute(select(positions.c.position).where(positions.c.name == PROJECTION)).first()
            if found is None:
                try:
                    conn.execute(positions.insert().values(name=PROJECTION, position=0))
                except Exception:  # another process inserted it first
                    log.debug("position row already created concurrently")

    def position(self) -> int:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(positions.c.position).where(positions.c.name == PROJECTION)
            ).scalar_one()
        return int(value)

    def head(self) -> int:
        return int(self.app.recorder.max_notification_id() or 0)

    # -- following ---------------------------------------------------------------------------

    def rebuild(self) -> int:
        """Drop the read models' rows and fold the whole log again; returns events applied."""
        with self._lock:
            with self.datastore.transaction(commit=True) as session:
                session.execute(delete(ips))
                session.execute(delete(networks))
                session.execute(
                    update(positions).where(positions.c.name == PROJECTION).values(position=0)
                )
        return self.catch_up()

    def catch_up(self) -> int:
        """Apply every event recorded before this call; returns how many this call applied."""
        target = self.head()
        applied = 0
        with self._lock:
            while True:
                position = self.position()
                if position >= target:
                    return applied
                notifications = self.app.recorder.select_notifications(
                    start=position, limit=self.batch_size, inclusive_of_start=False
                )
                if not notifications:
                    return applied
                if self._apply(position, notifications):
                    applied += len(notifications)

    def _apply(self, position: int, notifications: Sequence[Notification]) -> bool:
        events = [self.app.mapper.to_domain_event(n) for n in notifications]
        try:
            with self.datastore.transaction(commit=True) as session:
                moved = session.execute(
                    update(positions)
                    .where(positions.c.name == PROJECTION, positions.c.position == position)
                    .values(position=notifications[-1].id)
                )
                if moved.rowcount != 1:
                    raise _PositionMoved
                # This transaction owns the position now (on PostgreSQL it holds the row lock
                # until commit), so the rows it reads hold exactly the events up to `position`.
                batch = Batch(session)
                for event in events:
                    handler = HANDLERS.get(type(event))
                    if handler is not None:
                        handler(self, batch, event)
                self._write(session, batch)
        except _PositionMoved:
            return False  # another follower applied these events first; rolled back
        return True

    def _write(self, session: Any, batch: Batch) -> None:
        gone = [aid for aid, state in batch.networks.items()]
        if gone:
            session.execute(delete(networks).where(networks.c.aggregate_id.in_(gone)))
        rows = [
            {
                "id": state.attrs["network_id"], "aggregate_id": aid,
                "name": state.attrs["name"], "partition_id": state.attrs["partition_id"],
                "project_id": state.attrs["project_id"], "parent_id": state.attrs["parent_id"],
                "private_super": state.attrs["private_super"],
                "underlay": state.attrs["underlay"], "nat": state.attrs["nat"],
                "vrf": state.attrs["vrf"], "state": state.to_json(),
            }
            for aid, state in batch.networks.items() if state is not None and not state.deleted
        ]
        if rows:
            session.execute(networks.insert(), rows)
        touched = list(batch.ips)
        for start in range(0, len(touched), 500):
            session.execute(delete(ips).where(ips.c.address.in_(touched[start:start + 500])))
        ip_rows = [
            {
                "address": address, "sort_key": ip_sort_key(address),
                "network_id": doc["network_id"], "project_id": doc["project_id"],
                "allocation_uuid": doc["allocation_uuid"], "name": doc["name"],
                "type": doc["type"], "family": doc["family"], "prefix": doc["prefix"],
                "machine_id": machine_of(doc["tags"]), "document": encode_ip(doc),
            }
            for address, doc in batch.ips.items() if doc is not None
        ]
        if ip_rows:
            session.execute(ips.insert(), ip_rows)

    # -- loading rows into a batch -----------------------------------------------------------

    def network(self, batch: Batch, aggregate_id: UUID) -> NetworkState | None:
        key = str(aggregate_id)
        if key not in batch.networks:
            row = batch.session.execute(
                select(networks.c.state).where(networks.c.aggregate_id == key)
            ).first()
            batch.networks[key] = NetworkState.from_row(key, row.state) if row else None
        return batch.networks[key]

    def ip(self, batch: Batch, address: str) -> dict[str, Any] | None:
        if address not in batch.ips:
            row = batch.session.execute(
                select(ips.c.document).where(ips.c.address == address)
            ).first()
            batch.ips[address] = decode_ip(row.document) if row else None
        return batch.ips[address]


# -- event handlers ------------------------------------------------------------------------------


def _touch(state: NetworkState, event: Any) -> None:
    state.changed = event.timestamp
    state.version = event.originator_version


def on_created(
    p: ReadModelProjection, batch: Batch,
    event: Network.NetworkCreated | Network.NetworkRecreated,
) -> None:
    attrs = {name: getattr(event, name) for name in ATTRIBUTES}
    batch.networks[str(event.originator_id)] = NetworkState(
        aggregate_id=str(event.originator_id), attrs=attrs, pools={},
        created=event.timestamp, changed=event.timestamp, version=event.originator_version,
    )


def on_prefix_added(p: ReadModelProjection, batch: Batch, event: Network.PrefixAdded) -> None:
    state = p.network(batch, event.originator_id)
    if state is not None:
        state.pools[event.prefix] = PrefixPool.new(ipaddress.ip_network(event.prefix))
        _touch(state, event)


def on_prefix_removed(p: ReadModelProjection, batch: Batch, event: Network.PrefixRemoved) -> None:
    state = p.network(batch, event.originator_id)
    if state is not None:
        state.pools.pop(event.prefix, None)
        _touch(state, event)


def on_updated(p: ReadModelProjection, batch: Batch, event: Network.NetworkUpdated) -> None:
    state = p.network(batch, event.originator_id)
    if state is not None:
        for name in ATTRIBUTES:
            value = getattr(event, name, None)
            if value is not None:
                state.attrs[name] = value
        _touch(state, event)


def on_child_allocated(p: ReadModelProjection, batch: Batch, event: Network.ChildNetworkAllocated) -> None:
    state = p.network(batch, event.originator_id)
    if state is not None:
        state.pools = carve(state.pools, event.prefixes, add=True)
        _touch(state, event)


def on_child_released(p: ReadModelProjection, batch: Batch, event: Network.ChildNetworkReleased) -> None:
    state = p.network(batch, event.originator_id)
    if state is not None:
        state.pools = carve(state.pools, event.prefixes, add=False)
        _touch(state, event)


def on_deleted(p: ReadModelProjection, batch: Batch, event: Network.NetworkDeleted) -> None:
    state = p.network(batch, event.originator_id)
    if state is not None:
        state.deleted = True
        _touch(state, event)


def on_ip_acquired(p: ReadModelProjection, batch: Batch, event: Network.IPAcquired) -> None:
    state = p.network(batch, event.originator_id)
    if state is None:
        return
    state.pools[event.prefix] = state.pools[event.prefix].with_address(
        int(parse_address(event.address))
    )
    _touch(state, event)
    batch.ips[event.address] = ip_document(event, state.attrs["network_id"])


def on_ip_released(p: ReadModelProjection, batch: Batch, event: Network.IPReleased) -> None:
    state = p.network(batch, event.originator_id)
    if state is None:
        return
    state.pools[event.prefix] = state.pools[event.prefix].without_address(
        int(parse_address(event.address))
    )
    _touch(state, event)
    batch.ips[event.address] = None


def on_ip_updated(p: ReadModelProjection, batch: Batch, event: Network.IPUpdated) -> None:
    state = p.network(batch, event.originator_id)
    if state is not None:
        _touch(state, event)
    document = p.ip(batch, event.address)
    if document is not None:
        batch.ips[event.address] = apply_ip_update(document, event)


HANDLERS: dict[type, Any] = {
    Network.NetworkCreated: on_created,
    Network.NetworkRecreated: on_created,
    Network.PrefixAdded: on_prefix_added,
    Network.PrefixRemoved: on_prefix_removed,
    Network.NetworkUpdated: on_updated,
    Network.ChildNetworkAllocated: on_child_allocated,
    Network.ChildNetworkReleased: on_child_released,
    Network.NetworkDeleted: on_deleted,
    Network.IPAcquired: on_ip_acquired,
    Network.IPReleased: on_ip_released,
    Network.IPUpdated: on_ip_updated,
}
