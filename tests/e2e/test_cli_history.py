"""`ipam history ...` against a live server: a network's events as a table, filtered, ordered,
in pages and as documents; an address's life; everything inside a CIDR; and paging past the
server's largest page on a store written directly."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from application.context import RequestContext
from domain.network_values import NetworkAttributes
from infrastructure.store import open_ipam
from tests.e2e.conftest import Cli, table, unique
from tests.live import ipam_serve

HEADER = ["POSITION", "TIME", "TYPE", "ACTOR", "WHAT", "REASON"]
STORY = ["NetworkCreated", "PrefixAdded", "PrefixAdded", "ChildNetworkAllocated", "IPAcquired",
         "IPReleased"]
RECORD_FIELDS = {"position", "network", "aggregate_id", "version", "time", "type", "actor",
                 "request_id", "reason", "facts"}
ACQUISITIONS = 1050
_blocks = itertools.count(1)  # each test its own prefixes: networks never overlap on one server


def history(cli: Cli, *args: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = cli.json("history", *args)
    return events


def positions(events: list[dict[str, Any]]) -> list[int]:
    return [event["position"] for event in events]


def rows(cli: Cli, *args: str) -> list[list[str]]:
    """A history table's rows without its header."""
    return table(cli.ok("history", *args).stdout)[1:]


@pytest.fixture
def story(cli: Cli) -> str:
    """A private super network: created with two prefixes, a child allocated from its IPv4
    prefix, an IPv6 address acquired and released in it (with reasons). Returns its id."""
    n = next(_blocks)
    network_id, partition = unique("super"), unique("partition")
    cli.ok("network", "create", "--id", network_id, "--partition", partition, "--privatesuper",
           "--prefixes", f"10.{n}.0.0/16,2001:db8:{n:x}::/48",
           "--default-ipv4-child-prefix-length", "24", "--default-ipv6-child-prefix-length", "64")
    cli.ok("network", "allocate", "--partition", partition, "--project", "p", "--name", "kid",
           "--addressfamily", "IPv4")
    ip = cli.json("network", "ip", "create", "--network", network_id, "--project", "p",
                  "--addressfamily", "IPv6", "--reason", "for web")
    cli.ok("network", "ip", "delete", ip["ipaddress"], "--reason", "web gone")
    return network_id


def test_network_history_table_shows_story_in_order(cli: Cli, story: str) -> None:
    lines = table(cli.ok("history", "network", story).stdout)
    assert lines[0] == HEADER
    events = history(cli, "network", story)
    assert [int(row[0]) for row in lines[1:]] == positions(events)
    assert [row[2] for row in lines[1:]] == STORY
    assert {row[3] for row in lines[1:]} == {"test-admin"}
    acquired, released = lines[-2:]
    assert acquired[-1] == "for web" and released[-1] == "web gone"
    assert [row[4] for row in lines[2:4]] == [f"prefix={e['facts']['prefix']}" for e in events[1:3]]


def test_network_history_type_filter_is_repeatable(cli: Cli, story: str) -> None:
    only = rows(cli, "network", story, "--type", "IPReleased", "--type", "PrefixAdded")
    assert [row[2] for row in only] == ["PrefixAdded", "PrefixAdded", "IPReleased"]


def test_network_history_order_desc_is_newest_first(cli: Cli, story: str) -> None:
    ascending = history(cli, "network", story)
    descending = history(cli, "network", story, "--order", "desc")
    assert descending == ascending[::-1]
    assert [row[2] for row in rows(cli, "network", story, "--order", "desc")] == STORY[::-1]


def test_network_history_since_until_bound_by_event_times(cli: Cli, story: str) -> None:
    events = history(cli, "network", story)
    allocated, acquired = events[3], events[4]
    between = history(cli, "network", story, "--since", allocated["time"],
                      "--until", acquired["time"])
    assert between == [allocated, acquired]
    assert history(cli, "network", story, "--since", acquired["time"]) == events[4:]
    assert history(cli, "network", story, "--until", allocated["time"]) == events[:4]


def test_network_history_limit_says_where_to_continue(cli: Cli, story: str) -> None:
    events = history(cli, "network", story)
    result = cli("history", "network", story, "--limit", "2")
    assert result.exit_code == 0, result.stderr
    assert [int(row[0]) for row in table(result.stdout)[1:]] == positions(events[:2])
    cursor = events[1]["position"]
    assert result.stderr.strip() == f"more events follow: --cursor {cursor}, or --all"
    rest = history(cli, "network", story, "--cursor", str(cursor))
    assert rest == events[2:]


def test_network_history_json_and_yaml_are_event_documents(cli: Cli, story: str) -> None:
    as_json = history(cli, "network", story)
    as_yaml = yaml.safe_load(cli.ok("history", "network", story, "-o", "yaml").stdout)
    assert as_yaml == as_json
    assert [set(event) for event in as_json] == [RECORD_FIELDS] * len(STORY)
    assert {event["network"] for event in as_json} == {story}
    assert [event["type"] for event in as_json] == STORY
    assert [event["version"] for event in as_json] == list(range(1, len(STORY) + 1))
    assert as_json[0]["facts"]["network_id"] == story
    assert (as_json[4]["reason"], as_json[5]["reason"]) == ("for web", "web gone")


