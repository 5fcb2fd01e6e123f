"""Bearer tokens end to end, on SQLite and PostgreSQL: the 401s over HTTP (ASGI), the public
documents, `ipam token create|list|revoke` through the real console script, revocation seen by
a server in another process, and the admin token `ipam serve` prints on first start."""

from __future__ import annotations

import getpass
import json
import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from application.context import RequestContext
from application.tokens import TokenInfo
from infrastructure.store import Ipam, open_ipam
from infrastructure.transfer import export
from tests.application.test_tokens import save_expired, stored_states
from tests.conftest import SEED_PROJECT
from tests.live import BIN, bearer, free_port, ipam_serve, stop, wait_healthy

CHALLENGE = 'Bearer realm="ipam"'
NETWORK = {"id": "n1", "prefixes": ["10.1.0.0/24"], "projectid": SEED_PROJECT}


@pytest.fixture
def anonymous(client: TestClient) -> TestClient:
    """The same app, without the admin token in the headers."""
    return TestClient(client.app)


def issue(ipam: Ipam, subject: str = "alice", role: str = "admin", **extra: Any) -> str:
    _, secret = ipam.tokens.issue(context=RequestContext.new(actor="tests"), subject=subject,
                                  role=role, **extra)
    return secret


def assert_refused(response: httpx.Response, message: str) -> None:
    """A 401 in the error shape, with the challenge, whose message contains `message`."""
    assert response.status_code == 401, response.text
    body = response.json()
    assert set(body) == {"statuscode", "message"}
    assert body["statuscode"] == 401
    assert message in body["message"]
    assert response.headers["WWW-Authenticate"] == CHALLENGE


# -- 401 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/v1/network", None),
    ("GET", "/v1/network/n1", None),
    ("PUT", "/v1/network", NETWORK),
    ("POST", "/v1/network/find", {}),
    ("POST", "/v1/ip/allocate", {"networkid": "n1", "projectid": SEED_PROJECT}),
    ("DELETE", "/v1/network/n1", None),
    ("GET", "/v1/ip", None),
    ("GET", "/v1/network/n1/history", None),
])
def test_request_without_token_is_401(
    anonymous: TestClient, ipam: Ipam, method: str, path: str, body: Any,
) -> None:
    response = anonymous.request(method, path, json=body)
    assert_refused(response, "missing bearer token")
    assert ipam.app.list_networks() == []


@pytest.mark.parametrize("authorization", [
    "Basic dXNlcjpwYXNzd29yZA==",
    "Bearer",
    "Bearer   ",
    "Token ipam_abc",
    "",
])
def test_request_with_other_scheme_is_401(anonymous: TestClient, authorization: str) -> None:
    response = anonymous.get("/v1/network", headers={"Authorization": authorization})
    assert_refused(response, "missing bearer token")


@pytest.mark.parametrize("token", [
    "ipam_" + "A" * 43,
    "ipam_",
    "ipam_" + "a" * 10_000,
    "x" * 10_240,
    "ipam_\u00e9\u00e8",
])
def test_request_with_unknown_token_is_401(anonymous: TestClient, token: str) -> None:
    response = anonymous.get("/v1/network", headers={"Authorization": f"Bearer {token}".encode()})
    assert_refused(response, "invalid token")


def test_request_with_token_without_prefix_is_401(anonymous: TestClient, ipam: Ipam) -> None:
    secret = issue(ipam)
    response = anonymous.get("/v1/network", headers=bearer(secret.removeprefix("ipam_")))
    assert_refused(response, "invalid token")


def test_request_with_scheme_in_any_case_is_accepted(anonymous: TestClient, ipam: Ipam) -> None:
    secret = issue(ipam)
    response = anonymous.get("/v1/network", headers={"Authorization": f"bEaReR  {secret} "})
    assert response.status_code == 200, response.text


def test_request_with_revoked_token_is_401_immediately(anonymous: TestClient, ipam: Ipam) -> None:
    secret = issue(ipam)
    assert anonymous.get("/v1/network", headers=bearer(secret)).status_code == 200
    [info] = [i for i in ipam.tokens.list() if i.subject == "alice"]
    ipam.tokens.revoke(info.token_id, context=RequestContext.new())
    assert_refused(anonymous.get("/v1/network", headers=bearer(secret)), "revoked")
    assert_refused(anonymous.put("/v1/network", json=NETWORK, headers=bearer(secret)), "revoked")
    assert ipam.app.list_networks() == []


