"""The error table over real HTTP (ASGI): 400, 404, 409 and 422 with metal-api's
`httperrors.HTTPErrorResponse` body, and no input that makes the server answer 500."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import SEED_PROJECT, SEED_SUPER
from tests.e2e.test_http_networks import allocate, create


def assert_error(response: Any, status: int, message: str | None = None) -> None:
    """Exactly `{"statuscode": <status>, "message": <str>}`, optionally with this message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"statuscode", "message"}, body
    assert body["statuscode"] == status
    assert isinstance(body["message"], str) and body["message"]
    if message is not None:
        assert body["message"] == message


@pytest.fixture
def child(client: Any) -> dict[str, Any]:
    create(client, SEED_SUPER)
    return allocate(client)


# -- 400 ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("prefix", "message"),
    [
        ("10.0.0.1/16", 'expecting canonical form of prefix "10.0.0.1/16", please specify it as "10.0.0.0/16"'),
        ("banana", 'given prefix "banana" is not a valid CIDR'),
        ("10.0.0.0", 'given prefix "10.0.0.0" is not a valid CIDR'),
        ("10.0.0.0/33", 'given prefix "10.0.0.0/33" is not a valid CIDR'),
    ],
)
def test_create_network_answers_400_for_bad_prefix(client: Any, prefix: str, message: str) -> None:
    assert_error(client.put("/v1/network", json={"prefixes": [prefix]}), 400, message)


@pytest.mark.parametrize(
    "body",
    [{"prefixes": "10.0.0.0/8"}, {"prefixes": [1]}, {"privatesuper": "maybe"}, {"vrf": "one"},
     {"labels": ["a"]}, {"defaultchildprefixlength": {"IPv4": "x"}}],
)
def test_create_network_answers_400_for_wrong_json_type(client: Any, body: dict[str, Any]) -> None:
    assert_error(client.put("/v1/network", json={"prefixes": ["10.0.0.0/8"], **body}), 400)


@pytest.mark.parametrize("raw", [b'{"prefixes": [', b"{bad", b"", b"\xff\xfe"])
def test_create_network_answers_400_for_malformed_json(client: Any, raw: bytes) -> None:
    response = client.put("/v1/network", content=raw, headers={"content-type": "application/json"})
    assert_error(response, 400)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/ip/allocate", {"projectid": SEED_PROJECT, "addressfamily": "IPv5"}),
        ("/v1/network/allocate", {"partitionid": "mini-lab", "projectid": "p", "addressfamily": "IPv5"}),
        ("/v1/network/allocate", {"partitionid": "mini-lab", "projectid": "p", "length": {"IPv5": 24}}),
        ("/v1/network/find", {"addressfamily": "IPv5"}),
        ("/v1/ip/find", {"addressfamily": "IPv5"}),
    ],
)
def test_routes_answer_400_for_unknown_addressfamily(
    client: Any, child: dict[str, Any], path: str, body: dict[str, Any]
) -> None:
    response = client.post(path, json={"networkid": child["id"], **body})
    assert_error(response, 400)
    if "addressfamily" in body:
        assert response.json()["message"] == 'invalid addressfamily "IPv5", must be IPv4 or IPv6'


def test_lowercase_addressfamily_is_accepted(client: Any, child: dict[str, Any]) -> None:
    ip = client.post(
        "/v1/ip/allocate",
        json={"networkid": child["id"], "projectid": SEED_PROJECT, "addressfamily": "ipv6"},
    )
    assert ip.status_code == 201, ip.text
    assert ip.json()["ipaddress"] == "2001:db8:0:10::1"
    found = client.post("/v1/ip/find", json={"addressfamily": "ipv6"})
    assert [i["ipaddress"] for i in found.json()] == ["2001:db8:0:10::1"]
    networks = client.post("/v1/network/find", json={"addressfamily": "ipv6"})
    assert networks.status_code == 200
    assert child["id"] in [n["id"] for n in networks.json()]
    v6child = allocate(client, addressfamily="ipv6", length={"ipv6": 112})
    assert v6child["prefixes"] == ["2001:db8:0:10:0:1::/112"]


