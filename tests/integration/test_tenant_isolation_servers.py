"""Tenant isolation probed as a hostile tenant would, from outside, against real `ipam serve`
processes: one on a SQLite file, two workers on PostgreSQL (issue 9).

- frees and updates by project A racing project B's acquisition of the same address never touch
  B's allocation;
- an idempotent replay goes only to the credential that made the request, and keys of different
  subjects never meet;
- an admin bound to projects creates no partition infrastructure and carves from no super of
  another project;
- history cursors of a scoped principal never point at another project's events;
- ids and prefixes that could not be addressed later are refused;
- no redirect to the request's Host, no query string in the access log, no server header.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from application.context import RequestContext
from infrastructure.store import open_ipam
from tests.live import Live, bearer, ipam_serve

A, B = "project-a", "project-b"
ROUNDS = 20
MACHINE_TAG = "machine.metal-stack.io/id=machine-of-a"


@pytest.fixture
def live(db_url: str, tmp_path: Path) -> Iterator[Live]:
    """`ipam serve` on the store, logging every request; two workers on PostgreSQL."""
    args = ["--log-level", "info"]
    if db_url.startswith("postgresql"):
        args += ["--workers", "2"]
    with ipam_serve(db_url, tmp_path, args) as running:
        yield running


def tokens(live: Live, **wanted: tuple[str, str, list[str]]) -> dict[str, dict[str, str]]:
    """Authorization headers of new tokens: name -> (subject, role, projects)."""
    opened = open_ipam(live.database_url)
    try:
        issued = {}
        for name, (subject, role, projects) in wanted.items():
            _, secret = opened.tokens.issue(context=RequestContext.new(actor="tests"),
                                            subject=subject, role=role, projects=projects)
            issued[name] = bearer(secret)
        return issued
    finally:
        opened.close()


def call(live: Live, headers: dict[str, str], method: str, path: str,
         body: Any = None, **extra: str) -> httpx.Response:
    return httpx.request(method, f"{live.url}{path}", json=body, timeout=60,
                         headers={**headers, **extra})


def ok(live: Live, method: str, path: str, body: Any = None,
       headers: dict[str, str] | None = None) -> Any:
    response = call(live, headers or live.headers, method, path, body)
    assert response.status_code in (200, 201), (method, path, response.text)
    return response.json()


def together(calls: Sequence[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    """Run the calls on as many threads, released at once."""
    barrier = threading.Barrier(len(calls))

    def run(request: Callable[[], httpx.Response]) -> httpx.Response:
        barrier.wait(timeout=60)
        return request()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def history(live: Live, cidr: str) -> list[dict[str, Any]]:
    """Every event inside the CIDR, as the unbound admin sees them, oldest first."""
    events: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = ok(live, "GET", f"/v1/prefix/history?cidr={cidr}&limit=1000{cursor}")
        events += page["events"]
        if page["next"] is None:
            return events
        cursor = f"&cursor={page['next']}"


# -- 1. writes act on the allocation they were authorised for ---------------------------------

def test_frees_and_updates_racing_another_projects_acquisition_never_touch_it(live: Live) -> None:
    """Each round: A acquires the lowest free address of a project-less network, then frees it
    from four threads and updates it from three (every other round with a machine tag, which
    would keep B from freeing it) while B acquires from another thread: B gets the lowest free
    address, often the one A frees. Whatever the interleaving, no free or update of A's lands
    on B's allocation, and B's IP stays as B made it."""
    who = tokens(live, a=("tenant-a", "editor", [A]), b=("tenant-b", "editor", [B]))
    ok(live, "PUT", "/v1/network", {"id": "commons", "prefixes": ["10.77.0.0/24"]})
    b_held: dict[str, str] = {}
    raced = 0
    for round_ in range(ROUNDS):
        a_ip = ok(live, "POST", "/v1/ip/allocate", {"networkid": "commons", "projectid": A},
                  headers=who["a"])["ipaddress"]
        free = partial(call, live, who["a"], "DELETE", f"/v1/ip/free/{a_ip}")
        update = partial(call, live, who["a"], "POST", "/v1/ip", {
            "ipaddress": a_ip, "name": f"a-{round_}",
            "tags": [MACHINE_TAG] if round_ % 2 else ["a-was-here"]})
        acquire = partial(call, live, who["b"], "POST", "/v1/ip/allocate", {
            "networkid": "commons", "projectid": B, "name": f"b-{round_}"})
        answers = together([free] * 4 + [update] * 3 + [acquire])
        frees, updates = answers[:4], answers[4:7]
        assert {r.status_code for r in updates} <= {200, 404}, [r.text for r in updates]
        assert {r.status_code for r in frees} <= {200, 400, 404}, [r.text for r in frees]
        assert all(r.json()["message"] == "ip with machine scope can not be deleted"
                   for r in frees if r.status_code == 400)
        assert answers[7].status_code == 201, answers[7].text
        b_ip = answers[7].json()["ipaddress"]
        raced += b_ip == a_ip
        b_held[b_ip] = answers[7].json()["allocationuuid"]
        mine = ok(live, "GET", f"/v1/ip/{b_ip}", headers=who["b"])
        assert (mine["projectid"], mine["name"], mine["tags"]) == (B, f"b-{round_}", []), mine
    assert raced > 0, "B never acquired the address A was freeing: the race was not exercised"

    events = history(live, "10.77.0.0/24")
    project_of = {e["facts"]["allocation_uuid"]: e["facts"]["project_id"]
                  for e in events if e["type"] == "IPAcquired"}
    touched_by_a = [(e["type"], project_of[e["facts"]["allocation_uuid"]]) for e in events
                    if e["actor"] == "tenant-a" and e["type"] in ("IPReleased", "IPUpdated")]
    assert touched_by_a and {project for _, project in touched_by_a} == {A}, touched_by_a
    still = {ip["ipaddress"]: ip["allocationuuid"] for ip in
             ok(live, "POST", "/v1/ip/find", {"projectid": B})}
    assert still == b_held
    for address in b_held:  # no machine tag of A's keeps B from freeing its own
        assert call(live, who["b"], "DELETE", f"/v1/ip/free/{address}").status_code == 200


# -- 2. idempotent replays ---------------------------------------------------------------------

def test_replay_goes_only_to_the_credential_that_made_the_request(live: Live) -> None:
    who = tokens(live, editor_b=("team", "editor", [B]), viewer_a=("team", "viewer", [A]),
                 editor_a=("team", "editor", [A]), editor_b2=("team", "editor", [B]))
    ok(live, "PUT", "/v1/network", {"id": "commons", "prefixes": ["10.78.0.0/24"]})
    body = {"networkid": "commons", "projectid": B, "name": "first"}
    key = {"Idempotency-Key": "K1"}
    first = call(live, who["editor_b"], "POST", "/v1/ip/allocate", body, **key)
    assert first.status_code == 201, first.text
    again = call(live, who["editor_b"], "POST", "/v1/ip/allocate", body, **key)
    assert (again.status_code, again.json()) == (201, first.json())
    # the same subject with other tokens gets what the request itself would get
    viewer = call(live, who["viewer_a"], "POST", "/v1/ip/allocate", body, **key)
    assert (viewer.status_code, viewer.json()["statuscode"]) == (403, 403), viewer.text
    other_project = call(live, who["editor_a"], "POST", "/v1/ip/allocate", body, **key)
    assert other_project.status_code == 403, other_project.text
    assert first.json()["ipaddress"] not in viewer.text + other_project.text
    # another token allowed to make the request makes its own
    own = call(live, who["editor_b2"], "POST", "/v1/ip/allocate", body, **key)
    assert own.status_code == 201 and own.json()["ipaddress"] != first.json()["ipaddress"]
    assert len(ok(live, "POST", "/v1/ip/find", {"networkid": "commons"})) == 2


def test_keys_of_different_subjects_never_meet(live: Live) -> None:
    """`team:x` with key `K5` and `team` with key `x:K5` are two requests."""
    who = tokens(live, colon=("team:x", "editor", []), plain=("team", "editor", []))
    ok(live, "PUT", "/v1/network", {"id": "commons", "prefixes": ["10.79.0.0/24"]})
    body = {"networkid": "commons", "projectid": A}
    one = call(live, who["colon"], "POST", "/v1/ip/allocate", body, **{"Idempotency-Key": "K5"})
    two = call(live, who["plain"], "POST", "/v1/ip/allocate", body, **{"Idempotency-Key": "x:K5"})
    assert (one.status_code, two.status_code) == (201, 201), two.text
    assert one.json()["ipaddress"] != two.json()["ipaddress"]


# -- 3. partition infrastructure ---------------------------------------------------------------

def test_admin_bound_to_projects_creates_no_partition_infrastructure(live: Live) -> None:
    who = tokens(live, admin_a=("admin-a", "admin", [A]), editor_a=("editor-a", "editor", [A]))
    infrastructure: dict[str, dict[str, Any]] = {
        "private super": {"partitionid": "p1", "privatesuper": True,
                          "defaultchildprefixlength": {"IPv4": 28}},
        "underlay": {"partitionid": "p1", "underlay": True},
        "chosen vrf": {"vrf": 77},
    }
    for n, (kind, extra) in enumerate(infrastructure.items()):
        body = {"id": f"n{n}", "prefixes": [f"10.80.{n}.0/24"], "projectid": A, **extra}
        refused = call(live, who["admin_a"], "PUT", "/v1/network", body)
        assert refused.status_code == 403, (kind, refused.text)
        assert "bound to projects" in refused.json()["message"], refused.text
        assert call(live, live.headers, "GET", f"/v1/network/n{n}").status_code == 404
    projectless = call(live, who["admin_a"], "PUT", "/v1/network",
                       {"id": "n9", "prefixes": ["10.80.9.0/24"]})
    assert projectless.status_code == 403, projectless.text
    own = call(live, who["admin_a"], "PUT", "/v1/network",
               {"id": "n8", "prefixes": ["10.80.8.0/24"], "projectid": A})
    assert own.status_code == 201, own.text
    # a super of project B (made by an unbound admin) is no partition A can carve from
    ok(live, "PUT", "/v1/network", {"id": "super-b", "prefixes": ["10.81.0.0/16"],
                                     "partitionid": "p-b", "projectid": B, "privatesuper": True,
                                     "defaultchildprefixlength": {"IPv4": 24}})
    carved = call(live, who["editor_a"], "POST", "/v1/network/allocate",
                  {"partitionid": "p-b", "projectid": A})
    missing = call(live, who["editor_a"], "POST", "/v1/network/allocate",
                   {"partitionid": "p-none", "projectid": A})
    assert (carved.status_code, missing.status_code) == (404, 404)
    assert carved.json()["message"].replace("p-b", "P") == missing.json()["message"].replace("p-none", "P")


# -- 4. history cursors ------------------------------------------------------------------------

def test_history_cursor_of_a_scoped_viewer_reveals_nothing_of_another_project(live: Live) -> None:
    who = tokens(live, viewer_a=("viewer-a", "viewer", [A]))
    ok(live, "PUT", "/v1/network", {"id": "commons", "prefixes": ["10.82.0.0/24"]})
    b_ip = ok(live, "POST", "/v1/ip/allocate", {"networkid": "commons", "projectid": B})["ipaddress"]
    for n in range(3):
        ok(live, "POST", "/v1/ip", {"ipaddress": b_ip, "name": f"b{n}"})
    a_ip = ok(live, "POST", "/v1/ip/allocate", {"networkid": "commons", "projectid": A})["ipaddress"]
    for path in (f"/v1/ip/{b_ip}/history?limit=1", f"/v1/ip/{b_ip}/history?limit=1&type=IPUpdated",
                 "/v1/prefix/history?cidr=10.82.0.0/24&limit=1&type=IPUpdated"):
        assert ok(live, "GET", path, headers=who["viewer_a"]) == {"events": [], "next": None}, path
    page = ok(live, "GET", "/v1/prefix/history?cidr=10.82.0.0/24&limit=1&type=IPAcquired",
              headers=who["viewer_a"])
    assert [e["facts"]["address"] for e in page["events"]] == [a_ip] and page["next"] is None


# -- 5. what cannot be addressed later ---------------------------------------------------------

BAD_IDS = ["a/b", "a b", "a\nb", "\u202eab", "a\u200bb", "-ab", ".ab", "x" * 129, "caf\u00e9",
           "a?b", "a%2Fb", "a#b"]


@pytest.mark.parametrize("field", ["id", "partitionid", "projectid"])
def test_ids_that_cannot_be_addressed_are_refused(live: Live, field: str) -> None:
    for n, bad in enumerate(BAD_IDS):
        body = {"id": f"net-{field}-{n}", "prefixes": [f"10.83.{n}.0/24"], field: bad}
        refused = call(live, live.headers, "PUT", "/v1/network", body)
        assert refused.status_code == 400, (field, bad, refused.text)
        message = refused.json()["message"]
        assert field.replace("id", " id") in message or field in message, message
        assert "letters, digits" in message and "\n" not in message and "\u202e" not in message
    assert ok(live, "GET", "/v1/network") == []
    good = "Net-1.a_b:c-" + "x" * 116
    assert len(good) == 128
    ok(live, "PUT", "/v1/network", {"id": good, "prefixes": ["10.84.0.0/24"], "partitionid": "p.1",
                                     "projectid": "4b9b17c4-2d7c-4190-ae95-dda44e430fa6"})
    assert ok(live, "GET", f"/v1/network/{good}")["id"] == good
    assert ok(live, "DELETE", f"/v1/network/{good}")["id"] == good


def test_acquisition_for_a_project_id_that_cannot_be_addressed_is_refused(live: Live) -> None:
    ok(live, "PUT", "/v1/network", {"id": "commons", "prefixes": ["10.85.0.0/24"]})
    refused = call(live, live.headers, "POST", "/v1/ip/allocate",
                   {"networkid": "commons", "projectid": "a b"})
    assert refused.status_code == 400 and "projectid" in refused.json()["message"], refused.text
    assert ok(live, "GET", "/v1/ip") == []


@pytest.mark.parametrize(("prefixes", "destinations", "told"), [
    (["::ffff:10.0.0.1/128"], [], "IPv4-mapped"),
    (["::ffff:0:0/96"], [], "IPv4-mapped"),
    (["::/64"], [], "IPv4-mapped"),
    (["10.86.0.0/024"], [], "not a valid CIDR"),
    (["2001:db8:86::/064"], [], "not a valid CIDR"),
    (["10.86.0.0/255.255.255.0"], [], "not a valid CIDR"),
    (["010.86.0.0/24"], [], "not a valid CIDR"),
    (["10.86.0.0/24"], ["0.0.0.0/00"], "not a valid CIDR"),
])
def test_prefixes_that_would_manage_an_address_twice_or_read_ambiguously_are_refused(
    live: Live, prefixes: list[str], destinations: list[str], told: str,
) -> None:
    refused = call(live, live.headers, "PUT", "/v1/network",
                   {"id": "n", "prefixes": prefixes, "destinationprefixes": destinations})
    assert refused.status_code == 400 and told in refused.json()["message"], refused.text
    assert call(live, live.headers, "GET", "/v1/network/n").status_code == 404


def test_default_route_and_ipv6_networks_stay_accepted(live: Live) -> None:
    created = ok(live, "PUT", "/v1/network", {
        "id": "internet", "prefixes": ["2001:db8:87::/48", "10.87.0.0/24"],
        "destinationprefixes": ["::/0", "0.0.0.0/0"]})
    assert created["destinationprefixes"] == ["::/0", "0.0.0.0/0"]


# -- 6. headers and logs -----------------------------------------------------------------------

def test_no_redirect_to_the_requests_host_and_no_server_header(live: Live) -> None:
    ok(live, "PUT", "/v1/network", {"id": "commons", "prefixes": ["10.88.0.0/24"]})
    plain = call(live, live.headers, "GET", "/v1/network")
    for path in ("/v1/network/", "/v1/network//"):
        slashed = httpx.get(f"{live.url}{path}", headers={**live.headers, "Host": "evil.example"},
                            follow_redirects=False)
        assert (slashed.status_code, slashed.json()) == (200, plain.json()), slashed.text
        assert "location" not in slashed.headers
    one = httpx.get(f"{live.url}/v1/network/commons/", headers={"Host": "evil.example", **live.headers})
    assert one.status_code == 200 and one.json()["id"] == "commons"
    for response in (plain, one, httpx.get(f"{live.url}/v1/health"),
                     httpx.get(f"{live.url}/v1/nothing-here", headers=live.headers)):
        assert "server" not in response.headers, response.headers


def test_access_log_writes_no_query_string(live: Live, tmp_path: Path) -> None:
    secret = "ipam_" + "S" * 43
    for path in (f"/v1/network?access_token={secret}", f"/v1/health?token={secret}",
                 f"/v1/ip?x={secret}"):
        httpx.get(f"{live.url}{path}", headers=live.headers)
    httpx.get(f"{live.url}/v1/network?token={secret}")  # refused (401): logged all the same
    logs = "".join(p.read_text() for p in tmp_path.glob("server-*.log"))
    for line in ('"GET /v1/network HTTP/1.1"', '"GET /v1/ip HTTP/1.1"', '"GET /v1/health HTTP/1.1"',
                 '"GET /v1/network HTTP/1.1" 401'):  # the access log is written, paths only
        assert line in logs, logs
    assert secret not in logs and "access_token" not in logs and "?" not in logs, logs
