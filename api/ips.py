"""`/v1/ip`: allocate, allocate a specific address, free, update, get, list, find."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from api.deps import App, Context
from api.schemas import ERROR_RESPONSES, IPAllocate, IPFind, IPResponse, IPUpdate, reply
from application.ports import IPFilter
from domain.addressing import canonical_address, parse_family, parse_prefix

router = APIRouter(prefix="/v1/ip", tags=["ip"])


@router.get("", response_model=list[IPResponse], operation_id="listIPs")
def list_ips(app: App) -> Response:
    """Get all acquired IPs."""
    return reply([IPResponse.of(d) for d in app.list_ips()])


@router.post("", response_model=IPResponse, responses=ERROR_RESPONSES, operation_id="updateIP")
def update_ip(body: IPUpdate, app: App, context: Context) -> Response:
    """Update an IP's name, description, type and tags."""
    doc = app.update_ip(
        body.ipaddress, context=context, name=body.name, description=body.description,
        ip_type=body.type, tags=body.tags,
    )
    return reply(IPResponse.of(doc))


def _allocate(body: IPAllocate, app: App, context: Context, specific: str | None) -> IPResponse:
    doc = app.acquire_ip(
        context=context, network_id=body.networkid, project_id=body.projectid,
        specific_ip=specific, address_family=body.addressfamily, name=body.name,
        description=body.description, ip_type=body.type, tags=body.tags,
        machine_id=body.machineid,
    )
    return IPResponse.of(doc)


@router.post("/allocate", status_code=status.HTTP_201_CREATED, response_model=IPResponse,
             responses=ERROR_RESPONSES, operation_id="allocateIP")
def allocate_ip(body: IPAllocate, app: App, context: Context) -> Response:
    """Acquire the lowest free address of the network (IPv4 unless asked or IPv6-only)."""
    return reply(_allocate(body, app, context, None), 201)


@router.post("/allocate/{ip}", status_code=status.HTTP_201_CREATED, response_model=IPResponse,
             responses=ERROR_RESPONSES, operation_id="allocateSpecificIP")
def allocate_specific_ip(ip: str, body: IPAllocate, app: App, context: Context) -> Response:
    """Acquire a specific address of the network."""
    return reply(_allocate(body, app, context, ip), 201)


@router.post("/find", response_model=list[IPResponse], responses=ERROR_RESPONSES, operation_id="findIPs")
def find_ips(body: IPFind, app: App) -> Response:
    """Find IPs by the given filters (all must match)."""
    flt = IPFilter(
        address=canonical_address(body.ipaddress) if body.ipaddress else None,
        allocation_uuid=body.allocationuuid, name=body.name, network_id=body.networkid,
        project_id=body.projectid, type=body.type, tags=tuple(body.tags),
        machine_id=body.machineid,
        network_prefix=str(parse_prefix(body.networkprefix)) if body.networkprefix else None,
        address_family=parse_family(body.addressfamily).value if body.addressfamily else None,
    )
    return reply([IPResponse.of(d) for d in app.list_ips(flt)])


@router.delete("/free/{id}", response_model=IPResponse, responses=ERROR_RESPONSES, operation_id="freeIP")
def free_ip(id: str, app: App, context: Context) -> Response:  # noqa: A002
    """Release an acquired address and return it."""
    return reply(IPResponse.of(app.release_ip(id, context=context)))


@router.get("/{id}", response_model=IPResponse, responses=ERROR_RESPONSES, operation_id="findIP")
def get_ip(id: str, app: App) -> Response:  # noqa: A002
    """Get an acquired IP by its address."""
    return reply(IPResponse.of(app.get_ip(id)))
