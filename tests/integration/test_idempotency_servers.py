"""`Idempotency-Key` against real `ipam serve` processes, on a SQLite file and PostgreSQL: many
threads sending one key at once, a retry after the server restarted, and retries sent to
another server process on the same store. Each key makes exactly one change, and every
answer to it is the first one."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from eventsourcing.utils import get_topic

from domain.network import Network
from infrastructure.store import open_ipam
from tests.conftest import SEED_PROJECT, SEED_SUPER
from tests.live import Live, ipam_serve

THREADS = 16
Answer = tuple[int, Any]


def setup_child(live: Live) -> str:
    """The seed's super network and one child of it; the child's id."""
    created = httpx.put(f"{live.url}/v1/network", json=SEED_SUPER, headers=live.headers)
    assert created.status_code == 201, created.text
    child = httpx.post(f"{live.url}/v1/network/allocate", headers=live.headers,
                       json={"partitionid": "mini-lab", "projectid": SEED_PROJECT})
    assert child.status_code == 201, child.text
    return str(child.json()["id"])


def send(url: str, path: str, body: dict[str, Any], headers: dict[str, str],
         key: str) -> Answer:
    response = httpx.post(f"{url}{path}", json=body, timeout=60,
                          headers={**headers, "Idempotency-Key": key})
    return response.status_code, response.json()


def together(calls: list[Callable[[], Answer]]) -> list[Answer]:
    """Run the calls on as many threads, released at once."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], Answer]) -> Answer:
        barrier.wait(timeout=60)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def logged(database_url: str, event_class: type) -> list[Any]:
    """The events of this class in the store's log."""
    opened = open_ipam(database_url)
    try:
        app = opened.app
        notifications = app.recorder.select_notifications(
            start=1, limit=1_000_000, topics=[get_topic(event_class)])
        return [app.mapper.to_domain_event(n) for n in notifications]
    finally:
        opened.close()


def addresses(database_url: str) -> list[str]:
    """The acquired addresses the read model shows."""
    opened = open_ipam(database_url)
    try:
        return sorted(ip["address"] for ip in opened.app.list_ips())
    finally:
        opened.close()


@pytest.fixture
def live(db_url: str, tmp_path: Path) -> Iterator[Live]:
    with ipam_serve(db_url, tmp_path) as running:
        yield running


# -- one server, many threads -----------------------------------------------------------------


def test_same_key_from_many_threads_acquires_one_ip(live: Live, db_url: str) -> None:
    child = setup_child(live)
    body = {"networkid": child, "projectid": SEED_PROJECT, "name": "raced"}
    answers = together(
        [partial(send, live.url, "/v1/ip/allocate", body, live.headers, "race-ip")] * THREADS)
    assert {status for status, _ in answers} == {201}, answers
    assert all(answer == answers[0][1] for _, answer in answers)
    assert answers[0][1]["ipaddress"] == "10.0.0.1"
    assert len(logged(db_url, Network.IPAcquired)) == 1
    assert addresses(db_url) == ["10.0.0.1"]


def test_same_key_from_many_threads_allocates_one_child(live: Live, db_url: str) -> None:
    setup_child(live)
    body = {"partitionid": "mini-lab", "projectid": SEED_PROJECT, "name": "raced"}
    answers = together(
        [partial(send, live.url, "/v1/network/allocate", body, live.headers, "race-child")]
        * THREADS)
    assert {status for status, _ in answers} == {201}, answers
    assert all(answer == answers[0][1] for _, answer in answers)
    allocated = logged(db_url, Network.ChildNetworkAllocated)
    assert len(allocated) == 2  # the setup's child and the raced one
    assert allocated[1].child_id == answers[0][1]["id"]


def test_few_keys_from_many_threads_acquire_one_ip_each(live: Live, db_url: str) -> None:
    child = setup_child(live)
    body = {"networkid": child, "projectid": SEED_PROJECT}
    keys = [f"key-{i % 4}" for i in range(THREADS)]
    answers = together(
        [partial(send, live.url, "/v1/ip/allocate", body, live.headers, key) for key in keys])
    assert {status for status, _ in answers} == {201}, answers
    by_key: dict[str, list[Any]] = {}
    for key, (_, answer) in zip(keys, answers, strict=True):
        by_key.setdefault(key, []).append(answer)
    for same in by_key.values():
        assert all(answer == same[0] for answer in same)
    handed_out = sorted(same[0]["ipaddress"] for same in by_key.values())
    assert handed_out == ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]
    assert len(logged(db_url, Network.IPAcquired)) == 4
    assert addresses(db_url) == handed_out


