"""HTTP hygiene through the real app (ASGI): the request body limit, security headers on every
response, and CORS off unless origins are configured."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.hardening import DEFAULT_MAX_BODY_BYTES
from infrastructure.store import Ipam
from tests.conftest import admin_headers
from tests.e2e.test_http_errors import assert_error

CSP = "default-src 'none'; frame-ancestors 'none'"
PREFLIGHT = {"Access-Control-Request-Method": "PUT",
             "Access-Control-Request-Headers": "authorization, content-type"}


@pytest.fixture
def serve(ipam: Ipam, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., TestClient]]:
    """A client of an app built with these environment variables set."""
    with ExitStack() as stack:
        def build(**env: str) -> TestClient:
            for name, value in env.items():
                monkeypatch.setenv(name, value)
            client = TestClient(create_app(ipam, follow=False), headers=admin_headers(ipam))
            return stack.enter_context(client)

        yield build


def network_body(size: int) -> bytes:
    """A valid create-network request of exactly `size` bytes (padded in its description)."""
    body = {"name": "padded", "prefixes": ["10.9.0.0/24"], "description": ""}
    bare = len(json.dumps(body).encode())
    assert size >= bare
    return json.dumps({**body, "description": "x" * (size - bare)}).encode()


def chunks(body: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    """The body as a stream, so the client sends it chunked, without a Content-Length."""
    for start in range(0, len(body), size):
        yield body[start:start + size]


JSON = {"Content-Type": "application/json"}


# -- body limit ----------------------------------------------------------------------------------

def test_body_over_limit_is_refused_with_413_by_its_content_length(client: Any) -> None:
    response = client.put("/v1/network", content=network_body(2 * 1024 * 1024), headers=JSON)
    assert_error(response, 413, f"the request body must be at most {DEFAULT_MAX_BODY_BYTES} bytes")
    assert client.get("/v1/network").json() == []


def test_body_over_limit_is_refused_by_its_content_length_before_any_route_runs(
        client: Any) -> None:
    # the list route reads no body: only the declared length can refuse this one
    response = client.request("GET", "/v1/network", content=b"x" * (DEFAULT_MAX_BODY_BYTES + 1))
    assert_error(response, 413)


def test_chunked_body_over_limit_is_refused_with_413_while_streaming(client: Any) -> None:
    response = client.put("/v1/network", content=chunks(network_body(2 * 1024 * 1024)),
                          headers=JSON)
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_error(response, 413, f"the request body must be at most {DEFAULT_MAX_BODY_BYTES} bytes")
    assert client.get("/v1/network").json() == []


def test_chunked_body_under_limit_reaches_route_intact(client: Any) -> None:
    body = network_body(60 * 1024)  # a text field holds at most 65,536 characters
    response = client.put("/v1/network", content=chunks(body, 1000), headers=JSON)
    assert response.status_code == 201, response.text
    assert response.json()["description"] == json.loads(body)["description"]


def test_text_field_over_its_limit_is_refused_with_400(client: Any) -> None:
    body = network_body(70 * 1024)
    assert_error(client.put("/v1/network", content=body, headers=JSON), 400,
                 "invalid request: description: String should have at most 65536 characters")


def test_body_at_configured_limit_is_accepted_and_one_byte_more_refused(
        serve: Callable[..., TestClient]) -> None:
    client = serve(IPAM_MAX_BODY_BYTES="4096")
    assert client.put("/v1/network", content=network_body(4096), headers=JSON).status_code == 201
    over = network_body(4097).replace(b"10.9.0.0/24", b"10.8.0.0/24")
    assert_error(client.put("/v1/network", content=over, headers=JSON), 413,
                 "the request body must be at most 4096 bytes")
    assert_error(client.put("/v1/network", content=chunks(over, 1000), headers=JSON), 413)
    assert [n["name"] for n in client.get("/v1/network").json()] == ["padded"]


def test_body_over_limit_is_refused_before_the_token_is_checked(ipam: Ipam) -> None:
    with TestClient(create_app(ipam, follow=False)) as anonymous:
        response = anonymous.put("/v1/network", content=network_body(2 * 1024 * 1024),
                                 headers=JSON)
    assert_error(response, 413)


def test_content_length_that_is_not_a_number_is_refused_with_400(client: Any) -> None:
    response = client.put("/v1/network", content=b"{}",
                          headers={**JSON, "Content-Length": "lots"})
    assert_error(response, 400, "Content-Length must be a number of bytes")


@pytest.mark.parametrize("setting", ["lots", "0", "-1", "1.5"])
def test_body_limit_setting_that_is_not_a_positive_number_stops_startup(
        ipam: Ipam, monkeypatch: pytest.MonkeyPatch, setting: str) -> None:
    monkeypatch.setenv("IPAM_MAX_BODY_BYTES", setting)
    with pytest.raises(ValueError, match="IPAM_MAX_BODY_BYTES must be a positive number"):
        create_app(ipam, follow=False)


# -- security headers ----------------------------------------------------------------------------

def assert_security_headers(response: Any, *, api: bool = True) -> None:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    if api:
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["content-security-policy"] == CSP
    else:
        assert "content-security-policy" not in response.headers


def test_security_headers_are_on_success_and_error_answers(client: Any) -> None:
    answers = {
        200: client.get("/v1/network"),
        201: client.put("/v1/network", json={"prefixes": ["10.1.0.0/24"]}),
        400: client.put("/v1/network", json={"prefixes": ["banana"]}),
        404: client.get("/v1/network/missing"),
        405: client.request("PATCH", "/v1/network"),
        413: client.put("/v1/network", content=network_body(2 * 1024 * 1024), headers=JSON),
    }
    for status, response in answers.items():
        assert response.status_code == status, response.text
        assert_security_headers(response)


def test_security_headers_are_on_answers_to_requests_without_token(ipam: Ipam) -> None:
    with TestClient(create_app(ipam, follow=False)) as anonymous:
        unauthorised = anonymous.get("/v1/network")
        unknown_route = anonymous.get("/v1/nothing-here")
        health = anonymous.get("/v1/health")
    assert_error(unauthorised, 401)
    assert_error(unknown_route, 401)  # the token is checked before routing
    assert health.status_code == 200
    for response in (unauthorised, unknown_route, health):
        assert_security_headers(response)


def test_openapi_document_is_served_with_api_headers(client: Any) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert_security_headers(response)


def test_docs_page_gets_security_headers_but_no_csp(client: Any) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert_security_headers(response, api=False)


def test_docs_work_offline_every_asset_from_the_server_itself(client: Any) -> None:
    """Swagger UI's scripts and styles come from the package, not a CDN (air-gapped sites);
    ReDoc, which exists only on a CDN, is not offered."""
    import re

    page = client.get("/docs", headers={"Authorization": ""}).text
    assert not re.search(r"(?:src|href)\s*=\s*[\"']?(?:https?:)?//", page), page
    assets = re.findall(r"(?:src|href)\s*=\s*[\"']([^\"']+)[\"']", page)
    assert {"/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"} <= set(assets)
    for asset in assets:
        fetched = client.get(asset, headers={"Authorization": ""})  # no token needed
        assert fetched.status_code == 200, asset
        assert len(fetched.content) > 500, asset  # the real file, not an error page
    assert client.get("/docs/assets/swagger-ui-bundle.js").headers["content-type"].startswith(
        ("application/javascript", "text/javascript"))
    assert "url: '/openapi.json'" in page or 'url: "/openapi.json"' in page
    assert client.get("/redoc").status_code == 404
    assert client.get("/docs/assets/%2e%2e%2f%2e%2e%2f__init__.py").status_code == 404  # no way out


# -- CORS ----------------------------------------------------------------------------------------

def test_preflight_gets_no_cors_headers_by_default(client: Any) -> None:
    response = client.options("/v1/network", headers={"Origin": "https://ipam.example",
                                                      **PREFLIGHT})
    assert not [h for h in response.headers if h.lower().startswith("access-control-")]
    assert_error(response, 405)
    assert_security_headers(response)


def test_request_from_other_origin_gets_no_cors_headers_by_default(client: Any) -> None:
    response = client.get("/v1/network", headers={"Origin": "https://ipam.example"})
    assert response.status_code == 200
    assert not [h for h in response.headers if h.lower().startswith("access-control-")]


def test_configured_origin_passes_preflight_and_reads_answers(
        serve: Callable[..., TestClient]) -> None:
    client = serve(IPAM_CORS_ORIGINS="https://ipam.example, https://ops.example")
    preflight = client.options("/v1/network", headers={"Origin": "https://ops.example",
                                                       **PREFLIGHT})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://ops.example"
    assert "PUT" in preflight.headers["access-control-allow-methods"]
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in preflight.headers
    assert_security_headers(preflight)

    answer = client.get("/v1/network", headers={"Origin": "https://ipam.example"})
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == "https://ipam.example"
    assert "x-request-id" in answer.headers["access-control-expose-headers"].lower()


def test_other_origin_is_refused_when_origins_are_configured(
        serve: Callable[..., TestClient]) -> None:
    client = serve(IPAM_CORS_ORIGINS="https://ipam.example")
    preflight = client.options("/v1/network", headers={"Origin": "https://evil.example",
                                                       **PREFLIGHT})
    assert_error(preflight, 400, "Disallowed CORS origin")
    assert "access-control-allow-origin" not in preflight.headers
    assert "Origin" in preflight.headers["vary"]  # caches keep answers per origin apart
    answer = client.get("/v1/network", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in answer.headers


def test_a_json_body_without_content_type_is_read_as_json(client: Any) -> None:
    """As metal-api reads it (curl without -H 'Content-Type: application/json')."""
    created = client.put("/v1/network", content=b'{"id": "plain", "prefixes": ["10.9.0.0/24"]}')
    assert created.status_code == 201, created.text
    assert created.json()["prefixes"] == ["10.9.0.0/24"]
    declared = client.put("/v1/network", content=b'{"id": "other", "prefixes": ["10.8.0.0/24"]}',
                          headers={"Content-Type": "text/plain"})
    assert declared.status_code == 400, declared.text  # declared as something else: not read
