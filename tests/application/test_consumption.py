"""Consumption figures (SPEC 6): go-ipam's compatible numbers and our `capacity` beside them.

Every figure is checked on the command's answer and on the read side, which must agree.
"""

from __future__ import annotations

from typing import Any

import pytest

from application.context import RequestContext
from application.service import IpamApplication
from domain.network_values import NetworkAttributes
from tests.conftest import SEED_PROJECT, SEED_SUPER

CAP = 2_147_483_647


def figures(available_ips: int, available_prefixes: int, used_ips: int, used_prefixes: int) -> dict[str, int]:
    return {"available_ips": available_ips, "available_prefixes": available_prefixes,
            "used_ips": used_ips, "used_prefixes": used_prefixes}


def create(app: IpamApplication, ctx: RequestContext, *prefixes: str) -> dict[str, Any]:
    return app.create_network(context=ctx, network_id="n", prefixes=list(prefixes))


def consumption(app: IpamApplication, network_id: str) -> dict[str, Any]:
    return app.get_network(network_id)["consumption"]  # type: ignore[no-any-return]


def create_seed_super(app: IpamApplication, ctx: RequestContext) -> dict[str, Any]:
    return app.create_network(
        context=ctx,
        network_id=SEED_SUPER["id"],
        prefixes=SEED_SUPER["prefixes"],
        attributes=NetworkAttributes(name=SEED_SUPER["name"], description=SEED_SUPER["description"], partition_id=SEED_SUPER["partitionid"], private_super=True, default_child_prefix_length=SEED_SUPER["defaultchildprefixlength"]),
    )


def test_seed_example_child_and_super_consumption_match_digit_for_digit(
    app: IpamApplication, ctx: RequestContext
) -> None:
    create_seed_super(app, ctx)
    child = app.allocate_child_network(context=ctx, partition_id="mini-lab", project_id=SEED_PROJECT,
                                       name="my-node-network")
    assert child["prefixes"] == ["10.0.0.0/22", "2001:db8:0:10::/96"]
    expected_child = {"ipv4": figures(1024, 256, 2, 0), "ipv6": figures(CAP, 1073741824, 1, 0)}
    assert child["consumption"] == expected_child
    assert consumption(app, child["network_id"]) == expected_child
    assert consumption(app, SEED_SUPER["id"]) == {
        "ipv4": figures(65536, 16128, 2, 1), "ipv6": figures(CAP, CAP, 1, 1),
    }


@pytest.mark.parametrize(("prefix", "available_ips"), [
    ("2001:db8::8000:0/97", 2147483648),
    ("2001:db8::/96", CAP),
    ("2001:db8::/64", CAP),
    ("2001:db8::/126", 4),
    ("10.1.0.0/24", 256),
    ("10.1.0.0/32", 1),
])
def test_available_ips_is_prefix_size_capped_beyond_31_host_bits(
    app: IpamApplication, ctx: RequestContext, prefix: str, available_ips: int
) -> None:
    family = "ipv6" if ":" in prefix else "ipv4"
    created = create(app, ctx, prefix)
    assert created["consumption"][family]["available_ips"] == available_ips
    assert consumption(app, "n")[family]["available_ips"] == available_ips


@pytest.mark.parametrize(("prefix", "used_ips"), [
    ("10.1.0.0/24", 2), ("10.1.0.0/31", 2), ("10.1.0.0/32", 1),
    ("2001:db8::/64", 1), ("2001:db8::/128", 1),
])
def test_used_ips_counts_reserved_addresses_of_fresh_prefix(
    app: IpamApplication, ctx: RequestContext, prefix: str, used_ips: int
) -> None:
    family = "ipv6" if ":" in prefix else "ipv4"
    assert create(app, ctx, prefix)["consumption"][family]["used_ips"] == used_ips
    assert consumption(app, "n")[family]["used_ips"] == used_ips


def test_used_ips_follows_acquire_and_release_but_available_ips_does_not(
    app: IpamApplication, ctx: RequestContext
) -> None:
    create(app, ctx, "10.1.0.0/24", "2001:db8::/64")
    for _ in range(3):
        app.acquire_ip(context=ctx, network_id="n", project_id="p")
    app.acquire_ip(context=ctx, network_id="n", project_id="p", address_family="IPv6")
    app.release_ip("10.1.0.2", context=ctx)
    assert consumption(app, "n") == {"ipv4": figures(256, 64, 4, 0), "ipv6": figures(CAP, CAP, 2, 0)}


def test_absent_family_reports_none(app: IpamApplication, ctx: RequestContext) -> None:
    created = create(app, ctx, "10.1.0.0/24")
    assert created["consumption"] == {"ipv4": figures(256, 64, 2, 0), "ipv6": None}
    assert created["capacity"]["ipv6"] is None
    only_v6 = app.create_network(context=ctx, network_id="v6", prefixes=["2001:db8::/120"])
    assert only_v6["consumption"] == {"ipv4": None, "ipv6": figures(256, 64, 1, 0)}
    assert consumption(app, "v6") == only_v6["consumption"]
    assert app.get_network("v6")["capacity"]["ipv4"] is None


@pytest.mark.parametrize(("prefix", "available_prefixes"), [
    ("10.1.0.0/24", 64), ("10.1.0.0/30", 1), ("10.1.0.0/31", 0), ("10.1.0.0/32", 0),
    ("2001:db8::/120", 64), ("2001:db8::/126", 1), ("2001:db8::/127", 0),
    ("2001:db8::/95", CAP), ("2001:db8::/48", CAP),
])
def test_available_prefixes_counts_small_blocks_capped_per_prefix(
    app: IpamApplication, ctx: RequestContext, prefix: str, available_prefixes: int
) -> None:
    family = "ipv6" if ":" in prefix else "ipv4"
    created = create(app, ctx, prefix)
    assert created["consumption"][family]["available_prefixes"] == available_prefixes
    assert consumption(app, "n")[family]["available_prefixes"] == available_prefixes


