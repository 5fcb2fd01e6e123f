"""Tables that fit a terminal without cutting a value.

A value is shown whole or not at all. Each table names its optional columns in a drop order;
every other column is required. Laid out for a width:

1. every row on one line if that fits;
2. otherwise optional columns are dropped, in the table's order, until the rest fits; a column
   that wraps readily counts only its `fold_to` width there (free text such as names,
   descriptions and reasons `PROSE`, a list of prefixes its longest prefix): a second line
   costs less than a lost column;
3. what still does not fit wraps: a cell goes onto several lines only between its atoms (after
   the comma between two prefixes, at a space in free text, between two facts); an address, id,
   UUID, actor or prefix is one atom and never split;
4. if even the required columns' longest atoms exceed the width, the lines run past it: the
   terminal folds them, nothing is lost.

Without a width (standard output is not a terminal) nothing is dropped or wrapped.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.cells import cell_len
from rich.text import Text

GAP = 2  # spaces between two columns
PROSE = 30  # free text wraps at this width rather than push a column out

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_WORDS = re.compile(r" *[^ ]+ *| +")  # words with the spaces after them (only ASCII spaces break)


def visible(text: str) -> str:
    """Control characters shown escaped (`\\x1b`, `\\r`, `\\n`): a value someone chose must not
    move the cursor, clear the screen or start a fake table line in an admin's terminal."""
    if _CONTROL.search(text) is None:
        return text
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def plain(value: Any) -> str:
    """A value as text: booleans `true`/`false`, null as nothing, control characters escaped."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return visible(str(value))


Piece = tuple[str, str]  # text and its Rich style ("" for none); text is never read as markup
Atom = tuple[Piece, ...]  # never split across lines


def joined(pieces: Sequence[Piece]) -> str:
    if len(pieces) == 1:
        return pieces[0][0]
    return "".join(text for text, _ in pieces)


def _trimmed(pieces: list[Piece]) -> tuple[Piece, ...]:
    """Without the spaces at the end."""
    while pieces and pieces[-1][0].endswith(" "):
        text, style = pieces[-1]
        pieces[-1:] = [(text.rstrip(" "), style)] if text.strip(" ") else []
    return tuple(pieces)


@dataclass(frozen=True)
class Cell:
    """A value as a table shows it: lines that always stand apart, each a run of atoms that may
    go onto several lines between two atoms, never inside one. `fill` stands on the row's
    further lines (a tree's continuation)."""

    lines: tuple[tuple[Atom, ...], ...]
    fill: str = ""

    @functools.cached_property
    def minimum(self) -> int:
        """The narrowest this cell can be: its longest atom."""
        atoms = (cell_len(joined(atom).rstrip(" ")) for line in self.lines for atom in line)
        return max([cell_len(self.fill), *atoms])

    @functools.cached_property
    def natural(self) -> int:
        """Its width with every line whole."""
        lines = (cell_len("".join(joined(a) for a in line).rstrip(" ")) for line in self.lines)
        return max([cell_len(self.fill), *lines])

    def wrap(self, width: int) -> list[tuple[Piece, ...]]:
        """Its lines at most `width` wide where atoms allow (an atom wider stands alone)."""
        if width >= self.natural:
            return [_trimmed([p for atom in line for p in atom]) for line in self.lines] or [()]
        wrapped: list[tuple[Piece, ...]] = []
        for line in self.lines:
            current: list[Piece] = []
            so_far = ""
            for atom in line:
                text = joined(atom)
                if so_far and cell_len((so_far + text).rstrip(" ")) > width:
                    wrapped.append(_trimmed(current))
                    current, so_far = [], ""
                current.extend(atom)
                so_far += text
            wrapped.append(_trimmed(current))
        return wrapped or [()]


def _atoms(*texts: str) -> tuple[Atom, ...]:
    return tuple(((text, ""),) for text in texts) or ((("", ""),),)


def whole(value: Any, style: str = "", fill: str = "") -> Cell:
    """One atom: an id, an address, a prefix, an actor, a flag."""
    return Cell(((((plain(value), style),),),), fill)


def words(value: Any) -> Cell:
    """Free text, wrapping at its spaces."""
    return Cell((_atoms(*_WORDS.findall(plain(value))),))


def listed(values: Iterable[Any], separator: str = ",") -> Cell:
    """Values on one line, `separator` between them, wrapping after a separator."""
    texts = [plain(value) for value in values]
    return Cell((_atoms(*(t + separator for t in texts[:-1]), *texts[-1:]),))


def stacked(values: Iterable[Any]) -> Cell:
    """One value a line, each whole."""
    return Cell(tuple(_atoms(plain(value)) for value in values))


def phrases(lines: Iterable[Sequence[str]]) -> Cell:
    """Lines of phrases (each ending in its own space), wrapping only between two phrases."""
    return Cell(tuple(_atoms(*(visible(p) for p in line)) for line in lines))


@dataclass(frozen=True)
class Column:
    header: str
    fold_to: int | None = None  # counted at most this wide when choosing what to drop


def prose(header: str) -> Column:
    """A column of free text: it wraps at `PROSE` rather than push another column out."""
    return Column(header, PROSE)


@dataclass(frozen=True)
class Rendered:
    lines: list[tuple[Piece, ...]]
    hidden: list[str]  # headers of the optional columns dropped, in drop order

    @property
    def plain(self) -> list[str]:
        """The lines without styles, and without the padding of an empty last cell."""
        return [joined(line).rstrip(" ") for line in self.lines]

    def styled(self) -> Text:
        """The lines as one Rich text, for a terminal."""
        texts = [Text.assemble(*line) for line in self.lines]
        for text in texts:
            text.rstrip()
        return Text("\n").join(texts)


def _total(widths: Sequence[int]) -> int:
    return sum(widths) + GAP * max(0, len(widths) - 1)


def _allot(natural: list[int], preferred: list[int], minimum: list[int], folds: list[bool],
           width: int) -> list[int]:
    """Column widths within `width`: natural if they fit; else folding columns narrowed to what
    the space allows; else, a step at a time, the widest folding column narrowed down to its
    longest atom, then the widest other wrappable one; past that the line is longer than
    `width`."""
    if _total(natural) <= width:
        return natural
    widths = list(preferred)
    spare = width - _total(widths)
    while spare > 0:  # the room left goes to the narrowed columns, in turns
        growing = [i for i, w in enumerate(widths) if w < natural[i]]
        if not growing:
            break
        for i in growing[:spare]:
            widths[i] += 1
        spare -= len(growing[:spare])
    while _total(widths) > width:
        shrinkable = [i for i, w in enumerate(widths) if w > minimum[i]]
        if not shrinkable:
            break
        widths[max(shrinkable, key=lambda i: (folds[i], widths[i], i))] -= 1
    return widths


@dataclass
class Layout:
    """A table: columns, the drop order of its optional ones (groups of headers, the first group
    dropped first) and rows of cells."""

    columns: Sequence[Column]
    drop_order: Sequence[Sequence[str]] = ()
    rows: list[Sequence[Cell]] = field(default_factory=list)

    def __post_init__(self) -> None:
        headers = {c.header for c in self.columns}
        unknown = [h for group in self.drop_order for h in group if h not in headers]
        if unknown:
            raise ValueError(f"drop order names no column: {unknown}")

    def add_row(self, *cells: Cell) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"{len(cells)} cells for {len(self.columns)} columns")
        self.rows.append(cells)

    def render(self, width: int | None) -> Rendered:
        """The table's lines for a terminal `width` columns wide (None: no limit)."""
        heads = [whole(c.header, style="bold") for c in self.columns]
        columns = [[head, *(row[i] for row in self.rows)] for i, head in enumerate(heads)]
        minimum = [max(c.minimum for c in cells) for cells in columns]
        natural = [max(c.natural for c in cells) for cells in columns]
        preferred = [n if c.fold_to is None else max(m, min(n, c.fold_to))
                     for c, m, n in zip(self.columns, minimum, natural, strict=True)]
        kept = list(range(len(self.columns)))
        hidden: list[str] = []
        if width is None:
            widths = natural
        else:
            for group in self.drop_order:
                if _total([preferred[i] for i in kept]) <= width:
                    break
                present = {self.columns[i].header for i in kept}
                hidden += [header for header in group if header in present]
                kept = [i for i in kept if self.columns[i].header not in group]
            widths = [0] * len(self.columns)
            allotted = _allot([natural[i] for i in kept], [preferred[i] for i in kept],
                              [minimum[i] for i in kept],
                              [self.columns[i].fold_to is not None for i in kept], width)
            for i, w in zip(kept, allotted, strict=True):
                widths[i] = w
        return Rendered(self._lines([columns[i] for i in kept], [widths[i] for i in kept]), hidden)

    @staticmethod
    def _lines(columns: list[list[Cell]], widths: list[int]) -> list[tuple[Piece, ...]]:
        wrapped = [[cell.wrap(w) for cell in cells] for cells, w in zip(columns, widths, strict=True)]
        final = [max(cell_len(joined(line)) for lines in cells for line in lines) for cells in wrapped]
        out: list[tuple[Piece, ...]] = []
        for r in range(len(columns[0]) if columns else 0):
            height = max(len(cells[r]) for cells in wrapped)
            for k in range(height):
                line: list[Piece] = []
                for c, cells in enumerate(wrapped):
                    pieces = cells[r][k] if k < len(cells[r]) else ((columns[c][r].fill, ""),)
                    line.extend(pieces)
                    if c < len(wrapped) - 1:
                        line.append((" " * (final[c] - cell_len(joined(pieces)) + GAP), ""))
                out.append(_trimmed(line))
        return out
