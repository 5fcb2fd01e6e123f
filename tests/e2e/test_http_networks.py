"""`/v1/network` and `/v1/health` over real HTTP (ASGI): one happy path per route, wire shape
as in the reference swagger (metal-api v1)."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

import pytest

from tests.conftest import SEED_PROJECT, SEED_SUPER

# v1.NetworkResponse of the reference swagger, plus `capacity`: our documented IPv6-friendly
# figures beside the compatible consumption (SPEC 6)
NETWORK_FIELDS = frozenset({
    "additionalAnnouncableCIDRs", "changed", "consumption", "created", "defaultchildprefixlength",
    "description", "destinationprefixes", "id", "labels", "name", "nat", "nattype",
    "networktype", "parentnetworkid", "partitionid", "prefixes", "privatesuper", "projectid",
    "shared", "underlay", "usage", "vrf", "vrfshared",
})
EXTENSION_FIELDS = frozenset({"capacity"})
CONSUMPTION_FIELDS = frozenset({"ipv4", "ipv6"})
USAGE_FIELDS = frozenset({"available_ips", "available_prefixes", "used_ips", "used_prefixes"})
ZERO_USAGE = {"available_ips": 0, "available_prefixes": 0, "used_ips": 0, "used_prefixes": 0}
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def assert_rfc3339(value: Any) -> None:
    assert isinstance(value, str) and RFC3339.match(value), f"not RFC 3339: {value!r}"


def assert_network_shape(body: dict[str, Any]) -> None:
    """Field names exactly as v1.NetworkResponse; usage == consumption.ipv4 (or zeros)."""
    assert set(body) == NETWORK_FIELDS | EXTENSION_FIELDS
    assert set(body["consumption"]) == CONSUMPTION_FIELDS
    for usage in body["consumption"].values():
        assert usage is None or set(usage) == USAGE_FIELDS
    assert set(body["usage"]) == USAGE_FIELDS
    assert body["usage"] == (body["consumption"]["ipv4"] or ZERO_USAGE)
    assert_rfc3339(body["created"])
    assert_rfc3339(body["changed"])


def create(client: Any, body: dict[str, Any]) -> dict[str, Any]:
    response = client.put("/v1/network", json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def allocate(client: Any, **extra: Any) -> dict[str, Any]:
    body = {"partitionid": "mini-lab", "projectid": SEED_PROJECT, **extra}
    response = client.post("/v1/network/allocate", json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_health_answers_200_when_store_answers(client: Any) -> None:
    response = client.get("/v1/health")
    assert response.status_code == 200
    assert response.json() == {"status": "healthy", "message": "store answers"}


def test_request_id_is_echoed_when_given(client: Any) -> None:
    response = client.get("/v1/network", headers={"X-Request-Id": "trace-42.a:b"})
    assert response.status_code == 200
    assert response.headers["X-Request-Id"] == "trace-42.a:b"
    missing = client.get("/v1/network/nope", headers={"X-Request-Id": "trace-43"})
    assert (missing.status_code, missing.headers["X-Request-Id"]) == (404, "trace-43")


def test_request_id_is_generated_when_missing(client: Any) -> None:
    first = client.get("/v1/health").headers["X-Request-Id"]
    second = client.get("/v1/health").headers["X-Request-Id"]
    assert str(UUID(first)) == first
    assert first != second


def test_request_id_is_replaced_when_not_sane(client: Any) -> None:
    response = client.get("/v1/health", headers={"X-Request-Id": "bad id; drop table"})
    assert response.headers["X-Request-Id"] != "bad id; drop table"
    UUID(response.headers["X-Request-Id"])


def test_create_network_answers_201_with_swagger_fields(client: Any) -> None:
    response = client.put("/v1/network", json=SEED_SUPER)
    assert response.status_code == 201, response.text
    body = response.json()
    assert_network_shape(body)
    assert body["id"] == SEED_SUPER["id"]
    assert body["prefixes"] == SEED_SUPER["prefixes"]
    assert body["defaultchildprefixlength"] == {"IPv4": 22, "IPv6": 96}
    assert body["parentnetworkid"] == ""
    assert body["vrf"] is None
    assert (body["networktype"], body["nattype"]) == ("super", "none")
    assert body["consumption"]["ipv4"] == {
        "available_ips": 65536, "available_prefixes": 16384, "used_ips": 2, "used_prefixes": 0,
    }


def test_create_network_generates_uuid_when_id_missing(client: Any) -> None:
    body = create(client, {"prefixes": ["192.168.0.0/24"]})
    assert str(UUID(body["id"])) == body["id"]


@pytest.mark.parametrize(
    ("flags", "networktype", "nattype"),
    [
        ({"underlay": True}, "underlay", "none"),
        ({"nat": True}, "external", "ipv4-masq"),
        ({}, "external", "none"),
        ({"privatesuper": True, "defaultchildprefixlength": {"IPv4": 24}}, "super", "none"),
    ],
)
def test_network_and_nat_type_are_derived_from_flags(
    client: Any, flags: dict[str, Any], networktype: str, nattype: str
) -> None:
    body = create(client, {"partitionid": "p1", "prefixes": ["10.9.0.0/16"], **flags})
    assert (body["networktype"], body["nattype"]) == (networktype, nattype)


@pytest.mark.parametrize(("shared", "networktype"), [(False, "child"), (True, "child-shared")])
def test_child_network_type_follows_shared(client: Any, shared: bool, networktype: str) -> None:
    create(client, SEED_SUPER)
    child = allocate(client, shared=shared, nat=True)
    assert (child["networktype"], child["nattype"]) == (networktype, "ipv4-masq")


def test_usage_is_zeros_for_ipv6_only_network(client: Any) -> None:
    body = create(client, {"prefixes": ["2001:db8:1::/64"]})
    assert_network_shape(body)
    assert body["consumption"]["ipv4"] is None
    assert body["consumption"]["ipv6"]["used_ips"] == 1
    assert body["usage"] == ZERO_USAGE


def test_list_networks_answers_200_with_every_network(client: Any) -> None:
    create(client, SEED_SUPER)
    child = allocate(client)
    response = client.get("/v1/network")
    assert response.status_code == 200
    listed = response.json()
    assert sorted(n["id"] for n in listed) == sorted([SEED_SUPER["id"], child["id"]])
    for body in listed:
        assert_network_shape(body)


def test_get_network_answers_200_with_same_document_as_create(client: Any) -> None:
    created = create(client, SEED_SUPER)
    response = client.get(f"/v1/network/{SEED_SUPER['id']}")
    assert response.status_code == 200
    assert_network_shape(response.json())
    assert response.json() == created


def test_update_network_answers_200_with_changed_fields(client: Any) -> None:
    created = create(client, {"id": "ext", "prefixes": ["192.168.0.0/24"], "name": "old"})
    response = client.post(
        "/v1/network",
        json={"id": "ext", "name": "new", "description": "d", "labels": {"a": "b"}, "shared": True},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert_network_shape(body)
    assert (body["name"], body["description"], body["labels"], body["shared"]) == (
        "new", "d", {"a": "b"}, True,
    )
    assert body["created"] == created["created"]
    assert client.get("/v1/network/ext").json()["name"] == "new"


def test_update_network_removes_announcable_cidrs_only_with_force(client: Any) -> None:
    create(client, {**SEED_SUPER, "additionalAnnouncableCIDRs": ["10.240.0.0/12"]})
    update = {"id": SEED_SUPER["id"], "additionalAnnouncableCIDRs": []}
    refused = client.post("/v1/network", json=update)
    assert refused.status_code == 400
    assert refused.json()["statuscode"] == 400
    forced = client.post("/v1/network", params={"force": "true"}, json=update)
    assert forced.status_code == 200, forced.text
    assert forced.json()["additionalAnnouncableCIDRs"] == []


def test_update_network_adds_ipv6_to_ipv4_super_in_one_call(client: Any) -> None:
    create(client, {**SEED_SUPER, "prefixes": ["10.0.0.0/16"],
                    "defaultchildprefixlength": {"IPv4": 22}})
    response = client.post("/v1/network", json={
        "id": SEED_SUPER["id"], "prefixes": ["10.0.0.0/16", "2001:db8:0:10::/64"],
        "defaultchildprefixlength": {"IPv4": 22, "IPv6": 96},
    })
    assert response.status_code == 200, response.text
    assert response.json()["consumption"]["ipv6"] is not None
    assert allocate(client)["prefixes"] == ["10.0.0.0/22", "2001:db8:0:10::/96"]


def test_find_networks_answers_200_with_matching_networks(client: Any) -> None:
    create(client, SEED_SUPER)
    create(client, {"id": "v6only", "partitionid": "mini-lab", "prefixes": ["2001:db8:9::/48"]})
    create(client, {"id": "other", "partitionid": "elsewhere", "prefixes": ["172.16.0.0/16"]})
    response = client.post("/v1/network/find", json={"partitionid": "mini-lab"})
    assert response.status_code == 200
    assert [n["id"] for n in response.json()] == sorted([SEED_SUPER["id"], "v6only"])
    for body in response.json():
        assert_network_shape(body)
    ipv4 = client.post("/v1/network/find", json={"partitionid": "mini-lab", "addressfamily": "IPv4"})
    assert [n["id"] for n in ipv4.json()] == [SEED_SUPER["id"]]
    supers = client.post("/v1/network/find", json={"privatesuper": True})
    assert [n["id"] for n in supers.json()] == [SEED_SUPER["id"]]


def test_allocate_network_answers_201_and_reads_see_it_immediately(client: Any) -> None:
    create(client, SEED_SUPER)
    response = client.post(
        "/v1/network/allocate",
        json={"partitionid": "mini-lab", "projectid": SEED_PROJECT, "name": "n", "labels": {"x": "y"}},
    )
    assert response.status_code == 201, response.text
    child = response.json()
    assert_network_shape(child)
    assert child["parentnetworkid"] == SEED_SUPER["id"]
    assert child["prefixes"] == ["10.0.0.0/22", "2001:db8:0:10::/96"]
    assert child["vrf"] == 1
    assert child["defaultchildprefixlength"] is None
    # read-your-writes: no follower runs in this app, the reads must catch up themselves
    got = client.get(f"/v1/network/{child['id']}")
    assert got.status_code == 200
    assert got.json() == child
    found = client.post("/v1/network/find", json={"projectid": SEED_PROJECT})
    assert [n["id"] for n in found.json()] == [child["id"]]
    parent = client.get(f"/v1/network/{SEED_SUPER['id']}").json()
    assert parent["consumption"]["ipv4"]["used_prefixes"] == 1


def test_allocate_network_honours_length_and_addressfamily(client: Any) -> None:
    create(client, SEED_SUPER)
    child = allocate(client, length={"IPv6": 112}, addressfamily="IPv6")
    assert child["prefixes"] == ["2001:db8:0:10::/112"]
    assert child["consumption"]["ipv4"] is None
    assert child["usage"] == ZERO_USAGE


def test_free_network_delete_answers_200_and_returns_prefixes(client: Any) -> None:
    create(client, SEED_SUPER)
    child = allocate(client)
    response = client.delete(f"/v1/network/free/{child['id']}")
    assert response.status_code == 200, response.text
    assert_network_shape(response.json())
    assert response.json()["id"] == child["id"]
    assert client.get(f"/v1/network/{child['id']}").status_code == 404
    again = allocate(client)
    assert again["prefixes"] == child["prefixes"]
    assert again["vrf"] == child["vrf"]


def test_free_network_post_deprecated_answers_200(client: Any) -> None:
    create(client, SEED_SUPER)
    child = allocate(client)
    response = client.post(f"/v1/network/free/{child['id']}")
    assert response.status_code == 200, response.text
    assert_network_shape(response.json())
    assert client.get(f"/v1/network/{child['id']}").status_code == 404


def test_delete_network_answers_200_with_deleted_entity(client: Any) -> None:
    created = create(client, {"id": "ext", "prefixes": ["192.168.0.0/24"], "vrf": 7})
    response = client.delete("/v1/network/ext")
    assert response.status_code == 200, response.text
    assert_network_shape(response.json())
    assert response.json()["id"] == "ext"
    assert response.json()["prefixes"] == created["prefixes"]
    assert client.get("/v1/network/ext").status_code == 404
    assert client.post("/v1/network/find", json={"id": "ext"}).json() == []
    # its prefix and VRF are free again
    create(client, {"id": "ext2", "prefixes": ["192.168.0.0/24"], "vrf": 7})
