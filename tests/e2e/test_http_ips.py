"""`/v1/ip` over real HTTP (ASGI): one happy path per route, wire shape as in the reference
swagger (v1.IPResponse), read-your-writes after a 201."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from tests.conftest import SEED_PROJECT, SEED_SUPER
from tests.e2e.test_http_networks import allocate, assert_rfc3339, create

IP_FIELDS = frozenset({
    "allocationuuid", "changed", "created", "description", "ipaddress", "name", "networkid",
    "projectid", "tags", "type",
})


def assert_ip_shape(body: dict[str, Any]) -> None:
    """Field names exactly as v1.IPResponse."""
    assert set(body) == IP_FIELDS
    assert str(UUID(body["allocationuuid"])) == body["allocationuuid"]
    assert body["type"] in ("ephemeral", "static")
    assert_rfc3339(body["created"])
    assert_rfc3339(body["changed"])


@pytest.fixture
def child(client: Any) -> dict[str, Any]:
    """A dual-stack child of the seed super: 10.0.0.0/22 and 2001:db8:0:10::/96."""
    create(client, SEED_SUPER)
    return allocate(client, name="tenant")


def acquire(client: Any, network_id: str, path: str = "", **extra: Any) -> dict[str, Any]:
    body = {"networkid": network_id, "projectid": SEED_PROJECT, **extra}
    response = client.post(f"/v1/ip/allocate{path}", json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_allocate_ip_answers_201_with_swagger_fields(client: Any, child: dict[str, Any]) -> None:
    response = client.post("/v1/ip/allocate", json={
        "networkid": child["id"], "projectid": SEED_PROJECT, "name": "web", "description": "d",
        "type": "static", "tags": ["b=2", "a=1", "b=2"], "machineid": "m1",
    })
    assert response.status_code == 201, response.text
    body = response.json()
    assert_ip_shape(body)
    assert body["ipaddress"] == "10.0.0.1"
    assert (body["networkid"], body["projectid"]) == (child["id"], SEED_PROJECT)
    assert (body["name"], body["description"], body["type"]) == ("web", "d", "static")
    assert body["tags"] == ["a=1", "b=2", "machine.metal-stack.io/id=m1"]
    assert body["created"] == body["changed"]


def test_allocate_ip_defaults_to_ephemeral_ipv4(client: Any, child: dict[str, Any]) -> None:
    body = acquire(client, child["id"])
    assert (body["ipaddress"], body["type"], body["tags"]) == ("10.0.0.1", "ephemeral", [])


def test_allocate_ip_uses_ipv6_when_asked(client: Any, child: dict[str, Any]) -> None:
    assert acquire(client, child["id"], addressfamily="IPv6")["ipaddress"] == "2001:db8:0:10::1"


def test_allocate_ip_uses_ipv6_on_ipv6_only_network(client: Any) -> None:
    create(client, {"id": "v6", "prefixes": ["2001:db8:7::/120"]})
    assert acquire(client, "v6")["ipaddress"] == "2001:db8:7::1"


def test_allocate_ip_reads_see_it_immediately(client: Any, child: dict[str, Any]) -> None:
    body = acquire(client, child["id"], name="fresh")
    got = client.get(f"/v1/ip/{body['ipaddress']}")
    assert got.status_code == 200
    assert got.json() == body
    found = client.post("/v1/ip/find", json={"allocationuuid": body["allocationuuid"]})
    assert found.json() == [body]
    assert [ip["ipaddress"] for ip in client.get("/v1/ip").json()] == ["10.0.0.1"]
    network = client.get(f"/v1/network/{child['id']}").json()
    assert network["consumption"]["ipv4"]["used_ips"] == 3
    assert network["usage"]["used_ips"] == 3


@pytest.mark.parametrize(
    ("path_ip", "canonical"),
    [
        ("10.0.0.77", "10.0.0.77"),
        ("2001:db8:0:10::42", "2001:db8:0:10::42"),
        ("2001:DB8:0:10:0:0:0:43", "2001:db8:0:10::43"),
    ],
)
def test_allocate_specific_ip_answers_201_with_canonical_address(
    client: Any, child: dict[str, Any], path_ip: str, canonical: str
) -> None:
    response = client.post(
        f"/v1/ip/allocate/{path_ip}", json={"networkid": child["id"], "projectid": SEED_PROJECT}
    )
    assert response.status_code == 201, response.text
    assert_ip_shape(response.json())
    assert response.json()["ipaddress"] == canonical
    assert client.get(f"/v1/ip/{canonical}").json() == response.json()
    assert client.get(f"/v1/ip/{path_ip}").json() == response.json()


def test_list_ips_answers_200_with_every_ip(client: Any, child: dict[str, Any]) -> None:
    assert client.get("/v1/ip").json() == []
    first = acquire(client, child["id"])
    second = acquire(client, child["id"], addressfamily="IPv6")
    response = client.get("/v1/ip")
    assert response.status_code == 200
    listed = response.json()
    for body in listed:
        assert_ip_shape(body)
    assert sorted(ip["ipaddress"] for ip in listed) == sorted(
        [first["ipaddress"], second["ipaddress"]]
    )


def test_get_ip_answers_200_with_the_ip(client: Any, child: dict[str, Any]) -> None:
    body = acquire(client, child["id"], addressfamily="IPv6", name="v6")
    response = client.get("/v1/ip/2001:db8:0:10::1")
    assert response.status_code == 200
    assert_ip_shape(response.json())
    assert response.json() == body


def test_update_ip_answers_200_with_changed_fields(client: Any, child: dict[str, Any]) -> None:
    acquired = acquire(client, child["id"], name="old")
    response = client.post("/v1/ip", json={
        "ipaddress": acquired["ipaddress"], "name": "new", "description": "d",
        "type": "static", "tags": ["z", "a"],
    })
    assert response.status_code == 200, response.text
    body = response.json()
    assert_ip_shape(body)
    assert (body["name"], body["description"], body["type"]) == ("new", "d", "static")
    assert sorted(body["tags"]) == ["a", "z"]
    assert body["allocationuuid"] == acquired["allocationuuid"]
    assert body["created"] == acquired["created"]
    assert client.get(f"/v1/ip/{acquired['ipaddress']}").json() == body


def test_update_ip_refuses_static_to_ephemeral(client: Any, child: dict[str, Any]) -> None:
    acquired = acquire(client, child["id"], type="static")
    response = client.post("/v1/ip", json={"ipaddress": acquired["ipaddress"], "type": "ephemeral"})
    assert response.status_code == 400
    assert response.json() == {
        "statuscode": 400, "message": "cannot change type of ip address from static to ephemeral",
    }


def test_find_ips_answers_200_with_matching_ips(client: Any, child: dict[str, Any]) -> None:
    v4 = acquire(client, child["id"], name="a", tags=["k=v"], machineid="m1")
    v6 = acquire(client, child["id"], name="b", addressfamily="IPv6")
    create(client, {"id": "ext", "prefixes": ["192.168.0.0/24"]})
    other = acquire(client, "ext", projectid="someone-else")

    def find(body: dict[str, Any]) -> list[str]:
        response = client.post("/v1/ip/find", json=body)
        assert response.status_code == 200, response.text
        for ip in response.json():
            assert_ip_shape(ip)
        return sorted(ip["ipaddress"] for ip in response.json())

    assert find({}) == sorted([v4["ipaddress"], v6["ipaddress"], other["ipaddress"]])
    assert find({"networkid": child["id"]}) == sorted([v4["ipaddress"], v6["ipaddress"]])
    assert find({"projectid": "someone-else"}) == [other["ipaddress"]]
    assert find({"name": "b"}) == [v6["ipaddress"]]
    assert find({"tags": ["k=v"]}) == [v4["ipaddress"]]
    assert find({"machineid": "m1"}) == [v4["ipaddress"]]
    assert find({"addressfamily": "IPv6"}) == [v6["ipaddress"]]
    assert find({"networkprefix": "2001:db8:0:10::/96"}) == [v6["ipaddress"]]
    assert find({"ipaddress": "2001:DB8:0:10::1"}) == [v6["ipaddress"]]
    assert find({"type": "static"}) == []


@pytest.mark.parametrize("family", ["IPv4", "IPv6"])
def test_free_ip_answers_200_and_address_is_reused(
    client: Any, child: dict[str, Any], family: str
) -> None:
    acquired = acquire(client, child["id"], addressfamily=family)
    response = client.delete(f"/v1/ip/free/{acquired['ipaddress']}")
    assert response.status_code == 200, response.text
    assert_ip_shape(response.json())
    assert response.json()["allocationuuid"] == acquired["allocationuuid"]
    assert client.get(f"/v1/ip/{acquired['ipaddress']}").status_code == 404
    assert client.post("/v1/ip/find", json={"ipaddress": acquired["ipaddress"]}).json() == []
    again = acquire(client, child["id"], addressfamily=family)
    assert again["ipaddress"] == acquired["ipaddress"]
    assert again["allocationuuid"] != acquired["allocationuuid"]


def test_free_ip_refuses_machine_scoped_ip(client: Any, child: dict[str, Any]) -> None:
    acquired = acquire(client, child["id"], machineid="m1")
    response = client.delete(f"/v1/ip/free/{acquired['ipaddress']}")
    assert response.status_code == 400
    assert response.json() == {"statuscode": 400, "message": "ip with machine scope can not be deleted"}
    assert client.get(f"/v1/ip/{acquired['ipaddress']}").status_code == 200
