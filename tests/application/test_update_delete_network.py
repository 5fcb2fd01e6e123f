"""Updating (SPEC 5) and deleting (SPEC 3) networks."""

from __future__ import annotations

from typing import Any

import pytest

from application.context import RequestContext
from application.service import IpamApplication
from domain.errors import (
    InUseError,
    InvalidRequestError,
    NetworkNotFoundError,
    NotFoundError,
    OverlapError,
)
from domain.network_values import NetworkAttributes
from tests.conftest import SEED_PROJECT, new_network, refused

PARTITION = "mini-lab"
PROJECT = SEED_PROJECT



def agreed(app: IpamApplication, document: dict[str, Any]) -> dict[str, Any]:
    """The command's answer, after checking that the read side says the same."""
    assert app.get_network(document["network_id"]) == document
    return document


def update(app: IpamApplication, ctx: RequestContext, network_id: str, **changes: Any) -> dict[str, Any]:
    return agreed(app, app.update_network(network_id, context=ctx, **changes))


def v4_super(app: IpamApplication, ctx: RequestContext, **extra: Any) -> dict[str, Any]:
    return agreed(app, new_network(
        app, ctx, network_id="super", partition_id=PARTITION, prefixes=["10.0.0.0/16"],
        private_super=True, default_child_prefix_length={"IPv4": 22}, **extra))


def plain(app: IpamApplication, ctx: RequestContext, **extra: Any) -> dict[str, Any]:
    request: dict[str, Any] = {"network_id": "plain", "prefixes": ["192.168.0.0/24"], **extra}
    return agreed(app, new_network(app, ctx, **request))


def child_of_super(app: IpamApplication, ctx: RequestContext, **extra: Any) -> dict[str, Any]:
    return agreed(app, app.allocate_child_network(
        context=ctx, partition_id=PARTITION, project_id=PROJECT, **extra))


# -- update ------------------------------------------------------------------------------------


def test_update_changes_name_description_and_labels(app: IpamApplication, ctx: RequestContext) -> None:
    before = plain(app, ctx, name="old", description="old one", labels={"a": "1", "b": "2"})
    after = update(app, ctx, "plain", name="new", description="new one", labels={"c": "3"})
    assert (after["name"], after["description"], after["labels"]) == ("new", "new one", {"c": "3"})
    assert after["prefixes"] == before["prefixes"]
    assert after["version"] > before["version"]
    cleared = update(app, ctx, "plain", labels={})
    assert (cleared["name"], cleared["labels"]) == ("new", {})


def test_update_refused_for_unknown_network(app: IpamApplication, ctx: RequestContext) -> None:
    refused(NetworkNotFoundError, lambda: app.update_network("nope", context=ctx, name="x"))


def test_update_refused_to_unshare(app: IpamApplication, ctx: RequestContext) -> None:
    plain(app, ctx)
    assert update(app, ctx, "plain", shared=True)["shared"] is True
    message = refused(InvalidRequestError, lambda: app.update_network(
        "plain", context=ctx, shared=False, name="ignored"))
    assert message == "once a network is marked as shared it is not possible to unshare it"
    assert app.get_network("plain")["shared"] is True
    assert app.get_network("plain")["name"] == ""


def test_update_refused_to_change_child_prefixes(app: IpamApplication, ctx: RequestContext) -> None:
    v4_super(app, ctx)
    child = child_of_super(app, ctx)
    message = refused(InvalidRequestError, lambda: app.update_network(
        child["network_id"], context=ctx, prefixes=["10.0.0.0/23"]))
    assert message == "the prefixes of a child network can not be changed"
    # the same list is no change
    same = update(app, ctx, child["network_id"], prefixes=["10.0.0.0/22"], name="renamed")
    assert (same["prefixes"], same["name"]) == (["10.0.0.0/22"], "renamed")


def test_update_with_empty_prefix_lists_leaves_them_unchanged(
    app: IpamApplication, ctx: RequestContext,
) -> None:
    """SPEC 9: metal-api updates prefixes and destination prefixes only when `len(...) > 0`."""
    before = plain(app, ctx, destination_prefixes=["0.0.0.0/0"])
    after = app.update_network("plain", context=ctx, prefixes=[], destination_prefixes=[],
                               name="renamed")
    assert (after["prefixes"], after["destination_prefixes"], after["name"]) == (
        before["prefixes"], ["0.0.0.0/0"], "renamed")


def test_update_refused_with_bad_prefixes(app: IpamApplication, ctx: RequestContext) -> None:
    plain(app, ctx)
    assert refused(InvalidRequestError, lambda: app.update_network(
        "plain", context=ctx, prefixes=["192.168.0.1/24"])) == (
        'expecting canonical form of prefix "192.168.0.1/24", please specify it as "192.168.0.0/24"')


