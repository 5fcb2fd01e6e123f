"""Layout of a prefix's free-space map (`api.console.freemap` draws it as an SVG): its address
space laid onto columns, each column's share in use counted exactly, the blocks that stand
alone, the segments in row order and the figures the map shows.

- The prefix's N addresses are laid linearly onto `rows` rows of `COLUMNS` (512) columns:
  8 rows, or N rows for a prefix of fewer than 8 addresses, so every row starts at an address
  (its label). Column c holds the addresses [c*N/T, (c+1)*N/T) where T = rows * 512. All
  positions are exact integer arithmetic (IPv6 sizes reach 2^128); N and T are powers of two,
  so an aligned block of at least one column's size starts and ends on column edges.
- Each column's share in use (addresses in child prefixes for a prefix that has children,
  acquired addresses otherwise) is counted exactly from the prefix's ranges with a cumulative
  sum and a binary search per column edge: O(ranges + columns), no address is enumerated.
  The share is a level in quarters: empty (free), 1-3 quarters (partly used; any use gives
  at least one, anything short of full at most three), or full.
- Some blocks stand alone (a segment of their own, its `block` their CIDR): child prefixes
  the caller named, when at least `WIDE` (2) columns wide; free blocks at least `WIDE_FREE`
  (8) columns wide, while no address is acquired (the domain's free blocks are the space for
  children); and the prefix's reserved addresses when an address spans two columns or more.
  A child missing from the caller's mapping (another tenant's, say) is counted as child space
  in the columns; a name for a prefix that is not carved is ignored. Between them, runs of
  columns with the same share are merged into one segment: at most one per column (4,096),
  whatever the number of children or ranges.
- The largest free block is the domain's: the largest block a child prefix can still be
  carved from (`domain.consumption.capacity`'s `largest_free_prefix`). A prefix holding
  acquired addresses gives no children, so there the summary names the largest aligned block
  holding no acquired address instead (the prefix's own reserved addresses do not count: a
  block holds them whatever it is used for).
"""

from __future__ import annotations

import ipaddress
from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import accumulate, chain, compress, repeat
from operator import add, itemgetter, sub
from typing import TypedDict

from domain.allocation import PrefixPool, block_text, reserved_ranges

COLUMNS, ROWS, LEVELS = 512, 8, 4  # columns per row, rows, steps of a bar
WIDE, WIDE_FREE = 2, 8  # columns a child (a link), a free block (a title) needs to stand alone

ChildLabels = Mapping[str, tuple[str, str]]  # child CIDR -> (child network id, name)


class FreeSpaceSummary(TypedDict):
    """The figures a map shows, for the page's text."""

    prefix: str
    family: str
    addresses: int  # in the prefix
    child_prefixes: int
    child_addresses: int  # addresses the child prefixes cover
    acquired: int
    reserved: int
    free_addresses: int  # in no child prefix, neither acquired nor reserved
    largest_free: str | None  # largest block a child prefix can be carved from (domain's)
    largest_free_addresses: int
    largest_unheld: str | None  # no children: largest aligned block without an acquired IP


@dataclass(frozen=True, slots=True)
class Segment:
    """One shape of the map: columns [x, x + width) of a row and the addresses they span."""

    row: int
    x: int
    width: int
    kind: str  # "child", "acquired", "free" or "reserved"
    level: int  # share in use in quarters: 0 free, LEVELS full
    first: int  # first and last address (as ints) of the columns
    last: int
    used: int  # addresses of the span in child prefixes (or acquired, or reserved)
    block: str | None = None  # CIDR of a block drawn on its own
    network_id: str | None = None
    name: str = ""


def free_space_summary(pool: PrefixPool) -> FreeSpaceSummary:
    """Exact figures of a prefix: children, acquired, free addresses and the largest block."""
    free, _, largest = _free_cover(pool)
    return _summary(pool, free, largest, None if pool.children else _acquired_ranges(pool))


def free_space_segments(pool: PrefixPool, children: ChildLabels | None = None) -> list[Segment]:
    """The map's shapes in row and column order; their widths add up to every row's width."""
    return Layout(pool, children or {}).segments()


# -- geometry and counts ---------------------------------------------------------------------


class _Cover:
    """Addresses covered by sorted disjoint ranges (starts and sizes), counted below any point
    in O(log n)."""

    def __init__(self, starts: list[int], sizes: list[int]) -> None:
        self.starts, self.sizes = starts, sizes
        self.before: list[int] = list(accumulate(sizes, initial=0))  # in the ranges before i

    def below(self, point: int) -> int:
        i = bisect_left(self.starts, point) - 1
        return self.before[i] + min(self.sizes[i], point - self.starts[i]) if i >= 0 else 0

    def holds(self, point: int) -> bool:
        i = bisect_right(self.starts, point) - 1
        return i >= 0 and point - self.starts[i] < self.sizes[i]


