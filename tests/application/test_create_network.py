"""Creating a network (SPEC 2): every rule in its check order, with its message and status class."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from application.access import Principal
from application.context import RequestContext
from application.service import IpamApplication
from domain.errors import (
    AlreadyExistsError,
    ConflictError,
    InvalidRequestError,
    NetworkNotFoundError,
    OverlapError,
)
from domain.network_values import NetworkAttributes
from domain.token import Role
from tests.conftest import new_network, refused

SUPER: dict[str, Any] = {
    "partition_id": "mini-lab",
    "prefixes": ["10.0.0.0/16", "2001:db8:0:10::/64"],
    "default_child_prefix_length": {"IPv4": 22, "IPv6": 96},
    "private_super": True,
}



def create(app: IpamApplication, ctx: RequestContext, **request: Any) -> dict[str, Any]:
    """Create a network and check that the read side agrees with the command's answer."""
    created = new_network(app, ctx, **request)
    assert app.get_network(created["network_id"]) == created
    return created


def test_create_network_refused_without_prefixes(app: IpamApplication, ctx: RequestContext) -> None:
    # rule 1 answers before rule 2 (dcpl on a non-super)
    message = refused(InvalidRequestError, lambda: app.create_network(
        context=ctx,
        network_id="n",
        prefixes=[],
        attributes=NetworkAttributes(default_child_prefix_length={"IPv4": 22}),
    ))
    assert message == "no prefixes given"
    refused(NetworkNotFoundError, lambda: app.get_network("n"))


def test_create_network_refused_with_dcpl_on_non_super(app: IpamApplication, ctx: RequestContext) -> None:
    # rule 2 answers before rule 3 (bad key)
    message = refused(InvalidRequestError, lambda: app.create_network(
        context=ctx,
        prefixes=["10.0.0.0/16"],
        attributes=NetworkAttributes(default_child_prefix_length={"IPv5": 22}),
    ))
    assert message == "defaultchildprefixlength can only be set for privatesuper networks"


def test_create_network_refused_with_bad_dcpl_key(app: IpamApplication, ctx: RequestContext) -> None:
    # rule 3 answers before rule 4 (unparsable prefix)
    message = refused(InvalidRequestError, lambda: app.create_network(
        context=ctx,
        prefixes=["10.0.0.0/33"],
        attributes=NetworkAttributes(private_super=True, partition_id="p", default_child_prefix_length={"IPv5": 22}),
    ))
    assert "IPv5" in message
    assert message == 'defaultchildprefixlength has an invalid addressfamily "IPv5", must be IPv4 or IPv6'


@pytest.mark.parametrize("prefix", ["10.0.0.0/33", "not-a-prefix", "10.0.0.0", "2001:db8::/129"])
def test_create_network_refused_with_unparsable_prefix(
    app: IpamApplication, ctx: RequestContext, prefix: str
) -> None:
    # rule 4 answers before rule 5 (destination family)
    message = refused(InvalidRequestError, lambda: app.create_network(
        context=ctx,
        prefixes=["10.0.0.0/16", prefix],
        attributes=NetworkAttributes(destination_prefixes=["::/0"]),
    ))
    assert f'"{prefix}"' in message


def test_create_network_refused_with_unparsable_destination_prefix(
    app: IpamApplication, ctx: RequestContext
) -> None:
    message = refused(InvalidRequestError, lambda: app.create_network(
        context=ctx,
        prefixes=["10.0.0.0/16"],
        attributes=NetworkAttributes(destination_prefixes=["0.0.0.0/40"]),
    ))
    assert '"0.0.0.0/40"' in message


def test_create_network_refused_with_non_canonical_prefix(
    app: IpamApplication, ctx: RequestContext
) -> None:
    message = refused(InvalidRequestError, lambda: app.create_network(
        context=ctx, prefixes=["10.0.0.1/16"]))
    assert message == 'expecting canonical form of prefix "10.0.0.1/16", please specify it as "10.0.0.0/16"'


