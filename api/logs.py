"""What the server writes to its log: never a secret; text (uvicorn's) or JSON lines.

uvicorn's access log writes the request's path with its query string, and a query string can
carry a secret (`?access_token=...`, a token pasted into the wrong place): the access log keeps
the path only. Tokens travel in headers, which no log line writes.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import time
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from api.routes import RouteTemplates, recording_status

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


# -- JSON lines (`IPAM_LOG_FORMAT=json`, `ipam serve --log-format json`) ------------------------

LOG_FORMAT_VARIABLE = "IPAM_LOG_FORMAT"
ACCESS = "ipam.access"

# who asks and which request, for every line written while a request is being served
_request_id: ContextVar[str | None] = ContextVar("ipam_request_id", default=None)
_actor: ContextVar[str | None] = ContextVar("ipam_actor", default=None)


def log_format() -> str:
    """`text` (uvicorn's lines, the default) or `json`; anything else is refused."""
    chosen = os.environ.get(LOG_FORMAT_VARIABLE, "").strip().lower() or "text"
    if chosen not in ("text", "json"):
        raise ValueError(f"{LOG_FORMAT_VARIABLE} must be text or json, not {chosen!r}")
    return chosen


class JsonLines(logging.Formatter):
    """One JSON object per line: time (RFC 3339, UTC), level, logger, message, the request id
    and actor of the request being served, and an access record's method, route (the
    template, never the raw path), status and duration in milliseconds."""

    FIELDS = ("method", "route", "status", "duration_ms")

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or _request_id.get()
        actor = getattr(record, "actor", None) or _actor.get()
        if request_id:
            line["request_id"] = request_id
        if actor:
            line["actor"] = actor
        for name in self.FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


OWN_LOGGERS = ("ipam", "api", "application", "infrastructure")  # this service's modules


def uvicorn_log_config(log_format: str, level: str = "info") -> dict[str, Any]:
    """uvicorn's logging in the chosen format. In text, uvicorn's own, which also writes this
    service's messages (a projection rebuilt at start-up, a follower that failed) at the
    chosen level. In JSON, uvicorn's access log is off: `AccessLog` writes one with the
    request's id, actor, route and duration."""
    if log_format != "json":
        from uvicorn.config import LOGGING_CONFIG

        config = copy.deepcopy(LOGGING_CONFIG)
        for name in OWN_LOGGERS:
            config["loggers"][name] = {"handlers": ["default"], "level": level.upper(),
                                       "propagate": False}
        return config
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonLines"}},
        "handlers": {"json": handler},
        "root": {"handlers": ["json"], "level": level.upper()},
        "loggers": {
            "uvicorn": {"handlers": [], "level": "INFO", "propagate": True},
            "uvicorn.error": {"handlers": [], "level": "INFO", "propagate": True},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


class AccessLog:
    """The access log in JSON mode: a line per request, written when it is answered, with the
    request id, the actor (the token's subject, `hmac:<type>`, or none), the method, the route
    template, the status and the duration. Also puts the request id and actor where every
    other line written while serving the request finds them."""

    def __init__(self, app: ASGIApp, fastapi: Any = None) -> None:
        self.app = app
        self.routes = RouteTemplates(fastapi)  # the OpenAPI paths name routes never reached
        self.logger = logging.getLogger(ACCESS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status, send_status = recording_status(send)
        state = scope.setdefault("state", {})
        request_token = _request_id.set(state.get("request_id"))
        actor_token = _actor.set(None)

        try:
            await self.app(scope, receive, send_status)
        finally:
            principal = state.get("principal")
            route = self.routes.of(scope)
            answered = status[0] if status else 500
            self.logger.info(
                "%s %s %s", scope["method"], route, answered,
                extra={"request_id": state.get("request_id"),
                       "actor": getattr(principal, "subject", None),
                       "method": scope["method"], "route": route, "status": answered,
                       "duration_ms": round((time.perf_counter() - started) * 1000, 2)})
            _request_id.reset(request_token)
            _actor.reset(actor_token)


def set_actor(subject: str | None) -> None:
    """The actor of the request being served, for the lines written while serving it."""
    _actor.set(subject)
