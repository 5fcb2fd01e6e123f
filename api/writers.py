"""Write routes run where the store's writes run (`Ipam.writers`, `Ipam.write_loop`).

A plain `def` route runs on the event loop's thread pool, a thread per request in flight.
Writes on one SQLite file are serialised anyway (the store's write lock), so four connections
writing meant four threads taking turns with the interpreter and that lock: each request cost
a third more CPU than with one connection, and four connections together allocated less than
one alone. Write routes are `@writes` instead. On SQLite they run on the event loop itself:
the process then writes from one thread, and four clients allocate as fast as one. On
PostgreSQL they run on a pool of `IPAM_WRITER_THREADS` threads (default 4), where a thread
waiting on the database lets another work; 0 writes on the event loop as on SQLite (faster on
this 2-core machine with the database on localhost, see bench/README.md, but every round trip
to the database then holds up the whole process). Reads keep the thread pool.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec

from fastapi import Request, Response

P = ParamSpec("P")


def writes(route: Callable[P, Response]) -> Callable[P, Awaitable[Response]]:
    """Run a write route where the store's writes run: at once when that is this event loop,
    else on the writer pool (the route takes a `request` keyword)."""

    @functools.wraps(route)
    async def run(*args: P.args, **kwargs: P.kwargs) -> Response:
        request = kwargs["request"]
        assert isinstance(request, Request)
        ipam = request.app.state.ipam
        loop = ipam.write_loop
        if loop is not None and loop.runs_here():
            return route(*args, **kwargs)  # the store's writes run on this loop (SQLite)
        # with this request's context: its log lines name the request and the actor
        call: Callable[[], Any] = functools.partial(
            contextvars.copy_context().run, route, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(ipam.writers, call)

    return run
