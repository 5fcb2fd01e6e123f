"""How every command writes: load, let the domain decide, save every touched aggregate in one
transaction; again from a fresh load when a concurrent save won; at most once per idempotency key.

A concurrent change to a touched aggregate makes the save fail as a whole; the command is then
run again from a fresh load, a bounded number of times. A write that was authorised against a
read model names what it was authorised for (an allocation, a version), and the aggregate refuses
when that is no longer what it holds: the decision is made where the state is.
"""

from __future__ import annotations

import functools
import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, OperationalError

from application.context import RequestContext
from application.ports import IdempotencyRecord, IdempotencyRecords, ReadModel, WriteObserver
from domain.errors import (
    ConcurrentUpdateError,
    ConflictError,
    ExhaustedError,
    ForbiddenError,
    IdempotencyMismatchError,
    InvalidRequestError,
    IpamError,
    NetworkNotFoundError,
    NotFoundError,
    OverlapError,
)
from domain.namespace import Namespace, VrfPool, namespace_uuid, vrf_pool_uuid
from domain.network import Network, network_uuid

P = ParamSpec("P")
R = TypeVar("R")

MAX_ATTEMPTS = 40


def request_uuid(credential: str, key: str) -> UUID:
    """An idempotency record's id: the credential and the key encoded without ambiguity (a JSON
    pair), so that `team:x` with key `K5` and `team` with key `x:K5` are two records."""
    return uuid5(NAMESPACE_URL, "ipam:idempotency:" + json.dumps([credential, key]))


class Replayed(Exception):  # noqa: N818 - not an error: the answer, given again
    """The request was made before with the same idempotency key by the same credential: its
    first response, exactly as it was sent, answers it again."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__("replayed")
        self.status = status
        self.body = body


@dataclass(frozen=True)
class PendingKey:
    """The idempotency key of the write this thread is making, and whose key it is."""

    record_id: UUID
    key: str
    subject: str
    credential: str
    fingerprint: str
    render: Callable[[dict[str, Any]], tuple[int, bytes]] | None

    @classmethod
    def of(cls, context: RequestContext, key: str) -> PendingKey:
        """Keys are the credential's (one token): in-process callers without a principal
        share one space per actor."""
        principal = context.principal
        credential = principal.credential if principal is not None and principal.credential \
            else f"local:{context.actor}"
        return cls(request_uuid(credential, key), key, context.actor, credential,
                   context.fingerprint, context.render)


def retrying(command: Callable[P, R]) -> Callable[P, R]:
    """Run the command again from a fresh load when a concurrent save won the race. Each attempt
    first looks for the request's idempotency record: a duplicate that lost the race finds the
    first result there instead of changing anything again."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        delay = 0.0005
        app: WriteApplication = args[0]  # type: ignore[assignment]
        for _ in range(MAX_ATTEMPTS):
            try:
                app._replay_if_recorded()
                return command(*args, **kwargs)
            except IntegrityError:
                # another writer saved a newer version of a touched aggregate first: load
                # again, asking the store for what the cache has not seen
                app._distrust_cache()
                time.sleep(random.uniform(0, delay))
                delay = min(delay * 2, 0.05)
            except OperationalError as error:
                # SQLite's file lock stayed busy (several processes on one file)
                if "locked" not in str(error) and "busy" not in str(error):
                    raise
                time.sleep(random.uniform(0, delay))
                delay = min(delay * 2, 0.05)
        raise ConcurrentUpdateError(
            "the change collided with concurrent changes too often, please retry"
        )

    return wrapper


def idempotent(command: Callable[P, dict[str, Any]]) -> Callable[P, dict[str, Any]]:
    """A write that honours the context's idempotency key: the first response is recorded with
    the change, in its transaction; the same key again from the same credential raises
    `Replayed` with that response, without a second change (before anything is read, so a free
    replayed after the IP is gone still answers as the first time); the same key for a
    different request is IdempotencyMismatchError (422)."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> dict[str, Any]:
        app: WriteApplication = args[0]  # type: ignore[assignment]
        context = kwargs["context"]
        assert isinstance(context, RequestContext)
        if not context.idempotency_key:
            return command(*args, **kwargs)
        app._pending.key = PendingKey.of(context, context.idempotency_key)
        try:
            app._replay_if_recorded()
            return command(*args, **kwargs)
        finally:
            app._pending.key = None

    return wrapper


def refusal_reason(error: IpamError) -> str:
    """Why an allocation was refused, in one word (`ipam_allocation_failures_total{reason}`)."""
    reasons: tuple[tuple[type[IpamError], str], ...] = (
        (ExhaustedError, "exhausted"),  # no free address, prefix or VRF id
        (ConcurrentUpdateError, "concurrent"),  # lost the race to concurrent changes too often
        (ConflictError, "conflict"),  # the specific address is taken
        (OverlapError, "overlap"),
        (IdempotencyMismatchError, "idempotency_mismatch"),
        (NotFoundError, "not_found"),
        (ForbiddenError, "forbidden"),
        (InvalidRequestError, "invalid"),
    )
    for kind, reason in reasons:
        if isinstance(error, kind):
            return reason
    return "unprocessable"


def allocation(command: Callable[P, R]) -> Callable[P, R]:
    """An allocation: its refusal is told to the application's observer (once, with its
    reason; the attempts `retrying` makes again are not refusals)."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except IpamError as error:
            observer = getattr(args[0], "observer", None)
            if observer is not None:
                observer.refused(refusal_reason(error))
            raise

    return wrapper


