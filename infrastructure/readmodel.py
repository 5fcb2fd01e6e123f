"""Queries on the read-model tables (the application's `ReadModel` port)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import func, inspect, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.schema import CreateIndex

from application.ports import IPFilter, IPPage, NetworkFilter
from application.views import network_document
from domain.network import MACHINE_TAG
from infrastructure.following import Projector
from infrastructure.readrows import NetworkState, decode_ip, ip_sort_key
from infrastructure.tables import ReadModelTables, read_model_tables

log = logging.getLogger(__name__)


def add_missing_indexes(projector: Projector) -> None:
    """Build the indexes the live slot's tables lack: tables are created once, with the
    indexes declared then, so a store created by an earlier release lacks those declared
    since. The spare slot gets them from its next rebuild, which builds every index when it
    finishes (and drops them while it fills the slot). An index on a column the live table
    lacks (tables of an outdated projection) waits for the upgrade's rebuild, which builds it."""
    engine = projector.engine
    for table in projector.projection.tables(projector.live_slot()):
        present = {index["name"] for index in inspect(engine).get_indexes(table.name)}
        columns = {column["name"] for column in inspect(engine).get_columns(table.name)}
        for index in table.indexes:
            if index.name in present or not {c.name for c in index.columns} <= columns:
                continue
            log.info("building index %s of %s", index.name, table.name)
            try:
                with engine.begin() as conn:
                    conn.execute(CreateIndex(index, if_not_exists=True))
            except DBAPIError:
                # another process opening the store built it first (on PostgreSQL the loser
                # of that race fails on the catalog's unique index despite IF NOT EXISTS)
                if index.name not in {i["name"] for i in inspect(engine).get_indexes(table.name)}:
                    raise


def _document(row: Any) -> dict[str, Any]:
    state = NetworkState.from_row(row.aggregate_id, row.state)
    return network_document(state.attrs, state.pools.values(), state.created, state.changed,
                            state.version)


def matches_document(doc: dict[str, Any], flt: NetworkFilter) -> bool:
    """The filters a network's document is checked against (the columns are queried)."""
    return (set(flt.prefixes) <= set(doc["prefixes"])
            and set(flt.destination_prefixes) <= set(doc["destination_prefixes"])
            and all(doc["labels"].get(k) == v for k, v in flt.labels.items())
            and not (flt.address_family
                     and doc["consumption"][flt.address_family.lower()] is None))


class SqlReadModel:
    """Answers queries from the projection's tables, after catching up with the log."""

    def __init__(self, projector: Projector) -> None:
        self.projector = projector
        self.engine = projector.engine
        add_missing_indexes(projector)

    def catch_up(self) -> None:
        self.projector.catch_up()

    @property
    def _tables(self) -> ReadModelTables:
        return read_model_tables(self.projector.live)

    def get_network(self, network_id: str) -> dict[str, Any] | None:
        networks = self._tables.networks
        with self.engine.connect() as conn:
            row = conn.execute(select(networks).where(networks.c.id == network_id)).first()
        return _document(row) if row else None

    def find_networks(self, flt: NetworkFilter) -> list[dict[str, Any]]:
        networks = self._tables.networks
        query = select(networks).order_by(networks.c.id)
        columns = {
            "id": flt.id, "name": flt.name, "partition_id": flt.partition_id,
            "project_id": flt.project_id, "parent_id": flt.parent_id,
            "private_super": flt.private_super, "underlay": flt.underlay, "nat": flt.nat,
            "vrf": flt.vrf,
        }
        for name, value in columns.items():
            if value is not None:
                query = query.where(networks.c[name] == value)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [doc for doc in map(_document, rows) if matches_document(doc, flt)]

    def network_summaries(self, parent_id: str | None = None) -> list[dict[str, Any]]:
        networks = self._tables.networks
        columns = (networks.c.id, networks.c.name, networks.c.partition_id,
                   networks.c.project_id, networks.c.parent_id, networks.c.private_super,
                   networks.c.vrf)
        query = select(*columns).order_by(networks.c.id)
        if parent_id is not None:
            query = query.where(networks.c.parent_id == parent_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [{"network_id": r.id, "name": r.name, "partition_id": r.partition_id,
                 "project_id": r.project_id, "parent_id": r.parent_id,
                 "private_super": bool(r.private_super), "vrf": r.vrf} for r in rows]

    def private_supers(self, limit: int, projects: frozenset[str] | None = None,
                       ) -> tuple[list[dict[str, Any]], int]:
        """The documents of the first `limit` private super networks in id order, and how
        many there are (for the metrics, which show a bounded number); with `projects`, only
        those of these projects and those without a project."""
        networks = self._tables.networks
        supers = [networks.c.private_super.is_(True)]
        if projects is not None:
            supers.append(networks.c.project_id.in_(sorted(projects | {""})))
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(networks).where(*supers).order_by(networks.c.id).limit(limit)).all()
            count = conn.execute(select(func.count()).select_from(networks).where(*supers))
            total = int(count.scalar_one())
        return [_document(row) for row in rows], total

    def get_ip(self, address: str) -> dict[str, Any] | None:
        ips = self._tables.ips
        with self.engine.connect() as conn:
            row = conn.execute(select(ips.c.document).where(ips.c.address == address)).first()
        return decode_ip(row.document) if row else None

    def find_ips(self, flt: IPFilter) -> list[dict[str, Any]]:
        ips = self._tables.ips
        query = select(ips.c.document).order_by(ips.c.sort_key)
        columns = {
            "address": flt.address, "allocation_uuid": flt.allocation_uuid, "name": flt.name,
            "network_id": flt.network_id, "project_id": flt.project_id, "type": flt.type,
            "machine_id": flt.machine_id, "prefix": flt.network_prefix,
            "family": flt.address_family,
        }
        for name, value in columns.items():
            if value is not None:
                query = query.where(ips.c[name] == value)
        for tag in flt.tags:
            if tag.startswith(MACHINE_TAG):
                query = query.where(ips.c.machine_id == tag[len(MACHINE_TAG):])
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        documents = [decode_ip(row.document) for row in rows]
        if flt.tags:
            wanted = set(flt.tags)
            documents = [d for d in documents if wanted <= set(d["tags"])]
        return documents

    def ip_page(self, network_id: str, *, projects: frozenset[str] | None, after: str | None,
                limit: int) -> IPPage:
        # Keyset paging on the index (network_id, sort_key): the sort key is the address's
        # version and its integer in 32 hex digits, of one width, so text order is numeric
        # order (0-9 before a-f in every collation, as in ASCII). One row past the page tells
        # whether another page follows.
        ips = self._tables.ips
        scope = [ips.c.network_id == network_id]
        if projects is not None:
            scope.append(ips.c.project_id.in_(sorted(projects)))
        query = select(ips.c.address, ips.c.document).where(*scope)
        if after is not None:
            query = query.where(ips.c.sort_key > ip_sort_key(after))
        query = query.order_by(ips.c.sort_key).limit(limit + 1)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
            total = conn.execute(select(func.count()).select_from(ips).where(*scope)).scalar_one()
        shown = rows[:limit]
        more = len(rows) > limit
        return IPPage(ips=[decode_ip(row.document) for row in shown],
                      next=shown[-1].address if more else None, total=int(total))