def test_create_network_refused_with_destination_family_not_in_prefixes(
    app: IpamApplication, ctx: RequestContext
) -> None:
    # rule 5 answers before rule 6 (private super without dcpl)
    message = refused(InvalidRequestError, lambda: app.create_network(
        context=ctx,
        prefixes=["10.0.0.0/16"],
        attributes=NetworkAttributes(destination_prefixes=["0.0.0.0/0", "::/0"], private_super=True, partition_id="p"),
    ))
    assert message == "addressfamily:IPv6 of destination prefixes is not present in existing prefixes"


@pytest.mark.parametrize(
    ("prefixes", "lengths", "message"),
    [
        (["10.0.0.0/16"], None,
         "private super network must always contain a defaultchildprefixlength"),
        (["10.0.0.0/16"], {},
         "private super network must always contain a defaultchildprefixlength"),
        (["10.0.0.0/16", "2001:db8::/64"], {"IPv4": 22},
         "private super network must always contain a defaultchildprefixlength per addressfamily:IPv6"),
        (["10.0.0.0/16", "2001:db8::/64"], {"IPv6": 96},
         "private super network must always contain a defaultchildprefixlength per addressfamily:IPv4"),
        (["10.0.0.0/16", "172.0.0.0/24"], {"IPv4": 22},
         "given defaultchildprefixlength 22 is not greater than prefix length of:172.0.0.0/24"),
        (["10.0.0.0/22"], {"IPv4": 22},
         "given defaultchildprefixlength 22 is not greater than prefix length of:10.0.0.0/22"),
        (["10.0.0.0/16", "2001:db8::/64"], {"IPv4": 22, "IPv6": 64},
         "given defaultchildprefixlength 64 is not greater than prefix length of:2001:db8::/64"),
        (["10.0.0.0/16"], {"IPv4": 33},
         "given defaultchildprefixlength 33 is greater than the maximum prefix length 32 of "
         "addressfamily IPv4"),
        (["2001:db8::/64"], {"IPv6": 129},
         "given defaultchildprefixlength 129 is greater than the maximum prefix length 128 of "
         "addressfamily IPv6"),
    ],
)
def test_create_private_super_refused_with_bad_dcpl(
    app: IpamApplication, ctx: RequestContext, prefixes: list[str],
    lengths: dict[str, int] | None, message: str,
) -> None:
    # the dcpl rules answer before rule 8 (nat on a private super)
    assert refused(InvalidRequestError, lambda: app.create_network(
        context=ctx,
        prefixes=prefixes,
        attributes=NetworkAttributes(private_super=True, partition_id="p", nat=True, default_child_prefix_length=lengths),
    )) == message


def test_create_private_super_accepts_lengths_at_the_family_maximum(
    app: IpamApplication, ctx: RequestContext
) -> None:
    created = create(app, ctx, prefixes=["10.0.0.0/24", "2001:db8::/120"], private_super=True,
                     partition_id="p", default_child_prefix_length={"ipv4": 32, "IPV6": 128})
    assert created["default_child_prefix_length"] == {"IPv4": 32, "IPv6": 128}


def test_create_private_super_refused_when_partition_has_one(
    app: IpamApplication, ctx: RequestContext
) -> None:
    create(app, ctx, network_id="first", **SUPER)
    # the second-super rule answers before rule 8 (nat) and rule 9 (id exists)
    message = refused(InvalidRequestError, lambda: app.create_network(
        context=ctx,
        network_id="first",
        prefixes=["10.1.0.0/16"],
        attributes=NetworkAttributes(partition_id="mini-lab", private_super=True, nat=True, default_child_prefix_length={"IPv4": 22}),
    ))
    assert message == 'partition with id "mini-lab" already has a private super network'
    # another partition may have its own
    other = create(app, ctx, partition_id="other", prefixes=["10.1.0.0/16"], private_super=True,
                   default_child_prefix_length={"IPv4": 22})
    assert other["network_type"] == "super"


