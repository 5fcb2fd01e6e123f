"""The Network aggregate: a named set of prefixes of both families, the child networks carved
from it and the addresses acquired in it. Every state is the fold of its events.

Commands (public methods) check the rules and decide: which block, which address, which
allocation id. The nested events only record those decisions; replaying never re-decides.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.addressing import Address, Family, Prefix, parse_address
from domain.allocation import PrefixPool, block_text, carve
from domain.consumption import capacity, consumption
from domain.errors import (
    ConflictError,
    ExhaustedError,
    InUseError,
    InvalidRequestError,
    IPNotFoundError,
    UnprocessableError,
)
from domain.persistent import PersistentMap
from domain.versions import ContextAlwaysKept

MACHINE_TAG = "machine.metal-stack.io/id="
IP_TYPES = ("ephemeral", "static")


def network_uuid(network_id: str) -> UUID:
    """The aggregate id of the network with this (user-visible) id."""
    return uuid5(NAMESPACE_URL, f"ipam:network:{network_id}")


class IPFacts(NamedTuple):
    """What the rules need to know of an acquired address; details live in events."""

    allocation_uuid: str
    project_id: str
    type: str
    machine_scoped: bool


def ip_tags(tags: list[str], machine_id: str = "") -> list[str]:
    """The tags an IP gets: the given ones plus the machine tag, de-duplicated and sorted."""
    merged = set(tags)
    if machine_id:
        merged.add(MACHINE_TAG + machine_id)
    return sorted(merged)


def is_machine_scoped(tags: list[str]) -> bool:
    return any(tag.startswith(MACHINE_TAG) for tag in tags)


@dataclass(frozen=True)
class NetworkAttributes:
    """The attributes a network is created with."""

    network_id: str
    name: str
    description: str
    partition_id: str
    project_id: str
    parent_id: str | None
    destination_prefixes: list[str]
    additional_announcable_cidrs: list[str]
    default_child_prefix_length: dict[str, int]
    private_super: bool
    underlay: bool
    nat: bool
    shared: bool
    vrf: int | None
    vrf_shared: bool
    labels: dict[str, str]
    context: dict[str, Any]


class Network(Aggregate):
    """A network and its allocation bookkeeping."""

    TOPIC = "Network"

    class Event(ContextAlwaysKept, Aggregate.Event):
        """Every event of this aggregate (see `domain.versions`)."""

    class Created(Aggregate.Created):
        """The library's generic creation event (unused: creations are named below)."""

        TOPIC = "Network.Created"

    class NetworkCreated(Aggregate.Created, NetworkAttributes):
        """A network came into being with these attributes (its prefixes follow as PrefixAdded)."""

        TOPIC = "Network.NetworkCreated"

    class NetworkRecreated(Aggregate.Event, NetworkAttributes):
        """A deleted network's id was used again: the state starts afresh."""

        TOPIC = "Network.NetworkRecreated"

        def apply(self, aggregate: Network) -> None:
            fields = {name: getattr(self, name) for name in NetworkAttributes.__dataclass_fields__}
            aggregate.__init__(**fields)  # type: ignore[misc]
            aggregate.recreated_on = self.timestamp

    class PrefixAdded(Aggregate.Event):
        TOPIC = "Network.PrefixAdded"
        prefix: str
        context: dict[str, Any]

        def apply(self, aggregate: Network) -> None:
            pool = PrefixPool.new(_parse(self.prefix))
            aggregate.pools = {**aggregate.pools, self.prefix: pool}

    class PrefixRemoved(Aggregate.Event):
        TOPIC = "Network.PrefixRemoved"
        prefix: str
        context: dict[str, Any]

        def apply(self, aggregate: Network) -> None:
            aggregate.pools = {k: v for k, v in aggregate.pools.items() if k != self.prefix}

    class NetworkUpdated(Aggregate.Event):
        """Only the fields that changed are set; None means unchanged."""

        TOPIC = "Network.NetworkUpdated"

        name: str | None
        description: str | None
        labels: dict[str, str] | None
        shared: bool | None
        destination_prefixes: list[str] | None
        additional_announcable_cidrs: list[str] | None
        default_child_prefix_length: dict[str, int] | None
        context: dict[str, Any]

        def apply(self, aggregate: Network) -> None:
            for name in UPDATABLE:
                value = getattr(self, name)
                if value is not None:
                    setattr(aggregate, name, value)

    class ChildNetworkAllocated(Aggregate.Event):
        TOPIC = "Network.ChildNetworkAllocated"
        child_id: str
        prefixes: list[str]
        vrf: int | None
        project_id: str
        name: str
        requested_lengths: dict[str, int]
        address_family: str | None
        context: dict[str, Any]

        def apply(self, aggregate: Network) -> None:
            aggregate.pools = carve(aggregate.pools, self.prefixes, add=True)
            aggregate.children = aggregate.children.set(self.child_id, tuple(self.prefixes))

    class ChildNetworkReleased(Aggregate.Event):
        TOPIC = "Network.ChildNetworkReleased"
        child_id: str
        prefixes: list[str]
        vrf: int | None
        context: dict[str, Any]

        def apply(self, aggregate: Network) -> None:
            aggregate.pools = carve(aggregate.pools, self.prefixes, add=False)
            aggregate.children = aggregate.children.delete(self.child_id)

    class NetworkDeleted(Aggregate.Event):
        TOPIC = "Network.NetworkDeleted"
        prefixes: list[str]
        vrf: int | None
        parent_id: str | None
        context: dict[str, Any]

        def apply(self, aggregate: Network) -> None:
            aggregate.deleted = True

    class IPAcquired(Aggregate.Event):
        TOPIC = "Network.IPAcquired"
        address: str
        prefix: str
        family: str
        allocation_uuid: str
        project_id: str
        name: str
        description: str
        type: str
        tags: list[str]
        machine_id: str
        specific: bool
        context: dict[str, Any]

        def apply(self, aggregate: Network) -> None:
            number = int(parse_address(self.address))
            aggregate.pools = {
                **aggregate.pools,
                self.prefix: aggregate.pools[self.prefix].with_address(number),
            }
            aggregate.ips = aggregate.ips.set(
                self.address,
                IPFacts(self.allocation_uuid, self.project_id, self.type,
                        is_machine_scoped(self.tags)),
            )

    class IPReleased(Aggregate.Event):
        TOPIC = "Network.IPReleased"
        address: str
        prefix: str
        allocation_uuid: str
        project_id: str
        context: dict[str, Any]

        def apply(self, aggregate: Network) -> None:
            number = int(parse_address(self.address))
            aggregate.pools = {
                **aggregate.pools,
                self.prefix: aggregate.pools[self.prefix].without_address(number),
            }
            aggregate.ips = aggregate.ips.delete(self.address)

    class IPUpdated(Aggregate.Event):
        """The fields given in the request; None means unchanged. `type` is the resulting type."""

        TOPIC = "Network.IPUpdated"

        address: str
        allocation_uuid: str
        name: str | None
        description: str | None
        type: str
        tags: list[str] | None
        context: dict[str, Any]

        def apply(self, aggregate: Network) -> None:
            facts = aggregate.ips.get(self.address)
            assert facts is not None
            scoped = facts.machine_scoped if self.tags is None else is_machine_scoped(self.tags)
            aggregate.ips = aggregate.ips.set(
                self.address, facts._replace(type=self.type, machine_scoped=scoped)
            )

    def __init__(
        self,
        network_id: str,
        name: str,
        description: str,
        partition_id: str,
        project_id: str,
        parent_id: str | None,
        destination_prefixes: list[str],
        additional_announcable_cidrs: list[str],
        default_child_prefix_length: dict[str, int],
        private_super: bool,
        underlay: bool,
        nat: bool,
        shared: bool,
        vrf: int | None,
        vrf_shared: bool,
        labels: dict[str, str],
        context: dict[str, Any],
    ) -> None:
        self.network_id = network_id
        self.name = name
        self.description = description
        self.partition_id = partition_id
        self.project_id = project_id
        self.parent_id = parent_id
        self.destination_prefixes = list(destination_prefixes)
        self.additional_announcable_cidrs = list(additional_announcable_cidrs)
        self.default_child_prefix_length = dict(default_child_prefix_length)
        self.private_super = private_super
        self.underlay = underlay
        self.nat = nat
        self.shared = shared
        self.vrf = vrf
        self.vrf_shared = vrf_shared
        self.labels = dict(labels)
        self.deleted = False
        self.recreated_on: datetime | None = None
        self.pools: dict[str, PrefixPool] = {}
        self.ips: PersistentMap[IPFacts] = PersistentMap()
        self.children: PersistentMap[tuple[str, ...]] = PersistentMap()

    # -- construction ----------------------------------------------------------------------

    @classmethod
    def create(
        cls, *, network_id: str, prefixes: list[str], context: dict[str, Any], **attributes: Any
    ) -> Network:
        """Record a new network and its prefixes (already validated and checked for overlap)."""
        network = cls._create(
            cls.NetworkCreated, id=network_uuid(network_id), network_id=network_id,
            context=context, **attributes,
        )
        for prefix in prefixes:
            network.trigger_event(cls.PrefixAdded, prefix=prefix, context=context)
        return network

    def recreate(self, *, prefixes: list[str], context: dict[str, Any], **attributes: Any) -> None:
        """Use a deleted network's id again: its history goes on, its state starts afresh."""
        if not self.deleted:
            raise ConflictError("entity already exists")
        self.trigger_event(
            self.NetworkRecreated, network_id=self.network_id, context=context, **attributes
        )
        for prefix in prefixes:
            self.trigger_event(self.PrefixAdded, prefix=prefix, context=context)

    # -- reading -----------------------------------------------------------------------------

    @property
    def prefixes(self) -> list[str]:
        return list(self.pools)

    @property
    def is_child(self) -> bool:
        return self.parent_id is not None

    def families(self) -> list[Family]:
        present = {pool.family for pool in self.pools.values()}
        return [f for f in (Family.IPV4, Family.IPV6) if f in present]

    def child_lengths(self) -> dict[Family, int]:
        return {Family(k): v for k, v in self.default_child_prefix_length.items()}

    def consumption(self) -> dict[str, dict[str, int] | None]:
        return consumption(self.pools.values())

    def capacity(self) -> dict[str, dict[str, Any] | None]:
        return capacity(self.pools.values(), self.child_lengths())

    def pool_of(self, address: Address) -> PrefixPool | None:
        number = int(address)
        for pool in self.pools.values():
            if pool.network.version == address.version and pool.contains(number):
                return pool
        return None

    def ip_facts(self, address: str) -> IPFacts | None:
        return self.ips.get(address)

    def check_no_usage(self, prefixes: list[str] | None = None) -> None:
        """Raise InUseError when a prefix (all by default) holds acquired IPs."""
        for prefix in prefixes if prefixes is not None else list(self.pools):
            pool = self.pools[prefix]
            first = pool.first_acquired_address()
            if first is not None:
                address = type(pool.network.network_address)(first)
                raise InUseError(f"unable to delete network: prefix {prefix} has ip {address} in use")

    def child_in(self, prefix: str) -> str | None:
        """A child network id whose prefix lies in `prefix`, for messages."""
        network = _parse(prefix)
        for child_id, child_prefixes in self.children.items():
            for text in child_prefixes:
                candidate = _parse(text)
                if candidate.version == network.version and candidate.subnet_of(network):  # type: ignore[arg-type]
                    return child_id
        return None

    # -- child networks ----------------------------------------------------------------------

    def choose_child_prefixes(
        self, lengths: dict[Family, int], address_family: Family | None
    ) -> list[str]:
        """Pick one child prefix per family (IPv4 first) by best fit. Decides, records nothing.

        Raises InvalidRequestError for lengths this super cannot serve and ExhaustedError
        (422) when a family has no room.
        """
        families = [address_family] if address_family else [f for f in (Family.IPV4, Family.IPV6) if f in lengths]
        chosen: list[str] = []
        for family in families:
            length = lengths[family]
            pools = [p for p in self.pools.values() if p.family is family]
            for pool in pools:
                if length <= pool.network.prefixlen:
                    raise InvalidRequestError(
                        f"given length:{length} must be greater than prefix length:{pool.network.prefixlen}"
                    )
            if length > family.max_length:
                raise InvalidRequestError(
                    f"given length:{length} is greater than the maximum prefix length "
                    f"{family.max_length} of addressfamily {family.value}"
                )
            reasons: list[str] = []
            found: str | None = None
            for pool in pools:
                if pool.acquired > 0:
                    reasons.append(f"prefix {pool.prefix} has ips, acquire child prefix not possible")
                    continue
                start = pool.best_fit(length)
                if start is not None:
                    found = block_text(family, (start, length))
                    break
                message = f"no prefix found in {pool.prefix} with length:{length}"
                if pool.free:
                    message += f", but {','.join(pool.free_prefixes())} are available"
                reasons.append(message)
            if found is None:
                raise ExhaustedError("; ".join(reasons))
            chosen.append(found)
        return chosen

    def allocate_child(
        self, *, child_id: str, prefixes: list[str], vrf: int | None, project_id: str,
        name: str, requested_lengths: dict[str, int], address_family: str | None,
        context: dict[str, Any],
    ) -> None:
        """Record the carving of a child's prefixes (chosen by `choose_child_prefixes`)."""
        self.trigger_event(
            self.ChildNetworkAllocated, child_id=child_id, prefixes=prefixes, vrf=vrf,
            project_id=project_id, name=name, requested_lengths=requested_lengths,
            address_family=address_family, context=context,
        )

    def release_child(self, child_id: str, vrf: int | None, context: dict[str, Any]) -> None:
        """Return a child's prefixes to the free space."""
        prefixes = self.children.get(child_id)
        if prefixes is None:
            raise ConflictError(f"network {child_id} is not a child of {self.network_id}")
        self.trigger_event(
            self.ChildNetworkReleased, child_id=child_id, prefixes=list(prefixes), vrf=vrf,
            context=context,
        )

    # -- addresses ---------------------------------------------------------------------------

    def acquire_ip(
        self, *, project_id: str, allocation_uuid: str, address_family: Family | None = None,
        specific: Address | None = None, name: str = "", description: str = "",
        ip_type: str = "ephemeral", tags: list[str] | None = None, machine_id: str = "",
        context: dict[str, Any],
    ) -> IPAcquired:
        """Acquire the lowest free address of the family (or the given one) and record it.

        Family when none is asked: IPv4 unless the network has none. Raises
        InvalidRequestError (400), UnprocessableError (422) and ConflictError (409) per SPEC 4.
        """
        if specific is not None and address_family is not None:
            raise InvalidRequestError("it is not possible to specify specificIP and addressfamily")
        families = self.families()
        if address_family is not None and address_family not in families:
            raise InvalidRequestError(
                f"there is no prefix for the given addressfamily:{address_family.value} present "
                f"in network:{self.network_id}"
            )
        if self.is_child and not self.shared and project_id != self.project_id:
            raise UnprocessableError(
                f'can not allocate ip for project "{project_id}" because network belongs to '
                f'"{self.project_id}" and the network is not shared'
            )
        if ip_type not in IP_TYPES:
            raise InvalidRequestError(f'ip type "{ip_type}" is invalid, must be ephemeral or static')
        if specific is not None:
            pool = self.pool_of(specific)
            if pool is None:
                raise UnprocessableError("specific ip not contained in any of the defined prefixes")
            if pool.children:
                raise UnprocessableError(
                    f"prefix {pool.prefix} has childprefixes, acquire ip not possible")
            if int(specific) in pool.used:
                raise ConflictError("Conflict ip already allocated")
            address: Address = specific
        else:
            family = address_family or (Family.IPV4 if Family.IPV4 in families else Family.IPV6)
            chosen = None
            for pool in self.pools.values():
                if pool.family is not family or pool.children:
                    continue
                number = pool.lowest_free_address()
                if number is not None:
                    chosen = (pool, number)
                    break
            if chosen is None:
                raise ExhaustedError(
                    f"no more ips in network {self.network_id} for addressfamily {family.value}"
                )
            pool, number = chosen
            address = type(pool.network.network_address)(number)
        self.trigger_event(
            self.IPAcquired, address=str(address), prefix=pool.prefix,
            family=pool.family.value, allocation_uuid=allocation_uuid, project_id=project_id,
            name=name, description=description, type=ip_type,
            tags=ip_tags(tags or [], machine_id), machine_id=machine_id,
            specific=specific is not None, context=context,
        )
        return self.pending_events[-1]  # type: ignore[return-value]

    def held_by(self, address: str, allocation_uuid: str, project_id: str) -> IPFacts:
        """The facts of the address, when it is still held by the allocation a write was
        authorised for. IPNotFoundError (404) otherwise: when it was released, or released and
        acquired again (by another project, perhaps) since the caller looked, a write must not
        land on whoever holds it now."""
        facts = self.ips.get(address)
        if (facts is None or facts.allocation_uuid != allocation_uuid
                or facts.project_id != project_id):
            raise IPNotFoundError(f'ip with address "{address}" not found')
        return facts

    def release_ip(
        self, address: str, context: dict[str, Any], *, allocation_uuid: str, project_id: str,
    ) -> IPReleased:
        """Release the address held by this allocation of this project (404 when it is not,
        see `held_by`). An IP with a machine tag cannot be freed (400)."""
        facts = self.held_by(address, allocation_uuid, project_id)
        if facts.machine_scoped:
            raise InvalidRequestError("ip with machine scope can not be deleted")
        pool = self.pool_of(parse_address(address))
        assert pool is not None
        self.trigger_event(
            self.IPReleased, address=address, prefix=pool.prefix,
            allocation_uuid=facts.allocation_uuid, project_id=facts.project_id, context=context,
        )
        return self.pending_events[-1]  # type: ignore[return-value]

    def update_ip(
        self, address: str, *, allocation_uuid: str, project_id: str, name: str | None,
        description: str | None, ip_type: str | None, tags: list[str] | None,
        context: dict[str, Any],
    ) -> IPUpdated:
        """Change the name, description, type (None or "": unchanged) or tags of the address
        held by this allocation of this project (404 when it is not, see `held_by`); static
        never becomes ephemeral."""
        facts = self.held_by(address, allocation_uuid, project_id)
        ip_type = ip_type or facts.type
        if ip_type not in IP_TYPES:
            raise InvalidRequestError(f'ip type "{ip_type}" is invalid, must be ephemeral or static')
        if facts.type == "static" and ip_type == "ephemeral":
            raise InvalidRequestError("cannot change type of ip address from static to ephemeral")
        self.trigger_event(
            self.IPUpdated, address=address, allocation_uuid=facts.allocation_uuid, name=name,
            description=description, type=ip_type,
            tags=None if tags is None else sorted(set(tags)), context=context,
        )
        return self.pending_events[-1]  # type: ignore[return-value]

    # -- update and delete -------------------------------------------------------------------

    def update(self, context: dict[str, Any], **changes: Any) -> None:
        """Record changed attributes (already validated); nothing is recorded when none changed."""
        fields = {name: changes.get(name) for name in UPDATABLE}
        fields = {k: (v if v is not None and v != getattr(self, k) else None) for k, v in fields.items()}
        if any(v is not None for v in fields.values()):
            self.trigger_event(self.NetworkUpdated, context=context, **fields)

    def add_prefix(self, prefix: str, context: dict[str, Any]) -> None:
        self.trigger_event(self.PrefixAdded, prefix=prefix, context=context)

    def remove_prefix(self, prefix: str, context: dict[str, Any]) -> None:
        """Remove a prefix; refused (422) while it holds acquired IPs or child networks."""
        pool = self.pools[prefix]
        first = pool.first_acquired_address()
        if first is not None:
            address = type(pool.network.network_address)(first)
            raise InUseError(f"prefix {prefix} has ip {address} in use, it can not be removed")
        if pool.children:
            raise InUseError(
                f"prefix {prefix} has child network {self.child_in(prefix)}, it can not be removed"
            )
        self.trigger_event(self.PrefixRemoved, prefix=prefix, context=context)

    def check_deletable(self) -> None:
        """Raise InUseError (422) while the network has children or acquired IPs."""
        if len(self.children):
            raise InUseError("network cannot be deleted because there are children of this network")
        self.check_no_usage()

    def delete(self, context: dict[str, Any]) -> None:
        """Record the deletion (checked by `check_deletable`)."""
        self.check_deletable()
        self.trigger_event(
            self.NetworkDeleted, prefixes=self.prefixes, vrf=self.vrf, parent_id=self.parent_id,
            context=context,
        )


UPDATABLE = (
    "name", "description", "labels", "shared", "destination_prefixes",
    "additional_announcable_cidrs", "default_child_prefix_length",
)


def _parse(text: str) -> Prefix:
    return ipaddress.ip_network(text)
