"""Free-space map of one prefix: its child prefixes, acquired addresses and free space drawn
as an SVG sized by address space, for the console's network page.

The layout and the counts (columns, each column's share in use, the blocks that stand alone,
the largest free block, the summary's figures) are `api.console.freemap_layout`'s; this module
draws them and re-exports its public names. How the map is drawn:

- A segment is a bar as high as its share in use (quarters). A child block standing alone is
  a link to the child network, titled with CIDR, id and name; a free block standing alone is
  titled with its CIDR; a child missing from the caller's mapping is child space without a
  link. Runs of columns with the same share are one rectangle titled with its address range
  and exact count (from 2 columns on); free runs narrower than 8 columns are not drawn, the
  row's free-coloured track shows through. So the SVG stays small whatever the number of
  children or ranges: at most one shape per column (4,096), a few KiB for a packed prefix.
- The largest free block has a dashed outline (at least 3 units wide, so a block smaller than
  a column still shows) and a triangle above it. In a prefix holding acquired addresses (no
  free block for a child) the outline marks the largest aligned block holding no acquired
  address instead, and says so.
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

import re
from collections.abc import Callable
from urllib.parse import quote

from markupsafe import Markup, escape

from api.console.freemap_layout import (
    COLUMNS,
    LEVELS,
    ROWS,
    WIDE,
    WIDE_FREE,
    ChildLabels,
    FreeSpaceSummary,
    Layout,
    Segment,
    free_space_segments,
    free_space_summary,
)
from domain.allocation import PrefixPool

__all__ = [
    "BAR", "COLUMNS", "LEVELS", "ROWS", "WIDE", "WIDE_FREE", "ChildLabels", "FreeSpaceSummary",
    "Segment", "free_space_map", "free_space_segments", "free_space_summary", "network_link",
]

BAR, LABEL, GAP, FONT = 20, 10, 4, 7  # heights (viewBox units); monospace font size
PITCH = LABEL + BAR + GAP
CHAR = FONT * 0.6  # width of a monospace character
FILL = {"child": "#4a7fc1", "acquired": "#c77b2a", "free": "#e9f1e7", "reserved": "#8a949e"}
INK, LINE = "#1d232a", "#d5dbe1"
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def network_link(child_id: str) -> str:
    """The console page of a child network (the id is one escaped path segment)."""
    return "/ui/networks/" + quote(child_id, safe="")


def free_space_map(pool: PrefixPool, children: ChildLabels | None = None, *,
                   link: Callable[[str], str] | None = None) -> Markup:
    """The map as an inline SVG document. `children` names child prefixes (CIDR -> (id, name));
    a child not named there is drawn unlabelled. `link(id)` gives a child's page URL
    (`network_link` when None); the result is escaped, not otherwise trusted."""
    return _Drawing(pool, children or {}).svg(link or network_link)


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


class _Drawing(Layout):
    """A map's layout drawn as SVG."""

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
