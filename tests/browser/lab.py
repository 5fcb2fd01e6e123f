"""The console's test lab: a live server seeded over the HTTP API as the README's walk-through
seeds it (the mini-lab private super, a child per project, addresses acquired in two steps with
a moment recorded between them), and tokens of every role. Shared by the browser tests and the
console's HTTP tests."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from application.context import RequestContext
from infrastructure.store import open_ipam
from tests.conftest import SEED_PROJECT, SEED_SUPER
from tests.live import Live, bearer

SUPER = str(SEED_SUPER["id"])
OTHER_PROJECT = "7d1c2e9a-0b5f-4c3e-9f7a-2b8d6e4a1c30"


@dataclass(frozen=True)
class Lab:
    """A seeded server: its URL and store, a token per role, what the seed made and when."""

    url: str
    database_url: str
    admin: str
    editor: str
    viewer: str
    tenant: str  # an editor bound to SEED_PROJECT
    child: str  # SEED_PROJECT's child network, holding the addresses below
    other: str  # OTHER_PROJECT's child network
    first: str  # acquired before `between`
    first_v6: str
    second: str  # acquired after `between`
    between: datetime  # a whole second strictly between the two steps (UTC)

    @property
    def between_text(self) -> str:
        """`between` as the header's date-time picker sends it (UTC, no offset)."""
        return self.between.strftime("%Y-%m-%dT%H:%M:%S")

    def api(self, token: str | None = None) -> httpx.Client:
        """An API client with a bearer token (the admin's by default)."""
        return httpx.Client(base_url=self.url, headers=bearer(token or self.admin), timeout=60)


def issue(database_url: str, subject: str, role: str, projects: list[str] | None = None) -> str:
    """A new token's secret, issued into the store (a running server sees it at once)."""
    opened = open_ipam(database_url)
    try:
        _, secret = opened.tokens.issue(context=RequestContext.new(actor="tests"),
                                        subject=subject, role=role, projects=projects)
        return secret
    finally:
        opened.close()


def revoke(database_url: str, secret: str) -> None:
    """Revoke a token by its secret, as `ipam token revoke ipam_...` does."""
    opened = open_ipam(database_url)
    try:
        opened.tokens.revoke(secret, context=RequestContext.new(actor="tests"))
    finally:
        opened.close()


def ok(response: httpx.Response) -> Any:
    assert response.status_code in (200, 201), (response.request.url, response.text)
    return response.json()


def seed(live: Live) -> Lab:
    """The walk-through's data on `live`, and the tokens the console's tests sign in with."""
    assert live.token
    with httpx.Client(base_url=live.url, headers=live.headers, timeout=60) as api:
        ok(api.put("/v1/network", json=SEED_SUPER, headers={"X-Change-Reason": "the lab"}))
        child = ok(api.post("/v1/network/allocate", json={
            "partitionid": "mini-lab", "projectid": SEED_PROJECT, "name": "my-node-network"},
            headers={"X-Change-Reason": "nodes of the project"}))["id"]
        other = ok(api.post("/v1/network/allocate", json={
            "partitionid": "mini-lab", "projectid": OTHER_PROJECT, "name": "other-network"}))["id"]

        def acquire(name: str, family: str = "IPv4") -> str:
            body = {"networkid": child, "projectid": SEED_PROJECT, "name": name,
                    "addressfamily": family}
            held = ok(api.post("/v1/ip/allocate", json=body,
                               headers={"X-Change-Reason": f"{name} joins the cluster"}))
            return str(held["ipaddress"])

        first, first_v6 = acquire("web-1"), acquire("web-1-v6", "IPv6")
        time.sleep(1.3)
        between = datetime.now(UTC).replace(microsecond=0)  # >= 0.3 s after the first step
        time.sleep(1.2)
        second = acquire("web-2")
    database_url = live.database_url
    return Lab(
        url=live.url, database_url=database_url, admin=live.token,
        editor=issue(database_url, "erin-editor", "editor"),
        viewer=issue(database_url, "victor-viewer", "viewer"),
        tenant=issue(database_url, "tess-tenant", "editor", [SEED_PROJECT]),
        child=child, other=other, first=first, first_v6=first_v6, second=second,
        between=between)
