"""What the client commands print: metalctl's tables (`table`, `wide`), or the API's documents as
YAML or JSON.

Tables go to standard output with colour only on a terminal (Rich honours `NO_COLOR` and
`FORCE_COLOR`); YAML and JSON are the server's documents, unchanged but for the order of a
network's keys in YAML, which follows the seed's layout.

A table fits the terminal without cutting a value (see `api.cli.tables`): optional columns are
dropped in this order (first dropped first; standard error names them), then cells wrap; `-o wide`
shows every column. docs/cli-tables.md describes every column.

- network list: NAT, SHARED, IPS (with its `!`), NAME, PARTITION, PROJECT; ID, PREFIXES stay.
- ip list: TAGS, DESCRIPTION, NAME, TYPE, PROJECT; IP, NETWORK stay.
- history network, ip, prefix: WHAT; POSITION, TIME, NETWORK, TYPE, ACTOR, REASON stay.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
import sys
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from api.cli.tables import (
    Cell,
    Column,
    Layout,
    listed,
    phrases,
    plain,
    prose,
    stacked,
    whole,
    words,
)
from api.cli.tables import visible as visible  # re-exported: client messages escape the same way
from api.cli.usage import ip_usage, prefix_warning, usage_lines


class Format(StrEnum):
    table = "table"
    wide = "wide"
    yaml = "yaml"
    json = "json"


Output = Annotated[Format, typer.Option(
    "-o", "--output-format", envvar="IPAM_OUTPUT", case_sensitive=False,
    help="table, wide (every column), yaml or json")]

# a network's keys in the order of the seed's `describe` (the rest after them, as the API sends them)
NETWORK_KEYS = (
    "id", "name", "description", "parentnetworkid", "partitionid", "prefixes", "projectid", "vrf",
    "consumption", "privatesuper", "destinationprefixes", "additionalAnnouncableCIDRs", "vrfshared",
    "underlay", "nat", "shared", "labels", "defaultchildprefixlength",
)

# the columns of each table and the drop order of its optional ones (docs/cli-tables.md)
NETWORK_COLUMNS = (Column("ID"), prose("NAME"), Column("PROJECT"), Column("PARTITION"),
                   Column("NAT"), Column("SHARED"), Column("PREFIXES", fold_to=0), Column(""), Column("IPS"))
NETWORK_DROPS = (("NAT",), ("SHARED",), ("IPS", ""), ("NAME",), ("PARTITION",), ("PROJECT",))
NETWORK_WIDE = (Column("ID"), prose("DESCRIPTION"), prose("NAME"),
                Column("PROJECT"), Column("PARTITION"), Column("NAT"), Column("SHARED"),
                Column("PREFIXES"), prose("USAGE"), Column("PRIVATESUPER"),
                Column("ANNOTATIONS"))
IP_COLUMNS = (Column("IP"), prose("DESCRIPTION"), prose("NAME"),
              Column("NETWORK"), Column("PROJECT"), Column("TYPE"), Column("TAGS"))
IP_DROPS = (("TAGS",), ("DESCRIPTION",), ("NAME",), ("TYPE",), ("PROJECT",))
IP_WIDE = (IP_COLUMNS[0], Column("ALLOCATION UUID"), *IP_COLUMNS[1:])
HISTORY_DROPS = (("WHAT",),)
HISTORY_WIDE = (Column("POSITION"), Column("TIME"), Column("NETWORK"), Column("VERSION"),
                Column("TYPE"), Column("ACTOR"), Column("REQUEST ID"), prose("REASON"),
                prose("FACTS"))


def history_columns(network_column: bool) -> tuple[Column, ...]:
    return (Column("POSITION"), Column("TIME"), *([Column("NETWORK")] if network_column else []),
            Column("TYPE"), Column("ACTOR"), prose("WHAT"), prose("REASON"))


def console() -> Console:
    """Standard output; as wide as a table needs when it is not a terminal, so pipes get whole rows.
    No emoji codes: `2001:db8:abcd:1234::1` holds `:1234:`, and values are data."""
    out = Console(highlight=False, soft_wrap=False, emoji=False)
    if not out.is_terminal:
        out = Console(highlight=False, soft_wrap=False, emoji=False, width=100_000)
    return out


def data(text: str) -> str:
    """A value inside Rich markup (a Rich table's cell, a message): control characters escaped,
    never read as markup."""
    return escape(visible(text))


def print_table(table: Table) -> None:
    """A Rich table on standard output, never cut: on a terminal too narrow for it the lines run
    past the edge; without the padding Rich leaves at the ends of lines."""
    out = console()
    out.width = max(out.width, out.measure(table).maximum)
    with out.capture() as captured:
        out.print(table)
    sys.stdout.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))
    sys.stdout.flush()


def print_layout(layout: Layout) -> None:
    """A table fitted to the terminal (whole rows when standard output is not one); the columns
    dropped to fit are named on standard error."""
    out = console()
    rendered = layout.render(out.width if out.is_terminal else None)
    if out.is_terminal:
        out.print(rendered.styled(), soft_wrap=True)
    else:  # no styles to render: the plain lines, fast for a long history
        sys.stdout.write("".join(line + "\n" for line in rendered.plain))
        sys.stdout.flush()
    hidden = [header for header in rendered.hidden if header]
    if hidden:
        Console(stderr=True, highlight=False, emoji=False).print(
            Text(f"({', '.join(hidden)} hidden to fit {out.width} columns: -o wide shows every "
                 "column)", style="dim"), soft_wrap=True)


def emit(document: Any, fmt: Format) -> None:
    """A document (or a list of them) as YAML or JSON on standard output."""
    if fmt is Format.json:
        sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    else:
        import yaml  # only YAML output needs it

        sys.stdout.write(yaml.safe_dump(document, sort_keys=False, allow_unicode=True,
                                        default_flow_style=False, width=1_000_000))
    sys.stdout.flush()


def ordered_network(network: dict[str, Any]) -> dict[str, Any]:
    ordered = {key: network[key] for key in NETWORK_KEYS if key in network}
    ordered.update((key, value) for key, value in network.items() if key not in ordered)
    consumption = ordered.get("consumption")
    if isinstance(consumption, dict):
        ordered["consumption"] = {
            family: dict(sorted(usage.items())) if isinstance(usage, dict) else usage
            for family, usage in consumption.items()
        }
    return ordered


def new_table(headers: Sequence[str]) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False, show_edge=False,
                  padding=(0, 2, 0, 0))
    for header in headers:
        table.add_column(header.upper(), no_wrap=True, overflow="fold")
    return table


# networks -----------------------------------------------------------------------------------------

def network_tree(networks: Iterable[dict[str, Any]]) -> list[tuple[str, dict[str, Any], str]]:
    """(glyph, network, continuation) rows: each parent followed by its children in the list,
    as metalctl draws them; a child whose parent is not in the list stands on its own."""
    networks = list(networks)
    ids = {n.get("id") for n in networks}
    children: dict[str, list[dict[str, Any]]] = {}
    roots = []
    for network in networks:
        parent = network.get("parentnetworkid") or ""
        if parent and parent in ids and parent != network.get("id"):
            children.setdefault(parent, []).append(network)
        else:
            roots.append(network)
    rows = []
    for root in roots:
        kids = children.get(root.get("id") or "", [])
        rows.append(("", root, "│" if kids else ""))
        for i, child in enumerate(kids):
            last = i == len(kids) - 1
            rows.append(("└─╴" if last else "├─╴", child, "" if last else "│"))
    return rows


def network_table(networks: Iterable[dict[str, Any]], wide: bool) -> Layout:
    table = Layout(NETWORK_WIDE) if wide else Layout(NETWORK_COLUMNS, NETWORK_DROPS)
    for glyph, n, continuation in network_tree(networks):
        ident = whole(glyph + plain(n.get("id")), fill=continuation)
        prefixes = n.get("prefixes") or []
        if wide:
            labels = [f"{k}={v}" for k, v in sorted((n.get("labels") or {}).items())]
            table.add_row(ident, words(n.get("description")), words(n.get("name")),
                          whole(n.get("projectid")), whole(n.get("partitionid")),
                          whole(n.get("nat")), whole(n.get("shared")), stacked(prefixes),
                          phrases(usage_lines(n)), whole(n.get("privatesuper")), stacked(labels))
        else:
            table.add_row(ident, words(n.get("name")), whole(n.get("projectid")),
                          whole(n.get("partitionid")), whole(n.get("nat")), whole(n.get("shared")),
                          listed(prefixes), prefix_warning(n), ip_usage(n))
    return table


def show_networks(networks: list[dict[str, Any]] | dict[str, Any], fmt: Format) -> None:
    """Networks as a table, or the documents (one or a list) as YAML or JSON."""
    if fmt in (Format.yaml, Format.json):
        if isinstance(networks, dict):
            emit(ordered_network(networks) if fmt is Format.yaml else networks, fmt)
        else:
            emit([ordered_network(n) for n in networks] if fmt is Format.yaml else networks, fmt)
        return
    rows = [networks] if isinstance(networks, dict) else networks
    print_layout(network_table(rows, wide=fmt is Format.wide))


# IPs ----------------------------------------------------------------------------------------------

def _address_key(ip: dict[str, Any]) -> tuple[int, int, str]:
    text = str(ip.get("ipaddress", ""))
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return (9, 0, text)
    return (address.version, int(address), text)


def ip_table(ips: Iterable[dict[str, Any]], wide: bool) -> Layout:
    table = Layout(IP_WIDE) if wide else Layout(IP_COLUMNS, IP_DROPS)
    for ip in sorted(ips, key=_address_key):
        cells = [whole(ip.get("ipaddress")), words(ip.get("description")), words(ip.get("name")),
                 whole(ip.get("networkid")), whole(ip.get("projectid")), whole(ip.get("type")),
                 stacked(ip.get("tags") or [])]
        if wide:
            cells.insert(1, whole(ip.get("allocationuuid")))
        table.add_row(*cells)
    return table


def show_ips(ips: list[dict[str, Any]] | dict[str, Any], fmt: Format) -> None:
    if fmt in (Format.yaml, Format.json):
        emit(ips, fmt)
        return
    print_layout(ip_table([ips] if isinstance(ips, dict) else ips, wide=fmt is Format.wide))


# history ------------------------------------------------------------------------------------------

_SPACE = re.compile(r"\s")


@functools.cache
def summary_keys() -> dict[str, tuple[str, ...]]:
    """The facts worth a glance, per event type; the rest is in `-o wide`, `yaml` and `json`.
    (Imported when a history is printed: the other client commands start without the domain.)"""
    from domain.network import Network
    from domain.versions import type_name

    return {
        type_name(Network.NetworkCreated): ("name", "partition_id", "project_id", "parent_id", "vrf"),
        type_name(Network.NetworkRecreated): ("name", "partition_id", "project_id", "parent_id", "vrf"),
        type_name(Network.PrefixAdded): ("prefix",),
        type_name(Network.PrefixRemoved): ("prefix",),
        type_name(Network.ChildNetworkAllocated): ("child_id", "prefixes", "project_id", "vrf"),
        type_name(Network.ChildNetworkReleased): ("child_id", "prefixes"),
        type_name(Network.NetworkDeleted): ("prefixes", "vrf"),
        type_name(Network.IPAcquired): ("address", "project_id", "name", "type", "allocation_uuid"),
        type_name(Network.IPReleased): ("address", "project_id", "allocation_uuid"),
        type_name(Network.IPUpdated): ("address", "name", "description", "type", "tags"),
    }


def summary_parts(event_type: str, facts: dict[str, Any]) -> list[str]:
    """`key=value` for the facts that say what happened; empty and null ones left out."""
    keys = summary_keys().get(event_type) or tuple(facts)
    parts = []
    for key in keys:
        value = facts.get(key)
        if value in (None, "", [], {}):
            continue
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        elif isinstance(value, dict):
            value = ",".join(f"{k}:{v}" for k, v in value.items())
        text = str(value)
        parts.append(f"{key}={json.dumps(text, ensure_ascii=False) if not text or _SPACE.search(text) else text}")
    return parts


def _facts(facts: dict[str, Any]) -> Cell:
    """The facts as JSON (keys sorted), wrapping only between two of them."""
    pairs = [f"{json.dumps(k, ensure_ascii=False)}: {json.dumps(v, sort_keys=True, ensure_ascii=False)}"
             for k, v in sorted(facts.items())]
    if not pairs:
        return whole("{}")
    pairs[0] = "{" + pairs[0]
    pairs[-1] += "}"
    return listed(pairs, ", ")


def history_table(events: Iterable[dict[str, Any]], wide: bool, network_column: bool) -> Layout:
    table = Layout(HISTORY_WIDE) if wide else Layout(history_columns(network_column), HISTORY_DROPS)
    for event in events:
        time = words(str(event.get("time", "")).replace("T", " "))  # date and clock may part
        if wide:
            table.add_row(whole(event.get("position")), time, whole(event.get("network")),
                          whole(event.get("version")), whole(event.get("type")),
                          whole(event.get("actor")), whole(event.get("request_id")),
                          words(event.get("reason")), _facts(event.get("facts") or {}))
        else:
            cells = [whole(event.get("position")), time]
            if network_column:
                cells.append(whole(event.get("network")))
            cells += [whole(event.get("type")), whole(event.get("actor")),
                      listed(summary_parts(str(event.get("type")), event.get("facts") or {}), " "),
                      words(event.get("reason"))]
            table.add_row(*cells)
    return table


def show_history(events: list[dict[str, Any]], fmt: Format, network_column: bool) -> None:
    if fmt in (Format.yaml, Format.json):
        emit(events, fmt)
        return
    print_layout(history_table(events, wide=fmt is Format.wide, network_column=network_column))
