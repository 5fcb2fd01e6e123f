"""Consumption figures of a network: go-ipam's compatible ones and IPv6-friendly ones."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from typing import Any

from domain.addressing import FAMILIES, Family
from domain.allocation import PrefixPool, block_text

FREE_PREFIXES_SHOWN = 16


def consumption(pools: Iterable[PrefixPool]) -> dict[str, dict[str, int] | None]:
    """go-ipam's figures per family, summed over the family's prefixes (sums are not capped);
    `None` for a family the network has no prefix of."""
    result: dict[str, dict[str, int] | None] = {"ipv4": None, "ipv6": None}
    for pool in pools:
        key = pool.family.value.lower()
        usage = pool.usage()
        total = result[key]
        if total is None:
            result[key] = usage
        else:
            for name, value in usage.items():
                total[name] += value
    return result


def capacity(
    pools: Iterable[PrefixPool], child_lengths: dict[Family, int] | None = None
) -> dict[str, dict[str, Any] | None]:
    """Exact figures a person can use, per family. Big numbers are strings (IPv6 sizes do not
    fit a JSON number safely).

    - `total_ips`: addresses in the family's prefixes; `acquired_ips`: acquired addresses
      (reserved ones excluded); `reserved_ips`; `child_prefixes`: child prefixes carved;
    - `free_space`: free addresses: in no child prefix, neither acquired nor reserved;
    - `largest_free_prefix`, `free_prefixes` (the first 16 free CIDRs) and `free_prefix_count`:
      space a child prefix can still be carved from, as the allocator sees it (a prefix that
      has acquired addresses gives no children, so its space is not counted there);
    - with a default child length: `child_prefix_length` and `free_child_prefixes`, how many
      more children of that length still fit.
    """
    by_family: dict[Family, list[PrefixPool]] = {}
    for pool in pools:
        by_family.setdefault(pool.family, []).append(pool)
    result: dict[str, dict[str, Any] | None] = {}
    for family in FAMILIES:
        members = by_family.get(family)
        if not members:
            result[family.value.lower()] = None
            continue
        free_blocks = [(pool, block) for pool in members if pool.acquired == 0
                       for block in pool.free]
        largest = min(free_blocks, key=lambda pb: (pb[1][1], pb[1][0]), default=None)
        figures: dict[str, Any] = {
            "total_ips": str(sum(pool.network.num_addresses for pool in members)),
            "acquired_ips": str(sum(pool.acquired for pool in members)),
            "reserved_ips": str(sum(pool.reserved for pool in members)),
            "child_prefixes": sum(pool.children for pool in members),
            "free_space": str(sum(free_addresses(pool) for pool in members)),
            "largest_free_prefix": block_text(family, largest[1]) if largest else None,
            "free_prefix_count": len(free_blocks),
            "free_prefixes": [
                block_text(family, block) for _, block in free_blocks[:FREE_PREFIXES_SHOWN]
            ],
        }
        length = (child_lengths or {}).get(family)
        if length is not None:
            figures["child_prefix_length"] = length
            figures["free_child_prefixes"] = str(
                sum(1 << (length - blen) for _, (_, blen) in free_blocks if blen <= length)
            )
        result[family.value.lower()] = figures
    return result


def free_addresses(pool: PrefixPool) -> int:
    """Addresses of the prefix in no child prefix and not taken (acquired or reserved). O(1)
    for a prefix without children; one with children holds no acquired addresses (the allocator
    refuses both at once), so only its few reserved ranges are looked up among the free blocks
    (sorted by address), whatever their number."""
    if pool.children == 0:
        return int(pool.network.num_addresses) - len(pool.used)
    blocks, bits = pool.free, pool.family.max_length
    sizes = [1 << (bits - blen) for _, blen in blocks]
    taken = 0
    if pool.used:
        ends = [start + size - 1 for (start, _), size in zip(blocks, sizes, strict=True)]
        for first, last in pool.used.ranges():
            i = bisect_left(ends, first)  # the first block ending at or after the range's start
            while i < len(blocks) and blocks[i][0] <= last:
                taken += min(last, ends[i]) - max(first, blocks[i][0]) + 1
                i += 1
    return sum(sizes) - taken
