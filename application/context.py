"""Who asked for a change and why: recorded in every event."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any
from uuid import uuid4


@dataclass(frozen=True)
class RequestContext:
    """The actor (authenticated subject, `anonymous` without authentication), the request id
    and an optional reason given by the client."""

    actor: str = "anonymous"
    request_id: str = ""
    reason: str | None = None

    @classmethod
    def new(cls, actor: str = "anonymous", reason: str | None = None) -> RequestContext:
        return cls(actor=actor, request_id=str(uuid4()), reason=reason)

    def as_event_field(self) -> dict[str, Any]:
        return asdict(self)