def test_network_history_wide_adds_request_id_version_and_facts(cli: Cli, story: str) -> None:
    lines = table(cli.ok("history", "network", story, "-o", "wide").stdout)
    assert lines[0] == ["POSITION", "TIME", "NETWORK", "VERSION", "TYPE", "ACTOR", "REQUEST ID",
                        "REASON", "FACTS"]
    events = history(cli, "network", story)
    for row, event in zip(lines[1:], events, strict=True):
        assert row[:7] == [str(event["position"]), event["time"].replace("T", " "), story,
                           str(event["version"]), event["type"], "test-admin", event["request_id"]]
        assert json.loads(row[-1]) == event["facts"]


def test_network_history_of_unknown_network_is_refused(cli: Cli) -> None:
    missing = unique("missing")
    message = cli.fails(1, "history", "network", missing)
    assert message == f'Error: network with id "{missing}" not found (HTTP 404)'


# an address's life and a prefix's -----------------------------------------------------------------

def test_ip_history_shows_acquire_update_release_with_reasons(cli: Cli) -> None:
    n = next(_blocks)
    network_id, address = unique("net"), f"10.{n}.0.7"
    cli.ok("network", "create", "--id", network_id, "--prefixes", f"10.{n}.0.0/24")
    cli.ok("network", "ip", "create", "--network", network_id, "--project", "p",
           "--ipaddress", address, "--reason", "new web server")
    cli.ok("network", "ip", "update", address, "--name", "web", "--reason", "named it")
    cli.ok("network", "ip", "delete", address, "--reason", "decommissioned")
    lines = table(cli.ok("history", "ip", address).stdout)
    assert lines[0] == ["POSITION", "TIME", "NETWORK", "TYPE", "ACTOR", "WHAT", "REASON"]
    assert [(row[2], row[3], row[4], row[-1]) for row in lines[1:]] == [
        (network_id, "IPAcquired", "test-admin", "new web server"),
        (network_id, "IPUpdated", "test-admin", "named it"),
        (network_id, "IPReleased", "test-admin", "decommissioned"),
    ]
    assert all(row[5].startswith(f"address={address} ") for row in lines[1:])
    assert "name=web" in lines[2][5]


def test_prefix_history_holds_only_events_inside_the_cidr(cli: Cli) -> None:
    n = next(_blocks)
    network_id, inside = unique("net"), f"10.{n}.0.0/29"
    cli.ok("network", "create", "--id", network_id, "--prefixes", f"10.{n}.0.0/24")
    for address in (f"10.{n}.0.1", f"10.{n}.0.9", f"10.{n}.0.2"):
        cli.ok("network", "ip", "create", "--network", network_id, "--project", "p",
               "--ipaddress", address)
    events = history(cli, "prefix", inside)
    assert [(e["type"], e["facts"].get("address") or e["facts"]["prefix"]) for e in events] == [
        ("PrefixAdded", f"10.{n}.0.0/24"),
        ("IPAcquired", f"10.{n}.0.1"),
        ("IPAcquired", f"10.{n}.0.2"),
    ]
    assert {e["network"] for e in events} == {network_id}
    whole = history(cli, "prefix", f"10.{n}.0.0/24")
    assert f"10.{n}.0.9" in {e["facts"].get("address") for e in whole}
    lines = table(cli.ok("history", "prefix", inside).stdout)
    assert lines[0] == ["POSITION", "TIME", "NETWORK", "TYPE", "ACTOR", "WHAT", "REASON"]
    assert [row[2] for row in lines[1:]] == [network_id] * 3


# paging past the server's largest page (1000) -----------------------------------------------------

@pytest.fixture(scope="module")
def paged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cli, str]]:
    """A server of its own whose store got a network and 1,050 acquisitions written to it
    directly (not through HTTP); yields a CLI on it and the network's id."""
    workdir = tmp_path_factory.mktemp("paged")
    database_url = f"sqlite:///{workdir / 'ipam.db'}"
    with ipam_serve(database_url, workdir) as live:
        opened = open_ipam(database_url)
        try:
            context = RequestContext.new(actor="x")
            opened.app.create_network(
                context=context,
                network_id="paged",
                prefixes=["10.250.0.0/21"],
                attributes=NetworkAttributes(project_id="p"),
            )
            for _ in range(ACQUISITIONS):
                opened.app.acquire_ip(context=context, network_id="paged", project_id="p")
        finally:
            opened.close()
        yield Cli(live.url, live.token), "paged"


def test_network_history_limit_beyond_one_page_returns_exactly_limit(
    paged: tuple[Cli, str],
) -> None:
    cli, network_id = paged
    result = cli("history", "network", network_id, "--limit", "1030", "-o", "json")
    assert result.exit_code == 0, result.stderr
    events = json.loads(result.stdout)
    assert len(events) == 1030
    assert events == history(cli, "network", network_id, "--all")[:1030]
    assert result.stderr.strip() == \
        f"more events follow: --cursor {events[-1]['position']}, or --all"


def test_network_history_all_follows_every_page(paged: tuple[Cli, str]) -> None:
    cli, network_id = paged
    events = history(cli, "network", network_id, "--all")
    assert len(events) == 2 + ACQUISITIONS  # creation, its prefix, the acquisitions
    assert positions(events) == sorted(set(positions(events)))
    assert [e["type"] for e in events[:2]] == ["NetworkCreated", "PrefixAdded"]
    assert {e["type"] for e in events[2:]} == {"IPAcquired"}
    assert {e["actor"] for e in events} == {"x"}
    assert len({e["facts"]["address"] for e in events[2:]}) == ACQUISITIONS
