"""Paging a network's IPs (`IpamApplication.ip_page`): numeric address order, keyset pages
after an address, a total, the same tenant scoping as `list_ips`, and a 0.1.0 store's IPs."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, inspect, text

from application.access import Principal
from application.context import RequestContext
from application.ports import IPFilter, IPPage
from application.service import IpamApplication
from domain.errors import InvalidRequestError, NetworkNotFoundError
from domain.token import Role
from infrastructure.readmodel import SqlReadModel
from infrastructure.store import Ipam, open_ipam
from tests.conftest import new_network, reset_postgres

PROJECT = "project-a"
OTHER = "project-b"
GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def tenant(*projects: str) -> Principal:
    return Principal(subject="tenant", role=Role.viewer, projects=frozenset(projects))


def acquire_all(app: IpamApplication, ctx: RequestContext, network_id: str, *addresses: str,
                project_id: str = PROJECT) -> None:
    for address in addresses:
        app.acquire_ip(context=ctx, network_id=network_id, project_id=project_id,
                       specific_ip=address)


def shown(page: IPPage) -> list[str]:
    return [ip["address"] for ip in page.ips]


def every_page(app: IpamApplication, network_id: str, limit: int,
               principal: Principal | None = None) -> list[IPPage]:
    pages = [app.ip_page(network_id, principal=principal, limit=limit)]
    while pages[-1].next is not None:
        pages.append(app.ip_page(network_id, principal=principal, after=pages[-1].next,
                                 limit=limit))
    return pages


def test_ip_page_orders_addresses_by_number_ipv4_before_ipv6(
    app: IpamApplication, ctx: RequestContext,
) -> None:
    # text order would put 10.0.0.10 before 10.0.0.2, 2001:db8::1:0 before 2001:db8::a,
    # and 2001:db8:: before 203.0.113.5
    new_network(app, ctx, network_id="dual", project_id=PROJECT,
                prefixes=["10.0.0.0/24", "203.0.113.0/24", "2001:db8::/64"])
    acquire_all(app, ctx, "dual", "2001:db8::1:0", "10.0.0.10", "203.0.113.5", "2001:db8::a",
                "10.0.0.100", "10.0.0.2", "2001:db8::9", "10.0.0.9")

    page = app.ip_page("dual", principal=None)

    assert shown(page) == ["10.0.0.2", "10.0.0.9", "10.0.0.10", "10.0.0.100", "203.0.113.5",
                           "2001:db8::9", "2001:db8::a", "2001:db8::1:0"]
    assert (page.next, page.total) == (None, 8)
    assert page.ips == app.list_ips(IPFilter(network_id="dual"))


def test_ip_page_pages_through_every_ip_once_after_the_last_address(
    app: IpamApplication, ctx: RequestContext,
) -> None:
    new_network(app, ctx, network_id="dual", project_id=PROJECT,
                prefixes=["10.0.0.0/24", "2001:db8::/64"])
    new_network(app, ctx, network_id="beside", project_id=PROJECT, prefixes=["10.0.1.0/24"])
    acquire_all(app, ctx, "beside", "10.0.1.5")  # another network's IPs are not on its pages
    acquire_all(app, ctx, "dual", *(f"10.0.0.{n}" for n in (3, 30, 12, 7, 100, 21, 2, 250)),
                *(f"2001:db8::{n:x}" for n in (16, 1, 255, 4096)))
    everything = app.list_ips(IPFilter(network_id="dual"))

    pages = every_page(app, "dual", limit=3)

    assert [len(p.ips) for p in pages] == [3, 3, 3, 3]  # a full last page says there is no more
    assert [ip for p in pages for ip in p.ips] == everything
    assert [p.next for p in pages] == [p.ips[-1]["address"] for p in pages[:-1]] + [None]
    assert {p.total for p in pages} == {12}
    assert [ip for p in every_page(app, "dual", limit=5) for ip in p.ips] == everything
    assert app.ip_page("dual", principal=None, limit=1000).ips == everything


def test_ip_page_starts_after_an_address_the_network_does_not_hold(
    app: IpamApplication, ctx: RequestContext,
) -> None:
    new_network(app, ctx, network_id="dual", project_id=PROJECT,
                prefixes=["10.0.0.0/24", "2001:db8::/64"])
    acquire_all(app, ctx, "dual", "10.0.0.2", "10.0.0.10", "10.0.0.20", "2001:db8::5")

    assert shown(app.ip_page("dual", principal=None, after="10.0.0.9")) == [
        "10.0.0.10", "10.0.0.20", "2001:db8::5"]
    assert shown(app.ip_page("dual", principal=None, after="192.168.0.1")) == ["2001:db8::5"]
    assert shown(app.ip_page("dual", principal=None, after="2001:DB8:0::0")) == ["2001:db8::5"]
    past_the_end = app.ip_page("dual", principal=None, after="2001:db8::5")
    assert (past_the_end.ips, past_the_end.next, past_the_end.total) == ([], None, 4)


@pytest.mark.parametrize("limit", [0, -1, 1001, 10**9])
def test_ip_page_rejects_a_limit_outside_1_to_1000(
    app: IpamApplication, ctx: RequestContext, limit: int,
) -> None:
    new_network(app, ctx, network_id="v4", project_id=PROJECT, prefixes=["10.0.0.0/24"])

    with pytest.raises(InvalidRequestError) as error:
        app.ip_page("v4", principal=None, limit=limit)
    assert error.value.message == f"limit must be between 1 and 1000, not {limit}"


def test_ip_page_takes_limits_1_and_1000(app: IpamApplication, ctx: RequestContext) -> None:
    new_network(app, ctx, network_id="v4", project_id=PROJECT, prefixes=["10.0.0.0/24"])
    acquire_all(app, ctx, "v4", "10.0.0.7", "10.0.0.5")

    one = app.ip_page("v4", principal=None, limit=1)
    assert (shown(one), one.next, one.total) == (["10.0.0.5"], "10.0.0.5", 2)
    assert shown(app.ip_page("v4", principal=None, limit=1000)) == ["10.0.0.5", "10.0.0.7"]


@pytest.mark.parametrize("after", ["", "nope", "10.0.0.256", "10.0.0.0/24", " 10.0.0.1",
                                  "fe80::1%eth0", "10.0.0.01"])
def test_ip_page_rejects_an_after_that_is_not_an_address(
    app: IpamApplication, ctx: RequestContext, after: str,
) -> None:
    new_network(app, ctx, network_id="v4", project_id=PROJECT, prefixes=["10.0.0.0/24"])

    with pytest.raises(InvalidRequestError) as error:
        app.ip_page("v4", principal=None, after=after)
    assert "is not a valid ip address" in error.value.message


def test_ip_page_shows_a_bound_principal_its_projects_ips_only(
    app: IpamApplication, ctx: RequestContext,
) -> None:
    new_network(app, ctx, network_id="shared", project_id=PROJECT, shared=True,
                prefixes=["10.0.0.0/24", "2001:db8::/64"])
    acquire_all(app, ctx, "shared", "10.0.0.9", "10.0.0.10", "2001:db8::1")
    acquire_all(app, ctx, "shared", "10.0.0.2", "10.0.0.50", "2001:db8::a", project_id=OTHER)

    mine = every_page(app, "shared", limit=2, principal=tenant(PROJECT))
    theirs = every_page(app, "shared", limit=2, principal=tenant(OTHER))
    both = app.ip_page("shared", principal=tenant(PROJECT, OTHER))

    assert [shown(p) for p in mine] == [["10.0.0.9", "10.0.0.10"], ["2001:db8::1"]]
    assert {p.total for p in mine} == {3}
    # the network is another project's, but OTHER took IPs from it (it is shared)
    assert [shown(p) for p in theirs] == [["10.0.0.2", "10.0.0.50"], ["2001:db8::a"]]
    assert {p.total for p in theirs} == {3}
    assert (both.total, both.ips) == (6, app.ip_page("shared", principal=None).ips)
    assert [ip for p in mine for ip in p.ips] == app.list_ips(
        IPFilter(network_id="shared"), principal=tenant(PROJECT))


def test_ip_page_hides_a_network_the_principal_may_not_see_and_holds_no_ip_of(
    app: IpamApplication, ctx: RequestContext,
) -> None:
    new_network(app, ctx, network_id="theirs", project_id=OTHER, prefixes=["10.0.0.0/24"])
    acquire_all(app, ctx, "theirs", "10.0.0.5", project_id=OTHER)

    with pytest.raises(NetworkNotFoundError) as error:
        app.ip_page("theirs", principal=tenant(PROJECT))
    assert error.value.message == 'network with id "theirs" not found'
    assert shown(app.ip_page("theirs", principal=tenant(OTHER))) == ["10.0.0.5"]


def test_ip_page_of_a_network_without_ips_is_empty(
    app: IpamApplication, ctx: RequestContext,
) -> None:
    new_network(app, ctx, network_id="empty", project_id=PROJECT,
                prefixes=["10.0.0.0/24", "2001:db8::/64"])
    new_network(app, ctx, network_id="super", prefixes=["10.9.0.0/16"], partition_id="p1",
                private_super=True, default_child_prefix_length={"IPv4": 22})

    assert app.ip_page("empty", principal=None) == IPPage(ips=[], next=None, total=0)
    assert app.ip_page("empty", principal=tenant(PROJECT)) == IPPage(ips=[], next=None, total=0)
    # a network without a project is everyone's to see, its IPs are not
    assert app.ip_page("super", principal=tenant(OTHER)) == IPPage(ips=[], next=None, total=0)


def test_ip_page_raises_not_found_for_a_network_that_does_not_exist(
    app: IpamApplication, ctx: RequestContext,
) -> None:
    new_network(app, ctx, network_id="gone", project_id=PROJECT, prefixes=["10.0.0.0/24"])
    app.delete_network("gone", context=ctx)

    for network_id in ("nope", "gone"):
        with pytest.raises(NetworkNotFoundError) as error:
            app.ip_page(network_id, principal=None)
        assert error.value.message == f'network with id "{network_id}" not found'


# -- stores written by an earlier release --------------------------------------------------


def ip_indexes(engine: Engine, slot: str) -> set[str]:
    return {str(index["name"]) for index in inspect(engine).get_indexes(f"ipam_ips_{slot}")}


@pytest.fixture(params=[
    pytest.param("sqlite", marks=pytest.mark.integration),
    pytest.param("postgres", marks=[pytest.mark.integration, pytest.mark.postgres]),
])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ipam]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ipam.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
        reset_postgres(url)
    opened = open_ipam(url)
    yield opened
    opened.close()


def test_opening_a_store_builds_the_indexes_its_live_slot_lacks(
    store: Ipam, ctx: RequestContext,
) -> None:
    new_network(store.app, ctx, network_id="v4", project_id=PROJECT, prefixes=["10.0.0.0/24"])
    acquire_all(store.app, ctx, "v4", "10.0.0.10", "10.0.0.9")
    engine = store.projection.engine
    live = store.projection.live_slot()
    with engine.begin() as conn:  # as a store written before the index was declared
        conn.execute(text(f"DROP INDEX ipam_ips_{live}_network_project_idx"))

    SqlReadModel(store.projection)  # what opening the store does
    SqlReadModel(store.projection)  # and again: nothing is missing now

    assert f"ipam_ips_{live}_network_project_idx" in ip_indexes(engine, live)
    assert shown(store.app.ip_page("v4", principal=tenant(PROJECT))) == ["10.0.0.9", "10.0.0.10"]


@pytest.fixture
def old_store(tmp_path: Path) -> Iterator[Ipam]:
    """0.1.0's store, copied: opened by this code as an upgrade would."""
    shutil.copy(GOLDEN / "0.1.0" / "ipam.db", tmp_path / "ipam.db")
    opened = open_ipam(f"sqlite:///{tmp_path / 'ipam.db'}")
    yield opened
    opened.close()