def test_update_refused_to_remove_prefix_with_ip(app: IpamApplication, ctx: RequestContext) -> None:
    plain(app, ctx, prefixes=["192.168.0.0/24", "192.168.1.0/24"])
    app.acquire_ip(context=ctx, network_id="plain", project_id=PROJECT,
                   specific_ip="192.168.1.7")
    message = refused(InUseError, lambda: app.update_network(
        "plain", context=ctx, prefixes=["192.168.0.0/24"]))
    assert message == "prefix 192.168.1.0/24 has ip 192.168.1.7 in use, it can not be removed"
    assert app.get_network("plain")["prefixes"] == ["192.168.0.0/24", "192.168.1.0/24"]


def test_update_refused_to_remove_prefix_with_child(app: IpamApplication, ctx: RequestContext) -> None:
    v4_super(app, ctx)
    child = child_of_super(app, ctx)
    message = refused(InUseError, lambda: app.update_network(
        "super", context=ctx, prefixes=["10.1.0.0/16"]))
    assert message == f"prefix 10.0.0.0/16 has child network {child['network_id']}, it can not be removed"
    assert app.get_network("super")["prefixes"] == ["10.0.0.0/16"]
    # the refused update claimed nothing: 10.1.0.0/16 is still free for others
    agreed(app, app.create_network(context=ctx, prefixes=["10.1.0.0/16"]))


def test_update_removes_free_prefix_and_releases_it(app: IpamApplication, ctx: RequestContext) -> None:
    plain(app, ctx, prefixes=["192.168.0.0/24", "192.168.1.0/24"])
    after = update(app, ctx, "plain", prefixes=["192.168.1.0/24"])
    assert after["prefixes"] == ["192.168.1.0/24"]
    assert after["consumption"]["ipv4"]["available_ips"] == 256
    other = agreed(app, app.create_network(context=ctx, prefixes=["192.168.0.0/24"]))
    assert other["prefixes"] == ["192.168.0.0/24"]


@pytest.mark.parametrize(("prefixes", "message"), [
    (["192.168.0.0/24", "10.0.0.0/24"], '10.0.0.0/24 overlaps 10.0.0.0/16 (held by network with id "super")'),
    (["192.168.0.0/24", "192.168.0.0/25"], '192.168.0.0/25 overlaps 192.168.0.0/24 (held by network with id "plain")'),
    (["192.168.0.0/24", "172.16.0.0/24", "172.16.0.0/23"], "172.16.0.0/23 overlaps 172.16.0.0/24 (both asked for in this request)"),
])
def test_update_refused_when_added_prefix_overlaps(
    app: IpamApplication, ctx: RequestContext, prefixes: list[str], message: str
) -> None:
    v4_super(app, ctx)
    before = plain(app, ctx)
    assert refused(OverlapError, lambda: app.update_network(
        "plain", context=ctx, prefixes=prefixes)) == message
    assert app.get_network("plain") == before


def test_update_refused_with_dcpl_on_non_super(app: IpamApplication, ctx: RequestContext) -> None:
    plain(app, ctx)
    message = refused(InvalidRequestError, lambda: app.update_network(
        "plain", context=ctx, default_child_prefix_length={"IPv4": 28}))
    assert message == "defaultchildprefixlength can only be set for privatesuper networks"


def test_update_changes_dcpl_of_super(app: IpamApplication, ctx: RequestContext) -> None:
    v4_super(app, ctx)
    assert update(app, ctx, "super", default_child_prefix_length={"ipv4": 24})[
        "default_child_prefix_length"] == {"IPv4": 24}
    assert child_of_super(app, ctx)["prefixes"] == ["10.0.0.0/24"]
    message = refused(InvalidRequestError, lambda: app.update_network(
        "super", context=ctx, default_child_prefix_length={"IPv4": 16}))
    assert message == "given defaultchildprefixlength 16 is not greater than prefix length of:10.0.0.0/16"


def test_update_validates_lengths_against_new_prefixes(app: IpamApplication, ctx: RequestContext) -> None:
    v4_super(app, ctx)
    message = refused(InvalidRequestError, lambda: app.update_network(
        "super", context=ctx, prefixes=["10.0.0.0/16", "2001:db8::/64"]))
    assert message == ("private super network must always contain a defaultchildprefixlength "
                       "per addressfamily:IPv6")
    message = refused(InvalidRequestError, lambda: app.update_network(
        "super", context=ctx, prefixes=["10.0.0.0/16", "10.1.0.0/24"]))
    assert message == "given defaultchildprefixlength 22 is not greater than prefix length of:10.1.0.0/24"
    assert app.get_network("super")["prefixes"] == ["10.0.0.0/16"]


