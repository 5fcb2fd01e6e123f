"""Authentication: every request but health and the API's documents carries a bearer token
(or metal-stack's HMAC, see `api.hmac_auth`, where its keys are configured).

A plain ASGI middleware, so no route can be reached without it. A token seen for the first time
is loaded from the store in a worker thread; after that, each request asks the store only
whether it was revoked, by one primary-key read, done right here (a hop to a thread would cost
more than the read). The principal goes into the request's state, where
`api.deps.principal_of` finds it. The token itself is never logged.
"""

from __future__ import annotations

from typing import Any

from anyio import to_thread
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from api import logs
from api.errors import error_response
from api.hmac_auth import HmacKeys
from application.access import Principal
from domain.errors import UnauthenticatedError
from infrastructure.metrics import AUTH_FAILURES

PUBLIC = frozenset({"/v1/health", "/docs", "/openapi.json", "/ui"})
# Swagger UI's scripts and styles; the console, which signs in with its own cookie
# (api.console.session) and authenticates its token on every request as this middleware does
PUBLIC_PREFIXES = ("/docs/assets/", "/ui/")
CHALLENGE = 'Bearer realm="ipam"'
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": "the same key with the same request returns the first result without a "
                   "second change; with a different request it is a 422",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
}


def header(scope: Scope, wanted: bytes) -> str | None:
    for name, value in scope["headers"]:
        if name == wanted:
            return str(value.decode("latin-1"))
    return None


def credentials(scope: Scope) -> tuple[str, str] | None:
    """The scheme and credential of the `Authorization` header; None without one."""
    value = header(scope, b"authorization")
    if value is None:
        return None
    scheme, _, credential = value.strip().partition(" ")
    credential = credential.strip()
    return (scheme, credential) if credential else None


class AuthMiddleware:
    """401 for a request without a valid bearer token (or, where keys are configured, a valid
    metal-stack HMAC); otherwise its principal in the request state."""

    def __init__(self, app: ASGIApp, fastapi: FastAPI, hmac_keys: HmacKeys) -> None:
        self.app = app
        self.fastapi = fastapi
        self.hmac_keys = hmac_keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC or scope["method"] == "OPTIONS" \
                or scope["path"].startswith(PUBLIC_PREFIXES):
            await self.app(scope, receive, send)
            return
        given = credentials(scope)
        try:
            if given is not None and HmacKeys.is_hmac(given[0]):
                principal = self.hmac_keys.authenticate(
                    given[0], given[1], scope["method"], header(scope, b"x-date"),
                    header(scope, b"x-data-salt"))
            elif given is not None and given[0].lower() == "bearer":
                principal = await self._bearer(given[1])
            else:
                raise UnauthenticatedError(
                    "missing bearer token: send Authorization: Bearer <token>", reason="missing")
        except UnauthenticatedError as error:
            AUTH_FAILURES.labels(reason=error.reason).inc()
            await _refuse(error.message, scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        logs.set_actor(principal.subject)
        await self.app(scope, receive, send)

    async def _bearer(self, token: str) -> Principal:
        tokens = self.fastapi.state.ipam.tokens
        if tokens.known(token):
            # one primary-key read (revoked since?): cheaper here than a hop to a thread
            principal: Principal = tokens.authenticate(token)
            return principal
        return await to_thread.run_sync(tokens.authenticate, token)


async def _refuse(message: str, scope: Scope, receive: Receive, send: Send) -> None:
    response = error_response(401, message)
    response.headers["www-authenticate"] = CHALLENGE
    await response(scope, receive, send)


def document(app: FastAPI) -> None:
    """Declare the bearer scheme in the OpenAPI document: on every operation but health."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        schema.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = {
            "type": "http", "scheme": "bearer",
            "description": "a token from `ipam token create` (or the one `ipam serve` prints on first start)",
        }
        schema["components"]["securitySchemes"]["hmac"] = {
            "type": "apiKey", "in": "header", "name": "Authorization",
            "description": "metal-stack HMAC (metalctl --hmac): `Metal-View|Metal-Edit|"
                           "Metal-Admin <hex HMAC-SHA256(key, X-Date + method + X-Data-Salt)>` "
                           "with the `X-Date` (RFC 3339, at most 15 s old) and `X-Data-Salt` "
                           "headers; each type needs its key configured on the server",
        }
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                if not isinstance(operation, dict):
                    continue
                operation["security"] = [] if path in PUBLIC else [{"bearer": []}, {"hmac": []}]
                if method in ("post", "put", "delete") and not path.endswith("/find"):
                    operation.setdefault("parameters", []).append(IDEMPOTENCY_KEY)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
