"""What the access log and the metrics know of a request: the template of the route that served
it (never the raw path, which carries ids and addresses without bound) and the status it was
answered with."""

from __future__ import annotations

from typing import Any

from starlette.types import Message, Scope, Send

NO_ROUTE = "(no route)"


class RouteTemplates:
    """The template of the route that served a request, or of the one it was meant for (a
    request refused before routing, with 401, never reached one): from the app's OpenAPI
    paths, matched segment by segment."""

    def __init__(self, fastapi: Any = None) -> None:
        self.fastapi = fastapi
        self._paths: list[tuple[list[str | None], str]] | None = None

    def of(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is not None and getattr(route, "path", None):
            return str(route.path)
        if self._paths is None:
            paths = self.fastapi.openapi().get("paths", {}) if self.fastapi is not None else {}
            self._paths = [([None if part.startswith("{") and part.endswith("}") else part
                             for part in path.split("/")], path) for path in paths]
        given = scope["path"].split("/")
        for parts, template in self._paths:
            if len(parts) == len(given) and all(
                    part is None and segment or part == segment
                    for part, segment in zip(parts, given, strict=True)):
                return template
        return NO_ROUTE


def recording_status(send: Send) -> tuple[list[int], Send]:
    """A `send` that notes the answer's status in the list (empty until it is sent)."""
    status: list[int] = []

    async def send_status(message: Message) -> None:
        if message["type"] == "http.response.start":
            status.append(int(message["status"]))
        await send(message)

    return status, send_status
