"""An immutable set of integers kept as disjoint closed ranges.

Used for the addresses taken in a prefix and for the VRF pool: a fill of 100,000 consecutive
addresses is one range, so the state an aggregate carries stays small however full it gets.
Instances are immutable; every change returns a new instance, so a deep copy may share them.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from typing import Any


class IntRanges:
    """Sorted, disjoint, non-adjacent closed ranges `[start, end]` of integers."""

    __slots__ = ("_starts", "_ends", "_count")

    def __init__(self, ranges: tuple[tuple[int, int], ...] = ()) -> None:
        starts: list[int] = []
        ends: list[int] = []
        for start, end in sorted(ranges):
            if end < start:
                raise ValueError(f"empty range [{start}, {end}]")
            if ends and start <= ends[-1] + 1:
                ends[-1] = max(ends[-1], end)
            else:
                starts.append(start)
                ends.append(end)
        self._set(tuple(starts), tuple(ends))

    def _set(self, starts: tuple[int, ...], ends: tuple[int, ...]) -> None:
        self._starts = starts
        self._ends = ends
        self._count = sum(e - s + 1 for s, e in zip(starts, ends, strict=True))

    @classmethod
    def _from(cls, starts: tuple[int, ...], ends: tuple[int, ...], count: int) -> IntRanges:
        new = cls.__new__(cls)
        new._starts, new._ends, new._count = starts, ends, count
        return new

    def __deepcopy__(self, memo: dict[int, Any]) -> IntRanges:
        return self  # immutable

    def __copy__(self) -> IntRanges:
        return self

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IntRanges):
            return NotImplemented
        return self._starts == other._starts and self._ends == other._ends

    def __hash__(self) -> int:
        return hash((self._starts, self._ends))

    def __repr__(self) -> str:
        return f"IntRanges({self.ranges()!r})"

    def __len__(self) -> int:
        return self._count

    def __contains__(self, value: int) -> bool:
        i = bisect_right(self._starts, value) - 1
        return i >= 0 and self._ends[i] >= value

    def ranges(self) -> tuple[tuple[int, int], ...]:
        """The ranges as `(start, end)` pairs, ascending."""
        return tuple(zip(self._starts, self._ends, strict=True))

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter(zip(self._starts, self._ends, strict=True))

    def first_gap(self, low: int, high: int) -> int | None:
        """The lowest integer in `[low, high]` not in the set, or None. O(log n)."""
        i = bisect_right(self._starts, low) - 1
        if i < 0 or self._ends[i] < low:
            return low
        candidate = self._ends[i] + 1  # ranges are non-adjacent, so this one is free
        return candidate if candidate <= high else None

    def first_member_above(self, low: int, high: int) -> int | None:
        """The lowest member in `(low, high]`, or None."""
        i = bisect_right(self._starts, low) - 1
        if i >= 0 and self._ends[i] > low:
            return low + 1 if low + 1 <= high else None
        j = i + 1
        if j < len(self._starts) and self._starts[j] <= high:
            return self._starts[j]
        return None

    def add(self, value: int) -> IntRanges:
        """A new set with `value` added (it must not be a member)."""
        starts, ends = list(self._starts), list(self._ends)
        i = bisect_right(starts, value) - 1
        if i >= 0 and ends[i] >= value:
            raise ValueError(f"{value} is already a member")
        joins_left = i >= 0 and ends[i] == value - 1
        joins_right = i + 1 < len(starts) and starts[i + 1] == value + 1
        if joins_left and joins_right:
            ends[i] = ends[i + 1]
            del starts[i + 1], ends[i + 1]
        elif joins_left:
            ends[i] = value
        elif joins_right:
            starts[i + 1] = value
        else:
            starts.insert(i + 1, value)
            ends.insert(i + 1, value)
        return IntRanges._from(tuple(starts), tuple(ends), self._count + 1)

    def remove(self, value: int) -> IntRanges:
        """A new set without `value` (it must be a member)."""
        starts, ends = list(self._starts), list(self._ends)
        i = bisect_right(starts, value) - 1
        if i < 0 or ends[i] < value:
            raise ValueError(f"{value} is not a member")
        start, end = starts[i], ends[i]
        if start == end:
            del starts[i], ends[i]
        elif value == start:
            starts[i] = value + 1
        elif value == end:
            ends[i] = value - 1
        else:
            ends[i] = value - 1
            starts.insert(i + 1, value + 1)
            ends.insert(i + 1, end)
        return IntRanges._from(tuple(starts), tuple(ends), self._count - 1)

    def to_json(self) -> list[list[int]]:
        """JSON-friendly form: `[[start, end], ...]`."""
        return [[s, e] for s, e in zip(self._starts, self._ends, strict=True)]

    @classmethod
    def from_json(cls, data: list[list[int]]) -> IntRanges:
        """Inverse of `to_json`."""
        return cls(tuple((int(s), int(e)) for s, e in data))
