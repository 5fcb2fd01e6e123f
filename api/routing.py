"""Routes that refuse query parameters they do not know.

Unknown body fields are ignored, as metal-api does; an unknown query parameter is refused
instead, because a misspelt one (`?att=` for `?at=`) would otherwise answer a different
question than the one asked, silently.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from api.errors import error_response


class StrictQueryRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        known = frozenset(p.alias for p in self.dependant.query_params)

        async def strict(request: Request) -> Response:
            unknown = sorted(set(request.query_params) - known)
            if unknown:
                expected = ", ".join(sorted(known)) or "none"
                return error_response(
                    400, f"unknown query parameter {unknown[0]!r} (this route takes: {expected})")
            return await handler(request)

        return strict
