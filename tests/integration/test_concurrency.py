"""Real concurrency: many threads on one SQLite-backed process, several server processes on
PostgreSQL. Whatever the interleaving, no address or prefix is handed out twice, every success
is exactly one event in the log, and the read model shows exactly what the log holds."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from eventsourcing.utils import get_topic

from application.context import RequestContext
from application.ports import IPFilter, NetworkFilter
from application.service import IpamApplication
from application.views import ip_document
from domain.errors import ConflictError, ExhaustedError
from domain.network import Network, network_uuid
from infrastructure.store import open_ipam
from tests.conftest import new_network, reset_postgres
from tests.live import admin_token, bearer, free_port, stop

PROJECT = "project-concurrency"
BIN = Path(sys.executable).parent  # the test run's own environment
ROOT = Path(__file__).resolve().parents[2]
Outcome = tuple[str, Any]  # ("ok", document) or ("conflict", ConflictError or ExhaustedError)


@pytest.fixture
def sqlite_app(sqlite_url: str) -> Iterator[IpamApplication]:
    opened = open_ipam(sqlite_url)
    yield opened.app
    opened.close()


def race(calls: list[Callable[[], Any]], threads: int) -> list[Outcome]:
    """Run the calls on `threads` threads started together; other errors fail the test."""
    barrier = threading.Barrier(threads)

    def start() -> None:
        barrier.wait(timeout=30)

    def run(call: Callable[[], Any]) -> Outcome:
        try:
            return ("ok", call())
        except (ConflictError, ExhaustedError) as error:  # 409 and 422: the state said no
            return ("conflict", error)

    with ThreadPoolExecutor(max_workers=threads, initializer=start) as pool:
        return list(pool.map(run, calls))


def events_of(app: IpamApplication, event_class: type, network_id: str) -> list[Any]:
    """The network's events of this class, in log order, read from the notification log."""
    notifications = app.recorder.select_notifications(
        start=1, limit=1_000_000, topics=[get_topic(event_class)]
    )
    events = [app.mapper.to_domain_event(n) for n in notifications]
    return [e for e in events if e.originator_id == network_uuid(network_id)]


def create(app: IpamApplication, network_id: str, prefixes: list[str], **extra: Any) -> None:
    new_network(app, RequestContext.new(actor="test"), network_id=network_id,
                prefixes=prefixes, name=network_id, project_id=PROJECT, **extra)


def acquire(app: IpamApplication, network_id: str, **kwargs: Any) -> Callable[[], Any]:
    return lambda: app.acquire_ip(context=RequestContext.new(actor="racer"),
                                  network_id=network_id, project_id=PROJECT, **kwargs)


def allocate_child(app: IpamApplication, partition: str) -> Callable[[], Any]:
    return lambda: app.allocate_child_network(context=RequestContext.new(actor="racer"),
                                              partition_id=partition, project_id=PROJECT)


def assert_disjoint(prefixes: list[str]) -> None:
    parsed = sorted((ipaddress.ip_network(p) for p in prefixes), key=lambda n: (n.version, n))
    for left, right in zip(parsed, parsed[1:], strict=False):
        assert not left.overlaps(right), f"{left} overlaps {right}"


def test_acquire_ip_hands_out_each_address_once_under_threads(sqlite_app: IpamApplication) -> None:
    app = sqlite_app
    create(app, "dual", ["10.1.0.0/22", "2001:db8:1::/64"])
    v4_specific = [f"10.1.3.{n}" for n in range(1, 21)]
    v6_specific = [f"2001:db8:1::ff:{n}" for n in range(1, 11)]
    calls = [acquire(app, "dual", address_family="IPv4") for _ in range(160)]
    calls += [acquire(app, "dual", address_family="IPv6") for _ in range(120)]
    calls += [acquire(app, "dual", specific_ip=a) for a in v4_specific + v6_specific for _ in range(4)]
    calls = [calls[(i * 7) % len(calls)] for i in range(len(calls))]  # interleave the kinds
    assert len(calls) == 400

    outcomes = race(calls, threads=12)

    won = [doc for kind, doc in outcomes if kind == "ok"]
    lost = [error for kind, error in outcomes if kind == "conflict"]
    addresses = [doc["address"] for doc in won]
    assert len(addresses) == len(set(addresses)) == 160 + 120 + 30
    assert {str(e) for e in lost} == {f'Conflict ip already allocated: {a} in network with id "dual"'
                                      for a in v4_specific + v6_specific} and len(lost) == 90
    assert set(v4_specific + v6_specific) <= set(addresses)
    # with no frees, the lowest-free rule yields a contiguous run from the first host
    assert {a for a in addresses if a.startswith("10.1.0.")} == {f"10.1.0.{n}" for n in range(1, 161)}
    assert {a for a in addresses if a.startswith("2001:db8:1::") and "ff:" not in a} == {
        f"2001:db8:1::{n:x}" for n in range(1, 121)
    }

    acquired = events_of(app, Network.IPAcquired, "dual")
    rows = {doc["address"]: doc for doc in app.list_ips(IPFilter(network_id="dual"))}
    assert len(acquired) == len(won) == len(rows)
    for event in acquired:
        assert rows[event.address] == ip_document(event, "dual")
    for doc in won:
        assert rows[doc["address"]] == doc
    assert set(app.repository.get(network_uuid("dual")).ips) == set(rows)


