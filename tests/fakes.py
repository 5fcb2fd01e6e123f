"""In-memory fakes of the application's ports, for fast use-case tests.

`MemoryIpam` runs the real application (`IpamApplication`, the domain, the write path) on the
eventsourcing library's in-memory store, with a read model, history and idempotency records held
in memory. The fold of events into documents and history records is the projections' own code
(`infrastructure.projection` handlers, `infrastructure.history.history_rows`); only the storage
and the queries over it are replaced. The same tests run against SQLite and PostgreSQL as
integration tests (`-m integration`).
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError, JSONTranscoder, Mapper

from application.history import Audit
from application.ports import (
    HistoryPage,
    HistoryQuery,
    IdempotencyRecord,
    IPFilter,
    IPPage,
    NetworkFilter,
)
from application.service import IpamApplication
from application.views import network_document
from domain.network import MACHINE_TAG
from infrastructure.history import LIFECYCLE, alive_networks, history_rows, microseconds, range_of
from infrastructure.projection import HANDLERS, Batch
from infrastructure.readmodel import matches_document
from infrastructure.readrows import ip_sort_key
from infrastructure.tables import read_model_tables
from infrastructure.topics import StableMapper
from infrastructure.transcodings import TRANSCODINGS


class MemoryIdempotency:
    """Idempotency records in a dict; `MemoryApplication.save` writes them with the events."""

    def __init__(self, ttl: timedelta = timedelta(hours=24)) -> None:
        self.ttl = ttl
        self.records: dict[UUID, IdempotencyRecord] = {}

    def find(self, record_id: UUID) -> IdempotencyRecord | None:
        record = self.records.get(record_id)
        if record is None or record.expires_at <= datetime.now(UTC):
            return None
        return record


class MemoryApplication(IpamApplication):
    """The application on the library's in-memory store (stable names, as stored for real)."""

    def __init__(self) -> None:
        super().__init__(env={"PERSISTENCE_MODULE": "eventsourcing.popo", "AGGREGATE_CACHE_MAXSIZE": "1000"})
        self._saving = threading.Lock()

    def construct_mapper(self) -> Mapper[UUID]:
        return self.factory.mapper(transcoder=self.construct_transcoder(), mapper_class=StableMapper)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        for transcoding in TRANSCODINGS:
            transcoder.register(transcoding)

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        """Save the events and the idempotency record together: a live record of the same key
        fails the save as the table's primary key does."""
        record: IdempotencyRecord | None = kwargs.pop("idempotency", None)
        with self._saving:
            if record is not None:
                assert isinstance(self.idempotency, MemoryIdempotency)
                if self.idempotency.find(record.record_id) is not None:
                    raise IntegrityError(f"idempotency record {record.record_id} exists")
            recordings = super().save(*objs, **kwargs)
            if record is not None:
                assert isinstance(self.idempotency, MemoryIdempotency)
                self.idempotency.records[record.record_id] = record
            return recordings


class _Follower:
    """Reads the log from where it stopped."""

    def __init__(self, app: IpamApplication) -> None:
        self.app = app
        self.position = 0
        self.lock = threading.RLock()

    def new_items(self) -> list[tuple[Any, Any]]:
        notifications = self.app.recorder.select_notifications(
            start=self.position + 1, limit=1_000_000)
        if notifications:
            self.position = notifications[-1].id
        return [(n, self.app.mapper.to_domain_event(n)) for n in notifications]


class MemoryReadModel:
    """`application.ports.ReadModel`: the projection's fold, kept in a dict."""

    def __init__(self, app: IpamApplication) -> None:
        self.follower = _Follower(app)
        self.batch = Batch(None, read_model_tables("a"))  # no session: rows live in memory

    def catch_up(self) -> None:
        with self.follower.lock:
            for _, event in self.follower.new_items():
                handler = HANDLERS.get(type(event))
                if handler is not None:
                    handler(self.batch, event)

    def _networks(self) -> list[dict[str, Any]]:
        states = [s for s in self.batch.networks.values() if s is not None and not s.deleted]
        documents = [network_document(s.attrs, s.pools.values(), s.created, s.changed, s.version)
                     for s in states]
        return sorted(documents, key=lambda d: d["network_id"])

    def get_network(self, network_id: str) -> dict[str, Any] | None:
        return next((d for d in self._networks() if d["network_id"] == network_id), None)

    def find_networks(self, flt: NetworkFilter) -> list[dict[str, Any]]:
        fields = {"network_id": flt.id, "name": flt.name, "partition_id": flt.partition_id,
                  "project_id": flt.project_id, "parent_id": flt.parent_id,
                  "private_super": flt.private_super, "underlay": flt.underlay, "nat": flt.nat,
                  "vrf": flt.vrf}
        found = []
        for doc in self._networks():
            if any(value is not None and doc[name] != value for name, value in fields.items()):
                continue
            if matches_document(doc, flt):
                found.append(doc)
        return found

    def network_summaries(self, parent_id: str | None = None) -> list[dict[str, Any]]:
        keys = ("network_id", "name", "partition_id", "project_id", "parent_id", "private_super",
                "vrf")
        return [{key: doc[key] for key in keys} for doc in self._networks()
                if parent_id is None or doc["parent_id"] == parent_id]

    def get_ip(self, address: str) -> dict[str, Any] | None:
        return self.batch.ips.get(address)

    def find_ips(self, flt: IPFilter) -> list[dict[str, Any]]:
        fields = {"address": flt.address, "allocation_uuid": flt.allocation_uuid,
                  "name": flt.name, "network_id": flt.network_id, "project_id": flt.project_id,
                  "type": flt.type, "prefix": flt.network_prefix, "family": flt.address_family}
        found = []
        for address in sorted((a for a, d in self.batch.ips.items() if d is not None), key=ip_sort_key):
            doc = self.batch.ips[address]
            assert doc is not None
            if any(value is not None and doc[name] != value for name, value in fields.items()):
                continue
            machine = next((t[len(MACHINE_TAG):] for t in doc["tags"] if t.startswith(MACHINE_TAG)), "")
            if flt.machine_id is not None and machine != flt.machine_id:
                continue
            if not set(flt.tags) <= set(doc["tags"]):
                continue
            found.append(doc)
        return found

    def ip_page(self, network_id: str, *, projects: frozenset[str] | None, after: str | None,
                limit: int) -> IPPage:
        held = sorted(
            ((ip_sort_key(address), doc) for address, doc in self.batch.ips.items()
             if doc is not None and doc["network_id"] == network_id
             and (projects is None or doc["project_id"] in projects)),
            key=lambda pair: pair[0],
        )
        rest = [doc for key, doc in held if after is None or key > ip_sort_key(after)]
        shown = rest[:limit]
        more = len(rest) > limit
        return IPPage(ips=shown, next=shown[-1]["address"] if more else None, total=len(held))


