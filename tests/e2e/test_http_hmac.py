"""metal-stack's HMAC authentication (what `metalctl --hmac` and metal-go's `HMACAuth` send),
over real HTTP (ASGI) with fixed keys, and against a live `ipam serve` for its log (issue 10)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.hmac_auth import HmacKeys, go_rfc3339, mac_of
from domain.errors import UnauthenticatedError
from infrastructure.store import Ipam
from tests.conftest import SEED_PROJECT, SEED_SUPER
from tests.live import ipam_serve

KEYS = {"Metal-View": "view-key-0123", "Metal-Edit": "edit-key-4567",
        "Metal-Admin": "admin-key-89ab"}
ENV = {"Metal-View": "IPAM_HMAC_VIEW_KEY", "Metal-Edit": "IPAM_HMAC_EDIT_KEY",
       "Metal-Admin": "IPAM_HMAC_ADMIN_KEY"}


def signed(kind: str, method: str, key: str | None = None, at: datetime | None = None,
           salt: str | None = None) -> dict[str, str]:
    """The headers metal-stack/security's `HMACAuth.AuthHeaders` writes."""
    timestamp = go_rfc3339(at or datetime.now(UTC))
    salt = salt if salt is not None else secrets.token_urlsafe(18)[:24]
    mac = mac_of((key or KEYS[kind]).encode(), timestamp, method, salt)
    return {"Authorization": f"{kind} {mac}", "X-Date": timestamp, "X-Data-Salt": salt}


def test_mac_matches_metal_stack_security_test_vectors() -> None:
    """mac_test.go (TestMacCalc2): key, date, method, no salt."""
    at = datetime(2019, 5, 29, 9, 26, 39, tzinfo=UTC)
    assert mac_of(b"metal-test-admin", go_rfc3339(at), "GET", "") == (
        "dd864d767ca9eec0337727e6ae69a30c47fa1501d1df9c7f2c4caaa83cf2f9f3")
    keys = HmacKeys({"Metal-Admin": "metal-test-admin"}, now=lambda: at + timedelta(seconds=3))
    principal = keys.authenticate(
        "Metal-Admin", "dd864d767ca9eec0337727e6ae69a30c47fa1501d1df9c7f2c4caaa83cf2f9f3", "GET",
        "2019-05-29T09:26:39.000Z", None)  # fractions are read, the MAC is over Go's format
    assert (principal.subject, principal.role.value, principal.projects) == (
        "hmac:Metal-Admin", "admin", None)
    with pytest.raises(UnauthenticatedError):
        keys.authenticate("Metal-Admin", "dd864d76" + "0" * 56, "GET", "2019-05-29T09:26:39Z", None)


