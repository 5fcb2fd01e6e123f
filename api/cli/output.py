"""What the client commands print: metalctl's tables (`table`, `wide`), or the API's documents as
YAML or JSON.

Tables go to standard output with colour only on a terminal (Rich honours `NO_COLOR` and
`FORCE_COLOR`); YAML and JSON are the server's documents, unchanged but for the order of a
network's keys in YAML, which follows the seed's layout.
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
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table


class Format(StrEnum):
    table = "table"
    wide = "wide"
    yaml = "yaml"
    json = "json"


Output = Annotated[Format, typer.Option(
    "-o", "--output-format", envvar="IPAM_OUTPUT", case_sensitive=False,
    help="table, wide (more columns), yaml or json")]

# a network's keys in the order of the seed's `describe` (the rest after them, as the API sends them)
NETWORK_KEYS = (
    "id", "name", "description", "parentnetworkid", "partitionid", "prefixes", "projectid", "vrf",
    "consumption", "privatesuper", "destinationprefixes", "additionalAnnouncableCIDRs", "vrfshared",
    "underlay", "nat", "shared", "labels", "defaultchildprefixlength",
)
FAMILIES = (("ipv4", "IPv4"), ("ipv6", "IPv6"))
DOT, FULL = "●", "!"


def console() -> Console:
    """Standard output; as wide as a table needs when it is not a terminal, so pipes get whole rows.
    No emoji codes: `2001:db8:abcd:1234::1` holds `:1234:`, and values are data."""
    out = Console(highlight=False, soft_wrap=False, emoji=False)
    if not out.is_terminal:
        out = Console(highlight=False, soft_wrap=False, emoji=False, width=100_000)
    return out


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def visible(text: str) -> str:
    """Control characters shown escaped (`\\x1b`, `\\r`, `\\n`): a value someone chose must not
    move the cursor, clear the screen or start a fake table line in an admin's terminal."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def data(text: str) -> str:
    """A value as a table cell shows it: control characters escaped, never read as markup."""
    return escape(visible(text))


def print_table(table: Table) -> None:
    """A table on standard output, without the padding Rich leaves at the ends of lines."""
    out = console()
    with out.capture() as captured:
        out.print(table)
    sys.stdout.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))
    sys.stdout.flush()


def emit(document: Any, fmt: Format) -> None:
    """A document (or a list of them) as YAML or JSON on standard output."""
    if fmt is Format.json:
        sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    else:
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


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return data(str(value))


# networks -----------------------------------------------------------------------------------------

def _ratio(used: int, available: int) -> float:
    if available <= 0:
        return 1.0 if used > 0 else 0.0
    return used / available


def _colour(ratio: float) -> str:
    return "red" if ratio >= 0.9 else "yellow" if ratio >= 0.7 else "green"


def _usages(network: dict[str, Any]) -> list[tuple[str, dict[str, int]]]:
    consumption = network.get("consumption") or {}
    return [(label, consumption[key]) for key, label in FAMILIES if consumption.get(key)]


def ip_usage(network: dict[str, Any]) -> str:
    """Per family `used/available`, after a dot coloured by the fullest family."""
    usages = _usages(network)
    if not usages:
        return ""
    fullest = max(_ratio(u["used_ips"], u["available_ips"]) for _, u in usages)
    figures = "  ".join(f"{label} {u['used_ips']}/{u['available_ips']}" for label, u in usages)
    return f"[{_colour(fullest)}]{DOT}[/] {figures}"


def prefix_warning(network: dict[str, Any]) -> str:
    """`!` when a family's child prefixes are at least 90% used (as metalctl marks it)."""
    for _, usage in _usages(network):
        if usage["available_prefixes"] > 0 and \
                _ratio(usage["used_prefixes"], usage["available_prefixes"]) >= 0.9:
            return f"[red]{FULL}[/]"
    return ""


def full_usage(network: dict[str, Any]) -> str:
    lines = []
    for label, usage in _usages(network):
        lines.append(f"{label} IPs:      {usage['used_ips']}/{usage['available_ips']}")
        if usage["available_prefixes"] > 0 or usage["used_prefixes"] > 0:
            lines.append(f"{label} Prefixes: {usage['used_prefixes']}/{usage['available_prefixes']}")
    return "\n".join(lines)


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


