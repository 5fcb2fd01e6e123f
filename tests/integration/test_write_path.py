"""The write path of issue 14 on SQLite and PostgreSQL: commands trust the aggregate cache
and still never act on a stale network, the follower advances every projection in one
transaction per batch, projections applied in the events' transaction (`inline_projections`)
commit with them, and whichever path applies an event applies it exactly once: the tables equal
a rebuild from the log, and the audit finds the log and projections in agreement."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import select

from application.context import RequestContext
from application.ports import IPFilter
from domain.errors import NetworkNotFoundError
from domain.network import network_uuid
from infrastructure.audit import verify
from infrastructure.following import Projector
from infrastructure.store import Ipam, open_ipam
from tests.conftest import new_network
from tests.integration.test_projections import populate

PROJECT = "project-write-path"


def ctx() -> RequestContext:
    return RequestContext.new(actor="write-path")


def acquire(ipam: Ipam, network_id: str, count: int, **kwargs: Any) -> list[str]:
    return [ipam.app.acquire_ip(context=ctx(), network_id=network_id, project_id=PROJECT,
                                **kwargs)["address"] for _ in range(count)]


def churn(ipam: Ipam) -> None:
    """Commands that read no projection: networks, children, acquisitions in both families."""
    new_network(ipam.app, ctx(), network_id="super-w", prefixes=["10.40.0.0/16", "2001:db8:40::/48"],
                partition_id="pw", private_super=True,
                default_child_prefix_length={"IPv4": 24, "IPv6": 64})
    for _ in range(3):
        child = ipam.app.allocate_child_network(context=ctx(), partition_id="pw",
                                                project_id=PROJECT)["network_id"]
        acquire(ipam, child, 4)
        acquire(ipam, child, 2, address_family="IPv6")
    new_network(ipam.app, ctx(), network_id="plain-w", prefixes=["192.168.40.0/24"],
                project_id=PROJECT)
    acquire(ipam, "plain-w", 3)


def positions(ipam: Ipam) -> dict[str, int]:
    return {name: p.position(p.live_slot()) for name, p in ipam.projectors.items()}


def slot_rows(projector: Projector, slot: str) -> list[list[tuple[Any, ...]]]:
    with projector.engine.connect() as conn:
        return [sorted((tuple(row) for row in conn.execute(select(table))), key=repr)
                for table in projector.projection.tables(slot)]


def assert_equal_to_rebuild(ipam: Ipam) -> None:
    """Every projection's live slot holds exactly what a rebuild from the log gives, and the
    audit agrees (hash chain, read model and history against the log)."""
    for projector in ipam.projectors.values():
        before = projector.live_slot()
        projector.rebuild(restart=True)
        after = projector.live_slot()
        assert after != before
        assert slot_rows(projector, after) == slot_rows(projector, before), projector.name
    report = verify(ipam)
    assert report.ok, report


@pytest.fixture
def two(db_url: str) -> Iterator[tuple[Ipam, Ipam]]:
    """Two applications on one store, like two server processes: separate caches."""
    first, second = open_ipam(db_url), open_ipam(db_url)
    yield first, second
    first.close()
    second.close()


# -- the aggregate cache, trusted by acquisitions -------------------------------------------


def test_acquisition_on_a_stale_cached_network_retries_and_takes_the_next_free_address(
    two: tuple[Ipam, Ipam],
) -> None:
    first, second = two
    new_network(first.app, ctx(), network_id="n", prefixes=["10.30.0.0/24"], project_id=PROJECT)
    assert acquire(first, "n", 1) == ["10.30.0.1"]  # first's cache holds the network now
    assert acquire(second, "n", 3) == ["10.30.0.2", "10.30.0.3", "10.30.0.4"]

    # first's cached network says .2 is free; its save collides and it loads again
    assert acquire(first, "n", 2) == ["10.30.0.5", "10.30.0.6"]
    assert acquire(second, "n", 1) == ["10.30.0.7"]
    held = sorted(ip["address"] for ip in first.app.list_ips(IPFilter(network_id="n")))
    assert held == [f"10.30.0.{n}" for n in range(1, 8)]


def test_acquisition_on_a_network_another_process_deleted_is_not_found(
    two: tuple[Ipam, Ipam],
) -> None:
    first, second = two
    new_network(first.app, ctx(), network_id="gone", prefixes=["10.31.0.0/24"], project_id=PROJECT)
    acquire(first, "gone", 1)
    released = second.app.list_ips(IPFilter(network_id="gone"))[0]["address"]
    second.app.release_ip(released, context=ctx())
    second.app.delete_network("gone", context=ctx())
    with pytest.raises(NetworkNotFoundError):
        acquire(first, "gone", 1)


def test_the_cache_keeps_the_saved_network_so_the_next_command_reads_no_events(
    stored_ipam: Ipam,
) -> None:
    new_network(stored_ipam.app, ctx(), network_id="warm", prefixes=["10.32.0.0/24"],
                project_id=PROJECT)
    acquire(stored_ipam, "warm", 3)
    cached: Any = stored_ipam.app.repository.cache.get(network_uuid("warm"))  # type: ignore[union-attr]
    assert cached.version == stored_ipam.app.repository.get(network_uuid("warm")).version
    assert len(cached.ips) == 3

    # an acquisition trusts the cache: it reads no events before it saves
    recorder: Any = stored_ipam.app.recorder
    reads: list[Any] = []
    select_events = recorder.select_events

    def counted(*args: Any, **kwargs: Any) -> Any:
        reads.append(args)
        return select_events(*args, **kwargs)

    recorder.select_events = counted
    try:
        acquire(stored_ipam, "warm", 2)
        assert reads == []
        stored_ipam.app.repository.get(network_uuid("warm"))  # outside a command: it asks
        assert len(reads) == 1
    finally:
        recorder.select_events = select_events


def test_two_processes_racing_on_one_network_hand_out_each_address_once(
    two: tuple[Ipam, Ipam],
) -> None:
    first, second = two
    new_network(first.app, ctx(), network_id="race", prefixes=["10.33.0.0/22"],
                project_id=PROJECT)
    got: list[list[str]] = [[] for _ in range(4)]
    barrier = threading.Barrier(4)

    def run(index: int) -> None:
        barrier.wait(timeout=30)
        got[index] = acquire((first, second)[index % 2], "race", 40)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    addresses = [a for run_got in got for a in run_got]
    assert len(addresses) == len(set(addresses)) == 160
    first.catch_up()
    assert_equal_to_rebuild(first)


# -- the follower: every projection in one transaction per batch ---------------------------


def test_catch_up_moves_every_projection_together_to_the_head(stored_ipam: Ipam) -> None:
    ipam = stored_ipam
    churn(ipam)
    head = ipam.projection.head()
    assert set(positions(ipam).values()) == {0}  # nothing applied yet: the follower's work
    ipam.joint.batch_size = 7  # several batches
    ipam.catch_up()
    assert positions(ipam) == dict.fromkeys(ipam.projectors, head)
    assert ipam.joint.applied == 3 * head and ipam.joint.skipped == 0
    assert_equal_to_rebuild(ipam)


def test_catch_up_follows_each_projection_alone_when_their_positions_differ(
    stored_ipam: Ipam,
) -> None:
    ipam = stored_ipam
    populate(ipam.app)
    ipam.app.list_ips()  # a read catches up the read model alone
    assert len(set(positions(ipam).values())) == 2
    ipam.catch_up()
    assert set(positions(ipam).values()) == {ipam.projection.head()}
    acquire(ipam, "plain", 2)
    ipam.catch_up()  # together again
    assert set(positions(ipam).values()) == {ipam.projection.head()}
    assert ipam.joint.applied > 0
    assert_equal_to_rebuild(ipam)


def test_joint_and_single_followers_in_two_processes_apply_each_event_once(
    two: tuple[Ipam, Ipam],
) -> None:
    first, second = two
    populate(first.app)
    done = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            acquire(first, "plain", 60)
        finally:
            done.set()

    def follow(opened: Ipam, joint: bool) -> None:
        try:
            while True:
                last = done.is_set()
                if joint:
                    opened.catch_up()
                else:
                    for projector in opened.projectors.values():
                        projector.catch_up()
                if last:
                    return
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=write), threading.Thread(target=follow, args=(first, True)),
               threading.Thread(target=follow, args=(second, False))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    first.catch_up()
    assert set(positions(first).values()) == {first.projection.head()}
    assert_equal_to_rebuild(first)


# -- projections in the events' transaction -------------------------------------------------


@pytest.fixture
def inline(db_url: str) -> Iterator[Ipam]:
    opened = open_ipam(db_url, inline_projections=True)
    yield opened
    opened.close()


def test_inline_projections_commit_with_the_events(inline: Ipam) -> None:
    churn(inline)
    populate(inline.app)  # reads too: releases and updates look the address up
    head = inline.projection.head()
    assert positions(inline) == dict.fromkeys(inline.projectors, head)  # no catch-up ran
    assert inline.joint.applied == 3 * head and inline.joint.skipped == 0
    assert_equal_to_rebuild(inline)


def test_inline_projections_leave_a_projection_that_is_behind_to_catch_up(
    inline: Ipam, db_url: str,
) -> None:
    """Events another process recorded without projecting them (an older version, an
    import) stay before this process's: its commands leave the projections to catch-up,
    which applies both in log order."""
    populate(inline.app)
    older = open_ipam(db_url, inline_projections=False)
    try:
        acquire(older, "plain", 3)
    finally:
        older.close()
    behind = positions(inline)
    acquire(inline, "plain", 2)
    assert positions(inline) == behind and inline.joint.skipped >= 1
    inline.catch_up()
    assert set(positions(inline).values()) == {inline.projection.head()}
    acquire(inline, "plain", 2)  # in step again: inline
    assert set(positions(inline).values()) == {inline.projection.head()}
    assert_equal_to_rebuild(inline)


def test_inline_projections_roll_back_with_a_save_that_lost_a_race(db_url: str) -> None:
    first = open_ipam(db_url, inline_projections=True)
    second = open_ipam(db_url, inline_projections=True)
    try:
        new_network(first.app, ctx(), network_id="n", prefixes=["10.34.0.0/22"],
                    project_id=PROJECT)
        acquire(first, "n", 1)
        acquire(second, "n", 1)
        got = acquire(first, "n", 1)  # stale cache: the first save rolls back, then succeeds
        assert got == ["10.34.0.3"]
        assert set(positions(first).values()) == {first.projection.head()}
        documents = first.app.list_ips(IPFilter(network_id="n"))
        assert sorted(d["address"] for d in documents) == ["10.34.0.1", "10.34.0.2", "10.34.0.3"]
        assert_equal_to_rebuild(first)
    finally:
        first.close()
        second.close()


def test_catch_up_step_applies_at_most_its_limit_so_the_follower_never_holds_writes_long(
    stored_ipam: Ipam,
) -> None:
    ipam = stored_ipam
    churn(ipam)
    head = ipam.projection.head()
    steps = 0
    while applied := ipam.catch_up_step(5):
        steps += 1
        assert applied == min(5, head - 5 * (steps - 1))
        reached = set(positions(ipam).values())
        assert len(reached) == 1 and reached.pop() == min(head, 5 * steps)
    assert steps == -(-head // 5)
    assert set(positions(ipam).values()) == {head}


# -- where write routes run -----------------------------------------------------------------


@pytest.mark.parametrize("writer_threads", [0, 4])
def test_write_routes_run_on_the_writers_and_hand_out_each_address_once(
    db_url: str, writer_threads: int,
) -> None:
    """SQLite always writes on the server's event loop; PostgreSQL on a pool of writer
    threads, or on the loop with IPAM_WRITER_THREADS=0. Either way concurrent clients get
    distinct addresses and reads see them."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from tests.conftest import admin_headers

    ipam = open_ipam(db_url, writer_threads=writer_threads)
    ran_on: set[str] = set()
    acquire_ip = ipam.app.acquire_ip

    def spied(*args: Any, **kwargs: Any) -> Any:
        ran_on.add(threading.current_thread().name)
        return acquire_ip(*args, **kwargs)

    ipam.app.acquire_ip = spied  # type: ignore[method-assign]
    try:
        new_network(ipam.app, ctx(), network_id="http", prefixes=["10.35.0.0/24"],
                    project_id=PROJECT)
        with TestClient(create_app(ipam, follow=True), headers=admin_headers(ipam)) as http:
            def allocate(_: int) -> str:
                answer = http.post("/v1/ip/allocate", json={"networkid": "http",
                                                            "projectid": PROJECT})
                assert answer.status_code == 201, answer.text
                return str(answer.json()["ipaddress"])

            with ThreadPoolExecutor(4) as clients:
                addresses = list(clients.map(allocate, range(40)))
            listed = http.post("/v1/ip/find", json={"networkid": "http"}).json()
        assert len(set(addresses)) == 40
        assert {ip["ipaddress"] for ip in listed} == set(addresses)
        on_loop = db_url.startswith("sqlite") or writer_threads == 0
        if on_loop:  # one thread wrote: the loop's
            assert len(ran_on) == 1 and not ran_on.pop().startswith("ipam-writer")
        else:
            assert ran_on and all(name.startswith("ipam-writer") for name in ran_on)
    finally:
        ipam.close()


