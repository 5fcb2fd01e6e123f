"""`/v1/ip`: allocate, allocate a specific address, free, update, get, list, find."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from api.deps import app_of, audit_of, context_of, moment, principal_of
from api.schemas import ERROR_RESPONSES, IPAllocate, IPFind, IPResponse, IPUpdate, reply
from application.ports import IPFilter
from domain.addressing import canonical_address, parse_family, parse_prefix

router = APIRouter(prefix="/v1/ip", tags=["ip"])


@router.get("", response_model=list[IPResponse], responses=ERROR_RESPONSES, operation_id="listIPs")
def list_ips(request: Request) -> Response:
    """Get all acquired IPs."""
    return reply([IPResponse.of(d) for d in app_of(request).list_ips(principal=principal_of(request))])


@router.post("", response_model=IPResponse, responses=ERROR_RESPONSES, operation_id="updateIP")
def update_ip(body: IPUpdate, request: Request) -> Response:
    """Update an IP's name, description, type and tags."""
    doc = app_of(request).update_ip(
        body.ipaddress, context=context_of(request, body, answer=IPResponse.of), name=body.name, description=body.description,
        ip_type=body.type, tags=body.tags,
    )
    return reply(IPResponse.of(doc))


def _allocate(body: IPAllocate, request: Request, specific: str | None) -> IPResponse:
    doc = app_of(request).acquire_ip(
        context=context_of(request, body, answer=IPResponse.of, status=201), network_id=body.networkid, project_id=body.projectid,
        specific_ip=specific, address_family=body.addressfamily, name=body.name,
        description=body.description, ip_type=body.type, tags=body.tags,
        machine_id=body.machineid,
    )
    return IPResponse.of(doc)


@router.post("/allocate", status_code=status.HTTP_201_CREATED, response_model=IPResponse,
             responses=ERROR_RESPONSES, operation_id="allocateIP")
def allocate_ip(body: IPAllocate, request: Request) -> Response:
    """Acquire the lowest free address of the network (IPv4 unless asked or IPv6-only)."""
    return reply(_allocate(body, request, None), 201)


@router.post("/allocate/{ip}", status_code=status.HTTP_201_CREATED, response_model=IPResponse,
             responses=ERROR_RESPONSES, operation_id="allocateSpecificIP")
def allocate_specific_ip(ip: str, body: IPAllocate, request: Request) -> Response:
    """Acquire a specific address of the network."""
    return reply(_allocate(body, request, ip), 201)


@router.post("/find", response_model=list[IPResponse], responses=ERROR_RESPONSES, operation_id="findIPs")
def find_ips(body: IPFind, request: Request) -> Response:
    """Find IPs by the given filters (all must match)."""
    flt = IPFilter(
        address=canonical_address(body.ipaddress) if body.ipaddress else None,
        allocation_uuid=body.allocationuuid, name=body.name, network_id=body.networkid,
        project_id=body.projectid, type=body.type, tags=tuple(body.tags),
        machine_id=body.machineid,
        network_prefix=str(parse_prefix(body.networkprefix)) if body.networkprefix else None,
        address_family=parse_family(body.addressfamily).value if body.addressfamily else None,
    )
    return reply([IPResponse.of(d) for d in app_of(request).list_ips(flt, principal_of(request))])


@router.delete("/free/{id}", response_model=IPResponse, responses=ERROR_RESPONSES, operation_id="freeIP")
def free_ip(id: str, request: Request) -> Response:  # noqa: A002
    """Release an acquired address and return it."""
    return reply(IPResponse.of(app_of(request).release_ip(id, context=context_of(request, answer=IPResponse.of))))


@router.get("/{id}", response_model=IPResponse, responses=ERROR_RESPONSES, operation_id="findIP")
def get_ip(
    id: str, request: Request,  # noqa: A002
    at: Annotated[str | None, Query(description="who held the address at this RFC 3339 time", json_schema_extra={"format": "date-time"})] = None,
) -> Response:
    """Get an acquired IP by its address (or the IP that held it at `at`)."""
    when = moment(at, "at")
    if when is not None:
        doc = audit_of(request).get_ip_at(id, when, principal_of(request))
    else:
        doc = app_of(request).get_ip(id, principal_of(request))
    return reply(IPResponse.of(doc))