def _acquired_ranges(pool: PrefixPool) -> tuple[list[int], list[int]]:
    """Taken ranges without the prefix's reserved addresses (its first and, IPv4, last)."""
    ranges = pool.used.ranges()
    starts, ends = list(map(itemgetter(0), ranges)), list(map(itemgetter(1), ranges))
    for point, _ in reserved_ranges(pool.network):
        i = bisect_right(starts, point) - 1
        if i < 0 or ends[i] < point:
            continue
        if starts[i] == ends[i]:
            del starts[i], ends[i]
        elif point == starts[i]:
            starts[i] += 1
        elif point == ends[i]:
            ends[i] -= 1
        else:
            starts.insert(i + 1, point + 1)
            ends.insert(i + 1, ends[i])
            ends[i] = point - 1
    return starts, ends


def _free_cover(pool: PrefixPool) -> tuple[_Cover, list[int], tuple[int, int] | None]:
    """The free blocks as ranges, their lengths, and the domain's largest free block (fewest
    prefix bits, lowest address on ties; none in a prefix holding acquired addresses: it
    gives no children). C-level maps: a fragmented prefix has 100,000s of free blocks, which
    the allocator keeps sorted (its buddy merging relies on it too)."""
    starts = list(map(itemgetter(0), pool.free))
    lengths = list(map(itemgetter(1), pool.free))
    bits = pool.family.max_length
    size = [1 << (bits - n) for n in range(bits + 1)]
    cover = _Cover(starts, list(map(size.__getitem__, lengths)))
    if pool.acquired or not lengths:
        return cover, lengths, None
    index = lengths.index(min(lengths))
    return cover, lengths, (starts[index], lengths[index])


def _summary(pool: PrefixPool, free: _Cover, largest: tuple[int, int] | None,
             acquired: tuple[list[int], list[int]] | None) -> FreeSpaceSummary:
    size = int(pool.network.num_addresses)
    bits = pool.family.max_length
    free_space = free.before[-1]
    if acquired is None:  # domain.consumption.free_addresses, from the cover already built
        taken = sum(free.below(end + 1) - free.below(start) for start, end in pool.used)
        free_addresses = free_space - taken
    else:
        free_addresses = size - len(pool.used)
    unheld = None if acquired is None else _largest_gap(pool.first, pool.last, *acquired, bits)
    return FreeSpaceSummary(
        prefix=pool.prefix, family=pool.family.value, addresses=size,
        child_prefixes=pool.children, child_addresses=size - free_space,
        acquired=pool.acquired, reserved=pool.reserved, free_addresses=free_addresses,
        largest_free=block_text(pool.family, largest) if largest else None,
        largest_free_addresses=1 << (bits - largest[1]) if largest else 0,
        largest_unheld=block_text(pool.family, unheld) if unheld else None)


def _aligned_in(low: int, high: int, bits: int) -> tuple[int, int]:
    """The largest aligned block (start, length) inside [low, high], the lowest of equals."""
    k = (high - low + 1).bit_length() - 1
    while True:
        size = 1 << k
        start = (low + size - 1) & -size
        if start + size - 1 <= high:
            return start, bits - k
        k -= 1


def _largest_gap(first: int, last: int, starts: list[int], ends: list[int], bits: int
                 ) -> tuple[int, int] | None:
    """The largest aligned block in [first, last] between the ranges, the lowest of equals.
    Only gaps long enough to hold a block as large as the longest gap's are searched, and
    the gaps are measured by C-level `map`, so 100,000 ranges take a few milliseconds."""
    if not starts:
        return _aligned_in(first, last, bits)
    steps = list(map(sub, starts[1:], ends))  # inner gap i: ends[i] + 1 .. starts[i + 1] - 1
    gaps = [gap for gap in ((first, starts[0] - 1), (ends[-1] + 1, last)) if gap[0] <= gap[1]]
    longest = max(steps, default=0)
    if longest > 1:
        i = steps.index(longest)
        gaps.append((ends[i] + 1, starts[i + 1] - 1))
    if not gaps:
        return None
    bound = 1 << (bits - min(_aligned_in(low, high, bits)[1] for low, high in gaps))
    inner = ((ends[i] + 1, starts[i + 1] - 1)
             for i in compress(range(len(steps)), map(bound.__lt__, steps))
             ) if longest > bound else ()
    best: tuple[int, int] | None = None
    for low, high in chain(gaps, inner):
        block = _aligned_in(low, high, bits)
        if best is None or block[1] < best[1] or (block[1] == best[1] and block[0] < best[0]):
            best = block
    return best

# -- the layout of one map -------------------------------------------------------------------


Own = tuple[int, int, str, str, str | None, str]  # columns [c0, c1), kind, CIDR, id, name


