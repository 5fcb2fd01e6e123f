"""How fast the console's free-space map is drawn, and how big the SVG gets.

Builds each prefix's bookkeeping (`PrefixPool`) as the domain keeps it, then times
`api.console.freemap.free_space_map` (the median and the best of `--runs` renders, each with
its summary) and prints the SVG's size and how many shapes it holds. Target: under 50 ms per
map. `--out DIR` also writes each SVG there, to look at.

    .venv/bin/python bench/freemap.py [--runs 15] [--out /tmp/maps]
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.console.freemap import free_space_map, free_space_summary  # noqa: E402
from domain.allocation import PrefixPool  # noqa: E402
from domain.ranges import IntRanges  # noqa: E402

TARGET_MS = 50.0
Labels = dict[str, tuple[str, str]]


def with_children(prefix: str, length: int, count: int, scatter: bool) -> tuple[PrefixPool, Labels]:
    """A prefix with `count` children of `length`: packed by best fit as the allocator carves
    them, or at random places (seeded) for the most fragmented picture."""
    network = ipaddress.ip_network(prefix)
    bits = network.max_prefixlen
    if not scatter:
        pool = PrefixPool.new(network)
        starts = []
        for _ in range(count):
            start = pool.best_fit(length)
            assert start is not None
            pool = pool.with_child(start, length)
            starts.append(start)
    else:  # carving one by one rescans the free list: build the same state from the gaps
        slots = 1 << (length - network.prefixlen)
        base = int(network.network_address)
        starts = sorted(base + (i << (bits - length))
                        for i in random.Random(13).sample(range(slots), count))
        free: list[tuple[int, int]] = []
        cursor = base
        for start in [*starts, int(network.broadcast_address) + 1]:
            if start > cursor:
                first, last = network.network_address.__class__(cursor), \
                    network.network_address.__class__(start - 1)
                free += [(int(n.network_address), n.prefixlen)
                         for n in ipaddress.summarize_address_range(first, last)]
            cursor = start + (1 << (bits - length))
        pool = PrefixPool(str(network), PrefixPool.new(network).used, tuple(sorted(free)),
                          count, network)
    labels = {str(ipaddress.ip_network((start, length))): (f"child-{i}", f"child {i}")
              for i, start in enumerate(starts)}
    return pool, labels


def leaf(prefix: str, acquired: int) -> PrefixPool:
    """A prefix without children where every other address is acquired (one range each)."""
    network = ipaddress.ip_network(prefix)
    base = int(network.network_address)
    ranges = [(base, base), (int(network.broadcast_address),) * 2]  # reserved
    ranges += [(base + 2 * i + 1,) * 2 for i in range(acquired)]
    return PrefixPool(str(network), IntRanges(tuple(ranges)), ((base, network.prefixlen),), 0,
                      network)


def timed(render: Callable[[], str], runs: int) -> tuple[float, float, str]:
    times, svg = [], ""
    for _ in range(runs):
        started = time.perf_counter()
        svg = render()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), min(times), svg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    cases: list[tuple[str, Callable[[], tuple[PrefixPool, Labels]]]] = [
        ("IPv4 /8, 10,000 /24 children, best fit",
         lambda: with_children("10.0.0.0/8", 24, 10_000, scatter=False)),
        ("IPv4 /8, 10,000 /24 children, random places",
         lambda: with_children("10.0.0.0/8", 24, 10_000, scatter=True)),
        ("IPv4 /16 leaf, every other address acquired (32,767)",
         lambda: (leaf("10.1.0.0/16", 32_767), {})),
        ("IPv4 /14 leaf, 100,000 acquired, every other address",
         lambda: (leaf("10.4.0.0/14", 100_000), {})),
        ("IPv6 /48, 1,000 /64 children, best fit",
         lambda: with_children("2001:db8:1::/48", 64, 1_000, scatter=False)),
        ("IPv6 /48, 1,000 /64 children, random places",
         lambda: with_children("2001:db8:1::/48", 64, 1_000, scatter=True)),
        ("IPv6 /64, 10,000 /96 children, random places",
         lambda: with_children("2001:db8:1:2::/64", 96, 10_000, scatter=True)),
    ]
    print(f"{'case':<54} {'ranges':>8} {'median':>8} {'best':>8} {'summary':>8} {'SVG':>9} "
          f"{'shapes':>6}  target")
    for name, build in cases:
        pool, labels = build()
        median, best, svg = timed(partial(free_space_map, pool, labels), args.runs)
        summary, _, _ = timed(lambda: str(free_space_summary(pool)), args.runs)  # noqa: B023
        ranges = len(pool.free) if pool.children else len(pool.used.ranges())
        shapes = svg.count("<rect") + svg.count("<path")
        verdict = "PASS" if median < TARGET_MS else "MISS"
        print(f"{name:<54} {ranges:>8,} {median:>6.1f}ms {best:>6.1f}ms {summary:>6.1f}ms "
              f"{len(svg) / 1024:>6.1f}KiB {shapes:>6,}  < {TARGET_MS:.0f} ms: {verdict}")
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            slug = "".join(c if c.isalnum() else "-" for c in name).strip("-")
            (args.out / f"{slug}.svg").write_text(str(free_space_map(pool, labels)))
    print("ranges: the free blocks of a prefix with children, the taken ranges of a leaf. "
          "median/best: free_space_map; summary: free_space_summary alone (the map computes "
          "it too)")


if __name__ == "__main__":
    main()
