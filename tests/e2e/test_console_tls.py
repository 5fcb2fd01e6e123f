"""The console's session cookie under TLS: `Secure` when the request came over https (directly,
or through a proxy whose `X-Forwarded-Proto` uvicorn trusts), never otherwise."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.app import create_app
from application.context import RequestContext
from infrastructure.store import Ipam


def cookie_of(ipam: Ipam, base_url: str) -> str:
    _, secret = ipam.tokens.issue(context=RequestContext.new(actor="tests"), subject="tls",
                                  role="viewer")
    with TestClient(create_app(ipam, follow=False), base_url=base_url) as client:
        response = client.post("/ui/signin", data={"token": secret}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return str(response.headers["set-cookie"])


def test_the_session_cookie_is_secure_under_tls(stored_ipam: Ipam) -> None:
    cookie = cookie_of(stored_ipam, "https://ipam.example.org")
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Path=/ui" in cookie


def test_the_session_cookie_is_not_marked_secure_over_plain_http(stored_ipam: Ipam) -> None:
    assert "Secure" not in cookie_of(stored_ipam, "http://127.0.0.1:8080")
