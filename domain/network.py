"""The Network aggregate: a named set of prefixes of both families, the child networks carved
from it and the addresses acquired in it. Every state is the fold of its events.

Commands (public methods) check the rules and decide: which block, which address, which
allocation id. The nested events only record those decisions; replaying never re-decides.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from eventsourcing.domain import Aggregate

from domain.addresses import check_ip_type, check_type_change, choose_address
from domain.addressing import Address, Family, Prefix, parse_address
from domain.allocation import PrefixPool, carve
from domain.children import choose_child_prefixes, lengths_for_child
from domain.errors import (
    ConflictError,
    InvalidRequestError,
    UnprocessableError,
)
from domain.network_state import NetworkState
from domain.network_values import (
    ATTRIBUTE_NAMES,
    IP_TYPES,
    MACHINE_TAG,
    UPDATABLE,
    IPFacts,
    NetworkAttributes,
    NetworkChanges,
    ip_tags,
    is_machine_scoped,
    network_uuid,
)
from domain.persistent import PersistentMap
from domain.revision import UpdateRequest, check_revision
from domain.versions import ContextAlwaysKept

__all__ = ["IP_TYPES", "MACHINE_TAG", "IPFacts", "Network", "NetworkAttributes", "NetworkChanges",
           "network_uuid"]


class Network(NetworkState, Aggregate):
    """A network and its allocation bookkeeping (its state and what can be read of it:
    `domain.network_state`)."""

    TOPIC = "Network"

    class Event(ContextAlwaysKept, Aggregate.Event):
        """Every event of this aggregate (see `domain.versions`)."""

    class Created(Aggregate.Created):
        """The library's generic creation event (unused: creations are named below)."""

        TOPIC = "Network.Created"

    class NetworkCreated(Aggregate.Created, NetworkAttributes):
        """A network came into being with these attributes (its prefixes follow as PrefixAdded)."""

        TOPIC = "Network.NetworkCreated"
        network_id: str
        context: dict[str, Any]

        def apply(self, aggregate: Network) -> None:
            aggregate._assign(self)

    class NetworkRecreated(Aggregate.Event, NetworkAttributes):
        """A deleted network's id was used again: the state starts afresh."""

        TOPIC = "Network.NetworkRecreated"
        network_id: str
        context: dict[str, Any]

        def apply(self, aggregate: Network) -> None:
            aggregate.__init__(network_id=self.network_id, context=self.context)  # type: ignore[misc]
            aggregate._assign(self)
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

    def __init__(self, network_id: str, context: dict[str, Any]) -> None:
        """A network's empty state; its creation event then assigns the attributes."""
        self.network_id = network_id
        self.deleted = False
        self.recreated_on = None
        self.pools = {}
        self.ips = PersistentMap()
        self.children = PersistentMap()

    def _assign(self, event: NetworkAttributes) -> None:
        for name in ATTRIBUTE_NAMES:
            setattr(self, name, getattr(event, name))
        self.destination_prefixes = list(self.destination_prefixes)
        self.additional_announcable_cidrs = list(self.additional_announcable_cidrs)
        self.default_child_prefix_length = dict(self.default_child_prefix_length)
        self.labels = dict(self.labels)

    # -- construction ----------------------------------------------------------------------

    @classmethod
    def create(
        cls, *, network_id: str, attributes: NetworkAttributes, prefixes: list[str],
        context: dict[str, Any],
    ) -> Network:
        """Record a new network and its prefixes (already validated and checked for overlap)."""
        network = cls._create(
            cls.NetworkCreated, id=network_uuid(network_id), network_id=network_id,
            context=context, **attributes.as_fields(),
        )
        for prefix in prefixes:
            network.trigger_event(cls.PrefixAdded, prefix=prefix, context=context)
        return network

    def recreate(self, *, attributes: NetworkAttributes, prefixes: list[str],
                 context: dict[str, Any]) -> None:
        """Use a deleted network's id again: its history goes on, its state starts afresh."""
        if not self.deleted:
            raise ConflictError(f'entity already exists: network with id "{self.network_id}"')
        self.trigger_event(self.NetworkRecreated, network_id=self.network_id, context=context,
                           **attributes.as_fields())
        for prefix in prefixes:
            self.trigger_event(self.PrefixAdded, prefix=prefix, context=context)

    # -- child networks ----------------------------------------------------------------------

    def allocate_child(
        self, *, child_id: str, requested: dict[Family, int], address_family: Family | None,
        vrf: int | None, project_id: str, name: str, context: dict[str, Any],
    ) -> list[str]:
        """Carve a child's prefixes, one per family (the asked lengths, else this super's
        defaults; IPv4 first) by best fit, record it and return them. InvalidRequestError (400)
        for lengths or families this super cannot serve, ExhaustedError (422) without room."""
        lengths = lengths_for_child(self.network_id, self.families(), self.child_lengths(),
                                requested, address_family)
        chosen = choose_child_prefixes(self.pools.values(), lengths, address_family)
        self.trigger_event(
            self.ChildNetworkAllocated, child_id=child_id, prefixes=chosen, vrf=vrf,
            project_id=project_id, name=name,
            requested_lengths={f.value: n for f, n in requested.items()},
            address_family=address_family.value if address_family else None, context=context,
        )
        return chosen

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
        if self.is_child and not self.shared and project_id != self.project_id:
            raise UnprocessableError(
                f'can not allocate ip for project "{project_id}" because network belongs to '
                f'"{self.project_id}" and the network is not shared'
            )
        check_ip_type(ip_type)
        pool, address = choose_address(self.network_id, self.pools.values(), address_family, specific)
        self.trigger_event(
            self.IPAcquired, address=str(address), prefix=pool.prefix,
            family=pool.family.value, allocation_uuid=allocation_uuid, project_id=project_id,
            name=name, description=description, type=ip_type,
            tags=ip_tags(tags or [], machine_id), machine_id=machine_id,
            specific=specific is not None, context=context,
        )
        return self.pending_events[-1]  # type: ignore[return-value]

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
        check_type_change(facts.type, ip_type)
        self.trigger_event(
            self.IPUpdated, address=address, allocation_uuid=facts.allocation_uuid, name=name,
            description=description, type=ip_type,
            tags=None if tags is None else sorted(set(tags)), context=context,
        )
        return self.pending_events[-1]  # type: ignore[return-value]

    # -- update and delete -------------------------------------------------------------------

    def revise(self, request: UpdateRequest, context: dict[str, Any]) -> tuple[list[str], list[str]]:
        """Check an update (SPEC 5) and record it: prefixes removed (422 while in use), prefixes
        added, attributes changed. Returns (added, removed) prefixes, for the namespace."""
        revision = check_revision(self, request)
        removed = [p for p in self.prefixes if p not in revision.prefixes]
        added = [p for p in revision.prefixes if p not in self.prefixes]
        for prefix in removed:
            self.remove_prefix(prefix, context)
        for prefix in added:
            self.add_prefix(prefix, context)
        self.update(revision.changes, context)
        return added, removed

    def update(self, changes: NetworkChanges, context: dict[str, Any]) -> None:
        """Record changed attributes (already validated); nothing is recorded when none changed."""
        fields = {name: getattr(changes, name) for name in UPDATABLE}
        fields = {k: (v if v is not None and v != getattr(self, k) else None) for k, v in fields.items()}
        if any(v is not None for v in fields.values()):
            self.trigger_event(self.NetworkUpdated, context=context, **fields)

    def add_prefix(self, prefix: str, context: dict[str, Any]) -> None:
        self.trigger_event(self.PrefixAdded, prefix=prefix, context=context)

    def remove_prefix(self, prefix: str, context: dict[str, Any]) -> None:
        """Remove a prefix; refused (422) while it holds acquired IPs or child networks."""
        self.check_removable(prefix)
        self.trigger_event(self.PrefixRemoved, prefix=prefix, context=context)

    def delete(self, context: dict[str, Any]) -> None:
        """Record the deletion (checked by `check_deletable`)."""
        self.check_deletable()
        self.trigger_event(
            self.NetworkDeleted, prefixes=self.prefixes, vrf=self.vrf, parent_id=self.parent_id,
            context=context,
        )



def _parse(text: str) -> Prefix:
    return ipaddress.ip_network(text)
