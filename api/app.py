"""The FastAPI application: routers, error table, request ids, health."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from importlib.metadata import version as package_version

from fastapi import FastAPI, Request, Response
from sqlalchemy import text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import auth, console, docs, errors, hardening, history, ips, logs, networks, openapi
from api import metrics as metrics_api
from api.deps import request_id_from
from api.hmac_auth import HmacKeys
from api.schemas import HealthResponse, HTTPErrorResponse
from application.context import RequestContext
from infrastructure import metrics
from infrastructure.loop import LoopExecutor
from infrastructure.store import Ipam, open_ipam

log = logging.getLogger("ipam")


def announce(secret: str | None) -> None:
    """Print the first admin token once, on the console, never to a log."""
    if secret is None:
        return
    sys.stderr.write(
        "\n  The store had no API token, so one admin token was created. It is shown only now;\n"
        "  keep it somewhere safe (`ipam token create` makes more, `ipam token revoke` ends one):\n\n"
        f"      {secret}\n\n"
    )
    sys.stderr.flush()


def upgrade_projections(ipam: Ipam, every: float = 10.0) -> None:
    """Rebuild the projections whose code changed, saying how far it got every `every`
    seconds (on a long log this takes minutes, and nothing else is logged meanwhile)."""
    said = time.monotonic()

    def progress(projection: str, position: int, head: int) -> None:
        nonlocal said
        if time.monotonic() - said >= every:
            said = time.monotonic()
            log.info("rebuilding projection %s, whose code changed: %d of %d events", projection,
                     position, head)

    ipam.upgrade_projections(progress)


class RequestIdMiddleware:
    """Give every request an id (the client's `X-Request-Id` when sane) and echo it.

    A plain ASGI middleware: Starlette's `BaseHTTPMiddleware` costs a task and a stream copy
    per request, a third of the server's time on a fast acquisition.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                given = value.decode("latin-1")
                break
        request_id = request_id_from(given)
        scope.setdefault("state", {})["request_id"] = request_id
        header = (b"x-request-id", request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        if "\x00" in scope["path"]:  # no store can look up or keep a NUL (path ids)
            await errors.error_response(400, "the path must not contain NUL")(
                scope, receive, send_with_id
            )
            return
        await self.app(scope, receive, send_with_id)


def create_app(ipam: Ipam | None = None, *, follow: bool = True) -> FastAPI:
    """Build the HTTP app; opens the configured store unless an `Ipam` is given."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        logs.install()
        owned = ipam is None
        app.state.ipam = ipam or open_ipam()
        if owned:
            # an upgrade whose projection code changed: rebuild them before answering anyone
            # (with --workers, one process does it while the others wait for it)
            await asyncio.to_thread(upgrade_projections, app.state.ipam)
            announce(app.state.ipam.tokens.bootstrap(RequestContext.new(actor="ipam serve")))
        served: Ipam = app.state.ipam
        served.app.observer = metrics.CommandMetrics()  # counts what this server commits
        if served.settings.is_sqlite or served.settings.writer_threads == 0:
            # one thread writes: this loop's (`infrastructure.loop`, `api.writers`)
            served.write_loop = LoopExecutor(asyncio.get_running_loop())
        if owned:
            # What a server's start-up made lives as long as the process: leave it out of
            # every later full collection, which otherwise scanned it all (a pause of about
            # 60 ms every few thousand requests, the whole of the p99 at one connection)
            gc.collect()
            gc.freeze()
        snapshots = ThreadPoolExecutor(1, thread_name_prefix="ipam-snapshots")
        served.app.snapshot_writer = snapshots
        if follow:
            served.start_follower()
        try:
            yield
        finally:
            served.write_loop = None
            served.app.snapshot_writer = None
            served.app.observer = None
            snapshots.shutdown(wait=True)
            if owned:
                served.close()

    app = FastAPI(
        title="dual-stack IPAM",
        description="Event-sourced IPAM for dual-stack networks, speaking metal-api v1.",
        version=package_version("dualstack-ipam"),
        lifespan=lifespan,
        docs_url=None,  # served below, from the package (these deployments are often offline)
        redoc_url=None,  # ReDoc exists only on a CDN
        # no redirects: one would point at the request's Host header (hardening.py answers a
        # path with a trailing slash as the path without it)
        redirect_slashes=False,
    )
    if ipam is not None:
        app.state.ipam = ipam
    errors.install(app)
    auth.document(app)
    openapi.document(app)
    docs.install(app)

    app.add_middleware(metrics_api.RouteMarker)
    app.add_middleware(auth.AuthMiddleware, fastapi=app, hmac_keys=HmacKeys.from_environment())
    if logs.log_format() == "json":  # uvicorn's access log is off then (`logs.uvicorn_log_config`)
        app.add_middleware(logs.AccessLog, fastapi=app)
    app.add_middleware(RequestIdMiddleware)
    hardening.install(app)
    app.add_middleware(metrics_api.RequestMetrics, fastapi=app)  # outermost: counts every answer

    @app.get("/v1/health", response_model=HealthResponse, tags=["health"],
             responses={503: {"model": HTTPErrorResponse,
                              "description": "the store does not answer"}},
             operation_id="health", response_description="the store answers")
    def health(request: Request) -> HealthResponse | Response:
        """200 when the store answers."""
        try:
            with request.app.state.ipam.projection.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as error:  # the store is down: say so, do not crash
            return errors.error_response(503, f"store unavailable: {type(error).__name__}")
        return HealthResponse(status="healthy", message="store answers")

    app.include_router(networks.router)
    app.include_router(ips.router)
    app.include_router(history.router)
    metrics_api.install(app)
    console.install(app)
    return app
