"""History: a network's events, an address's life, everything inside a CIDR."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import Field

from api import openapi as words
from api.deps import audit_of, moment, principal_of
from api.schemas import ResponseBody, refusals, reply
from application.ports import HistoryPage, HistoryQuery
from domain.errors import InvalidRequestError

router = APIRouter(tags=["history"])


class HistoryEvent(ResponseBody):
    """One event as an auditor reads it."""

    position: int = Field(description="position in the event log (notification id)")
    network: str = Field(description="id of the network the event belongs to")
    aggregate_id: str = Field(description="the network's aggregate id (a UUID) in the event log")
    version: int = Field(description="the network's version after this event")
    time: datetime = Field(description="when the event happened (RFC 3339)")
    type: str = Field(description="event type, e.g. NetworkCreated, PrefixAdded, "
                      "ChildNetworkAllocated, IPAcquired, IPUpdated, IPReleased")
    actor: str = Field(description="who made the change: the token's subject, hmac:<type> for "
                       "metal-stack HMAC, or the local command's actor")
    request_id: str = Field(description="the X-Request-Id of the request that made the change")
    reason: str | None = Field(description="the X-Change-Reason given with it; null: none")
    facts: dict[str, Any] = Field(description="the event's facts as recorded")


class HistoryResponse(ResponseBody):
    events: list[HistoryEvent] = Field(description="one page of events, in the asked order")
    next: int | None = Field(description="cursor for the next page, null on the last page")


Limit = Annotated[int, Query(ge=1, le=1000, description="events per page")]
Order = Annotated[Literal["asc", "desc"], Query(description="asc: oldest first; desc: newest first")]
Cursor = Annotated[int | None, Query(ge=0, le=2**63 - 1, description="the `next` of the previous page")]
Since = Annotated[str | None, Query(description="only events at or after this RFC 3339 time", json_schema_extra={"format": "date-time"})]
Until = Annotated[str | None, Query(description="only events at or before this RFC 3339 time", json_schema_extra={"format": "date-time"})]
Types = Annotated[list[str] | None, Query(alias="type", description=(
    "only these event types, e.g. IPAcquired (at most 32)"))]
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
            responses=refusals("networkHistory"), operation_id="networkHistory",
            response_description="a page of the network's events")
def network_history(
    id: Annotated[str, Path(description=words.NETWORK_ID)],  # noqa: A002
    request: Request, limit: Limit = 100, order: Order = "asc",
    cursor: Cursor = None, since: Since = None, until: Until = None, types: Types = None,
) -> Response:
    """The network's events, in log order: who did what, when and why."""
    query = _query(limit, order, cursor, since, until, types)
    return _reply(audit_of(request).network_history(id, query, principal_of(request)))


@router.get("/v1/ip/{ip}/history", response_model=HistoryResponse,
            responses=refusals("ipHistory"), operation_id="ipHistory",
            response_description="a page of the address's events")
def ip_history(
    ip: Annotated[str, Path(description=words.IP_ADDRESS + ", acquired or not",
                            examples=[words.WEB])],
    request: Request, limit: Limit = 100, order: Order = "asc",
    cursor: Cursor = None, since: Since = None, until: Until = None, types: Types = None,
) -> Response:
    """Every acquisition, update and release of one address, across networks and time."""
    query = _query(limit, order, cursor, since, until, types)
    return _reply(audit_of(request).ip_history(ip, query, principal_of(request)))


@router.get("/v1/prefix/history", response_model=HistoryResponse,
            responses=refusals("prefixHistory"), operation_id="prefixHistory",
            response_description="a page of the events inside the CIDR")
def prefix_history(
    request: Request,
    cidr: Annotated[str, Query(description="a CIDR in canonical form, e.g. 10.0.0.0/24")],
    limit: Limit = 100, order: Order = "asc", cursor: Cursor = None, since: Since = None,
    until: Until = None, types: Types = None,
) -> Response:
    """Everything that happened to addresses inside the CIDR: prefixes added or removed, child
    networks allocated or released, addresses acquired, updated or released."""
    query = _query(limit, order, cursor, since, until, types)
    return _reply(audit_of(request).prefix_history(cidr, query, principal_of(request)))
