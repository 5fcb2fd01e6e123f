"""Dependencies shared by the routers."""

from __future__ import annotations

import re
from typing import Annotated
from uuid import uuid4

from fastapi import Depends, Header, Request

from application.context import RequestContext
from application.service import IpamApplication

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def get_app(request: Request) -> IpamApplication:
    return request.app.state.ipam.app  # type: ignore[no-any-return]


def get_context(
    request: Request,
    x_change_reason: Annotated[str | None, Header(max_length=1024)] = None,
) -> RequestContext:
    return RequestContext(
        actor="anonymous", request_id=request.state.request_id, reason=x_change_reason or None
    )


def request_id_from(header: str | None) -> str:
    """The client's `X-Request-Id` when it is sane, else a fresh one."""
    if header and _REQUEST_ID.match(header):
        return header
    return str(uuid4())


App = Annotated[IpamApplication, Depends(get_app)]
Context = Annotated[RequestContext, Depends(get_context)]
