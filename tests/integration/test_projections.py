"""Projection jobs (issue 3, item 4) on SQLite and PostgreSQL: rebuilding into the spare slot
gives the same tables, the live slot alternates, status reports lag, an interrupted rebuild
resumes without applying an event twice, and concurrent followers apply each event once.

These tests are about following the log, so the stores here do not apply projections in the
events' transaction (`infrastructure.inline`, tested in test_inline_projections.py): their
events wait in the log for `catch_up`, as a store written by an import or an older version does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select

from application.context import RequestContext
from application.ports import IPFilter
from application.service import IpamApplication
from domain.network import Network
from domain.network_values import NetworkAttributes
from infrastructure.chain import read_log
from infrastructure.following import Projector
from infrastructure.store import Ipam, open_ipam
from infrastructure.tables import chain_table, history_tables

PROJECT = "project-projections"
Rows = list[list[tuple[Any, ...]]]  # per table of a slot: its rows, sorted


def populate(app: IpamApplication) -> None:
    """A log with every kind of network event: children, acquisitions in both families,
    updates, releases, a freed child, a deleted and a recreated network."""
    ctx = RequestContext.new(actor="populate", reason="test data")
    app.create_network(
        context=ctx,
        network_id="super",
        prefixes=["10.0.0.0/16", "2001:db8::/48"],
        attributes=NetworkAttributes(partition_id="p1", private_super=True, default_child_prefix_length={"IPv4": 24, "IPv6": 64}),
    )
    children = [app.allocate_child_network(context=ctx, partition_id="p1", project_id=PROJECT,
                                           name=f"child-{n}")["network_id"] for n in range(3)]
    for n in range(12):
        app.acquire_ip(context=ctx, network_id=children[0], project_id=PROJECT, name=f"v4-{n}")
    for n in range(5):
        app.acquire_ip(context=ctx, network_id=children[0], project_id=PROJECT,
                       address_family="IPv6", name=f"v6-{n}")
    app.acquire_ip(context=ctx, network_id=children[1], project_id=PROJECT, specific_ip="10.0.1.77",
                   tags=["role=web"], machine_id="machine-1")
    app.update_ip("10.0.0.3", context=ctx, name="renamed", tags=["a=b"])
    app.release_ip("10.0.0.5", context=ctx)
    app.update_network("super", context=ctx, description="the partition's super")
    app.delete_network(children[2], context=ctx, only_child=True)
    app.create_network(
        context=ctx,
        network_id="plain",
        prefixes=["192.168.0.0/24"],
        attributes=NetworkAttributes(project_id=PROJECT),
    )
    app.delete_network("plain", context=ctx)
    app.create_network(
        context=ctx,
        network_id="plain",
        prefixes=["192.168.1.0/24"],
        attributes=NetworkAttributes(project_id=PROJECT),
    )
    app.acquire_ip(context=ctx, network_id="plain", project_id=PROJECT)


def acquire_some(app: IpamApplication, network_id: str, count: int) -> list[str]:
    ctx = RequestContext.new(actor="more")
    return [app.acquire_ip(context=ctx, network_id=network_id, project_id=PROJECT)["address"]
            for _ in range(count)]


def slot_rows(projector: Projector, slot: str) -> Rows:
    """Every row of every table of the projection's slot, sorted."""
    with projector.engine.connect() as conn:
        return [
            sorted((tuple(row) for row in conn.execute(select(table))), key=repr)
            for table in projector.projection.tables(slot)
        ]


def all_slots(ipam: Ipam) -> dict[str, Rows]:
    for projector in ipam.projectors.values():
        projector.catch_up()
    return {name: slot_rows(p, p.live_slot()) for name, p in ipam.projectors.items()}