# -- restarts and other processes -------------------------------------------------------------


def test_same_key_after_restart_returns_first_result(db_url: str, tmp_path: Path) -> None:
    with ipam_serve(db_url, tmp_path) as first:
        child = setup_child(first)
        body = {"networkid": child, "projectid": SEED_PROJECT, "name": "before"}
        before = send(first.url, "/v1/ip/allocate", body, first.headers, "restart")
        allocated = send(first.url, "/v1/network/allocate", {"partitionid": "mini-lab",
                     "projectid": SEED_PROJECT}, first.headers, "restart-child")
    with ipam_serve(db_url, tmp_path) as second:
        after = send(second.url, "/v1/ip/allocate", body, first.headers, "restart")
        again = send(second.url, "/v1/network/allocate", {"partitionid": "mini-lab",
                     "projectid": SEED_PROJECT}, first.headers, "restart-child")
        other = send(second.url, "/v1/ip/allocate", {**body, "name": "after"}, first.headers,
                     "restart")
    assert before[0] == 201, before
    assert after == before
    assert allocated[0] == 201 and again == allocated
    assert other[0] == 422, other
    assert len(logged(db_url, Network.IPAcquired)) == 1
    assert len(logged(db_url, Network.ChildNetworkAllocated)) == 2
    assert addresses(db_url) == ["10.0.0.1"]


def test_same_key_on_another_server_process_returns_first_result(
    db_url: str, tmp_path: Path,
) -> None:
    with ipam_serve(db_url, tmp_path) as one, ipam_serve(db_url, tmp_path) as two:
        child = setup_child(one)
        body = {"networkid": child, "projectid": SEED_PROJECT}
        first = send(one.url, "/v1/ip/allocate", body, one.headers, "across")
        second = send(two.url, "/v1/ip/allocate", body, one.headers, "across")
        third = send(one.url, "/v1/ip/allocate", body, one.headers, "across")
    assert first[0] == 201, first
    assert second == first
    assert third == first
    assert len(logged(db_url, Network.IPAcquired)) == 1
    assert addresses(db_url) == [first[1]["ipaddress"]]


@pytest.mark.parametrize("servers", [2, 3])
def test_same_key_from_many_threads_on_several_processes_acquires_one_ip(
    db_url: str, tmp_path: Path, servers: int,
) -> None:
    with ExitStack() as stack:
        lives = [stack.enter_context(ipam_serve(db_url, tmp_path)) for _ in range(servers)]
        headers = lives[0].headers
        child = setup_child(lives[0])
        body = {"networkid": child, "projectid": SEED_PROJECT}
        answers = together([
            partial(send, lives[i % servers].url, "/v1/ip/allocate", body, headers, "across-race")
            for i in range(THREADS)
        ])
    assert {status for status, _ in answers} == {201}, answers
    assert all(answer == answers[0][1] for _, answer in answers)
    assert len(logged(db_url, Network.IPAcquired)) == 1
    assert addresses(db_url) == [answers[0][1]["ipaddress"]]


def test_same_key_from_many_threads_on_two_processes_allocates_one_child(
    db_url: str, tmp_path: Path,
) -> None:
    with ipam_serve(db_url, tmp_path) as one, ipam_serve(db_url, tmp_path) as two:
        setup_child(one)
        body = {"partitionid": "mini-lab", "projectid": SEED_PROJECT}
        answers = together([
            partial(send, (one, two)[i % 2].url, "/v1/network/allocate", body, one.headers,
                    "across-child")
            for i in range(THREADS)
        ])
    assert {status for status, _ in answers} == {201}, answers
    assert all(answer == answers[0][1] for _, answer in answers)
    assert len(logged(db_url, Network.ChildNetworkAllocated)) == 2

