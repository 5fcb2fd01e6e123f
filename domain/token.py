"""API tokens: who may call the service, in which role, for which projects.

Only the SHA-256 digest of a token is recorded; the secret itself is shown once, when it is
issued. A token's aggregate id is derived from its digest, so a request's token is found by one
keyed read of the log, without a projection that could lag behind a revocation.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidRequestError
from domain.versions import ContextAlwaysKept

PREFIX = "ipam_"


class Role(StrEnum):
    """metal-api's roles, each including the ones before it."""

    viewer = "viewer"
    editor = "editor"
    admin = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)


def parse_role(value: str) -> Role:
    try:
        return Role(value.strip().lower())
    except ValueError:
        raise InvalidRequestError(f"role must be one of viewer, editor, admin, not {value!r}") from None


def new_secret() -> str:
    """A fresh token: 256 random bits, URL-safe, recognisable by its prefix."""
    return PREFIX + secrets.token_urlsafe(32)


def digest_of(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def token_uuid(digest: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"ipam:token:{digest}")


def token_index_uuid() -> UUID:
    return uuid5(NAMESPACE_URL, "ipam:token-index")


class ApiToken(Aggregate):
    """One issued token: its subject, role, projects (empty: every project) and expiry."""

    TOPIC = "ApiToken"

    class Event(ContextAlwaysKept, Aggregate.Event):
        """Every event of this aggregate (see `domain.versions`)."""

    class Created(Aggregate.Created):
        """The library's generic creation event (unused: creations are named below)."""

        TOPIC = "ApiToken.Created"

    class Issued(Aggregate.Created):
        TOPIC = "ApiToken.Issued"
        digest: str
        subject: str
        role: str
        projects: list[str]
        expires_at: datetime | None
        context: dict[str, Any]

    class Revoked(Aggregate.Event):
        TOPIC = "ApiToken.Revoked"
        context: dict[str, Any]

    @classmethod
    def issue(cls, *, digest: str, subject: str, role: Role, projects: list[str],
              expires_at: datetime | None, context: dict[str, Any]) -> ApiToken:
        subject = subject.strip()
        if not subject:
            raise InvalidRequestError("a token needs a subject")
        return cls._create(
            cls.Issued, id=token_uuid(digest), digest=digest, subject=subject, role=role.value,
            projects=sorted(set(projects)), expires_at=expires_at, context=context,
        )

    @event(Issued)
    def __init__(self, *, digest: str, subject: str, role: str, projects: list[str],
                 expires_at: datetime | None, context: dict[str, Any]) -> None:
        self.digest = digest
        self.subject = subject
        self.role = role
        self.projects = projects
        self.expires_at = expires_at
        self.issued_by = str(context.get("actor") or "")
        self.revoked_at: datetime | None = None

    def revoke(self, context: dict[str, Any]) -> None:
        if self.revoked_at is None:
            self._revoke(context)

    @event(Revoked)
    def _revoke(self, context: dict[str, Any]) -> None:
        self.revoked_at = self.modified_on

    def matches(self, digest: str) -> bool:
        """The digest compared in constant time."""
        return hmac.compare_digest(self.digest, digest)


class TokenIndex(Aggregate):
    """Every token ever issued, in order: for listing, and to know a store has none yet."""

    TOPIC = "TokenIndex"

    class Event(ContextAlwaysKept, Aggregate.Event):
        """Every event of this aggregate (see `domain.versions`)."""

    class Created(Aggregate.Created):
        """The library's generic creation event (unused: creations are named below)."""

        TOPIC = "TokenIndex.Created"

    class Started(Aggregate.Created):
        TOPIC = "TokenIndex.Started"
        context: dict[str, Any]

    class Registered(Aggregate.Event):
        TOPIC = "TokenIndex.Registered"
        token_id: str
        context: dict[str, Any]

    @classmethod
    def start(cls, context: dict[str, Any]) -> TokenIndex:
        return cls._create(cls.Started, id=token_index_uuid(), context=context)

    @event(Started)
    def __init__(self, context: dict[str, Any]) -> None:
        self.token_ids: list[str] = []

    @event(Registered)
    def register(self, token_id: str, context: dict[str, Any]) -> None:
        self.token_ids = [*self.token_ids, token_id]
