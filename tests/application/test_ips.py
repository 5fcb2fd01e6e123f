"""Acquiring IPs (SPEC 4): which family, which address, which errors, and the read side after."""

from __future__ import annotations

from typing import Any

import pytest

from application.context import RequestContext
from application.ports import IPFilter
from application.service import IpamApplication
from domain.errors import (
    ConflictError,
    ExhaustedError,
    InvalidRequestError,
    NetworkNotFoundError,
    UnprocessableError,
)
from domain.network_values import NetworkAttributes
from tests.conftest import new_network

PROJECT = "project-a"
OTHER = "project-b"
MACHINE_TAG = "machine.metal-stack.io/id="


def create(app: IpamApplication, ctx: RequestContext, network_id: str, *prefixes: str,
           **attributes: Any) -> dict[str, Any]:
    return new_network(app, ctx, network_id=network_id, prefixes=list(prefixes),
                       project_id=PROJECT, **attributes)


def create_super(app: IpamApplication, ctx: RequestContext) -> dict[str, Any]:
    return app.create_network(
        context=ctx,
        network_id="super",
        prefixes=["10.0.0.0/16", "2001:db8::/48"],
        attributes=NetworkAttributes(partition_id="p1", private_super=True, default_child_prefix_length={"IPv4": 22, "IPv6": 64}),
    )


def acquire(app: IpamApplication, ctx: RequestContext, network_id: str, **kwargs: Any) -> dict[str, Any]:
    """Acquire and check that the read side agrees with the command's answer."""
    kwargs.setdefault("project_id", PROJECT)
    ip = app.acquire_ip(context=ctx, network_id=network_id, **kwargs)
    assert app.get_ip(ip["address"]) == ip
    assert app.list_ips(IPFilter(address=ip["address"])) == [ip]
    return ip


def used_ips(app: IpamApplication, network_id: str, family: str = "ipv4") -> int:
    figures = app.get_network(network_id)["consumption"][family]
    assert figures is not None
    return int(figures["used_ips"])


def addresses(app: IpamApplication, network_id: str) -> list[str]:
    return [ip["address"] for ip in app.list_ips(IPFilter(network_id=network_id))]


def test_acquire_ip_raises_not_found_for_unknown_network(app: IpamApplication, ctx: RequestContext) -> None:
    with pytest.raises(NetworkNotFoundError):
        app.acquire_ip(context=ctx, network_id="nope", project_id=PROJECT)
    assert app.list_ips() == []


def test_acquire_ip_rejects_family_the_network_lacks(app: IpamApplication, ctx: RequestContext) -> None:
    create(app, ctx, "v4", "10.1.0.0/24")
    with pytest.raises(InvalidRequestError) as error:
        app.acquire_ip(context=ctx, network_id="v4", project_id=PROJECT, address_family="IPv6")
    assert error.value.message == "there is no prefix for the given addressfamily:IPv6 present in network:v4"
    assert used_ips(app, "v4") == 2


def test_acquire_ip_rejects_specific_ip_with_address_family(app: IpamApplication, ctx: RequestContext) -> None:
    create(app, ctx, "v4", "10.1.0.0/24")
    with pytest.raises(InvalidRequestError) as error:
        app.acquire_ip(context=ctx, network_id="v4", project_id=PROJECT, specific_ip="10.1.0.5",
                       address_family="IPv4")
    assert error.value.message == "it is not possible to specify specificIP and addressfamily"
    assert app.list_ips() == []


def test_acquire_ip_in_unshared_child_serves_only_its_project(app: IpamApplication, ctx: RequestContext) -> None:
    create_super(app, ctx)
    child = app.allocate_child_network(context=ctx, partition_id="p1", project_id=PROJECT)
    child_id = child["network_id"]
    with pytest.raises(UnprocessableError) as error:
        app.acquire_ip(context=ctx, network_id=child_id, project_id=OTHER)
    assert error.value.message == (
        f'can not allocate ip for project "{OTHER}" because network belongs to "{PROJECT}" '
        "and the network is not shared"
    )
    ip = acquire(app, ctx, child_id)
    assert (ip["address"], ip["project_id"]) == ("10.0.0.1", PROJECT)
    assert used_ips(app, child_id) == 3


def test_acquire_ip_in_shared_child_serves_any_project(app: IpamApplication, ctx: RequestContext) -> None:
    create_super(app, ctx)
    child = app.allocate_child_network(context=ctx, partition_id="p1", project_id=PROJECT, shared=True)
    ip = acquire(app, ctx, child["network_id"], project_id=OTHER)
    assert (ip["address"], ip["project_id"]) == ("10.0.0.1", OTHER)
    assert app.list_ips(IPFilter(project_id=OTHER)) == [ip]


