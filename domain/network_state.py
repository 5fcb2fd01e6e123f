"""What a network holds and what can be read of it, without changing it: the attributes,
the prefix pools with their acquired addresses and child blocks, and the figures and lookups the
rules and views need. `domain.network.Network` adds the events and the commands."""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Any

from domain.addressing import Address, Family, Prefix
from domain.allocation import PrefixPool
from domain.consumption import capacity, consumption
from domain.errors import InUseError, IPNotFoundError
from domain.network_values import IPFacts
from domain.persistent import PersistentMap


class NetworkState:
    """The state of a network (set by its events)."""

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
    deleted: bool
    recreated_on: datetime | None
    pools: dict[str, PrefixPool]
    ips: PersistentMap[IPFacts]  # per acquired address
    children: PersistentMap[tuple[str, ...]]  # child id -> its prefixes

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

    def check_deletable(self) -> None:
        """Raise InUseError (422) while the network has children or acquired IPs."""
        if len(self.children):
            raise InUseError("network cannot be deleted because there are children of this network")
        self.check_no_usage()

    def check_removable(self, prefix: str) -> None:
        """Raise InUseError (422) while the prefix holds acquired IPs or child networks."""
        pool = self.pools[prefix]
        first = pool.first_acquired_address()
        if first is not None:
            address = type(pool.network.network_address)(first)
            raise InUseError(f"prefix {prefix} has ip {address} in use, it can not be removed")
        if pool.children:
            raise InUseError(
                f"prefix {prefix} has child network {self.child_in(prefix)}, it can not be removed"
            )

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


def _parse(text: str) -> Prefix:
    return ipaddress.ip_network(text)