def test_update_makes_super_dual_stack(app: IpamApplication, ctx: RequestContext) -> None:
    v4_super(app, ctx)
    first = child_of_super(app, ctx)
    assert first["prefixes"] == ["10.0.0.0/22"]
    after = update(app, ctx, "super", prefixes=["10.0.0.0/16", "2001:db8:0:10::/64"],
                   default_child_prefix_length={"IPv4": 22, "IPv6": 96})
    assert after["prefixes"] == ["10.0.0.0/16", "2001:db8:0:10::/64"]
    assert after["default_child_prefix_length"] == {"IPv4": 22, "IPv6": 96}
    assert after["consumption"]["ipv6"]["used_ips"] == 1
    assert after["consumption"]["ipv4"]["used_prefixes"] == 1
    second = child_of_super(app, ctx)
    assert second["prefixes"] == ["10.0.4.0/22", "2001:db8:0:10::/96"]


def test_update_checks_destination_families(app: IpamApplication, ctx: RequestContext) -> None:
    plain(app, ctx)
    message = refused(InvalidRequestError, lambda: app.update_network(
        "plain", context=ctx, destination_prefixes=["::/0"]))
    assert message == "addressfamily:IPv6 of destination prefixes is not present in existing prefixes"
    assert update(app, ctx, "plain", destination_prefixes=["0.0.0.0/0"])[
        "destination_prefixes"] == ["0.0.0.0/0"]


def test_update_refused_with_announcable_cidrs_on_non_super(
    app: IpamApplication, ctx: RequestContext
) -> None:
    plain(app, ctx)
    message = refused(InvalidRequestError, lambda: app.update_network(
        "plain", context=ctx, additional_announcable_cidrs=["10.240.0.0/12"]))
    assert message == "additionalannouncablecidrs can only be set in a private super network"


def test_update_removing_announcable_cidrs_needs_force(app: IpamApplication, ctx: RequestContext) -> None:
    v4_super(app, ctx, additional_announcable_cidrs=["10.240.0.0/12"])
    added = update(app, ctx, "super", additional_announcable_cidrs=["10.240.0.0/12", "10.100.0.0/14"])
    assert added["additional_announcable_cidrs"] == ["10.240.0.0/12", "10.100.0.0/14"]
    message = refused(InvalidRequestError, lambda: app.update_network(
        "super", context=ctx, additional_announcable_cidrs=["10.100.0.0/14"]))
    assert "10.240.0.0/12" in message and "force" in message
    assert app.get_network("super")["additional_announcable_cidrs"] == added[
        "additional_announcable_cidrs"]
    forced = update(app, ctx, "super", force=True, additional_announcable_cidrs=[])
    assert forced["additional_announcable_cidrs"] == []


# -- delete ------------------------------------------------------------------------------------


def test_delete_refused_while_network_has_children(app: IpamApplication, ctx: RequestContext) -> None:
    v4_super(app, ctx)
    child_of_super(app, ctx)
    message = refused(InUseError, lambda: app.delete_network("super", context=ctx))
    assert message == "network cannot be deleted because there are children of this network"
    assert app.get_network("super")["consumption"]["ipv4"]["used_prefixes"] == 1


def test_delete_refused_while_network_has_ips(app: IpamApplication, ctx: RequestContext) -> None:
    v4_super(app, ctx)
    app.acquire_ip(context=ctx, network_id="super", project_id=PROJECT)
    message = refused(InUseError, lambda: app.delete_network("super", context=ctx))
    assert message == "unable to delete network: prefix 10.0.0.0/16 has ip 10.0.0.1 in use"
    assert app.get_network("super")["consumption"]["ipv4"]["used_ips"] == 3


def test_delete_makes_network_unknown(app: IpamApplication, ctx: RequestContext) -> None:
    created = plain(app, ctx, vrf=9)
    deleted = app.delete_network("plain", context=ctx)
    assert deleted["prefixes"] == created["prefixes"]
    refused(NetworkNotFoundError, lambda: app.get_network("plain"))
    refused(NetworkNotFoundError, lambda: app.delete_network("plain", context=ctx))
    refused(NetworkNotFoundError, lambda: app.update_network("plain", context=ctx, name="x"))
    assert all(n["network_id"] != "plain" for n in app.list_networks())
    # its prefix and VRF are free again
    again = agreed(app, app.create_network(
        context=ctx,
        prefixes=["192.168.0.0/24"],
        attributes=NetworkAttributes(vrf=9),
    ))
    assert again["vrf"] == 9


def test_delete_super_frees_its_partition(app: IpamApplication, ctx: RequestContext) -> None:
    v4_super(app, ctx)
    app.delete_network("super", context=ctx)
    refused(NotFoundError, lambda: app.allocate_child_network(
        context=ctx, partition_id=PARTITION, project_id=PROJECT))
    replacement = agreed(app, app.create_network(
        context=ctx,
        prefixes=["10.0.0.0/16"],
        attributes=NetworkAttributes(partition_id=PARTITION, private_super=True, default_child_prefix_length={"IPv4": 24}),
    ))
    child = child_of_super(app, ctx)
    assert (child["parent_id"], child["prefixes"]) == (replacement["network_id"], ["10.0.0.0/24"])
