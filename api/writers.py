"""Write routes run on the store's writer threads (`Ipam.writers`).

A plain `def` route runs on the event loop's thread pool, a thread per request in flight.
Writes on one SQLite file are serialised anyway (the store's write lock), so four connections
writing meant four threads taking turns with the interpreter and that lock: each request cost
a third more CPU than with one connection, and four connections together allocated less than
one alone. Write routes are `@writes` instead: they run on a small pool of their own, one
thread for SQLite (nothing to gain from more), `IPAM_WRITER_THREADS` (default 4) for
PostgreSQL, where a thread waiting on the server lets another work. Reads keep the thread pool.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec

from fastapi import Request, Response

P = ParamSpec("P")


def writes(route: Callable[P, Response]) -> Callable[P, Awaitable[Response]]:
    """Run a write route on the writer pool (the route takes a `request` keyword)."""

    @functools.wraps(route)
    async def run(*args: P.args, **kwargs: P.kwargs) -> Response:
        request = kwargs["request"]
        assert isinstance(request, Request)
        ipam = request.app.state.ipam
        loop = ipam.write_loop
        if loop is not None and loop.runs_here():
            return route(*args, **kwargs)  # the store's writes run on this loop (SQLite)
        call: Callable[[], Any] = functools.partial(route, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(ipam.writers, call)

    return run
