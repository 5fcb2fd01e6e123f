"""The read model's rows as Python sees them: a network's folded state (its `state` column),
an IP's document, and the keys they are found and sorted by. Shared by the projection that
writes them (`infrastructure.projection`), the read model that reads them and the audit.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from typing import Any

from domain.addressing import parse_address
from domain.allocation import PrefixPool
from domain.network import MACHINE_TAG
from infrastructure import jsontext


@dataclass
class NetworkState:
    """A network as the projection folds it."""

    aggregate_id: str
    attrs: dict[str, Any]
    pools: dict[str, PrefixPool]
    created: datetime
    changed: datetime
    version: int
    deleted: bool = False

    def to_json(self) -> str:
        return json.dumps({
            "attrs": self.attrs,
            "pools": [pool.to_json() for pool in self.pools.values()],
            "created": self.created.isoformat(),
            "changed": self.changed.isoformat(),
            "version": self.version,
        })

    def copy(self) -> NetworkState:
        """A copy a fold may change (handlers replace attributes and pools, never change
        their values in place)."""
        return replace(self, attrs=dict(self.attrs), pools=dict(self.pools))

    def remember(self, text: str) -> None:
        """Keep this state as the parse of `text`, the row just written for it."""
        with _PARSED_LOCK:  # followers and reads' catch-ups fold on several threads
            _PARSED[self.aggregate_id] = (text, self.copy())
            if len(_PARSED) > _PARSED_MAX:
                _PARSED.pop(next(iter(_PARSED)), None)

    @classmethod
    def from_row(cls, aggregate_id: str, state: str) -> NetworkState:
        """The state a row holds. A network's row is read back by the next command on it:
        when it is the very text this process wrote (or read) last, the state kept with it
        is copied instead of parsing the pools again."""
        kept = _PARSED.get(aggregate_id)
        if kept is not None and kept[0] == state:
            return kept[1].copy()
        parsed = cls._parse(aggregate_id, state)
        parsed.remember(state)
        return parsed

    @classmethod
    def _parse(cls, aggregate_id: str, state: str) -> NetworkState:
        data = json.loads(state)
        pools = [PrefixPool.from_json(p) for p in data["pools"]]
        return cls(
            aggregate_id=aggregate_id, attrs=data["attrs"],
            pools={p.prefix: p for p in pools},
            created=datetime.fromisoformat(data["created"]),
            changed=datetime.fromisoformat(data["changed"]), version=data["version"],
        )


_PARSED: dict[str, tuple[str, NetworkState]] = {}  # aggregate id: (row text, its state)
_PARSED_MAX = 4096
_PARSED_LOCK = threading.Lock()


@lru_cache(maxsize=1 << 14)
def address_number(address: str) -> tuple[int, int]:
    """(IP version, integer) of an address; cached, since a fold meets each address several
    times (acquired, its row written, released) and parsing is most of an event's fold."""
    parsed = parse_address(address)
    return parsed.version, int(parsed)


def ip_sort_key(address: str) -> str:
    version, number = address_number(address)
    return f"{version}{number:032x}"


def encode_ip(document: dict[str, Any]) -> str:
    return jsontext.dumps({**document, "created": document["created"].isoformat(),
                           "changed": document["changed"].isoformat()})


def decode_ip(text: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(text)
    data["created"] = datetime.fromisoformat(data["created"])
    data["changed"] = datetime.fromisoformat(data["changed"])
    return data


def machine_of(tags: list[str]) -> str:
    for tag in tags:
        if tag.startswith(MACHINE_TAG):
            return tag[len(MACHINE_TAG):]
    return ""
