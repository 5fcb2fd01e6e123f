"""The Network aggregate without a store: commands record their decisions in events, and
replaying those events rebuilds the same state without deciding again."""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Any

from eventsourcing.application import project_aggregate

from domain.addressing import Family
from domain.network import Network, NetworkAttributes, network_uuid

CONTEXT: dict[str, Any] = {"actor": "alice", "request_id": "r-1", "reason": "test"}


def network(network_id: str, *prefixes: str, **attributes: Any) -> Network:
    defaults: dict[str, Any] = {
        "name": network_id, "description": "", "partition_id": "p1", "project_id": "proj",
        "parent_id": None, "destination_prefixes": [], "additional_announcable_cidrs": [],
        "default_child_prefix_length": {}, "private_super": False, "underlay": False,
        "nat": False, "shared": False, "vrf": None, "vrf_shared": False, "labels": {},
    }
    return Network.create(network_id=network_id, prefixes=list(prefixes), context=CONTEXT,
                          attributes=NetworkAttributes(**{**defaults, **attributes}))


def seed_super() -> Network:
    return network("super", "10.0.0.0/16", "2001:db8:0:10::/64", private_super=True,
                   default_child_prefix_length={"IPv4": 22, "IPv6": 96})


def recorded(aggregate: Network) -> list[Any]:
    """The aggregate's new events, as the store would receive them."""
    return list(aggregate.collect_events())


def replay(events: list[Any]) -> Network:
    rebuilt = project_aggregate(None, events)
    assert isinstance(rebuilt, Network)
    return rebuilt


def state(aggregate: Network) -> dict[str, Any]:
    return {
        "id": aggregate.id, "version": aggregate.version, "network_id": aggregate.network_id,
        "prefixes": aggregate.prefixes, "pools": dict(aggregate.pools),
        "ips": dict(aggregate.ips.items()), "children": dict(aggregate.children.items()),
        "vrf": aggregate.vrf, "deleted": aggregate.deleted,
    }


def test_create_records_network_and_each_prefix() -> None:
    created = network("n", "10.0.0.0/24", "2001:db8::/64")
    events = recorded(created)
    assert [type(e) for e in events] == [Network.NetworkCreated, Network.PrefixAdded, Network.PrefixAdded]
    assert events[0].originator_id == network_uuid("n")
    assert [e.prefix for e in events[1:]] == ["10.0.0.0/24", "2001:db8::/64"]
    assert all(e.context == CONTEXT for e in events)


def test_acquire_ip_event_carries_the_chosen_address_and_request() -> None:
    net = network("n", "10.0.0.0/24")
    event = net.acquire_ip(project_id="proj", allocation_uuid="uuid-1", name="web",
                           description="front", ip_type="static", tags=["b", "a", "b"],
                           machine_id="m1", context=CONTEXT)
    assert isinstance(event, Network.IPAcquired)
    assert net.pending_events[-1] is event
    assert (event.address, event.prefix, event.family) == ("10.0.0.1", "10.0.0.0/24", "IPv4")
    assert (event.allocation_uuid, event.project_id, event.name, event.description, event.type) \
        == ("uuid-1", "proj", "web", "front", "static")
    assert event.tags == ["a", "b", "machine.metal-stack.io/id=m1"]
    assert (event.machine_id, event.specific, event.context) == ("m1", False, CONTEXT)
    assert event.originator_version == net.version


def test_allocating_a_child_decides_its_prefixes_and_records_them() -> None:
    parent = seed_super()
    before = len(parent.pending_events)
    chosen = parent.allocate_child(child_id="child-1", requested={}, address_family=None, vrf=7,
                                   project_id="proj", name="tenant", context=CONTEXT)
    assert chosen == ["10.0.0.0/22", "2001:db8:0:10::/96"]  # the super's default lengths
    assert len(parent.pending_events) == before + 1
    event = parent.pending_events[-1]
    assert isinstance(event, Network.ChildNetworkAllocated)
    assert (event.child_id, event.prefixes, event.vrf) == ("child-1", chosen, 7)
    assert (event.project_id, event.name, event.context) == ("proj", "tenant", CONTEXT)
    assert parent.children.get("child-1") == tuple(chosen)
    assert parent.consumption()["ipv4"]["used_prefixes"] == 1  # type: ignore[index]
    assert (event.requested_lengths, event.address_family) == ({}, None)


