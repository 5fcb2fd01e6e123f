"""Real servers for the tests: `ipam serve` (or uvicorn) in its own process group on a free
loopback port, waited for until /v1/health answers, stopped with everything it forked."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent  # the test run's own environment
ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the server and everything it forked (its own process group)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
    for _ in range(50):  # workers left behind by the supervisor
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)


def wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(f"{url}/v1/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)


@dataclass(frozen=True)
class Live:
    """A running server: its base URL, its store and a token with the admin role."""

    url: str
    database_url: str
    token: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


def admin_token(database_url: str) -> str:
    """Issue an admin token into the store (so a server started on it does not bootstrap one)."""
    from application.context import RequestContext
    from infrastructure.store import open_ipam

    opened = open_ipam(database_url)
    try:
        _, secret = opened.tokens.issue(context=RequestContext.new(actor="tests"),
                                        subject="test-admin", role="admin")
        return secret
    finally:
        opened.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@contextmanager
def ipam_serve(database_url: str, workdir: Path, args: Sequence[str] = ()) -> Iterator[Live]:
    """`ipam serve` on `database_url`, with an admin token issued first; yields it running.
    Its stderr and stdout (uvicorn's access log) go to `workdir/server-<port>.log`. Fails the
    test if the server logged a traceback."""
    token = admin_token(database_url)
    port = free_port()
    log = workdir / f"server-{port}.log"
    env = {**os.environ, "IPAM_DATABASE_URL": database_url}
    process = subprocess.Popen(
        [str(BIN / "ipam"), "serve", "--port", str(port), "--log-level", "warning", *args],
        cwd=workdir, env=env, start_new_session=True, stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, process, log)
        yield Live(url, database_url, token)
        assert "Traceback" not in log.read_text(), log.read_text()
    finally:
        stop(process)
