"""JSON transcodings for the immutable values aggregates keep (used by snapshots)."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import Transcoding

from domain.allocation import PrefixPool
from domain.network import IPFacts
from domain.persistent import PersistentMap
from domain.ranges import IntRanges


class PrefixPoolAsDict(Transcoding):
    type = PrefixPool
    name = "ipam_prefix_pool"

    def encode(self, obj: PrefixPool) -> dict[str, Any]:
        return obj.to_json()

    def decode(self, data: dict[str, Any]) -> PrefixPool:
        return PrefixPool.from_json(data)


class IntRangesAsList(Transcoding):
    type = IntRanges
    name = "ipam_int_ranges"

    def encode(self, obj: IntRanges) -> list[list[int]]:
        return obj.to_json()

    def decode(self, data: list[list[int]]) -> IntRanges:
        return IntRanges.from_json(data)


class PersistentMapAsDict(Transcoding):
    """Values are IPFacts (acquired addresses) or tuples of prefixes (children)."""

    type = PersistentMap
    name = "ipam_persistent_map"

    def encode(self, obj: PersistentMap[Any]) -> dict[str, Any]:
        items = list(obj.items())
        facts = bool(items) and isinstance(items[0][1], IPFacts)
        return {"facts": facts, "items": [[k, list(v)] for k, v in items]}

    def decode(self, data: dict[str, Any]) -> PersistentMap[Any]:
        if data["facts"]:
            return PersistentMap({k: IPFacts(*v) for k, v in data["items"]})
        return PersistentMap({k: tuple(v) for k, v in data["items"]})


TRANSCODINGS = (PrefixPoolAsDict(), IntRangesAsList(), PersistentMapAsDict())