def documents(app: IpamApplication) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every network and IP document the read side answers."""
    return app.list_networks(), app.list_ips()


def network_event_count(ipam: Ipam) -> int:
    return sum(isinstance(ipam.app.mapper.to_domain_event(n), Network.Event)
               for n in read_log(ipam.app.recorder))


def assert_exactly_once(ipam: Ipam, slot: str) -> None:
    """History holds one row per network event and the chain one row per event, for the slot."""
    head = ipam.projection.head()
    with ipam.projection.engine.connect() as conn:
        history = [r.position for r in conn.execute(select(history_tables(slot).events.c.position))]
        chain = [r.position for r in conn.execute(select(chain_table(slot).c.position))]
    assert len(history) == len(set(history)) == network_event_count(ipam)
    assert sorted(chain) == list(range(1, head + 1))


class Interrupted(Exception):
    """Raised by a progress callback to stop a rebuild part way."""


def interrupt_after_first_batch(position: int, head: int) -> None:
    if position > 0:
        raise Interrupted(position)


def recorder_of(seen: list[int]) -> Callable[[int, int], None]:
    """A progress callback that records the positions it is told."""
    return lambda position, head: seen.append(position)


@pytest.fixture
def stored_ipam(db_url: str) -> Iterator[Ipam]:
    """The IPAM on a real store, following the log instead of projecting inline."""
    opened = open_ipam(db_url, inline_projections=False)
    yield opened
    opened.close()


@pytest.fixture
def populated(ipam: Ipam) -> Ipam:
    populate(ipam.app)
    for projector in ipam.projectors.values():
        projector.batch_size = projector.rebuild_batch_size = 7  # several batches per rebuild
    return ipam


def test_rebuild_gives_identical_read_models_for_every_projection(populated: Ipam) -> None:
    before, docs_before = all_slots(populated), documents(populated.app)

    for projector in populated.projectors.values():
        assert projector.rebuild() == projector.head()

    assert all_slots(populated) == before
    assert documents(populated.app) == docs_before
    assert (len(docs_before[0]), len(docs_before[1])) == (4, 12 + 5 + 1 - 1 + 1)
    assert {p.live_slot() for p in populated.projectors.values()} == {"b"}


def test_rebuild_switches_live_slot_back_and_forth_when_repeated(populated: Ipam, db_url: str) -> None:
    reader = open_ipam(db_url)  # another process's view of the same store
    try:
        expected = documents(reader.app)
        for live in ("b", "a", "b"):
            populated.projection.rebuild()
            assert populated.projection.status().live == live
            assert reader.projection.live_slot() == live
            assert documents(reader.app) == expected
    finally:
        reader.close()


def test_status_shows_position_head_and_lag_as_events_arrive(ipam: Ipam) -> None:
    for status in (p.status() for p in ipam.projectors.values()):
        assert (status.live, status.position, status.head, status.lag) == ("a", 0, 0, 0)
        assert status.rebuilding is None and status.rebuild_position is None

    ipam.app.create_network(
        context=RequestContext.new(),
        network_id="n",
        prefixes=["10.9.0.0/24"],
        attributes=NetworkAttributes(project_id=PROJECT),
    )
    head = ipam.projection.head()
    assert head == ipam.app.recorder.max_notification_id() and head > 0
    for status in (p.status() for p in ipam.projectors.values()):
        assert (status.position, status.head, status.lag) == (0, head, head)

    ipam.projectors["history"].catch_up()
    acquire_some(ipam.app, "n", 3)
    history, chain = ipam.projectors["history"].status(), ipam.projectors["chain"].status()
    assert (history.position, history.head, history.lag) == (head, head + 3, 3)
    assert (chain.position, chain.lag) == (0, head + 3)


def test_status_shows_interrupted_rebuild_with_its_position(populated: Ipam) -> None:
    projector = populated.projection
    projector.catch_up()

    with pytest.raises(Interrupted):
        projector.rebuild(progress=interrupt_after_first_batch)

    status = projector.status()
    assert (status.live, status.rebuilding, status.rebuild_position) == ("a", "b", 7)
    assert (status.position, status.lag) == (status.head, 0)
    assert len(populated.app.list_ips()) == 18  # readers stay on the complete live slot


def test_rebuild_resumes_interrupted_rebuild_without_applying_an_event_twice(populated: Ipam) -> None:
    for projector in populated.projectors.values():
        with pytest.raises(Interrupted):
            projector.rebuild(progress=interrupt_after_first_batch)
    more = acquire_some(populated.app, "plain", 4)  # the log grows while the rebuild is stopped
    originals = all_slots(populated)

    for projector in populated.projectors.values():
        seen: list[int] = []
        applied = projector.rebuild(progress=recorder_of(seen))
        assert seen[0] == 7  # continued from the recorded rebuild position
        assert applied == projector.head() - 7
        assert projector.status().rebuilding is None

    assert all_slots(populated) == originals
    assert_exactly_once(populated, "b")
    assert set(more) <= {ip["address"] for ip in populated.app.list_ips()}


def test_rebuild_with_restart_starts_over_after_interruption(populated: Ipam) -> None:
    projector = populated.projectors["history"]
    originals = all_slots(populated)["history"]
    with pytest.raises(Interrupted):
        projector.rebuild(progress=interrupt_after_first_batch)

    seen: list[int] = []
    applied = projector.rebuild(restart=True, progress=recorder_of(seen))

    assert seen[0] == 0
    assert applied == projector.head()
    assert projector.status().live == "b"
    assert slot_rows(projector, "b") == originals
    with projector.engine.connect() as conn:
        positions = [r.position for r in conn.execute(select(history_tables("b").events.c.position))]
    assert len(positions) == len(set(positions)) == network_event_count(populated)


def test_rebuild_keeps_readers_on_old_slot_until_switch_while_writes_continue(
    populated: Ipam, db_url: str,
) -> None:
    rebuilder = open_ipam(db_url)  # the `ipam projections rebuild` process
    rebuilder.projection.rebuild_batch_size = 5
    written: list[str] = []
    counts: list[int] = []

    def serve_meanwhile(position: int, head: int) -> None:
        if position > 0 and len(written) < 3:
            written.extend(acquire_some(populated.app, "plain", 1))
            listed = {ip["address"] for ip in populated.app.list_ips()}
            assert set(written) <= listed
            assert populated.projection.live == "a"
            counts.append(len(listed))

    try:
        rebuilder.projection.rebuild(progress=serve_meanwhile)
    finally:
        rebuilder.close()

    assert counts == [19, 20, 21]
    listed = {ip["address"] for ip in populated.app.list_ips()}
    assert populated.projection.live == "b"
    assert set(written) <= listed and len(listed) == 21
    assert slot_rows(populated.projection, "b") == slot_rows(populated.projection, "a")


@pytest.fixture
def two_followers(db_url: str) -> Iterator[tuple[Ipam, Ipam]]:
    first, second = (open_ipam(db_url, inline_projections=False) for _ in range(2))
    for opened in (first, second):
        for projector in opened.projectors.values():
            projector.batch_size = 3
    yield first, second
    first.close()
    second.close()


def test_two_followers_apply_each_event_exactly_once_while_catching_up_concurrently(
    ipam: Ipam, two_followers: tuple[Ipam, Ipam],
) -> None:
    populate(ipam.app)
    start = {name: p.position() for name, p in ipam.projectors.items()}
    writing_done = threading.Event()
    barrier = threading.Barrier(3)
    applied: list[dict[str, int]] = [dict.fromkeys(start, 0) for _ in two_followers]
    errors: list[BaseException] = []

    def write() -> None:
        barrier.wait(timeout=30)
        try:
            acquire_some(ipam.app, "plain", 40)
        finally:
            writing_done.set()

    def follow(opened: Ipam, counts: dict[str, int]) -> None:
        barrier.wait(timeout=30)
        try:
            while True:
                last_round = writing_done.is_set()
                for name, projector in opened.projectors.items():
                    counts[name] += projector.catch_up()
                if last_round:
                    return
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=write)]
    threads += [threading.Thread(target=follow, args=(o, c)) for o, c in zip(two_followers, applied, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not errors, errors
    head = ipam.projection.head()
    for name, projector in ipam.projectors.items():
        assert applied[0][name] + applied[1][name] == head - start[name], name
        assert projector.position() == head
    assert_exactly_once(ipam, "a")
    assert len(ipam.app.list_ips(IPFilter(network_id="plain"))) == 41
