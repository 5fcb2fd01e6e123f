"""The real `ipam` on a terminal of 80, 100, 120 (and 150) columns against a live server: every
address, id, prefix and actor whole, lines within the width unless required values force them past
it, optional columns dropped in the documented order (and named on standard error), `-o wide`
keeping every column. A pseudo-terminal of the given size stands in for the user's."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import termios
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from application.context import RequestContext
from infrastructure.store import open_ipam
from tests.e2e.conftest import Cli
from tests.live import BIN, Live

PROJECT = "4b9b17c4-2d7c-4190-ae95-dda44e430fa6"
OTHER = "0f8fad5b-d9cb-469f-a165-70867728950e"
ACTOR = "token:0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
SUPER = "tenant-super-network-mini-lab"
WEB = "web-tier-dual-stack"
NODE_ADDRESS = "2001:db8:0:10::ffff:1"
WEB_ADDRESS = "2001:db8:abcd:1234::1"
REASONS = ["node 7 joins the cluster after the rack move", "renamed to match the inventory",
           "decommissioned"]


@dataclass(frozen=True)
class Lab:
    url: str
    token: str  # the long actor's
    children: list[dict[str, Any]]
    ips: list[dict[str, Any]]


@pytest.fixture(scope="module")
def lab(server: Live) -> Iterator[Lab]:
    """The seed's super network with two children of a UUID project, a dual-stack web network of
    another, and addresses acquired, updated and released by a token whose subject is long."""
    opened = open_ipam(server.database_url)
    try:
        _, token = opened.tokens.issue(context=RequestContext.new(actor="tests"), subject=ACTOR,
                                       role="admin")
    finally:
        opened.close()
    cli = Cli(server.url, token)
    cli.ok("network", "create", "--id", SUPER, "--name", "Project Super Network", "--partition",
           "mini-lab", "--prefixes", "10.0.0.0/16,2001:db8:0:10::/64", "--privatesuper",
           "--default-ipv4-child-prefix-length", "22", "--default-ipv6-child-prefix-length", "96")
    children = [cli.json("network", "allocate", "--partition", "mini-lab", "--project", PROJECT,
                         "--name", name) for name in ("my-node-network", "my-second-network")]
    cli.ok("network", "create", "--id", WEB, "--name", "web tier", "--partition", "fra-equ01",
           "--project", OTHER, "--prefixes", "10.20.0.0/24,2001:db8:abcd:1234::/64",
           "--description", "front door of the web tier, dual-stack since the 2026 review")
    ips = [cli.json("network", "ip", "create", "--network", WEB, "--project", OTHER,
                    "--ipaddress", WEB_ADDRESS, "--name", "web-frontend-01", "--type", "static",
                    "--description", "the web tier's front door, serving both address families",
                    "--tags", "machine.metal-stack.io/id=00000000-0000-0000-0000-0cc47ae54a9e,role=frontend"),
           cli.json("network", "ip", "create", "--network", children[0]["id"], "--project", PROJECT,
                    "--ipaddress", NODE_ADDRESS, "--reason", REASONS[0]),
           cli.json("network", "ip", "create", "--network", children[0]["id"], "--project", PROJECT,
                    "--addressfamily", "IPv4")]
    cli.ok("network", "ip", "update", NODE_ADDRESS, "--name", "node-7", "--reason", REASONS[1])
    cli.ok("network", "ip", "delete", NODE_ADDRESS, "--reason", REASONS[2])
    yield Lab(server.url, token, children, ips)


def at_terminal(lab: Lab, columns: int, *args: str) -> tuple[list[str], str]:
    """`ipam ARGS` with standard output on a terminal `columns` wide: its lines and its stderr."""
    main, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {k: v for k, v in os.environ.items()
           if k not in ("COLUMNS", "LINES", "FORCE_COLOR", "IPAM_OUTPUT")}
    env.update(IPAM_API_URL=lab.url, IPAM_TOKEN=lab.token, NO_COLOR="1", TERM="xterm-256color")
    process = subprocess.Popen([str(BIN / "ipam"), *args], stdin=subprocess.DEVNULL,
                               stdout=terminal, stderr=subprocess.PIPE, env=env)
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: the program closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    assert process.stderr is not None
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 0, stderr
    out = b"".join(chunks).decode().replace("\r\n", "\n")
    return re.sub(r"\x1b\[[0-9;]*m", "", out).splitlines(), stderr  # bold headers (NO_COLOR: no colour)


def columns_of(header: str) -> list[str]:
    return re.split(r"\s{2,}", header.strip())


def assert_whole(lines: list[str], *values: str) -> None:
    for value in values:
        assert any(value in line for line in lines), (value, lines)


def assert_dropped_in_order(shown: list[str], stderr: str, all_columns: list[str],
                            drops: tuple[tuple[str, ...], ...]) -> list[str]:
    """The hidden columns are the first of the drop order, and standard error names them."""
    order = [h for group in drops for h in group if h]
    assert [h for h in all_columns if h in shown] == shown  # in the table's order
    hidden = [h for h in order if h not in shown]
    assert set(all_columns) - set(shown) == set(hidden) and hidden == order[:len(hidden)], shown
    if hidden:
        assert f"({', '.join(hidden)} hidden to fit" in stderr and "-o wide" in stderr
    else:
        assert stderr == ""
    return hidden


# the columns and drop orders docs/cli-tables.md documents
NETWORK_COLUMNS = ["ID", "NAME", "PROJECT", "PARTITION", "NAT", "SHARED", "PREFIXES", "IPS"]
NETWORK_DROPS = (("NAT",), ("SHARED",), ("IPS",), ("NAME",), ("PARTITION",), ("PROJECT",))
IP_COLUMNS = ["IP", "DESCRIPTION", "NAME", "NETWORK", "PROJECT", "TYPE", "TAGS"]
IP_DROPS = (("TAGS",), ("DESCRIPTION",), ("NAME",), ("TYPE",), ("PROJECT",))
HISTORY_COLUMNS = ["POSITION", "TIME", "NETWORK", "TYPE", "ACTOR", "WHAT", "REASON"]
HISTORY_DROPS = (("WHAT",),)


@pytest.mark.parametrize("width", [80, 100, 120])
def test_network_list_fits_the_terminal_with_ids_and_prefixes_whole(lab: Lab, width: int) -> None:
    lines, stderr = at_terminal(lab, width, "network", "list")
    shown = columns_of(lines[0])
    assert_dropped_in_order(shown, stderr, NETWORK_COLUMNS, NETWORK_DROPS)
    assert max(len(line) for line in lines) <= width, lines
    assert_whole(lines, SUPER, WEB, *(c["id"] for c in lab.children), "10.0.0.0/16,",
                 "2001:db8:0:10::/64", "10.20.0.0/24,", "2001:db8:abcd:1234::/64",
                 *(p for c in lab.children for p in c["prefixes"]))
    if "PROJECT" in shown:
        assert_whole(lines, PROJECT, OTHER)


@pytest.mark.parametrize("width", [80, 100, 120])
def test_ip_list_fits_the_terminal_with_addresses_and_networks_whole(lab: Lab, width: int) -> None:
    lines, stderr = at_terminal(lab, width, "network", "ip", "list")
    shown = columns_of(lines[0])
    hidden = assert_dropped_in_order(shown, stderr, IP_COLUMNS, IP_DROPS)
    assert "TAGS" in hidden  # the tags alone are wider than what is left beside the rest
    assert max(len(line) for line in lines) <= width, lines
    assert_whole(lines, WEB_ADDRESS, lab.ips[2]["ipaddress"], WEB, lab.children[0]["id"])
    if "PROJECT" in shown:
        assert_whole(lines, OTHER, PROJECT)


@pytest.mark.parametrize("width", [80, 100, 120, 150])
def test_ip_history_keeps_who_and_why_at_any_width(lab: Lab, width: int) -> None:
    lines, stderr = at_terminal(lab, width, "history", "ip", NODE_ADDRESS)
    shown = columns_of(lines[0])
    required = ["POSITION", "TIME", "NETWORK", "TYPE", "ACTOR", "REASON"]
    assert [h for h in shown if h in required] == required
    assert_dropped_in_order(shown, stderr, HISTORY_COLUMNS, HISTORY_DROPS)
    assert sum(ACTOR in line for line in lines) == 3  # the actor whole on each event
    assert_whole(lines, lab.children[0]["id"], "IPAcquired", "IPUpdated", "IPReleased")
    words = set(" ".join(lines).split())
    for reason in REASONS:  # wrapped maybe, at spaces
        assert set(reason.split()) <= words, (reason, lines)
    longest = max(len(line) for line in lines)
    if width >= 150:
        assert longest <= width, lines
    else:  # position, time's clock, network, type, actor and the longest word of a reason
        assert longest <= max(width, 8 + 16 + 36 + 10 + len(ACTOR) + len("decommissioned") + 5 * 2)


@pytest.mark.parametrize("width", [80, 120])
def test_wide_shows_every_column_on_a_narrow_terminal(lab: Lab, width: int) -> None:
    lines, stderr = at_terminal(lab, width, "network", "ip", "list", "-o", "wide")
    assert columns_of(lines[0]) == ["IP", "ALLOCATION UUID", *IP_COLUMNS[1:]] and stderr == ""
    held = (lab.ips[0], lab.ips[2])  # the second was released
    assert_whole(lines, WEB_ADDRESS, *(ip["allocationuuid"] for ip in held), OTHER, PROJECT,
                 "machine.metal-stack.io/id=00000000-0000-0000-0000-0cc47ae54a9e", "role=frontend")
    lines, stderr = at_terminal(lab, width, "network", "list", "-o", "wide")
    assert columns_of(lines[0]) == ["ID", "DESCRIPTION", "NAME", "PROJECT", "PARTITION", "NAT",
                                    "SHARED", "PREFIXES", "USAGE", "PRIVATESUPER", "ANNOTATIONS"]
    assert_whole(lines, SUPER, *(c["id"] for c in lab.children), PROJECT, OTHER, "false  false",
                 "IPv4 children:", "2 allocated,", "62 more /22 fit", f"{2 ** 32 - 2} more /96 fit")


def test_a_pipe_gets_whole_rows_whatever_the_columns(lab: Lab) -> None:
    cli = Cli(lab.url, lab.token)
    out = cli("network", "ip", "list", env={"COLUMNS": "80"})
    assert out.exit_code == 0 and out.stderr == ""
    row = next(line for line in out.stdout.splitlines() if WEB_ADDRESS in line)
    assert "the web tier's front door, serving both address families" in row and OTHER in row


def test_no_line_ends_in_padding(lab: Lab) -> None:
    """An empty last cell leaves no trailing spaces (copying a line copies only what it shows)."""
    cli = Cli(lab.url, lab.token)
    for args in (("network", "list"), ("network", "list", "-o", "wide"), ("network", "ip", "list"),
                 ("network", "ip", "list", "-o", "wide")):
        out = cli(*args)
        assert out.exit_code == 0, out.stderr
        assert [line for line in out.stdout.splitlines() if line != line.rstrip()] == [], args
