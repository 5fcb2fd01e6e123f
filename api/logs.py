"""What the server writes to its log: never a secret.

uvicorn's access log writes the request's path with its query string, and a query string can
carry a secret (`?access_token=...`, a token pasted into the wrong place): the access log keeps
the path only. Tokens travel in headers, which no log line writes.
"""

from __future__ import annotations

import logging

ACCESS_LOGGER = "uvicorn.access"


class PathOnly(logging.Filter):
    """Cut the query string off the path of uvicorn's access log records."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], args[2].partition("?")[0], args[3], args[4])
        return True


def install() -> None:
    """Add the filter to uvicorn's access logger (once; each server process calls it after
    uvicorn configured its logging)."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, PathOnly) for f in logger.filters):
        logger.addFilter(PathOnly())