# -- 404 ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/network/nope"), ("DELETE", "/v1/network/nope"),
     ("DELETE", "/v1/network/free/nope"), ("POST", "/v1/network/free/nope")],
)
def test_unknown_network_answers_404(client: Any, method: str, path: str) -> None:
    assert_error(client.request(method, path), 404, 'network with id "nope" not found')


def test_unknown_entity_in_body_answers_404(client: Any) -> None:
    assert_error(client.post("/v1/network", json={"id": "nope", "name": "x"}), 404)
    assert_error(client.post("/v1/ip/allocate", json={"networkid": "nope", "projectid": "p"}), 404)
    assert_error(
        client.post("/v1/network/allocate", json={"partitionid": "nowhere", "projectid": "p"}), 404
    )
    assert_error(client.post("/v1/ip", json={"ipaddress": "10.0.0.9", "name": "x"}), 404)


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/ip/10.0.0.9"), ("GET", "/v1/ip/2001:db8::9"), ("DELETE", "/v1/ip/free/10.0.0.9")],
)
def test_unknown_ip_answers_404(client: Any, method: str, path: str) -> None:
    assert_error(client.request(method, path), 404)


@pytest.mark.parametrize(("method", "path"), [("GET", "/v1/nothing"), ("GET", "/"), ("POST", "/v2/ip")])
def test_unknown_route_answers_404(client: Any, method: str, path: str) -> None:
    assert_error(client.request(method, path), 404)


# -- 409: only an existing id, a taken specific IP, a taken VRF (SPEC 9) -------------------------

def test_existing_id_answers_409(client: Any) -> None:
    create(client, {"id": "a", "prefixes": ["10.0.0.0/24"]})
    assert_error(client.put("/v1/network", json={"id": "a", "prefixes": ["10.1.0.0/24"]}), 409,
                 'entity already exists: network with id "a"')


@pytest.mark.parametrize("address", ["10.0.0.1", "10.0.0.0", "2001:db8:0:10::"])
def test_taken_ip_answers_409(client: Any, child: dict[str, Any], address: str) -> None:
    body = {"networkid": child["id"], "projectid": SEED_PROJECT}
    assert client.post("/v1/ip/allocate", json=body).status_code == 201  # takes 10.0.0.1
    assert_error(client.post(f"/v1/ip/allocate/{address}", json=body), 409,
                 f'Conflict ip already allocated: {address} in network with id "{child["id"]}"')


def test_taken_vrf_answers_409_unless_shared(client: Any) -> None:
    create(client, {"id": "a", "prefixes": ["10.0.0.0/24"], "vrf": 7})
    assert_error(client.put("/v1/network", json={"id": "b", "prefixes": ["10.1.0.0/24"], "vrf": 7}),
                 409, "vrf 7 is already in use")
    shared = client.put("/v1/network", json={"id": "c", "prefixes": ["10.2.0.0/24"], "vrf": 7,
                                              "vrfshared": True})
    assert shared.status_code == 201 and shared.json()["vrf"] == 7, shared.text


# -- 422: overlap, no room, exhausted, in use (metal-api's codes, SPEC 9) -------------------------

def test_overlapping_prefix_answers_422(client: Any) -> None:
    held = create(client, {"prefixes": ["10.0.0.0/24"]})
    assert_error(client.put("/v1/network", json={"prefixes": ["10.0.0.0/23"]}), 422,
                 f'10.0.0.0/23 overlaps 10.0.0.0/24 (held by network with id "{held["id"]}")')


def test_exhausted_super_answers_422(client: Any) -> None:
    create(client, {"id": "s", "partitionid": "p", "privatesuper": True,
                    "prefixes": ["10.2.0.0/24"], "defaultchildprefixlength": {"IPv4": 25}})
    for _ in range(2):
        assert client.post("/v1/network/allocate", json={"partitionid": "p", "projectid": "x"}).status_code == 201
    assert_error(client.post("/v1/network/allocate", json={"partitionid": "p", "projectid": "x"}),
                 422, "no prefix found in 10.2.0.0/24 with length:25")


