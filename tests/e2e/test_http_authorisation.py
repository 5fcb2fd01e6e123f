"""The role × project matrix over real HTTP (ASGI): who may do what to whose networks and IPs
(issue 5, authorisation), what each one sees in lists and histories, and who does not get in at
all (401).

Every test builds one world: a private super network of partition `lab` and an external network
`internet` (neither has a project), a child network of project A, one of project B and a shared
one of B, and IPs of A and of B in them. Seven principals look at it. Each row of MATRIX is one
request with the exact status each principal must get: the role is checked first (403), then
what the principal may not see is not found (404: another project's network or IP), then what it
sees but may not do is forbidden (403), and only then the domain's own rules apply (400, 422).
"""

from __future__ import annotations

import ipaddress
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from api.app import create_app
from application.context import RequestContext
from infrastructure.store import Ipam

A, B = "project-a", "project-b"
PARTITION = "lab"
ISSUER = RequestContext.new(actor="tests")

# name: (role, projects); the name is also the token's subject, so the actor of its changes
PRINCIPALS: dict[str, tuple[str, list[str]]] = {
    "admin": ("admin", []),
    "admin-a": ("admin", [A]),
    "editor-a": ("editor", [A]),
    "editor-ab": ("editor", [A, B]),
    "viewer-a": ("viewer", [A]),
    "viewer": ("viewer", []),
    "editor": ("editor", []),
}
WHO = tuple(PRINCIPALS)
BOUND_TO_A = frozenset({"admin-a", "editor-a", "viewer-a"})  # the others also see project B

SUPER = {
    "id": "super", "partitionid": PARTITION, "prefixes": ["10.0.0.0/16", "2001:db8:0:10::/64"],
    "defaultchildprefixlength": {"IPv4": 22, "IPv6": 96}, "privatesuper": True,
}
INTERNET = {
    "id": "internet", "prefixes": ["185.1.2.0/24"], "destinationprefixes": ["0.0.0.0/0"],
    "nat": True,
}


class Row(NamedTuple):
    """One request and the status each principal gets for it, in WHO order. `{name}` in the
    path and in the body's strings is one of the world's networks or IPs; `{new_...}` is made
    afresh by the set-up admin for each principal's request (what a request deletes, frees or
    creates)."""

    case: str
    method: str
    path: str
    body: dict[str, Any] | None
    statuses: tuple[int, int, int, int, int, int, int]


