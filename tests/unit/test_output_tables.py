"""The CLI's tables at 80, 100, 120 and 150 columns: every value whole, lines within the width
unless a required value forces them past it, optional columns dropped in the documented order,
`-o wide` keeping every column, and usage figures that agree with `capacity`."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from api.cli.output import (
    HISTORY_DROPS,
    IP_DROPS,
    NETWORK_DROPS,
    history_columns,
    history_table,
    ip_table,
    network_table,
    summary_parts,
)
from api.cli.tables import Cell, Column, Layout, joined, listed, whole, words
from api.cli.usage import ip_usage, usage_lines

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli-tables.md"
PROJECT = "4b9b17c4-2d7c-4190-ae95-dda44e430fa6"
OTHER = "0f8fad5b-d9cb-469f-a165-70867728950e"
ACTOR = "token:0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
CHILD = "a3b77a35-df8b-4de6-9c64-ef7bb09308c8"
SECOND = "5b10a110-a8cc-4107-9d9a-1fd623500e26"
GO_IPAM_CAP = 2147483647


def family(total: int, acquired: int, reserved: int, children: int = 0, length: int | None = None,
           free: int | None = None) -> dict[str, Any]:
    return {"total_ips": str(total), "acquired_ips": str(acquired), "reserved_ips": str(reserved),
            "child_prefixes": children, "free_space": "0", "largest_free_prefix": None,
            "free_prefix_count": 0, "free_prefixes": [], "child_prefix_length": length,
            "free_child_prefixes": None if free is None else str(free)}


def network(id: str, prefixes: list[str], v4: dict[str, Any], v6: dict[str, Any], **extra: Any) -> dict[str, Any]:
    capped = {"available_ips": GO_IPAM_CAP, "available_prefixes": GO_IPAM_CAP, "used_ips": 1,
              "used_prefixes": 0}  # go-ipam's figures: the tables must not show them
    return {"id": id, "name": "", "description": "", "partitionid": "mini-lab", "projectid": "",
            "parentnetworkid": "", "prefixes": prefixes, "labels": {}, "privatesuper": False,
            "nat": False, "shared": False, "consumption": {"ipv4": capped, "ipv6": capped},
            "capacity": {"ipv4": v4, "ipv6": v6}, **extra}


NETWORKS = [
    network("tenant-super-network-mini-lab", ["10.0.0.0/16", "2001:db8:0:10::/64"],
            family(65536, 0, 2, 2, 22, 62), family(2**64, 0, 1, 2, 96, 2**32 - 2),
            name="Project Super Network", description="Super network of all project networks",
            privatesuper=True),
    network(CHILD, ["10.0.0.0/22", "2001:db8:0:10::/96"], family(1024, 1, 2), family(2**32, 1, 1),
            parentnetworkid="tenant-super-network-mini-lab", projectid=PROJECT,
            name="my-node-network"),
    network(SECOND, ["10.0.4.0/22", "2001:db8:0:10:0:1::/96"], family(1024, 0, 2),
            family(2**32, 0, 1), parentnetworkid="tenant-super-network-mini-lab",
            projectid=PROJECT, name="my-second-network", shared=True),
    network("web-tier-dual-stack", ["10.20.0.0/24", "2001:db8:abcd:1234::/64"], family(256, 1, 2),
            family(2**64, 1, 1), projectid=OTHER, partitionid="fra-equ01", name="web tier",
            description="front door of the web tier, dual-stack since the 2026 review",
            nat=True, labels={"team": "web"}),
]
IPS = [
    {"ipaddress": "2001:db8:abcd:1234::1", "allocationuuid": "5e5d9811-6cad-45bf-9351-511910826cd4",
     "networkid": "web-tier-dual-stack", "projectid": OTHER, "name": "web-frontend-01",
     "description": "the web tier's front door, serving both address families", "type": "static",
     "tags": ["machine.metal-stack.io/id=00000000-0000-0000-0000-0cc47ae54a9e", "role=frontend"]},
    {"ipaddress": "2001:db8:0:10::ffff:1", "allocationuuid": "9b26224d-31f9-5fa4-bedd-5c00b4987203",
     "networkid": CHILD, "projectid": PROJECT, "name": "", "description": "", "type": "ephemeral",
     "tags": []},
    {"ipaddress": "10.0.0.1", "allocationuuid": "645dc308-4856-40db-80e5-8de493695aeb",
     "networkid": CHILD, "projectid": PROJECT, "name": "node-7", "description": "", "type": "ephemeral",
     "tags": []},
]


def event(position: int, event_type: str, reason: str | None, **facts: Any) -> dict[str, Any]:
    return {"position": position, "network": CHILD, "aggregate_id": "9b26224d-31f9-5fa4-bedd-5c00b4987203",
            "version": position - 17, "time": f"2026-03-03T12:0{position % 10}:00.123456Z",
            "type": event_type, "actor": ACTOR, "request_id": "645dc308-4856-40db-80e5-8de493695aeb",
            "reason": reason, "facts": facts}


ADDRESS = "2001:db8:0:10::ffff:1"
EVENTS = [
    event(21, "IPAcquired", "node 7 joins the cluster after the rack move", address=ADDRESS,
          prefix="2001:db8:0:10::/96", project_id=PROJECT, name="", type="ephemeral",
          allocation_uuid="9b26224d-31f9-5fa4-bedd-5c00b4987203", tags=[]),
    event(22, "IPUpdated", "renamed to match the inventory", address=ADDRESS, name="node-7",
          description="", type="static", tags=["role=node"]),
    event(23, "IPReleased", "decommissioned", address=ADDRESS, project_id=PROJECT,
          allocation_uuid="9b26224d-31f9-5fa4-bedd-5c00b4987203"),
]


# what must stay whole, per column: the atoms (a value never split) ---------------------------------

def network_atoms(n: dict[str, Any]) -> dict[str, list[str]]:
    prefixes = n["prefixes"]  # each whole; in the table a comma follows all but the last
    return {"ID": [n["id"]], "NAME": n["name"].split(), "PROJECT": [n["projectid"]],
            "PARTITION": [n["partitionid"]], "NAT": [str(n["nat"]).lower()],
            "SHARED": [str(n["shared"]).lower()],
            "PREFIXES": prefixes,
            "DESCRIPTION": n["description"].split(), "PRIVATESUPER": [str(n["privatesuper"]).lower()]}


def ip_atoms(ip: dict[str, Any]) -> dict[str, list[str]]:
    return {"IP": [ip["ipaddress"]], "ALLOCATION UUID": [ip["allocationuuid"]],
            "DESCRIPTION": ip["description"].split(), "NAME": ip["name"].split(),
            "NETWORK": [ip["networkid"]], "PROJECT": [ip["projectid"]], "TYPE": [ip["type"]],
            "TAGS": ip["tags"]}


def history_atoms(e: dict[str, Any]) -> dict[str, list[str]]:
    return {"POSITION": [str(e["position"])], "TIME": e["time"].replace("T", " ").split(),
            "NETWORK": [e["network"]], "VERSION": [str(e["version"])], "TYPE": [e["type"]],
            "ACTOR": [e["actor"]], "REQUEST ID": [e["request_id"]],
            "REASON": (e["reason"] or "").split(), "WHAT": summary_parts(e["type"], e["facts"])}


TABLES: dict[str, tuple[Callable[[bool], Layout], list[dict[str, Any]], Callable[[dict[str, Any]], dict[str, list[str]]], Sequence[Sequence[str]]]] = {
    "network list": (lambda wide: network_table(NETWORKS, wide), NETWORKS, network_atoms, NETWORK_DROPS),
    "ip list": (lambda wide: ip_table(IPS, wide), IPS, ip_atoms, IP_DROPS),
    "history ip": (lambda wide: history_table(EVENTS, wide, network_column=True), EVENTS,
                   history_atoms, HISTORY_DROPS),
    "history network": (lambda wide: history_table(EVENTS, wide, network_column=False), EVENTS,
                        history_atoms, HISTORY_DROPS),
}


def rendered(name: str, width: int | None, wide: bool = False) -> tuple[list[str], list[str], list[str]]:
    """(lines, headers shown, headers hidden) of a table at `width`."""
    layout = TABLES[name][0](wide)
    result = layout.render(width)
    lines = result.plain
    shown = [c.header for c in layout.columns if c.header not in result.hidden and c.header]
    return lines, shown, result.hidden


def assert_whole(name: str, lines: list[str], shown: list[str]) -> None:
    _, docs, atoms, _ = TABLES[name]
    for doc in docs:
        for header, values in atoms(doc).items():
            if header in shown:
                for value in values:
                    assert any(value in line for line in lines), (name, header, value, lines)


def required_width(name: str, required: list[str]) -> int:
    """The narrowest the required columns can be: each its widest atom (or header)."""
    _, docs, atoms, _ = TABLES[name]
    widths = [max([len(h), *(len(v) for doc in docs for v in atoms(doc).get(h, []))]) for h in required]
    return sum(widths) + 2 * (len(widths) - 1)


EXPECTED_HIDDEN = {
    ("network list", 80): ["NAT", "SHARED", "IPS", "", "NAME", "PARTITION", "PROJECT"],
    ("network list", 100): ["NAT", "SHARED", "IPS", "", "NAME", "PARTITION", "PROJECT"],
    ("network list", 120): ["NAT", "SHARED", "IPS", "", "NAME"],
    ("ip list", 80): ["TAGS", "DESCRIPTION", "NAME", "TYPE", "PROJECT"],
    ("ip list", 100): ["TAGS", "DESCRIPTION", "NAME", "TYPE"],
    ("ip list", 120): ["TAGS", "DESCRIPTION", "NAME"],
    ("history ip", 80): ["WHAT"],
    ("history ip", 100): ["WHAT"],
    ("history ip", 120): ["WHAT"],
    ("history ip", 150): ["WHAT"],
    ("history network", 80): ["WHAT"],
    ("history network", 100): ["WHAT"],
    ("history network", 120): ["WHAT"],
    ("history network", 150): ["WHAT"],  # allocation_uuid=<UUID> alone is 52 wide
}


@pytest.mark.parametrize(("name", "width"), sorted(EXPECTED_HIDDEN))
def test_tables_keep_values_whole_and_drop_columns_in_the_documented_order(name: str, width: int) -> None:
    lines, shown, hidden = rendered(name, width)
    drops = [h for group in TABLES[name][3] for h in group]
    assert hidden == drops[:len(hidden)] == EXPECTED_HIDDEN[name, width]
    assert re.split(r"\s{2,}", lines[0]) == shown
    assert_whole(name, lines, shown)
    required = [c.header for c in TABLES[name][0](False).columns if c.header not in drops]
    assert set(required) <= set(shown)
    longest = max(len(line) for line in lines)
    if longest > width:  # only the required columns' own values may force a line past the edge
        assert hidden == drops and longest <= required_width(name, required), lines
    assert longest <= max(width, required_width(name, required))


def test_history_ip_at_150_columns_keeps_type_actor_and_reason_within_the_width() -> None:
    lines, shown, hidden = rendered("history ip", 150)
    assert shown == ["POSITION", "TIME", "NETWORK", "TYPE", "ACTOR", "REASON"] and hidden == ["WHAT"]
    assert max(len(line) for line in lines) <= 150
    assert sum(ACTOR in line for line in lines) == len(EVENTS)
    assert all(e["time"].replace("T", " ") in "\n".join(lines) for e in EVENTS)  # not parted


@pytest.mark.parametrize("width", [80, 100, 120])
@pytest.mark.parametrize("name", ["network list", "ip list", "history ip"])
def test_wide_shows_every_column_at_any_width(name: str, width: int) -> None:
    lines, shown, hidden = rendered(name, width, wide=True)
    layout = TABLES[name][0](True)
    assert hidden == [] and shown == [c.header for c in layout.columns if c.header]
    assert_whole(name, lines, shown)


def test_without_a_terminal_nothing_is_dropped_or_wrapped() -> None:
    lines, shown, hidden = rendered("ip list", None)
    assert hidden == [] and len(lines) == 1 + len(IPS) + 1  # the second tag on a line of its own
    assert "the web tier's front door, serving both address families" in lines[-2]


def test_booleans_print_whole() -> None:
    lines, shown, _ = rendered("network list", 200)
    assert {"NAT", "SHARED"} <= set(shown)
    web = next(line for line in lines if line.startswith("web-tier-dual-stack"))
    assert web.split()[5:7] == ["true", "false"]


def test_a_value_wraps_only_at_its_separators_and_never_inside_an_atom() -> None:
    prefixes = listed(["10.0.0.0/22", "2001:db8:abcd:1234::/64", "2001:db8:0:10::/96"])
    assert wrapped(prefixes, 30) == ["10.0.0.0/22,", "2001:db8:abcd:1234::/64,", "2001:db8:0:10::/96"]
    assert wrapped(words("the web tier's front door"), 12) == ["the web", "tier's front", "door"]
    assert wrapped(whole(ACTOR), 10) == [ACTOR]  # wider than asked: stands alone


def wrapped(cell: Cell, width: int) -> list[str]:
    return [joined(line) for line in cell.wrap(width)]


def test_required_columns_wider_than_the_terminal_run_past_its_edge_uncut() -> None:
    layout = Layout([Column("ID"), Column("NOTE")], (("NOTE",),))
    layout.add_row(whole(CHILD), words("a note"))
    result = layout.render(20)
    assert result.hidden == ["NOTE"] and result.plain == ["ID", CHILD]


def test_a_tree_continues_on_the_further_lines_of_a_row() -> None:
    lines, _, _ = rendered("network list", 80, wide=True)
    starts = [line[:3].strip() for line in lines]
    first, second = starts.index("├─╴"), starts.index("└─╴")
    assert set(starts[2:first]) == {"│"}  # under the super, down to its first child
    assert set(starts[first + 1:second]) == {"│"} and set(starts[second + 1:]) - {""} == {"web"}


# usage figures agree with capacity ----------------------------------------------------------------

def test_usage_labels_each_figure_from_capacity_never_go_ipams_capped_figures() -> None:
    super_network = NETWORKS[0]
    assert usage_lines(super_network) == [
        ("IPv4 IPs: ", "2 used of 65536 ", "(0 acquired, 2 reserved)"),
        ("IPv4 children: ", "2 allocated, ", "62 more /22 fit"),
        ("IPv6 IPs: ", f"1 used of {2**64} ", "(0 acquired, 1 reserved)"),
        ("IPv6 children: ", "2 allocated, ", f"{2**32 - 2} more /96 fit"),
    ]
    assert wrapped(ip_usage(NETWORKS[1]), 200) == [f"● IPv4 3/1024  IPv6 2/{2**32}"]
    for wide in (False, True):
        out = "\n".join(network_table(NETWORKS, wide).render(None).plain)
        assert str(GO_IPAM_CAP) not in out and "15872" not in out


def test_usage_from_a_server_without_capacity_says_the_figures_are_go_ipams() -> None:
    old = {**NETWORKS[1], "capacity": {}}
    assert usage_lines(old) == [("IPv4 IPs: ", f"1 used of {GO_IPAM_CAP} ", "(go-ipam consumption)"),
                                ("IPv6 IPs: ", f"1 used of {GO_IPAM_CAP} ", "(go-ipam consumption)")]


def test_warning_marks_a_super_whose_children_are_nearly_all_allocated() -> None:
    full = {**NETWORKS[0], "capacity": {"ipv4": family(65536, 0, 2, 58, 22, 6), "ipv6": None}}
    assert warning(full) == "!" and warning(NETWORKS[0]) == ""


def warning(n: dict[str, Any]) -> str:
    from api.cli.usage import prefix_warning

    return joined(prefix_warning(n).wrap(10)[0])


# the documentation names the same columns and drop orders -----------------------------------------

@pytest.mark.parametrize(("section", "columns", "drops"), [
    ("### `ipam network list`", network_table([], False).columns, NETWORK_DROPS),
    ("### `ipam network ip list`", ip_table([], False).columns, IP_DROPS),
    ("### `ipam history network`", history_columns(True), HISTORY_DROPS),
])
def test_docs_name_each_tables_required_columns_and_drop_order(
    section: str, columns: Sequence[Column], drops: Sequence[Sequence[str]]
) -> None:
    text = DOCS.read_text().split(section, 1)[1].split("\n### ", 1)[0]
    required, drop_order = (re.search(pattern, text) for pattern in (r"Required: ([^.:]*)",
                                                                      r"Drop order: ([^.]*)"))
    assert required and drop_order, text
    optional = [h for group in drops for h in group if h]
    assert names(drop_order.group(1)) == optional
    assert names(required.group(1)) == [c.header for c in columns
                                        if c.header and c.header not in optional]


def names(text: str) -> list[str]:
    return [name for name in re.findall(r"`([^`]+)`", text) if name != "!"]
