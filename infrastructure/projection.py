"""The read-model projection: folds the event log into the network and IP tables.

Networks are folded with the same `PrefixPool` methods the aggregate uses, so the figures the
read side reports are those the command side computed. See `infrastructure.following` for how
the projection follows the log exactly once and is rebuilt.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from uuid import UUID

from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy.orm import Session

from application.views import ATTRIBUTES, apply_ip_update, ip_document
from domain.allocation import PrefixPool, carve
from domain.network import Network
from domain.network_values import UPDATABLE
from infrastructure import driver
from infrastructure.batches import UPSERT_DIALECTS, insert_rows
from infrastructure.chain import uuid_text
from infrastructure.following import Item
from infrastructure.readrows import (
    NetworkState,
    address_number,
    decode_ip,
    encode_ip,
    ip_sort_key,
    machine_of,
)
from infrastructure.tables import ReadModelTables, read_model_tables


@dataclass
class Batch:
    """Rows touched by one batch of events, folded in memory before they are written.

    With no session (an audit's in-memory fold) every row starts absent.
    """

    session: Session | None
    tables: ReadModelTables
    networks: dict[str, NetworkState | None] = field(default_factory=dict)  # by aggregate id
    ips: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # by address
    absent: set[str] = field(default_factory=set)  # addresses read and found to have no row
    stored: set[str] = field(default_factory=set)  # aggregate ids read from a row of theirs
    created: set[str] = field(default_factory=set)  # aggregate ids (re)created in this batch

    def network(self, aggregate_id: UUID) -> NetworkState | None:
        key = uuid_text(aggregate_id)
        if key not in self.networks:
            state = None
            if self.session is not None:
                state = driver.scalar(self.session, _statements(self.tables).network, {"key": key})
            self.networks[key] = NetworkState.from_row(key, state) if state else None
            if state:
                self.stored.add(key)
        return self.networks[key]

    def ip(self, address: str) -> dict[str, Any] | None:
        if address not in self.ips:
            document = None
            if self.session is not None:
                document = driver.scalar(
                    self.session, _statements(self.tables).ip, {"address": address})
            self.ips[address] = decode_ip(document) if document else None
            if document is None:
                self.absent.add(address)
        return self.ips[address]

    def preload(self, events: Sequence[Any]) -> None:
        """Read the rows these events will look up in a few queries, instead of one query per
        event: the network of each event that does not create it, and the IP of each update
        that no earlier event of the batch touched. The values are those `network` and `ip`
        would read, since nothing is written before `write`."""
        if self.session is None:
            return
        aggregate_ids: list[str] = []
        addresses: list[str] = []
        seen_networks, seen_ips = set(self.networks), set(self.ips)
        for event in events:
            kind = type(event)
            if kind not in HANDLERS:
                continue
            key = uuid_text(event.originator_id)
            if key not in seen_networks:
                seen_networks.add(key)
                if kind not in CREATIONS:
                    aggregate_ids.append(key)
            if kind in IP_EVENTS and event.address not in seen_ips:
                seen_ips.add(event.address)
                if kind is Network.IPUpdated:
                    addresses.append(event.address)
        networks, ips = self.tables.networks, self.tables.ips
        if len(aggregate_ids) == 1:  # one command's events: a plain lookup is cheaper
            self.network(UUID(aggregate_ids.pop()))
        for start in range(0, len(aggregate_ids), 500):
            chunk = aggregate_ids[start:start + 500]
            states: dict[str, str] = {
                row.aggregate_id: row.state for row in self.session.execute(
                    select(networks.c.aggregate_id, networks.c.state)
                    .where(networks.c.aggregate_id.in_(chunk))
                )
            }
            for key in chunk:
                self.networks[key] = NetworkState.from_row(key, states[key]) if key in states else None
                if key in states:
                    self.stored.add(key)
        if len(addresses) == 1:
            self.ip(addresses.pop())
        for start in range(0, len(addresses), 500):
            chunk = addresses[start:start + 500]
            documents: dict[str, str] = {
                row.address: row.document for row in self.session.execute(
                    select(ips.c.address, ips.c.document).where(ips.c.address.in_(chunk))
                )
            }
            for address in chunk:
                if address in documents:
                    self.ips[address] = decode_ip(documents[address])
                else:
                    self.ips[address] = None
                    self.absent.add(address)

    def network_rows(self, updated: Collection[str] = ()) -> list[dict[str, Any]]:
        return [
            {
                "id": state.attrs["network_id"], "aggregate_id": aid,
                "name": state.attrs["name"], "partition_id": state.attrs["partition_id"],
                "project_id": state.attrs["project_id"], "parent_id": state.attrs["parent_id"],
                "private_super": state.attrs["private_super"],
                "underlay": state.attrs["underlay"], "nat": state.attrs["nat"],
                "vrf": state.attrs["vrf"], "state": self._text(state),
            }
            for aid, state in self.networks.items()
            if state is not None and not state.deleted and aid not in updated
        ]

    def _text(self, state: NetworkState) -> str:
        text = state.to_json()
        if self.session is not None:
            state.remember(text)
        return text

    def ip_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "address": address, "sort_key": ip_sort_key(address),
                "network_id": doc["network_id"], "project_id": doc["project_id"],
                "allocation_uuid": doc["allocation_uuid"], "name": doc["name"],
                "type": doc["type"], "family": doc["family"], "prefix": doc["prefix"],
                "machine_id": machine_of(doc["tags"]), "document": encode_ip(doc),
            }
            for address, doc in self.ips.items() if doc is not None
        ]

    def write(self) -> None:
        """Replace the touched rows (deleted networks and released IPs disappear).

        IP rows are upserted on SQLite and PostgreSQL, so only the rows of released IPs are
        deleted, and not those known to be absent already; elsewhere every touched IP row is
        deleted before the present ones are inserted.
        """
        assert self.session is not None
        networks, ips = self.tables.networks, self.tables.ips
        statements = _statements(self.tables)
        # A network whose row was read and is still there has its row updated in place: name
        # and state are all that change (project, parent, partition, VRF and the flags are
        # fixed at creation), so its indexes are left as they are, fewer pages per commit.
        # A created, recreated or deleted one is deleted and inserted.
        kept = [
            state for key, state in self.networks.items()
            if key in self.stored and key not in self.created and state is not None
            and not state.deleted
        ]
        driver.execute_many(self.session, statements.update_network, [
            {"key": state.aggregate_id, "name": state.attrs["name"], "state": self._text(state)}
            for state in kept
        ])
        updated = {state.aggregate_id for state in kept}
        touched = [key for key in self.networks if key not in updated]
        self._delete(statements.delete_network, "key", networks.c.aggregate_id, touched)
        insert_rows(self.session, networks, self.network_rows(updated))
        upsert = self.session.get_bind().dialect.name in UPSERT_DIALECTS
        gone = [
            address for address, doc in self.ips.items()
            if (doc is None or not upsert) and address not in self.absent
        ]
        self._delete(statements.delete_ip, "address", ips.c.address, gone)
        insert_rows(self.session, ips, self.ip_rows(), upsert=upsert)

    def _delete(self, by_key: Any, name: str, column: Any, keys: list[str]) -> None:
        """Delete the rows with these keys: a command's few one by one (a statement compiled
        once), a batch's many with `IN` lists of 500."""
        assert self.session is not None
        if len(keys) <= 4:
            driver.execute_many(self.session, by_key, [{name: key} for key in keys])
            return
        for start in range(0, len(keys), 500):
            self.session.execute(delete(column.table).where(column.in_(keys[start:start + 500])))