@pytest.fixture
def hmac_client(ipam: Ipam, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    for kind, name in ENV.items():
        monkeypatch.setenv(name, KEYS[kind])
    with TestClient(create_app(ipam, follow=False)) as client:
        yield client


def send(client: TestClient, kind: str, method: str, path: str, body: Any = None,
         **signing: Any) -> httpx.Response:
    response: httpx.Response = client.request(method, path, json=body,
                                              headers=signed(kind, method, **signing))
    return response


def test_each_type_has_its_role_across_all_projects(hmac_client: TestClient) -> None:
    admin = send(hmac_client, "Metal-Admin", "PUT", "/v1/network", SEED_SUPER)
    assert admin.status_code == 201, admin.text
    allocate = {"partitionid": "mini-lab", "projectid": SEED_PROJECT}
    assert send(hmac_client, "Metal-View", "POST", "/v1/network/allocate", allocate).status_code == 403
    child = send(hmac_client, "Metal-Edit", "POST", "/v1/network/allocate", allocate)
    assert child.status_code == 201, child.text
    other = send(hmac_client, "Metal-Edit", "POST", "/v1/network/allocate",
                 {"partitionid": "mini-lab", "projectid": "another-project"})
    assert other.status_code == 201, other.text
    assert send(hmac_client, "Metal-Edit", "PUT", "/v1/network",
                {"id": "x", "prefixes": ["10.9.0.0/24"]}).status_code == 403
    listed = send(hmac_client, "Metal-View", "GET", "/v1/network")
    assert listed.status_code == 200 and len(listed.json()) == 3
    ip = send(hmac_client, "Metal-Edit", "POST", "/v1/ip/allocate",
              {"networkid": child.json()["id"], "projectid": SEED_PROJECT})
    assert ip.status_code == 201, ip.text
    history = send(hmac_client, "Metal-View", "GET", f"/v1/network/{child.json()['id']}/history")
    assert [(e["type"], e["actor"]) for e in history.json()["events"]][-1] == (
        "IPAcquired", "hmac:Metal-Edit")
    assert send(hmac_client, "Metal-View", "GET", f"/v1/network/{SEED_SUPER['id']}/history"
                ).json()["events"][0]["actor"] == "hmac:Metal-Admin"


@pytest.mark.parametrize(("case", "headers"), [
    ("wrong key", lambda: signed("Metal-Admin", "GET", key="not-the-key")),
    ("another type's key", lambda: signed("Metal-Admin", "GET", key=KEYS["Metal-View"])),
    ("signed for another method", lambda: signed("Metal-Admin", "POST")),
    ("stale timestamp", lambda: signed("Metal-Admin", "GET", at=datetime.now(UTC) - timedelta(seconds=20))),
    ("future timestamp", lambda: signed("Metal-Admin", "GET", at=datetime.now(UTC) + timedelta(seconds=20))),
    ("no X-Date", lambda: {k: v for k, v in signed("Metal-Admin", "GET").items() if k != "X-Date"}),
    ("X-Date not RFC 3339", lambda: {**signed("Metal-Admin", "GET"), "X-Date": "1700000000"}),
    ("salt changed", lambda: {**signed("Metal-Admin", "GET"), "X-Data-Salt": "other"}),
    ("no MAC", lambda: {**signed("Metal-Admin", "GET"), "Authorization": "Metal-Admin"}),
    ("unknown type", lambda: {**signed("Metal-Admin", "GET"),
                              "Authorization": signed("Metal-Admin", "GET")["Authorization"].replace("Admin", "Root")}),
])
def test_refused_hmac_answers_401(hmac_client: TestClient, case: str, headers: Any) -> None:
    response = hmac_client.get("/v1/network", headers=headers())
    assert (response.status_code, response.json()["statuscode"]) == (401, 401), (case, response.text)


def test_missing_salt_is_an_empty_salt_as_metal_stack_reads_it(hmac_client: TestClient) -> None:
    headers = signed("Metal-View", "GET", salt="")
    del headers["X-Data-Salt"]
    assert hmac_client.get("/v1/network", headers=headers).status_code == 200


def test_timestamp_with_fractions_and_offset_is_read_as_metal_stack_reads_it(
    hmac_client: TestClient,
) -> None:
    now = datetime.now(UTC).replace(microsecond=250000)
    headers = signed("Metal-View", "GET", at=now)  # MAC over whole seconds, UTC
    headers["X-Date"] = now.astimezone(datetime.now().astimezone().tzinfo).isoformat()
    assert hmac_client.get("/v1/network", headers=headers).status_code == 200


def test_type_without_a_key_is_refused(ipam: Ipam, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IPAM_HMAC_ADMIN_KEY", KEYS["Metal-Admin"])
    for name in ("IPAM_HMAC_VIEW_KEY", "IPAM_HMAC_EDIT_KEY"):
        monkeypatch.delenv(name, raising=False)
    with TestClient(create_app(ipam, follow=False)) as client:
        refused = client.get("/v1/network", headers=signed("Metal-View", "GET"))
        assert refused.status_code == 401 and "not configured" in refused.json()["message"]
        assert client.get("/v1/network", headers=signed("Metal-Admin", "GET")).status_code == 200


def test_no_type_is_accepted_without_keys(client: TestClient) -> None:
    """The `client` fixture's app has no HMAC keys configured: every type is refused."""
    for kind in KEYS:
        response = TestClient(client.app).get("/v1/network", headers=signed(kind, "GET"))
        assert response.status_code == 401, kind


def test_no_hmac_key_reaches_the_servers_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys from the environment and from `serve`'s options; valid, wrong and stale requests at
    every log level uvicorn writes: no key in the log."""
    monkeypatch.setenv("IPAM_HMAC_ADMIN_KEY", KEYS["Metal-Admin"])
    args = ["--log-level", "debug", "--hmac-view-key", KEYS["Metal-View"],
            "--hmac-edit-key", KEYS["Metal-Edit"]]
    with ipam_serve(f"sqlite:///{tmp_path / 'ipam.db'}", tmp_path, args) as live:
        for kind in KEYS:
            assert httpx.get(f"{live.url}/v1/network", headers=signed(kind, "GET")).status_code == 200
            assert httpx.get(f"{live.url}/v1/network",
                             headers=signed(kind, "GET", key="wrong")).status_code == 401
            stale = signed(kind, "GET", at=datetime.now(UTC) - timedelta(minutes=5))
            assert httpx.get(f"{live.url}/v1/network", headers=stale).status_code == 401
        created = httpx.put(f"{live.url}/v1/network", headers=signed("Metal-Admin", "PUT"),
                            json={"id": "n", "prefixes": ["10.0.0.0/24"]})
        assert created.status_code == 201, created.text
    log = "".join(p.read_text() for p in tmp_path.glob("server-*.log"))
    assert '"GET /v1/network HTTP/1.1" 401' in log  # the log was written
    for key in KEYS.values():
        assert key not in log
