"""`/v1/ip`: allocate, allocate a specific address, free, update, get, list, find."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Request, Response, status

from api import openapi as words
from api.deps import app_of, audit_of, context_of, moment, principal_of
from api.schemas import IPAllocate, IPFind, IPResponse, IPUpdate, refusals, reply
from api.writers import writes
from application.ports import IPFilter
from domain.addressing import canonical_address, parse_family, parse_prefix

router = APIRouter(prefix="/v1/ip", tags=["ip"])

Address = Annotated[str, Path(description=words.IP_ADDRESS, examples=[words.WEB])]
Updated = Annotated[IPUpdate, Body(openapi_examples=words.EXAMPLES["updateIP"])]
Allocated = Annotated[IPAllocate, Body(openapi_examples=words.EXAMPLES["allocateIP"])]
AllocatedSpecific = Annotated[IPAllocate, Body(
    openapi_examples=words.EXAMPLES["allocateSpecificIP"])]
Found = Annotated[IPFind, Body(openapi_examples=words.EXAMPLES["findIPs"])]


@router.get("", response_model=list[IPResponse], responses=refusals("listIPs"),
            operation_id="listIPs", response_description="the acquired IPs the token may see")
def list_ips(request: Request) -> Response:
    """Get all acquired IPs."""
    return reply([IPResponse.of(d) for d in app_of(request).list_ips(principal=principal_of(request))])


@router.post("", response_model=IPResponse, responses=refusals("updateIP"),
             operation_id="updateIP", response_description="the updated IP")
@writes
def update_ip(body: Updated, request: Request) -> Response:
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
             responses=refusals("allocateIP"), operation_id="allocateIP",
             response_description="the acquired IP")
@writes
def allocate_ip(body: Allocated, request: Request) -> Response:
    """Acquire the lowest free address of the network (IPv4 unless asked or IPv6-only)."""
    return reply(_allocate(body, request, None), 201)


@router.post("/allocate/{ip}", status_code=status.HTTP_201_CREATED, response_model=IPResponse,
             responses=refusals("allocateSpecificIP"), operation_id="allocateSpecificIP",
             response_description="the acquired IP")
@writes
def allocate_specific_ip(
    ip: Annotated[str, Path(description="ip to try to allocate: an address (IPv4 or IPv6) in "
                                        "one of the network's prefixes",
                            examples=[words.INGRESS])],
    body: AllocatedSpecific, request: Request,
) -> Response:
    """Acquire a specific address of the network."""
    return reply(_allocate(body, request, ip), 201)


@router.post("/find", response_model=list[IPResponse], responses=refusals("findIPs"),
             operation_id="findIPs", response_description="the matching IPs the token may see")
def find_ips(body: Found, request: Request) -> Response:
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


@router.delete("/free/{ip}", response_model=IPResponse, responses=refusals("freeIP"),
               operation_id="freeIP", response_description="the released IP")
@writes
def free_ip(ip: Address, request: Request) -> Response:
    """Release an acquired address and return it."""
    return reply(IPResponse.of(app_of(request).release_ip(ip, context=context_of(request, answer=IPResponse.of))))


@router.get("/{ip}", response_model=IPResponse, responses=refusals("findIP"),
            operation_id="findIP", response_description="the acquired IP")
def get_ip(
    ip: Address, request: Request,
    at: Annotated[str | None, Query(description="who held the address at this RFC 3339 time", json_schema_extra={"format": "date-time"})] = None,
) -> Response:
    """Get an acquired IP by its address (or the IP that held it at `at`)."""
    when = moment(at, "at")
    if when is not None:
        doc = audit_of(request).get_ip_at(ip, when, principal_of(request))
    else:
        doc = app_of(request).get_ip(ip, principal_of(request))
    return reply(IPResponse.of(doc))
