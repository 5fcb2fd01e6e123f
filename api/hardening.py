"""HTTP hygiene: a request body limit, security headers, and CORS only where configured.

Plain ASGI middlewares, like `RequestIdMiddleware`: Starlette's `BaseHTTPMiddleware` costs a
task and a stream copy per request.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import errors

DEFAULT_MAX_BODY_BYTES = 1024 * 1024

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
# Everything but the docs page: it loads Swagger UI's scripts and styles (from /docs/assets).
API_ONLY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"cache-control", b"no-store"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
)

CORS_METHODS = ("GET", "PUT", "POST", "DELETE")
CORS_HEADERS = ("Authorization", "Content-Type", "Idempotency-Key", "X-Change-Reason",
                "X-Request-Id")


class _BodyTooLarge(Exception):
    """The request body went past the limit while the app was reading it."""


class BodyLimitMiddleware:
    """Refuse a request body over `max_bytes` with a 413, by its `Content-Length` before the
    app runs, and by counting while the app reads a body sent without one (chunked)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _refusal(self) -> ASGIApp:
        return errors.error_response(
            413, f"the request body must be at most {self.max_bytes} bytes")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit():
                    await errors.error_response(400, "Content-Length must be a number of bytes")(
                        scope, receive, send)
                    return
                if int(value) > self.max_bytes:
                    await self._refusal()(scope, receive, send)
                    return

        received = 0
        too_large = started = refused = False

        async def counting_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    too_large = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started, refused
            if too_large and not started:
                # the app answered its failed read (FastAPI makes it a 400): answer 413 instead
                started = refused = True
                await self._refusal()(scope, receive, send)
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if refused:
                return
            if too_large and not started:
                await self._refusal()(scope, receive, send)
                return
            raise


class SecurityHeadersMiddleware:
    """Add the security headers to every response the app sends (a header the app set wins)."""

    def __init__(self, app: ASGIApp, docs_paths: Iterable[str]) -> None:
        self.app = app
        self.docs_paths = frozenset(docs_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wanted = SECURITY_HEADERS
        if scope["path"] not in self.docs_paths:
            wanted = SECURITY_HEADERS + API_ONLY_HEADERS

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in wanted if h[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class CorsMiddleware(CORSMiddleware):
    """Starlette's CORS, with its refused preflights in the API's error shape."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        refusal = errors.error_response(response.status_code, bytes(response.body).decode())
        for name, value in response.headers.items():
            if name not in ("content-type", "content-length"):
                refusal.headers[name] = value
        return refusal


class TrailingSlashMiddleware:
    """Answer `/v1/network/` as `/v1/network`, without a redirect: a redirect would be built
    from the request's `Host` header, which the client chooses."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and len(path) > 1 and path.endswith("/"):
            raw = scope.get("raw_path") or b""
            scope = {**scope, "path": path.rstrip("/") or "/", "raw_path": raw.rstrip(b"/") or b"/"}
        await self.app(scope, receive, send)


class JsonByDefaultMiddleware:
    """A request body without a `Content-Type` is read as JSON, as metal-api reads it (curl
    without `-H 'Content-Type: application/json'`, or a client that never sets it). A body
    declared as something else stays as declared (and is refused as not JSON)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT", "DELETE", "PATCH"):
            headers = scope.get("headers") or []
            if not any(name == b"content-type" for name, _ in headers):
                scope = {**scope, "headers": [*headers, (b"content-type", b"application/json")]}
        await self.app(scope, receive, send)


def max_body_bytes() -> int:
    """`IPAM_MAX_BODY_BYTES`, else 1 MiB; raises ValueError when it is not a positive integer."""
    raw = os.environ.get("IPAM_MAX_BODY_BYTES", "").strip()
    if not raw:
        return DEFAULT_MAX_BODY_BYTES
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"IPAM_MAX_BODY_BYTES must be a positive number of bytes, not {raw!r}")
    return int(raw)


def cors_origins() -> list[str]:
    """The origins in `IPAM_CORS_ORIGINS` (comma-separated); none means CORS stays off."""
    return [o.strip() for o in os.environ.get("IPAM_CORS_ORIGINS", "").split(",") if o.strip()]


def install(app: FastAPI) -> None:
    """Add the trailing slash rewrite, JSON as the default body type, the body limit, CORS when configured, and the security
    headers (outermost, so the 413 and CORS preflight answers carry them too)."""
    app.add_middleware(TrailingSlashMiddleware)
    app.add_middleware(JsonByDefaultMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes())
    origins = cors_origins()
    if origins:
        app.add_middleware(CorsMiddleware, allow_origins=origins, allow_methods=CORS_METHODS,
                           allow_headers=CORS_HEADERS, expose_headers=("X-Request-Id",))
    app.add_middleware(SecurityHeadersMiddleware, docs_paths=["/docs"])
