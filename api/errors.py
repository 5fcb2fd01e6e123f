"""The one table from domain errors to HTTP statuses, and metal-api's error body."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from application.writes import Replayed
from domain.errors import (
    ConflictError,
    ForbiddenError,
    InvalidRequestError,
    IpamError,
    NotFoundError,
    UnauthenticatedError,
    UnprocessableError,
)

log = logging.getLogger(__name__)

STATUS: tuple[tuple[type[IpamError], int], ...] = (
    (InvalidRequestError, 400),
    (UnauthenticatedError, 401),
    (ForbiddenError, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (UnprocessableError, 422),
)


def status_of(error: IpamError) -> int:
    for cls, status in STATUS:
        if isinstance(error, cls):
            return status
    return 400


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"statuscode": status, "message": message},
                        headers=dict(headers) if headers else None)


def _describe(error: RequestValidationError) -> str:
    parts = []
    for item in error.errors():
        location = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
        parts.append(f"{location or 'body'}: {item.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts[:5])


def install(app: FastAPI) -> None:
    @app.exception_handler(IpamError)
    async def ipam_error(_: Request, error: IpamError) -> JSONResponse:
        return error_response(status_of(error), error.message)

    @app.exception_handler(Replayed)
    async def replayed(_: Request, replay: Replayed) -> Response:
        """The first response to this idempotency key, exactly as it was sent."""
        return Response(content=replay.body, status_code=replay.status,
                        media_type="application/json", headers={"Idempotent-Replayed": "true"})

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        return error_response(400, _describe(error))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        return error_response(error.status_code, str(error.detail), error.headers)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return error_response(500, "internal server error")
