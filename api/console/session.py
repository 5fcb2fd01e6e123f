"""Signing in to the console: a bearer token given once in a form, kept in a cookie.

- The cookie holds the token itself (`HttpOnly`: no script reads it; `SameSite=Strict`: no other
  site's page sends it; `Secure` under TLS; `Path=/ui`). Every request authenticates it again
  exactly as the API authenticates a bearer token, so a revoked or expired token signs the
  session out on its next request, in every server process, with nothing kept on the server.
- Every form that changes something carries a CSRF token derived from the session's token
  (HMAC-SHA256 keyed by it): no one without the cookie can compute it, and it needs no state
  shared between server processes. A form without the right one is refused (403).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import Response

from application.access import Principal
from domain.errors import UnauthenticatedError
from infrastructure.metrics import AUTH_FAILURES

COOKIE = "ipam_session"
PATH = "/ui"
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True)
class Session:
    """A signed-in caller: the principal its token authenticates, and its forms' CSRF token."""

    principal: Principal
    csrf: str


def csrf_of(secret: str) -> str:
    return hmac.new(secret.encode(), b"ipam-console-csrf", hashlib.sha256).hexdigest()


def session_of(request: Request) -> Session | None:
    """The session of the request's cookie; None when there is none. UnauthenticatedError when
    its token is no longer valid (revoked, expired, unknown)."""
    secret = request.cookies.get(COOKIE)
    if not secret:
        return None
    principal = request.app.state.ipam.tokens.authenticate(secret)
    return Session(principal=principal, csrf=csrf_of(secret))


def sign_in(request: Request, response: Response, secret: str) -> Principal:
    """Authenticate the token and set the session cookie (UnauthenticatedError if it is not
    valid)."""
    secret = secret.strip()
    try:
        if not secret:
            raise UnauthenticatedError("give a token", reason="missing")
        principal: Principal = request.app.state.ipam.tokens.authenticate(secret)
    except UnauthenticatedError as error:
        AUTH_FAILURES.labels(reason=error.reason).inc()
        raise
    response.set_cookie(COOKIE, secret, path=PATH, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return principal


def sign_out(request: Request, response: Response) -> None:
    response.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")


def csrf_ok(session: Session, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(session.csrf, given or "")
