"""A do-nothing FastAPI app shaped like `POST /v1/ip/allocate`: the web stack's ceiling.

It reads and validates the same JSON body (`api.schemas.IPAllocate`) and answers 201 with the
same JSON document (`api.schemas.IPResponse`, serialised by the service's own `reply`), but it
has no store, no middleware and no authentication (the bearer token is ignored). The route is
`async def` (the fastest the stack answers: the ceiling); `--sync` makes it a plain `def` run
in the thread pool, as the service's routes are, to show what that hop costs. It is served as
`ipam serve` serves one worker: `uvicorn.run(app, ...)` with the default log level (`info`,
access log on) and no `server` header. A program, not a test.

    .venv/bin/python bench/noop_app.py --port 8099 [--sync]
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Annotated
from uuid import uuid4

from fastapi import Body, FastAPI, Response, status

from api.schemas import IPAllocate, IPResponse, reply

_CREATED = datetime(2026, 1, 1, tzinfo=UTC)


def _answer(body: IPAllocate) -> Response:
    return reply(IPResponse(
        ipaddress="10.0.0.1", allocationuuid=str(uuid4()), networkid=body.networkid,
        projectid=body.projectid, name=body.name, description=body.description,
        type="static" if body.type == "static" else "ephemeral", tags=body.tags,
        created=_CREATED, changed=_CREATED,
    ), 201)


def create_app(*, sync: bool = False) -> FastAPI:
    """The no-op app; its allocate route is `async def` (the stack's ceiling), or with
    `sync` a plain `def` run in the thread pool as the service's routes are."""
    app = FastAPI(title="no-op allocate")

    @app.get("/v1/health")
    def health() -> dict[str, str]:
        """Answer that the process is up."""
        return {"status": "healthy", "message": "no-op"}

    route = app.post("/v1/ip/allocate", status_code=status.HTTP_201_CREATED,
                     response_model=IPResponse)
    if sync:
        @route
        def allocate_ip(body: Annotated[IPAllocate, Body()]) -> Response:
            """Answer an acquisition without acquiring anything, from the thread pool."""
            return _answer(body)
    else:
        @route
        async def allocate_ip_async(body: Annotated[IPAllocate, Body()]) -> Response:
            """Answer an acquisition without acquiring anything, on the event loop."""
            return _answer(body)
    return app


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--log-level", default="info", help="uvicorn log level (as ipam serve)")
    parser.add_argument("--sync", action="store_true",
                        help="a sync route in the thread pool, as the service's routes are")
    args = parser.parse_args(argv)
    # the settings of `ipam serve` with one worker (api/cli/admin.py)
    uvicorn.run(create_app(sync=args.sync), host=args.host, port=args.port, log_level=args.log_level,
                server_header=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
