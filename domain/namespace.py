"""Aggregates for the invariants that span networks.

- `Namespace`: the prefixes of all top-level networks (children lie inside their super's
  prefixes), so no two networks overlap, and the one private super network per partition.
- `VrfPool`: the VRF ids `[1, 131072]`, unique unless shared.

They are saved in the same transaction as the network change they guard, so a concurrent change
to the same invariant conflicts and is retried instead of slipping past a stale read model.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.addressing import Prefix
from domain.errors import (
    AlreadyExistsError,
    ExhaustedError,
    InvalidRequestError,
    OverlapError,
    UnprocessableError,
)
from domain.ranges import IntRanges
from domain.spec import VRF_MAX, VRF_MIN, check_vrf, overlapping
from domain.versions import ContextAlwaysKept

DEFAULT_NAMESPACE = "default"


def namespace_uuid(name: str = DEFAULT_NAMESPACE) -> UUID:
    return uuid5(NAMESPACE_URL, f"ipam:namespace:{name}")


def vrf_pool_uuid(name: str = DEFAULT_NAMESPACE) -> UUID:
    return uuid5(NAMESPACE_URL, f"ipam:vrf-pool:{name}")


class Namespace(Aggregate):
    """Which top-level network holds which prefix, and each partition's private super and
    underlay network."""

    TOPIC = "Namespace"

    class Event(ContextAlwaysKept, Aggregate.Event):
        """Every event of this aggregate (see `domain.versions`)."""

    class Created(Aggregate.Created):
        """The library's generic creation event (unused: creations are named below)."""

        TOPIC = "Namespace.Created"

    class Started(Aggregate.Created):
        TOPIC = "Namespace.Started"
        name: str
        context: dict[str, Any]

    class PrefixesClaimed(Aggregate.Event):
        TOPIC = "Namespace.PrefixesClaimed"
        network_id: str
        prefixes: list[str]
        context: dict[str, Any]

        def apply(self, aggregate: Namespace) -> None:
            claims = dict(aggregate.claims)
            for prefix in self.prefixes:
                claims[prefix] = self.network_id
            aggregate.claims = claims

    class PrefixesReleased(Aggregate.Event):
        TOPIC = "Namespace.PrefixesReleased"
        network_id: str
        prefixes: list[str]
        context: dict[str, Any]

        def apply(self, aggregate: Namespace) -> None:
            aggregate.claims = {k: v for k, v in aggregate.claims.items() if k not in self.prefixes}

    class PrivateSuperRegistered(Aggregate.Event):
        TOPIC = "Namespace.PrivateSuperRegistered"
        partition_id: str
        network_id: str
        context: dict[str, Any]

        def apply(self, aggregate: Namespace) -> None:
            aggregate.private_supers = {**aggregate.private_supers, self.partition_id: self.network_id}

    class PrivateSuperUnregistered(Aggregate.Event):
        TOPIC = "Namespace.PrivateSuperUnregistered"
        partition_id: str
        network_id: str
        context: dict[str, Any]

        def apply(self, aggregate: Namespace) -> None:
            aggregate.private_supers = {
                k: v for k, v in aggregate.private_supers.items() if k != self.partition_id
            }

    class UnderlayRegistered(Aggregate.Event):
        TOPIC = "Namespace.UnderlayRegistered"
        partition_id: str
        network_id: str
        context: dict[str, Any]

        def apply(self, aggregate: Namespace) -> None:
            aggregate.underlays = {**aggregate.underlays, self.partition_id: self.network_id}

    class UnderlayUnregistered(Aggregate.Event):
        TOPIC = "Namespace.UnderlayUnregistered"
        partition_id: str
        network_id: str
        context: dict[str, Any]

        def apply(self, aggregate: Namespace) -> None:
            aggregate.underlays = {
                k: v for k, v in aggregate.underlays.items() if k != self.partition_id
            }

    def __init__(self, name: str, context: dict[str, Any] | None = None) -> None:
        self.name = name
        self.claims: dict[str, str] = {}  # prefix -> network id
        self.private_supers: dict[str, str] = {}  # partition id -> network id
        self.underlays: dict[str, str] = {}  # partition id -> network id

    @classmethod
    def start(cls, context: dict[str, Any], name: str = DEFAULT_NAMESPACE) -> Namespace:
        return cls._create(cls.Started, id=namespace_uuid(name), name=name, context=context)

    def private_super_of(self, partition_id: str) -> str | None:
        return self.private_supers.get(partition_id)

    def claim(
        self, network_id: str, prefixes: list[str], context: dict[str, Any],
        ignore: list[str] | None = None,
    ) -> None:
        """Claim prefixes for a network; 422 `A overlaps B` when one overlaps any claimed prefix
        (or another new one). `ignore` lists claims left out of the check (being replaced)."""
        parsed: list[Prefix] = [ipaddress.ip_network(p) for p in prefixes]
        existing = [ipaddress.ip_network(p) for p in self.claims if p not in (ignore or [])]
        clash = overlapping(parsed, existing)
        if clash is not None:
            new, other = str(clash[0]), str(clash[1])
            raise OverlapError(f"{new} overlaps {other}", prefix=new, other=other,
                               holder=self.claims.get(other))
        if prefixes:
            self.trigger_event(self.PrefixesClaimed, network_id=network_id, prefixes=prefixes,
                               context=context)

    def release(self, network_id: str, prefixes: list[str], context: dict[str, Any]) -> None:
        mine = [p for p in prefixes if self.claims.get(p) == network_id]
        if mine:
            self.trigger_event(self.PrefixesReleased, network_id=network_id, prefixes=mine,
                               context=context)

    def register_private_super(
        self, partition_id: str, network_id: str, context: dict[str, Any]
    ) -> None:
        if partition_id in self.private_supers:
            raise InvalidRequestError(
                f'partition with id "{partition_id}" already has a private super network'
            )
        self.trigger_event(self.PrivateSuperRegistered, partition_id=partition_id,
                           network_id=network_id, context=context)

    def unregister_private_super(
        self, partition_id: str, network_id: str, context: dict[str, Any]
    ) -> None:
        if self.private_supers.get(partition_id) == network_id:
            self.trigger_event(self.PrivateSuperUnregistered, partition_id=partition_id,
                               network_id=network_id, context=context)

    def register_underlay(self, partition_id: str, network_id: str, context: dict[str, Any]) -> None:
        """One underlay network per partition (422 for a second, as metal-api answers)."""
        if partition_id in self.underlays:
            raise UnprocessableError(
                f'partition with id "{partition_id}" already has an underlay network')
        self.trigger_event(self.UnderlayRegistered, partition_id=partition_id,
                           network_id=network_id, context=context)

    def unregister_underlay(self, partition_id: str, network_id: str, context: dict[str, Any]) -> None:
        if self.underlays.get(partition_id) == network_id:
            self.trigger_event(self.UnderlayUnregistered, partition_id=partition_id,
                               network_id=network_id, context=context)


