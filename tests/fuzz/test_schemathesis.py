"""Schema-driven fuzzing: schemathesis over every operation of our own OpenAPI document, with a
fixed seed, against the ASGI app on a fresh, seeded SQLite store per operation (so a failure
replays exactly with `-k "<METHOD> <path>"`).

Two runs per operation:

- requests the schema allows, with a share of their ids, addresses, CIDRs, projects and
  partitions swapped for real ones so they get past parsing and lookups into the rules: no 5xx
  (an unhandled exception fails the test with its traceback), only documented status codes,
  and bodies, headers and content types that match the document;
- requests that break the schema: the same, and each must be refused (4xx).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address, ip_network
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation import GenerationMode
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from infrastructure.store import open_ipam
from tests.conftest import SEED_PROJECT, SEED_SUPER, admin_headers

SEED = 20260503
EXAMPLES = 100  # per operation and run, in the fuzzing phase; the coverage phase adds its own
CONFORMANCE = [not_a_server_error, status_code_conformance, content_type_conformance,
               response_headers_conformance, response_schema_conformance]

EXTERNAL: dict[str, Any] = {
    "id": "fuzz-internet", "name": "internet", "prefixes": ["203.0.113.0/24", "2001:db8:ff::/48"],
    "shared": True,
}

DOCUMENT = create_app().openapi()


def _loaded(mode: GenerationMode) -> BaseSchema:
    config = SchemathesisConfig(seed=SEED)
    # no example database: a run replays nothing from an earlier one
    config.projects.default.generation.update(max_examples=EXAMPLES, database="none",
                                              modes=[mode])
    # 413 (a body over the size limit) refuses a request as surely as a 400 does
    rejection = config.projects.default.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "413"]
    return schemathesis.openapi.from_dict(DOCUMENT, config=config)


valid = _loaded(GenerationMode.POSITIVE)
# health takes no input at all (no parameter, no body, no token): there is nothing to break
invalid = _loaded(GenerationMode.NEGATIVE).exclude(path="/v1/health")


def _prefix(address: IPv4Address | IPv6Address, length: int) -> str:
    return str(ip_network(f"{address}/{min(length, address.max_prefixlen)}", strict=False))


# well-formed prefixes anywhere, so that requests get past parsing into the allocation rules
PREFIXES = st.builds(_prefix, st.ip_addresses(), st.integers(min_value=0, max_value=128))


@dataclass
class Known:
    """Real ids, addresses and CIDRs of the seeded store, for the hooks to draw from."""

    networks: list[str] = field(default_factory=list)
    ips: list[str] = field(default_factory=list)
    cidrs: list[str] = field(default_factory=list)

    def values_for(self, name: str) -> st.SearchStrategy[Any] | None:
        """Values that the routes take for a field or parameter called `name`, if it is one
        that names something or has a form they parse."""
        if name in ("id", "networkid"):
            return st.sampled_from(self.networks)
        if name in ("ip", "ipaddress"):
            return st.sampled_from(self.ips) | st.ip_addresses().map(str)
        if name in ("cidr", "networkprefix"):
            return self.prefixes()
        if name in ("prefixes", "destinationprefixes", "additionalAnnouncableCIDRs"):
            return st.lists(self.prefixes(), min_size=1, max_size=3)
        if name in ("length", "defaultchildprefixlength"):
            return st.fixed_dictionaries({}, optional={
                "IPv4": st.integers(min_value=0, max_value=33),
                "IPv6": st.integers(min_value=0, max_value=129)})
        if name == "addressfamily":
            return st.sampled_from(["IPv4", "IPv6"])
        if name == "projectid":
            return st.just(SEED_PROJECT)
        if name == "partitionid":
            return st.just(SEED_SUPER["partitionid"])
        if name == "type":
            return st.sampled_from(["ephemeral", "static"])
        return None

    def prefixes(self) -> st.SearchStrategy[str]:
        """A known CIDR, a prefix inside one, or a prefix anywhere."""
        inside = st.sampled_from(self.cidrs).flatmap(lambda cidr: st.builds(
            _prefix, st.ip_addresses(network=cidr),
            st.integers(min_value=ip_network(cidr).prefixlen, max_value=128)))
        return st.sampled_from(self.cidrs) | inside | PREFIXES


KNOWN = Known()


def _body_fields(path: str, method: str) -> frozenset[str]:
    """The fields the operation's JSON body declares."""
    body = DOCUMENT["paths"][path][method.lower()].get("requestBody")
    if body is None:
        return frozenset()
    ref = body["content"]["application/json"]["schema"]["$ref"]
    return frozenset(DOCUMENT["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"])