def network_table(networks: Iterable[dict[str, Any]], wide: bool) -> Table:
    if wide:
        table = new_table(["ID", "Description", "Name", "Project", "Partition", "Nat", "Shared",
                        "Prefixes", "Usage", "PrivateSuper", "Annotations"])
    else:
        table = new_table(["ID", "Name", "Project", "Partition", "Nat", "Shared", "Prefixes", "",
                        "IPs"])
    for glyph, n, continuation in network_tree(networks):
        prefixes = n.get("prefixes") or []
        if wide:
            usage = full_usage(n)
            labels = "\n".join(visible(f"{k}={v}") for k, v in sorted((n.get("labels") or {}).items()))
            lines = max(1, len(prefixes), usage.count("\n") + 1, labels.count("\n") + 1)
            ident = glyph + _text(n.get("id")) + f"\n{continuation}" * (lines - 1)
            table.add_row(ident, _text(n.get("description")), _text(n.get("name")),
                          _text(n.get("projectid")), _text(n.get("partitionid")),
                          _text(n.get("nat")), _text(n.get("shared")),
                          escape("\n".join(map(visible, prefixes))), escape(usage),
                          _text(n.get("privatesuper")), escape(labels))
        else:
            table.add_row(glyph + _text(n.get("id")), _text(n.get("name")),
                          _text(n.get("projectid")), _text(n.get("partitionid")),
                          _text(n.get("nat")), _text(n.get("shared")), data(",".join(prefixes)),
                          prefix_warning(n), ip_usage(n))
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
    print_table(network_table(rows, wide=fmt is Format.wide))


# IPs ----------------------------------------------------------------------------------------------

def _address_key(ip: dict[str, Any]) -> tuple[int, int, str]:
    text = str(ip.get("ipaddress", ""))
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return (9, 0, text)
    return (address.version, int(address), text)


def ip_table(ips: Iterable[dict[str, Any]], wide: bool) -> Table:
    if wide:
        table = new_table(["IP", "Allocation UUID", "Description", "Name", "Network", "Project",
                        "Type", "Tags"])
    else:
        table = new_table(["IP", "Description", "Name", "Network", "Project", "Type", "Tags"])
    for ip in sorted(ips, key=_address_key):
        tags = "\n".join(visible(tag) for tag in ip.get("tags") or [])
        if wide:
            table.add_row(_text(ip.get("ipaddress")), _text(ip.get("allocationuuid")),
                          _text(ip.get("description")), _text(ip.get("name")),
                          _text(ip.get("networkid")), _text(ip.get("projectid")),
                          _text(ip.get("type")), escape(tags))
        else:
            table.add_row(_text(ip.get("ipaddress")), _text(_truncate(ip.get("description"))),
                          _text(_truncate(ip.get("name"))), _text(ip.get("networkid")),
                          _text(ip.get("projectid")), _text(ip.get("type")), escape(tags))
    return table


def _truncate(value: Any, length: int = 30) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= length else text[: length - 1] + "…"


def show_ips(ips: list[dict[str, Any]] | dict[str, Any], fmt: Format) -> None:
    if fmt in (Format.yaml, Format.json):
        emit(ips, fmt)
        return
    print_table(ip_table([ips] if isinstance(ips, dict) else ips, wide=fmt is Format.wide))


# history ------------------------------------------------------------------------------------------

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


def summary(event_type: str, facts: dict[str, Any]) -> str:
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
        parts.append(f"{key}={json.dumps(text, ensure_ascii=False) if not text or any(c.isspace() for c in text) else text}")
    return " ".join(parts)


def history_table(events: Iterable[dict[str, Any]], wide: bool, network_column: bool) -> Table:
    headers = ["Position", "Time"] + (["Network"] if network_column else []) + \
        ["Type", "Actor", "What", "Reason"]
    if wide:
        headers = ["Position", "Time", "Network", "Version", "Type", "Actor", "Request ID",
                   "Reason", "Facts"]
    table = new_table(headers)
    for event in events:
        time = str(event.get("time", "")).replace("T", " ")
        if wide:
            facts = json.dumps(event.get("facts") or {}, sort_keys=True, ensure_ascii=False)
            table.add_row(_text(event.get("position")), _text(time), _text(event.get("network")),
                          _text(event.get("version")), _text(event.get("type")),
                          _text(event.get("actor")), _text(event.get("request_id")),
                          _text(event.get("reason")), data(facts))
        else:
            cells = [_text(event.get("position")), _text(time)]
            if network_column:
                cells.append(_text(event.get("network")))
            cells += [_text(event.get("type")), _text(event.get("actor")),
                      data(summary(str(event.get("type")), event.get("facts") or {})),
                      _text(event.get("reason"))]
            table.add_row(*cells)
    return table


def show_history(events: list[dict[str, Any]], fmt: Format, network_column: bool) -> None:
    if fmt in (Format.yaml, Format.json):
        emit(events, fmt)
        return
    print_table(history_table(events, wide=fmt is Format.wide, network_column=network_column))