def test_request_with_expired_token_is_401(anonymous: TestClient, ipam: Ipam) -> None:
    secret = save_expired(ipam, "dave")
    assert_refused(anonymous.get("/v1/network", headers=bearer(secret)), "expired")


def test_request_with_unexpired_token_is_accepted(anonymous: TestClient, ipam: Ipam) -> None:
    secret = issue(ipam, expires_in=timedelta(minutes=5))
    assert anonymous.get("/v1/network", headers=bearer(secret)).status_code == 200


@pytest.mark.parametrize("path", ["/v1/health", "/openapi.json", "/docs"])
def test_public_paths_need_no_token(anonymous: TestClient, path: str) -> None:
    response = anonymous.get(path)
    assert response.status_code == 200, response.text
    assert "WWW-Authenticate" not in response.headers


def test_openapi_declares_bearer_on_every_route_but_public(anonymous: TestClient) -> None:
    document = anonymous.get("/openapi.json").json()
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for path, operations in document["paths"].items():
        for operation in operations.values():
            expected: list[Any] = [] if path == "/v1/health" else [{"bearer": []}, {"hmac": []}]
            assert operation["security"] == expected, path


def test_actor_on_events_is_token_subject(anonymous: TestClient, ipam: Ipam) -> None:
    alice = bearer(issue(ipam, "alice", "admin"))
    bob = bearer(issue(ipam, "bob", "editor"))
    assert anonymous.put("/v1/network", json=NETWORK, headers=alice).status_code == 201
    acquired = anonymous.post("/v1/ip/allocate", headers=bob,
                              json={"networkid": "n1", "projectid": SEED_PROJECT})
    assert acquired.status_code == 201, acquired.text
    logged = [r for r in export(ipam) if r["aggregate_type"] == "Network"]
    history = anonymous.get("/v1/network/n1/history", headers=alice).json()["events"]
    for events in (logged, history):
        assert [e["actor"] for e in events if e["type"] == "IPAcquired"] == ["bob"]
        assert {e["actor"] for e in events if e["type"] != "IPAcquired"} == {"alice"}
        assert "NetworkCreated" in {e["type"] for e in events}


def test_actor_on_every_event_of_request_is_token_subject(
    anonymous: TestClient, ipam: Ipam,
) -> None:
    alice = bearer(issue(ipam, "alice", "admin"))
    head = max(r["position"] for r in export(ipam))
    assert anonymous.put("/v1/network", json=NETWORK, headers=alice).status_code == 201
    caused = [(r["aggregate_type"], r["type"], r["actor"]) for r in export(ipam, since=head)]
    assert caused
    assert [c for c in caused if c[2] != "alice"] == []


# -- the CLI: `ipam token ...` ----------------------------------------------------------------


