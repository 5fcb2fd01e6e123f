"""Free-space map of one prefix: its child prefixes, acquired addresses and free space drawn
as an SVG sized by address space, for the console's network page.

How the map is drawn:

- The prefix's N addresses are laid linearly onto `rows` rows of `COLUMNS` (512) columns:
  8 rows, or N rows for a prefix of fewer than 8 addresses, so every row starts at an address
  (its label). Column c holds the addresses [c*N/T, (c+1)*N/T) where T = rows * 512. All
  positions are exact integer arithmetic (IPv6 sizes reach 2^128); N and T are powers of two,
  so an aligned block of at least one column's size starts and ends on column edges.
- Each column's share in use (addresses in child prefixes for a prefix that has children,
  acquired addresses otherwise) is counted exactly from the prefix's ranges with a cumulative
  sum and a binary search per column edge: O(ranges + columns), no address is enumerated.
  The share is drawn as a bar in quarters: empty (free), 1-3 quarters (partly used; any use
  gives at least one, anything short of full at most three), or full.
- Some blocks are drawn on their own: child prefixes the caller named, when at least `WIDE`
  (2) columns wide (a link to the child network, titled with CIDR, id and name); free blocks
  at least `WIDE_FREE` (8) columns wide, titled with their CIDR, while no address is acquired
  (the domain's free blocks are the space for children); and the prefix's reserved addresses
  when an address spans two columns or more. A child missing from the caller's mapping
  (another tenant's, say) is child space without a link; a name for a prefix that is not
  carved is ignored. Between them, runs of columns with the same share are merged into one
  rectangle titled with its address range and exact count (from 2 columns on); free runs
  narrower than 8 columns are not drawn, the row's free-coloured track shows through. So the
  SVG stays small whatever the number of children or ranges: at most one shape per column
  (4,096), a few KiB for a packed prefix.
- The largest free block has a dashed outline (at least 3 units wide, so a block smaller than
  a column still shows) and a triangle above it. It is the domain's: the largest block a child
  prefix can still be carved from (`domain.consumption.capacity`'s `largest_free_prefix`). A
  prefix holding acquired addresses gives no children, so there the outline marks the largest
  aligned block holding no acquired address instead, and says so (the prefix's own reserved
  addresses do not count: a block holds them whatever it is used for).
- Kinds differ by more than colour: child prefixes are hatched, acquired addresses solid and
  dark, free space plain and light, reserved addresses grey; bar height shows the share used;
  a legend and every title name the kind. Class names `fm-child`, `fm-acquired`, `fm-free`,
  `fm-largest` (and `fm-reserved`, `fm-track`) let the stylesheet recolour them, and
  presentation attributes colour them without it. `fm-child` sits on the group around child
  shapes and on the hatch's background, so a stylesheet colour keeps the hatch.
- No script, no external resource, no `style` attribute (the console's Content-Security-Policy);
  every value put in the SVG is escaped, and characters XML forbids are replaced.
- The root has `role="img"`, a `<title>` and a `<desc>` with the figures of
  `free_space_summary` (assistive technology reads the map as one image, so the page lists
  child networks as text too). Pattern and label ids derive from the prefix, so several maps
  on one page do not clash.
"""

from __future__ import annotations

import ipaddress
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import accumulate, chain, compress, repeat
from operator import add, itemgetter, sub
from typing import TypedDict
from urllib.parse import quote

from markupsafe import Markup, escape

from domain.allocation import PrefixPool, block_text, reserved_ranges

COLUMNS, ROWS, LEVELS = 512, 8, 4  # columns per row, rows, steps of a bar
WIDE, WIDE_FREE = 2, 8  # columns a child (a link), a free block (a title) needs to stand alone
BAR, LABEL, GAP, FONT = 20, 10, 4, 7  # heights (viewBox units); monospace font size
PITCH = LABEL + BAR + GAP
CHAR = FONT * 0.6  # width of a monospace character
FILL = {"child": "#4a7fc1", "acquired": "#c77b2a", "free": "#e9f1e7", "reserved": "#8a949e"}
INK, LINE = "#1d232a", "#d5dbe1"
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

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


def network_link(child_id: str) -> str:
    """The console page of a child network (the id is one escaped path segment)."""
    return "/ui/networks/" + quote(child_id, safe="")


