"""The bodies metal-go sends, over real HTTP (ASGI) on SQLite and PostgreSQL (issue 10).

metal-go (behind metalctl, cluster-api-provider-metal-stack and the terraform provider)
serialises go-openapi models with encoding/json: a field without `omitempty` goes out as JSON
`null` when unset (nil slice, map or pointer), a field with `omitempty` is left out when it holds
its zero value. `FIELDS` lists every field of every network and IP request model, copied from
metal-go's `api/models/*.go` (metal-go f7ba916, for metal-api v0.43.2), and `go_body` builds
exactly what Go would send for the fields a command sets. The seed's walk-through, every find
filter, every update and the error cases go through it.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import SEED_PROJECT, SEED_SUPER

# model -> [(json name, omitempty)], in the order of the Go struct
FIELDS: dict[str, list[tuple[str, bool]]] = {
    "NetworkCreateRequest": [
        ("additionalAnnouncableCIDRs", False), ("defaultchildprefixlength", True),
        ("description", True), ("destinationprefixes", False), ("id", False), ("labels", True),
        ("name", True), ("nat", False), ("nattype", False), ("networktype", False),
        ("parentnetworkid", True), ("partitionid", True), ("prefixes", False),
        ("privatesuper", False), ("projectid", True), ("shared", True), ("underlay", False),
        ("vrf", True), ("vrfshared", True),
    ],
    "NetworkUpdateRequest": [
        ("additionalAnnouncableCIDRs", False), ("defaultchildprefixlength", True),
        ("description", True), ("destinationprefixes", False), ("id", False), ("labels", True),
        ("name", True), ("prefixes", False), ("shared", True),
    ],
    "NetworkAllocateRequest": [
        ("addressfamily", True), ("description", True), ("destinationprefixes", False),
        ("labels", True), ("length", True), ("name", True), ("nat", True), ("partitionid", True),
        ("projectid", True), ("shared", True),
    ],
    "NetworkFindRequest": [
        ("addressfamily", True), ("destinationprefixes", False), ("id", True), ("labels", True),
        ("name", True), ("nat", True), ("parentnetworkid", True), ("partitionid", True),
        ("prefixes", False), ("privatesuper", True), ("projectid", True), ("underlay", True),
        ("vrf", True),
    ],
    "IPAllocateRequest": [
        ("addressfamily", True), ("description", True), ("machineid", True), ("name", True),
        ("networkid", False), ("projectid", False), ("tags", False), ("type", False),
    ],
    "IPUpdateRequest": [
        ("description", True), ("ipaddress", False), ("name", True), ("tags", False),
        ("type", False),
    ],
    "IPFindRequest": [
        ("addressfamily", True), ("allocationuuid", True), ("ipaddress", True),
        ("machineid", True), ("name", True), ("networkid", True), ("networkprefix", True),
        ("projectid", True), ("tags", False), ("type", True),
    ],
}


def go_body(model: str, **values: Any) -> dict[str, Any]:
    """What encoding/json writes for a go-openapi model with these fields set: unset fields
    without omitempty are null, omitempty fields holding a zero value are left out."""
    known = {name for name, _ in FIELDS[model]}
    assert set(values) <= known, set(values) - known
    body: dict[str, Any] = {}
    for name, omitempty in FIELDS[model]:
        value = values.get(name)
        if omitempty and value in (None, "", 0, False, [], {}):
            continue
        body[name] = value
    return body


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def refused(response: Any, status: int, message: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.json()["statuscode"] == status
    if message is not None:
        assert response.json()["message"] == message


def test_go_body_writes_null_for_unset_fields_and_omits_empty_omitempty_ones() -> None:
    assert go_body("NetworkAllocateRequest", partitionid="p", projectid="q", name="n") == {
        "destinationprefixes": None, "name": "n", "partitionid": "p", "projectid": "q"}
    assert go_body("IPFindRequest", projectid="q") == {"projectid": "q", "tags": None}
    assert go_body("NetworkCreateRequest", nat=False, vrf=0)["nat"] is False


@pytest.fixture
def seed(client: Any) -> dict[str, Any]:
    """The seed's walk-through as metalctl sends it: the super network from `network create -f`,
    a child from `network allocate`, an IPv4 and an IPv6 address from `network ip create`."""
    created = ok(client.put("/v1/network", json=go_body(
        "NetworkCreateRequest", id=SEED_SUPER["id"], name=SEED_SUPER["name"],
        description=SEED_SUPER["description"], partitionid="mini-lab",
        prefixes=SEED_SUPER["prefixes"], defaultchildprefixlength=SEED_SUPER["defaultchildprefixlength"],
        privatesuper=True)), 201)
    assert created["networktype"] == "super" and created["nat"] is False
    child = ok(client.post("/v1/network/allocate", json=go_body(
        "NetworkAllocateRequest", partitionid="mini-lab", projectid=SEED_PROJECT,
        name="my-node-network")), 201)
    assert child["prefixes"] == ["10.0.0.0/22", "2001:db8:0:10::/96"]
    assert child["consumption"]["ipv4"] == {"available_ips": 1024, "available_prefixes": 256,
                                            "used_ips": 2, "used_prefixes": 0}
    ipv4 = ok(client.post("/v1/ip/allocate", json=go_body(
        "IPAllocateRequest", networkid=child["id"], projectid=SEED_PROJECT, name="web")), 201)
    ipv6 = ok(client.post("/v1/ip/allocate", json=go_body(
        "IPAllocateRequest", networkid=child["id"], projectid=SEED_PROJECT,
        addressfamily="IPv6", type="static", tags=["a=b"])), 201)
    assert (ipv4["ipaddress"], ipv4["type"], ipv4["tags"]) == ("10.0.0.1", "ephemeral", [])
    assert (ipv6["ipaddress"], ipv6["type"], ipv6["tags"]) == ("2001:db8:0:10::1", "static", ["a=b"])
    specific = ok(client.post("/v1/ip/allocate/10.0.0.9", json=go_body(
        "IPAllocateRequest", networkid=child["id"], projectid=SEED_PROJECT,
        machineid="m1")), 201)
    assert specific["tags"] == ["machine.metal-stack.io/id=m1"]
    external = ok(client.put("/v1/network", json=go_body(
        "NetworkCreateRequest", id="internet", prefixes=["185.1.2.0/24"],
        destinationprefixes=["0.0.0.0/0"], nat=True, labels={"network.metal-stack.io/default": ""},
        vrf=104009, vrfshared=True)), 201)
    assert (external["nattype"], external["vrf"]) == ("ipv4-masq", 104009)
    return {"child": child, "ipv4": ipv4, "ipv6": ipv6, "specific": specific}


def test_seed_walkthrough_as_metal_go_sends_it(client: Any, seed: dict[str, Any]) -> None:
    child = seed["child"]
    parent = ok(client.get(f"/v1/network/{SEED_SUPER['id']}"))
    assert parent["consumption"]["ipv4"] == {"available_ips": 65536, "available_prefixes": 16128,
                                             "used_ips": 2, "used_prefixes": 1}
    assert ok(client.get(f"/v1/network/{child['id']}"))["consumption"]["ipv4"]["used_ips"] == 4
    # metalctl's most common commands with everything else unset
    assert [n["id"] for n in ok(client.post("/v1/network/find", json=go_body(
        "NetworkFindRequest", projectid=SEED_PROJECT)))] == [child["id"]]
    assert {ip["ipaddress"] for ip in ok(client.post("/v1/ip/find", json=go_body(
        "IPFindRequest", projectid=SEED_PROJECT)))} == {"10.0.0.1", "2001:db8:0:10::1", "10.0.0.9"}


NETWORK_FILTERS: list[tuple[dict[str, Any], set[str]]] = [
    ({}, {"super", "child", "internet"}),
    ({"id": "internet"}, {"internet"}),
    ({"name": "my-node-network"}, {"child"}),
    ({"partitionid": "mini-lab"}, {"super", "child"}),
    ({"projectid": SEED_PROJECT}, {"child"}),
    ({"parentnetworkid": SEED_SUPER["id"]}, {"child"}),
    ({"privatesuper": True}, {"super"}),
    ({"nat": True}, {"internet"}),
    ({"vrf": 104009}, {"internet"}),
    ({"prefixes": ["10.0.0.0/22"]}, {"child"}),
    ({"destinationprefixes": ["0.0.0.0/0"]}, {"internet"}),
    ({"labels": {"network.metal-stack.io/default": ""}}, {"internet"}),
    ({"addressfamily": "IPv6"}, {"super", "child"}),
    ({"underlay": True}, set()),
]


@pytest.mark.parametrize(("filters", "expected"), NETWORK_FILTERS)
def test_every_network_find_filter_as_metal_go_sends_it(
    client: Any, seed: dict[str, Any], filters: dict[str, Any], expected: set[str],
) -> None:
    names = {SEED_SUPER["id"]: "super", seed["child"]["id"]: "child", "internet": "internet"}
    found = ok(client.post("/v1/network/find", json=go_body("NetworkFindRequest", **filters)))
    assert {names[n["id"]] for n in found} == expected


IP_FILTERS: list[tuple[dict[str, Any], set[str]]] = [
    ({}, {"ipv4", "ipv6", "specific"}),
    ({"ipaddress": "2001:db8:0:10::1"}, {"ipv6"}),
    ({"name": "web"}, {"ipv4"}),
    ({"projectid": SEED_PROJECT}, {"ipv4", "ipv6", "specific"}),
    ({"type": "static"}, {"ipv6"}),
    ({"tags": ["a=b"]}, {"ipv6"}),
    ({"machineid": "m1"}, {"specific"}),
    ({"networkprefix": "10.0.0.0/22"}, {"ipv4", "specific"}),
    ({"addressfamily": "IPv6"}, {"ipv6"}),
]


@pytest.mark.parametrize(("filters", "expected"), IP_FILTERS)
def test_every_ip_find_filter_as_metal_go_sends_it(
    client: Any, seed: dict[str, Any], filters: dict[str, Any], expected: set[str],
) -> None:
    names = {seed[k]["ipaddress"]: k for k in ("ipv4", "ipv6", "specific")}
    found = ok(client.post("/v1/ip/find", json=go_body("IPFindRequest", **filters)))
    assert {names[ip["ipaddress"]] for ip in found} == expected
    by_network = ok(client.post("/v1/ip/find", json=go_body(
        "IPFindRequest", networkid=seed["child"]["id"], **filters)))
    assert {names[ip["ipaddress"]] for ip in by_network} == expected
    by_uuid = ok(client.post("/v1/ip/find", json=go_body(
        "IPFindRequest", allocationuuid=seed["ipv4"]["allocationuuid"])))
    assert [ip["ipaddress"] for ip in by_uuid] == ["10.0.0.1"]


def test_network_updates_as_metal_go_sends_them_leave_unset_lists_alone(
    client: Any, seed: dict[str, Any],
) -> None:
    super_id = SEED_SUPER["id"]
    before = ok(client.get(f"/v1/network/{super_id}"))
    renamed = ok(client.post("/v1/network", json=go_body(
        "NetworkUpdateRequest", id=super_id, name="renamed")))
    assert renamed["name"] == "renamed"
    for kept in ("prefixes", "destinationprefixes", "additionalAnnouncableCIDRs", "labels",
                 "description", "defaultchildprefixlength", "shared"):
        assert renamed[kept] == before[kept], kept
    described = ok(client.post("/v1/network", json=go_body(
        "NetworkUpdateRequest", id=super_id, description="d", labels={"a": "b"},
        prefixes=[], destinationprefixes=[])))
    assert (described["description"], described["labels"], described["prefixes"]) == (
        "d", {"a": "b"}, before["prefixes"])
    grown = ok(client.post("/v1/network", json=go_body(
        "NetworkUpdateRequest", id=super_id, prefixes=[*before["prefixes"], "10.1.0.0/16"])))
    assert grown["prefixes"] == [*before["prefixes"], "10.1.0.0/16"]
    announced = ok(client.post("/v1/network", json=go_body(
        "NetworkUpdateRequest", id=super_id, additionalAnnouncableCIDRs=["10.240.0.0/12"])))
    assert announced["additionalAnnouncableCIDRs"] == ["10.240.0.0/12"]
    untouched = ok(client.post("/v1/network", json=go_body(
        "NetworkUpdateRequest", id=super_id, name="again")))
    assert untouched["additionalAnnouncableCIDRs"] == ["10.240.0.0/12"]
    lengths = ok(client.post("/v1/network", json=go_body(
        "NetworkUpdateRequest", id=super_id, defaultchildprefixlength={"IPv4": 24, "IPv6": 96})))
    assert lengths["defaultchildprefixlength"] == {"IPv4": 24, "IPv6": 96}
    shared = ok(client.post("/v1/network", json=go_body(
        "NetworkUpdateRequest", id=seed["child"]["id"], shared=True)))
    assert shared["shared"] is True and shared["networktype"] == "child-shared"
    refused(client.post("/v1/network", json=go_body(
        "NetworkUpdateRequest", id=seed["child"]["id"], prefixes=["10.0.4.0/22"])), 400,
        "the prefixes of a child network can not be changed")


def test_ip_updates_as_metal_go_sends_them_leave_unset_fields_alone(
    client: Any, seed: dict[str, Any],
) -> None:
    address = seed["ipv6"]["ipaddress"]
    named = ok(client.post("/v1/ip", json=go_body("IPUpdateRequest", ipaddress=address, name="db")))
    assert (named["name"], named["type"], named["tags"]) == ("db", "static", ["a=b"])
    tagged = ok(client.post("/v1/ip", json=go_body(
        "IPUpdateRequest", ipaddress=address, tags=["c=d"], description="x")))
    assert (tagged["tags"], tagged["description"], tagged["name"]) == (["c=d"], "x", "db")
    cleared = ok(client.post("/v1/ip", json=go_body("IPUpdateRequest", ipaddress=address, tags=[])))
    assert cleared["tags"] == []
    promoted = ok(client.post("/v1/ip", json=go_body(
        "IPUpdateRequest", ipaddress=seed["ipv4"]["ipaddress"], type="static")))
    assert promoted["type"] == "static"
    refused(client.post("/v1/ip", json=go_body(
        "IPUpdateRequest", ipaddress=address, type="ephemeral")), 400,
        "cannot change type of ip address from static to ephemeral")


def test_error_cases_as_metal_go_sends_them(client: Any, seed: dict[str, Any]) -> None:
    child = seed["child"]
    # a required field that is null is the same error as a missing one
    for body in (go_body("IPAllocateRequest", projectid=SEED_PROJECT),
                 {"projectid": SEED_PROJECT}):
        refused(client.post("/v1/ip/allocate", json=body), 400)
    assert client.post("/v1/ip/allocate", json=go_body("IPAllocateRequest", projectid=SEED_PROJECT)).json() \
        == client.post("/v1/ip/allocate", json={"projectid": SEED_PROJECT}).json()
    refused(client.post("/v1/network", json=go_body("NetworkUpdateRequest", name="x")), 400)
    refused(client.post("/v1/ip", json=go_body("IPUpdateRequest", name="x")), 400)
    refused(client.post("/v1/network/allocate", json=go_body(
        "NetworkAllocateRequest", partitionid="mini-lab")), 400, "projectid should not be empty")
    # metal-api's status codes
    refused(client.put("/v1/network", json=go_body(
        "NetworkCreateRequest", id="internet", prefixes=["185.9.9.0/24"])), 409,
        'entity already exists: network with id "internet"')
    refused(client.put("/v1/network", json=go_body(
        "NetworkCreateRequest", id="overlap", prefixes=["10.0.0.0/8"])), 422,
        '10.0.0.0/8 overlaps 10.0.0.0/16 (held by network with id "tenant-super-network-mini-lab")')
    refused(client.post("/v1/ip/allocate/10.0.0.1", json=go_body(
        "IPAllocateRequest", networkid=child["id"], projectid=SEED_PROJECT)), 409,
        f'Conflict ip already allocated: 10.0.0.1 in network with id "{child["id"]}"')
    refused(client.post("/v1/ip/allocate", json=go_body(
        "IPAllocateRequest", networkid="nothing", projectid=SEED_PROJECT)), 404)
    refused(client.delete(f"/v1/network/free/{child['id']}"), 422)
    refused(client.delete(f"/v1/ip/free/{seed['specific']['ipaddress']}"), 400,
            "ip with machine scope can not be deleted")
    refused(client.post("/v1/network/find", json=go_body(
        "NetworkFindRequest", prefixes=["10.0.0.0/33"])), 400)
    tiny = ok(client.put("/v1/network", json=go_body(
        "NetworkCreateRequest", id="tiny", prefixes=["10.99.0.0/31"])), 201)
    refused(client.post("/v1/ip/allocate", json=go_body(
        "IPAllocateRequest", networkid=tiny["id"], projectid=SEED_PROJECT)), 422,
        "no more ips in network tiny for addressfamily IPv4")


def test_create_ignores_parentnetworkid_and_reads_vrf_0_as_none(client: Any) -> None:
    created = ok(client.put("/v1/network", json=go_body(
        "NetworkCreateRequest", id="n", prefixes=["10.98.0.0/24"], parentnetworkid="whatever",
        vrf=0)), 201)
    assert (created["parentnetworkid"], created["vrf"]) == ("", None)
    sent_zero = {**go_body("NetworkCreateRequest", id="m", prefixes=["10.97.0.0/24"]), "vrf": 0}
    assert ok(client.put("/v1/network", json=sent_zero), 201)["vrf"] is None


def test_trailing_slash_answers_like_metal_api(client: Any, seed: dict[str, Any]) -> None:
    assert ok(client.get("/v1/network/")) == ok(client.get("/v1/network"))
    assert ok(client.put("/v1/network/", json=go_body(
        "NetworkCreateRequest", id="slashed", prefixes=["10.96.0.0/24"])), 201)["id"] == "slashed"
    assert ok(client.post("/v1/ip/find/", json=go_body("IPFindRequest", name="web")))[0]["name"] == "web"


def test_openapi_declares_metal_apis_enums_required_fields_and_error_schema(client: Any) -> None:
    document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]

    def enum_of(model: str, field: str) -> list[str]:
        prop = schemas[model]["properties"][field]
        variants = prop.get("anyOf", [prop])
        return next(v["enum"] for v in variants if "enum" in v)

    assert set(schemas["IPAllocate"]["required"]) == {"networkid", "projectid"}
    assert set(schemas["IPUpdate"]["required"]) == {"ipaddress"}
    assert set(schemas["NetworkUpdate"]["required"]) == {"id"}
    assert "required" not in schemas["NetworkCreate"]  # id may be omitted: a UUID is generated
    for model in ("IPAllocate", "IPUpdate"):
        assert {"ephemeral", "static"} <= set(enum_of(model, "type"))
    for model in ("IPAllocate", "IPFind", "NetworkAllocate", "NetworkFind"):
        assert {"IPv4", "IPv6"} <= set(enum_of(model, "addressfamily"))
    # null is declared where the server reads it as the zero value, and only there
    assert {"type": "null"} in schemas["NetworkAllocate"]["properties"]["destinationprefixes"]["anyOf"]
    assert "anyOf" not in schemas["IPAllocate"]["properties"]["networkid"]
    error = schemas["HTTPErrorResponse"]
    assert set(error["properties"]) == {"statuscode", "message"}
    allocate = document["paths"]["/v1/ip/allocate"]["post"]["responses"]
    assert allocate["422"]["content"]["application/json"]["schema"]["$ref"].endswith("HTTPErrorResponse")