@pytest.mark.integration
def test_ip_page_pages_a_0_1_0_stores_ips_before_and_after_a_rebuild(old_store: Ipam) -> None:
    reads: dict[str, Any] = json.loads((GOLDEN / "0.1.0" / "reads.json").read_text())
    dual = next(n for n in reads["networks"] if n["name"] == "dual")["id"]
    held = [ip["ipaddress"] for ip in reads["ips"] if ip["networkid"] == dual]
    project = next(ip["projectid"] for ip in reads["ips"] if ip["networkid"] == dual)
    app = old_store.app
    assert held == ["10.0.0.1", "10.0.0.77", "2001:db8:0:10::abcd"]  # as 0.1.0 answered
    with closing(sqlite3.connect(f"file:{GOLDEN / '0.1.0' / 'ipam.db'}?mode=ro", uri=True)) as db:
        written = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
    assert "ipam_ips_a_network_idx" in written
    assert "ipam_ips_a_network_project_idx" not in written

    # opening built the index 0.1.0 did not have in the live slot; a rebuild builds the other's
    for slot in ("a", "b"):
        assert old_store.projection.live_slot() == slot
        assert f"ipam_ips_{slot}_network_project_idx" in ip_indexes(old_store.projection.engine,
                                                                    slot)
        for principal in (None, tenant(project)):
            first = app.ip_page(dual, principal=principal, limit=2)
            rest = app.ip_page(dual, principal=principal, after=first.next, limit=2)
            assert (shown(first), first.next, first.total) == (held[:2], held[1], 3)
            assert (shown(rest), rest.next, rest.total) == (held[2:], None, 3)
        old_store.projection.rebuild()

    ctx = RequestContext.new(actor="test")
    app.acquire_ip(context=ctx, network_id=dual, project_id=project, specific_ip="10.0.0.30")
    assert shown(app.ip_page(dual, principal=None)) == [
        "10.0.0.1", "10.0.0.30", "10.0.0.77", "2001:db8:0:10::abcd"]