MATRIX = [
    # -- networks: reads (viewer; another project's network is not found) ----------------------
    #                                                       admin admin-a editor-a editor-ab viewer-a viewer editor
    Row("list networks", "GET", "/v1/network", None,
        (200, 200, 200, 200, 200, 200, 200)),
    Row("list networks at", "GET", "/v1/network?at={now}", None,
        (200, 200, 200, 200, 200, 200, 200)),
    Row("find networks", "POST", "/v1/network/find", {},
        (200, 200, 200, 200, 200, 200, 200)),
    Row("get super", "GET", "/v1/network/{super}", None,
        (200, 200, 200, 200, 200, 200, 200)),
    Row("get internet", "GET", "/v1/network/{internet}", None,
        (200, 200, 200, 200, 200, 200, 200)),
    Row("get child of A", "GET", "/v1/network/{child_a}", None,
        (200, 200, 200, 200, 200, 200, 200)),
    Row("get child of B", "GET", "/v1/network/{child_b}", None,
        (200, 404, 404, 200, 404, 200, 200)),
    Row("get shared child of B", "GET", "/v1/network/{shared_b}", None,
        (200, 404, 404, 200, 404, 200, 200)),
    Row("get child of A at", "GET", "/v1/network/{child_a}?at={now}", None,
        (200, 200, 200, 200, 200, 200, 200)),
    Row("get child of B at", "GET", "/v1/network/{child_b}?at={now}", None,
        (200, 404, 404, 200, 404, 200, 200)),
    Row("get super at version", "GET", "/v1/network/{super}?version=1", None,
        (200, 200, 200, 200, 200, 200, 200)),
    Row("get child of B at version", "GET", "/v1/network/{child_b}?version=1", None,
        (200, 404, 404, 200, 404, 200, 200)),
    # -- networks: create, update, delete (admin, for its projects) -----------------------------
    #                                                       admin admin-a editor-a editor-ab viewer-a viewer editor
    Row("create network without project", "PUT", "/v1/network",
        {"id": "{new_id}", "prefixes": ["{new_prefix}"]},
        (201, 403, 403, 403, 403, 403, 403)),
    Row("create network of A", "PUT", "/v1/network",
        {"id": "{new_id}", "prefixes": ["{new_prefix}"], "projectid": A},
        (201, 201, 403, 403, 403, 403, 403)),
    Row("create network of B", "PUT", "/v1/network",
        {"id": "{new_id}", "prefixes": ["{new_prefix}"], "projectid": B},
        (201, 403, 403, 403, 403, 403, 403)),
    # partition infrastructure shapes every project's space: an admin bound to no project only
    Row("create private super of A", "PUT", "/v1/network",
        {"id": "{new_id}", "prefixes": ["{new_prefix}"], "projectid": A, "partitionid": "{new_id}",
         "privatesuper": True, "defaultchildprefixlength": {"IPv4": 28}},
        (201, 403, 403, 403, 403, 403, 403)),
    Row("create underlay of A", "PUT", "/v1/network",
        {"id": "{new_id}", "prefixes": ["{new_prefix}"], "projectid": A, "partitionid": "{new_id}",
         "underlay": True},
        (201, 403, 403, 403, 403, 403, 403)),
    Row("create network of A with a vrf", "PUT", "/v1/network",
        {"id": "{new_id}", "prefixes": ["{new_prefix}"], "projectid": A, "vrf": 4000},
        (201, 403, 403, 403, 403, 403, 403)),
    Row("update super", "POST", "/v1/network", {"id": "{super}", "name": "x"},
        (200, 403, 403, 403, 403, 403, 403)),
    Row("update internet", "POST", "/v1/network", {"id": "{internet}", "name": "x"},
        (200, 403, 403, 403, 403, 403, 403)),
    Row("update child of A", "POST", "/v1/network", {"id": "{child_a}", "name": "x"},
        (200, 200, 403, 403, 403, 403, 403)),
    Row("update child of B", "POST", "/v1/network", {"id": "{child_b}", "name": "x"},
        (200, 404, 403, 403, 403, 403, 403)),
    Row("update shared child of B", "POST", "/v1/network", {"id": "{shared_b}", "name": "x"},
        (200, 404, 403, 403, 403, 403, 403)),
    Row("delete network without project", "DELETE", "/v1/network/{new_external}", None,
        (200, 403, 403, 403, 403, 403, 403)),
    Row("delete child of A", "DELETE", "/v1/network/{new_child_a}", None,
        (200, 200, 403, 403, 403, 403, 403)),
    Row("delete child of B", "DELETE", "/v1/network/{new_child_b}", None,
        (200, 404, 403, 403, 403, 403, 403)),
    # -- child networks: allocate and free (editor, for its projects) ---------------------------
    #                                                       admin admin-a editor-a editor-ab viewer-a viewer editor
    Row("allocate child for A", "POST", "/v1/network/allocate",
        {"partitionid": PARTITION, "projectid": A},
        (201, 201, 201, 201, 403, 403, 201)),
    Row("allocate child for B", "POST", "/v1/network/allocate",
        {"partitionid": PARTITION, "projectid": B},
        (201, 403, 403, 201, 403, 403, 201)),
    Row("allocate child for A from a super of B", "POST", "/v1/network/allocate",
        {"partitionid": "{new_partition_of_b}", "projectid": A},
        (201, 404, 404, 201, 403, 403, 201)),
    Row("free child of A", "DELETE", "/v1/network/free/{new_child_a}", None,
        (200, 200, 200, 200, 403, 403, 200)),
    Row("free child of B", "DELETE", "/v1/network/free/{new_child_b}", None,
        (200, 404, 404, 200, 403, 403, 200)),
    Row("free shared child of B", "DELETE", "/v1/network/free/{new_shared_b}", None,
        (200, 404, 404, 200, 403, 403, 200)),
    Row("free super", "DELETE", "/v1/network/free/{super}", None,  # 400: not a child
        (400, 403, 403, 403, 403, 403, 400)),
    Row("free child of A, deprecated", "POST", "/v1/network/free/{new_child_a}", None,
        (200, 200, 200, 200, 403, 403, 200)),
    Row("free child of B, deprecated", "POST", "/v1/network/free/{new_child_b}", None,
        (200, 404, 404, 200, 403, 403, 200)),
    # -- IPs: reads (viewer; another project's IP is not found) ---------------------------------
    #                                                       admin admin-a editor-a editor-ab viewer-a viewer editor
    Row("list IPs", "GET", "/v1/ip", None,
        (200, 200, 200, 200, 200, 200, 200)),
    Row("find IPs", "POST", "/v1/ip/find", {},
        (200, 200, 200, 200, 200, 200, 200)),
    Row("get IP of A", "GET", "/v1/ip/{ip_a}", None,
        (200, 200, 200, 200, 200, 200, 200)),
    Row("get IP of A in shared child of B", "GET", "/v1/ip/{ip_a_shared}", None,
        (200, 200, 200, 200, 200, 200, 200)),
    Row("get IP of A in internet", "GET", "/v1/ip/{ip_a_internet}", None,
        (200, 200, 200, 200, 200, 200, 200)),
    Row("get IP of B", "GET", "/v1/ip/{ip_b}", None,
        (200, 404, 404, 200, 404, 200, 200)),
    Row("get IP of B in shared child of B", "GET", "/v1/ip/{ip_b_shared}", None,
        (200, 404, 404, 200, 404, 200, 200)),
    Row("get IP of B in internet", "GET", "/v1/ip/{ip_b_internet}", None,
        (200, 404, 404, 200, 404, 200, 200)),
    Row("get IP of A at", "GET", "/v1/ip/{ip_a}?at={now}", None,
        (200, 200, 200, 200, 200, 200, 200)),
    Row("get IP of B at", "GET", "/v1/ip/{ip_b}?at={now}", None,
        (200, 404, 404, 200, 404, 200, 200)),
    # -- IPs: acquire (editor, for its projects, in its own, shared or project-less networks);
    #    422: the domain keeps another project's IPs out of a child that is not shared
    #                                                       admin admin-a editor-a editor-ab viewer-a viewer editor
    Row("acquire in child of A for A", "POST", "/v1/ip/allocate",
        {"networkid": "{child_a}", "projectid": A},
        (201, 201, 201, 201, 403, 403, 201)),
    Row("acquire in child of A for B", "POST", "/v1/ip/allocate",
        {"networkid": "{child_a}", "projectid": B},
        (422, 403, 403, 422, 403, 403, 422)),
    Row("acquire in shared child of B for A", "POST", "/v1/ip/allocate",
        {"networkid": "{shared_b}", "projectid": A},
        (201, 201, 201, 201, 403, 403, 201)),
    Row("acquire in internet for A", "POST", "/v1/ip/allocate",
        {"networkid": "{internet}", "projectid": A},
        (201, 201, 201, 201, 403, 403, 201)),
    Row("acquire in internet for B", "POST", "/v1/ip/allocate",
        {"networkid": "{internet}", "projectid": B},
        (201, 403, 403, 201, 403, 403, 201)),
    Row("acquire in child of B for A", "POST", "/v1/ip/allocate",
        {"networkid": "{child_b}", "projectid": A},
        (422, 404, 404, 422, 403, 403, 422)),
    Row("acquire in child of B for B", "POST", "/v1/ip/allocate",
        {"networkid": "{child_b}", "projectid": B},
        (201, 403, 403, 201, 403, 403, 201)),
    Row("acquire specific in child of A for A", "POST", "/v1/ip/allocate/{new_address_a}",
        {"networkid": "{child_a}", "projectid": A},
        (201, 201, 201, 201, 403, 403, 201)),
    Row("acquire specific in child of B for A", "POST", "/v1/ip/allocate/{new_address_b}",
        {"networkid": "{child_b}", "projectid": A},
        (422, 404, 404, 422, 403, 403, 422)),
    Row("acquire specific in child of B for B", "POST", "/v1/ip/allocate/{new_address_b}",
        {"networkid": "{child_b}", "projectid": B},
        (201, 403, 403, 201, 403, 403, 201)),
    # -- IPs: update and free (editor, its projects' IPs) ---------------------------------------
    #                                                       admin admin-a editor-a editor-ab viewer-a viewer editor
    Row("update IP of A", "POST", "/v1/ip", {"ipaddress": "{ip_a}", "name": "x"},
        (200, 200, 200, 200, 403, 403, 200)),
    Row("update IP of A in internet", "POST", "/v1/ip", {"ipaddress": "{ip_a_internet}", "name": "x"},
        (200, 200, 200, 200, 403, 403, 200)),
    Row("update IP of B", "POST", "/v1/ip", {"ipaddress": "{ip_b}", "name": "x"},
        (200, 404, 404, 200, 403, 403, 200)),
    Row("update IP of B in shared child of B", "POST", "/v1/ip", {"ipaddress": "{ip_b_shared}", "name": "x"},
        (200, 404, 404, 200, 403, 403, 200)),
    Row("free IP of A", "DELETE", "/v1/ip/free/{new_ip_a}", None,
        (200, 200, 200, 200, 403, 403, 200)),
    Row("free IP of B", "DELETE", "/v1/ip/free/{new_ip_b}", None,
        (200, 404, 404, 200, 403, 403, 200)),
    Row("free IP of B in internet", "DELETE", "/v1/ip/free/{new_ip_b_internet}", None,
        (200, 404, 404, 200, 403, 403, 200)),
    # -- history (viewer; scoped like the reads, see the tests below for what each one shows) ---
    #                                                       admin admin-a editor-a editor-ab viewer-a viewer editor
    Row("history of super", "GET", "/v1/network/{super}/history", None,
        (200, 200, 200, 200, 200, 200, 200)),
    Row("history of internet", "GET", "/v1/network/{internet}/history", None,
        (200, 200, 200, 200, 200, 200, 200)),
    Row("history of child of A", "GET", "/v1/network/{child_a}/history", None,
        (200, 200, 200, 200, 200, 200, 200)),
    Row("history of child of B", "GET", "/v1/network/{child_b}/history", None,
        (200, 404, 404, 200, 404, 200, 200)),
    Row("history of shared child of B", "GET", "/v1/network/{shared_b}/history", None,
        (200, 404, 404, 200, 404, 200, 200)),
    Row("history of IP of B", "GET", "/v1/ip/{ip_b}/history", None,
        (200, 200, 200, 200, 200, 200, 200)),
    Row("history of prefix", "GET", "/v1/prefix/history?cidr=10.0.0.0/16", None,
        (200, 200, 200, 200, 200, 200, 200)),
    # -- operations: metrics for any role (a bound token sees only its super networks) -----
    Row("metrics", "GET", "/metrics", None,
        (200, 200, 200, 200, 200, 200, 200)),
]