def test_acquire_ip_defaults_to_ipv4_on_dual_stack(app: IpamApplication, ctx: RequestContext) -> None:
    create(app, ctx, "dual", "2001:db8:1::/64", "10.1.0.0/24")
    ip = acquire(app, ctx, "dual")
    assert (ip["address"], ip["family"], ip["prefix"]) == ("10.1.0.1", "IPv4", "10.1.0.0/24")
    ipv6 = acquire(app, ctx, "dual", address_family="ipv6")
    assert (ipv6["address"], ipv6["family"]) == ("2001:db8:1::1", "IPv6")
    assert used_ips(app, "dual", "ipv4") == 3
    assert used_ips(app, "dual", "ipv6") == 2


def test_acquire_ip_defaults_to_ipv6_on_ipv6_only_network(app: IpamApplication, ctx: RequestContext) -> None:
    create(app, ctx, "v6", "2001:db8:2::/64")
    ip = acquire(app, ctx, "v6")
    assert (ip["address"], ip["family"]) == ("2001:db8:2::1", "IPv6")
    assert used_ips(app, "v6", "ipv6") == 2


def test_acquire_ip_takes_lowest_free_and_reuses_freed_lowest_first(
    app: IpamApplication, ctx: RequestContext
) -> None:
    create(app, ctx, "n", "10.1.0.0/24")
    taken = [acquire(app, ctx, "n")["address"] for _ in range(4)]
    assert taken == ["10.1.0.1", "10.1.0.2", "10.1.0.3", "10.1.0.4"]
    app.release_ip("10.1.0.3", context=ctx)
    app.release_ip("10.1.0.2", context=ctx)
    assert used_ips(app, "n") == 4
    again = [acquire(app, ctx, "n")["address"] for _ in range(3)]
    assert again == ["10.1.0.2", "10.1.0.3", "10.1.0.5"]
    assert addresses(app, "n") == [f"10.1.0.{i}" for i in range(1, 6)]
    assert used_ips(app, "n") == 7


def test_acquire_ip_moves_to_next_prefix_of_family_when_first_is_full(
    app: IpamApplication, ctx: RequestContext
) -> None:
    create(app, ctx, "n", "10.1.0.0/30", "10.2.0.0/30")
    taken = [acquire(app, ctx, "n")["address"] for _ in range(3)]
    assert taken == ["10.1.0.1", "10.1.0.2", "10.2.0.1"]


def test_acquire_ip_refused_in_prefix_with_children_until_last_child_released(
    app: IpamApplication, ctx: RequestContext
) -> None:
    create_super(app, ctx)
    first = app.allocate_child_network(context=ctx, partition_id="p1", project_id=PROJECT,
                                       address_family="IPv4")
    second = app.allocate_child_network(context=ctx, partition_id="p1", project_id=PROJECT,
                                        address_family="IPv4")
    with pytest.raises(ExhaustedError) as error:
        app.acquire_ip(context=ctx, network_id="super", project_id=PROJECT)
    assert error.value.message == "no more ips in network super for addressfamily IPv4"
    with pytest.raises(UnprocessableError) as refused:  # SPEC 4.4: 422
        app.acquire_ip(context=ctx, network_id="super", project_id=PROJECT, specific_ip="10.0.200.1")
    assert refused.value.message == "prefix 10.0.0.0/16 has childprefixes, acquire ip not possible"
    # the IPv6 prefix has no children and still hands out addresses
    assert acquire(app, ctx, "super", address_family="IPv6")["address"] == "2001:db8::1"

    app.delete_network(first["network_id"], context=ctx, only_child=True)
    with pytest.raises(ExhaustedError):
        app.acquire_ip(context=ctx, network_id="super", project_id=PROJECT)
    app.delete_network(second["network_id"], context=ctx, only_child=True)
    assert acquire(app, ctx, "super")["address"] == "10.0.0.1"
    assert acquire(app, ctx, "super", specific_ip="10.0.200.1")["address"] == "10.0.200.1"
    assert used_ips(app, "super") == 4


def test_acquire_ip_hands_out_ipv4_slash24_without_network_and_broadcast(
    app: IpamApplication, ctx: RequestContext
) -> None:
    create(app, ctx, "n", "10.1.0.0/24")
    taken = [app.acquire_ip(context=ctx, network_id="n", project_id=PROJECT)["address"]
             for _ in range(254)]
    assert taken == [f"10.1.0.{i}" for i in range(1, 255)]
    with pytest.raises(ExhaustedError) as error:
        app.acquire_ip(context=ctx, network_id="n", project_id=PROJECT)
    assert error.value.message == "no more ips in network n for addressfamily IPv4"
    assert addresses(app, "n") == taken
    assert used_ips(app, "n") == 256


@pytest.mark.parametrize("prefix", ["10.1.0.0/31", "10.1.0.7/32"])
def test_acquire_ip_hands_out_nothing_in_ipv4_slash31_and_slash32(
    app: IpamApplication, ctx: RequestContext, prefix: str
) -> None:
    create(app, ctx, "n", prefix)
    with pytest.raises(ExhaustedError) as error:
        app.acquire_ip(context=ctx, network_id="n", project_id=PROJECT)
    assert error.value.message == "no more ips in network n for addressfamily IPv4"
    with pytest.raises(ConflictError) as conflict:
        app.acquire_ip(context=ctx, network_id="n", project_id=PROJECT,
                       specific_ip=prefix.split("/")[0])
    assert conflict.value.message == \
        f'Conflict ip already allocated: {prefix.split("/")[0]} in network with id "n"'
    assert app.list_ips() == []