def test_a_child_with_asked_lengths_and_family_records_what_was_asked() -> None:
    parent = seed_super()
    chosen = parent.allocate_child(child_id="c", requested={Family.IPV6: 112},
                                   address_family=Family.IPV6, vrf=None, project_id="proj",
                                   name="", context=CONTEXT)
    event: Any = parent.pending_events[-1]
    assert chosen == ["2001:db8:0:10::/112"]
    assert (event.requested_lengths, event.address_family) == ({"IPv6": 112}, "IPv6")


def test_replaying_events_reproduces_the_same_state() -> None:
    parent = seed_super()
    parent.allocate_child(child_id="c1", requested={}, address_family=None, vrf=1,
                          project_id="proj", name="", context=CONTEXT)
    parent.allocate_child(child_id="c2", requested={Family.IPV4: 24}, address_family=Family.IPV4,
                          vrf=2, project_id="proj", name="", context=CONTEXT)
    parent.release_child("c1", 1, CONTEXT)
    for _ in range(3):
        parent.acquire_ip(project_id="proj", allocation_uuid="u", address_family=Family.IPV6,
                          context=CONTEXT)
    parent.release_ip("2001:db8:0:10::2", CONTEXT, allocation_uuid="u", project_id="proj")
    parent.update_ip("2001:db8:0:10::3", allocation_uuid="u", project_id="proj", name="db",
                     description=None, ip_type="static", tags=["x"], context=CONTEXT)

    rebuilt = replay(recorded(parent))
    assert state(rebuilt) == state(parent)
    assert rebuilt.consumption() == parent.consumption()
    assert rebuilt.capacity() == parent.capacity()
    assert rebuilt.ip_facts("2001:db8:0:10::3") == parent.ip_facts("2001:db8:0:10::3")


def test_replay_applies_recorded_address_instead_of_choosing_again() -> None:
    net = network("n", "10.0.0.0/24")
    net.acquire_ip(project_id="proj", allocation_uuid="u", context=CONTEXT)
    history = recorded(net)
    # an address an older algorithm might have chosen: replay must keep it, not pick .1
    last: Any = history[-1]
    assert (last.address, last.allocation_uuid) == ("10.0.0.1", "u")
    changed = dataclasses.replace(last, address="10.0.0.77")
    rebuilt = replay([*history[:-1], changed])
    assert list(rebuilt.ips) == ["10.0.0.77"]
    pool = rebuilt.pools["10.0.0.0/24"]
    assert int(ipaddress.ip_address("10.0.0.77")) in pool.used
    assert pool.lowest_free_address() == int(ipaddress.ip_address("10.0.0.1"))


def test_replay_carves_recorded_child_prefix_instead_of_best_fit() -> None:
    parent = seed_super()
    parent.allocate_child(child_id="c1", requested={}, address_family=Family.IPV4, vrf=3,
                          project_id="proj", name="", context=CONTEXT)
    history = recorded(parent)
    assert history[-1].prefixes == ["10.0.0.0/22"]
    changed = dataclasses.replace(history[-1], prefixes=["10.0.128.0/22"])
    rebuilt = replay([*history[:-1], changed])
    assert rebuilt.children.get("c1") == ("10.0.128.0/22",)
    free = rebuilt.pools["10.0.0.0/16"].free_prefixes()
    assert "10.0.0.0/17" in free and "10.0.128.0/22" not in free
    assert rebuilt.allocate_child(child_id="c2", requested={}, address_family=Family.IPV4, vrf=4,
                                  project_id="proj", name="", context=CONTEXT) == ["10.0.132.0/22"]