def test_exhausted_network_answers_422_for_ip(client: Any) -> None:
    create(client, {"id": "tiny", "prefixes": ["10.3.0.0/30"]})
    for _ in range(2):
        assert client.post("/v1/ip/allocate", json={"networkid": "tiny", "projectid": "x"}).status_code == 201
    assert_error(client.post("/v1/ip/allocate", json={"networkid": "tiny", "projectid": "x"}), 422,
                 "no more ips in network tiny for addressfamily IPv4")


def test_what_is_in_use_answers_422_on_free_delete_and_shrink(
    client: Any, child: dict[str, Any],
) -> None:
    body = {"networkid": child["id"], "projectid": SEED_PROJECT}
    address = client.post("/v1/ip/allocate", json=body).json()["ipaddress"]
    assert_error(client.delete(f"/v1/network/free/{child['id']}"), 422,
                 f"unable to delete network: prefix {child['prefixes'][0]} has ip {address} in use")
    assert_error(client.delete(f"/v1/network/{SEED_SUPER['id']}"), 422,
                 "network cannot be deleted because there are children of this network")
    shrink = {"id": SEED_SUPER["id"], "prefixes": ["2001:db8:0:10::/64"]}
    assert_error(client.post("/v1/network", json=shrink), 422,
                 f"prefix 10.0.0.0/16 has child network {child['id']}, it can not be removed")


def test_second_underlay_in_a_partition_answers_422(client: Any) -> None:
    create(client, {"id": "u1", "prefixes": ["10.4.0.0/24"], "partitionid": "p", "underlay": True})
    assert_error(client.put("/v1/network", json={"id": "u2", "prefixes": ["10.5.0.0/24"],
                                                 "partitionid": "p", "underlay": True}),
                 422, 'partition with id "p" already has an underlay network')
    assert client.put("/v1/network", json={"id": "u3", "prefixes": ["10.6.0.0/24"],
                                           "partitionid": "q", "underlay": True}).status_code == 201
    assert client.delete("/v1/network/u1").status_code == 200  # the partition may have another
    assert client.put("/v1/network", json={"id": "u2", "prefixes": ["10.5.0.0/24"],
                                           "partitionid": "p", "underlay": True}).status_code == 201


# -- 422 ---------------------------------------------------------------------------------------

def test_foreign_project_on_unshared_child_answers_422(client: Any, child: dict[str, Any]) -> None:
    response = client.post("/v1/ip/allocate", json={"networkid": child["id"], "projectid": "other"})
    assert_error(response, 422, f'can not allocate ip for project "other" because network '
                                f'belongs to "{SEED_PROJECT}" and the network is not shared')


def test_specific_ip_outside_prefixes_answers_422(client: Any, child: dict[str, Any]) -> None:
    response = client.post("/v1/ip/allocate/10.9.0.1",
                           json={"networkid": child["id"], "projectid": SEED_PROJECT})
    assert_error(response, 422, "specific ip not contained in any of the defined prefixes: 10.9.0.1 "
                 f'is not in network with id "{child["id"]}" (10.0.0.0/22, 2001:db8:0:10::/96)')

# -- never 500 ---------------------------------------------------------------------------------

NASTY_VALUES: list[Any] = [
    None, "", "ñ€𝔘💥", "a\u0000b", "\ud800", " 10.0.0.0/8 ", "x" * 5000, 10**30, -(10**30), -1,
    0, 1.5, True, [], {}, [None], [10**30], ["a\u0000b"], ["\udfff"], ["10.0.0.0/33"], ["::/-1"],
    ["0.0.0.0/0"], ["::/0"], ["10.0.0.0/8"] * 1100, ["2001:db8::/129"], {"IPv4": 10**30},
    {"IPv6": -(10**30)}, {"IPv4": -1}, {"IPv4": 0}, {"ipv4": 200}, {"": 1}, {"IPv4": None},
    {"a\u0000b": "c"}, {"k": "\ud800"}, {"a": {"b": [[[{}]]]}}, "IPv5", "2001:db8:0:10::1%eth0",
]
NASTY_BODIES: list[Any] = [None, [], "string", 0, 10**30, True, {}, {"a": {"b": [[[{}]]]}},
                           [{"prefixes": ["10.0.0.0/8"]}]]
NASTY_RAW: list[bytes] = [b"", b"{", b"\xff\xfe\x00", b"nul", b"[" * 100_000 + b"]" * 100_000,
                          b'{"vrf": 1e999}', b"NaN"]