class VrfPool(Aggregate):
    """VRF ids handed out exclusively (ranges) and held by shared networks (reference counts)."""

    TOPIC = "VrfPool"

    class Event(ContextAlwaysKept, Aggregate.Event):
        """Every event of this aggregate (see `domain.versions`)."""

    class Created(Aggregate.Created):
        """The library's generic creation event (unused: creations are named below)."""

        TOPIC = "VrfPool.Created"

    class Started(Aggregate.Created):
        TOPIC = "VrfPool.Started"
        name: str
        context: dict[str, Any]

    class VrfReserved(Aggregate.Event):
        TOPIC = "VrfPool.VrfReserved"
        vrf: int
        network_id: str
        shared: bool
        context: dict[str, Any]

        def apply(self, aggregate: VrfPool) -> None:
            if self.shared:
                key = str(self.vrf)
                aggregate.shared = {**aggregate.shared, key: aggregate.shared.get(key, 0) + 1}
            else:
                aggregate.exclusive = aggregate.exclusive.add(self.vrf)

    class VrfReleased(Aggregate.Event):
        TOPIC = "VrfPool.VrfReleased"
        vrf: int
        network_id: str
        shared: bool
        context: dict[str, Any]

        def apply(self, aggregate: VrfPool) -> None:
            if self.shared:
                key = str(self.vrf)
                count = aggregate.shared.get(key, 0) - 1
                aggregate.shared = {k: v for k, v in aggregate.shared.items() if k != key}
                if count > 0:
                    aggregate.shared[key] = count
            else:
                aggregate.exclusive = aggregate.exclusive.remove(self.vrf)

    def __init__(self, name: str, context: dict[str, Any] | None = None) -> None:
        self.name = name
        self.exclusive = IntRanges()
        self.shared: dict[str, int] = {}

    @classmethod
    def start(cls, context: dict[str, Any], name: str = DEFAULT_NAMESPACE) -> VrfPool:
        return cls._create(cls.Started, id=vrf_pool_uuid(name), name=name, context=context)

    def reserve(self, vrf: int, network_id: str, shared: bool, context: dict[str, Any]) -> None:
        """Reserve exactly this id: 400 outside the range; a shared network joins the id
        whoever holds it (SPEC 2.11); otherwise 409 when anyone holds it."""
        check_vrf(vrf)
        if not shared and (vrf in self.exclusive or str(vrf) in self.shared):
            raise AlreadyExistsError(f"vrf {vrf} is already in use")
        self.trigger_event(self.VrfReserved, vrf=vrf, network_id=network_id, shared=shared,
                           context=context)

    def reserve_lowest(self, network_id: str, context: dict[str, Any]) -> int:
        """Reserve the lowest id nobody holds; 422 when the pool is exhausted."""
        low = VRF_MIN
        while True:
            vrf = self.exclusive.first_gap(low, VRF_MAX)
            if vrf is None:
                raise ExhaustedError("no more vrf ids available")
            if str(vrf) not in self.shared:
                break
            low = vrf + 1
        self.trigger_event(self.VrfReserved, vrf=vrf, network_id=network_id, shared=False,
                           context=context)
        return vrf

    def release(self, vrf: int | None, network_id: str, shared: bool, context: dict[str, Any]) -> None:
        if vrf is None:
            return
        held = str(vrf) in self.shared if shared else vrf in self.exclusive
        if held:
            self.trigger_event(self.VrfReleased, vrf=vrf, network_id=network_id, shared=shared,
                               context=context)
