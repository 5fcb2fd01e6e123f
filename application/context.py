"""Who asked for a change and why: recorded in every event; and what the caller may do."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

from application.access import Principal


@dataclass(frozen=True)
class RequestContext:
    """The actor (the token's subject; `anonymous` for in-process callers), the request id, an
    optional reason given by the client, the principal whose rights apply (None: an in-process
    caller with every right) and the request's idempotency key with its fingerprint; `render`
    turns a write's result into the response (status and body bytes) it is answered with, so
    that a replay sends exactly those bytes."""

    actor: str = "anonymous"
    request_id: str = ""
    reason: str | None = None
    principal: Principal | None = None
    idempotency_key: str | None = None
    fingerprint: str = ""
    render: Callable[[dict[str, Any]], tuple[int, bytes]] | None = None

    @classmethod
    def new(cls, actor: str = "anonymous", reason: str | None = None,
            principal: Principal | None = None) -> RequestContext:
        return cls(actor=actor, request_id=str(uuid4()), reason=reason, principal=principal)

    def as_event_field(self) -> dict[str, Any]:
        """What every event records about its cause."""
        return {"actor": self.actor, "request_id": self.request_id, "reason": self.reason}
