"""`ipam network ip ...` against a live server: acquire (lowest free, specific, IPv6), list with
every filter, describe now and at a past time, update, release, and the refusals' exit codes."""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import Cli, table, unique

HEADER = ["IP", "DESCRIPTION", "NAME", "NETWORK", "PROJECT", "TYPE", "TAGS"]
_blocks = itertools.count(1)  # each test its own prefixes: networks never overlap on one server


def network(cli: Cli, dual_stack: bool = False) -> tuple[str, str, str]:
    """A fresh network of this test's own: (id, its IPv4 /24, its IPv6 /64)."""
    n = next(_blocks)
    v4, v6 = f"10.{n}.0.0/24", f"2001:db8:{n:x}::/64"
    network_id = unique("net")
    prefixes = f"{v4},{v6}" if dual_stack else v4
    cli.ok("network", "create", "--id", network_id, "--prefixes", prefixes, "--project", "p")
    return network_id, v4, v6


def base(prefix: str) -> str:
    """`10.7.0.` of `10.7.0.0/24`, `2001:db8:7::` of `2001:db8:7::/64`."""
    address = prefix.split("/")[0]
    return address[:-1] if address.endswith(".0") else address


def acquire(cli: Cli, network_id: str, *args: str, project: str = "p") -> dict[str, Any]:
    created: dict[str, Any] = cli.json("network", "ip", "create", "--network", network_id,
                                       "--project", project, *args)
    return created


def addresses(cli: Cli, *args: str) -> set[str]:
    return {ip["ipaddress"] for ip in cli.json("network", "ip", "list", *args)}


# create -------------------------------------------------------------------------------------------

def test_create_acquires_lowest_free_address_skipping_network_address(cli: Cli) -> None:
    network_id, v4, _ = network(cli)
    assert acquire(cli, network_id)["ipaddress"] == base(v4) + "1"
    assert acquire(cli, network_id)["ipaddress"] == base(v4) + "2"


def test_create_acquires_the_given_address(cli: Cli) -> None:
    network_id, v4, _ = network(cli)
    ip = acquire(cli, network_id, "--ipaddress", base(v4) + "77")
    assert (ip["ipaddress"], ip["networkid"]) == (base(v4) + "77", network_id)
    assert addresses(cli, "--network", network_id) == {base(v4) + "77"}


def test_create_acquires_ipv6_when_asked_in_dual_stack_network(cli: Cli) -> None:
    network_id, _, v6 = network(cli, dual_stack=True)
    assert acquire(cli, network_id, "--addressfamily", "IPv6")["ipaddress"] == base(v6) + "1"


def test_create_records_every_field_in_json_and_yaml(cli: Cli) -> None:
    network_id, v4, _ = network(cli)
    fields = ("--name", "web", "--description", "front door", "--type", "static",
              "--tags", "b=2,a=1", "--machineid", "m-1")
    as_json = acquire(cli, network_id, *fields, project="p-json")
    as_yaml = yaml.safe_load(cli.ok("network", "ip", "create", "--network", network_id,
                                    "--project", "p-yaml", *fields, "-o", "yaml").stdout)
    for ip, project, address in ((as_json, "p-json", "1"), (as_yaml, "p-yaml", "2")):
        assert ip["ipaddress"] == base(v4) + address
        assert (ip["name"], ip["description"], ip["type"]) == ("web", "front door", "static")
        assert (ip["networkid"], ip["projectid"]) == (network_id, project)
        assert ip["tags"] == ["a=1", "b=2", "machine.metal-stack.io/id=m-1"]
    assert as_json["allocationuuid"] != as_yaml["allocationuuid"]


def test_create_prints_table_with_metalctl_columns(cli: Cli) -> None:
    network_id, v4, _ = network(cli)
    rows = table(cli.ok("network", "ip", "create", "--network", network_id, "--project", "p",
                        "--name", "web", "--description", "door", "--tags", "a=1").stdout)
    assert rows == [HEADER, [base(v4) + "1", "door", "web", network_id, "p", "ephemeral", "a=1"]]


