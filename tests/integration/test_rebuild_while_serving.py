"""Rebuilding the read models while a real server serves (issue 3, item 4): clients keep
acquiring and reading while `ipam projections rebuild read_models` runs as its own process.
No read ever shows fewer addresses than were acknowledged before it started, no request fails,
and afterwards the live slot has changed and `ipam audit verify` agrees."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx
import pytest

from infrastructure.store import open_ipam
from tests.conftest import reset_postgres
from tests.live import admin_token, bearer, free_port, stop, wait_healthy

BIN = Path(sys.executable).parent  # the test run's own environment
ROOT = Path(__file__).resolve().parents[2]
PROJECT = "project-rebuild"
NETWORK = {"id": "serving", "prefixes": ["10.40.0.0/20"], "projectid": PROJECT}
ACQUIRE = {"networkid": "serving", "projectid": PROJECT}


@dataclass(frozen=True)
class Server:
    url: str
    database_url: str
    env: dict[str, str]
    headers: dict[str, str]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    """A uvicorn process serving `api.main:app` on a free loopback port (projection follower on)."""
    if request.param == "sqlite":
        database_url = f"sqlite:///{tmp_path / 'ipam.db'}"
    else:
        database_url = request.getfixturevalue("postgres_url")
        reset_postgres(database_url)
    env = {**os.environ, "IPAM_DATABASE_URL": database_url}
    headers = bearer(admin_token(database_url))
    port = free_port()
    log = tmp_path / "server.log"
    process = subprocess.Popen(
        [str(BIN / "python"), "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=log.open("wb"),
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, process, log)
        yield Server(url, database_url, env, headers)
        assert "Traceback" not in log.read_text(), log.read_text()
    finally:
        stop(process)


@dataclass
class Clients:
    """Acquiring and reading clients; what they saw, checked as they go."""

    url: str
    headers: dict[str, str]
    known: set[str] = field(default_factory=set)  # addresses whose 201 has been received
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: threading.Event = field(default_factory=threading.Event)
    rebuilding: threading.Event = field(default_factory=threading.Event)
    statuses: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    reads_during_rebuild: dict[str, int] = field(default_factory=dict)  # by path

    def acquire(self, client: httpx.Client) -> None:
        response = client.post("/v1/ip/allocate", json=ACQUIRE)
        self.statuses.append(response.status_code)
        if response.status_code == 201:
            with self.lock:
                self.known.add(response.json()["ipaddress"])
        else:
            self.failures.append(f"acquire: {response.status_code} {response.text}")

    def run(self, target: Callable[[], None]) -> None:
        """Run a client loop on a thread; whatever it raises fails the test."""
        try:
            target()
        except Exception as error:  # reported by the test, not lost with the thread
            self.failures.append(repr(error))

    def write(self) -> None:
        with httpx.Client(base_url=self.url, timeout=60, headers=self.headers) as client:
            while not self.done.is_set():
                self.acquire(client)

    def read(self, path: str) -> None:
        seen = 0
        with httpx.Client(base_url=self.url, timeout=60, headers=self.headers) as client:
            while not self.done.is_set():
                during = self.rebuilding.is_set()
                with self.lock:
                    acknowledged = set(self.known)
                response = client.get(path)
                self.statuses.append(response.status_code)
                if response.status_code != 200:
                    self.failures.append(f"GET {path}: {response.status_code} {response.text}")
                    continue
                if path == "/v1/ip":
                    listed = {ip["ipaddress"] for ip in response.json()}
                    count = len(listed)
                    if not acknowledged <= listed:
                        self.failures.append(f"GET {path} lacks {sorted(acknowledged - listed)[:5]}")
                else:
                    count = int(response.json()["capacity"]["ipv4"]["acquired_ips"])
                if count < max(seen, len(acknowledged)):
                    self.failures.append(f"GET {path}: {count} after {seen}, {len(acknowledged)} acknowledged")
                seen = max(seen, count)
                if during and self.rebuilding.is_set():
                    with self.lock:
                        self.reads_during_rebuild[path] = self.reads_during_rebuild.get(path, 0) + 1


def rebuild_while_serving(server: Server, clients: Clients, times: int) -> list[subprocess.CompletedProcess[str]]:
    """Run `ipam projections rebuild read_models` `times` times in a row while the clients go on
    (each switch is a moment where a reader could see a partial model)."""
    threads = [threading.Thread(target=clients.run, args=(clients.write,)) for _ in range(2)]
    threads += [threading.Thread(target=clients.run, args=(partial(clients.read, path),))
                for path in ("/v1/ip", "/v1/ip", "/v1/network/serving")]
    for thread in threads:
        thread.start()
    try:
        clients.rebuilding.set()
        rebuilds = [
            subprocess.run([str(BIN / "ipam"), "projections", "rebuild", "read_models"],
                           env=server.env, capture_output=True, text=True, timeout=120, check=False)
            for _ in range(times)
        ]
        clients.rebuilding.clear()
        with httpx.Client(base_url=server.url, timeout=60, headers=server.headers) as client:
            for _ in range(20):  # and serving goes on after the switch
                clients.acquire(client)
    finally:
        clients.done.set()
        for thread in threads:
            thread.join(timeout=60)
    return rebuilds


def test_reads_stay_complete_while_read_models_are_rebuilt_by_another_process(server: Server) -> None:
    assert httpx.put(f"{server.url}/v1/network", json=NETWORK, headers=server.headers).status_code == 201
    clients = Clients(server.url, server.headers)
    with httpx.Client(base_url=server.url, timeout=60, headers=server.headers) as client, ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: clients.acquire(client), range(400)))
    assert len(clients.known) == 400 and not clients.failures
    before = open_ipam(server.database_url)
    try:
        assert before.projection.live_slot() == "a"
    finally:
        before.close()

    rebuilds = rebuild_while_serving(server, clients, times=3)

    assert not clients.failures, clients.failures[:10]
    for rebuilt, slot in zip(rebuilds, "bab", strict=True):
        assert rebuilt.returncode == 0, rebuilt.stderr
        assert f"live slot {slot}" in rebuilt.stderr, rebuilt.stderr
    assert set(clients.statuses) <= {200, 201}
    assert set(clients.reads_during_rebuild) == {"/v1/ip", "/v1/network/serving"}
    listed = httpx.get(f"{server.url}/v1/ip", headers=server.headers).json()
    assert sorted(ip["ipaddress"] for ip in listed) == sorted(clients.known)
    after = open_ipam(server.database_url)
    try:
        assert after.projection.live_slot() == "b"
    finally:
        after.close()
    verified = subprocess.run([str(BIN / "ipam"), "audit", "verify"], env=server.env,
                              capture_output=True, text=True, timeout=120, check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "read models agree with the log" in verified.stdout
