"""A small persistent (immutable, structure-sharing) string-keyed map.

The `Network` aggregate keeps a few facts per acquired address that its rules need (the
allocation, the project, the type, the machine scope). With a plain dict, the aggregate cache's
deep copy on every get and a snapshot's decoding cost grow with the number of addresses; here a
change copies one of 1,024 buckets and a deep copy shares the whole immutable value.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import MappingProxyType
from typing import Any, Generic, TypeVar

V = TypeVar("V")

_BUCKETS = 1024
_EMPTY: MappingProxyType[str, Any] = MappingProxyType({})


class PersistentMap(Generic[V]):
    """Immutable map from str to an immutable value; `set`/`delete` return a new map."""

    __slots__ = ("_buckets", "_size")

    def __init__(self, items: dict[str, V] | None = None) -> None:
        buckets: list[dict[str, V]] = [{} for _ in range(_BUCKETS)]
        for key, value in (items or {}).items():
            buckets[hash(key) % _BUCKETS][key] = value
        self._buckets: tuple[MappingProxyType[str, V], ...] = tuple(
            MappingProxyType(b) if b else _EMPTY for b in buckets
        )
        self._size = sum(len(b) for b in buckets)

    def __deepcopy__(self, memo: dict[int, Any]) -> PersistentMap[V]:
        return self  # immutable

    def __copy__(self) -> PersistentMap[V]:
        return self

    def __len__(self) -> int:
        return self._size

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in self._buckets[hash(key) % _BUCKETS]

    def __iter__(self) -> Iterator[str]:
        for bucket in self._buckets:
            yield from bucket

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PersistentMap):
            return NotImplemented
        return dict(self.items()) == dict(other.items())

    def __repr__(self) -> str:
        return f"PersistentMap({len(self)} items)"

    def get(self, key: str, default: V | None = None) -> V | None:
        return self._buckets[hash(key) % _BUCKETS].get(key, default)

    def items(self) -> Iterator[tuple[str, V]]:
        for bucket in self._buckets:
            yield from bucket.items()

    def _with_bucket(self, index: int, bucket: dict[str, V], size: int) -> PersistentMap[V]:
        new = PersistentMap.__new__(PersistentMap)
        buckets = list(self._buckets)
        buckets[index] = MappingProxyType(bucket) if bucket else _EMPTY
        new._buckets = tuple(buckets)
        new._size = size
        return new

    def set(self, key: str, value: V) -> PersistentMap[V]:
        index = hash(key) % _BUCKETS
        bucket = self._buckets[index].copy()  # dict of a proxy would copy item by item
        size = self._size + (0 if key in bucket else 1)
        bucket[key] = value
        return self._with_bucket(index, bucket, size)

    def delete(self, key: str) -> PersistentMap[V]:
        index = hash(key) % _BUCKETS
        bucket = self._buckets[index].copy()
        del bucket[key]
        return self._with_bucket(index, bucket, self._size - 1)

    def to_json(self) -> dict[str, Any]:
        return dict(self.items())