def test_create_wide_adds_allocation_uuid_column(cli: Cli) -> None:
    network_id, v4, _ = network(cli)
    rows = table(cli.ok("network", "ip", "create", "--network", network_id, "--project", "p",
                        "--name", "web", "--description", "door", "--tags", "a=1",
                        "-o", "wide").stdout)
    assert rows[0] == ["IP", "ALLOCATION UUID", *HEADER[1:]]
    uuid = cli.json("network", "ip", "describe", base(v4) + "1")["allocationuuid"]
    assert rows[1:] == [[base(v4) + "1", uuid, "door", "web", network_id, "p", "ephemeral", "a=1"]]


def test_create_records_reason_in_history(cli: Cli) -> None:
    network_id, _, _ = network(cli)
    ip = cli.json("network", "ip", "create", "--network", network_id, "--project", "p",
                  "--reason", "ticket 42")
    events = cli.json("history", "ip", ip["ipaddress"])
    assert [(e["type"], e["reason"]) for e in events] == [("IPAcquired", "ticket 42")]


# list ---------------------------------------------------------------------------------------------

def _populated(cli: Cli) -> dict[str, str]:
    """A dual-stack network holding three IPs that the filters tell apart."""
    network_id, v4, v6 = network(cli, dual_stack=True)
    ctx = dict(network=network_id, v6prefix=v6, tag=unique("role"), name=unique("alpha"),
               machine=unique("m"), project=unique("p"), a=base(v4) + "1", b=base(v4) + "2",
               c=base(v6) + "1",
               v4wide=str(ipaddress.ip_network(v4).supernet(new_prefix=16)))
    acquire(cli, network_id, "--name", ctx["name"], "--type", "static",
            "--tags", f"{ctx['tag']}=db", "--machineid", ctx["machine"])
    acquire(cli, network_id, "--name", "beta", "--tags", f"{ctx['tag']}=web",
            project=ctx["project"])
    acquire(cli, network_id, "--addressfamily", "IPv6", "--name", "gamma", "--type", "static",
            "--tags", f"{ctx['tag']}=db")
    return ctx


FILTERS: dict[str, tuple[Callable[[dict[str, str]], list[str]], str]] = {
    "network": (lambda c: ["--network", c["network"]], "abc"),
    "project": (lambda c: ["--project", c["project"]], "b"),
    "addressfamily": (lambda c: ["--network", c["network"], "--addressfamily", "IPv6"], "c"),
    "type": (lambda c: ["--network", c["network"], "--type", "static"], "ac"),
    "tags": (lambda c: ["--tags", f"{c['tag']}=db"], "ac"),
    "all-tags": (lambda c: ["--tags", f"{c['tag']}=db", "--tags", f"{c['tag']}=web"], ""),
    "name": (lambda c: ["--name", c["name"]], "a"),
    "prefix": (lambda c: ["--prefix", c["v6prefix"]], "c"),
    "prefix-inside": (lambda c: ["--prefix", c["a"][:-1] + "0/31"], "a"),  # a smaller one: .0 and .1
    "prefix-around": (lambda c: ["--prefix", c["v4wide"]], "ab"),  # a larger one around the /24
    "ipaddress": (lambda c: ["--ipaddress", c["b"]], "b"),
    "machineid": (lambda c: ["--machineid", c["machine"]], "a"),
}


@pytest.mark.parametrize("which", FILTERS)
def test_list_filter_selects_exactly_matching_ips(cli: Cli, which: str) -> None:
    ctx = _populated(cli)
    args, expected = FILTERS[which]
    assert addresses(cli, *args(ctx)) == {ctx[key] for key in expected}


@pytest.mark.parametrize(("args", "complaint"), [
    (["--type", "Bogus"], "'Bogus' is not an IP type: ephemeral or static"),
    (["--prefix", "10.0.0.0/33"], "'10.0.0.0/33' is not a prefix in CIDR notation"),
    (["--prefix", "10.0.0.1/24"], "'10.0.0.1/24' is not a prefix in CIDR notation"),
    (["--prefix", "nonsense"], "'nonsense' is not a prefix in CIDR notation"),
])
def test_list_refuses_filters_that_can_match_nothing(cli: Cli, args: list[str], complaint: str) -> None:
    message = cli.fails(2, "network", "ip", "list", *args)
    assert complaint in message, message