def test_create_network_refused_with_announcable_cidrs_on_non_super(
    app: IpamApplication, ctx: RequestContext
) -> None:
    # rule 7 answers before rule 8 (nat on an underlay)
    message = refused(InvalidRequestError, lambda: app.create_network(
        context=ctx,
        prefixes=["10.0.0.0/16"],
        attributes=NetworkAttributes(underlay=True, nat=True, additional_announcable_cidrs=["10.240.0.0/12"]),
    ))
    assert message == "additionalannouncablecidrs can only be set in a private super network"


def test_create_private_super_keeps_announcable_cidrs(app: IpamApplication, ctx: RequestContext) -> None:
    created = create(app, ctx, additional_announcable_cidrs=["10.240.0.0/12"], **SUPER)
    assert created["additional_announcable_cidrs"] == ["10.240.0.0/12"]


@pytest.mark.parametrize("kind", [{"private_super": True, "partition_id": "p",
                                   "default_child_prefix_length": {"IPv4": 22}},
                                  {"underlay": True}])
def test_create_network_refused_with_nat_on_super_or_underlay(
    app: IpamApplication, ctx: RequestContext, kind: dict[str, Any]
) -> None:
    create(app, ctx, network_id="taken", prefixes=["192.168.0.0/24"])
    # rule 8 answers before rule 9 (id exists)
    message = refused(InvalidRequestError, lambda: new_network(
        app, ctx, network_id="taken", prefixes=["10.0.0.0/16"], nat=True, **kind))
    assert message == "private super or underlay network is not supposed to NAT"


def test_create_network_refused_when_id_exists(app: IpamApplication, ctx: RequestContext) -> None:
    create(app, ctx, network_id="internet", prefixes=["10.0.0.0/16"], vrf=7)
    # rule 9 answers before rule 10 (overlap) and rule 11 (vrf taken)
    message = refused(AlreadyExistsError, lambda: app.create_network(
        context=ctx,
        network_id="internet",
        prefixes=["10.0.0.0/16"],
        attributes=NetworkAttributes(vrf=7),
    ))
    assert message == 'entity already exists: network with id "internet"'
    # and before the VRF range check of rule 11
    message = refused(ConflictError, lambda: app.create_network(
        context=ctx,
        network_id="internet",
        prefixes=["10.1.0.0/16"],
        attributes=NetworkAttributes(vrf=0),
    ))
    assert message == 'entity already exists: network with id "internet"'
    assert app.get_network("internet")["prefixes"] == ["10.0.0.0/16"]


def test_create_network_generates_uuid_without_id(app: IpamApplication, ctx: RequestContext) -> None:
    first = create(app, ctx, prefixes=["10.0.0.0/24"])
    second = create(app, ctx, prefixes=["10.0.1.0/24"])
    assert str(UUID(first["network_id"])) == first["network_id"]
    assert first["network_id"] != second["network_id"]


def test_create_network_refused_when_prefix_overlaps_existing(
    app: IpamApplication, ctx: RequestContext
) -> None:
    create(app, ctx, network_id="small", prefixes=["10.0.0.0/24"], vrf=3)
    # rule 10 answers before rule 11 (vrf taken)
    message = refused(OverlapError, lambda: app.create_network(
        context=ctx,
        network_id="big",
        prefixes=["10.0.0.0/23"],
        attributes=NetworkAttributes(vrf=3),
    ))
    assert message == '10.0.0.0/23 overlaps 10.0.0.0/24 (held by network with id "small")'
    # and before the VRF range check of rule 11
    message = refused(OverlapError, lambda: app.create_network(
        context=ctx,
        network_id="big",
        prefixes=["10.0.0.0/23"],
        attributes=NetworkAttributes(vrf=131073),
    ))
    assert message == '10.0.0.0/23 overlaps 10.0.0.0/24 (held by network with id "small")'
    refused(NetworkNotFoundError, lambda: app.get_network("big"))


def test_create_network_refused_when_prefixes_overlap_each_other(
    app: IpamApplication, ctx: RequestContext
) -> None:
    message = refused(OverlapError, lambda: app.create_network(
        context=ctx, prefixes=["10.0.0.0/24", "2001:db8::/64", "10.0.0.0/23"]))
    assert message == "10.0.0.0/23 overlaps 10.0.0.0/24 (both asked for in this request)"
    assert app.list_networks() == []


