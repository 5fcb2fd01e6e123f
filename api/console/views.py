"""What the console's templates show, shaped from the application's documents: usage per family
in units a person reads, the partition tree, search, and the moment a page is about."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from domain.allocation import PrefixPool
from domain.errors import InvalidRequestError

FAMILIES = (("ipv4", "IPv4"), ("ipv6", "IPv6"))
_LOCAL = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")


def moment(text: str | None) -> datetime | None:
    """`?at=`: RFC 3339 with an offset, or what a date-time picker sends (no offset: UTC), or a
    plain date (its start, UTC). None for none; InvalidRequestError (400) otherwise."""
    if text is None or not text.strip():
        return None
    text = text.strip()
    try:
        if _LOCAL.fullmatch(text):
            return datetime.fromisoformat(text).replace(tzinfo=UTC)
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise InvalidRequestError(
            f"{text!r} is not a time: give RFC 3339 (2026-03-03T12:00:00Z), a date-time in UTC "
            "(2026-03-03T12:00) or a date (2026-03-03)")
    return parsed.astimezone(UTC)


def shown_time(value: Any) -> str:
    """A time as the pages print it: UTC, to the second."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return ""


def picker_value(at: datetime | None) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") if at else ""


def number(value: int | str) -> str:
    """1234567 -> 1,234,567; powers of two past a billion also as 2^n."""
    n = int(value)
    text = f"{n:,}"
    if n >= 2**32 and n & (n - 1) == 0:
        text += f" (2^{n.bit_length() - 1})"
    return text


@dataclass(frozen=True)
class Usage:
    """One family's bar: what it counts, how much of how much, in words."""

    family: str
    what: str
    used: int
    total: int
    words: str
    notes: tuple[str, ...] = ()

    @property
    def percent(self) -> float:
        return 100.0 * self.used / self.total if self.total else 0.0

    @property
    def level(self) -> str:
        return "full" if self.percent >= 90 else "high" if self.percent >= 70 else "ok"


def usages(document: dict[str, Any], pools: Sequence[PrefixPool] = ()) -> list[Usage]:
    """Per family: a private super's children of the default length (allocated of what fits),
    else addresses (acquired and reserved of the total); IPv6 also in free /64s when known."""
    result = []
    for key, label in FAMILIES:
        figures = (document.get("capacity") or {}).get(key)
        if not figures:
            continue
        notes: list[str] = []
        if figures.get("child_prefix_length") is not None and figures.get("free_child_prefixes") is not None:
            length, allocated = figures["child_prefix_length"], int(figures["child_prefixes"])
            free = int(figures["free_child_prefixes"])
            usage = Usage(label, f"/{length} children", allocated, allocated + free,
                          f"{number(allocated)} of {number(allocated + free)} /{length} child "
                          f"prefixes allocated, {number(free)} free")
        else:
            acquired, reserved = int(figures["acquired_ips"]), int(figures["reserved_ips"])
            total = int(figures["total_ips"])
            usage = Usage(label, "addresses", acquired + reserved, total,
                          f"{number(acquired)} acquired, {number(reserved)} reserved, of "
                          f"{number(total)} addresses")
        if label == "IPv6" and pools:
            slash64 = free_slash64(pools)
            if slash64 is not None:
                notes.append(f"{number(slash64)} free /64s")
        if figures.get("largest_free_prefix"):
            notes.append(f"largest free block {figures['largest_free_prefix']}")
        result.append(Usage(usage.family, usage.what, usage.used, usage.total, usage.words,
                            tuple(notes)))
    return result


def free_slash64(pools: Iterable[PrefixPool]) -> int | None:
    """Free /64s in the IPv6 prefixes a child can still be carved from; None when every IPv6
    prefix is longer than /64 (the unit means nothing there)."""
    six = [p for p in pools if p.network.version == 6]
    if not six or all(p.network.prefixlen > 64 for p in six):
        return None
    return sum(1 << (64 - blen) for p in six if p.acquired == 0 for _, blen in p.free if blen <= 64)


# -- the overview ---------------------------------------------------------------------------

@dataclass
class Partition:
    name: str
    supers: list[dict[str, Any]] = field(default_factory=list)
    children: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    others: list[dict[str, Any]] = field(default_factory=list)


def tree(networks: Iterable[dict[str, Any]]) -> tuple[list[Partition], list[dict[str, Any]]]:
    """Partitions (their super networks with the children under them, their other networks),
    and the networks of no partition."""
    networks = sorted(networks, key=lambda n: (n.get("partition_id") or "", n["network_id"]))
    ids = {n["network_id"] for n in networks}
    partitions: dict[str, Partition] = {}
    loose = []
    for network in networks:
        partition = network.get("partition_id") or ""
        if not partition:
            loose.append(network)
            continue
        part = partitions.setdefault(partition, Partition(partition))
        parent = network.get("parent_id")
        if network.get("private_super"):
            part.supers.append(network)
        elif parent and parent in ids:
            part.children.setdefault(parent, []).append(network)
        else:
            part.others.append(network)
    return list(partitions.values()), loose


def matches(network: dict[str, Any], query: str) -> bool:
    """The search box: an address inside one of the network's prefixes, a CIDR overlapping
    one, or text in its id, name or project."""
    query = query.strip()
    if not query:
        return True
    prefixes = [ipaddress.ip_network(p) for p in network.get("prefixes") or []]
    try:
        if "/" in query:
            wanted = ipaddress.ip_network(query, strict=False)
            return any(p.version == wanted.version and p.overlaps(wanted) for p in prefixes)
        address = ipaddress.ip_address(query)
        return any(address in p for p in prefixes)
    except ValueError:
        pass
    needle = query.lower()
    return any(needle in str(network.get(k) or "").lower()
               for k in ("network_id", "name", "project_id", "partition_id"))


def address_query(query: str) -> str | None:
    """The search as an address (to offer its page), or None."""
    try:
        return str(ipaddress.ip_address(query.strip()))
    except ValueError:
        return None


def facts_summary(facts: dict[str, Any]) -> list[tuple[str, str]]:
    """An event's facts worth showing, as (name, value) text pairs; empty ones left out."""
    pairs = []
    for key, value in facts.items():
        if value in (None, "", [], {}):
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        elif isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        pairs.append((key, str(value)))
    return pairs


def segment(value: str) -> str:
    """A path segment: an id or an address, escaped (an id may hold `/`, an IPv6 `:`)."""
    from urllib.parse import quote

    return quote(value, safe="")