def test_list_table_sorts_numerically_ipv4_before_ipv6(cli: Cli) -> None:
    network_id, v4, v6 = network(cli, dual_stack=True)
    acquire(cli, network_id, "--addressfamily", "IPv6")
    for last in ("10", "2", "9"):
        acquire(cli, network_id, "--ipaddress", base(v4) + last)
    rows = table(cli.ok("network", "ip", "list", "--network", network_id).stdout)
    assert rows[0] == HEADER
    assert [row[0] for row in rows[1:]] == [base(v4) + "2", base(v4) + "9", base(v4) + "10",
                                             base(v6) + "1"]


# describe -----------------------------------------------------------------------------------------

def test_describe_prints_yaml_by_default(cli: Cli) -> None:
    network_id, v4, _ = network(cli)
    ip = acquire(cli, network_id, "--name", "web")
    described = yaml.safe_load(cli.ok("network", "ip", "describe", base(v4) + "1").stdout)
    assert described == ip


def test_describe_at_shows_the_holder_of_that_time_after_release(cli: Cli) -> None:
    network_id, v4, _ = network(cli)
    address = base(v4) + "5"
    first = acquire(cli, network_id, "--ipaddress", address, "--name", "first", project="p1")
    cli.ok("network", "ip", "delete", address)
    second = acquire(cli, network_id, "--ipaddress", address, "--name", "second", project="p2")
    then = cli.json("network", "ip", "describe", address, "--at", first["created"])
    assert (then["name"], then["projectid"]) == ("first", "p1")
    assert then["allocationuuid"] == first["allocationuuid"] != second["allocationuuid"]
    assert cli.json("network", "ip", "describe", address)["name"] == "second"


def test_describe_at_without_offset_is_usage_error(cli: Cli) -> None:
    network_id, v4, _ = network(cli)
    acquire(cli, network_id)
    message = cli.fails(2, "network", "ip", "describe", base(v4) + "1",
                        "--at", "2026-03-03T12:00:00")
    assert "has no offset" in message


# update -------------------------------------------------------------------------------------------

def test_update_changes_exactly_the_given_fields(cli: Cli) -> None:
    network_id, v4, _ = network(cli)
    before = acquire(cli, network_id, "--name", "old", "--description", "keep", "--tags", "x=1")
    address = before["ipaddress"]
    renamed = cli.json("network", "ip", "update", address, "--name", "new")
    assert renamed == {**before, "name": "new", "changed": renamed["changed"]}
    cli.ok("network", "ip", "update", address, "--description", "d2", "--type", "static",
           "--tags", "y=2", "--tags", "z=3")
    after = cli.json("network", "ip", "describe", address)
    assert (after["name"], after["description"], after["type"], after["tags"]) == \
        ("new", "d2", "static", ["y=2", "z=3"])
    assert (after["allocationuuid"], after["created"]) == (before["allocationuuid"], before["created"])


def test_update_without_options_is_usage_error(cli: Cli) -> None:
    network_id, v4, _ = network(cli)
    before = acquire(cli, network_id, "--name", "keep")
    assert "nothing to update" in cli.fails(2, "network", "ip", "update", before["ipaddress"])
    assert cli.json("network", "ip", "describe", before["ipaddress"]) == before


# delete -------------------------------------------------------------------------------------------

def test_delete_prints_released_ip_then_describe_is_not_found(cli: Cli) -> None:
    network_id, v4, _ = network(cli)
    address = acquire(cli, network_id, "--name", "web", "--description", "door",
                      "--tags", "a=1")["ipaddress"]
    rows = table(cli.ok("network", "ip", "delete", address).stdout)
    assert rows == [HEADER, [address, "door", "web", network_id, "p", "ephemeral", "a=1"]]
    result = cli("network", "ip", "describe", address)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr.strip() == f'Error: ip with address "{address}" not found (HTTP 404)'


# refusals -----------------------------------------------------------------------------------------