def test_acquire_ip_hands_out_each_address_once_from_two_applications_on_one_file(
    sqlite_url: str,
) -> None:
    """Two applications on one SQLite file have separate caches and locks, like two
    processes: their saves collide and are retried, and still no address is handed out twice."""
    first, second = open_ipam(sqlite_url), open_ipam(sqlite_url)
    try:
        create(first.app, "shared", ["10.2.0.0/22", "2001:db8:2::/64"])
        calls = [acquire(app, "shared", address_family=family)
                 for app in (first.app, second.app)
                 for family in ("IPv4", "IPv6") for _ in range(60)]
        calls = [calls[(i * 7) % len(calls)] for i in range(len(calls))]

        outcomes = race(calls, threads=8)

        won = [doc for kind, doc in outcomes if kind == "ok"]
        assert len(won) == 240
        addresses = [doc["address"] for doc in won]
        assert len(set(addresses)) == 240
        assert {a for a in addresses if a.startswith("10.2.")} == {
            str(ipaddress.ip_address("10.2.0.0") + n) for n in range(1, 121)
        }
        acquired = events_of(first.app, Network.IPAcquired, "shared")
        assert len(acquired) == 240
        for opened in (first, second):
            rows = opened.app.list_ips(IPFilter(network_id="shared"))
            assert sorted(r["address"] for r in rows) == sorted(addresses)
    finally:
        first.close()
        second.close()


def test_allocate_child_network_fills_super_exactly_once_under_threads(
    sqlite_app: IpamApplication,
) -> None:
    app = sqlite_app
    create(app, "super", ["10.2.0.0/22", "2001:db8:2::/64"], partition_id="p1",
           private_super=True, default_child_prefix_length={"IPv4": 26, "IPv6": 96})

    outcomes = race([allocate_child(app, "p1") for _ in range(60)], threads=60)

    children = [doc for kind, doc in outcomes if kind == "ok"]
    lost = [error for kind, error in outcomes if kind == "conflict"]
    assert len(children) == 16 and len(lost) == 44
    assert all(isinstance(e, ExhaustedError) for e in lost)
    assert {str(e) for e in lost} == {"no prefix found in 10.2.0.0/22 with length:26"}
    prefixes = [p for child in children for p in child["prefixes"]]
    assert_disjoint(prefixes)
    assert len(prefixes) == 32  # all or nothing: each child got both families
    assert len({child["vrf"] for child in children}) == 16
    assert len(events_of(app, Network.ChildNetworkAllocated, "super")) == 16
    listed = app.list_networks(NetworkFilter(parent_id="super"))
    assert sorted(n["network_id"] for n in listed) == sorted(c["network_id"] for c in children)
    consumption = app.get_network("super")["consumption"]
    assert consumption["ipv4"]["used_prefixes"] == consumption["ipv6"]["used_prefixes"] == 16