def ipam_cli(db_url: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real console script on the store, as an operator at a shell runs it."""
    env = {**os.environ, "IPAM_DATABASE_URL": db_url, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run([str(BIN / "ipam"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def create_token(db_url: str, cwd: Path, *args: str) -> str:
    result = ipam_cli(db_url, cwd, "token", "create", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def listed(db_url: str, cwd: Path) -> list[dict[str, Any]]:
    """`ipam token list --json`, without the tests' own token."""
    result = ipam_cli(db_url, cwd, "token", "list", "--json")
    assert result.returncode == 0, result.stderr
    return [t for t in json.loads(result.stdout) if t["subject"] != "test-admin"]


def stored(db_url: str) -> list[TokenInfo]:
    """The tokens in the store, read in this process, without the tests' own token."""
    opened = open_ipam(db_url)
    try:
        return [i for i in opened.tokens.list() if i.subject != "test-admin"]
    finally:
        opened.close()


def token_id(db_url: str, subject: str) -> str:
    [token] = [t for t in stored(db_url) if t.subject == subject]
    return token.token_id


def test_token_create_prints_secret_on_stdout_and_summary_on_stderr(
    db_url: str, tmp_path: Path, anonymous: TestClient,
) -> None:
    result = ipam_cli(db_url, tmp_path, "token", "create", "--subject", "ci-a", "--role",
                      "editor", "--project", "p1", "--project", "p2")
    assert result.returncode == 0, result.stderr
    secret = result.stdout.strip()
    assert result.stdout == secret + "\n"
    assert re.fullmatch(r"ipam_[A-Za-z0-9_-]{43}", secret)
    summary = " ".join(result.stderr.split())
    assert "for ci-a (editor, projects p1, p2)" in summary
    assert "shown only now" in summary
    assert secret not in result.stderr
    response = anonymous.get("/v1/network", headers=bearer(secret))
    assert response.status_code == 200, response.text


def test_token_create_stores_only_the_digest(db_url: str, tmp_path: Path, ipam: Ipam) -> None:
    import hashlib

    secret = create_token(db_url, tmp_path, "--subject", "ci", "--role", "viewer")
    states = stored_states(ipam)
    assert not [s for s in states if secret.removeprefix("ipam_").encode() in s]
    assert [s for s in states if hashlib.sha256(secret.encode()).hexdigest().encode() in s]


def test_token_list_shows_tokens_without_secret(db_url: str, tmp_path: Path) -> None:
    first = create_token(db_url, tmp_path, "--subject", "ci-a", "--role", "editor",
                         "--project", "p1")
    second = create_token(db_url, tmp_path, "--subject", "ops", "--role", "admin")
    revoked = ipam_cli(db_url, tmp_path, "token", "revoke", token_id(db_url, "ops"))
    assert revoked.returncode == 0, revoked.stderr
    result = ipam_cli(db_url, tmp_path, "token", "list", "--json")
    assert result.stdout == ipam_cli(db_url, tmp_path, "token", "list", "-o", "json").stdout
    assert result.returncode == 0, result.stderr
    tokens = json.loads(result.stdout)
    assert [(t["subject"], t["role"], t["projects"], t["state"], t["issued_by"]) for t in tokens] == [
        ("ci-a", "editor", ["p1"], "active", f"local:{getpass.getuser()}"),
        ("ops", "admin", [], "revoked", f"local:{getpass.getuser()}"),
    ]
    table = ipam_cli(db_url, tmp_path, "token", "list")
    assert table.returncode == 0, table.stderr
    rows = [line.split() for line in table.stdout.splitlines() if line.strip()]
    assert rows[0][:4] == ["ID", "SUBJECT", "ROLE", "PROJECTS"]
    assert [(r[1], r[2], r[3], r[-1]) for r in rows[1:]] == [
        ("ci-a", "editor", "p1", "active"), ("ops", "admin", "*", "revoked")]
    for secret in (first, second):
        for output in (result.stdout, result.stderr, table.stdout, table.stderr):
            assert secret.removeprefix("ipam_") not in output


def test_token_list_shows_expired_state(db_url: str, tmp_path: Path, ipam: Ipam) -> None:
    save_expired(ipam, "dave")
    assert [(t["subject"], t["state"]) for t in listed(db_url, tmp_path)] == [("dave", "expired")]


def test_token_revoke_refuses_next_request(
    db_url: str, tmp_path: Path, anonymous: TestClient,
) -> None:
    secret = create_token(db_url, tmp_path, "--subject", "ci", "--role", "editor")
    assert anonymous.get("/v1/network", headers=bearer(secret)).status_code == 200
    result = ipam_cli(db_url, tmp_path, "token", "revoke", token_id(db_url, "ci"))
    assert result.returncode == 0, result.stderr
    assert "revoked" in result.stderr
    assert_refused(anonymous.get("/v1/network", headers=bearer(secret)), "revoked")
    assert [t["state"] for t in listed(db_url, tmp_path)] == ["revoked"]


@pytest.mark.parametrize(("expires", "hours"), [
    ("90d", 90 * 24), ("12h", 12), ("1w2d", 9 * 24), ("30m", 0.5), (" 1W ", 7 * 24),
])
def test_token_create_accepts_duration(
    db_url: str, tmp_path: Path, expires: str, hours: float,
) -> None:
    create_token(db_url, tmp_path, "--subject", "ci", "--role", "viewer", "--expires", expires)
    [token] = stored(db_url)
    assert token.expires_at is not None
    assert round((token.expires_at - token.issued_at) / timedelta(minutes=1)) == hours * 60


@pytest.mark.parametrize("expires", ["0d", "soon", "9999d", "", "90", "d", "-1d", "1.5d", "1y"])
def test_token_create_refuses_bad_duration_with_exit_2(
    sqlite_url: str, tmp_path: Path, expires: str,
) -> None:
    """Refused before the store is opened, so one store kind is enough."""
    result = ipam_cli(sqlite_url, tmp_path, "token", "create", "--subject", "ci", "--role", "viewer",
                      "--expires", expires)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "--expires" in result.stderr
    assert result.stdout == ""
    assert stored(sqlite_url) == []


def test_token_create_refuses_unknown_role_as_a_usage_error(db_url: str, tmp_path: Path) -> None:
    """A bad option value is a usage error (exit 2), like every other one (issue 12)."""
    result = ipam_cli(db_url, tmp_path, "token", "create", "--subject", "ci", "--role", "root")
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "viewer, editor, admin" in result.stderr
    assert result.stdout == ""
    assert stored(db_url) == []


@pytest.mark.parametrize("unknown", ["9d096642-bfa0-563a-baa7-9d83ec8d91b5", "nope"])
def test_token_revoke_refuses_unknown_id_with_exit_1(
    db_url: str, tmp_path: Path, unknown: str,
) -> None:
    create_token(db_url, tmp_path, "--subject", "ci", "--role", "viewer")
    result = ipam_cli(db_url, tmp_path, "token", "revoke", unknown)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "not found" in result.stderr
    assert [t.revoked_at for t in stored(db_url)] == [None]


def test_token_issue_and_revoke_are_exported_events(db_url: str, tmp_path: Path) -> None:
    secret = create_token(db_url, tmp_path, "--subject", "ci", "--role", "editor",
                          "--reason", "cluster a")
    tid = token_id(db_url, "ci")
    revoked = ipam_cli(db_url, tmp_path, "token", "revoke", tid, "--reason", "laptop lost")
    assert revoked.returncode == 0, revoked.stderr
    result = ipam_cli(db_url, tmp_path, "events", "export")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    tokens = [(r["aggregate_type"], r["type"], r["aggregate_id"], r["actor"], r["reason"])
              for r in records if r["aggregate_type"] == "ApiToken"]
    operator = f"local:{getpass.getuser()}"
    assert tokens == [("ApiToken", "Issued", tid, operator, "cluster a"),
                      ("ApiToken", "Revoked", tid, operator, "laptop lost")]
    assert secret.removeprefix("ipam_") not in result.stdout


# -- running servers --------------------------------------------------------------------------


def test_token_revoked_by_cli_is_refused_by_running_server(db_url: str, tmp_path: Path) -> None:
    with ipam_serve(db_url, tmp_path) as live:
        secret = create_token(db_url, tmp_path, "--subject", "ci", "--role", "editor")
        assert httpx.get(f"{live.url}/v1/network", headers=bearer(secret)).status_code == 200
        result = ipam_cli(db_url, tmp_path, "token", "revoke", token_id(db_url, "ci"))
        assert result.returncode == 0, result.stderr
        assert_refused(httpx.get(f"{live.url}/v1/network", headers=bearer(secret)), "revoked")
        assert httpx.get(f"{live.url}/v1/network", headers=live.headers).status_code == 200


@dataclass(frozen=True)
class Started:
    url: str
    log: Path

    def tokens(self) -> list[str]:
        """The tokens the server printed: each alone on an indented line."""
        return re.findall(r"^\s+(ipam_\S+)\s*$", self.log.read_text(), re.MULTILINE)


@contextmanager
def serve_many(database_url: str, workdir: Path, count: int) -> Iterator[list[Started]]:
    """`ipam serve` `count` times at once on the store as it is (no token issued first), each
    with its stderr in a file; yields them once all answer their health."""
    env = {**os.environ, "IPAM_DATABASE_URL": database_url}
    launched: list[tuple[subprocess.Popen[bytes], Started]] = []
    try:
        for _ in range(count):
            port = free_port()
            log = workdir / f"serve-{port}.log"
            with log.open("wb") as stderr:
                process = subprocess.Popen(
                    [str(BIN / "ipam"), "serve", "--port", str(port), "--log-level", "warning"],
                    cwd=workdir, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                    stderr=stderr,
                )
            launched.append((process, Started(f"http://127.0.0.1:{port}", log)))
        for process, started in launched:
            wait_healthy(started.url, process, started.log)
        yield [started for _, started in launched]
        for _, started in launched:
            assert "Traceback" not in started.log.read_text(), started.log.read_text()
    finally:
        for process, _ in launched:
            stop(process)


@contextmanager
def serve(database_url: str, workdir: Path) -> Iterator[Started]:
    with serve_many(database_url, workdir, 1) as [started]:
        yield started


def test_serve_prints_one_admin_token_on_empty_store(db_url: str, tmp_path: Path) -> None:
    with serve(db_url, tmp_path) as first:
        [secret] = first.tokens()
        assert "shown only now" in first.log.read_text()
        created = httpx.put(f"{first.url}/v1/network", json=NETWORK, headers=bearer(secret))
        assert created.status_code == 201, created.text
        assert httpx.get(f"{first.url}/v1/network").status_code == 401
    with serve(db_url, tmp_path) as second:
        assert second.tokens() == []
        log = second.log.read_text()  # (it names the store, whose name may hold "ipam_")
        assert secret not in log
        assert not re.search(r"ipam_[A-Za-z0-9_-]{43}", log)  # no token of any kind
        assert httpx.get(f"{second.url}/v1/network/n1", headers=bearer(secret)).status_code == 200
    [token] = stored(db_url)
    assert (token.subject, token.role, token.projects, token.issued_by) == (
        "admin", "admin", (), "ipam serve")


def test_serve_prints_no_token_when_store_has_one(db_url: str, tmp_path: Path) -> None:
    secret = create_token(db_url, tmp_path, "--subject", "ops", "--role", "admin")
    with serve(db_url, tmp_path) as started:
        assert started.tokens() == []
        assert httpx.get(f"{started.url}/v1/network", headers=bearer(secret)).status_code == 200
    assert [t.subject for t in stored(db_url)] == ["ops"]


def test_serve_started_twice_at_once_prints_one_token(db_url: str, tmp_path: Path) -> None:
    """Two processes start on one empty store at once: they race to make its tables and to
    bootstrap, and exactly one token comes out."""
    with serve_many(db_url, tmp_path, 2) as started:
        printed = [token for server in started for token in server.tokens()]
        assert len(printed) == 1
        for server in started:
            response = httpx.get(f"{server.url}/v1/network", headers=bearer(printed[0]))
            assert response.status_code == 200, response.text
    assert [t.subject for t in stored(db_url)] == ["admin"]


def test_serve_token_is_not_in_event_store(db_url: str, tmp_path: Path) -> None:
    with serve(db_url, tmp_path) as started:
        [secret] = started.tokens()
    opened = open_ipam(db_url)
    try:
        assert not [s for s in stored_states(opened) if secret.removeprefix("ipam_").encode() in s]
    finally:
        opened.close()


def test_token_revoke_takes_the_secret_found_in_a_log(
    db_url: str, tmp_path: Path, anonymous: TestClient,
) -> None:
    """Someone who finds a leaked token has its secret, not its id (issue 10): `ipam token
    revoke` takes either, and the secret also from standard input (kept out of `ps`)."""
    leaked = create_token(db_url, tmp_path, "--subject", "ci", "--role", "editor")
    other = create_token(db_url, tmp_path, "--subject", "ops", "--role", "viewer")
    assert anonymous.get("/v1/network", headers=bearer(leaked)).status_code == 200
    result = ipam_cli(db_url, tmp_path, "token", "revoke", leaked, "--reason", "found in a log")
    assert result.returncode == 0, result.stderr
    assert "of ci revoked" in result.stderr and leaked not in result.stdout + result.stderr
    assert anonymous.get("/v1/network", headers=bearer(leaked)).status_code == 401
    assert anonymous.get("/v1/network", headers=bearer(other)).status_code == 200
    env = {**os.environ, "IPAM_DATABASE_URL": db_url, "NO_COLOR": "1"}
    piped = subprocess.run([str(BIN / "ipam"), "token", "revoke", "-"], input=other + "\n",
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
                           check=False)
    assert piped.returncode == 0, piped.stderr
    assert anonymous.get("/v1/network", headers=bearer(other)).status_code == 401
    unknown = ipam_cli(db_url, tmp_path, "token", "revoke", "ipam_" + "x" * 43)
    assert unknown.returncode == 1 and "token with this secret not found" in unknown.stderr
