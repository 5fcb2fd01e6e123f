"""What earlier releases recorded and this one only reads.

0.1.0 recorded the first answer to an `Idempotency-Key` as an event (`IdempotentRequest.Recorded`,
then in `domain/idempotency.py`). Since 0.2.0 that answer is kept in a table beside the log
(`ipam_idempotency`), not as a domain event. Logs written by 0.1.0 still hold such events: the
class stays, here, so they are read, exported, imported and verified; nothing new is recorded
with it, and replays do not consult it (its records expired long ago). It moved from its module
without breaking a log: events are found by stable name (`infrastructure.topics`).
"""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.versions import ContextAlwaysKept


class IdempotentRequest(Aggregate):
    """A write made with an idempotency key: who asked (the credential and its subject), what
    was asked (its fingerprint) and the answer."""

    TOPIC = "IdempotentRequest"

    class Event(ContextAlwaysKept, Aggregate.Event):
        """Every event of this aggregate (see `domain.versions`)."""

    class Created(Aggregate.Created):
        """The library's generic creation event (unused: creations are named below)."""

        TOPIC = "IdempotentRequest.Created"

    class Recorded(Aggregate.Created):
        TOPIC = "IdempotentRequest.Recorded"
        key: str
        subject: str
        credential: str
        fingerprint: str
        result: dict[str, Any]
        context: dict[str, Any]

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Version 1 records were kept per subject and did not name the credential."""
            state["credential"] = ""

    @event(Recorded)
    def __init__(self, *, key: str, subject: str, credential: str, fingerprint: str,
                 result: dict[str, Any], context: dict[str, Any]) -> None:
        self.key = key
        self.subject = subject
        self.credential = credential
        self.fingerprint = fingerprint
        self.result = result
