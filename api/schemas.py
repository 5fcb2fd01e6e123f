"""Request and response schemas: metal-api v1's wire names (see the reference swagger)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Response
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

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
IP_TYPES: dict[str, Any] = {"enum": ["ephemeral", "static", ""],
                            "description": "static or ephemeral; empty: ephemeral (on update: "
                                           "unchanged)"}
FAMILIES: dict[str, Any] = {"enum": ["IPv4", "IPv6", ""],
                            "description": "IPv4 or IPv6 (any case); empty: not given"}


def _null_is_absent(schema: dict[str, Any]) -> None:
    """Declare what the server does: every optional field also takes `null`."""
    required = set(schema.get("required", ()))
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
    id: str = ""
    name: str = ""
    description: str = ""
    partitionid: str = ""
    projectid: str = ""
    parentnetworkid: str = ""
    prefixes: list[str] = Field(default_factory=list, max_length=MAX_ITEMS)
    destinationprefixes: list[str] = Field(default_factory=list, max_length=MAX_ITEMS)
    additionalAnnouncableCIDRs: list[str] = Field(default_factory=list, max_length=MAX_ITEMS)
    defaultchildprefixlength: dict[str, int] | None = Field(default=None, max_length=MAX_FAMILIES)
    labels: dict[str, str] = Field(default_factory=dict, max_length=MAX_ITEMS)
    privatesuper: bool = False
    underlay: bool = False
    nat: bool = False
    shared: bool = False
    vrf: int | None = None
    vrfshared: bool = False
    networktype: str | None = None  # apiv2 fields: accepted, derived on our side
    nattype: str | None = None


class NetworkUpdate(Request):
    id: str
    name: str | None = None
    description: str | None = None
    labels: dict[str, str] | None = Field(default=None, max_length=MAX_ITEMS)
    shared: bool | None = None
    prefixes: list[str] | None = Field(default=None, max_length=MAX_ITEMS)
    destinationprefixes: list[str] | None = Field(default=None, max_length=MAX_ITEMS)
    additionalAnnouncableCIDRs: list[str] | None = Field(default=None, max_length=MAX_ITEMS)
    defaultchildprefixlength: dict[str, int] | None = Field(default=None, max_length=MAX_FAMILIES)


class NetworkAllocate(Request):
    partitionid: str = ""
    projectid: str = ""
    name: str = ""
    description: str = ""
    labels: dict[str, str] = Field(default_factory=dict, max_length=MAX_ITEMS)
    shared: bool = False
    nat: bool = False
    destinationprefixes: list[str] = Field(default_factory=list, max_length=MAX_ITEMS)
    length: dict[str, int] | None = Field(default=None, max_length=MAX_FAMILIES)
    addressfamily: str = Field(default="", json_schema_extra=FAMILIES)


class NetworkFind(Request):
    id: str | None = None
    name: str | None = None
    partitionid: str | None = None
    projectid: str | None = None
    parentnetworkid: str | None = None
    privatesuper: bool | None = None
    underlay: bool | None = None
    nat: bool | None = None
    vrf: int | None = Field(default=None, ge=0, le=MAX_VRF_FILTER)
    prefixes: list[str] = Field(default_factory=list, max_length=MAX_ITEMS)
    destinationprefixes: list[str] = Field(default_factory=list, max_length=MAX_ITEMS)
    labels: dict[str, str] = Field(default_factory=dict, max_length=MAX_ITEMS)
    addressfamily: str = Field(default="", json_schema_extra=FAMILIES)


class IPAllocate(Request):
    networkid: str
    projectid: str
    name: str = ""
    description: str = ""
    type: str = Field(default="", json_schema_extra=IP_TYPES)
    tags: list[str] = Field(default_factory=list, max_length=MAX_ITEMS)
    machineid: str = ""
    addressfamily: str = Field(default="", json_schema_extra=FAMILIES)


class IPUpdate(Request):
    ipaddress: str
    name: str | None = None
    description: str | None = None
    type: str = Field(default="", json_schema_extra=IP_TYPES)
    tags: list[str] | None = Field(default=None, max_length=MAX_ITEMS)


class IPFind(Request):
    ipaddress: str | None = None
    allocationuuid: str | None = None
    name: str | None = None
    networkid: str | None = None
    projectid: str | None = None
    type: str | None = None
    tags: list[str] = Field(default_factory=list, max_length=MAX_ITEMS)
    machineid: str | None = None
    networkprefix: str | None = None
    addressfamily: str = Field(default="", json_schema_extra=FAMILIES)


class NetworkUsage(BaseModel):
    available_ips: int
    available_prefixes: int
    used_ips: int
    used_prefixes: int


class NetworkConsumption(BaseModel):
    ipv4: NetworkUsage | None = None
    ipv6: NetworkUsage | None = None


class FamilyCapacity(BaseModel):
    """Exact figures per family; big numbers are decimal strings."""

    total_ips: str
    acquired_ips: str
    reserved_ips: str
    child_prefixes: int
    free_space: str
    largest_free_prefix: str | None
    free_prefix_count: int
    free_prefixes: list[str]
    child_prefix_length: int | None = None
    free_child_prefixes: str | None = None


class NetworkCapacity(BaseModel):
    ipv4: FamilyCapacity | None = None
    ipv6: FamilyCapacity | None = None


class NetworkResponse(BaseModel):
    id: str
    name: str
    description: str
    partitionid: str
    projectid: str
    parentnetworkid: str
    prefixes: list[str]
    destinationprefixes: list[str]
    additionalAnnouncableCIDRs: list[str]
    defaultchildprefixlength: dict[str, int] | None
    labels: dict[str, str]
    privatesuper: bool
    underlay: bool
    nat: bool
    shared: bool
    vrf: int | None
    vrfshared: bool
    networktype: str
    nattype: str
    consumption: NetworkConsumption
    usage: NetworkUsage
    capacity: NetworkCapacity = Field(
        description="exact, IPv6-friendly figures beside the go-ipam compatible consumption"
    )
    created: datetime
    changed: datetime

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


class IPResponse(BaseModel):
    ipaddress: str
    allocationuuid: str
    networkid: str
    projectid: str
    name: str
    description: str
    type: str
    tags: list[str]
    created: datetime
    changed: datetime

    @classmethod
    def of(cls, doc: dict[str, Any]) -> IPResponse:
        return cls(
            ipaddress=doc["address"], allocationuuid=doc["allocation_uuid"],
            networkid=doc["network_id"], projectid=doc["project_id"], name=doc["name"],
            description=doc["description"], type=doc["type"], tags=doc["tags"],
            created=doc["created"], changed=doc["changed"],
        )


class HTTPErrorResponse(BaseModel):
    statuscode: int
    message: str


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": HTTPErrorResponse} for status in (400, 401, 403, 404, 409, 413, 422)
}


class HealthResponse(BaseModel):
    status: str
    message: str


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


class HistoryEvent(BaseModel):
    """One event as an auditor reads it."""

    position: int = Field(description="position in the event log (notification id)")
    network: str = Field(description="id of the network the event belongs to")
    aggregate_id: str
    version: int = Field(description="the network's version after this event")
    time: datetime
    type: str = Field(description="event type, e.g. IPAcquired")
    actor: str
    request_id: str
    reason: str | None
    facts: dict[str, Any] = Field(description="the event's facts as recorded")


class HistoryResponse(BaseModel):
    events: list[HistoryEvent]
    next: int | None = Field(description="cursor for the next page, null on the last page")