_ABSENT = object()
# what the routes need to get anywhere; the other fields are better left out more often than not
NEEDED = frozenset({"id", "networkid", "ipaddress", "prefixes", "projectid", "partitionid"})


def _sometimes_known(values: Any, *,
                     declared: frozenset[str] = frozenset()) -> st.SearchStrategy[Any]:
    """`values` with each field that `Known` has values for swapped for one, or not; a
    `declared` field of that kind that `values` lacks added, or not."""
    if not isinstance(values, dict):  # no parameters, or a body that is not an object
        return st.just(values)
    fields = {}
    # known values first: Hypothesis leans to the first branch, and starts from it
    for name, value in values.items():
        known = KNOWN.values_for(name)
        fields[name] = st.just(value) if known is None else st.one_of(known, st.just(value))
    for name in sorted(declared - values.keys()):
        known = KNOWN.values_for(name)
        if known is not None:
            fields[name] = (st.one_of(known, st.just(_ABSENT)) if name in NEEDED
                            else st.one_of(st.just(_ABSENT), known))
    return st.fixed_dictionaries(fields).map(
        lambda drawn: {name: value for name, value in drawn.items() if value is not _ABSENT})


# Only the run of valid requests is steered: swapping a field of an invalid request could make
# it valid, and the check that it was refused would then be wrong.
@valid.hook
def flatmap_path_parameters(context: Any, path_parameters: Any) -> st.SearchStrategy[Any]:
    # an address in a path is `{ip}`, a network id `{id}`
    return _sometimes_known(path_parameters)


@valid.hook
def flatmap_query(context: Any, query: Any) -> st.SearchStrategy[Any]:
    return _sometimes_known(query)


@valid.hook
def flatmap_body(context: Any, body: Any) -> st.SearchStrategy[Any]:
    operation = context.operation
    return _sometimes_known(body, declared=_body_fields(operation.path, operation.method))


@dataclass
class Target:
    app: FastAPI
    headers: dict[str, str]


def _expect(response: Any, status: int) -> Any:
    assert response.status_code == status, (response.request.url, response.text)
    return response.json()


@pytest.fixture
def target(tmp_path: Any) -> Iterator[Target]:
    """The app on a fresh store holding the seed's super network, an external network, a child
    network of the seed's project and two IPs in it."""
    ipam = open_ipam(f"sqlite:///{tmp_path / 'ipam.db'}")
    app = create_app(ipam, follow=False)
    headers = admin_headers(ipam)
    with TestClient(app, headers=headers) as http:
        _expect(http.put("/v1/network", json=SEED_SUPER), 201)
        _expect(http.put("/v1/network", json=EXTERNAL), 201)
        child = _expect(http.post("/v1/network/allocate", json={
            "partitionid": SEED_SUPER["partitionid"], "projectid": SEED_PROJECT,
            "name": "fuzz-child"}), 201)
        for _ in range(2):
            _expect(http.post("/v1/ip/allocate", json={
                "networkid": child["id"], "projectid": SEED_PROJECT, "name": "fuzz"}), 201)
        networks = _expect(http.get("/v1/network"), 200)
        KNOWN.networks = sorted(n["id"] for n in networks)
        KNOWN.cidrs = sorted({p for n in networks for p in n["prefixes"]})
        KNOWN.ips = sorted(ip["ipaddress"] for ip in _expect(http.get("/v1/ip"), 200))
    yield Target(app, headers)
    ipam.close()


# `target` is built once per operation, before its examples, on purpose: a store per example
# would cost more than the example. And no check of how fast examples come (tests assert no
# wall-clock time; a busy CI machine is slow).
ONE_STORE_PER_OPERATION = settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@valid.parametrize()
@ONE_STORE_PER_OPERATION
def test_every_operation_answers_valid_requests_as_documented(case: Any, target: Target) -> None:
    case.call_and_validate(app=target.app, headers=target.headers, checks=CONFORMANCE)


@invalid.parametrize()
@ONE_STORE_PER_OPERATION
def test_every_operation_refuses_requests_that_break_the_schema(case: Any, target: Target) -> None:
    # a case whose headers break the schema may lack the token on purpose: keep it lacking
    broken_headers = case.meta.components.get(ParameterLocation.HEADER)
    headers = {} if broken_headers is not None and \
        broken_headers.mode is GenerationMode.NEGATIVE else target.headers
    case.call_and_validate(app=target.app, headers=headers,
                           checks=[*CONFORMANCE, negative_data_rejection])
