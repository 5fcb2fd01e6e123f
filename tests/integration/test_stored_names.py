"""What the store writes is named and versioned by us: stable names, a version on every event
and snapshot, upcasting of old shapes, snapshots with named fields, and a snapshot that cannot
be read skipped rather than fatal."""

from __future__ import annotations

import json
import logging
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import StoredEvent
from sqlalchemy import select, update

from application.context import RequestContext
from domain.legacy import IdempotentRequest
from domain.namespace import Namespace, VrfPool
from domain.network import Network, network_uuid
from domain.token import ApiToken, TokenIndex
from infrastructure.store import Ipam, open_ipam
from infrastructure.topics import KNOWN, UnknownTopicError, class_of, topic_of

AGGREGATES = (Network, Namespace, VrfPool, ApiToken, TokenIndex, IdempotentRequest)


def stored_classes() -> list[type[Any]]:
    return sorted({cls for cls in KNOWN.values()}, key=lambda c: c.__qualname__)


def test_every_stored_class_has_one_stable_name_free_of_module_paths() -> None:
    names = [topic_of(cls) for cls in stored_classes()]

    assert len(names) == len(set(names))
    assert all(":" not in name and "domain" not in name for name in names)
    assert topic_of(Network.IPAcquired) == "Network.IPAcquired"
    assert topic_of(Network) == "Network"
    for cls in stored_classes():
        assert class_of(topic_of(cls)) is cls
    for aggregate in AGGREGATES:  # every event the aggregate defines is in the catalogue
        for name, value in vars(aggregate).items():
            if isinstance(value, type) and name != "Event" and hasattr(value, "originator_version"):
                assert class_of(topic_of(value)) is value


def test_0_1_0_module_paths_resolve_to_todays_classes_and_nothing_else_is_imported() -> None:
    assert class_of("domain.network:Network.IPAcquired") is Network.IPAcquired
    assert class_of("domain.idempotency:IdempotentRequest.Recorded") is IdempotentRequest.Recorded
    assert class_of("eventsourcing.domain:Snapshot").TOPIC == "Snapshot"
    for unknown in ("os:system", "domain.network:Network.Nope", "Network.Nope", "subprocess:run",
                    "domain.network:ApiToken.Issued"):  # 0.1.0 never stored that name
        with pytest.raises(UnknownTopicError):
            class_of(unknown)


def test_events_are_stored_under_stable_names_with_their_version(ipam: Ipam) -> None:
    ipam.app.create_network(context=RequestContext.new(actor="t"), network_id="n",
                            prefixes=["10.0.0.0/24"])
    stored = ipam.app.recorder.select_notifications(start=1, limit=100)

    assert {s.topic for s in stored} >= {"Network.NetworkCreated", "Network.PrefixAdded",
                                         "Namespace.Started", "Namespace.PrefixesClaimed"}
    for notification in stored:
        state = json.loads(notification.state)
        assert state["class_version"] == class_of(notification.topic).class_version == 2
        if "originator_topic" in state:  # a created event names its aggregate the same way
            assert ":" not in state["originator_topic"]


def _stored(ipam: Ipam, topic: str, state: dict[str, Any]) -> StoredEvent:
    return StoredEvent(originator_id=uuid4(), originator_version=1, topic=topic,
                       state=json.dumps(state).encode())


def test_an_event_stored_before_context_was_kept_is_upcast_with_an_empty_context(ipam: Ipam) -> None:
    """Version 1 (0.1.0, no version stored): the earliest events had no `context`."""
    old = _stored(ipam, "domain.namespace:Namespace.Started", {
        "timestamp": {"_type_": "datetime_iso", "_data_": "2026-01-01T00:00:00+00:00"},
        "originator_topic": "domain.namespace:Namespace", "name": "default"})
    event: Any = ipam.app.mapper.to_domain_event(old)

    assert isinstance(event, Namespace.Started)
    assert event.context == {}
    namespace: Any = event.mutate(None)
    assert namespace.name == "default"


def test_an_event_from_a_newer_release_is_refused_clearly(ipam: Ipam) -> None:
    newer = _stored(ipam, "Network.PrefixRemoved", {"class_version": 3, "prefix": "10.0.0.0/24"})

    with pytest.raises(UnknownTopicError, match="version 3 was written by a newer release"):
        ipam.app.mapper.to_domain_event(newer)


