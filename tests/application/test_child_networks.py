"""Allocating and freeing child networks (SPEC 3): lengths, best fit, exhaustion, all or nothing."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from application.context import RequestContext
from application.ports import NetworkFilter
from application.service import IpamApplication
from domain.errors import (
    ExhaustedError,
    InUseError,
    InvalidRequestError,
    NetworkNotFoundError,
    NotFoundError,
)
from domain.network_values import NetworkAttributes
from tests.conftest import SEED_PROJECT, refused

PARTITION = "mini-lab"
PROJECT = SEED_PROJECT



def make_super(
    app: IpamApplication, ctx: RequestContext, prefixes: list[str], lengths: dict[str, int],
    network_id: str = "super",
) -> dict[str, Any]:
    created = app.create_network(
        context=ctx,
        network_id=network_id,
        prefixes=prefixes,
        attributes=NetworkAttributes(partition_id=PARTITION, private_super=True, default_child_prefix_length=lengths),
    )
    assert app.get_network(network_id) == created
    return created


def dual_super(app: IpamApplication, ctx: RequestContext) -> dict[str, Any]:
    return make_super(app, ctx, ["10.0.0.0/16", "2001:db8:0:10::/64"], {"IPv4": 22, "IPv6": 96})


def allocate(app: IpamApplication, ctx: RequestContext, **request: Any) -> dict[str, Any]:
    """Allocate a child and check that the read side agrees with the command's answer."""
    child = app.allocate_child_network(
        context=ctx, partition_id=request.pop("partition_id", PARTITION),
        project_id=request.pop("project_id", PROJECT), **request)
    assert app.get_network(child["network_id"]) == child
    return child


def free(app: IpamApplication, ctx: RequestContext, child: dict[str, Any]) -> None:
    app.delete_network(child["network_id"], context=ctx, only_child=True)
    refused(NetworkNotFoundError, lambda: app.get_network(child["network_id"]))


def children(app: IpamApplication) -> list[dict[str, Any]]:
    return app.list_networks(NetworkFilter(parent_id="super"))


def test_allocate_refused_without_private_super(app: IpamApplication, ctx: RequestContext) -> None:
    make_super(app, ctx, ["10.0.0.0/16"], {"IPv4": 22})
    refused(NotFoundError, lambda: app.allocate_child_network(
        context=ctx, partition_id="elsewhere", project_id=PROJECT))


@pytest.mark.parametrize(("partition", "project", "message"), [
    (PARTITION, "", "projectid should not be empty"),
    ("", PROJECT, "partitionid should not be empty"),
])
def test_allocate_refused_without_project_or_partition(
    app: IpamApplication, ctx: RequestContext, partition: str, project: str, message: str
) -> None:
    dual_super(app, ctx)
    assert refused(InvalidRequestError, lambda: app.allocate_child_network(
        context=ctx, partition_id=partition, project_id=project)) == message
    assert children(app) == []


def test_allocate_builds_child_from_request_and_super(app: IpamApplication, ctx: RequestContext) -> None:
    dual_super(app, ctx)
    child = allocate(app, ctx, name="node", description="nodes", labels={"a": "b"}, shared=True,
                     nat=True, destination_prefixes=["0.0.0.0/0"])
    assert child["prefixes"] == ["10.0.0.0/22", "2001:db8:0:10::/96"]
    assert (child["parent_id"], child["partition_id"], child["project_id"]) == ("super", PARTITION, PROJECT)
    assert (child["name"], child["description"], child["labels"]) == ("node", "nodes", {"a": "b"})
    assert (child["shared"], child["nat"], child["network_type"]) == (True, True, "child-shared")
    assert child["destination_prefixes"] == ["0.0.0.0/0"]
    assert (child["private_super"], child["default_child_prefix_length"]) == (False, {})
    assert child["vrf"] == 1


