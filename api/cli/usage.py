"""A network's usage as the tables show it: every figure labelled for what it is, taken from the
network's exact `capacity` (the same figures `-o yaml` shows there), so the table and `capacity`
never disagree. go-ipam's capped `consumption` is used only from a server that sends no capacity.

- `IPS` (table): per family `used/total` addresses, used being acquired plus reserved, after a
  dot coloured by the fullest family (green, yellow from 70%, red from 90%);
- `!` (table): a family's child prefixes at least 90% allocated (of the children of the default
  length that fit: allocated plus free), or, without a default length, none fits any more;
- `USAGE` (wide): `IPv4 IPs: 2 used of 65536 (0 acquired, 2 reserved)` and, on a super network,
  `IPv4 children: 2 allocated, 62 more /22 fit`.
"""

from __future__ import annotations

from typing import Any

from api.cli.tables import Atom, Cell, whole

FAMILIES = (("ipv4", "IPv4"), ("ipv6", "IPv6"))
DOT, FULL = "●", "!"


def _ratio(used: int, available: int) -> float:
    if available <= 0:
        return 1.0 if used > 0 else 0.0
    return used / available


def _colour(ratio: float) -> str:
    return "red" if ratio >= 0.9 else "yellow" if ratio >= 0.7 else "green"


def _families(network: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(label, capacity, consumption) of each family the network has prefixes of."""
    capacity = network.get("capacity") or {}
    consumption = network.get("consumption") or {}
    return [(label, capacity.get(key) or {}, consumption.get(key) or {}) for key, label in FAMILIES
            if capacity.get(key) or consumption.get(key)]


def _ips(capacity: dict[str, Any], consumption: dict[str, Any]) -> tuple[int, int]:
    """(used, total) addresses, used being acquired plus reserved: exact, from `capacity`
    (go-ipam's capped `consumption` only from a server that sends no capacity)."""
    if capacity:
        return (int(capacity["acquired_ips"]) + int(capacity["reserved_ips"]),
                int(capacity["total_ips"]))
    return int(consumption["used_ips"]), int(consumption["available_ips"])


def ip_usage(network: dict[str, Any]) -> Cell:
    """Per family `used/total` addresses, after a dot coloured by the fullest family; a family's
    figure is never split."""
    figures = [(label, *_ips(cap, use)) for label, cap, use in _families(network)]
    if not figures:
        return whole("")
    fullest = max(_ratio(used, total) for _, used, total in figures)
    atoms: list[Atom] = [((f"{label} {used}/{total}  ", ""),) for label, used, total in figures]
    atoms[0] = ((DOT, _colour(fullest)), (" ", ""), *atoms[0])
    return Cell((tuple(atoms),))


def children_full(capacity: dict[str, Any]) -> bool:
    """Whether a family's child prefixes are at least 90% allocated: of the children of the
    default length that fit (allocated plus free); without a default length, when none fits."""
    allocated = int(capacity.get("child_prefixes") or 0)
    free = capacity.get("free_child_prefixes")
    if capacity.get("child_prefix_length") is not None and free is not None:
        return allocated > 0 and _ratio(allocated, allocated + int(free)) >= 0.9
    return allocated > 0 and not capacity.get("largest_free_prefix")


def prefix_warning(network: dict[str, Any]) -> Cell:
    """`!` when a family's child prefixes are nearly all allocated (as metalctl marks it)."""
    for _, capacity, consumption in _families(network):
        if capacity:
            full = children_full(capacity)
        else:
            available = int(consumption.get("available_prefixes") or 0)
            full = available > 0 and _ratio(int(consumption["used_prefixes"]), available) >= 0.9
        if full:
            return whole(FULL, style="red")
    return whole("")


def usage_lines(network: dict[str, Any]) -> list[tuple[str, ...]]:
    """Each figure labelled for what it is, from `capacity` (the same as `ipam network describe
    -o yaml` shows there): addresses, then child prefixes. A line is a run of phrases (each
    ending in its space) that wrap only between two phrases."""
    lines: list[tuple[str, ...]] = []
    for label, capacity, consumption in _families(network):
        used, total = _ips(capacity, consumption)
        if not capacity:
            lines.append((f"{label} IPs: ", f"{used} used of {total} ", "(go-ipam consumption)"))
            continue
        lines.append((f"{label} IPs: ", f"{used} used of {total} ",
                      f"({capacity['acquired_ips']} acquired, {capacity['reserved_ips']} reserved)"))
        allocated, length = capacity.get("child_prefixes") or 0, capacity.get("child_prefix_length")
        free = capacity.get("free_child_prefixes")
        if length is not None and free is not None:
            lines.append((f"{label} children: ", f"{allocated} allocated, ",
                          f"{free} more /{length} fit"))
        elif allocated:
            largest = capacity.get("largest_free_prefix")
            lines.append((f"{label} children: ", f"{allocated} allocated, ",
                          f"largest free prefix {largest}" if largest else "no free prefix"))
    return lines