def _network_with_snapshot(url: str) -> tuple[dict[str, Any], list[str]]:
    ipam = open_ipam(url, snapshot_interval=4)
    try:
        ctx = RequestContext.new(actor="t")
        ipam.app.create_network(context=ctx, network_id="n", prefixes=["10.0.0.0/24", "2001:db8::/64"])
        addresses = [ipam.app.acquire_ip(context=ctx, network_id="n", project_id="p",
                                         name=f"ip{i}")["address"] for i in range(9)]
        ipam.app.release_ip(addresses[3], context=ctx)
        return ipam.app.get_network("n"), addresses
    finally:
        ipam.close()


def _snapshot_states(ipam: Ipam) -> list[dict[str, Any]]:
    table = ipam.app.snapshots.recorder.events_record_cls.__table__  # type: ignore[union-attr]
    with ipam.projection.engine.connect() as conn:
        return [json.loads(bytes(row.state)) | {"_topic": row.topic, "_version": row.originator_version}
                for row in conn.execute(select(table))]


def _edit_snapshots(ipam: Ipam, edit: Any) -> None:
    table = ipam.app.snapshots.recorder.events_record_cls.__table__  # type: ignore[union-attr]
    with ipam.projection.engine.begin() as conn:
        for row in conn.execute(select(table)).all():
            state = json.loads(bytes(row.state))
            topic = edit(state) or row.topic
            conn.execute(update(table).where(
                table.c.originator_id == row.originator_id,
                table.c.originator_version == row.originator_version,
            ).values(state=json.dumps(state).encode(), topic=topic))


def test_snapshots_name_their_aggregate_version_and_fields(sqlite_url: str) -> None:
    _network_with_snapshot(sqlite_url)
    ipam = open_ipam(sqlite_url)
    try:
        states = _snapshot_states(ipam)
    finally:
        ipam.close()

    assert states
    for state in states:
        assert (state["_topic"], state["topic"], state["state"]["class_version"]) == (
            "Snapshot", "Network", 1)
        facts = state["state"]["ips"]
        assert facts["_type_"] == "ipam_persistent_map_v2"
        assert facts["_data_"]["columns"] == ["allocation_uuid", "project_id", "type", "machine_scoped"]


@pytest.mark.parametrize("damage", ["newer_version", "unknown_field_shape", "unknown_aggregate"])
def test_a_snapshot_that_cannot_be_read_is_skipped_and_the_state_rebuilt(
    sqlite_url: str, damage: str, caplog: pytest.LogCaptureFixture,
) -> None:
    before, addresses = _network_with_snapshot(sqlite_url)

    def edit(state: dict[str, Any]) -> str | None:
        if damage == "newer_version":
            state["state"]["class_version"] = 99
        elif damage == "unknown_field_shape":
            state["state"]["ips"] = {"_type_": "ipam_persistent_map_v9", "_data_": []}
        else:
            state["topic"] = "Subnet"
        return None

    ipam = open_ipam(sqlite_url)
    try:
        _edit_snapshots(ipam, edit)
        with caplog.at_level(logging.WARNING, logger="infrastructure.topics"):
            network: Network = ipam.app.repository.get(network_uuid("n"))
        assert "not readable, rebuilding from its events" in caplog.text
        assert network.version == before["version"]
        assert sorted(network.ips) == sorted(a for i, a in enumerate(addresses) if i != 3)
        assert ipam.app.get_network("n")["consumption"] == before["consumption"]
        acquired = ipam.app.acquire_ip(context=RequestContext.new(actor="t"), network_id="n",
                                       project_id="p")
        assert acquired["address"] == addresses[3]  # the freed address, as the events say
    finally:
        ipam.close()


def test_a_snapshot_with_a_field_this_version_does_not_know_is_still_read(sqlite_url: str) -> None:
    _, addresses = _network_with_snapshot(sqlite_url)

    def widen(state: dict[str, Any]) -> None:
        table = state["state"]["ips"]["_data_"]
        table["columns"] = [*table["columns"], "added_later"]
        table["rows"] = [[*row, "x"] for row in table["rows"]]

    ipam = open_ipam(sqlite_url)
    try:
        _edit_snapshots(ipam, widen)
        network: Network = ipam.app.repository.get(network_uuid("n"))
        assert addresses[0] in network.ips and network.ips.get(addresses[0]).project_id == "p"  # type: ignore[union-attr]
    finally:
        ipam.close()