Route = tuple[str, Callable[[int], str], Callable[[int, dict[str, Any]], dict[str, Any]]]
ROUTES: dict[str, Route] = {
    "create network": ("PUT", lambda n: "/v1/network", lambda n, c: {
        "prefixes": [f"172.{16 + n // 256}.{n % 256}.0/24"], "name": "n", "description": "d",
        "partitionid": "p", "projectid": "q", "parentnetworkid": "", "destinationprefixes": [],
        "additionalAnnouncableCIDRs": [], "defaultchildprefixlength": None, "labels": {},
        "privatesuper": False, "underlay": False, "nat": False, "shared": False, "vrf": None,
        "vrfshared": False, "id": f"net-{n}"}),
    "update network": ("POST", lambda n: "/v1/network", lambda n, c: {
        "id": SEED_SUPER["id"], "name": "n", "description": "d", "labels": {}, "shared": None,
        "prefixes": SEED_SUPER["prefixes"], "destinationprefixes": [],
        "additionalAnnouncableCIDRs": [], "defaultchildprefixlength": {"IPv4": 22, "IPv6": 96}}),
    "allocate network": ("POST", lambda n: "/v1/network/allocate", lambda n, c: {
        "partitionid": "mini-lab", "projectid": SEED_PROJECT, "name": "n", "description": "d",
        "labels": {}, "shared": False, "nat": False, "destinationprefixes": [],
        "length": {"IPv4": 28}, "addressfamily": None}),
    "find networks": ("POST", lambda n: "/v1/network/find", lambda n, c: {
        "id": c["id"], "name": "", "partitionid": "mini-lab", "projectid": SEED_PROJECT,
        "parentnetworkid": SEED_SUPER["id"], "privatesuper": False, "underlay": False,
        "nat": False, "vrf": 1, "prefixes": [], "destinationprefixes": [], "labels": {},
        "addressfamily": "IPv4"}),
    "update ip": ("POST", lambda n: "/v1/ip", lambda n, c: {
        "ipaddress": "10.0.0.1", "name": "n", "description": "d", "type": "static", "tags": []}),
    "allocate ip": ("POST", lambda n: "/v1/ip/allocate", lambda n, c: {
        "networkid": c["id"], "projectid": SEED_PROJECT, "name": "n", "description": "d",
        "type": "", "tags": [], "machineid": "", "addressfamily": None}),
    "allocate specific ip": ("POST", lambda n: f"/v1/ip/allocate/10.0.{n // 250}.{n % 250 + 2}",
                             lambda n, c: {"networkid": c["id"], "projectid": SEED_PROJECT,
                                           "name": "n", "type": "static", "tags": ["t"]}),
    "find ips": ("POST", lambda n: "/v1/ip/find", lambda n, c: {
        "ipaddress": "10.0.0.1", "allocationuuid": None, "name": "", "networkid": c["id"],
        "projectid": SEED_PROJECT, "type": "ephemeral", "tags": [], "machineid": "",
        "networkprefix": "10.0.0.0/22", "addressfamily": "IPv4"}),
}


def _problem(client: Any, method: str, path: str, raw: bytes | None = None) -> str | None:
    """None when the answer is below 500 with a well-formed error body, else what went wrong."""
    try:
        response = client.request(method, path, content=raw,
                                  headers={"content-type": "application/json"})
    except Exception as error:  # the test client re-raises what the app did not handle
        return f"raised {type(error).__name__}: {str(error)[:150]}"
    if response.status_code >= 500:
        return f"answered {response.status_code}: {response.text[:150]}"
    if response.status_code >= 400:
        body = response.json()
        if set(body) != {"statuscode", "message"} or body["statuscode"] != response.status_code \
                or not isinstance(body["message"], str):
            return f"bad error body {body!r}"
    return None


