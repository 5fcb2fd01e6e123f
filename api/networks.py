"""`/v1/network`: create, update, allocate, free, delete, get, list, find."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Request, Response, status

from api import openapi as words
from api.deps import app_of, audit_of, context_of, moment, principal_of
from api.schemas import (
    NetworkAllocate,
    NetworkCreate,
    NetworkFind,
    NetworkResponse,
    NetworkUpdate,
    refusals,
    reply,
)
from api.writers import writes
from application.ports import NetworkFilter
from domain.addressing import check_cidr, parse_family
from domain.network_values import NetworkAttributes

router = APIRouter(prefix="/v1/network", tags=["network"])

DATE_TIME = {"format": "date-time"}
NetworkId = Annotated[str, Path(description=words.NETWORK_ID)]
At = Annotated[str | None, Query(description="the network as it was at this RFC 3339 time "
                                 "(not with version)", json_schema_extra=DATE_TIME)]
Created = Annotated[NetworkCreate, Body(openapi_examples=words.EXAMPLES["createNetwork"])]
Updated = Annotated[NetworkUpdate, Body(openapi_examples=words.EXAMPLES["updateNetwork"])]
Allocated = Annotated[NetworkAllocate, Body(openapi_examples=words.EXAMPLES["allocateNetwork"])]
Found = Annotated[NetworkFind, Body(openapi_examples=words.EXAMPLES["findNetworks"])]


@router.get("", response_model=list[NetworkResponse], responses=refusals("listNetworks"),
            operation_id="listNetworks", response_description="the networks the token may see")
def list_networks(
    request: Request,
    at: Annotated[str | None, Query(description="the networks that existed at this RFC 3339 time",
                                    json_schema_extra=DATE_TIME)] = None,
) -> Response:
    """Get all networks (as they were at `at`, when given)."""
    when = moment(at, "at")
    if when is not None:
        docs = audit_of(request).list_networks_at(when, principal_of(request))
    else:
        docs = app_of(request).list_networks(principal=principal_of(request))
    return reply([NetworkResponse.of(d) for d in docs])


@router.put("", status_code=status.HTTP_201_CREATED, response_model=NetworkResponse,
            responses=refusals("createNetwork"), operation_id="createNetwork",
            response_description="the created network")
@writes
def create_network(body: Created, request: Request) -> Response:
    """Create a network; a given id that exists already is a conflict."""
    doc = app_of(request).create_network(
        context=context_of(request, body, answer=NetworkResponse.of, status=201),
        network_id=body.id, prefixes=body.prefixes, attributes=NetworkAttributes(
            name=body.name, description=body.description,
            partition_id=body.partitionid, project_id=body.projectid,
            destination_prefixes=body.destinationprefixes,
            additional_announcable_cidrs=body.additionalAnnouncableCIDRs,
            default_child_prefix_length=body.defaultchildprefixlength, labels=body.labels,
            private_super=body.privatesuper, underlay=body.underlay, nat=body.nat,
            shared=body.shared, vrf=body.vrf, vrf_shared=body.vrfshared,
        ),
    )
    return reply(NetworkResponse.of(doc), 201)


@router.post("", response_model=NetworkResponse, responses=refusals("updateNetwork"),
             operation_id="updateNetwork", response_description="the updated network")
@writes
def update_network(
    body: Updated, request: Request,
    force: bool = Query(False, description="if true update forcefully: removing entries of "
                                           "additionalAnnouncableCIDRs is allowed"),
) -> Response:
    """Update a network."""
    doc = app_of(request).update_network(
        body.id, context=context_of(request, body, answer=NetworkResponse.of), force=force, name=body.name, description=body.description,
        labels=body.labels, shared=body.shared, destination_prefixes=body.destinationprefixes,
        additional_announcable_cidrs=body.additionalAnnouncableCIDRs,
        default_child_prefix_length=body.defaultchildprefixlength, prefixes=body.prefixes,
    )
    return reply(NetworkResponse.of(doc))


@router.post("/allocate", status_code=status.HTTP_201_CREATED, response_model=NetworkResponse,
             responses=refusals("allocateNetwork"), operation_id="allocateNetwork",
             response_description="the allocated child network")
@writes
def allocate_network(body: Allocated, request: Request) -> Response:
    """Allocate a child network from the partition's private super network."""
    doc = app_of(request).allocate_child_network(
        context=context_of(request, body, answer=NetworkResponse.of, status=201),
        partition_id=body.partitionid, project_id=body.projectid,
        name=body.name, description=body.description, labels=body.labels, shared=body.shared,
        nat=body.nat, destination_prefixes=body.destinationprefixes, length=body.length,
        address_family=body.addressfamily,
    )
    return reply(NetworkResponse.of(doc), 201)


