"""The OpenAPI document as a client author reads it (issue 12): every field and parameter
described, metal-api's enums, the right `required` lists, an example per request body that the
real API accepts, only the error statuses each route can answer, and `{ip}` wherever an address
is in the path."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from infrastructure.store import open_ipam
from tests.e2e.test_http_authorisation import MATRIX

REQUESTS = ("NetworkCreate", "NetworkUpdate", "NetworkAllocate", "NetworkFind", "IPAllocate",
            "IPUpdate", "IPFind")
RESPONSES = ("NetworkResponse", "NetworkUsage", "NetworkConsumption", "NetworkCapacity",
             "FamilyCapacity", "IPResponse", "HistoryResponse", "HistoryEvent",
             "HTTPErrorResponse", "HealthResponse")

# what a request must carry; everything else may be left out, or sent as null (metal-go)
REQUIRED: dict[str, set[str]] = {
    "NetworkCreate": set(),  # even the id: a UUID is generated (prefixes: checked, with a 400)
    "NetworkUpdate": {"id"},
    "NetworkAllocate": {"partitionid", "projectid"},
    "NetworkFind": set(),
    "IPAllocate": {"networkid", "projectid"},
    "IPUpdate": {"ipaddress"},
    "IPFind": set(),
}

# (method, path) -> (operation id, the error statuses it declares); every route but health
# also answers 401 without valid credentials
READ, WRITE = {401}, {400, 401, 403, 404, 409, 422}
ROUTES: dict[tuple[str, str], tuple[str, set[int]]] = {
    ("GET", "/v1/health"): ("health", {503}),
    ("GET", "/metrics"): ("metrics", {401}),
    ("GET", "/v1/network"): ("listNetworks", READ | {400}),
    ("PUT", "/v1/network"): ("createNetwork", WRITE - {404} | {413}),
    ("POST", "/v1/network"): ("updateNetwork", WRITE | {413}),
    ("POST", "/v1/network/allocate"): ("allocateNetwork", WRITE | {413}),
    ("POST", "/v1/network/find"): ("findNetworks", READ | {400, 413}),
    ("DELETE", "/v1/network/free/{id}"): ("freeNetwork", WRITE),
    ("POST", "/v1/network/free/{id}"): ("freeNetworkDeprecated", WRITE),
    ("DELETE", "/v1/network/{id}"): ("deleteNetwork", WRITE),
    ("GET", "/v1/network/{id}"): ("findNetwork", READ | {400, 404}),
    ("GET", "/v1/network/{id}/history"): ("networkHistory", READ | {400, 404}),
    ("GET", "/v1/ip"): ("listIPs", READ),
    ("POST", "/v1/ip"): ("updateIP", WRITE | {413}),
    ("POST", "/v1/ip/allocate"): ("allocateIP", WRITE | {413}),
    ("POST", "/v1/ip/allocate/{ip}"): ("allocateSpecificIP", WRITE | {413}),
    ("POST", "/v1/ip/find"): ("findIPs", READ | {400, 413}),
    ("DELETE", "/v1/ip/free/{ip}"): ("freeIP", WRITE),
    ("GET", "/v1/ip/{ip}"): ("findIP", READ | {400, 404}),
    ("GET", "/v1/ip/{ip}/history"): ("ipHistory", READ | {400}),
    ("GET", "/v1/prefix/history"): ("prefixHistory", READ | {400}),
}

# the request bodies in an order in which each one's examples work on an empty store
EXAMPLE_ORDER = ("createNetwork", "updateNetwork", "allocateNetwork", "findNetworks",
                 "allocateIP", "allocateSpecificIP", "updateIP", "findIPs")


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """/openapi.json as the app serves it (public: no token)."""
    ipam = open_ipam(f"sqlite:///{tmp_path_factory.mktemp('openapi') / 'ipam.db'}")
    with TestClient(create_app(ipam, follow=False)) as http:
        response = http.get("/openapi.json")
        assert response.status_code == 200, response.text
        yield response.json()
    ipam.close()


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield method.upper(), path, operation


def schema_of(document: dict[str, Any], name: str) -> dict[str, Any]:
    schema: dict[str, Any] = document["components"]["schemas"][name]
    return schema


def variants(prop: dict[str, Any]) -> list[dict[str, Any]]:
    """A property's schema, or the branches of its `anyOf` (nullable fields)."""
    return list(prop.get("anyOf", [prop]))


