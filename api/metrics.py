"""`GET /metrics` (Prometheus' text format, any role's token) and the HTTP request metrics.

`RequestMetrics` is the outermost middleware, so it counts every answer, the body-limit 413s
and the 401s included; `RouteMarker`, just outside the router, hands it the template of the
route that served the request (the middlewares between them copy the request's scope, but
share its state). Methods outside HTTP's usual ones count as `OTHER`, paths that match no route
as `(no route)`: the series stay bounded whatever a client sends.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI, Request, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from api.deps import principal_of
from api.routes import RouteTemplates, recording_status
from api.schemas import refusals
from infrastructure import metrics
from infrastructure.metrics import CONTENT_TYPE, HTTP_DURATION, HTTP_REQUESTS

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
ROUTE = "metrics_route"  # the key of the route template in the request's state


class RouteMarker:
    """Keeps the template of the route that served the request in the request's state."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            route = scope.get("route")
            if route is not None and scope["type"] == "http":
                scope.setdefault("state", {})[ROUTE] = getattr(route, "path", None)


class RequestMetrics:
    """`ipam_http_requests_total{method,route,status}` and
    `ipam_http_request_duration_seconds{method,route}` for every HTTP request."""

    def __init__(self, app: ASGIApp, fastapi: FastAPI) -> None:
        self.app = app
        self.routes = RouteTemplates(fastapi)
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._histograms: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state = scope.setdefault("state", {})
        status, send_status = recording_status(send)
        try:
            await self.app(scope, receive, send_status)
        except Exception:
            if not status:  # Starlette's outermost middleware answers it with a 500
                status.append(500)
            raise
        finally:
            if status:  # else cancelled before it was answered (a shutdown): nothing to count
                method = scope["method"] if scope["method"] in METHODS else "OTHER"
                route = state.get(ROUTE) or self.routes.of(scope)
                self._observe(method, route, status[0], time.perf_counter() - started)

    def _observe(self, method: str, route: str, status: int, seconds: float) -> None:
        counter = self._counters.get((method, route, status))
        if counter is None:
            counter = HTTP_REQUESTS.labels(method=method, route=route, status=str(status))
            self._counters[(method, route, status)] = counter
        counter.inc()
        histogram = self._histograms.get((method, route))
        if histogram is None:
            histogram = HTTP_DURATION.labels(method=method, route=route)
            self._histograms[(method, route)] = histogram
        histogram.observe(seconds)


def install(app: FastAPI) -> None:
    """The `/metrics` route; the middlewares are added by `api.app` (their order matters)."""

    @app.get("/metrics", tags=["operations"], operation_id="metrics",
             summary="Metrics for Prometheus", response_class=Response,
             response_description="Prometheus' text format",
             responses={200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}}},
                        **refusals("metrics")})
    def scrape(request: Request) -> Response:
        """The service's metrics for Prometheus: HTTP requests, allocations, refusals and
        authentication failures of every server process, the event log's head, the
        projections' lag and rebuild progress, and each super network's figures per family.
        Any role's token may read them (a token bound to projects sees only the super
        networks it may see)."""
        principal = principal_of(request)
        ipam = request.app.state.ipam
        store = metrics.StoreMetrics(ipam, ipam.settings.metrics_max_networks,
                                     projects=principal.projects)
        return Response(metrics.exposition(store), media_type=CONTENT_TYPE)