@router.post("/find", response_model=list[NetworkResponse], responses=refusals("findNetworks"),
             operation_id="findNetworks",
             response_description="the matching networks the token may see")
def find_networks(body: Found, request: Request) -> Response:
    """Find networks by the given filters (all must match)."""
    flt = NetworkFilter(
        id=body.id, name=body.name, partition_id=body.partitionid, project_id=body.projectid,
        parent_id=body.parentnetworkid, private_super=body.privatesuper,
        underlay=body.underlay, nat=body.nat, vrf=body.vrf,
        prefixes=tuple(check_cidr(p) for p in body.prefixes),
        destination_prefixes=tuple(check_cidr(p) for p in body.destinationprefixes),
        labels=body.labels,
        address_family=parse_family(body.addressfamily).value if body.addressfamily else None,
    )
    return reply([NetworkResponse.of(d) for d in app_of(request).list_networks(flt, principal_of(request))])


@router.delete("/free/{id}", response_model=NetworkResponse, responses=refusals("freeNetwork"),
               operation_id="freeNetwork", response_description="the freed child network")
@writes
def free_network(id: NetworkId, request: Request) -> Response:  # noqa: A002
    """Free a child network: its prefixes return to the super, its VRF to the pool."""
    return reply(NetworkResponse.of(app_of(request).delete_network(id, context=context_of(request, answer=NetworkResponse.of), only_child=True)))


@router.post("/free/{id}", response_model=NetworkResponse,
             responses=refusals("freeNetworkDeprecated"), operation_id="freeNetworkDeprecated",
             deprecated=True, response_description="the freed child network")
@writes
def free_network_deprecated(id: NetworkId, request: Request) -> Response:  # noqa: A002
    """Free a child network (deprecated: use DELETE)."""
    return reply(NetworkResponse.of(app_of(request).delete_network(id, context=context_of(request, answer=NetworkResponse.of), only_child=True)))


@router.delete("/{id}", response_model=NetworkResponse, responses=refusals("deleteNetwork"),
               operation_id="deleteNetwork", response_description="the deleted network")
@writes
def delete_network(id: NetworkId, request: Request) -> Response:  # noqa: A002
    """Delete a network and return the deleted entity."""
    return reply(NetworkResponse.of(app_of(request).delete_network(id, context=context_of(request, answer=NetworkResponse.of))))


@router.get("/{id}", response_model=NetworkResponse, responses=refusals("findNetwork"),
            operation_id="findNetwork", response_description="the network")
def get_network(
    id: NetworkId, request: Request,  # noqa: A002
    at: At = None,
    version: Annotated[int | None, Query(ge=1, le=2**63 - 1, description=(
        "the network as it was at this version (not with at)"))] = None,
) -> Response:
    """Get a network by id (as it was at `at` or `version`, when given)."""
    if at is not None or version is not None:
        doc = audit_of(request).get_network_at(id, at=moment(at, "at"), version=version,
                                               principal=principal_of(request))
    else:
        doc = app_of(request).get_network(id, principal_of(request))
    return reply(NetworkResponse.of(doc))