def test_acquire_ip_hands_out_ipv6_slash127_second_address(app: IpamApplication, ctx: RequestContext) -> None:
    create(app, ctx, "n", "2001:db8::/127")
    assert acquire(app, ctx, "n")["address"] == "2001:db8::1"
    with pytest.raises(ExhaustedError) as error:
        app.acquire_ip(context=ctx, network_id="n", project_id=PROJECT)
    assert error.value.message == "no more ips in network n for addressfamily IPv6"
    assert used_ips(app, "n", "ipv6") == 2


def test_acquire_ip_allows_last_ipv6_address(app: IpamApplication, ctx: RequestContext) -> None:
    create(app, ctx, "n", "2001:db8::/126", "2001:db8:1::/64")
    taken = [acquire(app, ctx, "n")["address"] for _ in range(3)]
    assert taken == ["2001:db8::1", "2001:db8::2", "2001:db8::3"]
    last = acquire(app, ctx, "n", specific_ip="2001:db8:1:0:ffff:ffff:ffff:ffff")
    assert (last["address"], last["prefix"]) == ("2001:db8:1:0:ffff:ffff:ffff:ffff", "2001:db8:1::/64")


def test_acquire_specific_ip_outside_prefixes_is_unprocessable(
    app: IpamApplication, ctx: RequestContext
) -> None:
    create(app, ctx, "n", "10.1.0.0/24")
    for outside in ("10.1.1.1", "2001:db8::1"):
        with pytest.raises(UnprocessableError) as error:
            app.acquire_ip(context=ctx, network_id="n", project_id=PROJECT, specific_ip=outside)
        assert error.value.message == ("specific ip not contained in any of the defined prefixes: "
                                       f'{outside} is not in network with id "n" (10.1.0.0/24)')
    assert used_ips(app, "n") == 2


@pytest.mark.parametrize("taken", ["10.1.0.5", "10.1.0.0", "10.1.0.255"])
def test_acquire_specific_ip_taken_or_reserved_conflicts(
    app: IpamApplication, ctx: RequestContext, taken: str
) -> None:
    create(app, ctx, "n", "10.1.0.0/24")
    first = acquire(app, ctx, "n", specific_ip="10.1.0.5")
    assert first["address"] == "10.1.0.5"
    with pytest.raises(ConflictError) as error:
        app.acquire_ip(context=ctx, network_id="n", project_id=PROJECT, specific_ip=taken)
    assert error.value.message == f'Conflict ip already allocated: {taken} in network with id "n"'
    assert app.list_ips() == [first]
    assert used_ips(app, "n") == 3


@pytest.mark.parametrize(("given", "stored"), [("static", "static"), ("ephemeral", "ephemeral"),
                                               ("", "ephemeral")])
def test_acquire_ip_records_type(
    app: IpamApplication, ctx: RequestContext, given: str, stored: str
) -> None:
    create(app, ctx, "n", "10.1.0.0/24")
    ip = acquire(app, ctx, "n", ip_type=given)
    assert ip["type"] == stored
    assert app.list_ips(IPFilter(type=stored)) == [ip]


def test_acquire_ip_rejects_unknown_type(app: IpamApplication, ctx: RequestContext) -> None:
    create(app, ctx, "n", "10.1.0.0/24")
    with pytest.raises(InvalidRequestError):
        app.acquire_ip(context=ctx, network_id="n", project_id=PROJECT, ip_type="floating")
    assert app.list_ips() == []
    assert used_ips(app, "n") == 2


def test_acquire_ip_adds_machine_tag_and_sorts_unique_tags(app: IpamApplication, ctx: RequestContext) -> None:
    create(app, ctx, "n", "10.1.0.0/24")
    ip = acquire(app, ctx, "n", machine_id="m1", tags=["zone=b", "a=1", "zone=b", MACHINE_TAG + "m1"],
                 name="web", description="front")
    assert ip["tags"] == ["a=1", MACHINE_TAG + "m1", "zone=b"]
    assert (ip["name"], ip["description"], ip["network_id"]) == ("web", "front", "n")
    assert ip["allocation_uuid"]
    assert app.list_ips(IPFilter(machine_id="m1")) == [ip]


def test_acquire_specific_ip_answers_canonical_text(app: IpamApplication, ctx: RequestContext) -> None:
    create(app, ctx, "n", "2001:db8::/64")
    ip = acquire(app, ctx, "n", specific_ip="2001:0db8::0001")
    assert ip["address"] == "2001:db8::1"
    assert app.get_ip("2001:0DB8:0:0::1") == ip
    assert acquire(app, ctx, "n")["address"] == "2001:db8::2"
