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


def test_json_log_lines_name_request_actor_route_and_never_a_secret(tmp_path: Path) -> None:
    """`ipam serve --log-format json` (issue 15, item 2): one JSON object per line, the access
    line of each request with its id, actor, method, route template, status and duration; no
    token, valid, invalid or revoked, and no HMAC key in any line at debug level."""
    import json

    database_url = f"sqlite:///{tmp_path / 'ipam.db'}"
    opened = open_ipam(database_url)
    try:
        _, secret = opened.tokens.issue(context=RequestContext.new(actor="t"), subject="ops",
                                        role="admin")
        info, revoked = opened.tokens.issue(context=RequestContext.new(actor="t"),
                                            subject="gone", role="viewer")
        opened.tokens.revoke(info.token_id, context=RequestContext.new(actor="t"))
    finally:
        opened.close()
    hmac_key = "hmac-key-that-must-stay-secret"
    port = free_port()
    log = tmp_path / "server.log"
    process = subprocess.Popen(
        [str(BIN / "ipam"), "serve", "--port", str(port), "--log-level", "debug",
         "--log-format", "json"],
        cwd=tmp_path, start_new_session=True, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        env={**os.environ, "IPAM_DATABASE_URL": database_url, "IPAM_HMAC_EDIT_KEY": hmac_key},
    )
    url = f"http://127.0.0.1:{port}"
    garbage = "ipam_" + "x" * 43
    try:
        wait_healthy(url, process, log)
        admin = {"Authorization": f"Bearer {secret}", "X-Request-Id": "req-json-1"}
        with httpx.Client(base_url=url, timeout=30) as client:
            assert client.put("/v1/network", json={"id": "n", "prefixes": ["10.0.0.0/24"],
                                                   "projectid": "p"}, headers=admin).status_code == 201
            assert client.post("/v1/ip/allocate?secret=in-a-query", json={
                "networkid": "n", "projectid": "p"}, headers=admin).status_code == 201
            for token in (revoked, garbage):
                assert client.get("/v1/network/n", headers={
                    "Authorization": f"Bearer {token}"}).status_code == 401
            assert client.get("/v1/network", headers={
                "Authorization": f"Metal-Edit {garbage}"}).status_code == 401
    finally:
        stop(process)
    text = log.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert all({"time", "level", "message"} <= set(line) for line in lines)
    access = [line for line in lines if line.get("logger") == "ipam.access"]
    put = next(line for line in access if line["method"] == "PUT")
    assert put["request_id"] == "req-json-1" and put["actor"] == "ops"
    assert (put["route"], put["status"]) == ("/v1/network", 201) and put["duration_ms"] >= 0
    allocate = next(line for line in access if line["route"] == "/v1/ip/allocate")
    assert allocate["status"] == 201 and allocate["actor"] == "ops"
    refused = [line for line in access if line["status"] == 401]
    assert {line["route"] for line in refused} == {"/v1/network/{id}", "/v1/network"}
    assert all("actor" not in line for line in refused)
    for leaked in (secret, revoked, garbage, hmac_key, "in-a-query"):
        assert leaked not in text
