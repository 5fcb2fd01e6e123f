"""JSON transcodings for the immutable values aggregates keep (used by snapshots).

A transcoding's name is its format's version: a changed encoding gets a new name, and the old
one stays, decoding only, so that snapshots written before are still read."""

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


class PersistentMapAsTable(Transcoding):
    """Values are IPFacts (acquired addresses: a table whose columns are named, so a field can
    be added with a default or dropped without breaking stored snapshots) or tuples of
    prefixes (children)."""

    type = PersistentMap
    name = "ipam_persistent_map_v2"

    def encode(self, obj: PersistentMap[Any]) -> dict[str, Any]:
        items = list(obj.items())
        if items and isinstance(items[0][1], IPFacts):
            return {"columns": list(IPFacts._fields), "rows": [[k, *v] for k, v in items]}
        return {"columns": None, "rows": [[k, list(v)] for k, v in items]}

    def decode(self, data: dict[str, Any]) -> PersistentMap[Any]:
        columns = data["columns"]
        if columns is None:
            return PersistentMap({row[0]: tuple(row[1]) for row in data["rows"]})
        known = [(i, name) for i, name in enumerate(columns, start=1) if name in IPFacts._fields]
        return PersistentMap({
            row[0]: IPFacts(**{name: row[i] for i, name in known}) for row in data["rows"]
        })


class _Legacy:
    """Stands for no type: a transcoding that only decodes what an earlier release wrote."""


class PersistentMapAsDictV1(Transcoding):
    """0.1.0's snapshots: IPFacts by position (allocation, project, type, machine scope)."""

    type = _Legacy
    name = "ipam_persistent_map"

    def encode(self, obj: Any) -> Any:  # pragma: no cover - never chosen for a value
        raise TypeError("0.1.0's encoding is read, never written")

    def decode(self, data: dict[str, Any]) -> PersistentMap[Any]:
        if data["facts"]:
            fields = ("allocation_uuid", "project_id", "type", "machine_scoped")
            return PersistentMap({k: IPFacts(**dict(zip(fields, v, strict=True)))
                                  for k, v in data["items"]})
        return PersistentMap({k: tuple(v) for k, v in data["items"]})


TRANSCODINGS = (PrefixPoolAsDict(), IntRangesAsList(), PersistentMapAsTable(), PersistentMapAsDictV1())