class Layout:
    """What one map needs, computed once: layout, each column edge's count, own-shape blocks
    (`api.console.freemap` draws it)."""

    def __init__(self, pool: PrefixPool, children: ChildLabels) -> None:
        self.pool, self.family, self.bits = pool, pool.family, pool.family.max_length
        self.base, self.size = pool.first, int(pool.network.num_addresses)
        self.rows = min(ROWS, self.size)
        self.columns = self.rows * COLUMNS
        self.by_children = pool.children > 0
        self.address = type(pool.network.network_address)
        self.free, self.free_lengths, largest = _free_cover(pool)
        acquired = None if self.by_children else _acquired_ranges(pool)
        self.summary = _summary(pool, self.free, largest, acquired)
        self.edges = self._edges(self.free if acquired is None else _Cover(
            acquired[0], list(map(sub, map(add, acquired[1], repeat(1)), acquired[0]))))
        self.blocks = self._blocks(children)

    def column(self, address: int) -> int:
        return (address - self.base) * self.columns // self.size

    def _edges(self, cover: _Cover) -> list[int]:
        """Addresses in use below each column edge, in 1/T address units (T = columns), so
        a column a fraction of an address wide is exact too."""
        n, t, base = self.size, self.columns, self.base
        edges = []
        for c in range(t + 1):
            q, r = divmod(c * n, t)
            edges.append(cover.below(base + q) * t + (r if r and cover.holds(base + q) else 0))
        if self.by_children:  # in use = not free
            edges = [c * n - free for c, free in enumerate(edges)]
        return edges

    def _blocks(self, children: ChildLabels) -> list[Own]:
        """Blocks drawn on their own: named children at least WIDE columns wide, free blocks
        at least WIDE_FREE (while no address is acquired: else the domain's free block is the
        whole prefix, IPs and all), reserved addresses spanning WIDE columns. The rest is
        counted in the column shares."""
        own: list[Own] = []
        bits, family, network = self.bits, self.family, self.pool.network
        reserved = not self.by_children and self.columns // self.size >= WIDE
        if reserved:
            for address, _ in reserved_ranges(network):
                own.append((self.column(address), self.column(address + 1), "reserved",
                            block_text(family, (address, bits)), None, ""))
        elif not self.pool.acquired:
            wide = [(self.columns << (bits - n)) // self.size >= WIDE_FREE for n in range(bits + 1)]
            if not wide[min(self.free_lengths, default=bits)]:
                wide = []  # not even the largest free block stands alone
            for start, length in compress(self.pool.free, map(wide.__getitem__, self.free_lengths)
                                          ) if wide else ():
                c0, c1 = self.column(start), self.column(start + (1 << (bits - length)))
                own.append((c0, c1, "free", block_text(family, (start, length)), None, ""))
        if self.by_children:
            is_v6, shortest = network.version == 6, network.prefixlen + 1
            longest = max((n for n in range(shortest, bits + 1)
                           if (self.columns << (bits - n)) // self.size >= WIDE), default=0)
            for text, (child_id, name) in children.items():
                head, _, tail = text.rpartition("/")
                try:  # cheap checks first: another family's, not a child, too narrow
                    if (":" in head) is not is_v6 or not shortest <= int(tail) <= longest:
                        continue
                    child = ipaddress.ip_network(text)
                except ValueError:
                    continue
                if child.version != network.version \
                        or not child.subnet_of(network):  # type: ignore[arg-type]
                    continue
                start = int(child.network_address)
                end = start + int(child.num_addresses)
                if self.free.below(end) > self.free.below(start):
                    continue  # not carved (a stale name): the free space shows instead
                own.append((self.column(start), self.column(end), "child", str(child),
                            str(child_id), str(name)))
        own.sort()
        kept: list[Own] = []
        for block in own:
            if not kept or block[0] >= kept[-1][1]:
                kept.append(block)
        return kept

    def segments(self) -> list[Segment]:
        n, edges, blocks = self.size, self.edges, self.blocks
        levels = [0 if used == 0 else LEVELS if used == n
                  else min(LEVELS - 1, max(1, used * LEVELS // n))
                  for used in map(sub, edges[1:], edges[:-1])]
        in_use = "child" if self.by_children else "acquired"
        out: list[Segment] = []
        b = 0
        for row in range(self.rows):
            c, high = row * COLUMNS, (row + 1) * COLUMNS
            while c < high:
                while b < len(blocks) and blocks[b][1] <= c:
                    b += 1
                block = blocks[b] if b < len(blocks) else None
                if block is not None and block[0] <= c:
                    end = min(block[1], high)
                    out.append(self._segment(row, c, end, block[2], block))
                    c = end
                    continue
                stop = min(high, block[0]) if block is not None else high
                start, level = c, levels[c]
                c += 1
                while c < stop and levels[c] == level:
                    c += 1
                out.append(self._segment(row, start, c, in_use if level else "free", None, level))
        return out

    def _segment(self, row: int, c0: int, c1: int, kind: str, block: Own | None,
                 level: int = 0) -> Segment:
        n, t = self.size, self.columns
        first, last = self.base + c0 * n // t, self.base - (-c1 * n // t) - 1
        if block is None:
            used = (self.edges[c1] - self.edges[c0]) // t
            return Segment(row, c0 - row * COLUMNS, c1 - c0, kind, level, first, last, used)
        full = kind != "free"
        return Segment(row, c0 - row * COLUMNS, c1 - c0, kind, LEVELS if full else 0, first,
                       last, last - first + 1 if full else 0, block[3], block[4], block[5])
