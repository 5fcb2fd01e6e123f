"""Frozen views the use cases return: never live aggregates.

`network_document` is the one place a network's public shape is computed. The command path
feeds it the aggregate's state, the read-model projection feeds it the state folded from the
event log, so a write's response and a later read cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from domain.addressing import Family
from domain.allocation import PrefixPool
from domain.consumption import capacity, consumption
from domain.network import Network
from domain.network_values import ATTRIBUTE_NAMES

ATTRIBUTES = ("network_id", *ATTRIBUTE_NAMES)  # what a network document shows of its attributes


def network_type(attrs: dict[str, Any]) -> str:
    """metal-stack's apiv2 network type."""
    if attrs["underlay"]:
        return "underlay"
    if attrs["private_super"]:
        return "super"
    if attrs["parent_id"]:
        return "child-shared" if attrs["shared"] else "child"
    return "external"


def network_document(
    attrs: dict[str, Any], pools: Iterable[PrefixPool], created: datetime, changed: datetime,
    version: int,
) -> dict[str, Any]:
    """A network's full public state, consumption included, as plain Python values."""
    pools = list(pools)
    prefixes = [p.prefix for p in pools]  # stored order (a child's: IPv4 first)
    lengths = {Family(k): v for k, v in attrs["default_child_prefix_length"].items()}
    return {
        **{name: attrs[name] for name in ATTRIBUTES},
        "prefixes": prefixes,
        "network_type": network_type(attrs),
        "nat_type": "ipv4-masq" if attrs["nat"] else "none",
        "consumption": consumption(pools),
        "capacity": capacity(pools, lengths),
        "created": created,
        "changed": changed,
        "version": version,
    }


def network_attributes(network: Network) -> dict[str, Any]:
    return {name: getattr(network, name) for name in ATTRIBUTES}


def network_view(network: Network) -> dict[str, Any]:
    """The public state of a live aggregate (after its pending events)."""
    return network_document(
        network_attributes(network), network.pools.values(),
        network.recreated_on or network.created_on, network.modified_on, network.version,
    )


def ip_document(event: Network.IPAcquired, network_id: str) -> dict[str, Any]:
    """An IP's public state right after it was acquired."""
    return {
        "address": event.address,
        "allocation_uuid": event.allocation_uuid,
        "network_id": network_id,
        "project_id": event.project_id,
        "name": event.name,
        "description": event.description,
        "type": event.type,
        "tags": list(event.tags),
        "family": event.family,
        "prefix": event.prefix,
        "created": event.timestamp,
        "changed": event.timestamp,
    }


def apply_ip_update(document: dict[str, Any], event: Network.IPUpdated) -> dict[str, Any]:
    """An IP's public state after an update."""
    updated = dict(document)
    for name in ("name", "description", "tags"):
        value = getattr(event, name)
        if value is not None:
            updated[name] = list(value) if name == "tags" else value
    updated["type"] = event.type
    updated["changed"] = event.timestamp
    return updated