class MemoryHistory:
    """`application.ports.History`: the history projection's rows, kept in a list."""

    def __init__(self, app: IpamApplication) -> None:
        self.follower = _Follower(app)
        self.rows: list[dict[str, Any]] = []
        self.scopes: dict[int, list[tuple[int, str, str]]] = {}
        self.names: dict[str, str] = {}

    def catch_up(self) -> None:
        with self.follower.lock:
            rows, scopes = history_rows(self.follower.new_items(), self.names, self.names.__getitem__)
            self.rows.extend(rows)
            for scope in scopes:
                self.scopes.setdefault(scope["position"], []).append(
                    (scope["family"], scope["low"], scope["high"]))

    def _page(self, rows: list[dict[str, Any]], query: HistoryQuery) -> HistoryPage:
        if query.since is not None:
            rows = [r for r in rows if r["time_us"] >= microseconds(query.since)]
        if query.until is not None:
            rows = [r for r in rows if r["time_us"] <= microseconds(query.until)]
        if query.types:
            rows = [r for r in rows if r["type"] in query.types]
        if query.cursor is not None:
            rows = [r for r in rows if (r["position"] > query.cursor if query.ascending
                                        else r["position"] < query.cursor)]
        rows = sorted(rows, key=lambda r: r["position"], reverse=not query.ascending)
        page = rows[: query.limit]
        more = len(rows) > query.limit
        return HistoryPage(events=[json.loads(r["record"]) for r in page],
                           next_cursor=page[-1]["position"] if more else None)

    def network_exists(self, aggregate_id: str) -> bool:
        return any(r["aggregate_id"] == aggregate_id for r in self.rows)

    def network_history(self, aggregate_id: str, query: HistoryQuery) -> HistoryPage:
        return self._page([r for r in self.rows if r["aggregate_id"] == aggregate_id], query)

    def ip_history(self, address: str, query: HistoryQuery) -> HistoryPage:
        return self._page([r for r in self.rows if r["address"] == address], query)

    def prefix_history(self, cidr: str, query: HistoryQuery) -> HistoryPage:
        family, low, high = range_of(cidr)
        inside = {position for position, ranges in self.scopes.items()
                  if any(f == family and lo <= high and hi >= low for f, lo, hi in ranges)}
        return self._page([r for r in self.rows if r["position"] in inside], query)

    def version_at(self, aggregate_id: str, moment: datetime) -> int | None:
        versions = [r["version"] for r in self.rows
                    if r["aggregate_id"] == aggregate_id and r["time_us"] <= microseconds(moment)]
        return max(versions) if versions else None

    def networks_at(self, moment: datetime) -> list[tuple[str, str, int]]:
        lifecycle = ((r["aggregate_id"], r["network_id"], r["type"]) for r in self.rows
                     if r["type"] in LIFECYCLE and r["time_us"] <= microseconds(moment))
        return alive_networks(lifecycle, lambda aggregate_id: self.version_at(aggregate_id, moment))

    def ip_events_until(self, address: str, moment: datetime) -> list[dict[str, Any]]:
        return [json.loads(r["record"]) for r in self.rows
                if r["address"] == address and r["time_us"] <= microseconds(moment)]


class MemoryIpam:
    """What `infrastructure.store.Ipam` offers the use-case tests, in memory."""

    def __init__(self) -> None:
        self.app = MemoryApplication()
        self.app.idempotency = MemoryIdempotency()
        self.read_model = MemoryReadModel(self.app)
        self.app.read_model = self.read_model
        self.history = MemoryHistory(self.app)
        self.audit = Audit(self.app, self.history)

    def close(self) -> None:
        self.app.close()