def test_allocate_merges_length_per_family(app: IpamApplication, ctx: RequestContext) -> None:
    dual_super(app, ctx)
    child = allocate(app, ctx, length={"IPv6": 112})
    assert child["prefixes"] == ["10.0.0.0/22", "2001:db8:0:10::/112"]
    child = allocate(app, ctx, length={"ipv4": 24, "iPv6": 100})
    assert child["prefixes"] == ["10.0.4.0/24", "2001:db8:0:10::1000:0/100"]


def test_allocate_refused_with_length_for_missing_family(
    app: IpamApplication, ctx: RequestContext
) -> None:
    make_super(app, ctx, ["10.0.0.0/16"], {"IPv4": 22})
    message = refused(InvalidRequestError, lambda: app.allocate_child_network(
        context=ctx, partition_id=PARTITION, project_id=PROJECT, length={"ipv6": 112}))
    assert message == "no prefix of addressfamily IPv6 in network super"
    assert children(app) == []


def test_allocate_refused_with_unknown_length_key(app: IpamApplication, ctx: RequestContext) -> None:
    dual_super(app, ctx)
    message = refused(InvalidRequestError, lambda: app.allocate_child_network(
        context=ctx, partition_id=PARTITION, project_id=PROJECT, length={"IPv5": 24}))
    assert "IPv5" in message


@pytest.mark.parametrize(("family", "expected"), [
    ("IPv4", ["10.0.0.0/22"]), ("ipv6", ["2001:db8:0:10::/96"]), ("IPV6", ["2001:db8:0:10::/96"]),
])
def test_allocate_with_addressfamily_gives_only_that_family(
    app: IpamApplication, ctx: RequestContext, family: str, expected: list[str]
) -> None:
    dual_super(app, ctx)
    child = allocate(app, ctx, address_family=family)
    assert child["prefixes"] == expected
    missing = "ipv6" if family == "IPv4" else "ipv4"
    assert child["consumption"][missing] is None


def test_allocate_refused_with_addressfamily_without_length(
    app: IpamApplication, ctx: RequestContext
) -> None:
    make_super(app, ctx, ["10.0.0.0/16"], {"IPv4": 22})
    message = refused(InvalidRequestError, lambda: app.allocate_child_network(
        context=ctx, partition_id=PARTITION, project_id=PROJECT, address_family="IPv6"))
    assert message == "addressfamily IPv6 specified, but no childprefixlength for this addressfamily"


def test_allocate_refused_with_invalid_addressfamily(app: IpamApplication, ctx: RequestContext) -> None:
    dual_super(app, ctx)
    refused(InvalidRequestError, lambda: app.allocate_child_network(
        context=ctx, partition_id=PARTITION, project_id=PROJECT, address_family="IPv5"))


def test_allocate_best_fit_sequence_on_fresh_super(app: IpamApplication, ctx: RequestContext) -> None:
    make_super(app, ctx, ["10.0.0.0/16"], {"IPv4": 22})
    got = [allocate(app, ctx)["prefixes"] for _ in range(3)]
    assert got == [["10.0.0.0/22"], ["10.0.4.0/22"], ["10.0.8.0/22"]]
    parent = app.get_network("super")
    assert parent["consumption"]["ipv4"]["used_prefixes"] == 3
    assert parent["consumption"]["ipv4"]["available_prefixes"] == 16384 - 3 * 256


def test_allocate_takes_best_fit_not_first_fit(app: IpamApplication, ctx: RequestContext) -> None:
    make_super(app, ctx, ["10.0.0.0/16"], {"IPv4": 22})
    big = allocate(app, ctx, length={"IPv4": 17})
    assert big["prefixes"] == ["10.0.0.0/17"]
    assert allocate(app, ctx, length={"IPv4": 24})["prefixes"] == ["10.0.128.0/24"]
    free(app, ctx, big)
    assert allocate(app, ctx, length={"IPv4": 24})["prefixes"] == ["10.0.129.0/24"]