class _Pending(threading.local):
    key: PendingKey | None = None


class WriteApplication(Application[UUID]):
    """The write path the commands share: loading, one transaction per change, idempotency
    records, and one lock per network for this process's acquisitions."""

    read_model: ReadModel | None = None
    idempotency: IdempotencyRecords | None = None
    observer: WriteObserver | None = None  # told each committed change and refused allocation

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._network_locks: dict[str, threading.Lock] = {}
        self._network_locks_guard = threading.Lock()
        self._pending = _Pending()

    def _replay_if_recorded(self) -> None:
        """Replayed with the first response when this thread's idempotency key was used before
        by the same credential for the same request; IdempotencyMismatchError (422) when for
        another one."""
        pending = self._pending.key
        if pending is None:
            return
        assert self.idempotency is not None, "no idempotency records attached"
        record = self.idempotency.find(pending.record_id)
        if record is None:
            return
        if record.credential != pending.credential or record.fingerprint != pending.fingerprint:
            raise IdempotencyMismatchError(
                f"the Idempotency-Key {pending.key!r} was used before for a different request")
        raise Replayed(record.status, record.body)

    def _commit(self, result: dict[str, Any], *aggregates: Any) -> dict[str, Any]:
        """Save the touched aggregates in one transaction, with the idempotency record of the
        request when it has a key; return the result."""
        pending = self._pending.key
        if pending is None:
            self.save(*aggregates)
            return result
        assert self.idempotency is not None, "no idempotency records attached"
        status, body = pending.render(result) if pending.render is not None else (
            200, json.dumps(result, sort_keys=True, default=str).encode())
        now = datetime.now(UTC)
        record = IdempotencyRecord(
            record_id=pending.record_id, key=pending.key, credential=pending.credential,
            subject=pending.subject, fingerprint=pending.fingerprint, status=status, body=body,
            created_at=now, expires_at=now + self.idempotency.ttl)
        self.save(*aggregates, idempotency=record)
        return result

    @contextmanager
    def _trusting_cache(self) -> Iterator[None]:
        """Load from the aggregate cache without asking the store for newer events, for a
        command that saves every aggregate it loads: a stale one makes the save fail, and
        `retrying` runs the command again without trusting the cache."""
        trusting = getattr(self.repository, "trusting", None)
        if trusting is None:
            yield
            return
        with trusting():
            yield

    def _distrust_cache(self) -> None:
        distrust = getattr(self.repository, "distrust", None)
        if distrust is not None:
            distrust()

    def _network_lock(self, network_id: str) -> threading.Lock:
        """One lock per network for this process's acquisitions: threads of one process
        queue instead of colliding and retrying; other processes still race optimistically."""
        with self._network_locks_guard:
            return self._network_locks.setdefault(network_id, threading.Lock())

    def _read(self) -> ReadModel:
        assert self.read_model is not None, "no read model attached"
        self.read_model.catch_up()
        return self.read_model

    # -- loading -------------------------------------------------------------------------------

    def _network(self, network_id: str) -> Network:
        try:
            network: Network = self.repository.get(network_uuid(network_id))
        except AggregateNotFoundError:
            raise NetworkNotFoundError(f'network with id "{network_id}" not found') from None
        if network.deleted:
            raise NetworkNotFoundError(f'network with id "{network_id}" not found')
        return network

    def _network_or_none(self, network_id: str) -> Network | None:
        try:
            return self.repository.get(network_uuid(network_id))
        except AggregateNotFoundError:
            return None

    def _namespace(self, ctx: dict[str, Any]) -> Namespace:
        try:
            return self.repository.get(namespace_uuid())
        except AggregateNotFoundError:
            return Namespace.start(ctx)

    def _vrf_pool(self, ctx: dict[str, Any]) -> VrfPool:
        try:
            return self.repository.get(vrf_pool_uuid())
        except AggregateNotFoundError:
            return VrfPool.start(ctx)
