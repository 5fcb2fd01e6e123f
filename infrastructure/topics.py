"""What the log calls each stored thing: names we chose, not Python module paths.

Every aggregate and event class declares its stable name (`TOPIC`, e.g. `Network.IPAcquired`);
the mapper stores that name and the class's version with every event, and resolves names read
back through this catalogue, so moving or renaming a module or class keeps every log readable.
Logs written by 0.1.0 named events by module path (`domain.network:Network.IPAcquired`); those
names are mapped here. docs/events.md lists every name and version.

Old versions of an event are upcast on read with the library's own mechanism (`class_version`
and `upcast_vN_vM` on the class). Snapshots carry their aggregate's stable name and version; a
snapshot the code cannot read is skipped and the aggregate rebuilt from its events.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from copy import deepcopy
from typing import Any, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, ProjectorFunction, Repository
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.domain import Snapshot as LibrarySnapshot
from eventsourcing.persistence import (
    Mapper,
    MapperDeserialisationError,
    StoredEvent,
    find_id_convertor,
)
from eventsourcing.utils import register_topic

from domain.legacy import IdempotentRequest
from domain.namespace import Namespace, VrfPool
from domain.network import Network
from domain.token import ApiToken, TokenIndex

log = logging.getLogger(__name__)

# every aggregate, with the module 0.1.0 named it by (it stored `module:QualName` topics, and
# its qualnames are today's stable names)
AGGREGATES: dict[type[Any], str] = {
    Network: "domain.network", Namespace: "domain.namespace", VrfPool: "domain.namespace",
    ApiToken: "domain.token", TokenIndex: "domain.token", IdempotentRequest: "domain.idempotency",
}


class UnknownTopicError(LookupError):
    """A stored name that no class of this version answers to."""


def upcast(cls: type[Any], state: dict[str, Any], what: str) -> None:
    """Bring a stored state of `cls` from the version it was stored with (`class_version`,
    1 when none) to the class's version, by its `upcast_vN_vM` methods; one written by a newer
    release is refused."""
    class_version = getattr(cls, "class_version", 1)
    from_version = state.pop("class_version", 1)
    if from_version > class_version:
        raise UnknownTopicError(
            f"{what} version {from_version} was written by a newer release "
            f"(this one reads up to version {class_version})")
    while from_version < class_version:
        getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
        from_version += 1


class Snapshot(LibrarySnapshot):
    """A snapshot naming its aggregate by stable name, with the aggregate's class version."""

    TOPIC = "Snapshot"

    @classmethod
    def take(cls, aggregate: Any) -> Snapshot:
        state = dict(vars(aggregate))
        for private in ("_id", "_version", "_pending_events"):
            state.pop(private, None)
        state["class_version"] = getattr(type(aggregate), "class_version", 1)
        return cls(
            originator_id=aggregate.id,
            originator_version=aggregate.version,
            timestamp=cls.create_timestamp(),
            topic=topic_of(type(aggregate)),
            state=state,
        )

    def mutate(self, _: Any) -> Any:
        cls = class_of(self.topic)
        state = dict(self.state)
        upcast(cls, state, f"snapshot of {self.topic}")
        state["_id"] = self.originator_id
        state["_version"] = self.originator_version
        state["_pending_events"] = []
        aggregate = object.__new__(cls)
        object.__setattr__(aggregate, "__dict__", state)
        return aggregate


def _catalogue() -> dict[str, type[Any]]:
    """Every name a stored thing may carry: the stable names, and 0.1.0's module paths."""
    known: dict[str, type[Any]] = {Snapshot.TOPIC: Snapshot, "eventsourcing.domain:Snapshot": Snapshot}
    for aggregate, module in AGGREGATES.items():
        # the library re-creates nested event classes as subclasses of the aggregate's `Event`
        # (the `TOPIC` is then inherited); the base `Event` itself is never stored
        for cls in (aggregate, *(value for name, value in vars(aggregate).items()
                                 if isinstance(value, type) and name != "Event"
                                 and getattr(value, "TOPIC", None))):
            name: str = cls.TOPIC  # type: ignore[attr-defined]
            known[name] = cls
            known[f"{module}:{name}"] = cls
    return known


KNOWN = _catalogue()
for _name, _cls in KNOWN.items():
    if ":" in _name:  # the library resolves a created event's `originator_topic` itself
        register_topic(_name, _cls)


def topic_of(cls: type[Any]) -> str:
    """The stable name of an aggregate or event class (its `TOPIC`)."""
    topic = getattr(cls, "TOPIC", None)
    if not isinstance(topic, str) or KNOWN.get(topic) is not cls:
        raise UnknownTopicError(f"{cls.__qualname__} has no stable name of its own (TOPIC)")
    return topic