def test_figures_sum_uncapped_over_prefixes_of_a_family(app: IpamApplication, ctx: RequestContext) -> None:
    created = create(app, ctx, "10.1.0.0/24", "10.2.0.0/25", "2001:db8::/64", "2001:db8:1::/80",
                     "2001:db8:2::/96")
    # each IPv6 figure is capped per prefix, then summed: the /96 holds 2**30 /126 blocks
    expected = {"ipv4": figures(384, 96, 4, 0),
                "ipv6": figures(3 * CAP, 2 * CAP + 2**30, 3, 0)}
    assert created["consumption"] == expected
    assert consumption(app, "n") == expected


def test_used_and_available_prefixes_follow_child_allocation_and_release(
    app: IpamApplication, ctx: RequestContext
) -> None:
    app.create_network(
        context=ctx,
        network_id="super",
        prefixes=["10.0.0.0/24", "2001:db8::/120"],
        attributes=NetworkAttributes(partition_id="p1", private_super=True, default_child_prefix_length={"IPv4": 26, "IPv6": 122}),
    )
    first = app.allocate_child_network(context=ctx, partition_id="p1", project_id="p")
    second = app.allocate_child_network(context=ctx, partition_id="p1", project_id="p",
                                        address_family="IPv4", length={"IPv4": 28})
    assert first["consumption"] == {"ipv4": figures(64, 16, 2, 0), "ipv6": figures(64, 16, 1, 0)}
    assert second["consumption"] == {"ipv4": figures(16, 4, 2, 0), "ipv6": None}
    assert consumption(app, "super") == {
        "ipv4": figures(256, 64 - 16 - 4, 2, 2), "ipv6": figures(256, 64 - 16, 1, 1),
    }
    app.delete_network(first["network_id"], context=ctx, only_child=True)
    assert consumption(app, "super") == {
        "ipv4": figures(256, 64 - 4, 2, 1), "ipv6": figures(256, 64, 1, 0),
    }
    app.delete_network(second["network_id"], context=ctx, only_child=True)
    assert consumption(app, "super") == {
        "ipv4": figures(256, 64, 2, 0), "ipv6": figures(256, 64, 1, 0),
    }


def test_capacity_of_seed_super_after_allocations(app: IpamApplication, ctx: RequestContext) -> None:
    create_seed_super(app, ctx)
    for _ in range(2):
        app.allocate_child_network(context=ctx, partition_id="mini-lab", project_id=SEED_PROJECT)
    capacity = app.get_network(SEED_SUPER["id"])["capacity"]
    ipv4, ipv6 = capacity["ipv4"], capacity["ipv6"]
    assert (ipv4["total_ips"], ipv4["acquired_ips"], ipv4["child_prefixes"]) == ("65536", "0", 2)
    assert (ipv4["child_prefix_length"], ipv4["free_child_prefixes"]) == (22, "62")
    assert ipv4["largest_free_prefix"] == "10.0.128.0/17"
    assert ipv4["free_prefixes"] == [
        "10.0.8.0/21", "10.0.16.0/20", "10.0.32.0/19", "10.0.64.0/18", "10.0.128.0/17",
    ]
    # free: in no child and not taken (10.0.0.0 is inside the first child, 10.0.255.255 reserved)
    assert ipv4["free_space"] == str(65536 - 2 * 1024 - 1)
    assert (ipv6["total_ips"], ipv6["acquired_ips"], ipv6["child_prefixes"]) == (str(2**64), "0", 2)
    assert (ipv6["child_prefix_length"], ipv6["free_child_prefixes"]) == (96, str(2**32 - 2))
    assert ipv6["largest_free_prefix"] == "2001:db8:0:10:8000::/65"
    assert ipv6["free_prefixes"][0] == "2001:db8:0:10:0:2::/95"
    assert len(ipv6["free_prefixes"]) == 16  # the first 16 of 31 free blocks
    assert ipv6["free_prefix_count"] == 31
    # the compatible figures are unchanged by the extra ones
    assert consumption(app, SEED_SUPER["id"]) == {
        "ipv4": figures(65536, 16384 - 512, 2, 2), "ipv6": figures(CAP, CAP, 1, 2),
    }


def test_capacity_counts_acquired_and_reserved_addresses(app: IpamApplication, ctx: RequestContext) -> None:
    create(app, ctx, "10.1.0.0/24", "2001:db8::/64")
    for _ in range(3):
        app.acquire_ip(context=ctx, network_id="n", project_id="p")
    capacity = app.get_network("n")["capacity"]
    assert (capacity["ipv4"]["acquired_ips"], capacity["ipv4"]["reserved_ips"]) == ("3", "2")
    assert (capacity["ipv6"]["acquired_ips"], capacity["ipv6"]["reserved_ips"]) == ("0", "1")
    # free addresses leave out the acquired and reserved ones; a prefix with acquired addresses
    # gives no children, so it offers no free prefixes (the allocator's view)
    assert (capacity["ipv4"]["free_space"], capacity["ipv6"]["free_space"]) == \
        (str(256 - 3 - 2), str(2**64 - 1))
    assert capacity["ipv4"]["free_prefixes"] == [] and capacity["ipv4"]["free_prefix_count"] == 0
    assert capacity["ipv4"]["largest_free_prefix"] is None
    assert capacity["ipv6"]["free_prefixes"] == ["2001:db8::/64"]
    assert "free_child_prefixes" not in capacity["ipv4"]  # no default child length here
