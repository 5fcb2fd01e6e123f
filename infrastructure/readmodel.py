"""Queries on the read-model tables (the application's `ReadModel` port)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from application.ports import IPFilter, NetworkFilter
from application.views import network_document
from domain.network import MACHINE_TAG
from infrastructure.following import Projector
from infrastructure.projection import NetworkState, decode_ip
from infrastructure.tables import ReadModelTables, read_model_tables


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