def enum_of(document: dict[str, Any], model: str, field: str) -> set[str]:
    prop = schema_of(document, model)["properties"][field]
    return next(set(v["enum"]) for v in variants(prop) if "enum" in v)


def body_examples(document: dict[str, Any], operation_id: str) -> dict[str, Any]:
    operation = next(op for _, _, op in operations(document) if op["operationId"] == operation_id)
    examples: dict[str, Any] = operation["requestBody"]["content"]["application/json"]["examples"]
    return examples


def path_example(document: dict[str, Any], operation_id: str, name: str) -> str:
    operation = next(op for _, _, op in operations(document) if op["operationId"] == operation_id)
    parameter = next(p for p in operation["parameters"] if p["name"] == name)
    return str(parameter["schema"]["examples"][0])


# -- descriptions --------------------------------------------------------------------------------

def test_every_schema_property_has_a_description(document: dict[str, Any]) -> None:
    undescribed = [(name, prop) for name, schema in document["components"]["schemas"].items()
                   for prop, field in schema.get("properties", {}).items()
                   if not field.get("description", "").strip()]
    assert not undescribed
    assert set(REQUESTS) | set(RESPONSES) <= set(document["components"]["schemas"])


def test_every_parameter_has_a_description(document: dict[str, Any]) -> None:
    undescribed = [(method, path, parameter["name"])
                   for method, path, operation in operations(document)
                   for parameter in operation.get("parameters", [])
                   if not parameter.get("description", "").strip()]
    assert not undescribed


