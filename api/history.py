"""History: a network's events, an address's life, everything inside a CIDR."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

from api.deps import audit_of, moment, principal_of
from api.schemas import ERROR_RESPONSES, HistoryResponse, reply
from application.ports import HistoryPage, HistoryQuery
from domain.errors import InvalidRequestError

router = APIRouter(tags=["history"])

Limit = Annotated[int, Query(ge=1, le=1000, description="events per page")]
Order = Annotated[Literal["asc", "desc"], Query(description="asc: oldest first; desc: newest first")]
Cursor = Annotated[int | None, Query(ge=0, le=2**63 - 1, description="the `next` of the previous page")]
Since = Annotated[str | None, Query(description="only events at or after this RFC 3339 time", json_schema_extra={"format": "date-time"})]
Until = Annotated[str | None, Query(description="only events at or before this RFC 3339 time", json_schema_extra={"format": "date-time"})]
Types = Annotated[list[str] | None, Query(alias="type", description="only these event types (at most 32)")]
MAX_TYPES = 32


def _query(limit: int, order: str, cursor: int | None, since: str | None,
           until: str | None, types: list[str] | None) -> HistoryQuery:
    if types is not None and len(types) > MAX_TYPES:
        raise InvalidRequestError(f"at most {MAX_TYPES} type filters")
    return HistoryQuery(
        limit=limit, ascending=order == "asc", cursor=cursor,
        since=moment(since, "since"), until=moment(until, "until"), types=tuple(types or ()),
    )


def _reply(page: HistoryPage) -> Response:
    return reply(HistoryResponse.model_validate({"events": page.events, "next": page.next_cursor}))


@router.get("/v1/network/{id}/history", response_model=HistoryResponse,
            responses=ERROR_RESPONSES, operation_id="networkHistory")
def network_history(
    id: str, request: Request, limit: Limit = 100, order: Order = "asc",  # noqa: A002
    cursor: Cursor = None, since: Since = None, until: Until = None, types: Types = None,
) -> Response:
    """The network's events, in log order: who did what, when and why."""
    query = _query(limit, order, cursor, since, until, types)
    return _reply(audit_of(request).network_history(id, query, principal_of(request)))


@router.get("/v1/ip/{ip}/history", response_model=HistoryResponse,
            responses=ERROR_RESPONSES, operation_id="ipHistory")
def ip_history(
    ip: str, request: Request, limit: Limit = 100, order: Order = "asc",
    cursor: Cursor = None, since: Since = None, until: Until = None, types: Types = None,
) -> Response:
    """Every acquisition, update and release of one address, across networks and time."""
    query = _query(limit, order, cursor, since, until, types)
    return _reply(audit_of(request).ip_history(ip, query, principal_of(request)))


@router.get("/v1/prefix/history", response_model=HistoryResponse,
            responses=ERROR_RESPONSES, operation_id="prefixHistory")
def prefix_history(
    request: Request, cidr: Annotated[str, Query(description="a CIDR, e.g. 10.0.0.0/24")],
    limit: Limit = 100, order: Order = "asc", cursor: Cursor = None, since: Since = None,
    until: Until = None, types: Types = None,
) -> Response:
    """Everything that happened to addresses inside the CIDR: prefixes added or removed, child
    networks allocated or released, addresses acquired, updated or released."""
    query = _query(limit, order, cursor, since, until, types)
    return _reply(audit_of(request).prefix_history(cidr, query, principal_of(request)))
