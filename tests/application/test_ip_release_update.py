"""Freeing and updating IPs (SPEC 4, after acquiring), and the read side after each change."""

from __future__ import annotations

from typing import Any

import pytest

from application.context import RequestContext
from application.ports import IPFilter
from application.service import IpamApplication
from domain.errors import InvalidRequestError, IPNotFoundError
from domain.network_values import NetworkAttributes

PROJECT = "project-a"
MACHINE_TAG = "machine.metal-stack.io/id="


@pytest.fixture
def network(app: IpamApplication, ctx: RequestContext) -> str:
    app.create_network(
        context=ctx,
        network_id="n",
        prefixes=["10.1.0.0/24", "2001:db8::/64"],
        attributes=NetworkAttributes(project_id=PROJECT),
    )
    return "n"


def acquire(app: IpamApplication, ctx: RequestContext, **kwargs: Any) -> dict[str, Any]:
    return app.acquire_ip(context=ctx, network_id="n", project_id=PROJECT, **kwargs)


def used_ips(app: IpamApplication, family: str = "ipv4") -> int:
    figures = app.get_network("n")["consumption"][family]
    assert figures is not None
    return int(figures["used_ips"])


def test_release_ip_raises_not_found_for_unknown_address(
    app: IpamApplication, ctx: RequestContext, network: str
) -> None:
    with pytest.raises(IPNotFoundError):
        app.release_ip("10.1.0.9", context=ctx)
    assert used_ips(app) == 2


def test_release_ip_refuses_machine_scoped_ip(app: IpamApplication, ctx: RequestContext, network: str) -> None:
    ip = acquire(app, ctx, machine_id="m1")
    with pytest.raises(InvalidRequestError) as error:
        app.release_ip(ip["address"], context=ctx)
    assert error.value.message == "ip with machine scope can not be deleted"
    assert app.get_ip(ip["address"]) == ip
    assert used_ips(app) == 3


def test_release_ip_frees_address_on_read_side(app: IpamApplication, ctx: RequestContext, network: str) -> None:
    ip = acquire(app, ctx, address_family="IPv6")
    assert used_ips(app, "ipv6") == 2
    released = app.release_ip("2001:0db8::1", context=ctx)
    assert released["address"] == ip["address"] == "2001:db8::1"
    assert released["allocation_uuid"] == ip["allocation_uuid"]
    with pytest.raises(IPNotFoundError):
        app.get_ip(ip["address"])
    assert app.list_ips(IPFilter(network_id="n")) == []
    assert used_ips(app, "ipv6") == 1
    with pytest.raises(IPNotFoundError):
        app.release_ip(ip["address"], context=ctx)


def test_update_ip_changes_name_description_tags_and_type(
    app: IpamApplication, ctx: RequestContext, network: str
) -> None:
    ip = acquire(app, ctx, name="old", description="old text", tags=["x"])
    updated = app.update_ip(ip["address"], context=ctx, name="new", description="new text",
                            ip_type="static", tags=["b", "a", "b"])
    assert {k: updated[k] for k in ("name", "description", "type", "tags")} == {
        "name": "new", "description": "new text", "type": "static", "tags": ["a", "b"],
    }
    assert (updated["address"], updated["allocation_uuid"]) == (ip["address"], ip["allocation_uuid"])
    assert app.get_ip(ip["address"]) == updated
    assert app.list_ips(IPFilter(name="new", type="static")) == [updated]
    assert app.list_ips(IPFilter(name="old")) == []
    assert used_ips(app) == 3


def test_update_ip_leaves_unnamed_fields_unchanged(
    app: IpamApplication, ctx: RequestContext, network: str
) -> None:
    ip = acquire(app, ctx, name="web", description="front", ip_type="static", tags=["t"])
    updated = app.update_ip(ip["address"], context=ctx, description="back")
    assert {k: updated[k] for k in ("name", "description", "type", "tags")} == {
        "name": "web", "description": "back", "type": "static", "tags": ["t"],
    }
    assert app.get_ip(ip["address"]) == updated


def test_update_ip_refuses_static_to_ephemeral(app: IpamApplication, ctx: RequestContext, network: str) -> None:
    ip = acquire(app, ctx, ip_type="static")
    with pytest.raises(InvalidRequestError) as error:
        app.update_ip(ip["address"], context=ctx, ip_type="ephemeral")
    assert error.value.message == "cannot change type of ip address from static to ephemeral"
    assert app.get_ip(ip["address"])["type"] == "static"


def test_update_ip_rejects_unknown_type(app: IpamApplication, ctx: RequestContext, network: str) -> None:
    ip = acquire(app, ctx)
    with pytest.raises(InvalidRequestError):
        app.update_ip(ip["address"], context=ctx, ip_type="floating")
    assert app.get_ip(ip["address"]) == ip


def test_update_ip_raises_not_found_for_unknown_address(
    app: IpamApplication, ctx: RequestContext, network: str
) -> None:
    with pytest.raises(IPNotFoundError):
        app.update_ip("10.1.0.9", context=ctx, name="x")
    assert app.list_ips() == []


def test_update_ip_tags_decide_machine_scope(app: IpamApplication, ctx: RequestContext, network: str) -> None:
    ip = acquire(app, ctx, machine_id="m1")
    app.update_ip(ip["address"], context=ctx, tags=["plain"])
    assert app.list_ips(IPFilter(machine_id="m1")) == []
    app.release_ip(ip["address"], context=ctx)  # no machine tag left: freeable

    other = acquire(app, ctx)
    scoped = app.update_ip(other["address"], context=ctx, tags=[MACHINE_TAG + "m2"])
    assert app.list_ips(IPFilter(machine_id="m2")) == [scoped]
    with pytest.raises(InvalidRequestError):
        app.release_ip(other["address"], context=ctx)
