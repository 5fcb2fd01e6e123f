"""Token use cases: issue, revoke, list, and authenticate a request's bearer token.

Issuing and revoking are events like every other change, so the log and its export show who
issued or revoked which token, when and why. Only digests are recorded.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError

from application.access import Principal
from application.context import RequestContext
from domain.errors import InvalidRequestError, NotFoundError, UnauthenticatedError
from domain.token import (
    PREFIX,
    ApiToken,
    Role,
    TokenIndex,
    digest_of,
    new_secret,
    parse_role,
    token_index_uuid,
    token_uuid,
)

MAX_SECRET = 512  # longer is not one of ours; do not hash megabytes
MIN_ID_PREFIX = 4  # fewer characters would name a token by accident rather than by choice
_ID_PREFIX = re.compile(r"[0-9a-fA-F][0-9a-fA-F-]*")


class AmbiguousTokenError(InvalidRequestError):
    """A prefix that starts more than one token's id (400); `candidates` are those tokens."""

    def __init__(self, message: str, candidates: tuple[TokenInfo, ...]) -> None:
        super().__init__(message)
        self.candidates = candidates


@dataclass(frozen=True)
class TokenInfo:
    """A token as `ipam token list` shows it (never its secret)."""

    token_id: str
    subject: str
    role: str
    projects: tuple[str, ...]
    issued_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    issued_by: str

    @classmethod
    def of(cls, token: ApiToken) -> TokenInfo:
        return cls(str(token.id), token.subject, token.role, tuple(token.projects),
                   token.created_on, token.expires_at, token.revoked_at, token.issued_by)

    def state(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


class Tokens:
    """The token use cases of one application."""

    def __init__(self, app: Application[UUID], revoked: Callable[[UUID], bool]) -> None:
        """`revoked(token_id)` says whether a token has any event after its issuance: the
        store answers it with one keyed read."""
        self.app = app
        self._probe = revoked
        # what never changes about an issued token, by digest; only whether it was revoked
        # since is asked of the store on each request (one keyed read)
        self._issued: dict[str, tuple[str, Principal, datetime | None]] = {}
        self._revoked: set[str] = set()

    def issue(self, *, context: RequestContext, subject: str, role: str,
              projects: list[str] | None = None, expires_in: timedelta | None = None,
              ) -> tuple[TokenInfo, str]:
        """A new token and its secret (shown once). Raises InvalidRequestError (400)."""
        if expires_in is not None and expires_in <= timedelta(0):
            raise InvalidRequestError("a token's lifetime must be positive")
        projects = [p.strip() for p in projects or [] if p.strip()]
        secret = new_secret()
        expires_at = datetime.now(UTC) + expires_in if expires_in is not None else None
        ctx = context.as_event_field()
        token = ApiToken.issue(digest=digest_of(secret), subject=subject, role=parse_role(role),
                               projects=projects, expires_at=expires_at, context=ctx)
        for _ in range(20):
            index = self._index() or TokenIndex.start(ctx)
            index.register(str(token.id), ctx)
            try:
                self.app.save(token, index)
                return TokenInfo.of(token), secret
            except IntegrityError:
                continue  # another issuer registered a token at the same time
        raise InvalidRequestError("could not register the token, please retry")

    def bootstrap(self, context: RequestContext) -> str | None:
        """On a store without any token: one admin token, its secret returned once. None when
        a token exists already, also when another process bootstrapped at the same time."""
        if self._index() is not None:
            return None
        secret = new_secret()
        ctx = context.as_event_field()
        token = ApiToken.issue(digest=digest_of(secret), subject="admin", role=Role.admin,
                               projects=[], expires_at=None, context=ctx)
        index = TokenIndex.start(ctx)
        index.register(str(token.id), ctx)
        try:
            self.app.save(token, index)
        except IntegrityError:
            return None
        return secret

    def revoke(self, token: str, *, context: RequestContext) -> TokenInfo:
        """Revoke a token by its id (from `list`), by a unique prefix of its id (at least
        MIN_ID_PREFIX characters, e.g. the first 8), or by its secret (`ipam_...`: what someone
        who found a leaked token has). Raises NotFoundError (404) for no such token,
        AmbiguousTokenError (400) for a prefix of several ids and InvalidRequestError (400) for
        a prefix too short to name one safely."""
        token = token.strip()
        if token.startswith(PREFIX):
            if len(token) > MAX_SECRET:
                raise NotFoundError("no such token")
            found = self._token(str(token_uuid(digest_of(token))), shown="with this secret")
        elif _ID_PREFIX.fullmatch(token) and not _whole_id(token):
            found = self._token(self._id_starting(token.lower()))
        else:
            found = self._token(token)
        return self._revoke(found, context)

    def _id_starting(self, prefix: str) -> str:
        """The one token id starting with `prefix`."""
        if len(prefix) < MIN_ID_PREFIX:
            raise InvalidRequestError(f"give at least {MIN_ID_PREFIX} characters of the token's id "
                                      f"(not {json.dumps(prefix)}), or all of it")
        index = self._index()
        ids = [t for t in (index.token_ids if index else []) if t.startswith(prefix)]
        if not ids:
            raise NotFoundError(f"no token's id starts with {json.dumps(prefix)}")
        if len(ids) > 1:
            now = datetime.now(UTC)
            infos = tuple(TokenInfo.of(self._token(t)) for t in ids)
            raise AmbiguousTokenError(
                f"{len(ids)} tokens' ids start with {json.dumps(prefix)}: "
                + "; ".join(f"{i.token_id} ({i.subject}, {i.role}, {i.state(now)})" for i in infos)
                + "; give more of the id", infos)
        return ids[0]

    def _revoke(self, token: ApiToken, context: RequestContext) -> TokenInfo:
        token.revoke(context.as_event_field())
        self.app.save(token)
        return TokenInfo.of(token)

    def list(self) -> list[TokenInfo]:
        index = self._index()
        if index is None:
            return []
        tokens: list[ApiToken] = [self.app.repository.get(UUID(t)) for t in index.token_ids]
        return [TokenInfo.of(t) for t in tokens]

    def known(self, secret: str) -> bool:
        """Whether this process has seen the token before: then `authenticate` costs one keyed
        read (is it revoked?), else it loads the token."""
        return digest_of(secret) in self._issued if secret.startswith(PREFIX) else False

    def authenticate(self, secret: str) -> Principal:
        """The principal of a bearer token. Raises UnauthenticatedError (401) for an unknown,
        revoked or expired token."""
        if not secret.startswith(PREFIX) or len(secret) > MAX_SECRET:
            raise UnauthenticatedError("invalid token")
        digest = digest_of(secret)
        cached = self._issued.get(digest)
        if cached is None:
            cached = self._load(digest)
        elif digest not in self._revoked and self._probe(token_uuid(digest)):
            self._revoked.add(digest)  # a revocation is final
        stored, principal, expires_at = cached
        if not hmac.compare_digest(stored, digest):
            raise UnauthenticatedError("invalid token")
        if digest in self._revoked:
            raise UnauthenticatedError("the token has been revoked", reason="revoked")
        if expires_at is not None and expires_at <= datetime.now(UTC):
            raise UnauthenticatedError("the token has expired", reason="expired")
        return principal

    def _load(self, digest: str) -> tuple[str, Principal, datetime | None]:
        try:
            token: ApiToken = self.app.repository.get(token_uuid(digest))
        except AggregateNotFoundError:
            raise UnauthenticatedError("invalid token") from None
        if not token.matches(digest):
            raise UnauthenticatedError("invalid token")
        projects = frozenset(token.projects) if token.projects else None
        principal = Principal(subject=token.subject, role=Role(token.role), projects=projects,
                              credential=f"token:{token.id}")
        if token.revoked_at is not None:
            self._revoked.add(digest)
        entry = (token.digest, principal, token.expires_at)
        self._issued[digest] = entry
        return entry

    def _index(self) -> TokenIndex | None:
        try:
            index: TokenIndex = self.app.repository.get(token_index_uuid())
        except AggregateNotFoundError:
            return None
        return index

    def _token(self, token_id: str, shown: str | None = None) -> ApiToken:
        missing = NotFoundError(f"token {shown or f'with id {json.dumps(token_id)}'} not found")
        try:
            token: ApiToken = self.app.repository.get(UUID(token_id.strip()))
        except (ValueError, AggregateNotFoundError):
            raise missing from None
        if not isinstance(token, ApiToken):
            raise missing
        return token


def _whole_id(text: str) -> bool:
    try:
        UUID(text)
    except ValueError:
        return False
    return True
