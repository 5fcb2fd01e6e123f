"""No secret in logs: a server logging at debug level, with its access log on, is sent valid,
invalid and revoked tokens on every kind of route; none of them appears in its log, and the
bootstrap token appears in its console output exactly once."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import httpx

from application.context import RequestContext
from infrastructure.store import open_ipam
from tests.live import BIN, free_port, stop, wait_healthy


def test_tokens_never_reach_the_server_log(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'ipam.db'}"
    port = free_port()
    log = tmp_path / "server.log"
    process = subprocess.Popen(
        [str(BIN / "ipam"), "serve", "--port", str(port), "--log-level", "debug"],
        cwd=tmp_path, env={**os.environ, "IPAM_DATABASE_URL": database_url},
        start_new_session=True, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process, log)
        printed = re.findall(r"ipam_[A-Za-z0-9_-]{43}", log.read_text())
        assert len(printed) == 1  # the bootstrap token, once, on the console
        admin = {"Authorization": f"Bearer {printed[0]}"}
        opened = open_ipam(database_url)
        try:
            info, revoked = opened.tokens.issue(context=RequestContext.new(actor="t"),
                                                subject="gone", role="viewer")
            opened.tokens.revoke(info.token_id, context=RequestContext.new(actor="t"))
        finally:
            opened.close()
        garbage = "ipam_" + "x" * 43
        with httpx.Client(base_url=url, timeout=30) as client:
            assert client.put("/v1/network", json={"id": "n", "prefixes": ["10.0.0.0/24"],
                                                   "projectid": "p"}, headers=admin).status_code == 201
            assert client.post("/v1/ip/allocate", json={"networkid": "n", "projectid": "p"},
                               headers=admin).status_code == 201
            assert client.post("/v1/ip/allocate", json={"networkid": "nope", "projectid": "p"},
                               headers=admin).status_code == 404
            assert client.get("/v1/network/n/history", headers=admin).status_code == 200
            for token in (revoked, garbage):
                assert client.get("/v1/network", headers={"Authorization": f"Bearer {token}"}).status_code == 401
            assert client.get("/v1/network", headers={"Authorization": f"Basic {garbage}"}).status_code == 401
        text = log.read_text()
        assert '"PUT /v1/network HTTP/1.1" 201' in text  # the access log is on
        assert text.count(printed[0]) == 1  # only the bootstrap banner
        assert revoked not in text and garbage not in text
    finally:
        stop(process)