@dataclass(frozen=True)
class _Statements:
    """The read model's lookups by key, built once per slot (`infrastructure.driver`)."""

    network: Any
    ip: Any
    delete_network: Any
    update_network: Any
    delete_ip: Any


@lru_cache(maxsize=8)
def _statements(tables: ReadModelTables) -> _Statements:
    networks, ips = tables.networks, tables.ips
    return _Statements(
        network=select(networks.c.state).where(networks.c.aggregate_id == bindparam("key")),
        ip=select(ips.c.document).where(ips.c.address == bindparam("address")),
        delete_network=delete(networks).where(networks.c.aggregate_id == bindparam("key")),
        update_network=update(networks).where(networks.c.aggregate_id == bindparam("key"))
        .values(name=bindparam("name"), state=bindparam("state")),
        delete_ip=delete(ips).where(ips.c.address == bindparam("address")),
    )


class ReadModelProjection:
    """Networks and IPs as the API lists and finds them."""

    name = "read_models"
    version = 1  # bump when the fold or the tables change (`Projection.version`)

    def tables(self, slot: str) -> tuple[Table, ...]:
        t = read_model_tables(slot)
        return (t.networks, t.ips)

    def apply(self, session: Session, slot: str, items: Sequence[Item]) -> None:
        batch = Batch(session, read_model_tables(slot))
        batch.preload([event for _, event in items])
        for _, event in items:
            handler = HANDLERS.get(type(event))
            if handler is not None:
                handler(batch, event)
        batch.write()