@dataclass
class World:
    """The networks, IPs and principals of one store, over one ASGI client."""

    http: TestClient
    secrets: dict[str, str]
    names: dict[str, str] = field(default_factory=dict)  # world name -> network id or address
    counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def send(self, who: str, method: str, path: str, body: Any = None) -> Response:
        headers = {"Authorization": f"Bearer {self.secrets[who]}"}
        response: Response = self.http.request(method, path, json=body, headers=headers)
        return response

    def ok(self, method: str, path: str, body: Any = None, who: str = "root") -> Any:
        response = self.send(who, method, path, body)
        assert response.status_code in (200, 201), (who, method, path, response.text)
        return response.json()

    def child(self, project: str, *, shared: bool = False) -> str:
        body = {"partitionid": PARTITION, "projectid": project, "shared": shared}
        return str(self.ok("POST", "/v1/network/allocate", body)["id"])

    def acquire(self, network: str, project: str) -> str:
        body = {"networkid": self.names[network], "projectid": project}
        return str(self.ok("POST", "/v1/ip/allocate", body)["ipaddress"])

    def unused_address(self, network: str) -> str:
        """An address of the network's IPv4 prefix well above those acquired so far."""
        prefix = self.ok("GET", f"/v1/network/{self.names[network]}")["prefixes"][0]
        return str(ipaddress.ip_network(prefix)[500 + next(self.counter)])

    def partition_of(self, project: str, n: int) -> str:
        """A new partition whose private super belongs to the project."""
        partition = f"lab-{n}"
        self.ok("PUT", "/v1/network", {
            "id": f"super-{n}", "prefixes": [f"198.18.{n}.0/24"], "partitionid": partition,
            "projectid": project, "privatesuper": True, "defaultchildprefixlength": {"IPv4": 28}})
        return partition

    def make(self, name: str) -> str:
        """A fresh `new_...` target for one request, made by the set-up admin."""
        n = next(self.counter)
        external = {"id": f"external-{n}", "prefixes": [f"100.64.{n}.0/24"], "nat": True}
        makers = {
            "new_id": lambda: f"net-{n}",
            "new_prefix": lambda: f"172.16.{n}.0/24",
            "new_external": lambda: str(self.ok("PUT", "/v1/network", external)["id"]),
            "new_partition_of_b": lambda: self.partition_of(B, n),
            "new_child_a": lambda: self.child(A),
            "new_child_b": lambda: self.child(B),
            "new_shared_b": lambda: self.child(B, shared=True),
            "new_ip_a": lambda: self.acquire("child_a", A),
            "new_ip_b": lambda: self.acquire("child_b", B),
            "new_ip_b_internet": lambda: self.acquire("internet", B),
            "new_address_a": lambda: self.unused_address("child_a"),
            "new_address_b": lambda: self.unused_address("child_b"),
        }
        return makers[name]()

    def request(self, row: Row) -> tuple[str, str, Any]:
        """The row's method, path and body, filled in for one principal's request."""
        targets = Targets(self)
        return row.method, row.path.format_map(targets), fill(row.body, targets)

    def name_of(self, value: str) -> str:
        """The world's name of a network id or an address (`?` for one made in the test)."""
        return next((name for name, v in self.names.items() if v == value), "?")