def test_every_operation_and_response_is_described(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        assert operation.get("description", "").strip(), (method, path)
        for status, response in operation["responses"].items():
            assert response["description"].strip(), (method, path, status)
            assert response["description"] != "Successful Response", (method, path, status)


def test_big_capacity_figures_are_decimal_strings(document: dict[str, Any]) -> None:
    capacity = schema_of(document, "FamilyCapacity")["properties"]
    for name in ("total_ips", "acquired_ips", "reserved_ips", "free_space"):
        assert capacity[name]["type"] == "string"
        assert "decimal string" in capacity[name]["description"]
    assert "decimal string" in capacity["free_child_prefixes"]["description"]


# -- enums and required fields ---------------------------------------------------------------

def test_ip_type_and_addressfamily_are_metal_apis_enums(document: dict[str, Any]) -> None:
    for model in ("IPAllocate", "IPUpdate"):
        # "" is Go's zero value: not given (ephemeral on allocate, unchanged on update)
        assert enum_of(document, model, "type") == {"ephemeral", "static", ""}
    assert enum_of(document, "IPResponse", "type") == {"ephemeral", "static"}
    for model in ("IPAllocate", "IPFind", "NetworkAllocate", "NetworkFind"):
        assert enum_of(document, model, "addressfamily") == {"IPv4", "IPv6", ""}


def test_derived_network_types_are_enums(document: dict[str, Any]) -> None:
    assert enum_of(document, "NetworkResponse", "networktype") == {
        "underlay", "super", "child", "child-shared", "external"}
    assert enum_of(document, "NetworkResponse", "nattype") == {"ipv4-masq", "none"}


@pytest.mark.parametrize("model", REQUESTS)
def test_request_models_require_what_the_routes_need_and_take_null_for_the_rest(
    document: dict[str, Any], model: str,
) -> None:
    schema = schema_of(document, model)
    assert set(schema.get("required", ())) == REQUIRED[model]
    for name, prop in schema["properties"].items():
        nullable = {"type": "null"} in prop.get("anyOf", ())
        assert nullable == (name not in REQUIRED[model]), (model, name)


def test_required_strings_must_not_be_empty(document: dict[str, Any]) -> None:
    for model, field in (("NetworkAllocate", "partitionid"), ("NetworkAllocate", "projectid"),
                         ("IPAllocate", "networkid"), ("IPAllocate", "projectid"),
                         ("IPUpdate", "ipaddress")):
        assert schema_of(document, model)["properties"][field]["minLength"] == 1, (model, field)


@pytest.mark.parametrize("model", RESPONSES)
def test_response_models_declare_every_field_required(document: dict[str, Any], model: str) -> None:
    schema = schema_of(document, model)
    assert set(schema["required"]) == set(schema["properties"])


# -- examples ----------------------------------------------------------------------------------

def test_every_request_body_has_examples_of_declared_fields(document: dict[str, Any]) -> None:
    with_body = {op["operationId"] for _, _, op in operations(document) if "requestBody" in op}
    assert with_body == set(EXAMPLE_ORDER)
    for operation_id in EXAMPLE_ORDER:
        operation = next(op for _, _, op in operations(document)
                         if op["operationId"] == operation_id)
        content = operation["requestBody"]["content"]["application/json"]
        declared = schema_of(document, content["schema"]["$ref"].rsplit("/", 1)[1])["properties"]
        assert content["examples"], operation_id
        for name, example in content["examples"].items():
            # the server ignores unknown fields: a misspelt one would pass unnoticed
            assert set(example["value"]) <= set(declared), (operation_id, name)


def test_the_examples_are_accepted_by_the_api(document: dict[str, Any], client: Any) -> None:
    """Each request body example, in an order a newcomer would follow on an empty store, and
    the path examples of the IP routes after them."""
    routes = {op["operationId"]: (method, path) for method, path, op in operations(document)}
    specific = path_example(document, "allocateSpecificIP", "ip")
    for operation_id in EXAMPLE_ORDER:
        method, path = routes[operation_id]
        for name, example in body_examples(document, operation_id).items():
            response = client.request(method, path.replace("{ip}", specific),
                                      json=example["value"])
            assert 200 <= response.status_code < 300, (operation_id, name, response.text)
            if path.endswith("/find"):
                assert response.json(), (operation_id, name)  # the examples find something
    assert client.get(f"/v1/ip/{path_example(document, 'findIP', 'ip')}").status_code == 200
    history = client.get(f"/v1/ip/{path_example(document, 'ipHistory', 'ip')}/history")
    assert history.json()["events"], history.text
    assert client.delete(f"/v1/ip/free/{path_example(document, 'freeIP', 'ip')}").status_code == 200


# -- errors ------------------------------------------------------------------------------------

def test_each_route_declares_only_the_errors_it_can_answer(document: dict[str, Any]) -> None:
    declared = {(method, path): (operation["operationId"],
                                 {int(s) for s in operation["responses"] if int(s) >= 400})
                for method, path, operation in operations(document)}
    assert declared == ROUTES


def test_reads_declare_no_conflict_nor_forbidden(document: dict[str, Any]) -> None:
    """Every role may read (what a token may not see is not found), and reads change nothing."""
    for method, path, operation in operations(document):
        if method == "GET" or path.endswith("/find"):
            assert not {"403", "409", "422"} & set(operation["responses"]), (method, path)
        if method == "GET":
            assert "413" not in operation["responses"], (method, path)  # no body is read


def test_error_responses_are_metal_apis_error_body(document: dict[str, Any]) -> None:
    for _, path, operation in operations(document):
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/HTTPErrorResponse"}, (path, status)
    assert "HTTPValidationError" not in document["components"]["schemas"]  # invalid input: 400


def test_statuses_of_the_authorisation_matrix_are_declared(document: dict[str, Any]) -> None:
    """Every status a principal gets in the role x project matrix is one its route declares."""
    templates = [(method, re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"),
                  {int(s) for s in operation["responses"]})
                 for method, path, operation in operations(document)]
    for row in MATRIX:
        path = re.sub(r"\{[^}]+\}", "x", row.path.split("?")[0])
        declared = next(statuses for method, pattern, statuses in templates
                        if method == row.method and pattern.match(path))
        assert set(row.statuses) <= declared, (row.case, set(row.statuses) - declared)


# -- path parameters ---------------------------------------------------------------------------

def test_addresses_in_paths_are_ip_and_network_ids_are_id(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        names = re.findall(r"\{([^}]+)\}", path)
        expected = ["ip"] if path.startswith("/v1/ip/") and names else \
            ["id"] if path.startswith("/v1/network/") and names else []
        assert names == expected, (method, path)
        in_path = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
        assert in_path == names, (method, path)