def _reads_still_answer(client: Any) -> list[str]:
    """A write the store accepted but the read model cannot fold would wedge every read."""
    return [f"{path} answered {r.status_code} afterwards" for path in ("/v1/network", "/v1/ip")
            if (r := client.get(path)).status_code != 200]


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_nasty_bodies_never_answer_500(client: Any, child: dict[str, Any], route: str) -> None:
    method, path_of, body_of = ROUTES[route]
    assert client.post("/v1/ip/allocate",
                       json={"networkid": child["id"], "projectid": SEED_PROJECT}).status_code == 201
    cases: list[tuple[str, bytes]] = [(f"body {b!r}", json.dumps(b).encode()) for b in NASTY_BODIES]
    cases += [(f"raw {raw[:20]!r}", raw) for raw in NASTY_RAW]
    cases += [(f"{field}={value!r}"[:80], json.dumps({**body_of(n, child), field: value}).encode())
              for n, (field, value) in enumerate(
                  ((f, v) for f in body_of(0, child) for v in NASTY_VALUES), start=1)]
    failures = [f"{what}: {problem}" for n, (what, raw) in enumerate(cases)
                if (problem := _problem(client, method, path_of(n), raw))]
    assert not failures + _reads_still_answer(client), "\n".join(failures)


NASTY_PATHS = ["%00", "a%00b", "%C3%B1%F0%9D%94%98", "x" * 5000, "..", "%2F", "1.2.3.4.5",
               "10.0.0.1%25eth0", "::ffff:10.0.0.1", "0", "-1", "a%20b", "10.0.0.0%2F22", "%ff%fe"]


@pytest.mark.parametrize(
    ("method", "template"),
    [("GET", "/v1/network/{}"), ("DELETE", "/v1/network/{}"), ("DELETE", "/v1/network/free/{}"),
     ("POST", "/v1/network/free/{}"), ("GET", "/v1/ip/{}"), ("DELETE", "/v1/ip/free/{}"),
     ("POST", "/v1/ip/allocate/{}")],
)
def test_nasty_paths_never_answer_500(
    client: Any, child: dict[str, Any], method: str, template: str
) -> None:
    raw = json.dumps({"networkid": child["id"], "projectid": SEED_PROJECT}).encode()
    failures = [f"{segment[:20]}: {problem}" for segment in NASTY_PATHS
                if (problem := _problem(client, method, template.format(segment), raw))]
    assert not failures + _reads_still_answer(client), "\n".join(failures)


@pytest.mark.parametrize("text", ["a\u0000b", "\ud800"])
def test_unstorable_text_answers_400_and_reads_keep_working(client: Any, text: str) -> None:
    raw = json.dumps({"prefixes": ["10.50.0.0/24"], "name": text}).encode()
    response = client.put("/v1/network", content=raw, headers={"content-type": "application/json"})
    assert_error(response, 400)
    assert client.get("/v1/network").json() == []
    assert_error(client.get("/v1/network/a%00b"), 400)


def test_huge_vrf_filter_answers_400(client: Any) -> None:
    assert_error(client.post("/v1/network/find", json={"vrf": 10**30}), 400)


@pytest.mark.parametrize(("path", "plain"), [
    ("/v1/network?att=2026-03-03T12:00:00Z", "/v1/network"),
    ("/v1/network/x?vresion=1", "/v1/network/x"),
    ("/v1/ip?at=2026-03-03T12:00:00Z&foo=bar", "/v1/ip"),
    ("/v1/network/x/history?limt=5", "/v1/network/x/history"),
])
def test_unknown_query_parameter_is_ignored_as_metal_api_ignores_it(
    client: Any, path: str, plain: str,
) -> None:
    """SPEC 9: metal-api reads the query parameters it knows and ignores the rest."""
    client.put("/v1/network", json={"id": "x", "prefixes": ["10.60.0.0/24"]})
    answer, expected = client.get(path), client.get(plain)
    assert (answer.status_code, answer.json()) == (expected.status_code, expected.json())


@pytest.mark.parametrize("value", ["0", "1700000000", "0.5", "2026-03-03", "2026-03-03T12:00:00",
                                   "tomorrow", ""])
def test_times_must_be_rfc3339_with_an_offset(client: Any, value: str) -> None:
    for path in ("/v1/network", "/v1/network/x/history", "/v1/ip/10.0.0.1"):
        name = "since" if "history" in path else "at"
        response = client.get(path, params={name: value})
        assert_error(response, 400)
        assert "RFC 3339 time with an offset" in response.json()["message"], (path, value)