def test_create_network_refused_when_prefix_overlaps_a_child(
    app: IpamApplication, ctx: RequestContext
) -> None:
    create(app, ctx, network_id="super", **SUPER)
    child = app.allocate_child_network(context=ctx, partition_id="mini-lab", project_id="p")
    assert child["prefixes"][0] == "10.0.0.0/22"
    message = refused(OverlapError, lambda: app.create_network(
        context=ctx, prefixes=["10.0.0.0/22"]))
    assert message == '10.0.0.0/22 overlaps 10.0.0.0/16 (held by network with id "super")'
    message = refused(OverlapError, lambda: app.create_network(
        context=ctx, prefixes=["2001:db8:0:10::/96"]))
    assert message == '2001:db8:0:10::/96 overlaps 2001:db8:0:10::/64 (held by network with id "super")'


def test_overlap_names_the_holder_only_to_a_caller_who_may_see_it(
    app: IpamApplication, ctx: RequestContext
) -> None:
    create(app, ctx, network_id="theirs", prefixes=["10.7.0.0/24"], project_id="other-project")
    create(app, ctx, network_id="mine", prefixes=["10.8.0.0/24"], project_id="my-project")
    tenant = RequestContext.new(actor="token:tenant", principal=Principal(
        subject="tenant", role=Role.admin, projects=frozenset({"my-project"})))
    hidden = refused(OverlapError, lambda: app.create_network(
        context=tenant, prefixes=["10.7.0.0/25"],
        attributes=NetworkAttributes(project_id="my-project")))
    assert hidden == "10.7.0.0/25 overlaps 10.7.0.0/24 (held by a network you may not see)"
    seen = refused(OverlapError, lambda: app.create_network(
        context=tenant, prefixes=["10.8.0.0/25"],
        attributes=NetworkAttributes(project_id="my-project")))
    assert seen == '10.8.0.0/25 overlaps 10.8.0.0/24 (held by network with id "mine")'


def test_create_network_allows_same_digits_in_other_family(
    app: IpamApplication, ctx: RequestContext
) -> None:
    create(app, ctx, prefixes=["10.0.0.0/8"])
    created = create(app, ctx, prefixes=["::a00:0/104"])
    assert created["prefixes"] == ["::a00:0/104"]


def test_create_network_reserves_given_vrf(app: IpamApplication, ctx: RequestContext) -> None:
    created = create(app, ctx, prefixes=["10.0.0.0/24"], vrf=131072)
    assert created["vrf"] == 131072
    message = refused(ConflictError, lambda: app.create_network(
        context=ctx,
        network_id="second",
        prefixes=["10.0.1.0/24"],
        attributes=NetworkAttributes(vrf=131072),
    ))
    assert "131072" in message
    refused(NetworkNotFoundError, lambda: app.get_network("second"))
    # the refused create claimed no prefix: the same prefix can be created now
    assert create(app, ctx, prefixes=["10.0.1.0/24"], vrf=1)["vrf"] == 1


def test_create_network_with_vrf_0_has_no_vrf(app: IpamApplication, ctx: RequestContext) -> None:
    """SPEC 9: `vrf: 0` is Go's zero value, no VRF (metal-go leaves it out when unset)."""
    assert create(app, ctx, network_id="n", prefixes=["10.0.0.0/24"], vrf=0)["vrf"] is None
    assert create(app, ctx, network_id="m", prefixes=["10.0.1.0/24"], vrf=0)["vrf"] is None


@pytest.mark.parametrize("vrf", [-1, 131073])
def test_create_network_refused_with_vrf_out_of_range(
    app: IpamApplication, ctx: RequestContext, vrf: int
) -> None:
    message = refused(InvalidRequestError, lambda: app.create_network(
        context=ctx,
        network_id="n",
        prefixes=["10.0.0.0/24"],
        attributes=NetworkAttributes(vrf=vrf),
    ))
    assert str(vrf) in message
    refused(NetworkNotFoundError, lambda: app.get_network("n"))
    assert create(app, ctx, network_id="n", prefixes=["10.0.0.0/24"])["vrf"] is None


