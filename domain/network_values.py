"""The values a network is made of: its attributes (defined once, used by the spec, the events
and the aggregate's state), the changes an update may make, and the facts kept per address."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, NamedTuple
from uuid import NAMESPACE_URL, UUID, uuid5

MACHINE_TAG = "machine.metal-stack.io/id="
IP_TYPES = ("ephemeral", "static")


def network_uuid(network_id: str) -> UUID:
    """The aggregate id of the network with this (user-visible) id."""
    return uuid5(NAMESPACE_URL, f"ipam:network:{network_id}")


@dataclass(frozen=True, kw_only=True)
class NetworkAttributes:
    """What a network is, besides its id and prefixes. The events that create a network carry
    exactly these fields (flat, as they have been stored since 0.1.0), and the aggregate keeps
    them as its attributes."""

    name: str = ""
    description: str = ""
    partition_id: str = ""
    project_id: str = ""
    parent_id: str | None = None
    destination_prefixes: list[str] | tuple[str, ...] = ()
    additional_announcable_cidrs: list[str] | tuple[str, ...] = ()
    default_child_prefix_length: dict[str, int] | None = None
    private_super: bool = False
    underlay: bool = False
    nat: bool = False
    shared: bool = False
    vrf: int | None = None
    vrf_shared: bool = False
    labels: dict[str, str] | None = None

    def as_fields(self) -> dict[str, Any]:
        """The attributes as an event's fields (lists and maps, never None or tuples)."""
        return {
            **{name: getattr(self, name) for name in ATTRIBUTE_NAMES},
            "destination_prefixes": list(self.destination_prefixes),
            "additional_announcable_cidrs": list(self.additional_announcable_cidrs),
            "default_child_prefix_length": dict(self.default_child_prefix_length or {}),
            "labels": dict(self.labels or {}),
        }


ATTRIBUTE_NAMES: tuple[str, ...] = tuple(f.name for f in fields(NetworkAttributes))


@dataclass(frozen=True)
class NetworkChanges:
    """What an update may change; None leaves an attribute as it is."""

    name: str | None = None
    description: str | None = None
    labels: dict[str, str] | None = None
    shared: bool | None = None
    destination_prefixes: list[str] | None = None
    additional_announcable_cidrs: list[str] | None = None
    default_child_prefix_length: dict[str, int] | None = None


UPDATABLE: tuple[str, ...] = tuple(f.name for f in fields(NetworkChanges))


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
