"""SIGTERM under load (issue 15, item 4): `ipam serve` stops accepting, finishes the requests in
flight, stops its projection follower and exits 0, and every allocation it acknowledged is in
the store afterwards (SQLite, and PostgreSQL with two worker processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from infrastructure.audit import verify
from infrastructure.store import open_ipam
from tests.conftest import reset_postgres
from tests.live import admin_token, bearer, free_port, wait_healthy

BIN = Path(sys.executable).parent
PROJECT = "project-shutdown"


@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_sigterm_under_load_finishes_in_flight_requests_loses_nothing_and_exits_0(
    store: str, tmp_path: Path, request: pytest.FixtureRequest,
) -> None:
    if store == "sqlite":
        database_url, extra = f"sqlite:///{tmp_path / 'ipam.db'}", []
    else:
        database_url = request.getfixturevalue("postgres_url")
        reset_postgres(database_url)
        extra = ["--workers", "2"]
    token = admin_token(database_url)
    port = free_port()
    log = tmp_path / "server.log"
    process = subprocess.Popen(
        [str(BIN / "ipam"), "serve", "--port", str(port), "--graceful-timeout", "10", *extra],
        env={**os.environ, "IPAM_DATABASE_URL": database_url}, cwd=tmp_path,
        stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    acknowledged: list[str] = []
    refused: list[str] = []
    unexpected: list[BaseException] = []
    try:
        wait_healthy(url, process, log)
        with httpx.Client(base_url=url, headers=bearer(token), timeout=30) as http:
            created = http.put("/v1/network", json={
                "id": "busy", "projectid": PROJECT, "prefixes": ["10.61.0.0/16"]})
            assert created.status_code == 201, created.text

        def load() -> None:
            with httpx.Client(base_url=url, headers=bearer(token), timeout=30) as client:
                while True:
                    try:
                        answer = client.post("/v1/ip/allocate",
                                             json={"networkid": "busy", "projectid": PROJECT})
                    except httpx.TransportError as error:  # the server has stopped accepting
                        refused.append(type(error).__name__)
                        return
                    except BaseException as error:  # reported below
                        unexpected.append(error)
                        return
                    if answer.status_code != 201:
                        unexpected.append(AssertionError(f"{answer.status_code} {answer.text}"))
                        return
                    acknowledged.append(answer.json()["ipaddress"])

        clients = [threading.Thread(target=load) for _ in range(4)]
        for client in clients:
            client.start()
        while len(acknowledged) < 150 and not unexpected:
            threading.Event().wait(0.05)
        process.send_signal(signal.SIGTERM)  # to the server (the supervisor, with workers)
        assert process.wait(timeout=60) == 0, log.read_text()
        for client in clients:
            client.join(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    output = log.read_text()
    assert not unexpected, unexpected
    assert len(refused) == 4  # every client ended on a refused connection, none on a bad answer
    assert "Traceback" not in output, output
    assert "Application shutdown complete" in output, output
    # every allocation the server answered reached its client: none was cut off in flight
    answered = output.count('"POST /v1/ip/allocate HTTP/1.1" 201')
    assert answered == len(acknowledged), (answered, len(acknowledged), refused)

    opened = open_ipam(database_url)
    try:
        held = {ip["address"] for ip in opened.app.list_ips()}
        assert set(acknowledged) <= held and len(acknowledged) >= 150
        report = verify(opened)
        assert report.ok, report.differences
    finally:
        opened.close()
