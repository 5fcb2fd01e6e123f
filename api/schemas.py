"""Request and response schemas: metal-api v1's wire names (see the reference swagger)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from fastapi import Response
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from api import openapi as words

MAX_ITEMS = 1024
MAX_TEXT = 65536  # characters in any one text field (the body is capped at 1 MiB besides)
MAX_FAMILIES = 8  # entries of a per-family map: two are meaningful, the rest get a clear 400
MAX_VRF_FILTER = 2**63 - 1  # what every store's integer column can compare against


def unstorable_text(value: Any) -> str | None:
    """The first string in `value` (walked through lists and dict keys/values) that no store
    can keep, else None: PostgreSQL text refuses NUL, UTF-8 refuses lone surrogates."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return item
            if "\x00" in item:
                return item
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return None


# metal-api's enums, declared for generated clients, with "" (Go's zero value: not given); the
# server also reads address families in any case (`ipv6`)
IP_TYPES: dict[str, Any] = {"enum": ["ephemeral", "static", ""]}
FAMILIES: dict[str, Any] = {"enum": ["IPv4", "IPv6", ""]}
NOT_EMPTY: dict[str, Any] = {"minLength": 1}  # checked by the use case, for metal-api's message

def _null_is_absent(schema: dict[str, Any], model: type[Any]) -> None:
    """Declare what the server does: the fields it cannot go without are required (`needs`:
    some are checked by the use case, for metal-api's message), every other one also takes
    `null`."""
    required = list(dict.fromkeys([*schema.get("required", ()), *getattr(model, "needs", ())]))
    if required:
        schema["required"] = required
    for name, field in schema.get("properties", {}).items():
        if name in required or {"type": "null"} in field.get("anyOf", ()):
            continue
        description = {k: field.pop(k) for k in ("title", "description", "default") if k in field}
        schema["properties"][name] = {"anyOf": [dict(field), {"type": "null"}], **description}


