"""The FastAPI application: routers, error table, request ids, health."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from sqlalchemy import text

from api import errors, ips, networks
from api.deps import request_id_from
from api.schemas import HealthResponse, HTTPErrorResponse
from infrastructure.store import Ipam, open_ipam


def create_app(ipam: Ipam | None = None, *, follow: bool = True) -> FastAPI:
    """Build the HTTP app; opens the configured store unless an `Ipam` is given."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = ipam is None
        app.state.ipam = ipam or open_ipam()
        if follow:
            app.state.ipam.start_follower()
        yield
        if owned:
            app.state.ipam.close()

    app = FastAPI(
        title="dual-stack IPAM",
        description="Event-sourced IPAM for dual-stack networks, speaking metal-api v1.",
        version="0.1.0",
        lifespan=lifespan,
    )
    if ipam is not None:
        app.state.ipam = ipam
    errors.install(app)

    @app.middleware("http")
    async def request_id(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        request.state.request_id = request_id_from(request.headers.get("x-request-id"))
        if "\x00" in request.scope["path"]:  # no store can look up or keep a NUL (path ids)
            response: Response = errors.error_response(400, "the path must not contain NUL")
        else:
            response = await call_next(request)
        response.headers["X-Request-Id"] = request.state.request_id
        return response

    @app.get("/v1/health", response_model=HealthResponse, tags=["health"],
             responses={503: {"model": HTTPErrorResponse}}, operation_id="health")
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
    return app
