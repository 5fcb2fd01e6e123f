"""Read-side queries (SPEC 7): every IPFilter and NetworkFilter field, alone and combined."""

from __future__ import annotations

from typing import Any

import pytest

from application.context import RequestContext
from application.ports import IPFilter, NetworkFilter
from application.service import IpamApplication
from domain.network_values import NetworkAttributes

A, B = "project-a", "project-b"
MACHINE_TAG = "machine.metal-stack.io/id="


@pytest.fixture
def acquired(app: IpamApplication, ctx: RequestContext) -> dict[str, dict[str, Any]]:
    """Three IPs in two networks: v4 and v6 in `a` (project A), v4 in `b` (project B)."""
    app.create_network(
        context=ctx,
        network_id="a",
        prefixes=["10.1.0.0/24", "2001:db8::/64"],
        attributes=NetworkAttributes(project_id=A),
    )
    app.create_network(
        context=ctx,
        network_id="b",
        prefixes=["10.2.0.0/24"],
        attributes=NetworkAttributes(project_id=B),
    )
    web = app.acquire_ip(context=ctx, network_id="a", project_id=A, name="web", tags=["t=1"],
                         machine_id="m1", ip_type="static")
    db = app.acquire_ip(context=ctx, network_id="a", project_id=A, name="db",
                        tags=["t=2", "t=1"], address_family="IPv6")
    other = app.acquire_ip(context=ctx, network_id="b", project_id=B, name="web")
    return {"web": web, "db": db, "other": other}


def names(found: list[dict[str, Any]], acquired: dict[str, dict[str, Any]]) -> list[str]:
    by_address = {ip["address"]: name for name, ip in acquired.items()}
    return [by_address[ip["address"]] for ip in found]


@pytest.mark.parametrize(("flt", "expected"), [
    (IPFilter(), ["web", "other", "db"]),
    (IPFilter(address="10.1.0.1"), ["web"]),
    (IPFilter(name="web"), ["web", "other"]),
    (IPFilter(network_id="a"), ["web", "db"]),
    (IPFilter(project_id=B), ["other"]),
    (IPFilter(type="static"), ["web"]),
    (IPFilter(type="ephemeral"), ["other", "db"]),
    (IPFilter(tags=("t=1",)), ["web", "db"]),
    (IPFilter(tags=("t=1", "t=2")), ["db"]),
    (IPFilter(tags=(MACHINE_TAG + "m1",)), ["web"]),
    (IPFilter(machine_id="m1"), ["web"]),
    (IPFilter(network_prefix="2001:db8::/64"), ["db"]),
    (IPFilter(network_prefix="10.2.0.0/24"), ["other"]),
    (IPFilter(address_family="IPv6"), ["db"]),
    (IPFilter(address_family="IPv4"), ["web", "other"]),
    (IPFilter(name="web", project_id=A), ["web"]),
    (IPFilter(name="db", address_family="IPv4"), []),
    (IPFilter(machine_id="m2"), []),
])
def test_list_ips_applies_each_filter(
    app: IpamApplication, acquired: dict[str, dict[str, Any]], flt: IPFilter, expected: list[str]
) -> None:
    assert names(app.list_ips(flt), acquired) == expected


def test_list_ips_by_allocation_uuid_finds_that_ip(
    app: IpamApplication, acquired: dict[str, dict[str, Any]]
) -> None:
    db = acquired["db"]
    assert app.list_ips(IPFilter(allocation_uuid=db["allocation_uuid"])) == [db]
    assert app.list_ips(IPFilter(allocation_uuid="no-such-uuid")) == []


@pytest.fixture
def networks(app: IpamApplication, ctx: RequestContext) -> dict[str, str]:
    """A dual-stack private super with one child, an external NAT network, an underlay and an
    IPv6-only network; returns their ids by role."""
    app.create_network(
        context=ctx,
        network_id="super",
        prefixes=["10.0.0.0/16", "2001:db8::/48"],
        attributes=NetworkAttributes(name="super", partition_id="p1", private_super=True, default_child_prefix_length={"IPv4": 22, "IPv6": 64}),
    )
    child = app.allocate_child_network(context=ctx, partition_id="p1", project_id=A, name="tenant",
                                       labels={"env": "prod"})
    app.create_network(
        context=ctx,
        network_id="internet",
        prefixes=["185.1.0.0/24"],
        attributes=NetworkAttributes(name="internet", destination_prefixes=["0.0.0.0/0"], nat=True, vrf=104009, labels={"env": "prod", "kind": "ext"}),
    )
    app.create_network(
        context=ctx,
        network_id="underlay",
        prefixes=["10.255.0.0/24"],
        attributes=NetworkAttributes(partition_id="p1", underlay=True),
    )
    app.create_network(
        context=ctx,
        network_id="v6",
        prefixes=["2001:db9::/64"],
        attributes=NetworkAttributes(project_id=B),
    )
    return {"super": "super", "child": child["network_id"], "internet": "internet",
            "underlay": "underlay", "v6": "v6"}


@pytest.mark.parametrize(("flt", "expected"), [
    (NetworkFilter(), ["child", "internet", "super", "underlay", "v6"]),
    (NetworkFilter(id="v6"), ["v6"]),
    (NetworkFilter(name="tenant"), ["child"]),
    (NetworkFilter(partition_id="p1"), ["child", "super", "underlay"]),
    (NetworkFilter(project_id=A), ["child"]),
    (NetworkFilter(parent_id="super"), ["child"]),
    (NetworkFilter(private_super=True), ["super"]),
    (NetworkFilter(private_super=False), ["child", "internet", "underlay", "v6"]),
    (NetworkFilter(underlay=True), ["underlay"]),
    (NetworkFilter(nat=True), ["internet"]),
    (NetworkFilter(vrf=104009), ["internet"]),
    (NetworkFilter(prefixes=("10.0.0.0/16",)), ["super"]),
    (NetworkFilter(prefixes=("10.0.0.0/16", "2001:db8::/48")), ["super"]),
    (NetworkFilter(prefixes=("10.0.0.0/16", "2001:db9::/64")), []),
    (NetworkFilter(prefixes=("10.0.0.0/22",)), ["child"]),
    (NetworkFilter(destination_prefixes=("0.0.0.0/0",)), ["internet"]),
    (NetworkFilter(labels={"env": "prod"}), ["child", "internet"]),
    (NetworkFilter(labels={"env": "prod", "kind": "ext"}), ["internet"]),
    (NetworkFilter(labels={"env": "dev"}), []),
    (NetworkFilter(address_family="IPv6"), ["child", "super", "v6"]),
    (NetworkFilter(address_family="IPv4"), ["child", "internet", "super", "underlay"]),
    (NetworkFilter(partition_id="p1", underlay=False), ["child", "super"]),
])
def test_list_networks_applies_each_filter(
    app: IpamApplication, networks: dict[str, str], flt: NetworkFilter, expected: list[str]
) -> None:
    role = {network_id: name for name, network_id in networks.items()}
    found = sorted(role[doc["network_id"]] for doc in app.list_networks(flt))
    assert found == expected


def test_list_networks_by_vrf_finds_allocated_child(app: IpamApplication, networks: dict[str, str]) -> None:
    child = app.get_network(networks["child"])
    assert child["vrf"] is not None
    found = app.list_networks(NetworkFilter(vrf=child["vrf"]))
    assert [doc["network_id"] for doc in found] == [networks["child"]]
    assert found == [child]
