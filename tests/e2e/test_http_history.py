"""History over real HTTP (ASGI): who and why on every change, a network's events across its
lives, an address's lives across networks, everything inside a CIDR, filters and pages."""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import pytest

from tests.conftest import SEED_PROJECT, SEED_SUPER
from tests.e2e.test_http_errors import assert_error
from tests.e2e.test_http_ips import acquire
from tests.e2e.test_http_networks import allocate, assert_rfc3339, create

SUPER = SEED_SUPER["id"]
US = timedelta(microseconds=1)
RECORD_FIELDS = frozenset({
    "position", "network", "aggregate_id", "version", "time", "type", "actor", "request_id",
    "reason", "facts",
})
EVENT_TYPES = frozenset({
    "NetworkCreated", "NetworkRecreated", "PrefixAdded", "PrefixRemoved", "NetworkUpdated",
    "ChildNetworkAllocated", "ChildNetworkReleased", "NetworkDeleted", "IPAcquired",
    "IPUpdated", "IPReleased",
})


def page(client: Any, path: str, params: Any = None) -> dict[str, Any]:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"events", "next"}
    return body


def history(client: Any, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every event of a history, following `next` to the last page."""
    collected: list[dict[str, Any]] = []
    cursor: int | None = None
    while True:
        body = page(client, path, {**params, **({} if cursor is None else {"cursor": cursor})})
        collected += body["events"]
        if body["next"] is None:
            return collected
        cursor = body["next"]


def when(record: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(record["time"])


def change(client: Any, method: str, path: str, step: str, body: Any = None) -> dict[str, Any]:
    """A change sent with request id `step` and reason `because <step>`."""
    headers = {"X-Request-Id": step, "X-Change-Reason": f"because {step}"}
    response = client.request(method, path, json=body, headers=headers)
    assert response.status_code in (200, 201), response.text
    assert response.headers["X-Request-Id"] == step
    return response.json()  # type: ignore[no-any-return]


@pytest.fixture
def lives(client: Any) -> dict[str, Any]:
    """The super lives twice (created, deleted, re-created); its child comes and goes."""
    super_body = {**SEED_SUPER, "prefixes": ["10.0.0.0/16", "2001:DB8:0:10::/64"]}
    change(client, "PUT", "/v1/network", "create", super_body)
    child = change(client, "POST", "/v1/network/allocate", "allocate",
                   {"partitionid": "mini-lab", "projectid": SEED_PROJECT})
    ip = {"networkid": child["id"], "projectid": SEED_PROJECT}
    change(client, "POST", "/v1/ip/allocate", "acquire-v4", ip)
    change(client, "POST", "/v1/ip/allocate/2001:DB8:0:10:0::7", "acquire-v6", ip)
    change(client, "POST", "/v1/ip", "update-ip", {"ipaddress": "10.0.0.1", "name": "web", "tags": ["a=1"]})
    change(client, "DELETE", "/v1/ip/free/10.0.0.1", "release-v4")
    change(client, "DELETE", "/v1/ip/free/2001:db8:0:10::7", "release-v6")
    change(client, "DELETE", f"/v1/network/free/{child['id']}", "free")
    change(client, "POST", "/v1/network", "update", {"id": SUPER, "name": "renamed"})
    change(client, "DELETE", f"/v1/network/{SUPER}", "delete")
    change(client, "PUT", "/v1/network", "recreate", SEED_SUPER)
    change(client, "PUT", "/v1/network", "plain-create",
           {"id": "plain", "prefixes": ["192.168.0.0/24", "2001:db8:1::/64"]})
    change(client, "POST", "/v1/network", "plain-shrink", {"id": "plain", "prefixes": ["192.168.0.0/24"]})
    return child


def steps(records: list[dict[str, Any]]) -> list[tuple[int, str, str]]:
    return [(r["version"], r["type"], r["request_id"]) for r in records]


# -- who and why ---------------------------------------------------------------------------------

def test_network_history_tells_both_lives_in_order(client: Any, lives: dict[str, Any]) -> None:
    records = history(client, f"/v1/network/{SUPER}/history")
    assert steps(records) == [
        (1, "NetworkCreated", "create"), (2, "PrefixAdded", "create"), (3, "PrefixAdded", "create"),
        (4, "ChildNetworkAllocated", "allocate"), (5, "ChildNetworkReleased", "free"),
        (6, "NetworkUpdated", "update"), (7, "NetworkDeleted", "delete"),
        (8, "NetworkRecreated", "recreate"), (9, "PrefixAdded", "recreate"), (10, "PrefixAdded", "recreate"),
    ]
    assert {(r["network"], r["aggregate_id"]) for r in records} == {(SUPER, records[0]["aggregate_id"])}
    positions = [r["position"] for r in records]
    assert positions == sorted(set(positions))
    assert [when(r) for r in records] == sorted(when(r) for r in records)


def test_network_history_of_freed_child_answers_200(client: Any, lives: dict[str, Any]) -> None:
    assert client.get(f"/v1/network/{lives['id']}").status_code == 404
    assert steps(history(client, f"/v1/network/{lives['id']}/history")) == [
        (1, "NetworkCreated", "allocate"), (2, "PrefixAdded", "allocate"), (3, "PrefixAdded", "allocate"),
        (4, "IPAcquired", "acquire-v4"), (5, "IPAcquired", "acquire-v6"), (6, "IPUpdated", "update-ip"),
        (7, "IPReleased", "release-v4"), (8, "IPReleased", "release-v6"), (9, "NetworkDeleted", "free"),
    ]


def test_every_event_type_records_who_when_why_and_plain_facts(client: Any, lives: dict[str, Any]) -> None:
    records = [r for network in (SUPER, lives["id"], "plain")
               for r in history(client, f"/v1/network/{network}/history")]
    assert {r["type"] for r in records} == EVENT_TYPES
    for record in records:
        assert set(record) == RECORD_FIELDS
        assert_rfc3339(record["time"])
        assert record["actor"] == "test-admin"
        assert record["reason"] == f"because {record['request_id']}"
        facts = record["facts"]
        prefixes = [facts["prefix"]] if "prefix" in facts else []
        prefixes += [*(facts.get("prefixes") or []), *(facts.get("destination_prefixes") or [])]
        for prefix in prefixes:
            assert isinstance(prefix, str) and str(ipaddress.ip_network(prefix)) == prefix
        if "address" in facts:
            assert str(ipaddress.ip_address(facts["address"])) == facts["address"]
    by_step = {(r["request_id"], r["type"]): r["facts"] for r in records}
    assert by_step["create", "PrefixAdded"] == {"prefix": "2001:db8:0:10::/64"}  # sent in capitals
    assert by_step["allocate", "ChildNetworkAllocated"]["prefixes"] == ["10.0.0.0/22", "2001:db8:0:10::/96"]
    assert by_step["acquire-v6", "IPAcquired"]["address"] == "2001:db8:0:10::7"
    assert by_step["acquire-v6", "IPAcquired"]["prefix"] == "2001:db8:0:10::/96"
    assert by_step["update-ip", "IPUpdated"]["tags"] == ["a=1"]
    assert by_step["plain-shrink", "PrefixRemoved"] == {"prefix": "2001:db8:1::/64"}
    assert by_step["create", "NetworkCreated"]["default_child_prefix_length"] == {"IPv4": 22, "IPv6": 96}


def test_request_id_is_generated_and_recorded_when_absent(client: Any) -> None:
    response = client.put("/v1/network", json={"id": "n", "prefixes": ["10.1.0.0/24"]})
    assert response.status_code == 201
    generated = response.headers["X-Request-Id"]
    assert str(UUID(generated)) == generated
    records = history(client, "/v1/network/n/history")
    assert [(r["request_id"], r["reason"], r["actor"]) for r in records] == [
        (generated, None, "test-admin")] * 2  # NetworkCreated, PrefixAdded


def test_change_reason_too_long_answers_400_and_records_nothing(client: Any) -> None:
    body = {"id": "n", "prefixes": ["10.1.0.0/24"]}
    assert_error(client.put("/v1/network", json=body, headers={"X-Change-Reason": "x" * 1025}), 400)
    assert_error(client.get("/v1/network/n/history"), 404)
    assert client.put("/v1/network", json=body, headers={"X-Change-Reason": "y" * 1024}).status_code == 201
    assert {r["reason"] for r in history(client, "/v1/network/n/history")} == {"y" * 1024}


def test_network_history_of_unknown_id_answers_404(client: Any) -> None:
    assert_error(client.get("/v1/network/nope/history"), 404)


# -- an address's lives, a CIDR's contents ---------------------------------------------------------

def test_ip_history_follows_address_across_networks_and_time(client: Any) -> None:
    create(client, SEED_SUPER)
    first = allocate(client)
    held = acquire(client, first["id"])
    assert client.post("/v1/ip", json={"ipaddress": "10.0.0.1", "name": "web"}).status_code == 200
    assert client.delete("/v1/ip/free/10.0.0.1").status_code == 200
    assert client.delete(f"/v1/network/free/{first['id']}").status_code == 200
    second = allocate(client)
    assert second["prefixes"] == first["prefixes"]  # the same block again
    again = acquire(client, second["id"])
    records = history(client, "/v1/ip/10.0.0.1/history")
    assert [(r["type"], r["network"], r["facts"]["allocation_uuid"]) for r in records] == [
        ("IPAcquired", first["id"], held["allocationuuid"]),
        ("IPUpdated", first["id"], held["allocationuuid"]),
        ("IPReleased", first["id"], held["allocationuuid"]),
        ("IPAcquired", second["id"], again["allocationuuid"]),
    ]
    assert held["allocationuuid"] != again["allocationuuid"]
    assert history(client, "/v1/ip/10.0.0.2/history") == []
    assert_error(client.get("/v1/ip/10.0.0.256/history"), 400)
    assert_error(client.get("/v1/ip/nope/history"), 400)


def test_ip_history_takes_ipv6_address_in_path(client: Any, lives: dict[str, Any]) -> None:
    expected = [("IPAcquired", "acquire-v6"), ("IPReleased", "release-v6")]
    for path in ("2001:db8:0:10::7", "2001:DB8:0:10:0:0:0:7"):
        records = history(client, f"/v1/ip/{path}/history")
        assert [(r["type"], r["request_id"]) for r in records] == expected
        assert {r["facts"]["address"] for r in records} == {"2001:db8:0:10::7"}


def test_prefix_history_holds_everything_inside_the_cidr(client: Any) -> None:
    create(client, SEED_SUPER)
    inside, beside = allocate(client), allocate(client)
    assert (inside["prefixes"][0], beside["prefixes"][0]) == ("10.0.0.0/22", "10.0.4.0/22")
    acquire(client, inside["id"])
    acquire(client, beside["id"])
    acquire(client, inside["id"], addressfamily="IPv6")
    assert client.delete("/v1/ip/free/10.0.0.1").status_code == 200
    records = history(client, "/v1/prefix/history", cidr="10.0.0.0/22")
    assert [(r["type"], r["network"]) for r in records] == [
        ("PrefixAdded", SUPER),  # 10.0.0.0/16 holds the CIDR
        ("ChildNetworkAllocated", SUPER), ("PrefixAdded", inside["id"]),
        ("IPAcquired", inside["id"]), ("IPReleased", inside["id"]),
    ]
    assert records[2]["facts"] == {"prefix": "10.0.0.0/22"}
    assert {r["facts"]["address"] for r in records[3:]} == {"10.0.0.1"}
    v6 = history(client, "/v1/prefix/history", cidr="2001:db8:0:10::/96")
    assert [(r["type"], r["network"]) for r in v6][-2:] == [
        ("PrefixAdded", inside["id"]), ("IPAcquired", inside["id"])]
    assert history(client, "/v1/prefix/history", cidr="192.168.0.0/24") == []


@pytest.mark.parametrize("query", ["cidr=10.0.0.1/22", "cidr=banana", "cidr=10.0.0.0/33", ""])
def test_prefix_history_answers_400_for_bad_or_missing_cidr(client: Any, query: str) -> None:
    assert_error(client.get(f"/v1/prefix/history?{query}"), 400)


# -- filters and pages -----------------------------------------------------------------------------

@pytest.fixture
def busy(client: Any) -> list[dict[str, Any]]:
    """A network with ten events: created, its prefix, eight acquisitions."""
    create(client, {"id": "busy", "prefixes": ["10.9.0.0/24"]})
    for _ in range(8):
        acquire(client, "busy")
    records: list[dict[str, Any]] = page(client, "/v1/network/busy/history", {"limit": 1000})["events"]
    assert [r["type"] for r in records] == ["NetworkCreated", "PrefixAdded", *["IPAcquired"] * 8]
    return records


def test_type_filter_is_repeatable(client: Any, lives: dict[str, Any]) -> None:
    path = f"/v1/network/{SUPER}/history"
    picked = page(client, path, [("type", "PrefixAdded"), ("type", "NetworkDeleted")])["events"]
    assert [r["version"] for r in picked] == [2, 3, 7, 9, 10]
    assert page(client, path, {"type": "IPAcquired"}) == {"events": [], "next": None}


def test_time_window_is_inclusive_in_any_offset(client: Any, busy: list[dict[str, Any]]) -> None:
    path, since, until = "/v1/network/busy/history", when(busy[3]), when(busy[6])
    assert history(client, path, since=since.isoformat(), until=until.isoformat()) == busy[3:7]
    plus_two = timezone(timedelta(hours=2))
    assert history(client, path, since=since.astimezone(plus_two).isoformat(),
                   until=until.astimezone(plus_two).isoformat()) == busy[3:7]
    assert history(client, path, since=(since + US).isoformat(), until=(until - US).isoformat()) == busy[4:6]
    assert history(client, path, since=since.isoformat(), until=since.isoformat()) == [busy[3]]


def test_window_outside_the_events_gives_empty_page(client: Any, busy: list[dict[str, Any]]) -> None:
    empty: dict[str, Any] = {"events": [], "next": None}
    before = (when(busy[0]) - US).isoformat()
    assert page(client, "/v1/network/busy/history", {"until": before}) == empty
    assert page(client, "/v1/prefix/history", {"cidr": "10.9.0.0/24", "until": before}) == empty
    after = (when(busy[-1]) + US).isoformat()
    assert page(client, "/v1/ip/10.9.0.1/history", {"since": after}) == empty


def test_order_desc_gives_newest_first(client: Any, busy: list[dict[str, Any]]) -> None:
    assert history(client, "/v1/network/busy/history", order="desc") == busy[::-1]
    assert page(client, "/v1/network/busy/history", {"order": "desc", "limit": 1})["events"] == [busy[-1]]


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("path", ["/v1/network/busy/history", "/v1/prefix/history"])
def test_limit_one_walks_every_event_once(
    client: Any, busy: list[dict[str, Any]], path: str, order: str
) -> None:
    expected = busy if path.startswith("/v1/network") else busy[1:]  # NetworkCreated holds no prefix
    expected = expected if order == "asc" else expected[::-1]
    walked, cursor = [], None
    params: dict[str, Any] = {"limit": 1, "order": order}
    if path == "/v1/prefix/history":
        params["cidr"] = "10.9.0.0/24"
    while True:
        body = page(client, path, {**params, **({} if cursor is None else {"cursor": cursor})})
        assert len(body["events"]) == 1
        walked += body["events"]
        cursor = body["next"]
        if cursor is None:
            break
        assert cursor == body["events"][0]["position"]
    assert walked == expected


@pytest.mark.parametrize(("limit", "sizes"), [(2, [2] * 5), (5, [5, 5]), (10, [10]), (3, [3, 3, 3, 1])])
def test_pages_end_without_empty_page(
    client: Any, busy: list[dict[str, Any]], limit: int, sizes: list[int]
) -> None:
    seen: list[int] = []
    params: dict[str, Any] = {"limit": limit}
    while True:
        body = page(client, "/v1/network/busy/history", params)
        seen.append(len(body["events"]))
        if body["next"] is None:
            break
        params["cursor"] = body["next"]
    assert seen == sizes


def test_filtered_pages_walk_newest_first(client: Any, busy: list[dict[str, Any]]) -> None:
    acquired = history(client, "/v1/network/busy/history", type="IPAcquired", order="desc", limit=3)
    assert acquired == busy[:1:-1]
    assert [r["facts"]["address"] for r in acquired] == [f"10.9.0.{n}" for n in range(8, 0, -1)]


BAD_QUERIES = [
    "limit=0", "limit=1001", "limit=many", "cursor=abc", "cursor=-1", f"cursor={2**63}", "order=sideways",
    "since=garbage", "until=2026-13-01T00:00:00Z", "since=2026-03-03T12:00:00", "until=2026-03-03",
    "type=IPAcquired&until=2026-03-03T12:00",
]


@pytest.mark.parametrize("path", ["/v1/network/busy/history?", "/v1/ip/10.9.0.1/history?",
                                  "/v1/prefix/history?cidr=10.9.0.0/24&"])
def test_bad_page_parameters_answer_400(client: Any, path: str) -> None:
    create(client, {"id": "busy", "prefixes": ["10.9.0.0/24"]})
    for query in BAD_QUERIES:
        assert_error(client.get(path + query), 400)
    assert page(client, path + "limit=1000")["next"] is None
    assert page(client, path + f"cursor={2**63 - 1}")["events"] == []  # past the end of the log