def test_create_in_unknown_network_is_refused(cli: Cli) -> None:
    missing = unique("missing")
    message = cli.fails(1, "network", "ip", "create", "--network", missing, "--project", "p")
    assert message == f'Error: network with id "{missing}" not found (HTTP 404)'


def test_create_with_ipaddress_and_addressfamily_is_usage_error(cli: Cli) -> None:
    network_id, v4, _ = network(cli)
    message = cli.fails(2, "network", "ip", "create", "--network", network_id, "--project", "p",
                        "--ipaddress", base(v4) + "3", "--addressfamily", "IPv4")
    assert "give --ipaddress or --addressfamily, not both" in message
    assert addresses(cli, "--network", network_id) == set()


def test_create_address_outside_network_is_refused(cli: Cli) -> None:
    network_id, v4, _ = network(cli)
    message = cli.fails(1, "network", "ip", "create", "--network", network_id, "--project", "p",
                        "--ipaddress", "192.0.2.1")
    assert message == ("Error: specific ip not contained in any of the defined prefixes: 192.0.2.1 "
                       f'is not in network with id "{network_id}" ({v4}) (HTTP 422)')
    assert addresses(cli, "--network", network_id) == set()


def test_create_address_already_taken_is_conflict(cli: Cli) -> None:
    network_id, v4, _ = network(cli)
    first = acquire(cli, network_id, "--ipaddress", base(v4) + "8", "--name", "first")
    message = cli.fails(1, "network", "ip", "create", "--network", network_id, "--project", "p",
                        "--ipaddress", base(v4) + "8", "--name", "second")
    assert message == (f'Error: Conflict ip already allocated: {base(v4)}8 in network with id '
                       f'"{network_id}" (HTTP 409)')
    assert cli.json("network", "ip", "describe", base(v4) + "8") == first


@pytest.mark.parametrize("last", ["0", "255"])
def test_create_ipv4_network_or_broadcast_address_is_conflict(cli: Cli, last: str) -> None:
    network_id, v4, _ = network(cli)
    message = cli.fails(1, "network", "ip", "create", "--network", network_id, "--project", "p",
                        "--ipaddress", base(v4) + last)
    assert message == (f'Error: Conflict ip already allocated: {base(v4)}{last} in network with id '
                       f'"{network_id}" (HTTP 409)')
    assert addresses(cli, "--network", network_id) == set()


# values are data (issue 12) -----------------------------------------------------------------------

def test_tables_show_addresses_names_and_tags_as_they_are_never_as_emoji_markup_or_escapes(
    cli: Cli,
) -> None:
    """`:1234:`, `:a:` and `:id:` are Rich emoji codes; `[red]` is Rich markup; a tenant's
    control characters must not reach an admin's terminal raw."""
    network_id = unique("net")
    n = next(_blocks)
    cli.ok("network", "create", "--id", network_id, "--prefixes", f"2001:db{n:x}::/32",
           "--project", "p")
    wanted = [f"2001:db{n:x}:abcd:1234::1", f"2001:db{n:x}:a:b::1", f"2001:db{n:x}:cd:1d::1"]
    for address in wanted:
        acquire(cli, network_id, "--ipaddress", address, "--name", "[red]alarm[/red] :id:")
    acquire(cli, network_id, "--ipaddress", f"2001:db{n:x}::ff", "--name", "evil\x1b[2J",
            "--description", "a\r\n10.0.0.9  fake  row", "--tags", "k=\x07bell")

    for args in ((), ("-o", "wide")):
        out = cli.ok("network", "ip", "list", "--network", network_id, *args).stdout
        for address in wanted:
            assert address in out, out
        assert "🔢" not in out and "🆔" not in out
        assert "[red]alarm[/red] :id:" in out
        assert "\x1b" not in out and "\r" not in out and "\x07" not in out
        assert "evil\\x1b[2J" in out and "k=\\x07bell" in out
        rows = [line for line in out.splitlines() if "fake" in line]
        assert len(rows) == 1 and "a\\r\\n10.0.0.9" in rows[0]  # one row, no fake line