class Request(BaseModel):
    """Unknown fields are ignored, as metal-api does; known ones are strictly typed. A field
    sent as JSON `null` is read as Go reads it, as its zero value: as if it were absent (so a
    required one that is null is the same error as a missing one). metal-go sends `null` for
    every unset field without `omitempty` (SPEC 9)."""

    model_config = ConfigDict(extra="ignore", strict=True, populate_by_name=True,
                              str_max_length=MAX_TEXT, json_schema_extra=_null_is_absent)

    @model_validator(mode="before")
    @classmethod
    def _go_zero_values(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = {key: value for key, value in data.items() if value is not None}
        # accepted text goes into the event log and the read model: refuse what they cannot keep
        if unstorable_text(data) is not None:
            raise ValueError("text must not contain NUL characters or lone surrogates")
        return data


class NetworkCreate(Request):
    """A network to create (PUT /v1/network)."""

    id: str = Field("", description=words.ID)
    name: str = Field("", description=words.NAME)
    description: str = Field("", description=words.DESCRIPTION)
    partitionid: str = Field("", description=words.PARTITION + words.AN_ID)
    projectid: str = Field("", description=words.NETWORK_PROJECT + words.AN_ID)
    parentnetworkid: str = Field("", description=words.IGNORED_PARENT)
    prefixes: list[str] = Field(default_factory=list, max_length=MAX_ITEMS, description=(
        words.PREFIXES + "; at least one (none is a 400)"), json_schema_extra={"minItems": 1})
    destinationprefixes: list[str] = Field(default_factory=list, max_length=MAX_ITEMS,
                                           description=words.DESTINATIONS)
    additionalAnnouncableCIDRs: list[str] = Field(default_factory=list, max_length=MAX_ITEMS,
                                                  description=words.ANNOUNCABLE)
    defaultchildprefixlength: dict[str, int] | None = Field(None, max_length=MAX_FAMILIES,
                                                            description=words.CHILD_LENGTHS)
    labels: dict[str, str] = Field(default_factory=dict, max_length=MAX_ITEMS,
                                   description=words.LABELS)
    privatesuper: bool = Field(False, description=words.PRIVATE_SUPER)
    underlay: bool = Field(False, description=words.UNDERLAY)
    nat: bool = Field(False, description=words.NAT)
    shared: bool = Field(False, description=words.SHARED)
    vrf: int | None = Field(None, description=words.VRF)
    vrfshared: bool = Field(False, description=words.VRF_SHARED)
    networktype: str | None = Field(None, description="the network type: " + words.APIV2
                                    + " (see the response)")
    nattype: str | None = Field(None, description="the nat type: " + words.APIV2 + " from nat")


class NetworkUpdate(Request):
    """The changes to a network (POST /v1/network): what is absent stays as it is."""

    id: str = Field(description="the unique ID of the network to update")
    name: str | None = Field(None, description=words.NAME + words.UNCHANGED)
    description: str | None = Field(None, description=words.DESCRIPTION + words.UNCHANGED)
    labels: dict[str, str] | None = Field(None, max_length=MAX_ITEMS, description=(
        words.LABELS + " All of them" + words.UNCHANGED))
    shared: bool | None = Field(None, description=(
        words.SHARED + " (false is then a 400)" + words.UNCHANGED))
    prefixes: list[str] | None = Field(None, max_length=MAX_ITEMS, description=(
        words.PREFIXES + ": the new full list; absent or empty: unchanged. Removing one that "
        "holds IPs or child networks is a 422; a child network's prefixes cannot change"))
    destinationprefixes: list[str] | None = Field(None, max_length=MAX_ITEMS, description=(
        words.DESTINATIONS + ": the new full list; absent or empty: unchanged"))
    additionalAnnouncableCIDRs: list[str] | None = Field(None, max_length=MAX_ITEMS, description=(
        words.ANNOUNCABLE + ": the new full list" + words.UNCHANGED
        + "; removing entries needs ?force=true"))
    defaultchildprefixlength: dict[str, int] | None = Field(
        None, max_length=MAX_FAMILIES, description=words.CHILD_LENGTHS + words.UNCHANGED)


class NetworkAllocate(Request):
    """A child network to carve from a partition's private super (POST /v1/network/allocate)."""

    needs: ClassVar[tuple[str, ...]] = ("partitionid", "projectid")

    partitionid: str = Field("", json_schema_extra=NOT_EMPTY, description=(
        "the partition whose private super network the child is carved from"))
    projectid: str = Field("", json_schema_extra=NOT_EMPTY,
                           description="the project id the child network belongs to")
    name: str = Field("", description=words.NAME)
    description: str = Field("", description=words.DESCRIPTION)
    labels: dict[str, str] = Field(default_factory=dict, max_length=MAX_ITEMS,
                                   description=words.LABELS)
    shared: bool = Field(False, description=words.SHARED)
    nat: bool = Field(False, description=words.NAT)
    destinationprefixes: list[str] = Field(default_factory=list, max_length=MAX_ITEMS,
                                           description=words.DESTINATIONS)
    length: dict[str, int] | None = Field(None, max_length=MAX_FAMILIES,
                                          description=words.CHILD_LENGTH)
    addressfamily: str = Field("", json_schema_extra=FAMILIES, description=words.CHILD_FAMILY)


class NetworkFind(Request):
    """Filters (POST /v1/network/find): absent ones match every network, given ones all must
    match."""

    id: str | None = Field(None, description="only the network with this id")
    name: str | None = Field(None, description="only networks with exactly this name")
    partitionid: str | None = Field(None, description="only networks of this partition")
    projectid: str | None = Field(None, description="only networks of this project")
    parentnetworkid: str | None = Field(None, description="only children of this network")
    privatesuper: bool | None = Field(None, description=(
        "only private super networks (true) or only the others (false)"))
    underlay: bool | None = Field(None, description=(
        "only underlay networks (true) or only the others (false)"))
    nat: bool | None = Field(None, description="only networks with (true) or without (false) nat")
    vrf: int | None = Field(None, ge=0, le=MAX_VRF_FILTER, description="only networks of this vrf")
    prefixes: list[str] = Field(default_factory=list, max_length=MAX_ITEMS,
                                description="only networks holding all of these prefixes (CIDRs)")
    destinationprefixes: list[str] = Field(default_factory=list, max_length=MAX_ITEMS, description=(
        "only networks with all of these destination prefixes (CIDRs)"))
    labels: dict[str, str] = Field(default_factory=dict, max_length=MAX_ITEMS,
                                   description="only networks carrying all of these labels")
    addressfamily: str = Field("", json_schema_extra=FAMILIES,
                               description="only networks with a prefix of this addressfamily")


class IPAllocate(Request):
    """An address to acquire (POST /v1/ip/allocate, /v1/ip/allocate/{ip})."""

    networkid: str = Field(json_schema_extra=NOT_EMPTY,
                           description="the network to acquire the address from")
    projectid: str = Field(json_schema_extra=NOT_EMPTY,
                           description="the project this ip address belongs to")
    name: str = Field("", description=words.NAME)
    description: str = Field("", description=words.DESCRIPTION)
    type: str = Field("", json_schema_extra=IP_TYPES, description=(
        words.IP_TYPE + "; empty: ephemeral"))
    tags: list[str] = Field(default_factory=list, max_length=MAX_ITEMS, description=words.TAGS)
    machineid: str = Field("", description=words.MACHINE)
    addressfamily: str = Field("", json_schema_extra=FAMILIES, description=words.IP_FAMILY)


class IPUpdate(Request):
    """The changes to an IP (POST /v1/ip): what is absent stays as it is."""

    ipaddress: str = Field(json_schema_extra=NOT_EMPTY,
                           description="the address (ipv4 or ipv6) of the ip to update")
    name: str | None = Field(None, description=words.NAME + words.UNCHANGED)
    description: str | None = Field(None, description=words.DESCRIPTION + words.UNCHANGED)
    type: str = Field("", json_schema_extra=IP_TYPES, description=(
        words.IP_TYPE + "; static cannot become ephemeral again (400); empty: unchanged"))
    tags: list[str] | None = Field(None, max_length=MAX_ITEMS, description=(
        words.TAGS + ": all of them" + words.UNCHANGED))


class IPFind(Request):
    """Filters (POST /v1/ip/find): absent ones match every IP, given ones all must match."""

    ipaddress: str | None = Field(None, description="only this address (ipv4 or ipv6)")
    allocationuuid: str | None = Field(None, description="only the ip of this allocation")
    name: str | None = Field(None, description="only ips with exactly this name")
    networkid: str | None = Field(None, description="only ips of this network")
    projectid: str | None = Field(None, description="only ips of this project")
    type: str | None = Field(None, description="only ips of this type, ephemeral or static")
    tags: list[str] = Field(default_factory=list, max_length=MAX_ITEMS,
                            description="only ips carrying all of these tags")
    machineid: str | None = Field(None, description="only ips associated with this machine")
    networkprefix: str | None = Field(None, description=(
        "only ips acquired from exactly this prefix of their network (a CIDR)"))
    addressfamily: str = Field("", json_schema_extra=FAMILIES,
                               description="only ips of this addressfamily")


class ResponseBody(BaseModel):
    """Every field is always sent (null where it has no value), so every one is required."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)


class NetworkUsage(ResponseBody):
    """go-ipam's figures, summed over the family's prefixes (SPEC 6)."""

    available_ips: int = Field(description=(
        "the total available IPs: the size of each prefix, capped at 2147483647 per prefix"))
    available_prefixes: int = Field(description=(
        "the total available 2 bit Prefixes: /30 (IPv4) or /126 (IPv6) blocks that still fit in "
        "the free space, capped at 2147483647 per prefix"))
    used_ips: int = Field(description="the total used IPs, reserved addresses included")
    used_prefixes: int = Field(description="the total used Prefixes: child prefixes carved")


class NetworkConsumption(ResponseBody):
    ipv4: NetworkUsage | None = Field(None, description=(
        "ip and prefix consumption in the ipv4 addressfamily; null without an IPv4 prefix"))
    ipv6: NetworkUsage | None = Field(None, description=(
        "ip and prefix consumption in the ipv6 addressfamily; null without an IPv6 prefix"))


class FamilyCapacity(ResponseBody):
    """Exact figures of one family, summed over its prefixes; big numbers are decimal strings."""

    total_ips: str = Field(description="addresses in the family's prefixes" + words.BIG)
    acquired_ips: str = Field(description="acquired addresses, reserved ones excluded" + words.BIG)
    reserved_ips: str = Field(description=(
        "reserved addresses: each prefix's first, and an IPv4 prefix's last" + words.BIG))
    child_prefixes: int = Field(description="child prefixes carved from the family's prefixes")
    free_space: str = Field(description=(
        "free addresses: in no child prefix, neither acquired nor reserved" + words.BIG))
    largest_free_prefix: str | None = Field(description=(
        "the largest free block a child prefix can be carved from (a CIDR; prefixes holding "
        "acquired IPs give no children); null when there is none"))
    free_prefix_count: int = Field(description="how many such free blocks there are")
    free_prefixes: list[str] = Field(description="the first 16 of those free blocks (CIDRs)")
    child_prefix_length: int | None = Field(None, description=(
        "the default child prefix length of the family (private super networks); else null"))
    free_child_prefixes: str | None = Field(None, description=(
        "how many more child prefixes of that length still fit" + words.BIG + "; else null"))


class NetworkCapacity(ResponseBody):
    ipv4: FamilyCapacity | None = Field(None, description=(
        "exact IPv4 figures; null without an IPv4 prefix"))
    ipv6: FamilyCapacity | None = Field(None, description=(
        "exact IPv6 figures; null without an IPv6 prefix"))


class NetworkResponse(ResponseBody):
    id: str = Field(description="the unique ID of this entity")
    name: str = Field(description=words.NAME)
    description: str = Field(description=words.DESCRIPTION)
    partitionid: str = Field(description=words.PARTITION)
    projectid: str = Field(description=words.NETWORK_PROJECT)
    parentnetworkid: str = Field(description="the id of the parent network; empty unless a child")
    prefixes: list[str] = Field(description=words.PREFIXES + "; a child's IPv4 first")
    destinationprefixes: list[str] = Field(description=words.DESTINATIONS)
    additionalAnnouncableCIDRs: list[str] = Field(description=words.ANNOUNCABLE)
    defaultchildprefixlength: dict[str, int] | None = Field(description=(
        "if privatesuper, the bitlen of child prefixes per addressfamily (IPv4, IPv6); else null"))
    labels: dict[str, str] = Field(description=words.LABELS)
    privatesuper: bool = Field(description=words.PRIVATE_SUPER)
    underlay: bool = Field(description=words.UNDERLAY)
    nat: bool = Field(description=words.NAT)
    shared: bool = Field(description=words.SHARED)
    vrf: int | None = Field(description="the vrf this network is associated with; null: none")
    vrfshared: bool = Field(description=words.VRF_SHARED)
    networktype: Literal["underlay", "super", "child", "child-shared", "external"] = Field(
        description="apiv2 network type, derived: underlay, super (privatesuper), child or "
                    "child-shared (allocated), else external")
    nattype: Literal["ipv4-masq", "none"] = Field(
        description="apiv2 nat type, derived: ipv4-masq with nat, else none")
    consumption: NetworkConsumption = Field(description=(
        "consumption of ips and prefixes in this network, go-ipam's figures per addressfamily"))
    usage: NetworkUsage = Field(description=(
        "usage of IPv4 ips and prefixes in this network (deprecated: consumption.ipv4, or zeros)"))
    capacity: NetworkCapacity = Field(description=(
        "exact, IPv6-friendly figures per addressfamily beside the go-ipam compatible consumption"))
    created: datetime = Field(description=words.CREATED)
    changed: datetime = Field(description=words.CHANGED)

    @classmethod
    def of(cls, doc: dict[str, Any]) -> NetworkResponse:
        consumption = doc["consumption"]
        zero = {"available_ips": 0, "available_prefixes": 0, "used_ips": 0, "used_prefixes": 0}
        return cls.model_validate(dict(
            id=doc["network_id"], name=doc["name"], description=doc["description"],
            partitionid=doc["partition_id"], projectid=doc["project_id"],
            parentnetworkid=doc["parent_id"] or "", prefixes=doc["prefixes"],
            destinationprefixes=doc["destination_prefixes"],
            additionalAnnouncableCIDRs=doc["additional_announcable_cidrs"],
            defaultchildprefixlength=doc["default_child_prefix_length"] or None,
            labels=doc["labels"], privatesuper=doc["private_super"],
            underlay=doc["underlay"], nat=doc["nat"], shared=doc["shared"], vrf=doc["vrf"],
            vrfshared=doc["vrf_shared"], networktype=doc["network_type"],
            nattype=doc["nat_type"], consumption=consumption,
            usage=consumption["ipv4"] or zero, capacity=doc["capacity"],
            created=doc["created"], changed=doc["changed"],
        ))


class IPResponse(ResponseBody):
    ipaddress: str = Field(description=(
        "the address (ipv4 or ipv6) of this ip, in canonical form (2001:db8::1)"))
    allocationuuid: str = Field(description=words.ALLOCATION)
    networkid: str = Field(description="the network this ip address belongs to")
    projectid: str = Field(description="the project this ip address belongs to")
    name: str = Field(description=words.NAME)
    description: str = Field(description=words.DESCRIPTION)
    type: Literal["ephemeral", "static"] = Field(description=words.IP_TYPE)
    tags: list[str] = Field(description=words.TAGS)
    created: datetime = Field(description=words.CREATED)
    changed: datetime = Field(description=words.CHANGED)

    @classmethod
    def of(cls, doc: dict[str, Any]) -> IPResponse:
        return cls(
            ipaddress=doc["address"], allocationuuid=doc["allocation_uuid"],
            networkid=doc["network_id"], projectid=doc["project_id"], name=doc["name"],
            description=doc["description"], type=doc["type"], tags=doc["tags"],
            created=doc["created"], changed=doc["changed"],
        )


class HTTPErrorResponse(ResponseBody):
    """metal-api's error body (httperrors.HTTPErrorResponse)."""

    statuscode: int = Field(description="http status code")
    message: str = Field(description="error message")


def refusals(operation_id: str) -> dict[int | str, dict[str, Any]]:
    """The error responses an operation declares: each status it can answer, and why."""
    reasons = {**words.AUTHENTICATED, **words.REFUSALS[operation_id]}
    return {status: {"model": HTTPErrorResponse, "description": reasons[status]}
            for status in sorted(reasons)}


class HealthResponse(ResponseBody):
    status: str = Field(description="healthy when the store answers")
    message: str = Field(description="what was checked")


def reply(body: BaseModel | list[Any], status_code: int = 200) -> Response:
    """Serialise an already validated response model once, straight to JSON bytes.

    FastAPI would validate a returned model against `response_model` again and encode it
    through `jsonable_encoder`; the routes still declare `response_model` for the OpenAPI
    document.
    """
    if isinstance(body, BaseModel):
        content = body.model_dump_json().encode()
    else:
        content = _LIST_ADAPTER.dump_json(body)
    return Response(content=content, status_code=status_code, media_type="application/json")


_LIST_ADAPTER: TypeAdapter[list[Any]] = TypeAdapter(list[Any])