def test_create_network_shares_vrf_between_vrfshared_networks(
    app: IpamApplication, ctx: RequestContext
) -> None:
    first = create(app, ctx, prefixes=["10.0.0.0/24"], vrf=42, vrf_shared=True)
    second = create(app, ctx, prefixes=["10.0.1.0/24"], vrf=42, vrf_shared=True)
    assert (first["vrf"], first["vrf_shared"]) == (42, True)
    assert (second["vrf"], second["vrf_shared"]) == (42, True)
    # an exclusive claim on a shared id is refused (409)
    refused(ConflictError, lambda: app.create_network(
        context=ctx,
        prefixes=["10.0.2.0/24"],
        attributes=NetworkAttributes(vrf=42),
    ))


def test_create_network_vrfshared_joins_an_id_whoever_holds_it(
    app: IpamApplication, ctx: RequestContext
) -> None:
    """SPEC 2.11 and 9: `vrfshared` joins the id even when a network holds it exclusively; the
    id is free again only when its last holder is gone, and allocation never hands out an id
    that anyone holds."""
    create(app, ctx, network_id="super", prefixes=["10.9.0.0/16"], partition_id="p",
           private_super=True, default_child_prefix_length={"IPv4": 24})
    create(app, ctx, network_id="exclusive", prefixes=["10.0.3.0/24"], vrf=1)
    joined = create(app, ctx, network_id="joined", prefixes=["10.0.4.0/24"], vrf=1,
                    vrf_shared=True)
    assert (joined["vrf"], joined["vrf_shared"]) == (1, True)
    refused(ConflictError, lambda: app.create_network(
        context=ctx,
        network_id="third",
        prefixes=["10.0.5.0/24"],
        attributes=NetworkAttributes(vrf=1),
    ))
    app.delete_network("exclusive", context=ctx)  # the shared holder keeps the id held
    refused(ConflictError, lambda: app.create_network(
        context=ctx,
        network_id="third",
        prefixes=["10.0.5.0/24"],
        attributes=NetworkAttributes(vrf=1),
    ))
    child = app.allocate_child_network(context=ctx, partition_id="p", project_id="pr")
    assert child["vrf"] == 2
    app.delete_network("joined", context=ctx)  # the last holder is gone: the id is free
    assert create(app, ctx, network_id="third", prefixes=["10.0.5.0/24"], vrf=1)["vrf"] == 1


def test_create_network_answers_full_document(app: IpamApplication, ctx: RequestContext) -> None:
    created = create(
        app, ctx, network_id="internet", name="Internet", description="the internet",
        partition_id="", project_id="", prefixes=["185.1.2.0/24", "2a02:c00::/64"],
        destination_prefixes=["0.0.0.0/0", "::/0"], labels={"network.metal-stack.io/default": ""},
        nat=True, vrf=104009,
    )
    assert created["network_id"] == "internet"
    assert created["prefixes"] == ["185.1.2.0/24", "2a02:c00::/64"]
    assert created["destination_prefixes"] == ["0.0.0.0/0", "::/0"]
    assert created["network_type"] == "external"
    assert created["nat_type"] == "ipv4-masq"
    assert created["parent_id"] is None
    assert created["consumption"]["ipv4"] == {
        "available_ips": 256, "available_prefixes": 64, "used_ips": 2, "used_prefixes": 0}
    assert created["consumption"]["ipv6"]["used_ips"] == 1
    underlay = create(app, ctx, prefixes=["10.1.0.0/24"], underlay=True)
    assert (underlay["network_type"], underlay["nat_type"]) == ("underlay", "none")
    assert underlay["consumption"]["ipv6"] is None
    super_ = create(app, ctx, **SUPER)
    assert super_["network_type"] == "super"
    assert super_["default_child_prefix_length"] == {"IPv4": 22, "IPv6": 96}