def test_release_and_acquire_ip_interleave_consistently_under_threads(
    sqlite_app: IpamApplication,
) -> None:
    app = sqlite_app
    create(app, "churn", ["10.4.0.0/24", "2001:db8:4::/120"])
    held = [acquire(app, "churn")()["address"] for _ in range(120)]
    ctx = RequestContext.new(actor="racer")
    released = held[::2]
    labelled: list[tuple[str, Callable[[], Any]]] = [
        ("release", partial(app.release_ip, a, context=ctx)) for a in released
    ]
    labelled += [("acquire", acquire(app, "churn")) for _ in range(70)]
    labelled += [("acquire", acquire(app, "churn", address_family="IPv6")) for _ in range(20)]
    labelled = [labelled[(i * 7) % len(labelled)] for i in range(len(labelled))]

    outcomes = race([call for _, call in labelled], threads=12)

    assert all(kind == "ok" for kind, _ in outcomes), [d for k, d in outcomes if k != "ok"]
    docs = [(label, doc) for (label, _), (_, doc) in zip(labelled, outcomes, strict=True)]
    assert sorted(d["address"] for label, d in docs if label == "release") == sorted(released)
    acquired = [d for label, d in docs if label == "acquire"]
    assert len({d["address"] for d in acquired}) == 90
    # fold the log: every IPAcquired adds, every IPReleased removes, in log order
    live: dict[str, str] = {}
    notifications = app.recorder.select_notifications(start=1, limit=1_000_000)
    for notification in notifications:
        event = app.mapper.to_domain_event(notification)
        if isinstance(event, Network.IPAcquired):
            assert event.address not in live, f"{event.address} acquired twice"
            live[event.address] = event.allocation_uuid
        elif isinstance(event, Network.IPReleased):
            del live[event.address]
    rows = {doc["address"]: doc for doc in app.list_ips(IPFilter(network_id="churn"))}
    assert len(rows) == 120 - 60 + 90
    assert {a: doc["allocation_uuid"] for a, doc in rows.items()} == live
    assert all(live[d["address"]] == d["allocation_uuid"] for d in acquired)
    assert set(app.repository.get(network_uuid("churn")).ips) == set(rows)
    assert len(events_of(app, Network.IPReleased, "churn")) == 60


def test_free_and_allocate_child_network_interleave_consistently_under_threads(
    sqlite_app: IpamApplication,
) -> None:
    app = sqlite_app
    create(app, "super", ["10.5.0.0/22"], partition_id="p2", private_super=True,
           default_child_prefix_length={"IPv4": 26})
    first = [allocate_child(app, "p2")()["network_id"] for _ in range(16)]
    ctx = RequestContext.new(actor="racer")
    calls: list[Callable[[], Any]] = [
        partial(app.delete_network, c, context=ctx, only_child=True) for c in first[:8]
    ]
    calls += [allocate_child(app, "p2") for _ in range(12)]

    outcomes = race(calls, threads=len(calls))

    freed, allocations = outcomes[:8], outcomes[8:]
    assert all(kind == "ok" for kind, _ in freed)
    won = [doc for kind, doc in allocations if kind == "ok"]
    assert all(isinstance(d, ExhaustedError) for k, d in allocations if k == "conflict")
    assert len(won) <= 8
    listed = app.list_networks(NetworkFilter(parent_id="super"))
    assert len(listed) == 8 + len(won)
    assert_disjoint([p for n in listed for p in n["prefixes"]])
    assert len({n["vrf"] for n in listed}) == len(listed)
    assert app.get_network("super")["consumption"]["ipv4"]["used_prefixes"] == len(listed)
    allocated = len(events_of(app, Network.ChildNetworkAllocated, "super"))
    released = len(events_of(app, Network.ChildNetworkReleased, "super"))
    assert allocated - released == len(listed)


# -- several server processes on one PostgreSQL database --------------------------------------