def test_allocate_refused_when_super_is_full(app: IpamApplication, ctx: RequestContext) -> None:
    make_super(app, ctx, ["10.0.0.0/16"], {"IPv4": 17})
    allocate(app, ctx)
    allocate(app, ctx)
    message = refused(ExhaustedError, lambda: app.allocate_child_network(
        context=ctx, partition_id=PARTITION, project_id=PROJECT))
    assert message == "no prefix found in 10.0.0.0/16 with length:17"


def test_allocate_refused_names_smaller_free_blocks(app: IpamApplication, ctx: RequestContext) -> None:
    make_super(app, ctx, ["10.0.0.0/16"], {"IPv4": 22})
    taken = {}
    for length in (21, 22, 23, 24, 24, 20, 19, 18, 17):
        child = allocate(app, ctx, length={"IPv4": length})
        taken[child["prefixes"][0]] = child
    assert sorted(taken) == sorted([
        "10.0.0.0/21", "10.0.8.0/22", "10.0.12.0/23", "10.0.14.0/24", "10.0.15.0/24",
        "10.0.16.0/20", "10.0.32.0/19", "10.0.64.0/18", "10.0.128.0/17"])
    free(app, ctx, taken["10.0.12.0/23"])
    free(app, ctx, taken["10.0.14.0/24"])
    message = refused(ExhaustedError, lambda: app.allocate_child_network(
        context=ctx, partition_id=PARTITION, project_id=PROJECT))
    assert message == ("no prefix found in 10.0.0.0/16 with length:22, "
                       "but 10.0.12.0/23,10.0.14.0/24 are available")


def test_allocate_refused_joins_reasons_of_several_prefixes(
    app: IpamApplication, ctx: RequestContext
) -> None:
    make_super(app, ctx, ["10.0.0.0/16", "10.1.0.0/16"], {"IPv4": 17})
    got = [allocate(app, ctx)["prefixes"][0] for _ in range(4)]
    assert got == ["10.0.0.0/17", "10.0.128.0/17", "10.1.0.0/17", "10.1.128.0/17"]
    message = refused(ExhaustedError, lambda: app.allocate_child_network(
        context=ctx, partition_id=PARTITION, project_id=PROJECT))
    assert message == ("no prefix found in 10.0.0.0/16 with length:17; "
                       "no prefix found in 10.1.0.0/16 with length:17")


def test_allocate_skips_prefix_that_has_ips(app: IpamApplication, ctx: RequestContext) -> None:
    make_super(app, ctx, ["10.0.0.0/16", "10.1.0.0/16"], {"IPv4": 17})
    app.acquire_ip(context=ctx, network_id="super", project_id=PROJECT)
    assert allocate(app, ctx)["prefixes"] == ["10.1.0.0/17"]
    assert allocate(app, ctx)["prefixes"] == ["10.1.128.0/17"]
    message = refused(ExhaustedError, lambda: app.allocate_child_network(
        context=ctx, partition_id=PARTITION, project_id=PROJECT))
    assert message == ("prefix 10.0.0.0/16 has ips, acquire child prefix not possible; "
                       "no prefix found in 10.1.0.0/16 with length:17")


def test_allocate_refused_when_only_prefix_has_ips(app: IpamApplication, ctx: RequestContext) -> None:
    make_super(app, ctx, ["10.0.0.0/16"], {"IPv4": 22})
    app.acquire_ip(context=ctx, network_id="super", project_id=PROJECT)
    message = refused(ExhaustedError, lambda: app.allocate_child_network(
        context=ctx, partition_id=PARTITION, project_id=PROJECT))
    assert message == "prefix 10.0.0.0/16 has ips, acquire child prefix not possible"


@pytest.mark.parametrize("length", [16, 8])
def test_allocate_refused_with_length_not_greater_than_prefix(
    app: IpamApplication, ctx: RequestContext, length: int
) -> None:
    make_super(app, ctx, ["10.0.0.0/16"], {"IPv4": 22})
    app.acquire_ip(context=ctx, network_id="super", project_id=PROJECT)  # checked before this
    message = refused(InvalidRequestError, lambda: app.allocate_child_network(
        context=ctx, partition_id=PARTITION, project_id=PROJECT, length={"IPv4": length}))
    assert message == f"given length:{length} must be greater than prefix length:16"


