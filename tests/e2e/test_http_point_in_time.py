"""Point-in-time reads over real HTTP (ASGI): `?at=` and `?version=` answer networks and IPs
exactly as they were, computed from the log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from tests.conftest import SEED_SUPER
from tests.e2e.test_http_errors import assert_error
from tests.e2e.test_http_history import US, history, when
from tests.e2e.test_http_ips import acquire
from tests.e2e.test_http_networks import allocate, create

SUPER = SEED_SUPER["id"]


def get(client: Any, path: str, **params: Any) -> Any:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def at(moment: datetime) -> str:
    return moment.isoformat()


@pytest.fixture
def filling(client: Any) -> dict[str, Any]:
    """A child read right after its allocation and after each of three acquisitions."""
    create(client, SEED_SUPER)
    child = allocate(client)
    states = [get(client, f"/v1/network/{child['id']}")]
    for _ in range(3):
        acquire(client, child["id"])
        states.append(get(client, f"/v1/network/{child['id']}"))
    acquired = history(client, f"/v1/network/{child['id']}/history", type="IPAcquired")
    return {"id": child["id"], "states": states, "acquired": acquired}


def test_network_at_time_answers_state_then_with_consumption(client: Any, filling: dict[str, Any]) -> None:
    path, states, acquired = f"/v1/network/{filling['id']}", filling["states"], filling["acquired"]
    first = get(client, path, at=at(when(acquired[0])))
    assert first == states[1]
    assert first["consumption"]["ipv4"]["used_ips"] == 2 + 1  # network and broadcast reserved
    assert first["capacity"]["ipv4"]["acquired_ips"] == "1"
    for record, state in zip(acquired, states[1:], strict=True):
        assert get(client, path, at=at(when(record))) == state
        assert get(client, path, version=record["version"]) == state
    assert get(client, path, at=at(when(acquired[1]) - US)) == states[1]  # between two events
    assert get(client, path, at=at(when(acquired[0]) - US)) == states[0]
    assert get(client, path, version=acquired[0]["version"] - 1) == states[0]


def test_network_at_time_before_creation_answers_404(client: Any, filling: dict[str, Any]) -> None:
    created = history(client, f"/v1/network/{filling['id']}/history", limit=1)[0]
    assert_error(client.get(f"/v1/network/{filling['id']}", params={"at": at(when(created) - US)}), 404)
    first = get(client, f"/v1/network/{filling['id']}", version=1)
    assert first["prefixes"] == []  # the network came first, its prefixes follow as PrefixAdded


def test_network_at_version_beyond_latest_answers_404(client: Any, filling: dict[str, Any]) -> None:
    latest = filling["acquired"][-1]["version"]
    assert get(client, f"/v1/network/{filling['id']}", version=latest) == filling["states"][-1]
    assert_error(client.get(f"/v1/network/{filling['id']}", params={"version": latest + 1}), 404)
    assert_error(client.get(f"/v1/network/{filling['id']}", params={"version": 2**63 - 1}), 404)
    assert_error(client.get(f"/v1/network/{filling['id']}", params={"version": 2**63}), 400)


def test_network_deleted_at_that_time_answers_404(client: Any) -> None:
    create(client, {"id": "n", "prefixes": ["10.1.0.0/24"]})
    alive = get(client, "/v1/network/n")
    assert client.delete("/v1/network/n").status_code == 200
    create(client, {"id": "n", "prefixes": ["10.2.0.0/24"]})
    again = get(client, "/v1/network/n")
    records = history(client, "/v1/network/n/history")
    deleted = next(r for r in records if r["type"] == "NetworkDeleted")
    for query in ({"at": at(when(deleted))}, {"version": deleted["version"]}):
        assert_error(client.get("/v1/network/n", params=query), 404)
    assert get(client, "/v1/network/n", at=at(when(deleted) - US)) == alive
    assert get(client, "/v1/network/n", version=deleted["version"] - 1) == alive
    assert get(client, "/v1/network/n", at=at(when(records[-1]))) == again
    assert again["prefixes"] == ["10.2.0.0/24"]


@pytest.mark.parametrize(
    "query",
    [{"version": 0}, {"version": "x"}, {"at": "yesterday"}, {"at": "2026-03-03T12:00:00"},
     {"at": "2026-03-03T12:00:00Z", "version": 1}],
)
def test_network_point_in_time_answers_400_for_bad_query(client: Any, query: dict[str, Any]) -> None:
    create(client, {"id": "n", "prefixes": ["10.1.0.0/24"]})
    assert_error(client.get("/v1/network/n", params=query), 400)


def test_unknown_network_at_time_answers_404(client: Any) -> None:
    create(client, {"id": "n", "prefixes": ["10.1.0.0/24"]})
    changed = get(client, "/v1/network/n")["changed"]
    assert_error(client.get("/v1/network/nope", params={"at": changed}), 404)
    assert_error(client.get("/v1/network/nope", params={"version": 1}), 404)


def test_list_networks_at_time_answers_networks_that_existed_then(client: Any) -> None:
    early = create(client, {"id": "early", "prefixes": ["10.1.0.0/24"]})
    kept = create(client, {"id": "kept", "prefixes": ["10.2.0.0/24"]})
    then = sorted(get(client, "/v1/network"), key=lambda n: n["id"])
    assert client.delete("/v1/network/early").status_code == 200
    create(client, {"id": "late", "prefixes": ["10.3.0.0/24"]})
    listed = get(client, "/v1/network", at=kept["changed"])
    assert sorted(listed, key=lambda n: n["id"]) == then
    assert {n["id"] for n in listed} == {"early", "kept"}
    assert get(client, "/v1/network", at=at(datetime.fromisoformat(early["created"]) - US)) == []
    now = get(client, "/v1/network", at=get(client, "/v1/network/late")["changed"])
    assert sorted(now, key=lambda n: n["id"]) == sorted(get(client, "/v1/network"), key=lambda n: n["id"])
    assert_error(client.get("/v1/network", params={"at": "2026-03-03T12:00:00"}), 400)


def test_ip_at_time_answers_who_held_it_then(client: Any) -> None:
    create(client, SEED_SUPER)
    first = allocate(client)
    held = acquire(client, first["id"], name="first")
    assert client.post("/v1/ip", json={"ipaddress": "10.0.0.1", "name": "renamed"}).status_code == 200
    renamed = get(client, "/v1/ip/10.0.0.1")
    assert client.delete("/v1/ip/free/10.0.0.1").status_code == 200
    assert client.delete(f"/v1/network/free/{first['id']}").status_code == 200
    second = allocate(client)
    again = acquire(client, second["id"], name="second")
    released = history(client, "/v1/ip/10.0.0.1/history", type="IPReleased")[0]
    assert get(client, "/v1/ip/10.0.0.1", at=held["created"]) == held
    assert get(client, "/v1/ip/10.0.0.1", at=renamed["changed"]) == renamed
    assert renamed["name"] == "renamed" and renamed["created"] == held["created"]
    assert_error(client.get("/v1/ip/10.0.0.1", params={"at": at(when(released))}), 404)
    now = get(client, "/v1/ip/10.0.0.1", at=again["created"])
    assert now == again == get(client, "/v1/ip/10.0.0.1")
    assert (now["networkid"], now["name"]) == (second["id"], "second")
    assert now["allocationuuid"] != held["allocationuuid"]
    before = at(datetime.fromisoformat(held["created"]) - US)
    assert_error(client.get("/v1/ip/10.0.0.1", params={"at": before}), 404)


def test_ip_at_time_takes_ipv6_and_refuses_bad_input(client: Any) -> None:
    create(client, SEED_SUPER)
    held = acquire(client, allocate(client)["id"], addressfamily="IPv6")
    assert held["ipaddress"] == "2001:db8:0:10::1"
    assert get(client, "/v1/ip/2001:db8:0:10::1", at=held["created"]) == held
    assert_error(client.get("/v1/ip/2001:db8:0:10::2", params={"at": held["created"]}), 404)
    assert_error(client.get("/v1/ip/nope", params={"at": held["created"]}), 400)
    assert_error(client.get("/v1/ip/2001:db8:0:10::1", params={"at": "2026-03-03T12:00:00"}), 400)