def free_space_summary(pool: PrefixPool) -> FreeSpaceSummary:
    """Exact figures of a prefix: children, acquired, free addresses and the largest block."""
    free, _, largest = _free_cover(pool)
    return _summary(pool, free, largest, None if pool.children else _acquired_ranges(pool))


def free_space_segments(pool: PrefixPool, children: ChildLabels | None = None) -> list[Segment]:
    """The map's shapes in row and column order; their widths add up to every row's width."""
    return _Plan(pool, children or {}).segments()


def free_space_map(pool: PrefixPool, children: ChildLabels | None = None, *,
                   link: Callable[[str], str] | None = None) -> Markup:
    """The map as an inline SVG document. `children` names child prefixes (CIDR -> (id, name));
    a child not named there is drawn unlabelled. `link(id)` gives a child's page URL
    (`network_link` when None); the result is escaped, not otherwise trusted."""
    return _Plan(pool, children or {}).svg(link or network_link)


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
    if acquired is None:  # domain.consumption.free_addresses, without its per-block rescan
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


def _count(n: int) -> str:
    """An exact count; IPv6-sized ones as a power of two, or in units of 2^64, when they can."""
    if n >= 1 << 32 and n & (n - 1) == 0:
        return f"2^{n.bit_length() - 1}"
    if n >= 1 << 64 and n % (1 << 64) == 0:
        return f"{n >> 64:,} × 2^64"
    return f"{n:,}"


def _plural(n: int, one: str, many: str) -> str:
    return f"{_count(n)} {one if n == 1 else many}"


def _addresses(n: int) -> str:
    return _plural(n, "address", "addresses")


def _text(value: object) -> str:
    """Escaped text or attribute value, with characters XML forbids replaced."""
    return str(escape(_NOT_XML.sub("\ufffd", str(value))))


# -- the plan of one map ---------------------------------------------------------------------


Own = tuple[int, int, str, str, str | None, str]  # columns [c0, c1), kind, CIDR, id, name