# -- event handlers ------------------------------------------------------------------------------


def _touch(state: NetworkState, event: Any) -> None:
    state.changed = event.timestamp
    state.version = event.originator_version


def on_created(
    batch: Batch, event: Network.NetworkCreated | Network.NetworkRecreated,
) -> None:
    attrs = {name: getattr(event, name) for name in ATTRIBUTES}
    batch.created.add(str(event.originator_id))
    batch.networks[str(event.originator_id)] = NetworkState(
        aggregate_id=str(event.originator_id), attrs=attrs, pools={},
        created=event.timestamp, changed=event.timestamp, version=event.originator_version,
    )


def on_prefix_added(batch: Batch, event: Network.PrefixAdded) -> None:
    state = batch.network(event.originator_id)
    if state is not None:
        state.pools[event.prefix] = PrefixPool.new(ipaddress.ip_network(event.prefix))
        _touch(state, event)


def on_prefix_removed(batch: Batch, event: Network.PrefixRemoved) -> None:
    state = batch.network(event.originator_id)
    if state is not None:
        state.pools.pop(event.prefix, None)
        _touch(state, event)


def on_updated(batch: Batch, event: Network.NetworkUpdated) -> None:
    state = batch.network(event.originator_id)
    if state is not None:
        for name in UPDATABLE:
            value = getattr(event, name)
            if value is not None:
                state.attrs[name] = value
        _touch(state, event)


def on_child_allocated(batch: Batch, event: Network.ChildNetworkAllocated) -> None:
    state = batch.network(event.originator_id)
    if state is not None:
        state.pools = carve(state.pools, event.prefixes, add=True)
        _touch(state, event)


def on_child_released(batch: Batch, event: Network.ChildNetworkReleased) -> None:
    state = batch.network(event.originator_id)
    if state is not None:
        state.pools = carve(state.pools, event.prefixes, add=False)
        _touch(state, event)


def on_deleted(batch: Batch, event: Network.NetworkDeleted) -> None:
    state = batch.network(event.originator_id)
    if state is not None:
        state.deleted = True
        _touch(state, event)


def on_ip_acquired(batch: Batch, event: Network.IPAcquired) -> None:
    state = batch.network(event.originator_id)
    if state is None:
        return
    state.pools[event.prefix] = state.pools[event.prefix].with_address(
        address_number(event.address)[1]
    )
    _touch(state, event)
    batch.ips[event.address] = ip_document(event, state.attrs["network_id"])


def on_ip_released(batch: Batch, event: Network.IPReleased) -> None:
    state = batch.network(event.originator_id)
    if state is None:
        return
    state.pools[event.prefix] = state.pools[event.prefix].without_address(
        address_number(event.address)[1]
    )
    _touch(state, event)
    batch.ips[event.address] = None


def on_ip_updated(batch: Batch, event: Network.IPUpdated) -> None:
    state = batch.network(event.originator_id)
    if state is not None:
        _touch(state, event)
    document = batch.ip(event.address)
    if document is not None:
        batch.ips[event.address] = apply_ip_update(document, event)


CREATIONS = (Network.NetworkCreated, Network.NetworkRecreated)
IP_EVENTS = (Network.IPAcquired, Network.IPReleased, Network.IPUpdated)

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
