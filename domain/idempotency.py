"""Idempotent requests: the first result of a write, kept under the client's key.

The record is saved in the same transaction as the change it remembers, so a retried or
duplicated request either finds it (and gets the first result back) or collides with it on
save and is run again, finding it then. A change is never made twice for one key.

Keys belong to the credential that sent them (one token): a replay hands the first result only
to the credential that made the request, so it is authorised exactly as the request was (a
token's role and projects never change, and a revoked one gets no further).
"""

from __future__ import annotations

import json
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event


def request_uuid(credential: str, key: str) -> UUID:
    """The record's id: the credential and the key encoded without ambiguity (a JSON pair),
    so that `team:x` with key `K5` and `team` with key `x:K5` are two records."""
    return uuid5(NAMESPACE_URL, "ipam:idempotency:" + json.dumps([credential, key]))


class IdempotentRequest(Aggregate):
    """A write made with an idempotency key: who asked (the credential and its subject), what
    was asked (its fingerprint) and the answer."""

    class Recorded(Aggregate.Created):
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

    @classmethod
    def record(cls, *, key: str, subject: str, credential: str, fingerprint: str,
               result: dict[str, Any], context: dict[str, Any]) -> IdempotentRequest:
        return cls._create(cls.Recorded, id=request_uuid(credential, key), key=key,
                           subject=subject, credential=credential, fingerprint=fingerprint,
                           result=result, context=context)

    @event(Recorded)
    def __init__(self, *, key: str, subject: str, credential: str, fingerprint: str,
                 result: dict[str, Any], context: dict[str, Any]) -> None:
        self.key = key
        self.subject = subject
        self.credential = credential
        self.fingerprint = fingerprint
        self.result = result