class _Plan:
    """What one map needs, computed once: layout, each column edge's count, own-shape blocks."""

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

    # -- drawing -----------------------------------------------------------------------------

    def svg(self, link: Callable[[str], str]) -> Markup:
        pid = _text("fm-" + re.sub(r"[^0-9A-Za-z]+", "-", self.pool.prefix).strip("-"))
        shapes: dict[str, list[str]] = {"free": [], "acquired": [], "reserved": [], "child": []}
        for segment in self.segments():
            shape = self._shape(segment, link)
            if shape:
                shapes[segment.kind].append(shape)
        mark_row, mark_x, outline = self._outline()
        legend, legend_height = self._legend(pid)
        out = [
            f'<svg xmlns="http://www.w3.org/2000/svg" class="fm-map" width="100%" '
            f'viewBox="0 0 {COLUMNS} {self.rows * PITCH + legend_height}" role="img" '
            f'aria-labelledby="{pid}-title {pid}-desc" font-family="ui-monospace, monospace" '
            f'font-size="{FONT}">',
            f'<title id="{pid}-title">Free space of {_text(self.pool.prefix)}</title>',
            f'<desc id="{pid}-desc">{_text(self._description())}</desc>',
            f'<defs><pattern id="{pid}-hatch" width="6" height="6" patternUnits="userSpaceOnUse"'
            f' patternTransform="rotate(45)"><rect class="fm-child" width="6" height="6" '
            f'fill="{FILL["child"]}"/><rect width="2" height="6" fill="{INK}" fill-opacity=".3"/>'
            '</pattern></defs>',
            f'<g class="fm-free fm-track" fill="{FILL["free"]}" stroke="{LINE}" stroke-width=".5">',
            *(f'<rect x="0" y="{row * PITCH + LABEL}" width="{COLUMNS}" height="{BAR}"/>'
              for row in range(self.rows)),
            f'</g><g fill="{INK}">',
        ]
        for row in range(self.rows):
            text = str(self.address(self.base + row * self.size // self.rows))
            y = row * PITCH + LABEL - 2
            if row == mark_row and mark_x - 4 < len(text) * CHAR + 2:  # the marker is there
                out.append(f'<text x="{COLUMNS}" y="{y}" text-anchor="end">{text}</text>')
            else:
                out.append(f'<text x="0" y="{y}">{text}</text>')
        out.append('</g><g class="fm-segments">')
        for kind in ("free", "acquired", "reserved"):
            if shapes[kind]:
                out += [f'<g class="fm-{kind}" fill="{FILL[kind]}">', *shapes[kind], "</g>"]
        if shapes["child"]:  # the stylesheet colours the hatch's background, not the hatch
            out += [f'<g class="fm-child"><g fill="url(#{pid}-hatch)">', *shapes["child"],
                    "</g></g>"]
        out += ["</g>", outline, legend, "</svg>"]
        return Markup("".join(out))

    def _span(self, first: int, last: int) -> str:
        if first == last:
            return str(self.address(first))
        return f"{self.address(first)} – {self.address(last)}"

    def _shape(self, seg: Segment, link: Callable[[str], str]) -> str:
        y = seg.row * PITCH + LABEL
        if seg.block is None:
            if seg.kind == "free" and seg.width < WIDE_FREE:
                return ""  # the row's track is free space already; a title needs room
            height = BAR * seg.level // LEVELS if seg.level else BAR
            rect = f'<rect x="{seg.x}" y="{y + BAR - height}" width="{seg.width}" height="{height}"'
            if seg.width < WIDE:
                return rect + "/>"
            total = seg.last - seg.first + 1
            what = "in child prefixes" if seg.kind == "child" else "acquired"
            if seg.level == 0:
                words = f"free ({_addresses(total)})"
            elif seg.level == LEVELS:
                words = f"all {_addresses(total)} {what}" if total > 1 else what
            else:
                share = max(1, min(99, seg.used * 100 // total))
                words = f"{_count(seg.used)} of {_addresses(total)} {what} ({share}%)"
            title = f"{self._span(seg.first, seg.last)}: {words}"
            return f"{rect}><title>{_text(title)}</title></rect>"
        cidr, size = seg.block, _addresses(seg.last - seg.first + 1)
        if seg.kind == "child":
            title = f"child prefix {cidr} of network {seg.network_id}"
            title += f" ({seg.name})" if seg.name else ""
            labels = [f"{cidr} {seg.name or seg.network_id}", seg.name or str(seg.network_id), cidr]
        elif seg.kind == "free":
            title, labels = f"free block {cidr} ({size})", [f"free {cidr}", "free"]
        else:
            title, labels = f"{self._span(seg.first, seg.last)}: reserved", ["reserved"]
        edge = ' stroke="#fff" stroke-width=".5"' if seg.kind == "child" else ""
        rect = f'<rect x="{seg.x}" y="{y}" width="{seg.width}" height="{BAR}"{edge}/>'
        label = next((text for text in labels if len(text) * CHAR + 4 <= seg.width), None)
        if label is not None:
            rect += f'<text x="{seg.x + 2}" y="{y + 13}" fill="{INK}">{_text(label)}</text>'
        if seg.kind == "child" and seg.network_id is not None:
            href = _text(link(seg.network_id))
            return f'<a href="{href}"><title>{_text(title)}</title>{rect}</a>'
        return f"<g><title>{_text(title)}</title>{rect}</g>"

    def _largest(self) -> tuple[str, str] | None:
        """The block the outline marks, and what to call it."""
        summary = self.summary
        if summary["largest_free"] is not None:
            return summary["largest_free"], "largest free block"
        if self.pool.acquired and summary["largest_unheld"] is not None:
            return summary["largest_unheld"], "largest block with no acquired IP"
        return None

    def _outline(self) -> tuple[int, int, str]:
        """The largest block's dashed outline and marker: (marker row, marker x, SVG)."""
        largest = self._largest()
        if largest is None:
            return -1, -1, ""
        cidr, words = largest
        length = int(cidr.rpartition("/")[2])
        start = int(self.address(cidr.rpartition("/")[0]))
        c0 = self.column(start)
        c1 = max(c0 + 1, self.column(start + (1 << (self.bits - length))))
        title = f"{words}: {cidr} ({_addresses(1 << (self.bits - length))})"
        out = [f'<g class="fm-largest" fill="none" stroke="{INK}" stroke-width="1.5" '
               f'stroke-dasharray="3 2"><title>{_text(title)}</title>']
        mark = (-1, -1)
        for row in range(c0 // COLUMNS, (c1 - 1) // COLUMNS + 1):
            x0 = max(c0 - row * COLUMNS, 0)
            x1 = min(c1 - row * COLUMNS, COLUMNS)
            if x1 - x0 < 3:  # a block narrower than a column still shows
                x0 = max(0, min(x0 - 1, COLUMNS - 3))
                x1 = x0 + 3
            y = row * PITCH + LABEL
            out.append(f'<rect x="{x0}" y="{y}" width="{x1 - x0}" height="{BAR}"/>')
            if mark[0] < 0:
                mark = (row, (x0 + x1) // 2)
                out.append(f'<path d="M{mark[1] - 3} {y - 7}h6l-3 6z" fill="{INK}" stroke="none"/>')
        out.append("</g>")
        return mark[0], mark[1], "".join(out)

    def _scale(self) -> str:
        if self.size >= self.columns:
            per = self.size // self.columns
            return f"1 column = /{self.bits - per.bit_length() + 1} ({_addresses(per)})"
        return f"1 address = {self.columns // self.size} columns"

    def _legend(self, pid: str) -> tuple[str, int]:
        """Swatches with their words, wrapped to the width, then the scale: (SVG, height)."""
        in_use = "child" if self.by_children else "acquired"
        swatch = {
            "child": f'<g class="fm-child"><rect{{}} fill="url(#{pid}-hatch)"/></g>',
            "acquired": f'<rect class="fm-acquired"{{}} fill="{FILL["acquired"]}"/>',
            "free": f'<rect class="fm-free"{{}} fill="{FILL["free"]}" stroke="{LINE}"/>',
            "reserved": f'<rect class="fm-reserved"{{}} fill="{FILL["reserved"]}"/>',
            "largest": f'<rect class="fm-largest"{{}} fill="none" stroke="{INK}" '
                       'stroke-width="1.5" stroke-dasharray="3 2"/>',
        }
        items = [(in_use, "child prefix" if self.by_children else "acquired")]
        if any(block[2] == "reserved" for block in self.blocks):
            items.append(("reserved", "reserved"))
        items.append(("free", "free"))
        largest = self._largest()
        if largest is not None:
            items.append(("largest", largest[1]))
        items.append((in_use, "partly used: bar height = share in use"))
        out, x, y = [f'<g fill="{INK}">'], 0, self.rows * PITCH
        for index, (kind, words) in enumerate(items):
            width = 13 + round(len(words) * CHAR) + 10
            if x and x + width > COLUMNS:
                x, y = 0, y + 12
            partial = index == len(items) - 1
            box = f' x="{x}" y="{y + 1}" width="10" height="{4 if partial else 8}"'
            if partial:  # a free swatch with a low bar
                out.append(swatch["free"].format(f' x="{x}" y="{y + 1}" width="10" height="8"'))
                box = f' x="{x}" y="{y + 5}" width="10" height="4"'
            out.append(swatch[kind].format(box))
            out.append(f'<text x="{x + 13}" y="{y + 8}">{_text(words)}</text>')
            x += width
        y += 12
        out.append(f'<text x="0" y="{y + 8}">{_text(self._scale())}; '
                   f'{self.rows} rows × {COLUMNS} columns</text></g>')
        return "".join(out), y + 12 - self.rows * PITCH

    def _description(self) -> str:
        s = self.summary
        words = [f"Free-space map of {s['prefix']} ({s['family']}, {_count(s['addresses'])} "
                 f"addresses) in {self.rows} rows of {COLUMNS} columns, {self._scale()}; a "
                 "bar's height is the share of its column in use."]
        if self.by_children:
            words.append(f"{_plural(s['child_prefixes'], 'child prefix', 'child prefixes')} cover "
                         f"{_addresses(s['child_addresses'])}.")
        else:
            words.append(f"{_addresses(s['acquired'])} acquired, {s['reserved']} reserved.")
        words.append(f"{_addresses(s['free_addresses'])} free.")
        if s["largest_free"] is not None:
            words.append(f"Largest free block: {s['largest_free']} "
                         f"({_addresses(s['largest_free_addresses'])}).")
        else:
            words.append("No free block for a child prefix.")
        largest = self._largest()
        if largest is not None and s["largest_free"] is None:
            words.append(f"The {largest[1]}: {largest[0]}.")
        return " ".join(words)
