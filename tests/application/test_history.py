"""Auditing through the application (`ipam.audit`): who and why, history pages, and networks and
IPs as they were at a past version or time."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import MetaData, Table, select, update

from application.context import RequestContext
from application.ports import HistoryQuery
from application.service import IpamApplication
from domain.errors import InvalidRequestError, IPNotFoundError, NetworkNotFoundError
from domain.network_values import NetworkAttributes
from infrastructure.store import Ipam

SUPER, PARTITION, PROJECT = "super", "mini-lab", "project"
US = timedelta(microseconds=1)
EVERYTHING = HistoryQuery(limit=1000)


def make_super(app: IpamApplication, ctx: RequestContext) -> dict[str, Any]:
    return app.create_network(
        context=ctx,
        network_id=SUPER,
        prefixes=["10.0.0.0/16", "2001:db8:0:10::/64"],
        attributes=NetworkAttributes(partition_id=PARTITION, private_super=True, default_child_prefix_length={"IPv4": 22, "IPv6": 96}),
    )


def allocate(app: IpamApplication, ctx: RequestContext) -> str:
    child = app.allocate_child_network(context=ctx, partition_id=PARTITION, project_id=PROJECT)
    return str(child["network_id"])


def acquire(app: IpamApplication, ctx: RequestContext, network_id: str, **kwargs: Any) -> dict[str, Any]:
    return app.acquire_ip(context=ctx, network_id=network_id, project_id=PROJECT, **kwargs)


def when(record: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(record["time"])


def who(records: list[dict[str, Any]]) -> list[tuple[str, str, str, str | None]]:
    return [(r["type"], r["actor"], r["request_id"], r["reason"]) for r in records]


def test_every_change_records_the_context_it_was_made_in(ipam: Ipam) -> None:
    app = ipam.app
    make_super(app, RequestContext("alice", "r-1", "new partition"))
    child = allocate(app, RequestContext("bob", "r-2", None))
    acquire(app, RequestContext("carol", "r-3", "ticket 7"), child)
    app.release_ip("10.0.0.1", context=RequestContext("dave", "r-4", "decommissioned"))
    assert who(ipam.audit.network_history(SUPER, EVERYTHING).events) == [
        ("NetworkCreated", "alice", "r-1", "new partition"),
        ("PrefixAdded", "alice", "r-1", "new partition"), ("PrefixAdded", "alice", "r-1", "new partition"),
        ("ChildNetworkAllocated", "bob", "r-2", None),
    ]
    assert who(ipam.audit.network_history(child, EVERYTHING).events)[3:] == [
        ("IPAcquired", "carol", "r-3", "ticket 7"), ("IPReleased", "dave", "r-4", "decommissioned"),
    ]


def test_events_recorded_without_context_read_with_defaults(
    stored_ipam: Ipam, ctx: RequestContext,
) -> None:
    """An event as the earliest 0.1.0 stored it: no version, no context."""
    ipam = stored_ipam
    ipam.app.create_network(context=ctx, network_id="n", prefixes=["10.1.0.0/24"])
    acquire(ipam.app, ctx, "n")
    stored = Table(ipam.app.recorder.events_table_name, MetaData(),  # type: ignore[attr-defined]
                   autoload_with=ipam.history.engine)
    with ipam.history.engine.begin() as conn:  # as an event stored before contexts existed
        acquired = stored.c.topic.like("%IPAcquired")
        row = conn.execute(select(stored.c.id, stored.c.state).where(acquired)).one()
        state = json.loads(bytes(row.state))
        del state["context"]
        del state["class_version"]
        conn.execute(update(stored).where(stored.c.id == row.id).values(state=json.dumps(state).encode()))
    ipam.projectors["history"].rebuild()
    records = ipam.audit.ip_history("10.1.0.1", EVERYTHING).events
    assert who(records) == [("IPAcquired", "anonymous", "", None)]
    assert "context" not in records[0]["facts"]
    assert ipam.audit.get_network_at("n", at=when(records[0]))["consumption"]["ipv4"]["used_ips"] == 3


@pytest.fixture
def filled(ipam: Ipam, ctx: RequestContext) -> Ipam:
    """A plain network with eight acquisitions: ten events."""
    ipam.app.create_network(context=ctx, network_id="n", prefixes=["10.1.0.0/24"])
    for _ in range(8):
        acquire(ipam.app, ctx, "n")
    return ipam


def test_network_history_raises_not_found_for_unknown_network(filled: Ipam) -> None:
    with pytest.raises(NetworkNotFoundError):
        filled.audit.network_history("nope", EVERYTHING)


def test_history_pages_follow_the_cursor_in_both_orders(filled: Ipam) -> None:
    audit = filled.audit
    every = audit.network_history("n", EVERYTHING).events
    assert len(every) == 10 and audit.network_history("n", EVERYTHING).next_cursor is None
    for ascending, expected in ((True, every), (False, every[::-1])):
        walked: list[dict[str, Any]] = []
        cursor: int | None = None
        while True:
            page = audit.network_history("n", HistoryQuery(limit=4, ascending=ascending, cursor=cursor))
            walked += page.events
            if page.next_cursor is None:
                break
            assert page.next_cursor == page.events[-1]["position"]
            cursor = page.next_cursor
        assert walked == expected
    window = HistoryQuery(since=when(every[2]), until=when(every[4]), types=("IPAcquired",))
    assert audit.network_history("n", window).events == every[2:5]
    assert audit.network_history("n", HistoryQuery(until=when(every[0]) - US)).events == []


def test_ip_history_spans_networks_and_lives(ipam: Ipam, ctx: RequestContext) -> None:
    app = ipam.app
    make_super(app, ctx)
    first = allocate(app, ctx)
    acquire(app, ctx, first, address_family="IPv6")
    app.release_ip("2001:db8:0:10::1", context=ctx)
    app.delete_network(first, context=ctx, only_child=True)
    second = allocate(app, ctx)
    acquire(app, ctx, second, address_family="IPv6")
    records = ipam.audit.ip_history("2001:DB8:0:10::1", EVERYTHING).events
    assert [(r["type"], r["network"]) for r in records] == [
        ("IPAcquired", first), ("IPReleased", first), ("IPAcquired", second)]
    assert ipam.audit.ip_history("2001:db8:0:10::2", EVERYTHING).events == []
    with pytest.raises(InvalidRequestError):
        ipam.audit.ip_history("2001:db8::g", EVERYTHING)


def test_prefix_history_holds_events_inside_the_cidr(ipam: Ipam, ctx: RequestContext) -> None:
    app = ipam.app
    make_super(app, ctx)
    inside, beside = allocate(app, ctx), allocate(app, ctx)
    acquire(app, ctx, beside)
    acquire(app, ctx, inside, specific_ip="10.0.1.7")
    records = ipam.audit.prefix_history("10.0.0.0/23", EVERYTHING).events
    assert [(r["type"], r["network"]) for r in records] == [
        ("PrefixAdded", SUPER), ("ChildNetworkAllocated", SUPER), ("PrefixAdded", inside),
        ("IPAcquired", inside)]
    assert records[-1]["facts"]["address"] == "10.0.1.7"
    address = ipam.audit.prefix_history("10.0.1.7/32", EVERYTHING).events
    assert [r["type"] for r in address][-1] == "IPAcquired"
    assert ipam.audit.prefix_history("10.1.0.0/16", EVERYTHING).events == []
    with pytest.raises(InvalidRequestError):
        ipam.audit.prefix_history("10.0.0.1/23", EVERYTHING)


def test_get_network_at_refuses_ambiguous_or_impossible_moments(filled: Ipam) -> None:
    audit = filled.audit
    created = audit.network_history("n", HistoryQuery(limit=1)).events[0]
    refused: list[tuple[type[Exception], dict[str, Any]]] = [
        (InvalidRequestError, {}), (InvalidRequestError, {"at": when(created), "version": 1}),
        (InvalidRequestError, {"version": 0}), (NetworkNotFoundError, {"version": 11}),
        (NetworkNotFoundError, {"at": when(created) - US}),  # before its creation
    ]
    for error, kwargs in refused:
        with pytest.raises(error):
            audit.get_network_at("n", **kwargs)
    with pytest.raises(NetworkNotFoundError):
        audit.get_network_at("nope", version=1)


def test_get_network_at_answers_every_version_as_it_was(filled: Ipam, ctx: RequestContext) -> None:
    ipam, audit = filled, filled.audit
    now = ipam.app.get_network("n")
    assert audit.get_network_at("n", version=10) == now == audit.get_network_at("n", at=now["changed"])
    for version in range(2, 11):
        state = audit.get_network_at("n", version=version)
        assert state["version"] == version
        assert int(state["capacity"]["ipv4"]["acquired_ips"]) == version - 2
    for n in range(1, 9):
        ipam.app.release_ip(f"10.1.0.{n}", context=ctx)
    ipam.app.delete_network("n", context=ctx)
    with pytest.raises(NetworkNotFoundError):
        audit.get_network_at("n", version=19)  # deleted then
    assert audit.get_network_at("n", version=18)["capacity"]["ipv4"]["acquired_ips"] == "0"
    assert audit.get_network_at("n", version=10) == now


def test_list_networks_at_answers_networks_that_existed_then(ipam: Ipam, ctx: RequestContext) -> None:
    app = ipam.app
    early = app.create_network(context=ctx, network_id="early", prefixes=["10.1.0.0/24"])
    kept = app.create_network(context=ctx, network_id="kept", prefixes=["10.2.0.0/24"])
    app.delete_network("early", context=ctx)
    late = app.create_network(context=ctx, network_id="late", prefixes=["10.3.0.0/24"])
    assert ipam.audit.list_networks_at(kept["changed"]) == [early, kept]
    assert ipam.audit.list_networks_at(early["created"] - US) == []
    assert ipam.audit.list_networks_at(late["changed"]) == [kept, late] == app.list_networks()


def test_get_ip_at_answers_each_holder_in_turn(ipam: Ipam, ctx: RequestContext) -> None:
    app = ipam.app
    make_super(app, ctx)
    first = allocate(app, ctx)
    held = acquire(app, ctx, first, tags=["b=2", "a=1"])
    released = app.release_ip("10.0.0.1", context=ctx)
    app.delete_network(first, context=ctx, only_child=True)
    again = acquire(app, ctx, allocate(app, ctx))
    assert released == held
    assert ipam.audit.get_ip_at("10.0.0.1", held["created"]) == held
    gone = ipam.audit.ip_history("10.0.0.1", HistoryQuery(types=("IPReleased",))).events[0]
    with pytest.raises(IPNotFoundError):
        ipam.audit.get_ip_at("10.0.0.1", when(gone))
    assert ipam.audit.get_ip_at("10.0.0.1", again["created"]) == again == app.get_ip("10.0.0.1")
    assert again["allocation_uuid"] != held["allocation_uuid"]
    with pytest.raises(InvalidRequestError):
        ipam.audit.get_ip_at("10.0.0.300", again["created"])
