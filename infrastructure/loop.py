"""An executor that runs calls on an asyncio event loop's own thread.

On SQLite every write takes its turn on the file. Run on a thread of their own, the writes
also took turns with the event loop for the interpreter: each database call releases it, and
getting it back waited for the loop to let go, so that four clients allocated less than one
and a request cost a third more CPU. A server on SQLite therefore runs its write routes on its
event loop (`api.writers`), and the projection follower hands its batches to the loop through
this executor, so that the process writes from one thread only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

T = TypeVar("T")


class LoopExecutor(Executor):
    """Runs each submitted call on the loop's thread, between its other callbacks."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()

        def run() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as error:  # handed to the caller
                future.set_exception(error)

        try:
            self.loop.call_soon_threadsafe(run)
        except RuntimeError:  # the loop is closed: run it here
            run()
        return future

    def runs_here(self) -> bool:
        """Whether the caller is on the loop's thread (a call can then run at once)."""
        try:
            return asyncio.get_running_loop() is self.loop
        except RuntimeError:
            return False
