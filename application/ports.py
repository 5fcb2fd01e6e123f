"""What the use cases need from the read side; infrastructure implements it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from uuid import UUID


@dataclass(frozen=True)
class NetworkFilter:
    """Filters of `POST /v1/network/find`; unset fields do not filter."""

    id: str | None = None
    name: str | None = None
    partition_id: str | None = None
    project_id: str | None = None
    parent_id: str | None = None
    private_super: bool | None = None
    underlay: bool | None = None
    nat: bool | None = None
    vrf: int | None = None
    prefixes: tuple[str, ...] = ()
    destination_prefixes: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    address_family: str | None = None


@dataclass(frozen=True)
class IPFilter:
    """Filters of `POST /v1/ip/find`; unset fields do not filter."""

    address: str | None = None
    allocation_uuid: str | None = None
    name: str | None = None
    network_id: str | None = None
    project_id: str | None = None
    type: str | None = None
    tags: tuple[str, ...] = ()
    machine_id: str | None = None
    network_prefix: str | None = None
    address_family: str | None = None


MAX_IP_PAGE = 1000


@dataclass(frozen=True)
class IPPage:
    """One page of a network's IPs in numeric address order (IPv4 before IPv6): `next` is the
    page's last address when more follow (ask again with `after=next`), else None; `total` is
    how many IPs of the network the caller may see, over all pages."""

    ips: list[dict[str, Any]]
    next: str | None
    total: int


class ReadModel(Protocol):
    """Projections of the event log that answer queries."""

    def catch_up(self) -> None:
        """Apply every event recorded so far (read-your-writes)."""

    def get_network(self, network_id: str) -> dict[str, Any] | None: ...

    def find_networks(self, flt: NetworkFilter) -> list[dict[str, Any]]: ...

    def network_summaries(self, parent_id: str | None = None) -> list[dict[str, Any]]:
        """Every network's (or every child's of `parent_id`) id, name, partition, project,
        parent, private-super flag and VRF, in id order, without its prefixes' figures (cheap
        for ten thousand networks)."""

    def get_ip(self, address: str) -> dict[str, Any] | None: ...

    def find_ips(self, flt: IPFilter) -> list[dict[str, Any]]: ...

    def ip_page(self, network_id: str, *, projects: frozenset[str] | None, after: str | None,
                limit: int) -> IPPage:
        """At most `limit` IPs of the network in address order, those of `projects` only
        (every project when None), beginning after the address `after` (a valid address,
        held or not); reads only the page's rows and a count, never every IP."""


@dataclass(frozen=True)
class HistoryQuery:
    """A page of history: oldest first unless `ascending` is False; `cursor` is the position
    the previous page ended at; `since`/`until` bound the event time (inclusive)."""

    limit: int = 100
    ascending: bool = True
    cursor: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    types: tuple[str, ...] = ()


@dataclass(frozen=True)
class HistoryPage:
    events: list[dict[str, Any]]
    next_cursor: int | None


class History(Protocol):
    """The history projection's queries."""

    def catch_up(self) -> None: ...

    def network_exists(self, aggregate_id: str) -> bool: ...

    def network_history(self, aggregate_id: str, query: HistoryQuery) -> HistoryPage: ...

    def ip_history(self, address: str, query: HistoryQuery) -> HistoryPage: ...

    def prefix_history(self, cidr: str, query: HistoryQuery) -> HistoryPage: ...

    def version_at(self, aggregate_id: str, moment: datetime) -> int | None: ...

    def networks_at(self, moment: datetime) -> list[tuple[str, str, int]]: ...

    def ip_events_until(self, address: str, moment: datetime) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class IdempotencyRecord:
    """The first answer to a write made with an idempotency key: whose key (the credential),
    what was asked (the request's fingerprint) and the response exactly as it was sent."""

    record_id: UUID
    key: str
    credential: str
    subject: str
    fingerprint: str
    status: int
    body: bytes
    created_at: datetime
    expires_at: datetime


class IdempotencyRecords(Protocol):
    """Where first answers are kept. A record is written with the events of its change (the
    application passes it to `save(..., idempotency=record)`), so both or neither are stored."""

    ttl: timedelta

    def find(self, record_id: UUID) -> IdempotencyRecord | None:
        """The record, unless there is none or it has expired."""


class WriteObserver(Protocol):
    """Told what the commands did, for the service's metrics: the events of every change once
    it is committed, and why an allocation was refused when it finally was (not a retried
    attempt)."""

    def committed(self, events: Sequence[Any]) -> None: ...

    def refused(self, reason: str) -> None: ...
