"""Authentication: every request but health and the API's documents carries a bearer token.

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

from api.errors import error_response
from application.access import Principal
from domain.errors import UnauthenticatedError

PUBLIC = frozenset({"/v1/health", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
CHALLENGE = 'Bearer realm="ipam"'
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": "the same key with the same request returns the first result without a "
                   "second change; with a different request it is a 422",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
}


def bearer(scope: Scope) -> str | None:
    """The token of an `Authorization: Bearer <token>` header; None without one."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            token = token.strip()
            return token if scheme.lower() == "bearer" and token else None
    return None


class AuthMiddleware:
    """401 for a request without a valid token; otherwise its principal in the request state."""

    def __init__(self, app: ASGIApp, fastapi: FastAPI) -> None:
        self.app = app
        self.fastapi = fastapi

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        token = bearer(scope)
        if token is None:
            await _refuse("missing bearer token: send Authorization: Bearer <token>", scope, receive, send)
            return
        tokens = self.fastapi.state.ipam.tokens
        try:
            if tokens.known(token):
                # one primary-key read (revoked since?): cheaper here than a hop to a thread
                principal: Principal = tokens.authenticate(token)
            else:
                principal = await to_thread.run_sync(tokens.authenticate, token)
        except UnauthenticatedError as error:
            await _refuse(error.message, scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


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
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                if not isinstance(operation, dict):
                    continue
                operation["security"] = [] if path in PUBLIC else [{"bearer": []}]
                if method in ("post", "put", "delete") and not path.endswith("/find"):
                    operation.setdefault("parameters", []).append(IDEMPOTENCY_KEY)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
