"""Event versions: what changed in the stored shape of events, and how older ones are read.

Every stored event carries its class's version (`class_version`); 0.1.0 stored none, which the
library reads as version 1. Older versions are upcast on read by the class's static
`upcast_vN_vM(state)` methods (the library's mechanism), so the rest of the code only ever
sees the current shape. docs/events.md lists the versions of every event.

Version 2 of every event: `context` (who, with which request, and why) is always present.
The earliest 0.1.0 events were recorded without it; they are read with an empty context
(actor "anonymous" in the history).
"""

from __future__ import annotations

from typing import Any


class ContextAlwaysKept:
    """Mixed into each aggregate's base `Event`, so every event of the aggregate is version 2
    (an event class that changes later adds `upcast_v2_v3` of its own)."""

    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        if state.get("context") is None:
            state["context"] = {}


def type_name(event_class: type[Any]) -> str:
    """An event's stable type, as the history and the export show it (`IPAcquired`): the last
    part of its stable name (`Network.IPAcquired`)."""
    topic: str = event_class.TOPIC
    return topic.rpartition(".")[2]
