"""Idempotent requests: the first result of a write, kept under the client's key.

The record is saved in the same transaction as the change it remembers, so a retried or
duplicated request either finds it (and gets the first result back) or collides with it on
save and is run again, finding it then. A change is never made twice for one key.
"""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event


def request_uuid(subject: str, key: str) -> UUID:
    """Keys are the caller's own: two callers may use the same key for different requests."""
    return uuid5(NAMESPACE_URL, f"ipam:idempotency:{subject}:{key}")


class IdempotentRequest(Aggregate):
    """A write made with an idempotency key: what was asked (its fingerprint) and the answer."""

    class Recorded(Aggregate.Created):
        key: str
        subject: str
        fingerprint: str
        result: dict[str, Any]
        context: dict[str, Any]

    @classmethod
    def record(cls, *, key: str, subject: str, fingerprint: str, result: dict[str, Any],
               context: dict[str, Any]) -> IdempotentRequest:
        return cls._create(cls.Recorded, id=request_uuid(subject, key), key=key, subject=subject,
                           fingerprint=fingerprint, result=result, context=context)

    @event(Recorded)
    def __init__(self, *, key: str, subject: str, fingerprint: str, result: dict[str, Any],
                 context: dict[str, Any]) -> None:
        self.key = key
        self.subject = subject
        self.fingerprint = fingerprint
        self.result = result