@pytest.fixture(scope="module", params=["uvicorn x3", "ipam serve --workers 2"])
def servers(request: pytest.FixtureRequest, postgres_url: str,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """Base URLs of server processes sharing one emptied PostgreSQL database."""
    reset_postgres(postgres_url)
    ports = [free_port() for _ in range(3 if request.param == "uvicorn x3" else 1)]
    if request.param == "uvicorn x3":
        commands = [[str(BIN / "python"), "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1",
                     "--port", str(port)] for port in ports]
    else:
        commands = [[str(BIN / "ipam"), "serve", "--workers", "2", "--port", str(ports[0]),
                     "--database-url", postgres_url]]
    logs = tmp_path_factory.mktemp("servers")
    AUTH.clear()
    AUTH.update(bearer(admin_token(postgres_url)))
    env = {k: v for k, v in os.environ.items() if k != "IPAM_DATABASE_URL"}
    if request.param == "uvicorn x3":
        env["IPAM_DATABASE_URL"] = postgres_url  # `ipam serve` gets it from --database-url
    processes = [
        subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=(logs / f"{port}.log").open("wb"))
        for command, port in zip(commands, ports, strict=True)
    ]
    try:
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        for url, process, port in zip(urls, processes, ports, strict=True):
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None, (logs / f"{port}.log").read_text()
                try:
                    if httpx.get(f"{url}/v1/health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, (logs / f"{port}.log").read_text()
                time.sleep(0.2)
        yield urls
        for log in logs.iterdir():
            assert "Traceback" not in log.read_text(), log.read_text()
    finally:
        for process in processes:
            stop(process)


AUTH: dict[str, str] = {}  # the `servers` fixture's admin token, for every request


def spread(urls: list[str], requests: list[tuple[str, str, dict[str, Any]]]) -> list[httpx.Response]:
    """Send the requests from 12 threads, round-robin over the servers."""
    clients = [httpx.Client(base_url=url, timeout=60, headers=AUTH) for url in urls]
    try:
        def send(item: tuple[int, tuple[str, str, dict[str, Any]]]) -> httpx.Response:
            index, (method, path, body) = item
            return clients[index % len(clients)].request(method, path, json=body)

        with ThreadPoolExecutor(max_workers=12) as pool:
            return list(pool.map(send, enumerate(requests)))
    finally:
        for client in clients:
            client.close()


def stored(postgres_url: str, event_class: type, network_id: str) -> list[Any]:
    ipam = open_ipam(postgres_url)
    try:
        return events_of(ipam.app, event_class, network_id)
    finally:
        ipam.close()


@pytest.mark.slow
@pytest.mark.postgres
def test_acquire_ip_hands_out_each_address_once_across_processes(
    servers: list[str], postgres_url: str,
) -> None:
    network = {"id": "shared-net", "prefixes": ["10.3.0.0/22", "2001:db8:3::/64"],
               "projectid": PROJECT}
    assert httpx.put(f"{servers[0]}/v1/network", json=network, headers=AUTH).status_code == 201
    body = {"networkid": "shared-net", "projectid": PROJECT}
    requests = [("POST", "/v1/ip/allocate", {**body, "addressfamily": "IPv4"})] * 120
    requests += [("POST", "/v1/ip/allocate", {**body, "addressfamily": "IPv6"})] * 100
    specific = [f"10.3.3.{n}" for n in range(1, 11)] + [f"2001:db8:3::ff:{n}" for n in range(1, 11)]
    requests += [("POST", f"/v1/ip/allocate/{a}", body) for a in specific for _ in range(4)]
    requests = [requests[(i * 7) % len(requests)] for i in range(len(requests))]

    responses = spread(servers, requests)

    assert all(r.status_code in (201, 409) for r in responses), [r.text for r in responses
                                                                  if r.status_code not in (201, 409)]
    created = {r.json()["ipaddress"]: r.json()["allocationuuid"] for r in responses
               if r.status_code == 201}
    conflicts = [r.json()["message"] for r in responses if r.status_code == 409]
    assert len(created) == 120 + 100 + 20 == len(responses) - len(conflicts)  # all unique
    assert set(specific) <= set(created)
    assert sorted(conflicts) == sorted(f'Conflict ip already allocated: {a} in network with id '
                                       '"shared-net"' for a in specific for _ in range(3))
    events = stored(postgres_url, Network.IPAcquired, "shared-net")
    assert {e.address: e.allocation_uuid for e in events} == created and len(events) == 240
    for url in (servers * 6)[:6]:  # read-your-writes whichever process answers
        listed = httpx.post(f"{url}/v1/ip/find", json={"networkid": "shared-net"}, headers=AUTH).json()
        assert sorted(ip["ipaddress"] for ip in listed) == sorted(created)


@pytest.mark.slow
@pytest.mark.postgres
def test_allocate_child_network_fills_super_exactly_once_across_processes(
    servers: list[str], postgres_url: str,
) -> None:
    super_network = {"id": "race-super", "prefixes": ["10.6.0.0/22", "2001:db8:6::/64"],
                     "partitionid": "race", "privatesuper": True,
                     "defaultchildprefixlength": {"IPv4": 26, "IPv6": 96}}
    assert httpx.put(f"{servers[-1]}/v1/network", json=super_network, headers=AUTH).status_code == 201
    allocate = {"partitionid": "race", "projectid": PROJECT}

    responses = spread(servers, [("POST", "/v1/network/allocate", allocate)] * 48)

    assert sorted(r.status_code for r in responses) == [201] * 16 + [422] * 32, [
        r.text for r in responses if r.status_code not in (201, 422)]
    children = [r.json() for r in responses if r.status_code == 201]
    assert_disjoint([p for child in children for p in child["prefixes"]])
    assert all(len(child["prefixes"]) == 2 for child in children)
    assert len({child["vrf"] for child in children}) == 16
    assert {r.json()["message"] for r in responses if r.status_code == 422} == {
        "no prefix found in 10.6.0.0/22 with length:26"}
    events = stored(postgres_url, Network.ChildNetworkAllocated, "race-super")
    assert sorted(e.child_id for e in events) == sorted(c["id"] for c in children)
    for url in (servers * 6)[:6]:
        found = httpx.post(f"{url}/v1/network/find", json={"parentnetworkid": "race-super"}, headers=AUTH).json()
        assert sorted(n["id"] for n in found) == sorted(c["id"] for c in children)