class Targets(dict[str, str]):
    """The world's names, and `new_...` targets made on first use (once per request)."""

    def __init__(self, world: World) -> None:
        super().__init__(world.names)
        self.world = world

    def __missing__(self, key: str) -> str:
        self[key] = self.world.make(key)
        return self[key]


def fill(body: Any, targets: Targets) -> Any:
    if isinstance(body, str):
        return body.format_map(targets)
    if isinstance(body, list):
        return [fill(item, targets) for item in body]
    if isinstance(body, dict):
        return {key: fill(value, targets) for key, value in body.items()}
    return body


@pytest.fixture
def world(ipam: Ipam) -> Iterator[World]:
    """The networks and IPs every test starts from, made by an unbound admin, `root`."""
    secrets = {"root": ipam.tokens.issue(context=ISSUER, subject="root", role="admin")[1]}
    for name, (role, projects) in PRINCIPALS.items():
        secrets[name] = ipam.tokens.issue(context=ISSUER, subject=name, role=role,
                                          projects=projects)[1]
    with TestClient(create_app(ipam, follow=False)) as http:
        w = World(http, secrets)
        w.names["super"] = w.ok("PUT", "/v1/network", SUPER)["id"]
        w.names["internet"] = w.ok("PUT", "/v1/network", INTERNET)["id"]
        w.names["child_a"] = w.child(A)
        w.names["child_b"] = w.child(B)
        w.names["shared_b"] = w.child(B, shared=True)
        w.names["ip_a"] = w.acquire("child_a", A)
        w.names["ip_b"] = w.acquire("child_b", B)
        w.names["ip_a_shared"] = w.acquire("shared_b", A)
        w.names["ip_b_shared"] = w.acquire("shared_b", B)
        w.names["ip_a_internet"] = w.acquire("internet", A)
        w.names["ip_b_internet"] = w.acquire("internet", B)
        w.names["now"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        yield w


# -- the matrix --------------------------------------------------------------------------------

@pytest.mark.parametrize("who", WHO)
def test_principal_gets_its_status_on_every_route(world: World, who: str) -> None:
    """One principal down its column of MATRIX: every row it gets wrong is listed."""
    column = WHO.index(who)
    wrong: list[tuple[str, ...]] = []
    for row in MATRIX:
        method, path, body = world.request(row)
        response = world.send(who, method, path, body)
        if response.status_code != row.statuses[column]:
            wrong.append((row.case, f"expected {row.statuses[column]}",
                          f"got {response.status_code}", response.text[:160]))
        elif response.status_code >= 400 and response.json() != {
                "statuscode": response.status_code, "message": response.json().get("message")}:
            wrong.append((row.case, "not an error body", response.text[:160]))
    assert not wrong, "\n".join(map(str, wrong))


def test_matrix_has_a_row_for_every_route() -> None:
    """A route added to the API without a row in MATRIX fails here."""
    def route(path: str) -> str:
        return re.sub(r"\{[^}]*\}", "{}", path.split("?")[0])

    documented = {(method.upper(), route(path))
                  for path, operations in create_app().openapi()["paths"].items()
                  for method in operations if path != "/v1/health"}
    assert documented == {(row.method, route(row.path)) for row in MATRIX}


# -- what the 404s do not tell -----------------------------------------------------------------

MISSING_NETWORK, MISSING_IP = "no-such-network", "192.0.2.1"

# (who, method, path, body, a target of project B, one that does not exist): `{target}` and
# `{now}` are filled in; `gone_b` is a child of B that was freed
NOT_TELLING: list[tuple[str, str, str, Any, str, str]] = [
    ("editor-a", "GET", "/v1/network/{target}", None, "child_b", MISSING_NETWORK),
    ("editor-a", "GET", "/v1/network/{target}", None, "gone_b", MISSING_NETWORK),
    ("editor-a", "GET", "/v1/network/{target}/history", None, "child_b", MISSING_NETWORK),
    ("editor-a", "GET", "/v1/network/{target}/history", None, "gone_b", MISSING_NETWORK),
    ("editor-a", "GET", "/v1/network/{target}?version=1", None, "child_b", MISSING_NETWORK),
    ("editor-a", "GET", "/v1/network/{target}?version=99", None, "child_b", MISSING_NETWORK),
    ("editor-a", "GET", "/v1/network/{target}?at={now}", None, "child_b", MISSING_NETWORK),
    ("editor-a", "GET", "/v1/network/{target}?at={now}", None, "gone_b", MISSING_NETWORK),
    ("admin-a", "POST", "/v1/network", {"id": "{target}", "name": "x"}, "child_b", MISSING_NETWORK),
    ("admin-a", "DELETE", "/v1/network/{target}", None, "child_b", MISSING_NETWORK),
    ("editor-a", "DELETE", "/v1/network/free/{target}", None, "child_b", MISSING_NETWORK),
    ("editor-a", "POST", "/v1/ip/allocate", {"networkid": "{target}", "projectid": A}, "child_b",
     MISSING_NETWORK),
    ("editor-a", "GET", "/v1/ip/{target}", None, "ip_b", MISSING_IP),
    ("editor-a", "GET", "/v1/ip/{target}?at={now}", None, "ip_b", MISSING_IP),
    ("editor-a", "GET", "/v1/ip/{target}/history", None, "ip_b", MISSING_IP),
    ("editor-a", "POST", "/v1/ip", {"ipaddress": "{target}", "name": "x"}, "ip_b", MISSING_IP),
    ("editor-a", "DELETE", "/v1/ip/free/{target}", None, "ip_b", MISSING_IP),
    ("editor-a", "POST", "/v1/network/allocate", {"partitionid": "{target}", "projectid": A},
     "partition_b", "no-such-partition"),
]


def test_another_projects_network_or_ip_answers_as_if_it_did_not_exist(world: World) -> None:
    """Status and body (the id aside) are those of a network or IP that never existed, so a
    principal bound to A learns nothing about B's: not that it exists, nor its versions."""
    world.names["gone_b"] = world.child(B)
    world.names["partition_b"] = world.make("new_partition_of_b")
    world.ok("DELETE", f"/v1/network/free/{world.names['gone_b']}")
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def answer(who: str, method: str, path: str, body: Any, target: str) -> tuple[int, str]:
        values = {"target": target, "now": now}
        filled = {k: v.format_map(values) for k, v in body.items()} if body else None
        response = world.send(who, method, path.format_map(values), filled)
        return response.status_code, response.text.replace(target, "TARGET")

    wrong = []
    for who, method, path, body, of_b, missing in NOT_TELLING:
        told, untold = (answer(who, method, path, body, world.names[of_b]),
                        answer(who, method, path, body, missing))
        if told != untold:
            wrong.append((who, method, path, of_b, told, "but when missing", untold))
    assert not wrong, "\n".join(map(str, wrong))


# -- what lists show ---------------------------------------------------------------------------

ALL_NETWORKS = {"super", "internet", "child_a", "child_b", "shared_b"}
ALL_IPS = {"ip_a", "ip_b", "ip_a_shared", "ip_b_shared", "ip_a_internet", "ip_b_internet"}

# (list, method, path, body, what a principal bound to A sees, what the others see)
LISTS: list[tuple[str, str, str, Any, set[str], set[str]]] = [
    ("list networks", "GET", "/v1/network", None,
     {"super", "internet", "child_a"}, ALL_NETWORKS),
    ("find networks", "POST", "/v1/network/find", {},
     {"super", "internet", "child_a"}, ALL_NETWORKS),
    ("list networks at", "GET", "/v1/network?at={now}", None,
     {"super", "internet", "child_a"}, ALL_NETWORKS),
    ("find networks of B", "POST", "/v1/network/find", {"projectid": B},
     set(), {"child_b", "shared_b"}),
    ("list IPs", "GET", "/v1/ip", None,
     {"ip_a", "ip_a_shared", "ip_a_internet"}, ALL_IPS),
    ("find IPs", "POST", "/v1/ip/find", {},
     {"ip_a", "ip_a_shared", "ip_a_internet"}, ALL_IPS),
    ("find IPs in shared child of B", "POST", "/v1/ip/find", {"networkid": "{shared_b}"},
     {"ip_a_shared"}, {"ip_a_shared", "ip_b_shared"}),
    ("find IPs in child of B", "POST", "/v1/ip/find", {"networkid": "{child_b}"},
     set(), {"ip_b"}),
    ("find IPs of B", "POST", "/v1/ip/find", {"projectid": B},
     set(), {"ip_b", "ip_b_shared", "ip_b_internet"}),
    ("find IPs in internet", "POST", "/v1/ip/find", {"networkid": "{internet}"},
     {"ip_a_internet"}, {"ip_a_internet", "ip_b_internet"}),
]


def test_lists_show_networks_of_own_projects_and_without_project_and_own_ips(
    world: World,
) -> None:
    """Networks: those of the principal's projects and those without a project; IPs: those of
    its projects only (wherever they are)."""
    wrong = []
    for case, method, path, body, bound_to_a, others in LISTS:
        for who in WHO:
            targets = Targets(world)
            response = world.send(who, method, path.format_map(targets), fill(body, targets))
            assert response.status_code == 200, (case, who, response.text)
            seen = {world.name_of(item.get("id") or item.get("ipaddress")) for item in response.json()}
            if seen != (bound_to_a if who in BOUND_TO_A else others):
                wrong.append((case, who, sorted(seen)))
    assert not wrong, "\n".join(map(str, wrong))


# -- what histories show -----------------------------------------------------------------------

def histories(world: World, path: str) -> dict[str, list[dict[str, Any]]]:
    """Each principal's events of one history (a single page)."""
    seen = {}
    for who in WHO:
        body = world.ok("GET", path.format_map(world.names), who=who)
        assert body["next"] is None
        seen[who] = body["events"]
    return seen


def about(world: World, event: dict[str, Any]) -> tuple[str, str]:
    """An event's type and the world's name of the child, address or network it is about."""
    facts = event["facts"]
    return event["type"], world.name_of(facts.get("child_id") or facts.get("address") or event["network"])


def test_super_history_shows_child_allocations_of_own_projects_only(world: World) -> None:
    seen = histories(world, "/v1/network/{super}/history")
    allocated = {who: {about(world, e)[1] for e in events if e["type"] == "ChildNetworkAllocated"}
                 for who, events in seen.items()}
    assert allocated == {who: {"child_a"} if who in BOUND_TO_A else {"child_a", "child_b", "shared_b"}
                         for who in WHO}
    assert {who: events[0]["type"] for who, events in seen.items()} == dict.fromkeys(WHO, "NetworkCreated")


def test_ip_history_shows_acquisitions_of_own_projects_only(world: World) -> None:
    """B's IPs have no events for a principal bound to A; A's IP in B's shared child has."""
    for ip in ("ip_b", "ip_b_shared", "ip_b_internet", "ip_a_shared"):
        seen = histories(world, f"/v1/ip/{{{ip}}}/history")
        assert {who: [e["type"] for e in events] for who, events in seen.items()} == {
            who: [] if who in BOUND_TO_A and ip.startswith("ip_b") else ["IPAcquired"]
            for who in WHO}, ip


def test_prefix_history_shows_events_of_own_projects_and_without_project(world: World) -> None:
    seen = histories(world, "/v1/prefix/history?cidr=10.0.0.0/16")
    own = {("PrefixAdded", "super"), ("ChildNetworkAllocated", "child_a"),
           ("PrefixAdded", "child_a"), ("IPAcquired", "ip_a"), ("IPAcquired", "ip_a_shared")}
    of_b = {("ChildNetworkAllocated", "child_b"), ("PrefixAdded", "child_b"),
            ("IPAcquired", "ip_b"), ("ChildNetworkAllocated", "shared_b"),
            ("PrefixAdded", "shared_b"), ("IPAcquired", "ip_b_shared")}
    assert {who: {about(world, e) for e in events} for who, events in seen.items()} == {
        who: own if who in BOUND_TO_A else own | of_b for who in WHO}


def walk(world: World, who: str, path: str, limit: int, order: str) -> list[dict[str, Any]]:
    """Every event of a history, page by page; each page's `next` must be the position of its
    last event, and only a full page may have one."""
    events: list[dict[str, Any]] = []
    cursor = ""
    joiner = "&" if "?" in path else "?"
    for _ in range(200):
        page = world.ok("GET", f"{path}{joiner}limit={limit}&order={order}{cursor}", who=who)
        events += page["events"]
        if page["next"] is None:
            return events
        assert len(page["events"]) == limit, (who, path, page)
        assert page["next"] == page["events"][-1]["position"], (who, path, page)
        cursor = f"&cursor={page['next']}"
    raise AssertionError(f"{path} did not end")


def test_history_cursors_point_only_at_events_the_principal_sees(world: World) -> None:
    """B's address churns between A's events: a principal bound to A walks every history page
    by page and never gets a cursor (nor an empty page with a cursor) that tells where B's
    events are; the walk returns exactly what one page returns."""
    for _ in range(4):
        address = world.acquire("child_b", B)
        world.ok("DELETE", f"/v1/ip/free/{address}")
        world.ok("POST", "/v1/ip", {"ipaddress": world.names["ip_b"], "name": f"b-{address}"})
        world.acquire("child_a", A)
    paths = ["/v1/prefix/history?cidr=10.0.0.0/16", "/v1/prefix/history?cidr=10.0.0.0/16&type=IPAcquired",
             "/v1/network/{super}/history", "/v1/ip/{ip_b}/history", "/v1/ip/{ip_a}/history",
             "/v1/network/{internet}/history?type=IPAcquired&type=IPReleased"]
    for who in ("viewer-a", "editor-ab", "admin"):
        for template in paths:
            path = template.format_map(world.names)
            joiner = "&" if "?" in path else "?"
            whole = world.ok("GET", f"{path}{joiner}limit=1000", who=who)
            assert whole["next"] is None
            for limit, order in ((1, "asc"), (2, "desc"), (3, "asc")):
                walked = walk(world, who, path, limit, order)
                expected = whole["events"] if order == "asc" else whole["events"][::-1]
                assert walked == expected, (who, path, limit, order)
    hidden = world.ok("GET", f"/v1/ip/{world.names['ip_b']}/history?limit=1", who="viewer-a")
    assert hidden == {"events": [], "next": None}


# -- who did it --------------------------------------------------------------------------------

def test_history_records_the_token_subject_as_actor(world: World) -> None:
    child = world.ok("POST", "/v1/network/allocate", {"partitionid": PARTITION, "projectid": A},
                     who="editor-a")["id"]
    address = world.ok("POST", "/v1/ip/allocate", {"networkid": child, "projectid": A},
                       who="editor-ab")["ipaddress"]
    world.ok("POST", "/v1/ip", {"ipaddress": address, "name": "web"}, who="admin-a")
    world.ok("DELETE", f"/v1/ip/free/{address}", who="editor")
    events = world.ok("GET", f"/v1/network/{child}/history", who="viewer-a")["events"]
    assert [(e["type"], e["actor"]) for e in events] == [
        ("NetworkCreated", "editor-a"), ("PrefixAdded", "editor-a"), ("PrefixAdded", "editor-a"),
        ("IPAcquired", "editor-ab"), ("IPUpdated", "admin-a"), ("IPReleased", "editor"),
    ]
    allocations = world.ok("GET", "/v1/network/super/history?type=ChildNetworkAllocated")["events"]
    assert {about(world, e)[1]: e["actor"] for e in allocations if e["facts"]["child_id"] != child} == {
        "child_a": "root", "child_b": "root", "shared_b": "root"}
    assert [e["actor"] for e in allocations if e["facts"]["child_id"] == child] == ["editor-a"]


# -- no valid token, no entry ------------------------------------------------------------------

def refused_credentials(world: World, ipam: Ipam) -> dict[str, dict[str, str]]:
    """The Authorization headers (or none) of callers who must not get in, by kind."""
    revoked, revoked_secret = ipam.tokens.issue(context=ISSUER, subject="gone", role="admin")
    assert world.http.get("/v1/network", headers={
        "Authorization": f"Bearer {revoked_secret}"}).status_code == 200
    ipam.tokens.revoke(revoked.token_id, context=ISSUER)
    # a token is expired when `expires_at <= now` as it is used: a microsecond after issuing is
    # long past once the token is stored and a request arrives
    expired, expired_secret = ipam.tokens.issue(context=ISSUER, subject="late", role="admin",
                                                expires_in=timedelta(microseconds=1))
    states = {t.token_id: t.state(datetime.now(UTC)) for t in ipam.tokens.list()}
    assert (states[revoked.token_id], states[expired.token_id]) == ("revoked", "expired")
    return {
        "none": {},
        "empty": {"Authorization": "Bearer "},
        "garbage": {"Authorization": "Bearer not-a-token"},
        "unknown": {"Authorization": "Bearer ipam_" + "A" * 43},
        "not bearer": {"Authorization": f"Basic {world.secrets['admin']}"},
        "revoked": {"Authorization": f"Bearer {revoked_secret}"},
        "expired": {"Authorization": f"Bearer {expired_secret}"},
    }


def test_every_route_answers_401_when_the_token_is_missing_unknown_revoked_or_expired(
    world: World, ipam: Ipam,
) -> None:
    requests = [world.request(row) for row in MATRIX]
    credentials = refused_credentials(world, ipam)
    before = (world.ok("GET", "/v1/network"), world.ok("GET", "/v1/ip"))
    wrong = []
    for kind, headers in credentials.items():
        for method, path, body in requests:
            response = world.http.request(method, path, json=body, headers=headers)
            if (response.status_code, response.json().get("statuscode"),
                    response.headers.get("WWW-Authenticate")) != (401, 401, 'Bearer realm="ipam"'):
                wrong.append((kind, method, path, response.status_code, response.text[:160]))
        assert world.http.get("/v1/health", headers=headers).status_code == 200
    assert not wrong, "\n".join(map(str, wrong))
    assert (world.ok("GET", "/v1/network"), world.ok("GET", "/v1/ip")) == before