def test_close_stops_a_follower_waiting_on_a_loop_that_no_longer_runs(sqlite_url: str) -> None:
    """A server's loop shutting down runs no more calls; the follower waiting on one it had
    handed over must still stop when the store closes, not hang the shutdown."""
    import asyncio

    from infrastructure.loop import LoopExecutor

    ipam = open_ipam(sqlite_url)
    idle = asyncio.new_event_loop()  # never run: what it is handed never happens
    try:
        ipam.write_loop = LoopExecutor(idle)
        new_network(ipam.app, ctx(), network_id="n", prefixes=["10.36.0.0/24"], project_id=PROJECT)
        handed = threading.Event()
        submit = ipam.write_loop.submit

        def watched(*args: Any, **kwargs: Any) -> Any:
            handed.set()
            return submit(*args, **kwargs)

        ipam.write_loop.submit = watched  # type: ignore[method-assign]
        ipam.start_follower(interval=0.01, gather=0)
        assert handed.wait(timeout=10)
        follower = ipam._follower
        assert follower is not None
        ipam.close()
        assert not follower.is_alive()
    finally:
        idle.close()


def test_a_server_stores_snapshots_off_the_writing_thread(sqlite_url: str) -> None:
    ipam = open_ipam(sqlite_url, snapshot_interval=10)
    pool = ThreadPoolExecutor(1, thread_name_prefix="ipam-snapshots")
    ran_on: set[str] = set()
    store_snapshot = ipam.app._store_snapshot

    def spied(snapshot: Any) -> None:
        ran_on.add(threading.current_thread().name)
        store_snapshot(snapshot)

    try:
        ipam.app.snapshot_writer = pool
        ipam.app._store_snapshot = spied  # type: ignore[method-assign]
        new_network(ipam.app, ctx(), network_id="n", prefixes=["10.37.0.0/24"], project_id=PROJECT)
        acquire(ipam, "n", 25)
        pool.shutdown(wait=True)
        assert ran_on == {"ipam-snapshots_0"}
        (newest,) = ipam.app.snapshots.get(network_uuid("n"), desc=True, limit=1)  # type: ignore[union-attr]
        version: int = ipam.app.repository.get(network_uuid("n")).version
        assert newest.originator_version == version - version % 10 > 0
    finally:
        ipam.close()
    reopened = open_ipam(sqlite_url)  # a cold start: from that snapshot and the events after
    try:
        assert len(reopened.app.repository.get(network_uuid("n")).ips) == 25
    finally:
        reopened.close()


def test_one_follower_at_a_time_applies_a_batch_on_postgresql(stored_ipam: Ipam) -> None:
    from sqlalchemy import text

    from infrastructure.inline import FOLLOWER_LOCK_KEY

    ipam = stored_ipam
    if ipam.projection.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time anyway")
    churn(ipam)
    head = ipam.projection.head()
    with ipam.projection.engine.connect() as other:  # another process's follower, mid-batch
        other.execute(text("SELECT pg_advisory_lock(:key)"), {"key": FOLLOWER_LOCK_KEY})
        assert ipam.joint.step() == 0
        assert set(positions(ipam).values()) == {0}
        other.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": FOLLOWER_LOCK_KEY})
    ipam.catch_up()
    assert set(positions(ipam).values()) == {head}