def test_allocate_all_or_nothing_when_one_family_is_full(
    app: IpamApplication, ctx: RequestContext
) -> None:
    make_super(app, ctx, ["10.0.0.0/16", "2001:db8::/64"], {"IPv4": 22, "IPv6": 65})
    allocate(app, ctx)
    allocate(app, ctx)
    before = app.get_network("super")
    message = refused(ExhaustedError, lambda: app.allocate_child_network(
        context=ctx, partition_id=PARTITION, project_id=PROJECT, name="too-many"))
    assert message == "no prefix found in 2001:db8::/64 with length:65"
    assert len(children(app)) == 2
    assert app.list_networks(NetworkFilter(name="too-many")) == []
    after = app.get_network("super")
    assert after["consumption"] == before["consumption"]
    assert after["capacity"] == before["capacity"]
    # neither the IPv4 block nor VRF 3 leaked
    child = allocate(app, ctx, address_family="IPv4")
    assert (child["prefixes"], child["vrf"]) == (["10.0.8.0/22"], 3)


def test_allocate_takes_lowest_free_vrf_and_reuses_freed(
    app: IpamApplication, ctx: RequestContext
) -> None:
    dual_super(app, ctx)
    app.create_network(
        context=ctx,
        prefixes=["192.168.0.0/24"],
        attributes=NetworkAttributes(vrf=2),
    )
    first, second = allocate(app, ctx), allocate(app, ctx)
    assert (first["vrf"], second["vrf"]) == (1, 3)
    free(app, ctx, first)
    assert allocate(app, ctx)["vrf"] == 1
    assert allocate(app, ctx)["vrf"] == 4


def test_free_refused_for_non_child(app: IpamApplication, ctx: RequestContext) -> None:
    dual_super(app, ctx)
    app.create_network(context=ctx, network_id="plain", prefixes=["192.168.0.0/24"])
    for network_id in ("super", "plain"):
        refused(InvalidRequestError, functools.partial(
            app.delete_network, network_id, context=ctx, only_child=True))
        assert app.get_network(network_id)["network_id"] == network_id
    refused(NetworkNotFoundError, lambda: app.delete_network("nope", context=ctx, only_child=True))


def test_free_refused_while_child_holds_ip(app: IpamApplication, ctx: RequestContext) -> None:
    dual_super(app, ctx)
    child = allocate(app, ctx)
    app.acquire_ip(context=ctx, network_id=child["network_id"], project_id=PROJECT)
    message = refused(InUseError, lambda: app.delete_network(
        child["network_id"], context=ctx, only_child=True))
    assert message == "unable to delete network: prefix 10.0.0.0/22 has ip 10.0.0.1 in use"
    assert app.get_network(child["network_id"])["prefixes"] == child["prefixes"]
    app.release_ip("10.0.0.1", context=ctx)
    free(app, ctx, child)


@pytest.mark.parametrize("only_child", [True, False])
def test_free_returns_prefixes_and_vrf(
    app: IpamApplication, ctx: RequestContext, only_child: bool
) -> None:
    fresh = dual_super(app, ctx)
    child = allocate(app, ctx)
    freed = app.delete_network(child["network_id"], context=ctx, only_child=only_child)
    assert freed["prefixes"] == child["prefixes"]
    refused(NetworkNotFoundError, lambda: app.get_network(child["network_id"]))
    parent = app.get_network("super")
    assert parent["consumption"] == fresh["consumption"]
    assert parent["capacity"] == fresh["capacity"]
    again = allocate(app, ctx)
    assert (again["prefixes"], again["vrf"]) == (child["prefixes"], child["vrf"])
    assert again["network_id"] != child["network_id"]