def class_of(topic: str) -> type[Any]:
    """The class a stored name (stable, or a 0.1.0 module path) stands for."""
    try:
        return KNOWN[topic]
    except KeyError:  # never imported by name: a stored name is data, not code to load
        raise UnknownTopicError(f"no class answers to the stored name {topic!r}") from None


class StableMapper(Mapper[UUID]):
    """Stores events under their stable names with their class version (always, also 1), and
    reads them back by name, upcasting old versions."""

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        state = dict(vars(domain_event))
        originator_id = state.pop("originator_id")
        originator_version = state.pop("originator_version")
        cls = type(domain_event)
        state["class_version"] = getattr(cls, "class_version", 1)
        return StoredEvent(
            originator_id=originator_id,
            originator_version=originator_version,
            topic=topic_of(cls),
            state=self.transcoder.encode(state),
        )

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        cls = class_of(stored_event.topic)
        try:
            state: dict[str, Any] = self.transcoder.decode(stored_event.state)
        except Exception as error:
            raise MapperDeserialisationError(
                f"Failed to deserialise state of stored event with topic {stored_event.topic!r}, "
                f"originator_id {stored_event.originator_id!r} and originator_version "
                f"{stored_event.originator_version}: {error}") from error
        convert = find_id_convertor(cls, type(stored_event.originator_id))  # type: ignore[arg-type]
        state["originator_id"] = convert(stored_event.originator_id)
        state["originator_version"] = stored_event.originator_version
        upcast(cls, state, stored_event.topic)
        domain_event = object.__new__(cls)
        object.__setattr__(domain_event, "__dict__", state)
        return cast(DomainEventProtocol[UUID], domain_event)


class SnapshotTolerantRepository(Repository[UUID]):
    """A repository that rebuilds an aggregate from its events when its newest snapshot cannot
    be read (written by a newer release, or in a shape no upcaster knows), instead of failing.

    It can also trust its cache for a command (see `trusting`): the library fast-forwards a
    cached aggregate on every get with a query for newer events, which cost more than the
    rest of an acquisition; a command that saves every aggregate it loads need not ask, since
    the save itself fails when another process wrote a newer version first (the command is
    then run again, fast-forwarding).
    """

    _trust = threading.local()

    @contextmanager
    def trusting(self) -> Iterator[None]:
        """Within this block, this thread's gets answer from the cache without asking the
        store for newer events, until `distrust` (a save found the cache stale)."""
        self._trust.on = True
        try:
            yield
        finally:
            self._trust.on = False

    def distrust(self) -> None:
        self._trust.on = False

    def get(self, aggregate_id: UUID, *, version: int | None = None, **kwargs: Any) -> Any:
        if version is None and self.cache is not None and getattr(self._trust, "on", False):
            lock = self._use_fastforward_lock(aggregate_id)  # not while another fast-forwards it
            try:
                with lock:
                    try:
                        cached = self.cache.get(aggregate_id)
                    except KeyError:
                        cached = None
                    if cached is not None:
                        return deepcopy(cached)
            finally:
                self._disuse_fastforward_lock(aggregate_id)
        return super().get(aggregate_id, version=version, **kwargs)

    def keep(self, aggregate: Any) -> None:
        """Cache an aggregate just saved, unless the cache holds a newer version: the next
        command on it then finds no events to fast-forward (or, trusting, asks nothing)."""
        if self.cache is None:
            return
        lock = self._use_fastforward_lock(aggregate.id)
        try:
            with lock:
                try:
                    cached = self.cache.get(aggregate.id)
                except KeyError:
                    cached = None
                if cached is None or cached.version < aggregate.version:
                    self.cache.put(aggregate.id, aggregate)
        finally:
            self._disuse_fastforward_lock(aggregate.id)

    def _reconstruct_aggregate(
        self, aggregate_id: UUID, version: int | None,
        projector_func: ProjectorFunction[Any, Any],
    ) -> Any:
        initial: Any = None
        after: int | None = None
        if self.snapshot_store is not None:
            try:
                for snapshot in self.snapshot_store.get(aggregate_id, desc=True, limit=1, lte=version):
                    initial = cast(Any, snapshot).mutate(None)
                    after = snapshot.originator_version
            except Exception as error:  # an unreadable snapshot is only a cache of the events
                log.warning("snapshot of %s not readable, rebuilding from its events: %s",
                            aggregate_id, error)
                initial, after = None, None
        events: Iterable[Any] = self.event_store.get(aggregate_id, gt=after, lte=version)
        aggregate = projector_func(initial, events)
        if aggregate is None:
            raise AggregateNotFoundError(f"Aggregate {aggregate_id!r} version {version!r} not found.")
        return aggregate
